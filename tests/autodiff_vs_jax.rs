//! Jacobians and Hessians built in forward mode and in reverse mode, evaluated by the f64
//! reference interpreter, against JAX's `vmap(jacfwd)` / `vmap(hessian)` saved with each
//! fixture. Tolerances: Jacobians atol 1e-5 rtol 1e-4, Hessians atol 1e-4 rtol 1e-3 (float32
//! JAX). Reverse mode is forced, so every fixture exercises the transpose rules. Whole
//! architectures (32x32x3 images, 3 classes: 3072 tangents against 3 cotangents) are checked in
//! reverse mode only, which is how their JAX references were made (`jacrev`); forward mode
//! would hold 3072 tangents of every activation in f64 here.

mod common;

use common::{compare, get_tensor, manifest, read_npz, read_tensors};
use keras2ov::autodiff::{self, Mode};
use keras2ov::interp;

fn check(hessian: bool, mode: Mode) {
    let fixtures: Vec<_> = manifest()
        .into_iter()
        .filter(|f| f.entry[if hessian { "hessian" } else { "jacobian" }].as_bool() == Some(true))
        .collect();
    assert!(fixtures.len() > 10, "too few fixtures: {}", fixtures.len());
    let (atol, rtol) = if hessian { (1e-4, 1e-3) } else { (1e-5, 1e-4) };
    let mut failures = Vec::new();
    let mut compared = 0;
    for f in fixtures.iter().filter(|f| {
        !common::expected_unsupported(&f.name)
            && (mode == Mode::Reverse || !common::is_architecture(&f.entry))
    }) {
        let result = (|| -> Result<usize, String> {
            let (_, g) = keras2ov::pipeline::load_graph_shaped(&f.keras, &f.input_shapes())
                .map_err(|e| format!("{e:#}"))?;
            let sel = autodiff::select(&g, &[], &[]).map_err(|e| e.to_string())?;
            let d = if hessian {
                autodiff::hessian(&g, &sel, mode)
            } else {
                autodiff::jacobian(&g, &sel, mode)
            }
            .map_err(|e| e.to_string())?;
            let inputs = read_tensors(&f.inputs);
            let args: Vec<_> = d
                .inputs
                .iter()
                .map(|&p| get_tensor(&inputs, d.input_name(p)).to_f64())
                .collect();
            let got = interp::eval(&d, &args)?;
            let want = read_npz(&f.derivs);
            let mut n = 0;
            for ((name, _), value) in d.outputs.iter().zip(&got) {
                let prefix = if hessian { "hessian/" } else { "jacobian/" };
                if !name.starts_with(prefix) {
                    continue;
                }
                let expected = want
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v)
                    .ok_or_else(|| format!("JAX saved no '{name}'"))?;
                let (a, r) = (f.atol.max(atol), f.rtol.max(rtol));
                if let Some(msg) = compare(value, expected, a, r) {
                    return Err(format!("{name}: {msg}"));
                }
                n += 1;
            }
            Ok(n)
        })();
        match result {
            Ok(n) => compared += n,
            Err(e) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{mode:?}: {} of {} fixtures differ from JAX:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
    assert!(
        compared >= fixtures.len(),
        "only {compared} blocks compared"
    );
}

#[test]
fn forward_mode_jacobians_match_jax() {
    check(false, Mode::Forward);
}

#[test]
fn reverse_mode_jacobians_match_jax() {
    check(false, Mode::Reverse);
}

#[test]
fn forward_over_forward_hessians_match_jax() {
    check(true, Mode::Forward);
}

#[test]
fn forward_over_reverse_hessians_match_jax() {
    check(true, Mode::Reverse);
}
