//! `sensitivity --stats-out` and `keras2ov report`: shards of a data set merge into the report
//! of one run over it; shards of another model or selection are refused; `convert
//! --ovms-repo` writes a model server repository.

mod common;

use common::{fixtures, keras2ov};
use serde_json::Value;
use std::path::Path;

fn model(name: &str) -> String {
    fixtures()
        .join(format!("models/{name}.keras"))
        .display()
        .to_string()
}

fn run(args: &[&str]) {
    let (ok, _, err) = keras2ov(args);
    assert!(ok, "{args:?} failed:\n{err}");
}

fn fails(args: &[&str]) -> String {
    let (ok, _, err) = keras2ov(args);
    assert!(!ok, "{args:?} succeeded");
    err
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A PINN data set of `n` rows (x, t) starting at row `from`, as CSV.
fn csv(path: &Path, rows: std::ops::Range<usize>) {
    let mut s = String::from("x,t\n");
    for i in rows {
        let x = (i as f32 * 0.731).sin();
        let t = ((i as f32 * 0.173).cos() + 1.0) / 2.0;
        s.push_str(&format!("{x},{t}\n"));
    }
    std::fs::write(path, s).unwrap();
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn shards_merge_into_the_report_of_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pinn = model("model_pinn");
    csv(&d.join("all.csv"), 0..3000);
    let cuts = [0, 1, 1000, 2999, 3000];
    let mut shards = Vec::new();
    for (k, w) in cuts.windows(2).enumerate() {
        let data = d.join(format!("part{k}.csv"));
        csv(&data, w[0]..w[1]);
        let shard = d.join(format!("part{k}.json"));
        run(&[
            "sensitivity",
            &pinn,
            "--data",
            &p(&data),
            "--interactions",
            "-q",
            "--stats-out",
            &p(&shard),
        ]);
        shards.push(p(&shard));
    }
    assert!(!d.join("rep").exists());
    run(&[
        "sensitivity",
        &pinn,
        "--data",
        &p(&d.join("all.csv")),
        "--interactions",
        "-q",
        "-o",
        &p(&d.join("single")),
        "--stats-out",
        &p(&d.join("all.json")),
    ]);
    let mut args = vec!["report"];
    args.extend(shards.iter().map(String::as_str));
    let merged_dir = p(&d.join("merged"));
    args.extend(["-o", &merged_dir]);
    run(&args);
    let (single, merged) = (
        json(&d.join("single/sensitivity.json")),
        json(&d.join("merged/sensitivity.json")),
    );
    // Everything but the data's name and the time taken is the single run's.
    for key in [
        "inputs",
        "outputs",
        "wrt",
        "of",
        "features",
        "components",
        "rows",
        "ranking",
        "mode",
        "precision",
        "batch",
    ] {
        assert_eq!(single[key], merged[key], "{key}");
    }
    assert!(
        merged["data"].as_str().unwrap().starts_with("4 shards: "),
        "{}",
        merged["data"]
    );
    let close = |a: &Value, b: &Value| {
        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
        (a - b).abs() <= 1e-9 + 1e-9 * b.abs()
    };
    for (a, b) in single["sensitivity"]
        .as_array()
        .unwrap()
        .iter()
        .zip(merged["sensitivity"].as_array().unwrap())
    {
        for k in [
            "mean",
            "mean_abs",
            "rms",
            "std",
            "min",
            "max",
            "dgsm",
            "scaled",
            "scaled_ci95",
        ] {
            assert!(close(&a[k], &b[k]), "{k}: {} vs {}", a[k], b[k]);
        }
    }
    let hs = single["interactions"]["mean_abs"]["u"].as_array().unwrap();
    let hm = merged["interactions"]["mean_abs"]["u"].as_array().unwrap();
    for (a, b) in hs
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .zip(hm.iter().flat_map(|r| r.as_array().unwrap()))
    {
        assert!(close(a, b), "{a} vs {b}");
    }
    // The HTML report is written from the merged statistics and sample (2,000 of 3,000 rows).
    let html = std::fs::read_to_string(d.join("merged/report.html")).unwrap();
    assert!(html.contains("4 shards"), "the summary names the shards");
    // `report --stats-out` writes the merged shard: all rows, a full merged sample.
    let again = d.join("again.json");
    run(&[
        "report",
        &shards[0],
        &shards[1],
        &shards[2],
        &shards[3],
        "--stats-out",
        &p(&again),
    ]);
    let a = json(&again);
    assert_eq!(a["analysis"]["rows_read"], 3000);
    assert_eq!(
        a["analysis"]["stats"]["sample"]["rows"]
            .as_array()
            .unwrap()
            .len(),
        2000
    );
    assert_eq!(a["analysis"]["stats"]["sample"]["seen"], 3000);
}

#[test]
fn shards_of_other_models_or_selections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pinn = model("model_pinn");
    csv(&d.join("a.csv"), 0..50);
    let shard = |name: &str, m: &str, extra: &[&str]| {
        let out = p(&d.join(name));
        let mut args = vec!["sensitivity", m, "--data", "", "-q", "--stats-out", &out];
        let data = p(&d.join("a.csv"));
        args[3] = &data;
        args.extend(extra);
        run(&args);
        out
    };
    let a = shard("a.json", &pinn, &[]);
    let wrt = shard("wrt.json", &pinn, &["--wrt", "x"]);
    let inter = shard("inter.json", &pinn, &["--interactions"]);
    let names = shard("names.json", &pinn, &["--feature-names", "p,q"]);
    // The same architecture with other weights is another model.
    let copy = d.join("copy.keras");
    std::fs::copy(fixtures().join("models/model_pinn.keras"), &copy).unwrap();
    let same = shard("same.json", &p(&copy), &[]);
    let two = fixtures().join("models/model_two_input.keras");
    let other_model = {
        let out = p(&d.join("other.json"));
        let npz = fixtures().join("models/model_two_input.inputs.npz");
        run(&[
            "sensitivity",
            &p(&two),
            "--data",
            &p(&npz),
            "-q",
            "--stats-out",
            &out,
        ]);
        out
    };
    let out = p(&d.join("rep"));
    for (bad, words) in [
        (
            &other_model,
            &["another model", "sha256", "model_two_input.keras"][..],
        ),
        (&wrt, &["another selection", "--wrt x", "--wrt x,t"][..]),
        (&inter, &["another selection", "--interactions"][..]),
        (&names, &["names its features p, q", "x, t"][..]),
    ] {
        let err = fails(&["report", &a, bad, "-o", &out]);
        for w in words {
            assert!(err.contains(w), "{w:?} not in {err}");
        }
        assert!(err.contains(bad.as_str()) && err.contains(&a), "{err}");
        assert!(!d.join("rep").exists());
    }
    // A copy of the same file is the same model.
    run(&["report", &a, &same, "-o", &out]);
    // Not a shard, a damaged shard, and no output at all.
    std::fs::write(d.join("x.json"), "{\"format\": \"other\"}").unwrap();
    let err = fails(&["report", &p(&d.join("x.json")), "-o", &out]);
    assert!(err.contains("not a keras2ov sensitivity shard"), "{err}");
    let mut v = json(Path::new(&a));
    v["analysis"]["stats"]["jac"].as_array_mut().unwrap().pop();
    std::fs::write(d.join("bad.json"), v.to_string()).unwrap();
    let err = fails(&["report", &p(&d.join("bad.json")), "-o", &out]);
    assert!(err.contains("malformed shard"), "{err}");
    let err = fails(&["report", &a]);
    assert!(err.contains("--output") || err.contains("-o"), "{err}");
    let err = fails(&["sensitivity", &pinn, "--data", &p(&d.join("a.csv"))]);
    assert!(
        err.contains("--stats-out") || err.contains("--output"),
        "{err}"
    );
}

#[test]
fn ovms_repository_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let pinn = model("model_pinn");
    run(&[
        "convert",
        &pinn,
        "--hessian",
        "--ovms-repo",
        &p(&repo),
        "--name",
        "pinn_h",
        "--version",
        "2",
    ]);
    assert!(repo.join("pinn_h/2/model.xml").is_file());
    assert!(repo.join("pinn_h/2/model.bin").is_file());
    let c = json(&repo.join("config.json"));
    assert_eq!(c["model_config_list"][0]["config"]["name"], "pinn_h");
    assert_eq!(c["model_config_list"][0]["config"]["base_path"], "pinn_h");
    assert_eq!(
        c["model_config_list"][0]["config"]["plugin_config"]["INFERENCE_PRECISION_HINT"],
        "f32"
    );
    let err = fails(&["convert", &pinn, "--ovms-repo", &p(&repo)]);
    assert!(err.contains("--name"), "{err}");
    let err = fails(&[
        "convert",
        &pinn,
        "--ovms-repo",
        &p(&repo),
        "--name",
        "m",
        "-o",
        "x.xml",
    ]);
    assert!(err.contains("cannot be used with"), "{err}");
}
