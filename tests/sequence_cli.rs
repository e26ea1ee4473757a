//! Sequence models from the command line: integer inputs (token ids) in `run`, `jacobian`,
//! `bench` and `sensitivity`, what cannot be differentiated, variable sequence lengths, and
//! layers wrapped in others that are not supported.

mod common;

use common::{compare, fixtures, get, keras2ov, read_npz, read_tensors};
use keras2ov::tensor::Tensor;

fn model(name: &str) -> String {
    fixtures()
        .join(format!("models/{name}.keras"))
        .display()
        .to_string()
}

fn inputs(name: &str) -> String {
    fixtures()
        .join(format!("models/{name}.inputs.npz"))
        .display()
        .to_string()
}

fn fails(args: &[&str], words: &[&str]) {
    let (ok, _, err) = keras2ov(args);
    common::assert_fails_saying(args, ok, &err, words);
}

#[test]
fn run_takes_token_ids_and_writes_integer_outputs_as_integers() {
    let dir = tempfile::tempdir().unwrap();
    // An Embedding + Bidirectional LSTM text classifier on int32 token ids.
    let out = dir.path().join("y.npz").display().to_string();
    let name = "model_text_bilstm";
    let (ok, _, err) = keras2ov(&["run", &model(name), "--input", &inputs(name), "-o", &out]);
    assert!(ok, "{err}");
    let got = read_npz(std::path::Path::new(&out));
    let want = read_npz(&fixtures().join(format!("models/{name}.outputs.npz")));
    for (k, w) in &want {
        let g = get(&got, k).mapv(f64::from);
        assert_eq!(compare(&g, w, 1e-5, 1e-4), None, "{k}");
    }
    // argmax gives int32, and the .npz keeps it so.
    let out = dir.path().join("a.npz").display().to_string();
    let name = "op_argmax";
    let (ok, _, err) = keras2ov(&["run", &model(name), "--input", &inputs(name), "-o", &out]);
    assert!(ok, "{err}");
    let got = read_tensors(std::path::Path::new(&out));
    let want = read_tensors(&fixtures().join(format!("models/{name}.outputs.npz")));
    for (k, w) in &want {
        let (_, g) = got.iter().find(|(n, _)| n == k).expect("output");
        assert!(matches!(g, Tensor::I32(_)), "{k} should be int32: {g:?}");
        assert_eq!(g, w, "{k}");
    }
}

#[test]
fn integer_inputs_are_never_differentiated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d.npz").display().to_string();
    // Only token ids: nothing to differentiate.
    let name = "emb_basic";
    let args = [
        "jacobian",
        &model(name),
        "--input",
        &inputs(name),
        "-o",
        &out,
    ];
    fails(&args, &["nothing to differentiate", "tokens"]);
    assert!(!std::path::Path::new(&out).exists());
    // Token ids and float initial states: --wrt on the ids is an error naming them ...
    let name = "lstm_mask_initial_state";
    let m = model(name);
    let i = inputs(name);
    fails(
        &["jacobian", &m, "--input", &i, "--wrt", "tokens", "-o", &out],
        &["'tokens'", "integer"],
    );
    // ... and by default only the float inputs are differentiated, as JAX does.
    let (ok, _, err) = keras2ov(&["jacobian", &m, "--input", &i, "-o", &out]);
    assert!(ok, "{err}");
    let got = read_npz(std::path::Path::new(&out));
    assert!(
        got.iter().all(|(k, _)| !k.contains("/tokens")),
        "no block for the ids"
    );
    let want = read_npz(&fixtures().join(format!("models/{name}.derivs.npz")));
    for (k, w) in want.iter().filter(|(k, _)| k.starts_with("jacobian/")) {
        let g = get(&got, k).mapv(f64::from);
        assert_eq!(compare(&g, w, 1e-5, 1e-4), None, "{k}");
    }
    // An integer output cannot be asked for either.
    let xml = dir.path().join("m.xml").display().to_string();
    fails(
        &[
            "convert",
            &model("op_argmax"),
            "--jacobian",
            "--of",
            "argmax",
            "-o",
            &xml,
        ],
        &["'argmax'", "integer"],
    );
}

#[test]
fn data_of_the_wrong_type_names_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let x = dir.path().join("x.npy");
    let a = ndarray::ArrayD::<f32>::zeros(vec![2, 4]);
    ndarray_npy::write_npy(&x, &a).unwrap();
    let out = dir.path().join("y.npz").display().to_string();
    let x = x.display().to_string();
    fails(
        &["run", &model("emb_basic"), "--input", &x, "-o", &out],
        &["tokens", "int32", "float32"],
    );
}

#[test]
fn a_variable_sequence_length_is_fixed_by_the_data_or_input_shape() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("m.xml").display().to_string();
    let m = model("lstm_var_len");
    fails(
        &["convert", &m, "-o", &xml],
        &["sequence length", "static", "--input-shape"],
    );
    let (ok, _, err) = keras2ov(&["convert", &m, "--input-shape", "x=6,3", "-o", &xml]);
    assert!(ok, "{err}");
    fails(
        &["convert", &m, "--input-shape", "y=6,3", "-o", &xml],
        &["'y'", "inputs are x"],
    );
    fails(
        &["convert", &m, "--input-shape", "x=6,4", "-o", &xml],
        &["'x'", "does not fit"],
    );
    // `run` and `jacobian` take the length from the arrays.
    let out = dir.path().join("d.npz").display().to_string();
    let i = inputs("lstm_var_len");
    let (ok, _, err) = keras2ov(&["jacobian", &m, "--input", &i, "-o", &out]);
    assert!(ok, "{err}");
    let got = read_npz(std::path::Path::new(&out));
    let want = read_npz(&fixtures().join("models/lstm_var_len.derivs.npz"));
    let k = "jacobian/lstm_last/x";
    let g = get(&got, k).mapv(f64::from);
    assert_eq!(compare(&g, get(&want, k), 1e-5, 1e-4), None);
}

#[test]
fn layers_inside_wrappers_are_checked_too() {
    let bad = fixtures()
        .join("bad/custom_layer.keras")
        .display()
        .to_string();
    let (ok, out, err) = keras2ov(&["inspect", &bad]);
    assert!(!ok);
    let all = format!("{out}{err}");
    for w in [
        "'per_frame_lstm/layer' (ConvLSTM1D)",
        "inside per_frame_lstm",
        "unsupported",
    ] {
        assert!(all.contains(w), "inspect should name {w}:\n{all}");
    }
    // What a wrapper holds converts when it is supported.
    let (ok, _, err) = keras2ov(&["inspect", &model("td_conv2d")]);
    assert!(ok, "{err}");
}

#[test]
fn bench_and_sensitivity_feed_integer_inputs() {
    let (ok, out, err) = keras2ov(&[
        "bench",
        &model("model_text_bilstm"),
        "--batch",
        "8",
        "--iterations",
        "2",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("\"kind\":\"forward\""), "{out}");
    // The ids feed the model; only the float initial states are analysed.
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let name = "lstm_mask_initial_state";
    let (ok, _, err) = keras2ov(&[
        "sensitivity",
        &model(name),
        "--data",
        &inputs(name),
        "--quiet",
        "-o",
        &report.display().to_string(),
    ]);
    assert!(ok, "{err}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("sensitivity.json")).unwrap())
            .unwrap();
    assert_eq!(json["wrt"], serde_json::json!(["h0", "c0"]));
    assert_eq!(json["rows"]["used"], serde_json::json!(5));
}
