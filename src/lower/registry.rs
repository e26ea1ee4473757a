//! Which Keras class lowers how: the one table of supported layers and ops.

use super::call::LayerCall;
use super::pooling::Pool;
use super::{activations, convolutional, core_layers, image, merging, normalization};
use super::{attention, indexing, numpy_ops, padding, pooling, pooling1d, reshaping, spectral};
use super::{einsum_dense, recurrent, wrapped, KTensor, LResult, Unsupported};
use crate::layer_graph::{KerasModel, LayerNode, NodeKind};
use crate::opgraph::{BinaryOp, CompareOp, OpGraph, ReduceOp, UnaryOp, ValueId};
use std::f64::consts::{LOG10_E, LOG2_E};

pub(super) type LowerFn = fn(&mut OpGraph, &LayerCall) -> LResult<Vec<ValueId>>;

/// What a layer does with the mask of its input when its lowering function does not set its
/// output masks itself (`LayerCall::set_output_masks`): Keras' `supports_masking` with the
/// default `compute_mask` (the input's mask passes to the outputs), or no masking support
/// (the mask is dropped, as Keras drops it with a warning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mask {
    Keep,
    Drop,
}

use Mask::{Drop, Keep};

/// Layers (module `keras.layers` / `keras.src.layers...`), by class name.
const LAYERS: &[(&str, LowerFn, Mask)] = &[
    ("Dense", core_layers::dense, Keep),
    ("Identity", core_layers::identity, Keep),
    ("Dropout", core_layers::identity, Keep),
    ("SpatialDropout1D", core_layers::identity, Keep),
    ("SpatialDropout2D", core_layers::identity, Keep),
    ("SpatialDropout3D", core_layers::identity, Keep),
    ("GaussianNoise", core_layers::identity, Keep),
    ("GaussianDropout", core_layers::identity, Keep),
    ("AlphaDropout", core_layers::identity, Keep),
    ("Rescaling", core_layers::rescaling, Keep),
    ("Activation", activations::activation_layer, Keep),
    ("ReLU", activations::relu_layer, Keep),
    ("LeakyReLU", activations::leaky_relu_layer, Keep),
    ("PReLU", activations::prelu_layer, Keep),
    ("ELU", activations::elu_layer, Keep),
    ("Softmax", activations::softmax_layer, Keep),
    (
        "BatchNormalization",
        normalization::batch_normalization,
        Keep,
    ),
    (
        "LayerNormalization",
        normalization::layer_normalization,
        Keep,
    ),
    ("Normalization", normalization::normalization, Keep),
    ("Flatten", reshaping::flatten, Drop),
    ("Reshape", reshaping::reshape, Drop),
    ("Permute", reshaping::permute, Drop),
    ("RepeatVector", reshaping::repeat_vector, Drop),
    ("Concatenate", merging::concatenate, Keep),
    ("Add", |g, lc| merging::fold(g, lc, BinaryOp::Add), Keep),
    ("Subtract", merging::subtract, Keep),
    (
        "Multiply",
        |g, lc| merging::fold(g, lc, BinaryOp::Mul),
        Keep,
    ),
    ("Average", merging::average, Keep),
    ("Maximum", |g, lc| merging::fold(g, lc, BinaryOp::Max), Keep),
    ("Minimum", |g, lc| merging::fold(g, lc, BinaryOp::Min), Keep),
    ("Dot", merging::dot, Drop),
    ("Embedding", indexing::embedding, Drop),
    ("Masking", recurrent::masking, Keep),
    ("SimpleRNN", recurrent::single_cell_layer, Keep),
    ("LSTM", recurrent::single_cell_layer, Keep),
    ("GRU", recurrent::single_cell_layer, Keep),
    ("RNN", recurrent::rnn, Keep),
    ("Bidirectional", wrapped::bidirectional, Keep),
    ("TimeDistributed", wrapped::time_distributed, Keep),
    (
        "GlobalAveragePooling1D",
        pooling1d::global_average_pooling_1d,
        Drop,
    ),
    ("GlobalMaxPooling1D", pooling1d::global_max_pooling_1d, Drop),
    ("EinsumDense", einsum_dense::einsum_dense, Drop),
    ("MultiHeadAttention", attention::multi_head_attention, Keep),
    (
        "GroupQueryAttention",
        attention::group_query_attention,
        Keep,
    ),
    ("Attention", attention::attention, Keep),
    ("AdditiveAttention", attention::additive_attention, Keep),
    ("Resizing", image::resizing, Drop),
    ("CenterCrop", image::center_crop, Drop),
    ("UpSampling2D", image::upsampling2d, Drop),
    ("Conv1D", convolutional::conv, Drop),
    ("Conv2D", convolutional::conv, Drop),
    ("Conv3D", convolutional::conv, Drop),
    ("Conv1DTranspose", convolutional::conv_transpose, Drop),
    ("Conv2DTranspose", convolutional::conv_transpose, Drop),
    ("Conv3DTranspose", convolutional::conv_transpose, Drop),
    ("DepthwiseConv1D", convolutional::depthwise_conv, Drop),
    ("DepthwiseConv2D", convolutional::depthwise_conv, Drop),
    ("SeparableConv1D", convolutional::separable_conv, Drop),
    ("SeparableConv2D", convolutional::separable_conv, Drop),
    (
        "MaxPooling1D",
        |g, lc| pooling::pool(g, lc, Pool::Max),
        Drop,
    ),
    (
        "MaxPooling2D",
        |g, lc| pooling::pool(g, lc, Pool::Max),
        Drop,
    ),
    (
        "MaxPooling3D",
        |g, lc| pooling::pool(g, lc, Pool::Max),
        Drop,
    ),
    (
        "AveragePooling1D",
        |g, lc| pooling::pool(g, lc, Pool::Average),
        Drop,
    ),
    (
        "AveragePooling2D",
        |g, lc| pooling::pool(g, lc, Pool::Average),
        Drop,
    ),
    (
        "AveragePooling3D",
        |g, lc| pooling::pool(g, lc, Pool::Average),
        Drop,
    ),
    (
        "GlobalMaxPooling2D",
        |g, lc| pooling::global_pool(g, lc, Pool::Max),
        Drop,
    ),
    (
        "GlobalMaxPooling3D",
        |g, lc| pooling::global_pool(g, lc, Pool::Max),
        Drop,
    ),
    (
        "GlobalAveragePooling2D",
        |g, lc| pooling::global_pool(g, lc, Pool::Average),
        Drop,
    ),
    (
        "GlobalAveragePooling3D",
        |g, lc| pooling::global_pool(g, lc, Pool::Average),
        Drop,
    ),
    ("ZeroPadding1D", padding::zero_padding, Drop),
    ("ZeroPadding2D", padding::zero_padding, Drop),
    ("ZeroPadding3D", padding::zero_padding, Drop),
    ("Cropping1D", padding::cropping, Drop),
    ("Cropping2D", padding::cropping, Drop),
    ("Cropping3D", padding::cropping, Drop),
    ("UpSampling1D", reshaping::up_sampling, Drop),
    ("UpSampling3D", reshaping::up_sampling, Drop),
    ("RandomFlip", core_layers::identity, Drop),
    ("RandomRotation", core_layers::identity, Drop),
    ("RandomZoom", core_layers::identity, Drop),
    ("RandomTranslation", core_layers::identity, Drop),
    ("RandomContrast", core_layers::identity, Drop),
    ("RandomBrightness", core_layers::identity, Drop),
    ("RandomCrop", core_layers::identity, Drop),
    (
        "GroupNormalization",
        normalization::group_normalization,
        Keep,
    ),
    ("UnitNormalization", normalization::unit_normalization, Keep),
    ("LayerScale", normalization::layer_scale, Drop),
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
    ("NotEqual", |g, lc| {
        numpy_ops::binary(g, lc, |g, a, b| g.compare(CompareOp::NotEqual, a, b))
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
    ("Resize", image::resize_op),
    ("RFFT", spectral::rfft),
    ("IRFFT", spectral::irfft),
    ("FFT", spectral::fft),
    ("FFT2", spectral::fft2),
    ("IFFT2", spectral::ifft2),
    ("Einsum", einsum_dense::einsum_op),
    ("DotProductAttention", attention::dot_product_attention_op),
    ("Take", indexing::take),
    ("TakeAlongAxis", indexing::take_along_axis),
    ("OneHot", indexing::one_hot),
    ("Argmax", |g, lc| indexing::arg_extreme(g, lc, true)),
    ("Argmin", |g, lc| indexing::arg_extreme(g, lc, false)),
    ("Argsort", indexing::argsort),
    ("Cumsum", indexing::cumsum),
    ("Tril", |g, lc| indexing::tri(g, lc, true)),
    ("Triu", |g, lc| indexing::tri(g, lc, false)),
    ("Any", indexing::any),
    ("OnesLike", |g, lc| indexing::filled_like(g, lc, 1.0)),
    ("ZerosLike", |g, lc| indexing::filled_like(g, lc, 0.0)),
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

fn lookup(layer: &LayerNode) -> Option<(LowerFn, Mask)> {
    if !is_builtin(layer) {
        return None;
    }
    let name = layer.class_name.as_str();
    match layer.kind {
        NodeKind::Op => OPS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| (*f, Drop)),
        _ => LAYERS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, f, m)| (*f, *m)),
    }
}

