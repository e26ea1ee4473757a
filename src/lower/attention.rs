//! The attention layers (MultiHeadAttention, GroupQueryAttention, Attention,
//! AdditiveAttention) and `keras.ops.dot_product_attention`, with Keras 3.15's formulas and
//! masks (`docs/semantics/sequence.md` §12-§16): projections are EinsumDense layers
//! (`einsum_dense.rs`), einsums become matmuls (`einsum.rs`), masked scores are selected away
//! before the softmax.

use super::call::{LayerCall, Val};
use super::einsum::einsum;
use super::einsum_dense::{einsum_dense_with, kernel_and_bias, lerr};
use super::{activations, LResult};
use crate::opgraph::{BinaryOp, CompareOp, DType, OpGraph, Tensor, UnaryOp, ValueId};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// `jax.nn.dot_product_attention`'s fill for masked logits: `-0.7 * float32 max`.
const JAX_LARGE_NEGATIVE: f32 = -0.7 * f32::MAX;
/// The `Softmax` layer's fill for masked inputs.
const SOFTMAX_LARGE_NEGATIVE: f32 = -1e9;

/// `_build_proj_equation(free, bound, output)` of multi_head_attention.py.
fn proj_equation(free: usize, bound: usize, output: usize) -> String {
    let letter = |i: usize| (b'a' + i as u8) as char;
    let (mut input, mut kernel, mut out) = (String::new(), String::new(), String::new());
    for i in 0..free {
        input.push(letter(i));
        out.push(letter(i));
    }
    for i in free..free + bound {
        input.push(letter(i));
        kernel.push(letter(i));
    }
    for i in free + bound..free + bound + output {
        kernel.push(letter(i));
        out.push(letter(i));
    }
    format!("{input},{kernel}->{out}")
}

/// `_build_attention_equation(rank, attn_axes)`: the dot-product and combine equations and
/// the rank of the scores.
fn attention_equations(rank: usize, axes: &[usize]) -> (String, String, usize) {
    let letter = |i: usize| (b'a' + i as u8) as char;
    let target: Vec<char> = (0..rank).map(letter).collect();
    let batch: Vec<usize> = (0..rank)
        .filter(|i| !axes.contains(i) && *i != rank - 1)
        .collect();
    let mut offset = rank;
    let mut source = Vec::new();
    for (i, &c) in target.iter().enumerate() {
        if batch.contains(&i) || i == rank - 1 {
            source.push(c);
        } else {
            source.push(letter(offset));
            offset += 1;
        }
    }
    let product: String = batch
        .iter()
        .map(|&i| target[i])
        .chain(axes.iter().map(|&i| target[i]))
        .chain(axes.iter().map(|&i| source[i]))
        .collect();
    let (s, t): (String, String) = (source.iter().collect(), target.iter().collect());
    let dot = format!("{s},{t}->{product}");
    let combine = format!("{product},{s}->{t}");
    (dot, combine, product.len())
}

/// A bool tensor from a mask given as bool or number (non-zero keeps).
fn as_bool(g: &mut OpGraph, m: ValueId) -> LResult<ValueId> {
    if g.dtype(m) == DType::Bool {
        return Ok(m);
    }
    let zero = g.constant(Tensor::scalar_of(g.dtype(m), 0.0));
    Ok(g.compare(CompareOp::NotEqual, m, zero)?)
}

fn and(g: &mut OpGraph, a: Option<ValueId>, b: ValueId) -> LResult<ValueId> {
    Ok(match a {
        Some(a) => {
            let f = g.constant(Tensor::scalar_of(DType::Bool, 0.0));
            g.select(a, b, f)?
        }
        None => b,
    })
}

/// A constant bool `[1, t, s]` mask with `keep(i, j)`.
fn pattern(g: &mut OpGraph, t: usize, s: usize, keep: impl Fn(usize, usize) -> bool) -> ValueId {
    let a = ArrayD::from_shape_fn(IxDyn(&[1, t, s]), |ix| keep(ix[1], ix[2]));
    g.constant(Tensor::Bool(a))
}

/// A literal boolean keyword argument of the call (`use_causal_mask`, ...).
fn flag(lc: &LayerCall, name: &str) -> bool {
    matches!(
        lc.kwargs.iter().find(|(k, _)| k == name),
        Some((_, Val::Lit(Value::Bool(true))))
    )
}

