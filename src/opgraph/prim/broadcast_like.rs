//! `x` broadcast (both ways, NumPy rules) against the shape of `like`, read at run time so
//! dynamic dimensions work: the result has shape `broadcast(x, like)`. Only `x` flows into
//! the value; `like` gives the shape.

use super::values::broadcast_shape;
use super::{Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, Port, PortRef};
use crate::opgraph::{broadcast_shapes, DType, GResult, OpGraph, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BroadcastLike;

impl Primitive for BroadcastLike {
    no_transpose_sinking!();

    fn label(&self) -> String {
        "BroadcastLike".into()
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        Ok((ins[0].0, broadcast_shapes(ins[0].1, ins[1].1)?))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let shape = broadcast_shape(&[args[0].shape(), args[1].shape()])?;
        Ok(args[0]
            .broadcast(IxDyn(&shape))
            .ok_or("broadcast failed")?
            .to_owned())
    }

    /// ShapeOf(like) feeds a bidirectional Broadcast: dynamic dims come from run time.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let rank = cx.port(ins[1]).dims.len() as i64;
        let shape_port = Port {
            dtype: DType::I64,
            dims: vec![rank],
        };
        let data = vec![("output_type", "i64".to_string())];
        let s = cx.aux("ShapeOf", "ShapeOf", "opset3", data, &[ins[1]], shape_port);
        let data = vec![("mode", "bidirectional".to_string())];
        cx.op("Broadcast", "opset3", data, &[ins[0], s])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let like = cx.inputs(y)[1];
        match cx.align_to(tin[0], y)? {
            Some(t) => Ok(Some(cx.g.broadcast_like(t, like)?)),
            None => Ok(None),
        }
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        Ok(Some(if linear[0] {
            vec![(0, cx.unbroadcast(ct, x)?)]
        } else {
            vec![]
        }))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        b.elementwise()
    }

    /// Already that shape, and no dimension left to run time.
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        let (x, like) = (g.shape(ins[0]), g.shape(ins[1]));
        let same = broadcast_shapes(x, like).is_ok_and(|s| &s == x);
        (same && x.iter().all(Option::is_some)).then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_derivatives, constant};

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("broadcast_like", &[1, 3], |g, x| {
            let s = g.mul(x, x).unwrap();
            let c = constant(g, &[2, 3], 5);
            let like = g.add(c, x).unwrap();
            g.broadcast_like(s, like).unwrap()
        });
    }
}
