//! Per-sample derivatives of an OpGraph: `jax.vmap(jax.jacfwd(f))` (forward mode, the JVP
//! rules in `rules.rs`) or the same numbers as `jax.vmap(jax.jacrev(f))` (reverse mode,
//! `reverse.rs`), and Hessians as the forward pass applied to the Jacobian graph (forward over
//! reverse, like `jax.hessian`, or forward over forward).
//!
//! The result is a plain OpGraph with extra outputs `jacobian/<output>/<input>` (shape
//! `[B, *out, *in]`) and `hessian/<output>/<input_a>/<input_b>` (`[B, *out, *in_a, *in_b]`).

mod batch;
pub(crate) mod reverse;
pub mod taylor;
#[cfg(test)]
mod tests;

use crate::opgraph::prim::{walk, Jvp, Tan};
use crate::opgraph::{simplify, DType, GraphError, OpGraph, Primitive, Tensor, ValueId};
use ndarray::ArrayD;
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
    #[error("output '{0}' is not a float tensor: integer outputs are not differentiable")]
    NotDifferentiableOutput(String),
    #[error("nothing to differentiate: the model's inputs ({0}) are all integer or bool (token ids, masks), and derivatives are taken only with respect to float inputs")]
    OnlyIntegerInputs(String),
    #[error("nothing to differentiate: the model's outputs ({0}) are all integer or bool")]
    OnlyIntegerOutputs(String),
    #[error("input '{0}' has a dimension of unknown size besides the batch: per-sample Jacobians need a static sample shape")]
    DynamicShape(String),
    #[error("output '{0}' has a dimension of unknown size besides the batch: per-sample Jacobians need a static sample shape")]
    DynamicOutput(String),
    #[error("{0}")]
    BatchMixing(String),
    #[error("reverse mode cannot differentiate {0}; use --mode forward")]
    ReverseUnsupported(String),
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

