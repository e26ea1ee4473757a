//! `config.json` -> [`KerasModel`], following Keras 3.15's `functional.py`, `sequential.py`
//! and `serialization_lib.py`:
//!
//! - Layers stay in saved order here (the weights file numbers its groups in that order);
//!   `order::sort` reorders them afterwards.
//! - Call arguments: a `__keras_tensor__` becomes [`Arg::Tensor`]; JSON lists become
//!   [`Arg::List`] (Keras 3 writes Python tuples as plain lists; the legacy Keras 2 form
//!   `{"class_name": "__tuple__", "items": [...]}` is unwrapped too); a plain dict holding
//!   tensors (a nested model called on a dict) becomes a list of its values in sorted-key order,
//!   which is how `keras.tree` flattens it and so matches the nested model's `inputs`; anything
//!   else is kept verbatim as [`Arg::Literal`].
//! - `input_layers` / `output_layers` are flattened like `keras.tree.flatten`: lists in order,
//!   dicts by sorted key. There, and only there, Keras numbers the calls of a nested
//!   *Functional* model from 1 (`get_config` starts its `kept_nodes` at 1 and
//!   `functional_from_config` subtracts 1 again); the loader subtracts it so that every
//!   `TensorRef::node_index` indexes the target's `calls`.
//! - Sequential models are normalised to the graph form.

use super::error::LoadError;
pub use super::raw_json::MAX_CONFIG_VALUES;
use super::raw_json::{clip_owned, count_values, key, refuse_code, to_value, RawObj, R};
pub(crate) use super::raw_json::{Cx, Loc};
use crate::layer_graph::{Arg, Call, InputSpec, KerasModel, LayerNode, NodeKind, TensorRef};
use crate::text::clip;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Class names the loader treats as (nested) models, when their config has `layers`.
const MODEL_CLASSES: [&str; 3] = ["Functional", "Sequential", "Model"];

/// The JSON values (by address) that hold a `__keras_tensor__` somewhere inside, found in
/// one walk so that parsing a nested argument does not search each subtree again.
struct TensorMarks(HashSet<*const Value>);

impl TensorMarks {
    fn of(v: &Value) -> TensorMarks {
        fn mark(v: &Value, set: &mut HashSet<*const Value>) -> bool {
            let has = match v {
                Value::Object(m) => {
                    let mut any = class_of(m) == Some("__keras_tensor__");
                    for c in m.values() {
                        any |= mark(c, set);
                    }
                    any
                }
                Value::Array(a) => {
                    let mut any = false;
                    for c in a {
                        any |= mark(c, set);
                    }
                    any
                }
                _ => false,
            };
            if has {
                set.insert(v as *const Value);
            }
            has
        }
        let mut set = HashSet::new();
        mark(v, &mut set);
        TensorMarks(set)
    }

    fn contains_tensor(&self, v: &Value) -> bool {
        self.0.contains(&(v as *const Value))
    }
}

/// Most models nested in one another.
pub(crate) const MAX_MODEL_DEPTH: usize = 32;
/// Parse the whole of `config.json`.
///
/// The document is first checked for syntax and size as a whole, then parsed one layer entry
/// at a time: a nested model is walked in its raw form, and every other entry becomes a
/// `serde_json::Value` only while it is turned into a [`LayerNode`]. Peak memory is then the
/// raw text plus what the model keeps, not a `Value` of the whole document (about 16 times
/// the text).
pub(crate) fn parse_root_bytes(bytes: &[u8], cx: &Cx) -> R<KerasModel> {
    let json_err = |detail: String| LoadError::Json {
        file: cx.file.to_string(),
        entry: "config.json".to_string(),
        detail,
    };
    let values = count_values(bytes);
    if values > MAX_CONFIG_VALUES {
        return Err(json_err(format!(
            "it holds about {values} JSON values, more than the {MAX_CONFIG_VALUES} accepted \
             (a Keras model's config has far fewer; the file is damaged or hostile)"
        )));
    }
    let root: &RawValue = serde_json::from_slice(bytes).map_err(|e| json_err(e.to_string()))?;
    let Some(obj) = RawObj::of(root) else {
        let v = to_value(root, "", cx)?;
        refuse_code(&v, "", cx)?;
        return Err(cx.err("", "expected a JSON object describing the model"));
    };
    if !is_model_entry(&obj) {
        let v = to_value(root, "", cx)?;
        refuse_code(&v, "", cx)?;
        let class = clip_owned(
            obj.str("class_name")
                .as_deref()
                .unwrap_or("(no class_name)"),
        );
        let registered = match obj.str("registered_name") {
            Some(r) if r != class => format!(", registered as `{}`", clip(&r)),
            _ => String::new(),
        };
        return Err(cx.err(
            "",
            format!(
                "the archive holds a `{class}` object{registered}, not a Functional or \
                 Sequential model with a `config.layers` list; subclassed models keep their \
                 graph in Python code, not in the config, and cannot be converted"
            ),
        ));
    }
    let (model, _) = parse_model(&obj, "", 0, cx)?;
    Ok(model)
}