/// The tensor given for keyword argument (or position) `name`.
fn tensor(lc: &LayerCall, i: usize, name: &str) -> Option<super::KTensor> {
    match lc.arg(i, name) {
        Some(Val::T(t)) => Some(*t),
        _ => None,
    }
}

/// `where(mask, x, fill)` with `mask` broadcast against `x`.
fn fill_where(g: &mut OpGraph, mask: ValueId, x: ValueId, fill: f32) -> LResult<ValueId> {
    let f = g.scalar(fill);
    Ok(g.select(mask, x, f)?)
}

/// `mask` (rank `r`) with size-1 axes inserted at `axis` (negative: from the end) until it has
/// rank `rank`, as `ops.expand_dims` in a loop.
fn expand_to(g: &mut OpGraph, mask: ValueId, rank: usize, axis: i64) -> LResult<ValueId> {
    let mut m = mask;
    while g.rank(m) < rank {
        let r = g.rank(m) as i64 + 1;
        let a = if axis < 0 { r + axis } else { axis };
        m = g.expand_dims(m, a as usize)?;
    }
    Ok(m)
}

/// `jax.nn.dot_product_attention` (XLA path): `q [B, T, N, H]`, `k`, `v [B, S, K, H]` with
/// `N % K == 0` (query head `n` uses key head `n / (N / K)`), optional additive `bias` and
/// bool `mask` broadcastable to `[B, N, T, S]`, top-left causal mask.
#[allow(clippy::too_many_arguments)]
fn dot_product_attention(
    g: &mut OpGraph,
    lc: &LayerCall,
    q: ValueId,
    k: ValueId,
    v: ValueId,
    bias: Option<ValueId>,
    mask: Option<ValueId>,
    scale: f32,
    causal: bool,
) -> LResult<ValueId> {
    let dims = |g: &OpGraph, x: ValueId| -> LResult<Vec<usize>> {
        if g.rank(x) != 4 {
            return Err(lc.error("dot_product_attention needs rank-4 query, key and value"));
        }
        g.shape(x)[1..]
            .iter()
            .map(|d| d.ok_or_else(|| lc.error("dot_product_attention needs static shapes")))
            .collect()
    };
    let (qd, kd) = (dims(g, q)?, dims(g, k)?);
    let (t, n, h) = (qd[0], qd[1], qd[2]);
    let (s, kh) = (kd[0], kd[1]);
    if kh == 0 || n % kh != 0 {
        return Err(lc.error(format!("{n} query heads cannot share {kh} key heads")));
    }
    let grp = n / kh;
    let b = g.shape(q)[0];
    // logits [B, N, T, S]; with grouped heads, queries as [B, T, K, G, H]. (One head per key
    // head keeps the 4-D form the CPU plugin fuses into one attention kernel.)
    let logits = if grp == 1 {
        einsum(g, "btnh,bsnh->bnts", &[q, k]).map_err(lerr(lc))?
    } else {
        let q5 = g.reshape(q, vec![b, Some(t), Some(kh), Some(grp), Some(h)])?;
        let l5 = einsum(g, "btkgh,bskh->bkgts", &[q5, k]).map_err(lerr(lc))?;
        g.reshape(l5, vec![b, Some(n), Some(t), Some(s)])?
    };
    let mut logits = g.binary_scalar(BinaryOp::Mul, logits, scale)?;
    if let Some(bias) = bias {
        logits = g.add(logits, bias)?;
    }
    let mut keep = match mask {
        Some(m) => Some(as_bool(g, m)?),
        None => None,
    };
    if causal {
        let c = pattern(g, t, s, |i, j| j <= i);
        keep = Some(and(g, keep, c)?);
    }
    if let Some(m) = keep {
        logits = fill_where(g, m, logits, JAX_LARGE_NEGATIVE)?;
    }
    let probs = g.softmax(logits, 3, false)?;
    if grp == 1 {
        return einsum(g, "bnts,bsnh->btnh", &[probs, v]).map_err(lerr(lc));
    }
    let p5 = g.reshape(probs, vec![b, Some(kh), Some(grp), Some(t), Some(s)])?;
    let o5 = einsum(g, "bkgts,bskh->btkgh", &[p5, v]).map_err(lerr(lc))?;
    let vh = g.shape(v)[3];
    Ok(g.reshape(o5, vec![b, Some(t), Some(n), vh])?)
}

