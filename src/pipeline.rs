//! The stages chained: the library entry points the CLI, tests and benches share.

use crate::emit::{emit, EmitOptions, Ir};
use crate::layer_graph::LoadedModel;
use crate::opgraph::OpGraph;
use anyhow::{Context, Result};
use std::path::Path;

/// Load a `.keras` archive and lower it to primitives.
pub fn load_graph(path: &Path) -> Result<(LoadedModel, OpGraph)> {
    let loaded = crate::loader::load(path)?;
    let graph = crate::lower::lower(&loaded.model)
        .with_context(|| format!("cannot convert {}", path.display()))?;
    Ok((loaded, graph))
}

/// Load, lower and emit a `.keras` archive as IR.
pub fn convert(path: &Path, batch: Option<usize>) -> Result<Ir> {
    let (loaded, graph) = load_graph(path)?;
    emit_graph(&graph, &loaded.model.name, batch)
}

/// Emit a graph, naming the IR after the model.
pub fn emit_graph(graph: &OpGraph, name: &str, batch: Option<usize>) -> Result<Ir> {
    let opts = EmitOptions {
        batch,
        model_name: name.to_string(),
    };
    Ok(emit(graph, &opts)?)
}

/// `dir/model.keras` -> `dir/model.<ext>`.
pub fn beside(model: &Path, ext: &str) -> std::path::PathBuf {
    model.with_extension(ext)
}
