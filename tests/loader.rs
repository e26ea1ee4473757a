//! Integration tests of `keras2ov::loader`: real archives from `fixtures/` (written by Keras
//! 3.15.1), one archive kept with the loader (`src/loader/testdata/dtypes.keras`), and small
//! archives built here with the `zip` and `hdf5` crates to exercise the weight-file checks.
//!
//! Expected weight values were read with h5py from the archives and pasted here.

use keras2ov::layer_graph::{Arg, KerasModel, LayerNode, LoadedModel, NodeKind, TensorRef};
use keras2ov::loader::{load, load_bytes, LoadError};
use serde_json::{json, Value};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

fn load_fixture(rel: &str) -> LoadedModel {
    let p = fixture(rel);
    load(&p).unwrap_or_else(|e| panic!("loading {}: {e}", p.display()))
}

fn load_err(rel: &str) -> String {
    let p = fixture(rel);
    match load(&p) {
        Ok(_) => panic!("{} loaded, but it should be refused", p.display()),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "expected {p:?} in:\n{msg}");
    }
}

fn tref(layer: &str, node_index: usize, tensor_index: usize) -> TensorRef {
    TensorRef {
        layer: layer.into(),
        node_index,
        tensor_index,
    }
}

fn names(m: &KerasModel) -> Vec<&str> {
    m.layers.iter().map(|l| l.name.as_str()).collect()
}

fn weight_paths(l: &LayerNode) -> Vec<&str> {
    l.weights.iter().map(|w| w.path.as_str()).collect()
}

fn shapes(l: &LayerNode) -> Vec<Vec<usize>> {
    l.weights.iter().map(|w| w.value.shape().to_vec()).collect()
}

/// Every call's tensors come from an earlier layer, or from an earlier call of the same layer.
fn assert_topological(m: &KerasModel) {
    for (i, l) in m.layers.iter().enumerate() {
        for (c, call) in l.calls.iter().enumerate() {
            let mut refs = Vec::new();
            for a in call.args.iter().chain(call.kwargs.iter().map(|(_, a)| a)) {
                collect(a, &mut refs);
            }
            for r in refs {
                let j = m.layers.iter().position(|x| x.name == r.layer).unwrap();
                assert!(
                    j < i || (j == i && r.node_index < c),
                    "{}: call {c} of `{}` uses `{}` which comes later",
                    m.name,
                    l.name,
                    r.layer
                );
            }
        }
        if let NodeKind::Model(inner) = &l.kind {
            assert_topological(inner);
        }
    }
}

fn collect(a: &Arg, out: &mut Vec<TensorRef>) {
    match a {
        Arg::Tensor(r) => out.push(r.clone()),
        Arg::List(v) => v.iter().for_each(|x| collect(x, out)),
        Arg::Literal(_) => {}
    }
}

