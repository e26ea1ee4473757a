//! `keras2ov sensitivity`: stream a data set through a model's compiled Jacobian (or Hessian)
//! model and report which inputs drive which outputs: `report.html` for people,
//! `sensitivity.json` and `sensitivity.csv` for programs.
//!
//! Statistics (per output component y and input feature x, over the rows used):
//! mean, mean |dy/dx|, RMS, standard deviation (ddof = 0), min, max of dy/dx; the DGSM
//! `nu = E[(dy/dx)^2]` (Sobol' and Kucherenko, 2009); the scaled sensitivity
//! `E|dy/dx| * std(x) / std(y)`; with interactions, `E|d2y/dxi dxj|`.

mod charts;
pub mod data;
pub mod report_dir;
pub mod report_html;
pub mod report_json;
pub mod shard;
pub mod stats;

use crate::opgraph::{DType, OpGraph, Tensor, ValueId};
use crate::pipeline::{self, Derivatives};
use crate::runtime::{Compiled, Precision, Runtime};
use anyhow::{anyhow, bail, Context, Result};
use data::{DataSet, InputSpec};
use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
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
    /// The report directory (none: only `stats_out`).
    pub out: Option<PathBuf>,
    /// Also write the statistics as a shard file, for `keras2ov report` to merge.
    pub stats_out: Option<PathBuf>,
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
            out: Some(out.to_path_buf()),
            stats_out: None,
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub input: String,
    pub index: usize,
}

/// An output component: one element of one differentiated output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    pub output: String,
    pub index: usize,
}

/// Everything a report says (a shard file is this, serialised: [`shard`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Analysis {
    pub model: PathBuf,
    /// SHA-256 of the model file: shards merge only with shards of the same model.
    pub model_sha256: String,
    /// What the report calls the data: the data file, or a list of the shards' data.
    pub data: PathBuf,
    /// The data of every shard merged in (one entry for a single run).
    pub sources: Vec<String>,
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
    /// How the Jacobians were built: `forward` or `reverse` (`--mode auto` resolved).
    pub mode: String,
    pub stats: SensitivityStats,
}

impl Analysis {
    pub fn rows_used(&self) -> u64 {
        self.rows_read - self.rows_skipped
    }

    /// Each feature's position in a data row (the model inputs' elements, in input order).
    pub fn feature_columns(&self) -> Vec<usize> {
        let mut offsets = std::collections::HashMap::new();
        let mut off = 0;
        for s in &self.inputs {
            offsets.insert(s.name.as_str(), off);
            off += s.size();
        }
        self.features
            .iter()
            .map(|f| offsets.get(f.input.as_str()).copied().unwrap_or(0) + f.index)
            .collect()
    }
}

/// Run the analysis and write the report directory, the shard file (`--stats-out`) and
/// `--per-sample`; returns the analysis.
pub fn run(opts: &Options) -> Result<Analysis> {
    if opts.out.is_none() && opts.stats_out.is_none() {
        bail!(
            "say where the results go: -o DIR (a report), --stats-out FILE.json (a shard), or both"
        );
    }
    // Refuse an unsuitable -o before the work, not after it.
    if let Some(out) = &opts.out {
        report_dir::replaceable(out)?;
    }
    let (analysis, per_sample) = analyse(opts)?;
    if let (Some(path), Some(arrays)) = (&opts.per_sample, per_sample) {
        crate::io::write_npz(path, &arrays)?;
    }
    if let Some(path) = &opts.stats_out {
        shard::write(path, &analysis)?;
    }
    if let Some(out) = &opts.out {
        write_report(&analysis, out)?;
    }
    Ok(analysis)
}

