//! The stages chained: the library entry points the CLI, tests and benches share.

use crate::emit::{emit, ChunkPolicy, EmitOptions};
use crate::ir::Ir;
use crate::layer_graph::LoadedModel;
use crate::lower::InputShapes;
use crate::opgraph::{DType, OpGraph};
use crate::tensor::Tensor;
use anyhow::{bail, Context, Result};
use ndarray::ArrayD;
use std::path::Path;

/// Load a `.keras` archive and lower it to primitives.
pub fn load_graph(path: &Path) -> Result<(LoadedModel, OpGraph)> {
    load_graph_shaped(path, &[])
}

/// `load_graph` with per-sample shapes for inputs whose Keras shape has unknown dimensions
/// besides the batch (`--input-shape`).
pub fn load_graph_shaped(path: &Path, shapes: &InputShapes) -> Result<(LoadedModel, OpGraph)> {
    if path.extension().is_some_and(|e| e == "xml") {
        anyhow::bail!(
            "{} is an OpenVINO IR: this command needs the .keras model it came from \
             (only `run` accepts an .xml)",
            path.display()
        );
    }
    let loaded = crate::loader::load(path)?;
    let graph = crate::lower::lower_shaped(&loaded.model, shapes)
        .with_context(|| format!("cannot convert {}", path.display()))?;
    Ok((loaded, graph))
}

/// Load, lower and emit a `.keras` archive as IR.
pub fn convert(path: &Path, batch: Option<usize>) -> Result<Ir> {
    convert_with(path, batch, &Derivatives::default())
}

/// Emit a graph, naming the IR after the model; at a static batch, `chunking` may cut it for
/// the cache ([`Derivatives::chunking`]).
pub fn emit_graph(
    graph: &OpGraph,
    name: &str,
    batch: Option<usize>,
    chunking: Option<ChunkPolicy>,
) -> Result<Ir> {
    let opts = EmitOptions {
        batch,
        chunking,
        model_name: name.to_string(),
    };
    let graph = crate::opgraph::sink::sink_transposes(graph)?;
    Ok(emit(&graph, &opts)?)
}

/// Which derivatives to add to a model.
#[derive(Clone, Debug, Default)]
pub struct Derivatives {
    pub jacobian: bool,
    pub hessian: bool,
    /// Laplacians, partial derivatives and residuals (Taylor mode).
    pub pde: crate::pde::Operators,
    /// Input names to differentiate with respect to (empty: every float input).
    pub wrt: Vec<String>,
    /// Output names to differentiate (empty: every output).
    pub of: Vec<String>,
    /// Forward or reverse mode for the first derivatives (`Auto` picks the cheaper).
    pub mode: crate::autodiff::Mode,
}

impl Derivatives {
    /// Jacobians or Hessians asked for.
    pub fn any(&self) -> bool {
        self.jacobian || self.hessian
    }

    /// How a static batch is cut for the cache (`emit::chunk`): derivative graphs only, where
    /// element-wise work between the products dominates (Hessian 1.23x, Laplacian 1.45x,
    /// u_xxx 1.4x faster on the PDE benchmark MLP). Forward graphs stay whole: cut, the
    /// fixtures' ran 0.72-1.6x as fast, small graphs losing to the slicing and concatenation.
    pub fn chunking(&self) -> Option<ChunkPolicy> {
        (self.any() || self.pde.any()).then(ChunkPolicy::default)
    }

    /// What `bench` and messages call the derivative model: `hessian`, `jacobian`, `pde`
    /// (operators only) or `forward`.
    pub fn kind(&self) -> &'static str {
        if self.hessian {
            "hessian"
        } else if self.jacobian {
            "jacobian"
        } else if self.pde.any() {
            "pde"
        } else {
            "forward"
        }
    }
}

/// The forward graph with the requested derivative outputs added (or unchanged when none).
pub fn with_derivatives(graph: &OpGraph, d: &Derivatives) -> Result<OpGraph> {
    if !d.any() && !d.pde.any() {
        if !d.wrt.is_empty() || !d.of.is_empty() {
            anyhow::bail!(
                "--wrt and --of need --jacobian, --hessian, --laplacian, --bilaplacian, \
                 --derivative or --residual"
            );
        }
        return Ok(graph.clone());
    }
    let mut g = if d.any() {
        let sel = crate::autodiff::select(graph, &d.wrt, &d.of)?;
        if d.hessian {
            crate::autodiff::hessian(graph, &sel, d.mode)?
        } else {
            crate::autodiff::jacobian(graph, &sel, d.mode)?
        }
    } else {
        graph.clone()
    };
    if d.pde.any() {
        crate::pde::add(&mut g, &d.pde, &d.wrt, &d.of)?;
        g = crate::opgraph::simplify::simplify(&g)?;
    }
    Ok(g)
}

/// The mode (`forward` or `reverse`) the first derivatives are built in; `None` without
/// derivatives.
pub fn derivative_mode(graph: &OpGraph, d: &Derivatives) -> Result<Option<crate::autodiff::Mode>> {
    if !d.any() {
        return Ok(None);
    }
    let sel = crate::autodiff::select(graph, &d.wrt, &d.of)?;
    Ok(Some(crate::autodiff::resolve_mode(graph, &sel, d.mode)?))
}

/// Load a `.keras` archive, add derivatives, emit IR.
pub fn convert_with(path: &Path, batch: Option<usize>, d: &Derivatives) -> Result<Ir> {
    convert_shaped(path, &[], batch, d)
}

