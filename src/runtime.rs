//! Running IRs with OpenVINO: the only module that touches OpenVINO.
//!
//! The OpenVINO C library is loaded at run time (`library.rs`) (the `openvino` crate's `runtime-linking`), once
//! per process, from the first of:
//! 0. a path given by [`use_library`] before the first OpenVINO call (the Python module gives
//!    the one in the `openvino` package it runs beside);
//! 1. `OPENVINO_LIB`, the path of the library file itself;
//! 2. the Python environment the executable is installed in (`PREFIX/bin/keras2ov` from a
//!    wheel: `PREFIX/lib/python3*/site-packages/openvino/libs/`), then a project-local `.venv` (`.venv/lib/python3*/site-packages/openvino/libs/libopenvino_c.so*`)
//!    in the current directory or one of its ancestors, the crate directory, or an ancestor of
//!    the running executable;
//! 3. the `openvino` Python package of `python3` on `PATH`;
//! 4. the usual OpenVINO install locations (`openvino-finder`).
//!
//! Precision: the CPU plugin's default inference precision is bf16 on CPUs that have AVX512-BF16,
//! which costs about 1e-2 of accuracy; a [`Runtime`] sets `INFERENCE_PRECISION_HINT` explicitly,
//! f32 unless asked otherwise.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use openvino::{
    CompiledModel, Core, DeviceType, ElementType, InferRequest, InferenceError, Model, Node,
    PropertyKey, RwPropertyKey, Shape, Tensor,
};
use thiserror::Error;

mod library;
pub use library::{find_library, load_library, openvino_version, use_library};

use crate::ir::Ir;
use crate::tensor::{AsTensorView, DType, TensorView};

/// The OpenVINO release this project is built and tested against (`make setup` installs it).
pub const OPENVINO_VERSION: &str = "2026.4.1";

#[derive(Debug, Error, Clone, PartialEq)]
pub enum RuntimeError {
    /// The OpenVINO library could not be found or loaded.
    #[error("{0}")]
    Library(String),
    /// An OpenVINO call failed.
    #[error("OpenVINO could not {action}: {kind}{}", fmt_detail(.detail))]
    OpenVino {
        action: String,
        kind: String,
        detail: String,
    },
    /// Inputs that do not fit the model (missing, unknown, wrong shape).
    #[error("{0}")]
    Input(String),
    /// An output this runtime cannot hand back.
    #[error("{0}")]
    Output(String),
    /// Reading an IR from disk failed.
    #[error("cannot read {path}: {message}")]
    Io { path: PathBuf, message: String },
    /// A bad option value.
    #[error("{0}")]
    Config(String),
}

fn fmt_detail(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

pub type Result<T> = std::result::Result<T, RuntimeError>;

/// Map an OpenVINO error code (and its message) to an error that says what we were doing.
fn ov_err(action: impl Into<String>) -> impl FnOnce(InferenceError) -> RuntimeError {
    let action = action.into();
    move |e| RuntimeError::OpenVino {
        action,
        kind: e.kind.to_string(),
        detail: e
            .message
            .map(|m| {
                m.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Options

/// Inference precision (`INFERENCE_PRECISION_HINT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Precision {
    #[default]
    F32,
    F16,
    BF16,
}

impl Precision {
    /// The property value OpenVINO expects.
    pub fn as_ov(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::BF16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_ov())
    }
}

impl FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Precision::F32),
            "f16" | "fp16" => Ok(Precision::F16),
            "bf16" => Ok(Precision::BF16),
            _ => Err(format!(
                "unknown precision {s:?} (expected f32, f16 or bf16)"
            )),
        }
    }
}

/// `PERFORMANCE_HINT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PerformanceMode {
    Latency,
    Throughput,
    CumulativeThroughput,
}

impl PerformanceMode {
    pub fn as_ov(self) -> &'static str {
        match self {
            PerformanceMode::Latency => "LATENCY",
            PerformanceMode::Throughput => "THROUGHPUT",
            PerformanceMode::CumulativeThroughput => "CUMULATIVE_THROUGHPUT",
        }
    }
}

