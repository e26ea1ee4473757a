//! Cache blocking over the batch. At a static batch of many small samples (a PINN's 16384
//! collocation points), every value of the graph is a large array that no cache holds, and the
//! element-wise work between the matrix products (most of a derivative graph) streams it from
//! memory. When no primitive mixes samples, the graph is emitted instead as a few copies, each
//! on a slice of the batch, the copies one after the other and the outputs concatenated: each
//! copy's values then stay in a core's cache. Same primitives, same numbers per sample.
//!
//! Measured on the PDE benchmark MLP (3 -> 64x3 -> 1 tanh, batch 16384, OpenVINO 2026.4, 2
//! cores): the Laplacian and u_xxx IRs run 1.3-1.45x faster in 4 or 8 chunks, and slower
//! again in 16 (chunks of 1024 samples); its Hessian 1.1-1.3x, its forward pass 1.07x. Only such
//! graphs are cut, dense layers and element-wise work on rows of features: convolutions,
//! pooling and attention ran 0.83-0.90x as fast when cut (the fixtures at batch 16384).

use super::batch::{input_at_batch, rebuild_error, with_static_batch};
use crate::opgraph::samples::sample_axes;
use crate::opgraph::{GraphError, Kind, OpGraph, Prim, ValueId};

/// How the batch is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkPolicy {
    /// Aim: the largest value of one chunk in this many bytes (a core's L2 cache).
    pub target_bytes: usize,
    /// No chunk smaller than this: below it, per-op overhead outweighs the cache.
    pub min_rows: usize,
    /// No cutting when a chunk's largest value would still be larger than this (large
    /// samples: images, sequences): no cache holds it either way.
    pub max_bytes: usize,
    /// At most this many chunks (each copy adds to OpenVINO's compile time: the PDE and
    /// Hessian graphs of the benchmark MLP compile in 0.25-0.55 s cut in 4 or 8, 0.09 s whole, and
    /// ran as fast cut in 4 as in 8).
    pub max_chunks: usize,
}

impl Default for ChunkPolicy {
    fn default() -> Self {
        ChunkPolicy {
            target_bytes: 1 << 20,
            min_rows: 2048,
            max_bytes: 4 << 20,
            max_chunks: 4,
        }
    }
}

/// Whether a primitive works on each row of features by itself: element-wise, moving data
/// within a sample, or a product with a sample-free operand (a dense layer's weights).
fn row_wise(p: &Prim, input_axes: &[Option<usize>]) -> bool {
    match p {
        Prim::MatMul(_) => input_axes.iter().any(Option::is_none),
        Prim::Unary(_)
        | Prim::Binary(_)
        | Prim::Compare(_)
        | Prim::Classify(_)
        | Prim::Select(_)
        | Prim::Convert(_)
        | Prim::Activation(_)
        | Prim::Reshape(_)
        | Prim::Transpose(_)
        | Prim::Tile(_)
        | Prim::Concat(_)
        | Prim::Slice(_)
        | Prim::Reduce(_)
        | Prim::BroadcastLike(_) => true,
        _ => false,
    }
}

/// The sizes of the chunks `g` is cut into at `batch` (one size: no cutting). Cut only when
/// every input holds its samples on a dynamic axis 0 and nothing else is dynamic, no
/// primitive mixes samples, and every primitive on samples is [`row_wise`].
pub fn chunk_sizes(g: &OpGraph, batch: usize, policy: &ChunkPolicy) -> Vec<usize> {
    cut(g, batch, policy).map_or(vec![batch], |(sizes, _)| sizes)
}

