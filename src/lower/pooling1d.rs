//! GlobalAveragePooling1D and GlobalMaxPooling1D over the steps of a sequence, with Keras'
//! mask rule (`keras/src/layers/pooling/global_average_pooling1d.py`): the average counts
//! only unmasked steps; the max ignores the mask.

use super::call::LayerCall;
use super::LResult;
use crate::opgraph::{DType, OpGraph, ReduceOp, ValueId};
use serde_json::Value;

/// The steps axis (1 for channels_last, 2 for channels_first) of a rank-3 input.
fn steps_axis(g: &OpGraph, lc: &LayerCall, x: ValueId) -> LResult<usize> {
    if g.rank(x) != 3 {
        return Err(lc.error("expects a sequence [batch, steps, features]"));
    }
    Ok(match lc.cfg("data_format").and_then(Value::as_str) {
        Some("channels_first") => 2,
        _ => 1,
    })
}

/// `mean` over the steps; with a mask, `sum(where(mask, x, 0)) / sum(mask)`.
pub fn global_average_pooling_1d(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let axis = steps_axis(g, lc, x)?;
    let keep = lc.cfg_bool("keepdims", false)?;
    let Some(m) = lc.single_mask()? else {
        return Ok(vec![g.reduce(ReduceOp::Mean, x, vec![axis], keep)?]);
    };
    let m = g.convert(m, DType::Bool)?;
    let m = g.expand_dims(m, if axis == 1 { 2 } else { 1 })?;
    let zero = g.scalar(0.0);
    let kept = g.select(m, x, zero)?;
    let num = g.reduce(ReduceOp::Sum, kept, vec![axis], keep)?;
    let f = g.convert(m, DType::F32)?;
    let den = g.reduce(ReduceOp::Sum, f, vec![axis], keep)?;
    Ok(vec![g.div(num, den)?])
}

/// `max` over the steps (masks are not supported by this layer and are dropped).
pub fn global_max_pooling_1d(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let axis = steps_axis(g, lc, x)?;
    let keep = lc.cfg_bool("keepdims", false)?;
    Ok(vec![g.reduce(ReduceOp::Max, x, vec![axis], keep)?])
}
