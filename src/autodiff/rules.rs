//! One JVP rule per primitive, after `jax/_src/lax/lax.py` (and `special.py` for erf).
//!
//! Tangent layout: a value of shape `S` has a tangent of shape `[T, *S]`, the tangent axis
//! first (one GEMM per matmul with constant weights). The batch axis of a tangent may be 1
//! where the primal's is the dynamic batch (seeds and what only depends on them), which keeps
//! the first layer's tangent a foldable constant. `None` is a symbolic zero.

use crate::opgraph::{
    BinaryOp, CompareOp, DType, GResult, Op, OpGraph, ReduceOp, UnaryOp, ValueId,
};

pub type Tan = Option<ValueId>;

/// Tangent arithmetic on a graph, with symbolic zeros.
pub struct Rules<'g> {
    pub g: &'g mut OpGraph,
}

impl Rules<'_> {
    fn scalar(&mut self, v: f32) -> ValueId {
        self.g.scalar(v)
    }

    fn add_opt(&mut self, a: Tan, b: Tan) -> GResult<Tan> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(self.g.add(a, b)?),
            (a, None) => a,
            (None, b) => b,
        })
    }

    /// `t * f` where `f` is a primal-shaped factor.
    fn scale(&mut self, t: ValueId, f: ValueId) -> GResult<ValueId> {
        self.g.mul(t, f)
    }

    /// A tangent `[T, *S]` of an operand of lower rank than the result it feeds, with size-1
    /// axes inserted after `T` so that NumPy broadcasting lines `S` up with the result.
    fn align(&mut self, t: ValueId, rank: usize) -> GResult<ValueId> {
        let s = self.g.shape(t).clone();
        if s.len() > rank {
            return Ok(t);
        }
        let mut target = vec![s[0]];
        target.extend(std::iter::repeat_n(Some(1), rank + 1 - s.len()));
        target.extend_from_slice(&s[1..]);
        self.g.reshape(t, target)
    }

    /// `align` for an optional tangent, to the rank of node `out`.
    fn align_to(&mut self, t: Tan, out: ValueId) -> GResult<Tan> {
        let r = self.g.rank(out);
        t.map(|t| self.align(t, r)).transpose()
    }

    /// The tangent broadcast to exactly `[T, *shape(primal)]` (the batch too).
    pub fn full(&mut self, t: ValueId, primal: ValueId) -> GResult<ValueId> {
        let want_rank = self.g.rank(primal) + 1;
        let t = self.align(t, want_rank - 1)?;
        let same = self.g.rank(t) == want_rank
            && self.g.shape(t)[1..]
                .iter()
                .zip(self.g.shape(primal).iter())
                .all(|(a, b)| a == b);
        if same {
            return Ok(t);
        }
        self.g.broadcast_like(t, primal)
    }

    /// A zero tangent made concrete as a constant `[T, *shape(primal)]` with 1 for the
    /// dynamic (batch) dimension.
    pub fn zeros_unbatched(&mut self, t_len: usize, primal: ValueId) -> GResult<ValueId> {
        let mut shape = vec![t_len];
        shape.extend(self.g.shape(primal).iter().map(|d| d.unwrap_or(1)));
        Ok(self
            .g
            .constant(crate::opgraph::Tensor::F32(ndarray::ArrayD::zeros(shape))))
    }

    /// The tangent of node `id` given its inputs' tangents `tin` (not all zero).
    pub fn jvp(&mut self, id: ValueId, tin: &[Tan], t_len: usize) -> GResult<Tan> {
        let node = self.g.node(id).clone();
        let ins = node.inputs.clone();
        let y = id;
        Ok(match &node.op {
            Op::Parameter { .. } | Op::Constant(_) => None,
            Op::Compare(_) | Op::Classify(_) => None,
            Op::Unary(op) => self.unary(*op, tin[0].expect("nonzero"), ins[0], y)?,
            Op::Binary(op) => {
                let ta = self.align_to(tin[0], y)?;
                let tb = self.align_to(tin[1], y)?;
                self.binary(*op, ta, tb, ins[0], ins[1], y)?
            }
            // A zero branch is the scalar 0, which broadcasts to the tangent's shape.
            Op::Select => {
                let a = match self.align_to(tin[1], y)? {
                    Some(a) => a,
                    None => self.scalar(0.0),
                };
                let b = match self.align_to(tin[2], y)? {
                    Some(b) => b,
                    None => self.scalar(0.0),
                };
                Some(self.g.select(ins[0], a, b)?)
            }
            Op::MatMul => {
                let tin = [self.align_to(tin[0], y)?, self.align_to(tin[1], y)?];
                let l = match tin[0] {
                    Some(ta) => Some(self.g.matmul(ta, ins[1])?),
                    None => None,
                };
                let r = match tin[1] {
                    Some(tb) => Some(self.g.matmul(ins[0], tb)?),
                    None => None,
                };
                self.add_opt(l, r)?
            }
            // The tangent is made full first, so its batch size is the primal's own.
            Op::Reshape { shape } => {
                let t = self.full(tin[0].expect("nonzero"), ins[0])?;
                let mut target = vec![Some(t_len)];
                target.extend_from_slice(shape);
                Some(self.g.reshape(t, target)?)
            }
            Op::Transpose { perm } => {
                let t = tin[0].expect("nonzero");
                let mut p = vec![0];
                p.extend(perm.iter().map(|&a| a + 1));
                Some(self.g.transpose(t, p)?)
            }
            Op::Reverse { axis } => {
                let t = self.full(tin[0].expect("nonzero"), ins[0])?;
                Some(self.g.reverse(t, axis + 1)?)
            }
            Op::Tile { repeats } => {
                let t = tin[0].expect("nonzero");
                let mut r = vec![1];
                r.extend_from_slice(repeats);
                Some(self.g.tile(t, r)?)
            }
            // Parts are broadcast to the full batch only when their tangents disagree (a
            // seed and a batch-dependent tangent); tangents that are all batch-1 constants
            // stay constant, so e.g. concatenated seeds still fold into the first layer.
            Op::Concat { axis } => {
                let mut parts = Vec::new();
                for (k, &x) in ins.iter().enumerate() {
                    parts.push(match tin[k] {
                        Some(t) => self.align(t, self.g.rank(x))?,
                        None => self.zeros_unbatched(t_len, x)?,
                    });
                }
                let agree = parts.iter().all(|&p| {
                    let (a, b) = (self.g.shape(p), self.g.shape(parts[0]));
                    a.iter()
                        .zip(b)
                        .enumerate()
                        .all(|(i, (da, db))| i == axis + 1 || da == db)
                });
                if !agree {
                    for (k, p) in parts.iter_mut().enumerate() {
                        *p = self.full(*p, ins[k])?;
                    }
                }
                Some(self.g.concat(&parts, axis + 1)?)
            }
            Op::Slice {
                axis,
                start,
                stop,
                step,
            } => {
                let t = tin[0].expect("nonzero");
                let t = self.full(t, ins[0])?;
                Some(self.g.slice(t, axis + 1, *start, *stop, *step)?)
            }
            Op::Reduce {
                op,
                axes,
                keep_dims,
            } => self.reduce(*op, tin[0].expect("nonzero"), ins[0], y, axes, *keep_dims)?,
            Op::Convert { to } => match (to, self.g.dtype(ins[0])) {
                (DType::F32, DType::F32) => tin[0],
                _ => None,
            },
            // Only `x` flows into the value; `like` gives the shape.
            Op::BroadcastLike => match self.align_to(tin[0], y)? {
                Some(t) => Some(self.g.broadcast_like(t, ins[1])?),
                None => None,
            },
        })
    }

    fn unary(&mut self, op: UnaryOp, t: ValueId, x: ValueId, y: ValueId) -> GResult<Tan> {
        let g = &mut *self.g;
        let f = match op {
            UnaryOp::Neg => return Ok(Some(g.unary(UnaryOp::Neg, t)?)),
            UnaryOp::Sign | UnaryOp::Floor => return Ok(None),
            // select(x >= 0, g, -g)
            UnaryOp::Abs => {
                let zero = g.scalar(0.0);
                let nonneg = g.compare(CompareOp::GreaterEqual, x, zero)?;
                let neg = g.unary(UnaryOp::Neg, t)?;
                return Ok(Some(g.select(nonneg, t, neg)?));
            }
            UnaryOp::Exp => y,
            UnaryOp::Log => return Ok(Some(g.div(t, x)?)),
            // g * (0.5 / ans)
            UnaryOp::Sqrt => {
                let half = g.scalar(0.5);
                g.div(half, y)?
            }
            // JAX: (g + g * ans) * (1 - ans). The factor 1 - ans^2 is formed on the primal
            // first so the tangent sees one multiply, and its own derivative, -2 ans dans (the
            // square rule of `Mul`), is one multiply when differentiated again.
            UnaryOp::Tanh => {
                let one = g.scalar(1.0);
                let y2 = g.mul(y, y)?;
                g.sub(one, y2)?
            }
            // g * ans * (1 - ans)
            UnaryOp::Sigmoid => {
                let one = g.scalar(1.0);
                let omy = g.sub(one, y)?;
                g.mul(y, omy)?
            }
            // d softplus = logistic(x)
            UnaryOp::SoftPlus => g.unary(UnaryOp::Sigmoid, x)?,
            // 2/sqrt(pi) * exp(-x^2)
            UnaryOp::Erf => {
                let x2 = g.mul(x, x)?;
                let n = g.unary(UnaryOp::Neg, x2)?;
                let e = g.unary(UnaryOp::Exp, n)?;
                g.binary_scalar(BinaryOp::Mul, e, std::f64::consts::FRAC_2_SQRT_PI as f32)?
            }
            UnaryOp::Sin => g.unary(UnaryOp::Cos, x)?,
            UnaryOp::Cos => {
                let s = g.unary(UnaryOp::Sin, x)?;
                g.unary(UnaryOp::Neg, s)?
            }
            // 1 + ans^2
            UnaryOp::Tan => {
                let y2 = g.mul(y, y)?;
                g.binary_scalar(BinaryOp::Add, y2, 1.0)?
            }
            // g / (1 + x^2)
            UnaryOp::Atan => {
                let x2 = g.mul(x, x)?;
                let d = g.binary_scalar(BinaryOp::Add, x2, 1.0)?;
                return Ok(Some(g.div(t, d)?));
            }
            UnaryOp::Sinh => g.unary(UnaryOp::Cosh, x)?,
            UnaryOp::Cosh => g.unary(UnaryOp::Sinh, x)?,
        };
        Ok(Some(self.scale(t, f)?))
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        ta: Tan,
        tb: Tan,
        a: ValueId,
        b: ValueId,
        y: ValueId,
    ) -> GResult<Tan> {
        match op {
            BinaryOp::Add => self.add_opt(ta, tb),
            BinaryOp::Sub => {
                let nb = match tb {
                    Some(t) => Some(self.g.unary(UnaryOp::Neg, t)?),
                    None => None,
                };
                self.add_opt(ta, nb)
            }
            // x * x: 2 x t, one product instead of two (JAX's `integer_pow` rule for x**2).
            BinaryOp::Mul if a == b => {
                let t = ta.expect("a == b, so both tangents are nonzero");
                let two_a = self.g.binary_scalar(BinaryOp::Mul, a, 2.0)?;
                Ok(Some(self.g.mul(t, two_a)?))
            }
            BinaryOp::Mul => {
                let l = match ta {
                    Some(t) => Some(self.g.mul(t, b)?),
                    None => None,
                };
                let r = match tb {
                    Some(t) => Some(self.g.mul(a, t)?),
                    None => None,
                };
                self.add_opt(l, r)
            }
            // g / y  and  -g * x * y^-2
            BinaryOp::Div => {
                let l = match ta {
                    Some(t) => Some(self.g.div(t, b)?),
                    None => None,
                };
                let r = match tb {
                    Some(t) => {
                        let n = self.g.unary(UnaryOp::Neg, t)?;
                        let nx = self.g.mul(n, a)?;
                        let b2 = self.g.mul(b, b)?;
                        Some(self.g.div(nx, b2)?)
                    }
                    None => None,
                };
                self.add_opt(l, r)
            }
            // lhs: g * y * x^(y-1); rhs: g * log(x == 0 ? 1 : x) * ans
            BinaryOp::Pow => {
                let l = match ta {
                    Some(t) => {
                        let ym1 = self.g.binary_scalar(BinaryOp::Sub, b, 1.0)?;
                        let p = self.g.binary(BinaryOp::Pow, a, ym1)?;
                        let jac = self.g.mul(b, p)?;
                        Some(self.g.mul(t, jac)?)
                    }
                    None => None,
                };
                let r = match tb {
                    Some(t) => {
                        let zero = self.scalar(0.0);
                        let one = self.scalar(1.0);
                        let is0 = self.g.compare(CompareOp::Equal, a, zero)?;
                        let safe = self.g.select(is0, one, a)?;
                        let l = self.g.unary(UnaryOp::Log, safe)?;
                        let f = self.g.mul(l, y)?;
                        Some(self.g.mul(t, f)?)
                    }
                    None => None,
                };
                self.add_opt(l, r)
            }
            // JAX's balanced rule: ties split the tangent half and half.
            BinaryOp::Max | BinaryOp::Min => {
                let l = match ta {
                    Some(t) => {
                        let w = self.balanced_eq(a, y, b)?;
                        Some(self.g.mul(t, w)?)
                    }
                    None => None,
                };
                let r = match tb {
                    Some(t) => {
                        let w = self.balanced_eq(b, y, a)?;
                        Some(self.g.mul(t, w)?)
                    }
                    None => None,
                };
                self.add_opt(l, r)
            }
        }
    }

    /// `select(x == z, 1, 0) / select(y == z, 2, 1)`.
    fn balanced_eq(&mut self, x: ValueId, z: ValueId, y: ValueId) -> GResult<ValueId> {
        let (zero, one, two) = (self.scalar(0.0), self.scalar(1.0), self.scalar(2.0));
        let g = &mut *self.g;
        let xz = g.compare(CompareOp::Equal, x, z)?;
        let num = g.select(xz, one, zero)?;
        let yz = g.compare(CompareOp::Equal, y, z)?;
        let den = g.select(yz, two, one)?;
        g.div(num, den)
    }

    fn reduce(
        &mut self,
        op: ReduceOp,
        t: ValueId,
        x: ValueId,
        y: ValueId,
        axes: &[usize],
        keep: bool,
    ) -> GResult<Tan> {
        let t = self.full(t, x)?;
        let taxes: Vec<usize> = axes.iter().map(|a| a + 1).collect();
        let g = &mut *self.g;
        Ok(Some(match op {
            ReduceOp::Sum => g.reduce(ReduceOp::Sum, t, taxes, keep)?,
            ReduceOp::Mean => g.reduce(ReduceOp::Mean, t, taxes, keep)?,
            // Tangents of the locations equal to the result, averaged over ties.
            ReduceOp::Max | ReduceOp::Min => {
                let yk = if keep { y } else { keep_shape(g, y, x, axes)? };
                let hit = g.compare(CompareOp::Equal, x, yk)?;
                let loc = g.convert(hit, DType::F32)?;
                let counts = g.reduce(ReduceOp::Sum, loc, axes.to_vec(), keep)?;
                let tl = g.mul(t, loc)?;
                let s = g.reduce(ReduceOp::Sum, tl, taxes, keep)?;
                g.div(s, counts)?
            }
            // sum_i t_i * prod_{j != i} x_j, the partial products built by slicing (exact at
            // zeros, like JAX's rule).
            ReduceOp::Prod => {
                let mut total: Option<ValueId> = None;
                let flat = flatten_axes(g, x, axes)?;
                let tflat = flatten_axes_tangent(g, t, axes)?;
                let n = g.shape(flat)[0].expect("static reduced size");
                for i in 0..n {
                    let ti = g.slice(tflat, 1, i, i + 1, 1)?;
                    let mut others: Option<ValueId> = None;
                    for j in (0..n).filter(|&j| j != i) {
                        let xj = g.slice(flat, 0, j, j + 1, 1)?;
                        others = Some(match others {
                            Some(o) => g.mul(o, xj)?,
                            None => xj,
                        });
                    }
                    let term = match others {
                        Some(o) => g.mul(ti, o)?,
                        None => ti,
                    };
                    total = Some(match total {
                        Some(s) => g.add(s, term)?,
                        None => term,
                    });
                }
                // [T, 1, *rest] -> [T, *shape(y)] (rest keeps the order of y's axes).
                let tot = total.expect("non-empty reduction");
                let mut target = vec![g.shape(tot)[0]];
                target.extend_from_slice(g.shape(y));
                g.reshape(tot, target)?
            }
        }))
    }
}

