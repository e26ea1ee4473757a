//! `keras2ov._native`: the keras2ov library for Python. A thin layer: every function converts
//! Python values, calls the library function the command line calls, and converts back;
//! errors become `keras2ov.Error` with the message the command line prints.
//!
//! Compiled derivative models are kept per process (one per model file, selection, batch,
//! device and precision), so a Dask or Ray worker compiles each model once, whatever the
//! number of partitions it is given.

use keras2ov::pipeline::{self, Derivatives, RunOptions};
use keras2ov::runtime::Precision;
use keras2ov::sensitivity::{self, data::DataSet, shard, Analysis, Engine, Prepared};
use ndarray::ArrayD;
use numpy::{IntoPyArray, PyReadonlyArrayDyn};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

pyo3::create_exception!(
    keras2ov,
    Error,
    PyException,
    "A keras2ov error: the message is the one the command line prints."
);

fn err(e: anyhow::Error) -> PyErr {
    Error::new_err(keras2ov::text::error_message(&e))
}

fn fail<T>(r: anyhow::Result<T>) -> PyResult<T> {
    r.map_err(err)
}

fn precision(s: &str) -> PyResult<Precision> {
    s.parse::<Precision>().map_err(|e| err(anyhow::anyhow!(e)))
}

fn mode(s: &str) -> PyResult<keras2ov::autodiff::Mode> {
    s.parse().map_err(|e: String| err(anyhow::anyhow!(e)))
}

/// Use this OpenVINO C library (the one in the `openvino` package beside us).
#[pyfunction]
fn use_library(path: PathBuf) -> PyResult<()> {
    fail(keras2ov::runtime::use_library(&path).map_err(Into::into))
}

/// Which derivatives, as the command line's options say them: the tuple `(jacobian, hessian,
/// wrt, of, mode, laplacian, bilaplacian, derivative, residual)` the Python layer builds.
#[derive(FromPyObject)]
struct DerivArgs(
    bool,
    bool,
    Vec<String>,
    Vec<String>,
    String,
    bool,
    bool,
    Vec<String>,
    Vec<String>,
);

impl DerivArgs {
    fn into_derivatives(self) -> PyResult<Derivatives> {
        let DerivArgs(jacobian, hessian, wrt, of, mode_, laplacian, bilaplacian, derivs, residuals) =
            self;
        Ok(Derivatives {
            jacobian: jacobian || hessian,
            hessian,
            pde: keras2ov::pde::Operators {
                laplacian,
                bilaplacian,
                derivatives: derivs,
                residuals,
            },
            wrt,
            of,
            mode: mode(&mode_)?,
        })
    }
}

/// `keras2ov convert`: the IR as (xml text, weights bytes).
#[pyfunction]
fn convert<'py>(
    py: Python<'py>,
    model: PathBuf,
    batch: Option<usize>,
    deriv: DerivArgs,
) -> PyResult<(String, Bound<'py, PyBytes>)> {
    let d = deriv.into_derivatives()?;
    let ir = fail(py.detach(|| pipeline::convert_with(&model, batch, &d)))?;
    Ok((ir.xml, PyBytes::new(py, &ir.bin)))
}

/// A float32 or float64 NumPy array as f32 (what the command line reads from `.npy` files).
fn array_f32(name: &str, v: &Bound<'_, PyAny>) -> PyResult<ArrayD<f32>> {
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<f32>>() {
        return Ok(a.as_array().to_owned());
    }
    if let Ok(a) = v.extract::<PyReadonlyArrayDyn<f64>>() {
        return Ok(a.as_array().mapv(|x| x as f32));
    }
    let dtype = v
        .getattr("dtype")
        .map(|d| d.to_string())
        .unwrap_or_else(|_| v.get_type().to_string());
    Err(err(anyhow::anyhow!(
        "input '{}': its dtype is '{dtype}', not float32 or float64",
        keras2ov::text::clip(name)
    )))
}

