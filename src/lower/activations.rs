//! Activation functions (the `activation` argument of layers, the `Activation` layer and the
//! activation layers), written as JAX writes them (`jax/_src/nn/functions.py`) so that the
//! derivatives agree at kinks too: `relu` is a select on `x > 0`, like JAX's custom JVP.

use super::call::LayerCall;
use super::{in_layer, LResult};
use crate::opgraph::{BinaryOp, CompareOp, GResult, OpGraph, ReduceOp, UnaryOp, ValueId};
use serde_json::Value;

const SELU_ALPHA: f64 = 1.673_263_242_354_377_2;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// The activation names keras2ov lowers (`keras.activations.get` names and aliases).
const NAMES: &[&str] = &[
    "linear",
    "relu",
    "relu6",
    "sigmoid",
    "hard_sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "softsign",
    "selu",
    "elu",
    "exponential",
    "gelu",
    "silu",
    "swish",
    "mish",
    "leaky_relu",
    "hard_silu",
    "hard_swish",
    "celu",
    "glu",
    "hard_tanh",
    "hard_shrink",
    "soft_shrink",
    "tanh_shrink",
    "log_sigmoid",
    "sparse_plus",
    "sparse_sigmoid",
    "squareplus",
];

/// The activation's name, from a string or a serialised function object.
pub fn name_of(spec: &Value) -> Option<&str> {
    match spec {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("config").and_then(|c| c.as_str()),
        _ => None,
    }
}

pub fn is_supported(spec: &Value) -> bool {
    spec.is_null() || name_of(spec).is_some_and(|n| NAMES.contains(&n))
}

/// Apply the activation `spec` (a layer's `activation` config) to `x`.
pub fn apply(g: &mut OpGraph, lc: &LayerCall, spec: &Value, x: ValueId) -> LResult<ValueId> {
    if spec.is_null() {
        return Ok(x);
    }
    let name = name_of(spec).ok_or_else(|| lc.error(format!("unsupported activation {spec}")))?;
    by_name(g, name, x)
        .map_err(in_layer(lc.layer))?
        .ok_or_else(|| lc.error(format!("unsupported activation '{name}'")))
}