fn approx(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-7 * y.abs().max(1.0), "{a:?} vs {b:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The archive kept with the loader: weight dtypes and numeric variable order.
// ---------------------------------------------------------------------------------------

const DTYPES: &[u8] = include_bytes!("../src/loader/testdata/dtypes.keras");

#[test]
fn dtypes_bfloat16_float16_and_many_vars() {
    let m = load_bytes(DTYPES, "dtypes.keras").unwrap().model;
    assert_eq!(m.class_name, "Sequential");
    assert_eq!(names(&m), ["x", "bf", "half", "many", "wide"]);
    let bf = m.layer("bf").unwrap();
    assert_eq!(
        weight_paths(bf),
        ["layers/dense/vars/0", "layers/dense/vars/1"]
    );
    // bfloat16, stored as 2-byte opaque values: exact in bf16.
    assert_eq!(
        bf.weights[0].value.iter().copied().collect::<Vec<_>>(),
        [0.5, -1.25, 3.0, 0.15625]
    );
    assert_eq!(bf.weights[1].value.as_slice().unwrap(), &[1.0, -2.0]);
    // float16, converted by HDF5.
    let half = m.layer("half").unwrap();
    assert_eq!(shapes(half), [vec![2, 2], vec![2]]);
    assert_eq!(
        half.weights[0].value.iter().copied().collect::<Vec<_>>(),
        [0.099975586, -2.5, 1024.0, 0.33325195]
    );
    assert_eq!(
        half.weights[1].value.as_slice().unwrap(),
        &[0.0009765625, -0.5]
    );
    // 12 scalar variables: vars/10 comes after vars/9, not after vars/1.
    let many = m.layer("many").unwrap();
    assert_eq!(
        many.registered_name.as_deref(),
        Some("loader_test>ManyVars")
    );
    let vals: Vec<f32> = many.weights.iter().map(|w| w.value.sum()).collect();
    assert_eq!(vals, (0..12).map(|i| i as f32).collect::<Vec<_>>());
    assert_eq!(many.weights[10].path, "layers/many_vars/vars/10");
    assert!(many.weights.iter().all(|w| w.value.ndim() == 0));
    let wide = m.layer("wide").unwrap();
    approx(wide.weights[0].value.as_slice().unwrap(), &[0.1, -0.2]);
    assert_eq!(m.output_names(), ["wide"]);
}

// ---------------------------------------------------------------------------------------
// Archives built here.
// ---------------------------------------------------------------------------------------

/// A zip with the given entries.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// An archive with `config`, and weights written by `fill` into a fresh HDF5 file.
fn build(config: &Value, fill: impl FnOnce(&hdf5::File)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("w.h5");
    {
        let f = hdf5::File::create(&p).unwrap();
        fill(&f);
    }
    let h5 = std::fs::read(&p).unwrap();
    zip_of(&[
        ("metadata.json", br#"{"keras_version": "3.15.1"}"#),
        ("config.json", config.to_string().as_bytes()),
        ("model.weights.h5", &h5),
    ])
}

fn set_name(g: &hdf5::Group, name: &str) {
    use hdf5::types::VarLenUnicode;
    let v: VarLenUnicode = name.parse().unwrap();
    g.new_attr::<VarLenUnicode>()
        .shape(())
        .create("name")
        .unwrap()
        .write_scalar(&v)
        .unwrap();
}

/// `<path>/vars` with a name attribute; returns the vars group.
fn vars(f: &hdf5::File, path: &str, name: &str) -> hdf5::Group {
    let g = if path.is_empty() {
        f.create_group("vars").unwrap()
    } else {
        f.create_group(&format!("{path}/vars")).unwrap()
    };
    set_name(&g, name);
    g
}

fn put_f64(g: &hdf5::Group, name: &str, shape: &[usize], data: &[f64]) {
    let a = ndarray::ArrayD::from_shape_vec(shape.to_vec(), data.to_vec()).unwrap();
    g.new_dataset_builder().with_data(&a).create(name).unwrap();
}

fn kt(layer: &str, node: usize) -> Value {
    json!({"class_name": "__keras_tensor__",
           "config": {"shape": [null, 2], "dtype": "float32", "keras_history": [layer, node, 0]}})
}

/// x(2) -> Dense d1 -> Dense d2, Functional.
fn two_dense() -> Value {
    let dense = |name: &str, from: &str| {
        json!({"module": "keras.layers", "class_name": "Dense", "registered_name": null,
               "name": name, "config": {"name": name, "units": 2},
               "inbound_nodes": [{"args": [kt(from, 0)], "kwargs": {}}]})
    };
    json!({"module": "keras.src.models.functional", "class_name": "Functional",
           "config": {"name": "two", "layers": [
               {"module": "keras.layers", "class_name": "InputLayer", "name": "x",
                "config": {"batch_shape": [null, 2], "dtype": "float32", "name": "x"},
                "inbound_nodes": []},
               dense("d1", "x"), dense("d2", "d1")],
             "input_layers": [["x", 0, 0]], "output_layers": [["d2", 0, 0]]}})
}

fn good_weights(f: &hdf5::File) {
    vars(f, "", "two");
    vars(f, "layers/input_layer", "x");
    let g = vars(f, "layers/dense", "d1");
    put_f64(&g, "0", &[2, 2], &[1.5, -2.0, 0.25, 4.0]);
    put_f64(&g, "1", &[2], &[0.5, -0.5]);
    let g = vars(f, "layers/dense_1", "d2");
    put_f64(&g, "0", &[2, 2], &[1.0, 2.0, 3.0, 4.0]);
    put_f64(&g, "1", &[2], &[0.0, 1.0]);
}

#[test]
fn built_archive_loads_and_converts_f64() {
    let bytes = build(&two_dense(), good_weights);
    let m = load_bytes(&bytes, "built.keras").unwrap().model;
    let d1 = m.layer("d1").unwrap();
    assert_eq!(
        weight_paths(d1),
        ["layers/dense/vars/0", "layers/dense/vars/1"]
    );
    assert_eq!(
        d1.weights[0].value.iter().copied().collect::<Vec<_>>(),
        [1.5, -2.0, 0.25, 4.0]
    );
    assert_eq!(
        m.layer("d2").unwrap().weights[1].value.as_slice().unwrap(),
        &[0.0, 1.0]
    );
    assert!(m.layer("x").unwrap().weights.is_empty());
}

#[test]
fn weight_group_named_for_another_layer() {
    let bytes = build(&two_dense(), |f| {
        vars(f, "", "two");
        vars(f, "layers/input_layer", "x");
        vars(f, "layers/dense", "d2");
        vars(f, "layers/dense_1", "d1");
    });
    let e = load_bytes(&bytes, "swapped.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "swapped.keras",
            "`layers/dense`",
            "layer `d2`",
            "config's layer `d1`",
        ],
    );
}

#[test]
fn orphan_and_missing_weight_groups() {
    let bytes = build(&two_dense(), |f| {
        good_weights(f);
        vars(f, "layers/conv2d", "ghost");
    });
    let e = load_bytes(&bytes, "orphan.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "orphan.keras",
            "`layers/conv2d`",
            "saved for layer `ghost`",
            "matches no layer",
        ],
    );

    let bytes = build(&two_dense(), |f| {
        vars(f, "", "two");
        vars(f, "layers/input_layer", "x");
        vars(f, "layers/dense", "d1");
    });
    let e = load_bytes(&bytes, "missing.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "missing.keras",
            "`layers/dense_1`",
            "no weight group for layer `d2`",
        ],
    );
}