fn named_arrays(inputs: &Bound<'_, PyDict>) -> PyResult<Vec<(String, ArrayD<f32>)>> {
    inputs
        .iter()
        .map(|(k, v)| {
            let name: String = k.extract()?;
            let a = array_f32(&name, &v)?;
            Ok((name, a))
        })
        .collect()
}

fn to_python(py: Python<'_>, results: Vec<(String, ArrayD<f32>)>) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    for (name, a) in results {
        d.set_item(name, a.into_pyarray(py))?;
    }
    Ok(d)
}

/// `keras2ov run` / `keras2ov jacobian` on arrays: every output by name.
#[pyfunction]
fn run<'py>(
    py: Python<'py>,
    model: PathBuf,
    inputs: &Bound<'py, PyDict>,
    batch: Option<usize>,
    deriv: DerivArgs,
    device: String,
    precision: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let d = deriv.into_derivatives()?;
    let arrays = named_arrays(inputs)?;
    let opts = RunOptions {
        device,
        precision: self::precision(precision)?,
    };
    let results = fail(py.detach(|| pipeline::run_arrays(&model, arrays, batch, &d, &opts)))?;
    to_python(py, results)
}

// ---------------------------------------------------------------------------------------------
// Per-process caches: prepared models and compiled engines.

/// A model file as it is now: path, size and modification time (a rewritten file is new).
fn file_key(model: &Path) -> anyhow::Result<String> {
    let m = std::fs::metadata(model)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", model.display()))?;
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Ok(format!("{}\u{0}{}\u{0}{mtime}", model.display(), m.len()))
}

type Cache<T> = Mutex<HashMap<String, Arc<T>>>;

fn prepared_cache() -> &'static Cache<Prepared> {
    static C: OnceLock<Cache<Prepared>> = OnceLock::new();
    C.get_or_init(Default::default)
}

fn engine_cache() -> &'static Cache<Mutex<Engine>> {
    static C: OnceLock<Cache<Mutex<Engine>>> = OnceLock::new();
    C.get_or_init(Default::default)
}

static COMPILED: AtomicUsize = AtomicUsize::new(0);

fn prepared(model: &Path, sel: &sensitivity::Selection) -> anyhow::Result<Arc<Prepared>> {
    let key = format!(
        "{}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{}",
        file_key(model)?,
        sel.of,
        sel.wrt,
        sel.mode,
        sel.interactions
    );
    if let Some(p) = prepared_cache().lock().expect("cache").get(&key) {
        return Ok(p.clone());
    }
    let p = Arc::new(Prepared::new(model, sel)?);
    prepared_cache()
        .lock()
        .expect("cache")
        .insert(key, p.clone());
    Ok(p)
}

/// What a compiled engine depends on, all found in the analysis itself.
fn selection_of(a: &Analysis) -> anyhow::Result<sensitivity::Selection> {
    Ok(sensitivity::Selection {
        of: a.of.clone(),
        wrt: a.wrt.clone(),
        mode: a.mode.parse().map_err(|e: String| anyhow::anyhow!(e))?,
        interactions: a.stats.hess.is_some(),
    })
}

fn run_settings(a: &Analysis) -> anyhow::Result<sensitivity::RunSettings> {
    Ok(sensitivity::RunSettings {
        batch: a.batch,
        device: a.device.clone(),
        precision: a
            .precision
            .parse()
            .map_err(|e: String| anyhow::anyhow!(e))?,
    })
}

/// The compiled engine for an analysis (compiled on first use in this process).
fn engine(a: &Analysis) -> anyhow::Result<(Arc<Prepared>, Arc<Mutex<Engine>>)> {
    let sel = selection_of(a)?;
    let run = run_settings(a)?;
    let p = prepared(&a.model, &sel)?;
    let key = format!(
        "{}\u{0}{:?}\u{0}{:?}\u{0}{}\u{0}{}\u{0}{:?}",
        file_key(&a.model)?,
        a.of,
        a.wrt,
        a.mode,
        sel.interactions,
        run
    );
    let mut cache = engine_cache().lock().expect("cache");
    if let Some(e) = cache.get(&key) {
        return Ok((p, e.clone()));
    }
    let e = Arc::new(Mutex::new(p.engine(&run)?));
    COMPILED.fetch_add(1, Ordering::Relaxed);
    cache.insert(key, e.clone());
    Ok((p, e))
}

