//! SimpleRNN, LSTM, GRU and `RNN` over cells (also stacked), as Keras 3 runs them under JAX:
//! the cell formulas of `keras/src/layers/rnn/{simple_rnn,lstm,gru}.py` inside the loop of
//! `keras/src/backend/jax/rnn.py`, unrolled over the (static) time axis into primitives, so
//! their derivatives are the primitives' own rules in both modes. See
//! `docs/semantics/sequence.md` §4-§8 for the exact semantics followed here (masked steps,
//! `go_backwards`, `unroll`, `zero_output_for_mask`, initial states).
//!
//! Each step projects its input (`x_t W_k + b_k`), adds `h U_k` and applies the gates, one GEMM
//! per gate; the steps' inputs are slices of the sequence, which for a stacked layer simplify
//! to the outputs of the layer below (no concatenation in between), and in reverse mode their
//! transposes are pads of one step, not of the whole sequence.

use super::activations;
use super::call::{LayerCall, Val};
use super::LResult;
use crate::layer_graph::Weight;
use crate::opgraph::{CompareOp, DType, OpGraph, ReduceOp, Tensor, ValueId};
use ndarray::{ArrayD, Axis};
use serde_json::Value;

/// The cell classes an `RNN` layer can hold (Keras saves them inside its `cell` config).
const CELLS: [&str; 4] = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"];

pub fn cell_classes() -> impl Iterator<Item = &'static str> {
    CELLS.iter().copied()
}

pub fn is_cell(class: &str) -> bool {
    CELLS.contains(&class)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Simple,
    Lstm,
    Gru { reset_after: bool },
}

/// One gate's weights as graph constants: its columns of the kernel and of the recurrent
/// kernel, its input bias, and (GRU with `reset_after`) its recurrent bias.
struct Gate {
    kernel: ValueId,
    recurrent: ValueId,
    bias: Option<ValueId>,
    recurrent_bias: Option<ValueId>,
}

/// One recurrent cell: its gates (SimpleRNN h; LSTM i, f, c, o; GRU z, r, h).
struct Cell {
    kind: Kind,
    units: usize,
    gates: Vec<Gate>,
    activation: Value,
    recurrent_activation: Value,
}

impl Cell {
    /// A cell from its config (a layer's config or a cell's) and its weights in saved order.
    fn new(
        g: &mut OpGraph,
        lc: &LayerCall,
        class: &str,
        cfg: &Value,
        weights: &[&Weight],
        input_dim: usize,
    ) -> LResult<Cell> {
        let kind = match class {
            "SimpleRNN" | "SimpleRNNCell" => Kind::Simple,
            "LSTM" | "LSTMCell" => Kind::Lstm,
            "GRU" | "GRUCell" => Kind::Gru {
                reset_after: cfg_bool(lc, cfg, "reset_after", true)?,
            },
            other => return Err(lc.error(format!("unsupported recurrent cell {other}"))),
        };
        let units = cfg
            .get("units")
            .and_then(Value::as_u64)
            .and_then(|u| usize::try_from(u).ok())
            .filter(|&u| u > 0)
            .ok_or_else(|| lc.error("config has no 'units' (a positive count)"))?;
        let use_bias = cfg_bool(lc, cfg, "use_bias", true)?;
        let n_gates = match kind {
            Kind::Simple => 1,
            Kind::Lstm => 4,
            Kind::Gru { .. } => 3,
        };
        let cols = n_gates * units;
        let mut expected = vec![
            ("kernel", vec![input_dim, cols]),
            ("recurrent_kernel", vec![units, cols]),
        ];
        if use_bias {
            expected.push(match kind {
                Kind::Gru { reset_after: true } => ("bias", vec![2, cols]),
                _ => ("bias", vec![cols]),
            });
        }
        let w = lc.check_weights(weights, &expected)?;
        // Gate k's block of columns (the last axis) of a weight.
        let block = |a: &ArrayD<f32>, k: usize| {
            let axis = Axis(a.ndim() - 1);
            a.slice_axis(axis, ndarray::Slice::from(k * units..(k + 1) * units))
                .to_owned()
        };
        let (input_bias, recurrent_bias) = match (w.get(2), kind) {
            (Some(b), Kind::Gru { reset_after: true }) => (
                Some(b.index_axis(Axis(0), 0).to_owned()),
                Some(b.index_axis(Axis(0), 1).to_owned()),
            ),
            (b, _) => (b.map(|b| (*b).clone()), None),
        };
        let mut c = |a: ArrayD<f32>| g.constant(Tensor::F32(a));
        let gates = (0..n_gates)
            .map(|k| Gate {
                kernel: c(block(w[0], k)),
                recurrent: c(block(w[1], k)),
                bias: input_bias.as_ref().map(|b| c(block(b, k))),
                recurrent_bias: recurrent_bias.as_ref().map(|b| c(block(b, k))),
            })
            .collect();
        let act = |key: &str, default: &str| {
            cfg.get(key)
                .filter(|v| !v.is_null())
                .cloned()
                .unwrap_or_else(|| Value::String(default.into()))
        };
        Ok(Cell {
            kind,
            units,
            gates,
            activation: act("activation", "tanh"),
            recurrent_activation: act("recurrent_activation", "sigmoid"),
        })
    }