#[test]
fn group_found_by_name_when_not_at_rule_path() {
    // d2's group sits under an unexpected name but carries d2's name: accepted.
    let bytes = build(&two_dense(), |f| {
        vars(f, "", "two");
        vars(f, "layers/input_layer", "x");
        vars(f, "layers/dense", "d1");
        let g = vars(f, "layers/my_dense", "d2");
        put_f64(&g, "0", &[1, 2], &[7.0, 8.0]);
    });
    let m = load_bytes(&bytes, "moved.keras").unwrap().model;
    let d2 = m.layer("d2").unwrap();
    assert_eq!(weight_paths(d2), ["layers/my_dense/vars/0"]);
    assert_eq!(d2.weights[0].value.as_slice().unwrap(), &[7.0, 8.0]);
}

#[test]
fn bad_vars_members() {
    let bytes = build(&two_dense(), |f| {
        good_weights(f);
        let g = f.group("layers/dense_1/vars").unwrap();
        put_f64(&g, "3", &[1], &[1.0]);
    });
    let e = load_bytes(&bytes, "gap.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "gap.keras",
            "`layers/dense_1/vars`",
            "numbered 0, 1, 3",
            "variable 2 is missing",
        ],
    );

    let bytes = build(&two_dense(), |f| {
        good_weights(f);
        let g = f.group("layers/dense_1/vars").unwrap();
        g.link_soft("/layers/dense/vars/0", "2").unwrap();
    });
    let e = load_bytes(&bytes, "link.keras").unwrap_err().to_string();
    assert_contains(&e, &["`layers/dense_1/vars/2`", "soft link"]);

    let bytes = build(&two_dense(), |f| {
        good_weights(f);
        let g = f.group("layers/dense_1/vars").unwrap();
        g.new_dataset::<f32>()
            .shape([1000, 1000])
            .create("2")
            .unwrap();
    });
    let e = load_bytes(&bytes, "empty.keras").unwrap_err().to_string();
    assert_contains(&e, &["`layers/dense_1/vars/2`", "stores only 0 bytes"]);
}

