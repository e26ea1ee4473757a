//! `sensitivity.json` and `sensitivity.csv` (the schema is in the README).

use super::Analysis;
use anyhow::Result;
use serde_json::{json, Value};

/// A number, or `null` when it is not finite (JSON has no NaN).
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

/// The JSON schema version written as `schema`.
pub const SCHEMA: u32 = 1;

pub fn json(a: &Analysis) -> Value {
    let st = &a.stats;
    let nf = st.features;
    let shapes = |v: &[super::data::InputSpec]| -> Value {
        v.iter()
            .map(|s| json!({"name": s.name, "shape": s.shape}))
            .collect()
    };
    let mut sens = Vec::new();
    let mut ranking = serde_json::Map::new();
    for (c, comp) in a.components.iter().enumerate() {
        let order = st.ranking(c);
        let mut rank = vec![0usize; nf];
        for (r, &f) in order.iter().enumerate() {
            rank[f] = r + 1;
        }
        ranking.insert(
            comp.name.clone(),
            order
                .iter()
                .map(|&f| Value::from(a.features[f].name.clone()))
                .collect(),
        );
        for (f, feat) in a.features.iter().enumerate() {
            let m = &st.jac[c * nf + f];
            sens.push(json!({
                "output": comp.name,
                "feature": feat.name,
                "rank": rank[f],
                "n": m.n,
                "mean": num(m.mean),
                "mean_abs": num(m.mean_abs),
                "rms": num(m.rms()),
                "std": num(m.std()),
                "min": num(m.min),
                "max": num(m.max),
                "dgsm": num(m.mean_sq),
                "scaled": num(st.scaled(c, f)),
                "scaled_ci95": num(st.scaled_ci95(c, f)),
            }));
        }
    }
    let summary = |m: &super::stats::Moments| json!({"mean": num(m.mean), "std": num(m.std()), "min": num(m.min), "max": num(m.max)});
    let interactions = match &st.hess {
        None => Value::Null,
        Some(h) => {
            let mut per = serde_json::Map::new();
            for (c, comp) in a.components.iter().enumerate() {
                let rows: Vec<Value> = (0..nf)
                    .map(|i| {
                        (0..nf)
                            .map(|j| num(h[(c * nf + i) * nf + j].mean_abs))
                            .collect()
                    })
                    .collect();
                per.insert(comp.name.clone(), Value::Array(rows));
            }
            json!({"statistic": "mean |d2y/dxi dxj|", "features": a.features.iter().map(|f| f.name.clone()).collect::<Vec<_>>(), "mean_abs": per})
        }
    };
    json!({
        "schema": SCHEMA,
        "tool": {"name": "keras2ov", "version": env!("CARGO_PKG_VERSION")},
        "model": a.model.display().to_string(),
        "data": a.data.display().to_string(),
        "inputs": shapes(&a.inputs),
        "outputs": shapes(&a.outputs),
        "wrt": a.wrt,
        "of": a.of,
        "features": a.features.iter().map(|f| json!({"name": f.name, "input": f.input, "index": f.index})).collect::<Vec<_>>(),
        "components": a.components.iter().map(|c| json!({"name": c.name, "output": c.output, "index": c.index})).collect::<Vec<_>>(),
        "rows": {"read": a.rows_read, "used": a.rows_used(), "skipped_nonfinite": a.rows_skipped},
        "batch": a.batch,
        "device": a.device,
        "precision": a.precision,
        "mode": a.mode,
        "seconds": a.seconds,
        "conventions": {
            "std": "population standard deviation (ddof = 0)",
            "dgsm": "nu = E[(dy/dx)^2] (Sobol' and Kucherenko 2009)",
            "scaled": "E|dy/dx| * std(x) / std(y)",
            "scaled_ci95": "1.96 * std(|dy/dx|) / sqrt(n) * std(x) / std(y)",
            "sample": format!("uniform reservoir sample of up to {} rows (Algorithm R, fixed seed) for box and scatter plots", st.sample.capacity),
        },
        "x": a.features.iter().zip(&st.x).map(|(f, m)| { let mut v = summary(m); v["name"] = json!(f.name); v }).collect::<Vec<_>>(),
        "y": a.components.iter().zip(&st.y).map(|(c, m)| { let mut v = summary(m); v["name"] = json!(c.name); v }).collect::<Vec<_>>(),
        "sensitivity": sens,
        "ranking": ranking,
        "interactions": interactions,
    })
}

/// Long form: one row per (output component, feature).
pub fn csv(a: &Analysis) -> Result<String> {
    let st = &a.stats;
    let nf = st.features;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "output",
        "feature",
        "rank",
        "n",
        "mean",
        "mean_abs",
        "rms",
        "std",
        "min",
        "max",
        "dgsm",
        "std_x",
        "std_y",
        "scaled",
        "scaled_ci95",
    ])?;
    let f = |v: f64| {
        if v.is_finite() {
            v.to_string()
        } else {
            String::new()
        }
    };
    for (c, comp) in a.components.iter().enumerate() {
        let order = st.ranking(c);
        for (fi, feat) in a.features.iter().enumerate() {
            let m = &st.jac[c * nf + fi];
            let rank = order.iter().position(|&k| k == fi).unwrap_or(0) + 1;
            w.write_record([
                comp.name.clone(),
                feat.name.clone(),
                rank.to_string(),
                m.n.to_string(),
                f(m.mean),
                f(m.mean_abs),
                f(m.rms()),
                f(m.std()),
                f(m.min),
                f(m.max),
                f(m.mean_sq),
                f(st.x[fi].std()),
                f(st.y[c].std()),
                f(st.scaled(c, fi)),
                f(st.scaled_ci95(c, fi)),
            ])?;
        }
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