    fn state_count(&self) -> usize {
        if self.kind == Kind::Lstm {
            2
        } else {
            1
        }
    }

    /// `x W_k + b_k` per gate.
    fn project(&self, g: &mut OpGraph, x: ValueId) -> LResult<Vec<ValueId>> {
        self.gates
            .iter()
            .map(|gate| {
                let y = g.matmul(x, gate.kernel)?;
                Ok(match gate.bias {
                    Some(b) => g.add(y, b)?,
                    None => y,
                })
            })
            .collect()
    }

    /// One step from the projected input `xp` (per gate, `[B, u]`) and the states (`None`:
    /// still the zero initial state): the output and the new states. Keras' formulas
    /// (`docs/semantics/sequence.md` §5-§7), one GEMM per gate: no slicing of a fused
    /// `[B, gates * u]` product (the CPU plugin runs those slices as reference splits).
    fn step(
        &self,
        g: &mut OpGraph,
        lc: &LayerCall,
        xp: &[ValueId],
        states: &[Option<ValueId>],
    ) -> LResult<(ValueId, Vec<ValueId>)> {
        let act = |g: &mut OpGraph, spec: &Value, x: ValueId| activations::apply(g, lc, spec, x);
        // `h U_k (+ b_rec_k)`, `None` while `h` is the zero initial state and there is no
        // recurrent bias.
        let rec = |g: &mut OpGraph, h: Option<ValueId>, k: usize| -> LResult<Option<ValueId>> {
            let gate = &self.gates[k];
            let hu = match h {
                Some(h) => Some(g.matmul(h, gate.recurrent)?),
                None => None,
            };
            Ok(match (hu, gate.recurrent_bias) {
                (Some(hu), Some(b)) => Some(g.add(hu, b)?),
                (None, Some(b)) => Some(b),
                (hu, None) => hu,
            })
        };
        let plus = |g: &mut OpGraph, a: ValueId, b: Option<ValueId>| -> LResult<ValueId> {
            Ok(match b {
                Some(b) => g.add(a, b)?,
                None => a,
            })
        };
        // `act(xp_k + h U_k)` for gate k.
        let gate = |g: &mut OpGraph, h: Option<ValueId>, k: usize, spec: &Value| {
            let hu = rec(g, h, k)?;
            let z = plus(g, xp[k], hu)?;
            act(g, spec, z)
        };
        let (a, ra) = (&self.activation, &self.recurrent_activation);
        match self.kind {
            Kind::Simple => {
                let h = gate(g, states[0], 0, a)?;
                Ok((h, vec![h]))
            }
            Kind::Lstm => {
                let (h, c) = (states[0], states[1]);
                let i = gate(g, h, 0, ra)?;
                let f = gate(g, h, 1, ra)?;
                let cand = gate(g, h, 2, a)?;
                let o = gate(g, h, 3, ra)?;
                let ic = g.mul(i, cand)?;
                let c_new = match c {
                    Some(c) => {
                        let fc = g.mul(f, c)?;
                        g.add(fc, ic)?
                    }
                    None => ic,
                };
                let ac = act(g, a, c_new)?;
                let h_new = g.mul(o, ac)?;
                Ok((h_new, vec![h_new, c_new]))
            }
            Kind::Gru { reset_after } => {
                let h = states[0];
                let z = gate(g, h, 0, ra)?;
                let r = gate(g, h, 1, ra)?;
                let rh = if reset_after {
                    match rec(g, h, 2)? {
                        Some(inner) => Some(g.mul(r, inner)?),
                        None => None,
                    }
                } else {
                    match h {
                        Some(h) => {
                            let rhh = g.mul(r, h)?;
                            Some(g.matmul(rhh, self.gates[2].recurrent)?)
                        }
                        None => None,
                    }
                };
                let pre = plus(g, xp[2], rh)?;
                let hh = act(g, a, pre)?;
                // z * h + (1 - z) * hh
                let one = g.scalar(1.0);
                let one_minus = g.sub(one, z)?;
                let keep = g.mul(one_minus, hh)?;
                let h_new = match h {
                    Some(h) => {
                        let zh = g.mul(z, h)?;
                        g.add(zh, keep)?
                    }
                    None => keep,
                };
                Ok((h_new, vec![h_new]))
            }
        }
    }
}