/// [`chunk_sizes`] when there is a cut, with the batch axis of every node.
fn cut(
    g: &OpGraph,
    batch: usize,
    policy: &ChunkPolicy,
) -> Option<(Vec<usize>, Vec<Option<usize>>)> {
    let axes = sample_axes(g).ok()?;
    let mut widest = 0usize;
    for (id, node) in g.nodes.iter().enumerate() {
        let Some(a) = axes[id] else { continue };
        if node.shape[a].is_some() {
            return None;
        }
        if let Kind::Prim(p) = &node.kind {
            let input_axes: Vec<Option<usize>> = node.inputs.iter().map(|&i| axes[i]).collect();
            if !row_wise(p, &input_axes) {
                return None;
            }
        }
        let mut per_sample = node.dtype.byte_size();
        for (k, d) in node.shape.iter().enumerate() {
            match d {
                _ if k == a => {}
                Some(d) => per_sample = per_sample.saturating_mul(*d),
                None => return None,
            }
        }
        widest = widest.max(per_sample);
    }
    if widest == 0
        || g.outputs
            .iter()
            .any(|(_, v)| axes[*v].is_some_and(|a| a != 0))
    {
        return None;
    }
    let rows = (policy.target_bytes / widest).max(policy.min_rows);
    if rows.saturating_mul(widest) > policy.max_bytes {
        return None;
    }
    let k = batch
        .div_ceil(rows)
        .min(policy.max_chunks)
        .min(batch / policy.min_rows.max(1));
    if k <= 1 {
        return None;
    }
    let sizes = (0..k)
        .map(|i| batch / k + usize::from(i < batch % k))
        .collect();
    Some((sizes, axes))
}

/// `g` at static `batch`, cut into chunks by `policy` where that applies (see the module doc),
/// else [`with_static_batch`].
pub fn with_chunked_batch(
    g: &OpGraph,
    batch: usize,
    policy: &ChunkPolicy,
) -> Result<OpGraph, GraphError> {
    let Some((sizes, axes)) = cut(g, batch, policy) else {
        return with_static_batch(g, batch);
    };
    let mut out = OpGraph::new();
    // Inputs at the whole batch, then what depends on no sample, once.
    let mut shared: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    for (id, node) in g.nodes.iter().enumerate() {
        shared[id] = match &node.kind {
            Kind::Input { name } => Some(input_at_batch(&mut out, name, node, batch)),
            Kind::Constant(t) => Some(out.constant(t.clone())),
            Kind::Prim(p) if axes[id].is_none() => {
                let inputs = node
                    .inputs
                    .iter()
                    .map(|&i| shared[i].expect("shared"))
                    .collect();
                Some(
                    out.apply(p.clone(), inputs)
                        .map_err(|e| rebuild_error(g, id, e))?,
                )
            }
            Kind::Prim(_) => None,
        };
    }
    // Then each chunk whole, one after the other, so that its values are used while cached.
    let mut pieces: Vec<Vec<ValueId>> = vec![Vec::new(); g.nodes.len()];
    let mut start = 0;
    for &rows in &sizes {
        let mut local: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
        for (id, node) in g.nodes.iter().enumerate() {
            if axes[id].is_none() {
                continue;
            }
            let v = match &node.kind {
                Kind::Input { .. } => out
                    .slice(shared[id].expect("input"), 0, start, start + rows, 1)
                    .map_err(|e| rebuild_error(g, id, e))?,
                Kind::Prim(p) => {
                    let inputs = node
                        .inputs
                        .iter()
                        .map(|&i| local[i].or(shared[i]).expect("built before"))
                        .collect();
                    out.apply(p.clone(), inputs)
                        .map_err(|e| rebuild_error(g, id, e))?
                }
                Kind::Constant(_) => unreachable!("constants hold no samples"),
            };
            local[id] = Some(v);
            pieces[id].push(v);
        }
        start += rows;
    }
    out.inputs = g
        .inputs
        .iter()
        .map(|&i| shared[i].expect("input"))
        .collect();
    let mut joined: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    for (name, v) in &g.outputs {
        // Inputs and values that depend on no sample are whole already.
        let value = match (shared[*v], joined[*v]) {
            (Some(whole), _) => whole,
            (None, Some(j)) => j,
            (None, None) => {
                let j = out
                    .concat(&pieces[*v], 0)
                    .map_err(|e| rebuild_error(g, *v, e))?;
                joined[*v] = Some(j);
                j
            }
        };
        out.outputs.push((name.clone(), value));
    }
    Ok(out)
}
