//! The stages chained: the library entry points the CLI, tests and benches share.

use crate::emit::{emit, EmitOptions};
use crate::ir::Ir;
use crate::layer_graph::LoadedModel;
use crate::opgraph::OpGraph;
use anyhow::{bail, Context, Result};
use ndarray::ArrayD;
use std::path::Path;

/// Load a `.keras` archive and lower it to primitives.
pub fn load_graph(path: &Path) -> Result<(LoadedModel, OpGraph)> {
    if path.extension().is_some_and(|e| e == "xml") {
        anyhow::bail!(
            "{} is an OpenVINO IR: this command needs the .keras model it came from \
             (only `run` accepts an .xml)",
            path.display()
        );
    }
    let loaded = crate::loader::load(path)?;
    let graph = crate::lower::lower(&loaded.model)
        .with_context(|| format!("cannot convert {}", path.display()))?;
    Ok((loaded, graph))
}

/// Load, lower and emit a `.keras` archive as IR.
pub fn convert(path: &Path, batch: Option<usize>) -> Result<Ir> {
    convert_with(path, batch, &Derivatives::default())
}

/// Emit a graph, naming the IR after the model.
pub fn emit_graph(graph: &OpGraph, name: &str, batch: Option<usize>) -> Result<Ir> {
    let opts = EmitOptions {
        batch,
        model_name: name.to_string(),
    };
    Ok(emit(graph, &opts)?)
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
    let (loaded, graph) = load_graph(path)?;
    let graph = with_derivatives(&graph, d)
        .with_context(|| format!("cannot differentiate {}", path.display()))?;
    emit_graph(&graph, &loaded.model.name, batch)
}

/// How a model is run: device and inference precision.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub device: String,
    pub precision: crate::runtime::Precision,
}

/// Convert a `.keras` model in memory for the given named inputs (any order) and run it:
/// every output, by name, in model order (what `keras2ov run` and `keras2ov jacobian` write).
/// The batch dimension is made static (the inputs' own batch unless `batch` says otherwise):
/// OpenVINO optimises static shapes better, and it sidesteps dynamic-shape bugs of the CPU
/// plugin.
pub fn run_arrays(
    model: &Path,
    inputs: Vec<(String, ArrayD<f32>)>,
    batch: Option<usize>,
    d: &Derivatives,
    run: &RunOptions,
) -> Result<Vec<(String, ArrayD<f32>)>> {
    let (loaded, graph) = load_graph(model)?;
    run_graph(model, &loaded.model.name, &graph, inputs, batch, d, run)
}

/// [`run_arrays`] on a model loaded already (`name` is the model's, `graph` its forward
/// graph).
pub fn run_graph(
    model: &Path,
    name: &str,
    graph: &OpGraph,
    inputs: Vec<(String, ArrayD<f32>)>,
    batch: Option<usize>,
    d: &Derivatives,
    run: &RunOptions,
) -> Result<Vec<(String, ArrayD<f32>)>> {
    let names: Vec<String> = graph
        .inputs
        .iter()
        .map(|&p| graph.input_name(p).to_string())
        .collect();
    let arrays = crate::io::order_inputs(inputs, &names)?;
    for (&p, (name, a)) in graph.inputs.iter().zip(&arrays) {
        crate::io::check_input_shape(name, a, graph.shape(p))?;
    }
    let batch = match batch {
        Some(b) => Some(b),
        None => common_batch(graph, &arrays)?,
    };
    let graph = with_derivatives(graph, d)
        .with_context(|| format!("cannot differentiate {}", model.display()))?;
    let ir = emit_graph(&graph, name, batch)
        .with_context(|| format!("cannot convert {}", model.display()))?;
    infer(model, &ir, &arrays, run)
}

/// Compile `ir`, check the arrays against its inputs (by name and shape), run it.
pub fn infer(
    model: &Path,
    ir: &Ir,
    arrays: &[(String, ArrayD<f32>)],
    run: &RunOptions,
) -> Result<Vec<(String, ArrayD<f32>)>> {
    let mut rt = crate::runtime::Runtime::new(&run.device, run.precision)?;
    let mut compiled = rt
        .compile(ir)
        .with_context(|| format!("compiling {}", model.display()))?;
    let sig = compiled.inputs().to_vec();
    for info in &sig {
        if let Some((name, a)) = arrays.iter().find(|(n, _)| *n == info.name) {
            crate::io::check_input_shape(name, a, &info.shape)?;
        }
    }
    Ok(compiled.infer(arrays)?)
}

/// The batch size shared by every input with a dynamic first dimension.
fn common_batch(graph: &OpGraph, arrays: &[(String, ArrayD<f32>)]) -> Result<Option<usize>> {
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