/// `keras.activations.<name>` with its default arguments; `None` for an unknown name.
pub fn by_name(g: &mut OpGraph, name: &str, x: ValueId) -> GResult<Option<ValueId>> {
    let last = g.rank(x).saturating_sub(1);
    Ok(Some(match name {
        "linear" => x,
        "relu" => relu(g, x)?,
        "relu6" => relu6(g, x)?,
        "sigmoid" => g.unary(UnaryOp::Sigmoid, x)?,
        "hard_sigmoid" => hard_sigmoid(g, x)?,
        "hard_silu" | "hard_swish" => {
            let h = hard_sigmoid(g, x)?;
            g.mul(x, h)?
        }
        "tanh" => g.unary(UnaryOp::Tanh, x)?,
        "softmax" => softmax(g, x, &[last])?,
        "log_softmax" => log_softmax(g, x, &[last])?,
        "softplus" => g.unary(UnaryOp::SoftPlus, x)?,
        "softsign" => {
            let a = g.unary(UnaryOp::Abs, x)?;
            let d = g.binary_scalar(BinaryOp::Add, a, 1.0)?;
            g.div(x, d)?
        }
        "selu" => {
            let e = elu(g, x, SELU_ALPHA)?;
            g.binary_scalar(BinaryOp::Mul, e, SELU_SCALE as f32)?
        }
        "elu" => elu(g, x, 1.0)?,
        "exponential" => g.unary(UnaryOp::Exp, x)?,
        "gelu" => gelu(g, x, false)?,
        "silu" | "swish" => {
            let s = g.unary(UnaryOp::Sigmoid, x)?;
            g.mul(x, s)?
        }
        "mish" => {
            let sp = g.unary(UnaryOp::SoftPlus, x)?;
            let t = g.unary(UnaryOp::Tanh, sp)?;
            g.mul(x, t)?
        }
        "leaky_relu" => leaky_relu(g, x, 0.2)?,
        // max(x, 0) + alpha * expm1(min(x, 0) / alpha), alpha = 1
        "celu" => {
            let pos = g.binary_scalar(BinaryOp::Max, x, 0.0)?;
            let neg = g.binary_scalar(BinaryOp::Min, x, 0.0)?;
            let m1 = expm1(g, neg)?;
            g.add(pos, m1)?
        }
        // x1 * sigmoid(x2), the halves of the last axis
        "glu" => {
            let n = g.shape(x)[last].filter(|n| n % 2 == 0).ok_or_else(|| {
                crate::opgraph::GraphError("glu needs an even, known last dimension".into())
            })?;
            let a = g.slice(x, last, 0, n / 2, 1)?;
            let b = g.slice(x, last, n / 2, n, 1)?;
            let s = g.unary(UnaryOp::Sigmoid, b)?;
            g.mul(a, s)?
        }
        // where(x > 1, 1, where(x < -1, -1, x))
        "hard_tanh" => {
            let lo = g.scalar(-1.0);
            let below = g.compare(CompareOp::Less, x, lo)?;
            let inner = g.select(below, lo, x)?;
            let hi = g.scalar(1.0);
            let above = g.compare(CompareOp::Greater, x, hi)?;
            g.select(above, hi, inner)?
        }
        // where(|x| > 0.5, x, 0)
        "hard_shrink" => {
            let a = g.unary(UnaryOp::Abs, x)?;
            let t = g.scalar(0.5);
            let keep = g.compare(CompareOp::Greater, a, t)?;
            let zero = g.scalar(0.0);
            g.select(keep, x, zero)?
        }
        // where(x > 0.5, x - 0.5, where(x < -0.5, x + 0.5, 0))
        "soft_shrink" => {
            let (t, nt, zero) = (g.scalar(0.5), g.scalar(-0.5), g.scalar(0.0));
            let below = g.compare(CompareOp::Less, x, nt)?;
            let up = g.add(x, t)?;
            let inner = g.select(below, up, zero)?;
            let above = g.compare(CompareOp::Greater, x, t)?;
            let down = g.sub(x, t)?;
            g.select(above, down, inner)?
        }
        "tanh_shrink" => {
            let t = g.unary(UnaryOp::Tanh, x)?;
            g.sub(x, t)?
        }
        // -softplus(-x)
        "log_sigmoid" => {
            let n = g.unary(UnaryOp::Neg, x)?;
            let sp = g.unary(UnaryOp::SoftPlus, n)?;
            g.unary(UnaryOp::Neg, sp)?
        }
        // where(x <= -1, 0, where(x >= 1, x, (x + 1)^2 / 4))
        "sparse_plus" => {
            let s = g.binary_scalar(BinaryOp::Add, x, 1.0)?;
            let sq = g.mul(s, s)?;
            let q = g.binary_scalar(BinaryOp::Div, sq, 4.0)?;
            let one = g.scalar(1.0);
            let ge1 = g.compare(CompareOp::GreaterEqual, x, one)?;
            let inner = g.select(ge1, x, q)?;
            let m1 = g.scalar(-1.0);
            let le = g.compare(CompareOp::LessEqual, x, m1)?;
            let zero = g.scalar(0.0);
            g.select(le, zero, inner)?
        }
        // 0.5 * clip(x + 1, 0, 2)
        "sparse_sigmoid" => {
            let s = g.binary_scalar(BinaryOp::Add, x, 1.0)?;
            let c = clip(g, s, 0.0, 2.0)?;
            g.binary_scalar(BinaryOp::Mul, c, 0.5)?
        }
        // (x + sqrt(x^2 + 4)) / 2
        "squareplus" => {
            let x2 = g.mul(x, x)?;
            let s = g.binary_scalar(BinaryOp::Add, x2, 4.0)?;
            let r = g.unary(UnaryOp::Sqrt, s)?;
            let a = g.add(x, r)?;
            g.binary_scalar(BinaryOp::Div, a, 2.0)?
        }
        _ => return Ok(None),
    }))
}

