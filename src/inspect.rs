//! The table `keras2ov inspect` prints: one row per layer (nested models as
//! `outer/inner/layer`), built in time linear in the number of layers and calls, with every
//! cell taken from the archive clipped (`crate::text`), so any file prints in bounded width.

use crate::layer_graph::{Arg, KerasModel, NodeKind};
use crate::lower::TraceEntry;
use crate::opgraph::shape_fmt;
use crate::text::{clip, clip_to, LIST_ITEMS};
use std::collections::HashMap;
use std::io::{self, Write};

/// Widest cell printed, in characters (longer cells are cut and say how long they were).
pub const CELL_CHARS: usize = 240;

/// The header row.
pub const HEADER: [&str; 5] = ["layer", "class", "inbound", "output shape", "params"];

/// One row per layer of `model` (recursively), with the output shapes found in `trace`.
pub fn table_rows(model: &KerasModel, trace: &[TraceEntry]) -> Vec<[String; 5]> {
    let mut by_path: HashMap<&str, Vec<&TraceEntry>> = HashMap::new();
    for t in trace {
        by_path.entry(t.path.as_str()).or_default().push(t);
    }
    let mut rows = Vec::new();
    add_rows(model, "", &by_path, &mut rows);
    rows
}

fn add_rows(
    m: &KerasModel,
    prefix: &str,
    trace: &HashMap<&str, Vec<&TraceEntry>>,
    rows: &mut Vec<[String; 5]>,
) {
    for layer in &m.layers {
        let path = format!("{prefix}{}", layer.name);
        let mut inbound: Vec<String> = Vec::new();
        let mut n_inbound = 0usize;
        for c in &layer.calls {
            for a in &c.args {
                tensor_names(a, &mut inbound, &mut n_inbound);
            }
        }
        if n_inbound > inbound.len() {
            inbound.push(format!("and {} more", n_inbound - inbound.len()));
        }
        let shapes: Vec<String> = match &layer.kind {
            NodeKind::Input(spec) => vec![shape_fmt(&spec.shape)],
            _ => trace
                .get(path.as_str())
                .into_iter()
                .flatten()
                .flat_map(|t| t.shapes.iter().map(|s| shape_fmt(s)))
                .collect(),
        };
        let params: usize = layer.weights.iter().map(|w| w.value.len()).sum();
        rows.push([
            cell(&path),
            cell(&layer.class_name),
            cell(&inbound.join(", ")),
            if shapes.is_empty() {
                "?".into()
            } else {
                cell(&shapes.join(" "))
            },
            params.to_string(),
        ]);
        match &layer.kind {
            NodeKind::Model(inner) => add_rows(inner, &format!("{path}/"), trace, rows),
            _ => wrapped_rows(&layer.config, &path, &layer.weights, 0, rows),
        }
    }
}

/// Deepest wrapper nesting listed (`Bidirectional(TimeDistributed(..))` is 2).
const WRAP_DEPTH: usize = 8;

/// Rows for the layers a wrapper holds in its config (`TimeDistributed`'s and
/// `Bidirectional`'s `layer`, `Bidirectional`'s `backward_layer`, an RNN's `cell`, ...), as
/// `wrapper/inner`: any config entry that is a serialized layer (`class_name`, and a `config`
/// with `name` and `trainable`, which initializers and dtype policies lack), or a list of them.
/// Their inbound tensors and shapes are the wrapper's business ("-" and "?"); their parameters
/// are the wrapper's weights saved under the entry's name (`forward_layer` for `layer`).
fn wrapped_rows(
    config: &serde_json::Value,
    path: &str,
    weights: &[crate::layer_graph::Weight],
    depth: usize,
    rows: &mut Vec<[String; 5]>,
) {
    let Some(entries) = config.as_object() else {
        return;
    };
    if depth >= WRAP_DEPTH {
        return;
    }
    let is_layer = |v: &serde_json::Value| {
        v["class_name"].is_string()
            && v["config"]["name"].is_string()
            && v["config"].get("trainable").is_some()
    };
    for (key, v) in entries {
        let items: Vec<(String, &serde_json::Value)> = match v {
            serde_json::Value::Array(a) => a
                .iter()
                .enumerate()
                .filter(|(_, x)| is_layer(x))
                .map(|(i, x)| (format!("{key}/{i}"), x))
                .collect(),
            x if is_layer(x) => vec![(key.clone(), x)],
            _ => continue,
        };
        for (attr, inner) in items {
            let name = inner["config"]["name"].as_str().unwrap_or_default();
            let class = inner["class_name"].as_str().unwrap_or_default();
            let sub = format!("{path}/{name}");
            let attrs = [attr.clone(), format!("forward_{attr}")];
            let params: usize = weights
                .iter()
                .filter(|w| {
                    let segs: Vec<&str> = w.path.split('/').collect();
                    attrs.iter().any(|a| {
                        let a: Vec<&str> = a.split('/').collect();
                        segs.windows(a.len()).skip(2).any(|win| win == a.as_slice())
                    })
                })
                .map(|w| w.value.len())
                .sum();
            rows.push([
                cell(&sub),
                cell(class),
                "-".into(),
                "?".into(),
                params.to_string(),
            ]);
            wrapped_rows(&inner["config"], &sub, &[], depth + 1, rows);
        }
    }
}

