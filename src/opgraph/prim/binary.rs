//! Element-wise arithmetic of two values of one element type, NumPy broadcasting: f32, or
//! integers for the ops integer arithmetic has (add, subtract, multiply, max, min). JVP rules after
//! `jax/_src/lax/lax.py`; `Max`/`Min` use JAX's balanced rule (ties split the tangent).

use super::values::zip2;
use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, Primitive, Series, Tan, Taylor};
use crate::ir::{numpy_broadcast, LayerCx, PortRef};
use crate::opgraph::{broadcast_shapes, CompareOp, DType, GResult, OpGraph, Shape, ValueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

impl BinaryOp {
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinaryOp::Add => a + b,
            BinaryOp::Sub => a - b,
            BinaryOp::Mul => a * b,
            BinaryOp::Div => a / b,
            BinaryOp::Pow => a.powf(b),
            BinaryOp::Max => a.max(b),
            BinaryOp::Min => a.min(b),
        }
    }
}

impl Primitive for BinaryOp {
    elementwise_sinks!();

    fn label(&self) -> String {
        format!("{self:?}")
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let integer = matches!(
            self,
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Max | BinaryOp::Min
        );
        let dtype = ins[0].0;
        if !(dtype == DType::F32 || integer && dtype.is_int()) {
            expect_f32(ins, &self.label())?;
        }
        if ins[1].0 != dtype {
            return Err(format!("operands of {dtype:?} and {:?}", ins[1].0));
        }
        Ok((dtype, broadcast_shapes(ins[0].1, ins[1].1)?))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        zip2(args[0], args[1], |a, b| self.apply(a, b))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let ty = match self {
            BinaryOp::Add => "Add",
            BinaryOp::Sub => "Subtract",
            BinaryOp::Mul => "Multiply",
            BinaryOp::Div => "Divide",
            BinaryOp::Pow => "Power",
            BinaryOp::Max => "Maximum",
            BinaryOp::Min => "Minimum",
        };
        let mut data = numpy_broadcast();
        if *self == BinaryOp::Div {
            data.push(("m_pythondiv", "true".to_string()));
        }
        cx.op(ty, "opset1", data, ins)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let ins = cx.inputs(y);
        let (a, b) = (ins[0], ins[1]);
        let ta = cx.align_to(tin[0], y)?;
        let tb = cx.align_to(tin[1], y)?;
        match self {
            BinaryOp::Add => cx.add(ta, tb),
            BinaryOp::Sub => {
                let nb = match tb {
                    Some(t) => Some(cx.g.unary(super::UnaryOp::Neg, t)?),
                    None => None,
                };
                cx.add(ta, nb)
            }
            // x * x: 2 x t, one product instead of two (JAX's `integer_pow` rule for x**2).
            BinaryOp::Mul if a == b => {
                let t = ta.expect("a == b, so both tangents are nonzero");
                let two_a = cx.g.binary_scalar(BinaryOp::Mul, a, 2.0)?;
                Ok(Some(cx.g.mul(t, two_a)?))
            }
            BinaryOp::Mul => {
                let l = cx.mul(ta, b)?;
                let r = match tb {
                    Some(t) => Some(cx.g.mul(a, t)?),
                    None => None,
                };
                cx.add(l, r)
            }
            // t / y  and  -t * x * y^-2
            BinaryOp::Div => {
                let l = match ta {
                    Some(t) => Some(cx.g.div(t, b)?),
                    None => None,
                };
                let r = match tb {
                    Some(t) => {
                        let g = &mut *cx.g;
                        let n = g.unary(super::UnaryOp::Neg, t)?;
                        let nx = g.mul(n, a)?;
                        let b2 = g.mul(b, b)?;
                        Some(g.div(nx, b2)?)
                    }
                    None => None,
                };
                cx.add(l, r)
            }
            // lhs: t * y * x^(y-1); rhs: t * log(x == 0 ? 1 : x) * ans
            BinaryOp::Pow => {
                let l = match ta {
                    Some(t) => {
                        let g = &mut *cx.g;
                        let ym1 = g.binary_scalar(BinaryOp::Sub, b, 1.0)?;
                        let p = g.binary(BinaryOp::Pow, a, ym1)?;
                        let jac = g.mul(b, p)?;
                        Some(g.mul(t, jac)?)
                    }
                    None => None,
                };
                let r = match tb {
                    Some(t) => {
                        let g = &mut *cx.g;
                        let (zero, one) = (g.scalar(0.0), g.scalar(1.0));
                        let is0 = g.compare(CompareOp::Equal, a, zero)?;
                        let safe = g.select(is0, one, a)?;
                        let l = g.unary(super::UnaryOp::Log, safe)?;
                        let f = g.mul(l, y)?;
                        Some(g.mul(t, f)?)
                    }
                    None => None,
                };
                cx.add(l, r)
            }
            // JAX's balanced rule: ties split the tangent half and half.
            BinaryOp::Max | BinaryOp::Min => {
                let wa = balanced_eq(cx.g, a, y, b)?;
                let l = cx.mul(ta, wa)?;
                let wb = balanced_eq(cx.g, b, y, a)?;
                let r = cx.mul(tb, wb)?;
                cx.add(l, r)
            }
        }
    }

    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
        let ins = cx.inputs(y);
        let (a, b) = (ins[0], ins[1]);
        let (sa, sb) = (&tin[0], &tin[1]);
        match self {
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Max | BinaryOp::Min => {
                cx.each_order(&(*self).into(), y, tin)
            }
            BinaryOp::Mul => cx.product(y, (a, sa), (b, sb), |g, p, q| g.mul(p, q)),
            BinaryOp::Div => cx.quotient(y, sa, (b, sb)),
            // x^c for a constant exponent: c (c-1) ... (c-n+1) / n! x^(c-n); otherwise
            // exp(b log a).
            BinaryOp::Pow if sb.iter().all(Option::is_none) => {
                let mut factors = Vec::new();
                let mut k = cx.g.scalar(1.0);
                for n in 0..cx.order {
                    let c_minus_n = cx.g.binary_scalar(BinaryOp::Sub, b, n as f32)?;
                    let step =
                        cx.g.binary_scalar(BinaryOp::Div, c_minus_n, (n + 1) as f32)?;
                    k = cx.g.mul(k, step)?;
                    let e = cx.g.binary_scalar(BinaryOp::Sub, b, (n + 1) as f32)?;
                    let p = cx.g.binary(BinaryOp::Pow, a, e)?;
                    factors.push(Some(cx.g.mul(k, p)?));
                }
                cx.compose(y, &factors, sa)
            }
            BinaryOp::Pow => cx.through(y, tin, |g, ins| {
                let l = g.unary(super::UnaryOp::Log, ins[0])?;
                let m = g.mul(ins[1], l)?;
                g.unary(super::UnaryOp::Exp, m)
            }),
        }
    }

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let ins = cx.inputs(y);
        let mut out = Vec::new();
        match self {
            BinaryOp::Add | BinaryOp::Sub => {
                for k in (0..2).filter(|&k| linear[k]) {
                    let c = if k == 1 && *self == BinaryOp::Sub {
                        cx.g.unary(super::UnaryOp::Neg, ct)?
                    } else {
                        ct
                    };
                    out.push((k, cx.unbroadcast(c, ins[k])?));
                }
            }
            BinaryOp::Mul if linear[0] != linear[1] => {
                let (l, other) = if linear[0] { (0, 1) } else { (1, 0) };
                let m = cx.g.mul(ct, ins[other])?;
                out.push((l, cx.unbroadcast(m, ins[l])?));
            }
            BinaryOp::Div if linear[0] && !linear[1] => {
                let d = cx.g.div(ct, ins[1])?;
                out.push((0, cx.unbroadcast(d, ins[0])?));
            }
            _ => return Ok(None),
        }
        Ok(Some(out))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        b.elementwise()
    }

    no_simplification!();
}

