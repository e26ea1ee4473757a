//! Resizing, CenterCrop, UpSampling2D, `ops.image.resize` and the spectral ops from the
//! command line: what they refuse and how they say it, and the `<layer>:<k>` names of the two
//! outputs of one op. (Their values and derivatives are checked with every other fixture in
//! `lower_vs_keras.rs`, `autodiff_vs_jax.rs` and `openvino_vs_reference.rs`.)

mod common;

use common::{assert_fails_saying, fixtures, get, keras2ov, read_npz};
use serde_json::{json, Value};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    fixtures().join("models").join(format!("{name}.keras"))
}

/// Fixture `name` with its config.json edited by `edit`, written into `dir`.
fn edited(dir: &tempfile::TempDir, name: &str, edit: impl FnOnce(&mut Value)) -> String {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let mut entries = keras2ov::fuzz::unzip(&bytes).unwrap();
    let config = &mut entries
        .iter_mut()
        .find(|(n, _)| n == "config.json")
        .unwrap()
        .1;
    let mut c: Value = serde_json::from_slice(config).unwrap();
    edit(&mut c);
    *config = serde_json::to_vec(&c).unwrap();
    let path = dir.path().join(format!("{name}.keras"));
    std::fs::write(&path, keras2ov::fuzz::zip_entries(&entries, true)).unwrap();
    path.display().to_string()
}

/// The config of layer (or op) `name`.
fn layer<'a>(c: &'a mut Value, name: &str) -> &'a mut Value {
    c["config"]["layers"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|l| l["name"] == name)
        .unwrap_or_else(|| panic!("no layer {name}"))
}

/// `convert` of the edited fixture fails, naming the layer, its class and each of `words`.
fn refused(name: &str, edit: impl FnOnce(&mut Value), words: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let model = edited(&dir, name, edit);
    let out = dir.path().join("m.xml").display().to_string();
    let args = ["convert", model.as_str(), "-o", out.as_str()];
    let (ok, _, err) = keras2ov(&args);
    assert_fails_saying(&args, ok, &err, words);
    assert!(!dir.path().join("m.xml").exists(), "{name}: an IR was left");
}

#[test]
fn resize_options_keras_refuses_are_refused_naming_the_layer() {
    let set = |layer_name: &'static str, key: &'static str, v: Value| {
        move |c: &mut Value| layer(c, layer_name)["config"][key] = v
    };
    let r = "layer_resizing_bilinear";
    refused(
        r,
        set("up", "interpolation", json!("area")),
        &["'up'", "Resizing", "'area'", "TensorFlow"],
    );
    refused(
        r,
        set("down", "interpolation", json!("gaussian")),
        &["'down'", "'gaussian'", "bicubic, lanczos3 and lanczos5"],
    );
    refused(
        r,
        set("up", "fill_mode", json!("reflect")),
        &["'up'", "fill_mode", "reflect", "constant"],
    );
    refused(
        r,
        |c: &mut Value| {
            let l = layer(c, "h_same");
            l["config"]["crop_to_aspect_ratio"] = json!(true);
            l["config"]["pad_to_aspect_ratio"] = json!(true);
        },
        &["'h_same'", "crop_to_aspect_ratio", "pad_to_aspect_ratio"],
    );
    refused(
        r,
        set("up", "data_format", json!("channels_middle")),
        &["'up'", "data_format", "channels_middle"],
    );
    refused(
        r,
        set("up", "height", json!(0)),
        &["'up'", "height", "positive"],
    );
    refused(
        "op_image_resize",
        |c: &mut Value| layer(c, "resize_1")["config"]["size"] = json!([3]),
        &["'resize_1'", "Resize", "size"],
    );
    refused(
        "layer_center_crop",
        set("crop", "width", json!(-2)),
        &["'crop'", "CenterCrop", "width"],
    );
    refused(
        "layer_upsampling2d_interp",
        set("bicubic", "interpolation", json!("area")),
        &["'bicubic'", "UpSampling2D", "'area'"],
    );
}

