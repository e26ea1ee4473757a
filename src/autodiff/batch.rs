//! The per-sample check: `vmap(jacfwd(f))` equals our batched pass only if no op mixes
//! samples, i.e. axis 0 stays the batch axis of every value computed from the inputs.

use super::AdError;
use crate::opgraph::{Op, OpGraph};

/// Refuse graphs with an op that reduces, moves, slices or contracts the batch axis.
pub fn check(g: &OpGraph) -> Result<(), AdError> {
    let mut batched = vec![false; g.nodes.len()];
    for (id, node) in g.nodes.iter().enumerate() {
        batched[id] =
            matches!(node.op, Op::Parameter { .. }) || node.inputs.iter().any(|&i| batched[i]);
        if matches!(node.op, Op::Parameter { .. }) || !batched[id] {
            continue;
        }
        let ins: Vec<(usize, usize)> = node
            .inputs
            .iter()
            .filter(|&&i| batched[i])
            .map(|&i| (i, g.rank(i)))
            .collect();
        let out_rank = node.shape.len();
        let why = match &node.op {
            Op::Reduce { axes, .. } if axes.contains(&0) => Some("reduces over the batch axis"),
            Op::Reshape { shape } => {
                let from = g.shape(node.inputs[0]);
                (shape.is_empty() || from.is_empty() || shape[0] != from[0])
                    .then_some("reshapes across the batch axis")
            }
            Op::Transpose { perm } if perm[0] != 0 => Some("moves the batch axis"),
            Op::Concat { axis: 0 } => Some("concatenates along the batch axis"),
            Op::Slice { axis: 0, .. } => Some("slices the batch axis"),
            Op::Reverse { axis: 0 } => Some("reverses the batch axis"),
            Op::Tile { repeats } if repeats[0] != 1 => Some("tiles the batch axis"),
            Op::MatMul => {
                let (a, b) = (node.inputs[0], node.inputs[1]);
                let a_bad = batched[a] && g.rank(a) != out_rank;
                let b_bad = batched[b] && (g.rank(b) <= 2 || g.rank(b) != out_rank);
                (a_bad || b_bad).then_some("contracts or broadcasts the batch axis")
            }
            Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Classify(_)
            | Op::Select
            | Op::Convert { .. }
            | Op::BroadcastLike => ins
                .iter()
                .any(|&(_, r)| r != out_rank)
                .then_some("broadcasts a batched value into a new position"),
            _ => None,
        };
        if let Some(why) = why {
            return Err(AdError::BatchMixing(format!(
                "{} {why}: the model mixes samples, so it has no per-sample Jacobian equal to jax.vmap(jax.jacfwd(f))",
                g.describe(id)
            )));
        }
    }
    Ok(())
}
