//! The command line as a user runs it: bad input gives a clear error naming the file, layer or
//! tensor, a non-zero exit and no output file; derivatives are selected and named as documented.

mod common;

use common::{fixtures, get, keras2ov, read_npz};
use std::path::{Path, PathBuf};

fn path(rel: &str) -> String {
    fixtures().join(rel).display().to_string()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Run a failing command writing into a fresh directory: it must fail, say each of `words`,
/// not panic, and leave the directory empty.
fn fails_cleanly(args: &[&str], out_name: &str, words: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(out_name).display().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-o", &out]);
    let (ok, _, err) = keras2ov(&all);
    common::assert_fails_saying(&all, ok, &err, words);
    assert!(
        entries(dir.path()).is_empty(),
        "{args:?} left {:?}",
        entries(dir.path())
    );
}

#[test]
fn bad_archives_are_refused_with_the_file_and_the_problem() {
    let cases: &[(&str, &[&str])] = &[
        ("bad/lambda.keras", &["Lambda", "code"]),
        (
            "bad/custom_layer.keras",
            &["unsupported", "my_pkg>MyScale", "ConvLSTM1D"],
        ),
        ("bad/truncated.keras", &["zip"]),
        ("bad/not_zip.keras", &["zip"]),
        ("bad/no_weights.keras", &["model.weights.h5"]),
        ("bad/bad_json.keras", &["config.json", "JSON"]),
        ("bad/zip_bomb.keras", &["config.json", "bytes"]),
        ("bad/bad_weight_shape.keras", &["dense", "shape", "[5, 8]"]),
        ("bad/keras2.h5", &["legacy", "Keras 3"]),
        ("bad/old_version.keras", &["2.15.0"]),
    ];
    for (file, words) in cases {
        let p = path(file);
        let mut words = words.to_vec();
        words.push(file.rsplit('/').next().unwrap());
        fails_cleanly(&["convert", &p], "model.xml", &words);
    }
}

#[test]
fn inspect_lists_every_unsupported_layer_at_once() {
    let (ok, out, err) = keras2ov(&["inspect", &path("bad/custom_layer.keras")]);
    assert!(!ok);
    let all = format!("{out}{err}");
    for w in ["my_pkg>MyScale", "ConvLSTM1D", "unsupported"] {
        assert!(all.contains(w), "inspect should name {w}:\n{all}");
    }
    // The layer inside the wrapper has its own row, with the parameters saved for it.
    let row = out
        .lines()
        .find(|l| l.starts_with("per_frame/frame_conv "))
        .unwrap_or_else(|| panic!("no row for the wrapped Conv2D:\n{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1], "Conv2D", "{row}");
    assert_eq!(
        cells.last(),
        Some(&"10"),
        "2x2 kernel, 1 -> 2 channels, bias: {row}"
    );
}

#[test]
fn bad_inputs_name_the_tensor() {
    let model = path("models/seq_mlp.keras");
    fails_cleanly(
        &["run", &model, "--input", &path("bad/wrong_shape_input.npy")],
        "y.npz",
        &["features", "shape"],
    );
    fails_cleanly(
        &["run", &model, "--input", &path("bad/wrong_dtype_input.npy")],
        "y.npz",
        &["wrong_dtype_input.npy", "float"],
    );
    let good = path("models/seq_mlp.inputs.npz");
    fails_cleanly(
        &["run", &model, "--input", &format!("nope={good}")],
        "y.npz",
        &["give a .npy"],
    );
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("f.npy");
    ndarray_npy::write_npy(&npy, &get(&read_npz(Path::new(&good)), "features").clone()).unwrap();
    fails_cleanly(
        &["run", &model, "--input", &format!("nope={}", npy.display())],
        "y.npz",
        &["unknown input name 'nope'", "features"],
    );
}

/// `keras2ov convert` of the PINN fixture to `xml`, which must succeed.
fn convert_pinn(xml: &Path) {
    let out = xml.display().to_string();
    let (ok, _, err) = keras2ov(&["convert", &path("models/model_pinn.keras"), "-o", &out]);
    assert!(ok, "{err}");
}

#[test]
fn convert_then_run_the_ir_reproduces_keras() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("out/pinn.xml");
    convert_pinn(&xml);
    assert!(xml.exists() && xml.with_extension("bin").exists());
    let y = dir.path().join("y.npz");
    let (ok, _, err) = keras2ov(&[
        "run",
        &xml.display().to_string(),
        "--input",
        &path("models/model_pinn.inputs.npz"),
        "-o",
        &y.display().to_string(),
    ]);
    assert!(ok, "{err}");
    let got = read_npz(&y);
    let want = read_npz(&fixtures().join("models/model_pinn.outputs.npz"));
    let diff = common::compare(&get(&got, "u").mapv(f64::from), get(&want, "u"), 1e-5, 1e-4);
    assert!(diff.is_none(), "{diff:?}");
}

#[test]
fn jacobian_selects_and_names_blocks_in_every_mode() {
    for mode in ["auto", "forward", "reverse"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("d.npz");
        let (ok, _, err) = keras2ov(&[
            "jacobian",
            &path("models/model_pinn.keras"),
            "--input",
            &path("models/model_pinn.inputs.npz"),
            "--hessian",
            "--wrt",
            "x",
            "--mode",
            mode,
            "-o",
            &out.display().to_string(),
        ]);
        assert!(ok, "--mode {mode}: {err}");
        let got = read_npz(&out);
        let mut names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        assert_eq!(
            names,
            ["hessian/u/x/x", "jacobian/u/x", "u"],
            "--mode {mode}"
        );
        // u_x and u_xx of the PINN against JAX.
        let jax = read_npz(&fixtures().join("models/model_pinn.derivs.npz"));
        for (k, atol, rtol) in [("jacobian/u/x", 1e-5, 1e-4), ("hessian/u/x/x", 1e-4, 1e-3)] {
            let diff = common::compare(&get(&got, k).mapv(f64::from), get(&jax, k), atol, rtol);
            assert!(diff.is_none(), "--mode {mode} {k}: {diff:?}");
        }
    }
}

#[test]
fn derivative_selection_errors_list_the_valid_names() {
    let model = path("models/model_pinn.keras");
    let inputs = path("models/model_pinn.inputs.npz");
    fails_cleanly(
        &["jacobian", &model, "--input", &inputs, "--wrt", "z"],
        "d.npz",
        &["unknown input 'z'", "x, t"],
    );
    fails_cleanly(
        &["jacobian", &model, "--input", &inputs, "--of", "v"],
        "d.npz",
        &["unknown output 'v'", "u"],
    );
    fails_cleanly(
        &["jacobian", &model, "--input", &inputs, "--mode", "sideways"],
        "d.npz",
        &["unknown mode 'sideways'", "auto, forward or reverse"],
    );
}

#[test]
fn batch_mixing_models_are_refused_naming_the_op() {
    for (fixture, op) in [("op_outer", "outer"), ("op_reduce_over_batch", "sum")] {
        let model = path(&format!("models/{fixture}.keras"));
        let inputs = path(&format!("models/{fixture}.inputs.npz"));
        fails_cleanly(
            &["jacobian", &model, "--input", &inputs],
            "d.npz",
            &["mixes samples", op],
        );
    }
}

#[test]
fn convert_with_hessian_writes_derivative_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("h.xml");
    let (ok, _, err) = keras2ov(&[
        "convert",
        &path("models/model_pinn.keras"),
        "--hessian",
        "--wrt",
        "x,t",
        "--of",
        "u",
        "-o",
        &xml.display().to_string(),
    ]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(&xml).unwrap();
    for name in [
        "jacobian/u/t",
        "hessian/u/x/t",
        "hessian/u/t/x",
        "hessian/u/t/t",
    ] {
        assert!(
            text.contains(&format!("names=\"{name}\"")),
            "IR lacks output {name}"
        );
    }
}

#[test]
fn derivative_commands_need_the_keras_model() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("m.xml");
    convert_pinn(&xml);
    fails_cleanly(
        &[
            "jacobian",
            &xml.display().to_string(),
            "--input",
            &path("models/model_pinn.inputs.npz"),
        ],
        "d.npz",
        &["OpenVINO IR", ".keras"],
    );
}

#[test]
fn bench_reports_what_it_timed_and_the_mode_auto_chose() {
    let model = path("models/model_pinn.keras");
    for (flags, kind, mode) in [
        (&[][..], "forward", serde_json::Value::Null),
        (&["--jacobian"][..], "jacobian", "reverse".into()),
        (
            &["--hessian", "--mode", "forward"][..],
            "hessian",
            "forward".into(),
        ),
    ] {
        let mut args = vec![
            "bench",
            &model,
            "--batch",
            "8",
            "--iterations",
            "2",
            "--json",
        ];
        args.extend_from_slice(flags);
        let (ok, out, err) = keras2ov(&args);
        assert!(ok, "{args:?}: {err}");
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["kind"], kind, "{args:?}");
        assert_eq!(v["mode"], mode, "{args:?}");
        assert_eq!(v["batch"], 8);
        assert!(v["median_ms"].as_f64().unwrap() > 0.0);
    }
}
