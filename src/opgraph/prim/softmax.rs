//! Softmax and log-softmax along one axis (OpenVINO SoftMax-8 / LogSoftmax-5). The JVP is
//! `jax.nn.softmax`'s custom rule, `y * (t - sum(y * t))`, and for log-softmax
//! `t - sum(exp(y) * t)` (JAX stops the gradient of the max, so it drops out).

use super::{check_axis, expect_f32, Arity, Array, Batch, Jvp, Primitive, Series, Tan, Taylor};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{DType, GResult, ReduceOp, Shape, UnaryOp, ValueId};
use ndarray::Axis;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Softmax {
    pub axis: usize,
    /// Log-softmax.
    pub log: bool,
}

impl Primitive for Softmax {
    one_axis_sinks!();

    fn label(&self) -> String {
        let name = if self.log { "LogSoftmax" } else { "Softmax" };
        format!("{name} axis {}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, &self.label())?;
        check_axis(self.axis, ins[0].1.len(), "softmax")?;
        Ok((DType::F32, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let x = args[0];
        let ax = Axis(self.axis);
        let m = x
            .fold_axis(ax, f64::NEG_INFINITY, |a, &b| a.max(b))
            .insert_axis(ax);
        let shifted = x - &m;
        let e = shifted.mapv(f64::exp);
        let s = e.sum_axis(ax).insert_axis(ax);
        Ok(if self.log {
            shifted - s.mapv(f64::ln)
        } else {
            e / s
        })
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let data = vec![("axis", self.axis.to_string())];
        if self.log {
            cx.op("LogSoftmax", "opset5", data, ins)
        } else {
            cx.op("SoftMax", "opset8", data, ins)
        }
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let t = tin[0].expect("a nonzero tangent");
        let t = cx.align(t, cx.g.rank(y))?;
        let g = &mut *cx.g;
        let p = if self.log {
            g.unary(UnaryOp::Exp, y)?
        } else {
            y
        };
        let pt = g.mul(p, t)?;
        let s = g.reduce(ReduceOp::Sum, pt, vec![self.axis + 1], true)?;
        let d = g.sub(t, s)?;
        Ok(Some(if self.log { d } else { g.mul(y, d)? }))
    }

    /// Through `exp(x - max) / sum(exp(x - max))` (or its log form): the shift by the max
    /// cancels in every coefficient, as it does in the value.
    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
        let (axis, log) = (self.axis, self.log);
        cx.through(y, tin, |g, ins| {
            let x = ins[0];
            let m = g.reduce(ReduceOp::Max, x, vec![axis], true)?;
            let shifted = g.sub(x, m)?;
            let e = g.unary(UnaryOp::Exp, shifted)?;
            let s = g.reduce(ReduceOp::Sum, e, vec![axis], true)?;
            if log {
                let l = g.unary(UnaryOp::Log, s)?;
                g.sub(shifted, l)
            } else {
                g.div(e, s)
            }
        })
    }

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("normalises over the batch axis".into()),
            a => Ok(a),
        }
    }

    no_simplification!();
}

#[cfg(test)]
mod tests {
    use crate::opgraph::BinaryOp;
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        for log in [false, true] {
            for (shape, axis) in [(vec![4], 1), (vec![3, 2], 1), (vec![3, 2], 2)] {
                check_derivatives(&format!("softmax log={log} axis {axis}"), &shape, |g, x| {
                    let s = g.binary_scalar(BinaryOp::Mul, x, 2.0).unwrap();
                    g.softmax(s, axis, log).unwrap()
                });
            }
        }
    }
}