#[test]
fn uint16_bfloat16_and_sub_objects() {
    // An RNN-style layer: own (empty) vars, then `cell/vars`; a uint16 bfloat16 dataset.
    let config = two_dense();
    let bytes = build(&config, |f| {
        vars(f, "", "two");
        vars(f, "layers/input_layer", "x");
        vars(f, "layers/dense", "d1");
        let cell = vars(f, "layers/dense/cell", "cell");
        let a = ndarray::arr1(&[0x3f80u16, 0xc040]);
        let ds = cell
            .new_dataset_builder()
            .with_data(&a)
            .create("0")
            .unwrap();
        let v: hdf5::types::VarLenUnicode = "bfloat16".parse().unwrap();
        ds.new_attr::<hdf5::types::VarLenUnicode>()
            .shape(())
            .create("dtype")
            .unwrap()
            .write_scalar(&v)
            .unwrap();
        let private = vars(f, "layers/dense/_private", "p");
        put_f64(&private, "0", &[1], &[9.0]);
        let other = vars(f, "layers/dense/b_sub", "b");
        put_f64(&other, "0", &[1], &[8.0]);
        vars(f, "layers/dense_1", "d2");
    });
    let m = load_bytes(&bytes, "sub.keras").unwrap().model;
    let d1 = m.layer("d1").unwrap();
    // Keras' walk order: public attributes sorted, then `_`-prefixed ones.
    assert_eq!(
        weight_paths(d1),
        [
            "layers/dense/b_sub/vars/0",
            "layers/dense/cell/vars/0",
            "layers/dense/_private/vars/0"
        ]
    );
    assert_eq!(d1.weights[1].value.as_slice().unwrap(), &[1.0, -3.0]);
}

#[test]
fn weights_entry_not_hdf5() {
    let bytes = zip_of(&[
        ("metadata.json", br#"{"keras_version": "3.15.1"}"#),
        ("config.json", two_dense().to_string().as_bytes()),
        ("model.weights.h5", b"not hdf5 at all"),
    ]);
    let e = load_bytes(&bytes, "nothdf.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "nothdf.keras",
            "model.weights.h5",
            "not a readable HDF5 file",
        ],
    );
}

#[test]
fn config_graph_errors_name_file_and_place() {
    let mut c = two_dense();
    c["config"]["layers"][2]["inbound_nodes"][0]["args"][0] = kt("nowhere", 0);
    let bytes = build(&c, good_weights);
    let e = load_bytes(&bytes, "g.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "g.keras",
            "model `two`",
            "call 0 of layer `d2`",
            "`nowhere`",
        ],
    );

    let mut c = two_dense();
    c["config"]["output_layers"] = json!([["d2", 4, 0]]);
    let bytes = build(&c, good_weights);
    let e = load_bytes(&bytes, "g.keras").unwrap_err().to_string();
    assert_contains(&e, &["output list", "node_index) 4 of layer `d2`"]);

    // d1 <-> d2 cycle.
    let mut c = two_dense();
    c["config"]["layers"][1]["inbound_nodes"][0]["args"][0] = kt("d2", 0);
    let bytes = build(&c, good_weights);
    let e = load_bytes(&bytes, "g.keras").unwrap_err().to_string();
    assert_contains(&e, &["g.keras", "cycle", "`d1`", "`d2`"]);

    let mut c = two_dense();
    c["config"]["layers"][1]["config"]["activation"] =
        json!({"class_name": "__lambda__", "config": {"value": ["bytecode"]}});
    let bytes = build(&c, good_weights);
    let e = load_bytes(&bytes, "g.keras").unwrap_err().to_string();
    assert_contains(
        &e,
        &[
            "serialized Python lambda",
            "config.layers[1].config.activation",
        ],
    );
}