/// Parse the whole of `config.json`, given as a `Value` (also a model saved inside a
/// wrapper's config), through the same checks as [`parse_root_bytes`].
pub(crate) fn parse_root(root: &Value, cx: &Cx) -> R<KerasModel> {
    parse_root_bytes(&serde_json::to_vec(root).expect("serializable"), cx)
}

/// [`is_model_entry`] for an object already parsed (a wrapper's `layer`).
pub(crate) fn is_model_object(obj: &Map<String, Value>) -> bool {
    let class = obj.get("class_name").and_then(Value::as_str).unwrap_or("");
    MODEL_CLASSES.contains(&class)
        && obj
            .get("config")
            .and_then(|c| c.get("layers"))
            .is_some_and(Value::is_array)
}

fn is_model_entry(obj: &RawObj) -> bool {
    let class = obj.str("class_name").unwrap_or_default();
    MODEL_CLASSES.contains(&class.as_str())
        && obj
            .get("config")
            .and_then(RawObj::of)
            .is_some_and(|c| c.is_array("layers"))
}

/// Parse a Functional or Sequential model entry (the root or a nested model), `depth` models
/// deep. Also returns the entry's `config` without its `layers` (a nested model keeps that
/// as its layer config). Every member is checked for Python code (`refuse_code`).
fn parse_model(
    obj: &RawObj,
    loc: &str,
    depth: usize,
    cx: &Cx,
) -> R<(KerasModel, Map<String, Value>)> {
    if depth > MAX_MODEL_DEPTH {
        return Err(cx.err(
            loc,
            format!("models are nested more than {MAX_MODEL_DEPTH} deep; refusing the config"),
        ));
    }
    let class_name = obj.str("class_name").unwrap_or_default();
    let cfg_loc = key(loc, "config");
    let Some(cfg) = obj.get("config").and_then(RawObj::of) else {
        return Err(cx.err(&cfg_loc, "a model's `config` must be a JSON object"));
    };
    // Everything but the layers, as values, checked for code.
    for (k, raw) in &obj.0 {
        if k != "config" && k != "layers" {
            let kloc = key(loc, k);
            refuse_code(&to_value(raw, &kloc, cx)?, &kloc, cx)?;
        }
    }
    let mut rest = Map::new();
    for (k, raw) in &cfg.0 {
        if k != "layers" {
            let kloc = key(&cfg_loc, k);
            let v = to_value(raw, &kloc, cx)?;
            refuse_code(&v, &kloc, cx)?;
            rest.insert(k.clone(), v);
        }
    }
    let name = rest
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| obj.str("name"))
        .unwrap_or_else(|| "model".to_string());
    let layers_loc = key(&cfg_loc, "layers");
    let entries: Vec<&RawValue> = cfg
        .get("layers")
        .and_then(|raw| serde_json::from_str(raw.get()).ok())
        .ok_or_else(|| cx.err(&layers_loc, "a model's `layers` must be a list"))?;
    let sequential = class_name == "Sequential";
    let mut layers = Vec::with_capacity(entries.len());
    let mut names = HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let eloc = format!("{layers_loc}[{i}]");
        let node = parse_entry_raw(e, &eloc, sequential, depth, cx)?;
        if !names.insert(node.name.clone()) {
            return Err(cx.err(
                &eloc,
                format!(
                    "model `{}` has two layers named `{}` (Keras requires unique names)",
                    clip(&name),
                    clip(&node.name)
                ),
            ));
        }
        layers.push(node);
    }
    drop(names);
    drop(entries);
    if sequential {
        let model = normalise_sequential(
            name,
            class_name,
            layers,
            rest.get("build_input_shape"),
            &cfg_loc,
            cx,
        )?;
        return Ok((model, rest));
    }
    // `input_layers` / `output_layers`: flattened tensor references.
    let read_refs = |field: &str| -> Result<(Vec<TensorRef>, String), LoadError> {
        let loc = key(&cfg_loc, field);
        let v = rest.get(field).ok_or_else(|| {
            cx.err(
                &cfg_loc,
                format!("model `{}` has no `{field}`", clip(&name)),
            )
        })?;
        let mut refs = Vec::new();
        flatten_refs(v, &loc, &mut refs, cx)?;
        Ok((refs, loc))
    };
    let (mut inputs, in_loc) = read_refs("input_layers")?;
    let (mut outputs, out_loc) = read_refs("output_layers")?;
    let by_name: HashMap<&str, &LayerNode> = layers.iter().map(|l| (l.name.as_str(), l)).collect();
    for (refs, loc) in [(&mut inputs, &in_loc), (&mut outputs, &out_loc)] {
        for r in refs.iter_mut() {
            unshift_functional_node(r, &by_name, loc, cx)?;
        }
    }
    drop(by_name);
    let model = KerasModel {
        name,
        class_name,
        layers,
        inputs,
        outputs,
    };
    Ok((model, rest))
}

