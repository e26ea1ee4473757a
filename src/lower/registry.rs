//! Which Keras class lowers how: the one table of supported layers and ops.

use super::call::LayerCall;
use super::{activations, core_layers, merging, normalization, numpy_ops, reshaping};
use super::{LResult, Unsupported};
use crate::layer_graph::{KerasModel, LayerNode, NodeKind};
use crate::opgraph::{OpGraph, ValueId};

type LowerFn = fn(&mut OpGraph, &LayerCall) -> LResult<Vec<ValueId>>;

/// Layers (module `keras.layers` / `keras.src.layers...`), by class name.
const LAYERS: &[(&str, LowerFn)] = &[
    ("Dense", core_layers::dense),
    ("Identity", core_layers::identity),
    ("Dropout", core_layers::identity),
    ("SpatialDropout1D", core_layers::identity),
    ("SpatialDropout2D", core_layers::identity),
    ("SpatialDropout3D", core_layers::identity),
    ("GaussianNoise", core_layers::identity),
    ("GaussianDropout", core_layers::identity),
    ("AlphaDropout", core_layers::identity),
    ("Rescaling", core_layers::rescaling),
    ("Activation", activations::activation_layer),
    ("ReLU", activations::activation_layer),
    ("LeakyReLU", activations::activation_layer),
    ("PReLU", activations::activation_layer),
    ("ELU", activations::activation_layer),
    ("Softmax", activations::activation_layer),
    ("BatchNormalization", normalization::batch_normalization),
    ("LayerNormalization", normalization::layer_normalization),
    ("Normalization", normalization::normalization),
    ("Flatten", reshaping::flatten),
    ("Reshape", reshaping::reshape),
    ("Permute", reshaping::permute),
    ("RepeatVector", reshaping::repeat_vector),
    ("Concatenate", merging::concatenate),
    ("Add", merging::elementwise),
    ("Subtract", merging::elementwise),
    ("Multiply", merging::elementwise),
    ("Average", merging::elementwise),
    ("Maximum", merging::elementwise),
    ("Minimum", merging::elementwise),
    ("Dot", merging::dot),
];

/// `keras.src.ops.*` operations, by class name.
const OPS: &[(&str, LowerFn)] = &[
    ("Add", numpy_ops::binary),
    ("Subtract", numpy_ops::binary),
    ("Multiply", numpy_ops::binary),
    ("Divide", numpy_ops::binary),
    ("TrueDivide", numpy_ops::binary),
    ("Power", numpy_ops::binary),
    ("Maximum", numpy_ops::binary),
    ("Minimum", numpy_ops::binary),
    ("Greater", numpy_ops::binary),
    ("GreaterEqual", numpy_ops::binary),
    ("Less", numpy_ops::binary),
    ("LessEqual", numpy_ops::binary),
    ("Equal", numpy_ops::binary),
    ("Negative", numpy_ops::unary),
    ("Absolute", numpy_ops::unary),
    ("Abs", numpy_ops::unary),
    ("Square", numpy_ops::unary),
    ("Sqrt", numpy_ops::unary),
    ("Exp", numpy_ops::unary),
    ("Log", numpy_ops::unary),
    ("Log10", numpy_ops::unary),
    ("Log2", numpy_ops::unary),
    ("Log1p", numpy_ops::unary),
    ("Expm1", numpy_ops::unary),
    ("Sin", numpy_ops::unary),
    ("Cos", numpy_ops::unary),
    ("Tan", numpy_ops::unary),
    ("Tanh", numpy_ops::unary),
    ("Arctan", numpy_ops::unary),
    ("Sinh", numpy_ops::unary),
    ("Cosh", numpy_ops::unary),
    ("Clip", numpy_ops::clip),
    ("Where", numpy_ops::where_),
    ("Matmul", numpy_ops::matmul),
    ("Outer", numpy_ops::outer),
    ("NanToNum", numpy_ops::nan_to_num),
    ("Sum", numpy_ops::reduce),
    ("Mean", numpy_ops::reduce),
    ("Max", numpy_ops::reduce),
    ("Min", numpy_ops::reduce),
    ("Prod", numpy_ops::reduce),
    ("Reshape", numpy_ops::reshape),
    ("Transpose", numpy_ops::transpose),
    ("ExpandDims", numpy_ops::expand_dims),
    ("Squeeze", numpy_ops::squeeze),
    ("Concatenate", numpy_ops::concatenate),
    ("Stack", numpy_ops::stack),
    ("GetItem", numpy_ops::get_item),
    ("Relu", numpy_ops::nn_activation),
    ("Relu6", numpy_ops::nn_activation),
    ("Sigmoid", numpy_ops::nn_activation),
    ("Softplus", numpy_ops::nn_activation),
    ("Softsign", numpy_ops::nn_activation),
    ("Silu", numpy_ops::nn_activation),
    ("HardSigmoid", numpy_ops::nn_activation),
    ("HardSilu", numpy_ops::nn_activation),
    ("Selu", numpy_ops::nn_activation),
    ("LeakyRelu", numpy_ops::nn_activation),
    ("Elu", numpy_ops::nn_activation),
    ("Gelu", numpy_ops::nn_activation),
    ("Softmax", numpy_ops::nn_activation),
    ("LogSoftmax", numpy_ops::nn_activation),
];

/// Built-in Keras classes live in `keras.*` modules; anything else is a custom class even
/// when its class name matches a built-in one.
fn is_builtin(layer: &LayerNode) -> bool {
    layer.module == "keras" || layer.module.starts_with("keras.")
}

fn lookup(layer: &LayerNode) -> Option<LowerFn> {
    let table = match layer.kind {
        NodeKind::Op => OPS,
        _ => LAYERS,
    };
    if !is_builtin(layer) {
        return None;
    }
    table
        .iter()
        .find(|(name, _)| *name == layer.class_name)
        .map(|(_, f)| *f)
}

/// The supported class names, for the README table and `inspect`.
pub fn supported_layers() -> impl Iterator<Item = &'static str> {
    LAYERS.iter().map(|(n, _)| *n)
}

pub fn supported_ops() -> impl Iterator<Item = &'static str> {
    OPS.iter().map(|(n, _)| *n)
}

/// Every unsupported layer or op in `model` and its nested models.
pub fn find_unsupported(model: &KerasModel, prefix: &str) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for layer in &model.layers {
        let path = format!("{prefix}{}", layer.name);
        let reason = match &layer.kind {
            NodeKind::Input(_) => None,
            NodeKind::Model(inner) => {
                out.extend(find_unsupported(inner, &format!("{path}/")));
                None
            }
            _ if !is_builtin(layer) => Some(format!("custom class from module '{}'", layer.module)),
            _ if lookup(layer).is_none() => Some(if matches!(layer.kind, NodeKind::Op) {
                format!("op from {} not supported", layer.module)
            } else {
                "layer not supported".to_string()
            }),
            _ => layer
                .config
                .get("activation")
                .filter(|a| !activations::is_supported(a))
                .map(|a| format!("activation {a} not supported")),
        };
        if let Some(reason) = reason {
            out.push(Unsupported {
                path,
                class_name: layer.class_name.clone(),
                registered_name: layer.registered_name.clone(),
                reason,
            });
        }
    }
    out
}

/// Lower one call of a supported layer or op.
pub fn lower_call(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let f = lookup(lc.layer).ok_or_else(|| lc.error("unsupported"))?;
    f(g, lc)
}
