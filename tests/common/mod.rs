//! Shared test helpers: the fixture manifest and array comparison with stated tolerances.
#![allow(dead_code)]

use keras2ov::tensor::Tensor;
use ndarray::ArrayD;
use serde_json::Value;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    root().join("fixtures")
}

/// Fixtures of things keras2ov refuses on purpose, with a word the error must name (checked
/// in `openvino_vs_reference.rs`, skipped elsewhere).
pub const EXPECTED_UNSUPPORTED: &[(&str, &str)] = &[("act_sparsemax", "sparsemax")];

pub fn expected_unsupported(name: &str) -> bool {
    EXPECTED_UNSUPPORTED.iter().any(|(n, _)| *n == name)
}

/// Fixtures whose layers other work in progress builds; skipped by the fixture-driven tests
/// until it lands. Used only to skip.
pub const PENDING_ELSEWHERE: &[(&str, &str)] = &[];

pub fn pending_elsewhere(name: &str) -> bool {
    PENDING_ELSEWHERE.iter().any(|(n, _)| *n == name)
}

pub struct Fixture {
    pub name: String,
    pub keras: PathBuf,
    pub inputs: PathBuf,
    pub outputs: PathBuf,
    pub derivs: PathBuf,
    pub atol: f64,
    pub rtol: f64,
    pub entry: Value,
}

/// Tolerances of the whole-architecture fixtures (float32 JAX through deep networks).
pub const ARCH_ATOL: f64 = 1e-4;
pub const ARCH_RTOL: f64 = 1e-3;

/// A whole architecture (a `model_*` fixture built by a Keras application builder).
pub fn is_architecture(e: &Value) -> bool {
    e["covers"]
        .as_array()
        .is_some_and(|c| c.iter().any(|t| t == "architecture"))
}

/// Every fixture in `fixtures/manifest.json`, except those [`PENDING_ELSEWHERE`].
pub fn manifest() -> Vec<Fixture> {
    let text = std::fs::read_to_string(fixtures().join("manifest.json"))
        .expect("fixtures/manifest.json (run fixtures/generate.py)");
    let m: Value = serde_json::from_str(&text).expect("manifest is JSON");
    let (da, dr) = (
        m["default_atol"].as_f64().unwrap_or(1e-5),
        m["default_rtol"].as_f64().unwrap_or(1e-4),
    );
    m["fixtures"]
        .as_array()
        .expect("fixtures list")
        .iter()
        .filter(|e| !pending_elsewhere(e["name"].as_str().unwrap_or("")))
        .map(|e| {
            let name = e["name"].as_str().unwrap().to_string();
            let dir = fixtures().join("models");
            // Whole architectures: JAX's float32 values went through 20 to 60 layers, so
            // their rounding reaches a few 1e-5 on Jacobian entries of size 0.01 to 1.
            let arch = is_architecture(e);
            let (atol, rtol) = (
                if arch { ARCH_ATOL } else { da },
                if arch { ARCH_RTOL } else { dr },
            );
            Fixture {
                keras: fixtures().join(e["file"].as_str().unwrap()),
                inputs: dir.join(format!("{name}.inputs.npz")),
                outputs: dir.join(format!("{name}.outputs.npz")),
                derivs: dir.join(format!("{name}.derivs.npz")),
                atol: e["atol"].as_f64().unwrap_or(atol),
                rtol: e["rtol"].as_f64().unwrap_or(rtol),
                name,
                entry: e.clone(),
            }
        })
        .collect()
}

/// Every array of a `.npz`, as f32 (integer and bool arrays converted: Keras' int32 outputs).
pub fn read_npz(path: &Path) -> Vec<(String, ArrayD<f32>)> {
    read_tensors(path)
        .into_iter()
        .map(|(n, t)| {
            let a = match t {
                Tensor::F32(a) => a,
                other => other.to_f64().mapv(|v| v as f32),
            };
            (n, a)
        })
        .collect()
}

/// Every array of a `.npz` in its own element type (integer token ids, bool masks).
pub fn read_tensors(path: &Path) -> Vec<(String, Tensor)> {
    keras2ov::io::read_npz_tensors(path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()))
}

pub fn get_tensor<'a>(arrays: &'a [(String, Tensor)], name: &str) -> &'a Tensor {
    &arrays
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no array '{name}'"))
        .1
}

impl Fixture {
    /// The per-sample shapes fed to inputs whose Keras shape has unknown dimensions (a
    /// variable sequence length): `--input-shape` for this fixture.
    pub fn input_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.entry["inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| {
                i["keras_shape"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(Value::is_null))
            })
            .map(|i| {
                let dims = i["shape"].as_array().expect("shape");
                let dims = dims.iter().map(|d| d.as_u64().unwrap() as usize).collect();
                (i["name"].as_str().unwrap().to_string(), dims)
            })
            .collect()
    }
}

pub fn get<'a>(arrays: &'a [(String, ArrayD<f32>)], name: &str) -> &'a ArrayD<f32> {
    &arrays
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no array '{name}'"))
        .1
}

/// `None` when `got` matches `want` within `atol + rtol * |want|` everywhere (NaN matches NaN,
/// infinities must be equal); otherwise a description of the worst element.
pub fn compare(got: &ArrayD<f64>, want: &ArrayD<f32>, atol: f64, rtol: f64) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!(
            "shape {:?} != expected {:?}",
            got.shape(),
            want.shape()
        ));
    }
    let mut worst: Option<(f64, usize, f64, f64)> = None;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let w = w as f64;
        let bad = if w.is_nan() || g.is_nan() {
            w.is_nan() != g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            w != g
        } else {
            (g - w).abs() > atol + rtol * w.abs()
        };
        if bad {
            let excess = if (g - w).is_finite() {
                (g - w).abs()
            } else {
                f64::INFINITY
            };
            if worst.is_none_or(|(e, ..)| excess > e) {
                worst = Some((excess, i, g, w));
            }
        }
    }
    worst.map(|(e, i, g, w)| {
        format!("element {i}: got {g}, expected {w} (|diff| {e:.3e}, atol {atol:e}, rtol {rtol:e})")
    })
}

/// The largest |got - want| over finite pairs (for reporting the tolerance reached).
pub fn max_abs_diff(got: &ArrayD<f64>, want: &ArrayD<f32>) -> f64 {
    got.iter()
        .zip(want.iter())
        .map(|(&g, &w)| (g - w as f64).abs())
        .filter(|d| d.is_finite())
        .fold(0.0, f64::max)
}

/// Run the `keras2ov` binary: (success, stdout, stderr).
pub fn keras2ov(args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keras2ov"))
        .args(args)
        .output()
        .expect("run keras2ov");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A run that must fail cleanly: non-zero exit, no panic, and each of `words` in stderr.
pub fn assert_fails_saying(args: &[&str], ok: bool, err: &str, words: &[&str]) {
    assert!(!ok, "{args:?} should fail");
    assert!(!err.contains("panicked"), "{args:?} panicked:\n{err}");
    for w in words {
        assert!(
            err.contains(w),
            "{args:?}: error should mention {w:?}:\n{err}"
        );
    }
}
