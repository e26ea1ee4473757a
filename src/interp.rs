//! A reference interpreter of the OpGraph in f64, for tests: it checks lowering against Keras'
//! numbers, the emitter against OpenVINO, and JVP rules against finite differences. Each
//! primitive evaluates itself (`Primitive::eval`); this only walks the graph.
//! Booleans are 0.0 / 1.0; i64 values are exact for the small integers graphs use.

use crate::opgraph::{Kind, OpGraph, Primitive};

pub use crate::opgraph::prim::Array;

/// Evaluate every node; `inputs` are in `graph.inputs` order.
pub fn eval_all(graph: &OpGraph, inputs: &[Array]) -> Result<Vec<Array>, String> {
    if inputs.len() != graph.inputs.len() {
        return Err(format!(
            "graph has {} inputs, {} given",
            graph.inputs.len(),
            inputs.len()
        ));
    }
    let mut values: Vec<Array> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let at = |e: String| format!("node {id} ({}): {e}", node.label());
        let v = match &node.kind {
            Kind::Input { .. } => {
                let k = graph.inputs.iter().position(|&p| p == id).ok_or_else(|| {
                    at("an input node missing from the graph's inputs".to_string())
                })?;
                inputs[k].clone()
            }
            Kind::Constant(t) => t.to_f64(),
            Kind::Prim(p) => {
                let args: Vec<&Array> = node.inputs.iter().map(|&i| &values[i]).collect();
                p.eval(&args).map_err(at)?
            }
        };
        check_shape(&v, &node.shape).map_err(at)?;
        values.push(v);
    }
    Ok(values)
}

/// Evaluate the graph's outputs, in `graph.outputs` order.
pub fn eval(graph: &OpGraph, inputs: &[Array]) -> Result<Vec<Array>, String> {
    let values = eval_all(graph, inputs)?;
    Ok(graph
        .outputs
        .iter()
        .map(|(_, id)| values[*id].clone())
        .collect())
}

fn check_shape(x: &Array, shape: &[Option<usize>]) -> Result<(), String> {
    let ok = x.ndim() == shape.len()
        && x.shape()
            .iter()
            .zip(shape)
            .all(|(&a, b)| b.is_none_or(|b| a == b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "value of shape {:?} where {} was expected",
            x.shape(),
            crate::tensor::shape_fmt(shape)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::{ClassifyOp, DType};
    use ndarray::array;

    #[test]
    fn select_and_classify() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None]);
        let nan = g.classify(ClassifyOp::IsNan, x).unwrap();
        let zero = g.scalar(0.0);
        let y = g.select(nan, zero, x).unwrap();
        g.output("y", y);
        let out = eval(&g, &[array![1.0, f64::NAN, -2.0].into_dyn()]).unwrap();
        assert_eq!(out[0], array![1.0, 0.0, -2.0].into_dyn());
    }

    #[test]
    fn inputs_are_checked_against_their_shape() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
        g.output("x", x);
        let err = eval(&g, &[array![[1.0, 2.0, 3.0]].into_dyn()]).unwrap_err();
        assert!(err.contains("input x") && err.contains("[?,2]"), "{err}");
    }
}
