//! Graph clean-up after building derivative graphs: constant folding, common subexpression
//! elimination and dead node removal, so the graph grows with the model, not with `T`.

use super::{DType, GResult, Node, Op, OpGraph, Shape, Tensor, ValueId};
use std::collections::HashMap;

/// Largest constant (in elements) that folding may create.
const FOLD_LIMIT: usize = 1 << 20;

/// A copy of `g` with constant subgraphs folded, duplicates merged and unused nodes dropped.
/// Inputs and outputs keep their order and names. Two passes: constants that only fed a
/// folded node are dead after the first.
pub fn simplify(g: &OpGraph) -> GResult<OpGraph> {
    simplify_once(&simplify_once(g)?)
}

fn simplify_once(g: &OpGraph) -> GResult<OpGraph> {
    let live = g.live_nodes();
    let mut out = OpGraph::new();
    let mut map: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    let mut seen: HashMap<Key, ValueId> = HashMap::new();
    for &p in &g.inputs {
        let n = g.node(p);
        let name = g.input_name(p).to_string();
        map[p] = Some(out.parameter(&name, n.dtype, n.shape.clone()));
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if !live[id] || map[id].is_some() {
            continue;
        }
        out.set_origin(g.origins.get(id).cloned().flatten().as_deref());
        let inputs: Vec<ValueId> = node
            .inputs
            .iter()
            .map(|&i| map[i].expect("inputs come first"))
            .collect();
        let (op, inputs) = compose(&out, &node.op, inputs);
        if let Some(same) = identity(&out, &op, &inputs, &node.shape) {
            map[id] = Some(same);
            continue;
        }
        let node = &Node {
            op,
            inputs: inputs.clone(),
            dtype: node.dtype,
            shape: node.shape.clone(),
        };
        let new = match fold(&out, node, &inputs) {
            Some(t) => intern(&mut out, &mut seen, Key::constant(&t), |g| g.constant(t)),
            None => {
                let key = Key::node(&node.op, &inputs);
                let n = Node {
                    op: node.op.clone(),
                    inputs,
                    dtype: node.dtype,
                    shape: node.shape.clone(),
                };
                intern(&mut out, &mut seen, key, |g| g.push_node(n))
            }
        };
        map[id] = Some(new);
    }
    out.set_origin(None);
    for (name, v) in &g.outputs {
        out.output(name, map[*v].expect("outputs are live"));
    }
    Ok(out)
}

fn intern(
    g: &mut OpGraph,
    seen: &mut HashMap<Key, ValueId>,
    key: Key,
    make: impl FnOnce(&mut OpGraph) -> ValueId,
) -> ValueId {
    if let Some(&v) = seen.get(&key) {
        return v;
    }
    let v = make(g);
    seen.insert(key, v);
    v
}

/// A transpose of a transpose, or a reshape of a reshape, as one op on the inner input (the
/// derivative passes stack such pairs when they move axes in and out).
fn compose(g: &OpGraph, op: &Op, inputs: Vec<ValueId>) -> (Op, Vec<ValueId>) {
    let Some(&x) = inputs.first() else {
        return (op.clone(), inputs);
    };
    match (op, &g.node(x).op) {
        (Op::Transpose { perm: outer }, Op::Transpose { perm: inner }) => {
            let perm = outer.iter().map(|&p| inner[p]).collect();
            (Op::Transpose { perm }, g.node(x).inputs.clone())
        }
        (Op::Reshape { shape }, Op::Reshape { .. }) => (
            Op::Reshape {
                shape: shape.clone(),
            },
            g.node(x).inputs.clone(),
        ),
        _ => (op.clone(), inputs),
    }
}

/// The input itself, when `op` leaves it as it is (an identity transpose or reshape).
fn identity(g: &OpGraph, op: &Op, inputs: &[ValueId], shape: &Shape) -> Option<ValueId> {
    match op {
        Op::Transpose { perm } if perm.iter().enumerate().all(|(i, &p)| i == p) => Some(inputs[0]),
        Op::Reshape { .. } if g.shape(inputs[0]) == shape => Some(inputs[0]),
        _ => None,
    }
}

