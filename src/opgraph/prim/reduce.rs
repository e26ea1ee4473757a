//! Reductions over a set of axes: sum, mean, max, min, product.

use super::{
    expect_f32, outer, Arity, Array, Batch, Jvp, Lin, Primitive, Rewrite, Series, Tan, Taylor,
};
use crate::ir::{bool_attr, LayerCx, PortRef};
use crate::opgraph::{BinaryOp, CompareOp, DType, GResult, OpGraph, Shape, ValueId};
use ndarray::Axis;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
}

/// `op` over `axes` (sorted, distinct), keeping them as size 1 when `keep_dims`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reduce {
    pub op: ReduceOp,
    pub axes: Vec<usize>,
    pub keep_dims: bool,
}

impl Reduce {
    /// The length of the leading axis when this is a kept-dims sum over it alone, short and
    /// static: the sum over directions that Taylor and forward mode make (see `outer`).
    fn outer_sum_parts(&self, cx: &LayerCx, x: PortRef) -> Option<usize> {
        let whole = self.op == ReduceOp::Sum && self.axes == [0] && self.keep_dims;
        whole.then(|| outer::parts(&cx.port(x).dims)).flatten()
    }
}

impl Primitive for Reduce {
    /// Over the input axes the reduced ones came from; without `keep_dims` the kept axes
    /// keep their order, renumbered.
    fn sink_transpose(&self, perm: &[usize]) -> Option<(super::Prim, Vec<usize>)> {
        let mut axes: Vec<usize> = self
            .axes
            .iter()
            .map(|&a| perm.get(a).copied())
            .collect::<Option<_>>()?;
        axes.sort_unstable();
        let out = if self.keep_dims {
            perm.to_vec()
        } else {
            let kept: Vec<usize> = (0..perm.len())
                .filter(|i| !self.axes.contains(i))
                .map(|i| perm[i])
                .collect();
            // Input axis `a` is output axis (number of kept input axes before it).
            kept.iter()
                .map(|&a| kept.iter().filter(|&&b| b < a).count())
                .collect()
        };
        Some((
            Reduce {
                axes,
                ..self.clone()
            }
            .into(),
            out,
        ))
    }

    fn label(&self) -> String {
        format!("Reduce{:?} {:?}", self.op, self.axes)
    }

    fn arity(&self) -> Arity {
        Arity::Exactly(1)
    }

