//! `model.weights.h5` -> each layer's [`Weight`]s.
//!
//! Keras 3.15 `saving_lib._save_state` walks the model and writes one group per saveable
//! object, named by its *saving path*, not by `layer.name`:
//!
//! - A Functional/Sequential model first yields `("layers", model.layers)`, and
//!   `_save_container_state` names each element `naming.to_snake_case(type(obj).__name__)`,
//!   made unique per container by `_get_unique_name` (`dense`, `dense_1`, `dense_2`, ...).
//!   `model.layers` is the config's `layers` list minus ops (they are not `Layer`s) and, for a
//!   Sequential, minus its InputLayer; a Functional model keeps its InputLayers.
//! - Each object's own variables go to `<path>/vars/<i>`; `H5IOStore.make` is called with
//!   `metadata={"name": obj.name}`, stored as a string attribute `name` *on the `vars` group*
//!   (so even weightless layers get an empty `vars` group in files that have it).
//! - Then the object's other attributes are walked in `sorted(dir(obj))` order with
//!   `_`-prefixed names last (`_name_key`): sub-layers land in sub-groups
//!   (`layers/lstm/cell/vars/0`, `layers/bidirectional/forward_layer/cell/vars/0`,
//!   `layers/multi_head_attention/query_dense/vars/0`), nested models recurse
//!   (`layers/functional/layers/dense/vars/0`), and the top level also gets `optimizer/...`.
//!
//! The loader recomputes every layer's saving path, cross-checks the group's `name` attribute
//! against the config's layer name, and collects the layer's variables: its own `vars/0..n`
//! (sorted numerically), then those of its sub-objects, recursively, in Keras' walk order.
//! Everything is converted to f32 (f16 and f64 by HDF5, bfloat16 by hand: Keras stores it as
//! 2-byte opaque values with an attribute `dtype="bfloat16"`).
//!
//! Reading happens in two passes. The first walks the groups and reads only metadata: every
//! dataset's shape, type, layout and stored size. All of it is checked before any data is
//! read: each dataset against its layer's config where the config fixes the shape (Dense),
//! the stored bytes against the declared ones, and the total number of values against the
//! parameter limit. The second pass reads the data into buffers allocated fallibly. Results
//! go to a [`Sink`], so the same walk runs in this process or in the isolated reader of
//! `super::isolate`, which reports the HDF5 path being read ([`Sink::at`]) for crash messages.

use super::error::LoadError;
use super::saving_names::{name_key, sorted_var_names, to_snake_case, unique_name};
use crate::layer_graph::{KerasModel, LayerNode, NodeKind, Weight};
use crate::text::clip;
use hdf5::{Dataset, Group, IndexType, IterationOrder, LinkType, LocationType};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

type R<T> = Result<T, LoadError>;

/// Most groups the loader will visit (guards against hostile hard-link graphs).
const MAX_GROUP_VISITS: usize = 200_000;
/// Deepest sub-object nesting inside one layer's group.
const MAX_SUB_DEPTH: usize = 32;
/// Largest compression ratio accepted for a filtered (compressed) dataset.
const MAX_COMPRESSION_RATIO: u64 = 1100;
/// Longest weight path kept (paths are for messages).
const MAX_PATH_CHARS: usize = 1000;

/// Where the walk's results go.
pub(crate) trait Sink {
    /// The HDF5 object about to be read (named if the HDF5 library crashes on it).
    fn at(&mut self, path: &str);
    /// One variable of the layer numbered `layer` (see [`layer_ids`]).
    fn weight(&mut self, layer: usize, w: Weight) -> R<()>;
}

/// A [`Sink`] that keeps the weights in memory, by layer number.
#[derive(Default)]
pub(crate) struct Collect {
    pub weights: Vec<(usize, Weight)>,
}

impl Sink for Collect {
    fn at(&mut self, _path: &str) {}
    fn weight(&mut self, layer: usize, w: Weight) -> R<()> {
        self.weights.push((layer, w));
        Ok(())
    }
}

