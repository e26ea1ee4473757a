//! `keras.ops` calls saved as operation nodes (`keras.src.ops.numpy` and the activation ops
//! of `keras.src.ops.nn`), lowered as `jax.numpy` computes them.

use super::activations;
use super::call::{LayerCall, Val};
use super::LResult;
use crate::opgraph::prim::F32;
use crate::opgraph::{
    Activation, BinaryOp, ClassifyOp, DType, GResult, OpGraph, ReduceOp, UnaryOp, ValueId,
};
use serde_json::Value;

/// An element-wise one-input numpy op: `f(x)`.
pub fn map(
    g: &mut OpGraph,
    lc: &LayerCall,
    f: fn(&mut OpGraph, ValueId) -> GResult<ValueId>,
) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    Ok(vec![f(g, x)?])
}

/// An element-wise two-input numpy op, either side possibly a literal: `f(x1, x2)`.
pub fn binary(
    g: &mut OpGraph,
    lc: &LayerCall,
    f: fn(&mut OpGraph, ValueId, ValueId) -> GResult<ValueId>,
) -> LResult<Vec<ValueId>> {
    let ab = lc.operands(g, &[(0, "x1"), (1, "x2")])?;
    Ok(vec![f(g, ab[0], ab[1])?])
}

/// `log(x) * k` (log10, log2).
pub fn scaled_log(g: &mut OpGraph, x: ValueId, k: f64) -> GResult<ValueId> {
    let l = g.unary(UnaryOp::Log, x)?;
    g.binary_scalar(BinaryOp::Mul, l, k as f32)
}

/// `log(1 + x)`.
pub fn log1p(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let p = g.binary_scalar(BinaryOp::Add, x, 1.0)?;
    g.unary(UnaryOp::Log, p)
}

/// A config value, or the call argument of the same name.
fn param<'v>(lc: &'v LayerCall, i: usize, key: &str) -> Option<&'v Value> {
    lc.cfg(key).or_else(|| match lc.arg(i, key) {
        Some(Val::Lit(v)) if !v.is_null() => Some(v),
        _ => None,
    })
}

fn param_f64(lc: &LayerCall, i: usize, key: &str) -> LResult<Option<f64>> {
    param(lc, i, key)
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| lc.error(format!("'{key}' = {v} is not a number")))
        })
        .transpose()
}

fn param_axes(lc: &LayerCall, i: usize, key: &str, rank: usize) -> LResult<Option<Vec<usize>>> {
    param(lc, i, key)
        .map(|v| {
            super::call::ints(v)
                .ok_or_else(|| lc.error(format!("'{key}' = {v} is not an int or list")))?
                .iter()
                .map(|&a| lc.axis(a, rank))
                .collect()
        })
        .transpose()
}

/// `jnp.clip`: `minimum(maximum(x, x_min), x_max)`, either bound optional.
pub fn clip(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let y = match (param_f64(lc, 1, "x_min")?, param_f64(lc, 2, "x_max")?) {
        (Some(lo), Some(hi)) => activations::clip(g, x, lo, hi)?,
        (Some(lo), None) => g.binary_scalar(BinaryOp::Max, x, lo as f32)?,
        (None, Some(hi)) => g.binary_scalar(BinaryOp::Min, x, hi as f32)?,
        (None, None) => x,
    };
    Ok(vec![y])
}

/// `where(condition, x1, x2)`; a non-boolean condition means "non-zero".
pub fn where_(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let c = lc.tensor_arg(g, 0, "condition")?;
    let ab = lc.operands(g, &[(1, "x1"), (2, "x2")])?;
    let (a, b) = (ab[0], ab[1]);
    let c = if g.dtype(c) == DType::Bool {
        c
    } else {
        let zero = g.constant(crate::opgraph::Tensor::scalar_of(g.dtype(c), 0.0));
        g.compare(crate::opgraph::CompareOp::NotEqual, c, zero)?
    };
    Ok(vec![g.select(c, a, b)?])
}

/// NaN, +inf and -inf replaced by the config's values; null infinities mean f32's largest and
/// lowest finite values, as NumPy does.
pub fn nan_to_num(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let nan = param_f64(lc, 1, "nan")?.unwrap_or(0.0);
    let posinf = param_f64(lc, 2, "posinf")?.unwrap_or(f32::MAX as f64);
    let neginf = param_f64(lc, 3, "neginf")?.unwrap_or(f32::MIN as f64);
    if posinf as f32 == f32::MAX && neginf as f32 == f32::MIN {
        // The defaults: clamping to the finite range replaces the infinities and leaves every
        // finite value alone; two OpenVINO ops instead of six.
        let hit = g.classify(ClassifyOp::IsNan, x)?;
        let c = g.scalar(nan as f32);
        let y = g.select(hit, c, x)?;
        return Ok(vec![activations::clip(g, y, neginf, posinf)?]);
    }
    let mut y = x;
    for (op, v) in [
        (ClassifyOp::IsNan, nan),
        (ClassifyOp::IsPosInf, posinf),
        (ClassifyOp::IsNegInf, neginf),
    ] {
        let hit = g.classify(op, y)?;
        let c = g.scalar(v as f32);
        y = g.select(hit, c, y)?;
    }
    Ok(vec![y])
}

