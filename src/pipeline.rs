//! The stages chained: the library entry points the CLI, tests and benches share.

use crate::emit::{emit, EmitOptions};
use crate::ir::Ir;
use crate::layer_graph::LoadedModel;
use crate::lower::InputShapes;
use crate::opgraph::OpGraph;
use anyhow::{Context, Result};
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
    emit_graph(&graph, &loaded.model.name, batch)
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
