//! Reverse mode, as JAX builds `vjp`: the JVP rules linearize the graph (one symbolic tangent
//! `[1, *x]` per input), then one transpose rule per linear primitive runs that linear part
//! backwards (`ad.primitive_transposes` in `jax/_src/lax/lax.py`). The derivative formulas
//! stay in the JVP rules; this file only knows how each linear primitive moves cotangents.
//!
//! All selected outputs' elements are seeded together on a leading cotangent axis `O` (an
//! identity of batch 1, so what depends only on it folds, like the forward seeds). Every
//! linear primitive the JVP rules emit has a transpose rule here; any other is an error.

use super::rules::{Rules, Tan};
use super::{eye_block, propagate, sample_size, AdError, Seeding, Selection};
use crate::opgraph::{BinaryOp, Op, OpGraph, ReduceOp, Tensor, UnaryOp, ValueId};
use ndarray::{ArrayD, IxDyn};

type RResult<T> = Result<T, AdError>;

fn unsupported<T>(g: &OpGraph, id: ValueId) -> RResult<T> {
    Err(AdError::ReverseUnsupported(format!(
        "{} (no transpose rule)",
        g.describe(id)
    )))
}

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
    let tans = propagate(g, &seeds, 1, n0, None)?;
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

    // Transpose the linear nodes, last first.
    let seed_ids: Vec<ValueId> = seeds.iter().map(|&(_, s)| s).collect();
    for id in (n0..n1).rev() {
        let Some(c) = ct[id] else { continue };
        if !linear[id] || seed_ids.contains(&id) {
            continue;
        }
        let origin = g.origins.get(id).cloned().flatten();
        g.set_origin(origin.as_deref());
        for (input, contrib) in transpose(g, id, c, &linear)? {
            accumulate(g, &mut ct, input, contrib)?;
        }
    }
    g.set_origin(None);

    // Each input's cotangent `[O, B, *x]` flattened to `[O, B, n_x]`, joined on `T`.
    if seed_ids.iter().all(|&s| ct[s].is_none()) {
        return Ok(vec![None; ys.len()]);
    }
    let mut parts = Vec::new();
    for (k, &x) in seeding.xs.iter().enumerate() {
        let c = match ct[seed_ids[k]] {
            Some(c) => c,
            None => Rules { g: &mut *g }.zeros_unbatched(o_len, x)?,
        };
        let full = Rules { g: &mut *g }.full(c, x)?;
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

fn accumulate(g: &mut OpGraph, ct: &mut [Tan], id: ValueId, c: ValueId) -> RResult<()> {
    ct[id] = Some(match ct[id] {
        Some(old) => g.add(old, c)?,
        None => c,
    });
    Ok(())
}

/// `c` summed over the axes where `target` (a linear node `[1, ...]`) was broadcast, so it
/// broadcasts back onto `target`'s shape; the cotangent axis 0 is kept.
fn unbroadcast(g: &mut OpGraph, c: ValueId, target: ValueId) -> RResult<ValueId> {
    let (cs, ts) = (g.shape(c).clone(), g.shape(target).clone());
    if cs.len() != ts.len() {
        return unsupported(g, target);
    }
    let axes: Vec<usize> = (1..ts.len())
        .filter(|&i| ts[i] == Some(1) && cs[i] != Some(1))
        .collect();
    if axes.is_empty() {
        return Ok(c);
    }
    Ok(g.reduce(ReduceOp::Sum, c, axes, true)?)
}

/// `c` broadcast to exactly `[O, *node[1..]]` (a cotangent may have batch 1 where the node
/// has the full batch).
fn full_like(g: &mut OpGraph, c: ValueId, node: ValueId) -> RResult<ValueId> {
    if g.shape(c)[1..] == g.shape(node)[1..] {
        return Ok(c);
    }
    Ok(g.broadcast_like(c, node)?)
}

/// The permutation that undoes `perm`.
fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// `x` with its last two axes swapped.
fn swap_last(g: &mut OpGraph, x: ValueId) -> RResult<ValueId> {
    let r = g.rank(x);
    let perm: Vec<usize> = (0..r - 2).chain([r - 1, r - 2]).collect();
    Ok(g.transpose(x, perm)?)
}

fn static_dim(g: &OpGraph, x: ValueId, axis: usize) -> RResult<usize> {
    g.shape(x)[axis].map_or_else(|| unsupported(g, x), Ok)
}

/// The transpose rule of linear node `id` for cotangent `c`: the cotangent contributions to
/// its linear inputs.
fn transpose(
    g: &mut OpGraph,
    id: ValueId,
    c: ValueId,
    linear: &[bool],
) -> RResult<Vec<(ValueId, ValueId)>> {
    let node = g.node(id).clone();
    let ins = node.inputs.clone();
    let lin: Vec<bool> = ins.iter().map(|&i| linear[i]).collect();
    let mut out = Vec::new();
    match &node.op {
        Op::Binary(BinaryOp::Add) => {
            for k in 0..2 {
                if lin[k] {
                    out.push((ins[k], unbroadcast(g, c, ins[k])?));
                }
            }
        }
        Op::Binary(BinaryOp::Mul) if lin[0] != lin[1] => {
            let (l, other) = if lin[0] { (0, 1) } else { (1, 0) };
            let m = g.mul(c, ins[other])?;
            out.push((ins[l], unbroadcast(g, m, ins[l])?));
        }
        Op::Binary(BinaryOp::Div) if lin[0] && !lin[1] => {
            let d = g.div(c, ins[1])?;
            out.push((ins[0], unbroadcast(g, d, ins[0])?));
        }
        Op::Unary(UnaryOp::Neg) => out.push((ins[0], g.unary(UnaryOp::Neg, c)?)),
        Op::Select if !lin[0] => {
            let zero = g.scalar(0.0);
            for k in 1..3 {
                if lin[k] {
                    let s = if k == 1 {
                        g.select(ins[0], c, zero)?
                    } else {
                        g.select(ins[0], zero, c)?
                    };
                    out.push((ins[k], unbroadcast(g, s, ins[k])?));
                }
            }
        }
        Op::MatMul if lin[0] != lin[1] => {
            if lin[0] {
                let bt = swap_last(g, ins[1])?;
                let m = g.matmul(c, bt)?;
                out.push((ins[0], unbroadcast(g, m, ins[0])?));
            } else {
                let at = swap_last(g, ins[0])?;
                let m = g.matmul(at, c)?;
                out.push((ins[1], unbroadcast(g, m, ins[1])?));
            }
        }
        Op::Reshape { .. } => {
            let f = full_like(g, c, id)?;
            let mut shape = vec![g.shape(c)[0]];
            shape.extend_from_slice(&g.shape(ins[0])[1..]);
            out.push((ins[0], g.reshape(f, shape)?));
        }
        Op::Transpose { perm } if perm[0] == 0 => {
            out.push((ins[0], g.transpose(c, inverse(perm))?))
        }
        Op::Reverse { axis } => {
            let f = full_like(g, c, id)?;
            out.push((ins[0], g.reverse(f, *axis)?));
        }
        Op::Tile { repeats } if repeats[0] == 1 => {
            let mut acc = full_like(g, c, id)?;
            for (axis, &r) in repeats.iter().enumerate().filter(|(_, &r)| r > 1) {
                let d = static_dim(g, ins[0], axis)?;
                let mut split = g.shape(acc).clone();
                split.splice(axis..=axis, [Some(r), Some(d)]);
                let s = g.reshape(acc, split)?;
                acc = g.reduce(ReduceOp::Sum, s, vec![axis], false)?;
            }
            out.push((ins[0], unbroadcast(g, acc, ins[0])?));
        }
        Op::Concat { axis } => {
            let f = full_like(g, c, id)?;
            let mut start = 0;
            for (k, &x) in ins.iter().enumerate() {
                let d = static_dim(g, x, *axis)?;
                if lin[k] {
                    let part = g.slice(f, *axis, start, start + d, 1)?;
                    out.push((x, unbroadcast(g, part, x)?));
                }
                start += d;
            }
        }
        Op::Slice {
            axis,
            start,
            stop: _,
            step,
        } => {
            // Scatter back with a 0/1 matrix on the sliced axis moved last.
            let f = full_like(g, c, id)?;
            let len = static_dim(g, ins[0], *axis)?;
            let m = static_dim(g, id, *axis)?;
            let scatter = ArrayD::from_shape_fn(IxDyn(&[m, len]), |ix| {
                (ix[1] == start + ix[0] * step) as u8 as f32
            });
            let r = g.rank(f);
            let perm: Vec<usize> = (0..r).filter(|&a| a != *axis).chain([*axis]).collect();
            let inv = inverse(&perm);
            let moved = g.transpose(f, perm)?;
            let s = g.constant(Tensor::F32(scatter));
            let spread = g.matmul(moved, s)?;
            out.push((ins[0], g.transpose(spread, inv)?));
        }
        Op::Reduce {
            op: op @ (ReduceOp::Sum | ReduceOp::Mean),
            axes,
            keep_dims,
        } => {
            let f = full_like(g, c, id)?;
            let mut kept = vec![g.shape(c)[0]];
            for (i, &d) in g.shape(ins[0]).iter().enumerate().skip(1) {
                kept.push(if axes.contains(&i) { Some(1) } else { d });
            }
            let k = if *keep_dims { f } else { g.reshape(f, kept)? };
            let mut spread = g.broadcast_like(k, ins[0])?;
            if *op == ReduceOp::Mean {
                let mut count = 1;
                for &a in axes {
                    count *= static_dim(g, ins[0], a)?;
                }
                spread = g.binary_scalar(BinaryOp::Div, spread, count as f32)?;
            }
            out.push((ins[0], spread));
        }
        Op::BroadcastLike => {
            if lin[0] {
                out.push((ins[0], unbroadcast(g, c, ins[0])?));
            }
        }
        _ => return unsupported(g, id),
    }
    Ok(out)
}