fn cfg_bool(lc: &LayerCall, cfg: &Value, key: &str, default: bool) -> LResult<bool> {
    match cfg.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| lc.error(format!("config '{key}' = {v} is not a boolean"))),
    }
}

/// How the loop treats masked steps and what it returns (the RNN layer's config).
struct LoopOptions {
    go_backwards: bool,
    unroll: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
    return_state: bool,
}

/// `backend.rnn` over `cells` (one, or a stack): the output sequence `[B, T, u]` in processing
/// order or the last output, then the final states (flattened, cell by cell).
fn run_loop(
    g: &mut OpGraph,
    lc: &LayerCall,
    cells: &[Cell],
    x: ValueId,
    mask: Option<ValueId>,
    initial: Vec<Option<ValueId>>,
    o: &LoopOptions,
) -> LResult<Vec<ValueId>> {
    let t_len = lc.static_dim(g, x, 1).map_err(|_| {
        lc.error(format!(
            "the sequence length (axis 1 of the input {}) must be static; give the input's \
             per-sample shape with --input-shape NAME=T,...",
            crate::opgraph::shape_fmt(g.shape(x))
        ))
    })?;
    if t_len == 0 {
        return Err(lc.error("a sequence of length 0"));
    }
    let mut states = initial;
    let offsets: Vec<usize> = cells
        .iter()
        .scan(0, |acc, c| {
            let o = *acc;
            *acc += c.state_count();
            Some(o)
        })
        .collect();
    let last = *offsets.last().expect("at least one cell");
    let zero = g.scalar(0.0);
    let mut outputs: Vec<ValueId> = Vec::with_capacity(t_len);
    let order: Vec<usize> = if o.go_backwards {
        (0..t_len).rev().collect()
    } else {
        (0..t_len).collect()
    };
    for &t in &order {
        // Step t of the input (of a stacked layer below: its step-t output, as the slice of
        // its concatenated outputs simplifies to that part).
        let xt = g.slice(x, 1, t, t + 1, 1)?;
        let mut input = g.squeeze(xt, &[1])?;
        let mut new_states = Vec::with_capacity(states.len());
        for (k, cell) in cells.iter().enumerate() {
            let xp = cell.project(g, input)?;
            let st = &states[offsets[k]..offsets[k] + cell.state_count()];
            let (out, ns) = cell.step(g, lc, &xp, st)?;
            input = out;
            new_states.extend(ns);
        }
        let out = input;
        let (out, next) = match mask {
            None => (out, new_states.into_iter().map(Some).collect()),
            Some(m) => {
                let b = g.shape(m)[0];
                let mt = g.slice(m, 1, t, t + 1, 1)?;
                let mt = g.reshape(mt, vec![b, Some(1)])?;
                let keep = |g: &mut OpGraph, new: ValueId, old: Option<ValueId>| {
                    g.select(mt, new, old.unwrap_or(zero))
                };
                let prev = if o.unroll {
                    outputs.last().copied()
                } else if o.zero_output_for_mask {
                    None
                } else {
                    // The first state of the last cell: the previous output.
                    states[last]
                };
                let out = keep(g, out, prev)?;
                let next = new_states
                    .iter()
                    .zip(&states)
                    .map(|(&n, &s)| keep(g, n, s).map(Some))
                    .collect::<Result<Vec<_>, _>>()?;
                (out, next)
            }
        };
        outputs.push(out);
        states = next;
    }
    let y = if o.return_sequences {
        let parts = outputs
            .iter()
            .map(|&v| g.expand_dims(v, 1))
            .collect::<Result<Vec<_>, _>>()?;
        g.concat(&parts, 1)?
    } else {
        *outputs.last().expect("t_len > 0")
    };
    let mut result = vec![y];
    if o.return_state {
        for s in states {
            result.push(s.expect("every state was updated at least once"));
        }
    }
    Ok(result)
}

