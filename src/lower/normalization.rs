//! BatchNormalization (inference form), LayerNormalization and Normalization, with the JAX
//! backend's formulas (`keras/src/backend/jax/nn.py`, `keras/src/ops/nn.py`).

use super::call::{literal_tensor, LayerCall};
use super::core_layers::unwrap_tuple;
use super::LResult;
use crate::opgraph::{BinaryOp, OpGraph, ReduceOp, Tensor, UnaryOp, ValueId};
use ndarray::{ArrayD, IxDyn};

/// A per-channel vector reshaped to broadcast along `axis` of a rank-`rank` tensor.
fn along_axis(v: ArrayD<f64>, axis: usize, rank: usize) -> Tensor {
    let mut shape = vec![1; rank];
    shape[axis] = v.len();
    let v = v.mapv(|x| x as f32);
    Tensor::F32(
        v.into_shape_with_order(IxDyn(&shape))
            .expect("length matches"),
    )
}

/// `x * inv + (beta - mean * inv)` with `inv = gamma / sqrt(var + eps)`, folded into two
/// constants (computed in f64, rounded once).
pub fn batch_normalization(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let axis = lc.axis(lc.cfg_i64("axis")?.unwrap_or(-1), rank)?;
    let c = lc.static_dim(g, x, axis)?;
    let (scale, center) = (lc.cfg_bool("scale", true)?, lc.cfg_bool("center", true)?);
    let eps = lc.cfg_f64("epsilon", 1e-3)?;
    let mut expected = Vec::new();
    if scale {
        expected.push(("gamma", vec![c]));
    }
    if center {
        expected.push(("beta", vec![c]));
    }
    expected.push(("moving_mean", vec![c]));
    expected.push(("moving_variance", vec![c]));
    let w = lc.weights(&expected)?;
    let f64v = |a: &ArrayD<f32>| a.mapv(f64::from);
    let mut k = 0;
    let gamma = scale.then(|| {
        k += 1;
        f64v(w[k - 1])
    });
    let beta = center.then(|| {
        k += 1;
        f64v(w[k - 1])
    });
    let (mean, var) = (f64v(w[k]), f64v(w[k + 1]));
    let mut inv = var.mapv(|v| 1.0 / (v + eps).sqrt());
    if let Some(gm) = gamma {
        inv = inv * gm;
    }
    let mut res = -&mean * &inv;
    if let Some(b) = beta {
        res = res + b;
    }
    let inv_c = g.constant(along_axis(inv, axis, rank));
    let res_c = g.constant(along_axis(res, axis, rank));
    let y = g.mul(x, inv_c)?;
    Ok(vec![g.add(y, res_c)?])
}

/// The mean of `x` over `axes` and `1 / sqrt(var + eps)` (two-pass variance, `jnp.var`), both
/// kept as size 1 on `axes`.
fn mean_and_inv_std(
    g: &mut OpGraph,
    x: ValueId,
    axes: &[usize],
    eps: f64,
) -> LResult<(ValueId, ValueId)> {
    let mean = g.reduce(ReduceOp::Mean, x, axes.to_vec(), true)?;
    let centered = g.sub(x, mean)?;
    let sq = g.mul(centered, centered)?;
    let var = g.reduce(ReduceOp::Mean, sq, axes.to_vec(), true)?;
    let ve = g.binary_scalar(BinaryOp::Add, var, eps as f32)?;
    let sd = g.unary(UnaryOp::Sqrt, ve)?;
    let one = g.scalar(1.0);
    Ok((mean, g.div(one, sd)?))
}

