//! A gather with integer indices, as `jnp.take` computes it in JAX's default mode "fill" (`jax/_src/numpy/indexing.py`):
//! an index in `[-n, -1]` counts from the end, an index outside `[-n, n)` gives the fill value
//! (NaN for values; 0 for tangents, which is what JAX's gather JVP rule fills with).
//!
//! Linear in the gathered tensor: the tangent is a `Take` of the tangent, and the transpose
//! scatters the cotangent back with a one-hot matrix of the indices. The indices are never
//! differentiated. `take_along.rs` shares the index rule and its IR.

use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Primitive, Tan, F32};
use crate::ir::{numpy_broadcast, LayerCx, Port, PortRef};
use crate::opgraph::{CompareOp, DType, GResult, OpGraph, Shape, Tensor, ValueId};
use ndarray::{ArrayD, Axis, IxDyn};

/// `jnp.take(x, idx, axis)`: `out[a.., i.., b..] = x[a.., idx[i..], b..]`, shape
/// `x[..axis] + idx + x[axis + 1..]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Take {
    pub axis: usize,
    /// The value of an out-of-range entry.
    pub fill: F32,
}

/// An index normalised as JAX does: `Some(in-range index)`, or `None` (out of range).
pub(super) fn resolve(i: f64, n: usize) -> Option<usize> {
    let n = n as f64;
    let j = if i < 0.0 { i + n } else { i };
    (0.0..n).contains(&j).then_some(j as usize)
}

pub(super) fn expect_index(d: DType) -> Result<(), String> {
    if d.is_int() {
        Ok(())
    } else {
        Err(format!("indices must be integers, got {d:?}"))
    }
}

