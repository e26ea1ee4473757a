//! Graph clean-up after building derivative graphs: each primitive's local simplifications,
//! constant folding, common subexpression elimination and dead node removal, so the graph
//! grows with the model, not with `T`.

use super::prim::{Prim, Primitive};
use super::{DType, GResult, Kind, OpGraph, Tensor, ValueId};
use std::collections::HashMap;

/// Largest constant (in elements) that folding may create.
const FOLD_LIMIT: usize = 1 << 20;

/// A copy of `g` with constant subgraphs folded, duplicates merged and unused nodes dropped.
/// Inputs and outputs keep their order and names. Two passes: constants that only fed a
/// folded node are dead after the first.
pub fn simplify(g: &OpGraph) -> GResult<OpGraph> {
    simplify_once(&simplify_once(g)?)
}

/// Identity of a node for CSE: constants by value, primitives by themselves and their inputs.
#[derive(Hash, PartialEq, Eq)]
enum Key {
    Constant(DType, Vec<usize>, Vec<u8>),
    Prim(Prim, Vec<ValueId>),
}

fn simplify_once(g: &OpGraph) -> GResult<OpGraph> {
    let live = g.live_nodes();
    let mut out = OpGraph::new();
    let mut map: Vec<Option<ValueId>> = vec![None; g.nodes.len()];
    let mut seen: HashMap<Key, ValueId> = HashMap::new();
    for &p in &g.inputs {
        let n = g.node(p);
        map[p] = Some(out.parameter(g.input_name(p), n.dtype, n.shape.clone()));
    }
    for (id, node) in g.nodes.iter().enumerate() {
        if !live[id] || map[id].is_some() {
            continue;
        }
        out.set_origin(g.origin(id));
        let inputs: Vec<ValueId> = node
            .inputs
            .iter()
            .map(|&i| map[i].expect("inputs come first"))
            .collect();
        let new = match &node.kind {
            Kind::Input { .. } => unreachable!("inputs are mapped first"),
            Kind::Constant(t) => intern_constant(&mut out, &mut seen, t.clone()),
            // `apply` runs the primitive's own simplifications on the new inputs.
            Kind::Prim(p) => {
                let before = out.nodes.len();
                let v = out.apply_rewriting(p.clone(), inputs)?;
                if v < before {
                    v // an existing value
                } else if let Some(t) = fold(&out, v) {
                    out.truncate(before);
                    intern_constant(&mut out, &mut seen, t)
                } else {
                    let n = out.node(v);
                    let key = Key::Prim(n.prim().expect("a primitive").clone(), n.inputs.clone());
                    match seen.get(&key) {
                        Some(&same) => {
                            out.truncate(before);
                            same
                        }
                        None => {
                            seen.insert(key, v);
                            v
                        }
                    }
                }
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

fn intern_constant(g: &mut OpGraph, seen: &mut HashMap<Key, ValueId>, t: Tensor) -> ValueId {
    let key = Key::Constant(t.dtype(), t.shape().to_vec(), t.to_le_bytes());
    if let Some(&v) = seen.get(&key) {
        return v;
    }
    let v = g.constant(t);
    seen.insert(key, v);
    v
}

/// The value of node `v` when every input is a constant and the result is a small tensor.
fn fold(g: &OpGraph, v: ValueId) -> Option<Tensor> {
    let node = g.node(v);
    let p = node.prim()?;
    if node.inputs.is_empty() {
        return None;
    }
    let consts: Vec<&Tensor> = node
        .inputs
        .iter()
        .map(|&i| g.as_constant(i))
        .collect::<Option<_>>()?;
    let size = crate::tensor::num_elements(&node.shape)?;
    if size > FOLD_LIMIT {
        return None;
    }
    let args: Vec<_> = consts.iter().map(|t| t.to_f64()).collect();
    let refs: Vec<_> = args.iter().collect();
    let value = p.eval(&refs).ok()?;
    Some(Tensor::from_f64(node.dtype, &value))
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
        let ops: Vec<String> = h.nodes.iter().map(|n| n.label()).collect();
        // x, the add, one reshape, one transpose [1, 2, 0].
        assert_eq!(h.nodes.len(), 4, "{ops:?}");
        assert!(ops.contains(&"Transpose [1, 2, 0]".to_string()), "{ops:?}");
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
