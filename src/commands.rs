//! The subcommands: thin glue over the library's pipeline.

use crate::{DerivOpts, RunOpts};
use anyhow::{bail, Context, Result};
use keras2ov::inspect;
use keras2ov::opgraph::{shape_fmt, DType};
use keras2ov::pipeline::{self, Derivatives};
use keras2ov::runtime::{Precision, Runtime};
use keras2ov::text::{clip, list};
use keras2ov::{io, lower};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn inspect(model: &Path, shapes: &[String]) -> Result<()> {
    let shapes = pipeline::parse_input_shapes(shapes)?;
    let loaded = keras2ov::loader::load(model)?;
    let m = &loaded.model;
    println!(
        "{}: {} model '{}' (Keras {})",
        model.display(),
        clip(&m.class_name),
        clip(&m.name),
        loaded.keras_version
    );
    let traced = lower::lower_traced(m, &shapes);
    let rows = {
        let trace: &[lower::TraceEntry] = match &traced {
            Ok((_, t)) => t,
            Err(_) => &[],
        };
        inspect::table_rows(m, trace)
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    inspect::write_table(&rows, &mut out)?;
    drop(rows);
    writeln!(out, "total parameters: {}", inspect::count_params(m))?;
    match traced {
        Ok((g, _)) => {
            let ins: Vec<String> = g
                .inputs
                .iter()
                .map(|&i| format!("{} {}", clip(g.input_name(i)), shape_fmt(g.shape(i))))
                .collect();
            let outs: Vec<String> = g
                .outputs
                .iter()
                .map(|(n, v)| format!("{} {}", clip(n), shape_fmt(g.shape(*v))))
                .collect();
            writeln!(out, "inputs: {}", list(&ins))?;
            writeln!(out, "outputs: {}", list(&outs))?;
            writeln!(out, "convertible: yes ({} primitive ops)", g.nodes.len())?;
            out.flush()?;
            Ok(())
        }
        Err(e) => {
            writeln!(out, "convertible: no")?;
            out.flush()?;
            // main() bounds the length of every message it prints.
            bail!("{}: {e}", model.display())
        }
    }
}

pub fn convert(
    model: &Path,
    output: Option<PathBuf>,
    batch: Option<usize>,
    shapes: &[String],
    deriv: &DerivOpts,
) -> Result<()> {
    let shapes = pipeline::parse_input_shapes(shapes)?;
    let out = output.unwrap_or_else(|| model.with_extension("xml"));
    if out.extension().is_none_or(|e| e != "xml") {
        bail!(
            "{}: the output must be an .xml path (the .bin goes beside it)",
            out.display()
        );
    }
    let ir = pipeline::convert_shaped(model, &shapes, batch, &deriv.to_pipeline())?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    ir.write(&out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} and {}",
        out.display(),
        out.with_extension("bin").display()
    );
    Ok(())
}

pub fn precision(opts: &RunOpts) -> Precision {
    match opts.precision.as_str() {
        "f16" => Precision::F16,
        "bf16" => Precision::BF16,
        _ => Precision::F32,
    }
}

pub fn run(
    model: &Path,
    inputs: &[String],
    output: Option<PathBuf>,
    batch: Option<usize>,
    opts: &RunOpts,
) -> Result<()> {
    let out = output.unwrap_or_else(|| model.with_extension("npz"));
    if model.extension().is_some_and(|e| e == "xml") {
        if batch.is_some() {
            bail!("--batch applies when converting a .keras model; an .xml keeps its shapes");
        }
        let ir = keras2ov::runtime::read_ir(model)?;
        return infer_and_save(model, &ir, inputs, &out, opts);
    }
    run_keras(model, inputs, &out, batch, &Derivatives::default(), opts)
}

pub fn jacobian(
    model: &Path,
    inputs: &[String],
    output: Option<PathBuf>,
    deriv: &DerivOpts,
    opts: &RunOpts,
) -> Result<()> {
    let out = output.unwrap_or_else(|| model.with_extension("derivatives.npz"));
    run_keras(model, inputs, &out, None, &deriv.to_pipeline(), opts)
}

