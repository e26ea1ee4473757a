//! The `keras2ov` command line.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

mod commands;

#[derive(Parser)]
#[command(
    name = "keras2ov",
    version,
    about = "Convert Keras 3 .keras models to OpenVINO IR v11 and run them",
    long_about = "Convert Keras 3 .keras models to OpenVINO IR v11 (.xml + .bin) and run them \
through the OpenVINO runtime, without Python. The tool never executes code found in an archive."
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

#[derive(Subcommand)]
enum Command {
    /// Show the layers of a .keras model and list anything unsupported.
    Inspect {
        /// The .keras archive.
        model: PathBuf,
    },
    /// Write OpenVINO IR (.xml + .bin) for a .keras model.
    Convert {
        /// The .keras archive.
        model: PathBuf,
        /// Output .xml path (the .bin goes beside it); default: the model's stem beside it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Make the batch dimension static (default: dynamic).
        #[arg(long)]
        batch: Option<usize>,
    },
    /// Run a .keras model (converted in memory) or an IR .xml we wrote on input arrays.
    Run {
        /// A .keras archive or an .xml written by `keras2ov convert`.
        model: PathBuf,
        /// FILE.npy (single-input model), NAME=FILE.npy, or FILE.npz keyed by input name.
        #[arg(short, long = "input", required = true)]
        inputs: Vec<String>,
        /// Output .npz keyed by output name; default: the model's stem beside it.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Make the batch dimension static (default: dynamic).
        #[arg(long)]
        batch: Option<usize>,
        #[command(flatten)]
        run: RunOpts,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Inspect { model } => commands::inspect(&model),
        Command::Convert {
            model,
            output,
            batch,
        } => commands::convert(&model, output, batch),
        Command::Run {
            model,
            inputs,
            output,
            batch,
            run,
        } => commands::run(&model, &inputs, output, batch, &run),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
