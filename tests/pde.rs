//! PDE operators (Taylor mode) against JAX: on every fixture with JAX Hessians, the Laplacian
//! must be the trace of the per-sample Hessian and every second-order partial its entry, both
//! through the f64 interpreter; the PINN through OpenVINO and the CLI, residual included.
//! Tolerances: the Hessians' (atol 1e-4, rtol 1e-3).

mod common;

use common::{compare, fixtures, get, manifest, read_npz};
use keras2ov::emit::{self, ChunkPolicy};
use keras2ov::interp;
use keras2ov::opgraph::{DType, OpGraph};
use keras2ov::pde::{self, Operators};
use ndarray::{ArrayD, Axis, IxDyn};

/// The float inputs of a graph: name and elements per sample.
fn float_inputs(g: &OpGraph) -> Vec<(String, usize)> {
    g.inputs
        .iter()
        .filter(|&&p| g.dtype(p) == DType::F32)
        .map(|&p| {
            let n = g.shape(p)[1..].iter().map(|d| d.unwrap()).product();
            (g.input_name(p).to_string(), n)
        })
        .collect()
}

/// `x` or `x[i]`, as a derivative spec names an element.
fn var(name: &str, size: usize, i: usize) -> String {
    if size == 1 {
        name.to_string()
    } else {
        format!("{name}[{i}]")
    }
}

/// The JAX Hessian block `hessian/out/a/b` as `[B, n_out, n_a, n_b]`.
fn block(
    derivs: &[(String, ArrayD<f32>)],
    out: &str,
    a: &str,
    b: &str,
    na: usize,
    nb: usize,
) -> ArrayD<f64> {
    let h = get(derivs, &format!("hessian/{out}/{a}/{b}")).mapv(f64::from);
    let bsz = h.shape()[0];
    let nout = h.len() / (bsz * na * nb);
    h.into_shape_with_order(IxDyn(&[bsz, nout, na, nb]))
        .unwrap()
}

#[test]
fn laplacians_and_second_partials_match_jax_hessians() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for f in manifest()
        .into_iter()
        .filter(|f| f.entry["hessian"].as_bool() == Some(true))
        .filter(|f| !common::expected_unsupported(&f.name))
    {
        let (_, g) = keras2ov::pipeline::load_graph_shaped(&f.keras, &f.input_shapes()).unwrap();
        let ins = float_inputs(&g);
        // Float outputs only: integer ones (a cumsum of ids) are not differentiated.
        let outs: Vec<String> = g
            .outputs
            .iter()
            .filter(|(_, v)| g.dtype(*v) == DType::F32)
            .map(|(n, _)| n.clone())
            .collect();
        // The Laplacian of every output, and for each output the mixed partial of the first
        // two input elements (or the first element twice).
        let (a, b) = match ins.as_slice() {
            [(x, n), ..] if *n > 1 => ((x.clone(), *n, 0), (x.clone(), *n, 1)),
            [(x, n), (y, m), ..] => ((x.clone(), *n, 0), (y.clone(), *m, 0)),
            [(x, n)] => ((x.clone(), *n, 0), (x.clone(), *n, 0)),
            [] => continue,
        };
        let specs: Vec<String> = outs
            .iter()
            .map(|o| format!("{o}/{}/{}", var(&a.0, a.1, a.2), var(&b.0, b.1, b.2)))
            .collect();
        let ops = Operators {
            laplacian: true,
            derivatives: specs.clone(),
            ..Default::default()
        };
        let mut d = g.clone();
        if let Err(e) = pde::add(&mut d, &ops, &[], &[]) {
            failures.push(format!("{}: {e}", f.name));
            continue;
        }
        let inputs = read_npz(&f.inputs);
        let args: Vec<_> = d
            .inputs
            .iter()
            .map(|&p| get(&inputs, d.input_name(p)).mapv(f64::from))
            .collect();
        let got = interp::eval(&d, &args).unwrap();
        let value = |name: &str| -> &ArrayD<f64> {
            let k = d.outputs.iter().position(|(n, _)| n == name).unwrap();
            &got[k]
        };
        let derivs = read_npz(&f.derivs);
        for (o, spec) in outs.iter().zip(&specs) {
            // trace over every input's diagonal block
            let mut trace: Option<ArrayD<f64>> = None;
            for (x, n) in &ins {
                let h = block(&derivs, o, x, x, *n, *n);
                let diag = (0..*n)
                    .map(|i| h.index_axis(Axis(3), i).index_axis(Axis(2), i).to_owned())
                    .reduce(|p, q| p + q)
                    .unwrap();
                trace = Some(match trace {
                    Some(t) => t + diag,
                    None => diag,
                });
            }
            let lap = value(&format!("laplacian/{o}"));
            let want = trace.unwrap().into_shape_with_order(lap.raw_dim()).unwrap();
            if let Some(m) = compare(lap, &want.mapv(|v| v as f32), 1e-4, 1e-3) {
                failures.push(format!("{}: laplacian/{o}: {m}", f.name));
            }
            let h = block(&derivs, o, &a.0, &b.0, a.1, b.1);
            let entry = h
                .index_axis(Axis(3), b.2)
                .index_axis(Axis(2), a.2)
                .to_owned();
            let partial = value(&format!("derivative/{spec}"));
            let want = entry.into_shape_with_order(partial.raw_dim()).unwrap();
            if let Some(m) = compare(partial, &want.mapv(|v| v as f32), 1e-4, 1e-3) {
                failures.push(format!("{}: derivative/{spec}: {m}", f.name));
            }
            checked += 2;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 100, "only {checked} quantities compared");
}

