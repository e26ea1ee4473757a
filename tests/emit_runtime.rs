//! Emitter + runtime, end to end: hand-built OpGraphs (dynamic batch unless stated), emitted as
//! IR, run by OpenVINO through `keras2ov::runtime`, compared with values computed here in
//! plain Rust. Tolerance: atol 1e-5, rtol 1e-4 (f32 inference) unless stated.
//!
//! These tests need the OpenVINO runtime library; without it they FAIL with the runtime's
//! message saying how to install it (`make setup`).

use std::path::PathBuf;
use std::process::Command;

use keras2ov::emit::{emit, EmitOptions};
use keras2ov::ir::Ir;
use keras2ov::opgraph::{
    BinaryOp, ClassifyOp, CompareOp, DType, OpGraph, ReduceOp, Tensor, UnaryOp, ValueId,
};
use keras2ov::runtime::{read_ir, PerformanceMode, Precision, Runtime, RuntimeError};
use ndarray::{arr1, ArrayD, Dimension, IxDyn};

const ATOL: f32 = 1e-5;
const RTOL: f32 = 1e-4;

fn runtime() -> Runtime {
    Runtime::new("CPU", Precision::F32).unwrap_or_else(|e| panic!("{e}"))
}

fn arr(shape: &[usize], data: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap()
}

/// Deterministic values in [lo, hi).
fn fill(shape: &[usize], lo: f32, hi: f32, seed: u32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(12345);
    let data = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            lo + (hi - lo) * ((s % 10_000) as f32 / 10_000.0)
        })
        .collect();
    arr(shape, data)
}

fn run_opts(
    g: &OpGraph,
    opts: &EmitOptions,
    inputs: &[(&str, ArrayD<f32>)],
) -> Vec<(String, ArrayD<f32>)> {
    let ir = emit(g, opts).unwrap();
    let mut rt = runtime();
    let mut c = rt
        .compile(&ir)
        .unwrap_or_else(|e| panic!("{e}\n--- IR ---\n{}", ir.xml));
    c.infer(inputs).unwrap_or_else(|e| panic!("{e}"))
}

fn run(g: &OpGraph, inputs: &[(&str, ArrayD<f32>)]) -> Vec<(String, ArrayD<f32>)> {
    run_opts(g, &EmitOptions::default(), inputs)
}

fn output<'a>(outs: &'a [(String, ArrayD<f32>)], name: &str) -> &'a ArrayD<f32> {
    &outs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no output {name:?}"))
        .1
}

fn assert_close_tol(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, atol: f32, rtol: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for ((idx, &g), &w) in got.indexed_iter().zip(want.iter()) {
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= atol + rtol * w.abs()
        };
        assert!(ok, "{what}: at {:?} got {g}, want {w}", idx.slice());
    }
}

fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_close_tol(what, got, want, ATOL, RTOL);
}

/// `f` element-wise, computed in f64.
fn map64(x: &ArrayD<f32>, f: impl Fn(f64) -> f64) -> ArrayD<f32> {
    x.mapv(|v| f(f64::from(v)) as f32)
}

/// erf by its Maclaurin series (|x| <= 3 here), in f64.
fn erf(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        term *= -x * x / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    2.0 / std::f64::consts::PI.sqrt() * sum
}

/// NumPy broadcasting of two arrays through `f`.
fn broadcast2(a: &ArrayD<f32>, b: &ArrayD<f32>, f: impl Fn(f32, f32) -> f32) -> ArrayD<f32> {
    let rank = a.ndim().max(b.ndim());
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (sa, sb) = (pad(a.shape()), pad(b.shape()));
    let shape: Vec<usize> = sa.iter().zip(&sb).map(|(&x, &y)| x.max(y)).collect();
    let a = a.clone().into_shape_with_order(IxDyn(&sa)).unwrap();
    let b = b.clone().into_shape_with_order(IxDyn(&sb)).unwrap();
    ArrayD::from_shape_fn(IxDyn(&shape), |idx| {
        let ia: Vec<usize> = (0..rank)
            .map(|k| if sa[k] == 1 { 0 } else { idx[k] })
            .collect();
        let ib: Vec<usize> = (0..rank)
            .map(|k| if sb[k] == 1 { 0 } else { idx[k] })
            .collect();
        f(a[IxDyn(&ia)], b[IxDyn(&ib)])
    })
}

fn matmul2(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f64;
            for l in 0..k {
                s += f64::from(a[i * k + l]) * f64::from(b[l * n + j]);
            }
            out[i * n + j] = s as f32;
        }
    }
    out
}