/// Write the report directory `out` (HTML, JSON, CSV) of an analysis, atomically.
pub fn write_report(analysis: &Analysis, out: &Path) -> Result<()> {
    let html = report_html::render(analysis);
    let json = report_json::json(analysis);
    let csv = report_json::csv(analysis)?;
    report_dir::write_dir(
        out,
        &[
            ("report.html", html.into_bytes()),
            (
                "sensitivity.json",
                (serde_json::to_string_pretty(&json)? + "\n").into_bytes(),
            ),
            ("sensitivity.csv", csv.into_bytes()),
        ],
    )
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

/// The model's inputs and the selected outputs, with the names differentiated.
#[derive(Clone)]
struct Plan {
    inputs: Vec<InputSpec>,
    outputs: Vec<InputSpec>,
    wrt: Vec<String>,
    of: Vec<String>,
    /// Where each input starts within a data row.
    offsets: Vec<usize>,
    /// The differentiated inputs, as indices into `inputs`.
    wrt_inputs: Vec<usize>,
    /// The element type of each input (integer and bool inputs are fed converted rows).
    dtypes: Vec<DType>,
}

impl Plan {
    /// The `--wrt` / `--of` selection (defaults and name checks are `autodiff::select`'s).
    fn new(graph: &OpGraph, opts: &Selection) -> Result<Plan> {
        let spec = |name: &str, v: ValueId, what: &str| -> Result<InputSpec> {
            Ok(InputSpec {
                name: name.to_string(),
                shape: sample_shape(graph.shape(v), &format!("{what} '{name}'"))?,
            })
        };
        let inputs: Vec<InputSpec> = graph
            .inputs
            .iter()
            .map(|&p| spec(graph.input_name(p), p, "input"))
            .collect::<Result<_>>()?;
        let sel = crate::autodiff::select(graph, &opts.wrt, &opts.of)?;
        let wrt: Vec<String> = sel
            .wrt
            .iter()
            .map(|&p| graph.input_name(p).to_string())
            .collect();
        let of: Vec<String> = sel.of.iter().map(|&k| graph.outputs[k].0.clone()).collect();
        let outputs = sel
            .of
            .iter()
            .map(|&k| spec(&graph.outputs[k].0, graph.outputs[k].1, "output"))
            .collect::<Result<_>>()?;
        let mut offsets = Vec::new();
        let mut off = 0;
        for s in &inputs {
            offsets.push(off);
            off += s.size();
        }
        let wrt_inputs = (0..inputs.len())
            .filter(|&k| wrt.contains(&inputs[k].name))
            .collect();
        Ok(Plan {
            inputs,
            outputs,
            wrt,
            of,
            offsets,
            wrt_inputs,
            dtypes: graph.inputs.iter().map(|&p| graph.dtype(p)).collect(),
        })
    }

    /// The features (elements of the differentiated inputs, in model input order), named
    /// after the data columns or `--feature-names`, and the data column of each.
    fn features(&self, columns: &[String], names: &[String]) -> Result<(Vec<Feature>, Vec<usize>)> {
        let mut features = Vec::new();
        let mut cols = Vec::new();
        for &k in &self.wrt_inputs {
            let s = &self.inputs[k];
            for e in 0..s.size() {
                let col = self.offsets[k] + e;
                cols.push(col);
                features.push(Feature {
                    name: columns[col].clone(),
                    input: s.name.clone(),
                    index: e,
                });
            }
        }
        if !names.is_empty() {
            let given: Vec<String> = names
                .iter()
                .flat_map(|n| n.split(','))
                .map(|n| n.trim().to_string())
                .collect();
            if given.len() != features.len() {
                let all: Vec<&str> = features.iter().map(|f| f.name.as_str()).collect();
                bail!(
                    "--feature-names gives {} names, but there are {} features ({})",
                    given.len(),
                    features.len(),
                    all.join(", ")
                );
            }
            for (f, n) in features.iter_mut().zip(given) {
                f.name = n;
            }
        }
        Ok((features, cols))
    }

    /// The output components, in output order.
    fn components(&self) -> Vec<Component> {
        self.outputs
            .iter()
            .flat_map(|o| {
                (0..o.size()).map(move |e| Component {
                    name: o.element_name(e),
                    output: o.name.clone(),
                    index: e,
                })
            })
            .collect()
    }
}

/// Where each value a row needs sits among the derivative model's outputs.
struct Blocks {
    /// Per selected output, its index among the results.
    outputs: Vec<usize>,
    /// Per (output, differentiated input), the Jacobian's index.
    jacobians: Vec<usize>,
    /// Per (output, input a, input b), the Hessian's index (with interactions).
    hessians: Vec<usize>,
    /// Per feature, (position among the differentiated inputs, element).
    feature_at: Vec<(usize, usize)>,
    /// Per component, (output, element).
    component_at: Vec<(usize, usize)>,
}

impl Blocks {
    fn locate(plan: &Plan, out_names: &[String], interactions: bool) -> Result<Blocks> {
        let find = |name: &str| -> Result<usize> {
            out_names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| anyhow!("the derivative model has no output '{name}'"))
        };
        let names = |k: usize| plan.inputs[k].name.as_str();
        let outputs = plan.of.iter().map(|o| find(o)).collect::<Result<_>>()?;
        let mut jacobians = Vec::new();
        let mut hessians = Vec::new();
        for o in &plan.of {
            for &k in &plan.wrt_inputs {
                jacobians.push(find(&format!("jacobian/{o}/{}", names(k)))?);
                if interactions {
                    for &b in &plan.wrt_inputs {
                        hessians.push(find(&format!("hessian/{o}/{}/{}", names(k), names(b)))?);
                    }
                }
            }
        }
        let mut feature_at = Vec::new();
        for (w, &k) in plan.wrt_inputs.iter().enumerate() {
            feature_at.extend((0..plan.inputs[k].size()).map(|e| (w, e)));
        }
        let mut component_at = Vec::new();
        for (o, s) in plan.outputs.iter().enumerate() {
            component_at.extend((0..s.size()).map(|e| (o, e)));
        }
        Ok(Blocks {
            outputs,
            jacobians,
            hessians,
            feature_at,
            component_at,
        })
    }
}