/// `ops.layer_normalization`: mean and variance over `axes`, then `x * inv + (beta - mean *
/// inv)` with `inv = gamma * rsqrt(var + eps)`; `rms_scaling` (deprecated) is
/// `x * rsqrt(var + eps) * gamma`. (Not OpenVINO's MVN: its CPU kernel ran 1.7x slower than
/// these reductions on the last axis and 60x slower on two axes, OpenVINO 2026.4.)
pub fn layer_normalization(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let mut axes = lc
        .cfg_ints("axis")?
        .unwrap_or(vec![-1])
        .iter()
        .map(|&a| lc.axis(a, rank))
        .collect::<LResult<Vec<_>>>()?;
    axes.sort_unstable();
    let (scale, center) = (lc.cfg_bool("scale", true)?, lc.cfg_bool("center", true)?);
    let rms = lc.cfg_bool("rms_scaling", false)?;
    let eps = lc.cfg_f64("epsilon", 1e-3)?;
    let param_shape = axes
        .iter()
        .map(|&a| lc.static_dim(g, x, a))
        .collect::<LResult<Vec<_>>>()?;
    let mut expected = Vec::new();
    if scale || rms {
        expected.push(("gamma", param_shape.clone()));
    }
    if center && !rms {
        expected.push(("beta", param_shape.clone()));
    }
    let w = lc.weights(&expected)?;
    // gamma/beta broadcast over the reduced axes: size-1 elsewhere.
    let bshape: Vec<usize> = (0..rank)
        .map(|i| match axes.iter().position(|&a| a == i) {
            Some(k) => param_shape[k],
            None => 1,
        })
        .collect();
    let reshaped = |a: &ArrayD<f32>| {
        Tensor::F32(
            a.clone()
                .into_shape_with_order(IxDyn(&bshape))
                .expect("size checked"),
        )
    };
    let (mean, mut inv) = mean_and_inv_std(g, x, &axes, eps)?;
    if rms {
        let mut y = g.mul(x, inv)?;
        if !w.is_empty() {
            let gamma = g.constant(reshaped(w[0]));
            y = g.mul(y, gamma)?;
        }
        return Ok(vec![y]);
    }
    if scale {
        let gamma = g.constant(reshaped(w[0]));
        inv = g.mul(inv, gamma)?;
    }
    let mi = g.mul(mean, inv)?;
    let mut res = g.unary(UnaryOp::Neg, mi)?;
    if center {
        let beta = g.constant(reshaped(w[w.len() - 1]));
        res = g.add(res, beta)?;
    }
    let y = g.mul(x, inv)?;
    Ok(vec![g.add(y, res)?])
}

/// `(x - mean) / max(sqrt(var), 1e-7)` (or its inverse with `invert`), mean and variance from
/// the config (`mean`/`variance`) or from the adapted weights.
pub fn normalization(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let mut keep = lc
        .cfg_ints("axis")?
        .unwrap_or(vec![-1])
        .iter()
        .map(|&a| lc.axis(a, rank))
        .collect::<LResult<Vec<_>>>()?;
    keep.sort_unstable();
    let bshape: Vec<usize> = (0..rank)
        .map(|i| {
            if keep.contains(&i) {
                lc.static_dim(g, x, i)
            } else {
                Ok(1)
            }
        })
        .collect::<LResult<_>>()?;
    let kept: Vec<usize> = keep.iter().map(|&i| bshape[i]).collect();
    let (mean, var) = match (lc.cfg("mean"), lc.cfg("variance")) {
        (Some(m), Some(v)) => {
            let t = |v: &serde_json::Value, what: &str| match literal_tensor(unwrap_tuple(v)) {
                Some(Tensor::F32(a)) => Ok(a),
                _ => Err(lc.error(format!("config '{what}' = {v} is not numeric"))),
            };
            (t(m, "mean")?, t(v, "variance")?)
        }
        _ => {
            let w = lc.weights(&[
                ("mean", kept.clone()),
                ("variance", kept),
                ("count", vec![]),
            ])?;
            (w[0].clone(), w[1].clone())
        }
    };
    // Keras aligns the statistics to the kept axes from the right, then broadcasts.
    let align = |a: ArrayD<f32>| -> LResult<Tensor> {
        if a.ndim() > keep.len() {
            return Err(lc.error("mean/variance have more dimensions than the kept axes"));
        }
        let mut shape = vec![1usize; rank];
        for (i, &d) in a.shape().iter().rev().enumerate() {
            shape[keep[keep.len() - 1 - i]] = d;
        }
        let a = a
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| lc.error(format!("mean/variance shape: {e}")))?;
        Ok(Tensor::F32(
            a.broadcast(IxDyn(&bshape))
                .ok_or_else(|| lc.error("mean/variance do not broadcast to the input"))?
                .to_owned(),
        ))
    };
    let (mean_t, var_t) = (align(mean)?, align(var)?);
    let std = match var_t {
        Tensor::F32(v) => Tensor::F32(v.mapv(|v| v.sqrt().max(1e-7))),
        _ => unreachable!("variance is f32"),
    };
    let m = g.constant(mean_t);
    let s = g.constant(std);
    let y = if lc.cfg_bool("invert", false)? {
        let t = g.mul(x, s)?;
        g.add(m, t)?
    } else {
        let c = g.sub(x, m)?;
        g.div(c, s)?
    };
    Ok(vec![y])
}