impl fmt::Display for PerformanceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_ov().to_ascii_lowercase().replace('_', "-"))
    }
}

impl FromStr for PerformanceMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "latency" => Ok(PerformanceMode::Latency),
            "throughput" => Ok(PerformanceMode::Throughput),
            "cumulative-throughput" => Ok(PerformanceMode::CumulativeThroughput),
            _ => Err(format!(
                "unknown performance hint {s:?} (expected latency, throughput or \
                 cumulative-throughput)"
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading IRs from disk

/// Read an IR written earlier: `xml_path` and its sibling `.bin` (which may be absent only if
/// the model has no constants).
pub fn read_ir(xml_path: impl AsRef<Path>) -> Result<Ir> {
    let xml_path = xml_path.as_ref();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| RuntimeError::Io {
            path,
            message: e.to_string(),
        }
    };
    let xml = std::fs::read_to_string(xml_path).map_err(io(xml_path))?;
    let bin_path = Ir::bin_path(xml_path);
    let bin = match std::fs::read(&bin_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !xml.contains("type=\"Const\"") => {
            Vec::new()
        }
        Err(e) => return Err(io(&bin_path)(e)),
    };
    Ok(Ir { xml, bin })
}

// ---------------------------------------------------------------------------------------------
// Runtime

/// The little-endian bytes of `value` as element type `want`: the same type, or integers of
/// the other width (checked to fit).
fn input_bytes(name: &str, value: &TensorView<'_>, want: DType) -> Result<Vec<u8>> {
    let wrong = || {
        RuntimeError::Input(format!(
            "input {name:?} is {} in the model; got {} data",
            want.keras_name(),
            value.dtype().keras_name()
        ))
    };
    let narrow = |v: i64| {
        i32::try_from(v).map_err(|_| {
            RuntimeError::Input(format!(
                "input {name:?} is int32 in the model; the value {v} does not fit"
            ))
        })
    };
    Ok(match (value, want) {
        (TensorView::F32(a), DType::F32) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        (TensorView::I32(a), DType::I32) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        (TensorView::I64(a), DType::I64) => a.iter().flat_map(|v| v.to_le_bytes()).collect(),
        (TensorView::I32(a), DType::I64) => {
            a.iter().flat_map(|&v| i64::from(v).to_le_bytes()).collect()
        }
        (TensorView::I64(a), DType::I32) => {
            let mut out = Vec::with_capacity(a.len() * 4);
            for &v in a.iter() {
                out.extend(narrow(v)?.to_le_bytes());
            }
            out
        }
        (TensorView::Bool(a), DType::Bool) => a.iter().map(|&v| u8::from(v)).collect(),
        _ => return Err(wrong()),
    })
}

/// A model input or output as OpenVINO sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// The tensor name (for outputs, the output name).
    pub name: String,
    /// `None` for a dynamic dimension.
    pub shape: Vec<Option<usize>>,
    /// OpenVINO element type name: `f32`, `i64`, `boolean`, ...
    pub element_type: String,
}

impl TensorInfo {
    fn shape_text(&self) -> String {
        shape_text(&self.shape)
    }
}

fn shape_text(s: &[Option<usize>]) -> String {
    let dims: Vec<String> = s
        .iter()
        .map(|d| d.map_or("?".to_string(), |v| v.to_string()))
        .collect();
    format!("[{}]", dims.join(","))
}

/// The inputs and outputs of a model, in model order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelInfo {
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

fn element_name(t: ElementType) -> String {
    match t {
        ElementType::F32 => "f32".into(),
        ElementType::I32 => "i32".into(),
        ElementType::I64 => "i64".into(),
        ElementType::Boolean => "boolean".into(),
        other => other.to_string().to_ascii_lowercase(),
    }
}

