//! One resolved layer call: its tensors, literals, config and weights, with accessors whose
//! errors name the layer.

use super::{LResult, LowerError};
use crate::layer_graph::{Arg, Call, LayerNode, TensorRef};
use crate::opgraph::{OpGraph, Tensor, ValueId};
use ndarray::ArrayD;
use serde_json::Value;

/// A call argument with tensors resolved to graph values.
#[derive(Clone, Debug)]
pub enum Val {
    T(ValueId),
    List(Vec<Val>),
    Lit(Value),
}

pub struct LayerCall<'a> {
    pub layer: &'a LayerNode,
    pub args: Vec<Val>,
    pub kwargs: Vec<(String, Val)>,
}

impl<'a> LayerCall<'a> {
    pub fn resolve(
        layer: &'a LayerNode,
        call: &Call,
        lookup: &dyn Fn(&TensorRef) -> LResult<ValueId>,
    ) -> LResult<Self> {
        fn conv(a: &Arg, lookup: &dyn Fn(&TensorRef) -> LResult<ValueId>) -> LResult<Val> {
            Ok(match a {
                Arg::Tensor(r) => Val::T(lookup(r)?),
                Arg::List(items) => Val::List(
                    items
                        .iter()
                        .map(|i| conv(i, lookup))
                        .collect::<LResult<_>>()?,
                ),
                Arg::Literal(v) => Val::Lit(v.clone()),
            })
        }
        Ok(LayerCall {
            layer,
            args: call
                .args
                .iter()
                .map(|a| conv(a, lookup))
                .collect::<LResult<_>>()?,
            kwargs: call
                .kwargs
                .iter()
                .map(|(k, a)| Ok((k.clone(), conv(a, lookup)?)))
                .collect::<LResult<_>>()?,
        })
    }

    pub fn error(&self, msg: impl Into<String>) -> LowerError {
        LowerError::Layer {
            layer: self.layer.name.clone(),
            class: self.layer.class_name.clone(),
            msg: msg.into(),
        }
    }

    /// Every tensor in the positional arguments, flattened in order.
    pub fn all_tensors(&self) -> Vec<ValueId> {
        fn walk(v: &Val, out: &mut Vec<ValueId>) {
            match v {
                Val::T(t) => out.push(*t),
                Val::List(items) => items.iter().for_each(|i| walk(i, out)),
                Val::Lit(_) => {}
            }
        }
        let mut out = Vec::new();
        self.args.iter().for_each(|a| walk(a, &mut out));
        out
    }

    /// The single tensor input of a plain layer.
    pub fn input(&self) -> LResult<ValueId> {
        match self.all_tensors().as_slice() {
            [x] => Ok(*x),
            other => Err(self.error(format!("expects one input tensor, got {}", other.len()))),
        }
    }

    /// Positional argument `i`, or keyword `name`, whichever is present.
    pub fn arg(&self, i: usize, name: &str) -> Option<&Val> {
        self.args
            .get(i)
            .or_else(|| self.kwargs.iter().find(|(k, _)| k == name).map(|(_, v)| v))
    }

    /// An argument that must be a tensor or a number; numbers become f32 scalar constants.
    pub fn tensor_arg(&self, g: &mut OpGraph, i: usize, name: &str) -> LResult<ValueId> {
        match self.arg(i, name) {
            Some(Val::T(t)) => Ok(*t),
            Some(Val::Lit(v)) => match literal_tensor(v) {
                Some(t) => Ok(g.constant(t)),
                None => Err(self.error(format!("argument '{name}' = {v} is not a number"))),
            },
            Some(Val::List(_)) => Err(self.error(format!(
                "argument '{name}' is a list of tensors; expected one tensor"
            ))),
            None => Err(self.error(format!("missing argument '{name}'"))),
        }
    }

    /// A config entry, `None` when absent or null.
    pub fn cfg(&self, key: &str) -> Option<&Value> {
        self.layer.config.get(key).filter(|v| !v.is_null())
    }

