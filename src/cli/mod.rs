//! Command-line interface: clap definitions (one subcommand a file) and their
//! translation into validated library parameters. The only module that knows about
//! argv, environment variables, progress bars and the terminal.
//!
//! Exit codes: 0 success; 1 bad input, bad parameters or an I/O failure (the message
//! names the file, column or parameter and the rule); 2 command-line usage error;
//! 3 the GPU was required but is unavailable or failed.

mod adapters;
mod bench;
mod clean;
mod common;
mod dbscan;
mod features;
mod generate;
mod kmeans;
mod predict;
mod profile;
mod run;
mod sweep;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Customer segmentation for shopping malls: raw history → features → clean → K-means (CPU or GPU) or DBSCAN.
#[derive(Parser, Debug)]
#[command(name = "segmenta", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate a 200k-customer mall and run the whole pipeline on it; prints the report's path.
    Demo(run::DemoArgs),
    /// The whole pipeline on a folder of raw sources: features → clean → sweep → kmeans → profile → report.
    Run(run::RunArgs),
    /// Render a run folder's report again, as HTML, Markdown or JSON.
    Report(run::ReportArgs),
    /// Generate a synthetic mall: raw tables with planted personas and dirt, and the truth.
    Generate(generate::GenerateArgs),
    /// Raw sources (Parquet/CSV) → one feature row per customer, with DataFusion SQL.
    Features(features::FeaturesArgs),
    /// Clean a feature table: impute, reject impossible values and outliers, keep every rejected row.
    Clean(clean::CleanArgs),
    /// Cluster a customer feature table with K-means; writes assignments.parquet and model.json.
    Kmeans(kmeans::KmeansArgs),
    /// Run K-means for a range of k and recommend one (elbow, silhouette, Davies–Bouldin, Calinski–Harabasz).
    Sweep(sweep::SweepArgs),
    /// Cluster a customer feature table with exact DBSCAN; writes assignments.parquet and model.json.
    Dbscan(dbscan::DbscanArgs),
    /// Explain segments: profiles, persona names, surrogate-tree rules, basket rules, SHOPPING x STREAMING.
    Profile(profile::ProfileArgs),
    /// Assign new customers to the segments of a saved model.
    Predict(predict::PredictArgs),
    /// Time the CPU and GPU backends side by side on the same data and initial centroids.
    Bench(bench::BenchArgs),
    /// List the GPU adapters wgpu can see, best first.
    Adapters(adapters::AdaptersArgs),
}

/// Parses argv and runs the chosen subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    execute(Cli::parse())
}

/// Runs a subcommand from an argument list (`segmenta run` chains its stages so).
fn dispatch(argv: &[String]) -> anyhow::Result<ExitCode> {
    let cli = Cli::try_parse_from(argv).map_err(|e| anyhow::anyhow!("{}", e.to_string().trim()))?;
    execute(cli)
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(a) => run::demo(a),
        Command::Run(a) => run::run(a),
        Command::Report(a) => run::report_cmd(a),
        Command::Generate(a) => generate::run(a),
        Command::Features(a) => features::run(a),
        Command::Clean(a) => clean::run(a),
        Command::Kmeans(a) => kmeans::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Dbscan(a) => dbscan::run(a),
        Command::Profile(a) => profile::run(a),
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