/// Parse one raw entry of a `layers` list (`depth`: of the model holding it).
fn parse_entry_raw(
    raw: &RawValue,
    loc: &str,
    in_sequential: bool,
    depth: usize,
    cx: &Cx,
) -> R<LayerNode> {
    // Only an entry whose text mentions "layers" can be a nested model.
    let obj = if raw.get().contains("\"layers\"") {
        RawObj::of(raw).filter(is_model_entry)
    } else {
        None
    };
    let Some(obj) = obj else {
        let v = to_value(raw, loc, cx)?;
        refuse_code(&v, loc, cx)?;
        return parse_entry(v, loc, in_sequential, cx);
    };
    // A nested model.
    let (model, config) = parse_model(&obj, loc, depth + 1, cx)?;
    let class_name = obj.str("class_name").unwrap_or_default();
    let module = obj.str("module").unwrap_or_default();
    let registered_name = obj.str("registered_name");
    let name = obj
        .str("name")
        .or_else(|| {
            config
                .get("name")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .ok_or_else(|| {
            cx.err(
                loc,
                format!(
                    "the `{}` entry has no name (neither `name` nor `config.name`)",
                    clip(&class_name)
                ),
            )
        })?;
    let calls = if in_sequential {
        Vec::new()
    } else {
        let nodes = match obj.get("inbound_nodes") {
            Some(r) => Some(to_value(r, &key(loc, "inbound_nodes"), cx)?),
            None => None,
        };
        parse_inbound_nodes(nodes.as_ref(), &key(loc, "inbound_nodes"), cx)?
    };
    Ok(LayerNode {
        name,
        class_name,
        module,
        registered_name,
        config: Value::Object(config),
        calls,
        kind: NodeKind::Model(Box::new(model)),
        weights: Vec::new(),
    })
}

/// In `input_layers`/`output_layers`, calls of a nested Functional model are numbered from 1.
fn unshift_functional_node(
    r: &mut TensorRef,
    layers: &HashMap<&str, &LayerNode>,
    loc: &str,
    cx: &Cx,
) -> R<()> {
    let Some(target) = layers.get(r.layer.as_str()) else {
        return Ok(()); // reported by order::validate
    };
    if let NodeKind::Model(m) = &target.kind {
        if m.class_name != "Sequential" {
            if r.node_index == 0 {
                return Err(cx.err(
                    loc,
                    format!(
                        "refers to node 0 of nested model `{}`, but Keras numbers a nested \
                         Functional model's calls from 1 there",
                        clip(&r.layer)
                    ),
                ));
            }
            r.node_index -= 1;
        }
    }
    Ok(())
}

/// Parse one entry of a `layers` list that is not a model (a layer or an op), taking its
/// `config` by value.
fn parse_entry(e: Value, loc: &str, in_sequential: bool, cx: &Cx) -> R<LayerNode> {
    let Value::Object(mut obj) = e else {
        return Err(cx.err(loc, "a layer entry must be a JSON object"));
    };
    let Some(class_name) = obj.get("class_name").and_then(Value::as_str) else {
        return Err(cx.err(loc, "the layer entry has no `class_name` string"));
    };
    let class_name = class_name.to_string();
    let module = obj
        .get("module")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let registered_name = obj
        .get("registered_name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let config = obj.remove("config").unwrap_or(Value::Null);
    let Some(name) = obj
        .get("name")
        .and_then(Value::as_str)
        .or_else(|| config.get("name").and_then(Value::as_str))
    else {
        return Err(cx.err(
            loc,
            format!(
                "the `{}` entry has no name (neither `name` nor `config.name`)",
                clip(&class_name)
            ),
        ));
    };
    let name = name.to_string();
    let kind = if class_name == "InputLayer" {
        NodeKind::Input(parse_input_spec(&name, &config, &key(loc, "config"), cx)?)
    } else if module.starts_with("keras.src.ops") {
        NodeKind::Op
    } else {
        NodeKind::Layer
    };
    let calls = if in_sequential {
        Vec::new()
    } else {
        parse_inbound_nodes(obj.get("inbound_nodes"), &key(loc, "inbound_nodes"), cx)?
    };
    Ok(LayerNode {
        name,
        class_name,
        module,
        registered_name,
        config,
        calls,
        kind,
        weights: Vec::new(),
    })
}

/// `InputLayer` config -> [`InputSpec`].
fn parse_input_spec(name: &str, config: &Value, loc: &str, cx: &Cx) -> R<InputSpec> {
    let shown = clip(name);
    let Some(cfg) = config.as_object() else {
        return Err(cx.err(loc, format!("InputLayer `{shown}` has no config object")));
    };
    let (shape_key, shape_v) = match (cfg.get("batch_shape"), cfg.get("batch_input_shape")) {
        (Some(v), _) if !v.is_null() => ("batch_shape", v),
        (_, Some(v)) if !v.is_null() => ("batch_input_shape", v),
        _ => {
            return Err(cx.err(
                loc,
                format!("InputLayer `{shown}` has no `batch_shape` (nor `batch_input_shape`)"),
            ))
        }
    };
    let shape = parse_shape(shape_v).ok_or_else(|| {
        cx.err(
            &key(loc, shape_key),
            format!(
                "InputLayer `{shown}`: expected a list of non-negative integers or nulls, \
                     found {}",
                short(shape_v)
            ),
        )
    })?;
    let dtype = match cfg.get("dtype") {
        None | Some(Value::Null) => "float32".to_string(),
        Some(v) => dtype_name(v).ok_or_else(|| {
            cx.err(
                &key(loc, "dtype"),
                format!(
                    "InputLayer `{shown}`: expected a dtype string or a DTypePolicy object, \
                     found {}",
                    short(v)
                ),
            )
        })?,
    };
    Ok(InputSpec {
        name: name.to_string(),
        shape,
        dtype,
    })
}

pub(crate) fn parse_shape(v: &Value) -> Option<Vec<Option<usize>>> {
    v.as_array()?
        .iter()
        .map(|d| match d {
            Value::Null => Some(None),
            _ => d.as_u64().and_then(|n| usize::try_from(n).ok()).map(Some),
        })
        .collect()
}

/// A dtype string, or the `name` of a serialized `DTypePolicy`.
fn dtype_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => m
            .get("config")
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    }
}

/// A short rendering of a JSON value for messages.
pub(crate) fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        let cut: String = s.chars().take(77).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn parse_inbound_nodes(v: Option<&Value>, loc: &str, cx: &Cx) -> R<Vec<Call>> {
    let nodes = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(cx.err(
                loc,
                format!("`inbound_nodes` must be a list, found {}", short(other)),
            ))
        }
    };
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| parse_node(n, &format!("{loc}[{i}]"), cx))
        .collect()
}