/// `keras.ops.dot_product_attention(query, key, value, bias, mask, scale, is_causal)`.
pub fn dot_product_attention_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let get = |i: usize, name: &str| tensor(lc, i, name).map(|t| t.v);
    let q = get(0, "query").ok_or_else(|| lc.error("missing 'query'"))?;
    let k = get(1, "key").ok_or_else(|| lc.error("missing 'key'"))?;
    let v = get(2, "value").ok_or_else(|| lc.error("missing 'value'"))?;
    let bias = get(3, "bias");
    let mask = get(4, "mask");
    let h = lc.static_dim(g, q, 3)?;
    let scale = match lc.arg(5, "scale") {
        Some(Val::Lit(Value::Number(n))) => n.as_f64().unwrap_or(0.0) as f32,
        _ => 1.0 / (h as f32).sqrt(),
    };
    let causal = lc.cfg_bool("is_causal", false)? || flag(lc, "is_causal");
    if lc.cfg("attn_logits_soft_cap").is_some() {
        return Err(lc.error("unsupported: attn_logits_soft_cap"));
    }
    let y = dot_product_attention(g, lc, q, k, v, bias, mask, scale, causal)?;
    Ok(vec![y])
}

/// What MultiHeadAttention and GroupQueryAttention share: projected `q [B, T, .., N, H]`,
/// `k`, `v`, the attention mask and the options.
struct Projected {
    q: ValueId,
    k: ValueId,
    v: ValueId,
    gate: Option<ValueId>,
    mask: Option<ValueId>,
    causal_only: bool,
    fast: bool,
    scale: f32,
}

/// `_compute_attention_mask` of both layers: `[B, T, S]` (or `[1, T, S]`) bool, or `None`.
fn attention_mask(
    g: &mut OpGraph,
    lc: &LayerCall,
    query: ValueId,
    value: ValueId,
    masks: [Option<ValueId>; 3],
    explicit: Option<ValueId>,
    causal: bool,
) -> LResult<Option<ValueId>> {
    let t = lc.static_dim(g, query, 1)?;
    let s = lc.static_dim(g, value, 1)?;
    let mut auto: Option<ValueId> = None;
    for (k, m) in masks.iter().enumerate() {
        let Some(m) = *m else { continue };
        let m = as_bool(g, m)?;
        let r = g.rank(m);
        let e = g.expand_dims(m, if k == 0 { r } else { r - 1 })?;
        auto = Some(and(g, auto, e)?);
    }
    if causal {
        let c = pattern(g, t, s, |i, j| i >= j);
        auto = Some(and(g, auto, c)?);
    }
    if let Some(w) = lc.cfg_i64("sliding_window")? {
        let c = pattern(g, t, s, |i, j| (i as i64 - j as i64).abs() < w);
        auto = Some(and(g, auto, c)?);
    }
    let explicit = match explicit {
        Some(m) => Some(as_bool(g, m)?),
        None => None,
    };
    Ok(match (auto, explicit) {
        (Some(a), e) => Some(and(g, e, a)?),
        (None, e) => e,
    })
}

/// The output projection (and gate) of both layers, then the outputs with the scores.
fn finish(
    g: &mut OpGraph,
    lc: &LayerCall,
    out: ValueId,
    gate: Option<ValueId>,
    out_part: &str,
    out_eq: &str,
    scores: Option<ValueId>,
) -> LResult<Vec<ValueId>> {
    let o = match gate {
        Some(gv) => g.mul(out, gv)?,
        None => out,
    };
    let have = lc.sub_weights(out_part);
    let rank = out_eq
        .split(',')
        .nth(1)
        .map_or(0, |k| k.split("->").next().unwrap_or("").len());
    let (kw, bw) = kernel_and_bias(lc, &have, rank, out_part)?;
    let y = einsum_dense_with(g, lc, out_eq, o, kw, bw, &Value::Null)?;
    let mut outs = vec![y];
    if flag(lc, "return_attention_scores") {
        outs.push(scores.ok_or_else(|| lc.error("no attention scores on this path"))?);
    }
    Ok(outs)
}

