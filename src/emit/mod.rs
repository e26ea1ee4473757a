//! OpGraph -> OpenVINO IR v11 (`.xml` + `.bin`).
//!
//! The emitter walks the graph: graph inputs become `Parameter`s named after the input,
//! constants become `Const` layers, each primitive writes its own layers
//! (`Primitive::emit`), and each graph output becomes a `Result`, with the output name on the
//! producing port's `names`. Every port carries its precision and dims (`-1` for a dynamic
//! dimension).
//!
//! Choices worth knowing:
//! - Constant data is deduplicated in the `.bin` (identical dtype + bytes stored once per kind
//!   of consuming primitive, offsets aligned to 64 bytes), and every consumer of an OpGraph
//!   constant gets its own `Const` layer: OpenVINO's CPU plugin has been seen computing wrong
//!   results when one weight constant, or one `.bin` region, fed two different kinds of ops
//!   (a Convolution and a ConvolutionBackpropData; a MatMul and an Einsum).
//! - A tensor name belongs to one port, and OpenVINO moves a `Result`'s names onto the port
//!   that feeds it. So when an output is a graph input, or a value already named by an earlier
//!   output, the emitter inserts an identity `Convert` (to the same element type) that carries
//!   the new name; otherwise the input would be renamed or the two outputs would merge.
//! - Nodes that no output depends on are not written (inputs always are).

mod batch;
mod chunk;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use thiserror::Error;

use crate::ir::{Ir, LayerCx, Net, Port, PortRef};
use crate::opgraph::{GraphError, Kind, OpGraph, Primitive, ValueId};
use crate::xml::has_unrepresentable_chars;

pub use batch::with_static_batch;
pub use chunk::{chunk_sizes, with_chunked_batch, ChunkPolicy};

/// Options of [`emit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmitOptions {
    /// When set, every dynamic input dimension becomes this size and all shapes are static.
    pub batch: Option<usize>,
    /// With a static batch, how to cut it for cache blocking ([`ChunkPolicy`]; `None`, the
    /// default: never).
    pub chunking: Option<ChunkPolicy>,
    /// The `<net name>` of the IR.
    pub model_name: String,
}