/// The PINN through the CLI and OpenVINO: the heat residual `u_t - 0.1 u_xx` and the
/// Laplacian against JAX, and the same names `jacobian` writes; again on the fixture's samples
/// repeated 2401 times, a batch the emitter cuts into 3 chunks for the cache (of 4002, 4002
/// and 4001 samples: a misplaced chunk would show).
#[test]
fn the_cli_builds_operators_and_residuals_into_the_ir() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixtures().join("models/model_pinn.keras");
    let inputs = fixtures().join("models/model_pinn.inputs.npz");
    let tiled = dir.path().join("tiled.npz");
    let repeat = 2401;
    let arrays: Vec<(String, ArrayD<f32>)> = read_npz(&inputs)
        .into_iter()
        .map(|(n, a)| {
            let views = vec![a.view(); repeat];
            (n, ndarray::concatenate(Axis(0), &views).unwrap())
        })
        .collect();
    keras2ov::io::write_npz(&tiled, &arrays).unwrap();
    let j = read_npz(&fixtures().join("models/model_pinn.derivs.npz"));
    let h = |a: &str, b: &str| get(&j, &format!("hessian/u/{a}/{b}")).mapv(f64::from);
    let flat = |a: ArrayD<f64>| a.into_shape_with_order(IxDyn(&[5, 1])).unwrap();
    let lap = flat(h("x", "x") + h("t", "t"));
    let heat = flat(get(&j, "jacobian/u/t").mapv(f64::from)) - flat(h("x", "x")) * 0.1;
    let wants = [
        ("laplacian/u", lap),
        ("heat", heat),
        ("derivative/u/x/t", flat(h("x", "t"))),
    ];
    for (inputs, copies) in [(&inputs, 1), (&tiled, repeat)] {
        let out = dir.path().join("d.npz");
        let (ok, _, err) = common::keras2ov(&[
            "jacobian",
            model.to_str().unwrap(),
            "-i",
            inputs.to_str().unwrap(),
            "--laplacian",
            "--derivative",
            "u/x/t",
            "--residual",
            "heat=u_t - 0.1*u_xx",
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let got = read_npz(&out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["u", "laplacian/u", "derivative/u/x/t", "heat"]);
        for (name, want) in &wants {
            let views = vec![want.view(); copies];
            let want = ndarray::concatenate(Axis(0), &views).unwrap();
            let have = get(&got, name).mapv(f64::from);
            let want32 = want.mapv(|v| v as f32);
            assert!(
                compare(&have, &want32, 1e-4, 1e-3).is_none(),
                "{name}, {copies} copies: {have} vs {want}"
            );
        }
    }
}

#[test]
fn bad_operator_requests_are_clear_errors() {
    let model = fixtures().join("models/model_pinn.keras");
    let m = model.to_str().unwrap();
    for (args, words) in [
        (
            vec!["--derivative", "v/x"],
            vec!["unknown output 'v'", "outputs are u"],
        ),
        (
            vec!["--derivative", "u/z"],
            vec!["unknown input 'z'", "x, t"],
        ),
        (vec!["--derivative", "u"], vec!["name at least one input"]),
        (
            vec!["--derivative", "u/x/x/x/x/x/x/x"],
            vec!["order 7", "highest supported, 6"],
        ),
        (vec!["--residual", "u_t + * u"], vec!["column 7"]),
        (
            vec!["--residual", "u_t + w"],
            vec!["column 7", "unknown name 'w'"],
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.xml");
        let mut full = vec!["convert", m, "-o", out.to_str().unwrap()];
        full.extend(args.iter().copied());
        let (ok, _, err) = common::keras2ov(&full);
        common::assert_fails_saying(&full, ok, &err, &words);
        assert!(!out.exists(), "{full:?} left an IR behind");
    }
    // Integer outputs (a cumsum of ids) are not differentiated, whichever option asks; the
    // reason is said once.
    let model = fixtures().join("models/op_cumsum.keras");
    let m = model.to_str().unwrap();
    for args in [
        vec!["--derivative", "cumsum_2/x[0]"],
        vec!["--laplacian", "--of", "cumsum_2"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("x.xml");
        let mut full = vec!["convert", m, "-o", out.to_str().unwrap()];
        full.extend(args.iter().copied());
        let (ok, _, err) = common::keras2ov(&full);
        common::assert_fails_saying(&full, ok, &err, &["'cumsum_2' is not a float tensor"]);
        assert_eq!(err.matches("not a float tensor").count(), 1, "{err}");
        assert!(!out.exists(), "{full:?} left an IR behind");
    }
}

/// The float64 references of a `pde_*` fixture.
fn read_f64_npz(path: &std::path::Path) -> Vec<(String, ArrayD<f64>)> {
    let file = std::fs::File::open(path).unwrap();
    let mut npz = ndarray_npy::NpzReader::new(file).unwrap();
    let names = npz.names().unwrap();
    names
        .into_iter()
        .map(|n| {
            let a: ArrayD<f64> = npz.by_name(&n).unwrap();
            (n.trim_end_matches(".npy").to_string(), a)
        })
        .collect()
}

/// The order a reference key is held to: its derivative order, or its residual entry.
fn tolerance(tol: &serde_json::Value, key: &str, name_of_residual: impl Fn(&str) -> bool) -> f64 {
    let by = |k: &str| {
        tol[k]
            .as_f64()
            .unwrap_or_else(|| panic!("no tolerance {k}"))
    };
    if let Some(spec) = key.strip_prefix("derivative/") {
        return by(&(spec.split('/').count() - 1).to_string());
    }
    if key.starts_with("laplacian/") {
        return by("2");
    }
    if key.starts_with("bilaplacian/") {
        return by("4");
    }
    if name_of_residual(key) {
        return by(&format!("residual/{key}"));
    }
    by("0")
}

/// Every `pde_*` fixture's operators against JAX's float64 references, through the
/// interpreter and through OpenVINO (f32), each key within the fixture's stated normwise
/// tolerance for its order (`max |got - want| / max |want|`: 1e-5 for outputs up to 1e-3 for
/// fourth derivatives and biharmonics).
#[test]
fn pde_fixtures_match_jax_in_float64() {
    let mut rt = keras2ov::runtime::Runtime::new("CPU", keras2ov::runtime::Precision::F32).unwrap();
    let mut failures = Vec::new();
    let mut compared = 0;
    let mut worst: std::collections::BTreeMap<String, f64> = Default::default();
    for f in manifest()
        .into_iter()
        .filter(|f| f.entry.get("pde").is_some())
    {
        let pde = &f.entry["pde"];
        let strings = |k: &str| -> Vec<String> {
            pde[k]
                .as_array()
                .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        };
        let residual_names: Vec<String> = pde["residuals"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let residuals: Vec<String> = pde["residuals"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(n, e)| match n.as_str() {
                        "residual" => e.as_str().unwrap().to_string(),
                        _ => format!("{n}={}", e.as_str().unwrap()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let d = keras2ov::pipeline::Derivatives {
            pde: Operators {
                laplacian: pde["laplacian"].as_bool() == Some(true),
                bilaplacian: pde["bilaplacian"].as_bool() == Some(true),
                derivatives: strings("derivatives"),
                residuals,
            },
            wrt: strings("wrt"),
            of: strings("of"),
            ..Default::default()
        };
        let (loaded, g) =
            keras2ov::pipeline::load_graph_shaped(&f.keras, &f.input_shapes()).unwrap();
        let dg = match keras2ov::pipeline::with_derivatives(&g, &d) {
            Ok(dg) => dg,
            Err(e) => {
                failures.push(format!("{}: {e:#}", f.name));
                continue;
            }
        };
        let inputs = read_npz(&f.inputs);
        let want = read_f64_npz(&fixtures().join(pde["file"].as_str().unwrap()));
        let tol = &pde["tolerance"]["f32"];
        // The interpreter.
        let args: Vec<_> = dg
            .inputs
            .iter()
            .map(|&p| get(&inputs, dg.input_name(p)).mapv(f64::from))
            .collect();
        let interp_out = interp::eval(&dg, &args).unwrap();
        // The same graph cut into 3 uneven chunks of the fixture's batch (what a large static
        // batch gets, see `emit::chunk`), on the interpreter and on OpenVINO.
        let batch = args[0].shape()[0];
        let cut = ChunkPolicy {
            target_bytes: 1,
            min_rows: 1,
            max_bytes: usize::MAX,
            max_chunks: 3,
        };
        assert_eq!(emit::chunk_sizes(&dg, batch, &cut).len(), 3, "{}", f.name);
        let chunked = emit::with_chunked_batch(&dg, batch, &cut).unwrap();
        let chunked_interp_out = interp::eval(&chunked, &args).unwrap();
        let sunk = keras2ov::opgraph::sink::sink_transposes(&dg).unwrap();
        let opts = emit::EmitOptions {
            batch: Some(batch),
            chunking: Some(cut),
            model_name: loaded.model.name.clone(),
        };
        let mut chunked_compiled = rt.compile(&emit::emit(&sunk, &opts).unwrap()).unwrap();
        // OpenVINO.
        let ir = keras2ov::pipeline::emit_graph(&dg, &loaded.model.name, None, None).unwrap();
        let mut compiled = rt.compile(&ir).unwrap();
        let feed: Vec<(String, _)> = dg
            .inputs
            .iter()
            .map(|&p| {
                (
                    dg.input_name(p).to_string(),
                    get(&inputs, dg.input_name(p)).clone(),
                )
            })
            .collect();
        let ov_out = compiled.infer(&feed).unwrap();
        let chunked_ov_out = chunked_compiled.infer(&feed).unwrap();
        for (key, w) in &want {
            let is_res = |k: &str| residual_names.iter().any(|n| n == k);
            let t = tolerance(tol, key, is_res);
            let scale = w.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-30);
            let k = dg.outputs.iter().position(|(n, _)| n == key);
            let Some(k) = k else {
                failures.push(format!("{}: no output '{key}'", f.name));
                continue;
            };
            let ov = &ov_out[k].1;
            for (route, got) in [
                ("interpreter", interp_out[k].clone()),
                ("OpenVINO", ov.mapv(f64::from)),
                ("interpreter, chunked", chunked_interp_out[k].clone()),
                ("OpenVINO, chunked", chunked_ov_out[k].1.mapv(f64::from)),
            ] {
                let err = got
                    .iter()
                    .zip(w.iter())
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f64, f64::max)
                    / scale;
                let order = if is_res(key) {
                    "residual".to_string()
                } else {
                    tolerance_order(key)
                };
                let e = worst.entry(format!("{route} {order}")).or_insert(0.0);
                *e = e.max(err);
                if got.shape() != w.shape() || err > t {
                    failures.push(format!(
                        "{} {route}: {key}: error {err:.2e} > {t:e}",
                        f.name
                    ));
                }
                compared += 1;
            }
        }
    }
    eprintln!("largest normwise errors: {worst:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(compared > 400, "only {compared} arrays compared");
}

fn tolerance_order(key: &str) -> String {
    if let Some(spec) = key.strip_prefix("derivative/") {
        format!("order {}", spec.split('/').count() - 1)
    } else if key.starts_with("laplacian/") {
        "laplacian".into()
    } else if key.starts_with("bilaplacian/") {
        "bilaplacian".into()
    } else {
        "output".into()
    }
}
