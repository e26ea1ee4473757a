//! Element type conversion. Only an f32 -> f32 conversion would carry a tangent, and the
//! builder never makes one.

use super::values::bool01;
use super::{Arity, Array, Batch, Jvp, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, Shape, ValueId};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Convert {
    pub to: DType,
}

impl Primitive for Convert {
    elementwise_sinks!();

    fn label(&self) -> String {
        format!("Convert to {}", self.to.ov_name())
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        Ok((self.to, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        Ok(match self.to {
            DType::Bool => args[0].mapv(|x| bool01(x != 0.0)),
            DType::I32 | DType::I64 => args[0].mapv(f64::trunc),
            DType::F32 => args[0].clone(),
        })
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let data = vec![("destination_type", self.to.ov_name().to_string())];
        cx.op("Convert", "opset1", data, ins)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        Ok(match (self.to, cx.g.dtype(x)) {
            (DType::F32, DType::F32) => tin[0],
            _ => None,
        })
    }

    linear_taylor!();

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        Ok(b.first())
    }

    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        (g.dtype(ins[0]) == self.to).then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::opgraph::{DType, OpGraph};

    #[test]
    fn converting_to_the_same_type_is_no_node() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
        assert_eq!(g.convert(x, DType::F32).unwrap(), x);
        let b = g.convert(x, DType::Bool).unwrap();
        assert_eq!(g.dtype(b), DType::Bool);
    }
}
