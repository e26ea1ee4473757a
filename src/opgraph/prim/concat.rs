//! Join values along an axis.

use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{shape_fmt, DType, GResult, OpGraph, Shape, ValueId};
use ndarray::{concatenate, Axis};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Concat {
    pub axis: usize,
}

impl Primitive for Concat {
    one_axis_sinks!();

    fn label(&self) -> String {
        format!("Concat axis {}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::AtLeast(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, first) = ins[0];
        let axis = self.axis;
        check_axis(axis, first.len(), "Concat")?;
        let mut total = Some(0usize);
        for &(d, s) in ins {
            let agree = s.len() == first.len()
                && d == dtype
                && s.iter()
                    .zip(first)
                    .enumerate()
                    .all(|(i, (a, b))| i == axis || a.is_none() || b.is_none() || a == b);
            if !agree {
                return Err(format!(
                    "inputs disagree: {} vs {} on axis {axis}",
                    shape_fmt(first),
                    shape_fmt(s)
                ));
            }
            total = total.zip(s[axis]).and_then(|(a, b)| a.checked_add(b));
        }
        let mut shape = first.clone();
        shape[axis] = total;
        Ok((dtype, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let views: Vec<_> = args.iter().map(|a| a.view()).collect();
        concatenate(Axis(self.axis), &views).map_err(|e| format!("concat: {e}"))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        cx.op(
            "Concat",
            "opset1",
            vec![("axis", self.axis.to_string())],
            ins,
        )
    }

    // Parts are broadcast to the full batch only when their tangents disagree (a seed and a
    // batch-dependent tangent); tangents that are all batch-1 constants stay constant, so e.g.
    // concatenated seeds still fold into the first layer.
    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let ins = cx.inputs(y);
        let lead = tin
            .iter()
            .flatten()
            .find_map(|&t| cx.g.shape(t)[0])
            .expect("a nonzero tangent with a static leading axis");
        let mut parts = Vec::new();
        for (k, &x) in ins.iter().enumerate() {
            parts.push(match tin[k] {
                Some(t) => cx.align(t, cx.g.rank(x))?,
                None => cx.zeros(lead, x),
            });
        }
        let axis = self.axis + 1;
        let agree = parts.iter().all(|&p| {
            let (a, b) = (cx.g.shape(p), cx.g.shape(parts[0]));
            a.iter()
                .zip(b)
                .enumerate()
                .all(|(i, (da, db))| i == axis || da == db)
        });
        if !agree {
            for (k, p) in parts.iter_mut().enumerate() {
                *p = cx.full(*p, ins[k])?;
            }
        }
        Ok(Some(cx.g.concat(&parts, axis)?))
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let ins = cx.inputs(y);
        let f = cx.full_like(ct, y)?;
        let mut out = Vec::new();
        let mut start = 0;
        for (k, &x) in ins.iter().enumerate() {
            let d = cx.static_dim(x, self.axis)?;
            if linear[k] {
                let part = cx.g.slice(f, self.axis, start, start + d, 1)?;
                out.push((k, cx.unbroadcast(part, x)?));
            }
            start += d;
        }
        Ok(Some(out))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.elementwise()? {
            Some(a) if a == self.axis => Err("concatenates along the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, _g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        (ins.len() == 1).then_some(Rewrite::Input(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_derivatives, constant};

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("concat", &[2], |g, x| {
            let s = g.mul(x, x).unwrap();
            let c = constant(g, &[1, 2], 4);
            let cb = g.broadcast_like(c, x).unwrap();
            g.concat(&[s, x, cb], 1).unwrap()
        });
    }
}