fn f32_const(g: &mut OpGraph, a: ArrayD<f32>) -> ValueId {
    g.constant(Tensor::F32(a))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn unary_ops() {
    use UnaryOp::*;
    type Case = (UnaryOp, &'static str, fn(f64) -> f64, f32, f32);
    let cases: [Case; 15] = [
        (Neg, "neg", |x| -x, -3.0, 3.0),
        (Abs, "abs", f64::abs, -3.0, 3.0),
        (Exp, "exp", f64::exp, -3.0, 3.0),
        (Log, "log", f64::ln, 0.05, 5.0),
        (Sqrt, "sqrt", f64::sqrt, 0.0, 5.0),
        (Tanh, "tanh", f64::tanh, -3.0, 3.0),
        (Sigmoid, "sigmoid", |x| 1.0 / (1.0 + (-x).exp()), -6.0, 6.0),
        (SoftPlus, "softplus", |x| x.exp().ln_1p(), -6.0, 6.0),
        (Erf, "erf", erf, -2.5, 2.5),
        (Sin, "sin", f64::sin, -4.0, 4.0),
        (Cos, "cos", f64::cos, -4.0, 4.0),
        (Tan, "tan", f64::tan, -1.2, 1.2),
        (Atan, "atan", f64::atan, -5.0, 5.0),
        (Sinh, "sinh", f64::sinh, -3.0, 3.0),
        (Cosh, "cosh", f64::cosh, -3.0, 3.0),
    ];
    let mut g = OpGraph::new();
    let mut inputs = Vec::new();
    let mut want = Vec::new();
    for (k, (op, name, f, lo, hi)) in cases.iter().enumerate() {
        let input = format!("x_{name}");
        let x = g.parameter(&input, DType::F32, vec![None, Some(7)]);
        let y = g.unary(*op, x).unwrap();
        g.output(name, y);
        let xv = fill(&[3, 7], *lo, *hi, k as u32);
        want.push((name.to_string(), map64(&xv, f)));
        inputs.push((input, xv));
    }
    let inputs: Vec<(&str, ArrayD<f32>)> = inputs
        .iter()
        .map(|(n, a)| (n.as_str(), a.clone()))
        .collect();
    let outs = run(&g, &inputs);
    assert_eq!(outs.len(), want.len());
    for ((gn, gv), (wn, wv)) in outs.iter().zip(&want) {
        assert_eq!(gn, wn, "outputs come back in model order");
        assert_close(gn, gv, wv);
    }
}

#[test]
fn binary_ops_with_numpy_broadcasting() {
    use BinaryOp::*;
    type Case = (BinaryOp, &'static str, fn(f32, f32) -> f32);
    let ops: [Case; 7] = [
        (Add, "add", |a, b| a + b),
        (Sub, "sub", |a, b| a - b),
        (Mul, "mul", |a, b| a * b),
        (Div, "div", |a, b| a / b),
        (Pow, "pow", |a, b| f64::from(a).powf(f64::from(b)) as f32),
        (Max, "max", f32::max),
        (Min, "min", f32::min),
    ];
    // a [?,1,3] against b [2,1]: result [?,2,3]; a against a constant [3] and a scalar.
    let mut g = OpGraph::new();
    let a = g.parameter("a", DType::F32, vec![None, Some(1), Some(3)]);
    let b = g.parameter("b", DType::F32, vec![Some(2), Some(1)]);
    let cv = arr(&[3], vec![0.5, 1.5, 2.5]);
    let av = fill(&[4, 1, 3], 0.5, 3.0, 1);
    let bv = fill(&[2, 1], 0.5, 2.0, 2);
    let mut want = Vec::new();
    for (op, name, f) in ops {
        let y = g.binary(op, a, b).unwrap();
        g.output(&format!("{name}_ab"), y);
        want.push((format!("{name}_ab"), broadcast2(&av, &bv, f)));
        let c = f32_const(&mut g, cv.clone());
        let y = g.binary(op, c, a).unwrap();
        g.output(&format!("{name}_ca"), y);
        want.push((format!("{name}_ca"), broadcast2(&cv, &av, f)));
        let y = g.binary_scalar(op, a, 1.5).unwrap();
        g.output(&format!("{name}_as"), y);
        want.push((
            format!("{name}_as"),
            broadcast2(&av, &arr(&[], vec![1.5]), f),
        ));
    }
    let outs = run(&g, &[("a", av.clone()), ("b", bv.clone())]);
    assert_eq!(output(&outs, "add_ab").shape(), &[4, 2, 3]);
    for (name, w) in &want {
        assert_close(name, output(&outs, name), w);
    }
}

#[test]
fn compare_convert_and_select() {
    use CompareOp::*;
    type Case = (CompareOp, &'static str, fn(f32, f32) -> bool);
    let ops: [Case; 5] = [
        (Greater, "gt", |a, b| a > b),
        (GreaterEqual, "ge", |a, b| a >= b),
        (Less, "lt", |a, b| a < b),
        (LessEqual, "le", |a, b| a <= b),
        (Equal, "eq", |a, b| a == b),
    ];
    let mut g = OpGraph::new();
    let a = g.parameter("a", DType::F32, vec![None, Some(4)]);
    let b = g.parameter("b", DType::F32, vec![Some(4)]);
    let av = arr(&[2, 4], vec![1.0, 2.0, 3.0, 4.0, 4.0, 3.0, 2.0, 1.0]);
    let bv = arr(&[4], vec![2.0, 2.0, 2.0, 5.0]);
    let mut want = Vec::new();
    for (op, name, f) in ops {
        let c = g.compare(op, a, b).unwrap();
        // bool read back directly (as 0/1)
        g.output(&format!("{name}_bool"), c);
        // bool -> f32 with Convert
        let cf = g.convert(c, DType::F32).unwrap();
        g.output(&format!("{name}_f32"), cf);
        // select(c, a, b) broadcasting b
        let s = g.select(c, a, b).unwrap();
        g.output(&format!("{name}_sel"), s);
        let mask = broadcast2(&av, &bv, |x, y| if f(x, y) { 1.0 } else { 0.0 });
        want.push((format!("{name}_bool"), mask.clone()));
        want.push((format!("{name}_f32"), mask));
        want.push((
            format!("{name}_sel"),
            broadcast2(&av, &bv, |x, y| if f(x, y) { x } else { y }),
        ));
    }
    // f32 -> i64 -> f32: OpenVINO truncates toward zero
    let i = g.convert(a, DType::I64).unwrap();
    let back = g.convert(i, DType::F32).unwrap();
    g.output("trunc", back);
    let tv = arr(&[2, 4], vec![2.7, -2.7, 2.5, -0.5, 0.0, 7.0, -7.9, 1.2]);
    want.push(("trunc".into(), tv.mapv(f32::trunc)));
    // the compare ops on `av`, the truncation on `tv`: run twice
    let outs = run(&g, &[("a", av.clone()), ("b", bv.clone())]);
    for (name, w) in want.iter().filter(|(n, _)| n != "trunc") {
        assert_close(name, output(&outs, name), w);
    }
    let outs = run(&g, &[("a", tv), ("b", bv)]);
    assert_close("trunc", output(&outs, "trunc"), &want.last().unwrap().1);
}

#[test]
fn classify_and_select_on_nan_and_inf() {
    let (nan, inf) = (f32::NAN, f32::INFINITY);
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let zero = g.scalar(0.0);
    let big = g.scalar(100.0);
    let small = g.scalar(-100.0);
    let isnan = g.classify(ClassifyOp::IsNan, x).unwrap();
    let ispos = g.classify(ClassifyOp::IsPosInf, x).unwrap();
    let isneg = g.classify(ClassifyOp::IsNegInf, x).unwrap();
    let y = g.select(isnan, zero, x).unwrap();
    let y = g.select(ispos, big, y).unwrap();
    let y = g.select(isneg, small, y).unwrap();
    g.output("clean", y);
    g.output("isnan", isnan);
    g.output("isposinf", ispos);
    g.output("isneginf", isneg);
    // NaN passes through arithmetic untouched
    let passthrough = g.binary_scalar(BinaryOp::Mul, x, 2.0).unwrap();
    g.output("twice", passthrough);
    let xv = arr(&[2, 3], vec![1.5, nan, inf, -inf, -2.0, 0.0]);
    let outs = run(&g, &[("x", xv.clone())]);
    let flag = |f: fn(f32) -> bool| xv.mapv(|v| if f(v) { 1.0 } else { 0.0 });
    assert_close(
        "clean",
        output(&outs, "clean"),
        &arr(&[2, 3], vec![1.5, 0.0, 100.0, -100.0, -2.0, 0.0]),
    );
    assert_close("isnan", output(&outs, "isnan"), &flag(f32::is_nan));
    assert_close(
        "isposinf",
        output(&outs, "isposinf"),
        &flag(|v| v == f32::INFINITY),
    );
    assert_close(
        "isneginf",
        output(&outs, "isneginf"),
        &flag(|v| v == f32::NEG_INFINITY),
    );
    assert_close("twice", output(&outs, "twice"), &xv.mapv(|v| v * 2.0));
}

#[test]
fn matmul_rank2_batched_and_broadcast() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let a = g.parameter("a", DType::F32, vec![None, Some(2), Some(3)]);
    let b = g.parameter("b", DType::F32, vec![None, Some(3), Some(4)]);
    let wv = fill(&[3, 4], -1.0, 1.0, 7);
    let w = f32_const(&mut g, wv.clone());
    let y2 = g.matmul(x, w).unwrap();
    g.output("rank2", y2);
    let y3 = g.matmul(a, b).unwrap();
    g.output("batched", y3);
    let yb = g.matmul(a, w).unwrap();
    g.output("broadcast", yb);

    let n = 3;
    let xv = fill(&[n, 3], -1.0, 1.0, 1);
    let av = fill(&[n, 2, 3], -1.0, 1.0, 2);
    let bv = fill(&[n, 3, 4], -1.0, 1.0, 3);
    let outs = run(
        &g,
        &[("x", xv.clone()), ("a", av.clone()), ("b", bv.clone())],
    );
    let (xs, ws) = (xv.as_slice().unwrap(), wv.as_slice().unwrap());
    assert_close(
        "rank2",
        output(&outs, "rank2"),
        &arr(&[n, 4], matmul2(xs, ws, n, 3, 4)),
    );
    let (as_, bs) = (av.as_slice().unwrap(), bv.as_slice().unwrap());
    let mut batched = Vec::new();
    let mut bcast = Vec::new();
    for i in 0..n {
        batched.extend(matmul2(&as_[i * 6..][..6], &bs[i * 12..][..12], 2, 3, 4));
        bcast.extend(matmul2(&as_[i * 6..][..6], ws, 2, 3, 4));
    }
    assert_close(
        "batched",
        output(&outs, "batched"),
        &arr(&[n, 2, 4], batched),
    );
    assert_close(
        "broadcast",
        output(&outs, "broadcast"),
        &arr(&[n, 2, 4], bcast),
    );
}

#[test]
fn reshape_with_dynamic_batch_at_two_batch_sizes() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(6)]);
    let r = g.reshape(x, vec![None, Some(2), Some(3)]).unwrap();
    let flat = g.reshape(r, vec![None]).unwrap();
    let two = g.reshape(flat, vec![None, Some(3)]).unwrap();
    g.output("r", r);
    g.output("flat", flat);
    g.output("two", two);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let mut rt = runtime();
    let mut c = rt.compile(&ir).unwrap();
    assert_eq!(c.inputs()[0].shape, vec![None, Some(6)]);
    for n in [1usize, 4] {
        let xv = fill(&[n, 6], -1.0, 1.0, n as u32);
        let data = xv.as_slice().unwrap().to_vec();
        let outs = c.infer(&[("x", xv)]).unwrap();
        assert_close("r", output(&outs, "r"), &arr(&[n, 2, 3], data.clone()));
        assert_close("flat", output(&outs, "flat"), &arr(&[6 * n], data.clone()));
        assert_close("two", output(&outs, "two"), &arr(&[2 * n, 3], data));
    }
}