/// `y` (reduced without keep_dims) reshaped with 1s at the reduced axes of `x`.
fn keep_shape(g: &mut OpGraph, y: ValueId, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let shape = g
        .shape(x)
        .iter()
        .enumerate()
        .map(|(i, d)| if axes.contains(&i) { Some(1) } else { *d })
        .collect();
    g.reshape(y, shape)
}

/// Move the reduced axes of `x` to the front and merge them: `[n, *rest]`.
fn flatten_axes(g: &mut OpGraph, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let r = g.rank(x);
    let mut perm: Vec<usize> = axes.to_vec();
    perm.extend((0..r).filter(|a| !axes.contains(a)));
    let xt = g.transpose(x, perm.clone())?;
    let s = g.shape(xt).clone();
    let n: Option<usize> = s[..axes.len()].iter().copied().product();
    let mut target = vec![n];
    target.extend_from_slice(&s[axes.len()..]);
    g.reshape(xt, target)
}

/// The same for a tangent `[T, *S]`: `[T, n, *rest]`.
fn flatten_axes_tangent(g: &mut OpGraph, t: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let r = g.rank(t);
    let taxes: Vec<usize> = axes.iter().map(|a| a + 1).collect();
    let mut perm = vec![0];
    perm.extend_from_slice(&taxes);
    perm.extend((1..r).filter(|a| !taxes.contains(a)));
    let tt = g.transpose(t, perm)?;
    let s = g.shape(tt).clone();
    let n: Option<usize> = s[1..=axes.len()].iter().copied().product();
    let mut target = vec![s[0], n];
    target.extend_from_slice(&s[axes.len() + 1..]);
    g.reshape(tt, target)
}