fn options(lc: &LayerCall) -> LResult<LoopOptions> {
    if lc.cfg_bool("stateful", false)? {
        return Err(lc.error(
            "unsupported: stateful=True keeps states across calls, so the model is not a \
             function of its inputs",
        ));
    }
    Ok(LoopOptions {
        go_backwards: lc.cfg_bool("go_backwards", false)?,
        unroll: lc.cfg_bool("unroll", false)?,
        zero_output_for_mask: lc.cfg_bool("zero_output_for_mask", false)?,
        return_sequences: lc.cfg_bool("return_sequences", false)?,
        return_state: lc.cfg_bool("return_state", false)?,
    })
}

/// The `initial_state` argument (positional 1 or keyword), flattened; `count` states.
fn initial_states(g: &OpGraph, lc: &LayerCall, count: usize) -> LResult<Vec<Option<ValueId>>> {
    let given: Vec<ValueId> = match lc.arg(1, "initial_state") {
        None | Some(Val::Lit(_)) => return Ok(vec![None; count]),
        Some(v) => v.tensors().iter().map(|t| t.v).collect(),
    };
    if given.len() != count {
        return Err(lc.error(format!(
            "initial_state has {} tensor(s); the layer has {count} state(s)",
            given.len()
        )));
    }
    for &s in &given {
        if g.dtype(s) != DType::F32 || g.rank(s) != 2 {
            return Err(lc.error("an initial state must be a float tensor [batch, units]"));
        }
    }
    Ok(given.into_iter().map(Some).collect())
}

/// The layer's mask as a bool `[B, T]` (`None` when unmasked).
fn step_mask(g: &mut OpGraph, lc: &LayerCall) -> LResult<Option<ValueId>> {
    match lc.single_mask()? {
        Some(m) => Ok(Some(g.convert(m, DType::Bool)?)),
        None => Ok(None),
    }
}

/// Shared by SimpleRNN, LSTM, GRU and RNN: the loop over `cells` with the layer's options,
/// mask and initial states; output masks as `RNN.compute_mask`.
fn recurrent_layer(g: &mut OpGraph, lc: &LayerCall, cells: Vec<Cell>) -> LResult<Vec<ValueId>> {
    let x = lc
        .arg(0, "sequences")
        .and_then(|v| v.tensors().first().copied());
    let x = x.ok_or_else(|| lc.error("expects an input sequence"))?.v;
    let o = options(lc)?;
    let count = cells.iter().map(Cell::state_count).sum();
    let initial = initial_states(g, lc, count)?;
    let mask = step_mask(g, lc)?;
    let outs = run_loop(g, lc, &cells, x, mask, initial, &o)?;
    let out_mask = if o.return_sequences { mask } else { None };
    let mut masks = vec![out_mask];
    masks.resize(outs.len(), None);
    lc.set_output_masks(masks);
    Ok(outs)
}

