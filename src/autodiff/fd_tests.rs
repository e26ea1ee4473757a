//! Every primitive's JVP rule against central finite differences in f64 on the reference
//! interpreter: the Jacobian per sample, and the Hessian (the rules applied to the Jacobian
//! graph) against finite differences of the Jacobian.

use super::{hessian, jacobian, select, Mode};
use crate::interp::{eval, Array};
use crate::opgraph::{BinaryOp, CompareOp, DType, OpGraph, ReduceOp, Tensor, UnaryOp, ValueId};
use ndarray::{ArrayD, IxDyn};

const B: usize = 2;

/// Deterministic inputs in [0.35, 1.65): positive (log, sqrt, pow) and away from kinks.
fn inputs(shape: &[usize], salt: usize) -> Array {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let k = (i + salt * 7 + 3).wrapping_mul(2_654_435_761) % 1000;
            0.35 + k as f64 / 1000.0 * 1.3
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

fn constant(g: &mut OpGraph, shape: &[usize], salt: usize) -> ValueId {
    let a = inputs(shape, salt + 100).mapv(|v| (v - 1.0) as f32);
    g.constant(Tensor::F32(a))
}

/// Build `f(x)` with `x: [B, *shape]`, then compare our Jacobian (and Hessian) with central
/// differences of the forward graph (and of our Jacobian graph), in forward mode and in
/// reverse mode (so each primitive's transpose rule is checked too).
fn check(name: &str, shape: &[usize], build: impl Fn(&mut OpGraph, ValueId) -> ValueId) {
    let mut g = OpGraph::new();
    let mut full = vec![None];
    full.extend(shape.iter().map(|&d| Some(d)));
    let x = g.parameter("x", DType::F32, full);
    let y = build(&mut g, x);
    g.output("y", y);
    let mut in_shape = vec![B];
    in_shape.extend_from_slice(shape);
    let xv = inputs(&in_shape, name.len());
    let sel = select(&g, &[], &[]).unwrap();

    for mode in [Mode::Forward, Mode::Reverse] {
        let what = |kind: &str| format!("{kind} ({mode:?})");
        let jg = jacobian(&g, &sel, mode).unwrap_or_else(|e| panic!("{name}: {e}"));
        let jac = eval(&jg, std::slice::from_ref(&xv)).unwrap()[1].clone();
        let fd_j = central_diff(&g, &xv, 0);
        assert_close(name, &what("jacobian"), &jac, &fd_j, 1e-6);

        let hg = hessian(&g, &sel, mode).unwrap_or_else(|e| panic!("{name}: {e}"));
        let hess = eval(&hg, std::slice::from_ref(&xv)).unwrap()[2].clone();
        let fd_h = central_diff(&jg, &xv, 1);
        assert_close(name, &what("hessian"), &hess, &fd_h, 1e-5);
    }
}

/// d(output k of `g`)/dx per sample, `[B, *out, *in]`, by central differences.
fn central_diff(g: &OpGraph, x: &Array, k: usize) -> Array {
    let h = 1e-6;
    let base = eval(g, std::slice::from_ref(x)).unwrap()[k].clone();
    let per_in: usize = x.shape()[1..].iter().product();
    let per_out: usize = base.shape()[1..].iter().product();
    let mut out = vec![0.0; B * per_out * per_in];
    for j in 0..per_in {
        let mut plus = x.clone();
        let mut minus = x.clone();
        for b in 0..B {
            let xs = plus.as_slice_mut().unwrap();
            xs[b * per_in + j] += h;
            let xs = minus.as_slice_mut().unwrap();
            xs[b * per_in + j] -= h;
        }
        let fp = eval(g, &[plus]).unwrap()[k].clone();
        let fm = eval(g, &[minus]).unwrap()[k].clone();
        let (fp, fm) = (fp.as_standard_layout(), fm.as_standard_layout());
        let (fp, fm) = (fp.as_slice().unwrap(), fm.as_slice().unwrap());
        for b in 0..B {
            for o in 0..per_out {
                let i = b * per_out + o;
                out[(b * per_out + o) * per_in + j] = (fp[i] - fm[i]) / (2.0 * h);
            }
        }
    }
    let mut shape = base.shape().to_vec();
    shape.extend_from_slice(&x.shape()[1..]);
    ArrayD::from_shape_vec(IxDyn(&shape), out).unwrap()
}

fn assert_close(name: &str, what: &str, got: &Array, want: &Array, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{name} {what}: shapes");
    for (i, (a, b)) in got.iter().zip(want.iter()).enumerate() {
        assert!(
            (a - b).abs() <= tol * (1.0 + b.abs()),
            "{name} {what}: element {i}: rule {a}, finite differences {b}"
        );
    }
}

#[test]
fn unary_rules() {
    use UnaryOp::*;
    for op in [
        Neg, Abs, Sign, Exp, Log, Sqrt, Tanh, Sigmoid, SoftPlus, Erf, Sin, Cos, Tan, Atan, Sinh,
        Cosh, Floor,
    ] {
        check(&format!("{op:?}"), &[3], |g, x| g.unary(op, x).unwrap());
    }
    // Abs on the negative side.
    check("Abs(-x)", &[3], |g, x| {
        let n = g.unary(Neg, x).unwrap();
        g.unary(Abs, n).unwrap()
    });
}

#[test]
fn binary_rules_both_sides() {
    use BinaryOp::*;
    for op in [Add, Sub, Mul, Div, Pow, Max, Min] {
        // Both operands depend on x; exp(x) > x keeps max/min away from ties.
        check(&format!("{op:?}(x, e^x)"), &[3], |g, x| {
            let e = g.unary(UnaryOp::Exp, x).unwrap();
            g.binary(op, x, e).unwrap()
        });
        // A broadcast constant on the left.
        check(&format!("{op:?}(c, x)"), &[2, 3], |g, x| {
            let c = constant(g, &[3], 1);
            let c = g.unary(UnaryOp::Exp, c).unwrap();
            g.binary(op, c, x).unwrap()
        });
    }
    check("Mul(x, x)", &[3], |g, x| {
        let s = g.unary(UnaryOp::Sin, x).unwrap();
        g.mul(s, s).unwrap()
    });
}

#[test]
fn select_compare_and_convert_rules() {
    check("select", &[4], |g, x| {
        let one = g.scalar(1.0);
        let c = g.compare(CompareOp::Greater, x, one).unwrap();
        let sq = g.mul(x, x).unwrap();
        let e = g.unary(UnaryOp::Exp, x).unwrap();
        g.select(c, sq, e).unwrap()
    });
    check("select with a constant branch", &[4], |g, x| {
        let one = g.scalar(1.0);
        let c = g.compare(CompareOp::Less, x, one).unwrap();
        let sq = g.mul(x, x).unwrap();
        g.select(c, sq, one).unwrap()
    });
    check("convert f32", &[3], |g, x| {
        let s = g.mul(x, x).unwrap();
        g.convert(s, DType::F32).unwrap()
    });
}

#[test]
fn matmul_rules() {
    check("x @ W", &[2, 3], |g, x| {
        let w = constant(g, &[3, 4], 2);
        let s = g.unary(UnaryOp::Sin, x).unwrap();
        g.matmul(s, w).unwrap()
    });
    check("W @ x (batched rank 3)", &[3, 2], |g, x| {
        let w = constant(g, &[2, 3], 3);
        let s = g.mul(x, x).unwrap();
        g.matmul(w, s).unwrap()
    });
    check("x @ x^T", &[2, 3], |g, x| {
        let t = g.transpose(x, vec![0, 2, 1]).unwrap();
        g.matmul(x, t).unwrap()
    });
}

#[test]
fn structural_rules() {
    check("reshape", &[2, 3], |g, x| {
        let s = g.mul(x, x).unwrap();
        g.reshape(s, vec![None, Some(3), Some(2)]).unwrap()
    });
    check("transpose", &[2, 3], |g, x| {
        let s = g.unary(UnaryOp::Exp, x).unwrap();
        g.transpose(s, vec![0, 2, 1]).unwrap()
    });
    check("tile", &[2], |g, x| {
        let s = g.mul(x, x).unwrap();
        let e = g.expand_dims(s, 1).unwrap();
        g.tile(e, vec![1, 3, 1]).unwrap()
    });
    check("concat", &[2], |g, x| {
        let s = g.mul(x, x).unwrap();
        let c = constant(g, &[1, 2], 4);
        let cb = g.broadcast_like(c, x).unwrap();
        g.concat(&[s, x, cb], 1).unwrap()
    });
    check("slice", &[5], |g, x| {
        let s = g.mul(x, x).unwrap();
        g.slice(s, 1, 1, 5, 2).unwrap()
    });
    check("reverse", &[4], |g, x| {
        let s = g.unary(UnaryOp::Exp, x).unwrap();
        let r = g.reverse(s, 1).unwrap();
        g.mul(r, x).unwrap()
    });
    check("broadcast_like", &[1, 3], |g, x| {
        let s = g.mul(x, x).unwrap();
        let c = constant(g, &[2, 3], 5);
        let like = g.add(c, x).unwrap();
        g.broadcast_like(s, like).unwrap()
    });
}

#[test]
fn reduce_rules() {
    use ReduceOp::*;
    for op in [Sum, Mean, Max, Min, Prod] {
        for (axes, keep) in [(vec![1], false), (vec![2], true), (vec![1, 2], false)] {
            check(&format!("{op:?} {axes:?} keep={keep}"), &[2, 3], |g, x| {
                let s = g.mul(x, x).unwrap();
                g.reduce(op, s, axes.clone(), keep).unwrap()
            });
        }
    }
}

/// `Auto` builds the reverse-mode graph when outputs have fewer elements than inputs, and
/// the forward-mode graph otherwise.
#[test]
fn auto_mode_picks_reverse_only_for_fewer_outputs() {
    for (out_elems, want) in [(1, Mode::Reverse), (3, Mode::Forward)] {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
        let t = g.unary(UnaryOp::Tanh, x).unwrap();
        let y = if out_elems == 1 {
            g.reduce(ReduceOp::Sum, t, vec![1], true).unwrap()
        } else {
            t
        };
        g.output("y", y);
        let sel = select(&g, &[], &[]).unwrap();
        for build in [jacobian, hessian] {
            let auto = build(&g, &sel, Mode::Auto).unwrap();
            let other = if want == Mode::Reverse {
                Mode::Forward
            } else {
                Mode::Reverse
            };
            assert_eq!(auto, build(&g, &sel, want).unwrap(), "{out_elems} outputs");
            assert_ne!(auto, build(&g, &sel, other).unwrap(), "{out_elems} outputs");
        }
    }
}

/// An output whose size per sample is only known at run time has no Jacobian layout: a
/// clear error in every mode.
#[test]
fn outputs_of_dynamic_size_are_refused_by_name() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let w = g.parameter("w", DType::F32, vec![None, None]);
    let first = g.slice(x, 1, 0, 1, 1).unwrap();
    let y = g.mul(first, w).unwrap();
    g.output("y", y);
    let sel = select(&g, &["x".to_string()], &[]).unwrap();
    for mode in [Mode::Auto, Mode::Forward, Mode::Reverse] {
        let err = jacobian(&g, &sel, mode).unwrap_err().to_string();
        assert!(
            err.contains("output 'y'") && err.contains("unknown size"),
            "{err}"
        );
    }
}

