//! Fixing the dynamic dimension: every `None` in the input shapes becomes the batch size, and
//! the graph is rebuilt node by node so that every shape downstream is re-inferred by each
//! primitive's shape rule (a dynamic dimension further down is not always the batch itself:
//! think of `[?,4]` reshaped to `[?]`).

use crate::opgraph::{GraphError, Kind, Node, OpGraph, ValueId};

/// A copy of `g` whose inputs have every dynamic dimension set to `batch`.
pub fn with_static_batch(g: &OpGraph, batch: usize) -> Result<OpGraph, GraphError> {
    let mut out = OpGraph::new();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    for (id, node) in g.nodes.iter().enumerate() {
        let v = match &node.kind {
            Kind::Input { name } => input_at_batch(&mut out, name, node, batch),
            Kind::Constant(t) => out.constant(t.clone()),
            Kind::Prim(p) => {
                let inputs = node.inputs.iter().map(|&i| map[i]).collect();
                out.apply(p.clone(), inputs)
                    .map_err(|e| rebuild_error(g, id, e))?
            }
        };
        map.push(v);
    }
    out.inputs = g.inputs.iter().map(|&i| map[i]).collect();
    out.outputs = g
        .outputs
        .iter()
        .map(|(name, v)| (name.clone(), map[*v]))
        .collect();
    Ok(out)
}

/// Graph input `node` as an input of `out`, every dynamic dimension set to `batch`.
pub(super) fn input_at_batch(out: &mut OpGraph, name: &str, node: &Node, batch: usize) -> ValueId {
    let shape = node
        .shape
        .iter()
        .map(|d| Some(d.unwrap_or(batch)))
        .collect();
    out.parameter(name, node.dtype, shape)
}

/// The error of rebuilding node `id` of `g`, naming it.
pub(super) fn rebuild_error(g: &OpGraph, id: usize, e: GraphError) -> GraphError {
    GraphError::new(format!("node {id} ({}): {}", g.nodes[id].label(), e.msg))
}
