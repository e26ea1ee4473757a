//! `keras2ov sensitivity`: statistics against NumPy on the JAX Jacobians of the PINN fixture,
//! streaming equals one-shot, a well-formed self-contained HTML report, and bad input refused
//! cleanly.

mod common;

use common::{fixtures, get, keras2ov, read_npz};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn pinn() -> String {
    fixtures()
        .join("models/model_pinn.keras")
        .display()
        .to_string()
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect()
}

/// Run `sensitivity` into `dir/name`; panics with stderr on failure.
fn report(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let o = out.display().to_string();
    let mut all = vec!["sensitivity", "-q"];
    all.extend(args);
    all.extend(["-o", &o]);
    let (ok, _, err) = keras2ov(&all);
    assert!(ok, "{all:?} failed:\n{err}");
    out
}

fn read_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("sensitivity.json")).unwrap()).unwrap()
}

fn close(got: f64, want: f64, rtol: f64, atol: f64) -> bool {
    (got - want).abs() <= atol + rtol * want.abs()
}

/// The PINN's 5 fixture rows as CSV (columns x, t) with `extra` rows appended.
fn pinn_csv(path: &Path, header: &str, extra: &str) {
    let a = read_npz(&fixtures().join("models/model_pinn.inputs.npz"));
    let (x, t) = (get(&a, "x"), get(&a, "t"));
    let mut s = format!("{header}\n");
    for (xv, tv) in x.iter().zip(t.iter()) {
        s.push_str(&format!("{xv},{tv}\n"));
    }
    s.push_str(extra);
    std::fs::write(path, s).unwrap();
}

