//! Zeros added along one axis (`before` in front, `after` behind): the transpose of a
//! contiguous slice (OpenVINO Pad-12, constant mode). Linear; its transpose is the slice.

use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, Shape, Tensor, ValueId};
use ndarray::{ArrayD, Axis, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pad {
    pub axis: usize,
    pub before: usize,
    pub after: usize,
}

impl Primitive for Pad {
    fn label(&self) -> String {
        format!("Pad ({}, {}) on axis {}", self.before, self.after, self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        check_axis(self.axis, from.len(), "Pad")?;
        let mut shape = from.clone();
        shape[self.axis] = from[self.axis]
            .and_then(|d| d.checked_add(self.before)?.checked_add(self.after))
            .map(Some)
            .ok_or("pads an axis of unknown size")?;
        Ok((dtype, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let x = args[0];
        let mut shape = x.shape().to_vec();
        shape[self.axis] += self.before + self.after;
        let mut out = ArrayD::zeros(IxDyn(&shape));
        let n = x.len_of(Axis(self.axis));
        let s = ndarray::Slice::from(self.before..self.before + n);
        out.slice_axis_mut(Axis(self.axis), s).assign(x);
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let rank = cx.port(ins[0]).dims.len();
        let mut begin = vec![0i64; rank];
        let mut end = vec![0i64; rank];
        begin[self.axis] = self.before as i64;
        end[self.axis] = self.after as i64;
        let b = cx.i64s("Pad/begin", &begin);
        let e = cx.i64s("Pad/end", &end);
        let dtype = cx.port(ins[0]).dtype;
        let zero = cx.constant("Pad/value", &Tensor::scalar_of(dtype, 0.0));
        let data = vec![("pad_mode", "constant".to_string())];
        cx.op("Pad", "opset12", data, &[ins[0], b, e, zero])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let p = Pad {
            axis: self.axis + 1,
            ..*self
        };
        Ok(Some(cx.g.apply(p, vec![t])?))
    }

    // Linear: each order is padded with zeros.
    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let f = cx.full_like(ct, y)?;
        let n = cx.static_dim(y, self.axis)?;
        let s = cx.g.slice(f, self.axis, self.before, n - self.after, 1)?;
        Ok(Some(vec![(0, s)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("pads the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, _g: &OpGraph, _ins: &[ValueId]) -> Option<Rewrite> {
        (self.before == 0 && self.after == 0).then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use super::Pad;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_taylor, check_transpose};

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("pad", &[3, 2], |g, x| {
            let s = g.mul(x, x).unwrap();
            let p = Pad {
                axis: 1,
                before: 2,
                after: 1,
            };
            g.apply(p, vec![s]).unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("pad", &[3, 2], |g, t| {
            let p = Pad {
                axis: 2,
                before: 1,
                after: 3,
            };
            g.apply(p, vec![t]).unwrap()
        });
    }

    /// Taylor rule against nested JVPs through a function with every coefficient nonzero.
    #[test]
    fn taylor_matches_nested_jvps() {
        check_taylor("pad of sin", &[3, 2], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            let p = Pad {
                axis: 2,
                before: 1,
                after: 2,
            };
            g.apply(p, vec![s]).unwrap()
        });
    }
}