/// The value of `node` when every input is a constant and the result is a small f32 tensor.
fn fold(g: &OpGraph, node: &Node, inputs: &[ValueId]) -> Option<Tensor> {
    if matches!(node.op, Op::Parameter { .. } | Op::Constant(_)) || node.dtype != DType::F32 {
        return None;
    }
    let consts: Vec<&Tensor> = inputs
        .iter()
        .map(|&i| g.as_constant(i))
        .collect::<Option<_>>()?;
    let size: usize = node.shape.iter().copied().product::<Option<usize>>()?;
    if size > FOLD_LIMIT || inputs.is_empty() {
        return None;
    }
    let args: Vec<_> = consts.iter().map(|t| t.to_f64()).collect();
    let refs: Vec<_> = args.iter().collect();
    let v = crate::interp::apply(node, &refs).ok()?;
    Some(Tensor::F32(v.mapv(|x| x as f32)))
}

/// Identity of a node for CSE: constants by value, other ops by their form and inputs.
#[derive(Hash, PartialEq, Eq)]
enum Key {
    Constant(DType, Vec<usize>, Vec<u8>),
    Node(String, Vec<ValueId>),
}

impl Key {
    fn constant(t: &Tensor) -> Key {
        Key::Constant(t.dtype(), t.shape().to_vec(), t.to_le_bytes())
    }

    fn node(op: &Op, inputs: &[ValueId]) -> Key {
        Key::Node(format!("{op:?}"), inputs.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::{BinaryOp, UnaryOp};

    #[test]
    fn stacked_transposes_and_reshapes_become_one_op_or_none() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2), Some(3)]);
        let a = g.transpose(x, vec![0, 2, 1]).unwrap();
        let back = g.transpose(a, vec![0, 2, 1]).unwrap(); // == x
        let r1 = g.reshape(x, vec![None, Some(6)]).unwrap();
        let r2 = g.reshape(r1, vec![None, Some(3), Some(2)]).unwrap();
        let t1 = g.transpose(r2, vec![1, 0, 2]).unwrap();
        let t2 = g.transpose(t1, vec![0, 2, 1]).unwrap();
        let s = g.add(back, x).unwrap();
        g.output("s", s);
        g.output("t", t2);
        let h = simplify(&g).unwrap();
        let ops: Vec<String> = h.nodes.iter().map(|n| format!("{:?}", n.op)).collect();
        // x, the add, one reshape, one transpose [1, 2, 0].
        assert_eq!(h.nodes.len(), 4, "{ops:?}");
        assert!(
            ops.contains(&"Transpose { perm: [1, 2, 0] }".to_string()),
            "{ops:?}"
        );
        let xin = ndarray::Array::from_shape_fn(vec![2, 2, 3], |ix| {
            (ix[0] * 6 + ix[1] * 3 + ix[2]) as f64
        });
        let want = crate::interp::eval(&g, std::slice::from_ref(&xin)).unwrap();
        assert_eq!(crate::interp::eval(&h, &[xin]).unwrap(), want);
    }

    #[test]
    fn folds_constants_merges_duplicates_and_drops_dead_nodes() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
        let two = g.scalar(2.0);
        let three = g.scalar(3.0);
        let six = g.mul(two, three).unwrap(); // folds to 6
        let a = g.mul(x, six).unwrap();
        let b = g.mul(x, six).unwrap(); // duplicate of a
        let _dead = g.unary(UnaryOp::Exp, x).unwrap();
        let s = g.binary(BinaryOp::Add, a, b).unwrap();
        g.output("s", s);
        let h = simplify(&g).unwrap();
        // x, the folded 6, one multiply, the add.
        assert_eq!(h.nodes.len(), 4, "{:#?}", h.nodes);
        assert_eq!(h.as_constant(1), Some(&Tensor::scalar(6.0)));
        let xin = ndarray::array![[1.0, 2.0]].into_dyn();
        let out = crate::interp::eval(&h, &[xin]).unwrap();
        assert_eq!(out[0], ndarray::array![[12.0, 24.0]].into_dyn());
    }
}
