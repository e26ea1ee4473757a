//! Convolution (OpenVINO `Convolution` / `GroupConvolution`): cross-correlation of data
//! `[N, C_in, *spatial]` with filters `[C_out, C_in, *k]` (`groups == 1`) or
//! `[G, C_out/G, C_in/G, *k]` (grouped: input channels `g*C_in/G..` feed output channels
//! `g*C_out/G..`), explicit pads. Linear in the data; its transpose is the transposed
//! convolution with the same filters (`conv_transpose.rs`). The filters must not depend on
//! the inputs. The data may have more leading axes than the batch (`[T, N, C, *spatial]`,
//! see `window.rs`), so the JVP rule is the convolution of the tangent.

use super::window::{batch_lead, emit_merged, eval_merged, spatial, split, Window};
use super::{expect_f32, Arity, Array, Batch, ConvTranspose, Jvp, Lin, Prim, Primitive, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Conv {
    pub window: Window,
    pub groups: usize,
}

/// The filter dims `(G, A, B)` of a `[A, B, *k]` (`groups == 1`) or `[G, A, B, *k]` filter
/// and its kernel sizes: for a convolution A is the output and B the input channels per group,
/// for a transposed one the other way round.
pub(crate) fn filter_dims(
    w: &[Option<usize>],
    groups: usize,
    rank: usize,
) -> Result<(usize, usize, usize, Vec<usize>), String> {
    let lead = if groups == 1 { 2 } else { 3 };
    if w.len() != lead + rank {
        return Err(format!(
            "filters of rank {} for {rank} spatial axes and {groups} group(s)",
            w.len()
        ));
    }
    let dims: Vec<usize> = w
        .iter()
        .map(|d| d.ok_or("filters of unknown size"))
        .collect::<Result<_, _>>()?;
    let (g, a, b) = if groups == 1 {
        (1, dims[0], dims[1])
    } else {
        (dims[0], dims[1], dims[2])
    };
    if g != groups {
        return Err(format!("filters for {g} groups, expected {groups}"));
    }
    Ok((g, a, b, dims[lead..].to_vec()))
}

fn check_kernel(window: &Window, k: &[usize]) -> Result<(), String> {
    window.check()?;
    if window.kernel != k {
        return Err(format!(
            "filters of kernel {k:?}, the window says {:?}",
            window.kernel
        ));
    }
    Ok(())
}

impl Primitive for Conv {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!(
            "Convolution {} groups {}",
            self.window.describe(),
            self.groups
        )
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "Convolution")?;
        let r = self.window.rank();
        let (mut out, c, sp) = split(ins[0].1, r, "Convolution")?;
        let (g, cout_g, cin_g, k) = filter_dims(ins[1].1, self.groups, r)?;
        check_kernel(&self.window, &k)?;
        if c != Some(g * cin_g) {
            return Err(format!(
                "data with {c:?} channels for filters of {g} x {cin_g} input channels"
            ));
        }
        out.push(Some(g * cout_g));
        out.extend(self.window.out_sizes(&sp)?.into_iter().map(Some));
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        eval_merged(args, self.window.rank(), |x, w| self.eval_nc(x, w[0]))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let ty = if self.groups == 1 {
            "Convolution"
        } else {
            "GroupConvolution"
        };
        emit_merged(
            cx,
            ty,
            "opset1",
            self.window.attrs(),
            ins,
            self.window.rank(),
        )
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        filters_constant_jvp(self.clone().into(), "a convolution", cx, y, tin)
    }

    linear_taylor!();

    /// The transposed convolution with the same filters, strides, dilations and pads; the
    /// output padding restores what the strides dropped.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if linear[1] || !linear[0] {
            return Ok(None);
        }
        let ins = cx.inputs(y);
        let r = self.window.rank();
        let sp = spatial(cx.g.shape(ins[0]), r, "Convolution").map_err(|m| cx.g.error(m))?;
        let out = spatial(cx.g.shape(y), r, "Convolution").map_err(|m| cx.g.error(m))?;
        let p = ConvTranspose {
            window: self.window.clone(),
            output_padding: self.window.leftover(&sp, &out),
            groups: self.groups,
        };
        Ok(Some(vec![(0, cx.g.apply(p, vec![ct, ins[1]])?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_lead(b, self.window.rank())
    }

    no_simplification!();
}

impl Conv {
    /// The value on `[N, C, *spatial]` data.
    fn eval_nc(&self, x: &Array, w: &Array) -> Result<Array, String> {
        let ws: Vec<Option<usize>> = w.shape().iter().map(|&d| Some(d)).collect();
        let (g, cout_g, cin_g, _) = filter_dims(&ws, self.groups, self.window.rank())?;
        let (n, sp) = (x.shape()[0], &x.shape()[2..]);
        let out = self.window.out_sizes(sp)?;
        let taps = self.window.taps(sp, &out);
        let (n_in, n_out): (usize, usize) = (sp.iter().product(), out.iter().product());
        let n_taps = taps.len() / n_out.max(1);
        let (x, w) = (x.as_standard_layout(), w.as_standard_layout());
        let (xd, wd) = (
            x.as_slice().expect("standard"),
            w.as_slice().expect("standard"),
        );
        let (cin, cout) = (g * cin_g, g * cout_g);
        let mut y = vec![0.0; n * cout * n_out];
        for b in 0..n {
            for gi in 0..g {
                for f in 0..cout_g {
                    let yo = (b * cout + gi * cout_g + f) * n_out;
                    for c in 0..cin_g {
                        let xo = (b * cin + gi * cin_g + c) * n_in;
                        let wo = ((gi * cout_g + f) * cin_g + c) * n_taps;
                        for o in 0..n_out {
                            let row = &taps[o * n_taps..(o + 1) * n_taps];
                            let mut acc = 0.0;
                            for (k, i) in row.iter().enumerate() {
                                if let Some(i) = i {
                                    acc += xd[xo + i] * wd[wo + k];
                                }
                            }
                            y[yo + o] += acc;
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, cout];
        shape.extend(out);
        Array::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())
    }
}

/// JVP of Conv and ConvTranspose: linear in the data (whose tangent may carry leading
/// direction axes); filters are weights, so a tangent on them is refused.
pub(super) fn filters_constant_jvp(
    p: Prim,
    what: &str,
    cx: &mut Jvp,
    y: ValueId,
    tin: &[Tan],
) -> GResult<Tan> {
    if tin[1].is_some() {
        return Err(cx.g.error(format!(
            "unsupported: {what} whose filters depend on the inputs"
        )));
    }
    let w = cx.inputs(y)[1];
    let t = tin[0].expect("a nonzero tangent");
    Ok(Some(cx.g.apply(p, vec![t, w])?))
}

#[cfg(test)]
mod tests {
    use super::super::window::Window;
    use super::Conv;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose, constant};

    pub(crate) fn window(
        k: &[usize],
        s: &[usize],
        d: &[usize],
        pb: &[usize],
        pe: &[usize],
    ) -> Window {
        Window {
            kernel: k.to_vec(),
            strides: s.to_vec(),
            dilations: d.to_vec(),
            pads_begin: pb.to_vec(),
            pads_end: pe.to_vec(),
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        // 2-D, stride 2 that does not divide the padded size, uneven pads.
        check_derivatives("conv2d", &[2, 5, 4], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            let w = constant(g, &[3, 2, 2, 3], 1);
            let p = Conv {
                window: window(&[2, 3], &[2, 1], &[1, 1], &[1, 0], &[0, 2]),
                groups: 1,
            };
            let c = g.apply(p, vec![s, w]).unwrap();
            g.mul(c, c).unwrap()
        });
        // 1-D grouped and dilated.
        check_derivatives("conv1d groups", &[4, 6], |g, x| {
            let s = g.mul(x, x).unwrap();
            let w = constant(g, &[2, 3, 2, 2], 2);
            let p = Conv {
                window: window(&[2], &[1], &[2], &[1], &[1]),
                groups: 2,
            };
            g.apply(p, vec![s, w]).unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("conv3d", &[2, 3, 4, 3], |g, x| {
            let w = constant(g, &[2, 2, 2, 2, 2], 3);
            let p = Conv {
                window: window(&[2, 2, 2], &[2, 1, 2], &[1, 1, 1], &[0, 1, 1], &[1, 0, 0]),
                groups: 1,
            };
            g.apply(p, vec![x, w]).unwrap()
        });
        check_transpose("depthwise", &[3, 7], |g, x| {
            let w = constant(g, &[3, 2, 1, 3], 4);
            let p = Conv {
                window: window(&[3], &[3], &[1], &[1], &[2]),
                groups: 3,
            };
            g.apply(p, vec![x, w]).unwrap()
        });
    }
}
