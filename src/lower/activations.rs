//! Activation functions (the `activation` argument of layers, the `Activation` layer and the
//! activation layers), as JAX writes them (`jax/_src/nn/functions.py`). Those OpenVINO has as
//! single operations are `Activation` primitives (which carry JAX's derivative at the kinks
//! too); the rare ones are written with simpler primitives here.

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::prim::F32;
use crate::opgraph::{
    Activation, BinaryOp, CompareOp, GResult, OpGraph, Shape, Tensor, UnaryOp, ValueId,
};
use serde_json::Value;

type ActFn = fn(&mut OpGraph, ValueId) -> GResult<ValueId>;

fn act(g: &mut OpGraph, f: Activation, x: ValueId) -> GResult<ValueId> {
    g.activation(f, x)
}

/// `keras.activations.<name>` with its default arguments, by the names Keras saves (and
/// their aliases).
const ACTIVATIONS: &[(&str, ActFn)] = &[
    ("linear", |_, x| Ok(x)),
    ("relu", |g, x| act(g, Activation::Relu, x)),
    ("relu6", |g, x| act(g, Activation::Relu6, x)),
    ("sigmoid", |g, x| g.unary(UnaryOp::Sigmoid, x)),
    ("hard_sigmoid", |g, x| act(g, Activation::HardSigmoid, x)),
    ("hard_silu", |g, x| act(g, Activation::HardSilu, x)),
    ("hard_swish", |g, x| act(g, Activation::HardSilu, x)),
    ("tanh", |g, x| g.unary(UnaryOp::Tanh, x)),
    ("softmax", |g, x| softmax(g, x, &[last_axis(g, x)], false)),
    ("log_softmax", |g, x| {
        softmax(g, x, &[last_axis(g, x)], true)
    }),
    ("softplus", |g, x| g.unary(UnaryOp::SoftPlus, x)),
    ("softsign", |g, x| act(g, Activation::SoftSign, x)),
    ("selu", |g, x| act(g, Activation::Selu, x)),
    ("elu", |g, x| act(g, Activation::Elu(F32(1.0)), x)),
    ("exponential", |g, x| g.unary(UnaryOp::Exp, x)),
    ("gelu", |g, x| {
        act(g, Activation::Gelu { approximate: false }, x)
    }),
    ("silu", |g, x| act(g, Activation::Silu, x)),
    ("swish", |g, x| act(g, Activation::Silu, x)),
    ("mish", |g, x| act(g, Activation::Mish, x)),
    ("leaky_relu", |g, x| {
        act(g, Activation::LeakyRelu(F32(0.2)), x)
    }),
    ("celu", celu),
    ("glu", glu),
    ("hard_tanh", |g, x| act(g, Activation::HardTanh, x)),
    ("hard_shrink", hard_shrink),
    ("soft_shrink", soft_shrink),
    ("tanh_shrink", |g, x| {
        let t = g.unary(UnaryOp::Tanh, x)?;
        g.sub(x, t)
    }),
    // -softplus(-x)
    ("log_sigmoid", |g, x| {
        let n = g.unary(UnaryOp::Neg, x)?;
        let sp = g.unary(UnaryOp::SoftPlus, n)?;
        g.unary(UnaryOp::Neg, sp)
    }),
    ("sparse_plus", sparse_plus),
    // 0.5 * clip(x + 1, 0, 2)
    ("sparse_sigmoid", |g, x| {
        let s = g.binary_scalar(BinaryOp::Add, x, 1.0)?;
        let c = clip(g, s, 0.0, 2.0)?;
        g.binary_scalar(BinaryOp::Mul, c, 0.5)
    }),
    ("squareplus", squareplus),
];

fn last_axis(g: &OpGraph, x: ValueId) -> usize {
    g.rank(x).saturating_sub(1)
}

/// The activation's name, from a string or a serialised function object.
pub fn name_of(spec: &Value) -> Option<&str> {
    match spec {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("config").and_then(|c| c.as_str()),
        _ => None,
    }
}

