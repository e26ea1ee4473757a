//! Cumulative sum along one axis (`jnp.cumsum`; OpenVINO CumSum-3), from the end when
//! `reverse`. Linear: the tangent is the cumulative sum of the tangent, and the transpose is
//! the cumulative sum the other way round.

use super::{check_axis, Arity, Array, Batch, Jvp, Lin, Primitive, Tan};
use crate::ir::{bool_attr, LayerCx, PortRef};
use crate::opgraph::{DType, GResult, Shape, ValueId};
use ndarray::Axis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cumsum {
    pub axis: usize,
    pub reverse: bool,
}

impl Primitive for Cumsum {
    one_axis_sinks!();

    fn label(&self) -> String {
        let dir = if self.reverse { " reversed" } else { "" };
        format!("Cumsum axis {}{dir}", self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (d, s) = ins[0];
        if !(d == DType::F32 || d.is_int()) {
            return Err(format!("sums numbers, got {d:?}"));
        }
        check_axis(self.axis, s.len(), "Cumsum")?;
        Ok((d, s.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mut out = args[0].clone();
        let n = out.len_of(Axis(self.axis));
        let order: Vec<usize> = if self.reverse {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        for w in order.windows(2) {
            let prev = out.index_axis(Axis(self.axis), w[0]).to_owned();
            let mut cur = out.index_axis_mut(Axis(self.axis), w[1]);
            cur += &prev;
        }
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let axis = cx.constant(
            "CumSum/axis",
            &crate::opgraph::Tensor::scalar_of(DType::I64, self.axis as f64),
        );
        let data = vec![
            ("exclusive", bool_attr(false)),
            ("reverse", bool_attr(self.reverse)),
        ];
        cx.op("CumSum", "opset3", data, &[ins[0], axis])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let p = Cumsum {
            axis: self.axis + 1,
            reverse: self.reverse,
        };
        Ok(Some(cx.g.apply(p, vec![t])?))
    }

    // Linear: each order is summed the same way.
    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let f = cx.full_like(ct, y)?;
        let p = Cumsum {
            axis: self.axis,
            reverse: !self.reverse,
        };
        Ok(Some(vec![(0, cx.g.apply(p, vec![f])?)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("sums cumulatively over the batch axis".into()),
            a => Ok(a),
        }
    }

    no_simplification!();
}

#[cfg(test)]
mod tests {
    use super::Cumsum;
    use crate::opgraph::UnaryOp;
    use crate::testing::{check_derivatives, check_taylor, check_transpose};

    #[test]
    fn derivatives_match_finite_differences() {
        for reverse in [false, true] {
            check_derivatives(&format!("cumsum reverse={reverse}"), &[3, 2], |g, x| {
                let s = g.mul(x, x).unwrap();
                g.apply(Cumsum { axis: 1, reverse }, vec![s]).unwrap()
            });
        }
    }

    #[test]
    fn transpose_is_adjoint() {
        check_transpose("cumsum", &[4, 2], |g, t| {
            g.apply(
                Cumsum {
                    axis: 1,
                    reverse: false,
                },
                vec![t],
            )
            .unwrap()
        });
    }

    /// Taylor rule against nested JVPs through a function with every coefficient nonzero.
    #[test]
    fn taylor_matches_nested_jvps() {
        for reverse in [false, true] {
            check_taylor(
                &format!("cumsum of sin reverse={reverse}"),
                &[3, 2],
                |g, x| {
                    let s = g.unary(UnaryOp::Sin, x).unwrap();
                    g.apply(Cumsum { axis: 1, reverse }, vec![s]).unwrap()
                },
            );
        }
    }
}
