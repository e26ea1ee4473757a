//! `keras2ov sensitivity`: stream a data set through a model's compiled Jacobian (or Hessian)
//! model and report which inputs drive which outputs: `report.html` for people,
//! `sensitivity.json` and `sensitivity.csv` for programs.
//!
//! Statistics (per output component y and input feature x, over the rows used):
//! mean, mean |dy/dx|, RMS, standard deviation (ddof = 0), min, max of dy/dx; the DGSM
//! `nu = E[(dy/dx)^2]` (Sobol' and Kucherenko, 2009); the scaled sensitivity
//! `E|dy/dx| * std(x) / std(y)`; with interactions, `E|d2y/dxi dxj|`.

pub mod data;
pub mod report_html;
pub mod report_json;
pub mod stats;

use crate::pipeline::{self, Derivatives};
use crate::runtime::{Precision, Runtime};
use anyhow::{anyhow, bail, Context, Result};
use data::{DataSet, InputSpec};
use ndarray::ArrayD;
use stats::SensitivityStats;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Default rows per inference.
pub const DEFAULT_BATCH: usize = 4096;
/// Rows kept in the reservoir sample for the box and scatter plots.
pub const SAMPLE_ROWS: usize = 2000;

/// What to compute and where to write it.
#[derive(Clone, Debug)]
pub struct Options {
    pub model: PathBuf,
    pub data: PathBuf,
    pub out: PathBuf,
    pub of: Vec<String>,
    pub wrt: Vec<String>,
    pub mode: crate::autodiff::Mode,
    pub interactions: bool,
    pub batch: usize,
    pub columns: Vec<String>,
    pub feature_names: Vec<String>,
    pub per_sample: Option<PathBuf>,
    pub quiet: bool,
    pub device: String,
    pub precision: Precision,
}

impl Options {
    pub fn new(model: &Path, data: &Path, out: &Path) -> Options {
        Options {
            model: model.to_path_buf(),
            data: data.to_path_buf(),
            out: out.to_path_buf(),
            of: Vec::new(),
            wrt: Vec::new(),
            mode: Default::default(),
            interactions: false,
            batch: DEFAULT_BATCH,
            columns: Vec::new(),
            feature_names: Vec::new(),
            per_sample: None,
            quiet: true,
            device: "CPU".into(),
            precision: Precision::F32,
        }
    }
}

/// An input feature: one element of one differentiated input.
#[derive(Clone, Debug)]
pub struct Feature {
    pub name: String,
    pub input: String,
    pub index: usize,
}

/// An output component: one element of one differentiated output.
#[derive(Clone, Debug)]
pub struct Component {
    pub name: String,
    pub output: String,
    pub index: usize,
}

/// Everything a report says.
#[derive(Clone, Debug)]
pub struct Analysis {
    pub model: PathBuf,
    pub data: PathBuf,
    pub inputs: Vec<InputSpec>,
    pub outputs: Vec<InputSpec>,
    pub wrt: Vec<String>,
    pub of: Vec<String>,
    pub features: Vec<Feature>,
    pub components: Vec<Component>,
    pub rows_read: u64,
    pub rows_skipped: u64,
    pub batch: usize,
    pub seconds: f64,
    pub device: String,
    pub precision: String,
    pub stats: SensitivityStats,
}

impl Analysis {
    pub fn rows_used(&self) -> u64 {
        self.rows_read - self.rows_skipped
    }
}

/// Run the analysis and write the report directory (and `--per-sample`); returns the analysis.
pub fn run(opts: &Options) -> Result<Analysis> {
    // Refuse an unsuitable -o before the work, not after it.
    replaceable(&opts.out)?;
    let (analysis, per_sample) = analyse(opts)?;
    if let (Some(path), Some(arrays)) = (&opts.per_sample, per_sample) {
        crate::io::write_npz(path, &arrays)?;
    }
    let html = report_html::render(&analysis);
    let json = report_json::json(&analysis);
    let csv = report_json::csv(&analysis)?;
    write_dir(
        &opts.out,
        &[
            ("report.html", html.into_bytes()),
            (
                "sensitivity.json",
                (serde_json::to_string_pretty(&json)? + "\n").into_bytes(),
            ),
            ("sensitivity.csv", csv.into_bytes()),
        ],
    )?;
    Ok(analysis)
}

/// Per-sample shape of a graph value (the batch axis dropped), which must be static.
fn sample_shape(shape: &[Option<usize>], what: &str) -> Result<Vec<usize>> {
    shape
        .iter()
        .skip(1)
        .map(|d| d.ok_or_else(|| anyhow!("{what} has a dynamic non-batch dimension")))
        .collect()
}

type PerSample = Vec<(String, ArrayD<f32>)>;

