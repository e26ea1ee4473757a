//! `keras.ops` calls saved as operation nodes (`keras.src.ops.numpy` and the activation ops
//! of `keras.src.ops.nn`), lowered as `jax.numpy` computes them.

use super::activations;
use super::call::{LayerCall, Val};
use super::{in_layer, LResult};
use crate::opgraph::{BinaryOp, ClassifyOp, CompareOp, DType, OpGraph, ReduceOp, UnaryOp, ValueId};
use serde_json::Value;

/// Element-wise one-input numpy ops.
pub fn unary(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let e = in_layer(lc.layer);
    let u = |g: &mut OpGraph, op| g.unary(op, x).map_err(&e);
    let y = match lc.layer.class_name.as_str() {
        "Negative" => u(g, UnaryOp::Neg)?,
        "Absolute" | "Abs" => u(g, UnaryOp::Abs)?,
        "Square" => g.mul(x, x).map_err(&e)?,
        "Sqrt" => u(g, UnaryOp::Sqrt)?,
        "Exp" => u(g, UnaryOp::Exp)?,
        "Log" => u(g, UnaryOp::Log)?,
        // log10(x) = ln(x) * (1 / ln 10), the constant folded.
        "Log10" => {
            let l = u(g, UnaryOp::Log)?;
            g.binary_scalar(BinaryOp::Mul, l, std::f64::consts::LOG10_E as f32)
                .map_err(&e)?
        }
        "Log2" => {
            let l = u(g, UnaryOp::Log)?;
            g.binary_scalar(BinaryOp::Mul, l, std::f64::consts::LOG2_E as f32)
                .map_err(&e)?
        }
        "Log1p" => {
            let p = g.binary_scalar(BinaryOp::Add, x, 1.0).map_err(&e)?;
            g.unary(UnaryOp::Log, p).map_err(&e)?
        }
        "Expm1" => activations::expm1(g, x).map_err(&e)?,
        "Sin" => u(g, UnaryOp::Sin)?,
        "Cos" => u(g, UnaryOp::Cos)?,
        "Tan" => u(g, UnaryOp::Tan)?,
        "Tanh" => u(g, UnaryOp::Tanh)?,
        "Arctan" => u(g, UnaryOp::Atan)?,
        "Sinh" => u(g, UnaryOp::Sinh)?,
        "Cosh" => u(g, UnaryOp::Cosh)?,
        other => return Err(lc.error(format!("not a unary op: {other}"))),
    };
    Ok(vec![y])
}

/// Element-wise two-input numpy ops (either side may be a literal).
pub fn binary(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let a = lc.tensor_arg(g, 0, "x1")?;
    let b = lc.tensor_arg(g, 1, "x2")?;
    let e = in_layer(lc.layer);
    let cmp = |g: &mut OpGraph, op| g.compare(op, a, b).map_err(&e);
    let y = match lc.layer.class_name.as_str() {
        "Add" => g.add(a, b),
        "Subtract" => g.sub(a, b),
        "Multiply" => g.mul(a, b),
        "Divide" | "TrueDivide" => g.div(a, b),
        "Power" => g.binary(BinaryOp::Pow, a, b),
        "Maximum" => g.binary(BinaryOp::Max, a, b),
        "Minimum" => g.binary(BinaryOp::Min, a, b),
        "Greater" => return Ok(vec![cmp(g, CompareOp::Greater)?]),
        "GreaterEqual" => return Ok(vec![cmp(g, CompareOp::GreaterEqual)?]),
        "Less" => return Ok(vec![cmp(g, CompareOp::Less)?]),
        "LessEqual" => return Ok(vec![cmp(g, CompareOp::LessEqual)?]),
        "Equal" => return Ok(vec![cmp(g, CompareOp::Equal)?]),
        other => return Err(lc.error(format!("not a binary op: {other}"))),
    }
    .map_err(&e)?;
    Ok(vec![y])
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
    let e = in_layer(lc.layer);
    let mut y = x;
    if let Some(lo) = param_f64(lc, 1, "x_min")? {
        y = g.binary_scalar(BinaryOp::Max, y, lo as f32).map_err(&e)?;
    }
    if let Some(hi) = param_f64(lc, 2, "x_max")? {
        y = g.binary_scalar(BinaryOp::Min, y, hi as f32).map_err(&e)?;
    }
    Ok(vec![y])
}