#[test]
fn pinn_statistics_match_numpy_on_jax_jacobians() {
    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("sensitivity/pinn_expected.json")).unwrap(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = fixtures().join("models/model_pinn.inputs.npz");
    let ps = dir.path().join("per_sample.npz");
    let out = report(
        dir.path(),
        "rep",
        &[
            &pinn(),
            "--data",
            &data.display().to_string(),
            "--interactions",
            "--per-sample",
            &ps.display().to_string(),
        ],
    );
    let got = read_json(&out);
    assert_eq!(got["rows"]["used"], want["rows"]);
    assert_eq!(got["rows"]["skipped_nonfinite"], 0);
    assert_eq!(got["tool"]["name"], "keras2ov");
    assert_eq!(got["inputs"][0]["name"], "x");
    assert_eq!(got["outputs"][0]["shape"], serde_json::json!([1]));
    // f32 Jacobians from OpenVINO against f32 Jacobians from JAX, reduced in f64.
    let (rtol, atol) = (1e-4, 1e-5);
    let sens = got["sensitivity"].as_array().unwrap();
    for w in want["sensitivity"].as_array().unwrap() {
        let g = sens
            .iter()
            .find(|g| g["feature"] == w["feature"] && g["output"] == w["output"])
            .unwrap_or_else(|| panic!("no row for {w}"));
        assert_eq!(g["n"], w["n"]);
        for key in [
            "mean", "mean_abs", "rms", "std", "min", "max", "dgsm", "scaled",
        ] {
            let (a, b) = (g[key].as_f64().unwrap(), w[key].as_f64().unwrap());
            assert!(
                close(a, b, rtol, atol),
                "{}/{} {key}: got {a}, NumPy {b}",
                w["output"],
                w["feature"]
            );
        }
        let xs = got["x"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == w["feature"])
            .unwrap();
        assert!(close(
            xs["std"].as_f64().unwrap(),
            w["std_x"].as_f64().unwrap(),
            1e-6,
            1e-7
        ));
        let ys = &got["y"][0];
        assert!(close(
            ys["std"].as_f64().unwrap(),
            w["std_y"].as_f64().unwrap(),
            rtol,
            atol
        ));
    }
    assert_eq!(got["ranking"]["u"], want["ranking"]);
    let gi = &got["interactions"]["mean_abs"]["u"];
    for (i, row) in want["interactions"].as_array().unwrap().iter().enumerate() {
        for (j, w) in row.as_array().unwrap().iter().enumerate() {
            let (a, b) = (gi[i][j].as_f64().unwrap(), w.as_f64().unwrap());
            assert!(
                close(a, b, rtol, atol),
                "interaction [{i}][{j}]: {a} vs {b}"
            );
        }
    }
    // The CSV: header and one row per (output, feature), same numbers.
    let csv = std::fs::read_to_string(out.join("sensitivity.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "output,feature,rank,n,mean,mean_abs,rms,std,min,max,dgsm,std_x,std_y,scaled,scaled_ci95"
    );
    assert_eq!(lines.len(), 3);
    assert!(lines[1].starts_with("u,x,1,5,"), "{}", lines[1]);
    // The raw per-sample Jacobians equal JAX's.
    let raw = read_npz(&ps);
    let jax = read_npz(&fixtures().join("models/model_pinn.derivs.npz"));
    for key in ["jacobian/u/x", "jacobian/u/t"] {
        let (a, b) = (get(&raw, key), get(&jax, key));
        assert_eq!(a.shape(), b.shape(), "{key}");
        for (p, q) in a.iter().zip(b.iter()) {
            assert!(close(*p as f64, *q as f64, 1e-4, 1e-5), "{key}: {p} vs {q}");
        }
    }
    assert_eq!(get(&raw, "x").shape(), &[5, 1]);
}

fn stat_values(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    for s in v["sensitivity"].as_array().unwrap() {
        for key in [
            "mean", "mean_abs", "rms", "std", "min", "max", "dgsm", "scaled",
        ] {
            out.push(s[key].as_f64().unwrap());
        }
    }
    for side in ["x", "y"] {
        for s in v[side].as_array().unwrap() {
            out.push(s["mean"].as_f64().unwrap());
            out.push(s["std"].as_f64().unwrap());
        }
    }
    out
}

#[test]
fn streaming_in_batches_of_1_7_and_all_gives_the_same_statistics() {
    let dir = tempfile::tempdir().unwrap();
    // 5 fixture rows + 40 more, one row with NaN and one with inf (skipped and counted), and
    // the columns in another order plus an unused one, mapped with --columns.
    let csv = dir.path().join("d.csv");
    let mut extra = String::new();
    for i in 0..40 {
        let x = (i as f32 * 0.37).sin();
        let t = (i as f32 * 0.11).cos().abs();
        extra.push_str(&format!("{x},{t}\n"));
    }
    extra.push_str("nan,0.5\n0.2,inf\n");
    pinn_csv(&csv, "x,t", &extra);
    let text = std::fs::read_to_string(&csv).unwrap();
    let reordered = dir.path().join("r.csv");
    let mut r = String::from("id,time,pos\n");
    for (k, line) in text.lines().skip(1).enumerate() {
        let (x, t) = line.split_once(',').unwrap();
        r.push_str(&format!("{k},{t},{x}\n"));
    }
    std::fs::write(&reordered, r).unwrap();

    let data = csv.display().to_string();
    let runs: Vec<Value> = ["1", "7", "1000"]
        .iter()
        .map(|b| {
            let out = report(
                dir.path(),
                &format!("b{b}"),
                &[&pinn(), "--data", &data, "--batch", b],
            );
            read_json(&out)
        })
        .collect();
    let mapped = read_json(&report(
        dir.path(),
        "mapped",
        &[
            &pinn(),
            "--data",
            &reordered.display().to_string(),
            "--columns",
            "x=pos",
            "t=time",
            "--batch",
            "16",
        ],
    ));
    assert_eq!(mapped["features"][0]["name"], "pos");
    assert_eq!(mapped["features"][1]["name"], "time");
    for v in runs.iter().chain([&mapped]) {
        assert_eq!(v["rows"]["read"], 47);
        assert_eq!(v["rows"]["used"], 45);
        assert_eq!(v["rows"]["skipped_nonfinite"], 2);
    }
    let base = stat_values(&runs[2]);
    for v in runs.iter().chain([&mapped]) {
        // OpenVINO may round differently with another batch size; the reduction is exact.
        for (a, b) in stat_values(v).iter().zip(&base) {
            assert!(close(*a, *b, 1e-5, 1e-6), "{a} vs {b}");
        }
    }
}

#[test]
fn html_report_is_well_formed_self_contained_and_has_every_chart() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixtures().join("models/model_pinn.inputs.npz");
    let out = report(
        dir.path(),
        "rep",
        &[
            &pinn(),
            "--data",
            &data.display().to_string(),
            "--interactions",
            "--feature-names",
            "position,time",
        ],
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&html, opts)
        .unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    assert!(!html.contains("http"), "report.html names a URL");
    for tag in ["script", "link", "img", "iframe"] {
        assert!(
            !doc.descendants().any(|n| n.has_tag_name(tag)),
            "report.html has a <{tag}>"
        );
    }
    let count = |kind: &str| {
        doc.descendants()
            .filter(|n| n.has_tag_name("svg") && n.attribute("data-kind") == Some(kind))
            .count()
    };
    // One output component, two features: one ranked bar chart, one output x input heatmap,
    // one box plot, a scatter per top feature (2) and one interaction heatmap.
    assert_eq!(count("bar"), 1);
    assert_eq!(count("heatmap"), 1);
    assert_eq!(count("box"), 1);
    assert_eq!(count("scatter"), 2);
    assert_eq!(count("interactions"), 1);
    // Every chart has a title and labelled axes (text elements).
    for svg in doc.descendants().filter(|n| n.has_tag_name("svg")) {
        assert!(svg.children().any(|c| c.has_tag_name("title")));
        assert!(svg.descendants().filter(|c| c.has_tag_name("text")).count() >= 3);
    }
    for words in ["position", "time", "Sobol", "Kucherenko", "rows skipped"] {
        assert!(html.contains(words), "report.html lacks {words:?}");
    }
    let j = read_json(&out);
    assert_eq!(j["features"][0]["name"], "position");
    // One output, two inputs: `--mode auto` runs reverse mode, and both files say so.
    assert_eq!(j["mode"], "reverse");
    assert!(html.contains("by reverse-mode automatic differentiation"));
}

