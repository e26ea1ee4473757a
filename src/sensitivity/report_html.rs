//! `report.html`: one self-contained page (inline CSS and SVG; no script, font or URL). It is
//! written as well-formed XML (XHTML syntax served as HTML) so tests can parse it.

use super::charts::{bar_chart, box_plot, heatmap, scatter};
use super::Analysis;
use std::fmt::Write;

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;max-width:1000px;margin:0 auto;padding:16px 24px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:0.2em}h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:1.6em}h3{margin-bottom:0.3em}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:0.92em}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg.chart{display:block;margin:8px 0;font-size:12px;max-width:100%;height:auto}
svg .ttl{font-weight:bold;font-size:14px}svg .small{font-size:10px}svg .axl{font-style:italic}svg .val{font-size:11px;fill:#333}
.panels{display:flex;flex-wrap:wrap;gap:8px}.panels svg.chart{margin:0}
.note{color:#555;font-size:0.92em}code{background:#f5f5f5;padding:0 3px}";

/// Per-output sections shown (the JSON and CSV have every component).
const MAX_COMPONENTS: usize = 12;
const MAX_BARS: usize = 25;
const MAX_BOXES: usize = 12;
const MAX_HEAT_COLS: usize = 40;
const MAX_INTERACTION: usize = 15;
const SCATTER_TOP: usize = 3;

/// Text and attribute values escaped for (X)HTML: the IR writer's XML escaping.
pub fn esc(s: &str) -> String {
    crate::xml::escape_attr(s)
}

/// A number in at most 4 significant digits.
pub fn fmt(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The whole page.
pub fn render(a: &Analysis) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"/>");
    let _ = write!(
        o,
        "<title>Sensitivity report: {}</title><style>{CSS}</style></head><body>",
        esc(&a.model.display().to_string())
    );
    let _ = write!(
        o,
        "<h1>Sensitivity report</h1><p class=\"note\">keras2ov {}: derivatives of the model's outputs with respect to its inputs, computed per row through OpenVINO and summarised over the data set.</p>",
        env!("CARGO_PKG_VERSION")
    );
    summary(&mut o, a);
    overview(&mut o, a);
    let st = &a.stats;
    if st.components > MAX_COMPONENTS {
        let _ = write!(
            o,
            "<p class=\"note\">Detailed plots for the first {MAX_COMPONENTS} of {} output components; sensitivity.json and sensitivity.csv have all.</p>",
            st.components
        );
    }
    for c in 0..st.components.min(MAX_COMPONENTS) {
        output_section(&mut o, a, c);
    }
    how_to_read(&mut o, a);
    o.push_str("</body></html>\n");
    o
}

fn feature_name(a: &Analysis, f: usize) -> String {
    a.features[f].name.clone()
}

/// The table of what was analysed and how.
fn summary(o: &mut String, a: &Analysis) {
    o.push_str("<h2>Summary</h2><table>");
    let shapes = |v: &[super::data::InputSpec]| {
        v.iter()
            .map(|s| format!("{} {:?}", s.name, s.shape))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let rows: Vec<(&str, String)> = vec![
        ("model", a.model.display().to_string()),
        ("data", a.data.display().to_string()),
        ("inputs (per-sample shape)", shapes(&a.inputs)),
        ("outputs analysed", shapes(&a.outputs)),
        ("differentiated inputs", a.wrt.join(", ")),
        ("rows read", a.rows_read.to_string()),
        ("rows used", a.rows_used().to_string()),
        ("rows skipped (NaN or infinite values)", a.rows_skipped.to_string()),
        (
            "time",
            format!(
                "{:.2} s (batch {}, {} {})",
                a.seconds, a.batch, a.device, a.precision
            ),
        ),
        (
            "plots from",
            format!(
                "a uniform reservoir sample of {} rows (box and scatter plots); every other number uses all rows used",
                a.stats.sample.rows.len()
            ),
        ),
    ];
    for (k, v) in rows {
        let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v));
    }
    o.push_str("</table>");
}

