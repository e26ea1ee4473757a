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
/// reverse mode (so the transpose rules of what the JVP rules emit are checked too); then the
/// Taylor rules against the JVP rules nested, orders 1 to 4 (`check_taylor`).
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
    check_taylor(name, shape, &build);
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

/// A fixed direction in `[-1, 1)` for Taylor checks.
fn direction(shape: &[usize], salt: usize) -> Array {
    inputs(shape, salt + 50).mapv(|v| (v - 1.0) / 0.65)
}

/// The Taylor rules of the primitives `build` uses, against the JVP rules nested: along a
/// direction `v`, `k! c_k` must equal the k-th derivative of `s -> f(x + s v)` at 0 (the JVP
/// applied k times), k = 1..=4, for two directions at once; and collapsing the top order with
/// weights must give the weighted sum of the directions' top coefficients. Both graphs hold
/// their constants (weights, polynomial coefficients of the derivative towers) in f32 and fold
/// them in f32, so the relative tolerance is 1e-6 * 4^k at order k.
pub fn check_taylor(name: &str, shape: &[usize], build: impl Fn(&mut OpGraph, ValueId) -> ValueId) {
    use crate::autodiff::taylor::{full_coefficient, series, Directions};
    use crate::autodiff::Seeding;
    const K: usize = 4;
    let mut in_shape = vec![B];
    in_shape.extend_from_slice(shape);
    let xv = inputs(&in_shape, name.len());
    let dirs: Vec<Array> = (0..2).map(|r| direction(shape, r + name.len())).collect();
    let full_shape: Vec<Option<usize>> = std::iter::once(None)
        .chain(shape.iter().map(|&d| Some(d)))
        .collect();

    // Taylor mode, both directions in one pass; then collapsed with weights.
    let taylor = |collapse: Option<Vec<f32>>| -> Vec<Array> {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, full_shape.clone());
        let y = build(&mut g, x);
        g.output("y", y);
        let seeding = Seeding::new(&g, &[x]).unwrap();
        let rows = dirs
            .iter()
            .map(|d| d.iter().map(|&v| v as f32).collect())
            .collect();
        let spec = Directions {
            rows,
            order: K,
            collapse,
        };
        let s = series(&mut g, &seeding, &spec, &[y]).unwrap_or_else(|e| panic!("{name}: {e}"));
        for k in 1..=K {
            let c = s[0].get(k - 1).copied().flatten();
            let rows = if spec.collapse.is_some() && k == K {
                1
            } else {
                2
            };
            let v = full_coefficient(&mut g, c, rows, y).unwrap();
            g.output(&format!("c{k}"), v);
        }
        eval(&g, std::slice::from_ref(&xv)).unwrap()[1..].to_vec()
    };
    let coefs = taylor(None);

    // Nested JVPs along each direction.
    for (r, v) in dirs.iter().enumerate() {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, full_shape.clone());
        let s = g.parameter("s", DType::F32, vec![None, Some(1)]);
        let mut ones = vec![None];
        ones.extend(std::iter::repeat_n(Some(1), shape.len()));
        let sb = g.reshape(s, ones).unwrap();
        let vc = g.constant(Tensor::F32(v.mapv(|e| e as f32)));
        let sv = g.mul(sb, vc).unwrap();
        let z = g.add(x, sv).unwrap();
        let y = build(&mut g, z);
        g.output("y", y);
        let mut fact = 1.0;
        for k in 1..=K {
            let of = g.outputs.len() - 1;
            let of_name = g.outputs[of].0.clone();
            let sel = select(&g, &["s".to_string()], &[of_name]).unwrap();
            g = jacobian(&g, &sel, Mode::Forward).unwrap_or_else(|e| panic!("{name}: {e}"));
            fact *= k as f64;
            let zero = Array::zeros(IxDyn(&[B, 1]));
            let got = eval(&g, &[xv.clone(), zero]).unwrap();
            let nested = got.last().unwrap();
            let c = coefs[k - 1].index_axis(ndarray::Axis(0), r).to_owned();
            let want: Vec<f64> = c.iter().map(|v| v * fact).collect();
            let have: Vec<f64> = nested.iter().copied().collect();
            assert_eq!(have.len(), want.len(), "{name} order {k}");
            let tol = 1e-6 * 4f64.powi(k as i32);
            for (i, (a, b)) in have.iter().zip(&want).enumerate() {
                assert!(
                    (a - b).abs() <= tol * (1.0 + a.abs()),
                    "{name}: direction {r}, order {k}, element {i}: nested JVP {a}, Taylor {b}"
                );
            }
        }
    }

    // Collapsing the top order.
    let w = [0.75f32, -1.25];
    let collapsed = taylor(Some(w.to_vec()));
    let top = &coefs[K - 1];
    let want = &top.index_axis(ndarray::Axis(0), 0) * f64::from(w[0])
        + &top.index_axis(ndarray::Axis(0), 1) * f64::from(w[1]);
    let got = collapsed[K - 1].index_axis(ndarray::Axis(0), 0).to_owned();
    for (a, b) in got.iter().zip(want.iter()) {
        assert!(
            (a - b).abs() <= 2e-6 * (1.0 + b.abs()),
            "{name}: collapsed {a} vs {b}"
        );
    }
    // Lower orders are untouched by collapsing.
    assert_eq!(collapsed[0], coefs[0], "{name}: order 1 with collapsing");
}