fn port_info(port: &Node, what: &str, index: usize) -> Result<TensorInfo> {
    let ctx = || format!("describe {what} {index}");
    let name = port.get_name().map_err(ov_err(ctx()))?;
    let element_type = element_name(port.get_element_type().map_err(ov_err(ctx()))?);
    let ps = port.get_partial_shape().map_err(ov_err(ctx()))?;
    // Not `Rank::is_dynamic`: OpenVINO's C API calls rank {0,0} (a scalar) dynamic.
    let rank = ps.get_rank();
    if rank.get_max() < 0 || rank.get_min() != rank.get_max() {
        return Err(RuntimeError::Config(format!(
            "{what} {name:?} has a dynamic rank, which keras2ov does not support"
        )));
    }
    let shape = ps
        .get_dimensions()
        .iter()
        .map(|d| {
            if d.is_dynamic() {
                None
            } else {
                usize::try_from(d.get_min()).ok()
            }
        })
        .collect();
    Ok(TensorInfo {
        name,
        shape,
        element_type,
    })
}

/// Inputs and outputs read through index-based getters (a `Model` and a `CompiledModel` name
/// theirs differently).
fn ports(
    what: &str,
    counts: (usize, usize),
    input: impl Fn(usize) -> std::result::Result<Node, InferenceError>,
    output: impl Fn(usize) -> std::result::Result<Node, InferenceError>,
) -> Result<ModelInfo> {
    let read =
        |n: usize, kind: &str, get: &dyn Fn(usize) -> std::result::Result<Node, InferenceError>| {
            (0..n)
                .map(|i| {
                    let p = get(i).map_err(ov_err(format!("get {what} {kind} {i}")))?;
                    port_info(&p, kind, i)
                })
                .collect::<Result<Vec<_>>>()
        };
    Ok(ModelInfo {
        inputs: read(counts.0, "input", &input)?,
        outputs: read(counts.1, "output", &output)?,
    })
}

fn model_ports(model: &Model) -> Result<ModelInfo> {
    let n_in = model
        .get_inputs_len()
        .map_err(ov_err("count model inputs"))?;
    let n_out = model
        .get_outputs_len()
        .map_err(ov_err("count model outputs"))?;
    ports(
        "model",
        (n_in, n_out),
        |i| model.get_input_by_index(i),
        |i| model.get_output_by_index(i),
    )
}

fn compiled_ports(model: &CompiledModel) -> Result<ModelInfo> {
    let n_in = model
        .get_input_size()
        .map_err(ov_err("count compiled model inputs"))?;
    let n_out = model
        .get_output_size()
        .map_err(ov_err("count compiled model outputs"))?;
    ports(
        "compiled model",
        (n_in, n_out),
        |i| model.get_input_by_index(i),
        |i| model.get_output_by_index(i),
    )
}

/// An OpenVINO Core configured for one device and inference precision.
pub struct Runtime {
    core: Core,
    device: String,
    precision: Precision,
    library: PathBuf,
}