/// One inbound node: `{"args": [...], "kwargs": {...}}`, or the legacy list of
/// `[layer, node, tensor(, kwargs)]` entries (`functional.deserialize_node`).
fn parse_node(n: &Value, loc: &str, cx: &Cx) -> R<Call> {
    let marks = TensorMarks::of(n);
    let root = Loc::Root(loc);
    match n {
        Value::Null => Ok(Call::default()),
        Value::Object(m) => {
            let args = match m.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => match parse_arg_at(v, &root.key("args"), &marks, cx)? {
                    Arg::List(items) => items,
                    _ => {
                        return Err(cx.err(
                            &key(loc, "args"),
                            format!("`args` must be a list, found {}", short(v)),
                        ))
                    }
                },
            };
            let kwargs = match m.get("kwargs") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(kw)) => {
                    let kloc = root.key("kwargs");
                    kw.iter()
                        .map(|(k, v)| Ok((k.clone(), parse_arg_at(v, &kloc.key(k), &marks, cx)?)))
                        .collect::<R<Vec<_>>>()?
                }
                Some(v) => {
                    return Err(cx.err(
                        &key(loc, "kwargs"),
                        format!("`kwargs` must be an object, found {}", short(v)),
                    ))
                }
            };
            Ok(Call { args, kwargs })
        }
        Value::Array(items) => {
            let mut tensors = Vec::with_capacity(items.len());
            let mut kwargs = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let iloc = root.idx(i);
                let parts = item.as_array().filter(|a| a.len() == 3 || a.len() == 4);
                let Some(parts) = parts else {
                    return Err(cx.err(
                        &iloc.render(),
                        format!(
                            "expected a legacy node entry [layer, node_index, tensor_index(, \
                             kwargs)], found {}",
                            short(item)
                        ),
                    ));
                };
                tensors.push(Arg::Tensor(parse_history_at(
                    &Value::Array(parts[..3].to_vec()),
                    &iloc,
                    cx,
                )?));
                if let Some(kw) = parts.get(3) {
                    let Some(kw) = kw.as_object() else {
                        return Err(cx.err(&iloc.render(), "legacy node kwargs must be an object"));
                    };
                    kwargs = kw
                        .iter()
                        .map(|(k, v)| Ok((k.clone(), parse_arg_at(v, &iloc.key(k), &marks, cx)?)))
                        .collect::<R<Vec<_>>>()?;
                }
            }
            // `unpack_singleton`: one tensor is passed as itself, several as a list.
            let args = match tensors.len() {
                0 => Vec::new(),
                1 => tensors,
                _ => vec![Arg::List(tensors)],
            };
            Ok(Call { args, kwargs })
        }
        other => Err(cx.err(
            loc,
            format!("an inbound node must be an object, found {}", short(other)),
        )),
    }
}

fn class_of(m: &Map<String, Value>) -> Option<&str> {
    m.get("class_name").and_then(Value::as_str)
}

/// One call argument.
#[cfg(test)]
pub(crate) fn parse_arg(v: &Value, loc: &str, cx: &Cx) -> R<Arg> {
    parse_arg_at(v, &Loc::Root(loc), &TensorMarks::of(v), cx)
}