/// `_masked_softmax`: the `Softmax` layer with a mask (masked inputs -1e9, masked outputs 0)
/// over `axes`, the mask expanded at `axis` to the scores' rank.
fn masked_softmax(
    g: &mut OpGraph,
    scores: ValueId,
    mask: Option<ValueId>,
    axes: &[usize],
    expand_axis: i64,
) -> LResult<ValueId> {
    let Some(m) = mask else {
        return Ok(activations::softmax(g, scores, axes, false)?);
    };
    let m = expand_to(g, m, g.rank(scores), expand_axis)?;
    let x = fill_where(g, m, scores, SOFTMAX_LARGE_NEGATIVE)?;
    let p = activations::softmax(g, x, axes, false)?;
    fill_where(g, m, p, 0.0)
}

/// `keras.layers.MultiHeadAttention` (`query`, `value`, `key`, masks, `attention_mask`,
/// `use_causal_mask`, `return_attention_scores`, `output_shape`, `attention_axes`).
pub fn multi_head_attention(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let query = tensor(lc, 0, "query").ok_or_else(|| lc.error("missing 'query'"))?;
    let value = tensor(lc, 1, "value").ok_or_else(|| lc.error("missing 'value'"))?;
    let key = tensor(lc, 2, "key");
    let heads = cfg_usize(lc, "num_heads")?;
    let key_dim = cfg_usize(lc, "key_dim")?;
    let value_dim = match lc.cfg_i64("value_dim")? {
        Some(_) => cfg_usize(lc, "value_dim")?,
        None => key_dim,
    };
    let rq = g.rank(query.v);
    let kt = key.unwrap_or(value);
    let causal = flag(lc, "use_causal_mask");
    // The query's own mask (an explicit query_mask is ignored); value/key masks explicit or
    // from the tensors.
    let explicit = |name: &str| {
        lc.tensor_kwarg(name)
            .and_then(|v| v.tensors().first().map(|t| t.v))
    };
    let value_mask = explicit("value_mask").or(value.mask);
    let key_mask = explicit("key_mask").or(key.and_then(|k| k.mask));
    let attn = explicit("attention_mask");
    let window = lc.cfg_i64("sliding_window")?;
    let causal_only = causal
        && query.mask.is_none()
        && value_mask.is_none()
        && key_mask.is_none()
        && attn.is_none()
        && window.is_none();
    let mask = if causal_only {
        None
    } else {
        let m = [query.mask, value_mask, key_mask];
        attention_mask(g, lc, query.v, value.v, m, attn, causal)?
    };
    let proj = |g: &mut OpGraph, part: &str, x: ValueId, act: &Value| -> LResult<ValueId> {
        let eq = proj_equation(g.rank(x) - 1, 1, 2);
        let have = lc.sub_weights(part);
        let (k, b) = kernel_and_bias(lc, &have, 3, part)?;
        einsum_dense_with(g, lc, &eq, x, k, b, act)
    };
    let gate = if lc.cfg_bool("use_gate", false)? {
        Some(proj(
            g,
            "_gate_dense",
            query.v,
            &Value::String("sigmoid".into()),
        )?)
    } else {
        None
    };
    let q = proj(g, "query_dense", query.v, &Value::Null)?;
    let k = proj(g, "key_dense", kt.v, &Value::Null)?;
    let v = proj(g, "value_dense", value.v, &Value::Null)?;
    let rank = rq + 1;
    let axes: Vec<usize> = match lc.cfg_ints("attention_axes")? {
        Some(a) => a
            .iter()
            .map(|&x| {
                if x < 0 {
                    (rank as i64 - 1 + x) as usize
                } else {
                    x as usize
                }
            })
            .collect(),
        None => (1..rank - 2).collect(),
    };
    let p = Projected {
        q,
        k,
        v,
        gate,
        mask,
        causal_only,
        fast: lc.cfg_f64("dropout", 0.0)? == 0.0
            && !flag(lc, "return_attention_scores")
            && rank == 4,
        scale: 1.0 / (key_dim as f32).sqrt(),
    };
    let _ = (heads, value_dim);
    let (out, scores) = if p.fast {
        (fast_path(g, lc, &p, causal)?, None)
    } else {
        let (dot, combine, srank) = attention_equations(rank, &axes);
        let mask = if p.causal_only {
            let t = lc.static_dim(g, query.v, 1)?;
            let s = lc.static_dim(g, value.v, 1)?;
            Some(pattern(g, t, s, |i, j| i >= j))
        } else {
            p.mask
        };
        let qs = g.binary_scalar(BinaryOp::Mul, p.q, p.scale)?;
        let sc = einsum(g, &dot, &[p.k, qs]).map_err(lerr(lc))?;
        let norm: Vec<usize> = (srank - axes.len()..srank).collect();
        let probs = masked_softmax(g, sc, mask, &norm, -(axes.len() as i64) * 2 - 1)?;
        let o = einsum(g, &combine, &[probs, p.v]).map_err(lerr(lc))?;
        (o, Some(probs))
    };
    let out_dims = match lc.cfg("output_shape") {
        Some(v) => super::call::ints(v).map_or(1, |d| d.len()),
        None => 1,
    };
    let out_eq = proj_equation(rq - 1, 2, out_dims);
    finish(g, lc, out, p.gate, "output_dense", &out_eq, scores)
}

