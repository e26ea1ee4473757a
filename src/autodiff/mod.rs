//! Forward-mode differentiation of an OpGraph: `jax.vmap(jax.jacfwd(f))` per sample, and
//! Hessians as the same pass applied to the Jacobian graph (forward over forward).
//!
//! The result is a plain OpGraph with extra outputs `jacobian/<output>/<input>` (shape
//! `[B, *out, *in]`) and `hessian/<output>/<input_a>/<input_b>` (`[B, *out, *in_a, *in_b]`).

mod batch;
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

/// Tangents of nodes `0..upto` with respect to input `x`, seeded with the identity.
fn jvp_pass(g: &mut OpGraph, x: ValueId, upto: usize) -> Result<Vec<Tan>, AdError> {
    let t_len = sample_size(g, x)?;
    // Seed: eye(T) as [T, 1, *in]; batch 1 so it and what only depends on it stay constant.
    let mut seed_shape = vec![t_len, 1];
    seed_shape.extend(g.shape(x)[1..].iter().map(|d| d.expect("static")));
    let eye = ArrayD::from_shape_fn(vec![t_len, t_len], |ix| (ix[0] == ix[1]) as u8 as f32)
        .into_shape_with_order(seed_shape)
        .expect("T elements per row");
    g.set_origin(None);
    let seed = g.constant(Tensor::F32(eye));
    let mut tan: Vec<Tan> = vec![None; upto];
    tan[x] = Some(seed);
    for id in 0..upto {
        if id == x {
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

/// JAX's layout from a tangent `[T, B|1, *out]` of `y`: `[B, *out, *in]` for input `x`.
fn assemble(g: &mut OpGraph, t: Tan, y: ValueId, x: ValueId) -> Result<ValueId, AdError> {
    let out_rank = g.rank(y);
    let t = match t {
        Some(t) => Rules { g: &mut *g }.full(t, y)?,
        None => return zero_block(g, y, x),
    };
    let mut perm: Vec<usize> = (1..=out_rank).collect();
    perm.push(0);
    let moved = g.transpose(t, perm)?;
    let mut target = g.shape(y).clone();
    target.extend_from_slice(&g.shape(x)[1..]);
    Ok(g.reshape(moved, target)?)
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
    for &x in &sel.wrt {
        let tans = jvp_pass(&mut out, x, n)?;
        for &k in &sel.of {
            let (name, y) = g.outputs[k].clone();
            let j = assemble(&mut out, tans[y], y, x)?;
            let xname = g.input_name(x).to_string();
            out.output(&output_name("jacobian", &[&name, &xname]), j);
        }
    }
    Ok(simplify::simplify(&out)?)
}

/// The forward graph plus Jacobians and `hessian/<output>/<input_a>/<input_b>` outputs.
pub fn hessian(g: &OpGraph, sel: &Selection) -> Result<OpGraph, AdError> {
    batch::check(g)?;
    let mut out = g.clone();
    let n = out.nodes.len();
    // First derivatives, kept as outputs and differentiated again.
    let mut firsts = Vec::new();
    for &a in &sel.wrt {
        let tans = jvp_pass(&mut out, a, n)?;
        for &k in &sel.of {
            let (name, y) = g.outputs[k].clone();
            let j = assemble(&mut out, tans[y], y, a)?;
            out.output(&output_name("jacobian", &[&name, g.input_name(a)]), j);
            firsts.push((name, a, j));
        }
    }
    let n2 = out.nodes.len();
    for &b in &sel.wrt {
        let tans = jvp_pass(&mut out, b, n2)?;
        for (name, a, j) in &firsts {
            let h = assemble(&mut out, tans[*j], *j, b)?;
            let parts = [name.as_str(), g.input_name(*a), g.input_name(b)];
            out.output(&output_name("hessian", &parts), h);
        }
    }
    Ok(simplify::simplify(&out)?)
}