/// One call argument at `loc`; `marks` covers `v`.
fn parse_arg_at(v: &Value, loc: &Loc, marks: &TensorMarks, cx: &Cx) -> R<Arg> {
    match v {
        Value::Array(items) => Ok(Arg::List(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| parse_arg_at(x, &loc.idx(i), marks, cx))
                .collect::<R<_>>()?,
        )),
        Value::Object(m) => match class_of(m) {
            Some("__keras_tensor__") => {
                let hist = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .unwrap_or(&Value::Null);
                let cloc = loc.key("config");
                Ok(Arg::Tensor(parse_history_at(
                    hist,
                    &cloc.key("keras_history"),
                    cx,
                )?))
            }
            Some("__tuple__") if m.get("items").is_some_and(Value::is_array) => {
                parse_arg_at(&m["items"], &loc.key("items"), marks, cx)
            }
            Some(other) => {
                if marks.contains_tensor(v) {
                    Err(cx.err(
                        &loc.render(),
                        format!(
                            "a tensor inside a serialized `{}` object is not supported",
                            clip(other)
                        ),
                    ))
                } else {
                    Ok(Arg::Literal(v.clone()))
                }
            }
            None => {
                if marks.contains_tensor(v) {
                    let mut keys: Vec<&String> = m.keys().collect();
                    keys.sort();
                    Ok(Arg::List(
                        keys.into_iter()
                            .map(|k| parse_arg_at(&m[k], &loc.key(k), marks, cx))
                            .collect::<R<_>>()?,
                    ))
                } else {
                    Ok(Arg::Literal(v.clone()))
                }
            }
        },
        _ => Ok(Arg::Literal(v.clone())),
    }
}

/// `[layer_name, node_index, tensor_index]`.
fn parse_history_at(v: &Value, loc: &Loc, cx: &Cx) -> R<TensorRef> {
    let parsed = v.as_array().filter(|a| a.len() == 3).and_then(|a| {
        Some(TensorRef {
            layer: a[0].as_str()?.to_string(),
            node_index: usize::try_from(a[1].as_u64()?).ok()?,
            tensor_index: usize::try_from(a[2].as_u64()?).ok()?,
        })
    });
    parsed.ok_or_else(|| {
        cx.err(
            &loc.render(),
            format!(
                "expected a tensor reference [layer_name, node_index, tensor_index], found {}",
                short(v)
            ),
        )
    })
}

/// Flatten `input_layers` / `output_layers` the way `keras.tree.flatten` does.
pub(crate) fn flatten_refs(v: &Value, loc: &str, out: &mut Vec<TensorRef>, cx: &Cx) -> R<()> {
    flatten_refs_at(v, &Loc::Root(loc), out, cx)
}

fn flatten_refs_at(v: &Value, loc: &Loc, out: &mut Vec<TensorRef>, cx: &Cx) -> R<()> {
    match v {
        Value::Array(a) if a.len() == 3 && a[0].is_string() => {
            out.push(parse_history_at(v, loc, cx)?);
            Ok(())
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                flatten_refs_at(x, &loc.idx(i), out, cx)?;
            }
            Ok(())
        }
        Value::Object(m) if class_of(m) == Some("__tuple__") && m.contains_key("items") => {
            flatten_refs_at(&m["items"], &loc.key("items"), out, cx)
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                flatten_refs_at(&m[k], &loc.key(k), out, cx)?;
            }
            Ok(())
        }
        other => Err(cx.err(
            &loc.render(),
            format!(
                "expected [layer_name, node_index, tensor_index] or a list/dict of them, found {}",
                short(other)
            ),
        )),
    }
}

/// Sequential -> graph form: the InputLayer is the input, each later layer gets one call on
/// the previous layer's output, the last layer is the output.
fn normalise_sequential(
    name: String,
    class_name: String,
    mut layers: Vec<LayerNode>,
    build_input_shape: Option<&Value>,
    cfg_loc: &str,
    cx: &Cx,
) -> R<KerasModel> {
    let layers_loc = key(cfg_loc, "layers");
    let shown = clip(&name);
    if let Some(i) = layers
        .iter()
        .skip(1)
        .position(|l| matches!(l.kind, NodeKind::Input(_)))
    {
        return Err(cx.err(
            &format!("{layers_loc}[{}]", i + 1),
            format!("Sequential model `{shown}` has an InputLayer after its first layer"),
        ));
    }
    let has_input = layers
        .first()
        .is_some_and(|l| matches!(l.kind, NodeKind::Input(_)));
    if !has_input {
        let input = synthesise_input(&name, &layers, build_input_shape, cfg_loc, cx)?;
        layers.insert(0, input);
    }
    if layers.len() < 2 {
        return Err(cx.err(
            &layers_loc,
            format!("Sequential model `{shown}` has no layers after its input"),
        ));
    }
    for i in 1..layers.len() {
        let prev = TensorRef {
            layer: layers[i - 1].name.clone(),
            node_index: 0,
            tensor_index: 0,
        };
        layers[i].calls = vec![Call {
            args: vec![Arg::Tensor(prev)],
            kwargs: Vec::new(),
        }];
    }
    let first = |l: &LayerNode| TensorRef {
        layer: l.name.clone(),
        node_index: 0,
        tensor_index: 0,
    };
    let inputs = vec![first(&layers[0])];
    let outputs = vec![first(layers.last().expect("at least two layers"))];
    Ok(KerasModel {
        name,
        class_name,
        layers,
        inputs,
        outputs,
    })
}

