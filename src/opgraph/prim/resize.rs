//! `jax.image.resize` along one axis (`jax/_src/image/scale.py`), which Keras' `Resizing`,
//! `CenterCrop` (through `smart_resize`), non-nearest `UpSampling2D` and
//! `keras.ops.image.resize` all end in. JAX resizes one axis after the other, each a linear
//! map with constant coefficients:
//!
//! - nearest: `out[j] = in[floor((j + 0.5) m / n)]` (computed in float32, `_resize_nearest`),
//!   a gather;
//! - the kernels (linear, Keys cubic with a = -0.5, lanczos3/5): `out[j] = sum_i W[i, j] in[i]`
//!   with `W` from `compute_weight_mat`: half-pixel sample points `s_j = (j + 0.5) m/n - 0.5`,
//!   the kernel at `|s_j - i| / k` (`k = max(m/n, 1)` with antialias, else 1) over the `m`
//!   input indices only, normalised per output, and zero where `s_j` falls outside
//!   `[-0.5, m - 0.5]`. Taps outside the image are dropped and the rest renormalised (not edge
//!   replication), which OpenVINO's Interpolate does not do for cubic kernels or antialias:
//!   the emitted IR is a MatMul with `W` (measured as fast as Interpolate's `linear_onnx` on
//!   NHWC images up to 64x64x32 -> 128x128, docs in README).
//!
//! Linear in its input: the tangent is the same resize, the transpose multiplies by `W^T`
//! (`OpGraph::contract_axis`).

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

/// Resample axis `axis` (static size `m`) to `size` elements.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Resize {
    pub axis: usize,
    pub size: usize,
    pub method: Method,
    /// Widen the kernel by `m / size` when downsampling (no effect on nearest or upsampling).
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

impl Resize {
    /// The weight matrix `[m, n]` of this resize of an axis of size `m`.
    pub fn matrix(&self, m: usize) -> Array2<f32> {
        weights(m, self.size, self.method, self.antialias)
    }
}

impl Primitive for Resize {
    fn label(&self) -> String {
        let aa = if self.antialias { ", antialias" } else { "" };
        format!(
            "Resize {:?}{aa} axis {} to {}",
            self.method, self.axis, self.size
        )
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "Resize")?;
        let from = ins[0].1;
        check_axis(self.axis, from.len(), "Resize")?;
        match from[self.axis] {
            Some(m) if m > 0 && self.size > 0 => {}
            Some(_) => return Err("cannot resize from or to an empty axis".into()),
            None => return Err(format!("axis {} must have a static size", self.axis)),
        }
        let mut shape = from.clone();
        shape[self.axis] = Some(self.size);
        Ok((DType::F32, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let x = args[0];
        let m = x.len_of(Axis(self.axis));
        if self.method == Method::Nearest {
            return Ok(x.select(Axis(self.axis), &nearest_indices(m, self.size)));
        }
        let w = self.matrix(m).mapv(f64::from);
        // [.., m, ..] x [m, n] -> [.., n, ..]
        let moved = x.view().permuted_axes(moved_last(x.ndim(), self.axis));
        let rows = moved.len() / m;
        let flat = moved
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((rows, m))
            .map_err(|e| e.to_string())?;
        let mut shape: Vec<usize> = (0..x.ndim())
            .filter(|&a| a != self.axis)
            .map(|a| x.len_of(Axis(a)))
            .collect();
        shape.push(self.size);
        let out = flat
            .dot(&w)
            .into_shape_with_order(shape)
            .map_err(|e| e.to_string())?;
        let back = super::inverse_perm(&moved_last(x.ndim(), self.axis));
        Ok(out.permuted_axes(back).as_standard_layout().into_owned())
    }

    /// Nearest: a Gather of the source indices. Kernels: `x @ W` on the last axis, otherwise
    /// `W^T @ x` with `x` viewed as `[.., m, rest]` (Reshape with copied leading dimensions).
    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let xp = cx.port(ins[0]).clone();
        let rank = xp.dims.len();
        let m = xp.dims[self.axis] as usize;
        if self.method == Method::Nearest {
            let idx: Vec<i64> = nearest_indices(m, self.size)
                .into_iter()
                .map(|i| i as i64)
                .collect();
            let i = cx.i64s("Gather/indices", &idx);
            let a = cx.constant("Gather/axis", &Tensor::I64(ArrayD::from_elem(vec![], self.axis as i64)));
            let data = vec![("batch_dims", "0".to_string())];
            return cx.op("Gather", "opset8", data, &[ins[0], i, a]);
        }
        let w = self.matrix(m);
        let mm = vec![
            ("transpose_a", bool_attr(false)),
            ("transpose_b", bool_attr(false)),
        ];
        if self.axis + 1 == rank {
            let wc = cx.constant("W", &Tensor::F32(w.into_dyn()));
            return cx.op("MatMul", "opset1", mm, &[ins[0], wc]);
        }
        let rest: i64 = xp.dims[self.axis + 1..].iter().product();
        let special = vec![("special_zero", bool_attr(true))];
        let mut flat = vec![0i64; self.axis];
        flat.extend([m as i64, rest]);
        let mut flat_dims = xp.dims[..self.axis].to_vec();
        flat_dims.extend([m as i64, rest]);
        let fs = cx.i64s("Reshape/flat", &flat);
        let port = |dims: Vec<i64>| Port {
            dtype: DType::F32,
            dims,
        };
        let x3 = cx.aux("flat", "Reshape", "opset1", special.clone(), &[ins[0], fs], port(flat_dims.clone()));
        let wt = w.reversed_axes().as_standard_layout().into_owned().into_dyn();
        let wc = cx.constant("WT", &Tensor::F32(wt));
        let mut y3_dims = flat_dims;
        y3_dims[self.axis] = self.size as i64;
        let y3 = cx.aux("MatMul", "MatMul", "opset1", mm, &[wc, x3], port(y3_dims));
        let mut back = vec![0i64; self.axis];
        back.push(self.size as i64);
        back.extend(&xp.dims[self.axis + 1..]);
        let bs = cx.i64s("Reshape/back", &back);
        cx.op("Reshape", "opset1", special, &[y3, bs])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let shifted = Resize {
            axis: self.axis + 1,
            ..self.clone()
        };
        Ok(Some(cx.g.apply(shifted, vec![t])?))
    }