    pub fn cfg_f64(&self, key: &str, default: f64) -> LResult<f64> {
        match self.cfg(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| self.error(format!("config '{key}' = {v} is not a number"))),
        }
    }

    pub fn cfg_opt_f64(&self, key: &str) -> LResult<Option<f64>> {
        self.cfg(key).map(|_| self.cfg_f64(key, 0.0)).transpose()
    }

    pub fn cfg_bool(&self, key: &str, default: bool) -> LResult<bool> {
        match self.cfg(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.error(format!("config '{key}' = {v} is not a boolean"))),
        }
    }

    pub fn cfg_i64(&self, key: &str) -> LResult<Option<i64>> {
        match self.cfg(key) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.error(format!("config '{key}' = {v} is not an integer"))),
        }
    }

    /// An int or a list of ints (axis arguments); `None` when absent or null.
    pub fn cfg_ints(&self, key: &str) -> LResult<Option<Vec<i64>>> {
        match self.cfg(key) {
            None => Ok(None),
            Some(v) => ints(v)
                .map(Some)
                .ok_or_else(|| self.error(format!("config '{key}' = {v} is not an int or list"))),
        }
    }

    /// Check the number and shapes of the layer's weights; `expected` names each weight.
    pub fn weights(&self, expected: &[(&str, Vec<usize>)]) -> LResult<Vec<&ArrayD<f32>>> {
        let have = &self.layer.weights;
        if have.len() != expected.len() {
            let names: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
            return Err(self.error(format!(
                "expected {} weight(s) [{}] in model.weights.h5, found {}",
                expected.len(),
                names.join(", "),
                have.len()
            )));
        }
        for (w, (name, shape)) in have.iter().zip(expected) {
            if w.value.shape() != shape.as_slice() {
                return Err(self.error(format!(
                    "weight '{name}' ({}) has shape {:?}, the config implies {:?}",
                    w.path,
                    w.value.shape(),
                    shape
                )));
            }
        }
        Ok(have.iter().map(|w| &w.value).collect())
    }

    /// Normalise a possibly negative axis for a tensor of rank `rank`.
    pub fn axis(&self, axis: i64, rank: usize) -> LResult<usize> {
        let a = if axis < 0 {
            axis.checked_add(rank as i64)
        } else {
            Some(axis)
        };
        match a.and_then(|a| usize::try_from(a).ok()) {
            Some(a) if a < rank => Ok(a),
            _ => Err(self.error(format!("axis {axis} out of range for rank {rank}"))),
        }
    }

    /// A static dimension of `x`, or an error naming it.
    pub fn static_dim(&self, g: &OpGraph, x: ValueId, axis: usize) -> LResult<usize> {
        g.shape(x)[axis].ok_or_else(|| {
            self.error(format!(
                "axis {axis} of the input must have a known size for this layer"
            ))
        })
    }
}

/// An int or list of ints from JSON (also a `__tuple__` wrapper).
pub fn ints(v: &Value) -> Option<Vec<i64>> {
    if let Some(i) = v.as_i64() {
        return Some(vec![i]);
    }
    if let Some(inner) = v.get("config").and_then(|c| c.get("value")) {
        return ints(inner);
    }
    v.as_array()?.iter().map(|x| x.as_i64()).collect()
}

/// A number or nested list of numbers as an f32 tensor (also an inlined NumPy array,
/// `{"class_name": "__numpy__", "config": {"value": ...}}`).
pub fn literal_tensor(v: &Value) -> Option<Tensor> {
    if v.get("class_name").and_then(Value::as_str) == Some("__numpy__") {
        return literal_tensor(v.get("config")?.get("value")?);
    }
    fn flatten(v: &Value, shape: &mut Vec<usize>, depth: usize, out: &mut Vec<f32>) -> bool {
        match v {
            Value::Number(n) => {
                if depth != shape.len() {
                    return false;
                }
                out.push(n.as_f64().unwrap_or(f64::NAN) as f32);
                true
            }
            Value::Bool(b) => {
                out.push(if *b { 1.0 } else { 0.0 });
                depth == shape.len()
            }
            Value::Array(items) => {
                if depth == shape.len() {
                    shape.push(items.len());
                } else if shape.get(depth) != Some(&items.len()) {
                    return false;
                }
                items.iter().all(|i| flatten(i, shape, depth + 1, out))
            }
            _ => false,
        }
    }
    let (mut shape, mut data) = (Vec::new(), Vec::new());
    if !flatten(v, &mut shape, 0, &mut data) {
        return None;
    }
    ArrayD::from_shape_vec(shape, data).ok().map(Tensor::F32)
}