fn lookup(name: &str) -> Option<ActFn> {
    ACTIVATIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

pub fn is_supported(spec: &Value) -> bool {
    spec.is_null() || name_of(spec).is_some_and(|n| lookup(n).is_some())
}

/// Apply the activation `spec` (a layer's `activation` config) to `x`.
pub fn apply(g: &mut OpGraph, lc: &LayerCall, spec: &Value, x: ValueId) -> LResult<ValueId> {
    if spec.is_null() {
        return Ok(x);
    }
    let name = name_of(spec).ok_or_else(|| lc.error(format!("unsupported activation {spec}")))?;
    let f = lookup(name).ok_or_else(|| lc.error(format!("unsupported activation '{name}'")))?;
    Ok(f(g, x)?)
}

/// `keras.activations.<name>(x)`, for the `keras.ops.nn` ops without arguments.
pub fn by_name(g: &mut OpGraph, lc: &LayerCall, name: &str, x: ValueId) -> LResult<ValueId> {
    apply(g, lc, &Value::String(name.to_string()), x)
}

/// Softmax over `axes`: one axis is the primitive; several are moved last and merged first.
pub fn softmax(g: &mut OpGraph, x: ValueId, axes: &[usize], log: bool) -> GResult<ValueId> {
    if let [axis] = axes {
        return g.softmax(x, *axis, log);
    }
    let rank = g.rank(x);
    let mut perm: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
    let kept = perm.len();
    perm.extend_from_slice(axes);
    let moved = g.transpose(x, perm.clone())?;
    let shape = g.shape(moved).clone();
    let mut merged: Shape = shape[..kept].to_vec();
    merged.push(shape[kept..].iter().copied().product());
    let flat = g.reshape(moved, merged)?;
    let s = g.softmax(flat, kept, log)?;
    let back = g.reshape(s, shape)?;
    g.transpose(back, crate::opgraph::prim::inverse_perm(&perm))
}

/// `jnp.clip` with both bounds.
pub fn clip(g: &mut OpGraph, x: ValueId, lo: f64, hi: f64) -> GResult<ValueId> {
    let (lo, hi) = (F32(lo as f32), F32(hi as f32));
    g.activation(Activation::Clip { lo, hi }, x)
}

/// max(x, 0) + alpha * expm1(min(x, 0) / alpha), alpha = 1
fn celu(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let pos = g.binary_scalar(BinaryOp::Max, x, 0.0)?;
    let neg = g.binary_scalar(BinaryOp::Min, x, 0.0)?;
    let m1 = g.expm1(neg)?;
    g.add(pos, m1)
}

/// x1 * sigmoid(x2), the halves of the last axis
fn glu(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let last = last_axis(g, x);
    let n = g
        .shape(x)
        .get(last)
        .copied()
        .flatten()
        .filter(|n| n % 2 == 0)
        .ok_or_else(|| g.error("glu needs an even, known last dimension"))?;
    let a = g.slice(x, last, 0, n / 2, 1)?;
    let b = g.slice(x, last, n / 2, n, 1)?;
    let s = g.unary(UnaryOp::Sigmoid, b)?;
    g.mul(a, s)
}

/// where(|x| > 0.5, x, 0)
fn hard_shrink(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let a = g.unary(UnaryOp::Abs, x)?;
    let t = g.scalar(0.5);
    let keep = g.compare(CompareOp::Greater, a, t)?;
    let zero = g.scalar(0.0);
    g.select(keep, x, zero)
}

/// where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))
fn soft_shrink(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let (t, nt, zero) = (g.scalar(0.5), g.scalar(-0.5), g.scalar(0.0));
    let below = g.compare(CompareOp::Less, x, nt)?;
    let up = g.add(x, t)?;
    let inner = g.select(below, up, zero)?;
    let above = g.compare(CompareOp::Greater, x, t)?;
    let down = g.sub(x, t)?;
    g.select(above, down, inner)
}

/// where(x <= -1, 0, where(x >= 1, x, (x + 1)^2 / 4))
fn sparse_plus(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let s = g.binary_scalar(BinaryOp::Add, x, 1.0)?;
    let sq = g.mul(s, s)?;
    let q = g.binary_scalar(BinaryOp::Div, sq, 4.0)?;
    let one = g.scalar(1.0);
    let ge1 = g.compare(CompareOp::GreaterEqual, x, one)?;
    let inner = g.select(ge1, x, q)?;
    let m1 = g.scalar(-1.0);
    let le = g.compare(CompareOp::LessEqual, x, m1)?;
    let zero = g.scalar(0.0);
    g.select(le, zero, inner)
}

/// (x + sqrt(x^2 + 4)) / 2
fn squareplus(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let x2 = g.mul(x, x)?;
    let s = g.binary_scalar(BinaryOp::Add, x2, 4.0)?;
    let r = g.unary(UnaryOp::Sqrt, s)?;
    let a = g.add(x, r)?;
    g.binary_scalar(BinaryOp::Div, a, 2.0)
}

/// The `ReLU` layer / `keras.activations.relu` with its options, step by step as
/// `ReLU.static_call` in `keras/src/activations/activations.py`.
pub fn relu_general(
    g: &mut OpGraph,
    x: ValueId,
    negative_slope: f64,
    max_value: Option<f64>,
    threshold: f64,
) -> GResult<ValueId> {
    let mut negative_part = None;
    if negative_slope != 0.0 {
        if max_value.is_none() && threshold == 0.0 {
            return act(g, Activation::LeakyRelu(F32(negative_slope as f32)), x);
        }
        let neg = g.unary(UnaryOp::Neg, x)?;
        let shifted = if threshold != 0.0 {
            g.binary_scalar(BinaryOp::Add, neg, threshold as f32)?
        } else {
            neg
        };
        negative_part = Some(act(g, Activation::Relu, shifted)?);
    }
    let mut clip_max = max_value.is_some();
    let mut y = if threshold != 0.0 {
        let t = g.scalar(threshold as f32);
        let above = g.compare(CompareOp::Greater, x, t)?;
        let zero = g.scalar(0.0);
        g.select(above, x, zero)?
    } else if max_value == Some(6.0) {
        clip_max = false;
        act(g, Activation::Relu6, x)?
    } else {
        act(g, Activation::Relu, x)?
    };
    if let (true, Some(mv)) = (clip_max, max_value) {
        y = clip(g, y, 0.0, mv)?;
    }
    if let Some(np) = negative_part {
        let scaled = g.binary_scalar(BinaryOp::Mul, np, negative_slope as f32)?;
        y = g.sub(y, scaled)?;
    }
    Ok(y)
}

/// The `Activation` layer.
pub fn activation_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let spec = lc.cfg("activation").cloned().unwrap_or(Value::Null);
    Ok(vec![apply(g, lc, &spec, x)?])
}