impl Runtime {
    /// Load OpenVINO (once per process) and set `INFERENCE_PRECISION_HINT` on `device`.
    pub fn new(device: &str, precision: Precision) -> Result<Runtime> {
        let library = load_library()?;
        let mut core = Core::new().map_err(|e| {
            RuntimeError::Library(format!(
                "OpenVINO (loaded from {}) could not create a Core: {e}",
                library.display()
            ))
        })?;
        core.set_property(
            &DeviceType::from(device),
            &RwPropertyKey::HintInferencePrecision,
            precision.as_ov(),
        )
        .map_err(ov_err(format!(
            "set INFERENCE_PRECISION_HINT={} on device {device}",
            precision.as_ov()
        )))?;
        Ok(Runtime {
            core,
            device: device.to_string(),
            precision,
            library,
        })
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// The OpenVINO C library in use.
    pub fn library_path(&self) -> &Path {
        &self.library
    }

    /// Set `PERFORMANCE_HINT` for models compiled after this call.
    pub fn set_performance_hint(&mut self, mode: PerformanceMode) -> Result<()> {
        self.set_property(RwPropertyKey::HintPerformanceMode, mode.as_ov())
    }

    /// Set `INFERENCE_NUM_THREADS` for models compiled after this call.
    pub fn set_num_threads(&mut self, n: usize) -> Result<()> {
        self.set_property(RwPropertyKey::InferenceNumThreads, &n.to_string())
    }

    /// Set any writable device property for models compiled after this call (e.g.
    /// `NumStreams`, `InferenceNumThreads`).
    pub fn set_property(&mut self, key: RwPropertyKey, value: &str) -> Result<()> {
        let action = format!("set {}={value} on device {}", key.as_ref(), self.device);
        self.core
            .set_property(&DeviceType::from(self.device.as_str()), &key, value)
            .map_err(ov_err(action))
    }

    /// Read a device property (e.g. `FULL_DEVICE_NAME`).
    pub fn get_property(&self, key: &PropertyKey) -> Result<String> {
        let action = format!("read {} of device {}", key.as_ref(), self.device);
        self.core
            .get_property(&DeviceType::from(self.device.as_str()), key)
            .map_err(ov_err(action))
    }

    fn read_model(&mut self, ir: &Ir) -> Result<(Model, Option<Tensor>)> {
        let weights = if ir.bin.is_empty() {
            None
        } else {
            let shape = Shape::new(&[ir.bin.len() as i64])
                .map_err(ov_err("make the weights tensor shape"))?;
            let mut t = Tensor::new(ElementType::U8, &shape)
                .map_err(ov_err("allocate the weights tensor"))?;
            t.get_raw_data_mut()
                .map_err(ov_err("fill the weights tensor"))?
                .copy_from_slice(&ir.bin);
            Some(t)
        };
        let model = self
            .core
            .read_model_from_buffer(ir.xml.as_bytes(), weights.as_ref())
            .map_err(ov_err("read the IR"))?;
        Ok((model, weights))
    }

    /// Inputs and outputs of an IR as OpenVINO reads them (no compilation).
    pub fn model_info(&mut self, ir: &Ir) -> Result<ModelInfo> {
        let (model, _w) = self.read_model(ir)?;
        model_ports(&model)
    }

    /// Read and compile an IR for this runtime's device.
    pub fn compile(&mut self, ir: &Ir) -> Result<Compiled> {
        let (model, weights) = self.read_model(ir)?;
        let device = DeviceType::from(self.device.as_str());
        let action = format!("compile the model for {}", self.device);
        let mut compiled = match self
            .core
            .compile_model(&model, DeviceType::from(self.device.as_str()))
        {
            Ok(c) => c,
            // OpenVINO 2026.4's CPU plugin sometimes fails to compile a fused subgraph
            // ("Can't allocate registers for a snippet"; on the same IR from one run to the
            // next, seen on Hessians of GroupNormalization): compile once more without
            // snippets, then turn them back on for later models.
            Err(e) if e.message.as_deref().unwrap_or("").contains("snippet") => {
                let key = RwPropertyKey::Other("SNIPPETS_MODE".into());
                self.core
                    .set_property(&device, &key, "DISABLE")
                    .map_err(ov_err(format!("{action} without snippets")))?;
                let again = self
                    .core
                    .compile_model(&model, DeviceType::from(self.device.as_str()));
                self.core
                    .set_property(&device, &key, "ENABLE")
                    .map_err(ov_err("turn snippets back on"))?;
                again.map_err(ov_err(action))?
            }
            Err(e) => return Err(ov_err(action)(e)),
        };
        let info = compiled_ports(&compiled)?;
        let request = compiled
            .create_infer_request()
            .map_err(ov_err("create an infer request"))?;
        Ok(Compiled {
            request: Request { request, info },
            model: compiled,
            _weights: weights,
        })
    }
}

/// A compiled model with one ready infer request.
pub struct Compiled {
    request: Request,
    model: CompiledModel,
    /// Kept alive in case the compiled model shares the weights memory.
    _weights: Option<Tensor>,
}

impl Compiled {
    pub fn inputs(&self) -> &[TensorInfo] {
        self.request.inputs()
    }

    pub fn outputs(&self) -> &[TensorInfo] {
        self.request.outputs()
    }

