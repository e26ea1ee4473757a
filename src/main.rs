//! The `keras2ov` command line.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod bench;
mod commands;

#[derive(Parser)]
#[command(
    name = "keras2ov",
    version,
    about = "Convert Keras 3 .keras models (and their derivatives) to OpenVINO IR v11 and run them",
    long_about = "Convert Keras 3 .keras models to OpenVINO IR v11 (.xml + .bin), with per-sample \
Jacobians and Hessians if asked, and run them through the OpenVINO runtime, without Python. \
The tool never executes code found in an archive."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that run a model.
#[derive(clap::Args, Clone)]
pub struct RunOpts {
    /// OpenVINO device.
    #[arg(long, default_value = "CPU")]
    pub device: String,
    /// Inference precision hint (the CPU plugin would pick bf16 on some CPUs; f32 is exact).
    #[arg(long, default_value = "f32", value_parser = ["f32", "f16", "bf16"])]
    pub precision: String,
}

/// The arrays a model runs on.
#[derive(clap::Args, Clone)]
pub struct Inputs {
    /// FILE.npy (single-input model), NAME=FILE.npy, or FILE.npz keyed by input name.
    #[arg(short, long = "input", required = true)]
    pub input: Vec<String>,
}

/// Shapes for inputs whose Keras shape has unknown dimensions besides the batch.
#[derive(clap::Args, Clone, Default)]
pub struct Shapes {
    /// Per-sample shape of an input whose Keras shape has unknown dimensions besides the
    /// batch (a variable sequence length), e.g. `--input-shape x=32,8`; repeatable.
    #[arg(long = "input-shape", value_name = "NAME=D1,D2,...")]
    pub input_shape: Vec<String>,
}

/// Which inputs and outputs are differentiated, and how.
#[derive(clap::Args, Clone, Default)]
pub struct Selection {
    /// Inputs to differentiate with respect to, comma separated (default: every float input).
    #[arg(long, value_delimiter = ',')]
    pub wrt: Vec<String>,
    /// Outputs to differentiate, comma separated (default: every output).
    #[arg(long, value_delimiter = ',')]
    pub of: Vec<String>,
    /// First derivatives in forward mode (jacfwd), reverse mode (jacrev), or auto: reverse
    /// when the differentiated outputs have fewer elements than the inputs. Same numbers.
    #[arg(long, default_value = "auto", value_name = "auto|forward|reverse")]
    pub mode: keras2ov::autodiff::Mode,
}

/// PDE operators, per sample, by Taylor mode.
#[derive(clap::Args, Clone, Default)]
pub struct PdeOpts {
    /// Add `laplacian/<output>`: the sum of d2y/dx_i^2 over every element of the `--wrt`
    /// inputs (default: every float input).
    #[arg(long)]
    pub laplacian: bool,
    /// Add `bilaplacian/<output>`: the biharmonic, sum over i, j of d4y/dx_i^2 dx_j^2.
    #[arg(long)]
    pub bilaplacian: bool,
    /// Add `derivative/<SPEC>` for SPEC = OUT/IN/IN/..., any order up to 6, mixed partials
    /// allowed (`u/x/t`); an input with several elements per sample is indexed, `u/xy[0]`.
    #[arg(long = "derivative", value_name = "SPEC")]
    pub derivatives: Vec<String>,
    /// Add a PDE residual `[NAME=]EXPR` (output `residual` or NAME), e.g.
    /// "u_t + u*u_x - 0.0031831*u_xx"; names are the model's inputs and outputs, derivatives
    /// `u_x`, `u_xt`, `d(u/xy[0]/xy[1])`, `laplacian(u)`; + - * / ^, sin cos exp log tanh sqrt abs.
    #[arg(long = "residual", value_name = "[NAME=]EXPR")]
    pub residuals: Vec<String>,
}

impl PdeOpts {
    fn to_pipeline(&self) -> keras2ov::pde::Operators {
        keras2ov::pde::Operators {
            laplacian: self.laplacian,
            bilaplacian: self.bilaplacian,
            derivatives: self.derivatives.clone(),
            residuals: self.residuals.clone(),
        }
    }
}

