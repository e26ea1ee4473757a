//! Repeat along each axis (OpenVINO Tile); `repeats.len() == rank`.

use super::{Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, ReduceOp, Shape, ValueId};
use ndarray::{concatenate, Axis};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tile {
    pub repeats: Vec<usize>,
}

impl Primitive for Tile {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("Tile {:?}", self.repeats)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        if self.repeats.len() != from.len() {
            return Err("repeats must match the rank".into());
        }
        let shape = from
            .iter()
            .zip(&self.repeats)
            .map(|(d, &r)| match d {
                Some(d) => d.checked_mul(r).map(Some).ok_or("too many elements"),
                None => Ok(None),
            })
            .collect::<Result<_, _>>()?;
        Ok((dtype, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mut out = args[0].clone();
        for (axis, &r) in self.repeats.iter().enumerate() {
            if r != 1 {
                let views: Vec<_> = (0..r).map(|_| out.view()).collect();
                out = concatenate(Axis(axis), &views).map_err(|e| e.to_string())?;
            }
        }
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let repeats: Vec<i64> = self.repeats.iter().map(|&r| r as i64).collect();
        let r = cx.i64s("Tile/repeats", &repeats);
        cx.op("Tile", "opset1", vec![], &[ins[0], r])
    }

    fn jvp(&self, cx: &mut Jvp, _y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let t = tin[0].expect("a nonzero tangent");
        let mut r = vec![1];
        r.extend_from_slice(&self.repeats);
        Ok(Some(cx.g.tile(t, r)?))
    }

    linear_taylor!();

    /// The copies summed back: each tiled axis split into (copies, size) and reduced.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if self.repeats[0] != 1 {
            return Ok(None);
        }
        let x = cx.inputs(y)[0];
        let mut acc = cx.full_like(ct, y)?;
        for (axis, &r) in self.repeats.iter().enumerate().filter(|(_, &r)| r > 1) {
            let d = cx.static_dim(x, axis)?;
            let mut split = cx.g.shape(acc).clone();
            split.splice(axis..=axis, [Some(r), Some(d)]);
            let s = cx.g.reshape(acc, split)?;
            acc = cx.g.reduce(ReduceOp::Sum, s, vec![axis], false)?;
        }
        Ok(Some(vec![(0, cx.unbroadcast(acc, x)?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if self.repeats[a] != 1 => Err("tiles the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, _g: &OpGraph, _ins: &[ValueId]) -> Option<Rewrite> {
        self.repeats
            .iter()
            .all(|&r| r == 1)
            .then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("tile", &[2], |g, x| {
            let s = g.mul(x, x).unwrap();
            let e = g.expand_dims(s, 1).unwrap();
            g.tile(e, vec![1, 3, 1]).unwrap()
        });
    }
}