#[test]
fn images_need_rank_four_and_static_height_and_width() {
    let input = |shape: Value| move |c: &mut Value| layer(c, "x")["config"]["batch_shape"] = shape;
    let words = ["'up'", "Resizing", "rank 4", "got rank 3"];
    refused(
        "layer_resizing_bilinear",
        input(json!([null, 4, 5])),
        &words,
    );
    let words = ["'up'", "axis 1", "known size"];
    refused(
        "layer_resizing_bilinear",
        input(json!([null, null, 5, 1])),
        &words,
    );
    let words = ["'crop'", "CenterCrop", "axis 2", "known size"];
    refused(
        "layer_center_crop",
        input(json!([null, 5, null, 1])),
        &words,
    );
}

#[test]
fn spectral_ops_refuse_impossible_lengths_and_unequal_parts() {
    // rfft of length 1 has one bin; irfft without fft_length would make 2 (1 - 1) = 0 samples.
    refused(
        "op_rfft_irfft",
        |c: &mut Value| layer(c, "rfft_2")["config"]["fft_length"] = json!(1),
        &["'irfft_2'", "IRFFT", "fft_length", "1 bin"],
    );
    refused(
        "op_rfft_irfft",
        |c: &mut Value| layer(c, "rfft_1")["config"]["fft_length"] = json!(0),
        &["'rfft_1'", "RFFT", "fft_length 0", "positive"],
    );
    refused(
        "op_fft",
        |c: &mut Value| layer(c, "b")["config"]["batch_shape"] = json!([null, 2, 5]),
        // fft or fft2, whichever is lowered first
        &[
            "layer 'fft",
            "(FFT",
            "differ in shape",
            "[?,2,6]",
            "[?,2,5]",
        ],
    );
    refused(
        "op_fft",
        |c: &mut Value| {
            let l = layer(c, "fft");
            let pair = l["inbound_nodes"][0]["args"][0][0].clone();
            l["inbound_nodes"][0]["args"][0] = json!([pair]);
        },
        &["'fft'", "(real, imaginary) pair"],
    );
}

/// Both outputs of one `rfft` are model outputs: Keras names both `rfft`, keras2ov keys them
/// `rfft:0` and `rfft:1` in IR tensor names, result files, `--of` and derivative names.
#[test]
fn two_outputs_of_one_op_are_keyed_by_tensor_index() {
    let model = fixture("op_rfft_irfft").display().to_string();
    let (ok, out, err) = keras2ov(&["inspect", &model]);
    assert!(ok, "{err}");
    assert!(
        out.contains("outputs: rfft:0 [?,3,5], rfft:1 [?,3,5], irfft [?,3,8]"),
        "{out}"
    );

    let dir = tempfile::tempdir().unwrap();
    let inputs = fixtures().join("models/op_rfft_irfft.inputs.npz");
    let inputs = inputs.display().to_string();
    let d = dir.path().join("d.npz").display().to_string();
    let args = [
        "jacobian", &model, "--input", &inputs, "--of", "rfft:1", "-o", &d,
    ];
    let (ok, _, err) = keras2ov(&args);
    assert!(ok, "{err}");
    let got = read_npz(dir.path().join("d.npz").as_path());
    let want = read_npz(&fixtures().join("models/op_rfft_irfft.derivs.npz"));
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"rfft:0") && names.contains(&"rfft:1"),
        "{names:?}"
    );
    let jac = get(&got, "jacobian/rfft:1/x").mapv(f64::from);
    assert!(
        !names.iter().any(|n| n.starts_with("jacobian/rfft:0")),
        "{names:?}"
    );
    let msg = common::compare(&jac, get(&want, "jacobian/rfft:1/x"), 1e-5, 1e-4);
    assert!(msg.is_none(), "{msg:?}");

    // The plain layer name is not an output name: the error lists the keys.
    let args = [
        "jacobian", &model, "--input", &inputs, "--of", "rfft", "-o", &d,
    ];
    let (ok, _, err) = keras2ov(&args);
    assert_fails_saying(&args, ok, &err, &["rfft", "rfft:0", "rfft:1", "irfft"]);
}

/// Deterministic values in [-1, 1).
fn values(shape: &[usize], salt: usize) -> ndarray::ArrayD<f32> {
    let n: usize = shape.iter().product();
    let v = (0..n)
        .map(|i| ((i * 7919 + salt * 104_729) % 2001) as f32 / 1000.0 - 1.0)
        .collect();
    ndarray::ArrayD::from_shape_vec(shape.to_vec(), v).unwrap()
}