#[test]
fn slice_with_step_and_on_the_batch_axis() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(10)]);
    let s = g.slice(x, 1, 1, 9, 3).unwrap(); // columns 1, 4, 7
    g.output("step", s);
    let rows = g.slice(x, 0, 1, 3, 1).unwrap(); // rows 1..3
    g.output("rows", rows);
    let n = 4;
    let xv = arr(&[n, 10], (0..n * 10).map(|v| v as f32).collect());
    let outs = run(&g, &[("x", xv.clone())]);
    let want_step = ArrayD::from_shape_fn(IxDyn(&[n, 3]), |i| xv[[i[0], 1 + 3 * i[1]]]);
    assert_close("step", output(&outs, "step"), &want_step);
    let want_rows = ArrayD::from_shape_fn(IxDyn(&[2, 10]), |i| xv[[1 + i[0], i[1]]]);
    assert_close("rows", output(&outs, "rows"), &want_rows);
}

#[test]
fn reduce_with_and_without_keep_dims() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3), Some(4)]);
    let ops: [(ReduceOp, &str); 5] = [
        (ReduceOp::Sum, "sum"),
        (ReduceOp::Mean, "mean"),
        (ReduceOp::Max, "max"),
        (ReduceOp::Min, "min"),
        (ReduceOp::Prod, "prod"),
    ];
    for (op, name) in ops {
        let k = g.reduce(op, x, vec![1], true).unwrap();
        g.output(&format!("{name}_keep"), k);
        let d = g.reduce(op, x, vec![1, 2], false).unwrap();
        g.output(&format!("{name}_drop"), d);
    }
    let all = g.reduce(ReduceOp::Sum, x, vec![0, 1, 2], false).unwrap();
    g.output("total", all);
    let n = 2;
    let xv = fill(&[n, 3, 4], 0.5, 1.5, 9);
    let outs = run(&g, &[("x", xv.clone())]);
    let fold = |vals: Vec<f64>, op: ReduceOp| -> f32 {
        let r = match op {
            ReduceOp::Sum => vals.iter().sum(),
            ReduceOp::Mean => vals.iter().sum::<f64>() / vals.len() as f64,
            ReduceOp::Max => vals.iter().copied().fold(f64::MIN, f64::max),
            ReduceOp::Min => vals.iter().copied().fold(f64::MAX, f64::min),
            ReduceOp::Prod => vals.iter().product(),
        };
        r as f32
    };
    for (op, name) in ops {
        let keep = ArrayD::from_shape_fn(IxDyn(&[n, 1, 4]), |i| {
            fold((0..3).map(|j| f64::from(xv[[i[0], j, i[2]]])).collect(), op)
        });
        assert_close(
            &format!("{name}_keep"),
            output(&outs, &format!("{name}_keep")),
            &keep,
        );
        let drop = ArrayD::from_shape_fn(IxDyn(&[n]), |i| {
            fold(
                (0..12)
                    .map(|j| f64::from(xv[[i[0], j / 4, j % 4]]))
                    .collect(),
                op,
            )
        });
        assert_close(
            &format!("{name}_drop"),
            output(&outs, &format!("{name}_drop")),
            &drop,
        );
    }
    let total: f64 = xv.iter().map(|&v| f64::from(v)).sum();
    assert_close(
        "total",
        output(&outs, "total"),
        &arr(&[], vec![total as f32]),
    );
}

