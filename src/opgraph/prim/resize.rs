//! `jax.image.resize` (`jax/_src/image/scale.py`), which Keras' `Resizing`, `CenterCrop`
//! (through `smart_resize`), non-nearest `UpSampling2D` and `keras.ops.image.resize` all end
//! in. JAX resizes one axis after the other, each a linear map with constant coefficients:
//!
//! - nearest: `out[j] = in[floor((j + 0.5) m / n)]` (computed in float32, `_resize_nearest`),
//!   a gather;
//! - the kernels (linear, Keys cubic with a = -0.5, lanczos3/5): `out[j] = sum_i W[i, j] in[i]`
//!   with `W` from `compute_weight_mat`: half-pixel sample points `s_j = (j + 0.5) m/n - 0.5`,
//!   the kernel at `|s_j - i| / k` (`k = max(m/n, 1)` with antialias, else 1) over the `m`
//!   input indices only, normalised per output, and zero where `s_j` falls outside
//!   `[-0.5, m - 0.5]`. Taps outside the image are dropped and the rest renormalised (not edge
//!   replication), which OpenVINO's Interpolate does not do for cubic kernels or antialias.
//!
//! The IR: one MatMul with `W` (or one Gather) per axis, except for large images where
//! OpenVINO's Interpolate computes exactly the same and is faster (bilinear without
//! antialias, nearest; see `Resize::interpolate_mode`). Linear in its input: the tangent is
//! the same resize, the transpose multiplies by `W^T` (`OpGraph::contract_axis`).

use super::{check_axis, expect_f32, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{bool_attr, LayerCx, Port, PortRef};
use crate::opgraph::{DType, GResult, OpGraph, Shape, Tensor, ValueId};
use ndarray::{Array2, ArrayD, Axis};

/// The resampling kernels of `jax.image.resize` that Keras can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    Nearest,
    /// Keras `bilinear` (`ResizeMethod.LINEAR`, the triangle kernel).
    Linear,
    /// Keras `bicubic` (`ResizeMethod.CUBIC`, Keys with a = -0.5).
    Cubic,
    Lanczos3,
    Lanczos5,
}

impl Method {
    /// Keras' `interpolation` strings.
    pub fn from_keras(s: &str) -> Option<Method> {
        Some(match s {
            "nearest" => Method::Nearest,
            "bilinear" => Method::Linear,
            "bicubic" => Method::Cubic,
            "lanczos3" => Method::Lanczos3,
            "lanczos5" => Method::Lanczos5,
            _ => return None,
        })
    }

    /// The kernel at distance `x >= 0`, in float32 as JAX evaluates it.
    fn kernel(self, x: f32) -> f32 {
        use std::f32::consts::PI;
        let lanczos = |r: f32| {
            if x > r {
                0.0
            } else if x > 1e-3 {
                r * (PI * x).sin() * (PI * x / r).sin() / (PI * PI * x * x)
            } else {
                1.0
            }
        };
        match self {
            Method::Nearest => unreachable!("nearest has no kernel"),
            Method::Linear => (1.0 - x).max(0.0),
            Method::Cubic if x >= 2.0 => 0.0,
            Method::Cubic if x >= 1.0 => ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0,
            Method::Cubic => ((1.5 * x - 2.5) * x) * x + 1.0,
            Method::Lanczos3 => lanczos(3.0),
            Method::Lanczos5 => lanczos(5.0),
        }
    }
}

/// Resample some axes of a value: axis `a` (static size `m`) to `n` elements for each
/// `(a, n)` of `axes` (increasing axes, sizes that change), one axis after the other.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resize {
    pub axes: Vec<(usize, usize)>,
    pub method: Method,
    /// Widen the kernel by `m / n` when downsampling (no effect on nearest or upsampling).
    pub antialias: bool,
}

/// `jax.image.resize`'s nearest source indices: `floor((j + 0.5) * m / n)` in float32.
pub fn nearest_indices(m: usize, n: usize) -> Vec<usize> {
    (0..n)
        .map(|j| {
            let f = (j as f32 + 0.5) * m as f32 / n as f32;
            (f.floor() as usize).min(m - 1)
        })
        .collect()
}

