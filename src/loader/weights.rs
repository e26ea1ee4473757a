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

use super::error::LoadError;
use crate::layer_graph::{KerasModel, LayerNode, NodeKind, Weight};
use hdf5::{Dataset, Group, IndexType, IterationOrder, LinkType, LocationType};
use ndarray::{ArrayD, IxDyn};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

type R<T> = Result<T, LoadError>;

/// Most groups the loader will visit (guards against hostile hard-link graphs).
const MAX_GROUP_VISITS: usize = 200_000;
/// Deepest sub-object nesting inside one layer's group.
const MAX_SUB_DEPTH: usize = 32;
/// Most f32 bytes all weights together may decode to.
const MAX_TOTAL_F32_BYTES: u64 = 8 << 30;
/// Largest compression ratio accepted for a filtered (compressed) dataset.
const MAX_COMPRESSION_RATIO: u64 = 1100;

struct St<'a> {
    file: &'a str,
    h5_path: &'a Path,
    visits: usize,
    f32_bytes: u64,
}

impl St<'_> {
    fn err(&self, path: &str, message: impl Into<String>) -> LoadError {
        LoadError::Weights {
            file: self.file.to_string(),
            path: if path.is_empty() {
                "/".to_string()
            } else {
                path.to_string()
            },
            message: message.into(),
        }
    }
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Fill the `weights` of every layer of `model` (recursively) from the HDF5 file at `h5_path`.
pub(crate) fn attach(model: &mut KerasModel, h5_path: &Path, file: &str) -> R<()> {
    let mut st = St {
        file,
        h5_path,
        visits: 0,
        f32_bytes: 0,
    };
    let h5 = hdf5::File::open(h5_path)
        .map_err(|e| st.err("", format!("not a readable HDF5 file ({e})")))?;
    let root: &Group = &h5;
    attach_model(model, root, "", &mut st)
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
fn name_attr(vars: &Group, vpath: &str, st: &St) -> R<Option<String>> {
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

/// Python's `keras.src.utils.naming.to_snake_case`:
/// `re.sub(r"\W+", "", name)`, then `(.)([A-Z][a-z]+)` -> `\1_\2`,
/// then `([a-z])([A-Z])` -> `\1_\2`, then `.lower()`.
pub(crate) fn to_snake_case(name: &str) -> String {
    let s: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // Pass 1: non-overlapping, leftmost matches of (.)([A-Z][a-z]+).
    let mut p1: Vec<char> = Vec::with_capacity(s.len() + 8);
    let mut i = 0;
    while i < s.len() {
        let mut lowers = 0;
        if i + 2 < s.len() && s[i + 1].is_ascii_uppercase() {
            while i + 2 + lowers < s.len() && s[i + 2 + lowers].is_ascii_lowercase() {
                lowers += 1;
            }
        }
        if lowers > 0 {
            p1.push(s[i]);
            p1.push('_');
            p1.extend_from_slice(&s[i + 1..i + 2 + lowers]);
            i += 2 + lowers;
        } else {
            p1.push(s[i]);
            i += 1;
        }
    }
    // Pass 2: non-overlapping ([a-z])([A-Z]).
    let mut p2 = String::with_capacity(p1.len() + 8);
    let mut i = 0;
    while i < p1.len() {
        if i + 1 < p1.len() && p1[i].is_ascii_lowercase() && p1[i + 1].is_ascii_uppercase() {
            p2.push(p1[i]);
            p2.push('_');
            p2.push(p1[i + 1]);
            i += 2;
        } else {
            p2.push(p1[i]);
            i += 1;
        }
    }
    p2.to_lowercase()
}

/// `saving_lib._get_unique_name`.
fn unique_name(base: String, used: &mut HashMap<String, usize>) -> String {
    match used.get_mut(&base) {
        Some(n) => {
            *n += 1;
            format!("{base}_{n}")
        }
        None => {
            used.insert(base.clone(), 0);
            base
        }
    }
}

/// The names `_save_container_state` gives the elements of a list of these classes.
pub(crate) fn container_names(classes: &[&str]) -> Vec<String> {
    let mut used = HashMap::new();
    classes
        .iter()
        .map(|c| unique_name(to_snake_case(c), &mut used))
        .collect()
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

/// `saving_lib._name_key`: private attributes are visited last.
fn name_key(name: &str) -> String {
    match name.strip_prefix('_') {
        Some(rest) => format!("~{rest}"),
        None => name.to_string(),
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

/// Attach weights to `model`'s layers; `mgroup` is the model's own group (`mpath` its path).
fn attach_model(model: &mut KerasModel, mgroup: &Group, mpath: &str, st: &mut St) -> R<()> {
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
    for (i, layer) in model.layers.iter_mut().enumerate() {
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
                        "this group holds the weights of layer `{saved}` (its vars/name \
                         attribute), but by Keras' naming rule it belongs to the config's layer \
                         `{}` ({}); the weights file does not match config.json",
                        layer.name, layer.class_name
                    ),
                ));
            }
        }
        consumed.insert(child);
        fill_layer(layer, g, &gpath, st)?;
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
            let layer = &mut model.layers[i];
            if let Some(child) = by_name.get(&layer.name) {
                if consumed.insert(child.clone()) {
                    fill_layer(layer, &groups[child], &join(&lpath, child), st)?;
                    continue;
                }
            }
            if strict && layer.module.starts_with("keras") {
                let expected = rule_name_of(model, i);
                let layer = &model.layers[i];
                return Err(st.err(
                    &join(&lpath, &expected),
                    format!(
                        "missing: no weight group for layer `{}` ({}); this file records a \
                         group for every layer, so the weights file does not match config.json",
                        layer.name, layer.class_name
                    ),
                ));
            }
        }
    }
    for (child, g) in &groups {
        if !consumed.contains(child) {
            let gpath = join(&lpath, child);
            let who = match vars_name(g, &gpath, st)? {
                Some(n) => format!("saved for layer `{n}`"),
                None => "with no name attribute".to_string(),
            };
            return Err(st.err(
                &gpath,
                format!(
                    "this weight group ({who}) matches no layer of model `{}` in config.json",
                    model.name
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

fn fill_layer(layer: &mut LayerNode, g: &Group, gpath: &str, st: &mut St) -> R<()> {
    match &mut layer.kind {
        NodeKind::Model(inner) => {
            let m = members(g, gpath, st)?;
            layer.weights = match subgroup(&m, "vars", gpath, st)? {
                Some(v) => read_vars(&v, &join(gpath, "vars"), st)?,
                None => Vec::new(),
            };
            attach_model(inner, g, gpath, st)
        }
        _ => {
            let mut out = Vec::new();
            collect_object(g, gpath, 0, &mut out, st)?;
            layer.weights = out;
            Ok(())
        }
    }
}

/// An object's own `vars`, then its sub-objects' (recursively), in Keras' walk order.
fn collect_object(
    g: &Group,
    gpath: &str,
    depth: usize,
    out: &mut Vec<Weight>,
    st: &mut St,
) -> R<()> {
    if depth > MAX_SUB_DEPTH {
        return Err(st.err(gpath, "sub-groups nest too deeply"));
    }
    let m = members(g, gpath, st)?;
    if let Some(v) = subgroup(&m, "vars", gpath, st)? {
        out.extend(read_vars(&v, &join(gpath, "vars"), st)?);
    }
    let mut children: Vec<(&String, &Member)> = m.iter().filter(|(n, _)| *n != "vars").collect();
    children.sort_by_key(|(n, _)| name_key(n));
    for (name, member) in children {
        let path = join(gpath, name);
        match member {
            Member::Group(sub) => collect_object(sub, &path, depth + 1, out, st)?,
            Member::Dataset(_) => {
                return Err(st.err(&path, "is a dataset outside a `vars` group"));
            }
        }
    }
    Ok(())
}

/// Parse a `vars` member name: Keras writes `str(i)`.
pub(crate) fn var_index(name: &str) -> Option<usize> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if name.len() > 1 && name.starts_with('0') {
        return None;
    }
    name.parse().ok()
}

/// Order `vars` member names numerically (`10` after `2`), requiring exactly `0..n`.
pub(crate) fn sorted_var_names(names: &[String]) -> Result<Vec<(usize, String)>, String> {
    let mut v = Vec::with_capacity(names.len());
    for n in names {
        let Some(i) = var_index(n) else {
            return Err(format!(
                "`{n}` is not a variable index (Keras names variables 0, 1, 2, ...)"
            ));
        };
        v.push((i, n.clone()));
    }
    v.sort();
    for (k, (i, _)) in v.iter().enumerate() {
        if *i != k {
            return Err(format!(
                "variables are numbered {}: variable {k} is missing",
                v.iter()
                    .map(|(i, _)| i.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(v)
}

fn read_vars(vars: &Group, vpath: &str, st: &mut St) -> R<Vec<Weight>> {
    let m = members(vars, vpath, st)?;
    let names: Vec<String> = m.keys().cloned().collect();
    let order = sorted_var_names(&names).map_err(|e| st.err(vpath, e))?;
    let mut out = Vec::with_capacity(order.len());
    for (_, name) in order {
        let path = join(vpath, &name);
        let Member::Dataset(ds) = &m[&name] else {
            return Err(st.err(
                &path,
                "is a group where Keras writes a variable (a dataset)",
            ));
        };
        let value = read_dataset(ds, &path, st)?;
        out.push(Weight { path, value });
    }
    Ok(out)
}

fn is_bfloat16(ds: &Dataset) -> bool {
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

fn read_dataset(ds: &Dataset, path: &str, st: &mut St) -> R<ArrayD<f32>> {
    use hdf5::dataset::Layout;
    let layout = ds.layout();
    if !matches!(
        layout,
        Layout::Contiguous | Layout::Compact | Layout::Chunked
    ) {
        return Err(st.err(
            path,
            "is a virtual dataset (its data lives in other files); Keras never writes those",
        ));
    }
    if let Ok(dcpl) = ds.dcpl() {
        if !dcpl.external().is_empty() {
            return Err(st.err(
                path,
                "stores its data in external files; Keras never writes those",
            ));
        }
    }
    let shape = ds.shape();
    let n = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .filter(|&n| n <= usize::MAX as u64 / 8)
        .ok_or_else(|| st.err(path, format!("declares an impossible shape {shape:?}")))?;
    let dtype = ds
        .dtype()
        .map_err(|e| st.err(path, format!("cannot read its datatype ({e})")))?;
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
                path,
                format!(
                    "declares shape {shape:?} ({declared} bytes) but stores only {stored} \
                     bytes; the file is damaged"
                ),
            ));
        }
    }
    st.f32_bytes = st.f32_bytes.saturating_add(n.saturating_mul(4));
    if st.f32_bytes > MAX_TOTAL_F32_BYTES {
        return Err(st.err(
            path,
            format!("the weights decode to more than {MAX_TOTAL_F32_BYTES} bytes; refusing"),
        ));
    }
    let data: Vec<f32> = if n == 0 {
        Vec::new()
    } else if is_bfloat16(ds) {
        if elem != 2 {
            return Err(st.err(
                path,
                format!("is marked dtype=bfloat16 but its elements are {elem} bytes, not 2"),
            ));
        }
        let bits: Vec<u16> = if dtype.is::<u16>() || dtype.is::<i16>() {
            ds.read_raw::<u16>()
                .map_err(|e| st.err(path, format!("cannot read bfloat16 data ({e})")))?
        } else {
            read_opaque_u16(ds, n, path, st)?
        };
        bits.into_iter().map(bf16_to_f32).collect()
    } else if dtype.conv_to::<f32>().is_some() {
        ds.read_raw::<f32>()
            .map_err(|e| st.err(path, format!("cannot read the data as f32 ({e})")))?
    } else {
        let what = dtype
            .to_descriptor()
            .map(|d| d.to_string())
            .unwrap_or_else(|_| format!("a non-numeric {elem}-byte type"));
        return Err(st.err(
            path,
            format!("has datatype {what}, which cannot be converted to float32"),
        ));
    };
    if data.len() as u64 != n {
        return Err(st.err(path, "returned fewer values than its shape declares"));
    }
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| st.err(path, format!("cannot shape the data ({e})")))
}

/// h5py writes ml_dtypes' bfloat16 as an HDF5 *opaque* 2-byte type, which HDF5 cannot convert:
/// read the raw little-endian bytes of the (contiguous, unfiltered) dataset from the file.
fn read_opaque_u16(ds: &Dataset, n: u64, path: &str, st: &St) -> R<Vec<u16>> {
    let Some(offset) = ds.offset() else {
        return Err(st.err(
            path,
            "is a bfloat16 dataset stored chunked or compact; keras2ov reads bfloat16 only \
             from contiguous datasets (as Keras writes them)",
        ));
    };
    let bytes = n * 2;
    let io = |e: std::io::Error| st.err(path, format!("cannot read the raw bfloat16 bytes ({e})"));
    let mut f = std::fs::File::open(st.h5_path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if offset.checked_add(bytes).is_none_or(|end| end > len) {
        return Err(st.err(path, "its data lies beyond the end of the file"));
    }
    f.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut raw = vec![0u8; bytes as usize];
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
    fn snake_case_matches_keras() {
        // Expected values printed by keras.src.utils.naming.to_snake_case (Keras 3.15.1).
        for (name, want) in [
            ("Dense", "dense"),
            ("InputLayer", "input_layer"),
            ("PReLU", "p_re_lu"),
            ("LSTMCell", "lstm_cell"),
            ("Conv2DTranspose", "conv2d_transpose"),
            ("GRU", "gru"),
            ("MultiHeadAttention", "multi_head_attention"),
            ("BatchNormalization", "batch_normalization"),
            ("ReLU", "re_lu"),
            ("HTTPServerXYZ", "http_server_xyz"),
            ("aBC", "a_bc"),
            ("ABCDef", "abc_def"),
            ("Conv1D", "conv1d"),
            ("my.Layer-x", "my_layerx"),
            ("UpSampling2D", "up_sampling2d"),
            ("TFSMLayer", "tfsm_layer"),
            ("ZeroPadding2D", "zero_padding2d"),
            ("Functional", "functional"),
            ("Sequential", "sequential"),
            ("EinsumDense", "einsum_dense"),
            ("aBcD", "a_bc_d"),
            ("X", "x"),
            ("x2Y", "x2y"),
            ("Ab", "ab"),
            ("AB_cD", "ab_c_d"),
        ] {
            assert_eq!(to_snake_case(name), want, "{name}");
        }
    }

    #[test]
    fn unique_names_count_per_base() {
        let mut used = HashMap::new();
        let got: Vec<String> = ["dense", "dense", "conv", "dense", "conv"]
            .iter()
            .map(|b| unique_name(b.to_string(), &mut used))
            .collect();
        assert_eq!(got, ["dense", "dense_1", "conv", "dense_2", "conv_1"]);
    }

    #[test]
    fn vars_sort_numerically() {
        let names: Vec<String> = (0..12).map(|i| i.to_string()).collect();
        let mut shuffled = names.clone();
        shuffled.sort(); // text order: 0 1 10 11 2 3 ...
        assert_eq!(shuffled[2], "10");
        let order = sorted_var_names(&shuffled).unwrap();
        let got: Vec<&str> = order.iter().map(|(_, n)| n.as_str()).collect();
        assert_eq!(got, names.iter().map(String::as_str).collect::<Vec<_>>());
        let e = sorted_var_names(&["0".into(), "2".into()]).unwrap_err();
        assert!(e.contains("variable 1 is missing"), "{e}");
        assert!(sorted_var_names(&["kernel".into()]).is_err());
        assert!(sorted_var_names(&["01".into()]).is_err());
    }

    #[test]
    fn private_attributes_walk_last() {
        let mut v = vec![
            "_softmax",
            "value_dense",
            "_dropout_layer",
            "key_dense",
            "query_dense",
        ];
        v.sort_by_key(|n| name_key(n));
        assert_eq!(
            v,
            [
                "key_dense",
                "query_dense",
                "value_dense",
                "_dropout_layer",
                "_softmax"
            ]
        );
    }

    #[test]
    fn bfloat16_bits() {
        assert_eq!(bf16_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_to_f32(0xc040), -3.0);
        assert_eq!(bf16_to_f32(0x3e20), 0.15625);
    }
}
