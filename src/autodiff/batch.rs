//! The per-sample check: `vmap(jacfwd(f))` equals our batched pass only if no primitive mixes
//! samples. Each primitive's batch rule says where its output holds the samples, given where
//! its inputs hold them; graph inputs hold them on axis 0, and so must every output.

use super::AdError;
use crate::opgraph::samples::sample_axes;
use crate::opgraph::OpGraph;

/// Refuse graphs with a primitive that reduces, moves across, slices or contracts the
/// samples, naming it and its layer.
pub fn check(g: &OpGraph) -> Result<(), AdError> {
    let mixing = |id: usize, why: &str| {
        AdError::BatchMixing(format!(
            "{} {why}: the model mixes samples, so it has no per-sample Jacobian equal to jax.vmap(jax.jacfwd(f))",
            g.describe(id)
        ))
    };
    let axis = sample_axes(g).map_err(|(id, why)| mixing(id, &why))?;
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