/// Stream the data through the derivative model and gather the statistics.
pub fn analyse(opts: &Options) -> Result<(Analysis, Option<PerSample>)> {
    let start = Instant::now();
    if opts.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let (loaded, graph) = pipeline::load_graph(&opts.model)?;
    let inputs: Vec<InputSpec> = graph
        .inputs
        .iter()
        .map(|&p| {
            let name = graph.input_name(p).to_string();
            let shape = sample_shape(graph.shape(p), &format!("input '{name}'"))?;
            Ok(InputSpec { name, shape })
        })
        .collect::<Result<_>>()?;
    // Checks the names (an unknown one is an error listing the valid ones).
    crate::autodiff::select(&graph, &opts.wrt, &opts.of)
        .with_context(|| format!("cannot differentiate {}", opts.model.display()))?;
    let wrt: Vec<String> = if opts.wrt.is_empty() {
        graph
            .inputs
            .iter()
            .filter(|&&p| graph.dtype(p) == crate::opgraph::DType::F32)
            .map(|&p| graph.input_name(p).to_string())
            .collect()
    } else {
        opts.wrt.clone()
    };
    let of: Vec<String> = if opts.of.is_empty() {
        graph.outputs.iter().map(|(n, _)| n.clone()).collect()
    } else {
        opts.of.clone()
    };
    let outputs: Vec<InputSpec> = of
        .iter()
        .map(|name| {
            let (_, v) = graph
                .outputs
                .iter()
                .find(|(n, _)| n == name)
                .expect("selected output");
            Ok(InputSpec {
                name: name.clone(),
                shape: sample_shape(graph.shape(*v), &format!("output '{name}'"))?,
            })
        })
        .collect::<Result<_>>()?;

    let mut dataset = DataSet::open(&opts.data, &inputs, &opts.columns)?;
    if dataset.total == Some(0) {
        bail!("{}: the data set has no rows", opts.data.display());
    }

    // Features: the elements of the differentiated inputs, in model input order.
    let mut offsets = Vec::new();
    let mut off = 0;
    for s in &inputs {
        offsets.push(off);
        off += s.size();
    }
    let mut features = Vec::new();
    let mut feature_cols = Vec::new();
    for (k, s) in inputs.iter().enumerate() {
        if wrt.contains(&s.name) {
            for e in 0..s.size() {
                feature_cols.push(offsets[k] + e);
                features.push(Feature {
                    name: dataset.column_names[offsets[k] + e].clone(),
                    input: s.name.clone(),
                    index: e,
                });
            }
        }
    }
    if !opts.feature_names.is_empty() {
        let given: Vec<String> = opts
            .feature_names
            .iter()
            .flat_map(|n| n.split(','))
            .map(|n| n.trim().to_string())
            .collect();
        if given.len() != features.len() {
            bail!(
                "--feature-names gives {} names, but there are {} features ({})",
                given.len(),
                features.len(),
                features
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        for (f, n) in features.iter_mut().zip(given) {
            f.name = n;
        }
    }
    let components: Vec<Component> = outputs
        .iter()
        .flat_map(|o| {
            (0..o.size()).map(move |e| Component {
                name: o.element_name(e),
                output: o.name.clone(),
                index: e,
            })
        })
        .collect();
    let (nf, nc) = (features.len(), components.len());

    let batch = match dataset.total {
        Some(n) => opts.batch.min(n),
        None => opts.batch,
    };
    let d = Derivatives {
        jacobian: true,
        hessian: opts.interactions,
        wrt: wrt.clone(),
        of: of.clone(),
        mode: opts.mode,
    };
    let dgraph = pipeline::with_derivatives(&graph, &d)
        .with_context(|| format!("cannot differentiate {}", opts.model.display()))?;
    let ir = pipeline::emit_graph(&dgraph, &loaded.model.name, Some(batch))?;
    let mut rt = Runtime::new(&opts.device, opts.precision)?;
    let mut compiled = rt
        .compile(&ir)
        .with_context(|| format!("compiling {}", opts.model.display()))?;
    let out_names: Vec<String> = compiled.outputs().iter().map(|t| t.name.clone()).collect();
    let find = |name: &str| -> Result<usize> {
        out_names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| anyhow!("the derivative model has no output '{name}'"))
    };
    // For each (output, wrt input) pair, the index of the Jacobian among the results.
    let wrt_inputs: Vec<usize> = (0..inputs.len())
        .filter(|&k| wrt.contains(&inputs[k].name))
        .collect();
    let out_idx: Vec<usize> = of.iter().map(|o| find(o)).collect::<Result<_>>()?;
    let mut jac_idx = Vec::new();
    for o in &of {
        for &k in &wrt_inputs {
            jac_idx.push(find(&format!("jacobian/{o}/{}", inputs[k].name))?);
        }
    }
    let mut hess_idx = Vec::new();
    if opts.interactions {
        for o in &of {
            for &a in &wrt_inputs {
                for &b in &wrt_inputs {
                    hess_idx.push(find(&format!(
                        "hessian/{o}/{}/{}",
                        inputs[a].name, inputs[b].name
                    ))?);
                }
            }
        }
    }
    // Where each feature's column sits within its input, and each component within its output.
    let feat_in: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        for (w, &k) in wrt_inputs.iter().enumerate() {
            for e in 0..inputs[k].size() {
                v.push((w, e));
            }
        }
        v
    };
    let comp_out: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        for (o, s) in outputs.iter().enumerate() {
            for e in 0..s.size() {
                v.push((o, e));
            }
        }
        v
    };

    let progress = if opts.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let style = match dataset.total {
            Some(_) => "{bar:40} {pos}/{len} rows  {rate}  ETA {eta}",
            None => "{spinner} {pos} rows  {rate}  {elapsed}",
        };
        let pb = match dataset.total {
            Some(n) => indicatif::ProgressBar::new(n as u64),
            None => indicatif::ProgressBar::new_spinner(),
        };
        if let Ok(s) = indicatif::ProgressStyle::with_template(style) {
            pb.set_style(s.with_key(
                "rate",
                |st: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{:.0} rows/s", st.per_sec());
                },
            ));
        }
        pb
    };

    let mut st = SensitivityStats::new(nc, nf, opts.interactions, SAMPLE_ROWS);
    let width = dataset.width;
    let mut rows_read = 0u64;
    let mut rows_skipped = 0u64;
    let mut buf: Vec<f32> = Vec::with_capacity(batch * width);
    let mut per_sample: Option<Vec<Vec<f32>>> = opts
        .per_sample
        .as_ref()
        .map(|_| vec![Vec::new(); inputs.len() + jac_idx.len()]);
    let (mut x, mut y, mut j) = (vec![0f32; nf], vec![0f32; nc], vec![0f32; nc * nf]);
    let mut h = vec![0f32; if opts.interactions { nc * nf * nf } else { 0 }];
    loop {
        buf.clear();
        let n = dataset.read_rows(batch, &mut buf)?;
        if n == 0 {
            break;
        }
        rows_read += n as u64;
        progress.inc(n as u64);
        // Keep the finite rows, compacted.
        let mut kept = 0;
        for r in 0..n {
            let row = r * width..(r + 1) * width;
            if buf[row.clone()].iter().all(|v| v.is_finite()) {
                if kept != r {
                    buf.copy_within(row, kept * width);
                }
                kept += 1;
            } else {
                rows_skipped += 1;
            }
        }
        if kept == 0 {
            continue;
        }
        // Pad to the static batch with copies of the first row; the padding is dropped below.
        buf.truncate(kept * width);
        for _ in kept..batch {
            buf.extend_from_within(0..width);
        }
        let feeds: Vec<(String, ArrayD<f32>)> = inputs
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let mut data = Vec::with_capacity(batch * s.size());
                for r in 0..batch {
                    let o = r * width + offsets[k];
                    data.extend_from_slice(&buf[o..o + s.size()]);
                }
                let mut shape = vec![batch];
                shape.extend(&s.shape);
                Ok((s.name.clone(), ArrayD::from_shape_vec(shape, data)?))
            })
            .collect::<Result<_>>()?;
        let results = compiled.request().infer(&feeds)?;
        let flat = |k: usize| -> &[f32] { results[k].1.as_slice().expect("standard layout") };
        for r in 0..kept {
            for (f, &col) in feature_cols.iter().enumerate() {
                x[f] = buf[r * width + col];
            }
            for (c, &(o, e)) in comp_out.iter().enumerate() {
                y[c] = flat(out_idx[o])[r * outputs[o].size() + e];
            }
            for (c, &(o, eo)) in comp_out.iter().enumerate() {
                for (f, &(w, ei)) in feat_in.iter().enumerate() {
                    let isz = inputs[wrt_inputs[w]].size();
                    let block = flat(jac_idx[o * wrt_inputs.len() + w]);
                    j[c * nf + f] = block[(r * outputs[o].size() + eo) * isz + ei];
                }
            }
            if opts.interactions {
                let nw = wrt_inputs.len();
                for (c, &(o, eo)) in comp_out.iter().enumerate() {
                    for (fa, &(wa, ea)) in feat_in.iter().enumerate() {
                        for (fb, &(wb, eb)) in feat_in.iter().enumerate() {
                            let sa = inputs[wrt_inputs[wa]].size();
                            let sb = inputs[wrt_inputs[wb]].size();
                            let block = flat(hess_idx[(o * nw + wa) * nw + wb]);
                            let at = (((r * outputs[o].size() + eo) * sa) + ea) * sb + eb;
                            h[(c * nf + fa) * nf + fb] = block[at];
                        }
                    }
                }
            }
            st.push_row(&x, &y, &j, opts.interactions.then_some(&h[..]));
        }
        if let Some(ps) = per_sample.as_mut() {
            for (k, s) in inputs.iter().enumerate() {
                for r in 0..kept {
                    let o = r * width + offsets[k];
                    ps[k].extend_from_slice(&buf[o..o + s.size()]);
                }
            }
            for (q, &ji) in jac_idx.iter().enumerate() {
                let a = flat(ji);
                let per_row = a.len() / batch;
                ps[inputs.len() + q].extend_from_slice(&a[..kept * per_row]);
            }
        }
    }
    progress.finish_and_clear();
    let used = rows_read - rows_skipped;
    if used == 0 {
        if rows_read == 0 {
            bail!("{}: the data set has no rows", opts.data.display());
        }
        bail!(
            "{}: all {rows_read} rows have NaN or infinite values; nothing to analyse",
            opts.data.display()
        );
    }
    let per_sample = match per_sample {
        None => None,
        Some(ps) => {
            let mut arrays = Vec::new();
            for (s, data) in inputs.iter().zip(&ps) {
                let mut shape = vec![used as usize];
                shape.extend(&s.shape);
                arrays.push((s.name.clone(), ArrayD::from_shape_vec(shape, data.clone())?));
            }
            let mut q = 0;
            for o in &outputs {
                for &k in &wrt_inputs {
                    let mut shape = vec![used as usize];
                    shape.extend(&o.shape);
                    shape.extend(&inputs[k].shape);
                    let data = ps[inputs.len() + q].clone();
                    arrays.push((
                        format!("jacobian/{}/{}", o.name, inputs[k].name),
                        ArrayD::from_shape_vec(shape, data)?,
                    ));
                    q += 1;
                }
            }
            Some(arrays)
        }
    };
    let analysis = Analysis {
        model: opts.model.clone(),
        data: opts.data.clone(),
        inputs,
        outputs,
        wrt,
        of,
        features,
        components,
        rows_read,
        rows_skipped,
        batch,
        seconds: start.elapsed().as_secs_f64(),
        device: opts.device.clone(),
        precision: opts.precision.to_string(),
        stats: st,
    };
    Ok((analysis, per_sample))
}

