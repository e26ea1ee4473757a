//! Convolution layers and ops (`keras/src/layers/convolutional/`, `keras/src/backend/jax/nn.py`;
//! docs/semantics/conv.md §1-3, §10): Conv1D/2D/3D (groups, causal), the transposed
//! convolutions, DepthwiseConv1D/2D, SeparableConv1D/2D and `keras.ops.conv`,
//! `depthwise_conv`, `separable_conv`. Keras is channels-last by default and OpenVINO's
//! convolutions are channels-first: channels-last data is transposed around each primitive,
//! and the kernels are permuted once, here, into OpenVINO's filter layouts.

use super::activations;
use super::call::{literal_tensor, LayerCall, Val};
use super::LResult;
use crate::opgraph::prim::window::Window;
use crate::opgraph::prim::{Conv, ConvTranspose};
use crate::opgraph::{OpGraph, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// Where the channels are: `data_format` of the layer or op (Keras saves it resolved).
pub fn channels_first(lc: &LayerCall) -> LResult<bool> {
    match lc.cfg("data_format").map(|v| v.as_str()) {
        None | Some(Some("channels_last")) => Ok(false),
        Some(Some("channels_first")) => Ok(true),
        Some(_) => Err(lc.error(format!(
            "unsupported data_format {}",
            lc.cfg("data_format").expect("present")
        ))),
    }
}

/// `x` in OpenVINO's layout `[N, C, *spatial]` (a transpose for channels-last data).
pub fn to_cf(g: &mut OpGraph, x: ValueId, cf: bool) -> LResult<ValueId> {
    if cf {
        return Ok(x);
    }
    let r = g.rank(x);
    let perm = [0, r - 1].into_iter().chain(1..r - 1).collect();
    Ok(g.transpose(x, perm)?)
}

/// The inverse of [`to_cf`].
pub fn from_cf(g: &mut OpGraph, y: ValueId, cf: bool) -> LResult<ValueId> {
    if cf {
        return Ok(y);
    }
    let r = g.rank(y);
    let perm = [0].into_iter().chain(2..r).chain([1]).collect();
    Ok(g.transpose(y, perm)?)
}

/// A spatial int argument: an int for every axis or one per axis (`default` when absent).
pub fn spatial_ints(lc: &LayerCall, key: &str, rank: usize, default: usize) -> LResult<Vec<usize>> {
    let Some(v) = lc.cfg_ints(key)? else {
        return Ok(vec![default; rank]);
    };
    let v: Vec<usize> = v
        .iter()
        .map(|&i| usize::try_from(i).ok().filter(|&i| i > 0))
        .collect::<Option<_>>()
        .ok_or_else(|| lc.error(format!("config '{key}' = {v:?} must hold positive ints")))?;
    match v.len() {
        1 => Ok(vec![v[0]; rank]),
        n if n == rank => Ok(v),
        _ => Err(lc.error(format!("config '{key}' = {v:?} for {rank} spatial axes"))),
    }
}

/// `padding` as a lower-case string.
pub fn padding_mode(lc: &LayerCall) -> LResult<String> {
    match lc.cfg("padding").map(|v| v.as_str()) {
        None => Ok("valid".into()),
        Some(Some(p)) => Ok(p.to_lowercase()),
        Some(None) => Err(lc.error(format!(
            "unsupported padding {} (only 'valid' and 'same')",
            lc.cfg("padding").expect("present")
        ))),
    }
}

/// The window of a convolution or pooling over spatial sizes `sp`: `valid` pads nothing,
/// `same` pads `max((ceil(n/s) - 1) s + extent - n, 0)` with the odd cell after (JAX's
/// `padtype_to_pads`).
pub fn window(
    lc: &LayerCall,
    mode: &str,
    sp: &[usize],
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
) -> LResult<Window> {
    let r = sp.len();
    let mut w = Window {
        kernel,
        strides,
        dilations,
        pads_begin: vec![0; r],
        pads_end: vec![0; r],
    };
    match mode {
        "valid" => {}
        "same" => {
            for (a, &n) in sp.iter().enumerate().take(r) {
                let out = n.div_ceil(w.strides[a]);
                let total = ((out - 1) * w.strides[a] + w.extent(a)).saturating_sub(n);
                w.pads_begin[a] = total / 2;
                w.pads_end[a] = total - total / 2;
            }
        }
        other => {
            return Err(lc.error(format!(
                "unsupported padding '{other}' (only 'valid' and 'same')"
            )))
        }
    }
    w.out_sizes(sp).map_err(|m| lc.error(m))?;
    Ok(w)
}

/// The static spatial sizes of channels-first data.
fn spatial_sizes(lc: &LayerCall, g: &OpGraph, xc: ValueId) -> LResult<Vec<usize>> {
    (2..g.rank(xc)).map(|a| lc.static_dim(g, xc, a)).collect()
}

/// `a` with its axes permuted, in standard layout.
fn permuted(a: &ArrayD<f32>, perm: &[usize]) -> ArrayD<f32> {
    a.clone()
        .permuted_axes(IxDyn(perm))
        .as_standard_layout()
        .into_owned()
}

/// OpenVINO filters from a grouped layout `[G, A, B, *k]`: as they are for several groups,
/// without the group axis for one.
fn filters(g: &mut OpGraph, w: ArrayD<f32>) -> (ValueId, usize) {
    let groups = w.shape()[0];
    let w = if groups == 1 {
        let s = w.shape()[1..].to_vec();
        w.into_shape_with_order(IxDyn(&s)).expect("same size")
    } else {
        w
    };
    (g.constant(Tensor::F32(w)), groups)
}

/// A Keras convolution kernel `(*k, C_in/G, F)` as grouped filters `[G, F/G, C_in/G, *k]`.
fn conv_filters(kernel: &ArrayD<f32>, groups: usize) -> ArrayD<f32> {
    let r = kernel.ndim() - 2;
    let (cin_g, f) = (kernel.shape()[r], kernel.shape()[r + 1]);
    let mut split = kernel.shape()[..r].to_vec();
    split.extend([cin_g, groups, f / groups]);
    let k5 = kernel
        .clone()
        .into_shape_with_order(IxDyn(&split))
        .expect("same size");
    let perm: Vec<usize> = [r + 1, r + 2, r].into_iter().chain(0..r).collect();
    permuted(&k5, &perm)
}

/// A Keras depthwise kernel `(*k, C, M)` as grouped filters `[C, M, 1, *k]`.
fn depthwise_filters(kernel: &ArrayD<f32>) -> ArrayD<f32> {
    let r = kernel.ndim() - 2;
    let perm: Vec<usize> = [r, r + 1].into_iter().chain(0..r).collect();
    let p = permuted(kernel, &perm);
    let mut s = p.shape().to_vec();
    s.insert(2, 1);
    p.into_shape_with_order(IxDyn(&s)).expect("same size")
}

/// `conv(x, filters)` on channels-first data.
fn apply_conv(g: &mut OpGraph, xc: ValueId, w: ArrayD<f32>, window: Window) -> LResult<ValueId> {
    let (wc, groups) = filters(g, w);
    Ok(g.apply(Conv { window, groups }, vec![xc, wc])?)
}

/// `y + bias` on channels-first data (bias `(F,)` along axis 1).
fn add_bias(g: &mut OpGraph, y: ValueId, bias: &ArrayD<f32>) -> LResult<ValueId> {
    let mut s = vec![1, bias.len()];
    s.extend(std::iter::repeat_n(1, g.rank(y) - 2));
    let b = bias
        .clone()
        .into_shape_with_order(IxDyn(&s))
        .expect("same size");
    let b = g.constant(Tensor::F32(b));
    Ok(g.add(y, b)?)
}

/// The fused activation of a layer, applied in the layer's own layout.
fn activate(g: &mut OpGraph, lc: &LayerCall, y: ValueId) -> LResult<ValueId> {
    let act = lc.cfg("activation").cloned().unwrap_or(Value::Null);
    activations::apply(g, lc, &act, y)
}

/// The common part of the convolution layers: input, layout, rank, channels, options.
struct ConvSetup {
    xc: ValueId,
    cf: bool,
    sp: Vec<usize>,
    cin: usize,
    kernel: Vec<usize>,
    strides: Vec<usize>,
    dilations: Vec<usize>,
    use_bias: bool,
}

impl ConvSetup {
    /// The end every convolution layer shares: the bias (when `use_bias`), back to the
    /// layer's data format, the fused activation.
    fn finish(
        &self,
        g: &mut OpGraph,
        lc: &LayerCall,
        y: ValueId,
        bias: Option<&ArrayD<f32>>,
    ) -> LResult<Vec<ValueId>> {
        let y = match bias.filter(|_| self.use_bias) {
            Some(b) => add_bias(g, y, b)?,
            None => y,
        };
        let y = from_cf(g, y, self.cf)?;
        Ok(vec![activate(g, lc, y)?])
    }
}

fn setup(g: &mut OpGraph, lc: &LayerCall, min_rank: usize) -> LResult<ConvSetup> {
    let x = lc.input()?;
    let rank = g.rank(x);
    if rank < min_rank {
        return Err(lc.error(format!(
            "needs an input of rank {min_rank} or more, got {rank}"
        )));
    }
    let r = rank - 2;
    let cf = channels_first(lc)?;
    let xc = to_cf(g, x, cf)?;
    let sp = spatial_sizes(lc, g, xc)?;
    let cin = lc.static_dim(g, xc, 1)?;
    Ok(ConvSetup {
        xc,
        cf,
        sp,
        cin,
        kernel: spatial_ints(lc, "kernel_size", r, 1)?,
        strides: spatial_ints(lc, "strides", r, 1)?,
        dilations: spatial_ints(lc, "dilation_rate", r, 1)?,
        use_bias: lc.cfg_bool("use_bias", true)?,
    })
}

/// A positive int from the config.
fn count(lc: &LayerCall, key: &str, default: Option<usize>) -> LResult<usize> {
    match lc.cfg_i64(key)? {
        Some(v) => usize::try_from(v).ok().filter(|&v| v > 0),
        None => default,
    }
    .ok_or_else(|| lc.error(format!("config '{key}' must be a positive int")))
}

/// Conv1D, Conv2D, Conv3D: `activation(conv(x, kernel) + bias)`, kernel `(*k, C_in/G, F)`;
/// `causal` (Conv1D) pads `d (k - 1)` zeros before, then `valid`.
pub fn conv(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let s = setup(g, lc, 3)?;
    let filters_n = count(lc, "filters", None)?;
    let groups = count(lc, "groups", Some(1))?;
    if s.cin % groups != 0 || filters_n % groups != 0 {
        return Err(lc.error(format!(
            "groups {groups} must divide the {} input channels and the {filters_n} filters",
            s.cin
        )));
    }
    let mut kshape = s.kernel.clone();
    kshape.extend([s.cin / groups, filters_n]);
    let mut expected = vec![("kernel", kshape)];
    if s.use_bias {
        expected.push(("bias", vec![filters_n]));
    }
    let w = lc.weights(&expected)?;
    let mut mode = padding_mode(lc)?;
    let (mut xc, mut sp) = (s.xc, s.sp.clone());
    if mode == "causal" {
        if sp.len() != 1 {
            return Err(lc.error("unsupported: causal padding is for Conv1D only"));
        }
        let left = (s.dilations[0] * (s.kernel[0] - 1)) as i64;
        let p = crate::opgraph::prim::Pad {
            begin: vec![0, 0, left],
            end: vec![0, 0, 0],
            value: crate::opgraph::prim::F32(0.0),
        };
        xc = g.apply(p, vec![xc])?;
        sp[0] += left as usize;
        mode = "valid".into();
    }
    let win = window(
        lc,
        &mode,
        &sp,
        s.kernel.clone(),
        s.strides.clone(),
        s.dilations.clone(),
    )?;
    let y = apply_conv(g, xc, conv_filters(w[0], groups), win)?;
    s.finish(g, lc, y, w.get(1).copied())
}

/// Conv1DTranspose, Conv2DTranspose, Conv3DTranspose: kernel `(*k, F, C_in)`. Keras' pads
/// (`compute_conv_transpose_padding_args_for_jax`) become OpenVINO's crops and output padding
/// (docs/semantics/conv.md §2).
pub fn conv_transpose(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let s = setup(g, lc, 3)?;
    let r = s.sp.len();
    let filters_n = count(lc, "filters", None)?;
    let mut kshape = s.kernel.clone();
    kshape.extend([filters_n, s.cin]);
    let mut expected = vec![("kernel", kshape)];
    if s.use_bias {
        expected.push(("bias", vec![filters_n]));
    }
    let w = lc.weights(&expected)?;
    let output_padding = match lc.cfg("output_padding") {
        None => None,
        Some(_) => Some(spatial_ints_zero(lc, "output_padding", r)?),
    };
    let mode = padding_mode(lc)?;
    let mut win = Window {
        kernel: s.kernel.clone(),
        strides: s.strides.clone(),
        dilations: s.dilations.clone(),
        pads_begin: vec![0; r],
        pads_end: vec![0; r],
    };
    let mut op = vec![0; r];
    for a in 0..r {
        let (k, st) = (win.extent(a) as i64, s.strides[a] as i64);
        let out_pad = output_padding.as_ref().map(|o| o[a] as i64);
        let (left, right) = match mode.as_str() {
            "valid" => {
                let o = out_pad.unwrap_or(k.max(st) - k);
                (k - 1, k - 1 + o)
            }
            "same" => {
                let len = match out_pad {
                    None => st + k - 2,
                    Some(o) => k + k % 2 - 2 + o,
                };
                let left = (len / 2 + len % 2).min(k - 1);
                (left, len - left)
            }
            other => {
                return Err(lc.error(format!(
                    "unsupported padding '{other}' (only 'valid' and 'same')"
                )))
            }
        };
        win.pads_begin[a] = (k - 1 - left) as usize;
        if right < k {
            win.pads_end[a] = (k - 1 - right) as usize;
        } else {
            op[a] = (right - (k - 1)) as usize;
        }
    }
    // (*k, F, C_in) -> [C_in, F, *k], one group.
    let perm: Vec<usize> = [r + 1, r].into_iter().chain(0..r).collect();
    let wt = permuted(w[0], &perm);
    let wc = g.constant(Tensor::F32(wt));
    let p = ConvTranspose {
        window: win,
        output_padding: op,
        groups: 1,
    };
    let y = g.apply(p, vec![s.xc, wc])?;
    s.finish(g, lc, y, w.get(1).copied())
}

/// Non-negative ints per spatial axis (output padding).
fn spatial_ints_zero(lc: &LayerCall, key: &str, rank: usize) -> LResult<Vec<usize>> {
    let v = lc.cfg_ints(key)?.unwrap_or_default();
    let v: Vec<usize> = v
        .iter()
        .map(|&i| usize::try_from(i).ok())
        .collect::<Option<_>>()
        .ok_or_else(|| lc.error(format!("config '{key}' = {v:?} must hold ints >= 0")))?;
    match v.len() {
        1 => Ok(vec![v[0]; rank]),
        n if n == rank => Ok(v),
        _ => Err(lc.error(format!("config '{key}' = {v:?} for {rank} spatial axes"))),
    }
}

/// DepthwiseConv1D/2D: channel `c` convolved with `kernel[..., c, m]` gives output channel
/// `c M + m`; kernel `(*k, C, M)`, bias `(C M,)`.
pub fn depthwise_conv(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let s = setup(g, lc, 3)?;
    let m = count(lc, "depth_multiplier", Some(1))?;
    let mut kshape = s.kernel.clone();
    kshape.extend([s.cin, m]);
    let mut expected = vec![("kernel", kshape)];
    if s.use_bias {
        expected.push(("bias", vec![s.cin * m]));
    }
    let w = lc.weights(&expected)?;
    let mode = padding_mode(lc)?;
    let win = window(
        lc,
        &mode,
        &s.sp,
        s.kernel.clone(),
        s.strides.clone(),
        s.dilations.clone(),
    )?;
    let y = apply_conv(g, s.xc, depthwise_filters(w[0]), win)?;
    s.finish(g, lc, y, w.get(1).copied())
}

/// SeparableConv1D/2D: the depthwise step (strides, padding, dilation), then a 1x1
/// convolution, then one bias; weights `depthwise_kernel (*k, C, M)`,
/// `pointwise_kernel (1.., C M, F)`, `bias (F,)`.
pub fn separable_conv(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let s = setup(g, lc, 3)?;
    let r = s.sp.len();
    let m = count(lc, "depth_multiplier", Some(1))?;
    let f = count(lc, "filters", None)?;
    let mut dshape = s.kernel.clone();
    dshape.extend([s.cin, m]);
    let mut pshape = vec![1; r];
    pshape.extend([s.cin * m, f]);
    let mut expected = vec![("depthwise_kernel", dshape), ("pointwise_kernel", pshape)];
    if s.use_bias {
        expected.push(("bias", vec![f]));
    }
    let w = lc.weights(&expected)?;
    let mode = padding_mode(lc)?;
    let win = window(
        lc,
        &mode,
        &s.sp,
        s.kernel.clone(),
        s.strides.clone(),
        s.dilations.clone(),
    )?;
    let y = separable(g, s.xc, w[0], w[1], win)?;
    s.finish(g, lc, y, w.get(2).copied())
}

/// Depthwise then pointwise (channels-first).
fn separable(
    g: &mut OpGraph,
    xc: ValueId,
    dk: &ArrayD<f32>,
    pk: &ArrayD<f32>,
    win: Window,
) -> LResult<ValueId> {
    let r = win.rank();
    let d = apply_conv(g, xc, depthwise_filters(dk), win)?;
    let one = Window {
        kernel: vec![1; r],
        strides: vec![1; r],
        dilations: vec![1; r],
        pads_begin: vec![0; r],
        pads_end: vec![0; r],
    };
    apply_conv(g, d, conv_filters(pk, 1), one)
}

/// A constant tensor argument of an op (a kernel inlined as `__numpy__`).
fn kernel_arg(lc: &LayerCall, i: usize, name: &str) -> LResult<ArrayD<f32>> {
    match lc.arg(i, name) {
        Some(Val::Lit(v)) => match literal_tensor(v) {
            Some(Tensor::F32(a)) => Ok(a),
            _ => Err(lc.error(format!("argument '{name}' is not a numeric array"))),
        },
        Some(Val::T(_)) => Err(lc.error(format!(
            "unsupported: argument '{name}' is a tensor computed by the model (only constant kernels)"
        ))),
        _ => Err(lc.error(format!("missing argument '{name}'"))),
    }
}

/// The op form: input, channels-first input, spatial sizes, layout, window options.
fn op_setup(
    g: &mut OpGraph,
    lc: &LayerCall,
    kernel: &ArrayD<f32>,
) -> LResult<(ValueId, bool, Window)> {
    let x = match lc.arg(0, "inputs") {
        Some(Val::T(t)) => t.v,
        _ => return Err(lc.error("the first argument must be a tensor")),
    };
    let r = g.rank(x).saturating_sub(2);
    if r == 0 || kernel.ndim() != r + 2 {
        return Err(lc.error(format!(
            "a kernel of rank {} for an input of rank {}",
            kernel.ndim(),
            g.rank(x)
        )));
    }
    let cf = channels_first(lc)?;
    let xc = to_cf(g, x, cf)?;
    let sp = spatial_sizes(lc, g, xc)?;
    let mode = padding_mode(lc)?;
    let k = kernel.shape()[..r].to_vec();
    let strides = spatial_ints(lc, "strides", r, 1)?;
    let dil = spatial_ints(lc, "dilation_rate", r, 1)?;
    let win = window(lc, &mode, &sp, k, strides, dil)?;
    Ok((xc, cf, win))
}

/// `keras.ops.conv(x, kernel, strides, padding, data_format, dilation_rate)`.
pub fn conv_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let k = kernel_arg(lc, 1, "kernel")?;
    let (xc, cf, win) = op_setup(g, lc, &k)?;
    let cin = lc.static_dim(g, xc, 1)?;
    let kin = k.shape()[win.rank()];
    if kin == 0 || cin % kin != 0 {
        return Err(lc.error(format!(
            "a kernel for {kin} input channels, the input has {cin}"
        )));
    }
    let y = apply_conv(g, xc, conv_filters(&k, cin / kin), win)?;
    Ok(vec![from_cf(g, y, cf)?])
}

/// `keras.ops.depthwise_conv(x, kernel, ...)`.
pub fn depthwise_conv_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let k = kernel_arg(lc, 1, "kernel")?;
    let (xc, cf, win) = op_setup(g, lc, &k)?;
    let y = apply_conv(g, xc, depthwise_filters(&k), win)?;
    Ok(vec![from_cf(g, y, cf)?])
}

/// `keras.ops.separable_conv(x, depthwise_kernel, pointwise_kernel, ...)`.
pub fn separable_conv_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let dk = kernel_arg(lc, 1, "depthwise_kernel")?;
    let pk = kernel_arg(lc, 2, "pointwise_kernel")?;
    let (xc, cf, win) = op_setup(g, lc, &dk)?;
    let y = separable(g, xc, &dk, &pk, win)?;
    Ok(vec![from_cf(g, y, cf)?])
}
