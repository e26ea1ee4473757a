//! One resolved layer call: its tensors, literals, config and weights, with accessors whose
//! errors name the layer.

use super::{KTensor, LResult, LowerError};
use crate::layer_graph::{Arg, Call, LayerNode, TensorRef, Weight};
use crate::opgraph::{DType, OpGraph, Tensor, ValueId};
use ndarray::ArrayD;
use serde_json::Value;
use std::cell::RefCell;

/// A call argument with tensors resolved to graph values: a tensor with the mask Keras
/// attaches to it (`_keras_mask`, see `docs/semantics/sequence.md` §3), a list, or a literal.
#[derive(Clone, Debug)]
pub enum Val {
    T(KTensor),
    List(Vec<Val>),
    Lit(Value),
}

impl Val {
    /// A literal argument as JSON (lists of literals as arrays); `None` when it holds tensors.
    pub fn literal(&self) -> Option<Value> {
        match self {
            Val::Lit(v) => Some(v.clone()),
            Val::List(items) => items
                .iter()
                .map(Val::literal)
                .collect::<Option<_>>()
                .map(Value::Array),
            Val::T(_) => None,
        }
    }

    /// The tensors in this argument, flattened in order.
    pub fn tensors(&self) -> Vec<KTensor> {
        match self {
            Val::T(t) => vec![*t],
            Val::List(items) => items.iter().flat_map(Val::tensors).collect(),
            Val::Lit(_) => vec![],
        }
    }
}

pub struct LayerCall<'a> {
    pub layer: &'a LayerNode,
    pub args: Vec<Val>,
    pub kwargs: Vec<(String, Val)>,
    /// Output masks a lowering function sets (`set_output_masks`); otherwise the registry's
    /// rule for the class decides.
    output_masks: RefCell<Option<Vec<Option<ValueId>>>>,
}

impl<'a> LayerCall<'a> {
    /// A call of `layer` on already resolved arguments (wrappers call their inner layers so).
    pub fn new(layer: &'a LayerNode, args: Vec<Val>, kwargs: Vec<(String, Val)>) -> Self {
        LayerCall {
            layer,
            args,
            kwargs,
            output_masks: RefCell::new(None),
        }
    }

