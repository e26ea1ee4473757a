//! Mean-variance normalisation over a set of axes, `(x - mean) / sqrt(var + eps)` with the
//! biased variance (OpenVINO MVN-6, eps inside the square root): the core of
//! LayerNormalization. The JVP differentiates the same formula written with simpler
//! primitives.

use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan, F32};
use crate::ir::{bool_attr, LayerCx, PortRef};
use crate::opgraph::{BinaryOp, DType, GResult, OpGraph, ReduceOp, Shape, UnaryOp, ValueId};
use ndarray::Axis;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mvn {
    /// Sorted, distinct.
    pub axes: Vec<usize>,
    pub eps: F32,
}

impl Mvn {
    /// The formula with simpler primitives.
    pub fn decompose(&self, g: &mut OpGraph, x: ValueId) -> GResult<ValueId> {
        let mean = g.reduce(ReduceOp::Mean, x, self.axes.clone(), true)?;
        let centered = g.sub(x, mean)?;
        let sq = g.mul(centered, centered)?;
        let var = g.reduce(ReduceOp::Mean, sq, self.axes.clone(), true)?;
        let ve = g.binary_scalar(BinaryOp::Add, var, self.eps.0)?;
        let sd = g.unary(UnaryOp::Sqrt, ve)?;
        g.div(centered, sd)
    }
}

impl Primitive for Mvn {
    fn label(&self) -> String {
        format!("MVN {:?}", self.axes)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "MVN")?;
        let rank = ins[0].1.len();
        if self.axes.is_empty()
            || self.axes.windows(2).any(|w| w[0] >= w[1])
            || self.axes.iter().any(|&a| a >= rank)
        {
            return Err(format!("bad axes {:?} for rank {rank}", self.axes));
        }
        Ok((DType::F32, ins[0].1.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mean_over = |v: &Array| {
            let mut m = v.clone();
            for &a in self.axes.iter().rev() {
                m = m.mean_axis(Axis(a)).ok_or("empty axis")?.insert_axis(Axis(a));
            }
            Ok::<_, String>(m)
        };
        let c = args[0] - &mean_over(args[0])?;
        let var = mean_over(&c.mapv(|v| v * v))?;
        Ok(c / var.mapv(|v| (v + f64::from(self.eps.0)).sqrt()))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let axes: Vec<i64> = self.axes.iter().map(|&a| a as i64).collect();
        let a = cx.i64s("MVN/axes", &axes);
        let data = vec![
            ("eps", format!("{}", self.eps.0)),
            ("normalize_variance", bool_attr(true)),
            ("eps_mode", "inside_sqrt".into()),
        ];
        cx.op("MVN", "opset6", data, &[ins[0], a])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let me = self.clone();
        cx.through(y, tin, |g, ins| me.decompose(g, ins[0]))
    }

    fn transpose(
        &self,
        _cx: &mut Lin,
        _y: ValueId,
        _ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        Ok(None)
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if self.axes.contains(&a) => Err("normalises over the batch axis".into()),
            a => Ok(a),
        }
    }

    fn simplify(&self, _g: &OpGraph, _ins: &[ValueId]) -> Option<Rewrite> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::eval;
    use crate::testing::{check_derivatives, inputs};

    #[test]
    fn the_value_is_the_decomposition() {
        let mvn = Mvn {
            axes: vec![1, 2],
            eps: F32(1e-3),
        };
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2), Some(3)]);
        let fused = g.mvn(x, mvn.axes.clone(), mvn.eps.0).unwrap();
        let parts = mvn.decompose(&mut g, x).unwrap();
        g.output("fused", fused);
        g.output("parts", parts);
        let out = eval(&g, &[inputs(&[2, 2, 3], 1)]).unwrap();
        for (a, b) in out[0].iter().zip(out[1].iter()) {
            assert!((a - b).abs() < 1e-12, "{a} vs {b}");
        }
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("mvn last axis", &[4], |g, x| g.mvn(x, vec![1], 1e-3).unwrap());
        check_derivatives("mvn two axes", &[2, 3], |g, x| {
            let s = g.mul(x, x).unwrap();
            g.mvn(s, vec![1, 2], 1e-2).unwrap()
        });
    }
}