#[test]
fn concat_tile_transpose() {
    let mut g = OpGraph::new();
    let a = g.parameter("a", DType::F32, vec![None, Some(2)]);
    let b = g.parameter("b", DType::F32, vec![None, Some(3)]);
    let e = g.unary(UnaryOp::Exp, a).unwrap();
    let c = g.concat(&[a, b, e], 1).unwrap();
    g.output("concat", c);
    let t = g.tile(a, vec![2, 3]).unwrap();
    g.output("tile", t);
    let r = g.reshape(c, vec![None, Some(7), Some(1)]).unwrap();
    let p = g.transpose(r, vec![2, 0, 1]).unwrap();
    g.output("transpose", p);
    let n = 3;
    let av = fill(&[n, 2], -1.0, 1.0, 1);
    let bv = fill(&[n, 3], -1.0, 1.0, 2);
    let outs = run(&g, &[("a", av.clone()), ("b", bv.clone())]);
    let cat = ArrayD::from_shape_fn(IxDyn(&[n, 7]), |i| match i[1] {
        0..2 => av[[i[0], i[1]]],
        2..5 => bv[[i[0], i[1] - 2]],
        k => av[[i[0], k - 5]].exp(),
    });
    assert_close("concat", output(&outs, "concat"), &cat);
    let tile = ArrayD::from_shape_fn(IxDyn(&[2 * n, 6]), |i| av[[i[0] % n, i[1] % 2]]);
    assert_close("tile", output(&outs, "tile"), &tile);
    let tr = ArrayD::from_shape_fn(IxDyn(&[1, n, 7]), |i| cat[[i[1], i[2]]]);
    assert_close("transpose", output(&outs, "transpose"), &tr);
}