/// GroupNormalization: the channel axis split into `groups` contiguous groups; per sample and
/// group, `(x - mean) * rsqrt(var + eps) * gamma + beta` over every other axis
/// (`keras/src/layers/normalization/group_normalization.py`).
pub fn group_normalization(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let axis = lc.axis(lc.cfg_i64("axis")?.unwrap_or(-1), rank)?;
    if axis == 0 {
        return Err(lc.error("unsupported: normalizing along the batch axis"));
    }
    let c = lc.static_dim(g, x, axis)?;
    let groups = match lc.cfg_i64("groups")?.unwrap_or(32) {
        -1 => c,
        k => usize::try_from(k).unwrap_or(0),
    };
    if groups == 0 || c % groups != 0 {
        return Err(lc.error(format!("{groups} groups do not divide {c} channels")));
    }
    let (scale, center) = (lc.cfg_bool("scale", true)?, lc.cfg_bool("center", true)?);
    let eps = lc.cfg_f64("epsilon", 1e-3)?;
    let mut expected = Vec::new();
    if scale {
        expected.push(("gamma", vec![c]));
    }
    if center {
        expected.push(("beta", vec![c]));
    }
    let w = lc.weights(&expected)?;
    let shape = g.shape(x).clone();
    let mut grouped = shape[..axis].to_vec();
    grouped.extend([Some(groups), Some(c / groups)]);
    grouped.extend_from_slice(&shape[axis + 1..]);
    let xr = g.reshape(x, grouped)?;
    let axes: Vec<usize> = (1..=rank).filter(|&a| a != axis).collect();
    let (mean, mut inv) = mean_and_inv_std(g, xr, &axes, eps)?;
    // gamma and beta as [1.., G, C/G, 1..].
    let mut pshape = vec![1; rank + 1];
    pshape[axis] = groups;
    pshape[axis + 1] = c / groups;
    let param = |a: &ArrayD<f32>| {
        Tensor::F32(
            a.clone()
                .into_shape_with_order(IxDyn(&pshape))
                .expect("size checked"),
        )
    };
    if scale {
        let gamma = g.constant(param(w[0]));
        inv = g.mul(inv, gamma)?;
    }
    let mi = g.mul(mean, inv)?;
    let mut res = g.unary(UnaryOp::Neg, mi)?;
    if center {
        let beta = g.constant(param(w[w.len() - 1]));
        res = g.add(res, beta)?;
    }
    let y = g.mul(xr, inv)?;
    let y = g.add(y, res)?;
    Ok(vec![g.reshape(y, shape)?])
}

/// UnitNormalization: `x * min(rsqrt(sum(x^2, axis)), 1e12)` (`ops.normalize`, order 2).
pub fn unit_normalization(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let rank = g.rank(x);
    let axes = lc
        .cfg_ints("axis")?
        .unwrap_or(vec![-1])
        .iter()
        .map(|&a| lc.axis(a, rank))
        .collect::<LResult<Vec<_>>>()?;
    let sq = g.mul(x, x)?;
    let s = g.reduce(ReduceOp::Sum, sq, axes, true)?;
    let sd = g.unary(UnaryOp::Sqrt, s)?;
    let one = g.scalar(1.0);
    let inv = g.div(one, sd)?;
    let inv = g.binary_scalar(BinaryOp::Min, inv, 1e12)?;
    Ok(vec![g.mul(x, inv)?])
}

/// LayerScale (`keras.src.applications.convnext`): `x * gamma` on the last axis.
pub fn layer_scale(g: &mut OpGraph, lc: &LayerCall) -> LResult<Vec<ValueId>> {
    let x = lc.input()?;
    let dim = lc.static_dim(g, x, g.rank(x) - 1)?;
    let w = lc.weights(&[("gamma", vec![dim])])?;
    let gamma = g.constant(Tensor::F32(w[0].clone()));
    Ok(vec![g.mul(x, gamma)?])
}
