//! Transpose sinking: each `Transpose` is carried lazily down through the ops that commute
//! with it (each primitive's `sink_transpose` rule) until it meets another transpose, which
//! it merges with (often into nothing), or an op that needs the value as it is.
//!
//! Why: channels-last convolution nets are lowered with a transpose on each side of every
//! convolution (OpenVINO convolves channels-first), and the CPU plugin runs `Transpose` with
//! a slow generic kernel; on MobileNetV2 the transposes took more than half the time. The
//! batch normalisations, activations, paddings, residual adds and concatenations between two
//! convolutions commute with them, so the pairs meet and cancel.

use super::prim::{compose_perms, inverse_perm, is_identity_perm, Prim, Primitive};
use super::{GResult, Kind, OpGraph, ValueId};
use std::collections::HashMap;

/// A value of the old graph in the new one: `Transpose(v, perm)`, or `v` when `perm` is
/// `None`.
#[derive(Clone)]
struct Lazy {
    v: ValueId,
    perm: Option<Vec<usize>>,
}

/// A copy of `g` with its transposes moved down as far as they go. Inputs and outputs keep
/// their order and names; dead nodes are dropped.
pub fn sink_transposes(g: &OpGraph) -> GResult<OpGraph> {
    let live = g.live_nodes();
    let mut out = OpGraph::new();
    let mut lazy: Vec<Option<Lazy>> = vec![None; g.nodes.len()];
    // Made transposes by what they transpose: each is made once, however many old nodes
    // (one per layer that needs the layout) stand for it.
    let mut done: HashMap<(ValueId, Vec<usize>), ValueId> = HashMap::new();
    for &p in &g.inputs {
        let n = g.node(p);
        let v = out.parameter(g.input_name(p), n.dtype, n.shape.clone());
        lazy[p] = Some(Lazy { v, perm: None });
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if !live[id] || lazy[id].is_some() {
            continue;
        }
        out.set_origin(g.origin(id));
        let value = match &node.kind {
            Kind::Input { .. } => unreachable!("inputs are mapped first"),
            Kind::Constant(t) => Lazy {
                v: out.constant(t.clone()),
                perm: None,
            },
            Kind::Prim(Prim::Transpose(t)) => {
                let from = lazy[node.inputs[0]].clone().expect("inputs come first");
                let perm = match &from.perm {
                    Some(p) => compose_perms(p, &t.perm),
                    None => t.perm.clone(),
                };
                Lazy {
                    v: from.v,
                    perm: (!is_identity_perm(&perm)).then_some(perm),
                }
            }
            Kind::Prim(p) => match sunk(g, &mut out, &lazy, p, &node.inputs)? {
                Some(value) => value,
                None => {
                    let ins = node
                        .inputs
                        .iter()
                        .map(|&i| materialize(&mut out, &lazy, &mut done, i))
                        .collect::<GResult<Vec<_>>>()?;
                    Lazy {
                        v: out.apply_rewriting(p.clone(), ins)?,
                        perm: None,
                    }
                }
            },
        };
        lazy[id] = Some(value);
    }
    out.set_origin(None);
    for (name, v) in &g.outputs {
        let v = materialize(&mut out, &lazy, &mut done, *v)?;
        out.output(name, v);
    }
    Ok(out)
}

/// Op `p` on the untransposed inputs, when one transpose is pending on its inputs, every
/// other input is a constant that can be transposed to match, and `p` has a sinking rule.
fn sunk(
    g: &OpGraph,
    out: &mut OpGraph,
    lazy: &[Option<Lazy>],
    p: &Prim,
    inputs: &[ValueId],
) -> GResult<Option<Lazy>> {
    let of = |i: ValueId| lazy[i].as_ref().expect("inputs come first");
    let Some(perm) = inputs.iter().find_map(|&i| of(i).perm.clone()) else {
        return Ok(None);
    };
    let fits = inputs
        .iter()
        .all(|&i| match (&of(i).perm, g.as_constant(i)) {
            (Some(q), _) => *q == perm,
            (None, Some(c)) => c.shape().len() <= perm.len(),
            (None, None) => false,
        });
    let Some((q, out_perm)) = fits.then(|| p.sink_transpose(&perm)).flatten() else {
        return Ok(None);
    };
    let back = inverse_perm(&perm);
    let mut ins = Vec::with_capacity(inputs.len());
    for &i in inputs {
        let l = of(i);
        ins.push(match (&l.perm, g.as_constant(i)) {
            (None, Some(c)) => out.constant(c.aligned_permuted(&back)),
            _ => l.v,
        });
    }
    let v = out.apply_rewriting(q, ins)?;
    let perm = (!is_identity_perm(&out_perm)).then_some(out_perm);
    Ok(Some(Lazy { v, perm }))
}

