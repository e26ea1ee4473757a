//! The vocabulary Taylor rules are written in (`jax/experimental/jet.py` in spirit): truncated
//! Taylor series along a set of directions, pushed through the graph one primitive at a time.
//!
//! A value `x` moved along direction `r` is `x(t) = x_0 + c_1 t + c_2 t^2 + ... + c_K t^K`
//! (normalised coefficients: the k-th directional derivative is `k! c_k`). Coefficient `c_k`
//! has shape `[R, *S]`, one row per direction (the batch may be 1, as with tangents). For the
//! collapsed Taylor mode of Laplacian-type operators (Dangel et al. 2025; the forward
//! Laplacian of Li et al. 2023), the top coefficient `c_K` is summed over the directions with
//! weights as it is built, `[1, *S]`: each rule writes `y_k` as a part linear in the order-`k`
//! coefficients plus a part made of lower orders, and `Taylor::top` sums that second part.

use super::{outer, Jvp, Primitive, Tan};
use crate::opgraph::{BinaryOp, GResult, OpGraph, Prim, ReduceOp, Tensor, ValueId};

/// Coefficients `c_1 ..= c_K` of one value (`None`: zero). An empty series is all zero.
pub type Series = Vec<Tan>;

/// Coefficient `k` (1-based) of a series.
pub fn coef(s: &Series, k: usize) -> Tan {
    s.get(k - 1).copied().flatten()
}

/// Where Taylor rules build coefficients.
pub struct Taylor<'g> {
    pub g: &'g mut OpGraph,
    /// The highest order `K`.
    pub order: usize,
    /// When set, the top coefficient is summed over the directions with these weights.
    pub collapse: Option<Vec<f32>>,
}

/// `n!` as f64.
pub fn factorial(n: usize) -> f64 {
    (1..=n).map(|i| i as f64).product()
}