/// How a planned dataset's values are read.
enum ReadKind {
    /// Converted to f32 by HDF5.
    F32,
    /// bfloat16 stored as 16-bit integers.
    Bf16Int,
    /// bfloat16 stored as 2-byte opaque values, contiguous at this file offset.
    Bf16Opaque(u64),
}

/// A dataset found by the first pass, to be read by the second.
struct Planned {
    layer: usize,
    /// In the layer's own `vars` (not a sub-object's).
    own: bool,
    path: String,
    ds: Dataset,
    shape: Vec<usize>,
    n: u64,
    kind: ReadKind,
}

struct St<'a> {
    file: &'a str,
    h5_path: &'a Path,
    visits: usize,
    max_params: u64,
    declared: u64,
    plan: Vec<Planned>,
    sink: &'a mut dyn Sink,
}

impl St<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> LoadError {
        LoadError::Weights {
            file: self.file.to_string(),
            path: if path.is_empty() {
                "/".to_string()
            } else {
                clip(path).into_owned()
            },
            message: message.into(),
        }
    }

    fn at(&mut self, path: &str) {
        self.sink.at(if path.is_empty() { "/" } else { path });
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// The number of entries of `model` and of the models nested in it, recursively.
pub(crate) fn count_layers(model: &KerasModel) -> usize {
    model
        .layers
        .iter()
        .map(|l| match &l.kind {
            NodeKind::Model(inner) => 1 + count_layers(inner),
            _ => 1,
        })
        .sum()
}

/// The numbers of `model.layers`, given the number of the model's first layer: layers are
/// numbered in pre-order (a nested model, then its own layers, then the next layer).
pub(crate) fn layer_ids(model: &KerasModel, base: usize) -> Vec<usize> {
    let mut next = base;
    model
        .layers
        .iter()
        .map(|l| {
            let id = next;
            next += 1 + match &l.kind {
                NodeKind::Model(inner) => count_layers(inner),
                _ => 0,
            };
            id
        })
        .collect()
}

/// Give each layer of `model` (recursively) the weights numbered for it; `weights` is sorted
/// by layer number, in reading order within a layer.
pub(crate) fn apply(model: &mut KerasModel, weights: Vec<(usize, Weight)>) {
    let mut by_layer: HashMap<usize, Vec<Weight>> = HashMap::new();
    for (id, w) in weights {
        by_layer.entry(id).or_default().push(w);
    }
    fn walk(model: &mut KerasModel, next: &mut usize, by_layer: &mut HashMap<usize, Vec<Weight>>) {
        for layer in &mut model.layers {
            let id = *next;
            *next += 1;
            if let Some(w) = by_layer.remove(&id) {
                layer.weights = w;
            }
            if let NodeKind::Model(inner) = &mut layer.kind {
                walk(inner, next, by_layer);
            }
        }
    }
    let mut next = 0;
    walk(model, &mut next, &mut by_layer);
}

/// Read the weights of every layer of `model` (recursively) from the HDF5 file at `h5_path`
/// into `sink`, checking everything declared before reading any data.
pub(crate) fn read_all(
    model: &KerasModel,
    h5_path: &Path,
    file: &str,
    max_params: u64,
    sink: &mut dyn Sink,
) -> R<()> {
    let mut st = St {
        file,
        h5_path,
        visits: 0,
        max_params,
        declared: 0,
        plan: Vec::new(),
        sink,
    };
    st.at("");
    // The core driver reads the file into memory when it opens it. The sec2 driver cannot
    // open the unnamed file: it insists on resolving `/proc/self/fd/N` to a real path.
    let h5 = hdf5::File::with_options()
        .with_fapl(|p| p.core_filebacked(false))
        .open(h5_path)
        .map_err(|e| st.err("", format!("not a readable HDF5 file ({e})")))?;
    let root: &Group = &h5;
    attach_model(model, root, "", 0, &mut st)?;
    for p in std::mem::take(&mut st.plan) {
        let value = read_planned(&p, &mut st)?;
        st.sink.weight(
            p.layer,
            Weight {
                path: p.path,
                value,
            },
        )?;
    }
    Ok(())
}

enum Member {
    Group(Group),
    Dataset(Dataset),
}

/// The members of a group, by name, following hard links only.
fn members(g: &Group, gpath: &str, st: &mut St) -> R<BTreeMap<String, Member>> {
    st.visits += 1;
    if st.visits > MAX_GROUP_VISITS {
        return Err(st.err(
            gpath,
            format!("the file has more than {MAX_GROUP_VISITS} groups to visit; refusing it"),
        ));
    }
    st.at(gpath);
    let links = g
        .links(IndexType::Name, IterationOrder::Increasing)
        .map_err(|e| st.err(gpath, format!("cannot list the group ({e})")))?;
    let mut out = BTreeMap::new();
    for (name, info) in links {
        let path = join(gpath, &name);
        if info.link_type != LinkType::Hard {
            let kind = match info.link_type {
                LinkType::Soft => "a soft link",
                _ => "an external link (to another file)",
            };
            return Err(st.err(&path, format!("is {kind}; Keras never writes links")));
        }
        st.at(&path);
        let member = match g.loc_type_by_name(&name) {
            Ok(LocationType::Group) => Member::Group(
                g.group(&name)
                    .map_err(|e| st.err(&path, format!("cannot open the group ({e})")))?,
            ),
            Ok(LocationType::Dataset) => Member::Dataset(
                g.dataset(&name)
                    .map_err(|e| st.err(&path, format!("cannot open the dataset ({e})")))?,
            ),
            Ok(_) => continue, // named datatypes: not data
            Err(e) => return Err(st.err(&path, format!("cannot inspect the object ({e})"))),
        };
        out.insert(name, member);
    }
    Ok(out)
}

fn subgroup(m: &BTreeMap<String, Member>, name: &str, gpath: &str, st: &St) -> R<Option<Group>> {
    match m.get(name) {
        None => Ok(None),
        Some(Member::Group(g)) => Ok(Some(g.clone())),
        Some(Member::Dataset(_)) => Err(st.err(
            &join(gpath, name),
            "is a dataset where Keras writes a group",
        )),
    }
}

/// The `name` attribute Keras stores on a `vars` group, if any.
fn name_attr(vars: &Group, vpath: &str, st: &mut St) -> R<Option<String>> {
    st.at(vpath);
    let names = vars
        .attr_names()
        .map_err(|e| st.err(vpath, format!("cannot list attributes ({e})")))?;
    if !names.iter().any(|n| n == "name") {
        return Ok(None);
    }
    let a = vars
        .attr("name")
        .map_err(|e| st.err(vpath, format!("cannot open attribute `name` ({e})")))?;
    read_string_attr(&a)
        .map(Some)
        .ok_or_else(|| st.err(vpath, "attribute `name` is not a string"))
}

fn read_string_attr(a: &hdf5::Attribute) -> Option<String> {
    use hdf5::types::{FixedAscii, FixedUnicode, VarLenAscii, VarLenUnicode};
    if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<VarLenAscii>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<FixedUnicode<1024>>() {
        return Some(s.as_str().to_string());
    }
    if let Ok(s) = a.read_scalar::<FixedAscii<1024>>() {
        return Some(s.as_str().to_string());
    }
    None
}

/// Give the layers of `model`, a model saved inside a wrapper's config, their weights out of
/// the wrapper's (already read, in walk order): the saving-path rule of [`attach`], applied to
/// paths under `prefix` (`<wrapper group>/layer`) instead of HDF5 groups.
pub(crate) fn attach_flat(model: &mut KerasModel, weights: &[Weight], prefix: &str) {
    let sequential = model.class_name == "Sequential";
    let mut used = HashMap::new();
    for layer in model.layers.iter_mut() {
        if !in_model_layers(layer, sequential) {
            continue;
        }
        let group = format!(
            "{prefix}/layers/{}",
            unique_name(to_snake_case(&layer.class_name), &mut used)
        );
        let under = |p: String| -> Vec<Weight> {
            weights
                .iter()
                .filter(|w| w.path.starts_with(&p))
                .cloned()
                .collect()
        };
        match &mut layer.kind {
            NodeKind::Model(inner) => {
                layer.weights = under(format!("{group}/vars/"));
                attach_flat(inner, weights, &group);
            }
            _ => layer.weights = under(format!("{group}/")),
        }
    }
}

/// Whether Keras saves this entry under `<model>/layers/...` (it is in `model.layers`).
fn in_model_layers(layer: &LayerNode, sequential: bool) -> bool {
    match layer.kind {
        NodeKind::Op => false,
        NodeKind::Input(_) => !sequential,
        _ => true,
    }
}

/// Plan the weights of `model`'s layers; `mgroup` is the model's own group (`mpath` its
/// path) and `base` the number of its first layer.
fn attach_model(
    model: &KerasModel,
    mgroup: &Group,
    mpath: &str,
    base: usize,
    st: &mut St,
) -> R<()> {
    let ids = layer_ids(model, base);
    let mmembers = members(mgroup, mpath, st)?;
    // Files written with per-layer `name` metadata have a group for every layer.
    let strict = match subgroup(&mmembers, "vars", mpath, st)? {
        Some(v) => name_attr(&v, &join(mpath, "vars"), st)?.is_some(),
        None => false,
    };
    let lpath = join(mpath, "layers");
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    if let Some(lg) = subgroup(&mmembers, "layers", mpath, st)? {
        for (name, m) in members(&lg, &lpath, st)? {
            match m {
                Member::Group(g) => {
                    groups.insert(name, g);
                }
                Member::Dataset(_) => {
                    return Err(st.err(
                        &join(&lpath, &name),
                        "is a dataset where Keras writes a layer's group",
                    ))
                }
            }
        }
    }
    let sequential = model.class_name == "Sequential";
    let mut used = HashMap::new();
    let mut consumed: HashSet<String> = HashSet::new();
    let mut pending: Vec<usize> = Vec::new();
    for (i, layer) in model.layers.iter().enumerate() {
        if !in_model_layers(layer, sequential) {
            continue;
        }
        let child = unique_name(to_snake_case(&layer.class_name), &mut used);
        let gpath = join(&lpath, &child);
        let Some(g) = groups.get(&child) else {
            pending.push(i);
            continue;
        };
        let saved_for = vars_name(g, &gpath, st)?;
        if let Some(saved) = &saved_for {
            if saved != &layer.name {
                return Err(st.err(
                    &gpath,
                    format!(
                        "this group holds the weights of layer `{}` (its vars/name \
                         attribute), but by Keras' naming rule it belongs to the config's layer \
                         `{}` ({}); the weights file does not match config.json",
                        clip(saved),
                        clip(&layer.name),
                        clip(&layer.class_name)
                    ),
                ));
            }
        }
        consumed.insert(child);
        fill_layer(layer, ids[i], g, &gpath, st)?;
    }
    // Layers whose group is not where the naming rule puts it: accept a group that names them.
    if !pending.is_empty() {
        let mut by_name: HashMap<String, String> = HashMap::new();
        for (child, g) in &groups {
            if consumed.contains(child) {
                continue;
            }
            if let Some(n) = vars_name(g, &join(&lpath, child), st)? {
                by_name.insert(n, child.clone());
            }
        }
        for i in pending {
            let layer = &model.layers[i];
            if let Some(child) = by_name.get(&layer.name) {
                if consumed.insert(child.clone()) {
                    fill_layer(layer, ids[i], &groups[child], &join(&lpath, child), st)?;
                    continue;
                }
            }
            if strict && layer.module.starts_with("keras") {
                let expected = rule_name_of(model, i);
                return Err(st.err(
                    &join(&lpath, &expected),
                    format!(
                        "missing: no weight group for layer `{}` ({}); this file records a \
                         group for every layer, so the weights file does not match config.json",
                        clip(&layer.name),
                        clip(&layer.class_name)
                    ),
                ));
            }
        }
    }
    for (child, g) in &groups {
        if !consumed.contains(child) {
            let gpath = join(&lpath, child);
            let who = match vars_name(g, &gpath, st)? {
                Some(n) => format!("saved for layer `{}`", clip(&n)),
                None => "with no name attribute".to_string(),
            };
            return Err(st.err(
                &gpath,
                format!(
                    "this weight group ({who}) matches no layer of model `{}` in config.json",
                    clip(&model.name)
                ),
            ));
        }
    }
    Ok(())
}

/// The saving-path child name of `model.layers[target]` (for messages).
fn rule_name_of(model: &KerasModel, target: usize) -> String {
    let sequential = model.class_name == "Sequential";
    let mut used = HashMap::new();
    let mut out = String::new();
    for l in model.layers.iter().take(target + 1) {
        if in_model_layers(l, sequential) {
            out = unique_name(to_snake_case(&l.class_name), &mut used);
        }
    }
    out
}

/// The `name` attribute of `<g>/vars`, if the group and attribute exist.
fn vars_name(g: &Group, gpath: &str, st: &mut St) -> R<Option<String>> {
    let m = members(g, gpath, st)?;
    match subgroup(&m, "vars", gpath, st)? {
        Some(v) => name_attr(&v, &join(gpath, "vars"), st),
        None => Ok(None),
    }
}

fn fill_layer(layer: &LayerNode, id: usize, g: &Group, gpath: &str, st: &mut St) -> R<()> {
    let first = st.plan.len();
    match &layer.kind {
        NodeKind::Model(inner) => {
            let m = members(g, gpath, st)?;
            if let Some(v) = subgroup(&m, "vars", gpath, st)? {
                plan_vars(&v, &join(gpath, "vars"), id, true, st)?;
            }
            attach_model(inner, g, gpath, id + 1, st)
        }
        _ => {
            collect_object(g, gpath, 0, id, st)?;
            check_config(layer, first, st)
        }
    }
}

/// An object's own `vars`, then its sub-objects' (recursively), in Keras' walk order.
fn collect_object(g: &Group, gpath: &str, depth: usize, id: usize, st: &mut St) -> R<()> {
    if depth > MAX_SUB_DEPTH {
        return Err(st.err(gpath, "sub-groups nest too deeply"));
    }
    let m = members(g, gpath, st)?;
    if let Some(v) = subgroup(&m, "vars", gpath, st)? {
        plan_vars(&v, &join(gpath, "vars"), id, depth == 0, st)?;
    }
    let mut children: Vec<(&String, &Member)> = m.iter().filter(|(n, _)| *n != "vars").collect();
    children.sort_by_key(|(n, _)| name_key(n));
    for (name, member) in children {
        let path = join(gpath, name);
        match member {
            Member::Group(sub) => collect_object(sub, &path, depth + 1, id, st)?,
            Member::Dataset(_) => {
                return Err(st.err(&path, "is a dataset outside a `vars` group"));
            }
        }
    }
    Ok(())
}

fn plan_vars(vars: &Group, vpath: &str, id: usize, own: bool, st: &mut St) -> R<()> {
    let m = members(vars, vpath, st)?;
    let names: Vec<String> = m.keys().cloned().collect();
    let order = sorted_var_names(&names).map_err(|e| st.err(vpath, e))?;
    for (_, name) in order {
        let path = join(vpath, &name);
        let Some(Member::Dataset(ds)) = m.get(&name) else {
            return Err(st.err(
                &path,
                "is a group where Keras writes a variable (a dataset)",
            ));
        };
        plan_dataset(ds, path, id, own, st)?;
    }
    Ok(())
}

fn is_bfloat16(ds: &Dataset, path: &str, st: &mut St) -> bool {
    st.at(path);
    let Ok(names) = ds.attr_names() else {
        return false;
    };
    if !names.iter().any(|n| n == "dtype") {
        return false;
    }
    ds.attr("dtype")
        .ok()
        .and_then(|a| read_string_attr(&a))
        .is_some_and(|s| s == "bfloat16")
}

pub(crate) fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// First pass over one dataset: everything but its data, checked.
fn plan_dataset(ds: &Dataset, path: String, id: usize, own: bool, st: &mut St) -> R<()> {
    use hdf5::dataset::Layout;
    st.at(&path);
    let layout = ds.layout();
    if !matches!(
        layout,
        Layout::Contiguous | Layout::Compact | Layout::Chunked
    ) {
        return Err(st.err(
            &path,
            "is a virtual dataset (its data lives in other files); Keras never writes those",
        ));
    }
    if let Ok(dcpl) = ds.dcpl() {
        if !dcpl.external().is_empty() {
            return Err(st.err(
                &path,
                "stores its data in external files; Keras never writes those",
            ));
        }
    }
    let shape = ds.shape();
    let n = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| st.err(&path, format!("declares an impossible shape {shape:?}")))?;
    st.declared = st.declared.saturating_add(n);
    if st.declared > st.max_params {
        return Err(st.err(
            &path,
            format!(
                "declares shape {shape:?} ({n} values), which brings the model to more than \
                 {} parameters, the limit (set KERAS2OV_MAX_PARAMS to allow more); no data was \
                 read",
                st.max_params
            ),
        ));
    }
    let dtype = ds
        .dtype()
        .map_err(|e| st.err(&path, format!("cannot read its datatype ({e})")))?;
    let elem = dtype.size() as u64;
    let declared = n.saturating_mul(elem);
    if n > 0 {
        let stored = ds.storage_size();
        let filtered = !ds.filters().is_empty();
        let ok = if filtered {
            declared <= stored.saturating_mul(MAX_COMPRESSION_RATIO)
        } else {
            stored >= declared
        };
        if !ok {
            return Err(st.err(
                &path,
                format!(
                    "declares shape {shape:?} ({declared} bytes) but stores only {stored} \
                     bytes; the file is damaged"
                ),
            ));
        }
    }
    let kind = if n == 0 {
        ReadKind::F32
    } else if is_bfloat16(ds, &path, st) {
        if elem != 2 {
            return Err(st.err(
                &path,
                format!("is marked dtype=bfloat16 but its elements are {elem} bytes, not 2"),
            ));
        }
        if dtype.is::<u16>() || dtype.is::<i16>() {
            ReadKind::Bf16Int
        } else {
            match ds.offset() {
                Some(offset) => ReadKind::Bf16Opaque(offset),
                None => {
                    return Err(st.err(
                        &path,
                        "is a bfloat16 dataset stored chunked or compact; keras2ov reads \
                         bfloat16 only from contiguous datasets (as Keras writes them)",
                    ))
                }
            }
        }
    } else if dtype.conv_to::<f32>().is_some() {
        ReadKind::F32
    } else {
        let what = dtype
            .to_descriptor()
            .map(|d| d.to_string())
            .unwrap_or_else(|_| format!("a non-numeric {elem}-byte type"));
        return Err(st.err(
            &path,
            format!(
                "has datatype {}, which cannot be converted to float32",
                clip(&what)
            ),
        ));
    };
    st.plan.push(Planned {
        layer: id,
        own,
        path: clip_path(path),
        ds: ds.clone(),
        shape,
        n,
        kind,
    });
    Ok(())
}