/// Resolve `--wrt` / `--of` names (default: every float input, every float output). A model
/// whose inputs (or outputs) are all integer has nothing to differentiate: an error says so.
pub fn select(g: &OpGraph, wrt: &[String], of: &[String]) -> Result<Selection, AdError> {
    let input_names = g.input_names();
    let output_names = g.output_names();
    let wrt_ids = if wrt.is_empty() {
        let floats: Vec<ValueId> = g
            .inputs
            .iter()
            .copied()
            .filter(|&p| g.dtype(p) == DType::F32)
            .collect();
        if floats.is_empty() && !g.inputs.is_empty() {
            return Err(AdError::OnlyIntegerInputs(input_names.join(", ")));
        }
        floats
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
    let float_output = |k: usize| g.dtype(g.outputs[k].1) == DType::F32;
    let of_idx = if of.is_empty() {
        let floats: Vec<usize> = (0..g.outputs.len()).filter(|&k| float_output(k)).collect();
        if floats.is_empty() && !g.outputs.is_empty() {
            return Err(AdError::OnlyIntegerOutputs(output_names.join(", ")));
        }
        floats
    } else {
        of.iter()
            .map(|name| {
                let k = output_names.iter().position(|n| n == name).ok_or_else(|| {
                    AdError::UnknownName {
                        kind: "output",
                        name: name.clone(),
                        valid: output_names.join(", "),
                    }
                })?;
                if !float_output(k) {
                    return Err(AdError::NotDifferentiableOutput(name.clone()));
                }
                Ok(k)
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
pub struct Seeding {
    pub xs: Vec<ValueId>,
    pub offsets: Vec<usize>,
    pub total: usize,
}

impl Seeding {
    pub fn new(g: &OpGraph, xs: &[ValueId]) -> Result<Self, AdError> {
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
    /// (batch 1: what only depends on seeds stays constant and folds). Nodes outside `live`
    /// (when given) get no tangent.
    fn jvp(
        &self,
        g: &mut OpGraph,
        upto: usize,
        live: Option<&[bool]>,
    ) -> Result<Vec<Tan>, AdError> {
        let t_len = self.total;
        g.set_origin(None);
        let mut seeds = Vec::new();
        for (k, &x) in self.xs.iter().enumerate() {
            let seed = eye_block(g, t_len, self.offsets[k], x);
            seeds.push((x, seed));
        }
        propagate(g, &seeds, upto, live)
    }

    /// `[B, *y[1..], T]` from the tangent `[T, B|1, *y[1..]]` of `y`; `None` if `y` does not
    /// depend on the seeded inputs.
    fn stacked(&self, g: &mut OpGraph, t: Tan, y: ValueId) -> Result<Option<ValueId>, AdError> {
        let Some(t) = t else { return Ok(None) };
        let t = Jvp { g: &mut *g }.full(t, y)?;
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

/// Rows `off..off + n` of `eye(len)` for the `n` elements of one sample of `x`, as a constant
/// `[len, 1, *x[1..]]` (batch 1): the joint seed of `x`'s elements on a tangent or cotangent
/// axis of `len` entries. `x`'s sample shape is static (checked by the caller).
fn eye_block(g: &mut OpGraph, len: usize, off: usize, x: ValueId) -> ValueId {
    let sample: Vec<usize> = g.shape(x)[1..].iter().map(|d| d.expect("static")).collect();
    let n: usize = sample.iter().product();
    let mut shape = vec![len, 1];
    shape.extend(sample);
    let eye = ArrayD::from_shape_fn(vec![len, n], |ix| (ix[0] == off + ix[1]) as u8 as f32)
        .into_shape_with_order(shape)
        .expect("n elements per row");
    g.constant(Tensor::F32(eye))
}

/// Push tangents from `seeds` (input node, its tangent) through nodes `0..upto`, one JVP rule
/// per node; `live` (when given) skips nodes no output needs.
fn propagate(
    g: &mut OpGraph,
    seeds: &[(ValueId, ValueId)],
    upto: usize,
    live: Option<&[bool]>,
) -> Result<Vec<Tan>, AdError> {
    let seeds: Vec<(ValueId, Tan)> = seeds.iter().map(|&(x, t)| (x, Some(t))).collect();
    let tans = walk(g, &seeds, 0..upto, live, |g, p, id, tin| {
        if tin.iter().all(Option::is_none) {
            return Ok(None);
        }
        p.jvp(&mut Jvp { g }, id, tin)
    });
    g.set_origin(None);
    Ok(tans?)
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

/// How first derivatives are built. Both give the same numbers (`vmap(jacfwd)` and
/// `vmap(jacrev)` agree); they differ in cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Reverse when the selected outputs have fewer elements per sample than the selected
    /// inputs, forward otherwise.
    #[default]
    Auto,
    /// Forward mode (`jacfwd`): one tangent per input element.
    Forward,
    /// Reverse mode (`jacrev`): one cotangent per output element.
    Reverse,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Auto => "auto",
            Mode::Forward => "forward",
            Mode::Reverse => "reverse",
        })
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Mode::Auto),
            "forward" => Ok(Mode::Forward),
            "reverse" => Ok(Mode::Reverse),
            other => Err(format!("unknown mode '{other}': auto, forward or reverse")),
        }
    }
}

/// The mode `mode` stands for on this selection: `Forward` or `Reverse`. Outputs need a
/// static sample shape in either mode.
pub fn resolve_mode(g: &OpGraph, sel: &Selection, mode: Mode) -> Result<Mode, AdError> {
    for &k in &sel.of {
        let (name, y) = &g.outputs[k];
        if g.shape(*y)[1..].iter().any(Option::is_none) {
            return Err(AdError::DynamicOutput(name.clone()));
        }
    }
    Ok(match mode {
        Mode::Auto if reverse::output_count(g, sel) < Seeding::new(g, &sel.wrt)?.total => {
            Mode::Reverse
        }
        Mode::Auto => Mode::Forward,
        chosen => chosen,
    })
}

/// The forward graph with each selected output's stacked Jacobian `[B, *out, T]` built in
/// (`None` where an output does not depend on the inputs).
struct FirstOrder {
    graph: OpGraph,
    seeding: Seeding,
    stacked: Vec<Option<ValueId>>,
}

fn first_order(g: &OpGraph, sel: &Selection, mode: Mode) -> Result<FirstOrder, AdError> {
    batch::check(g)?;
    let mode = resolve_mode(g, sel, mode)?;
    let seeding = Seeding::new(g, &sel.wrt)?;
    let mut out = g.clone();
    let stacked = if mode == Mode::Reverse {
        reverse::stacked_jacobians(&mut out, sel, &seeding)?
    } else {
        let n = out.nodes.len();
        let tans = seeding.jvp(&mut out, n, None)?;
        sel.of
            .iter()
            .map(|&k| {
                let y = g.outputs[k].1;
                seeding.stacked(&mut out, tans[y], y)
            })
            .collect::<Result<_, _>>()?
    };
    Ok(FirstOrder {
        graph: out,
        seeding,
        stacked,
    })
}

/// Add the `jacobian/<output>/<input>` outputs; per output, its name, stacked Jacobian and
/// blocks.
type Firsts = Vec<(String, Option<ValueId>, Vec<ValueId>)>;

fn jacobian_outputs(
    g: &OpGraph,
    out: &mut OpGraph,
    sel: &Selection,
    seeding: &Seeding,
    stacked: Vec<Option<ValueId>>,
) -> Result<Firsts, AdError> {
    let mut firsts = Vec::new();
    for (&k, stacked) in sel.of.iter().zip(stacked) {
        let (name, y) = g.outputs[k].clone();
        let mut blocks = Vec::new();
        for (i, &x) in sel.wrt.iter().enumerate() {
            let j = match stacked {
                Some(s) => seeding.block(out, s, i)?,
                None => zero_block(out, y, x)?,
            };
            out.output(&output_name("jacobian", &[&name, g.input_name(x)]), j);
            blocks.push(j);
        }
        firsts.push((name, stacked, blocks));
    }
    Ok(firsts)
}

/// The forward graph plus `jacobian/<output>/<input>` outputs.
pub fn jacobian(g: &OpGraph, sel: &Selection, mode: Mode) -> Result<OpGraph, AdError> {
    let FirstOrder {
        graph: mut out,
        seeding,
        stacked,
    } = first_order(g, sel, mode)?;
    jacobian_outputs(g, &mut out, sel, &seeding, stacked)?;
    Ok(simplify::simplify(&out)?)
}

/// The forward graph plus Jacobians and `hessian/<output>/<input_a>/<input_b>` outputs: the
/// stacked Jacobian `[B, *out, T]` of each output (built in `mode`) is differentiated
/// forward, giving `[B, *out, T, T]`, cut into blocks. Forward over reverse is what
/// `jax.hessian` does; forward over forward is cheaper when outputs outnumber inputs.
pub fn hessian(g: &OpGraph, sel: &Selection, mode: Mode) -> Result<OpGraph, AdError> {
    let FirstOrder {
        graph: mut out,
        seeding,
        stacked,
    } = first_order(g, sel, mode)?;
    let firsts = jacobian_outputs(g, &mut out, sel, &seeding, stacked)?;
    let n2 = out.nodes.len();
    let live = out.live_nodes();
    let tans2 = seeding.jvp(&mut out, n2, Some(&live))?;
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