    fn infer(&self, ins: &[(DType, &Shape)]) -> Result<(DType, Shape), String> {
        expect_f32(ins, &self.label())?;
        let from = ins[0].1;
        if self.axes.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!("axes {:?} are not sorted and distinct", self.axes));
        }
        if self.axes.iter().any(|&a| a >= from.len()) {
            return Err(format!(
                "axes {:?} out of range for rank {}",
                self.axes,
                from.len()
            ));
        }
        let shape = from
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| match (self.axes.contains(&i), self.keep_dims) {
                (false, _) => Some(d),
                (true, true) => Some(Some(1)),
                (true, false) => None,
            })
            .collect();
        Ok((DType::F32, shape))
    }

    fn eval(&self, args: &[&Array]) -> Result<Array, String> {
        let mut out = args[0].clone();
        for &a in self.axes.iter().rev() {
            let ax = Axis(a);
            let n = out.len_of(ax) as f64;
            out = match self.op {
                ReduceOp::Sum => out.sum_axis(ax),
                ReduceOp::Mean => out.sum_axis(ax) / n,
                ReduceOp::Max => out.fold_axis(ax, f64::NEG_INFINITY, |a, &b| a.max(b)),
                ReduceOp::Min => out.fold_axis(ax, f64::INFINITY, |a, &b| a.min(b)),
                ReduceOp::Prod => out.fold_axis(ax, 1.0, |a, &b| a * b),
            };
            if self.keep_dims {
                out = out.insert_axis(ax);
            }
        }
        Ok(out)
    }

    fn emit(&self, cx: &mut LayerCx, ins: &[PortRef]) -> PortRef {
        if let Some(parts) = self.outer_sum_parts(cx, ins[0]) {
            let slices = outer::split(cx, "Split", ins[0], parts);
            return outer::sum(cx, &slices);
        }
        let ty = match self.op {
            ReduceOp::Sum => "ReduceSum",
            ReduceOp::Mean => "ReduceMean",
            ReduceOp::Max => "ReduceMax",
            ReduceOp::Min => "ReduceMin",
            ReduceOp::Prod => "ReduceProd",
        };
        let axes: Vec<i64> = self.axes.iter().map(|&a| a as i64).collect();
        let a = cx.i64s(&format!("{ty}/axes"), &axes);
        let data = vec![("keep_dims", bool_attr(self.keep_dims))];
        cx.op(ty, "opset1", data, &[ins[0], a])
    }

    fn jvp(&self, cx: &mut Jvp, y: ValueId, tin: &[Tan]) -> GResult<Tan> {
        let x = cx.inputs(y)[0];
        let t = cx.full(tin[0].expect("a nonzero tangent"), x)?;
        let (axes, keep) = (&self.axes, self.keep_dims);
        let taxes: Vec<usize> = axes.iter().map(|a| a + 1).collect();
        let g = &mut *cx.g;
        Ok(Some(match self.op {
            ReduceOp::Sum | ReduceOp::Mean => g.reduce(self.op, t, taxes, keep)?,
            // Tangents of the locations equal to the result, averaged over ties.
            ReduceOp::Max | ReduceOp::Min => {
                let yk = if keep { y } else { keep_shape(g, y, x, axes)? };
                let hit = g.compare(CompareOp::Equal, x, yk)?;
                let loc = g.convert(hit, DType::F32)?;
                let counts = g.reduce(ReduceOp::Sum, loc, axes.clone(), keep)?;
                let tl = g.mul(t, loc)?;
                let s = g.reduce(ReduceOp::Sum, tl, taxes, keep)?;
                g.div(s, counts)?
            }
            ReduceOp::Prod => prod_jvp(g, t, x, y, axes)?,
        }))
    }

    /// Sum and mean are linear, max and min are once the primal fixes the winners; a product
    /// goes through the products of its slices.
    fn taylor(&self, cx: &mut Taylor, y: ValueId, tin: &[Series]) -> GResult<Series> {
        if self.op != ReduceOp::Prod {
            return cx.each_order(&self.clone().into(), y, tin);
        }
        let (axes, shape) = (self.axes.clone(), cx.g.shape(y).clone());
        cx.through(y, tin, |g, ins| {
            let flat = flatten_axes(g, ins[0], &axes)?;
            let n = g.shape(flat)[0]
                .ok_or_else(|| g.error("a product over an axis of unknown size"))?;
            let mut acc = g.slice(flat, 0, 0, 1, 1)?;
            for i in 1..n {
                let xi = g.slice(flat, 0, i, i + 1, 1)?;
                acc = g.mul(acc, xi)?;
            }
            g.reshape(acc, shape)
        })
    }

    /// Sum and mean spread the cotangent back over the reduced axes.
    fn transpose(
        &self,
        cx: &mut Lin,
        y: ValueId,
        ct: ValueId,
        _linear: &[bool],
    ) -> GResult<Option<Vec<(usize, ValueId)>>> {
        if !matches!(self.op, ReduceOp::Sum | ReduceOp::Mean) {
            return Ok(None);
        }
        let x = cx.inputs(y)[0];
        let f = cx.full_like(ct, y)?;
        let mut kept = vec![cx.g.shape(ct)[0]];
        for (i, &d) in cx.g.shape(x).iter().enumerate().skip(1) {
            kept.push(if self.axes.contains(&i) { Some(1) } else { d });
        }
        let k = if self.keep_dims {
            f
        } else {
            cx.g.reshape(f, kept)?
        };
        let mut spread = cx.g.broadcast_like(k, x)?;
        if self.op == ReduceOp::Mean {
            let mut count = 1;
            for &a in &self.axes {
                count *= cx.static_dim(x, a)?;
            }
            spread = cx.g.binary_scalar(BinaryOp::Div, spread, count as f32)?;
        }
        Ok(Some(vec![(0, spread)]))
    }

    fn batch_axis(&self, b: &Batch) -> Result<Option<usize>, String> {
        match b.first() {
            Some(a) if self.axes.contains(&a) => Err("reduces over the batch axis".into()),
            _ if self.keep_dims => Ok(b.first()),
            _ => Ok(b.after_removing(&self.axes)),
        }
    }

    /// Nothing to reduce (OpenVINO's CPU plugin refuses a Reduce with empty axes), or only
    /// axes of length 1: the input, or its reshape (which OpenVINO runs in place, where a
    /// reduction is a kernel).
    fn simplify(&self, g: &OpGraph, ins: &[ValueId]) -> Option<Rewrite> {
        let from = g.shape(ins[0]);
        if !self.axes.iter().all(|&a| from.get(a) == Some(&Some(1))) {
            return None;
        }
        if self.keep_dims || self.axes.is_empty() {
            return Some(Rewrite::Input(0));
        }
        let shape: Shape = (0..from.len())
            .filter(|a| !self.axes.contains(a))
            .map(|a| from[a])
            .collect();
        let unknown = shape.iter().filter(|d| d.is_none()).count();
        let reshape = super::Reshape { shape };
        (unknown <= 1).then(|| Rewrite::Prim(reshape.into(), ins.to_vec()))
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

/// `sum_i t_i * prod_{j != i} x_j`, the partial products built by slicing (exact at zeros,
/// like JAX's rule).
fn prod_jvp(
    g: &mut OpGraph,
    t: ValueId,
    x: ValueId,
    y: ValueId,
    axes: &[usize],
) -> GResult<ValueId> {
    let mut total: Option<ValueId> = None;
    let flat = flatten_axes(g, x, axes)?;
    let tflat = flatten_axes_tangent(g, t, axes)?;
    let n = g.shape(flat)[0].ok_or_else(|| g.error("a product over an axis of unknown size"))?;
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
    let tot = total.ok_or_else(|| g.error("a product over no elements"))?;
    let mut target = vec![g.shape(tot)[0]];
    target.extend_from_slice(g.shape(y));
    g.reshape(tot, target)
}

/// Move the reduced axes of `x` to the front and merge them: `[n, *rest]`.
fn flatten_axes(g: &mut OpGraph, x: ValueId, axes: &[usize]) -> GResult<ValueId> {
    let r = g.rank(x);
    let mut perm: Vec<usize> = axes.to_vec();
    perm.extend((0..r).filter(|a| !axes.contains(a)));
    let xt = g.transpose(x, perm)?;
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

#[cfg(test)]
mod tests {
    use super::ReduceOp;
    use crate::interp::{eval, Array};
    use crate::opgraph::{DType, OpGraph};
    use crate::testing::check_derivatives;
    use ndarray::{array, IxDyn};

    #[test]
    fn derivatives_match_finite_differences() {
        use ReduceOp::*;
        for op in [Sum, Mean, Max, Min, Prod] {
            for (axes, keep) in [(vec![1], false), (vec![2], true), (vec![1, 2], false)] {
                check_derivatives(&format!("{op:?} {axes:?} keep={keep}"), &[2, 3], |g, x| {
                    let s = g.mul(x, x).unwrap();
                    g.reduce(op, s, axes.clone(), keep).unwrap()
                });
            }
        }
    }

    #[test]
    fn reduce_after_reshape_with_dynamic_batch() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(2), Some(2)]);
        let r = g.reshape(x, vec![None, Some(4)]).unwrap();
        let s = g.reduce(ReduceOp::Max, r, vec![1], true).unwrap();
        g.output("s", s);
        let xin =
            Array::from_shape_vec(IxDyn(&[3, 2, 2]), (0..12).map(f64::from).collect()).unwrap();
        let out = eval(&g, &[xin]).unwrap();
        assert_eq!(out[0], array![[3.0], [7.0], [11.0]].into_dyn());
    }

    #[test]
    fn reductions_over_axes_of_length_one_are_reshapes() {
        use crate::opgraph::Prim;
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![Some(1), None, Some(1)]);
        let kept = g.reduce(ReduceOp::Sum, x, vec![0, 2], true).unwrap();
        assert_eq!(kept, x);
        let dropped = g.reduce(ReduceOp::Max, x, vec![0], false).unwrap();
        let real = g.reduce(ReduceOp::Sum, x, vec![1], false).unwrap();
        g.output("d", dropped);
        g.output("r", real);
        // Rewrites into other primitives happen when the graph is simplified.
        let h = crate::opgraph::simplify::simplify(&g).unwrap();
        let kind = |name: &str| {
            let v = h.outputs.iter().find(|(n, _)| n == name).unwrap().1;
            h.node(v).prim().cloned()
        };
        assert!(matches!(kind("d"), Some(Prim::Reshape(_))));
        assert!(matches!(kind("r"), Some(Prim::Reduce(_))));
        let xin = Array::from_shape_vec(IxDyn(&[1, 3, 1]), vec![1.0, -2.0, 5.0]).unwrap();
        let out = eval(&h, &[xin]).unwrap();
        assert_eq!(out[0], array![[1.0], [-2.0], [5.0]].into_dyn());
    }
}