    linear_taylor!();

    /// The adjoint: the cotangent multiplied by `W^T` along the axis.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        let f = cx.full_like(ct, y)?;
        let m = cx.static_dim(x, self.axis)?;
        let wt = self.matrix(m).reversed_axes().as_standard_layout().into_owned();
        Ok(Some(vec![(0, cx.g.contract_axis(f, self.axis, wt)?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("resizes along the batch axis".into()),
            a => Ok(a),
        }
    }

    /// JAX leaves an axis whose size does not change untouched (every kernel interpolates).
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        (g.shape(ins[0])[self.axis] == Some(self.size)).then_some(Rewrite::Input(0))
    }
}

/// The permutation that moves `axis` last.
fn moved_last(rank: usize, axis: usize) -> Vec<usize> {
    (0..rank).filter(|&a| a != axis).chain([axis]).collect()
}

#[cfg(test)]
mod tests {
    use super::{nearest_indices, weights, Method, Resize};
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose};

    const KERNELS: [Method; 4] = [Method::Linear, Method::Cubic, Method::Lanczos3, Method::Lanczos5];

    #[test]
    fn derivatives_match_finite_differences() {
        for method in [Method::Nearest, Method::Linear, Method::Cubic, Method::Lanczos3] {
            for (axis, size, aa) in [(1, 5, false), (2, 2, true), (3, 3, false)] {
                let name = format!("resize {method:?} axis {axis} to {size}");
                check_derivatives(&name, &[3, 4, 2], |g, x| {
                    let s = g.unary(UnaryOp::Sin, x).unwrap();
                    let r = Resize { axis, size, method, antialias: aa };
                    let y = g.apply(r, vec![s]).unwrap();
                    g.mul(y, y).unwrap()
                });
            }
        }
    }

    #[test]
    fn transpose_is_the_adjoint() {
        for method in [Method::Nearest, Method::Linear, Method::Lanczos5] {
            for (axis, size) in [(1, 7), (2, 2), (3, 5)] {
                let name = format!("resize {method:?} axis {axis} to {size}");
                check_transpose(&name, &[3, 4, 2], |g, t| {
                    let r = Resize { axis, size, method, antialias: true };
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
                        assert!((s - 1.0).abs() < 1e-5, "{method:?} {m}->{n} column {j}: {s}");
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
                    let want = if i == lo { 1.0 - frac } else if i == lo + 1 { frac } else { 0.0 };
                    assert!((f64::from(w[[i, j]]) - want).abs() < 1e-6, "{m}->{n} [{i}, {j}]");
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
}