    /// Set every input (by tensor name), run, and return every output by name, in model order.
    pub fn infer<S: AsRef<str>, A: AsTensorView>(
        &mut self,
        inputs: &[(S, A)],
    ) -> Result<Vec<(String, ArrayD<f32>)>> {
        self.request.infer(inputs)
    }

    /// The compiled model's own request: set inputs once, then [`Request::run`] repeatedly.
    pub fn request(&mut self) -> &mut Request {
        &mut self.request
    }

    /// Another infer request (for running several at once, e.g. a throughput benchmark).
    pub fn create_request(&mut self) -> Result<Request> {
        let request = self
            .model
            .create_infer_request()
            .map_err(ov_err("create an infer request"))?;
        Ok(Request {
            request,
            info: self.request.info.clone(),
        })
    }

    /// `OPTIMAL_NUMBER_OF_INFER_REQUESTS` of the compiled model.
    pub fn optimal_number_of_requests(&self) -> Result<usize> {
        let v = self
            .model
            .get_property(&PropertyKey::OptimalNumberOfInferRequests)
            .map_err(ov_err("read OPTIMAL_NUMBER_OF_INFER_REQUESTS"))?;
        v.trim().parse().map_err(|_| {
            RuntimeError::Config(format!(
                "OPTIMAL_NUMBER_OF_INFER_REQUESTS is not a number: {v:?}"
            ))
        })
    }

    /// A property of the compiled model, e.g. `INFERENCE_PRECISION_HINT` as compiled.
    pub fn get_property(&self, key: &str) -> Result<String> {
        let key = match key {
            "INFERENCE_PRECISION_HINT" => RwPropertyKey::HintInferencePrecision,
            "PERFORMANCE_HINT" => RwPropertyKey::HintPerformanceMode,
            "NUM_STREAMS" => RwPropertyKey::NumStreams,
            "INFERENCE_NUM_THREADS" => RwPropertyKey::InferenceNumThreads,
            other => {
                return Err(RuntimeError::Config(format!(
                    "reading compiled-model property {other} is not supported"
                )))
            }
        };
        let action = format!("read compiled-model property {}", key.as_ref());
        self.model
            .get_property(&PropertyKey::Rw(key))
            .map(|v| v.into_owned())
            .map_err(ov_err(action))
    }
}

/// An infer request: set inputs, run (synchronously or not), read outputs.
pub struct Request {
    request: InferRequest,
    info: ModelInfo,
}

impl Request {
    pub fn inputs(&self) -> &[TensorInfo] {
        &self.info.inputs
    }

    pub fn outputs(&self) -> &[TensorInfo] {
        &self.info.outputs
    }

    /// Set every input (each exactly once), run, and return every output in model order.
    pub fn infer<S: AsRef<str>, A: AsTensorView>(
        &mut self,
        inputs: &[(S, A)],
    ) -> Result<Vec<(String, ArrayD<f32>)>> {
        self.set_inputs(inputs)?;
        self.run()?;
        self.read_outputs()
    }

