//! ZeroPadding1D/2D/3D, Cropping1D/2D/3D and `keras.ops.pad` (docs/semantics/conv.md §5,
//! §10). Constant padding and cropping are one `Pad` primitive (negative counts crop); the
//! other `jnp.pad` modes are built axis by axis, in axis order as `jnp.pad` does, from
//! slices, reversals, reductions and concatenations.

use super::call::{LayerCall, Val};
use super::convolutional::channels_first;
use super::LResult;
use crate::opgraph::prim::{Pad, F32};
use crate::opgraph::{BinaryOp, OpGraph, ReduceOp, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// `(before, after)` per spatial axis from an int, a pair (one axis), a list of ints (one
/// per axis) or a list of pairs.
fn pairs(lc: &LayerCall, key: &str, r: usize) -> LResult<Vec<(i64, i64)>> {
    let bad = || {
        lc.error(format!(
            "config '{key}' is not an int, a pair or a list of pairs"
        ))
    };
    let v = lc
        .cfg(key)
        .ok_or_else(|| lc.error(format!("config has no '{key}'")))?;
    let v = super::core_layers::unwrap_tuple(v);
    let int = |v: &Value| v.as_i64().filter(|&i| i >= 0);
    let pair = |v: &Value| -> Option<(i64, i64)> {
        let v = super::core_layers::unwrap_tuple(v);
        match v.as_array()?.as_slice() {
            [a, b] => Some((int(a)?, int(b)?)),
            _ => None,
        }
    };
    if let Some(p) = int(v) {
        return Ok(vec![(p, p); r]);
    }
    let items = v.as_array().ok_or_else(bad)?;
    if r == 1 {
        if let Some(p) = pair(v) {
            return Ok(vec![p]);
        }
    }
    if items.len() != r {
        return Err(bad());
    }
    items
        .iter()
        .map(|i| int(i).map(|p| (p, p)).or_else(|| pair(i)))
        .collect::<Option<_>>()
        .ok_or_else(bad)
}

/// The counts on every axis of a rank-`rank` tensor from the spatial pairs, `sign` -1 to crop.
fn full_counts(
    lc: &LayerCall,
    rank: usize,
    spatial: &[(i64, i64)],
    sign: i64,
) -> LResult<(Vec<i64>, Vec<i64>)> {
    let first = if channels_first(lc)? { 2 } else { 1 };
    let (mut b, mut e) = (vec![0; rank], vec![0; rank]);
    for (k, &(p, q)) in spatial.iter().enumerate() {
        b[first + k] = sign * p;
        e[first + k] = sign * q;
    }
    Ok((b, e))
}

fn pad_or_crop(g: &mut OpGraph, lc: &LayerCall, key: &str, sign: i64) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    if rank < 3 {
        return Err(lc.error(format!("needs an input of rank 3 or more, got {rank}")));
    }
    let spatial = pairs(lc, key, rank - 2)?;
    let (begin, end) = full_counts(lc, rank, &spatial, sign)?;
    let p = Pad {
        begin,
        end,
        value: F32(0.0),
    };
    Ok(vec![g.apply(p, vec![x])?])
}

/// ZeroPadding1D/2D/3D: zeros before and after each spatial axis.
pub fn zero_padding(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    pad_or_crop(g, lc, "padding", 1)
}

/// Cropping1D/2D/3D: `[before : size - after]` on each spatial axis.
pub fn cropping(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    pad_or_crop(g, lc, "cropping", -1)
}

/// `keras.ops.pad(x, pad_width, mode, constant_values)`; `pad_width` covers every axis.
pub fn pad_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = match lc.arg(0, "x") {
        Some(Val::T(t)) => t.v,
        _ => return Err(lc.error("the first argument must be a tensor")),
    };
    let rank = g.rank(x);
    let widths = pairs(lc, "pad_width", rank)?;
    let mode = lc.cfg("mode").and_then(Value::as_str).unwrap_or("constant");
    if mode == "constant" {
        let value = match lc.arg(1, "constant_values") {
            None | Some(Val::Lit(Value::Null)) => 0.0,
            Some(Val::Lit(v)) => v
                .as_f64()
                .ok_or_else(|| lc.error("unsupported: constant_values other than one number"))?,
            Some(_) => return Err(lc.error("unsupported: constant_values other than one number")),
        };
        let p = Pad {
            begin: widths.iter().map(|w| w.0).collect(),
            end: widths.iter().map(|w| w.1).collect(),
            value: F32(value as f32),
        };
        return Ok(vec![g.apply(p, vec![x])?]);
    }
    let mut y = x;
    for (a, &(p, q)) in widths.iter().enumerate() {
        if p == 0 && q == 0 {
            continue;
        }
        let n = lc.static_dim(g, y, a)?;
        let (p, q) = (p as usize, q as usize);
        let before = side(g, lc, mode, y, a, n, p, true)?;
        let after = side(g, lc, mode, y, a, n, q, false)?;
        let parts: Vec<ValueId> = [before, Some(y), after].into_iter().flatten().collect();
        y = g.concat(&parts, a)?;
    }
    Ok(vec![y])
}

