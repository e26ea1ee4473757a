//! Embedding and the `keras.ops` that index, count and compare integers in sequence models:
//! `take`, `take_along_axis`, `one_hot`, `argmax`/`argmin`/`argsort`, `cumsum`, `tril`/`triu`,
//! `not_equal`, `any`, `ones_like` (`docs/semantics/sequence.md` §2, §16). Gathers follow
//! `jnp.take`'s default "fill" mode: negative indices wrap once, others out of range give NaN.

use super::call::{LayerCall, Val};
use super::LResult;
use crate::opgraph::prim::{Cumsum, Take, TakeAlong, TopKIndices, F32};
use crate::opgraph::{CompareOp, DType, OpGraph, ReduceOp, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// Integer indices as JAX computes them (int32); floats are truncated toward zero, as
/// `ops.cast(x, "int32")` does (OpenVINO's Convert truncates too).
fn int_indices(g: &mut OpGraph, x: ValueId) -> LResult<ValueId> {
    Ok(match g.dtype(x) {
        DType::I32 | DType::I64 => x,
        _ => g.convert(x, DType::I32)?,
    })
}

/// `keras.layers.Embedding(input_dim, output_dim, mask_zero)`: rows of the table, NaN for ids
/// out of range; with `mask_zero` the mask `ids != 0` travels with the output.
pub fn embedding(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let ids = lc.input()?;
    if lc.cfg("lora_rank").is_some() {
        return Err(lc.error("unsupported: Embedding with LoRA weights (lora_rank)"));
    }
    let dim = |key: &str| {
        lc.cfg_i64(key)?
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| lc.error(format!("config has no '{key}' (a count)")))
    };
    let (n, d) = (dim("input_dim")?, dim("output_dim")?);
    let w = lc.weights(&[("embeddings", vec![n, d])])?;
    let table = g.constant(Tensor::F32(w[0].clone()));
    let idx = int_indices(g, ids)?;
    let take = Take {
        axis: 0,
        fill: F32(f32::NAN),
    };
    let y = g.apply(take, vec![table, idx])?;
    let mask = if lc.cfg_bool("mask_zero", false)? {
        let zero = g.constant(Tensor::scalar_of(g.dtype(idx), 0.0));
        Some(g.compare(CompareOp::NotEqual, idx, zero)?)
    } else {
        None
    };
    lc.set_output_masks(vec![mask]);
    Ok(vec![y])
}

/// An integer config value or call argument.
fn int_param(lc: &LayerCall, i: usize, key: &str) -> Option<i64> {
    lc.cfg(key)
        .and_then(Value::as_i64)
        .or_else(|| match lc.arg(i, key) {
            Some(Val::Lit(v)) => v.as_i64(),
            _ => None,
        })
}

/// `axis=None` flattens (the batch axis too): `x` reshaped to one axis, axis 0.
fn axis_or_flat(
    g: &mut OpGraph,
    lc: &LayerCall,
    x: ValueId,
    i: usize,
) -> LResult<(ValueId, usize)> {
    match int_param(lc, i, "axis") {
        Some(a) => {
            let r = g.rank(x);
            Ok((x, lc.axis(a, r)?))
        }
        None => {
            let n = crate::opgraph::num_elements(g.shape(x));
            Ok((g.reshape(x, vec![n])?, 0))
        }
    }
}

/// Integer indices given as a literal (int or nested list) or a tensor.
fn indices(g: &mut OpGraph, lc: &LayerCall, i: usize) -> LResult<ValueId> {
    match lc.arg(i, "indices") {
        Some(Val::T(t)) => int_indices(g, t.v),
        Some(v) => {
            let lit = v
                .literal()
                .ok_or_else(|| lc.error("indices mix tensors and numbers"))?;
            let t = super::call::literal_tensor(&lit)
                .ok_or_else(|| lc.error(format!("indices {lit} are not integers")))?;
            Ok(g.constant(Tensor::from_f64(DType::I32, &t.to_f64())))
        }
        None => Err(lc.error("missing 'indices'")),
    }
}