#[test]
fn output_names_shared_values_and_inputs_as_outputs() {
    let mut g = OpGraph::new();
    let u = g.parameter("u", DType::F32, vec![None, Some(2)]);
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let s = g.add(u, x).unwrap();
    let t = g.unary(UnaryOp::Tanh, s).unwrap();
    g.output("jacobian/u/x", t);
    g.output("same value, other name", t);

    // "x" as an output name collides with the input "x": rejected
    let mut bad = g.clone();
    bad.output("x", x);
    let err = emit(&bad, &EmitOptions::default()).unwrap_err();
    assert!(err.to_string().contains("\"x\""), "{err}");

    g.output("x_echo", x);
    let k = g.scalar(3.0);
    g.output("three", k);
    let uv = fill(&[2, 2], -1.0, 1.0, 1);
    let xv = fill(&[2, 2], -1.0, 1.0, 2);
    // inputs given in any order
    let outs = run(&g, &[("x", xv.clone()), ("u", uv.clone())]);
    let want = broadcast2(&uv, &xv, |a, b| (a + b).tanh());
    assert_close("jac", output(&outs, "jacobian/u/x"), &want);
    assert_close("other", output(&outs, "same value, other name"), &want);
    assert_close("echo", output(&outs, "x_echo"), &xv);
    assert_close("three", output(&outs, "three"), &arr(&[], vec![3.0]));
    let names: Vec<&str> = outs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["jacobian/u/x", "same value, other name", "x_echo", "three"]
    );
    // the inputs kept their names
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let info = runtime().model_info(&ir).unwrap();
    let ins: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(ins, ["u", "x"]);
}

