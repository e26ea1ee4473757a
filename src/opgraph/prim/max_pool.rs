//! Max pooling (OpenVINO `MaxPool`-14, padding counts as -inf) and the two linear primitives
//! its derivatives are made of, after JAX's `_reduce_window_chooser_jvp_rule`: the whole
//! tangent of a window goes to the **first** maximum of the window in row-major order.
//!
//! - [`MaxPool`]: data `[N, C, *spatial]`.
//! - [`super::PoolGather`] `(x, t)`: `t` `[L, N, C, *spatial]` read at the first argmax of each window
//!   of `x` (JAX's select-and-gather): `[L, N, C, *out]`. Linear in `t`.
//! - [`super::PoolScatter`] `(x, u)`: `u` `[L, N, C, *out]` added into zeros at the same positions
//!   (JAX's select-and-scatter-add): `[L, N, C, *spatial]`. The transpose of the gather.
//!
//! In the IR both read the argmax from `MaxPool`-14's index output (flat over `N*C*spatial`,
//! first maximum at ties on CPU), then `Gather` or `ScatterElementsUpdate` with sums: no
//! per-tap masks, whatever the window size.

use super::window::{batch_lead, ints_attr, spatial, Window};
use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, Prim, Primitive, Tan};
use crate::ir::{LayerCx, Port, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MaxPool {
    pub window: Window,
}

/// Per output element of the pooling of `x` (row major over `[N, C, *out]`), the flat index
/// into `x` of the first maximum of its window (`None`: a window of padding only).
pub(super) fn argmax(
    window: &Window,
    x: &Array,
) -> Result<(Vec<Option<usize>>, Vec<usize>), String> {
    let x = x.as_standard_layout();
    let (nc, sp) = (x.shape()[0] * x.shape()[1], &x.shape()[2..]);
    let out = window.out_sizes(sp)?;
    let taps = window.taps(sp, &out);
    let n_in: usize = sp.iter().product();
    let per: usize = window.kernel.iter().product();
    let xd = x.as_slice().expect("standard");
    let mut idx = Vec::with_capacity(nc * taps.len() / per.max(1));
    for p in 0..nc {
        for row in taps.chunks(per) {
            let mut best: Option<usize> = None;
            for &i in row.iter().flatten() {
                let j = p * n_in + i;
                if best.is_none_or(|b| xd[j] > xd[b]) {
                    best = Some(j);
                }
            }
            idx.push(best);
        }
    }
    let mut shape = x.shape()[..2].to_vec();
    shape.extend(out);
    Ok((idx, shape))
}

/// The pooled shape of data `x`: `[N, C, *out]`.
pub(super) fn pooled(window: &Window, x: &Shape, what: &str) -> Result<Shape, String> {
    window.check()?;
    if x.len() != window.rank() + 2 {
        return Err(format!(
            "{what} needs data [N, C, *spatial], got rank {}",
            x.len()
        ));
    }
    let sp = spatial(x, window.rank(), what)?;
    let mut out = x[..2].to_vec();
    out.extend(window.out_sizes(&sp)?.into_iter().map(Some));
    Ok(out)
}

/// A `MaxPool`-14 layer on `x` with the value and index ports, pooled dims `dims`; returns
/// its layer index.
pub(super) fn max_pool_layer(
    cx: &mut LayerCx,
    window: &Window,
    x: PortRef,
    dims: Vec<i64>,
) -> usize {
    let mut data = vec![("kernel", ints_attr(&window.kernel))];
    data.extend(window.attrs());
    data.push(("rounding_type", "floor".to_string()));
    data.push(("index_element_type", "i64".to_string()));
    data.push(("axis", "0".to_string()));
    let values = Port {
        dtype: DType::F32,
        dims: dims.clone(),
    };
    let indices = Port {
        dtype: DType::I64,
        dims,
    };
    cx.aux_outputs(
        "MaxPool",
        "MaxPool",
        "opset14",
        data,
        &[x],
        vec![values, indices],
    )[0]
    .0
}

/// The element count of `dims`, `-1` when one is dynamic.
pub(super) fn count(dims: &[i64]) -> i64 {
    if dims.iter().any(|&d| d < 0) {
        -1
    } else {
        dims.iter().product()
    }
}

/// `x` reshaped to `target` (`-1` for one unknown) as a helper layer.
pub(super) fn reshape(
    cx: &mut LayerCx,
    suffix: &str,
    x: PortRef,
    target: Vec<i64>,
    dtype: DType,
) -> PortRef {
    cx.reshape(Some(suffix), x, target, dtype)
}

/// The node's value reshaped from `x` to the node's own port.
pub(super) fn reshape_out(cx: &mut LayerCx, x: PortRef) -> PortRef {
    let target = cx.out().dims;
    cx.reshape(None, x, target, DType::F32)
}

impl Primitive for MaxPool {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("MaxPool {}", self.window.describe())
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "MaxPool")?;
        Ok((DType::F32, pooled(&self.window, ins[0].1, "MaxPool")?))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let (idx, shape) = argmax(&self.window, args[0])?;
        let x = args[0].as_standard_layout();
        let xd = x.as_slice().expect("standard");
        let y = idx
            .iter()
            .map(|i| i.map_or(f64::NEG_INFINITY, |i| xd[i]))
            .collect();
        Array::from_shape_vec(IxDyn(&shape), y).map_err(|e| e.to_string())
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let dims = cx.out().dims;
        (max_pool_layer(cx, &self.window, ins[0], dims), 0)
    }

    /// The tangent at the first maximum of each window.
    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let p = super::PoolGather {
            window: self.window.clone(),
        };
        Ok(Some(cx.g.apply(p, vec![x, t])?))
    }

    // Linear once the primal fixes the winners.
    linear_taylor!();
    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        batch_lead(b, self.window.rank())
    }

    no_simplification!();
}

