//! `cond ? a : b`, NumPy broadcasting of all three. Linear in the branches.

use super::values::zip3;
use super::{Arity, Array, Batch, Jvp, Lin, Primitive, Tan};
use crate::ir::{numpy_broadcast, LayerCx, PortRef};
use crate::opgraph::{broadcast_shapes, DType, GResult, Shape, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Select;

impl Primitive for Select {
    elementwise_sinks!();

    fn label(&self) -> String {
        "Select".into()
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(3)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        if ins[0].0 != DType::Bool {
            return Err("the condition must be bool".into());
        }
        if ins[1].0 != ins[2].0 {
            return Err("the branches differ in element type".into());
        }
        let s = broadcast_shapes(ins[1].1, ins[2].1)?;
        Ok((ins[1].0, broadcast_shapes(ins[0].1, &s)?))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        zip3(
            args[0],
            args[1],
            args[2],
            |c, a, b| if c != 0.0 { a } else { b },
        )
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        cx.op("Select", "opset1", numpy_broadcast(), ins)
    }

    // A zero branch is the scalar 0, which broadcasts to the tangent's shape.
    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let cond = cx.inputs(y)[0];
        let branch = |cx: &mut Jvp, t: Tan| -> GResult<ValueId> {
            Ok(match cx.align_to(t, y)? {
                Some(t) => t,
                None => cx.scalar(0.0),
            })
        };
        let a = branch(cx, tin[1])?;
        let b = branch(cx, tin[2])?;
        Ok(Some(cx.g.select(cond, a, b)?))
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if linear[0] {
            return Ok(None);
        }
        let ins = cx.inputs(y);
        let zero = cx.g.scalar(0.0);
        let mut out = Vec::new();
        for k in (1..3).filter(|&k| linear[k]) {
            let s = if k == 1 {
                cx.g.select(ins[0], ct, zero)?
            } else {
                cx.g.select(ins[0], zero, ct)?
            };
            out.push((k, cx.unbroadcast(s, ins[k])?));
        }
        Ok(Some(out))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        b.elementwise()
    }

    no_simplification!();
}

#[cfg(test)]
mod tests {
    use crate::opgraph::{CompareOp, UnaryOp};
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("select", &[4], |g, x| {
            let one = g.scalar(1.0);
            let c = g.compare(CompareOp::Greater, x, one).unwrap();
            let sq = g.mul(x, x).unwrap();
            let e = g.unary(UnaryOp::Exp, x).unwrap();
            g.select(c, sq, e).unwrap()
        });
        check_derivatives("select with a constant branch", &[4], |g, x| {
            let one = g.scalar(1.0);
            let c = g.compare(CompareOp::Less, x, one).unwrap();
            let sq = g.mul(x, x).unwrap();
            g.select(c, sq, one).unwrap()
        });
    }
}