    pub fn resolve(
        layer: &'a LayerNode,
        call: &Call,
        lookup: &dyn Fn(&TensorRef) -> LResult<KTensor>,
    ) -> LResult<Self> {
        fn conv(a: &Arg, lookup: &dyn Fn(&TensorRef) -> LResult<KTensor>) -> LResult<Val> {
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
        let args = call
            .args
            .iter()
            .map(|a| conv(a, lookup))
            .collect::<LResult<_>>()?;
        let kwargs = call
            .kwargs
            .iter()
            .map(|(k, a)| Ok((k.clone(), conv(a, lookup)?)))
            .collect::<LResult<_>>()?;
        Ok(Self::new(layer, args, kwargs))
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
        self.args
            .iter()
            .flat_map(Val::tensors)
            .map(|t| t.v)
            .collect()
    }

    /// The masks of [`LayerCall::all_tensors`], in the same order.
    pub fn all_masks(&self) -> Vec<Option<ValueId>> {
        self.args
            .iter()
            .flat_map(Val::tensors)
            .map(|t| t.mask)
            .collect()
    }

    /// A keyword argument given as a tensor or tensors (not null, not a literal).
    pub fn tensor_kwarg(&self, name: &str) -> Option<&Val> {
        self.kwargs
            .iter()
            .find(|(k, v)| k == name && !v.tensors().is_empty())
            .map(|(_, v)| v)
    }

    /// The `mask` argument as `Layer.__call__` fills it (keras/src/layers/layer.py, step 6):
    /// an explicit `mask=` (its tensors are the masks), else, when the call has exactly one
    /// tensor argument (a list counts as one), that argument's masks; `None` otherwise. One
    /// entry per tensor of that argument.
    pub fn mask_arg(&self) -> Option<Vec<Option<ValueId>>> {
        if let Some(m) = self.tensor_kwarg("mask") {
            return Some(m.tensors().iter().map(|t| Some(t.v)).collect());
        }
        let mut tensor_args = self
            .args
            .iter()
            .chain(self.kwargs.iter().map(|(_, v)| v))
            .filter(|v| !v.tensors().is_empty());
        match (tensor_args.next(), tensor_args.next()) {
            (Some(only), None) => Some(only.tensors().iter().map(|t| t.mask).collect()),
            _ => None,
        }
    }

    /// The mask of a layer whose `mask` argument is one tensor (`None` when unmasked).
    pub fn single_mask(&self) -> LResult<Option<ValueId>> {
        match self.mask_arg().as_deref() {
            None | Some([]) => Ok(None),
            Some([m]) => Ok(*m),
            Some(more) => Err(self.error(format!("expected one mask, got {}", more.len()))),
        }
    }

    /// Keras' `previous_mask`: the explicit `mask=` or the masks of the first positional
    /// argument. A layer that supports masking passes it to its outputs by default.
    pub fn previous_mask(&self) -> Vec<Option<ValueId>> {
        if let Some(m) = self.tensor_kwarg("mask") {
            return m.tensors().iter().map(|t| Some(t.v)).collect();
        }
        self.args
            .first()
            .map(|a| a.tensors().iter().map(|t| t.mask).collect())
            .unwrap_or_default()
    }

    /// Set the masks of this call's outputs (one per output; `None` for no mask).
    pub fn set_output_masks(&self, masks: Vec<Option<ValueId>>) {
        *self.output_masks.borrow_mut() = Some(masks);
    }

    /// The output masks set by the lowering function, if it set any.
    pub fn take_output_masks(&self) -> Option<Vec<Option<ValueId>>> {
        self.output_masks.borrow_mut().take()
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
            Some(Val::T(t)) => Ok(t.v),
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

    /// The arguments at (position, name) as tensors of one element type, promoted as JAX
    /// promotes them: tensors by `bool < int < float`, and number literals "weakly" (an
    /// integer literal takes an integer tensor's type, a float literal makes it float).
    pub fn operands(&self, g: &mut OpGraph, at: &[(usize, &str)]) -> LResult<Vec<ValueId>> {
        enum Op {
            T(ValueId),
            Lit(f64, DType),
        }
        let mut ops = Vec::new();
        for &(i, name) in at {
            ops.push(match self.arg(i, name) {
                Some(Val::T(t)) => Op::T(t.v),
                Some(Val::Lit(v)) => match literal_tensor(v) {
                    Some(t) if t.shape().is_empty() => {
                        let x = t.to_f64().iter().copied().next().unwrap_or(0.0);
                        let weak = match v {
                            Value::Bool(_) => DType::Bool,
                            Value::Number(n) if n.is_i64() || n.is_u64() => DType::I32,
                            _ => DType::F32,
                        };
                        Op::Lit(x, weak)
                    }
                    Some(t) => Op::T(g.constant(t)),
                    None => {
                        return Err(self.error(format!("argument '{name}' = {v} is not a number")))
                    }
                },
                Some(Val::List(_)) => {
                    return Err(self.error(format!(
                        "argument '{name}' is a list of tensors; expected one tensor"
                    )))
                }
                None => return Err(self.error(format!("missing argument '{name}'"))),
            });
        }
        let rank = |d: DType| match d {
            DType::Bool => 0,
            DType::I32 | DType::I64 => 1,
            DType::F32 => 2,
        };
        let strong = ops.iter().filter_map(|o| match o {
            Op::T(v) => Some(g.dtype(*v)),
            Op::Lit(..) => None,
        });
        let weak = ops.iter().filter_map(|o| match o {
            Op::Lit(_, d) => Some(*d),
            Op::T(_) => None,
        });
        let top_strong = strong.max_by_key(|&d| rank(d));
        let top_weak = weak.max_by_key(|&d| rank(d));
        let dtype = match (top_strong, top_weak) {
            (Some(s), Some(w)) if rank(w) > rank(s) => w,
            (Some(s), _) => s,
            (None, Some(w)) => w,
            (None, None) => DType::F32,
        };
        ops.into_iter()
            .map(|o| match o {
                Op::T(v) => Ok(g.convert(v, dtype)?),
                Op::Lit(x, _) => Ok(g.constant(Tensor::scalar_of(dtype, x))),
            })
            .collect()
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
        let have: Vec<&Weight> = self.layer.weights.iter().collect();
        self.check_weights(&have, expected)
    }

    /// The weights of sub-object `part` (a component of the saving path: `forward_layer`,
    /// `query_dense`, ...), in saved order.
    pub fn sub_weights(&self, part: &str) -> Vec<&'a Weight> {
        let needle = format!("/{part}/");
        self.layer
            .weights
            .iter()
            .filter(|w| w.path.contains(&needle))
            .collect()
    }

    /// `weights` for the weights of sub-object `part`.
    pub fn weights_of(
        &self,
        part: &str,
        expected: &[(&str, Vec<usize>)],
    ) -> LResult<Vec<&ArrayD<f32>>> {
        self.check_weights(&self.sub_weights(part), expected)
    }

    /// Check `have` against the config's `expected` names and shapes (count, then each shape).
    pub fn check_weights<'w>(
        &self,
        have: &[&'w Weight],
        expected: &[(&str, Vec<usize>)],
    ) -> LResult<Vec<&'w ArrayD<f32>>> {
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

    /// A weight as a graph constant.
    pub fn constant(&self, g: &mut OpGraph, w: &ArrayD<f32>) -> ValueId {
        g.constant(Tensor::F32(w.clone()))
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

/// A number or nested list of numbers as an f32 tensor; a constant tensor Keras saved inline
/// (`{"class_name": "__tensor__" | "__numpy__", "config": {"value", "dtype"}}`, e.g. the
/// result of `ops.arange` on Python numbers) in its own type (integers as int32, as JAX
/// computes them).
pub fn literal_tensor(v: &Value) -> Option<Tensor> {
    let class = v.get("class_name").and_then(Value::as_str);
    if matches!(class, Some("__tensor__" | "__numpy__")) {
        let c = v.get("config")?;
        let t = literal_tensor(c.get("value")?)?;
        let dtype = match c.get("dtype").and_then(Value::as_str).unwrap_or("float32") {
            d if d.starts_with("float") || d.starts_with("bfloat") => DType::F32,
            d if d.starts_with("int") || d.starts_with("uint") => DType::I32,
            "bool" => DType::Bool,
            _ => return None,
        };
        return Some(Tensor::from_f64(dtype, &t.to_f64()));
    }
    literal_f32(v)
}

fn literal_f32(v: &Value) -> Option<Tensor> {
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
