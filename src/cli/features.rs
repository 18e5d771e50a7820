//! `segmenta features`: raw sources → one row per customer (DataFusion SQL).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::features::{DEFAULT_CATEGORY_GROUPS, DEFAULT_SQL};
use segmenta::pipeline::{self, FeaturesOptions};

use super::args::FeaturesArgs;
use super::common::{print_json, OutputArgs};

#[derive(Args, Debug)]
pub struct FeaturesCmd {
    /// Raw sources: a folder of tables (transactions required; customers, visits,
    /// wifi_sessions, app_events, streaming; each .parquet, .csv, .csv.gz or a
    /// folder of partitions), or one transactions file.
    #[arg(long, short = 'i', required_unless_present_any = ["transactions", "print_sql", "print_category_groups"])]
    pub input: Option<PathBuf>,
    /// A transactions file or folder (the same as `--source transactions=PATH`).
    #[arg(long)]
    pub transactions: Option<PathBuf>,
    /// Print the embedded feature SQL and exit.
    #[arg(long)]
    pub print_sql: bool,
    /// Print the embedded category groups (behind the *_spend_share features) and exit.
    #[arg(long)]
    pub print_category_groups: bool,
    /// Output folder: features.parquet, features.json, tables/<table>/ (the
    /// kept rows, canonical) and rejects/<table>.parquet.
    #[arg(long, short = 'o', required_unless_present_any = ["print_sql", "print_category_groups"])]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub features: FeaturesArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: FeaturesCmd) -> Result<ExitCode> {
    if a.print_sql {
        print!("{DEFAULT_SQL}");
        return Ok(ExitCode::SUCCESS);
    }
    if a.print_category_groups {
        print!("{DEFAULT_CATEGORY_GROUPS}");
        return Ok(ExitCode::SUCCESS);
    }
    let out_dir = a.out.clone().expect("clap requires --out");
    let mut opts = FeaturesOptions::from(&a.features);
    let input = match (&a.input, &a.transactions) {
        (Some(i), Some(t)) => {
            opts.sources.push(("transactions".into(), t.clone()));
            i.clone()
        }
        (Some(i), None) => i.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => unreachable!("clap requires --input or --transactions"),
    };
    let out = a.output;
    let t = Instant::now();
    let report = pipeline::features(&input, &opts, &out_dir, &out.term())?;
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        print_json(&report)?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{report}");
    println!("({secs:.2} s)");
    println!("wrote {}", out_dir.join("features.parquet").display());
    Ok(ExitCode::SUCCESS)
}
