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

/// Convert a `.keras` model in memory for the given inputs, run it, save every output.
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
    let gather = |names: &[String], dtypes: &[DType]| io::gather_inputs(inputs, names, dtypes);
    let results = pipeline::run_model(model, gather, batch, d, &run_options(opts))?;
    save(out, &results)
}

fn run_options(opts: &RunOpts) -> pipeline::RunOptions {
    pipeline::RunOptions {
        device: opts.device.clone(),
        precision: precision(opts),
    }
}

fn save(out: &Path, results: &[(String, keras2ov::tensor::Tensor)]) -> Result<()> {
    io::write_npz_tensors(out, results)?;
    for (name, a) in results {
        println!("{name}: shape {:?}", a.shape());
    }
    println!("wrote {}", out.display());
    Ok(())
}

/// Run an IR from disk on the given inputs, save every output.
fn infer_and_save(
    model: &Path,
    ir: &keras2ov::ir::Ir,
    inputs: &[String],
    out: &Path,
    opts: &RunOpts,
) -> Result<()> {
    let info = Runtime::new(&opts.device, precision(opts))?.model_info(ir)?;
    let names: Vec<String> = info.inputs.iter().map(|t| t.name.clone()).collect();
    let dtypes: Vec<DType> = info
        .inputs
        .iter()
        .map(|t| match t.element_type.as_str() {
            "i32" => DType::I32,
            "i64" => DType::I64,
            "boolean" => DType::Bool,
            _ => DType::F32,
        })
        .collect();
    let arrays = io::gather_inputs(inputs, &names, &dtypes)?;
    let results = pipeline::infer(model, ir, &arrays, &run_options(opts))?;
    save(out, &results)
}

/// `convert --ovms-repo`: the IR as one version of a model server repository.
pub fn convert_ovms(
    model: &Path,
    batch: Option<usize>,
    shapes: &[String],
    deriv: &DerivOpts,
    target: &keras2ov::ovms::Target,
) -> Result<()> {
    let shapes = pipeline::parse_input_shapes(shapes)?;
    let ir = pipeline::convert_shaped(model, &shapes, batch, &deriv.to_pipeline())?;
    let (xml, config) = keras2ov::ovms::write(&ir, target)?;
    println!(
        "wrote {} and {}, and {} (plugin_config: INFERENCE_PRECISION_HINT=f32)",
        xml.display(),
        xml.with_extension("bin").display(),
        config.display()
    );
    Ok(())
}

/// `report`: merge shard files into a report (and/or one merged shard).
pub fn report(shards: &[PathBuf], output: Option<&Path>, stats_out: Option<&Path>) -> Result<()> {
    use keras2ov::sensitivity::{shard, write_report};
    let a = shard::merge_files(shards)?;
    if let Some(path) = stats_out {
        shard::write(path, &a)?;
    }
    if let Some(out) = output {
        write_report(&a, out)?;
    }
    println!(
        "{} shards, {} rows used ({} skipped); wrote {}",
        shards.len(),
        a.rows_used(),
        a.rows_skipped,
        written(&[output, stats_out])
    );
    Ok(())
}

/// The paths written, for a closing line: "a and b".
pub fn written(paths: &[Option<&Path>]) -> String {
    let names: Vec<String> = paths
        .iter()
        .flatten()
        .map(|p| p.display().to_string())
        .collect();
    names.join(" and ")
}
