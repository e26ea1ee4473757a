//! Properties of the derivative passes as a whole (each primitive's rules are tested in its
//! own file).

use super::{hessian, jacobian, select, Mode};
use crate::opgraph::{DType, OpGraph, ReduceOp, UnaryOp};
use crate::testing::constant;

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