fn cell(s: &str) -> String {
    clip_to(s, CELL_CHARS).into_owned()
}

/// The names of the tensors in an argument: at most [`LIST_ITEMS`] kept, all counted.
fn tensor_names(a: &Arg, out: &mut Vec<String>, count: &mut usize) {
    match a {
        Arg::Tensor(r) => {
            *count += 1;
            if out.len() < LIST_ITEMS {
                let layer = clip(&r.layer);
                out.push(if r.node_index == 0 && r.tensor_index == 0 {
                    layer.into_owned()
                } else {
                    format!("{layer}[{}][{}]", r.node_index, r.tensor_index)
                });
            }
        }
        Arg::List(items) => items.iter().for_each(|a| tensor_names(a, out, count)),
        Arg::Literal(_) => {}
    }
}

/// The number of weight values of `model`, nested models included.
pub fn count_params(m: &KerasModel) -> usize {
    m.layers
        .iter()
        .map(|l| match &l.kind {
            NodeKind::Model(inner) => count_params(inner),
            _ => l.weights.iter().map(|w| w.value.len()).sum(),
        })
        .sum()
}

/// Print `rows` under [`HEADER`], columns padded to their widest cell.
pub fn write_table(rows: &[[String; 5]], out: &mut impl Write) -> io::Result<()> {
    let header: [String; 5] = HEADER.map(str::to_string);
    let all = || std::iter::once(&header).chain(rows);
    let widths: Vec<usize> = (0..5)
        .map(|c| all().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut line = String::new();
    for (i, r) in all().enumerate() {
        line.clear();
        for (c, (text, w)) in r.iter().zip(&widths).enumerate() {
            if c > 0 {
                line.push_str("  ");
            }
            line.push_str(text);
            // Padding by hand: format!'s `{:<w$}` cannot take widths over 65535.
            let n = text.chars().count();
            line.extend(std::iter::repeat_n(' ', w.saturating_sub(n)));
        }
        writeln!(out, "{}", line.trim_end())?;
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            writeln!(out, "{}", rule.join("  "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer_graph::{Call, InputSpec, LayerNode, TensorRef};

    fn node(name: &str, class: &str, kind: NodeKind, from: Option<&str>) -> LayerNode {
        LayerNode {
            name: name.into(),
            class_name: class.into(),
            module: "keras.layers".into(),
            registered_name: None,
            config: serde_json::Value::Null,
            calls: from
                .map(|f| {
                    vec![Call {
                        args: vec![Arg::Tensor(TensorRef {
                            layer: f.into(),
                            node_index: 0,
                            tensor_index: 0,
                        })],
                        kwargs: vec![],
                    }]
                })
                .unwrap_or_default(),
            kind,
            weights: vec![],
        }
    }

    fn chain(n: usize, class: &str) -> KerasModel {
        let mut layers = vec![node(
            "x",
            "InputLayer",
            NodeKind::Input(InputSpec {
                name: "x".into(),
                shape: vec![None, Some(6)],
                dtype: "float32".into(),
            }),
            None,
        )];
        for i in 0..n {
            let prev = if i == 0 {
                "x".to_string()
            } else {
                format!("a{}", i - 1)
            };
            layers.push(node(&format!("a{i}"), class, NodeKind::Layer, Some(&prev)));
        }
        KerasModel {
            name: "m".into(),
            class_name: "Functional".into(),
            inputs: vec![],
            outputs: vec![],
            layers,
        }
    }

    #[test]
    fn rows_are_linear_in_the_number_of_layers() {
        let n = 200_000;
        let m = chain(n, "Activation");
        let trace: Vec<TraceEntry> = (0..n)
            .map(|i| TraceEntry {
                path: format!("a{i}"),
                node_index: 0,
                shapes: vec![vec![None, Some(6)]],
            })
            .collect();
        let t = std::time::Instant::now();
        let rows = table_rows(&m, &trace);
        let mut out = Vec::new();
        write_table(&rows, &mut out).unwrap();
        // Linear: about a second here. Indexing the trace per layer took minutes.
        assert!(t.elapsed().as_secs_f64() < 60.0, "{:?}", t.elapsed());
        assert_eq!(rows.len(), n + 1);
        assert_eq!(rows[n][3], "[?,6]");
        assert_eq!(rows[n][2], format!("a{}", n - 2));
    }

    #[test]
    fn wide_cells_are_clipped_and_printed() {
        let class = "C".repeat(20_000_000);
        let m = chain(2, &class);
        let rows = table_rows(&m, &[]);
        assert!(
            rows[1][1].ends_with("... (20000000 characters)"),
            "{}",
            &rows[1][1][..50]
        );
        let mut out = Vec::new();
        write_table(&rows, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().all(|l| l.chars().count() < 1000), "{text}");
        // A width over 65535 is padded by hand, without panicking.
        let wide = [[
            "x".repeat(70_000),
            "c".into(),
            String::new(),
            "?".into(),
            "0".into(),
        ]];
        let mut out = Vec::new();
        write_table(&wide, &mut out).unwrap();
    }
}