/// NumPy `matmul`, with rank-1 operands promoted and the added axis removed after.
pub fn matmul(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let mut a = lc.tensor_arg(g, 0, "x1")?;
    let mut b = lc.tensor_arg(g, 1, "x2")?;
    let (ra, rb) = (g.rank(a), g.rank(b));
    if ra == 0 || rb == 0 {
        return Err(lc.error("matmul of a scalar"));
    }
    if ra == 1 {
        a = g.expand_dims(a, 0)?;
    }
    if rb == 1 {
        b = g.expand_dims(b, 1)?;
    }
    let mut y = g.matmul(a, b)?;
    if rb == 1 {
        let r = g.rank(y);
        y = g.squeeze(y, &[r - 1])?;
    }
    if ra == 1 {
        let r = g.rank(y);
        y = g.squeeze(y, &[r - 2])?;
    }
    Ok(vec![y])
}

/// `jnp.outer`: both inputs flattened (the batch axis too), `a[:, None] * b[None, :]`.
pub fn outer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let a = lc.tensor_arg(g, 0, "x1")?;
    let b = lc.tensor_arg(g, 1, "x2")?;
    let flat = |g: &mut OpGraph, x: ValueId| {
        let n = crate::opgraph::num_elements(g.shape(x));
        g.reshape(x, vec![n])
    };
    let fa = flat(g, a)?;
    let fb = flat(g, b)?;
    let col = g.expand_dims(fa, 1)?;
    let row = g.expand_dims(fb, 0)?;
    Ok(vec![g.mul(col, row)?])
}

/// Sum, Mean, Max, Min, Prod with `axis` (null: all axes) and `keepdims`; Max/Min `initial`.
pub fn reduce(g: &mut OpGraph, lc: &LayerCall, op: ReduceOp) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let axes = param_axes(lc, 1, "axis", rank)?.unwrap_or_else(|| (0..rank).collect());
    let keep = param(lc, 2, "keepdims")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let initial_with = match op {
        ReduceOp::Max => Some(BinaryOp::Max),
        ReduceOp::Min => Some(BinaryOp::Min),
        ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Prod => None,
    };
    let mut y = g.reduce(op, x, axes, keep)?;
    if let (Some(bop), Some(init)) = (initial_with, param_f64(lc, 3, "initial")?) {
        y = g.binary_scalar(bop, y, init as f32)?;
    }
    Ok(vec![y])
}

/// Reshape to `newshape`; a -1 becomes the input's dynamic dimension when it has one.
pub fn reshape(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let target = param(lc, 1, "newshape")
        .and_then(super::call::ints)
        .ok_or_else(|| lc.error("missing or bad 'newshape'"))?;
    let shape = g.shape(x).clone();
    let out = if shape.iter().any(|d| d.is_none()) {
        // The size is only known at run time: the -1 is left to OpenVINO (one at most).
        if target.iter().any(|&d| d < -1) || target.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(lc.error(format!("bad target shape {target:?}")));
        }
        target.iter().map(|&d| usize::try_from(d).ok()).collect()
    } else {
        super::reshaping::resolve_target(&[], &shape, &target).map_err(|m| lc.error(m))?
    };
    Ok(vec![g.reshape(x, out)?])
}

/// Permute axes; null reverses them.
pub fn transpose(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let perm = param_axes(lc, 1, "axes", rank)?.unwrap_or_else(|| (0..rank).rev().collect());
    Ok(vec![g.transpose(x, perm)?])
}

/// Insert size-1 axes; positions count in the output rank, as NumPy's.
pub fn expand_dims(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let raw = param(lc, 1, "axis")
        .and_then(super::call::ints)
        .ok_or_else(|| lc.error("missing 'axis'"))?;
    let out_rank = g.rank(x) + raw.len();
    let mut axes = raw
        .iter()
        .map(|&a| lc.axis(a, out_rank))
        .collect::<LResult<Vec<_>>>()?;
    axes.sort_unstable();
    if axes.windows(2).any(|w| w[0] == w[1]) {
        return Err(lc.error(format!("repeated axis in {raw:?}")));
    }
    let mut shape = g.shape(x).clone();
    for a in axes {
        shape.insert(a, Some(1));
    }
    Ok(vec![g.reshape(x, shape)?])
}

