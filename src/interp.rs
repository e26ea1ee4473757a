//! A reference interpreter of the OpGraph in f64, for tests: it checks lowering against Keras'
//! numbers, the emitter against OpenVINO, and JVP rules against finite differences.
//! Booleans are 0.0 / 1.0; i64 values are exact for the small integers graphs use.

use crate::opgraph::{
    BinaryOp, ClassifyOp, CompareOp, DType, Node, Op, OpGraph, ReduceOp, UnaryOp,
};
use ndarray::{concatenate, ArrayD, Axis, IxDyn, Slice, Zip};

pub type Array = ArrayD<f64>;

/// Evaluate every node; `inputs` are in `graph.inputs` order.
pub fn eval_all(graph: &OpGraph, inputs: &[Array]) -> Result<Vec<Array>, String> {
    if inputs.len() != graph.inputs.len() {
        return Err(format!(
            "graph has {} inputs, {} given",
            graph.inputs.len(),
            inputs.len()
        ));
    }
    let mut values: Vec<Array> = Vec::with_capacity(graph.nodes.len());
    for (id, node) in graph.nodes.iter().enumerate() {
        let v = match &node.op {
            Op::Parameter { name } => {
                let k = graph.inputs.iter().position(|&p| p == id).unwrap();
                let x = inputs[k].clone();
                check_shape(&x, &node.shape).map_err(|e| format!("input {name}: {e}"))?;
                x
            }
            _ => {
                let args: Vec<&Array> = node.inputs.iter().map(|&i| &values[i]).collect();
                apply(node, &args).map_err(|e| format!("node {id} ({:?}): {e}", node.op))?
            }
        };
        check_shape(&v, &node.shape).map_err(|e| format!("node {id} ({:?}): {e}", node.op))?;
        values.push(v);
    }
    Ok(values)
}

/// Evaluate one non-parameter node on its argument values.
pub fn apply(node: &Node, args: &[&Array]) -> Result<Array, String> {
    let arg = |i: usize| args[i];
    Ok(match &node.op {
        Op::Parameter { name } => return Err(format!("parameter {name} has no rule")),
        Op::Constant(t) => t.to_f64(),
        Op::Unary(op) => arg(0).mapv(|x| unary(*op, x)),
        Op::Binary(op) => zip2(arg(0), arg(1), |a, b| binary(*op, a, b))?,
        Op::Compare(op) => zip2(arg(0), arg(1), |a, b| bool01(compare(*op, a, b)))?,
        Op::Classify(op) => arg(0).mapv(|x| {
            bool01(match op {
                ClassifyOp::IsNan => x.is_nan(),
                ClassifyOp::IsPosInf => x == f64::INFINITY,
                ClassifyOp::IsNegInf => x == f64::NEG_INFINITY,
            })
        }),
        Op::Select => select(arg(0), arg(1), arg(2))?,
        Op::MatMul => matmul(arg(0), arg(1))?,
        Op::Reshape { .. } => {
            let target = resolve_shape(&node.shape, arg(0).len())?;
            let x = arg(0).as_standard_layout().into_owned();
            x.into_shape_with_order(IxDyn(&target))
                .map_err(|e| format!("reshape: {e}"))?
        }
        Op::Transpose { perm } => arg(0).clone().permuted_axes(IxDyn(perm)),
        Op::Tile { repeats } => tile(arg(0), repeats)?,
        Op::Concat { axis } => {
            let views: Vec<_> = args.iter().map(|a| a.view()).collect();
            concatenate(Axis(*axis), &views).map_err(|e| format!("concat: {e}"))?
        }
        Op::Slice {
            axis,
            start,
            stop,
            step,
        } => arg(0)
            .slice_axis(
                Axis(*axis),
                Slice::new(*start as isize, Some(*stop as isize), *step as isize),
            )
            .to_owned(),
        Op::Reduce {
            op,
            axes,
            keep_dims,
        } => reduce(arg(0), *op, axes, *keep_dims),
        Op::Reverse { axis } => {
            let mut v = arg(0).clone();
            v.invert_axis(Axis(*axis));
            v
        }
        Op::BroadcastLike => {
            let shape = broadcast_shape(&[arg(0).shape(), arg(1).shape()])?;
            arg(0)
                .broadcast(IxDyn(&shape))
                .ok_or("broadcast failed")?
                .to_owned()
        }
        Op::Convert { to } => match to {
            DType::Bool => arg(0).mapv(|x| bool01(x != 0.0)),
            DType::I64 => arg(0).mapv(f64::trunc),
            DType::F32 => arg(0).clone(),
        },
    })
}