#[test]
fn static_batch_and_input_errors() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
    let wv = fill(&[4, 2], -1.0, 1.0, 3);
    let w = f32_const(&mut g, wv.clone());
    let y = g.matmul(x, w).unwrap();
    let f = g.reshape(y, vec![None]).unwrap();
    g.output("y", f);
    let opts = EmitOptions {
        batch: Some(3),
        model_name: "static".into(),
        ..Default::default()
    };
    let ir = emit(&g, &opts).unwrap();
    let mut rt = runtime();
    let info = rt.model_info(&ir).unwrap();
    assert_eq!(info.inputs[0].shape, vec![Some(3), Some(4)]);
    assert_eq!(info.outputs[0].shape, vec![Some(6)]);
    let mut c = rt.compile(&ir).unwrap();
    let xv = fill(&[3, 4], -1.0, 1.0, 4);
    let outs = c.infer(&[("x", xv.clone())]).unwrap();
    let want = matmul2(xv.as_slice().unwrap(), wv.as_slice().unwrap(), 3, 4, 2);
    assert_close("y", output(&outs, "y"), &arr(&[6], want));

    // wrong batch for a static model: a clear error naming the tensor
    let err = c.infer(&[("x", fill(&[2, 4], 0.0, 1.0, 1))]).unwrap_err();
    assert!(matches!(err, RuntimeError::Input(_)), "{err}");
    assert!(
        err.to_string().contains("\"x\"") && err.to_string().contains("[3,4]"),
        "{err}"
    );
    let err = c.infer(&[("nope", xv.clone())]).unwrap_err();
    assert!(
        err.to_string().contains("\"nope\"") && err.to_string().contains('x'),
        "{err}"
    );
    let err = c.infer::<&str, ndarray::ArrayD<f32>>(&[]).unwrap_err();
    assert!(
        err.to_string().contains("missing") && err.to_string().contains('x'),
        "{err}"
    );
    let err = c.infer(&[("x", xv.clone()), ("x", xv)]).unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
}