/// Path A of both layers: `ops.dot_product_attention` on `[B, T, N, H]`.
fn fast_path(g: &mut OpGraph, lc: &LayerCall, p: &Projected, causal: bool) -> LResult<ValueId> {
    if p.causal_only {
        return dot_product_attention(g, lc, p.q, p.k, p.v, None, None, p.scale, true);
    }
    let mask = match p.mask {
        Some(m) => Some(expand_to(g, m, 4, -3)?),
        None => None,
    };
    dot_product_attention(g, lc, p.q, p.k, p.v, None, mask, p.scale, causal)
}

fn cfg_usize(lc: &LayerCall, key: &str) -> LResult<usize> {
    lc.cfg_i64(key)?
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0)
        .ok_or_else(|| lc.error(format!("config has no '{key}' (a positive count)")))
}

/// `keras.layers.GroupQueryAttention` (`num_query_heads`, `num_key_value_heads`, `head_dim`):
/// key and value heads repeated (`ops.repeat`) to the query heads, then MHA's scheme.
pub fn group_query_attention(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let query = tensor(lc, 0, "query").ok_or_else(|| lc.error("missing 'query'"))?;
    let value = tensor(lc, 1, "value").ok_or_else(|| lc.error("missing 'value'"))?;
    let key = tensor(lc, 2, "key");
    let nq = cfg_usize(lc, "num_query_heads")?;
    let nkv = cfg_usize(lc, "num_key_value_heads")?;
    let head_dim = cfg_usize(lc, "head_dim")?;
    if nq % nkv != 0 {
        return Err(lc.error(format!(
            "{nq} query heads cannot share {nkv} key/value heads"
        )));
    }
    let kt = key.unwrap_or(value);
    let causal = flag(lc, "use_causal_mask");
    let explicit = |name: &str| {
        lc.tensor_kwarg(name)
            .and_then(|v| v.tensors().first().map(|t| t.v))
    };
    // The masks as Layer.__call__ fills them: explicit, else the tensors' own.
    let query_mask = explicit("query_mask").or(query.mask);
    let value_mask = explicit("value_mask").or(value.mask);
    let key_mask = explicit("key_mask").or(key.and_then(|k| k.mask));
    let attn = explicit("attention_mask");
    let window = lc.cfg_i64("sliding_window")?;
    let causal_only = causal
        && query_mask.is_none()
        && value_mask.is_none()
        && key_mask.is_none()
        && attn.is_none()
        && window.is_none();
    let mask = if causal_only {
        None
    } else {
        let m = [query_mask, value_mask, key_mask];
        attention_mask(g, lc, query.v, value.v, m, attn, causal)?
    };
    let proj = |g: &mut OpGraph, part: &str, eq: &str, x: ValueId, act: &Value| {
        let have = lc.sub_weights(part);
        let (k, b) = kernel_and_bias(lc, &have, 3, part)?;
        einsum_dense_with(g, lc, eq, x, k, b, act)
    };
    let gate = if lc.cfg_bool("use_gate", false)? {
        let sig = Value::String("sigmoid".into());
        Some(proj(g, "_gate_dense", "bqm,muh->bquh", query.v, &sig)?)
    } else {
        None
    };
    let q = proj(g, "_query_dense", "bqm,muh->bquh", query.v, &Value::Null)?;
    let k = proj(g, "_key_dense", "bkm,mvh->bkvh", kt.v, &Value::Null)?;
    let v = proj(g, "_value_dense", "bkm,mvh->bkvh", value.v, &Value::Null)?;
    // ops.repeat(x, nq / nkv, axis=2): head u reads kv head u / (nq / nkv).
    let reps = nq / nkv;
    let idx: Vec<i32> = (0..nq).map(|u| (u / reps) as i32).collect();
    let idx = g.constant(Tensor::I32(
        ArrayD::from_shape_vec(IxDyn(&[nq]), idx).expect("nq"),
    ));
    let repeat = |g: &mut OpGraph, x: ValueId| {
        let p = crate::opgraph::prim::Take {
            axis: 2,
            fill: crate::opgraph::prim::F32(f32::NAN),
        };
        g.apply(p, vec![x, idx])
    };
    let (k, v) = if reps > 1 {
        (repeat(g, k)?, repeat(g, v)?)
    } else {
        (k, v)
    };
    let p = Projected {
        q,
        k,
        v,
        gate,
        mask,
        causal_only,
        fast: lc.cfg_f64("dropout", 0.0)? == 0.0 && !flag(lc, "return_attention_scores"),
        scale: 1.0 / (head_dim as f32).sqrt(),
    };
    let (out, scores) = if p.fast {
        (fast_path(g, lc, &p, causal)?, None)
    } else {
        let mask = if p.causal_only {
            let t = lc.static_dim(g, query.v, 1)?;
            let s = lc.static_dim(g, value.v, 1)?;
            Some(pattern(g, t, s, |i, j| i >= j))
        } else {
            p.mask
        };
        let qs = g.binary_scalar(BinaryOp::Mul, p.q, p.scale)?;
        let sc = einsum(g, "bquh,bkuh->buqk", &[qs, p.k]).map_err(lerr(lc))?;
        let probs = masked_softmax(g, sc, mask, &[3], -3)?;
        let o = einsum(g, "buqk,bkuh->bquh", &[probs, p.v]).map_err(lerr(lc))?;
        (o, Some(probs))
    };
    finish(g, lc, out, p.gate, "_output_dense", "bquh,uhm->bqm", scores)
}

