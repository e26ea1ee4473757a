//! Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{BinaryOp, DType, GResult, OpGraph, ReduceOp, Tensor, UnaryOp, ValueId};

fn inputs(g: &OpGraph, lc: &LayerCall, min: usize) -> LResult<Vec<ValueId>> {
    let xs = lc.all_tensors();
    if xs.len() < min {
        return Err(lc.error(format!("needs at least {min} inputs, got {}", xs.len())));
    }
    let r = g.rank(xs[0]);
    if xs.iter().any(|&x| g.rank(x) != r) {
        return Err(lc.error("unsupported: merging inputs of different ranks"));
    }
    Ok(xs)
}

pub fn concatenate(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = inputs(g, lc, 1)?;
    let axis = lc.axis(lc.cfg_i64("axis")?.unwrap_or(-1), g.rank(xs[0]))?;
    let y = g.concat(&xs, axis)?;
    let masks = lc.all_masks();
    let out = if masks.iter().any(Option::is_some) {
        Some(concatenated_mask(g, &xs, &masks, axis)?)
    } else {
        None
    };
    lc.set_output_masks(vec![out]);
    Ok(vec![y])
}

/// `Concatenate.compute_mask`: each mask broadcast to its input's shape (all true when the
/// input has none), concatenated along `axis`, then `any` over the last axis.
fn concatenated_mask(
    g: &mut OpGraph,
    xs: &[ValueId],
    masks: &[Option<ValueId>],
    axis: usize,
) -> GResult<ValueId> {
    let mut parts = Vec::new();
    for (&x, m) in xs.iter().zip(masks) {
        let m = match m {
            Some(m) => {
                let m = g.convert(*m, DType::Bool)?;
                let mut shape = g.shape(m).clone();
                while shape.len() < g.rank(x) {
                    shape.push(Some(1));
                }
                g.reshape(m, shape)?
            }
            None => g.constant(Tensor::scalar_of(DType::Bool, 1.0)),
        };
        parts.push(g.broadcast_like(m, x)?);
    }
    let joined = g.concat(&parts, axis)?;
    let f = g.convert(joined, DType::F32)?;
    let r = g.rank(f);
    let any = g.reduce(ReduceOp::Max, f, vec![r - 1], false)?;
    let zero = g.scalar(0.0);
    g.compare(crate::opgraph::CompareOp::Greater, any, zero)
}

/// `Merge.compute_mask` (Add, Subtract, Multiply, Average, Maximum, Minimum): the OR of the
/// inputs' masks, or none when an input has none.
fn merged_mask(g: &mut OpGraph, lc: &LayerCall) -> LResult<()> {
    let masks: Option<Vec<ValueId>> = lc.all_masks().into_iter().collect();
    let mut out = None;
    if let Some(ms) = masks.filter(|m| !m.is_empty()) {
        let mut m = g.convert(ms[0], DType::Bool)?;
        for &n in &ms[1..] {
            let n = g.convert(n, DType::Bool)?;
            let t = g.constant(Tensor::scalar_of(DType::Bool, 1.0));
            m = g.select(m, t, n)?;
        }
        out = Some(m);
    }
    lc.set_output_masks(vec![out]);
    Ok(())
}

/// Add, Multiply, Maximum, Minimum: a left fold of `op`, as Keras' merge functions.
pub fn fold(g: &mut OpGraph, lc: &LayerCall, op: BinaryOp) -> LResult<Vec<ValueId>> {
    let xs = inputs(g, lc, 1)?;
    merged_mask(g, lc)?;
    Ok(vec![fold_values(g, op, &xs)?])
}

fn fold_values(g: &mut OpGraph, op: BinaryOp, xs: &[ValueId]) -> GResult<ValueId> {
    let mut y = xs[0];
    for &x in &xs[1..] {
        y = g.binary(op, y, x)?;
    }
    Ok(y)
}

/// The sum divided by the number of inputs.
pub fn average(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = inputs(g, lc, 1)?;
    merged_mask(g, lc)?;
    let s = fold_values(g, BinaryOp::Add, &xs)?;
    Ok(vec![g.binary_scalar(BinaryOp::Div, s, xs.len() as f32)?])
}

pub fn subtract(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = inputs(g, lc, 2)?;
    if xs.len() != 2 {
        return Err(lc.error("Subtract takes exactly 2 inputs"));
    }
    merged_mask(g, lc)?;
    Ok(vec![g.sub(xs[0], xs[1])?])
}

