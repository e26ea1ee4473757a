//! `jnp.take_along_axis(x, idx, axis)` in JAX's fill mode (the index rule of `take.rs`):
//! `out[a.., i, b..] = x[a.., idx[a.., i, b..], b..]`, `idx` of `x`'s shape except on `axis`.
//! Its JVP differentiates the one-hot form `sum_j x[.., j, ..] * (idx[.., i, ..] == j)` (0
//! where an index is out of range, as JAX's tangent), so reverse mode needs no transpose rule
//! of its own. The indices are never differentiated.

use super::take::{emit_fill, gather_operands, one_hot, resolve};
use super::{Arity, Array, Batch, Jvp, Primitive, Tan, F32};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, ReduceOp, Shape, ValueId};
use ndarray::{ArrayD, Axis, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TakeAlong {
    pub axis: usize,
    /// The value of an out-of-range entry.
    pub fill: F32,
}

impl Primitive for TakeAlong {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("TakeAlong axis {}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (x, idx) = gather_operands(ins, self.axis, "TakeAlong")?;
        let same = x.len() == idx.len()
            && x.iter()
                .zip(idx.iter())
                .enumerate()
                .all(|(i, (a, b))| i == self.axis || a == b);
        if !same {
            return Err(format!(
                "indices {} must have the shape of the values {} except on axis {}",
                crate::opgraph::shape_fmt(idx),
                crate::opgraph::shape_fmt(x),
                self.axis
            ));
        }
        Ok((DType::F32, idx.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let (x, idx) = (args[0], args[1]);
        let n = x.len_of(Axis(self.axis));
        let mut out = ArrayD::zeros(idx.raw_dim());
        for (pos, &i) in idx.indexed_iter() {
            out[&pos] = match resolve(i, n) {
                Some(j) => {
                    let mut at: Vec<usize> = ndarray::Dimension::slice(&pos).to_vec();
                    at[self.axis] = j;
                    x[IxDyn(&at)]
                }
                None => f64::from(self.fill.0),
            };
        }
        Ok(out)
    }

    /// GatherElements-6 on the wrapped, clamped indices; out-of-range entries are then filled.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let n = cx.port(ins[0]).dims[self.axis] as usize;
        let valid_shape = cx.port(ins[1]).dims.clone();
        let axis = self.axis;
        let out = cx.out();
        emit_fill(
            cx,
            ins[0],
            ins[1],
            n,
            self.fill.0,
            valid_shape,
            |cx, x, safe| {
                let data = vec![("axis", axis.to_string())];
                cx.aux(
                    "GatherElements",
                    "GatherElements",
                    "opset6",
                    data,
                    &[x, safe],
                    out,
                )
            },
        )
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let axis = self.axis;
        cx.through(y, tin, |g, ins| one_hot_take_along(g, ins[0], ins[1], axis))
    }

    // Linear in the gathered values (the indices carry no series): each order is gathered.
    linear_taylor!();

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        let a = b.elementwise()?;
        if a == Some(self.axis) {
            return Err("gathers along the batch axis".into());
        }
        Ok(a)
    }

    no_simplification!();
}

/// `take_along_axis` as a one-hot contraction (0 where an index is out of range).
fn one_hot_take_along(g: &mut OpGraph, x: ValueId, idx: ValueId, axis: usize) -> GResult<ValueId> {
    let n = g.shape(x)[axis].ok_or_else(|| g.error("a gathered axis of unknown size"))?;
    // hot: [.., m, .., n] (one-hot last); x: [.., n, ..] -> [.., 1, .., n].
    let hot = one_hot(g, idx, n)?;
    let r = g.rank(x);
    let perm: Vec<usize> = (0..r).filter(|&a| a != axis).chain([axis]).collect();
    let xl = g.transpose(x, perm)?;
    let mut shape = g.shape(xl).clone();
    shape.insert(axis, Some(1));
    let xe = g.reshape(xl, shape)?;
    let prod = g.mul(xe, hot)?;
    g.reduce(ReduceOp::Sum, prod, vec![r], false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::Tensor;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_taylor};

    fn index_const(g: &mut OpGraph, v: &[i32], shape: &[usize]) -> ValueId {
        let a = ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap();
        g.constant(Tensor::I32(a))
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("take_along", &[3, 2], |g, x| {
            let s = g.mul(x, x).unwrap();
            let idx = index_const(g, &[2, 0, -1, 1], &[1, 2, 2]);
            let like = g.slice(s, 1, 0, 2, 1).unwrap();
            let idx = g.broadcast_like(idx, like).unwrap();
            let p = TakeAlong {
                axis: 1,
                fill: F32(f32::NAN),
            };
            g.apply(p, vec![s, idx]).unwrap()
        });
    }

    /// Taylor rule against nested JVPs through a function with every coefficient nonzero.
    #[test]
    fn taylor_matches_nested_jvps() {
        check_taylor("take_along of sin", &[3, 2], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            let idx = index_const(g, &[2, 0, -1, 1], &[1, 2, 2]);
            let like = g.slice(s, 1, 0, 2, 1).unwrap();
            let idx = g.broadcast_like(idx, like).unwrap();
            let p = TakeAlong {
                axis: 1,
                fill: F32(0.0),
            };
            g.apply(p, vec![s, idx]).unwrap()
        });
    }
}