fn progress_bar(quiet: bool, total: Option<usize>) -> indicatif::ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (pb, style) = match total {
        Some(n) => (
            indicatif::ProgressBar::new(n as u64),
            "{bar:40} {pos}/{len} rows  {rate}  ETA {eta}",
        ),
        None => (
            indicatif::ProgressBar::new_spinner(),
            "{spinner} {pos} rows  {rate}  {elapsed}",
        ),
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
}

/// Move the rows of `buf` (`n` rows of `width`) without NaN or infinity to the front;
/// returns how many there are.
fn keep_finite_rows(buf: &mut [f32], n: usize, width: usize) -> usize {
    let mut kept = 0;
    for r in 0..n {
        let row = r * width..(r + 1) * width;
        if buf[row.clone()].iter().all(|v| v.is_finite()) {
            if kept != r {
                buf.copy_within(row, kept * width);
            }
            kept += 1;
        }
    }
    kept
}

/// One model input per entry, `[batch, *shape]`, cut out of the data rows; integer and bool
/// inputs (token ids, masks) are converted from the rows' values, which must be integers.
fn feeds(plan: &Plan, buf: &[f32], batch: usize, width: usize) -> Result<Vec<(String, Tensor)>> {
    plan.inputs
        .iter()
        .zip(&plan.offsets)
        .zip(&plan.dtypes)
        .map(|((s, &off), &dtype)| {
            let mut data = Vec::with_capacity(batch * s.size());
            for r in 0..batch {
                let o = r * width + off;
                data.extend_from_slice(&buf[o..o + s.size()]);
            }
            let mut shape = vec![batch];
            shape.extend(&s.shape);
            let a = ArrayD::from_shape_vec(shape, data)?;
            if dtype != DType::F32 && a.iter().any(|v| v.fract() != 0.0) {
                anyhow::bail!(
                    "input '{}' is {}: its data must be whole numbers",
                    s.name,
                    dtype.keras_name()
                );
            }
            let t = Tensor::from_f64(dtype, &a.mapv(f64::from));
            Ok((s.name.clone(), t))
        })
        .collect()
}

/// The raw inputs and Jacobians of every row used, for `--per-sample`.
pub struct PerSampleRows {
    /// Per model input, then per Jacobian block, the rows' values.
    columns: Vec<Vec<f32>>,
}

impl PerSampleRows {
    fn push(&mut self, plan: &Plan, blocks: &Blocks, b: &Inference) {
        let (results, buf, kept, width, batch) = (b.results, b.buf, b.kept, b.width, b.batch);
        let n_in = plan.inputs.len();
        for (k, s) in plan.inputs.iter().enumerate() {
            for r in 0..kept {
                let o = r * width + plan.offsets[k];
                self.columns[k].extend_from_slice(&buf[o..o + s.size()]);
            }
        }
        for (q, &ji) in blocks.jacobians.iter().enumerate() {
            let a = flat(results, ji);
            let per_row = a.len() / batch;
            self.columns[n_in + q].extend_from_slice(&a[..kept * per_row]);
        }
    }

