//! Average pooling (OpenVINO `AvgPool`-16, `exclude-pad="true"`): the mean of each window over
//! its cells inside the input (Keras/XLA: `same` padding divides by the valid cells only),
//! data `[N, C, *spatial]`. Linear; its transpose divides the cotangent by the cell counts and
//! scatters it back with a transposed depthwise convolution of ones.

use super::window::{batch_lead, emit_merged, eval_merged, ints_attr, spatial, split, Window};
use super::{expect_f32, Arity, Array, Batch, ConvTranspose, Jvp, Lin, Primitive, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Shape, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AvgPool {
    pub window: Window,
}

impl AvgPool {
    /// The value on `[N, C, *spatial]` data.
    fn eval_nc(&self, x: &Array) -> Result<Array, String> {
        let x = x.as_standard_layout();
        let (nc, sp) = (x.shape()[0] * x.shape()[1], &x.shape()[2..]);
        let out = self.window.out_sizes(sp)?;
        let taps = self.window.taps(sp, &out);
        let (n_in, n_out): (usize, usize) = (sp.iter().product(), out.iter().product());
        let per = taps.len() / n_out.max(1);
        let xd = x.as_slice().expect("standard");
        let mut y = Vec::with_capacity(nc * n_out);
        for p in 0..nc {
            for row in taps.chunks(per) {
                let cells: Vec<f64> = row.iter().flatten().map(|&i| xd[p * n_in + i]).collect();
                y.push(cells.iter().sum::<f64>() / cells.len() as f64);
            }
        }
        let mut shape = x.shape()[..2].to_vec();
        shape.extend(out);
        Array::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())
    }

    /// The number of cells inside the input, per output position.
    fn counts(&self, sp: &[usize], out: &[usize]) -> Vec<usize> {
        let taps = self.window.taps(sp, out);
        let per: usize = self.window.kernel.iter().product();
        taps.chunks(per)
            .map(|row| row.iter().filter(|i| i.is_some()).count())
            .collect()
    }
}

impl Primitive for AvgPool {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("AvgPool {}", self.window.describe())
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "AvgPool")?;
        self.window.check()?;
        let (mut out, c, sp) = split(ins[0].1, self.window.rank(), "AvgPool")?;
        out.push(c);
        out.extend(self.window.out_sizes(&sp)?.into_iter().map(Some));
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        eval_merged(args, self.window.rank(), |x, _| self.eval_nc(x))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let mut data = vec![("kernel", ints_attr(&self.window.kernel))];
        data.extend(self.window.attrs());
        data.push(("exclude-pad", "true".to_string()));
        data.push(("rounding_type", "floor".to_string()));
        emit_merged(cx, "AvgPool", "opset16", data, ins, self.window.rank())
    }

    fn jvp(&self, cx: &mut Jvp, _y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let t = tin[0].expect("a nonzero tangent");
        Ok(Some(cx.g.apply(self.clone(), vec![t])?))
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        let r = self.window.rank();
        let sp = spatial(cx.g.shape(x), r, "AvgPool").map_err(|m| cx.g.error(m))?;
        let out = spatial(cx.g.shape(y), r, "AvgPool").map_err(|m| cx.g.error(m))?;
        let c = cx.static_dim(x, cx.g.rank(x) - r - 1)?;
        let mut cshape = vec![1, 1];
        cshape.extend(&out);
        let inv: Vec<f32> = self
            .counts(&sp, &out)
            .iter()
            .map(|&n| 1.0 / n as f32)
            .collect();
        let inv = ArrayD::from_shape_vec(cshape, inv).map_err(|e| cx.g.error(e.to_string()))?;
        let inv = cx.g.constant(Tensor::F32(inv));
        let scaled = cx.g.mul(ct, inv)?;
        // Ones as depthwise filters: [C, 1, 1, *k] in C groups ([1, 1, *k] for one channel).
        let groups = c;
        let mut wshape = if groups == 1 {
            vec![1, 1]
        } else {
            vec![c, 1, 1]
        };
        wshape.extend(&self.window.kernel);
        let ones = cx.g.constant(Tensor::F32(ArrayD::ones(wshape)));
        let p = ConvTranspose {
            window: self.window.clone(),
            output_padding: self.window.leftover(&sp, &out),
            groups,
        };
        Ok(Some(vec![(0, cx.g.apply(p, vec![scaled, ones])?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_lead(b, self.window.rank())
    }

    no_simplification!();
}

#[cfg(test)]
mod tests {
    use super::super::window::Window;
    use super::AvgPool;
    use crate::testing::{check_derivatives, check_transpose};

    fn p(k: &[usize], s: &[usize], pb: &[usize], pe: &[usize]) -> AvgPool {
        AvgPool {
            window: Window::undilated(k, s, pb, pe),
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("avg pool 2d same", &[2, 5, 4], |g, x| {
            let s = g.mul(x, x).unwrap();
            g.apply(p(&[3, 2], &[2, 2], &[1, 0], &[1, 0]), vec![s])
                .unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("avg pool 1d", &[1, 9], |g, x| {
            g.apply(p(&[4], &[3], &[1], &[2]), vec![x]).unwrap()
        });
        check_transpose("avg pool 3d", &[2, 3, 4, 3], |g, x| {
            g.apply(p(&[2, 2, 2], &[1, 2, 2], &[0, 0, 1], &[1, 0, 0]), vec![x])
                .unwrap()
        });
    }
}