/// Convert a `.keras` model in memory for the given inputs and run it. The batch dimension is
/// made static (the inputs' own batch unless `--batch` says otherwise): OpenVINO optimises
/// static shapes better, and it sidesteps dynamic-shape bugs of the CPU plugin.
fn run_keras(
    model: &Path,
    inputs: &[String],
    out: &Path,
    batch: Option<usize>,
    d: &Derivatives,
    opts: &RunOpts,
) -> Result<()> {
    if model.extension().is_some_and(|e| e == "xml") {
        // load_graph says why an IR cannot be differentiated.
        pipeline::load_graph(model)?;
    }
    let loaded = keras2ov::loader::load(model)?;
    let specs = loaded.model.input_specs();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    let dtypes = specs
        .iter()
        .map(|s| lower::input_dtype(&s.name, &s.dtype))
        .collect::<Result<Vec<_>, _>>()?;
    let arrays = io::gather_inputs(inputs, &names, &dtypes)?;
    // Unknown dimensions besides the batch (a variable sequence length) take the arrays' own.
    let shapes: Vec<(String, Vec<usize>)> = specs
        .iter()
        .zip(&arrays)
        .filter(|(s, (_, a))| s.shape[1..].contains(&None) && a.shape().len() == s.shape.len())
        .map(|(s, (_, a))| (s.name.clone(), a.shape()[1..].to_vec()))
        .collect();
    let graph = lower::lower_shaped(&loaded.model, &shapes)
        .with_context(|| format!("cannot convert {}", model.display()))?;
    for (&p, (name, a)) in graph.inputs.iter().zip(&arrays) {
        io::check_input_shape(name, a.shape(), graph.shape(p))?;
    }
    let batch = match batch {
        Some(b) => Some(b),
        None => common_batch(&graph, &arrays)?,
    };
    let graph = pipeline::with_derivatives(&graph, d)
        .with_context(|| format!("cannot differentiate {}", model.display()))?;
    let ir = pipeline::emit_graph(&graph, &loaded.model.name, batch)
        .with_context(|| format!("cannot convert {}", model.display()))?;
    infer_and_save(model, &ir, inputs, out, opts)
}

/// The batch size shared by every input with a dynamic first dimension.
fn common_batch(
    graph: &keras2ov::opgraph::OpGraph,
    arrays: &[(String, keras2ov::tensor::Tensor)],
) -> Result<Option<usize>> {
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

/// Compile `ir`, feed it the `--input` arrays (checked by name and shape), save every output.
fn infer_and_save(
    model: &Path,
    ir: &keras2ov::ir::Ir,
    inputs: &[String],
    out: &Path,
    opts: &RunOpts,
) -> Result<()> {
    let mut rt = Runtime::new(&opts.device, precision(opts))?;
    let mut compiled = rt
        .compile(ir)
        .with_context(|| format!("compiling {}", model.display()))?;
    let sig = compiled.inputs().to_vec();
    let names: Vec<String> = sig.iter().map(|t| t.name.clone()).collect();
    let dtypes: Vec<DType> = sig
        .iter()
        .map(|t| match t.element_type.as_str() {
            "i32" => DType::I32,
            "i64" => DType::I64,
            "boolean" => DType::Bool,
            _ => DType::F32,
        })
        .collect();
    let arrays = io::gather_inputs(inputs, &names, &dtypes)?;
    for (info, (_, a)) in sig.iter().zip(&arrays) {
        io::check_input_shape(&info.name, a.shape(), &info.shape)?;
    }
    let req = compiled.request();
    req.set_inputs(&arrays)?;
    req.run()?;
    let results = req.read_output_tensors()?;
    io::write_npz_tensors(out, &results)?;
    for (name, a) in &results {
        println!("{name}: shape {:?}", a.shape());
    }
    println!("wrote {}", out.display());
    Ok(())
}