/// Which derivatives to add (as `jax.vmap(jax.jacfwd(f))` / `jax.vmap(jax.hessian(f))`).
#[derive(clap::Args, Clone, Default)]
pub struct DerivOpts {
    /// Add per-sample Jacobians as outputs `jacobian/<output>/<input>`.
    #[arg(long)]
    pub jacobian: bool,
    /// Add per-sample Hessians `hessian/<output>/<a>/<b>` (and the Jacobians).
    #[arg(long)]
    pub hessian: bool,
    #[command(flatten)]
    pub pde: PdeOpts,
    #[command(flatten)]
    pub select: Selection,
}

impl DerivOpts {
    pub fn to_pipeline(&self) -> keras2ov::pipeline::Derivatives {
        keras2ov::pipeline::Derivatives {
            jacobian: self.jacobian || self.hessian,
            hessian: self.hessian,
            pde: self.pde.to_pipeline(),
            wrt: self.select.wrt.clone(),
            of: self.select.of.clone(),
            mode: self.select.mode,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Show the layers of a .keras model and list anything unsupported.
    Inspect {
        /// The .keras archive.
        model: PathBuf,
        #[command(flatten)]
        shapes: Shapes,
    },
    /// Write OpenVINO IR (.xml + .bin) for a .keras model, optionally with derivatives.
    Convert {
        /// The .keras archive.
        model: PathBuf,
        /// Output .xml path (the .bin goes beside it); default: the model's stem beside it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Make the batch dimension static (default: dynamic).
        #[arg(long)]
        batch: Option<usize>,
        #[command(flatten)]
        shapes: Shapes,
        #[command(flatten)]
        deriv: DerivOpts,
        #[command(flatten)]
        ovms: OvmsOpts,
    },
    /// Run a .keras model (converted in memory) or an IR .xml we wrote on input arrays.
    Run {
        /// A .keras archive or an .xml written by `keras2ov convert`.
        model: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        /// Output .npz keyed by output name; default: the model's stem beside it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Make the batch dimension static (default: dynamic).
        #[arg(long)]
        batch: Option<usize>,
        #[command(flatten)]
        run: RunOpts,
    },
    /// Compute per-sample derivatives of a .keras model through OpenVINO: Jacobians (and
    /// Hessians), or the PDE operators asked for.
    Jacobian {
        /// The .keras archive.
        model: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        /// Output .npz: forward outputs, `jacobian/<output>/<input>`, `hessian/...`,
        /// `laplacian/...`, `derivative/...`, residuals; default:
        /// `<model stem>.derivatives.npz` beside the model.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Jacobians too when PDE operators are asked for (they are computed by default
        /// otherwise).
        #[arg(long)]
        jacobian: bool,
        /// Also compute Hessians.
        #[arg(long)]
        hessian: bool,
        #[command(flatten)]
        pde: PdeOpts,
        #[command(flatten)]
        select: Selection,
        #[command(flatten)]
        run: RunOpts,
    },
    /// Measure throughput and latency of the forward, Jacobian or Hessian model.
    Bench(bench::BenchArgs),
    /// Sensitivity report over a data set: which inputs drive which outputs (HTML, JSON, CSV).
    Sensitivity {
        /// The .keras archive.
        model: PathBuf,
        /// Data set: .csv with a header, .npz keyed by input name, or .npy (single input).
        #[arg(long)]
        data: PathBuf,
        /// Report directory (written atomically: report.html, sensitivity.json, sensitivity.csv).
        #[arg(short, long, required_unless_present = "stats_out")]
        output: Option<PathBuf>,
        /// Also (or only) write the statistics to this shard file (JSON), which
        /// `keras2ov report` merges with the shards of other parts of the data.
        #[arg(long, value_name = "FILE.json")]
        stats_out: Option<PathBuf>,
        #[command(flatten)]
        select: Selection,
        /// Also compute mean |d2y/dxi dxj| (compiles the Hessian model).
        #[arg(long)]
        interactions: bool,
        /// Rows per inference (a static batch; the last partial batch is padded).
        #[arg(long, default_value_t = keras2ov::sensitivity::DEFAULT_BATCH)]
        batch: usize,
        /// CSV columns per input, e.g. `--columns x=c1,c2 t=c3` (default: in input order).
        #[arg(long, num_args = 1..)]
        columns: Vec<String>,
        /// Names of the input features (comma separated; default: CSV header or `input[i]`).
        #[arg(long, num_args = 1.., value_delimiter = ',')]
        feature_names: Vec<String>,
        /// Also write the raw per-sample inputs and Jacobians to this .npz (grows with rows).
        #[arg(long)]
        per_sample: Option<PathBuf>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
        #[command(flatten)]
        run: RunOpts,
    },
    /// Merge shard files (`sensitivity --stats-out`) into one sensitivity report.
    Report {
        /// Shard files of one model and selection, over parts of a data set.
        #[arg(required = true, value_name = "SHARD.json")]
        shards: Vec<PathBuf>,
        /// Report directory (written atomically, as by `sensitivity -o`).
        #[arg(short, long, required_unless_present = "stats_out")]
        output: Option<PathBuf>,
        /// Also write the merged statistics as one shard file.
        #[arg(long, value_name = "FILE.json")]
        stats_out: Option<PathBuf>,
    },
}

/// `convert --ovms-repo`: an OpenVINO Model Server repository instead of `-o`.
#[derive(clap::Args, Clone, Default)]
pub struct OvmsOpts {
    /// Write a model server repository: DIR/NAME/VERSION/model.xml (and .bin) and
    /// DIR/config.json, whose plugin_config sets INFERENCE_PRECISION_HINT=f32.
    #[arg(long, value_name = "DIR", requires = "name", conflicts_with = "output")]
    pub ovms_repo: Option<PathBuf>,
    /// The model's name in the repository (with --ovms-repo).
    #[arg(long, requires = "ovms_repo")]
    pub name: Option<String>,
    /// The model version (with --ovms-repo).
    #[arg(long = "version", default_value_t = 1, requires = "ovms_repo")]
    pub model_version: u64,
}

fn main() -> ExitCode {
    // Bad input is reported as errors; a panic is a keras2ov bug, said so in one line.
    std::panic::set_hook(Box::new(|info| {
        let info = info.to_string();
        eprintln!(
            "error: internal error in keras2ov (a bug; please report it): {}",
            keras2ov::text::clip_message(&info)
        );
    }));
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect { model, shapes } => commands::inspect(&model, &shapes.input_shape),
        Command::Convert {
            model,
            output,
            batch,
            shapes,
            deriv,
            ovms,
        } => match (ovms.ovms_repo, ovms.name) {
            (Some(repo), Some(name)) => {
                let target = keras2ov::ovms::Target {
                    repo,
                    name,
                    version: ovms.model_version,
                };
                commands::convert_ovms(&model, batch, &shapes.input_shape, &deriv, &target)
            }
            _ => commands::convert(&model, output, batch, &shapes.input_shape, &deriv),
        },
        Command::Run {
            model,
            inputs,
            output,
            batch,
            run,
        } => commands::run(&model, &inputs.input, output, batch, &run),
        Command::Jacobian {
            model,
            inputs,
            output,
            jacobian,
            hessian,
            pde,
            select,
            run,
        } => {
            let operators = pde.to_pipeline().any();
            let deriv = DerivOpts {
                jacobian: jacobian || !operators,
                hessian,
                pde,
                select,
            };
            commands::jacobian(&model, &inputs.input, output, &deriv, &run)
        }
        Command::Bench(args) => bench::bench(&args),
        Command::Sensitivity {
            model,
            data,
            output,
            stats_out,
            select,
            interactions,
            batch,
            columns,
            feature_names,
            per_sample,
            quiet,
            run,
        } => {
            let opts = keras2ov::sensitivity::Options {
                of: select.of,
                wrt: select.wrt,
                mode: select.mode,
                interactions,
                batch,
                columns,
                feature_names,
                per_sample,
                quiet,
                device: run.device.clone(),
                precision: commands::precision(&run),
                out: output.clone(),
                stats_out: stats_out.clone(),
                ..keras2ov::sensitivity::Options::new(&model, &data, Path::new(""))
            };
            keras2ov::sensitivity::run(&opts).map(|a| {
                println!(
                    "{} rows used ({} skipped) in {:.2} s; wrote {}",
                    a.rows_used(),
                    a.rows_skipped,
                    a.seconds,
                    commands::written(&[output.as_deref(), stats_out.as_deref()])
                );
            })
        }
        Command::Report {
            shards,
            output,
            stats_out,
        } => commands::report(&shards, output.as_deref(), stats_out.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Parts of a message taken from a file are clipped where the message is built;
            // this bounds what any message can print, whatever built it.
            eprintln!("error: {}", keras2ov::text::error_message(&e));
            ExitCode::FAILURE
        }
    }
}