/// The samples of a gather or scatter: axis 0 of `x`, and in the other operand
/// `[*lead, N, ..]` and the result the axis after the leading ones.
pub(super) fn batch_second(b: &Batch) -> Result<Option<usize>, String> {
    let k = b.shapes[1].len() - b.shapes[0].len();
    match (b.axes[0], b.axes[1]) {
        (Some(0) | None, Some(a)) if a == k => Ok(Some(k)),
        (Some(0), None) => Ok(Some(k)),
        (None, None) => Ok(None),
        _ => Err("the samples are not on the batch axis".into()),
    }
}

/// Checks `[*lead, *x]` (at least one leading axis, all static) against `x`; returns `lead`.
pub(super) fn lead_of(x: &Shape, t: &Shape, what: &str) -> Result<Vec<usize>, String> {
    if t.len() <= x.len() {
        return Err(format!(
            "{what}: operand of rank {} for data of rank {}",
            t.len(),
            x.len()
        ));
    }
    t[..t.len() - x.len()]
        .iter()
        .map(|d| d.ok_or_else(|| format!("{what}: a leading axis of unknown size")))
        .collect()
}

/// JVP of PoolGather and PoolScatter: linear in their second input; the first (the pooled
/// data) only selects positions, so its tangent does not enter.
pub(super) fn selected_jvp(p: Prim, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
    let Some(t2) = tin[1] else { return Ok(None) };
    let ins = cx.inputs(y);
    let full = cx.full(t2, ins[1])?;
    Ok(Some(cx.g.apply(p, vec![ins[0], full])?))
}

/// Transpose of PoolGather / PoolScatter: the `partner` (the other one) on the cotangent.
pub(super) fn selected_transpose(
    partner: Prim,
    cx: &mut Lin,
    y: ValueId,
    ct: ValueId,
    linear: &[bool],
) -> GResult<Option<Vec<(usize, ValueId)>>> {
    if linear[0] || !linear[1] {
        return Ok(None);
    }
    let x = cx.inputs(y)[0];
    let f = cx.full_like(ct, y)?;
    Ok(Some(vec![(1, cx.g.apply(partner, vec![x, f])?)]))
}

#[cfg(test)]
mod tests {
    use super::super::window::Window;
    use super::MaxPool;
    use crate::testing::check_derivatives;

    fn p(k: &[usize], s: &[usize], pb: &[usize], pe: &[usize]) -> MaxPool {
        MaxPool {
            window: Window::undilated(k, s, pb, pe),
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        // Overlapping windows (stride < kernel) and padding: the gather, its scatter, and the
        // scatter's own derivatives (Hessians) all take part.
        check_derivatives("max pool 2d", &[2, 5, 4], |g, x| {
            let s = g.mul(x, x).unwrap();
            let m = g
                .apply(p(&[3, 2], &[2, 1], &[1, 0], &[1, 1]), vec![s])
                .unwrap();
            g.mul(m, m).unwrap()
        });
        check_derivatives("max pool 1d", &[1, 7], |g, x| {
            let s = g.unary(crate::opgraph::UnaryOp::Sin, x).unwrap();
            g.apply(p(&[3], &[3], &[0], &[2]), vec![s]).unwrap()
        });
    }

    #[test]
    fn ties_go_to_the_first_maximum() {
        use crate::autodiff::{jacobian, select, Mode};
        use crate::interp::eval;
        use crate::opgraph::{DType, OpGraph};
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(1), Some(4)]);
        let y = g.apply(p(&[2], &[2], &[0], &[0]), vec![x]).unwrap();
        g.output("y", y);
        let sel = select(&g, &[], &[]).unwrap();
        let xv = ndarray::Array::from_shape_vec(vec![1, 1, 4], vec![1.0, 1.0, 0.5, 0.5])
            .unwrap()
            .into_dyn();
        for mode in [Mode::Forward, Mode::Reverse] {
            let j = jacobian(&g, &sel, mode).unwrap();
            let out = eval(&j, std::slice::from_ref(&xv)).unwrap();
            let jac: Vec<f64> = out[1].iter().copied().collect();
            assert_eq!(
                jac,
                vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
                "{mode:?}"
            );
        }
    }
}