impl Taylor<'_> {
    pub fn jvp(&mut self) -> Jvp<'_> {
        Jvp { g: &mut *self.g }
    }

    /// The inputs of node `y`.
    pub fn inputs(&self, y: ValueId) -> Vec<ValueId> {
        self.g.node(y).inputs.clone()
    }

    /// `a + b` with symbolic zeros.
    pub fn add(&mut self, a: Tan, b: Tan) -> GResult<Tan> {
        self.jvp().add(a, b)
    }

    /// `t * f` for a coefficient that may be zero.
    pub fn mul(&mut self, t: Tan, f: ValueId) -> GResult<Tan> {
        self.jvp().mul(t, f)
    }

    /// Coefficient `t` aligned to the rank of node `out` (see `Jvp::align`).
    pub fn align_to(&mut self, t: Tan, out: ValueId) -> GResult<Tan> {
        self.jvp().align_to(t, out)
    }

    /// The part of `y_k` made of lower orders: kept per direction, or summed over them (with
    /// the weights) when `k` is the collapsed top order.
    pub fn top(&mut self, k: usize, part: Tan) -> GResult<Tan> {
        let (Some(v), Some(w)) = (part, self.collapse.as_ref()) else {
            return Ok(part);
        };
        if k != self.order {
            return Ok(part);
        }
        if w.len() <= outer::MAX_PARTS && self.g.shape(v).first() == Some(&Some(w.len())) {
            // Direction by direction: the `[R, ..]` product is never materialised.
            let (w, rank) = (w.clone(), self.g.rank(v));
            let mut sum: Tan = None;
            for (r, &wr) in w.iter().enumerate() {
                let mut p = outer::part_of(self.g, v, rank, r)?;
                if wr != 1.0 {
                    p = self.g.binary_scalar(BinaryOp::Mul, p, wr)?;
                }
                sum = self.add(sum, Some(p))?;
            }
            return Ok(sum);
        }
        let v = if w.iter().all(|&x| x == 1.0) {
            v
        } else {
            let mut shape = vec![w.len()];
            shape.extend(std::iter::repeat_n(1, self.g.rank(v) - 1));
            let weights = ndarray::ArrayD::from_shape_vec(shape, w.clone())
                .map_err(|e| self.g.error(format!("collapse weights: {e}")))?;
            let c = self.g.constant(Tensor::F32(weights));
            self.g.mul(v, c)?
        };
        Ok(Some(self.g.reduce(ReduceOp::Sum, v, vec![0], true)?))
    }

    /// `t * f` for coefficient `k`; below a collapsed top order, with few directions, as
    /// `Concat` of `t_r * f` over the directions `r`. OpenVINO otherwise fuses the broadcast
    /// of `f` along the direction axis with the collapsed `[1, B, ..]` sums built from the
    /// same factors into one kernel, which ran 2.5x slower than the parts (the Laplacian of a
    /// tanh MLP); the `Concat` is in place.
    fn scale_directions(&mut self, k: usize, t: Tan, f: ValueId) -> GResult<Tan> {
        let Some(t) = t else { return Ok(None) };
        let rank = self.g.rank(t);
        let r = self.g.shape(t)[0].filter(|r| (2..=outer::MAX_PARTS).contains(r));
        let f_whole = self.g.rank(f) < rank || self.g.shape(f)[0] == Some(1);
        let (Some(r), true, true) = (r, f_whole, self.collapse.is_some() && k < self.order) else {
            return self.mul(Some(t), f);
        };
        let parts = (0..r)
            .map(|i| {
                let p = outer::part_of(self.g, t, rank, i)?;
                self.g.mul(p, f)
            })
            .collect::<GResult<Vec<_>>>()?;
        Ok(Some(self.g.concat(&parts, 0)?))
    }

    /// A linear primitive's rule: each order through the primitive's own JVP rule.
    pub fn each_order(&mut self, p: &Prim, y: ValueId, tin: &[Series]) -> GResult<Series> {
        (1..=self.order)
            .map(|k| {
                let t: Vec<Tan> = tin.iter().map(|s| coef(s, k)).collect();
                if t.iter().all(Option::is_none) {
                    return Ok(None);
                }
                p.jvp(&mut self.jvp(), y, &t)
            })
            .collect()
    }

    /// Leibniz: the series of `op(a, b)` for a bilinear `op` (product, matmul), from the
    /// primals `a0`, `b0` and their series.
    pub fn product(
        &mut self,
        y: ValueId,
        (a0, sa): (ValueId, &Series),
        (b0, sb): (ValueId, &Series),
        op: fn(&mut OpGraph, ValueId, ValueId) -> GResult<ValueId>,
    ) -> GResult<Series> {
        let mut out = Vec::new();
        for k in 1..=self.order {
            let ak = self.align_to(coef(sa, k), y)?;
            let bk = self.align_to(coef(sb, k), y)?;
            let l = ak.map(|a| op(self.g, a, b0)).transpose()?;
            let r = bk.map(|b| op(self.g, a0, b)).transpose()?;
            let lin = self.add(l, r)?;
            let mut rest: Tan = None;
            for j in 1..k {
                let aj = self.align_to(coef(sa, j), y)?;
                let bj = self.align_to(coef(sb, k - j), y)?;
                if let (Some(a), Some(b)) = (aj, bj) {
                    let t = op(self.g, a, b)?;
                    rest = self.add(rest, Some(t))?;
                }
            }
            let rest = self.top(k, rest)?;
            out.push(self.add(lin, rest)?);
        }
        Ok(out)
    }

    /// `y = a / b`: `y_k = (a_k - sum_{j=1..k} b_j y_{k-j}) / b0`.
    pub fn quotient(
        &mut self,
        y: ValueId,
        sa: &Series,
        (b0, sb): (ValueId, &Series),
    ) -> GResult<Series> {
        let mut out: Series = Vec::new();
        for k in 1..=self.order {
            let ak = self.align_to(coef(sa, k), y)?;
            let bk = self.align_to(coef(sb, k), y)?;
            let by = bk.map(|b| self.g.mul(b, y)).transpose()?;
            let nby = by
                .map(|t| self.g.unary(crate::opgraph::UnaryOp::Neg, t))
                .transpose()?;
            let lin = self.add(ak, nby)?;
            let mut rest: Tan = None;
            for j in 1..k {
                let bj = self.align_to(coef(sb, j), y)?;
                if let (Some(b), Some(yj)) = (bj, out[k - j - 1]) {
                    let t = self.g.mul(b, yj)?;
                    rest = self.add(rest, Some(t))?;
                }
            }
            let rest = rest
                .map(|t| self.g.unary(crate::opgraph::UnaryOp::Neg, t))
                .transpose()?;
            let rest = self.top(k, rest)?;
            let num = self.add(lin, rest)?;
            out.push(num.map(|n| self.g.div(n, b0)).transpose()?);
        }
        Ok(out)
    }

    /// Faà di Bruno: the series of `f(x)` from `f`'s Taylor factors at the primal,
    /// `factors[n - 1] = f^(n)(x_0) / n!` (`None`: zero), and the series of `x`.
    pub fn compose(
        &mut self,
        y: ValueId,
        factors: &[Option<ValueId>],
        sx: &Series,
    ) -> GResult<Series> {
        let k_max = self.order;
        let c: Vec<Tan> = (1..=k_max)
            .map(|k| self.align_to(coef(sx, k), y))
            .collect::<GResult<_>>()?;
        // pw[n][k]: the coefficient of t^k in (sum_j c_j t^j)^n, for n >= 2, from c_1..c_{K-1}.
        let mut pw: Vec<Vec<Tan>> = vec![vec![None; k_max + 1]; k_max + 1];
        pw[1][1..k_max].copy_from_slice(&c[..k_max - 1]);
        for n in 2..=k_max {
            for k in n..=k_max {
                let mut acc: Tan = None;
                for j in 1..=k + 1 - n {
                    if let (Some(cj), Some(p)) = (c[j - 1], pw[n - 1][k - j]) {
                        let t = self.g.mul(cj, p)?;
                        acc = self.add(acc, Some(t))?;
                    }
                }
                pw[n][k] = acc;
            }
        }
        let mut out = Vec::new();
        for k in 1..=k_max {
            let lin = match factors.first().copied().flatten() {
                Some(f1) => self.scale_directions(k, c[k - 1], f1)?,
                None => None,
            };
            // The factors do not depend on the direction: a collapsed top order is summed
            // over the directions before it is scaled (D times fewer products).
            let mut rest: Tan = None;
            for (n, row) in pw.iter().enumerate().take(k + 1).skip(2) {
                let (Some(fnv), Some(p)) = (factors.get(n - 1).copied().flatten(), row[k]) else {
                    continue;
                };
                let p = self.top(k, Some(p))?.expect("nonzero");
                let t = self.g.mul(p, fnv)?;
                rest = self.add(rest, Some(t))?;
            }
            out.push(self.add(lin, rest)?);
        }
        Ok(out)
    }

    /// The series of a composite primitive through its decomposition: `build` makes node
    /// `y`'s value from its inputs out of other primitives, whose Taylor rules then give the
    /// series (as `Jvp::through` does for tangents).
    pub fn through(
        &mut self,
        y: ValueId,
        tin: &[Series],
        build: impl FnOnce(&mut OpGraph, &[ValueId]) -> GResult<ValueId>,
    ) -> GResult<Series> {
        let ins = self.inputs(y);
        let (order, collapse) = (self.order, self.collapse.clone());
        super::ad::through(self.g, &ins, tin, build, |g, p, id, sin| {
            if sin.iter().all(|s| s.iter().all(Option::is_none)) {
                return Ok(Vec::new());
            }
            let mut cx = Taylor {
                g,
                order,
                collapse: collapse.clone(),
            };
            p.taylor(&mut cx, id, sin)
        })
    }
}

