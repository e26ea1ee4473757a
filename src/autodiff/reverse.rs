//! Reverse mode, as JAX builds `vjp`: the JVP rules linearize the graph (one symbolic tangent
//! `[1, *x]` per input), then each linear primitive's transpose rule runs that linear part
//! backwards (`ad.primitive_transposes` in `jax/_src/lax/lax.py`). The derivative formulas
//! stay in the JVP rules; transpose rules only move cotangents.
//!
//! All selected outputs' elements are seeded together on a leading cotangent axis `O` (an
//! identity of batch 1, so what depends only on it folds, like the forward seeds). Every
//! linear primitive the JVP rules emit has a transpose rule; any other is an error.

use super::{eye_block, propagate, sample_size, AdError, Seeding, Selection};
use crate::opgraph::prim::{Jvp, Lin, Tan};
use crate::opgraph::{OpGraph, Primitive, ValueId};

type RResult<T> = Result<T, AdError>;

/// The number of elements of one sample of output `y` (static: checked before any pass).
fn out_size(g: &OpGraph, y: ValueId) -> usize {
    g.shape(y)[1..]
        .iter()
        .map(|d| d.expect("outputs have a static sample shape"))
        .product()
}

/// Total output elements per sample over the selected outputs (`O`).
pub(super) fn output_count(g: &OpGraph, sel: &Selection) -> usize {
    sel.of.iter().map(|&k| out_size(g, g.outputs[k].1)).sum()
}

/// Per selected output `y`, the stacked Jacobian `[B, *y[1..], T]` (`T` as in `seeding`), or
/// `None` where `y` does not depend on the inputs.
pub(super) fn stacked_jacobians(
    g: &mut OpGraph,
    sel: &Selection,
    seeding: &Seeding,
) -> RResult<Vec<Option<ValueId>>> {
    let n0 = g.nodes.len();
    let ys: Vec<ValueId> = sel.of.iter().map(|&k| g.outputs[k].1).collect();
    g.set_origin(None);

    // Linearize: a symbolic full-batch tangent `[1, *x]` per input.
    let mut seeds = Vec::new();
    for &x in &seeding.xs {
        let mut shape = vec![Some(1)];
        shape.extend_from_slice(g.shape(x));
        let s = g.reshape(x, shape)?;
        seeds.push((x, s));
    }
    let tans = propagate(g, &seeds, n0, None)?;
    let n1 = g.nodes.len();
    let mut linear = vec![false; n1];
    for &(_, s) in &seeds {
        linear[s] = true;
    }
    for id in n0..n1 {
        linear[id] = linear[id] || g.node(id).inputs.iter().any(|&i| linear[i]);
    }

    // Seed the cotangents: output `y` owns rows `off..off + n` of `eye(O)`.
    let o_len = output_count(g, sel);
    let mut ct: Vec<Tan> = vec![None; n1];
    let mut off = 0;
    for &y in &ys {
        let n = out_size(g, y);
        if let Some(ty) = tans[y] {
            let seed = eye_block(g, o_len, off, y);
            accumulate(g, &mut ct, ty, seed)?;
        }
        off += n;
    }

    let seed_ids: Vec<ValueId> = seeds.iter().map(|&(_, s)| s).collect();
    backward(g, n0..n1, &linear, &seed_ids, &mut ct)?;

    // Each input's cotangent `[O, B, *x]` flattened to `[O, B, n_x]`, joined on `T`.
    if seed_ids.iter().all(|&s| ct[s].is_none()) {
        return Ok(vec![None; ys.len()]);
    }
    let mut parts = Vec::new();
    for (k, &x) in seeding.xs.iter().enumerate() {
        let mut cx = Jvp { g: &mut *g };
        let c = match ct[seed_ids[k]] {
            Some(c) => c,
            None => cx.zeros(o_len, x),
        };
        let full = cx.full(c, x)?;
        let flat = g.reshape(
            full,
            vec![Some(o_len), g.shape(x)[0], Some(sample_size(g, x)?)],
        )?;
        parts.push(flat);
    }
    let joint = g.concat(&parts, 2)?;
    let mut out = Vec::new();
    let mut off = 0;
    for &y in &ys {
        let n = out_size(g, y);
        out.push(match tans[y] {
            Some(_) => {
                let rows = g.slice(joint, 0, off, off + n, 1)?;
                let moved = g.transpose(rows, vec![1, 0, 2])?;
                let mut shape = g.shape(y).clone();
                shape.push(Some(seeding.total));
                Some(g.reshape(moved, shape)?)
            }
            None => None,
        });
        off += n;
    }
    Ok(out)
}

/// Transpose the linear nodes in `range`, last first: each node's cotangent in `ct` is
/// passed to its linear inputs by its primitive's transpose rule. Nodes in `stop` (the
/// seeds) keep theirs.
pub(crate) fn backward(
    g: &mut OpGraph,
    range: std::ops::Range<ValueId>,
    linear: &[bool],
    stop: &[ValueId],
    ct: &mut [Tan],
) -> RResult<()> {
    for id in range.rev() {
        let Some(c) = ct[id] else { continue };
        if !linear[id] || stop.contains(&id) {
            continue;
        }
        let node = g.node(id).clone();
        let Some(p) = node.prim() else { continue };
        g.set_origin(g.origin(id));
        let lin: Vec<bool> = node.inputs.iter().map(|&i| linear[i]).collect();
        let contributions = p
            .transpose(&mut Lin { g: &mut *g }, id, c, &lin)?
            .ok_or_else(|| {
                AdError::ReverseUnsupported(format!("{} (no transpose rule)", g.describe(id)))
            })?;
        for (k, contrib) in contributions {
            accumulate(g, ct, node.inputs[k], contrib)?;
        }
    }
    g.set_origin(None);
    Ok(())
}

fn accumulate(g: &mut OpGraph, ct: &mut [Tan], id: ValueId, c: ValueId) -> RResult<()> {
    ct[id] = Some(match ct[id] {
        Some(old) => g.add(old, c)?,
        None => c,
    });
    Ok(())
}