/// `select(x > 0, x, 0)`: JAX's relu value and custom JVP.
pub fn relu(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    g.select(pos, x, zero)
}

/// `min(max(x, 0), 6)` with JAX's JVP: the tangent passes only where `0 < x < 6`.
pub fn relu6(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let six = g.scalar(6.0);
    let below = g.compare(CompareOp::Less, x, six)?;
    let capped = g.select(below, x, six)?;
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    g.select(pos, capped, zero)
}

/// `relu6(x + 3) / 6`.
pub fn hard_sigmoid(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let s = g.binary_scalar(BinaryOp::Add, x, 3.0)?;
    let r = relu6(g, s)?;
    g.binary_scalar(BinaryOp::Div, r, 6.0)
}

/// `where(x >= 0, x, slope * x)`.
pub fn leaky_relu(g: &mut OpGraph, x: ValueId, slope: f64) -> GResult<ValueId> {
    let zero = g.scalar(0.0);
    let nonneg = g.compare(CompareOp::GreaterEqual, x, zero)?;
    let scaled = g.binary_scalar(BinaryOp::Mul, x, slope as f32)?;
    g.select(nonneg, x, scaled)
}

/// `where(x > 0, x, alpha * expm1(where(x > 0, 0, x)))`: the inner select keeps the unused
/// branch finite, as JAX does.
pub fn elu(g: &mut OpGraph, x: ValueId, alpha: f64) -> GResult<ValueId> {
    let zero = g.scalar(0.0);
    let pos = g.compare(CompareOp::Greater, x, zero)?;
    let safe = g.select(pos, zero, x)?;
    let m1 = expm1(g, safe)?;
    let neg = g.binary_scalar(BinaryOp::Mul, m1, alpha as f32)?;
    g.select(pos, x, neg)
}

/// `exp(x) - 1` (no Expm1 in OpenVINO; f32 round-off near 0 is within tolerance).
pub fn expm1(g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
    let e = g.unary(UnaryOp::Exp, x)?;
    g.binary_scalar(BinaryOp::Sub, e, 1.0)
}

/// Exact: `0.5 x (1 + erf(x / sqrt 2))`; approximate: the tanh form of `jax.nn.gelu`.
pub fn gelu(g: &mut OpGraph, x: ValueId, approximate: bool) -> GResult<ValueId> {
    let inner = if approximate {
        let x2 = g.mul(x, x)?;
        let x3 = g.mul(x2, x)?;
        let c = g.binary_scalar(BinaryOp::Mul, x3, 0.044_715)?;
        let s = g.add(x, c)?;
        let k = (2.0 / std::f64::consts::PI).sqrt() as f32;
        let z = g.binary_scalar(BinaryOp::Mul, s, k)?;
        g.unary(UnaryOp::Tanh, z)?
    } else {
        let z = g.binary_scalar(BinaryOp::Mul, x, std::f64::consts::FRAC_1_SQRT_2 as f32)?;
        g.unary(UnaryOp::Erf, z)?
    };
    let one_plus = g.binary_scalar(BinaryOp::Add, inner, 1.0)?;
    let half_x = g.binary_scalar(BinaryOp::Mul, x, 0.5)?;
    g.mul(half_x, one_plus)
}

/// `exp(x - max) / sum(exp(x - max))` over `axes`.
pub fn softmax(g: &mut OpGraph, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let m = g.reduce(ReduceOp::Max, x, axes.to_vec(), true)?;
    let shifted = g.sub(x, m)?;
    let e = g.unary(UnaryOp::Exp, shifted)?;
    let s = g.reduce(ReduceOp::Sum, e, axes.to_vec(), true)?;
    g.div(e, s)
}