/// `where(condition, x1, x2)`; a non-boolean condition means "non-zero".
pub fn where_(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let c = lc.tensor_arg(g, 0, "condition")?;
    let a = lc.tensor_arg(g, 1, "x1")?;
    let b = lc.tensor_arg(g, 2, "x2")?;
    let e = in_layer(lc.layer);
    let c = g.convert(c, DType::Bool).map_err(&e)?;
    Ok(vec![g.select(c, a, b).map_err(&e)?])
}

/// NaN, +inf and -inf replaced by the config's values; null infinities mean f32's largest and
/// lowest finite values, as NumPy does.
pub fn nan_to_num(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let nan = param_f64(lc, 1, "nan")?.unwrap_or(0.0);
    let posinf = param_f64(lc, 2, "posinf")?.unwrap_or(f32::MAX as f64);
    let neginf = param_f64(lc, 3, "neginf")?.unwrap_or(f32::MIN as f64);
    let e = in_layer(lc.layer);
    let mut y = x;
    for (op, v) in [
        (ClassifyOp::IsNan, nan),
        (ClassifyOp::IsPosInf, posinf),
        (ClassifyOp::IsNegInf, neginf),
    ] {
        let hit = g.classify(op, y).map_err(&e)?;
        let c = g.scalar(v as f32);
        y = g.select(hit, c, y).map_err(&e)?;
    }
    Ok(vec![y])
}

/// NumPy `matmul`, with rank-1 operands promoted and the added axis removed after.
pub fn matmul(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let mut a = lc.tensor_arg(g, 0, "x1")?;
    let mut b = lc.tensor_arg(g, 1, "x2")?;
    let e = in_layer(lc.layer);
    let (ra, rb) = (g.rank(a), g.rank(b));
    if ra == 0 || rb == 0 {
        return Err(lc.error("matmul of a scalar"));
    }
    if ra == 1 {
        a = g.expand_dims(a, 0).map_err(&e)?;
    }
    if rb == 1 {
        b = g.expand_dims(b, 1).map_err(&e)?;
    }
    let mut y = g.matmul(a, b).map_err(&e)?;
    if rb == 1 {
        let r = g.rank(y);
        y = g.squeeze(y, &[r - 1]).map_err(&e)?;
    }
    if ra == 1 {
        let r = g.rank(y);
        y = g.squeeze(y, &[r - 2]).map_err(&e)?;
    }
    Ok(vec![y])
}

/// `jnp.outer`: both inputs flattened (the batch axis too), `a[:, None] * b[None, :]`.
pub fn outer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let a = lc.tensor_arg(g, 0, "x1")?;
    let b = lc.tensor_arg(g, 1, "x2")?;
    let e = in_layer(lc.layer);
    let flat = |g: &mut OpGraph, x: ValueId| {
        let n = crate::opgraph::num_elements(g.shape(x));
        g.reshape(x, vec![n])
    };
    let fa = flat(g, a).map_err(&e)?;
    let fb = flat(g, b).map_err(&e)?;
    let col = g.expand_dims(fa, 1).map_err(&e)?;
    let row = g.expand_dims(fb, 0).map_err(&e)?;
    Ok(vec![g.mul(col, row).map_err(&e)?])
}

/// Sum, Mean, Max, Min, Prod with `axis` (null: all axes) and `keepdims`; Max/Min `initial`.
pub fn reduce(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let axes = param_axes(lc, 1, "axis", rank)?.unwrap_or_else(|| (0..rank).collect());
    let keep = param(lc, 2, "keepdims")
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let (op, initial_with) = match lc.layer.class_name.as_str() {
        "Sum" => (ReduceOp::Sum, None),
        "Mean" => (ReduceOp::Mean, None),
        "Max" => (ReduceOp::Max, Some(BinaryOp::Max)),
        "Min" => (ReduceOp::Min, Some(BinaryOp::Min)),
        "Prod" => (ReduceOp::Prod, None),
        other => return Err(lc.error(format!("not a reduction: {other}"))),
    };
    let e = in_layer(lc.layer);
    let mut y = g.reduce(op, x, axes, keep).map_err(&e)?;
    if let (Some(bop), Some(init)) = (initial_with, param_f64(lc, 3, "initial")?) {
        y = g.binary_scalar(bop, y, init as f32).map_err(&e)?;
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
        target
            .iter()
            .map(|&d| if d < 0 { None } else { Some(d as usize) })
            .collect()
    } else {
        super::reshaping::resolve_target(&[], &shape, &target).map_err(|m| lc.error(m))?
    };
    Ok(vec![g.reshape(x, out).map_err(in_layer(lc.layer))?])
}

