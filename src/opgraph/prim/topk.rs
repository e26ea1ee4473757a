//! The indices of the `k` largest (or smallest) entries along an axis, in order, ties broken
//! by the lower index (OpenVINO TopK-11 with `stable`): `argmax`/`argmin` (k = 1, the first
//! index of the extreme, as `jnp.argmax`) and `argsort` (k = n, smallest first, a stable sort
//! as `jnp.argsort`). The result is int32, so it has no tangent.

use super::{check_axis, expect_f32, Arity, Array, Batch, Jvp, Primitive, Tan};
use crate::ir::{bool_attr, LayerCx, Port, PortRef};
use crate::opgraph::{DType, GResult, Shape, Tensor, ValueId};
use ndarray::{ArrayD, Axis, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TopKIndices {
    pub axis: usize,
    pub k: usize,
    /// Largest first (argmax); smallest first otherwise (argmin, argsort).
    pub largest: bool,
}

impl Primitive for TopKIndices {
    no_transpose_sinking!();

    fn label(&self) -> String {
        let which = if self.largest { "largest" } else { "smallest" };
        format!("TopKIndices {} {which} axis {}", self.k, self.axis)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "TopKIndices")?;
        let s = ins[0].1;
        check_axis(self.axis, s.len(), "TopKIndices")?;
        match s[self.axis] {
            Some(n) if self.k >= 1 && self.k <= n => {}
            _ => {
                return Err(format!(
                    "k = {} on an axis of size {:?}",
                    self.k, s[self.axis]
                ))
            }
        }
        let mut shape = s.clone();
        shape[self.axis] = Some(self.k);
        Ok((DType::I32, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let x = args[0];
        let ax = Axis(self.axis);
        let mut shape = x.shape().to_vec();
        shape[self.axis] = self.k;
        let mut out = ArrayD::zeros(IxDyn(&shape));
        for (lane, mut dst) in x.lanes(ax).into_iter().zip(out.lanes_mut(ax)) {
            let mut order: Vec<usize> = (0..lane.len()).collect();
            // A stable sort keeps equal entries in index order.
            order.sort_by(|&a, &b| {
                let (p, q) = (lane[a], lane[b]);
                if self.largest {
                    q.total_cmp(&p)
                } else {
                    p.total_cmp(&q)
                }
            });
            for (d, &i) in dst.iter_mut().zip(&order) {
                *d = i as f64;
            }
        }
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let k = cx.constant("TopK/k", &Tensor::scalar_of(DType::I64, self.k as f64));
        let mode = if self.largest { "max" } else { "min" };
        let data = vec![
            ("axis", self.axis.to_string()),
            ("mode", mode.to_string()),
            ("sort", "value".to_string()),
            ("index_element_type", "i32".to_string()),
            ("stable", bool_attr(true)),
        ];
        let idx = cx.out();
        let values = Port {
            dtype: DType::F32,
            dims: idx.dims.clone(),
        };
        cx.op_with_outputs("TopK", "opset11", data, &[ins[0], k], vec![values, idx])[1]
    }

    fn jvp(&self, _cx: &mut Jvp, _y: ValueId, _tin: &[Tan]) -> GResult<Tan> {
        Ok(None)
    }

    // Integer indices, piecewise constant in the values: every coefficient is zero (the JVP
    // rule says so, order by order).
    linear_taylor!();

    not_linear!();

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if a == self.axis => Err("ranks entries across the batch axis".into()),
            a => Ok(a),
        }
    }

    no_simplification!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interp::eval;
    use crate::opgraph::OpGraph;
    use ndarray::array;

    #[test]
    fn ties_go_to_the_lower_index() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
        let arg = TopKIndices {
            axis: 1,
            k: 1,
            largest: true,
        };
        let sort = TopKIndices {
            axis: 1,
            k: 4,
            largest: false,
        };
        let a = g.apply(arg, vec![x]).unwrap();
        let s = g.apply(sort, vec![x]).unwrap();
        g.output("a", a);
        g.output("s", s);
        let out = eval(&g, &[array![[1.0, 3.0, 3.0, 1.0]].into_dyn()]).unwrap();
        assert_eq!(out[0], array![[1.0]].into_dyn());
        assert_eq!(out[1], array![[0.0, 3.0, 1.0, 2.0]].into_dyn());
    }

    /// The indices carry no tangent: gathering `sin(x)` at the indices of the two largest
    /// entries of `x` differentiates like a fixed gather (finite differences, then the Taylor
    /// rule, in which the indices' coefficients are all zero, against nested JVPs).
    #[test]
    fn derivatives_through_the_indices() {
        crate::testing::check_derivatives("topk indices", &[4], |g, x| {
            let s = g.unary(crate::opgraph::UnaryOp::Sin, x).unwrap();
            let top = TopKIndices {
                axis: 1,
                k: 2,
                largest: true,
            };
            let i = g.apply(top, vec![x]).unwrap();
            let p = crate::opgraph::prim::TakeAlong {
                axis: 1,
                fill: crate::opgraph::prim::F32(0.0),
            };
            g.apply(p, vec![s, i]).unwrap()
        });
    }
}