/// `keras.layers.Dot`: optional L2 normalisation, then `batch_dot` as in
/// `keras/src/layers/merging/dot.py`.
pub fn dot(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = lc.all_tensors();
    if xs.len() != 2 {
        return Err(lc.error("Dot takes exactly 2 inputs"));
    }
    let (r1, r2) = (g.rank(xs[0]) as i64, g.rank(xs[1]) as i64);
    if r1 < 2 || r2 < 2 {
        return Err(lc.error("Dot needs inputs of rank >= 2"));
    }
    let axes = lc
        .cfg_ints("axes")?
        .ok_or_else(|| lc.error("config has no 'axes'"))?;
    let (a0, a1) = match axes.as_slice() {
        [a] => (a.rem_euclid(r1), a.rem_euclid(r2)),
        [a, b] => (a.rem_euclid(r1), b.rem_euclid(r2)),
        _ => return Err(lc.error(format!("bad Dot axes {axes:?}"))),
    };
    let (mut x, mut y) = (xs[0], xs[1]);
    if lc.cfg_bool("normalize", false)? {
        x = l2_normalize(g, x, a0 as usize)?;
        y = l2_normalize(g, y, a1 as usize)?;
    }
    Ok(vec![batch_dot(g, x, y, a0 as usize, a1 as usize)?])
}

/// `x * min(rsqrt(sum(x^2)), 1/eps)` with Keras' epsilon 1e-7.
fn l2_normalize(g: &mut OpGraph, x: ValueId, axis: usize) -> GResult<ValueId> {
    let sq = g.mul(x, x)?;
    let s = g.reduce(ReduceOp::Sum, sq, vec![axis], true)?;
    let r = g.unary(UnaryOp::Sqrt, s)?;
    let one = g.scalar(1.0);
    let inv = g.div(one, r)?;
    let capped = g.binary_scalar(BinaryOp::Min, inv, 1e7)?;
    g.mul(x, capped)
}

/// Keras' `batch_dot` for ranks 2 and 3 (and higher, by squashing, as Keras does).
fn batch_dot(g: &mut OpGraph, x: ValueId, y: ValueId, a0: usize, a1: usize) -> GResult<ValueId> {
    let (xr0, yr0) = (g.rank(x), g.rank(y));
    if xr0 < 2 || yr0 < 2 || a0 == 0 || a1 == 0 {
        return Err(g.error("Dot needs rank >= 2 inputs and axes other than the batch axis"));
    }
    let (mut x, mut y, mut a0) = (x, y, a0);
    if xr0 == 2 {
        x = g.expand_dims(x, 1)?;
        a0 += 1;
    }
    if yr0 == 2 {
        y = g.expand_dims(y, 2)?;
    }
    let (xr, yr) = (g.rank(x), g.rank(y));
    if a0 != xr - 1 {
        let mut p: Vec<usize> = (0..xr).collect();
        p.remove(a0);
        p.push(a0);
        x = g.transpose(x, p)?;
    }
    if a1 != 1 {
        let mut p: Vec<usize> = (0..yr).collect();
        p.remove(a1);
        p.insert(1, a1);
        y = g.transpose(y, p)?;
    }
    let (xs, ys) = (g.shape(x).clone(), g.shape(y).clone());
    let x_mid = xs[1..xr - 1].to_vec();
    let y_trail = ys[2..].to_vec();
    if xr > 3 {
        let mid: Option<usize> = x_mid.iter().copied().product();
        x = g.reshape(x, vec![xs[0], mid, xs[xr - 1]])?;
    }
    if yr > 3 {
        let trail: Option<usize> = y_trail.iter().copied().product();
        y = g.reshape(y, vec![ys[0], ys[1], trail])?;
    }
    let mut out = g.matmul(x, y)?;
    if xr > 3 || yr > 3 {
        let os = g.shape(out).clone();
        let mut shape = vec![os[0]];
        shape.extend(if xr > 3 { x_mid } else { vec![os[1]] });
        shape.extend(if yr > 3 { y_trail } else { vec![os[2]] });
        out = g.reshape(out, shape)?;
    }
    if xr0 == 2 {
        out = g.squeeze(out, &[1])?;
    } else if yr0 == 2 {
        let last = g.rank(out) - 1;
        out = g.squeeze(out, &[last])?;
    }
    Ok(out)
}
