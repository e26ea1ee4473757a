//! Forward-mode differentiation of an OpGraph: `jax.vmap(jax.jacfwd(f))` per sample, and
//! Hessians as the same pass applied to the Jacobian graph (forward over forward).
//!
//! The result is a plain OpGraph with extra outputs `jacobian/<output>/<input>` (shape
//! `[B, *out, *in]`) and `hessian/<output>/<input_a>/<input_b>` (`[B, *out, *in_a, *in_b]`).

mod batch;
#[cfg(test)]
mod fd_tests;
pub mod rules;

use crate::opgraph::{simplify, DType, GraphError, OpGraph, Tensor, ValueId};
use ndarray::ArrayD;
use rules::{Rules, Tan};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum AdError {
    #[error("unknown {kind} '{name}': the model's {kind}s are {valid}")]
    UnknownName {
        kind: &'static str,
        name: String,
        valid: String,
    },
    #[error("input '{0}' is not a float tensor: integer inputs are not differentiable")]
    NotDifferentiable(String),
    #[error("input '{0}' has a dimension of unknown size besides the batch: per-sample Jacobians need a static sample shape")]
    DynamicShape(String),
    #[error("{0}")]
    BatchMixing(String),
    #[error("building the derivative graph: {0}")]
    Graph(#[from] GraphError),
}

/// Which inputs to differentiate with respect to, and which outputs to differentiate.
#[derive(Clone, Debug)]
pub struct Selection {
    /// Parameter ids.
    pub wrt: Vec<ValueId>,
    /// Indices into `graph.outputs`.
    pub of: Vec<usize>,
}

/// Resolve `--wrt` / `--of` names (default: every float input, every output).
pub fn select(g: &OpGraph, wrt: &[String], of: &[String]) -> Result<Selection, AdError> {
    let input_names: Vec<&str> = g.inputs.iter().map(|&p| g.input_name(p)).collect();
    let output_names: Vec<&str> = g.outputs.iter().map(|(n, _)| n.as_str()).collect();
    let wrt_ids = if wrt.is_empty() {
        g.inputs
            .iter()
            .copied()
            .filter(|&p| g.dtype(p) == DType::F32)
            .collect()
    } else {
        wrt.iter()
            .map(|name| {
                let k = input_names.iter().position(|n| n == name).ok_or_else(|| {
                    AdError::UnknownName {
                        kind: "input",
                        name: name.clone(),
                        valid: input_names.join(", "),
                    }
                })?;
                let p = g.inputs[k];
                if g.dtype(p) != DType::F32 {
                    return Err(AdError::NotDifferentiable(name.clone()));
                }
                Ok(p)
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let of_idx = if of.is_empty() {
        (0..g.outputs.len()).collect()
    } else {
        of.iter()
            .map(|name| {
                output_names
                    .iter()
                    .position(|n| n == name)
                    .ok_or_else(|| AdError::UnknownName {
                        kind: "output",
                        name: name.clone(),
                        valid: output_names.join(", "),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok(Selection {
        wrt: wrt_ids,
        of: of_idx,
    })
}

/// The number of elements of one sample of input `x`, its tangent count `T`.
fn sample_size(g: &OpGraph, x: ValueId) -> Result<usize, AdError> {
    g.shape(x)[1..]
        .iter()
        .copied()
        .product::<Option<usize>>()
        .ok_or_else(|| AdError::DynamicShape(g.input_name(x).to_string()))
}

/// The joint seed: inputs `xs` share one tangent axis of `T = sum T_i` entries, input `i`
/// owning rows `offset_i..offset_i + T_i` (as `jax.jacfwd(f, argnums=...)` seeds them).
struct Seeding {
    xs: Vec<ValueId>,
    offsets: Vec<usize>,
    total: usize,
}

impl Seeding {
    fn new(g: &OpGraph, xs: &[ValueId]) -> Result<Self, AdError> {
        let mut offsets = Vec::new();
        let mut total = 0;
        for &x in xs {
            offsets.push(total);
            total += sample_size(g, x)?;
        }
        Ok(Seeding {
            xs: xs.to_vec(),
            offsets,
            total,
        })
    }

    /// Tangents of nodes `0..upto`; each seed is a slice of `eye(T)` shaped `[T, 1, *in]`
    /// (batch 1: what only depends on seeds stays constant and folds).
    fn jvp(&self, g: &mut OpGraph, upto: usize) -> Result<Vec<Tan>, AdError> {
        let t_len = self.total;
        let mut tan: Vec<Tan> = vec![None; upto];
        g.set_origin(None);
        for (k, &x) in self.xs.iter().enumerate() {
            let n = sample_size(g, x)?;
            let off = self.offsets[k];
            let mut shape = vec![t_len, 1];
            shape.extend(g.shape(x)[1..].iter().map(|d| d.expect("static")));
            let seed =
                ArrayD::from_shape_fn(vec![t_len, n], |ix| (ix[0] == off + ix[1]) as u8 as f32)
                    .into_shape_with_order(shape)
                    .expect("T elements per row");
            tan[x] = Some(g.constant(Tensor::F32(seed)));
        }
        for id in 0..upto {
            if self.xs.contains(&id) {
                continue;
            }
            let tin: Vec<Tan> = g.node(id).inputs.iter().map(|&i| tan[i]).collect();
            if tin.iter().all(Option::is_none) {
                continue;
            }
            let origin = g.origins.get(id).cloned().flatten();
            g.set_origin(origin.as_deref());
            tan[id] = Rules { g: &mut *g }.jvp(id, &tin, t_len)?;
        }
        g.set_origin(None);
        Ok(tan)
    }

    /// `[B, *y[1..], T]` from the tangent `[T, B|1, *y[1..]]` of `y`; `None` if `y` does not
    /// depend on the seeded inputs.
    fn stacked(&self, g: &mut OpGraph, t: Tan, y: ValueId) -> Result<Option<ValueId>, AdError> {
        let Some(t) = t else { return Ok(None) };
        let t = Rules { g: &mut *g }.full(t, y)?;
        let mut perm: Vec<usize> = (1..=g.rank(y)).collect();
        perm.push(0);
        Ok(Some(g.transpose(t, perm)?))
    }

    /// Input `k`'s block of a stacked derivative `[.., T]`: `[.., *x_k[1..]]`.
    fn block(&self, g: &mut OpGraph, stacked: ValueId, k: usize) -> Result<ValueId, AdError> {
        let x = self.xs[k];
        let last = g.rank(stacked) - 1;
        let n = sample_size(g, x)?;
        let part = g.slice(stacked, last, self.offsets[k], self.offsets[k] + n, 1)?;
        let mut shape = g.shape(part)[..last].to_vec();
        shape.extend_from_slice(&g.shape(x)[1..]);
        Ok(g.reshape(part, shape)?)
    }
}

/// The zero derivative of `y` (which does not depend on `x`): `[B, *y[1..], *x[1..]]`.
/// Built at rank 2 (`x[:, :1] * zeros[1, N]`) and reshaped: on OpenVINO CPU 2026.4, with a
/// dynamic batch, a rank-7 broadcasting op producing such a block returned garbage once the
/// model had other outputs (each output alone was right, and so was a static batch).
fn zero_block(g: &mut OpGraph, y: ValueId, x: ValueId) -> Result<ValueId, AdError> {
    let inner: Vec<usize> = g.shape(y)[1..]
        .iter()
        .chain(&g.shape(x)[1..])
        .map(|d| d.ok_or_else(|| AdError::DynamicShape(g.input_name(x).to_string())))
        .collect::<Result<_, _>>()?;
    let n: usize = inner.iter().product();
    let batch = g.shape(x)[0];
    let per_sample = sample_size(g, x)?;
    let flat = g.reshape(x, vec![batch, Some(per_sample)])?;
    let first = g.slice(flat, 1, 0, 1, 1)?;
    let zeros = g.constant(Tensor::F32(ArrayD::zeros(vec![1, n])));
    let block = g.mul(first, zeros)?;
    let mut shape = vec![batch];
    shape.extend(inner.iter().map(|&d| Some(d)));
    Ok(g.reshape(block, shape)?)
}

fn output_name(kind: &str, parts: &[&str]) -> String {
    format!("{kind}/{}", parts.join("/"))
}

/// The forward graph plus `jacobian/<output>/<input>` outputs.
pub fn jacobian(g: &OpGraph, sel: &Selection) -> Result<OpGraph, AdError> {
    batch::check(g)?;
    let mut out = g.clone();
    let n = out.nodes.len();
    let seeding = Seeding::new(&out, &sel.wrt)?;
    let tans = seeding.jvp(&mut out, n)?;
    for &k in &sel.of {
        let (name, y) = g.outputs[k].clone();
        let stacked = seeding.stacked(&mut out, tans[y], y)?;
        for (i, &x) in sel.wrt.iter().enumerate() {
            let j = match stacked {
                Some(s) => seeding.block(&mut out, s, i)?,
                None => zero_block(&mut out, y, x)?,
            };
            out.output(&output_name("jacobian", &[&name, g.input_name(x)]), j);
        }
    }
    Ok(simplify::simplify(&out)?)
}

/// The forward graph plus Jacobians and `hessian/<output>/<input_a>/<input_b>` outputs: the
/// stacked Jacobian `[B, *out, T]` of each output is differentiated again (forward over
/// forward), giving `[B, *out, T, T]`, cut into blocks.
pub fn hessian(g: &OpGraph, sel: &Selection) -> Result<OpGraph, AdError> {
    batch::check(g)?;
    let mut out = g.clone();
    let n = out.nodes.len();
    let seeding = Seeding::new(&out, &sel.wrt)?;
    let tans = seeding.jvp(&mut out, n)?;
    let mut firsts = Vec::new();
    for &k in &sel.of {
        let (name, y) = g.outputs[k].clone();
        let stacked = seeding.stacked(&mut out, tans[y], y)?;
        let mut blocks = Vec::new();
        for (i, &x) in sel.wrt.iter().enumerate() {
            let j = match stacked {
                Some(s) => seeding.block(&mut out, s, i)?,
                None => zero_block(&mut out, y, x)?,
            };
            out.output(&output_name("jacobian", &[&name, g.input_name(x)]), j);
            blocks.push(j);
        }
        firsts.push((name, stacked, blocks));
    }
    let n2 = out.nodes.len();
    let tans2 = seeding.jvp(&mut out, n2)?;
    for (name, stacked, blocks) in firsts {
        // d stacked / d x: [B, *out, T, T]; zero when the Jacobian is constant.
        let second = match stacked {
            Some(s) => seeding.stacked(&mut out, tans2[s], s)?,
            None => None,
        };
        for (a, &xa) in sel.wrt.iter().enumerate() {
            for (b, &xb) in sel.wrt.iter().enumerate() {
                let h = match second {
                    Some(h2) => {
                        // Cut T (second to last axis) for a, then the last for b.
                        let r = out.rank(h2);
                        let perm: Vec<usize> = (0..r - 2).chain([r - 1, r - 2]).collect();
                        let swapped = out.transpose(h2, perm.clone())?;
                        let by_a = seeding.block(&mut out, swapped, a)?;
                        // by_a: [B, *out, T(b), *in_a]; move T(b) last again.
                        let rb = out.rank(by_a);
                        let ina = out.rank(xa) - 1;
                        let t_axis = rb - ina - 1;
                        let perm2: Vec<usize> =
                            (0..t_axis).chain(t_axis + 1..rb).chain([t_axis]).collect();
                        let moved = out.transpose(by_a, perm2)?;
                        seeding.block(&mut out, moved, b)?
                    }
                    None => zero_block(&mut out, blocks[a], xb)?,
                };
                let parts = [name.as_str(), g.input_name(xa), g.input_name(xb)];
                out.output(&output_name("hessian", &parts), h);
            }
        }
    }
    Ok(simplify::simplify(&out)?)
}