/// `jax.image.resize`'s weight matrix `[m, n]` for a kernel method (`compute_weight_mat` with
/// translation 0 and no edge padding), in float32 as JAX computes it; for nearest the 0/1
/// selection matrix of [`nearest_indices`].
pub fn weights(m: usize, n: usize, method: Method, antialias: bool) -> Array2<f32> {
    if method == Method::Nearest {
        let mut w = Array2::zeros((m, n));
        for (j, i) in nearest_indices(m, n).into_iter().enumerate() {
            w[[i, j]] = 1.0;
        }
        return w;
    }
    // scale = n / m and inv_scale = 1 / scale are Python floats, used as float32.
    let inv = (1.0 / (n as f64 / m as f64)) as f32;
    let kernel_scale = if antialias { inv.max(1.0) } else { 1.0 };
    let mut w = Array2::<f32>::zeros((m, n));
    for j in 0..n {
        let sample = (j as f32 + 0.5) * inv - 0.5;
        let col: Vec<f32> = (0..m)
            .map(|i| method.kernel((sample - i as f32).abs() / kernel_scale))
            .collect();
        let total: f32 = col.iter().sum();
        let inside = (-0.5..=m as f32 - 0.5).contains(&sample);
        if total.abs() > 1000.0 * f32::EPSILON && inside {
            for (i, v) in col.into_iter().enumerate() {
                w[[i, j]] = v / total;
            }
        }
    }
    w
}

/// Input pixels (the product of the resized sizes) from which OpenVINO's Interpolate is chosen
/// over one MatMul (or Gather) per axis, from `bench/resample_dft.py` (NHWC, 8 images, two runs
/// on a shared, loaded machine, so rough): bilinear 64x64x32 -> 128x128 1.7-1.9x and
/// 224x224x3 -> 112x112 2.3-2.6x faster, 32x32x16 -> 64x64 0.8-1.5x, smaller images anything
/// from 0.7x to 6x between runs; small images keep the MatMuls (and Gathers), which the Keras
/// fixtures check directly.
const INTERPOLATE_LINEAR_FROM: i64 = 32 * 32;
/// The same for nearest (Interpolate against Gathers): 1.5-11x faster from 8x8x16
/// on, kept from 16x16 for the same reason.
const INTERPOLATE_NEAREST_FROM: i64 = 16 * 16;

/// `n / m` is `2^k` for an integer `k`: then the half-pixel sample points are exact in float32
/// in JAX and in OpenVINO alike.
fn dyadic(m: usize, n: usize) -> bool {
    let (a, b) = (m.max(n), m.min(n));
    a % b == 0 && (a / b).is_power_of_two()
}

/// The source pixels of a nearest resize `m -> n` do not depend on how float32 rounds the
/// coordinates `(j + 0.5) m / n`: they are exact (a factor of 2^k), or none is an integer and
/// all are further from one (at least `1 / 2n`) than rounding can move them (`m n < 2^21`).
fn nearest_unambiguous(m: usize, n: usize) -> bool {
    dyadic(m, n) || (m * n < 1 << 21 && (0..n).all(|j| (2 * j + 1) * m % (2 * n) != 0))
}

impl Resize {
    /// The weight matrix `[m, n]` of one axis.
    fn matrix(&self, m: usize, n: usize) -> Array2<f32> {
        weights(m, n, self.method, self.antialias)
    }

