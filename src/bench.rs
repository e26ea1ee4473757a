//! `keras2ov bench`: samples per second and latency per batch of the forward, Jacobian or
//! Hessian model, like OpenVINO's benchmark_app (one request, median over timed runs).

use crate::{commands, DerivOpts, RunOpts};
use anyhow::{Context, Result};
use keras2ov::pipeline;
use keras2ov::runtime::{PerformanceMode, Runtime};
use keras2ov::tensor::Tensor;
use ndarray::ArrayD;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The .keras archive.
    model: PathBuf,
    #[command(flatten)]
    deriv: DerivOpts,
    #[command(flatten)]
    shapes: crate::Shapes,
    /// Samples per batch (the model is compiled with this static batch).
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Timed runs (after warm-up).
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// OpenVINO performance hint.
    #[arg(long, default_value = "latency")]
    hint: PerformanceMode,
    /// CPU threads per inference (`INFERENCE_NUM_THREADS`; default: OpenVINO's choice). On a
    /// machine other processes keep busy, 1 thread can beat 2 for graphs of many small ops.
    #[arg(long)]
    threads: Option<usize>,
    /// Print one JSON object instead of text (for scripts).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: RunOpts,
}

/// Deterministic inputs in [0.1, 1.0): inside the domain of log/sqrt models too.
fn synthetic(shape: &[usize], salt: u64) -> ArrayD<f32> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ salt;
    ArrayD::from_shape_fn(shape.to_vec(), |_| {
        // splitmix64
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        0.1 + 0.9 * ((z >> 40) as f32 / (1u64 << 24) as f32)
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[k]
}

pub fn bench(a: &BenchArgs) -> Result<()> {
    if a.batch == 0 || a.iterations == 0 {
        anyhow::bail!("--batch and --iterations must be positive");
    }
    let d = a.deriv.to_pipeline();
    let shapes = pipeline::parse_input_shapes(&a.shapes.input_shape)?;
    let (loaded, graph) = pipeline::load_graph_shaped(&a.model, &shapes)?;
    let differentiate = || format!("cannot differentiate {}", a.model.display());
    let mode = pipeline::derivative_mode(&graph, &d).with_context(differentiate)?;
    let graph = pipeline::with_derivatives(&graph, &d).with_context(differentiate)?;
    let ir = pipeline::emit_graph(&graph, &loaded.model.name, Some(a.batch), d.chunking())?;
    let mut rt = Runtime::new(&a.run.device, commands::precision(&a.run))?;
    rt.set_performance_hint(a.hint)?;
    if let Some(n) = a.threads {
        rt.set_num_threads(n)?;
    }
    let mut compiled = rt
        .compile(&ir)
        .with_context(|| format!("compiling {}", a.model.display()))?;
    let inputs: Vec<(String, Tensor)> = compiled
        .inputs()
        .iter()
        .enumerate()
        .map(|(k, info)| {
            let shape: Vec<usize> = info.shape.iter().map(|d| d.unwrap_or(a.batch)).collect();
            let x = synthetic(&shape, k as u64);
            // Integer inputs (token ids) get 1 or 2, valid ids of any vocabulary of 3 or more;
            // bool inputs (masks) are all true.
            let t = match info.element_type.as_str() {
                "i32" => Tensor::I32(x.mapv(|v| 1 + i32::from(v >= 0.55))),
                "i64" => Tensor::I64(x.mapv(|v| 1 + i64::from(v >= 0.55))),
                "boolean" => Tensor::Bool(x.mapv(|_| true)),
                _ => Tensor::F32(x),
            };
            (info.name.clone(), t)
        })
        .collect();
    let req = compiled.request();
    req.set_inputs(&inputs)?;
    for _ in 0..a.warmup {
        req.run()?;
    }
    let mut times = Vec::with_capacity(a.iterations);
    for _ in 0..a.iterations {
        let t = Instant::now();
        req.run()?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let median = percentile(&times, 0.5);
    let kind = d.kind();
    let throughput = a.batch as f64 / median;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "model": a.model.display().to_string(),
                "kind": kind,
                "mode": mode.map(|m| m.to_string()),
                "batch": a.batch,
                "precision": a.run.precision,
                "device": a.run.device,
                "hint": a.hint.to_string(),
                "threads": a.threads,
                "iterations": a.iterations,
                "median_ms": median * 1e3,
                "p10_ms": percentile(&times, 0.1) * 1e3,
                "p90_ms": percentile(&times, 0.9) * 1e3,
                "samples_per_s": throughput,
            })
        );
    } else {
        let what = match mode {
            Some(m) => format!("{kind}, {m} mode"),
            None => kind.to_string(),
        };
        println!(
            "{} ({what}), batch {}, {} on {}, hint {}: median {:.3} ms per batch (p10 {:.3}, p90 {:.3}) over {} runs, {:.0} samples/s",
            a.model.display(),
            a.batch,
            a.run.precision,
            a.run.device,
            a.hint,
            median * 1e3,
            percentile(&times, 0.1) * 1e3,
            percentile(&times, 0.9) * 1e3,
            a.iterations,
            throughput
        );
    }
    Ok(())
}
