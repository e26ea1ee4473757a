//! Lowering: a Keras layer graph becomes an OpGraph of primitives. One function per Keras
//! layer or op (see `registry`), each a few primitives, following the JAX backend's formulas
//! so that derivatives of the lowered graph are JAX's derivatives.

mod activations;
mod attention;
mod call;
mod convolutional;
mod core_layers;
pub mod einsum;
mod einsum_dense;
mod image;
mod indexing;
mod merging;
mod normalization;
mod numpy_ops;
mod padding;
mod pooling;
mod pooling1d;
mod recurrent;
mod registry;
mod reshaping;
mod spectral;
mod wrapped;

pub use call::{LayerCall, Val};
pub use registry::{supported_layers, supported_ops};

use crate::layer_graph::{KerasModel, NodeKind, TensorRef};
use crate::opgraph::{shape_fmt, DType, GraphError, OpGraph, Origin, ValueId};
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

/// A Keras tensor while lowering: its value and the mask Keras attaches to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KTensor {
    pub v: ValueId,
    /// A bool value (`True` = keep), usually `[B, T]`.
    pub mask: Option<ValueId>,
}

impl KTensor {
    pub fn plain(v: ValueId) -> Self {
        KTensor { v, mask: None }
    }
}

/// Per-sample shapes given for inputs whose Keras shape has unknown dimensions besides the
/// batch (`--input-shape x=6,3` for `batch_shape [null, null, 3]`).
pub type InputShapes = [(String, Vec<usize>)];

/// Lower a model: one Parameter per Keras input (named after it), one output per Keras output.
pub fn lower(model: &KerasModel) -> LResult<OpGraph> {
    lower_shaped(model, &[])
}

/// `lower` with the given per-sample input shapes filling unknown dimensions.
pub fn lower_shaped(model: &KerasModel, shapes: &InputShapes) -> LResult<OpGraph> {
    lower_traced(model, shapes).map(|(g, _)| g)
}

/// The element type of the Parameter for a Keras input dtype; integers are computed in int32
/// as JAX does, so an int64 input is converted after the Parameter.
pub fn input_dtype(name: &str, dtype: &str) -> LResult<DType> {
    Ok(match dtype {
        "float32" | "float16" | "bfloat16" | "float64" => DType::F32,
        "int32" => DType::I32,
        "int64" => DType::I64,
        "bool" => DType::Bool,
        other => {
            return Err(LowerError::Model(format!(
                "input '{}' has dtype {}: keras2ov supports float, int32, int64 and bool inputs",
                clip(name),
                clip(other)
            )))
        }
    })
}

/// The Keras input shape with unknown non-batch dimensions taken from `given`.
fn input_shape(
    name: &str,
    keras: &[Option<usize>],
    given: &InputShapes,
) -> LResult<Vec<Option<usize>>> {
    let Some((_, dims)) = given.iter().find(|(n, _)| n == name) else {
        return Ok(keras.to_vec());
    };
    let fits = dims.len() + 1 == keras.len()
        && keras[1..]
            .iter()
            .zip(dims)
            .all(|(k, &d)| k.is_none_or(|k| k == d));
    if !fits {
        return Err(LowerError::Model(format!(
            "input '{}' has shape {} in the model: a per-sample shape {dims:?} does not fit it",
            clip(name),
            shape_fmt(keras)
        )));
    }
    Ok(std::iter::once(keras[0])
        .chain(dims.iter().map(|&d| Some(d)))
        .collect())
}

/// `lower`, also returning every layer call's output shapes.
pub fn lower_traced(
    model: &KerasModel,
    shapes: &InputShapes,
) -> LResult<(OpGraph, Vec<TraceEntry>)> {
    let unsupported = registry::find_unsupported(model, "");
    if !unsupported.is_empty() {
        return Err(LowerError::Unsupported(unsupported));
    }
    let mut g = OpGraph::new();
    let mut inputs = Vec::new();
    let specs = model.input_specs();
    if let Some((n, _)) = shapes
        .iter()
        .find(|(n, _)| !specs.iter().any(|s| &s.name == n))
    {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        return Err(LowerError::Model(format!(
            "a shape is given for input '{}', but the model's inputs are {}",
            clip(n),
            clip(&names.join(", "))
        )));
    }
    for spec in specs {
        let dtype = input_dtype(&spec.name, &spec.dtype)?;
        let shape = input_shape(&spec.name, &spec.shape, shapes)?;
        let p = g.parameter(&spec.name, dtype, shape);
        let v = if dtype == DType::I64 {
            g.convert(p, DType::I32)?
        } else {
            p
        };
        inputs.push(KTensor::plain(v));
    }
    if inputs.len() != model.inputs.len() {
        return Err(LowerError::Model(
            "a model input is not an InputLayer".to_string(),
        ));
    }
    let mut trace = Vec::new();
    let outputs = lower_model(&mut g, model, &inputs, "", &mut trace)?;
    g.set_origin(None);
    for (name, t) in output_keys(model).iter().zip(outputs) {
        g.output(name, t.v);
    }
    Ok((g, trace))
}

/// The output names: Keras' `output_names`, except that names Keras gives to several outputs
/// (the real and imaginary parts of one `rfft`) are keyed `<layer>:<tensor index>`, or
/// `<layer>:<node index>:<tensor index>` if that still collides (as the fixture generator
/// names them).
pub fn output_keys(model: &KerasModel) -> Vec<String> {
    let names = model.output_names();
    let dup = |n: &String| names.iter().filter(|m| *m == n).count() > 1;
    let keys = |with_node: bool| -> Vec<String> {
        names
            .iter()
            .zip(&model.outputs)
            .map(|(n, r)| match (dup(n), with_node) {
                (false, _) => n.clone(),
                (true, false) => format!("{n}:{}", r.tensor_index),
                (true, true) => format!("{n}:{}:{}", r.node_index, r.tensor_index),
            })
            .collect()
    };
    let short = keys(false);
    let distinct = short.iter().collect::<std::collections::HashSet<_>>().len() == short.len();
    if distinct {
        short
    } else {
        keys(true)
    }
}

/// Lower `model` called on `inputs`; returns its outputs. Used for the top level and for
/// nested models (each call lowers the nested graph again, sharing its weight constants).
pub(super) fn lower_model(
    g: &mut OpGraph,
    model: &KerasModel,
    inputs: &[KTensor],
    prefix: &str,
    trace: &mut Vec<TraceEntry>,
) -> LResult<Vec<KTensor>> {
    if inputs.len() != model.inputs.len() {
        return Err(LowerError::Model(format!(
            "model '{}' expects {} inputs, called with {}",
            clip(&model.name),
            model.inputs.len(),
            inputs.len()
        )));
    }
    // (layer, node_index) -> output tensors of that call.
    let mut env: HashMap<(String, usize), Vec<KTensor>> = HashMap::new();
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
            let lookup = |r: &TensorRef| -> LResult<KTensor> {
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
                // Functional.call sets each input's mask on the inner input tensors.
                NodeKind::Model(inner) => {
                    let ins: Vec<KTensor> = lc.args.iter().flat_map(Val::tensors).collect();
                    lower_model(g, inner, &ins, &format!("{prefix}{}/", layer.name), trace)?
                }
                _ => registry::lower_call(g, &lc)?,
            };
            trace.push(TraceEntry {
                path: format!("{prefix}{}", layer.name),
                node_index,
                shapes: outs.iter().map(|t| g.shape(t.v).clone()).collect(),
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
