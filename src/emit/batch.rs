//! Fixing the dynamic dimension: every `None` in the input shapes becomes the batch size, and
//! the graph is rebuilt node by node so that every shape downstream is re-inferred (a dynamic
//! dimension further down is not always the batch itself: think of `[?,4]` reshaped to `[?]`).

use crate::opgraph::{num_elements, shape_fmt, GraphError, Op, OpGraph, ValueId};

/// A copy of `g` whose inputs have every dynamic dimension set to `batch`.
pub fn with_static_batch(g: &OpGraph, batch: usize) -> Result<OpGraph, GraphError> {
    let mut out = OpGraph::new();
    let mut map: Vec<ValueId> = Vec::with_capacity(g.nodes.len());
    for (id, node) in g.nodes.iter().enumerate() {
        let x = |i: usize| map[node.inputs[i]];
        let at = |e: GraphError| {
            GraphError(format!(
                "node {id} ({}): {}",
                super::op_label(&node.op),
                e.0
            ))
        };
        let v = match &node.op {
            Op::Parameter { name } => {
                let shape = node
                    .shape
                    .iter()
                    .map(|d| Some(d.unwrap_or(batch)))
                    .collect();
                out.parameter(name, node.dtype, shape)
            }
            Op::Constant(t) => out.constant(t.clone()),
            Op::Unary(op) => out.unary(*op, x(0)).map_err(at)?,
            Op::Binary(op) => out.binary(*op, x(0), x(1)).map_err(at)?,
            Op::Compare(op) => out.compare(*op, x(0), x(1)).map_err(at)?,
            Op::Classify(op) => out.classify(*op, x(0)).map_err(at)?,
            Op::Select => out.select(x(0), x(1), x(2)).map_err(at)?,
            Op::MatMul => out.matmul(x(0), x(1)).map_err(at)?,
            Op::Reshape { shape } => {
                let from = out.shape(x(0)).clone();
                let n = num_elements(&from).ok_or_else(|| {
                    at(GraphError(format!(
                        "input shape {} is still dynamic",
                        shape_fmt(&from)
                    )))
                })?;
                let known: usize = shape.iter().flatten().product();
                let target = shape
                    .iter()
                    .map(|d| match d {
                        Some(d) => Some(*d),
                        None if known > 0 => Some(n / known),
                        None => Some(0),
                    })
                    .collect();
                out.reshape(x(0), target).map_err(at)?
            }
            Op::Transpose { perm } => out.transpose(x(0), perm.clone()).map_err(at)?,
            Op::Tile { repeats } => out.tile(x(0), repeats.clone()).map_err(at)?,
            Op::Concat { axis } => {
                let xs: Vec<ValueId> = node.inputs.iter().map(|&i| map[i]).collect();
                out.concat(&xs, *axis).map_err(at)?
            }
            Op::Slice {
                axis,
                start,
                stop,
                step,
            } => out.slice(x(0), *axis, *start, *stop, *step).map_err(at)?,
            Op::Reduce {
                op,
                axes,
                keep_dims,
            } => out
                .reduce(*op, x(0), axes.clone(), *keep_dims)
                .map_err(at)?,
            Op::Convert { to } => out.convert(x(0), *to).map_err(at)?,
            Op::BroadcastLike => out.broadcast_like(x(0), x(1)).map_err(at)?,
            Op::Reverse { axis } => out.reverse(x(0), *axis).map_err(at)?,
        };
        map.push(v);
    }
    out.inputs = g.inputs.iter().map(|&i| map[i]).collect();
    out.outputs = g
        .outputs
        .iter()
        .map(|(name, v)| (name.clone(), map[*v]))
        .collect();
    Ok(out)
}
