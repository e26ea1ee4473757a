//! Builder shorthands: each applies one primitive (see `OpGraph::apply`), so its shape rule
//! checks the inputs and the error names the layer being lowered.

use super::prim::{
    Activation, BinaryOp, BroadcastLike, ClassifyOp, CompareOp, Concat, Convert, MatMul, Reduce,
    ReduceOp, Reshape, Resize, ResizeMethod, Reverse, Select, Slice, Softmax, Tile, Transpose,
    UnaryOp,
};
use super::{DType, GResult, OpGraph, Shape, Tensor, ValueId};
use ndarray::Array2;

impl OpGraph {
    pub fn unary(&mut self, op: UnaryOp, x: ValueId) -> GResult<ValueId> {
        self.apply(op, vec![x])
    }

    pub fn binary(&mut self, op: BinaryOp, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.apply(op, vec![a, b])
    }

    pub fn add(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Add, a, b)
    }

    pub fn sub(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Sub, a, b)
    }

    pub fn mul(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Mul, a, b)
    }

    pub fn div(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.binary(BinaryOp::Div, a, b)
    }

    /// `op(x, c)` for a scalar constant `c`.
    pub fn binary_scalar(&mut self, op: BinaryOp, x: ValueId, c: f32) -> GResult<ValueId> {
        let c = self.scalar(c);
        self.binary(op, x, c)
    }

    /// `exp(x) - 1` (OpenVINO has no Expm1; f32 round-off near 0 is within tolerance).
    pub fn expm1(&mut self, x: ValueId) -> GResult<ValueId> {
        let e = self.unary(UnaryOp::Exp, x)?;
        self.binary_scalar(BinaryOp::Sub, e, 1.0)
    }

    pub fn compare(&mut self, op: CompareOp, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.apply(op, vec![a, b])
    }

    pub fn classify(&mut self, op: ClassifyOp, x: ValueId) -> GResult<ValueId> {
        self.apply(op, vec![x])
    }

    pub fn select(&mut self, cond: ValueId, then: ValueId, els: ValueId) -> GResult<ValueId> {
        self.apply(Select, vec![cond, then, els])
    }

    pub fn matmul(&mut self, a: ValueId, b: ValueId) -> GResult<ValueId> {
        self.apply(MatMul, vec![a, b])
    }

    pub fn reshape(&mut self, x: ValueId, shape: Shape) -> GResult<ValueId> {
        self.apply(Reshape { shape }, vec![x])
    }

    pub fn transpose(&mut self, x: ValueId, perm: Vec<usize>) -> GResult<ValueId> {
        self.apply(Transpose { perm }, vec![x])
    }

    pub fn tile(&mut self, x: ValueId, repeats: Vec<usize>) -> GResult<ValueId> {
        self.apply(Tile { repeats }, vec![x])
    }

    pub fn concat(&mut self, xs: &[ValueId], axis: usize) -> GResult<ValueId> {
        self.apply(Concat { axis }, xs.to_vec())
    }

    pub fn slice(
        &mut self,
        x: ValueId,
        axis: usize,
        start: usize,
        stop: usize,
        step: usize,
    ) -> GResult<ValueId> {
        self.apply(
            Slice {
                axis,
                start,
                stop,
                step,
            },
            vec![x],
        )
    }

    pub fn reverse(&mut self, x: ValueId, axis: usize) -> GResult<ValueId> {
        self.apply(Reverse { axis }, vec![x])
    }

    /// `op` over `axes` (any order, repeats allowed).
    pub fn reduce(
        &mut self,
        op: ReduceOp,
        x: ValueId,
        axes: Vec<usize>,
        keep_dims: bool,
    ) -> GResult<ValueId> {
        let mut axes = axes;
        axes.sort_unstable();
        axes.dedup();
        self.apply(
            Reduce {
                op,
                axes,
                keep_dims,
            },
            vec![x],
        )
    }

    pub fn convert(&mut self, x: ValueId, to: DType) -> GResult<ValueId> {
        self.apply(Convert { to }, vec![x])
    }

    /// `x` broadcast against the run-time shape of `like`.
    pub fn broadcast_like(&mut self, x: ValueId, like: ValueId) -> GResult<ValueId> {
        self.apply(BroadcastLike, vec![x, like])
    }

    pub fn activation(&mut self, f: Activation, x: ValueId) -> GResult<ValueId> {
        self.apply(f, vec![x])
    }

    /// Softmax (or log-softmax) along one axis.
    pub fn softmax(&mut self, x: ValueId, axis: usize, log: bool) -> GResult<ValueId> {
        self.apply(Softmax { axis, log }, vec![x])
    }

    /// `jax.image.resize` of the axes `a` of `x` to `n` elements for each `(a, n)` of `axes`
    /// (increasing axes); axes that keep their size are left as they are.
    pub fn resize(
        &mut self,
        x: ValueId,
        axes: &[(usize, usize)],
        method: ResizeMethod,
        antialias: bool,
    ) -> GResult<ValueId> {
        let shape = self.shape(x);
        let axes: Vec<(usize, usize)> = axes
            .iter()
            .copied()
            .filter(|&(a, n)| shape.get(a) != Some(&Some(n)))
            .collect();
        if axes.is_empty() {
            return Ok(x);
        }
        let r = Resize {
            axes,
            method,
            antialias,
        };
        self.apply(r, vec![x])
    }

    /// Axis `axis` of `x` (static size `m`) contracted with the constant matrix `w` `[m, n]`:
    /// `out[.., j, ..] = sum_i x[.., i, ..] w[i, j]`, a linear map along one axis (resampling,
    /// discrete Fourier transforms). One MatMul: `x @ w` on the last axis, otherwise `w^T`
    /// times `x` viewed as `[.., m, rest]` (no transposes).
    pub fn contract_axis(&mut self, x: ValueId, axis: usize, w: Array2<f32>) -> GResult<ValueId> {
        let shape = self.shape(x).clone();
        let (m, n) = w.dim();
        if axis >= shape.len() || shape[axis] != Some(m) {
            return Err(self.error(format!(
                "a [{m}, {n}] matrix cannot act on axis {axis} of {}",
                super::shape_fmt(&shape)
            )));
        }
        if axis + 1 == shape.len() {
            let w = self.constant(Tensor::F32(w.into_dyn()));
            return self.matmul(x, w);
        }
        let rest = crate::tensor::static_product(&shape[axis + 1..])
            .filter(|_| shape[axis + 1..].iter().all(Option::is_some))
            .ok_or_else(|| self.error("the axes after a contracted axis must have static sizes"))?;
        let mut flat = shape[..axis].to_vec();
        flat.extend([Some(m), Some(rest)]);
        let x3 = self.reshape(x, flat)?;
        let wt = self.constant(Tensor::F32(
            w.reversed_axes()
                .as_standard_layout()
                .into_owned()
                .into_dyn(),
        ));
        let y3 = self.matmul(wt, x3)?;
        let mut out = shape;
        out[axis] = Some(n);
        self.reshape(y3, out)
    }

    /// Insert a size-1 axis at `axis` (a reshape).
    pub fn expand_dims(&mut self, x: ValueId, axis: usize) -> GResult<ValueId> {
        let mut shape = self.shape(x).clone();
        if axis > shape.len() {
            return Err(self.error(format!("expand_dims axis {axis} out of range")));
        }
        shape.insert(axis, Some(1));
        self.reshape(x, shape)
    }

    /// Remove size-1 axes (a reshape).
    pub fn squeeze(&mut self, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
        let from = self.shape(x).clone();
        for &a in axes {
            if from.get(a).copied().flatten() != Some(1) {
                return Err(self.error(format!(
                    "cannot squeeze axis {a} of shape {}",
                    super::shape_fmt(&from)
                )));
            }
        }
        let shape = from
            .iter()
            .enumerate()
            .filter(|(i, _)| !axes.contains(i))
            .map(|(_, &d)| d)
            .collect();
        self.reshape(x, shape)
    }
}