/// A Sequential saved without an InputLayer but built (`build_input_shape`): Keras'
/// `Sequential.build` prepends `InputLayer(batch_shape=input_shape,
/// dtype=first_layer.compute_dtype)`, auto-named `input_layer` (uniquified).
fn synthesise_input(
    name: &str,
    layers: &[LayerNode],
    build_input_shape: Option<&Value>,
    cfg_loc: &str,
    cx: &Cx,
) -> R<LayerNode> {
    let shown = clip(name);
    let shape_v = match build_input_shape {
        Some(v) if !v.is_null() => v,
        _ => {
            return Err(cx.err(
                cfg_loc,
                format!(
                    "Sequential model `{shown}` was saved unbuilt: it has no InputLayer and no \
                     `build_input_shape`, so its input shape (and its weights) are unknown. Add \
                     `keras.Input(shape=...)` as its first layer (or build it) and re-save it."
                ),
            ))
        }
    };
    let shape = parse_shape(shape_v).ok_or_else(|| {
        cx.err(
            &key(cfg_loc, "build_input_shape"),
            format!(
                "Sequential model `{shown}`: build_input_shape must be a single shape (a list of \
                 integers or nulls), found {}",
                short(shape_v)
            ),
        )
    })?;
    let dtype = layers
        .first()
        .and_then(|l| l.config.get("dtype"))
        .and_then(dtype_name)
        .map(|d| compute_dtype(&d))
        .unwrap_or_else(|| "float32".to_string());
    let taken: HashSet<&str> = layers.iter().map(|l| l.name.as_str()).collect();
    let mut input_name = "input_layer".to_string();
    let mut k = 0;
    while taken.contains(input_name.as_str()) {
        k += 1;
        input_name = format!("input_layer_{k}");
    }
    let config = serde_json::json!({
        "batch_shape": shape_v.clone(),
        "dtype": dtype.clone(),
        "name": input_name.clone(),
    });
    Ok(LayerNode {
        name: input_name.clone(),
        class_name: "InputLayer".to_string(),
        module: "keras.layers".to_string(),
        registered_name: None,
        config,
        calls: Vec::new(),
        kind: NodeKind::Input(InputSpec {
            name: input_name,
            shape,
            dtype,
        }),
        weights: Vec::new(),
    })
}