/// `select(x == z, 1, 0) / select(y == z, 2, 1)`: the share of the tangent of `x` in
/// `z = max(x, y)` (or min).
fn balanced_eq(g: &mut OpGraph, x: ValueId, z: ValueId, y: ValueId) -> GResult<ValueId> {
    let (zero, one, two) = (g.scalar(0.0), g.scalar(1.0), g.scalar(2.0));
    let xz = g.compare(CompareOp::Equal, x, z)?;
    let num = g.select(xz, one, zero)?;
    let yz = g.compare(CompareOp::Equal, y, z)?;
    let den = g.select(yz, two, one)?;
    g.div(num, den)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_transpose, constant};

    #[test]
    fn derivatives_match_finite_differences() {
        use BinaryOp::*;
        for op in [Add, Sub, Mul, Div, Pow, Max, Min] {
            // Both operands depend on x; exp(x) > x keeps max/min away from ties.
            check_derivatives(&format!("{op:?}(x, e^x)"), &[3], |g, x| {
                let e = g.unary(UnaryOp::Exp, x).unwrap();
                g.binary(op, x, e).unwrap()
            });
            // A broadcast constant on the left.
            check_derivatives(&format!("{op:?}(c, x)"), &[2, 3], |g, x| {
                let c = constant(g, &[3], 1);
                let c = g.unary(UnaryOp::Exp, c).unwrap();
                g.binary(op, c, x).unwrap()
            });
        }
        check_derivatives("Mul(x, x)", &[3], |g, x| {
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            g.mul(s, s).unwrap()
        });
    }

    #[test]
    fn transposes_are_adjoint() {
        check_transpose("a - b", &[2, 3], |g, x| {
            let c = constant(g, &[3], 2);
            let a = g.mul(x, c).unwrap();
            g.sub(a, x).unwrap()
        });
        check_transpose("c - x (broadcast)", &[1, 3], |g, x| {
            let c = constant(g, &[2, 3], 2);
            g.sub(c, x).unwrap()
        });
        check_transpose("x / c", &[2, 3], |g, x| {
            let c = constant(g, &[3], 3);
            let c = g.unary(UnaryOp::Exp, c).unwrap();
            g.div(x, c).unwrap()
        });
    }
}