/// The sequence input: `[B, T, F]` float, `F` static.
fn input_dim(g: &OpGraph, lc: &LayerCall) -> LResult<usize> {
    let x = lc
        .arg(0, "sequences")
        .and_then(|v| v.tensors().first().copied())
        .ok_or_else(|| lc.error("expects an input sequence"))?
        .v;
    if g.rank(x) != 3 || g.dtype(x) != DType::F32 {
        return Err(lc.error(format!(
            "expects a float sequence [batch, time, features], got {}",
            crate::opgraph::shape_fmt(g.shape(x))
        )));
    }
    lc.static_dim(g, x, 2)
}

/// SimpleRNN, LSTM and GRU: one cell whose config is the layer's, weights under `cell/`.
pub fn single_cell_layer(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let f = input_dim(g, lc)?;
    let weights: Vec<&Weight> = lc.layer.weights.iter().collect();
    let cell = Cell::new(g, lc, &lc.layer.class_name, &lc.layer.config, &weights, f)?;
    recurrent_layer(g, lc, vec![cell])
}

/// `keras.layers.RNN(cell)` with one cell or `StackedRNNCells` (a list of cells).
pub fn rnn(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let f = input_dim(g, lc)?;
    let cell_cfg = lc
        .cfg("cell")
        .ok_or_else(|| lc.error("config has no 'cell'"))?;
    let class = cell_cfg
        .get("class_name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let (specs, parts): (Vec<&Value>, Vec<String>) = if class == "StackedRNNCells" {
        let list = cell_cfg
            .get("config")
            .and_then(|c| c.get("cells"))
            .and_then(Value::as_array)
            .ok_or_else(|| lc.error("StackedRNNCells config has no 'cells' list"))?;
        let classes: Vec<&str> = list
            .iter()
            .map(|c| c.get("class_name").and_then(Value::as_str).unwrap_or(""))
            .collect();
        let names = crate::loader::container_names(&classes);
        (
            list.iter().collect(),
            names.iter().map(|n| format!("cells/{n}")).collect(),
        )
    } else {
        (vec![cell_cfg], vec!["cell".to_string()])
    };
    let mut cells: Vec<Cell> = Vec::new();
    let mut dim = f;
    for (spec, part) in specs.iter().zip(&parts) {
        let class = spec.get("class_name").and_then(Value::as_str).unwrap_or("");
        let cfg = spec.get("config").unwrap_or(&Value::Null);
        // `cells/lstm_cell` is a whole path component: it does not match `cells/lstm_cell_1`.
        let weights = lc.sub_weights(part);
        let cell = Cell::new(g, lc, class, cfg, &weights, dim)?;
        dim = cell.units;
        cells.push(cell);
    }
    recurrent_layer(g, lc, cells)
}

/// `Masking(mask_value)`: steps whose features all equal `mask_value` become 0 and are
/// masked (`keras/src/layers/core/masking.py`).
pub fn masking(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let v = lc.cfg_f64("mask_value", 0.0)?;
    let r = g.rank(x);
    let c = g.scalar(v as f32);
    let ne = g.compare(CompareOp::NotEqual, x, c)?;
    let any = any_axis(g, ne, r - 1, true)?;
    let zero = g.scalar(0.0);
    let y = g.select(any, x, zero)?;
    let mask = g.reshape(any, g.shape(any)[..r - 1].to_vec())?;
    lc.set_output_masks(vec![Some(mask)]);
    Ok(vec![y])
}

/// `any(m, axis)` of a bool value.
pub fn any_axis(g: &mut OpGraph, m: ValueId, axis: usize, keep: bool) -> LResult<ValueId> {
    let f = g.convert(m, DType::F32)?;
    let mx = g.reduce(ReduceOp::Max, f, vec![axis], keep)?;
    let zero = g.scalar(0.0);
    Ok(g.compare(CompareOp::Greater, mx, zero)?)
}