/// The `[query, value(, key)]` list of Attention / AdditiveAttention, and `[q_mask, v_mask]`.
fn qvk(lc: &LayerCall) -> LResult<(Vec<ValueId>, Option<ValueId>, Option<ValueId>)> {
    let xs = lc.all_tensors();
    if !(2..=3).contains(&xs.len()) {
        return Err(lc.error("expects a list [query, value] or [query, value, key]"));
    }
    let masks = lc.mask_arg().unwrap_or_default();
    let m = |k: usize| masks.get(k).copied().flatten();
    Ok((xs, m(0), m(1)))
}

/// `_calculate_score_mask`, `_apply_scores` and the query mask of Attention and
/// AdditiveAttention (masked scores get 1e9 subtracted).
fn apply_scores(
    g: &mut OpGraph,
    lc: &LayerCall,
    scores: ValueId,
    value: ValueId,
    q_mask: Option<ValueId>,
    v_mask: Option<ValueId>,
) -> LResult<Vec<ValueId>> {
    let t = lc.static_dim(g, scores, 1)?;
    let s = lc.static_dim(g, scores, 2)?;
    let mut keep = match v_mask {
        Some(m) => {
            let m = as_bool(g, m)?;
            Some(g.expand_dims(m, 1)?)
        }
        None => None,
    };
    if flag(lc, "use_causal_mask") {
        let c = pattern(g, t, s, |i, j| i >= j);
        keep = Some(and(g, keep, c)?);
    }
    let scores = match keep {
        Some(k) => {
            let shifted = g.binary_scalar(BinaryOp::Sub, scores, 1e9)?;
            g.select(k, scores, shifted)?
        }
        None => scores,
    };
    let weights = g.softmax(scores, 2, false)?;
    let mut out = g.matmul(weights, value)?;
    if let Some(m) = q_mask {
        let m = as_bool(g, m)?;
        let m = g.expand_dims(m, 2)?;
        out = fill_where(g, m, out, 0.0)?;
    }
    lc.set_output_masks(vec![q_mask]);
    let mut outs = vec![out];
    if flag(lc, "return_attention_scores") {
        outs.push(weights);
    }
    Ok(outs)
}