    /// Whether OpenVINO's Interpolate computes this resize of a value with IR dims `dims`
    /// with JAX's numbers and is the faster choice:
    /// - nearest (`tf_half_pixel_for_nn` + `floor`) when no source coordinate is one that
    ///   float32 rounding could move across an integer (`nearest_unambiguous`);
    /// - linear (`half_pixel`; `linear` is as fast as `linear_onnx`, which OpenVINO cannot
    ///   constant-fold on NHWC axes) by factors of 2^k only, without antialias or when
    ///   upsampling: other factors round the sample points differently from JAX (up to 1e-5
    ///   on values of size 1 at 64x64);
    ///
    /// both checked against Keras in `docs/semantics/ov_check.py` and against the weight
    /// matrices in `tests/resampling_spectral.rs`. Only on consecutive axes followed by at
    /// least one more (the CPU plugin's Interpolate is slow on the innermost axis), with
    /// static axes after them and at most one dynamic one before, of a large enough image.
    fn interpolate_mode(&self, dims: &[i64]) -> Option<&'static str> {
        let (first, last) = (self.axes[0].0, self.axes[self.axes.len() - 1].0);
        let consecutive = last - first + 1 == self.axes.len() && last + 1 < dims.len();
        let pixels: i64 = self.axes.iter().map(|&(a, _)| dims[a]).product();
        let all =
            |f: fn(usize, usize) -> bool| self.axes.iter().all(|&(a, n)| f(dims[a] as usize, n));
        let mode = match self.method {
            Method::Nearest if pixels >= INTERPOLATE_NEAREST_FROM && all(nearest_unambiguous) => {
                "nearest"
            }
            Method::Linear
                if pixels >= INTERPOLATE_LINEAR_FROM
                    && all(dyadic)
                    && (!self.antialias || all(|m, n| n >= m)) =>
            {
                "linear"
            }
            _ => return None,
        };
        let dynamic_before = dims[..first].iter().filter(|&&d| d < 0).count();
        let static_after = dims[last + 1..].iter().all(|&d| d >= 0);
        let fits = consecutive && dynamic_before <= 1 && static_after && self.axes.len() <= 3;
        fits.then_some(mode)
    }
}

impl Primitive for Resize {
    no_transpose_sinking!();

    fn label(&self) -> String {
        let aa = if self.antialias { ", antialias" } else { "" };
        format!("Resize {:?}{aa} {:?}", self.method, self.axes)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "Resize")?;
        let mut shape = ins[0].1.clone();
        if self.axes.is_empty() || self.axes.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err("needs increasing axes".into());
        }
        for &(axis, n) in &self.axes {
            check_axis(axis, shape.len(), "Resize")?;
            match shape[axis] {
                Some(m) if m > 0 && n > 0 => shape[axis] = Some(n),
                Some(_) => return Err("cannot resize from or to an empty axis".into()),
                None => return Err(format!("axis {axis} must have a static size")),
            }
        }
        Ok((DType::F32, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mut x = args[0].clone();
        for &(axis, n) in &self.axes {
            let m = x.len_of(Axis(axis));
            x = if self.method == Method::Nearest {
                x.select(Axis(axis), &nearest_indices(m, n))
            } else {
                contract(&x, axis, &self.matrix(m, n).mapv(f64::from))?
            };
        }
        Ok(x)
    }

    /// Interpolate where it is exact and faster (`interpolate_mode`); otherwise per axis a
    /// Gather of the nearest indices, or `x @ W` on the last axis and `W^T @ x` with `x`
    /// viewed as `[.., m, rest]` (Reshapes with copied leading dimensions) on the others.
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let mut dims = cx.port(ins[0]).dims.clone();
        if let Some(mode) = self.interpolate_mode(&dims) {
            return self.emit_interpolate(cx, ins[0], &dims, mode);
        }
        let mut x = ins[0];
        for (k, &(axis, n)) in self.axes.iter().enumerate() {
            let m = dims[axis] as usize;
            dims[axis] = n as i64;
            let last = k + 1 == self.axes.len();
            x = if self.method == Method::Nearest {
                let idx: Vec<i64> = nearest_indices(m, n).iter().map(|&i| i as i64).collect();
                let i = cx.i64s(&format!("axis{axis}/indices"), &idx);
                let a = cx.constant(
                    &format!("axis{axis}/axis"),
                    &Tensor::I64(ArrayD::from_elem(vec![], axis as i64)),
                );
                let data = vec![("batch_dims", "0".to_string())];
                step(
                    cx,
                    last,
                    &format!("axis{axis}/Gather"),
                    "Gather",
                    "opset8",
                    data,
                    &[x, i, a],
                    &dims,
                )
            } else {
                emit_contract(cx, x, &dims, axis, self.matrix(m, n), last)
            };
        }
        x
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let shifted = Resize {
            axes: self.axes.iter().map(|&(a, n)| (a + 1, n)).collect(),
            ..self.clone()
        };
        Ok(Some(cx.g.apply(shifted, vec![t])?))
    }

    linear_taylor!();

    /// The adjoint: the cotangent multiplied by `W^T` along each axis.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        let mut c = cx.full_like(ct, y)?;
        for &(axis, n) in &self.axes {
            let m = cx.static_dim(x, axis)?;
            let wt = self
                .matrix(m, n)
                .reversed_axes()
                .as_standard_layout()
                .into_owned();
            c = cx.g.contract_axis(c, axis, wt)?;
        }
        Ok(Some(vec![(0, c)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if self.axes.iter().any(|&(r, _)| r == a) => {
                Err("resizes along the batch axis".into())
            }
            a => Ok(a),
        }
    }

    /// JAX leaves an axis whose size does not change untouched (every kernel interpolates).
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        let shape = g.shape(ins[0]);
        let same = self
            .axes
            .iter()
            .all(|&(a, n)| shape.get(a) == Some(&Some(n)));
        same.then_some(Rewrite::Input(0))
    }
}