/// `keras.ops.take(x, indices, axis)`.
pub fn take(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let idx = indices(g, lc, 1)?;
    let (x, axis) = axis_or_flat(g, lc, x, 2)?;
    let p = Take {
        axis,
        fill: F32(f32::NAN),
    };
    Ok(vec![g.apply(p, vec![x, idx])?])
}

/// `keras.ops.take_along_axis(x, indices, axis)`: both broadcast against each other on every
/// axis but `axis`.
pub fn take_along_axis(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let idx = indices(g, lc, 1)?;
    let (x, axis) = axis_or_flat(g, lc, x, 2)?;
    let idx = if int_param(lc, 2, "axis").is_none() {
        let n = crate::opgraph::num_elements(g.shape(idx));
        g.reshape(idx, vec![n])?
    } else {
        idx
    };
    if g.rank(idx) != g.rank(x) {
        return Err(lc.error("take_along_axis needs indices of the values' rank"));
    }
    // Broadcast every axis but `axis`: each side against the other with that axis at 1.
    let idx_like = g.slice(idx, axis, 0, 1, 1)?;
    let x = g.broadcast_like(x, idx_like)?;
    let x_like = g.slice(x, axis, 0, 1, 1)?;
    let idx = g.broadcast_like(idx, x_like)?;
    let p = TakeAlong {
        axis,
        fill: F32(f32::NAN),
    };
    Ok(vec![g.apply(p, vec![x, idx])?])
}

/// `keras.ops.one_hot(x, num_classes, axis, dtype)`: `x[..., None] == arange(n)` (no
/// wrapping: negative ids give zeros).
pub fn one_hot(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let x = int_indices(g, x)?;
    let n = int_param(lc, 1, "num_classes")
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| lc.error("missing 'num_classes'"))?;
    if lc.cfg_bool("sparse", false)? {
        return Err(lc.error("unsupported: sparse one_hot"));
    }
    let r = g.rank(x);
    let mut shape = g.shape(x).clone();
    shape.push(Some(1));
    let col = g.reshape(x, shape)?;
    let mut ishape = vec![1; r];
    ishape.push(n);
    let iota = ArrayD::from_shape_vec(IxDyn(&ishape), (0..n).map(|i| i as f64).collect())
        .expect("n values");
    let iota = g.constant(Tensor::from_f64(g.dtype(col), &iota));
    let hit = g.compare(CompareOp::Equal, col, iota)?;
    let dtype = match lc.cfg("dtype").and_then(Value::as_str).unwrap_or("float32") {
        d if d.starts_with("float") => DType::F32,
        "int32" | "int64" => DType::I32,
        "bool" => DType::Bool,
        other => return Err(lc.error(format!("unsupported one_hot dtype {other}"))),
    };
    let y = g.convert(hit, dtype)?;
    let axis = lc.axis(int_param(lc, 2, "axis").unwrap_or(-1), r + 1)?;
    let perm: Vec<usize> = (0..r).take(axis).chain([r]).chain(axis..r).collect();
    Ok(vec![g.transpose(y, perm)?])
}

/// `keras.ops.argmax` / `argmin`: the first index of the extreme (`keepdims` keeps the axis).
/// On CPU, Keras' JAX backend orders -0.0 before +0.0 (it replaces -0.0 by -tiny).
pub fn arg_extreme(g: &mut OpGraph, lc: &LayerCall, largest: bool) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    if g.dtype(x) != DType::F32 {
        return Err(lc.error("unsupported: argmax/argmin of integers"));
    }
    let keep = lc.cfg_bool("keepdims", false)?;
    let (x, axis) = axis_or_flat(g, lc, x, 1)?;
    // is_negative_zero = (x == 0) & signbit(x): 1 / -0.0 is -inf.
    let zero = g.scalar(0.0);
    let is_zero = g.compare(CompareOp::Equal, x, zero)?;
    let one = g.scalar(1.0);
    let inv = g.div(one, x)?;
    let neg = g.compare(CompareOp::Less, inv, zero)?;
    let f = g.constant(Tensor::scalar_of(DType::Bool, 0.0));
    let neg_zero = g.select(is_zero, neg, f)?;
    let tiny = g.scalar(-f32::MIN_POSITIVE);
    let x = g.select(neg_zero, tiny, x)?;
    let p = TopKIndices {
        axis,
        k: 1,
        largest,
    };
    let y = g.apply(p, vec![x])?;
    Ok(vec![if keep { y } else { g.squeeze(y, &[axis])? }])
}

