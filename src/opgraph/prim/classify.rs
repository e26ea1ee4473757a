//! Floating-point classification: f32 -> bool (OpenVINO IsNaN / IsInf). Piecewise constant.

use super::values::bool01;
use super::{expect_f32, Arity, Array, Batch, Jvp, Primitive, Tan};
use crate::ir::{bool_attr, LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClassifyOp {
    IsNan,
    IsPosInf,
    IsNegInf,
}

impl Primitive for ClassifyOp {
    elementwise_sinks!();

    fn label(&self) -> String {
        format!("{self:?}")
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, &self.label())?;
        Ok((DType::Bool, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        Ok(args[0].mapv(|x| {
            bool01(match self {
                ClassifyOp::IsNan => x.is_nan(),
                ClassifyOp::IsPosInf => x == f64::INFINITY,
                ClassifyOp::IsNegInf => x == f64::NEG_INFINITY,
            })
        }))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        match self {
            ClassifyOp::IsNan => cx.op("IsNaN", "opset10", vec![], ins),
            ClassifyOp::IsPosInf | ClassifyOp::IsNegInf => {
                let pos = *self == ClassifyOp::IsPosInf;
                let data = vec![
                    ("detect_negative", bool_attr(!pos)),
                    ("detect_positive", bool_attr(pos)),
                ];
                cx.op("IsInf", "opset10", data, ins)
            }
        }
    }

    fn jvp(&self, _cx: &mut Jvp, _y: ValueId, _tin: &[Tan]) -> GResult<Tan> {
        Ok(None)
    }

    // Piecewise constant: every coefficient is zero (the JVP rule says so, order by order).
    linear_taylor!();

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        Ok(b.first())
    }

    no_simplification!();
}