/// The output x feature heatmap of scaled sensitivities (the strongest features when many).
fn overview(o: &mut String, a: &Analysis) {
    let st = &a.stats;
    let nf = st.features;
    let mut cols: Vec<usize> = (0..nf).collect();
    let score = |f: usize| {
        (0..st.components)
            .map(|c| st.scaled(c, f))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
    };
    if nf > MAX_HEAT_COLS {
        cols.sort_by(|&p, &q| score(q).total_cmp(&score(p)));
        cols.truncate(MAX_HEAT_COLS);
        cols.sort();
    }
    o.push_str("<h2>All outputs and inputs</h2>");
    if nf > MAX_HEAT_COLS {
        let _ = write!(
            o,
            "<p class=\"note\">The {MAX_HEAT_COLS} features with the largest scaled sensitivity are shown (of {nf}).</p>"
        );
    }
    let comp_rows: Vec<usize> = (0..st.components.min(60)).collect();
    let m: Vec<Vec<f64>> = comp_rows
        .iter()
        .map(|&c| cols.iter().map(|&f| st.scaled(c, f)).collect())
        .collect();
    o.push_str(&heatmap(
        "heatmap",
        "Scaled sensitivity E|dy/dx|·std(x)/std(y): output × input",
        &comp_rows
            .iter()
            .map(|&c| a.components[c].name.clone())
            .collect::<Vec<_>>(),
        &cols.iter().map(|&f| feature_name(a, f)).collect::<Vec<_>>(),
        &m,
        "output",
        "input feature",
    ));
}

/// One output component: its statistics table, ranking, box plots, scatter plots and
/// interactions.
fn output_section(o: &mut String, a: &Analysis, c: usize) {
    let st = &a.stats;
    let comp = &a.components[c].name;
    let _ = write!(o, "<h2>Output {}</h2>", esc(comp));
    let order = st.ranking(c);
    stats_table(o, a, c, &order);
    let fname = |f: usize| feature_name(a, f);
    let top: Vec<usize> = order.iter().copied().take(MAX_BARS).collect();
    o.push_str(&bar_chart(
        &format!("{comp}: features ranked by scaled sensitivity (error bars: 95% CI of the mean)"),
        &top.iter().map(|&f| fname(f)).collect::<Vec<_>>(),
        &top.iter().map(|&f| st.scaled(c, f)).collect::<Vec<_>>(),
        &top.iter()
            .map(|&f| st.scaled_ci95(c, f))
            .collect::<Vec<_>>(),
        "scaled sensitivity E|dy/dx| · std(x) / std(y)",
    ));
    let nf = st.features;
    let jac_sample = |f: usize| -> Vec<f64> {
        st.sample
            .rows
            .iter()
            .map(|r| r.jac[c * nf + f] as f64)
            .collect()
    };
    let boxes: Vec<usize> = order.iter().copied().take(MAX_BOXES).collect();
    o.push_str(&box_plot(
        &format!("{comp}: distribution of ∂{comp}/∂x per feature (sample)"),
        &boxes.iter().map(|&f| fname(f)).collect::<Vec<_>>(),
        &boxes.iter().map(|&f| jac_sample(f)).collect::<Vec<_>>(),
        &format!("∂{comp}/∂x"),
    ));
    o.push_str("<div class=\"panels\">");
    for &f in order.iter().take(SCATTER_TOP) {
        let xs: Vec<f64> = st.sample.rows.iter().map(|r| r.x[f] as f64).collect();
        o.push_str(&scatter(
            &format!("∂{comp}/∂{} against {}", fname(f), fname(f)),
            &xs,
            &jac_sample(f),
            &fname(f),
            &format!("∂{comp}/∂{}", fname(f)),
        ));
    }
    o.push_str("</div>");
    if let Some(h) = &st.hess {
        let keep: Vec<usize> = order.iter().copied().take(MAX_INTERACTION).collect();
        let names: Vec<String> = keep.iter().map(|&f| fname(f)).collect();
        let m: Vec<Vec<f64>> = keep
            .iter()
            .map(|&i| {
                keep.iter()
                    .map(|&j| h[(c * nf + i) * nf + j].mean_abs)
                    .collect()
            })
            .collect();
        o.push_str(&heatmap(
            "interactions",
            &format!("{comp}: interactions E|∂²{comp}/∂xi∂xj|"),
            &names,
            &names,
            &m,
            "xi",
            "xj",
        ));
    }
}

