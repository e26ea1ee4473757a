//! Test support shared by the primitives' own tests: each primitive's derivative rules are
//! checked against central finite differences of the reference interpreter in f64 (the
//! Jacobian per sample, and the Hessian: the rules applied to the Jacobian graph), in forward
//! and in reverse mode; transpose rules are also checked directly for adjointness.

use crate::autodiff::{hessian, jacobian, select, Mode};
use crate::interp::{eval, Array};
use crate::opgraph::prim::Tan;
use crate::opgraph::{DType, OpGraph, Tensor, ValueId};
use ndarray::{ArrayD, IxDyn};

const B: usize = 2;

/// Deterministic inputs in [0.35, 1.65): positive (log, sqrt, pow) and away from kinks.
pub fn inputs(shape: &[usize], salt: usize) -> Array {
    let n: usize = shape.iter().product();
    let data = (0..n)
        .map(|i| {
            let k = (i + salt * 7 + 3).wrapping_mul(2_654_435_761) % 1000;
            0.35 + k as f64 / 1000.0 * 1.3
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

/// A constant in [-0.65, 0.65).
pub fn constant(g: &mut OpGraph, shape: &[usize], salt: usize) -> ValueId {
    let a = inputs(shape, salt + 100).mapv(|v| (v - 1.0) as f32);
    g.constant(Tensor::F32(a))
}

/// Build `f(x)` with `x: [B, *shape]`, then compare our Jacobian (and Hessian) with central
/// differences of the forward graph (and of our Jacobian graph), in forward mode and in
/// reverse mode (so the transpose rules of what the JVP rules emit are checked too).
pub fn check_derivatives(
    name: &str,
    shape: &[usize],
    build: impl Fn(&mut OpGraph, ValueId) -> ValueId,
) {
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
            plus.as_slice_mut().unwrap()[b * per_in + j] += h;
            minus.as_slice_mut().unwrap()[b * per_in + j] -= h;
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

/// The transpose rules of an affine map, checked for adjointness: `build` makes `L(t)` from a
/// tangent-layout input `t: [1, *shape]` out of primitives that are linear in `t` (constants
/// may enter as the other operand). With `ct: [O, *out]`, the transposed graph must satisfy
/// `<ct[o], L(t) - L(0)> = <L^T(ct)[o], t>` for every row `o`.
pub fn check_transpose(
    name: &str,
    shape: &[usize],
    build: impl Fn(&mut OpGraph, ValueId) -> ValueId,
) {
    const O: usize = 2;
    let mut g = OpGraph::new();
    let mut tshape = vec![Some(1)];
    tshape.extend(shape.iter().map(|&d| Some(d)));
    let t = g.parameter("t", DType::F32, tshape);
    let n0 = g.nodes.len();
    let y = build(&mut g, t);
    let n1 = g.nodes.len();
    let mut linear = vec![false; n1];
    linear[t] = true;
    for id in n0..n1 {
        linear[id] = g.node(id).inputs.iter().any(|&i| linear[i]);
    }
    let mut ctshape = vec![O];
    ctshape.extend(g.shape(y)[1..].iter().map(|d| d.expect("static")));
    let ctv = inputs(&ctshape, 7).mapv(|v| v - 1.0);
    let ct_node = g.constant(Tensor::F32(ctv.mapv(|v| v as f32)));
    let mut ct: Vec<Tan> = vec![None; g.nodes.len()];
    ct[y] = Some(ct_node);
    crate::autodiff::reverse::backward(&mut g, n0..n1, &linear, &[], &mut ct)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let lt = ct[t].unwrap_or_else(|| panic!("{name}: no cotangent reached the input"));
    g.output("y", y);
    g.output("lt", lt);
    let mut tin_shape = vec![1];
    tin_shape.extend_from_slice(shape);
    let tv = inputs(&tin_shape, 3).mapv(|v| v - 1.0);
    let at_t = eval(&g, std::slice::from_ref(&tv)).unwrap();
    let at_0 = eval(&g, &[Array::zeros(IxDyn(&tin_shape))]).unwrap();
    let ly = &at_t[0] - &at_0[0];
    let lt = at_t[1].as_standard_layout().into_owned();
    let ly_flat: Vec<f64> = ly.iter().copied().collect();
    let t_flat: Vec<f64> = tv.iter().copied().collect();
    for o in 0..O {
        let ct_row = ctv.index_axis(ndarray::Axis(0), o);
        let lhs: f64 = ct_row.iter().zip(&ly_flat).map(|(a, b)| a * b).sum();
        let lt_row = lt.index_axis(ndarray::Axis(0), o);
        let lt_row = lt_row
            .broadcast(IxDyn(&tin_shape[1..]))
            .unwrap_or_else(|| panic!("{name}: cotangent of shape {:?}", lt.shape()));
        let rhs: f64 = lt_row.iter().zip(&t_flat).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() <= 1e-5 * (1.0 + lhs.abs()),
            "{name}: row {o}: <ct, L t> = {lhs} but <L^T ct, t> = {rhs}"
        );
    }
}