/// A failing run into a fresh directory: non-zero exit, the words in stderr, nothing left.
fn fails_cleanly(data_name: &str, data: Option<&str>, args: &[&str], words: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(data_name);
    if let Some(text) = data {
        std::fs::write(&path, text).unwrap();
    }
    let outdir = dir.path().join("out");
    let (p, o) = (path.display().to_string(), outdir.display().to_string());
    let pinn = pinn();
    let mut all = vec!["sensitivity", "-q", &pinn, "--data", &p, "-o", &o];
    all.extend(args);
    let (ok, _, err) = keras2ov(&all);
    common::assert_fails_saying(&all, ok, &err, words);
    let left: Vec<PathBuf> = entries(dir.path())
        .into_iter()
        .filter(|e| *e != path)
        .collect();
    assert!(left.is_empty(), "{all:?} left {left:?}");
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_no_report() {
    fails_cleanly(
        "d.csv",
        Some("x,t,z\n0.1,0.2,0.3\n"),
        &[],
        &["3 columns", "2 values", "--columns"],
    );
    fails_cleanly(
        "d.csv",
        Some("x,t\n0.1,0.2\n0.3,0.4,0.5\n"),
        &[],
        &["line 3", "3 fields", "header has 2"],
    );
    fails_cleanly(
        "d.csv",
        Some("x,t\n0.1,0.2\n0.3,abc\n"),
        &[],
        &["line 3", "\"abc\" is not a number"],
    );
    fails_cleanly(
        "d.csv",
        Some("a,b\n0.1,0.2\n"),
        &["--columns", "x=a", "y=b"],
        &["no input named 'y'", "x, t"],
    );
    fails_cleanly("d.csv", Some("x,t\n"), &[], &["no rows"]);
    fails_cleanly("d.csv", Some("x,t\nnan,1\n"), &[], &["NaN or infinite"]);
    fails_cleanly("d.csv", Some("x,t\n1,2\n"), &["--wrt", "q"], &["q", "x, t"]);
    fails_cleanly("missing.csv", None, &[], &["missing.csv"]);
    fails_cleanly("d.txt", Some("1 2\n"), &[], &["unknown data format"]);
}

/// Multi-element inputs and outputs: every (component, feature) pair lands where JAX puts it.
#[test]
fn multi_element_inputs_and_outputs_match_the_jax_jacobian_layout() {
    for name in ["model_two_input", "model_multi_output"] {
        let dir = tempfile::tempdir().unwrap();
        let model = fixtures().join(format!("models/{name}.keras"));
        let data = fixtures().join(format!("models/{name}.inputs.npz"));
        let out = report(
            dir.path(),
            "rep",
            &[
                &model.display().to_string(),
                "--data",
                &data.display().to_string(),
                "--interactions",
            ],
        );
        let j = read_json(&out);
        let jax = read_npz(&fixtures().join(format!("models/{name}.derivs.npz")));
        let outputs = j["outputs"].as_array().unwrap();
        let size = |v: &Value| -> usize {
            v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .product()
        };
        let features = j["features"].as_array().unwrap();
        let comps = j["components"].as_array().unwrap();
        let nf = features.len();
        for (ci, c) in comps.iter().enumerate() {
            let o = c["output"].as_str().unwrap();
            let osz = size(outputs.iter().find(|v| v["name"] == o).unwrap());
            let oi = c["index"].as_u64().unwrap() as usize;
            for (fi, f) in features.iter().enumerate() {
                let inp = f["input"].as_str().unwrap();
                let ii = f["index"].as_u64().unwrap() as usize;
                let block = get(&jax, &format!("jacobian/{o}/{inp}"));
                let b = block.shape()[0];
                let isz = block.len() / b / osz;
                let vals: Vec<f64> = (0..b)
                    .map(|r| block.as_slice().unwrap()[(r * osz + oi) * isz + ii] as f64)
                    .collect();
                let mean = vals.iter().sum::<f64>() / b as f64;
                let mean_abs = vals.iter().map(|v| v.abs()).sum::<f64>() / b as f64;
                let s = &j["sensitivity"][ci * nf + fi];
                assert_eq!(s["output"], c["name"]);
                assert_eq!(s["feature"], f["name"]);
                assert!(
                    close(s["mean"].as_f64().unwrap(), mean, 1e-4, 1e-5),
                    "{name} {s}"
                );
                assert!(
                    close(s["mean_abs"].as_f64().unwrap(), mean_abs, 1e-4, 1e-5),
                    "{name} {s}"
                );
            }
            // The Hessian block of the first and last feature.
            let (fa, fb) = (&features[0], &features[nf - 1]);
            let (ia, ib) = (fa["input"].as_str().unwrap(), fb["input"].as_str().unwrap());
            let block = get(&jax, &format!("hessian/{o}/{ia}/{ib}"));
            let b = block.shape()[0];
            let sa = features.iter().filter(|f| f["input"] == ia).count();
            let sb = features.iter().filter(|f| f["input"] == ib).count();
            let (ea, eb) = (
                fa["index"].as_u64().unwrap() as usize,
                fb["index"].as_u64().unwrap() as usize,
            );
            let want = (0..b)
                .map(|r| {
                    block.as_slice().unwrap()[((r * osz + oi) * sa + ea) * sb + eb].abs() as f64
                })
                .sum::<f64>()
                / b as f64;
            let got = j["interactions"]["mean_abs"][c["name"].as_str().unwrap()][0][nf - 1]
                .as_f64()
                .unwrap();
            assert!(
                close(got, want, 1e-4, 1e-5),
                "{name} hessian: {got} vs {want}"
            );
        }
    }
}

#[test]
fn an_earlier_report_is_replaced_but_another_directory_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = fixtures().join("models/model_pinn.inputs.npz");
    let d = data.display().to_string();
    let out = report(dir.path(), "rep", &[&pinn(), "--data", &d]);
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    let out = report(dir.path(), "rep", &[&pinn(), "--data", &d]);
    assert!(!out.join("stale.txt").exists());
    assert!(out.join("report.html").is_file());
    // Nothing but the report is left beside it (no temporary or moved-aside directory).
    assert_eq!(entries(dir.path()), vec![out.clone()]);

    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep.txt"), "mine").unwrap();
    let o = other.display().to_string();
    let (ok, _, err) = keras2ov(&["sensitivity", "-q", &pinn(), "--data", &d, "-o", &o]);
    assert!(
        !ok && err.contains("not an earlier sensitivity report"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(other.join("keep.txt")).unwrap(),
        "mine"
    );
    assert_eq!(entries(dir.path()).len(), 2);
}