/// `g` through OpenVINO (static batch) against the reference interpreter, output by output;
/// returns how many Interpolate layers the IR has.
fn openvino_matches_interpreter(g: &keras2ov::opgraph::OpGraph, x: &ndarray::ArrayD<f32>) -> usize {
    use keras2ov::runtime::{Precision, Runtime};
    let ir = keras2ov::pipeline::emit_graph(g, "resize", Some(x.shape()[0]), None).unwrap();
    let mut rt = Runtime::new("CPU", Precision::F32).expect("OpenVINO runtime (make setup)");
    let mut compiled = rt.compile(&ir).unwrap();
    let got = compiled.infer(&[("x", x.clone())]).unwrap();
    let want = keras2ov::interp::eval(g, &[x.mapv(f64::from)]).unwrap();
    for ((name, v), w) in got.iter().zip(&want) {
        let w = w.mapv(|v| v as f32);
        let msg = common::compare(&v.mapv(f64::from), &w, 2e-6, 1e-5);
        assert!(msg.is_none(), "{name}: {msg:?}");
    }
    assert_eq!(got.len(), want.len());
    ir.xml.matches("type=\"Interpolate\"").count()
}

/// Large images take OpenVINO's Interpolate where it computes JAX's numbers (bilinear by
/// factors of 2^k without antialias or upsampling, nearest without ties) and is faster;
/// elsewhere one MatMul or Gather per axis. Both must give the values of the weight matrices
/// and gathers that the fixtures check against Keras, for the model and for its Jacobians
/// (tangents of rank 5) in both modes.
#[test]
fn interpolate_layers_equal_the_weight_matrices() {
    use keras2ov::autodiff::{self, Mode};
    use keras2ov::opgraph::{DType, OpGraph, ResizeMethod as M};
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(32), Some(36), Some(2)]);
    // (name, size, method, antialias, Interpolate expected)
    let cases = [
        ("up2", (64, 72), M::Linear, false, true),
        ("down2", (16, 9), M::Linear, false, true),
        ("up2_antialias", (64, 144), M::Linear, true, true),
        ("down2_antialias", (16, 18), M::Linear, true, false),
        ("up_by_1_5", (48, 54), M::Linear, false, false),
        ("up_h_only", (128, 36), M::Linear, false, false),
        ("nearest", (64, 24), M::Nearest, false, true),
        ("nearest_ties", (40, 24), M::Nearest, false, false),
        ("cubic", (64, 72), M::Cubic, false, false),
        ("lanczos3", (16, 50), M::Lanczos3, false, false),
    ];
    for (name, (h, w), method, aa, _) in cases {
        let y = g.resize(x, &[(1, h), (2, w)], method, aa).unwrap();
        g.output(name, y);
    }
    // Channels first: the width is the innermost axis, where MatMuls are faster.
    let cf = g.transpose(x, vec![0, 3, 1, 2]).unwrap();
    let y = g.resize(cf, &[(2, 64), (3, 72)], M::Linear, false).unwrap();
    g.output("channels_first", y);
    let interpolates = cases.iter().filter(|c| c.4).count();
    assert_eq!(
        openvino_matches_interpreter(&g, &values(&[2, 32, 36, 2], 1)),
        interpolates
    );

    // Jacobians, just above the size where Interpolate is chosen.
    let mut g = OpGraph::new();
    let x = g.parameter("x", DType::F32, vec![None, Some(32), Some(32), Some(1)]);
    let up = g.resize(x, &[(1, 64), (2, 16)], M::Linear, false).unwrap();
    let nn = g.resize(x, &[(1, 16), (2, 64)], M::Nearest, false).unwrap();
    let sq = g.mul(nn, nn).unwrap();
    g.output("up", up);
    g.output("nearest_sq", sq);
    let sel = autodiff::select(&g, &[], &[]).unwrap();
    for mode in [Mode::Forward, Mode::Reverse] {
        let j = autodiff::jacobian(&g, &sel, mode).unwrap();
        let n = openvino_matches_interpreter(&j, &values(&[1, 32, 32, 1], 2));
        assert!(n >= 2, "{mode:?}: {n} Interpolate layers");
    }
}
