//! Element-wise comparisons of two values of the same element type (f32, integers, and bool
//! for (in)equality) -> bool, NumPy broadcasting. Piecewise constant, so their tangent is zero.

use super::values::{bool01, zip2};
use super::{Arity, Array, Batch, Jvp, Primitive, Tan};
use crate::ir::{numpy_broadcast, LayerCx, PortRef};
use crate::opgraph::{broadcast_shapes, DType, GResult, Shape, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Greater,
    GreaterEqual,
    Less,
    LessEqual,
    Equal,
    NotEqual,
}

impl CompareOp {
    pub fn apply(self, a: f64, b: f64) -> bool {
        match self {
            CompareOp::Greater => a > b,
            CompareOp::GreaterEqual => a >= b,
            CompareOp::Less => a < b,
            CompareOp::LessEqual => a <= b,
            CompareOp::Equal => a == b,
            CompareOp::NotEqual => a != b,
        }
    }
}

impl Primitive for CompareOp {
    elementwise_sinks!();

    fn label(&self) -> String {
        format!("{self:?}")
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (a, b) = (ins[0].0, ins[1].0);
        let ordered = matches!(a, DType::F32 | DType::I32 | DType::I64);
        let equality = matches!(self, CompareOp::Equal | CompareOp::NotEqual);
        if a != b || !(ordered || equality) {
            return Err(format!("cannot compare {a:?} with {b:?}"));
        }
        Ok((DType::Bool, broadcast_shapes(ins[0].1, ins[1].1)?))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        zip2(args[0], args[1], |a, b| bool01(self.apply(a, b)))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let ty = match self {
            CompareOp::Greater => "Greater",
            CompareOp::GreaterEqual => "GreaterEqual",
            CompareOp::Less => "Less",
            CompareOp::LessEqual => "LessEqual",
            CompareOp::Equal => "Equal",
            CompareOp::NotEqual => "NotEqual",
        };
        cx.op(ty, "opset1", numpy_broadcast(), ins)
    }

    fn jvp(&self, _cx: &mut Jvp, _y: ValueId, _tin: &[Tan]) -> GResult<Tan> {
        Ok(None)
    }

    // Piecewise constant: every coefficient is zero (the JVP rule says so, order by order).
    linear_taylor!();

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        b.elementwise()
    }

    no_simplification!();
}