/// `(x - max) - log(sum(exp(x - max)))` over `axes`.
pub fn log_softmax(g: &mut OpGraph, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let m = g.reduce(ReduceOp::Max, x, axes.to_vec(), true)?;
    let shifted = g.sub(x, m)?;
    let e = g.unary(UnaryOp::Exp, shifted)?;
    let s = g.reduce(ReduceOp::Sum, e, axes.to_vec(), true)?;
    let l = g.unary(UnaryOp::Log, s)?;
    g.sub(shifted, l)
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
            return leaky_relu(g, x, negative_slope);
        }
        let neg = g.unary(UnaryOp::Neg, x)?;
        let shifted = if threshold != 0.0 {
            g.binary_scalar(BinaryOp::Add, neg, threshold as f32)?
        } else {
            neg
        };
        negative_part = Some(relu(g, shifted)?);
    }
    let mut clip_max = max_value.is_some();
    let mut y = if threshold != 0.0 {
        let t = g.scalar(threshold as f32);
        let above = g.compare(CompareOp::Greater, x, t)?;
        let zero = g.scalar(0.0);
        g.select(above, x, zero)?
    } else if max_value == Some(6.0) {
        clip_max = false;
        relu6(g, x)?
    } else {
        relu(g, x)?
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

/// `jnp.clip`: `min(max(x, lo), hi)`.
pub fn clip(g: &mut OpGraph, x: ValueId, lo: f64, hi: f64) -> GResult<ValueId> {
    let a = g.binary_scalar(BinaryOp::Max, x, lo as f32)?;
    g.binary_scalar(BinaryOp::Min, a, hi as f32)
}

/// The activation layers: `Activation`, `ReLU`, `LeakyReLU`, `PReLU`, `ELU`, `Softmax`.
pub fn activation_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let e = in_layer(lc.layer);
    let y = match lc.layer.class_name.as_str() {
        "Activation" => {
            let spec = lc.cfg("activation").cloned().unwrap_or(Value::Null);
            apply(g, lc, &spec, x)?
        }
        "ReLU" => {
            let slope = lc.cfg_f64("negative_slope", 0.0)?;
            let max = lc.cfg_opt_f64("max_value")?;
            let thr = lc.cfg_f64("threshold", 0.0)?;
            relu_general(g, x, slope, max, thr).map_err(e)?
        }
        "LeakyReLU" => {
            let slope = lc.cfg_f64("negative_slope", 0.3)?;
            leaky_relu(g, x, slope).map_err(e)?
        }
        "ELU" => {
            let alpha = lc.cfg_f64("alpha", 1.0)?;
            elu(g, x, alpha).map_err(e)?
        }
        "PReLU" => prelu(g, lc, x)?,
        "Softmax" => {
            let axes = lc.cfg_ints("axis")?.unwrap_or(vec![-1]);
            let axes = axes
                .iter()
                .map(|&a| lc.axis(a, rank))
                .collect::<LResult<Vec<_>>>()?;
            softmax(g, x, &axes).map_err(e)?
        }
        other => return Err(lc.error(format!("not an activation layer: {other}"))),
    };
    Ok(vec![y])
}

/// `relu(x) - alpha * relu(-x)`, alpha shaped like the input without batch, shared axes 1.
fn prelu(g: &mut OpGraph, lc: &LayerCall, x: ValueId) -> LResult<ValueId> {
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
    let e = in_layer(lc.layer);
    let alpha = g.constant(crate::opgraph::Tensor::F32(w[0].clone()));
    let pos = relu(g, x).map_err(&e)?;
    let nx = g.unary(UnaryOp::Neg, x).map_err(&e)?;
    let rn = relu(g, nx).map_err(&e)?;
    let na = g.unary(UnaryOp::Neg, alpha).map_err(&e)?;
    let neg = g.mul(na, rn).map_err(&e)?;
    g.add(pos, neg).map_err(e)
}