/// The model's input names, in order.
#[pyfunction]
fn input_names(py: Python<'_>, model: PathBuf) -> PyResult<Vec<String>> {
    fail(py.detach(|| {
        let (_, g) = pipeline::load_graph(&model)?;
        Ok(g.inputs
            .iter()
            .map(|&p| g.input_name(p).to_string())
            .collect())
    }))
}

/// How many derivative models this process has compiled for `Accumulator`s.
#[pyfunction]
fn compile_count() -> usize {
    COMPILED.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Sensitivity statistics

/// The statistics of `keras2ov sensitivity` over the rows given so far (a shard).
#[pyclass(module = "keras2ov._native")]
struct Accumulator {
    analysis: Analysis,
}

#[pymethods]
impl Accumulator {
    #[new]
    #[pyo3(signature = (model, of, wrt, mode, interactions, batch, columns, feature_names, data, device, precision))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        model: PathBuf,
        of: Vec<String>,
        wrt: Vec<String>,
        mode: &str,
        interactions: bool,
        batch: usize,
        columns: Option<Vec<String>>,
        feature_names: Vec<String>,
        data: String,
        device: String,
        precision: &str,
    ) -> PyResult<Accumulator> {
        let sel = sensitivity::Selection {
            of,
            wrt,
            mode: self::mode(mode)?,
            interactions,
        };
        let run = sensitivity::RunSettings {
            batch,
            device,
            precision: self::precision(precision)?,
        };
        if batch == 0 {
            return Err(err(anyhow::anyhow!("--batch must be at least 1")));
        }
        let analysis = fail(py.detach(|| -> anyhow::Result<Analysis> {
            let p = prepared(&model, &sel)?;
            let columns = match columns {
                Some(c) => {
                    if c.len() != p.width() {
                        anyhow::bail!(
                            "{} column names given, but the model's inputs take {} values per row",
                            c.len(),
                            p.width()
                        );
                    }
                    c
                }
                None => p
                    .inputs()
                    .iter()
                    .flat_map(|s| (0..s.size()).map(|i| s.element_name(i)))
                    .collect(),
            };
            Ok(
                p.empty_analysis(Path::new(&data), &columns, &feature_names, &run)?
                    .0,
            )
        }))?;
        Ok(Accumulator { analysis })
    }

    /// Add rows given as arrays keyed by input name, `[N, *input shape]`.
    fn update(&mut self, py: Python<'_>, inputs: &Bound<'_, PyDict>) -> PyResult<()> {
        let arrays = named_arrays(inputs)?;
        let a = &mut self.analysis;
        fail(py.detach(|| -> anyhow::Result<()> {
            let start = std::time::Instant::now();
            let (p, engine) = engine(a)?;
            let mut ds = DataSet::from_arrays(Path::new(&a.sources[0]), p.inputs(), arrays)?;
            let mut buf = Vec::new();
            let n = ds.read_rows(usize::MAX, &mut buf)?;
            push(a, &engine, &mut buf, n, start)
        }))
    }

    /// Add rows given as one `[N, row width]` array: each row the model inputs' elements in
    /// input order (a CSV file's rows).
    fn update_rows(&mut self, py: Python<'_>, rows: &Bound<'_, PyAny>) -> PyResult<()> {
        let rows = array_f32("rows", rows)?;
        let a = &mut self.analysis;
        fail(py.detach(|| -> anyhow::Result<()> {
            let start = std::time::Instant::now();
            let (p, engine) = engine(a)?;
            let width = p.width();
            if rows.ndim() != 2 || rows.shape()[1] != width {
                anyhow::bail!(
                    "rows have shape {:?}; the model's inputs take [N, {width}]",
                    rows.shape()
                );
            }
            let n = rows.shape()[0];
            let mut buf = rows.as_standard_layout().iter().copied().collect();
            push(a, &engine, &mut buf, n, start)
        }))
    }

    /// Merge the statistics of other rows (`other` is left as it is).
    fn merge(&mut self, py: Python<'_>, other: PyRef<'_, Accumulator>) -> PyResult<()> {
        let o = other.analysis.clone();
        let a = &mut self.analysis;
        fail(py.detach(|| shard::merge(a, &o, "this Sensitivity", "the other Sensitivity")))
    }

    /// The shard as JSON text (what `--stats-out` writes).
    fn to_json(&self) -> PyResult<String> {
        fail(shard::to_json(&self.analysis))
    }

    /// A shard from JSON text.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Accumulator> {
        Ok(Accumulator {
            analysis: fail(shard::from_json(text, "the shard"))?,
        })
    }

    /// Read a shard file.
    #[staticmethod]
    fn read(path: PathBuf) -> PyResult<Accumulator> {
        Ok(Accumulator {
            analysis: fail(shard::read(&path))?,
        })
    }

    /// Read shard files and merge them, as `keras2ov report` does.
    #[staticmethod]
    fn merge_files(py: Python<'_>, paths: Vec<PathBuf>) -> PyResult<Accumulator> {
        Ok(Accumulator {
            analysis: fail(py.detach(|| shard::merge_files(&paths)))?,
        })
    }

    /// Write the shard file (`keras2ov report` merges such files).
    fn write_shard(&self, path: PathBuf) -> PyResult<()> {
        fail(shard::write(&path, &self.analysis))
    }

    /// Write the report directory (report.html, sensitivity.json, sensitivity.csv).
    fn write_report(&self, py: Python<'_>, out: PathBuf) -> PyResult<()> {
        let a = &self.analysis;
        fail(py.detach(|| {
            sensitivity::check_rows(a)?;
            sensitivity::write_report(a, &out)
        }))
    }

    /// `sensitivity.json` as text.
    fn report_json(&self) -> PyResult<String> {
        fail(sensitivity::check_rows(&self.analysis))?;
        Ok(sensitivity::report_json::json(&self.analysis).to_string())
    }

    #[getter]
    fn rows_read(&self) -> u64 {
        self.analysis.rows_read
    }

    #[getter]
    fn rows_skipped(&self) -> u64 {
        self.analysis.rows_skipped
    }

    #[getter]
    fn features(&self) -> Vec<String> {
        self.analysis
            .features
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    #[getter]
    fn components(&self) -> Vec<String> {
        self.analysis
            .components
            .iter()
            .map(|c| c.name.clone())
            .collect()
    }

    #[getter]
    fn model(&self) -> PathBuf {
        self.analysis.model.clone()
    }
}

/// Rows into the analysis through the shared engine.
fn push(
    a: &mut Analysis,
    engine: &Mutex<Engine>,
    buf: &mut Vec<f32>,
    n: usize,
    start: std::time::Instant,
) -> anyhow::Result<()> {
    let cols = a.feature_columns();
    let mut e = engine
        .lock()
        .map_err(|_| anyhow::anyhow!("a previous run failed"))?;
    e.push(buf, n, &cols, a, None)?;
    a.seconds += start.elapsed().as_secs_f64();
    Ok(())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add("VERSION", env!("CARGO_PKG_VERSION"))?;
    m.add("OPENVINO_VERSION", keras2ov::runtime::OPENVINO_VERSION)?;
    m.add_function(wrap_pyfunction!(use_library, m)?)?;
    m.add_function(wrap_pyfunction!(convert, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(compile_count, m)?)?;
    m.add_function(wrap_pyfunction!(input_names, m)?)?;
    m.add_class::<Accumulator>()?;
    Ok(())
}
