//! Merge layers: Concatenate, Add, Subtract, Multiply, Average, Maximum, Minimum, Dot.

use super::call::LayerCall;
use super::{in_layer, LResult};
use crate::opgraph::{BinaryOp, GResult, OpGraph, ReduceOp, UnaryOp, ValueId};

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
    Ok(vec![g.concat(&xs, axis).map_err(in_layer(lc.layer))?])
}

/// Add, Subtract, Multiply, Average, Maximum, Minimum: a left fold, as Keras' merge functions.
pub fn elementwise(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let class = lc.layer.class_name.as_str();
    let xs = inputs(g, lc, if class == "Subtract" { 2 } else { 1 })?;
    if class == "Subtract" && xs.len() != 2 {
        return Err(lc.error("Subtract takes exactly 2 inputs"));
    }
    let op = match class {
        "Add" | "Average" => BinaryOp::Add,
        "Subtract" => BinaryOp::Sub,
        "Multiply" => BinaryOp::Mul,
        "Maximum" => BinaryOp::Max,
        "Minimum" => BinaryOp::Min,
        other => return Err(lc.error(format!("not a merge layer: {other}"))),
    };
    let e = in_layer(lc.layer);
    let mut y = xs[0];
    for &x in &xs[1..] {
        y = g.binary(op, y, x).map_err(&e)?;
    }
    if class == "Average" {
        y = g
            .binary_scalar(BinaryOp::Div, y, xs.len() as f32)
            .map_err(&e)?;
    }
    Ok(vec![y])
}

/// `keras.layers.Dot`: optional L2 normalisation, then `batch_dot` as in
/// `keras/src/layers/merging/dot.py`.
pub fn dot(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let xs = lc.all_tensors();
    if xs.len() != 2 {
        return Err(lc.error("Dot takes exactly 2 inputs"));
    }
    let (r1, r2) = (g.rank(xs[0]) as i64, g.rank(xs[1]) as i64);
    let axes = lc
        .cfg_ints("axes")?
        .ok_or_else(|| lc.error("config has no 'axes'"))?;
    let (a0, a1) = match axes.as_slice() {
        [a] => (a.rem_euclid(r1), a.rem_euclid(r2)),
        [a, b] => (a.rem_euclid(r1), b.rem_euclid(r2)),
        _ => return Err(lc.error(format!("bad Dot axes {axes:?}"))),
    };
    let e = in_layer(lc.layer);
    let (mut x, mut y) = (xs[0], xs[1]);
    if lc.cfg_bool("normalize", false)? {
        x = l2_normalize(g, x, a0 as usize).map_err(&e)?;
        y = l2_normalize(g, y, a1 as usize).map_err(&e)?;
    }
    Ok(vec![
        batch_dot(g, x, y, a0 as usize, a1 as usize).map_err(|m| lc.error(m))?
    ])
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
fn batch_dot(
    g: &mut OpGraph,
    x: ValueId,
    y: ValueId,
    a0: usize,
    a1: usize,
) -> Result<ValueId, String> {
    let s = |e: crate::opgraph::GraphError| e.0;
    let (xr0, yr0) = (g.rank(x), g.rank(y));
    if xr0 < 2 || yr0 < 2 || a0 == 0 || a1 == 0 {
        return Err("Dot needs rank >= 2 inputs and axes other than the batch axis".into());
    }
    let (mut x, mut y, mut a0) = (x, y, a0);
    if xr0 == 2 {
        x = g.expand_dims(x, 1).map_err(s)?;
        a0 += 1;
    }
    if yr0 == 2 {
        y = g.expand_dims(y, 2).map_err(s)?;
    }
    let (xr, yr) = (g.rank(x), g.rank(y));
    if a0 != xr - 1 {
        let mut p: Vec<usize> = (0..xr).collect();
        p.remove(a0);
        p.push(a0);
        x = g.transpose(x, p).map_err(s)?;
    }
    if a1 != 1 {
        let mut p: Vec<usize> = (0..yr).collect();
        p.remove(a1);
        p.insert(1, a1);
        y = g.transpose(y, p).map_err(s)?;
    }
    let (xs, ys) = (g.shape(x).clone(), g.shape(y).clone());
    let x_mid = xs[1..xr - 1].to_vec();
    let y_trail = ys[2..].to_vec();
    if xr > 3 {
        let mid: Option<usize> = x_mid.iter().copied().product();
        x = g.reshape(x, vec![xs[0], mid, xs[xr - 1]]).map_err(s)?;
    }
    if yr > 3 {
        let trail: Option<usize> = y_trail.iter().copied().product();
        y = g.reshape(y, vec![ys[0], ys[1], trail]).map_err(s)?;
    }
    let mut out = g.matmul(x, y).map_err(s)?;
    if xr > 3 || yr > 3 {
        let os = g.shape(out).clone();
        let mut shape = vec![os[0]];
        shape.extend(if xr > 3 { x_mid } else { vec![os[1]] });
        shape.extend(if yr > 3 { y_trail } else { vec![os[2]] });
        out = g.reshape(out, shape).map_err(s)?;
    }
    if xr0 == 2 {
        out = g.squeeze(out, &[1]).map_err(s)?;
    } else if yr0 == 2 {
        let last = g.rank(out) - 1;
        out = g.squeeze(out, &[last]).map_err(s)?;
    }
    Ok(out)
}