/// Old value `i` as it is, its pending transpose made (once).
fn materialize(
    out: &mut OpGraph,
    lazy: &[Option<Lazy>],
    done: &mut HashMap<(ValueId, Vec<usize>), ValueId>,
    i: ValueId,
) -> GResult<ValueId> {
    let l = lazy[i].as_ref().expect("inputs come first");
    let Some(perm) = &l.perm else {
        return Ok(l.v);
    };
    let key = (l.v, perm.clone());
    if let Some(&v) = done.get(&key) {
        return Ok(v);
    }
    let v = out.transpose(l.v, perm.clone())?;
    done.insert(key, v);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::sink_transposes;
    use crate::interp::eval;
    use crate::opgraph::prim::{Pad, F32};
    use crate::opgraph::{Activation, DType, OpGraph, Prim, ReduceOp, Tensor};
    use ndarray::{ArrayD, IxDyn};

    /// One op on the transposed value.
    type Build = dyn Fn(&mut OpGraph, usize) -> usize;

    fn transposes(g: &OpGraph) -> usize {
        let live = g.live_nodes();
        g.nodes
            .iter()
            .enumerate()
            .filter(|(id, n)| live[*id] && matches!(n.prim(), Some(Prim::Transpose(_))))
            .count()
    }

    fn ramp(shape: &[usize], scale: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) * scale)
            .collect();
        Tensor::F32(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
    }

    #[test]
    fn transposes_around_layout_ops_meet_and_cancel() {
        // Channels-last data through two "convolutions" that need channels-first (MatMuls
        // over W stand in), with per-channel scaling, a shift, ReLU6 and padding between,
        // then a global average pool: only the first transpose and the one an output needs
        // remain.
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3), Some(4), Some(5)]);
        let nchw = vec![0, 3, 1, 2];
        let nhwc = vec![0, 2, 3, 1];
        let t1 = g.transpose(x, nchw.clone()).unwrap();
        let w1 = g.constant(ramp(&[4, 4], 0.1));
        let m1 = g.matmul(t1, w1).unwrap();
        let t2 = g.transpose(m1, nhwc.clone()).unwrap();
        let scale = g.constant(ramp(&[5], 0.3));
        let shift = g.constant(ramp(&[1, 1, 1, 5], 0.2));
        let b = g.mul(t2, scale).unwrap();
        let b = g.add(b, shift).unwrap();
        let r = g.activation(Activation::Relu6, b).unwrap();
        let pad = Pad {
            begin: vec![0, 1, 1, 0],
            end: vec![0, 0, 1, 0],
            value: F32(0.0),
        };
        let p = g.apply(pad, vec![r]).unwrap();
        let t3 = g.transpose(p, nchw).unwrap();
        let w2 = g.constant(ramp(&[6, 6], 0.05));
        let m2 = g.matmul(t3, w2).unwrap();
        let t4 = g.transpose(m2, nhwc).unwrap();
        let pooled = g.reduce(ReduceOp::Mean, t4, vec![1, 2], false).unwrap();
        g.output("pooled", pooled);
        g.output("mid", r);
        assert_eq!(transposes(&g), 4);
        let h = sink_transposes(&g).unwrap();
        assert_eq!(transposes(&h), 2);
        assert_eq!(h.input_names(), g.input_names());
        assert_eq!(h.output_names(), g.output_names());
        let xv = ramp(&[2, 3, 4, 5], 0.7).to_f64();
        let want = eval(&g, std::slice::from_ref(&xv)).unwrap();
        let got = eval(&h, &[xv]).unwrap();
        for (w, o) in want.iter().zip(&got) {
            assert_eq!(w.shape(), o.shape());
            let err = (w - o).mapv(f64::abs).fold(0.0, |a: f64, &b| a.max(b));
            assert!(err < 1e-12, "max |diff| {err}");
        }
    }

    #[test]
    fn one_transpose_per_value_and_permutation() {
        // Every layer that needs channels-first transposes the input itself: one is made.
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3), Some(4)]);
        for k in 0..3 {
            let t = g.transpose(x, vec![0, 2, 1]).unwrap();
            let w = g.constant(ramp(&[3, 2], 0.1 * (k + 1) as f32));
            let y = g.matmul(t, w).unwrap();
            g.output(&format!("y{k}"), y);
        }
        assert_eq!(transposes(&g), 3);
        assert_eq!(transposes(&sink_transposes(&g).unwrap()), 1);
    }

    #[test]
    fn reductions_and_axis_ops_follow_the_permutation() {
        // Every rule checked against evaluating the op on the transposed value.
        let perm = vec![2, 0, 1];
        let cases: Vec<Box<Build>> = vec![
            Box::new(|g, t| g.reduce(ReduceOp::Sum, t, vec![0, 2], false).unwrap()),
            Box::new(|g, t| g.reduce(ReduceOp::Max, t, vec![1], true).unwrap()),
            Box::new(|g, t| g.reduce(ReduceOp::Mean, t, vec![2], false).unwrap()),
            Box::new(|g, t| g.softmax(t, 1, false).unwrap()),
            Box::new(|g, t| g.concat(&[t, t], 2).unwrap()),
            Box::new(|g, t| g.slice(t, 0, 1, 4, 2).unwrap()),
            Box::new(|g, t| g.reverse(t, 1).unwrap()),
        ];
        for (k, op) in cases.iter().enumerate() {
            let mut g = OpGraph::new();
            let x = g.parameter("x", DType::F32, vec![Some(3), Some(4), Some(5)]);
            let t = g.transpose(x, perm.clone()).unwrap();
            let y = op(&mut g, t);
            g.output("y", y);
            let h = sink_transposes(&g).unwrap();
            // The op now reads the input itself: the transpose moved below it.
            let live = h.live_nodes();
            let op_reads_x = h.nodes.iter().enumerate().any(|(i, n)| {
                live[i]
                    && !matches!(n.prim(), None | Some(Prim::Transpose(_)))
                    && n.inputs.contains(&h.inputs[0])
            });
            assert!(op_reads_x, "case {k}: the transpose did not move");
            let xv = ramp(&[3, 4, 5], 0.3).to_f64();
            let want = eval(&g, std::slice::from_ref(&xv)).unwrap();
            let got = eval(&h, &[xv]).unwrap();
            assert_eq!(want, got, "case {k}");
        }
    }
}
