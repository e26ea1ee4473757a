//! Reshape to a target shape with at most one unknown dimension (`None`, inferred from the
//! element count; OpenVINO's `-1`).

use super::{Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Tan};
use crate::ir::{LayerCx, PortRef};
use crate::opgraph::{shape_fmt, DType, GResult, Kind, OpGraph, Prim, Shape, ValueId};
use crate::tensor::{infer_unknown, num_elements, static_product};
use ndarray::IxDyn;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reshape {
    pub shape: Shape,
}

impl Primitive for Reshape {
    no_transpose_sinking!();

    fn label(&self) -> String {
        format!("Reshape {}", shape_fmt(&self.shape))
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        let (dtype, from) = ins[0];
        let target = &self.shape;
        let unknown = target.iter().filter(|d| d.is_none()).count();
        if unknown > 1 {
            return Err(format!(
                "{} has more than one unknown dimension",
                shape_fmt(target)
            ));
        }
        let cannot = || {
            format!(
                "cannot reshape {} to {}",
                shape_fmt(from),
                shape_fmt(target)
            )
        };
        let p_out = static_product(target)
            .ok_or_else(|| format!("{}: too many elements", shape_fmt(target)))?;
        if let Some(n) = num_elements(from) {
            let dims = infer_unknown(target, n).map_err(|_| cannot())?;
            return Ok((dtype, dims.into_iter().map(Some).collect()));
        }
        // The input's size is only known at run time: the known parts must fit each other
        // whatever the batch (the unknown dimension of the target absorbs the rest).
        let p_in = static_product(from).ok_or_else(cannot)?;
        let fits = match unknown {
            0 => p_out > 0 && p_out % p_in.max(1) == 0,
            _ => p_out > 0 && p_in > 0 && (p_in % p_out == 0 || p_out % p_in == 0),
        };
        if !fits {
            return Err(cannot());
        }
        Ok((dtype, target.clone()))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let target = infer_unknown(&self.shape, args[0].len())?;
        let x = args[0].as_standard_layout().into_owned();
        x.into_shape_with_order(IxDyn(&target))
            .map_err(|e| format!("reshape: {e}"))
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let target: Vec<i64> = self
            .shape
            .iter()
            .map(|d| d.map_or(-1, |v| v as i64))
            .collect();
        let dtype = cx.out().dtype;
        cx.reshape(None, ins[0], target, dtype)
    }

    // The tangent is made full first, so its batch size is the primal's own.
    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let mut target = vec![cx.g.shape(t)[0]];
        target.extend_from_slice(&self.shape);
        Ok(Some(cx.g.reshape(t, target)?))
    }

    linear_taylor!();

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        let x = cx.inputs(y)[0];
        let f = cx.full_like(ct, y)?;
        let mut shape = vec![cx.g.shape(ct)[0]];
        shape.extend_from_slice(&cx.g.shape(x)[1..]);
        Ok(Some(vec![(0, cx.g.reshape(f, shape)?)]))
    }

    /// The samples stay apart only when the batch axis survives as an axis of its own: same
    /// size, and the same number of elements before and after it.
    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        let Some(p) = b.first() else { return Ok(None) };
        let (from, to) = (b.shapes[0], b.out);
        let before = static_product(&from[..p]).filter(|_| from[..p].iter().all(Option::is_some));
        let after =
            static_product(&from[p + 1..]).filter(|_| from[p + 1..].iter().all(Option::is_some));
        for j in 0..to.len() {
            if to[j] == from[p]
                && to[..j].iter().all(Option::is_some)
                && to[j + 1..].iter().all(Option::is_some)
                && before.is_some()
                && static_product(&to[..j]) == before
                && static_product(&to[j + 1..]) == after
            {
                return Ok(Some(j));
            }
        }
        Err("reshapes across the batch axis".into())
    }

    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        let x = ins[0];
        if g.shape(x) == &self.shape {
            return Some(Rewrite::Input(0));
        }
        // A reshape of a reshape is one reshape.
        match &g.node(x).kind {
            Kind::Prim(Prim::Reshape(_)) => Some(Rewrite::Prim(
                Prim::Reshape(self.clone()),
                g.node(x).inputs.clone(),
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::autodiff::{jacobian, select, Mode};
    use crate::opgraph::{DType, OpGraph};
    use crate::testing::check_derivatives;

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("reshape", &[2, 3], |g, x| {
            let s = g.mul(x, x).unwrap();
            g.reshape(s, vec![None, Some(3), Some(2)]).unwrap()
        });
    }

    #[test]
    fn impossible_targets_are_refused() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(6)]);
        for target in [
            vec![None, Some(1 << 31), Some(1 << 31)],
            vec![None, None],
            vec![None, Some(0)],
            vec![Some(3), Some(6_148_914_691_236_517_206)],
            vec![None, Some(4)],
        ] {
            assert!(g.reshape(x, target.clone()).is_err(), "{target:?}");
        }
        assert!(g.reshape(x, vec![None, Some(2), Some(3)]).is_ok());
        assert!(
            g.reshape(x, vec![None, Some(3)]).is_ok(),
            "merging samples converts"
        );
    }

    /// `keras.ops.reshape(x, (-1,))` on `[?, 4]` merges the samples: it converts, but it has
    /// no per-sample Jacobian.
    #[test]
    fn merging_the_batch_axis_is_refused_under_jacobian() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
        let flat = g.reshape(x, vec![None]).unwrap();
        let t = g.unary(crate::opgraph::UnaryOp::Tanh, flat).unwrap();
        g.output("y", t);
        let sel = select(&g, &[], &[]).unwrap();
        let err = jacobian(&g, &sel, Mode::Forward).unwrap_err().to_string();
        assert!(err.contains("reshapes across the batch axis"), "{err}");
    }
}