/// The data and index shapes of a gather along `axis` (Take, TakeAlong), checked: f32
/// data, integer indices, an axis in range and of static length.
pub(super) fn gather_operands<'a>(
    ins: &[(DType, &'a Shape)],
    axis: usize,
    what: &str,
) -> Result<(&'a Shape, &'a Shape), String> {
    let ((dx, x), (di, idx)) = (ins[0], ins[1]);
    if dx != DType::F32 {
        return Err(format!("gathers from f32 values, got {dx:?}"));
    }
    expect_index(di)?;
    check_axis(axis, x.len(), what)?;
    static_len(x, axis)?;
    Ok((x, idx))
}

pub(super) fn static_len(x: &Shape, axis: usize) -> Result<usize, String> {
    x[axis].ok_or_else(|| format!("the gathered axis {axis} must have a static size"))
}

/// The IR of `where(in range, gather(x, wrapped idx), fill)`: `gather` emits the gather on the
/// normalised (in-range) indices; the mask of valid entries, shaped as `valid_shape`,
/// selects between it and the fill value.
pub(super) fn emit_fill(
    cx: &mut LayerCx,
    x: PortRef,
    idx: PortRef,
    n: usize,
    fill: f32,
    valid_shape: Vec<i64>,
    gather: impl FnOnce(&mut LayerCx, PortRef, PortRef) -> PortRef,
) -> PortRef {
    let ip = cx.port(idx).clone();
    let int = |cx: &mut LayerCx, name: &str, v: i64| {
        let t = Tensor::scalar_of(ip.dtype, v as f64);
        cx.constant(name, &t)
    };
    let boolean = |dims: &[i64]| Port {
        dtype: DType::Bool,
        dims: dims.to_vec(),
    };
    let (zero, len) = (int(cx, "zero", 0), int(cx, "n", n as i64));
    let neg = cx.aux(
        "neg",
        "Less",
        "opset1",
        numpy_broadcast(),
        &[idx, zero],
        boolean(&ip.dims),
    );
    let plus = cx.aux(
        "plus_n",
        "Add",
        "opset1",
        numpy_broadcast(),
        &[idx, len],
        ip.clone(),
    );
    let data = numpy_broadcast();
    let wrapped = cx.aux(
        "wrapped",
        "Select",
        "opset1",
        data,
        &[neg, plus, idx],
        ip.clone(),
    );
    let lo = cx.aux(
        "ge0",
        "GreaterEqual",
        "opset1",
        numpy_broadcast(),
        &[wrapped, zero],
        boolean(&ip.dims),
    );
    let hi = cx.aux(
        "lt_n",
        "Less",
        "opset1",
        numpy_broadcast(),
        &[wrapped, len],
        boolean(&ip.dims),
    );
    let valid = cx.aux(
        "valid",
        "LogicalAnd",
        "opset1",
        numpy_broadcast(),
        &[lo, hi],
        boolean(&ip.dims),
    );
    let safe = cx.aux(
        "safe",
        "Select",
        "opset1",
        numpy_broadcast(),
        &[valid, wrapped, zero],
        ip.clone(),
    );
    let gathered = gather(cx, x, safe);
    let shape = cx.i64s("valid/shape", &valid_shape);
    let data = vec![("special_zero", "false".to_string())];
    let vmask = cx.aux(
        "valid/reshaped",
        "Reshape",
        "opset1",
        data,
        &[valid, shape],
        boolean(&valid_shape),
    );
    let f = cx.scalar("fill", fill);
    cx.op("Select", "opset1", numpy_broadcast(), &[vmask, gathered, f])
}

impl Primitive for Take {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("Take axis {}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (x, idx) = gather_operands(ins, self.axis, "Take")?;
        let mut shape = x[..self.axis].to_vec();
        shape.extend_from_slice(idx);
        shape.extend_from_slice(&x[self.axis + 1..]);
        Ok((DType::F32, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let (x, idx) = (args[0], args[1]);
        let ax = Axis(self.axis);
        let n = x.len_of(ax);
        let mut parts = Vec::with_capacity(idx.len());
        for &i in idx.iter() {
            parts.push(match resolve(i, n) {
                Some(j) => x.index_axis(ax, j).to_owned(),
                None => {
                    let mut s = x.shape().to_vec();
                    s.remove(self.axis);
                    ArrayD::from_elem(IxDyn(&s), f64::from(self.fill.0))
                }
            });
        }
        let views: Vec<_> = parts.iter().map(|p| p.view().insert_axis(ax)).collect();
        let stacked = if views.is_empty() {
            let mut s = x.shape().to_vec();
            s[self.axis] = 0;
            ArrayD::zeros(IxDyn(&s))
        } else {
            ndarray::concatenate(ax, &views).map_err(|e| e.to_string())?
        };
        let mut shape = x.shape()[..self.axis].to_vec();
        shape.extend_from_slice(idx.shape());
        shape.extend_from_slice(&x.shape()[self.axis + 1..]);
        stacked
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| e.to_string())
    }

    /// Gather-8 on the wrapped, clamped indices; out-of-range entries are then filled.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let xp = cx.port(ins[0]).clone();
        let ip = cx.port(ins[1]).clone();
        let n = xp.dims[self.axis] as usize;
        let mut valid_shape = vec![1; self.axis];
        valid_shape.extend(&ip.dims);
        valid_shape.extend(std::iter::repeat_n(1, xp.dims.len() - self.axis - 1));
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
                let a = cx.i64s("Gather/axis", &[axis as i64]);
                let data = vec![("batch_dims", "0".to_string())];
                cx.aux("Gather", "Gather", "opset8", data, &[x, safe, a], out)
            },
        )
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let Some(t) = tin[0] else { return Ok(None) };
        let idx = cx.inputs(y)[1];
        let t = cx.align(t, cx.g.rank(cx.inputs(y)[0]))?;
        let p = Take {
            axis: self.axis + 1,
            fill: F32(0.0),
        };
        Ok(Some(cx.g.apply(p, vec![t, idx])?))
    }

    // Linear in the gathered values (the indices carry no series): each order is gathered.
    linear_taylor!();

    /// Scatter-add: the cotangent's index axes, moved last and flattened to `K`, times the
    /// `[K, n]` one-hot matrix of the (wrapped) indices; out-of-range rows are zero.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if linear[1] || !linear[0] {
            return Ok(None);
        }
        let [x, idx] = cx.inputs(y)[..] else {
            unreachable!("Take has two inputs")
        };
        let n = cx.static_dim(x, self.axis)?;
        let ir = cx.g.rank(idx);
        let k: Option<usize> = cx.g.shape(idx).iter().copied().product();
        let k = k.ok_or_else(|| {
            cx.g.error("reverse mode through a gather needs indices of static shape")
        })?;
        let flat = cx.g.reshape(idx, vec![Some(k)])?;
        let hot = one_hot(cx.g, flat, n)?;
        // ct (the node's layout, its leading axis O): [O, pre.., idx.., post..]
        // -> [O, pre.., post.., idx..] -> [.., K] @ [K, n].
        let f = cx.full_like(ct, y)?;
        let r = cx.g.rank(f);
        let a = self.axis;
        let perm: Vec<usize> = (0..a).chain(a + ir..r).chain(a..a + ir).collect();
        let moved = cx.g.transpose(f, perm)?;
        let mut shape = cx.g.shape(moved)[..r - ir].to_vec();
        shape.push(Some(k));
        let flat_ct = cx.g.reshape(moved, shape)?;
        let spread = cx.g.matmul(flat_ct, hot)?;
        // [O, pre.., post.., n] -> [O, pre.., n, post..] (the node's input layout)
        let rs = cx.g.rank(spread);
        let back: Vec<usize> = (0..a).chain([rs - 1]).chain(a..rs - 1).collect();
        Ok(Some(vec![(0, cx.g.transpose(spread, back)?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match (b.axes[0], b.axes[1]) {
            (Some(_), Some(_)) => Err("gathers every sample with every sample's indices".into()),
            (Some(a), None) if a == self.axis => Err("gathers along the batch axis".into()),
            (Some(a), None) if a < self.axis => Ok(Some(a)),
            (Some(a), None) => Ok(Some(a - 1 + b.shapes[1].len())),
            (None, Some(i)) => Ok(Some(self.axis + i)),
            (None, None) => Ok(None),
        }
    }

    no_simplification!();
}

/// `(idx[.., None] == arange(n))` as f32, for indices normalised as JAX does (negative ones
/// wrapped once): the one-hot rows of out-of-range indices are zero.
pub fn one_hot(g: &mut OpGraph, idx: ValueId, n: usize) -> GResult<ValueId> {
    let d = g.dtype(idx);
    let zero = g.constant(Tensor::scalar_of(d, 0.0));
    let len = g.constant(Tensor::scalar_of(d, n as f64));
    let neg = g.compare(CompareOp::Less, idx, zero)?;
    let plus = g.add(idx, len)?;
    let wrapped = g.select(neg, plus, idx)?;
    let r = g.rank(idx);
    let mut shape = g.shape(idx).clone();
    shape.push(Some(1));
    let col = g.reshape(wrapped, shape)?;
    let iota: Vec<f64> = (0..n).map(|i| i as f64).collect();
    let mut ishape = vec![1; r];
    ishape.push(n);
    let iota = Tensor::from_f64(d, &ArrayD::from_shape_vec(IxDyn(&ishape), iota).expect("n"));
    let iota = g.constant(iota);
    let hit = g.compare(CompareOp::Equal, col, iota)?;
    g.convert(hit, DType::F32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::eval;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_taylor, check_transpose, constant};
    use ndarray::array;

    fn index_const(g: &mut OpGraph, v: &[i32], shape: &[usize]) -> ValueId {
        let a = ArrayD::from_shape_vec(IxDyn(shape), v.to_vec()).unwrap();
        g.constant(Tensor::I32(a))
    }

    #[test]
    fn take_wraps_negative_indices_and_fills_out_of_range() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
        let idx = index_const(&mut g, &[2, -1, 3, -4, 0], &[5]);
        let p = Take {
            axis: 1,
            fill: F32(f32::NAN),
        };
        let y = g.apply(p, vec![x, idx]).unwrap();
        g.output("y", y);
        let out = eval(&g, &[array![[1.0, 2.0, 3.0]].into_dyn()]).unwrap();
        let got: Vec<f64> = out[0].iter().copied().collect();
        assert_eq!(got[..2], [3.0, 3.0]);
        assert!(got[2].is_nan() && got[3].is_nan());
        assert_eq!(got[4], 1.0);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("take", &[4, 2], |g, x| {
            let s = g.mul(x, x).unwrap();
            let idx = index_const(g, &[3, 0, -1, 1, 3, 2], &[2, 3]);
            let p = Take {
                axis: 1,
                fill: F32(f32::NAN),
            };
            g.apply(p, vec![s, idx]).unwrap()
        });
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("take", &[4, 2], |g, t| {
            let idx = index_const(g, &[3, 0, -1, 5, 3, 2], &[2, 3]);
            let p = Take {
                axis: 1,
                fill: F32(0.0),
            };
            let y = g.apply(p, vec![t, idx]).unwrap();
            let c = constant(g, &[2, 3, 2], 1);
            g.mul(y, c).unwrap()
        });
    }

    /// Taylor rule against nested JVPs through a function with every coefficient nonzero.
    #[test]
    fn taylor_matches_nested_jvps() {
        check_taylor("take of sin", &[4, 2], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            let idx = index_const(g, &[3, 0, -1, 1, 5, 2], &[2, 3]);
            let p = Take {
                axis: 1,
                fill: F32(0.0),
            };
            g.apply(p, vec![s, idx]).unwrap()
        });
    }
}
