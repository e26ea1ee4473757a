//! Lowering: a Keras layer graph becomes an OpGraph of primitives. One function per Keras
//! layer or op (see `registry`), each a few primitives, following the JAX backend's formulas
//! so that derivatives of the lowered graph are JAX's derivatives.

mod activations;
mod call;
mod convolutional;
mod core_layers;
mod merging;
mod normalization;
mod numpy_ops;
mod padding;
mod pooling;
mod registry;
mod reshaping;

pub use call::{LayerCall, Val};
pub use registry::{supported_layers, supported_ops};

use crate::layer_graph::{KerasModel, NodeKind, TensorRef};
use crate::opgraph::{DType, GraphError, OpGraph, Origin, ValueId};
use crate::text::{clip, clip_to};
use std::collections::HashMap;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum LowerError {
    #[error("{}", unsupported_message(.0))]
    Unsupported(Vec<Unsupported>),
    #[error("layer '{}' ({}): {}", clip(.layer), clip(.class), clip_to(.msg, 1000))]
    Layer {
        layer: String,
        class: String,
        msg: String,
    },
    #[error("{0}")]
    Model(String),
}

/// One layer or op the converter cannot lower.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsupported {
    /// Layer name, with enclosing model names (`outer/inner/dense`).
    pub path: String,
    pub class_name: String,
    /// Set for custom classes (`my_pkg>MyLayer`).
    pub registered_name: Option<String>,
    pub reason: String,
}

/// Offenders listed one per line before the rest are counted.
const LISTED: usize = 100;

fn unsupported_message(items: &[Unsupported]) -> String {
    let mut lines: Vec<String> = items
        .iter()
        .take(LISTED)
        .map(|u| {
            let reg = match &u.registered_name {
                Some(r) if r != &u.class_name => format!(", registered as '{}'", clip(r)),
                _ => String::new(),
            };
            let (path, class) = (clip(&u.path), clip(&u.class_name));
            format!("  - '{path}' ({class}{reg}): {}", clip(&u.reason))
        })
        .collect();
    if items.len() > LISTED {
        lines.push(format!("  ... and {} more", items.len() - LISTED));
    }
    format!(
        "unsupported: the model uses {} layer(s)/op(s) keras2ov cannot convert:\n{}",
        items.len(),
        lines.join("\n")
    )
}

pub type LResult<T> = Result<T, LowerError>;

/// A graph error names the layer being lowered (the graph's current origin).
impl From<GraphError> for LowerError {
    fn from(e: GraphError) -> Self {
        match e.origin {
            Some(o) => LowerError::Layer {
                layer: o.path.clone(),
                class: o.class.clone(),
                msg: e.msg,
            },
            None => LowerError::Model(e.msg),
        }
    }
}

/// The output shapes of one layer call, recorded while lowering (for `inspect`).
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEntry {
    /// Layer name with enclosing model names (`outer/inner/dense`).
    pub path: String,
    pub node_index: usize,
    pub shapes: Vec<crate::opgraph::Shape>,
}

/// Lower a model: one Parameter per Keras input (named after it), one output per Keras output.
pub fn lower(model: &KerasModel) -> LResult<OpGraph> {
    lower_traced(model).map(|(g, _)| g)
}

/// `lower`, also returning every layer call's output shapes.
pub fn lower_traced(model: &KerasModel) -> LResult<(OpGraph, Vec<TraceEntry>)> {
    let unsupported = registry::find_unsupported(model, "");
    if !unsupported.is_empty() {
        return Err(LowerError::Unsupported(unsupported));
    }
    let mut g = OpGraph::new();
    let mut inputs = Vec::new();
    for spec in model.input_specs() {
        if !matches!(
            spec.dtype.as_str(),
            "float32" | "float16" | "bfloat16" | "float64"
        ) {
            return Err(LowerError::Model(format!(
                "input '{}' has dtype {}: only float inputs are supported",
                clip(&spec.name),
                clip(&spec.dtype)
            )));
        }
        inputs.push(g.parameter(&spec.name, DType::F32, spec.shape.clone()));
    }
    if inputs.len() != model.inputs.len() {
        return Err(LowerError::Model(
            "a model input is not an InputLayer".to_string(),
        ));
    }
    let mut trace = Vec::new();
    let outputs = lower_model(&mut g, model, &inputs, "", &mut trace)?;
    g.set_origin(None);
    let names = model.output_names();
    for (name, v) in names.iter().zip(outputs) {
        g.output(name, v);
    }
    Ok((g, trace))
}

/// Lower `model` called on `inputs`; returns its outputs. Used for the top level and for
/// nested models (each call lowers the nested graph again, sharing its weight constants).
fn lower_model(
    g: &mut OpGraph,
    model: &KerasModel,
    inputs: &[ValueId],
    prefix: &str,
    trace: &mut Vec<TraceEntry>,
) -> LResult<Vec<ValueId>> {
    if inputs.len() != model.inputs.len() {
        return Err(LowerError::Model(format!(
            "model '{}' expects {} inputs, called with {}",
            clip(&model.name),
            model.inputs.len(),
            inputs.len()
        )));
    }
    // (layer, node_index) -> output tensors of that call.
    let mut env: HashMap<(String, usize), Vec<ValueId>> = HashMap::new();
    for (r, &v) in model.inputs.iter().zip(inputs) {
        env.insert((r.layer.clone(), r.node_index), vec![v]);
    }
    for layer in &model.layers {
        if matches!(layer.kind, NodeKind::Input(_)) {
            if !env.keys().any(|(l, _)| l == &layer.name) {
                return Err(LowerError::Model(format!(
                    "input layer '{}' of model '{}' is not among its inputs",
                    clip(&layer.name),
                    clip(&model.name)
                )));
            }
            continue;
        }
        for (node_index, call) in layer.calls.iter().enumerate() {
            let lookup = |r: &TensorRef| -> LResult<ValueId> {
                env.get(&(r.layer.clone(), r.node_index))
                    .and_then(|outs| outs.get(r.tensor_index).copied())
                    .ok_or_else(|| LowerError::Layer {
                        layer: layer.name.clone(),
                        class: layer.class_name.clone(),
                        msg: format!(
                            "input tensor {}[{}][{}] is not available",
                            clip(&r.layer),
                            r.node_index,
                            r.tensor_index
                        ),
                    })
            };
            let lc = LayerCall::resolve(layer, call, &lookup)?;
            g.set_origin(Some(Arc::new(Origin {
                path: format!("{prefix}{}", layer.name),
                class: layer.class_name.clone(),
            })));
            let outs = match &layer.kind {
                NodeKind::Model(inner) => {
                    let ins = lc.all_tensors();
                    lower_model(g, inner, &ins, &format!("{prefix}{}/", layer.name), trace)?
                }
                _ => registry::lower_call(g, &lc)?,
            };
            trace.push(TraceEntry {
                path: format!("{prefix}{}", layer.name),
                node_index,
                shapes: outs.iter().map(|&v| g.shape(v).clone()).collect(),
            });
            env.insert((layer.name.clone(), node_index), outs);
        }
    }
    model
        .outputs
        .iter()
        .map(|r| {
            env.get(&(r.layer.clone(), r.node_index))
                .and_then(|o| o.get(r.tensor_index).copied())
                .ok_or_else(|| {
                    LowerError::Model(format!(
                        "output {}[{}][{}] of model '{}' is never computed",
                        clip(&r.layer),
                        r.node_index,
                        r.tensor_index,
                        clip(&model.name)
                    ))
                })
        })
        .collect()
}