impl Resize {
    /// One Interpolate over the resized axes of `x` viewed as `[-1, sizes.., rest]`.
    fn emit_interpolate(&self, cx: &mut LayerCx, x: PortRef, dims: &[i64], mode: &str) -> PortRef {
        let (first, k) = (self.axes[0].0, self.axes.len());
        let rest: i64 = dims[first + k..].iter().product();
        let mut view = vec![-1];
        view.extend(&dims[first..first + k]);
        view.push(rest);
        let reshape = vec![("special_zero", bool_attr(false))];
        let as_is = first == 1 && first + k + 1 == dims.len();
        let x4 = if as_is {
            x
        } else {
            let v = cx.i64s("Interpolate/view", &view);
            let mut vd = view.clone();
            vd[0] = if dims[..first].iter().any(|&d| d < 0) {
                -1
            } else {
                dims[..first].iter().product()
            };
            cx.aux(
                "view",
                "Reshape",
                "opset1",
                reshape.clone(),
                &[x, v],
                f32_port(vd),
            )
        };
        let sizes: Vec<i64> = self.axes.iter().map(|&(_, n)| n as i64).collect();
        let axes: Vec<i64> = (1..=k as i64).collect();
        let s = cx.i64s("Interpolate/sizes", &sizes);
        let a = cx.i64s("Interpolate/axes", &axes);
        let zeros = vec!["0"; k + 2].join(", ");
        let (ctm, nearest) = match mode {
            "nearest" => ("tf_half_pixel_for_nn", "floor"),
            _ => ("half_pixel", "round_prefer_floor"),
        };
        let data = vec![
            ("mode", mode.to_string()),
            ("shape_calculation_mode", "sizes".to_string()),
            ("coordinate_transformation_mode", ctm.to_string()),
            ("nearest_mode", nearest.to_string()),
            ("antialias", bool_attr(false)),
            ("pads_begin", zeros.clone()),
            ("pads_end", zeros),
            ("cube_coeff", "-0.75".to_string()),
        ];
        if as_is {
            return cx.op("Interpolate", "opset11", data, &[x4, s, a]);
        }
        let mut yd = cx.port(x4).dims.clone();
        for (j, &n) in sizes.iter().enumerate() {
            yd[j + 1] = n;
        }
        let y4 = cx.aux(
            "Interpolate",
            "Interpolate",
            "opset11",
            data,
            &[x4, s, a],
            f32_port(yd),
        );
        let out = cx.i64s("Reshape/out", &cx.out().dims);
        cx.op("Reshape", "opset1", reshape, &[y4, out])
    }
}

fn f32_port(dims: Vec<i64>) -> Port {
    Port {
        dtype: DType::F32,
        dims,
    }
}

