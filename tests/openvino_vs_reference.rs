//! Every fixture converted to IR and run through OpenVINO (f32): forward outputs against
//! Keras, Jacobians and Hessians (built in forward and in reverse mode) against JAX's
//! `vmap(jacfwd)` / `vmap(hessian)`.
//! Tolerances: forward and Jacobians atol 1e-5 rtol 1e-4, Hessians atol 1e-4 rtol 1e-3,
//! or the fixture's own (manifest) when larger.

mod common;

use common::{
    compare, get_tensor, manifest, read_npz, read_tensors, Fixture, EXPECTED_UNSUPPORTED,
};
use keras2ov::autodiff::Mode;
use keras2ov::pipeline::{self, Derivatives};
use keras2ov::runtime::{Precision, Runtime};

/// Fixtures whose Hessian IR with a dynamic batch OpenVINO CPU 2026.4 computes wrong (NaN
/// or values around 1e37 that change from run to run, in rank-7 broadcasting Multiplys of
/// the second-order tangents, even with the Hessian as the only output), while the same IR
/// with a static batch is right. `keras2ov jacobian` compiles with a static batch, so that
/// is what these are checked at; the README lists them under Limits.
const DYNAMIC_BATCH_HESSIAN_OV_BUG: &[&str] = &[
    "layer_group_normalization_hessian",
    "model_conv2d_chain_hessian",
    "model_conv3d_chain_hessian",
];

fn run_fixture(
    rt: &mut Runtime,
    f: &Fixture,
    d: &Derivatives,
) -> Result<Vec<(String, ndarray::ArrayD<f32>)>, String> {
    let inputs = read_tensors(&f.inputs);
    let batch = (d.hessian && DYNAMIC_BATCH_HESSIAN_OV_BUG.contains(&f.name.as_str()))
        .then(|| inputs.first().map(|(_, a)| a.shape()[0]))
        .flatten();
    let ir = pipeline::convert_shaped(&f.keras, &f.input_shapes(), batch, d)
        .map_err(|e| format!("{e:#}"))?;
    let mut compiled = rt.compile(&ir).map_err(|e| e.to_string())?;
    let names: Vec<String> = compiled.inputs().iter().map(|i| i.name.clone()).collect();
    let feed: Vec<(String, _)> = names
        .iter()
        .map(|n| (n.clone(), get_tensor(&inputs, n).clone()))
        .collect();
    compiled.infer(&feed).map_err(|e| e.to_string())
}

fn check(kind: &str, mode: Mode) {
    let mut rt = Runtime::new("CPU", Precision::F32).expect("OpenVINO runtime (make setup)");
    let (want_key, prefix, atol, rtol) = match kind {
        "forward" => ("", "", 1e-5, 1e-4),
        "jacobian" => ("jacobian", "jacobian/", 1e-5, 1e-4),
        _ => ("hessian", "hessian/", 1e-4, 1e-3),
    };
    let d = Derivatives {
        jacobian: kind != "forward",
        hessian: kind == "hessian",
        mode,
        ..Default::default()
    };
    let mut failures = Vec::new();
    let mut blocks = 0;
    let mut worst = (0.0f64, String::new());
    // Whole architectures: their derivatives once, in reverse mode (see autodiff_vs_jax.rs).
    let fixtures: Vec<_> = manifest()
        .into_iter()
        .filter(|f| want_key.is_empty() || f.entry[want_key].as_bool() == Some(true))
        .filter(|f| {
            kind == "forward" || mode == Mode::Reverse || !common::is_architecture(&f.entry)
        })
        .collect();
    for f in &fixtures {
        if let Some((_, word)) = EXPECTED_UNSUPPORTED.iter().find(|(n, _)| *n == f.name) {
            match pipeline::convert(&f.keras, None) {
                Err(e)
                    if format!("{e:#}").contains("unsupported")
                        && format!("{e:#}").contains(word) => {}
                other => failures.push(format!(
                    "{}: expected an 'unsupported' error, got {:?}",
                    f.name,
                    other.map(|_| ())
                )),
            }
            continue;
        }
        let result = run_fixture(&mut rt, f, &d).and_then(|outs| {
            let want = read_npz(if kind == "forward" {
                &f.outputs
            } else {
                &f.derivs
            });
            let mut n = 0;
            for (name, expected) in &want {
                if !name.starts_with(prefix) || (kind == "forward" && name.contains('/')) {
                    continue;
                }
                let got = outs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.mapv(f64::from))
                    .ok_or_else(|| format!("no output '{name}'"))?;
                if let Some(msg) = compare(&got, expected, f.atol.max(atol), f.rtol.max(rtol)) {
                    return Err(format!("{name}: {msg}"));
                }
                let d = common::max_abs_diff(&got, expected);
                if d > worst.0 {
                    worst = (d, format!("{} {name}", f.name));
                }
                n += 1;
            }
            Ok(n)
        });
        match result {
            Ok(n) => blocks += n,
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{kind} ({mode:?}): {} of {} fixtures fail through OpenVINO:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    assert!(
        blocks >= fixtures.len() - EXPECTED_UNSUPPORTED.len(),
        "only {blocks} arrays compared"
    );
    eprintln!(
        "{kind} ({mode:?}): {blocks} arrays from {} fixtures match; largest |diff| {:.2e} ({})",
        fixtures.len(),
        worst.0,
        worst.1
    );
}

#[test]
fn forward_outputs_match_keras() {
    check("forward", Mode::Auto);
}

#[test]
fn forward_mode_jacobians_match_jax() {
    check("jacobian", Mode::Forward);
}

#[test]
fn reverse_mode_jacobians_match_jax() {
    check("jacobian", Mode::Reverse);
}

#[test]
fn forward_over_forward_hessians_match_jax() {
    check("hessian", Mode::Forward);
}

#[test]
fn forward_over_reverse_hessians_match_jax() {
    check("hessian", Mode::Reverse);
}