/// The compute dtype of a dtype-policy name (`mixed_float16` computes in `float16`).
fn compute_dtype(policy: &str) -> String {
    policy.strip_prefix("mixed_").unwrap_or(policy).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CX: Cx = Cx { file: "t.keras" };

    fn t(layer: &str, node: usize, tensor: usize) -> Arg {
        Arg::Tensor(TensorRef {
            layer: layer.into(),
            node_index: node,
            tensor_index: tensor,
        })
    }

    fn kt(layer: &str, node: u64, tensor: u64) -> Value {
        json!({"class_name": "__keras_tensor__",
               "config": {"shape": [null, 4], "dtype": "float32",
                          "keras_history": [layer, node, tensor]}})
    }

    #[test]
    fn keras_history_parsing() {
        assert_eq!(
            parse_arg(&kt("dense", 2, 1), "a", &CX).unwrap(),
            t("dense", 2, 1)
        );
        // Malformed histories are errors naming the location.
        for bad in [
            json!({"class_name": "__keras_tensor__", "config": {"keras_history": ["d", -1, 0]}}),
            json!({"class_name": "__keras_tensor__", "config": {"keras_history": ["d", 0]}}),
            json!({"class_name": "__keras_tensor__", "config": {"keras_history": [3, 0, 0]}}),
            json!({"class_name": "__keras_tensor__", "config": {}}),
        ] {
            let e = parse_arg(&bad, "layers[2].inbound_nodes[0].args[0]", &CX)
                .unwrap_err()
                .to_string();
            assert!(e.contains("layers[2].inbound_nodes[0].args[0]"), "{e}");
            assert!(e.contains("[layer_name, node_index, tensor_index]"), "{e}");
        }
    }

    #[test]
    fn literals_lists_tuples_and_dicts() {
        // Merge-layer style: a list of tensors, then a literal.
        let v = json!([[kt("a", 0, 0), kt("b", 1, 0)], 1.0, null, "same"]);
        assert_eq!(
            parse_arg(&v, "args", &CX).unwrap(),
            Arg::List(vec![
                Arg::List(vec![t("a", 0, 0), t("b", 1, 0)]),
                Arg::Literal(json!(1.0)),
                Arg::Literal(Value::Null),
                Arg::Literal(json!("same")),
            ])
        );
        // Legacy tuple wrapper is unwrapped to a list.
        let v = json!({"class_name": "__tuple__", "items": [kt("a", 0, 0), 3]});
        assert_eq!(
            parse_arg(&v, "args", &CX).unwrap(),
            Arg::List(vec![t("a", 0, 0), Arg::Literal(json!(3))])
        );
        // A slice object stays a literal, verbatim.
        let s =
            json!({"class_name": "__slice__", "config": {"start": null, "stop": 2, "step": null}});
        assert_eq!(parse_arg(&s, "a", &CX).unwrap(), Arg::Literal(s.clone()));
        // A dict without tensors is a literal; with tensors, its values in sorted-key order.
        let d = json!({"mask": null, "training": false});
        assert_eq!(parse_arg(&d, "a", &CX).unwrap(), Arg::Literal(d.clone()));
        let d = json!({"b": kt("xb", 0, 0), "a": kt("xa", 0, 0)});
        assert_eq!(
            parse_arg(&d, "a", &CX).unwrap(),
            Arg::List(vec![t("xa", 0, 0), t("xb", 0, 0)])
        );
    }

    #[test]
    fn flatten_input_output_layers() {
        let mut out = Vec::new();
        flatten_refs(&json!(["x", 0, 0]), "o", &mut out, &CX).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].layer, "x");

        let mut out = Vec::new();
        let v =
            json!([["a", 0, 1], [["b", 2, 0], ["c", 0, 0]], {"z": ["z", 0, 0], "y": ["y", 1, 0]}]);
        flatten_refs(&v, "o", &mut out, &CX).unwrap();
        let got: Vec<(String, usize, usize)> = out
            .iter()
            .map(|r| (r.layer.clone(), r.node_index, r.tensor_index))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), 0, 1),
                ("b".into(), 2, 0),
                ("c".into(), 0, 0),
                ("y".into(), 1, 0),
                ("z".into(), 0, 0)
            ]
        );
        let e = flatten_refs(&json!(["a", "b", 0]), "config.output_layers", &mut out, &CX)
            .unwrap_err()
            .to_string();
        assert!(e.contains("config.output_layers"), "{e}");
        assert!(flatten_refs(&json!(7), "o", &mut out, &CX).is_err());
    }

    fn dense(name: &str) -> Value {
        json!({"module": "keras.layers", "class_name": "Dense",
               "config": {"name": name, "units": 2, "dtype": {"module": "keras",
                 "class_name": "DTypePolicy", "config": {"name": "mixed_float16"}}},
               "registered_name": null, "build_config": {"input_shape": [null, 3]}})
    }

    #[test]
    fn sequential_is_normalised() {
        let v = json!({"module": "keras", "class_name": "Sequential", "config": {
            "name": "seq",
            "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": null,
                 "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "inp"}},
                dense("d1"), dense("d2")],
            "build_input_shape": [null, 3]}});
        let m = parse_root(&v, &CX).unwrap();
        assert_eq!(m.class_name, "Sequential");
        let names: Vec<&str> = m.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["inp", "d1", "d2"]);
        assert!(m.layers[0].calls.is_empty());
        assert_eq!(m.layers[1].calls[0].args, vec![t("inp", 0, 0)]);
        assert_eq!(m.layers[2].calls[0].args, vec![t("d1", 0, 0)]);
        assert_eq!(m.inputs[0].layer, "inp");
        assert_eq!(m.output_names(), ["d2"]);
        let spec = m.input_specs()[0].clone();
        assert_eq!(spec.shape, vec![None, Some(3)]);
        assert_eq!(spec.dtype, "float32");
    }

    #[test]
    fn sequential_without_input_layer() {
        // Built: an input is synthesised like Sequential.build does.
        let v = json!({"class_name": "Sequential", "module": "keras", "config": {
            "name": "s", "layers": [dense("input_layer"), dense("d2")],
            "build_input_shape": [2, 5]}});
        let m = parse_root(&v, &CX).unwrap();
        assert_eq!(m.layers.len(), 3);
        let spec = m.input_specs()[0].clone();
        assert_eq!(spec.name, "input_layer_1"); // `input_layer` is taken
        assert_eq!(spec.shape, vec![Some(2), Some(5)]);
        assert_eq!(spec.dtype, "float16"); // compute dtype of mixed_float16
        assert_eq!(m.layers[1].calls[0].args, vec![t("input_layer_1", 0, 0)]);
        // Unbuilt: refused clearly.
        let v = json!({"class_name": "Sequential", "module": "keras",
                       "config": {"name": "s", "layers": [dense("d1")]}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(e.contains("t.keras") && e.contains("saved unbuilt"), "{e}");
    }

    #[test]
    fn nested_functional_output_nodes_are_unshifted() {
        let inner = json!({"module": "keras.src.models.functional", "class_name": "Functional",
            "name": "inner",
            "config": {"name": "inner", "layers": [
                {"class_name": "InputLayer", "module": "keras.layers", "name": "ii",
                 "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "ii"},
                 "inbound_nodes": []}],
                "input_layers": [["ii", 0, 0]], "output_layers": [["ii", 0, 0]]},
            "inbound_nodes": [{"args": [kt("x", 0, 0)], "kwargs": {"mask": null}},
                              {"args": [kt("inner", 0, 0)], "kwargs": {}}]});
        let v = json!({"class_name": "Functional", "module": "keras.src.models.functional",
            "config": {"name": "top", "layers": [
                {"class_name": "InputLayer", "module": "keras.layers", "name": "x",
                 "config": {"batch_shape": [null, 4], "dtype": "float32", "name": "x"},
                 "inbound_nodes": []},
                inner],
              "input_layers": [["x", 0, 0]],
              "output_layers": [["inner", 2, 0], ["inner", 1, 0]]}});
        let m = parse_root(&v, &CX).unwrap();
        let nodes: Vec<usize> = m.outputs.iter().map(|r| r.node_index).collect();
        assert_eq!(nodes, [1, 0]);
        let inner = m.layer("inner").unwrap();
        assert!(matches!(inner.kind, NodeKind::Model(_)));
        assert_eq!(inner.calls.len(), 2);
        assert_eq!(inner.calls[1].args, vec![t("inner", 0, 0)]);
        assert_eq!(
            inner.calls[0].kwargs,
            vec![("mask".to_string(), Arg::Literal(Value::Null))]
        );
    }

    #[test]
    fn kinds_and_custom_classes() {
        let v = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "module": "keras.layers", "name": "x",
             "config": {"batch_input_shape": [null, 2],
                        "dtype": {"module": "keras", "class_name": "DTypePolicy",
                                  "config": {"name": "bfloat16"}}, "name": "x"}},
            {"class_name": "Log10", "module": "keras.src.ops.numpy", "registered_name": "Log10",
             "name": "log10", "config": {"name": "log10"},
             "inbound_nodes": [{"args": [kt("x", 0, 0)], "kwargs": {}}]},
            {"class_name": "MyLayer", "module": "my_pkg.layers", "registered_name": "my_pkg>MyLayer",
             "name": "mine", "config": {"name": "mine"},
             "inbound_nodes": [{"args": [kt("log10", 0, 0)], "kwargs": {}}]}],
            "input_layers": ["x", 0, 0], "output_layers": ["mine", 0, 0]}});
        let m = parse_root(&v, &CX).unwrap();
        let spec = m.input_specs()[0].clone();
        assert_eq!(spec.dtype, "bfloat16");
        assert_eq!(spec.shape, vec![None, Some(2)]);
        assert!(matches!(m.layer("log10").unwrap().kind, NodeKind::Op));
        let mine = m.layer("mine").unwrap();
        assert!(matches!(mine.kind, NodeKind::Layer));
        assert_eq!(mine.registered_name.as_deref(), Some("my_pkg>MyLayer"));
        assert_eq!(mine.module, "my_pkg.layers");
    }

    #[test]
    fn lambda_is_refused_even_nested() {
        let v = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "TimeDistributed", "module": "keras.layers", "name": "td",
             "config": {"name": "td", "layer": {"class_name": "Lambda", "module": "keras.layers",
                "config": {"name": "lam", "function": {"class_name": "__lambda__",
                           "config": {"value": "..."}}}}}}],
            "input_layers": [], "output_layers": []}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(e.contains("Lambda layer `lam`"), "{e}");
        assert!(e.contains("config.layers[0].config.layer"), "{e}");
        assert!(e.contains("never executes code"), "{e}");
        let v = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "Activation", "module": "keras.layers", "name": "act",
             "config": {"name": "act", "activation": {"class_name": "__lambda__",
                        "config": {"value": ["code"]}}}}],
            "input_layers": [], "output_layers": []}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(e.contains("serialized Python lambda"), "{e}");
        assert!(e.contains("config.layers[0].config.activation"), "{e}");
    }

    #[test]
    fn subclassed_and_malformed_roots() {
        let v = json!({"class_name": "MyModel", "registered_name": "pkg>MyModel", "config": {}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(e.contains("`MyModel`") && e.contains("pkg>MyModel"), "{e}");
        assert!(parse_root(&json!([1, 2]), &CX).is_err());
        let v = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "Dense", "config": {"name": "d"}},
            {"class_name": "Dense", "config": {"name": "d"}}],
            "input_layers": [], "output_layers": []}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(
            e.contains("two layers named `d`") && e.contains("config.layers[1]"),
            "{e}"
        );
        let v = json!({"class_name": "Functional", "config": {"name": "m", "layers": [
            {"class_name": "Dense", "config": {"name": "d"}, "inbound_nodes": [{"args": 3}]}],
            "input_layers": [], "output_layers": []}});
        let e = parse_root(&v, &CX).unwrap_err().to_string();
        assert!(e.contains("config.layers[0].inbound_nodes[0].args"), "{e}");
    }

    #[test]
    fn legacy_list_nodes() {
        let n = json!([["a", 0, 0], ["b", 1, 0, {"axis": 1}]]);
        let c = parse_node(&n, "n", &CX).unwrap();
        assert_eq!(c.args, vec![Arg::List(vec![t("a", 0, 0), t("b", 1, 0)])]);
        assert_eq!(c.kwargs, vec![("axis".to_string(), Arg::Literal(json!(1)))]);
        let c = parse_node(&json!([["a", 0, 0]]), "n", &CX).unwrap();
        assert_eq!(c.args, vec![t("a", 0, 0)]);
    }
}
