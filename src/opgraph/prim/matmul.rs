//! NumPy `matmul`: `[..., m, k] @ [..., k, n]`, rank >= 2 both sides, leading dims broadcast.
//! Linear in either operand when the other is not a tangent.

use super::values::broadcast_shape;
use super::{expect_f32, Arity, Array, Batch, Jvp, Lin, Primitive, Series, Tan, Taylor};
use crate::ir::{bool_attr, LayerCx, PortRef};
use crate::opgraph::{broadcast_shapes, shape_fmt, DType, GResult, Shape, ValueId};
use ndarray::{Array3, Axis, IxDyn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MatMul;

impl Primitive for MatMul {
    no_transpose_sinking!();

    fn label(&self) -> String {
        "MatMul".into()
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(2)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, "MatMul")?;
        let (sa, sb) = (ins[0].1, ins[1].1);
        if sa.len() < 2 || sb.len() < 2 {
            return Err(format!(
                "needs rank >= 2 operands, got {} and {}",
                shape_fmt(sa),
                shape_fmt(sb)
            ));
        }
        let (m, k1) = (sa[sa.len() - 2], sa[sa.len() - 1]);
        let (k2, n) = (sb[sb.len() - 2], sb[sb.len() - 1]);
        if let (Some(x), Some(y)) = (k1, k2) {
            if x != y {
                return Err(format!(
                    "contraction mismatch: {} @ {}",
                    shape_fmt(sa),
                    shape_fmt(sb)
                ));
            }
        }
        let mut out = broadcast_shapes(&sa[..sa.len() - 2], &sb[..sb.len() - 2])?;
        out.push(m);
        out.push(n);
        Ok((DType::F32, out))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        matmul(args[0], args[1])
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        let data = vec![
            ("transpose_a", bool_attr(false)),
            ("transpose_b", bool_attr(false)),
        ];
        cx.op("MatMul", "opset1", data, ins)
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let ins = cx.inputs(y);
        let ta = cx.align_to(tin[0], y)?;
        let tb = cx.align_to(tin[1], y)?;
        let l = match ta {
            Some(t) => Some(cx.g.matmul(t, ins[1])?),
            None => None,
        };
        let r = match tb {
            Some(t) => Some(cx.g.matmul(ins[0], t)?),
            None => None,
        };
        cx.add(l, r)
    }

    /// Bilinear: Leibniz's rule with matrix products.
    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
        let ins = cx.inputs(y);
        cx.product(y, (ins[0], &tin[0]), (ins[1], &tin[1]), |g, p, q| {
            g.matmul(p, q)
        })
    }

    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if linear[0] == linear[1] {
            return Ok(None);
        }
        let ins = cx.inputs(y);
        Ok(Some(if linear[0] {
            let bt = cx.swap_last(ins[1])?;
            let m = cx.g.matmul(ct, bt)?;
            vec![(0, cx.unbroadcast(m, ins[0])?)]
        } else {
            let at = cx.swap_last(ins[0])?;
            let m = cx.g.matmul(at, ct)?;
            vec![(1, cx.unbroadcast(m, ins[1])?)]
        }))
    }

    /// Samples may sit in the leading (broadcast) axes of either side, in the rows of `a` or
    /// in the columns of `b`; never in the contracted axis.
    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        let r = b.out.len();
        let mut found = None;
        for (k, &axis) in b.axes.iter().enumerate() {
            let Some(p) = axis else { continue };
            let rk = b.shapes[k].len();
            let contracted = if k == 0 { rk - 1 } else { rk - 2 };
            if p == contracted {
                return Err("contracts the batch axis".into());
            }
            let pos = r - rk + p;
            if found.is_some_and(|f| f != pos) {
                return Err("multiplies samples with each other".into());
            }
            found = Some(pos);
        }
        Ok(found)
    }

    no_simplification!();
}

fn matmul(a: &Array, b: &Array) -> Result<Array, String> {
    let (ra, rb) = (a.ndim(), b.ndim());
    let (m, k) = (a.shape()[ra - 2], a.shape()[ra - 1]);
    let (k2, n) = (b.shape()[rb - 2], b.shape()[rb - 1]);
    if k != k2 {
        return Err(format!("matmul {:?} @ {:?}", a.shape(), b.shape()));
    }
    let lead = broadcast_shape(&[&a.shape()[..ra - 2], &b.shape()[..rb - 2]])?;
    let count: usize = lead.iter().product();
    // Broadcast both to [lead.., r, c], then view as a stack of `count` matrices.
    let stack = |x: &Array, r: usize, c: usize| -> Result<Array3<f64>, String> {
        let full = x
            .broadcast(IxDyn(&[&lead[..], &[r, c]].concat()))
            .ok_or("broadcast failed")?;
        full.as_standard_layout()
            .into_owned()
            .into_shape_with_order((count, r, c))
            .map_err(|e| e.to_string())
    };
    let (sa, sb) = (stack(a, m, k)?, stack(b, k, n)?);
    let mut out = Array3::<f64>::zeros((count, m, n));
    for i in 0..count {
        out.index_axis_mut(Axis(0), i)
            .assign(&sa.index_axis(Axis(0), i).dot(&sb.index_axis(Axis(0), i)));
    }
    out.into_shape_with_order(IxDyn(&[&lead[..], &[m, n]].concat()))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::interp::{eval, Array};
    use crate::opgraph::{DType, OpGraph, Tensor, UnaryOp};
    use crate::testing::{check_derivatives, constant};
    use ndarray::{array, IxDyn};

    #[test]
    fn leading_dims_broadcast() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2), Some(3)]);
        let w = g.constant(Tensor::F32(
            array![[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]].into_dyn(),
        ));
        let y = g.matmul(x, w).unwrap();
        g.output("y", y);
        let xin =
            Array::from_shape_vec(IxDyn(&[2, 2, 3]), (0..12).map(f64::from).collect()).unwrap();
        let out = eval(&g, &[xin]).unwrap();
        // [0,1,2] @ W = [13, 16]; last row [9,10,11] @ W = [94, 124]
        assert_eq!(out[0].shape(), &[2, 2, 2]);
        assert_eq!(out[0][[0, 0, 0]], 13.0);
        assert_eq!(out[0][[0, 0, 1]], 16.0);
        assert_eq!(out[0][[1, 1, 0]], 94.0);
        assert_eq!(out[0][[1, 1, 1]], 124.0);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        check_derivatives("x @ W", &[2, 3], |g, x| {
            let w = constant(g, &[3, 4], 2);
            let s = g.unary(UnaryOp::Sin, x).unwrap();
            g.matmul(s, w).unwrap()
        });
        check_derivatives("W @ x (batched rank 3)", &[3, 2], |g, x| {
            let w = constant(g, &[2, 3], 3);
            let s = g.mul(x, x).unwrap();
            g.matmul(w, s).unwrap()
        });
        check_derivatives("x @ x^T", &[2, 3], |g, x| {
            let t = g.transpose(x, vec![0, 2, 1]).unwrap();
            g.matmul(x, t).unwrap()
        });
    }
}