/// Remove the given size-1 axes, or every static size-1 axis when `axis` is null.
pub fn squeeze(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let axes = param_axes(lc, 1, "axis", rank)?
        .unwrap_or_else(|| (0..rank).filter(|&i| g.shape(x)[i] == Some(1)).collect());
    Ok(vec![g.squeeze(x, &axes)?])
}

fn tensor_list(lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = lc.all_tensors();
    if xs.is_empty() {
        return Err(lc.error("needs a list of tensors"));
    }
    Ok(xs)
}

/// `concatenate(xs, axis=0)`.
pub fn concatenate(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = tensor_list(lc)?;
    let axis = param(lc, 1, "axis").map_or(Some(0), |v| v.as_i64());
    let axis = axis.ok_or_else(|| lc.error("unsupported: concatenate with axis=None"))?;
    let axis = lc.axis(axis, g.rank(xs[0]))?;
    Ok(vec![g.concat(&xs, axis)?])
}

/// `stack(xs, axis=0)`: each input gets a new axis, then they are concatenated along it.
pub fn stack(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = tensor_list(lc)?;
    let axis = param(lc, 1, "axis").and_then(|v| v.as_i64()).unwrap_or(0);
    let axis = lc.axis(axis, g.rank(xs[0]) + 1)?;
    let expanded = xs
        .iter()
        .map(|&x| g.expand_dims(x, axis))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(vec![g.concat(&expanded, axis)?])
}

/// One entry of a `x[key]` index.
enum Index {
    Int(i64),
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Ellipsis,
    NewAxis,
}

fn parse_index(v: &Value) -> Option<Index> {
    if let Some(i) = v.as_i64() {
        return Some(Index::Int(i));
    }
    if v.is_null() {
        return Some(Index::NewAxis);
    }
    match v.get("class_name")?.as_str()? {
        "__slice__" => {
            let c = v.get("config")?;
            let f = |k: &str| c.get(k).and_then(|x| x.as_i64());
            Some(Index::Slice(f("start"), f("stop"), f("step")))
        }
        "__ellipsis__" => Some(Index::Ellipsis),
        _ => None,
    }
}