/// Evaluate the graph's outputs, in `graph.outputs` order.
pub fn eval(graph: &OpGraph, inputs: &[Array]) -> Result<Vec<Array>, String> {
    let values = eval_all(graph, inputs)?;
    Ok(graph
        .outputs
        .iter()
        .map(|(_, id)| values[*id].clone())
        .collect())
}

fn bool01(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

fn check_shape(x: &Array, shape: &[Option<usize>]) -> Result<(), String> {
    let ok = x.ndim() == shape.len()
        && x.shape()
            .iter()
            .zip(shape)
            .all(|(&a, b)| b.is_none_or(|b| a == b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "value of shape {:?} where {} was expected",
            x.shape(),
            crate::opgraph::shape_fmt(shape)
        ))
    }
}

fn resolve_shape(shape: &[Option<usize>], len: usize) -> Result<Vec<usize>, String> {
    let known: usize = shape.iter().flatten().product();
    shape
        .iter()
        .map(|d| match d {
            Some(v) => Ok(*v),
            None if known > 0 && len % known == 0 => Ok(len / known),
            None => Err(format!("cannot infer a dimension of {len} elements")),
        })
        .collect()
}

fn unary(op: UnaryOp, x: f64) -> f64 {
    match op {
        UnaryOp::Neg => -x,
        UnaryOp::Abs => x.abs(),
        UnaryOp::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x // 0 and NaN map to themselves, as OpenVINO's Sign does
            }
        }
        UnaryOp::Exp => x.exp(),
        UnaryOp::Log => x.ln(),
        UnaryOp::Sqrt => x.sqrt(),
        UnaryOp::Tanh => x.tanh(),
        UnaryOp::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        UnaryOp::SoftPlus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
        UnaryOp::Erf => erf(x),
        UnaryOp::Sin => x.sin(),
        UnaryOp::Cos => x.cos(),
        UnaryOp::Tan => x.tan(),
        UnaryOp::Atan => x.atan(),
        UnaryOp::Sinh => x.sinh(),
        UnaryOp::Cosh => x.cosh(),
        UnaryOp::Floor => x.floor(),
    }
}

fn binary(op: BinaryOp, a: f64, b: f64) -> f64 {
    match op {
        BinaryOp::Add => a + b,
        BinaryOp::Sub => a - b,
        BinaryOp::Mul => a * b,
        BinaryOp::Div => a / b,
        BinaryOp::Pow => a.powf(b),
        BinaryOp::Max => a.max(b),
        BinaryOp::Min => a.min(b),
    }
}

fn compare(op: CompareOp, a: f64, b: f64) -> bool {
    match op {
        CompareOp::Greater => a > b,
        CompareOp::GreaterEqual => a >= b,
        CompareOp::Less => a < b,
        CompareOp::LessEqual => a <= b,
        CompareOp::Equal => a == b,
    }
}

