//! Command-line interface: clap definitions (one subcommand a file) and their
//! translation into validated library parameters. The only module that knows about
//! argv, environment variables, progress bars and the terminal.
//!
//! Exit codes: 0 success; 1 bad input, bad parameters or an I/O failure (the message
//! names the file, column or parameter and the rule); 2 command-line usage error;
//! 3 the GPU was required but is unavailable or failed.

mod adapters;
mod bench;
mod common;
mod dbscan;
mod kmeans;
mod predict;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Customer segmentation for shopping malls: K-means on CPU or GPU, from Parquet or CSV.
#[derive(Parser, Debug)]
#[command(name = "segmenta", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Cluster a customer feature table with K-means; writes assignments.parquet and model.json.
    Kmeans(kmeans::KmeansArgs),
    /// Cluster a customer feature table with exact DBSCAN; writes assignments.parquet and model.json.
    Dbscan(dbscan::DbscanArgs),
    /// Assign new customers to the segments of a saved model.
    Predict(predict::PredictArgs),
    /// Time the CPU and GPU backends side by side on the same data and initial centroids.
    Bench(bench::BenchArgs),
    /// List the GPU adapters wgpu can see, best first.
    Adapters(adapters::AdaptersArgs),
}

/// Parses argv and runs the chosen subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Kmeans(a) => kmeans::run(a),
        Command::Dbscan(a) => dbscan::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Adapters(a) => adapters::run(a),
    }
}

/// The documented exit code for an error.
pub fn exit_code_for(err: &anyhow::Error) -> ExitCode {
    match err.downcast_ref::<segmenta::Error>() {
        Some(e) if e.is_environment() => ExitCode::from(3),
        _ => ExitCode::from(1),
    }
}