/// `x[key]` with integers, slices (step > 0), `...` and `None`.
pub fn get_item(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let key = match lc.arg(1, "key") {
        Some(Val::Lit(v)) => v.clone(),
        Some(Val::List(items)) => Value::Array(
            items
                .iter()
                .map(|i| match i {
                    Val::Lit(v) => Ok(v.clone()),
                    _ => Err(lc.error("unsupported: indexing with a tensor")),
                })
                .collect::<LResult<_>>()?,
        ),
        _ => return Err(lc.error("unsupported: indexing with a tensor")),
    };
    let key = super::core_layers::unwrap_tuple(&key).clone();
    let raw: Vec<Value> = match key {
        Value::Array(items) => items,
        other => vec![other],
    };
    let idx = raw
        .iter()
        .map(|v| parse_index(v).ok_or_else(|| lc.error(format!("unsupported index {v}"))))
        .collect::<LResult<Vec<_>>>()?;
    let rank = g.rank(x);
    let consumed = idx
        .iter()
        .filter(|i| matches!(i, Index::Int(_) | Index::Slice(..)))
        .count();
    if consumed > rank || idx.iter().filter(|i| matches!(i, Index::Ellipsis)).count() > 1 {
        return Err(lc.error(format!("too many indices for a rank-{rank} tensor")));
    }
    // `...` stands for as many full slices as the other indices leave.
    let idx: Vec<Index> = idx
        .into_iter()
        .flat_map(|i| match i {
            Index::Ellipsis => (0..rank - consumed)
                .map(|_| Index::Slice(None, None, None))
                .collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect();
    // Walk the key over the input axes; `out_shape` lists kept input axes and new axes.
    let (mut y, mut axis) = (x, 0usize);
    let mut squeeze_axes = Vec::new();
    let mut out_shape = Vec::new();
    for i in &idx {
        match i {
            Index::Ellipsis => unreachable!("expanded above"),
            Index::NewAxis => out_shape.push(None),
            Index::Int(k) => {
                let d = lc.static_dim(g, y, axis)? as i64;
                let k2 = if *k < 0 { k + d } else { *k };
                if k2 < 0 || k2 >= d {
                    return Err(lc.error(format!("index {k} out of range for axis of size {d}")));
                }
                y = g.slice(y, axis, k2 as usize, k2 as usize + 1, 1)?;
                squeeze_axes.push(axis);
                axis += 1;
            }
            Index::Slice(start, stop, step) => {
                let step = step.unwrap_or(1);
                if step == 0 {
                    return Err(lc.error("slice step cannot be zero"));
                }
                match g.shape(y)[axis] {
                    Some(d) => {
                        let (s, t, reversed) = slice_bounds(*start, *stop, step, d as i64);
                        if reversed {
                            y = g.reverse(y, axis)?;
                        }
                        y = g.slice(y, axis, s, t.max(s), step.unsigned_abs() as usize)?;
                    }
                    None if start.is_none() && stop.is_none() && step == 1 => {}
                    None => {
                        return Err(lc.error(
                            "unsupported: slicing an axis of unknown size (the batch axis)",
                        ))
                    }
                }
                out_shape.push(Some(axis));
                axis += 1;
            }
        }
    }
    while axis < rank {
        out_shape.push(Some(axis));
        axis += 1;
    }
    // Drop integer-indexed axes and insert new axes with one reshape.
    let sliced = g.shape(y).clone();
    let target: Vec<Option<usize>> = out_shape
        .iter()
        .filter(|a| a.is_none_or(|a| !squeeze_axes.contains(&a)))
        .map(|a| match a {
            Some(a) => sliced[*a],
            None => Some(1),
        })
        .collect();
    Ok(vec![g.reshape(y, target)?])
}

/// NumPy's bounds of `start:stop:step` on an axis of size `d`, as a forward range
/// `[s, t)` with step `|step|`, on the reversed axis when `step < 0` (`reversed`).
fn slice_bounds(start: Option<i64>, stop: Option<i64>, step: i64, d: i64) -> (usize, usize, bool) {
    let wrap = |v: i64| if v < 0 { v + d } else { v };
    if step > 0 {
        let s = start.map_or(0, |v| wrap(v).clamp(0, d));
        let t = stop.map_or(d, |v| wrap(v).clamp(0, d));
        (s as usize, t as usize, false)
    } else {
        // Indices start, start+step, ... > stop; -1 stands for "before the first element".
        let s = start.map_or(d - 1, |v| wrap(v).clamp(-1, d - 1));
        let t = stop.map_or(-1, |v| wrap(v).clamp(-1, d - 1));
        // Reversed axis: index i becomes d - 1 - i.
        ((d - 1 - s) as usize, (d - 1 - t) as usize, true)
    }
}

/// An activation op of `keras.src.ops.nn` without arguments: `keras.activations.<name>`.
pub fn nn(g: &mut OpGraph, lc: &LayerCall, name: &str) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    Ok(vec![activations::by_name(g, lc, name, x)?])
}

/// `keras.ops.leaky_relu(x, negative_slope=0.2)`.
pub fn leaky_relu(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let slope = param_f64(lc, 1, "negative_slope")?.unwrap_or(0.2);
    Ok(vec![
        g.activation(Activation::LeakyRelu(F32(slope as f32)), x)?
    ])
}

/// `keras.ops.elu(x, alpha=1.0)`.
pub fn elu(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let alpha = param_f64(lc, 1, "alpha")?.unwrap_or(1.0);
    Ok(vec![g.activation(Activation::Elu(F32(alpha as f32)), x)?])
}

/// `keras.ops.gelu(x, approximate=True)`: the tanh form unless told otherwise.
pub fn gelu(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let approximate = param(lc, 1, "approximate")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    Ok(vec![g.activation(Activation::Gelu { approximate }, x)?])
}

/// `keras.ops.softmax` / `log_softmax` along `axis` (default -1).
pub fn softmax(g: &mut OpGraph, lc: &LayerCall, log: bool) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let axis = param(lc, 1, "axis").and_then(|v| v.as_i64()).unwrap_or(-1);
    let axis = lc.axis(axis, rank)?;
    Ok(vec![activations::softmax(g, x, &[axis], log)?])
}

#[cfg(test)]
mod tests {
    use super::slice_bounds;

    /// The indices NumPy selects for `start:stop:step`, through our bounds.
    fn picked(start: Option<i64>, stop: Option<i64>, step: i64, d: i64) -> Vec<i64> {
        let (s, t, rev) = slice_bounds(start, stop, step, d);
        (s..t)
            .step_by(step.unsigned_abs() as usize)
            .map(|i| if rev { d - 1 - i as i64 } else { i as i64 })
            .collect()
    }

    #[test]
    fn slice_bounds_follow_numpy() {
        // Expected lists are what `list(range(6))[slice]` gives in Python.
        assert_eq!(picked(None, None, -1, 6), vec![5, 4, 3, 2, 1, 0]); // [::-1]
        assert_eq!(picked(Some(4), Some(1), -2, 6), vec![4, 2]); // [4:1:-2]
        assert_eq!(picked(Some(-2), None, -3, 6), vec![4, 1]); // [-2::-3]
        assert_eq!(picked(Some(1), Some(-1), 2, 6), vec![1, 3]); // [1:-1:2]
        assert_eq!(picked(Some(10), Some(-10), -1, 6), vec![5, 4, 3, 2, 1, 0]); // clamped
        assert_eq!(picked(Some(2), Some(4), -1, 6), Vec::<i64>::new()); // empty
    }
}