/// `w` cells of `mode` padding on one side of axis `a` (length `n`) of `y`.
#[allow(clippy::too_many_arguments)]
fn side(
    g: &mut OpGraph,
    lc: &LayerCall,
    mode: &str,
    y: ValueId,
    a: usize,
    n: usize,
    w: usize,
    before: bool,
) -> LResult<Option<ValueId>> {
    if w == 0 {
        return Ok(None);
    }
    let too_wide = |what: &str| {
        lc.error(format!(
            "unsupported: {what} padding of {w} on an axis of {n}"
        ))
    };
    let rank = g.rank(y);
    let mut reps = vec![1; rank];
    reps[a] = w;
    let edge = if before { (0, 1) } else { (n - 1, n) };
    Ok(Some(match mode {
        "edge" => {
            let s = g.slice(y, a, edge.0, edge.1, 1)?;
            g.tile(s, reps)?
        }
        "reflect" | "symmetric" => {
            let skip = usize::from(mode == "reflect");
            if w + skip > n {
                return Err(too_wide(mode));
            }
            let s = if before {
                g.slice(y, a, skip, skip + w, 1)?
            } else {
                g.slice(y, a, n - skip - w, n - skip, 1)?
            };
            g.reverse(s, a)?
        }
        "wrap" => {
            if w > n {
                return Err(too_wide(mode));
            }
            if before {
                g.slice(y, a, n - w, n, 1)?
            } else {
                g.slice(y, a, 0, w, 1)?
            }
        }
        "maximum" | "minimum" | "mean" => {
            let op = match mode {
                "maximum" => ReduceOp::Max,
                "minimum" => ReduceOp::Min,
                _ => ReduceOp::Mean,
            };
            let s = g.reduce(op, y, vec![a], true)?;
            g.tile(s, reps)?
        }
        "median" => {
            let s = median(g, lc, y, a, n)?;
            g.tile(s, reps)?
        }
        "linear_ramp" => {
            // jnp: linspace(0, edge, w, endpoint=False), reversed after the axis.
            let ramp: Vec<f32> = (0..w)
                .map(|i| if before { i } else { w - 1 - i })
                .map(|i| i as f32 / w as f32)
                .collect();
            let mut shape = vec![1; rank];
            shape[a] = w;
            let r = ArrayD::from_shape_vec(IxDyn(&shape), ramp).expect("w values");
            let r = g.constant(Tensor::F32(r));
            let s = g.slice(y, a, edge.0, edge.1, 1)?;
            g.mul(s, r)?
        }
        other => {
            return Err(lc.error(format!("unsupported: pad mode '{other}'")));
        }
    }))
}

/// The median along axis `a` (kept as size 1): an odd-even transposition sort of the `n`
/// slices with max and min, then the middle one (or the mean of the two middle ones).
fn median(g: &mut OpGraph, lc: &LayerCall, y: ValueId, a: usize, n: usize) -> LResult<ValueId> {
    if n > 32 {
        return Err(lc.error(format!(
            "unsupported: median padding over an axis of {n} (at most 32)"
        )));
    }
    let mut v: Vec<ValueId> = (0..n)
        .map(|i| g.slice(y, a, i, i + 1, 1))
        .collect::<Result<_, _>>()?;
    for round in 0..n {
        for i in (round % 2..n.saturating_sub(1)).step_by(2) {
            let lo = g.binary(BinaryOp::Min, v[i], v[i + 1])?;
            let hi = g.binary(BinaryOp::Max, v[i], v[i + 1])?;
            v[i] = lo;
            v[i + 1] = hi;
        }
    }
    if n % 2 == 1 {
        return Ok(v[n / 2]);
    }
    let s = g.add(v[n / 2 - 1], v[n / 2])?;
    Ok(g.binary_scalar(BinaryOp::Mul, s, 0.5)?)
}