/// `convert_with` with per-sample input shapes (see [`load_graph_shaped`]).
pub fn convert_shaped(
    path: &Path,
    shapes: &InputShapes,
    batch: Option<usize>,
    d: &Derivatives,
) -> Result<Ir> {
    let (loaded, graph) = load_graph_shaped(path, shapes)?;
    let graph = with_derivatives(&graph, d)
        .with_context(|| format!("cannot differentiate {}", path.display()))?;
    emit_graph(&graph, &loaded.model.name, batch, d.chunking())
}

/// Parse `--input-shape NAME=D1,D2,...` arguments (per-sample dimensions, without the batch).
pub fn parse_input_shapes(args: &[String]) -> Result<Vec<(String, Vec<usize>)>> {
    args.iter()
        .map(|a| {
            let (name, dims) = a
                .split_once('=')
                .filter(|(n, _)| !n.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--input-shape {a:?}: expected NAME=D1,D2,... (per-sample dims)"
                    )
                })?;
            let dims = dims
                .split(',')
                .map(|d| d.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| anyhow::anyhow!("--input-shape {a:?}: dimensions must be integers"))?;
            Ok((name.to_string(), dims))
        })
        .collect()
}

/// How a model is run: device and inference precision.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub device: String,
    pub precision: crate::runtime::Precision,
}

/// Convert a `.keras` model in memory for its inputs and run it: every output, by name, in
/// model order (what `keras2ov run` and `keras2ov jacobian` write). `gather` gets the model's
/// input names and element types and returns the arrays in that order. Unknown dimensions
/// besides the batch (a variable sequence length) take the arrays' own; the batch is made
/// static (the inputs' own unless `batch` says otherwise): OpenVINO optimises static shapes
/// better, and it sidesteps dynamic-shape bugs of the CPU plugin.
pub fn run_model(
    model: &Path,
    gather: impl FnOnce(&[String], &[DType]) -> Result<Vec<(String, Tensor)>>,
    batch: Option<usize>,
    d: &Derivatives,
    run: &RunOptions,
) -> Result<Vec<(String, Tensor)>> {
    let loaded = crate::loader::load(model)?;
    let specs = loaded.model.input_specs();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let dtypes = specs
        .iter()
        .map(|s| crate::lower::input_dtype(&s.name, &s.dtype))
        .collect::<Result<Vec<_>, _>>()?;
    let arrays = gather(&names, &dtypes)?;
    let shapes: Vec<(String, Vec<usize>)> = specs
        .iter()
        .zip(&arrays)
        .filter(|(s, (_, a))| s.shape[1..].contains(&None) && a.shape().len() == s.shape.len())
        .map(|(s, (_, a))| (s.name.clone(), a.shape()[1..].to_vec()))
        .collect();
    let graph = crate::lower::lower_shaped(&loaded.model, &shapes)
        .with_context(|| format!("cannot convert {}", model.display()))?;
    for (&p, (name, a)) in graph.inputs.iter().zip(&arrays) {
        crate::io::check_input_shape(name, a.shape(), graph.shape(p))?;
    }
    let batch = match batch {
        Some(b) => Some(b),
        None => common_batch(&graph, &arrays)?,
    };
    let graph = with_derivatives(&graph, d)
        .with_context(|| format!("cannot differentiate {}", model.display()))?;
    let ir = emit_graph(&graph, &loaded.model.name, batch, d.chunking())
        .with_context(|| format!("cannot convert {}", model.display()))?;
    infer(model, &ir, &arrays, run)
}

/// [`run_model`] on float arrays by name (any order): the Python API's entry.
pub fn run_arrays(
    model: &Path,
    inputs: Vec<(String, ArrayD<f32>)>,
    batch: Option<usize>,
    d: &Derivatives,
    run: &RunOptions,
) -> Result<Vec<(String, ArrayD<f32>)>> {
    let tensors = inputs
        .into_iter()
        .map(|(n, a)| (n, Tensor::F32(a)))
        .collect();
    let gather =
        |names: &[String], dtypes: &[DType]| crate::io::order_inputs(tensors, names, dtypes);
    let results = run_model(model, gather, batch, d, run)?;
    Ok(results
        .into_iter()
        .map(|(n, t)| (n, t.into_f32()))
        .collect())
}

/// Compile `ir`, check the arrays against its inputs (by name and shape), run it.
pub fn infer(
    model: &Path,
    ir: &Ir,
    arrays: &[(String, Tensor)],
    run: &RunOptions,
) -> Result<Vec<(String, Tensor)>> {
    let mut rt = crate::runtime::Runtime::new(&run.device, run.precision)?;
    let mut compiled = rt
        .compile(ir)
        .with_context(|| format!("compiling {}", model.display()))?;
    let sig = compiled.inputs().to_vec();
    for info in &sig {
        if let Some((name, a)) = arrays.iter().find(|(n, _)| *n == info.name) {
            crate::io::check_input_shape(name, a.shape(), &info.shape)?;
        }
    }
    let req = compiled.request();
    req.set_inputs(arrays)?;
    req.run()?;
    Ok(req.read_output_tensors()?)
}

/// The batch size shared by every input with a dynamic first dimension.
fn common_batch(graph: &OpGraph, arrays: &[(String, Tensor)]) -> Result<Option<usize>> {
    let mut batch: Option<(usize, &str)> = None;
    for (&p, (name, a)) in graph.inputs.iter().zip(arrays) {
        if graph.shape(p).first() == Some(&None) {
            let b = a.shape()[0];
            match batch {
                Some((b0, n0)) if b0 != b => {
                    bail!("inputs '{n0}' and '{name}' have different batch sizes ({b0} and {b})")
                }
                _ => batch = Some((b, name)),
            }
        }
    }
    Ok(batch.map(|(b, _)| b))
}