/// Polynomials with f64 coefficients (lowest degree first), for derivative towers.
pub mod poly {
    /// `p'`.
    pub fn derive(p: &[f64]) -> Vec<f64> {
        p.iter()
            .enumerate()
            .skip(1)
            .map(|(i, &c)| c * i as f64)
            .collect()
    }

    /// `p * q`.
    pub fn mul(p: &[f64], q: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; (p.len() + q.len()).saturating_sub(1)];
        for (i, a) in p.iter().enumerate() {
            for (j, b) in q.iter().enumerate() {
                out[i + j] += a * b;
            }
        }
        out
    }

    /// `p + q`.
    pub fn add(p: &[f64], q: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; p.len().max(q.len())];
        for (i, a) in p.iter().enumerate() {
            out[i] += a;
        }
        for (i, b) in q.iter().enumerate() {
            out[i] += b;
        }
        out
    }

    /// The tower `P_1 = first`, `P_{n+1} = P_n' * chain`: the derivatives of a function whose
    /// derivative is a polynomial in its own value (tanh: `1 - y^2`).
    pub fn tower(first: &[f64], chain: &[f64], n: usize) -> Vec<Vec<f64>> {
        let mut out = vec![first.to_vec()];
        while out.len() < n {
            let next = mul(&derive(out.last().expect("non-empty")), chain);
            out.push(next);
        }
        out
    }
}

/// `p(x)` as graph nodes (Horner), f32 coefficients.
pub fn eval_poly(g: &mut OpGraph, p: &[f64], x: ValueId) -> GResult<ValueId> {
    let deg = p.iter().rposition(|&c| c != 0.0).unwrap_or(0);
    let mut acc = g.scalar(p.get(deg).copied().unwrap_or(0.0) as f32);
    for i in (0..deg).rev() {
        acc = g.mul(acc, x)?;
        if p[i] != 0.0 {
            acc = g.binary_scalar(crate::opgraph::BinaryOp::Add, acc, p[i] as f32)?;
        }
    }
    Ok(acc)
}
