//! The loader's output: a Keras model as Keras saved it, parsed but not interpreted.
//!
//! Sequential models are normalised into the same shape as Functional ones (each layer gets
//! one call fed by the previous layer), so later stages see a single kind of graph.

use ndarray::ArrayD;
use serde_json::Value;

/// A tensor produced by a layer call: Keras' `keras_history` triple.
///
/// `node_index` always indexes the producing layer's `calls` (0 for an InputLayer): the loader
/// removes the +1 Keras adds to a nested Functional model's calls in `input_layers` /
/// `output_layers`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorRef {
    pub layer: String,
    pub node_index: usize,
    pub tensor_index: usize,
}

/// One argument of a layer call, as saved in `inbound_nodes`.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A `__keras_tensor__`.
    Tensor(TensorRef),
    /// A list or tuple of arguments (merge layers take their tensors this way).
    List(Vec<Arg>),
    /// Anything else, kept verbatim: numbers, strings, null, `__slice__` objects, ...
    Literal(Value),
}

/// One call of a layer (one inbound node).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Call {
    pub args: Vec<Arg>,
    /// Keyword arguments in saved order.
    pub kwargs: Vec<(String, Arg)>,
}

/// What a graph entry is.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// `InputLayer`: a model input.
    Input(InputSpec),
    /// A layer (anything in `model.layers` that is not a model).
    Layer,
    /// A `keras.ops` call saved as an operation (module `keras.src.ops.*`); has no weights.
    Op,
    /// A nested Functional or Sequential model used as a layer.
    Model(Box<KerasModel>),
}

/// The declared signature of a model input.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub name: String,
    /// `batch_shape` from the InputLayer config; `None` marks a dynamic dimension.
    pub shape: Vec<Option<usize>>,
    /// Keras dtype string, e.g. `"float32"`.
    pub dtype: String,
}

/// One entry of a model's `layers` list.
#[derive(Clone, Debug)]
pub struct LayerNode {
    pub name: String,
    pub class_name: String,
    pub module: String,
    pub registered_name: Option<String>,
    /// The entry's `config` object, verbatim.
    pub config: Value,
    /// Inbound nodes in `node_index` order.
    pub calls: Vec<Call>,
    pub kind: NodeKind,
    /// The layer's variables in Keras' variable order (`vars/0`, `vars/1`, ...), followed by
    /// those of its sub-objects, recursively, in the order Keras saves them (attribute names
    /// sorted, `_`-prefixed ones last): `cell/vars/*` of an RNN layer,
    /// `backward_layer/...` then `forward_layer/...` of Bidirectional, `key_dense/`,
    /// `output_dense/`, `query_dense/`, `value_dense/` of MultiHeadAttention. `Weight::path`
    /// tells them apart. Empty for ops and InputLayers; for a nested model, only the model's
    /// own variables (its layers carry theirs).
    pub weights: Vec<Weight>,
}

/// One saved variable.
#[derive(Clone, Debug)]
pub struct Weight {
    /// Full path in `model.weights.h5`, for error messages (`layers/dense/vars/0`).
    pub path: String,
    pub value: ArrayD<f32>,
}

/// A Functional or Sequential model.
#[derive(Clone, Debug)]
pub struct KerasModel {
    pub name: String,
    /// `"Functional"` or `"Sequential"` (as saved).
    pub class_name: String,
    /// Every entry, in an order where each call's inputs come before it (from an earlier
    /// entry, or from an earlier call of the same entry: `h = shared(shared(x))`).
    pub layers: Vec<LayerNode>,
    /// The model's inputs (flattened `input_layers`), each an InputLayer's output.
    pub inputs: Vec<TensorRef>,
    /// The model's outputs (flattened `output_layers`).
    pub outputs: Vec<TensorRef>,
}

impl KerasModel {
    pub fn layer(&self, name: &str) -> Option<&LayerNode> {
        self.layers.iter().find(|l| l.name == name)
    }

    /// The InputLayer specs, in the order of `inputs`.
    pub fn input_specs(&self) -> Vec<&InputSpec> {
        self.inputs
            .iter()
            .filter_map(|r| match self.layer(&r.layer).map(|l| &l.kind) {
                Some(NodeKind::Input(spec)) => Some(spec),
                _ => None,
            })
            .collect()
    }

    /// Keras' output names: the layers named in `output_layers`.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|r| r.layer.clone()).collect()
    }
}

/// A loaded `.keras` archive.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    pub keras_version: String,
    pub model: KerasModel,
}
