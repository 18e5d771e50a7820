//! `segmenta sweep`: K-means at every k of a range, scored, with a recommended k.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, FitOptions, ReadOptions, SweepOptions};

use super::args::{FitArgs, ReadArgs, SweepArgs};
use super::common::{print_json, OutputArgs};

#[derive(Args, Debug)]
pub struct SweepCmd {
    /// Feature table: .parquet, .csv or .csv.gz, one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output folder: sweep.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: SweepCmd) -> Result<ExitCode> {
    let out = a.output;
    let r = pipeline::sweep(
        &a.input,
        &ReadOptions::from(&a.read),
        &SweepOptions::from(&a.sweep),
        &FitOptions::from(&a.fit),
        a.seed,
        &a.out,
        &out.term(),
    )?;
    if out.json {
        return print_json(&r).map(|_| ExitCode::SUCCESS);
    }
    print!("{r}");
    println!("wrote {}", a.out.join("sweep.json").display());
    Ok(ExitCode::SUCCESS)
}