/// The supported class names, for the README table and `inspect`.
pub fn supported_layers() -> impl Iterator<Item = &'static str> {
    LAYERS
        .iter()
        .map(|(n, ..)| *n)
        .chain(recurrent::cell_classes())
}

pub fn supported_ops() -> impl Iterator<Item = &'static str> {
    OPS.iter().map(|(n, _)| *n)
}

/// Config keys under which Keras saves the layers a wrapper holds (Bidirectional,
/// TimeDistributed, RNN): each a serialized layer, or a list of them.
const WRAPPED: [&str; 4] = ["layer", "backward_layer", "cell", "cells"];

/// Why a layer (or a layer saved inside a wrapper's config) cannot be lowered, if it cannot.
fn unsupported_reason(layer: &LayerNode) -> Option<String> {
    if !is_builtin(layer) {
        return Some(format!("custom class from module '{}'", layer.module));
    }
    let known = lookup(layer).is_some()
        || matches!(layer.kind, NodeKind::Layer) && recurrent::is_cell(&layer.class_name);
    if !known {
        return Some(if matches!(layer.kind, NodeKind::Op) {
            format!("op from {} not supported", layer.module)
        } else {
            "layer not supported".to_string()
        });
    }
    ["activation", "recurrent_activation"]
        .iter()
        .find_map(|key| {
            layer
                .config
                .get(*key)
                .filter(|a| !activations::is_supported(a))
                .map(|a| format!("{key} {a} not supported"))
        })
}

