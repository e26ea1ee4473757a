//! Where each value of a graph holds its samples, from the primitives' batch rules: graph
//! inputs hold them on axis 0, constants hold none. The per-sample derivative check and the
//! emitter's batch chunking both stand on it.

use super::prim::Batch;
use super::{Kind, OpGraph, Primitive, ValueId};

/// The batch axis of every node (`None`: the value depends on no sample), or the first node
/// whose primitive mixes samples, with the reason its rule gives.
pub fn sample_axes(g: &OpGraph) -> Result<Vec<Option<usize>>, (ValueId, String)> {
    let mut axis: Vec<Option<usize>> = Vec::with_capacity(g.nodes.len());
    for (id, node) in g.nodes.iter().enumerate() {
        let a = match &node.kind {
            Kind::Input { .. } => Some(0),
            Kind::Constant(_) => None,
            Kind::Prim(p) => {
                let axes: Vec<Option<usize>> = node.inputs.iter().map(|&i| axis[i]).collect();
                if axes.iter().all(Option::is_none) {
                    None
                } else {
                    let shapes: Vec<_> = node.inputs.iter().map(|&i| g.shape(i)).collect();
                    let b = Batch {
                        axes: &axes,
                        shapes: &shapes,
                        out: &node.shape,
                    };
                    p.batch_axis(&b).map_err(|why| (id, why))?
                }
            }
        };
        axis.push(a);
    }
    Ok(axis)
}