/// Permute axes; null reverses them.
pub fn transpose(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let perm = param_axes(lc, 1, "axes", rank)?.unwrap_or_else(|| (0..rank).rev().collect());
    Ok(vec![g.transpose(x, perm).map_err(in_layer(lc.layer))?])
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
    let mut shape = g.shape(x).clone();
    for a in axes {
        shape.insert(a, Some(1));
    }
    Ok(vec![g.reshape(x, shape).map_err(in_layer(lc.layer))?])
}

/// Remove the given size-1 axes, or every static size-1 axis when `axis` is null.
pub fn squeeze(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let axes = param_axes(lc, 1, "axis", rank)?
        .unwrap_or_else(|| (0..rank).filter(|&i| g.shape(x)[i] == Some(1)).collect());
    Ok(vec![g.squeeze(x, &axes).map_err(in_layer(lc.layer))?])
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
    Ok(vec![g.concat(&xs, axis).map_err(in_layer(lc.layer))?])
}

/// `stack(xs, axis=0)`: each input gets a new axis, then they are concatenated along it.
pub fn stack(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = tensor_list(lc)?;
    let axis = param(lc, 1, "axis").and_then(|v| v.as_i64()).unwrap_or(0);
    let axis = lc.axis(axis, g.rank(xs[0]) + 1)?;
    let e = in_layer(lc.layer);
    let expanded = xs
        .iter()
        .map(|&x| g.expand_dims(x, axis))
        .collect::<Result<Vec<_>, _>>()
        .map_err(&e)?;
    Ok(vec![g.concat(&expanded, axis).map_err(&e)?])
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
    let e = in_layer(lc.layer);
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
                y = g
                    .slice(y, axis, k2 as usize, k2 as usize + 1, 1)
                    .map_err(&e)?;
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
                            y = g.reverse(y, axis).map_err(&e)?;
                        }
                        y = g
                            .slice(y, axis, s, t.max(s), step.unsigned_abs() as usize)
                            .map_err(&e)?;
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
    Ok(vec![g.reshape(y, target).map_err(&e)?])
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

/// Activation ops from `keras.src.ops.nn`, with their config arguments.
pub fn nn_activation(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let rank = g.rank(x);
    let e = in_layer(lc.layer);
    let axis = |lc: &LayerCall| -> LResult<usize> {
        lc.axis(
            param(lc, 1, "axis").and_then(|v| v.as_i64()).unwrap_or(-1),
            rank,
        )
    };
    let y = match lc.layer.class_name.as_str() {
        "Relu" => activations::relu(g, x),
        "Relu6" => activations::relu6(g, x),
        "Sigmoid" => g.unary(UnaryOp::Sigmoid, x),
        "Softplus" => g.unary(UnaryOp::SoftPlus, x),
        "Softsign" => return Ok(vec![by_name(g, lc, "softsign", x)?]),
        "Silu" => return Ok(vec![by_name(g, lc, "silu", x)?]),
        "HardSigmoid" => activations::hard_sigmoid(g, x),
        "HardSilu" => return Ok(vec![by_name(g, lc, "hard_silu", x)?]),
        "Selu" => return Ok(vec![by_name(g, lc, "selu", x)?]),
        "LeakyRelu" => {
            activations::leaky_relu(g, x, param_f64(lc, 1, "negative_slope")?.unwrap_or(0.2))
        }
        "Elu" => activations::elu(g, x, param_f64(lc, 1, "alpha")?.unwrap_or(1.0)),
        "Gelu" => {
            let approx = param(lc, 1, "approximate")
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            activations::gelu(g, x, approx)
        }
        "Softmax" => activations::softmax(g, x, &[axis(lc)?]),
        "LogSoftmax" => activations::log_softmax(g, x, &[axis(lc)?]),
        other => return Err(lc.error(format!("not an activation op: {other}"))),
    };
    Ok(vec![y.map_err(&e)?])
}

fn by_name(g: &mut OpGraph, lc: &LayerCall, name: &str, x: ValueId) -> LResult<ValueId> {
    activations::by_name(g, name, x)
        .map_err(in_layer(lc.layer))?
        .ok_or_else(|| lc.error(format!("unknown activation {name}")))
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