#[test]
fn never_panics_on_garbage() {
    // Truncations of a valid archive at many points, and byte flips: errors, never panics.
    let good = build(&two_dense(), good_weights);
    assert!(load_bytes(&good, "good.keras").is_ok());
    for cut in (0..good.len()).step_by(good.len() / 97 + 1) {
        let r = load_bytes(&good[..cut], "cut.keras");
        if let Err(LoadError::Internal { message, .. }) = &r {
            panic!("loader panicked on a truncation at {cut}: {message}");
        }
        assert!(r.is_err(), "truncated at {cut} of {} loaded", good.len());
    }
    for at in (0..good.len()).step_by(good.len() / 61 + 1) {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        if let Err(LoadError::Internal { message, .. }) = load_bytes(&bad, "flip.keras") {
            panic!("loader panicked on a flip at {at}: {message}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Real fixtures (fixtures/models, fixtures/bad), written by Keras 3.15.1.
// ---------------------------------------------------------------------------------------

#[test]
fn every_fixture_model_loads() {
    let dir = fixture("models");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "keras") {
            let m = load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(m.keras_version, "3.15.1");
            assert_topological(&m.model);
            n += 1;
        }
    }
    assert!(n >= 10, "only {n} fixture models in {}", dir.display());
}

fn values(l: &LayerNode, i: usize) -> Vec<f32> {
    l.weights[i].value.iter().copied().collect()
}

#[test]
fn sequential_fixture_seq_mlp() {
    let m = load_fixture("models/seq_mlp.keras").model;
    assert_eq!(m.class_name, "Sequential");
    assert_eq!(names(&m), ["features", "dense", "dense_1", "logits"]);
    assert_eq!(m.inputs, [tref("features", 0, 0)]);
    assert_eq!(m.output_names(), ["logits"]);
    let spec = m.input_specs()[0].clone();
    assert_eq!(
        (spec.shape, spec.dtype.as_str()),
        (vec![None, Some(4)], "float32")
    );
    // Each layer is called once on the previous layer's output.
    assert_eq!(m.layers[3].calls.len(), 1);
    assert_eq!(
        m.layers[3].calls[0].args,
        [Arg::Tensor(tref("dense_1", 0, 0))]
    );
    let logits = m.layer("logits").unwrap();
    assert_eq!(
        weight_paths(logits),
        ["layers/dense_2/vars/0", "layers/dense_2/vars/1"]
    );
    assert_eq!(shapes(logits), [vec![6, 3], vec![3]]);
    approx(
        &values(logits, 0)[..6],
        &[
            0.0589616,
            0.25018266,
            -0.116290405,
            0.063517496,
            0.005705285,
            0.7593981,
        ],
    );
    approx(&values(logits, 1), &[-0.09777891, 0.29814205, 0.42340633]);
    assert_eq!(shapes(m.layer("dense").unwrap()), [vec![4, 8], vec![8]]);
}

#[test]
fn nested_models_fixture() {
    let m = load_fixture("models/model_nested.keras").model;
    assert_topological(&m);
    assert_eq!(m.output_names(), ["out"]);
    let inner = m.layer("inner").unwrap();
    let NodeKind::Model(inner_m) = &inner.kind else {
        panic!("inner is not a nested model")
    };
    assert_eq!(inner_m.class_name, "Functional");
    // `inner` is called twice; `middle` uses its second call.
    assert_eq!(inner.calls.len(), 2);
    assert_eq!(inner.calls[1].args, [Arg::Tensor(tref("b", 0, 0))]);
    assert_eq!(
        m.layer("middle").unwrap().calls[0].args,
        [Arg::Tensor(tref("inner", 1, 0))]
    );
    assert_eq!(inner_m.outputs, [tref("dense_1", 0, 0)]);
    assert_eq!(
        weight_paths(inner_m.layer("dense").unwrap()),
        [
            "layers/functional/layers/dense/vars/0",
            "layers/functional/layers/dense/vars/1"
        ]
    );
    // Sequential inside Functional: normalised, with its own InputLayer.
    let NodeKind::Model(seq) = &m.layer("inner_seq").unwrap().kind else {
        panic!("inner_seq is not a nested model")
    };
    assert_eq!(seq.class_name, "Sequential");
    assert_eq!(names(seq), ["seq_in", "dense_2", "dense_3"]);
    let d3 = seq.layer("dense_3").unwrap();
    assert_eq!(
        d3.weights[1].path,
        "layers/sequential/layers/dense_1/vars/1"
    );
    approx(&values(d3, 1), &[0.16649961, -0.28622353, 0.49014995]);
    // Depth 2: middle -> deepest -> dense_4.
    let NodeKind::Model(middle) = &m.layer("middle").unwrap().kind else {
        panic!("middle is not a nested model")
    };
    let NodeKind::Model(deepest) = &middle.layer("deepest").unwrap().kind else {
        panic!("deepest is not a nested model")
    };
    let d4 = deepest.layer("dense_4").unwrap();
    assert_eq!(
        d4.weights[0].path,
        "layers/functional_1/layers/functional/layers/dense/vars/0"
    );
    assert_eq!(shapes(d4), [vec![4, 5], vec![5]]);
    approx(
        &values(d4, 0)[..5],
        &[
            -0.21077831,
            -0.057503387,
            -1.2812409,
            0.44057223,
            0.31867537,
        ],
    );
    approx(
        &values(m.layer("out").unwrap(), 1),
        &[0.36674574, 0.4378962],
    );
}

#[test]
fn shared_layer_fixture() {
    let m = load_fixture("models/model_shared_layer.keras").model;
    let shared = m.layer("shared").unwrap();
    assert_eq!(shared.calls.len(), 2);
    assert_eq!(shared.calls[0].args, [Arg::Tensor(tref("a", 0, 0))]);
    assert_eq!(shared.calls[1].args, [Arg::Tensor(tref("b", 0, 0))]);
    assert_eq!(
        m.layer("subtract").unwrap().calls[0].args,
        [Arg::List(vec![
            Arg::Tensor(tref("shared", 0, 0)),
            Arg::Tensor(tref("shared", 1, 0))
        ])]
    );
    approx(
        &values(shared, 0)[..3],
        &[-0.29794362, 0.70382434, -0.21053798],
    );
}

#[test]
fn layer_order_fixture_shared_layer_listed_before_feeder() {
    let m = load_fixture("models/model_layer_order.keras").model;
    assert_topological(&m);
    let pos = |n: &str| names(&m).iter().position(|x| *x == n).unwrap();
    assert!(pos("feeder") < pos("shared"));
    // The rest keeps its saved order.
    assert!(pos("shared") < pos("deep_0") && pos("deep_0") < pos("deep_1"));
    assert_eq!(m.outputs, [tref("out_deep", 0, 0), tref("shared", 1, 0)]);
    assert_eq!(m.output_names(), ["out_deep", "shared"]);
    // Weight groups follow the *saved* order: feeder was the 5th Dense (dense_4).
    let feeder = m.layer("feeder").unwrap();
    assert_eq!(
        weight_paths(feeder),
        ["layers/dense_4/vars/0", "layers/dense_4/vars/1"]
    );
    approx(
        &values(feeder, 1),
        &[0.3822472, -0.47056505, 0.1042252, -0.37905782],
    );
}

#[test]
fn input_order_fixture() {
    let m = load_fixture("models/model_input_order.keras").model;
    // Model inputs follow input_layers, not the layers list.
    assert_eq!(m.inputs, [tref("x", 0, 0), tref("y", 0, 0)]);
    let specs: Vec<&str> = m.input_specs().iter().map(|s| s.name.as_str()).collect();
    assert_eq!(specs, ["x", "y"]);
    let x_proj = m.layer("x_proj").unwrap();
    assert_eq!(x_proj.weights[1].path, "layers/dense_2/vars/1");
    approx(&values(x_proj, 1), &[-0.35655108, 0.33446583, -0.31263876]);
}

#[test]
fn multi_output_fixtures() {
    let m = load_fixture("models/model_multi_output.keras").model;
    assert_eq!(m.output_names(), ["probs", "grid"]);
    let m = load_fixture("models/op_getitem.keras").model;
    assert_eq!(m.output_names(), ["get_item", "get_item_1", "get_item_2"]);
    let g = m.layer("get_item").unwrap();
    assert!(matches!(g.kind, NodeKind::Op));
    assert_eq!(g.module, "keras.src.ops.numpy");
    // x[:, 0]: the index tuple is a list of a `__slice__` literal and 0.
    assert_eq!(
        g.calls[0].args[1],
        Arg::List(vec![
            Arg::Literal(json!({"class_name": "__slice__",
                                "config": {"start": null, "stop": null, "step": null}})),
            Arg::Literal(json!(0)),
        ])
    );
}

#[test]
fn custom_layer_fixture_is_recorded_not_refused() {
    let m = load_fixture("bad/custom_layer.keras").model;
    let mine = m.layer("my_scale").unwrap();
    assert_eq!(mine.class_name, "MyScale");
    assert_eq!(mine.registered_name.as_deref(), Some("my_pkg>MyScale"));
    assert_eq!(mine.module, "");
    assert!(matches!(mine.kind, NodeKind::Layer));
    // A wrapper carries the weights of the layer it wraps, saved under `layer/`.
    let wrapper = m.layer("per_frame").unwrap();
    assert_eq!(shapes(wrapper), [vec![2, 2, 1, 2], vec![2]]);
    assert!(
        wrapper
            .weights
            .iter()
            .all(|w| w.path.contains("/layer/vars/")),
        "{:?}",
        wrapper.weights.iter().map(|w| &w.path).collect::<Vec<_>>()
    );
}

#[test]
fn bad_weight_shape_loads_for_lowering_to_judge() {
    // Shape checks belong to lowering; the loader hands over what the file holds.
    let m = load_fixture("bad/bad_weight_shape.keras").model;
    let d = m.layer("dense").unwrap();
    assert_eq!(shapes(d)[0], [5, 8]);
    assert!(d.weights[0].value.iter().all(|&v| v == 0.25));
}

#[test]
fn bad_fixtures_are_refused_clearly() {
    let cases: &[(&str, &[&str])] = &[
        (
            "bad/lambda.keras",
            &[
                "lambda.keras",
                "Lambda layer `lambda`",
                "config.layers[2]",
                "never executes code",
            ],
        ),
        ("bad/truncated.keras", &["truncated.keras", "truncated"]),
        ("bad/not_zip.keras", &["not_zip.keras", "not a zip archive"]),
        (
            "bad/no_weights.keras",
            &["no_weights.keras", "no `model.weights.h5` entry"],
        ),
        (
            "bad/bad_json.keras",
            &[
                "bad_json.keras",
                "`config.json` is not valid JSON",
                "line 1",
            ],
        ),
        (
            "bad/zip_bomb.keras",
            &["zip_bomb.keras", "`config.json` declares 2415919104 bytes"],
        ),
        (
            "bad/keras2.h5",
            &["keras2.h5", "legacy Keras 2 HDF5 model", "re-save"],
        ),
        (
            "bad/old_version.keras",
            &[
                "old_version.keras",
                "keras_version is \"2.15.0\"",
                "Keras 3.x",
            ],
        ),
    ];
    for (rel, parts) in cases {
        let e = load_err(rel);
        assert_contains(&e, parts);
    }
}

#[test]
fn unreadable_paths() {
    let missing = fixture("models/does_not_exist.keras");
    let e = load(&missing).unwrap_err().to_string();
    assert_contains(&e, &["cannot read", "does_not_exist.keras"]);
    let dir = fixture("models");
    let e = load(&dir).unwrap_err().to_string();
    assert_contains(&e, &["cannot read", "fixtures/models"]);
}
