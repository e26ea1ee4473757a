//! Values with a short static leading axis: the directions of forward and Taylor mode
//! (`[R, B, ..]`, one row per tangent). OpenVINO's CPU plugin splits and concatenates along
//! the outermost axis in place, and fuses element-wise work on `[1, B, ..]` parts with what
//! surrounds it, where a `ReduceSum` over that axis is a kernel of its own; so sums over
//! directions, and in collapsed Taylor mode the products feeding them, are written one
//! direction at a time.

use crate::ir::{numpy_broadcast, LayerCx, PortRef};
use crate::opgraph::{GResult, OpGraph, Prim, Tensor, ValueId};

/// Leading axes at most this long are written one part at a time.
pub const MAX_PARTS: usize = 8;

/// The length of `dims`' leading axis when it is static and short enough to split (2 or more).
pub fn parts(dims: &[i64]) -> Option<usize> {
    let r = usize::try_from(*dims.first()?).ok()?;
    (2..=MAX_PARTS).contains(&r).then_some(r)
}

/// `x` split along its leading axis into `parts` parts (`Split`, in place on the CPU plugin).
pub fn split(cx: &mut LayerCx, suffix: &str, x: PortRef, parts: usize) -> Vec<PortRef> {
    let axis = cx.constant(
        &format!("{suffix}/axis"),
        &Tensor::I64(ndarray::arr0(0i64).into_dyn()),
    );
    let mut part = cx.port(x).clone();
    part.dims[0] = 1;
    let data = vec![("num_splits", parts.to_string())];
    cx.aux_outputs(
        suffix,
        "Split",
        "opset1",
        data,
        &[x, axis],
        vec![part; parts],
    )
}

/// The sum of `xs` (each of the node's shape) as a chain of `Add`s, the last one the node's
/// own layer.
pub fn sum(cx: &mut LayerCx, xs: &[PortRef]) -> PortRef {
    let mut acc = xs[0];
    for (k, &x) in xs[1..].iter().enumerate() {
        acc = if k + 2 == xs.len() {
            cx.op("Add", "opset1", numpy_broadcast(), &[acc, x])
        } else {
            let out = cx.out();
            cx.aux(
                &format!("Add.{k}"),
                "Add",
                "opset1",
                numpy_broadcast(),
                &[acc, x],
                out,
            )
        };
    }
    acc
}

/// How many element-wise ops deep [`part_of`] looks for parts: enough for the products of
/// Taylor coefficients up to order 4, and a bound on the work it repeats per part.
const PART_DEPTH: usize = 4;

/// Part `k` of `x` along its leading axis (`x` of rank `rank`): `x` itself when it has none
/// (length 1 or a lower rank: it broadcasts), the same element-wise op of its operands' parts
/// when `x` is one (so that `sum_r a_r * b_r` never materialises `a * b`), else a slice.
pub fn part_of(g: &mut OpGraph, x: ValueId, rank: usize, k: usize) -> GResult<ValueId> {
    part_within(g, x, rank, k, PART_DEPTH)
}

fn part_within(
    g: &mut OpGraph,
    x: ValueId,
    rank: usize,
    k: usize,
    depth: usize,
) -> GResult<ValueId> {
    let shape = g.shape(x);
    if shape.len() < rank || shape[0] == Some(1) {
        return Ok(x);
    }
    if let (Some(&Prim::Binary(op)), true) = (g.node(x).prim(), depth > 0) {
        let ins = g.node(x).inputs.clone();
        let a = part_within(g, ins[0], rank, k, depth - 1)?;
        let b = part_within(g, ins[1], rank, k, depth - 1)?;
        return g.binary(op, a, b);
    }
    g.slice(x, 0, k, k + 1, 1)
}

#[cfg(test)]
mod tests {
    use super::part_of;
    use crate::interp::eval;
    use crate::opgraph::{DType, OpGraph, Prim, UnaryOp};
    use ndarray::{array, s, Axis};

    #[test]
    fn parts_of_products_are_products_of_parts() {
        let mut g = OpGraph::new();
        let a = g.parameter("a", DType::F32, vec![Some(3), Some(2)]);
        let f = g.parameter("f", DType::F32, vec![Some(1), Some(2)]);
        let e = g.unary(UnaryOp::Exp, a).unwrap();
        let af = g.mul(a, f).unwrap();
        let y = g.add(af, e).unwrap();
        let parts: Vec<_> = (0..3).map(|k| part_of(&mut g, y, 2, k).unwrap()).collect();
        // f broadcasts: used whole; Exp is no element-wise binary: sliced.
        let p0 = g.node(parts[0]);
        assert!(matches!(p0.prim(), Some(Prim::Binary(_))));
        assert_eq!(g.shape(parts[0]), &vec![Some(1), Some(2)]);
        assert_eq!(part_of(&mut g, f, 2, 1).unwrap(), f);
        for (k, &p) in parts.iter().enumerate() {
            g.output(&format!("p{k}"), p);
        }
        g.output("y", y);
        let av = array![[0.5, -1.0], [2.0, 0.25], [-0.75, 1.5]].into_dyn();
        let fv = array![[3.0, -2.0]].into_dyn();
        let out = eval(&g, &[av, fv]).unwrap();
        let whole = &out[3];
        for (k, part) in out[..3].iter().enumerate() {
            let want = whole.slice(s![k..k + 1, ..]).to_owned().into_dyn();
            assert_eq!(part, &want, "part {k}");
        }
        assert_eq!(whole.len_of(Axis(0)), 3);
    }
}