#[test]
fn shared_constants_repeated_runs_and_precision() {
    // One weight feeding a MatMul and a ReduceSum, one vector feeding an Add and two Multiplies
    // (see the notes: each consumer gets its own Const layer).
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let wv = fill(&[3, 3], -1.0, 1.0, 5);
    let vv = arr(&[3], vec![0.5, -1.0, 2.0]);
    let w = f32_const(&mut g, wv.clone());
    let v = f32_const(&mut g, vv.clone());
    let m = g.matmul(x, w).unwrap();
    let a = g.add(m, v).unwrap();
    let a = g.mul(a, v).unwrap();
    let xv_ = g.mul(x, v).unwrap();
    let o = g.add(a, xv_).unwrap();
    let cs = g.reduce(ReduceOp::Sum, w, vec![0], false).unwrap();
    let o = g.add(o, cs).unwrap();
    g.output("o", o);
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let mut rt = runtime();
    let mut c = rt.compile(&ir).unwrap();
    assert_eq!(c.get_property("INFERENCE_PRECISION_HINT").unwrap(), "f32");
    let n = 3;
    let xv = fill(&[n, 3], -1.0, 1.0, 6);
    let mm = matmul2(xv.as_slice().unwrap(), wv.as_slice().unwrap(), n, 3, 3);
    let want = ArrayD::from_shape_fn(IxDyn(&[n, 3]), |i| {
        let (r, k) = (i[0], i[1]);
        let colsum: f32 = (0..3).map(|j| wv[[j, k]]).sum();
        (mm[r * 3 + k] + vv[k]) * vv[k] + xv[[r, k]] * vv[k] + colsum
    });
    // pre-set inputs once, run repeatedly on the same request
    let req = c.request();
    req.set_input("x", xv.view()).unwrap();
    for _ in 0..3 {
        req.run().unwrap();
        let outs = req.read_outputs().unwrap();
        assert_close("o", output(&outs, "o"), &want);
    }
    // a second request, run asynchronously
    let mut r2 = c.create_request().unwrap();
    r2.set_input("x", xv.view()).unwrap();
    r2.start().unwrap();
    r2.wait().unwrap();
    assert_close("o async", output(&r2.read_outputs().unwrap(), "o"), &want);
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn small_model() -> (OpGraph, Vec<(&'static str, ArrayD<f32>)>) {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(3)]);
    let w = f32_const(&mut g, fill(&[3, 2], -1.0, 1.0, 8));
    let b = f32_const(&mut g, arr1(&[0.5f32, -0.5]).into_dyn());
    let h = g.matmul(x, w).unwrap();
    let h = g.add(h, b).unwrap();
    let y = g.unary(UnaryOp::Sigmoid, h).unwrap();
    g.output("jacobian/u/x", y);
    let s = g.reduce(ReduceOp::Sum, y, vec![1], true).unwrap();
    g.output("sum,all", s);
    (g, vec![("x", fill(&[4, 3], -2.0, 2.0, 9))])
}

#[test]
fn ir_written_to_disk_reads_back() {
    let (g, inputs) = small_model();
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("model.xml");
    ir.write(&xml).unwrap();
    let back: Ir = read_ir(&xml).unwrap();
    assert_eq!(back, ir);
    let mut rt = runtime();
    let info = rt.model_info(&back).unwrap();
    assert_eq!(info.inputs.len(), 1);
    assert_eq!(info.inputs[0].name, "x");
    assert_eq!(info.inputs[0].shape, vec![None, Some(3)]);
    assert_eq!(info.inputs[0].element_type, "f32");
    let outs: Vec<&str> = info.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(outs, ["jacobian/u/x", "sum,all"]);
    let a = rt.compile(&ir).unwrap().infer(&inputs).unwrap();
    let b = rt.compile(&back).unwrap().infer(&inputs).unwrap();
    assert_eq!(a, b);
    assert!(read_ir(dir.path().join("missing.xml")).is_err());
}

/// The Python OpenVINO runtime loads our IR too and computes the same numbers.
#[test]
fn python_openvino_reads_our_ir() {
    let python = manifest().join(".venv/bin/python");
    if !python.exists() {
        println!(
            "SKIPPED python_openvino_reads_our_ir: {} does not exist (run `make setup`)",
            python.display()
        );
        return;
    }
    let (g, inputs) = small_model();
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("model.xml");
    ir.write(&xml).unwrap();
    let in_npz = dir.path().join("in.npz");
    let out_npz = dir.path().join("out.npz");
    {
        let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&in_npz).unwrap());
        for (n, a) in &inputs {
            w.add_array(*n, a).unwrap();
        }
        w.finish().unwrap();
    }
    let script = manifest().join("tools/check_ir.py");
    let out = Command::new(&python)
        .arg(&script)
        .arg(&xml)
        .arg("--inputs")
        .arg(&in_npz)
        .arg("--outputs")
        .arg(&out_npz)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_ir.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("jacobian/u/x"), "{stdout}");
    let rust = runtime().compile(&ir).unwrap().infer(&inputs).unwrap();
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(&out_npz).unwrap()).unwrap();
    for (name, want) in &rust {
        let got: ArrayD<f32> = npz.by_name(name).unwrap();
        assert_close(name, &got, want);
    }
    // header-only check (no compile) works too
    let out = Command::new(&python)
        .arg(&script)
        .arg(&xml)
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn runtime_library_is_found_and_reported() {
    let rt = runtime();
    let lib = rt.library_path().to_path_buf();
    assert!(lib.is_file(), "{}", lib.display());
    let v = keras2ov::runtime::openvino_version().unwrap();
    assert!(v.starts_with("20"), "{v}");
}

#[test]
fn scalar_input() {
    let mut g = OpGraph::new();
    let s = g.parameter("s", DType::F32, vec![]);
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let y = g.mul(x, s).unwrap();
    let e = g.unary(UnaryOp::Exp, s).unwrap();
    g.output("y", y);
    g.output("e", e);
    let xv = fill(&[2, 2], -1.0, 1.0, 3);
    let outs = run(&g, &[("s", arr(&[], vec![2.0])), ("x", xv.clone())]);
    assert_close("y", output(&outs, "y"), &xv.mapv(|v| v * 2.0));
    assert_close("e", output(&outs, "e"), &arr(&[], vec![2.0f32.exp()]));
}

