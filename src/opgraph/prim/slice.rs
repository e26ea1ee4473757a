//! Strided slice along one axis: `start..stop` by `step` (> 0), within the static dimension.

use super::inverse_perm;
use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Pad, Primitive, Rewrite, Tan, F32};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Kind, OpGraph, Prim, Shape, Tensor, ValueId};
use ndarray::{ArrayD, Axis, IxDyn};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Slice {
    pub axis: usize,
    pub start: usize,
    pub stop: usize,
    pub step: usize,
}

impl Primitive for Slice {
    one_axis_sinks!();

    fn label(&self) -> String {
        format!(
            "Slice {}:{}:{} on axis {}",
            self.start, self.stop, self.step, self.axis
        )
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        check_axis(self.axis, from.len(), "Slice")?;
        if self.step == 0 || self.stop < self.start {
            return Err("empty or backwards bounds".into());
        }
        if let Some(d) = from[self.axis] {
            if self.stop > d {
                return Err(format!("stop {} beyond dimension {d}", self.stop));
            }
        }
        let mut shape = from.clone();
        shape[self.axis] = Some((self.stop - self.start).div_ceil(self.step));
        Ok((dtype, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let s = ndarray::Slice::new(
            self.start as isize,
            Some(self.stop as isize),
            self.step as isize,
        );
        Ok(args[0].slice_axis(Axis(self.axis), s).to_owned())
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let bounds = [self.start as i64, self.stop as i64, self.step as i64];
        cx.slice("Slice", ins[0], bounds, self.axis)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let (a, s) = (self.axis + 1, self);
        Ok(Some(cx.g.slice(t, a, s.start, s.stop, s.step)?))
    }

    linear_taylor!();

    /// Padded with zeros back to the input's size (a contiguous slice), or scattered back with
    /// a 0/1 matrix on the sliced axis moved last (a strided one).
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        let f = cx.full_like(ct, y)?;
        let len = cx.static_dim(x, self.axis)?;
        let m = cx.static_dim(y, self.axis)?;
        if self.step == 1 {
            let counts = |at: usize| -> Vec<i64> {
                (0..cx.g.rank(f))
                    .map(|a| if a == self.axis { at as i64 } else { 0 })
                    .collect()
            };
            let pad = Pad {
                begin: counts(self.start),
                end: counts(len - self.stop),
                value: F32(0.0),
            };
            return Ok(Some(vec![(0, cx.g.apply(pad, vec![f])?)]));
        }
        let (start, step) = (self.start, self.step);
        let scatter = ArrayD::from_shape_fn(IxDyn(&[m, len]), |ix| {
            (ix[1] == start + ix[0] * step) as u8 as f32
        });
        let r = cx.g.rank(f);
        let perm: Vec<usize> = (0..r)
            .filter(|&a| a != self.axis)
            .chain([self.axis])
            .collect();
        let moved = cx.g.transpose(f, perm.clone())?;
        let s = cx.g.constant(Tensor::F32(scatter));
        let spread = cx.g.matmul(moved, s)?;
        Ok(Some(vec![(
            0,
            cx.g.transpose(spread, inverse_perm(&perm))?,
        )]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("slices the batch axis".into()),
            a => Ok(a),
        }
    }

    /// A full slice is its input; a slice within one part of a concatenation along the same
    /// axis is that part, or a slice of it (the steps of a recurrence read so).
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        let full =
            g.shape(ins[0])[self.axis] == Some(self.stop) && self.start == 0 && self.step == 1;
        if full {
            return Some(Rewrite::Input(0));
        }
        let node = g.node(ins[0]);
        let Kind::Prim(Prim::Concat(c)) = &node.kind else {
            return None;
        };
        if c.axis != self.axis {
            return None;
        }
        let mut start = 0;
        for &part in &node.inputs {
            let len = g.shape(part)[self.axis]?;
            if self.start >= start && self.stop <= start + len {
                let (a, b) = (self.start - start, self.stop - start);
                if a == 0 && b == len && self.step == 1 {
                    return Some(Rewrite::Value(part));
                }
                let inner = Slice {
                    start: a,
                    stop: b,
                    ..self.clone()
                };
                return Some(Rewrite::Prim(Prim::Slice(inner), vec![part]));
            }
            start += len;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("slice", &[5], |g, x| {
            let s = g.mul(x, x).unwrap();
            g.slice(s, 1, 1, 5, 2).unwrap()
        });
        check_derivatives("contiguous slice", &[5, 2], |g, x| {
            let s = g.mul(x, x).unwrap();
            g.slice(s, 1, 1, 3, 1).unwrap()
        });
    }

    #[test]
    fn a_slice_of_one_part_of_a_concat_is_that_part() {
        use crate::opgraph::{DType, OpGraph};
        let mut g = OpGraph::new();
        let a = g.parameter("a", DType::F32, vec![None, Some(2), Some(3)]);
        let b = g.parameter("b", DType::F32, vec![None, Some(1), Some(3)]);
        let c = g.concat(&[a, b], 1).unwrap();
        assert_eq!(g.slice(c, 1, 2, 3, 1).unwrap(), b);
        // Within a part but not all of it: the simplify pass slices the part directly.
        let s = g.slice(c, 1, 1, 2, 1).unwrap();
        g.output("s", s);
        let h = crate::opgraph::simplify::simplify(&g).unwrap();
        let out = h.outputs[0].1;
        assert_eq!(h.node(out).inputs, vec![h.inputs[0]], "{:?}", h.nodes);
    }
}