    fn finish(self, plan: &Plan, rows: usize) -> Result<PerSample> {
        let mut arrays = Vec::new();
        let mut columns = self.columns.into_iter();
        for s in &plan.inputs {
            let mut shape = vec![rows];
            shape.extend(&s.shape);
            let data = columns.next().expect("one column per input");
            arrays.push((s.name.clone(), ArrayD::from_shape_vec(shape, data)?));
        }
        for o in &plan.outputs {
            for &k in &plan.wrt_inputs {
                let x = &plan.inputs[k];
                let mut shape = vec![rows];
                shape.extend(&o.shape);
                shape.extend(&x.shape);
                let data = columns.next().expect("one column per Jacobian");
                arrays.push((
                    format!("jacobian/{}/{}", o.name, x.name),
                    ArrayD::from_shape_vec(shape, data)?,
                ));
            }
        }
        Ok(arrays)
    }
}

type Results = Vec<(String, ArrayD<f32>)>;

/// One inference: the data rows fed (the first `kept` are real, the rest padding) and the
/// model's results.
struct Inference<'a> {
    results: &'a Results,
    buf: &'a [f32],
    kept: usize,
    width: usize,
    batch: usize,
}

fn flat(results: &Results, k: usize) -> &[f32] {
    results[k].1.as_slice().expect("standard layout")
}

/// Rows `0..kept` of one inference into the statistics: per row, the features, the outputs,
/// the Jacobian (and the Hessian) in feature x component order.
fn push_rows(
    st: &mut SensitivityStats,
    plan: &Plan,
    blocks: &Blocks,
    feature_cols: &[usize],
    b: &Inference,
) {
    let (results, buf, kept, width) = (b.results, b.buf, b.kept, b.width);
    let (nf, nc) = (blocks.feature_at.len(), blocks.component_at.len());
    let nw = plan.wrt_inputs.len();
    let interactions = !blocks.hessians.is_empty();
    let (mut x, mut y, mut j) = (vec![0f32; nf], vec![0f32; nc], vec![0f32; nc * nf]);
    let mut h = vec![0f32; if interactions { nc * nf * nf } else { 0 }];
    let out_size = |o: usize| plan.outputs[o].size();
    let in_size = |w: usize| plan.inputs[plan.wrt_inputs[w]].size();
    for r in 0..kept {
        for (f, &col) in feature_cols.iter().enumerate() {
            x[f] = buf[r * width + col];
        }
        for (c, &(o, e)) in blocks.component_at.iter().enumerate() {
            y[c] = flat(results, blocks.outputs[o])[r * out_size(o) + e];
            for (f, &(w, ei)) in blocks.feature_at.iter().enumerate() {
                let block = flat(results, blocks.jacobians[o * nw + w]);
                j[c * nf + f] = block[(r * out_size(o) + e) * in_size(w) + ei];
                if !interactions {
                    continue;
                }
                for (fb, &(wb, eb)) in blocks.feature_at.iter().enumerate() {
                    let block = flat(results, blocks.hessians[(o * nw + w) * nw + wb]);
                    let at = (((r * out_size(o) + e) * in_size(w)) + ei) * in_size(wb) + eb;
                    h[(c * nf + f) * nf + fb] = block[at];
                }
            }
        }
        st.push_row(&x, &y, &j, interactions.then_some(&h[..]));
    }
}

/// What is analysed: the outputs and inputs differentiated, and how.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub of: Vec<String>,
    pub wrt: Vec<String>,
    pub mode: crate::autodiff::Mode,
    pub interactions: bool,
}

/// A model ready for analysis: its selection planned and its derivative graph built, to be
/// compiled at some batch size ([`Prepared::engine`]).
pub struct Prepared {
    model: PathBuf,
    sha256: String,
    name: String,
    plan: Plan,
    dgraph: OpGraph,
    mode: String,
    interactions: bool,
    /// How the batch is cut for the cache (`Derivatives::chunking`).
    chunking: Option<crate::emit::ChunkPolicy>,
}