/// Every unsupported layer or op in `model` and its nested models.
pub fn find_unsupported(model: &KerasModel, prefix: &str) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for layer in &model.layers {
        let path = format!("{prefix}{}", layer.name);
        match &layer.kind {
            NodeKind::Input(_) => {}
            NodeKind::Model(inner) => out.extend(find_unsupported(inner, &format!("{path}/"))),
            _ => {
                if let Some(reason) = unsupported_reason(layer) {
                    out.push(Unsupported {
                        path: path.clone(),
                        class_name: layer.class_name.clone(),
                        registered_name: layer.registered_name.clone(),
                        reason,
                    });
                }
                out.extend(unsupported_wrapped(&layer.config, &path));
            }
        }
    }
    out
}

/// The unsupported layers saved inside a wrapper's config (recursively).
fn unsupported_wrapped(config: &serde_json::Value, path: &str) -> Vec<Unsupported> {
    let mut out = Vec::new();
    for key in WRAPPED {
        let items = match config.get(key) {
            Some(serde_json::Value::Array(a)) => a.iter().collect(),
            Some(v) if v.is_object() => vec![v],
            _ => vec![],
        };
        for v in items {
            let inner = format!("{path}/{key}");
            if crate::loader::is_model_entry(v) {
                match crate::loader::wrapped_model(v, &[], "", path) {
                    Ok(m) => out.extend(find_unsupported(&m, &format!("{inner}/"))),
                    Err(e) => out.push(Unsupported {
                        path: inner,
                        class_name: "model".into(),
                        registered_name: None,
                        reason: e.to_string(),
                    }),
                }
                continue;
            }
            let Some(node) = wrapped::layer_node(v, Vec::new()) else {
                continue;
            };
            match &node.kind {
                NodeKind::Model(m) => out.extend(find_unsupported(m, &format!("{inner}/"))),
                _ => {
                    if let Some(reason) = unsupported_reason(&node) {
                        out.push(Unsupported {
                            path: inner.clone(),
                            class_name: node.class_name.clone(),
                            registered_name: node.registered_name.clone(),
                            reason: format!("{reason} (inside {path})"),
                        });
                    }
                    out.extend(unsupported_wrapped(&node.config, &inner));
                }
            }
        }
    }
    out
}

/// Lower one call of a supported layer or op: its outputs with their masks.
pub fn lower_call(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<KTensor>> {
    let (f, rule) = lookup(lc.layer).ok_or_else(|| lc.error("unsupported"))?;
    let outs = f(g, lc)?;
    let masks = match lc.take_output_masks() {
        Some(m) => m,
        None if rule == Keep => lc.previous_mask(),
        None => Vec::new(),
    };
    Ok(outs
        .iter()
        .enumerate()
        .map(|(k, &v)| KTensor {
            v,
            mask: masks.get(k).copied().flatten(),
        })
        .collect())
}
