//! Command-line interface: clap definitions and their translation into the option
//! groups of `segmenta::pipeline`, whose stage functions do the work. The only
//! module that knows about argv, environment variables, progress bars and the
//! terminal.
//!
//! Exit codes: 0 success; 1 bad input, bad parameters or an I/O failure (the message
//! names the file, column or parameter and the rule); 2 command-line usage error;
//! 3 the GPU was required but is unavailable or failed.

mod adapters;
mod args;
mod bench;
mod clean;
mod common;
mod export;
mod features;
mod fit;
mod generate;
mod profile;
mod run;
mod sweep;
#[cfg(test)]
mod tests;

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
    Demo(run::DemoCmd),
    /// The whole pipeline on a folder of raw sources: features → clean → sweep → kmeans → profile → report.
    Run(run::RunCmd),
    /// Next month: re-segment new sources from a previous run, keeping its segment ids; who moved where, P(alive) and CLV.
    Update(run::UpdateCmd),
    /// BG/NBD and Gamma-Gamma on a fit's customers: P(alive), expected purchases, CLV per customer and segment.
    Lifetime(run::LifetimeCmd),
    /// Compare two run folders (an update and its previous run): migration matrix and per-customer states.
    Migrate(run::MigrateCmd),
    /// Render a run folder's report again, as HTML, Markdown or JSON.
    Report(run::ReportCmd),
    /// A run's audience for the CRM: one row per customer (segment, persona, P(alive), CLV, churn risk, next offer), in full or as the changes since an earlier run.
    Export(export::ExportCmd),
    /// Generate a synthetic mall: raw tables with planted personas and dirt, and the truth.
    Generate(generate::GenerateCmd),
    /// Raw sources (Parquet/CSV) → one feature row per customer, with DataFusion SQL.
    Features(features::FeaturesCmd),
    /// Clean a feature table: impute, reject impossible values and outliers, keep every rejected row.
    Clean(clean::CleanCmd),
    /// Cluster a customer feature table with K-means; writes assignments.parquet and model.json.
    Kmeans(fit::KmeansCmd),
    /// Run K-means for a range of k and recommend one (elbow, silhouette, Davies–Bouldin, Calinski–Harabasz).
    Sweep(sweep::SweepCmd),
    /// Cluster a customer feature table with exact DBSCAN; writes assignments.parquet and model.json.
    Dbscan(fit::DbscanCmd),
    /// Explain segments: profiles, persona names, surrogate-tree rules, basket rules, SHOPPING x STREAMING.
    Profile(profile::ProfileCmd),
    /// Assign new customers to the segments of a saved model.
    Predict(fit::PredictCmd),
    /// Time the CPU and GPU backends side by side on the same data and initial centroids.
    Bench(bench::BenchArgs),
    /// List the GPU adapters wgpu can see, best first.
    Adapters(adapters::AdaptersArgs),
}

/// Parses argv and runs the chosen subcommand.
pub fn run() -> anyhow::Result<ExitCode> {
    execute(Cli::parse())
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Demo(a) => run::demo(a),
        Command::Run(a) => run::run(a),
        Command::Update(a) => run::update(a),
        Command::Lifetime(a) => run::lifetime(a),
        Command::Migrate(a) => run::migrate(a),
        Command::Report(a) => run::report(a),
        Command::Export(a) => export::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Features(a) => features::run(a),
        Command::Clean(a) => clean::run(a),
        Command::Kmeans(a) => fit::kmeans(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Dbscan(a) => fit::dbscan(a),
        Command::Profile(a) => profile::run(a),
        Command::Predict(a) => fit::predict(a),
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