fn clip_path(path: String) -> String {
    if path.len() <= MAX_PATH_CHARS {
        path
    } else {
        crate::text::clip_to(&path, MAX_PATH_CHARS).into_owned()
    }
}

/// What a layer's config says about the shapes of its own weights, checked before reading
/// them. Only Dense is checked here (its `units` fix the kernel's last axis and the bias);
/// lowering checks every supported layer in full, with the input shapes known.
fn check_config(layer: &LayerNode, first: usize, st: &St) -> R<()> {
    if layer.class_name != "Dense" || !layer.module.starts_with("keras") {
        return Ok(());
    }
    let cfg = &layer.config;
    if cfg.get("lora_rank").is_some_and(|v| !v.is_null()) {
        return Ok(()); // refused by lowering, with its own message
    }
    let Some(units) = cfg.get("units").and_then(Value::as_u64) else {
        return Ok(()); // lowering reports the bad config
    };
    let use_bias = cfg.get("use_bias").and_then(Value::as_bool).unwrap_or(true);
    let planned: Vec<&Planned> = st.plan[first..].iter().filter(|p| p.own).collect();
    let wrong = |p: &&Planned, implied: String| {
        st.err(
            &p.path,
            format!(
                "declares shape {:?}, but the config of Dense layer `{}` (units {units}) implies \
                 {implied}; no data was read",
                p.shape,
                clip(&layer.name)
            ),
        )
    };
    if let Some(k) = planned.first() {
        if k.shape.len() != 2 || k.shape[1] as u64 != units {
            return Err(wrong(k, format!("a kernel of shape [input size, {units}]")));
        }
    }
    if let Some(b) = planned.get(1).filter(|_| use_bias) {
        if b.shape.len() != 1 || b.shape[0] as u64 != units {
            return Err(wrong(b, format!("a bias of shape [{units}]")));
        }
    }
    Ok(())
}