#[test]
fn throughput_hint_and_parallel_requests() {
    let (g, inputs) = small_model();
    let ir = emit(&g, &EmitOptions::default()).unwrap();
    let want = runtime().compile(&ir).unwrap().infer(&inputs).unwrap();
    let mut rt = runtime();
    rt.set_performance_hint(PerformanceMode::Throughput)
        .unwrap();
    let mut c = rt.compile(&ir).unwrap();
    assert_eq!(c.get_property("PERFORMANCE_HINT").unwrap(), "THROUGHPUT");
    assert_eq!(c.get_property("INFERENCE_PRECISION_HINT").unwrap(), "f32");
    let n = c.optimal_number_of_requests().unwrap();
    assert!(n >= 1);
    let mut reqs: Vec<_> = (0..n.min(4)).map(|_| c.create_request().unwrap()).collect();
    for r in &mut reqs {
        r.set_inputs(&inputs).unwrap();
        r.start().unwrap();
    }
    for r in &mut reqs {
        r.wait().unwrap();
        for ((gn, gv), (wn, wv)) in r.read_outputs().unwrap().iter().zip(&want) {
            assert_eq!(gn, wn);
            assert_close(gn, gv, wv);
        }
    }
}

/// Zero-size constants: empty reduce axes, a reshape to a scalar.
#[test]
fn empty_axes_and_scalar_reshape() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(2)]);
    let same = g.reduce(ReduceOp::Sum, x, vec![], false).unwrap();
    g.output("same", same);
    let one = g.slice(x, 1, 0, 1, 1).unwrap();
    let first = g.slice(one, 0, 0, 1, 1).unwrap(); // [1,1]
    let scalar = g.reshape(first, vec![]).unwrap();
    let e = g.unary(UnaryOp::Exp, scalar).unwrap();
    g.output("scalar", e);
    let xv = fill(&[3, 2], -1.0, 1.0, 11);
    let outs = run(&g, &[("x", xv.clone())]);
    assert_close("same", output(&outs, "same"), &xv);
    assert_close(
        "scalar",
        output(&outs, "scalar"),
        &arr(&[], vec![xv[[0, 0]].exp()]),
    );
}

/// OpenVINO's Power follows C `pow`: negative bases with integral exponents are fine.
#[test]
fn pow_of_negative_bases() {
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(4)]);
    let e = f32_const(&mut g, arr(&[4], vec![2.0, 3.0, -1.0, 0.0]));
    let y = g.binary(BinaryOp::Pow, x, e).unwrap();
    g.output("y", y);
    let xv = arr(&[2, 4], vec![-2.0, -1.5, -3.0, 0.0, 3.0, -3.0, 0.5, -7.0]);
    let outs = run(&g, &[("x", xv.clone())]);
    let want = broadcast2(&xv, &arr(&[4], vec![2.0, 3.0, -1.0, 0.0]), f32::powf);
    assert_close("y", output(&outs, "y"), &want);
}

/// Sin and Cos are written as range reduction and polynomials (the plugin's own kernels are
/// scalar): against f64 over a wide range, at the quadrant boundaries and across zero.
#[test]
fn sin_and_cos_keep_f32_accuracy_over_a_wide_range() {
    let mut xs: Vec<f32> = fill(&[4000], -100.0, 100.0, 7).iter().copied().collect();
    xs.extend(fill(&[2000], -1.0e4, 1.0e4, 8).iter().copied());
    for k in -40..=40 {
        let b = k as f64 * std::f64::consts::FRAC_PI_2;
        xs.extend([(b - 1e-4) as f32, b as f32, (b + 1e-4) as f32]);
    }
    xs.extend([0.0, -0.0, 1e-30, -1e-30, 1e-7]);
    let n = xs.len();
    let x_in = arr(&[1, n], xs.clone());
    for op in [UnaryOp::Sin, UnaryOp::Cos] {
        let mut g = OpGraph::new();
        let x = g.parameter("x", DType::F32, vec![None, Some(n)]);
        let y = g.unary(op, x).unwrap();
        g.output("y", y);
        let got = run(&g, &[("x", x_in.clone())]);
        let f = |v: f64| if op == UnaryOp::Sin { v.sin() } else { v.cos() };
        let worst = output(&got, "y")
            .iter()
            .zip(&xs)
            .map(|(&g, &x)| (f64::from(g) - f(f64::from(x))).abs())
            .fold(0.0, f64::max);
        assert!(worst < 2e-6, "{op:?}: largest error {worst:e}");
    }
}