    /// Set all inputs: each model input exactly once, none unknown.
    pub fn set_inputs<S: AsRef<str>, A: AsTensorView>(&mut self, inputs: &[(S, A)]) -> Result<()> {
        let mut given = vec![false; self.info.inputs.len()];
        for (name, value) in inputs {
            let k = self.input_index(name.as_ref())?;
            if std::mem::replace(&mut given[k], true) {
                return Err(RuntimeError::Input(format!(
                    "input {:?} is given twice",
                    name.as_ref()
                )));
            }
            self.set_input_at(k, value.tensor_view())?;
        }
        let missing: Vec<&str> = self
            .info
            .inputs
            .iter()
            .zip(&given)
            .filter(|(_, g)| !**g)
            .map(|(i, _)| i.name.as_str())
            .collect();
        if !missing.is_empty() {
            return Err(RuntimeError::Input(format!(
                "missing model input(s): {}",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// Set one input by tensor name (the data is copied into an OpenVINO tensor).
    pub fn set_input(&mut self, name: &str, value: ArrayViewD<'_, f32>) -> Result<()> {
        let k = self.input_index(name)?;
        self.set_input_at(k, TensorView::F32(value))
    }

    fn input_index(&self, name: &str) -> Result<usize> {
        self.info
            .inputs
            .iter()
            .position(|i| i.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.info.inputs.iter().map(|i| i.name.as_str()).collect();
                RuntimeError::Input(format!(
                    "the model has no input named {name:?}; its inputs are: {}",
                    names.join(", ")
                ))
            })
    }

    /// Set input `k` from `value`, whose element type must be the input's (integers of either
    /// width are converted, range-checked).
    fn set_input_at(&mut self, k: usize, value: TensorView<'_>) -> Result<()> {
        let info = &self.info.inputs[k];
        let fits = value.shape().len() == info.shape.len()
            && value
                .shape()
                .iter()
                .zip(&info.shape)
                .all(|(&a, b)| b.is_none_or(|b| a == b));
        if !fits {
            let got: Vec<Option<usize>> = value.shape().iter().map(|&d| Some(d)).collect();
            return Err(RuntimeError::Input(format!(
                "input {:?} has shape {}, but the model expects {}",
                info.name,
                shape_text(&got),
                info.shape_text()
            )));
        }
        let want = match info.element_type.as_str() {
            "f32" => DType::F32,
            "i32" => DType::I32,
            "i64" => DType::I64,
            "boolean" => DType::Bool,
            other => {
                return Err(RuntimeError::Input(format!(
                    "input {:?} has element type {other}, which keras2ov cannot set",
                    info.name
                )))
            }
        };
        let bytes = input_bytes(&info.name, &value, want)?;
        let dims: Vec<i64> = value.shape().iter().map(|&d| d as i64).collect();
        let action = || {
            format!(
                "set input {:?} with shape {}",
                info.name,
                shape_text(&value.shape().iter().map(|&d| Some(d)).collect::<Vec<_>>())
            )
        };
        if dims.is_empty() {
            // The C API cannot make a rank-0 shape (`ov_shape_create` refuses rank 0): write
            // into the request's own (static, scalar) input tensor instead.
            let mut tensor = self
                .request
                .get_tensor(&info.name)
                .map_err(ov_err(action()))?;
            let data = tensor.get_raw_data_mut().map_err(ov_err(action()))?;
            let n = data.len().min(bytes.len());
            data[..n].copy_from_slice(&bytes[..n]);
            return Ok(());
        }
        let shape = Shape::new(&dims).map_err(ov_err(action()))?;
        let et = match want {
            DType::F32 => ElementType::F32,
            DType::I32 => ElementType::I32,
            DType::I64 => ElementType::I64,
            DType::Bool => ElementType::Boolean,
        };
        let mut tensor = Tensor::new(et, &shape).map_err(ov_err(action()))?;
        if !bytes.is_empty() {
            tensor
                .get_raw_data_mut()
                .map_err(ov_err(action()))?
                .copy_from_slice(&bytes);
        }
        self.request
            .set_input_tensor_by_index(k, &tensor)
            .map_err(ov_err(action()))
    }

    /// Run with the inputs already set (synchronously).
    pub fn run(&mut self) -> Result<()> {
        self.request.infer().map_err(ov_err("run inference"))
    }

    /// Start running asynchronously; finish with [`Request::wait`].
    pub fn start(&mut self) -> Result<()> {
        self.request
            .infer_async()
            .map_err(ov_err("start inference"))
    }

    /// Wait for an asynchronous run to finish.
    pub fn wait(&mut self) -> Result<()> {
        // OpenVINO rejects a negative ("infinite") timeout; 49 days will do.
        self.request
            .wait(i64::from(u32::MAX))
            .map_err(ov_err("wait for inference"))
    }

    /// Every output by tensor name, in model order, as f32 (i64 and boolean outputs are
    /// converted; booleans become 0/1).
    pub fn read_outputs(&self) -> Result<Vec<(String, ArrayD<f32>)>> {
        (0..self.info.outputs.len())
            .map(|k| Ok((self.info.outputs[k].name.clone(), self.read_output(k)?)))
            .collect()
    }

    /// Output `k` (model order) as f32.
    pub fn read_output(&self, k: usize) -> Result<ArrayD<f32>> {
        Ok(match self.read_output_tensor(k)? {
            crate::tensor::Tensor::F32(a) => a,
            t => t.to_f64().mapv(|v| v as f32),
        })
    }

    /// Every output by tensor name, in model order, in its own element type.
    pub fn read_output_tensors(&self) -> Result<Vec<(String, crate::tensor::Tensor)>> {
        (0..self.info.outputs.len())
            .map(|k| {
                Ok((
                    self.info.outputs[k].name.clone(),
                    self.read_output_tensor(k)?,
                ))
            })
            .collect()
    }

    /// Output `k` (model order) in its own element type (f32, i32, i64 or bool).
    pub fn read_output_tensor(&self, k: usize) -> Result<crate::tensor::Tensor> {
        use crate::tensor::Tensor as T;
        let name = &self.info.outputs[k].name;
        let action = || format!("read output {name:?}");
        let t = self
            .request
            .get_output_tensor_by_index(k)
            .map_err(ov_err(action()))?;
        // The C API's `ov_tensor_get_shape` fails on scalars ("invalid C parameter"), so a
        // rank-0 output is taken from the model's (static) rank.
        let shape: Vec<usize> = if self.info.outputs[k].shape.is_empty() {
            Vec::new()
        } else {
            t.get_shape()
                .map_err(ov_err(action()))?
                .get_dimensions()
                .iter()
                .map(|&d| d as usize)
                .collect()
        };
        let n: usize = shape.iter().product();
        let et = t.get_element_type().map_err(ov_err(action()))?;
        let bad = |len: usize| {
            RuntimeError::Output(format!(
                "output {name:?}: OpenVINO returned {len} values for shape {shape:?}"
            ))
        };
        fn make<E: Clone>(shape: &[usize], data: &[E], n: usize) -> Option<ArrayD<E>> {
            let data = if n == 0 { Vec::new() } else { data.to_vec() };
            ArrayD::from_shape_vec(IxDyn(shape), data).ok()
        }
        let tensor = match et {
            ElementType::F32 => {
                let d = if n == 0 {
                    &[][..]
                } else {
                    t.get_data::<f32>().map_err(ov_err(action()))?
                };
                T::F32(make(&shape, d, n).ok_or_else(|| bad(d.len()))?)
            }
            ElementType::I32 => {
                let d = if n == 0 {
                    &[][..]
                } else {
                    t.get_data::<i32>().map_err(ov_err(action()))?
                };
                T::I32(make(&shape, d, n).ok_or_else(|| bad(d.len()))?)
            }
            ElementType::I64 => {
                let d = if n == 0 {
                    &[][..]
                } else {
                    t.get_data::<i64>().map_err(ov_err(action()))?
                };
                T::I64(make(&shape, d, n).ok_or_else(|| bad(d.len()))?)
            }
            ElementType::Boolean | ElementType::U8 => {
                let raw = if n == 0 {
                    &[][..]
                } else {
                    t.get_raw_data().map_err(ov_err(action()))?
                };
                let d: Vec<bool> = raw.iter().map(|&v| v != 0).collect();
                T::Bool(make(&shape, &d, n).ok_or_else(|| bad(d.len()))?)
            }
            other => {
                return Err(RuntimeError::Output(format!(
                    "output {name:?} has element type {}, which keras2ov cannot read",
                    element_name(other)
                )))
            }
        };
        Ok(tensor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_and_hint_parse() {
        assert_eq!("FP32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!("bf16".parse::<Precision>().unwrap(), Precision::BF16);
        assert!("f64".parse::<Precision>().is_err());
        assert_eq!(Precision::default(), Precision::F32);
        assert_eq!(
            "throughput".parse::<PerformanceMode>().unwrap().as_ov(),
            "THROUGHPUT"
        );
        assert_eq!(
            "CUMULATIVE_THROUGHPUT".parse::<PerformanceMode>().unwrap(),
            PerformanceMode::CumulativeThroughput
        );
    }
}
