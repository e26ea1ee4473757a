//! Pooling layers and ops (`keras/src/layers/pooling/`, docs/semantics/conv.md §4):
//! Max/AveragePooling1D/2D/3D, GlobalMax/GlobalAveragePooling1D/2D/3D, `keras.ops.max_pool`
//! and `average_pool`. Windows as for convolutions (`same` pads with the odd cell after);
//! average pooling divides by the cells inside the input.

use super::call::{LayerCall, Val};
use super::convolutional::{channels_first, from_cf, padding_mode, spatial_ints, to_cf, window};
use super::LResult;
use crate::opgraph::prim::{AvgPool, MaxPool};
use crate::opgraph::{OpGraph, ReduceOp, ValueId};

/// Which pooling.
#[derive(Clone, Copy)]
pub enum Pool {
    Max,
    Average,
}

/// MaxPooling*D, AveragePooling*D (`pool_size`, `strides` defaulting to it, `padding`,
/// `data_format`) and the `MaxPool` / `AveragePool` ops (ints or lists).
pub fn pool(g: &mut OpGraph, lc: &LayerCall, kind: Pool) -> LResult<Vec<ValueId>> {
    let x = match lc.arg(0, "inputs") {
        Some(Val::T(t)) => t.v,
        _ => return Err(lc.error("the first argument must be a tensor")),
    };
    let r = g.rank(x);
    if r < 3 {
        return Err(lc.error(format!("needs an input of rank 3 or more, got {r}")));
    }
    let cf = channels_first(lc)?;
    let xc = to_cf(g, x, cf)?;
    let sp: Vec<usize> = (2..r)
        .map(|a| lc.static_dim(g, xc, a))
        .collect::<LResult<_>>()?;
    let size = spatial_ints(lc, "pool_size", r - 2, 1)?;
    let strides = match lc.cfg("strides") {
        None => size.clone(),
        Some(_) => spatial_ints(lc, "strides", r - 2, 1)?,
    };
    let mode = padding_mode(lc)?;
    let window = window(lc, &mode, &sp, size, strides, vec![1; r - 2])?;
    let y = match kind {
        Pool::Max => g.apply(MaxPool { window }, vec![xc])?,
        Pool::Average => g.apply(AvgPool { window }, vec![xc])?,
    };
    Ok(vec![from_cf(g, y, cf)?])
}

/// GlobalMax/GlobalAveragePooling*D: max or mean over the spatial axes (`keepdims`). The
/// global max is `ops.max`, whose derivative shares ties (unlike MaxPooling's).
pub fn global_pool(g: &mut OpGraph, lc: &LayerCall, kind: Pool) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let r = g.rank(x);
    if r < 3 {
        return Err(lc.error(format!("needs an input of rank 3 or more, got {r}")));
    }
    let axes: Vec<usize> = if channels_first(lc)? {
        (2..r).collect()
    } else {
        (1..r - 1).collect()
    };
    let op = match kind {
        Pool::Max => ReduceOp::Max,
        Pool::Average => ReduceOp::Mean,
    };
    let keep = lc.cfg_bool("keepdims", false)?;
    Ok(vec![g.reduce(op, x, axes, keep)?])
}