/// The node's own layer when `last`, else a helper layer named `name`.
#[allow(clippy::too_many_arguments)]
fn step(
    cx: &mut LayerCx,
    last: bool,
    name: &str,
    ty: &'static str,
    version: &'static str,
    data: Vec<(&'static str, String)>,
    ins: &[PortRef],
    dims: &[i64],
) -> PortRef {
    if last {
        cx.op(ty, version, data, ins)
    } else {
        cx.aux(name, ty, version, data, ins, f32_port(dims.to_vec()))
    }
}

/// `x` (IR dims `out` after the step) contracted on `axis` with `w` `[m, n]`: `x @ w` on the
/// last axis, else `w^T @ x` on `x` viewed as `[.., m, rest]`.
fn emit_contract(
    cx: &mut LayerCx,
    x: PortRef,
    out: &[i64],
    axis: usize,
    w: Array2<f32>,
    last: bool,
) -> PortRef {
    let (m, n) = w.dim();
    let mm = vec![
        ("transpose_a", bool_attr(false)),
        ("transpose_b", bool_attr(false)),
    ];
    if axis + 1 == out.len() {
        let wc = cx.constant(&format!("axis{axis}/W"), &Tensor::F32(w.into_dyn()));
        return step(
            cx,
            last,
            &format!("axis{axis}/MatMul"),
            "MatMul",
            "opset1",
            mm,
            &[x, wc],
            out,
        );
    }
    let rest: i64 = out[axis + 1..].iter().product();
    let special = vec![("special_zero", bool_attr(true))];
    let mut flat = vec![0i64; axis];
    flat.extend([m as i64, rest]);
    let mut flat_dims = out[..axis].to_vec();
    flat_dims.extend([m as i64, rest]);
    let fs = cx.i64s(&format!("axis{axis}/flat"), &flat);
    let x3 = cx.aux(
        &format!("axis{axis}/flat"),
        "Reshape",
        "opset1",
        special.clone(),
        &[x, fs],
        f32_port(flat_dims.clone()),
    );
    let wt = w
        .reversed_axes()
        .as_standard_layout()
        .into_owned()
        .into_dyn();
    let wc = cx.constant(&format!("axis{axis}/WT"), &Tensor::F32(wt));
    flat_dims[axis] = n as i64;
    let y3 = cx.aux(
        &format!("axis{axis}/MatMul"),
        "MatMul",
        "opset1",
        mm,
        &[wc, x3],
        f32_port(flat_dims),
    );
    let mut back = vec![0i64; axis];
    back.extend(&out[axis..]);
    let bs = cx.i64s(&format!("axis{axis}/back"), &back);
    step(
        cx,
        last,
        &format!("axis{axis}/Reshape"),
        "Reshape",
        "opset1",
        special,
        &[y3, bs],
        out,
    )
}

/// `x` with axis `axis` contracted with `w` `[m, n]` (the reference value).
fn contract(x: &Array, axis: usize, w: &Array2<f64>) -> Result<Array, String> {
    let m = x.len_of(Axis(axis));
    let moved = x.view().permuted_axes(moved_last(x.ndim(), axis));
    let flat = moved
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((moved.len() / m, m))
        .map_err(|e| e.to_string())?;
    let mut shape: Vec<usize> = moved.shape()[..x.ndim() - 1].to_vec();
    shape.push(w.ncols());
    let out = flat
        .dot(w)
        .into_shape_with_order(shape)
        .map_err(|e| e.to_string())?;
    let back = super::inverse_perm(&moved_last(x.ndim(), axis));
    Ok(out.permuted_axes(back).as_standard_layout().into_owned())
}

/// The permutation that moves `axis` last.
fn moved_last(rank: usize, axis: usize) -> Vec<usize> {
    (0..rank).filter(|&a| a != axis).chain([axis]).collect()
}

#[cfg(test)]
mod tests {
    use super::{dyadic, nearest_indices, nearest_unambiguous, weights, Method, Resize};
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose};

    const KERNELS: [Method; 4] = [
        Method::Linear,
        Method::Cubic,
        Method::Lanczos3,
        Method::Lanczos5,
    ];

    #[test]
    fn derivatives_match_finite_differences() {
        for method in [
            Method::Nearest,
            Method::Linear,
            Method::Cubic,
            Method::Lanczos3,
        ] {
            let cases = [
                (vec![(1, 5)], false),
                (vec![(2, 2)], true),
                (vec![(3, 3)], false),
                (vec![(1, 2), (2, 7)], true),
                (vec![(1, 6), (3, 1)], false),
            ];
            for (axes, aa) in cases {
                let name = format!("resize {method:?} {axes:?}");
                check_derivatives(&name, &[3, 4, 2], |g, x| {
                    let s = g.unary(UnaryOp::Sin, x).unwrap();
                    let r = Resize {
                        axes: axes.clone(),
                        method,
                        antialias: aa,
                    };
                    let y = g.apply(r, vec![s]).unwrap();
                    g.mul(y, y).unwrap()
                });
            }
        }
    }

    #[test]
    fn transpose_is_the_adjoint() {
        for method in [Method::Nearest, Method::Linear, Method::Lanczos5] {
            for axes in [
                vec![(1, 7)],
                vec![(2, 2)],
                vec![(3, 5)],
                vec![(1, 2), (2, 9)],
            ] {
                let name = format!("resize {method:?} {axes:?}");
                check_transpose(&name, &[3, 4, 2], |g, t| {
                    let r = Resize {
                        axes: axes.clone(),
                        method,
                        antialias: true,
                    };
                    g.apply(r, vec![t]).unwrap()
                });
            }
        }
    }

    /// Interpolating kernels: upsampling keeps constants, and the weights of every output
    /// sum to 1 (renormalised over the in-range taps).
    #[test]
    fn weights_are_normalised() {
        for method in KERNELS {
            for (m, n) in [(4, 7), (5, 3), (3, 9), (9, 2), (1, 4)] {
                for aa in [false, true] {
                    let w = weights(m, n, method, aa);
                    for j in 0..n {
                        let s: f32 = w.column(j).sum();
                        assert!(
                            (s - 1.0).abs() < 1e-5,
                            "{method:?} {m}->{n} column {j}: {s}"
                        );
                    }
                }
            }
        }
    }

    /// Bilinear without antialias is half-pixel interpolation clamped to the edge
    /// (`docs/semantics/conv.md` §6.1), which the weights give in closed form.
    #[test]
    fn bilinear_is_half_pixel_clamped() {
        for (m, n) in [(4, 7), (5, 3), (3, 8)] {
            let w = weights(m, n, Method::Linear, false);
            for j in 0..n {
                let s = ((j as f64 + 0.5) * m as f64 / n as f64 - 0.5).clamp(0.0, (m - 1) as f64);
                let (lo, frac) = (s.floor() as usize, s - s.floor());
                for i in 0..m {
                    let want = if i == lo {
                        1.0 - frac
                    } else if i == lo + 1 {
                        frac
                    } else {
                        0.0
                    };
                    assert!(
                        (f64::from(w[[i, j]]) - want).abs() < 1e-6,
                        "{m}->{n} [{i}, {j}]"
                    );
                }
            }
        }
    }

    /// The float32 formula against exact integer arithmetic, `floor((2j + 1) m / 2n)`.
    #[test]
    fn nearest_indices_are_exact() {
        for m in 1..40 {
            for n in 1..40 {
                let exact: Vec<usize> = (0..n).map(|j| (2 * j + 1) * m / (2 * n)).collect();
                assert_eq!(nearest_indices(m, n), exact, "{m} -> {n}");
            }
        }
    }

    /// Where `interpolate_mode` trusts OpenVINO's nearest Interpolate, float32 rounding of the
    /// source coordinate, as JAX computes it (`(j + 0.5) m / n`) and as OpenVINO's
    /// `tf_half_pixel_for_nn` does (`(j + 0.5) / (n / m)`), cannot change the source pixel;
    /// sizes with a coordinate on an integer are not trusted (32 -> 40: output 2 is at 2.0).
    #[test]
    fn nearest_unambiguous_sizes_round_alike() {
        let mut trusted = 0;
        for m in 1..160usize {
            for n in 1..160usize {
                if !nearest_unambiguous(m, n) {
                    continue;
                }
                trusted += 1;
                let scale = n as f32 / m as f32;
                for j in 0..n {
                    let exact = (2 * j + 1) * m / (2 * n);
                    let ov = (((j as f32 + 0.5) / scale).floor() as usize).min(m - 1);
                    assert_eq!(ov, exact, "{m} -> {n}, output {j}");
                }
                assert_eq!(nearest_indices(m, n)[n - 1], (2 * n - 1) * m / (2 * n));
            }
        }
        assert!(trusted > 10_000, "{trusted}");
        assert!(!nearest_unambiguous(32, 40) && nearest_unambiguous(32, 64));
        assert!(dyadic(36, 9) && dyadic(16, 64) && !dyadic(32, 48) && !dyadic(6, 9));
    }
}