pub fn relu_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let slope = lc.cfg_f64("negative_slope", 0.0)?;
    let max = lc.cfg_opt_f64("max_value")?;
    let thr = lc.cfg_f64("threshold", 0.0)?;
    Ok(vec![relu_general(g, x, slope, max, thr)?])
}

pub fn leaky_relu_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let slope = lc.cfg_f64("negative_slope", 0.3)?;
    Ok(vec![act(g, Activation::LeakyRelu(F32(slope as f32)), x)?])
}

pub fn elu_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let alpha = lc.cfg_f64("alpha", 1.0)?;
    Ok(vec![act(g, Activation::Elu(F32(alpha as f32)), x)?])
}

pub fn softmax_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let axes = lc.cfg_ints("axis")?.unwrap_or(vec![-1]);
    let mut axes = axes
        .iter()
        .map(|&a| lc.axis(a, rank))
        .collect::<LResult<Vec<_>>>()?;
    axes.sort_unstable();
    axes.dedup();
    Ok(vec![softmax(g, x, &axes, false)?])
}

/// `relu(x) - alpha * relu(-x)`, alpha shaped like the input without batch, shared axes 1.
pub fn prelu_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let shape = g.shape(x).clone();
    let shared = lc.cfg_ints("shared_axes")?.unwrap_or_default();
    let mut param: Vec<usize> = Vec::new();
    for (i, d) in shape.iter().enumerate().skip(1) {
        param.push(if shared.contains(&(i as i64)) {
            1
        } else {
            d.ok_or_else(|| lc.error("PReLU needs known non-batch dimensions"))?
        });
    }
    let w = lc.weights(&[("alpha", param)])?;
    let alpha = g.constant(Tensor::F32(w[0].clone()));
    let pos = act(g, Activation::Relu, x)?;
    let nx = g.unary(UnaryOp::Neg, x)?;
    let rn = act(g, Activation::Relu, nx)?;
    let na = g.unary(UnaryOp::Neg, alpha)?;
    let neg = g.mul(na, rn)?;
    Ok(vec![g.add(pos, neg)?])
}