impl Prepared {
    /// Load `model`, check the selection and build the Jacobian (or Hessian) graph.
    pub fn new(model: &Path, sel: &Selection) -> Result<Prepared> {
        let (loaded, graph) = pipeline::load_graph(model)?;
        let sha256 = crate::files::sha256_hex(model)?;
        let plan = Plan::new(&graph, sel)
            .with_context(|| format!("cannot differentiate {}", model.display()))?;
        let d = Derivatives {
            jacobian: true,
            hessian: sel.interactions,
            wrt: plan.wrt.clone(),
            of: plan.of.clone(),
            mode: sel.mode,
            ..Default::default()
        };
        let dgraph = pipeline::with_derivatives(&graph, &d)
            .with_context(|| format!("cannot differentiate {}", model.display()))?;
        let mode = pipeline::derivative_mode(&graph, &d)?.unwrap_or(sel.mode);
        Ok(Prepared {
            model: model.to_path_buf(),
            sha256,
            name: loaded.model.name,
            plan,
            dgraph,
            mode: mode.to_string(),
            interactions: sel.interactions,
            chunking: d.chunking(),
        })
    }

    /// The model's inputs, per sample, in model order (a data row is their elements).
    pub fn inputs(&self) -> &[InputSpec] {
        &self.plan.inputs
    }

    /// Elements per data row.
    pub fn width(&self) -> usize {
        self.plan.inputs.iter().map(InputSpec::size).sum()
    }

    /// An analysis with no rows yet, and the data column of each feature: `columns` names the
    /// row elements (the CSV header), `feature_names` renames the features.
    pub fn empty_analysis(
        &self,
        data: &Path,
        columns: &[String],
        feature_names: &[String],
        run: &RunSettings,
    ) -> Result<(Analysis, Vec<usize>)> {
        let (features, cols) = self.plan.features(columns, feature_names)?;
        let components = self.plan.components();
        let stats = SensitivityStats::new(
            components.len(),
            features.len(),
            self.interactions,
            SAMPLE_ROWS,
        );
        let analysis = Analysis {
            model: self.model.clone(),
            model_sha256: self.sha256.clone(),
            data: data.to_path_buf(),
            sources: vec![data.display().to_string()],
            inputs: self.plan.inputs.clone(),
            outputs: self.plan.outputs.clone(),
            wrt: self.plan.wrt.clone(),
            of: self.plan.of.clone(),
            features,
            components,
            rows_read: 0,
            rows_skipped: 0,
            batch: run.batch,
            seconds: 0.0,
            device: run.device.clone(),
            precision: run.precision.to_string(),
            mode: self.mode.clone(),
            stats,
        };
        Ok((analysis, cols))
    }

    /// Compile the derivative model with a static batch.
    pub fn engine(&self, run: &RunSettings) -> Result<Engine> {
        if run.batch == 0 {
            bail!("--batch must be at least 1");
        }
        let ir = pipeline::emit_graph(&self.dgraph, &self.name, Some(run.batch), self.chunking)?;
        let mut rt = Runtime::new(&run.device, run.precision)?;
        let compiled = rt
            .compile(&ir)
            .with_context(|| format!("compiling {}", self.model.display()))?;
        let out_names: Vec<String> = compiled.outputs().iter().map(|t| t.name.clone()).collect();
        let blocks = Blocks::locate(&self.plan, &out_names, self.interactions)?;
        Ok(Engine {
            plan: self.plan.clone(),
            blocks,
            compiled,
            _runtime: rt,
            batch: run.batch,
        })
    }
}

/// How the derivative model is compiled and run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunSettings {
    /// Rows per inference (a static batch).
    pub batch: usize,
    pub device: String,
    pub precision: Precision,
}

/// The compiled derivative model of a [`Prepared`] model: feeds rows into statistics.
pub struct Engine {
    plan: Plan,
    blocks: Blocks,
    compiled: Compiled,
    _runtime: Runtime,
    batch: usize,
}