#[test]
fn integer_inputs_are_not_differentiable() {
    let mut g = OpGraph::new();
    let ids = g.parameter("ids", DType::I64, vec![None, Some(3)]);
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let f = g.convert(ids, DType::F32).unwrap();
    let y = g.mul(f, x).unwrap();
    g.output("y", y);
    let err = select(&g, &["ids".to_string()], &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("'ids'") && err.contains("integer"), "{err}");
    // By default only the float input is differentiated.
    let sel = select(&g, &[], &[]).unwrap();
    assert_eq!(sel.wrt, vec![x]);
}

/// The derivative graph's size depends on the model, not on the number of input elements.
#[test]
fn graph_size_does_not_grow_with_the_input_size() {
    let size = |n: usize| {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(n)]);
        let w = constant(&mut g, &[n, 8], 1);
        let h = g.matmul(x, w).unwrap();
        let h = g.unary(UnaryOp::Tanh, h).unwrap();
        let v = constant(&mut g, &[8, 1], 2);
        let y = g.matmul(h, v).unwrap();
        g.output("y", y);
        let sel = select(&g, &[], &[]).unwrap();
        (
            jacobian(&g, &sel, Mode::Forward).unwrap().nodes.len(),
            hessian(&g, &sel, Mode::Forward).unwrap().nodes.len(),
        )
    };
    assert_eq!(size(2), size(50));
}
