//! Transposed convolution (OpenVINO `ConvolutionBackpropData` /
//! `GroupConvolutionBackpropData`): the adjoint of [`super::Conv`] with the same window.
//! Every input position `o` scatters `x[o] * w[k]` to output position
//! `o * stride + k * dilation - pads_begin`; the output has
//! `(n - 1) * stride + extent - pads_begin - pads_end + output_padding` positions. Filters
//! `[C_in, C_out, *k]` or `[G, C_in/G, C_out/G, *k]` (the same tensor as the convolution it
//! transposes). Linear in the data; its transpose is that convolution.

use super::conv::{filter_dims, filters_constant_jvp};
use super::window::{batch_lead, emit_merged, eval_merged, ints_attr, split, Window};
use super::{expect_f32, Arity, Array, Batch, Conv, Jvp, Lin, Primitive, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConvTranspose {
    pub window: Window,
    pub output_padding: Vec<usize>,
    pub groups: usize,
}

impl ConvTranspose {
    /// The output spatial sizes for input sizes `m`.
    fn out_sizes(&self, m: &[usize]) -> Result<Vec<usize>, String> {
        let w = &self.window;
        (0..w.rank())
            .map(|a| {
                if self.output_padding[a] >= w.strides[a].max(w.dilations[a]) {
                    return Err(format!(
                        "output padding {:?} not below the strides {:?}",
                        self.output_padding, w.strides
                    ));
                }
                let full = (m[a] - 1) * w.strides[a] + w.extent(a) + self.output_padding[a];
                let cut = w.pads_begin[a] + w.pads_end[a];
                if m[a] == 0 || full <= cut {
                    return Err(format!("pads {cut} leave nothing of an output of {full}"));
                }
                Ok(full - cut)
            })
            .collect()
    }
}

impl Primitive for ConvTranspose {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!(
            "ConvolutionBackpropData {} output_padding {:?} groups {}",
            self.window.describe(),
            self.output_padding,
            self.groups
        )
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "ConvolutionBackpropData")?;
        let w = &self.window;
        let r = w.rank();
        let (mut out, c, m) = split(ins[0].1, r, "ConvolutionBackpropData")?;
        let (g, cin_g, cout_g, k) = filter_dims(ins[1].1, self.groups, r)?;
        w.check()?;
        if w.kernel != k || self.output_padding.len() != r {
            return Err(format!("filters of kernel {k:?} for the window {w:?}"));
        }
        if c != Some(g * cin_g) {
            return Err(format!(
                "data with {c:?} channels for filters of {g} x {cin_g} input channels"
            ));
        }
        out.push(Some(g * cout_g));
        out.extend(self.out_sizes(&m)?.into_iter().map(Some));
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        eval_merged(args, self.window.rank(), |x, w| self.eval_nc(x, w[0]))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let ty = if self.groups == 1 {
            "ConvolutionBackpropData"
        } else {
            "GroupConvolutionBackpropData"
        };
        let mut data = self.window.attrs();
        data.push(("output_padding", ints_attr(&self.output_padding)));
        emit_merged(cx, ty, "opset1", data, ins, self.window.rank())
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        filters_constant_jvp(self.clone().into(), "a transposed convolution", cx, y, tin)
    }

    linear_taylor!();

    /// The convolution with the same filters and window.
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
        let w = cx.inputs(y)[1];
        let p = Conv {
            window: self.window.clone(),
            groups: self.groups,
        };
        Ok(Some(vec![(0, cx.g.apply(p, vec![ct, w])?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_lead(b, self.window.rank())
    }

    no_simplification!();
}

impl ConvTranspose {
    /// The value on `[N, C, *spatial]` data.
    fn eval_nc(&self, x: &Array, w: &Array) -> Result<Array, String> {
        let ws: Vec<Option<usize>> = w.shape().iter().map(|&d| Some(d)).collect();
        let (g, cin_g, cout_g, _) = filter_dims(&ws, self.groups, self.window.rank())?;
        let (n, m) = (x.shape()[0], &x.shape()[2..]);
        let sp = self.out_sizes(m)?;
        // The convolution from `sp` to `m` reads exactly the positions this one writes.
        let taps = self.window.taps(&sp, m);
        let (n_in, n_out): (usize, usize) = (m.iter().product(), sp.iter().product());
        let n_taps = taps.len() / n_in.max(1);
        let (x, w) = (x.as_standard_layout(), w.as_standard_layout());
        let (xd, wd) = (
            x.as_slice().expect("standard"),
            w.as_slice().expect("standard"),
        );
        let (cin, cout) = (g * cin_g, g * cout_g);
        let mut y = vec![0.0; n * cout * n_out];
        for b in 0..n {
            for gi in 0..g {
                for c in 0..cin_g {
                    let xo = (b * cin + gi * cin_g + c) * n_in;
                    for f in 0..cout_g {
                        let yo = (b * cout + gi * cout_g + f) * n_out;
                        let wo = ((gi * cin_g + c) * cout_g + f) * n_taps;
                        for o in 0..n_in {
                            let v = xd[xo + o];
                            let row = &taps[o * n_taps..(o + 1) * n_taps];
                            for (k, i) in row.iter().enumerate() {
                                if let Some(i) = i {
                                    y[yo + i] += v * wd[wo + k];
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut shape = vec![n, cout];
        shape.extend(sp);
        Array::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::window::Window;
    use super::ConvTranspose;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose, constant};

    fn p(
        k: &[usize],
        s: &[usize],
        pb: &[usize],
        pe: &[usize],
        op: &[usize],
        groups: usize,
    ) -> ConvTranspose {
        ConvTranspose {
            window: Window::undilated(k, s, pb, pe),
            output_padding: op.to_vec(),
            groups,
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("conv2d transpose", &[2, 2, 3], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            let w = constant(g, &[2, 3, 3, 2], 1);
            let c = g
                .apply(
                    p(&[3, 2], &[2, 3], &[1, 0], &[0, 1], &[1, 2], 1),
                    vec![s, w],
                )
                .unwrap();
            g.mul(c, c).unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("conv1d transpose groups", &[4, 3], |g, x| {
            let w = constant(g, &[2, 2, 3, 3], 2);
            g.apply(p(&[3], &[2], &[1], &[0], &[1], 2), vec![x, w])
                .unwrap()
        });
    }
}