/// Write `files` into a fresh temporary directory beside `out` and rename it to `out` at the
/// end. An existing `out` is replaced only if it is empty or holds an earlier report.
pub fn write_dir(out: &Path, files: &[(&str, Vec<u8>)]) -> Result<()> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| anyhow!("-o {}: not a directory name", out.display()))?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(&parent)
        .with_context(|| format!("cannot create directory {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempdir_in(&parent)
        .with_context(|| format!("cannot write in {}", parent.display()))?;
    for (file, bytes) in files {
        std::fs::write(tmp.path().join(file), bytes)
            .with_context(|| format!("cannot write {}", tmp.path().join(file).display()))?;
    }
    let mut old: Option<tempfile::TempDir> = None;
    match replaceable(out)? {
        Existing::None => {}
        Existing::Empty => {
            std::fs::remove_dir(out).with_context(|| format!("cannot replace {}", out.display()))?
        }
        Existing::Report => {
            // Move the earlier report aside (removed when `old` drops).
            let aside = tempfile::Builder::new()
                .prefix(&format!(".{name}.old-"))
                .tempdir_in(&parent)?;
            std::fs::rename(out, aside.path().join("report"))
                .with_context(|| format!("cannot replace {}", out.display()))?;
            old = Some(aside);
        }
    }
    std::fs::rename(tmp.path(), out).with_context(|| format!("cannot create {}", out.display()))?;
    let _ = tmp.keep();
    drop(old);
    Ok(())
}

enum Existing {
    None,
    Empty,
    Report,
}

/// What is at `out` now; an error unless it is nothing, an empty directory or an earlier report.
fn replaceable(out: &Path) -> Result<Existing> {
    if !out.exists() {
        return Ok(Existing::None);
    }
    let is_empty = out.is_dir()
        && std::fs::read_dir(out)
            .map(|mut d| d.next().is_none())
            .unwrap_or(false);
    if is_empty {
        Ok(Existing::Empty)
    } else if out.join("sensitivity.json").is_file() {
        Ok(Existing::Report)
    } else {
        bail!(
            "{} exists and is not an earlier sensitivity report; choose another -o",
            out.display()
        )
    }
}