impl Default for EmitOptions {
    fn default() -> Self {
        EmitOptions {
            batch: None,
            chunking: None,
            model_name: "model".to_string(),
        }
    }
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum EmitError {
    #[error("cannot emit this graph: {0}")]
    InvalidGraph(String),
    #[error("tensor name {0:?} is used twice (input and output names must all be distinct)")]
    DuplicateName(String),
    #[error("cannot make the batch dimension {batch}: {source}")]
    Batch { batch: usize, source: GraphError },
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, EmitError> {
    Err(EmitError::InvalidGraph(msg.into()))
}

/// Write `graph` as IR v11.
pub fn emit(graph: &OpGraph, opts: &EmitOptions) -> Result<Ir, EmitError> {
    validate(graph)?;
    match opts.batch {
        Some(0) => Err(EmitError::Batch {
            batch: 0,
            source: GraphError::new("the batch size must be at least 1"),
        }),
        Some(batch) => {
            let g = match &opts.chunking {
                Some(policy) => with_chunked_batch(graph, batch, policy),
                None => with_static_batch(graph, batch),
            }
            .map_err(|source| EmitError::Batch { batch, source })?;
            Ok(write(&g, &opts.model_name))
        }
        None => Ok(write(graph, &opts.model_name)),
    }
}

/// Structural checks that the OpGraph builder normally guarantees (the fields are public, so
/// a graph may have been put together by hand), and the name rules.
fn validate(g: &OpGraph) -> Result<(), EmitError> {
    for (id, node) in g.nodes.iter().enumerate() {
        if let Some(&bad) = node.inputs.iter().find(|&&i| i >= id) {
            return invalid(format!(
                "node {id} ({}) reads node {bad}, which does not come before it",
                node.label()
            ));
        }
        let arity_ok = match &node.kind {
            Kind::Input { .. } | Kind::Constant(_) => node.inputs.is_empty(),
            Kind::Prim(p) => p.arity().accepts(node.inputs.len()),
        };
        if !arity_ok {
            return invalid(format!(
                "node {id} ({}) has {} inputs",
                node.label(),
                node.inputs.len()
            ));
        }
        if let Kind::Input { .. } = node.kind {
            if !g.inputs.contains(&id) {
                return invalid(format!("input node {id} is not listed in graph inputs"));
            }
        }
    }
    let mut names = HashSet::new();
    for &i in &g.inputs {
        let Some(Kind::Input { name }) = g.nodes.get(i).map(|n| &n.kind) else {
            return invalid(format!("graph input {i} is not an input node"));
        };
        check_name(name, "input")?;
        if !names.insert(name.as_str()) {
            return Err(EmitError::DuplicateName(name.clone()));
        }
    }
    if g.outputs.is_empty() {
        return invalid("the graph has no outputs");
    }
    for (name, v) in &g.outputs {
        check_name(name, "output")?;
        if *v >= g.nodes.len() {
            return invalid(format!("output {name:?} refers to missing node {v}"));
        }
        if !names.insert(name.as_str()) {
            return Err(EmitError::DuplicateName(name.clone()));
        }
    }
    Ok(())
}

fn check_name(name: &str, what: &str) -> Result<(), EmitError> {
    if name.is_empty() {
        return invalid(format!("an {what} has an empty name"));
    }
    if has_unrepresentable_chars(name) {
        return invalid(format!(
            "{what} name {name:?} has control characters that XML cannot carry"
        ));
    }
    Ok(())
}

fn write(g: &OpGraph, model_name: &str) -> Ir {
    let mut net = Net::default();
    let live = g.live_nodes();
    let mut vals: Vec<Option<PortRef>> = vec![None; g.nodes.len()];
    // Inputs first, in graph input order.
    for &p in &g.inputs {
        let node = &g.nodes[p];
        vals[p] = Some(net.parameter(g.input_name(p), Port::of(node.dtype, &node.shape)));
    }
    for (id, node) in g.nodes.iter().enumerate() {
        let Kind::Prim(p) = &node.kind else { continue };
        if !live[id] {
            continue;
        }
        let ins: Vec<PortRef> = node
            .inputs
            .iter()
            .map(|&i| value(&mut net, g, &vals, i, id))
            .collect();
        let out = Port::of(node.dtype, &node.shape);
        let mut cx = LayerCx::new(&mut net, format!("n{id}"), out);
        vals[id] = Some(p.emit(&mut cx, &ins));
    }

    // Outputs.
    let mut results = Vec::with_capacity(g.outputs.len());
    for (name, v) in &g.outputs {
        let port = match &g.nodes[*v].kind {
            Kind::Constant(t) => net.constant(format!("n{v}_Const"), t, Some(*v)),
            _ => vals[*v].expect("live value emitted"),
        };
        let port = if net.tensor_name(port).is_some() {
            // Already a named tensor (an input, or an earlier output): name a copy.
            let out = net.port(port).clone();
            let data = vec![("destination_type", out.dtype.ov_name().to_string())];
            let name = format!("n{v}_Identity");
            net.layer(name, "Convert", "opset1", data, &[port], Some(out))
        } else {
            port
        };
        net.set_tensor_name(port, name);
        results.push((name, port));
    }
    for (name, port) in results {
        net.result(name, port);
    }
    net.finish(model_name)
}

/// The port that carries value `v` for consumer `consumer`: constants get a fresh `Const`
/// layer per consumer (the data itself is shared in the `.bin` among consumers of the same
/// primitive kind only).
fn value(
    net: &mut Net,
    g: &OpGraph,
    vals: &[Option<PortRef>],
    v: ValueId,
    consumer: ValueId,
) -> PortRef {
    match &g.nodes[v].kind {
        Kind::Constant(t) => {
            let group = g.nodes[consumer].prim().map_or(0, |p| {
                let mut h = DefaultHasher::new();
                std::mem::discriminant(p).hash(&mut h);
                h.finish()
            });
            net.constant_in(format!("n{v}_Const/n{consumer}"), t, Some(v), group)
        }
        _ => vals[v].expect("inputs are emitted before their consumers"),
    }
}

#[cfg(test)]
mod tests;