/// Output `c`'s statistics, features in ranking order.
fn stats_table(o: &mut String, a: &Analysis, c: usize, order: &[usize]) {
    let st = &a.stats;
    let nf = st.features;
    o.push_str("<table><tr><th>rank</th><th>feature</th><th>scaled</th><th>mean dy/dx</th><th>mean |dy/dx|</th><th>RMS</th><th>std</th><th>min</th><th>max</th><th>DGSM ν</th></tr>");
    for (r, &f) in order.iter().enumerate().take(MAX_BARS) {
        let mm = &st.jac[c * nf + f];
        let _ = write!(
            o,
            "<tr><td class=\"num\">{}</td><td>{}</td>",
            r + 1,
            esc(&feature_name(a, f))
        );
        for v in [
            st.scaled(c, f),
            mm.mean,
            mm.mean_abs,
            mm.rms(),
            mm.std(),
            mm.min,
            mm.max,
            mm.mean_sq,
        ] {
            let _ = write!(o, "<td class=\"num\">{}</td>", fmt(v));
        }
        o.push_str("</tr>");
    }
    o.push_str("</table>");
}

/// The formulas and references.
fn how_to_read(o: &mut String, a: &Analysis) {
    o.push_str("<h2>How to read this report</h2><ul>");
    let how = format!(
        "For each row, keras2ov computes the Jacobian dy/dx of every output component y with respect to every input feature x (exactly, by {}-mode automatic differentiation, not by finite differences).",
        a.mode
    );
    for item in [
        how.as_str(),
        "mean dy/dx = (1/n) Σ dy/dx (signed: a positive value means y rises with x on average); mean |dy/dx| = (1/n) Σ |dy/dx|; RMS = √ν; std = √((1/n) Σ (dy/dx − mean)²) (population, ddof = 0); min and max over the rows used.",
        "DGSM ν = E[(dy/dx)²], the derivative-based global sensitivity measure of Sobol' and Kucherenko (2009), “Derivative based global sensitivity measures and their link with global sensitivity indices”, Mathematics and Computers in Simulation 79(10), 3009–3017.",
        "Scaled sensitivity = E|dy/dx| · std(x) / std(y): unit-free, comparable across features; the features of each output are ranked by it. Error bars: 1.96 · std(|dy/dx|)/√n · std(x)/std(y), the 95% interval of the mean (std(x) and std(y) taken as exact).",
        "Interactions (with --interactions): E|∂²y/∂xi∂xj| over the rows; the diagonal is the mean absolute curvature in each feature.",
        "Box plots: quartiles and median of dy/dx over the reservoir sample; whiskers reach the furthest sample within 1.5 × IQR of the box; the dashed line is 0. Scatter plots show dy/dx against x for the top-ranked features: a flat cloud means a linear effect, a trend means curvature, a spread at one x means interactions with other features.",
        "All statistics are computed in one streaming pass (Welford's update, mergeable across shards with Chan et al.'s formula) in double precision; rows with NaN or infinite inputs are skipped and counted above.",
    ] {
        let _ = write!(o, "<li>{}</li>", esc(item));
    }
    o.push_str("</ul>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert_eq!(fmt(0.0), "0");
        assert_eq!(fmt(1.5), "1.5");
        assert_eq!(fmt(123.456), "123.5");
        assert_eq!(fmt(f64::NAN), "n/a");
    }
}
