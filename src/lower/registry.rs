//! Which Keras class lowers how: the one table of supported layers and ops.

use super::call::LayerCall;
use super::pooling::Pool;
use super::{activations, convolutional, core_layers, merging, normalization, numpy_ops};
use super::{padding, pooling, reshaping};
use super::{LResult, Unsupported};
use crate::layer_graph::{KerasModel, LayerNode, NodeKind};
use crate::opgraph::{BinaryOp, CompareOp, OpGraph, ReduceOp, UnaryOp, ValueId};
use std::f64::consts::{LOG10_E, LOG2_E};

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
    ("ReLU", activations::relu_layer),
    ("LeakyReLU", activations::leaky_relu_layer),
    ("PReLU", activations::prelu_layer),
    ("ELU", activations::elu_layer),
    ("Softmax", activations::softmax_layer),
    ("BatchNormalization", normalization::batch_normalization),
    ("LayerNormalization", normalization::layer_normalization),
    ("Normalization", normalization::normalization),
    ("Flatten", reshaping::flatten),
    ("Reshape", reshaping::reshape),
    ("Permute", reshaping::permute),
    ("RepeatVector", reshaping::repeat_vector),
    ("Concatenate", merging::concatenate),
    ("Add", |g, lc| merging::fold(g, lc, BinaryOp::Add)),
    ("Subtract", merging::subtract),
    ("Multiply", |g, lc| merging::fold(g, lc, BinaryOp::Mul)),
    ("Average", merging::average),
    ("Maximum", |g, lc| merging::fold(g, lc, BinaryOp::Max)),
    ("Minimum", |g, lc| merging::fold(g, lc, BinaryOp::Min)),
    ("Dot", merging::dot),
    ("Conv1D", convolutional::conv),
    ("Conv2D", convolutional::conv),
    ("Conv3D", convolutional::conv),
    ("Conv1DTranspose", convolutional::conv_transpose),
    ("Conv2DTranspose", convolutional::conv_transpose),
    ("Conv3DTranspose", convolutional::conv_transpose),
    ("DepthwiseConv1D", convolutional::depthwise_conv),
    ("DepthwiseConv2D", convolutional::depthwise_conv),
    ("SeparableConv1D", convolutional::separable_conv),
    ("SeparableConv2D", convolutional::separable_conv),
    ("MaxPooling1D", |g, lc| pooling::pool(g, lc, Pool::Max)),
    ("MaxPooling2D", |g, lc| pooling::pool(g, lc, Pool::Max)),
    ("MaxPooling3D", |g, lc| pooling::pool(g, lc, Pool::Max)),
    ("AveragePooling1D", |g, lc| {
        pooling::pool(g, lc, Pool::Average)
    }),
    ("AveragePooling2D", |g, lc| {
        pooling::pool(g, lc, Pool::Average)
    }),
    ("AveragePooling3D", |g, lc| {
        pooling::pool(g, lc, Pool::Average)
    }),
    ("GlobalMaxPooling1D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Max)
    }),
    ("GlobalMaxPooling2D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Max)
    }),
    ("GlobalMaxPooling3D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Max)
    }),
    ("GlobalAveragePooling1D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Average)
    }),
    ("GlobalAveragePooling2D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Average)
    }),
    ("GlobalAveragePooling3D", |g, lc| {
        pooling::global_pool(g, lc, Pool::Average)
    }),
    ("ZeroPadding1D", padding::zero_padding),
    ("ZeroPadding2D", padding::zero_padding),
    ("ZeroPadding3D", padding::zero_padding),
    ("Cropping1D", padding::cropping),
    ("Cropping2D", padding::cropping),
    ("Cropping3D", padding::cropping),
    ("UpSampling1D", reshaping::up_sampling),
    ("UpSampling2D", reshaping::up_sampling),
    ("UpSampling3D", reshaping::up_sampling),
    ("RandomFlip", core_layers::identity),
    ("RandomRotation", core_layers::identity),
    ("RandomZoom", core_layers::identity),
    ("RandomTranslation", core_layers::identity),
    ("RandomContrast", core_layers::identity),
    ("RandomBrightness", core_layers::identity),
    ("RandomCrop", core_layers::identity),
    ("GroupNormalization", normalization::group_normalization),
    ("UnitNormalization", normalization::unit_normalization),
    ("LayerScale", normalization::layer_scale),
];