/// An empty vector for `n` values, or an error if memory runs out.
fn try_vec<T: Clone + Default>(n: u64, path: &str, st: &St) -> R<Vec<T>> {
    let oom = || st.err(path, format!("not enough memory to read its {n} values"));
    let n = usize::try_from(n).map_err(|_| oom())?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| oom())?;
    v.resize(n, T::default());
    Ok(v)
}

/// Second pass: read one planned dataset.
fn read_planned(p: &Planned, st: &mut St) -> R<ArrayD<f32>> {
    st.at(&p.path);
    let data: Vec<f32> = if p.n == 0 {
        Vec::new()
    } else {
        match p.kind {
            ReadKind::F32 => {
                let mut v = try_vec::<f32>(p.n, &p.path, st)?;
                p.ds.read_into_raw(&mut v)
                    .map_err(|e| st.err(&p.path, format!("cannot read the data as f32 ({e})")))?;
                v
            }
            ReadKind::Bf16Int => {
                let mut v = try_vec::<u16>(p.n, &p.path, st)?;
                p.ds.read_into_raw(&mut v)
                    .map_err(|e| st.err(&p.path, format!("cannot read bfloat16 data ({e})")))?;
                v.into_iter().map(bf16_to_f32).collect()
            }
            ReadKind::Bf16Opaque(offset) => read_opaque_u16(offset, p, st)?
                .into_iter()
                .map(bf16_to_f32)
                .collect(),
        }
    };
    if data.len() as u64 != p.n {
        return Err(st.err(&p.path, "returned fewer values than its shape declares"));
    }
    ArrayD::from_shape_vec(IxDyn(&p.shape), data)
        .map_err(|e| st.err(&p.path, format!("cannot shape the data ({e})")))
}

/// h5py writes ml_dtypes' bfloat16 as an HDF5 *opaque* 2-byte type, which HDF5 cannot convert:
/// read the raw little-endian bytes of the (contiguous, unfiltered) dataset from the file.
fn read_opaque_u16(offset: u64, p: &Planned, st: &St) -> R<Vec<u16>> {
    let path = p.path.as_str();
    let bytes = p.n.saturating_mul(2);
    let io = |e: std::io::Error| st.err(path, format!("cannot read the raw bfloat16 bytes ({e})"));
    let mut f = std::fs::File::open(st.h5_path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if offset.checked_add(bytes).is_none_or(|end| end > len) {
        return Err(st.err(path, "its data lies beyond the end of the file"));
    }
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut raw = try_vec::<u8>(bytes, path, st)?;
    f.read_exact(&mut raw).map_err(io)?;
    Ok(raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfloat16_bits() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
        assert_eq!(bf16_to_f32(0x3e20), 0.15625);
    }
}