/// `keras.layers.Attention(use_scale, score_mode)`: dot or concat (tanh) scores.
pub fn attention(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let (xs, q_mask, v_mask) = qvk(lc)?;
    let (q, v) = (xs[0], xs[1]);
    let k = *xs.get(2).unwrap_or(&v);
    let use_scale = lc.cfg_bool("use_scale", false)?;
    let mode = lc
        .cfg("score_mode")
        .and_then(Value::as_str)
        .unwrap_or("dot");
    let mut expected = Vec::new();
    if use_scale {
        expected.push(("scale", vec![]));
    }
    if mode == "concat" {
        expected.push(("concat_score_weight", vec![]));
    }
    let w = lc.weights(&expected)?;
    let scalar = |g: &mut OpGraph, a: &ArrayD<f32>| g.constant(Tensor::F32(a.clone()));
    let scale = if use_scale {
        Some(scalar(g, w[0]))
    } else {
        None
    };
    let scores = match mode {
        "dot" => {
            let r = g.rank(k);
            let mut perm: Vec<usize> = (0..r).collect();
            perm.swap(r - 1, r - 2);
            let kt = g.transpose(k, perm)?;
            let s = g.matmul(q, kt)?;
            match scale {
                Some(c) => g.mul(s, c)?,
                None => s,
            }
        }
        "concat" => {
            let qe = g.expand_dims(q, 2)?;
            let ke = g.expand_dims(k, 1)?;
            let mut sum = g.add(qe, ke)?;
            if let Some(c) = scale {
                sum = g.mul(c, sum)?;
            }
            let t = g.unary(UnaryOp::Tanh, sum)?;
            let red = g.reduce(crate::opgraph::ReduceOp::Sum, t, vec![3], false)?;
            let cw = scalar(g, w[w.len() - 1]);
            g.mul(cw, red)?
        }
        other => return Err(lc.error(format!("unknown score_mode '{other}'"))),
    };
    apply_scores(g, lc, scores, v, q_mask, v_mask)
}

/// `keras.layers.AdditiveAttention(use_scale)`: `sum(scale * tanh(q + k), -1)` scores.
pub fn additive_attention(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let (xs, q_mask, v_mask) = qvk(lc)?;
    let (q, v) = (xs[0], xs[1]);
    let k = *xs.get(2).unwrap_or(&v);
    let dim = lc.static_dim(g, q, 2)?;
    let use_scale = lc.cfg_bool("use_scale", true)?;
    let expected = if use_scale {
        vec![("scale", vec![dim])]
    } else {
        vec![]
    };
    let w = lc.weights(&expected)?;
    let qe = g.expand_dims(q, 2)?;
    let ke = g.expand_dims(k, 1)?;
    let sum = g.add(qe, ke)?;
    let t = g.unary(UnaryOp::Tanh, sum)?;
    let t = if use_scale {
        let c = g.constant(Tensor::F32(w[0].clone()));
        g.mul(c, t)?
    } else {
        t
    };
    let scores = g.reduce(crate::opgraph::ReduceOp::Sum, t, vec![3], false)?;
    apply_scores(g, lc, scores, v, q_mask, v_mask)
}

#[cfg(test)]
mod tests {
    use super::{attention_equations, proj_equation};

    /// The strings Keras builds (docs/semantics/sequence.md §12.1-§12.2).
    #[test]
    fn equations_are_keras_own() {
        assert_eq!(proj_equation(2, 1, 2), "abc,cde->abde");
        assert_eq!(proj_equation(2, 2, 1), "abcd,cde->abe");
        assert_eq!(proj_equation(3, 1, 2), "abcd,def->abcef");
        let (d, c, r) = attention_equations(4, &[1]);
        assert_eq!(
            (d.as_str(), c.as_str(), r),
            ("aecd,abcd->acbe", "acbe,aecd->abcd", 4)
        );
        let (d, c, r) = attention_equations(5, &[1, 2]);
        assert_eq!(
            (d.as_str(), c.as_str(), r),
            ("afgde,abcde->adbcfg", "adbcfg,afgde->abcde", 6)
        );
        let (d, _, _) = attention_equations(5, &[2]);
        assert_eq!(d, "abfde,abcde->abdcf");
    }
}