/// `keras.src.ops.*` operations, by class name.
const OPS: &[(&str, LowerFn)] = &[
    ("Add", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.add(a, b))
    }),
    ("Subtract", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.sub(a, b))
    }),
    ("Multiply", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.mul(a, b))
    }),
    ("Divide", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.div(a, b))
    }),
    ("TrueDivide", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.div(a, b))
    }),
    ("Power", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.binary(BinaryOp::Pow, a, b))
    }),
    ("Maximum", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.binary(BinaryOp::Max, a, b))
    }),
    ("Minimum", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.binary(BinaryOp::Min, a, b))
    }),
    ("Greater", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::Greater, a, b))
    }),
    ("GreaterEqual", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::GreaterEqual, a, b))
    }),
    ("Less", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::Less, a, b))
    }),
    ("LessEqual", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::LessEqual, a, b))
    }),
    ("Equal", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::Equal, a, b))
    }),
    ("Negative", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Neg, x))
    }),
    ("Absolute", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Abs, x))
    }),
    ("Abs", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Abs, x))
    }),
    ("Square", |g, lc| numpy_ops::map(g, lc, |g, x| g.mul(x, x))),
    ("Sqrt", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Sqrt, x))
    }),
    ("Exp", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Exp, x))
    }),
    ("Log", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Log, x))
    }),
    // log10(x) = ln(x) * (1 / ln 10), the constant folded.
    ("Log10", |g, lc| {
        numpy_ops::map(g, lc, |g, x| numpy_ops::scaled_log(g, x, LOG10_E))
    }),
    ("Log2", |g, lc| {
        numpy_ops::map(g, lc, |g, x| numpy_ops::scaled_log(g, x, LOG2_E))
    }),
    ("Log1p", |g, lc| numpy_ops::map(g, lc, numpy_ops::log1p)),
    ("Expm1", |g, lc| numpy_ops::map(g, lc, |g, x| g.expm1(x))),
    ("Sin", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Sin, x))
    }),
    ("Cos", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Cos, x))
    }),
    ("Tan", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Tan, x))
    }),
    ("Tanh", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Tanh, x))
    }),
    ("Arctan", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Atan, x))
    }),
    ("Sinh", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Sinh, x))
    }),
    ("Cosh", |g, lc| {
        numpy_ops::map(g, lc, |g, x| g.unary(UnaryOp::Cosh, x))
    }),
    ("Clip", numpy_ops::clip),
    ("Where", numpy_ops::where_),
    ("Matmul", numpy_ops::matmul),
    ("Outer", numpy_ops::outer),
    ("NanToNum", numpy_ops::nan_to_num),
    ("Sum", |g, lc| numpy_ops::reduce(g, lc, ReduceOp::Sum)),
    ("Mean", |g, lc| numpy_ops::reduce(g, lc, ReduceOp::Mean)),
    ("Max", |g, lc| numpy_ops::reduce(g, lc, ReduceOp::Max)),
    ("Min", |g, lc| numpy_ops::reduce(g, lc, ReduceOp::Min)),
    ("Prod", |g, lc| numpy_ops::reduce(g, lc, ReduceOp::Prod)),
    ("Reshape", numpy_ops::reshape),
    ("Transpose", numpy_ops::transpose),
    ("ExpandDims", numpy_ops::expand_dims),
    ("Squeeze", numpy_ops::squeeze),
    ("Concatenate", numpy_ops::concatenate),
    ("Stack", numpy_ops::stack),
    ("GetItem", numpy_ops::get_item),
    ("Relu", |g, lc| numpy_ops::nn(g, lc, "relu")),
    ("Relu6", |g, lc| numpy_ops::nn(g, lc, "relu6")),
    ("Sigmoid", |g, lc| numpy_ops::nn(g, lc, "sigmoid")),
    ("Softplus", |g, lc| numpy_ops::nn(g, lc, "softplus")),
    ("Softsign", |g, lc| numpy_ops::nn(g, lc, "softsign")),
    ("Silu", |g, lc| numpy_ops::nn(g, lc, "silu")),
    ("HardSigmoid", |g, lc| numpy_ops::nn(g, lc, "hard_sigmoid")),
    ("HardSilu", |g, lc| numpy_ops::nn(g, lc, "hard_silu")),
    ("Selu", |g, lc| numpy_ops::nn(g, lc, "selu")),
    ("LeakyRelu", numpy_ops::leaky_relu),
    ("Elu", numpy_ops::elu),
    ("Gelu", numpy_ops::gelu),
    ("Softmax", |g, lc| numpy_ops::softmax(g, lc, false)),
    ("LogSoftmax", |g, lc| numpy_ops::softmax(g, lc, true)),
    ("Conv", convolutional::conv_op),
    ("DepthwiseConv", convolutional::depthwise_conv_op),
    ("SeparableConv", convolutional::separable_conv_op),
    ("MaxPool", |g, lc| pooling::pool(g, lc, Pool::Max)),
    ("AveragePool", |g, lc| pooling::pool(g, lc, Pool::Average)),
    ("Pad", padding::pad_op),
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
