//! `keras.layers.EinsumDense` and `keras.ops.einsum` (the attention layers project with
//! EinsumDense too): the einsum becomes matmuls (`einsum.rs`), the bias is added where the
//! CPU plugin fuses it.

use super::call::LayerCall;
use super::einsum::einsum;
use super::{activations, LResult};
use crate::opgraph::{DType, OpGraph, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

/// An einsum error as a lowering error naming the layer.
pub(super) fn lerr<'a>(lc: &'a LayerCall<'a>) -> impl Fn(String) -> super::LowerError + 'a {
    move |m| lc.error(m)
}

/// `y = einsum(equation, x, kernel) + bias`, then `activation` (an EinsumDense).
pub(super) fn einsum_dense_with(
    g: &mut OpGraph,
    lc: &LayerCall,
    equation: &str,
    x: ValueId,
    kernel: &ArrayD<f32>,
    bias: Option<&ArrayD<f32>>,
    activation: &Value,
) -> LResult<ValueId> {
    let k = g.constant(Tensor::F32(kernel.clone()));
    let mut y = einsum(g, equation, &[x, k]).map_err(lerr(lc))?;
    if let Some(b) = bias {
        y = add_bias(g, y, b)?;
    }
    activations::apply(g, lc, activation, y)
}

/// `y + bias`. When `y` is a matmul whose last axis was split by a reshape (a projection to
/// heads) and the bias covers exactly the split axes, the bias is added before the reshape,
/// where the CPU plugin fuses it into the matmul.
fn add_bias(g: &mut OpGraph, y: ValueId, bias: &ArrayD<f32>) -> LResult<ValueId> {
    let node = g.node(y).clone();
    let split_matmul = match (&node.kind, node.inputs.first()) {
        (crate::opgraph::Kind::Prim(crate::opgraph::Prim::Reshape(_)), Some(&m)) => {
            matches!(g.node(m).prim(), Some(crate::opgraph::Prim::MatMul(_))).then_some(m)
        }
        _ => None,
    };
    if let Some(m) = split_matmul {
        let (ys, ms) = (g.shape(y).clone(), g.shape(m).clone());
        let split = ys.len() + 1 - ms.len();
        let trailing: Vec<usize> = ys[ys.len() - split..].iter().flatten().copied().collect();
        let same_lead = ys[..ys.len() - split] == ms[..ms.len() - 1];
        if same_lead && trailing.len() == split && bias.shape() == trailing.as_slice() {
            let n = bias.len();
            let flat = bias
                .clone()
                .into_shape_with_order(IxDyn(&[n]))
                .expect("n elements");
            let b = g.constant(Tensor::F32(flat));
            let added = g.add(m, b)?;
            return Ok(g.reshape(added, ys)?);
        }
    }
    let b = g.constant(Tensor::F32(bias.clone()));
    Ok(g.add(y, b)?)
}

/// The weights of an EinsumDense: a kernel of rank `kernel_rank` and an optional bias.
pub(super) fn kernel_and_bias<'w>(
    lc: &LayerCall,
    have: &[&'w crate::layer_graph::Weight],
    kernel_rank: usize,
    what: &str,
) -> LResult<(&'w ArrayD<f32>, Option<&'w ArrayD<f32>>)> {
    match have {
        [k] if k.value.ndim() == kernel_rank => Ok((&k.value, None)),
        [k, b] if k.value.ndim() == kernel_rank => Ok((&k.value, Some(&b.value))),
        _ => Err(lc.error(format!(
            "{what}: expected a kernel of rank {kernel_rank} and an optional bias in \
             model.weights.h5, found {} weight(s)",
            have.len()
        ))),
    }
}

/// `keras.layers.EinsumDense(equation, output_shape, bias_axes, activation)`.
pub fn einsum_dense(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let eq = lc
        .cfg("equation")
        .and_then(Value::as_str)
        .ok_or_else(|| lc.error("config has no 'equation'"))?;
    let kernel_spec = eq
        .split("->")
        .next()
        .and_then(|l| l.split(',').nth(1))
        .ok_or_else(|| lc.error(format!("equation '{eq}' has no kernel operand")))?;
    let have: Vec<_> = lc.layer.weights.iter().collect();
    let (k, b) = kernel_and_bias(lc, &have, kernel_spec.len(), "EinsumDense")?;
    if b.is_some() != lc.cfg("bias_axes").is_some() {
        return Err(lc.error("the weights do not match 'bias_axes'"));
    }
    let act = lc.cfg("activation").cloned().unwrap_or(Value::Null);
    Ok(vec![einsum_dense_with(g, lc, eq, x, k, b, &act)?])
}

/// `keras.ops.einsum(subscripts, *operands)`.
pub fn einsum_op(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let eq = lc
        .cfg("subscripts")
        .and_then(Value::as_str)
        .ok_or_else(|| lc.error("config has no 'subscripts'"))?;
    let xs = lc.all_tensors();
    if xs.iter().any(|&x| g.dtype(x) != DType::F32) {
        return Err(lc.error("unsupported: einsum of non-float operands"));
    }
    Ok(vec![einsum(g, eq, &xs).map_err(lerr(lc))?])
}