/// erf to near f64 precision (std has none): the Maclaurin series for |x| <= 2.5, the
/// continued fraction of erfc beyond, and +-1 past 6 where erf is 1 in f64.
fn erf(x: f64) -> f64 {
    if x.abs() >= 6.0 {
        return x.signum();
    }
    if x.abs() > 2.5 {
        return x.signum() * (1.0 - erfc_cf(x.abs()));
    }
    let mut sum = x;
    let mut term = x;
    let x2 = x * x;
    let mut n = 0.0;
    loop {
        n += 1.0;
        term *= -x2 / n;
        let add = term / (2.0 * n + 1.0);
        sum += add;
        if add.abs() < 1e-17 * sum.abs() {
            break;
        }
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// erfc by its continued fraction (Lentz), accurate for x > 2.
fn erfc_cf(x: f64) -> f64 {
    let tiny = 1e-300;
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..200 {
        let a = k as f64 / 2.0;
        d = x + a * d;
        c = x + a / c;
        d = 1.0 / if d.abs() < tiny { tiny } else { d };
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
}

fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1usize; rank];
    for s in shapes {
        for (i, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

fn zip2(a: &Array, b: &Array, f: impl Fn(f64, f64) -> f64) -> Result<Array, String> {
    let shape = broadcast_shape(&[a.shape(), b.shape()])?;
    let (av, bv) = (
        a.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
        b.broadcast(IxDyn(&shape)).ok_or("broadcast failed")?,
    );
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

fn select(c: &Array, a: &Array, b: &Array) -> Result<Array, String> {
    let shape = broadcast_shape(&[c.shape(), a.shape(), b.shape()])?;
    let s = IxDyn(&shape);
    let (cv, av, bv) = (
        c.broadcast(s.clone()).ok_or("broadcast failed")?,
        a.broadcast(s.clone()).ok_or("broadcast failed")?,
        b.broadcast(s).ok_or("broadcast failed")?,
    );
    Ok(Zip::from(&cv)
        .and(&av)
        .and(&bv)
        .map_collect(|&c, &x, &y| if c != 0.0 { x } else { y }))
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
    let stack = |x: &Array, r: usize, c: usize| -> Result<ndarray::Array3<f64>, String> {
        let full = x
            .broadcast(IxDyn(&[&lead[..], &[r, c]].concat()))
            .ok_or("broadcast failed")?;
        full.as_standard_layout()
            .into_owned()
            .into_shape_with_order((count, r, c))
            .map_err(|e| e.to_string())
    };
    let (sa, sb) = (stack(a, m, k)?, stack(b, k, n)?);
    let mut out = ndarray::Array3::<f64>::zeros((count, m, n));
    for i in 0..count {
        out.index_axis_mut(Axis(0), i)
            .assign(&sa.index_axis(Axis(0), i).dot(&sb.index_axis(Axis(0), i)));
    }
    out.into_shape_with_order(IxDyn(&[&lead[..], &[m, n]].concat()))
        .map_err(|e| e.to_string())
}

fn tile(x: &Array, repeats: &[usize]) -> Result<Array, String> {
    let mut out = x.clone();
    for (axis, &r) in repeats.iter().enumerate() {
        if r != 1 {
            let views: Vec<_> = (0..r).map(|_| out.view()).collect();
            out = concatenate(Axis(axis), &views).map_err(|e| e.to_string())?;
        }
    }
    Ok(out)
}

fn reduce(x: &Array, op: ReduceOp, axes: &[usize], keep_dims: bool) -> Array {
    let mut out = x.clone();
    for &a in axes.iter().rev() {
        let ax = Axis(a);
        let n = out.len_of(ax) as f64;
        out = match op {
            ReduceOp::Sum => out.sum_axis(ax),
            ReduceOp::Mean => out.sum_axis(ax) / n,
            ReduceOp::Max => out.fold_axis(ax, f64::NEG_INFINITY, |a, &b| a.max(b)),
            ReduceOp::Min => out.fold_axis(ax, f64::INFINITY, |a, &b| a.min(b)),
            ReduceOp::Prod => out.fold_axis(ax, 1.0, |a, &b| a * b),
        };
        if keep_dims {
            out = out.insert_axis(ax);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::opgraph::{DType, Tensor};
    use ndarray::array;

    #[test]
    fn erf_matches_known_values() {
        // Values from Abramowitz & Stegun table 7.1.
        for (x, e) in [
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (3.0, 0.999_977_909_503_001_4),
        ] {
            assert!((erf(x) - e).abs() < 1e-14, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + e).abs() < 1e-14);
        }
    }

    #[test]
    fn matmul_broadcasts_leading_dims() {
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
    fn reduce_and_reshape_with_dynamic_batch() {
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
    fn select_and_classify() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None]);
        let nan = g.classify(ClassifyOp::IsNan, x).unwrap();
        let zero = g.scalar(0.0);
        let y = g.select(nan, zero, x).unwrap();
        g.output("y", y);
        let out = eval(&g, &[array![1.0, f64::NAN, -2.0].into_dyn()]).unwrap();
        assert_eq!(out[0], array![1.0, 0.0, -2.0].into_dyn());
    }
}
