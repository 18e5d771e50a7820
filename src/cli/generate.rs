//! `segmenta generate`: a synthetic mall with planted personas and dirt.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::generate::{generate_mall, MallSpec};

use super::common::{OutputArgs, Progress};

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Customers to simulate (the story's mall has 16,300,000 visitors).
    #[arg(long, default_value_t = 200_000)]
    pub customers: usize,
    /// Months of history.
    #[arg(long, default_value_t = 12)]
    pub months: u32,
    /// First day of the history (YYYY-MM-DD).
    #[arg(long, default_value = "2025-01-01")]
    pub start: String,
    /// Rate of planted dirt (duplicates, impossible amounts, missing birth years…).
    #[arg(long, default_value_t = 0.01)]
    pub dirt: f64,
    /// Seed: the same seed gives identical files on any machine and thread count.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder: customers, transactions, visits, wifi_sessions, app_events,
    /// streaming and truth (.parquet), and mall.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: GenerateArgs) -> Result<ExitCode> {
    let out = a.output;
    let spec = MallSpec {
        customers: a.customers,
        months: a.months,
        start: segmenta::dates::parse_date(&a.start, "--start")?,
        seed: a.seed,
        dirt: a.dirt,
    };
    let t = Instant::now();
    let bar = std::sync::Mutex::new(Progress::new(
        &out,
        a.customers as u64,
        "generating customers",
    ));
    let m = generate_mall(&spec, &a.out, &|done| {
        if let Ok(mut b) = bar.lock() {
            b.set(done, a.customers as u64, "generating customers");
        }
    })?;
    if let Ok(b) = bar.lock() {
        b.finish();
    }
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        let mut v = serde_json::to_value(&m)?;
        v["seconds"] = serde_json::json!(secs);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let r = &m.rows;
        println!(
            "generated a mall of {} customers over {} months ({} .. {}) in {secs:.1} s",
            m.customers, m.months, m.window_start, m.window_end
        );
        for (name, rows) in [
            ("customers", r.customers),
            ("transactions", r.transactions),
            ("visits", r.visits),
            ("wifi_sessions", r.wifi_sessions),
            ("app_events", r.app_events),
            ("streaming", r.streaming),
            ("truth", r.truth),
        ] {
            println!("  {name:<14} {rows:>12} rows");
        }
        let d = &m.dirt;
        println!(
            "planted dirt: {} duplicate, {} negative, {} absurd, {} out-of-window, {} unknown-customer transactions; {} exit-before-entry visits; {} missing and {} impossible birth years",
            d.duplicate_transactions,
            d.negative_amounts,
            d.absurd_amounts,
            d.transactions_out_of_window,
            d.unknown_customer_transactions,
            d.visits_exit_before_entry,
            d.missing_birth_years,
            d.impossible_birth_years
        );
        println!("wrote {}", a.out.display());
    }
    Ok(ExitCode::SUCCESS)
}
