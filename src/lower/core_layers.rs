//! Dense, Rescaling and the layers that are the identity at inference.

use super::activations;
use super::call::{literal_tensor, LayerCall};
use super::LResult;
use crate::opgraph::{OpGraph, Tensor, ValueId};
use serde_json::Value;

/// Identity, Dropout and the noise layers: they only act in training.
pub fn identity(_g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    Ok(vec![lc.input()?])
}

/// `activation(x @ kernel + bias)`; kernel `(in, units)`, bias `(units,)` when `use_bias`.
pub fn dense(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    if lc.cfg("lora_rank").is_some() {
        return Err(lc.error("unsupported: Dense with LoRA weights (lora_rank)"));
    }
    let rank = g.rank(x);
    if rank < 2 {
        return Err(lc.error("Dense needs an input of rank >= 2"));
    }
    let input_dim = lc.static_dim(g, x, rank - 1)?;
    let units = lc
        .cfg_i64("units")?
        .and_then(|u| usize::try_from(u).ok())
        .ok_or_else(|| lc.error("config has no 'units' (a count of at least 0)"))?;
    let use_bias = lc.cfg_bool("use_bias", true)?;
    let mut expected = vec![("kernel", vec![input_dim, units])];
    if use_bias {
        expected.push(("bias", vec![units]));
    }
    let w = lc.weights(&expected)?;
    let kernel = g.constant(Tensor::F32(w[0].clone()));
    let mut y = g.matmul(x, kernel)?;
    if use_bias {
        let bias = g.constant(Tensor::F32(w[1].clone()));
        y = g.add(y, bias)?;
    }
    let act = lc.cfg("activation").cloned().unwrap_or(Value::Null);
    Ok(vec![activations::apply(g, lc, &act, y)?])
}

/// `x * scale + offset`; scale and offset are numbers or lists (per channel, channels last).
pub fn rescaling(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let constant = |key: &str, default: f32| -> LResult<Tensor> {
        match lc.cfg(key) {
            None => Ok(Tensor::scalar(default)),
            Some(v) => literal_tensor(unwrap_tuple(v))
                .ok_or_else(|| lc.error(format!("config '{key}' = {v} is not a number or list"))),
        }
    };
    let (scale, offset) = (constant("scale", 1.0)?, constant("offset", 0.0)?);
    let s = g.constant(scale);
    let o = g.constant(offset);
    let y = g.mul(x, s)?;
    Ok(vec![g.add(y, o)?])
}

/// Tuples may be saved as `{"class_name": "__tuple__", "config": {"value": [...]}}`.
pub fn unwrap_tuple(v: &Value) -> &Value {
    match v.get("class_name").and_then(|c| c.as_str()) {
        Some("__tuple__") => v.get("config").and_then(|c| c.get("value")).unwrap_or(v),
        _ => v,
    }
}
