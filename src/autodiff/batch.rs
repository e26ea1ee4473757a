//! The per-sample check: `vmap(jacfwd(f))` equals our batched pass only if no primitive mixes
//! samples. Each primitive's batch rule says where its output holds the samples, given where
//! its inputs hold them; graph inputs hold them on axis 0, and so must every output.

use super::AdError;
use crate::opgraph::prim::Batch;
use crate::opgraph::{Kind, OpGraph, Primitive};

/// Refuse graphs with a primitive that reduces, moves across, slices or contracts the
/// samples, naming it and its layer.
pub fn check(g: &OpGraph) -> Result<(), AdError> {
    let mixing = |id: usize, why: &str| {
        AdError::BatchMixing(format!(
            "{} {why}: the model mixes samples, so it has no per-sample Jacobian equal to jax.vmap(jax.jacfwd(f))",
            g.describe(id)
        ))
    };
    let mut axis: Vec<Option<usize>> = vec![None; g.nodes.len()];
    for (id, node) in g.nodes.iter().enumerate() {
        axis[id] = match &node.kind {
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
                    p.batch_axis(&b).map_err(|why| mixing(id, &why))?
                }
            }
        };
    }
    for (_, v) in &g.outputs {
        if let Some(a) = axis[*v].filter(|&a| a != 0) {
            return Err(mixing(
                *v,
                &format!("leaves the samples on axis {a} of an output"),
            ));
        }
    }
    Ok(())
}
