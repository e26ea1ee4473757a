//! Wrappers: Bidirectional and TimeDistributed, which hold other layers in their config
//! (`keras/src/layers/rnn/{bidirectional,time_distributed}.py`). The wrapped layers are
//! lowered by their own lowering functions, on synthetic calls.

use super::call::{LayerCall, Val};
use super::{registry, KTensor, LResult};
use crate::layer_graph::{LayerNode, NodeKind, Weight};
use crate::opgraph::{BinaryOp, OpGraph, ValueId};
use serde_json::Value;

/// A layer saved inside a wrapper's config (`{"class_name", "config", "module"}`), with the
/// weights of its sub-object; `None` when `v` is not a serialized layer.
pub fn layer_node(v: &Value, weights: Vec<Weight>) -> Option<LayerNode> {
    let class_name = v.get("class_name")?.as_str()?.to_string();
    let config = v.get("config")?.clone();
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&class_name)
        .to_string();
    let module = v
        .get("module")
        .and_then(Value::as_str)
        .unwrap_or("keras.layers")
        .to_string();
    Some(LayerNode {
        name,
        class_name,
        module,
        registered_name: v
            .get("registered_name")
            .and_then(Value::as_str)
            .map(str::to_string),
        config,
        calls: Vec::new(),
        kind: NodeKind::Layer,
        weights,
    })
}

/// The layer a wrapper saved under config key `key`, with the weights under `part/`.
fn inner(lc: &LayerCall, key: &str, part: &str) -> LResult<LayerNode> {
    let v = lc
        .cfg(key)
        .ok_or_else(|| lc.error(format!("config has no '{key}'")))?;
    let weights = lc.sub_weights(part).into_iter().cloned().collect();
    layer_node(v, weights).ok_or_else(|| lc.error(format!("config '{key}' is not a layer")))
}

/// `Bidirectional(layer, merge_mode, backward_layer)`: both directions on the same input and
/// mask (the backward layer has `go_backwards`), the backward sequence flipped back, merged.
pub fn bidirectional(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc
        .args
        .first()
        .and_then(|a| a.tensors().first().copied())
        .ok_or_else(|| lc.error("expects an input sequence"))?;
    let fwd = inner(lc, "layer", "forward_layer")?;
    let bwd = inner(lc, "backward_layer", "backward_layer")?;
    let mask = lc.single_mask()?;
    let states: Vec<KTensor> = match lc.arg(1, "initial_state") {
        None | Some(Val::Lit(_)) => Vec::new(),
        Some(v) => v.tensors(),
    };
    if states.len() % 2 != 0 {
        return Err(lc.error("initial_state must hold as many states per direction"));
    }
    let (fs, bs) = states.split_at(states.len() / 2);
    let run = |g: &mut OpGraph, node: &LayerNode, st: &[KTensor]| -> LResult<Vec<ValueId>> {
        let mut kwargs = Vec::new();
        if let Some(m) = mask {
            kwargs.push(("mask".to_string(), Val::T(KTensor::plain(m))));
        }
        if !st.is_empty() {
            let list = st.iter().map(|&t| Val::T(t)).collect();
            kwargs.push(("initial_state".to_string(), Val::List(list)));
        }
        let call = LayerCall::new(node, vec![Val::T(KTensor::plain(x.v))], kwargs);
        Ok(registry::lower_call(g, &call)?
            .iter()
            .map(|t| t.v)
            .collect())
    };
    let ys = run(g, &fwd, fs)?;
    let ys_rev = run(g, &bwd, bs)?;
    let return_sequences = lc
        .cfg("layer")
        .and_then(|l| l.get("config"))
        .and_then(|c| c.get("return_sequences"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let (y, mut y_rev) = (ys[0], ys_rev[0]);
    if return_sequences {
        y_rev = g.reverse(y_rev, 1)?;
    }
    let merge = lc.cfg("merge_mode").and_then(Value::as_str);
    let mut outs = match merge {
        Some("concat") => {
            let r = g.rank(y);
            vec![g.concat(&[y, y_rev], r - 1)?]
        }
        Some("sum") => vec![g.add(y, y_rev)?],
        Some("ave") => {
            let s = g.add(y, y_rev)?;
            vec![g.binary_scalar(BinaryOp::Div, s, 2.0)?]
        }
        Some("mul") => vec![g.mul(y, y_rev)?],
        None => vec![y, y_rev],
        Some(other) => return Err(lc.error(format!("unknown merge_mode '{other}'"))),
    };
    let out_mask = if return_sequences { mask } else { None };
    let mut masks = vec![out_mask; outs.len()];
    outs.extend_from_slice(&ys[1..]);
    outs.extend_from_slice(&ys_rev[1..]);
    masks.resize(outs.len(), None);
    lc.set_output_masks(masks);
    Ok(outs)
}

/// `TimeDistributed(layer)`: the layer applied to every time step `x[:, t]` (as Keras does
/// for a static time axis), the results stacked on axis 1. The mask passes through.
pub fn time_distributed(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    if g.rank(x) < 3 {
        return Err(lc.error("TimeDistributed needs an input of rank >= 3"));
    }
    let t_len = lc.static_dim(g, x, 1)?;
    let model = match lc.cfg("layer") {
        Some(v) if crate::loader::is_model_entry(v) => Some(nested_model(lc, v)?),
        _ => None,
    };
    let node = match model {
        Some(_) => None,
        None => Some(inner(lc, "layer", "layer")?),
    };
    let mut steps = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let xt = g.slice(x, 1, t, t + 1, 1)?;
        let xt = g.squeeze(xt, &[1])?;
        let arg = KTensor::plain(xt);
        let out = match (&model, &node) {
            (Some(m), _) => {
                let prefix = format!("{}/", lc.layer.name);
                super::lower_model(g, m, &[arg], &prefix, &mut Vec::new())?
            }
            (None, Some(n)) => {
                let call = LayerCall::new(n, vec![Val::T(arg)], Vec::new());
                registry::lower_call(g, &call)?
            }
            (None, None) => unreachable!("a layer or a model"),
        };
        let [y] = out.as_slice() else {
            return Err(lc.error("TimeDistributed needs a layer with one output"));
        };
        steps.push(g.expand_dims(y.v, 1)?);
    }
    Ok(vec![g.concat(&steps, 1)?])
}

/// The model a TimeDistributed wraps (`layer` is a Sequential or Functional entry), with the
/// weights saved under the wrapper's `layer/` group.
fn nested_model(lc: &LayerCall, v: &Value) -> LResult<crate::layer_graph::KerasModel> {
    let weights: Vec<Weight> = lc.sub_weights("layer").into_iter().cloned().collect();
    let prefix = weights
        .first()
        .and_then(|w| w.path.find("/layer/").map(|i| w.path[..i + 6].to_string()))
        .unwrap_or_default();
    crate::loader::wrapped_model(v, &weights, &prefix, &lc.layer.name)
        .map_err(|e| lc.error(format!("the wrapped model: {e}")))
}
