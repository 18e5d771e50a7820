//! `segmenta generate`: a synthetic mall with planted personas and dirt.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, defaults, MallParams};

use super::common::OutputArgs;

/// The generated mall.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Generated mall")]
pub struct MallArgs {
    /// Customers to simulate (the story's mall has 16,300,000 visitors).
    #[arg(long, default_value_t = defaults::DEFAULT_CUSTOMERS)]
    pub customers: usize,
    /// First day of the history (YYYY-MM-DD).
    #[arg(long, default_value = defaults::DEFAULT_START)]
    pub start: String,
    /// Rate of planted dirt (duplicates, impossible amounts, missing birth years…).
    #[arg(long, default_value_t = defaults::DEFAULT_DIRT)]
    pub dirt: f64,
    /// Share of customers (active on both sides of --drift-at) who switch to
    /// another persona on that day; truth.parquet says who and to what.
    #[arg(long, default_value_t = 0.0)]
    pub drift: f64,
    /// The day drifting customers switch (YYYY-MM-DD; default: the first day of the
    /// history's middle month).
    #[arg(long)]
    pub drift_at: Option<String>,
    /// Write the history before this day only (YYYY-MM-DD): the same mall cut at
    /// two dates gives last month's and this month's sources.
    #[arg(long)]
    pub cut: Option<String>,
}

impl MallArgs {
    pub fn params(&self, months: u32, seed: u64) -> MallParams {
        MallParams {
            customers: self.customers,
            months,
            start: self.start.clone(),
            dirt: self.dirt,
            seed,
            drift: self.drift,
            drift_at: self.drift_at.clone(),
            cut: self.cut.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct GenerateCmd {
    /// Output folder: customers, transactions, visits, wifi_sessions, app_events,
    /// streaming and truth (.parquet), and mall.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Months of history.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// Seed: the same seed gives identical files on any machine and thread count.
    #[arg(long, default_value_t = defaults::DEFAULT_MALL_SEED)]
    pub seed: u64,
    #[command(flatten)]
    pub mall: MallArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: GenerateCmd) -> Result<ExitCode> {
    let out = a.output;
    let t = Instant::now();
    let m = pipeline::generate(&a.mall.params(a.months, a.seed), &a.out, &out.term())?;
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        let mut v = serde_json::to_value(&m)?;
        v["seconds"] = serde_json::json!(secs);
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    print!("{m}");
    println!("({secs:.1} s)");
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}
