//! Permute axes: output axis `i` is input axis `perm[i]`.

use super::{inverse_perm, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{shape_fmt, DType, GResult, Kind, OpGraph, Prim, Shape, ValueId};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Transpose {
    pub perm: Vec<usize>,
}

impl Transpose {
    fn is_identity(&self) -> bool {
        is_identity_perm(&self.perm)
    }
}

/// Whether `perm` leaves every axis in place.
pub fn is_identity_perm(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// The one permutation that `Transpose(Transpose(x, inner), outer)` is: `inner[outer[i]]`.
pub fn compose_perms(inner: &[usize], outer: &[usize]) -> Vec<usize> {
    outer.iter().map(|&q| inner[q]).collect()
}

impl Primitive for Transpose {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("Transpose {:?}", self.perm)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        let mut seen = vec![false; from.len()];
        let valid = self.perm.len() == from.len()
            && self
                .perm
                .iter()
                .all(|&p| p < from.len() && !std::mem::replace(&mut seen[p], true));
        if !valid {
            return Err(format!(
                "bad permutation {:?} for shape {}",
                self.perm,
                shape_fmt(from)
            ));
        }
        Ok((dtype, self.perm.iter().map(|&p| from[p]).collect()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        Ok(args[0].clone().permuted_axes(IxDyn(&self.perm)))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let perm: Vec<i64> = self.perm.iter().map(|&p| p as i64).collect();
        let p = cx.i64s("Transpose/perm", &perm);
        cx.op("Transpose", "opset1", vec![], &[ins[0], p])
    }

    fn jvp(&self, cx: &mut Jvp, _y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let t = tin[0].expect("a nonzero tangent");
        let mut p = vec![0];
        p.extend(self.perm.iter().map(|&a| a + 1));
        Ok(Some(cx.g.transpose(t, p)?))
    }

    linear_taylor!();

    /// Only permutations that keep the tangent axis first occur in linearized graphs.
    fn transpose(
        &self,
        cx: &mut Lin,
        _y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if self.perm[0] != 0 {
            return Ok(None);
        }
        Ok(Some(vec![(
            0,
            cx.g.transpose(ct, inverse_perm(&self.perm))?,
        )]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        Ok(b.first().map(|a| inverse_perm(&self.perm)[a]))
    }

    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        if self.is_identity() {
            return Some(Rewrite::Input(0));
        }
        // A transpose of a transpose is one transpose.
        match &g.node(ins[0]).kind {
            Kind::Prim(Prim::Transpose(inner)) => {
                let perm = compose_perms(&inner.perm, &self.perm);
                Some(Rewrite::Prim(
                    Prim::Transpose(Transpose { perm }),
                    g.node(ins[0]).inputs.clone(),
                ))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::opgraph::UnaryOp;
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("transpose", &[2, 3], |g, x| {
            let s = g.unary(UnaryOp::Exp, x).unwrap();
            g.transpose(s, vec![0, 2, 1]).unwrap()
        });
    }
}