impl Engine {
    /// Add `n` data rows (`buf`, each [`Prepared::width`] values; `buf` is used as scratch
    /// space) to `a`: rows with NaN or infinity are counted and skipped, the rest go through
    /// the model `batch` at a time (the last batch padded) into the statistics, and into
    /// `per_sample` if given.
    pub fn push(
        &mut self,
        buf: &mut Vec<f32>,
        n: usize,
        feature_cols: &[usize],
        a: &mut Analysis,
        mut per_sample: Option<&mut PerSampleRows>,
    ) -> Result<()> {
        let (width, batch) = (
            self.plan.inputs.iter().map(InputSpec::size).sum(),
            self.batch,
        );
        if buf.len() != n * width {
            bail!("{} values given for {n} rows of {width}", buf.len());
        }
        let kept = keep_finite_rows(buf, n, width);
        a.rows_read += n as u64;
        a.rows_skipped += (n - kept) as u64;
        buf.truncate(kept * width);
        let mut chunk = Vec::with_capacity(batch * width);
        for rows in buf.chunks(batch * width) {
            let k = rows.len() / width;
            chunk.clear();
            chunk.extend_from_slice(rows);
            // Pad to the static batch with copies of the first row; the padding is dropped.
            for _ in k..batch {
                chunk.extend_from_within(0..width);
            }
            let results = self
                .compiled
                .request()
                .infer(&feeds(&self.plan, &chunk, batch, width)?)?;
            let inference = Inference {
                results: &results,
                buf: &chunk,
                kept: k,
                width,
                batch,
            };
            push_rows(
                &mut a.stats,
                &self.plan,
                &self.blocks,
                feature_cols,
                &inference,
            );
            if let Some(ps) = per_sample.as_deref_mut() {
                ps.push(&self.plan, &self.blocks, &inference);
            }
        }
        Ok(())
    }
}

/// Stream the data through the derivative model and gather the statistics.
pub fn analyse(opts: &Options) -> Result<(Analysis, Option<PerSample>)> {
    let start = Instant::now();
    if opts.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let sel = Selection {
        of: opts.of.clone(),
        wrt: opts.wrt.clone(),
        mode: opts.mode,
        interactions: opts.interactions,
    };
    let prepared = Prepared::new(&opts.model, &sel)?;
    let mut dataset = DataSet::open(&opts.data, prepared.inputs(), &opts.columns)?;
    if dataset.total == Some(0) {
        bail!("{}: the data set has no rows", opts.data.display());
    }
    let run = RunSettings {
        batch: match dataset.total {
            Some(n) => opts.batch.min(n),
            None => opts.batch,
        },
        device: opts.device.clone(),
        precision: opts.precision,
    };
    let (mut analysis, feature_cols) =
        prepared.empty_analysis(&opts.data, &dataset.column_names, &opts.feature_names, &run)?;
    let mut engine = prepared.engine(&run)?;

    let progress = progress_bar(opts.quiet, dataset.total);
    let mut buf: Vec<f32> = Vec::with_capacity(run.batch * dataset.width);
    let mut per_sample = opts.per_sample.as_ref().map(|_| PerSampleRows {
        columns: vec![Vec::new(); prepared.plan.inputs.len() + engine.blocks.jacobians.len()],
    });
    loop {
        buf.clear();
        let n = dataset.read_rows(run.batch, &mut buf)?;
        if n == 0 {
            break;
        }
        progress.inc(n as u64);
        engine.push(
            &mut buf,
            n,
            &feature_cols,
            &mut analysis,
            per_sample.as_mut(),
        )?;
    }
    progress.finish_and_clear();
    check_rows(&analysis)?;
    let per_sample = per_sample
        .map(|ps| ps.finish(&prepared.plan, analysis.rows_used() as usize))
        .transpose()?;
    analysis.seconds = start.elapsed().as_secs_f64();
    Ok((analysis, per_sample))
}

/// An error unless some rows were used.
pub fn check_rows(a: &Analysis) -> Result<()> {
    if a.rows_used() == 0 {
        if a.rows_read == 0 {
            bail!("{}: the data set has no rows", a.data.display());
        }
        bail!(
            "{}: all {} rows have NaN or infinite values; nothing to analyse",
            a.data.display(),
            a.rows_read
        );
    }
    Ok(())
}
