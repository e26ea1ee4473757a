//! Reverse the order of elements along one axis.

use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, Shape, ValueId};
use ndarray::Axis;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reverse {
    pub axis: usize,
}

impl Primitive for Reverse {
    one_axis_sinks!();

    fn label(&self) -> String {
        format!("Reverse axis {}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        check_axis(self.axis, ins[0].1.len(), "Reverse")?;
        Ok((ins[0].0, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mut v = args[0].clone();
        v.invert_axis(Axis(self.axis));
        Ok(v)
    }

    /// A Slice from the last element backwards with step -1.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        cx.slice("Reverse", ins[0], [-1, i64::MIN, -1], self.axis)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        Ok(Some(cx.g.reverse(t, self.axis + 1)?))
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let f = cx.full_like(ct, y)?;
        Ok(Some(vec![(0, cx.g.reverse(f, self.axis)?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("reverses the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        (g.shape(ins[0])[self.axis] == Some(1)).then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::opgraph::UnaryOp;
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("reverse", &[4], |g, x| {
            let s = g.unary(UnaryOp::Exp, x).unwrap();
            let r = g.reverse(s, 1).unwrap();
            g.mul(r, x).unwrap()
        });
    }
}