/// `keras.ops.argsort(x, axis)`: a stable ascending sort's indices.
pub fn argsort(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let (x, axis) = axis_or_flat(g, lc, x, 1)?;
    let k = lc.static_dim(g, x, axis)?;
    let p = TopKIndices {
        axis,
        k,
        largest: false,
    };
    Ok(vec![g.apply(p, vec![x])?])
}

/// `keras.ops.cumsum(x, axis, dtype)`: integers stay integers (int32), bool counts as int32.
pub fn cumsum(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let dtype = match lc.cfg("dtype").and_then(Value::as_str) {
        None => match g.dtype(x) {
            DType::Bool | DType::I64 => DType::I32,
            d => d,
        },
        Some(d) if d.starts_with("float") => DType::F32,
        Some(d) if d.starts_with("int") || d.starts_with("uint") => DType::I32,
        Some(other) => return Err(lc.error(format!("unsupported cumsum dtype {other}"))),
    };
    let x = g.convert(x, dtype)?;
    let (x, axis) = axis_or_flat(g, lc, x, 1)?;
    Ok(vec![g.apply(
        Cumsum {
            axis,
            reverse: false,
        },
        vec![x],
    )?])
}

/// `keras.ops.tril(x, k)` / `triu(x, k)` on the last two axes: `where(mask, x, 0)`.
pub fn tri(g: &mut OpGraph, lc: &LayerCall, lower: bool) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let r = g.rank(x);
    if r < 2 {
        return Err(lc.error("tril/triu need a rank >= 2 input"));
    }
    let k = int_param(lc, 1, "k").unwrap_or(0);
    let (m, n) = (lc.static_dim(g, x, r - 2)?, lc.static_dim(g, x, r - 1)?);
    let keep = ArrayD::from_shape_fn(IxDyn(&[m, n]), |ix| {
        let (i, j) = (ix[0] as i64, ix[1] as i64);
        if lower {
            j <= i + k
        } else {
            j >= i + k
        }
    });
    let mask = g.constant(Tensor::Bool(keep));
    let zero = g.constant(Tensor::scalar_of(g.dtype(x), 0.0));
    Ok(vec![g.select(mask, x, zero)?])
}

/// `keras.ops.any(x, axis, keepdims)`: some element is non-zero.
pub fn any(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let r = g.rank(x);
    let axes: Vec<usize> = match lc.cfg("axis") {
        None => (0..r).collect(),
        Some(v) => super::call::ints(v)
            .ok_or_else(|| lc.error(format!("'axis' = {v} is not an int or list")))?
            .iter()
            .map(|&a| lc.axis(a, r))
            .collect::<LResult<_>>()?,
    };
    let keep = lc.cfg_bool("keepdims", false)?;
    let nonzero = if g.dtype(x) == DType::Bool {
        x
    } else {
        let zero = g.constant(Tensor::scalar_of(g.dtype(x), 0.0));
        g.compare(CompareOp::NotEqual, x, zero)?
    };
    let f = g.convert(nonzero, DType::F32)?;
    let mx = g.reduce(ReduceOp::Max, f, axes, keep)?;
    let zero = g.scalar(0.0);
    Ok(vec![g.compare(CompareOp::Greater, mx, zero)?])
}

/// `keras.ops.ones_like(x, dtype)` and `keras.ops.zeros_like(x, dtype)`: `value` in the
/// shape of `x`.
pub fn filled_like(g: &mut OpGraph, lc: &LayerCall, value: f64) -> LResult<Vec<ValueId>> {
    let x = lc.tensor_arg(g, 0, "x")?;
    let dtype = match lc.cfg("dtype").and_then(Value::as_str) {
        None => g.dtype(x),
        Some(d) if d.starts_with("float") => DType::F32,
        Some(d) if d.starts_with("int") => DType::I32,
        Some("bool") => DType::Bool,
        Some(other) => return Err(lc.error(format!("unsupported dtype {other}"))),
    };
    let fill = g.constant(Tensor::scalar_of(dtype, value));
    Ok(vec![g.broadcast_like(fill, x)?])
}
