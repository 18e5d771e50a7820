//! `segmenta features`: raw sources → one row per customer (DataFusion SQL).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use segmenta::features::{parse_map, run_features, FeatureSpec, DEFAULT_SQL};

use super::common::OutputArgs;

#[derive(Args, Debug)]
pub struct FeaturesArgs {
    /// Folder of raw tables: transactions (required), customers, visits,
    /// wifi_sessions, app_events, streaming; each .parquet, .csv, .csv.gz or a
    /// folder of partitions.
    #[arg(long, short = 'i', required_unless_present_any = ["transactions", "print_sql"])]
    pub input: Option<PathBuf>,
    /// A transactions file or folder (instead of, or on top of, --input).
    #[arg(long)]
    pub transactions: Option<PathBuf>,
    /// Other sources by table, e.g. --source customers=clients.csv (repeatable).
    #[arg(long, value_name = "TABLE=PATH")]
    pub source: Vec<String>,
    /// Map foreign columns, e.g. customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice
    /// (a key may name its table: visits.entered_at=EntryTime).
    #[arg(long)]
    pub map: Option<String>,
    /// First day after the history (YYYY-MM-DD): recency is measured to it and later
    /// rows are rejected [default: mall.json's window end, else the day after the
    /// last transaction].
    #[arg(long)]
    pub as_of: Option<String>,
    /// First day of the history; earlier rows are rejected [default: mall.json's
    /// window start, else none].
    #[arg(long)]
    pub since: Option<String>,
    /// Format of text or integer timestamps (chrono syntax), e.g. %d/%m/%Y %H:%M.
    #[arg(long)]
    pub ts_format: Option<String>,
    /// Amounts above this are rejected as absurd.
    #[arg(long, default_value_t = 100_000.0)]
    pub max_amount: f64,
    /// Keep transaction lines identical to an earlier one (by default they are
    /// rejected as duplicate_line; with dates only, two equal purchases a day may be real).
    #[arg(long)]
    pub keep_duplicate_lines: bool,
    /// Your own feature SQL instead of the embedded one.
    #[arg(long)]
    pub sql: Option<PathBuf>,
    /// Print the embedded feature SQL and exit.
    #[arg(long)]
    pub print_sql: bool,
    /// Memory DataFusion may use before it spills to disk, in MiB.
    #[arg(long, default_value_t = 4096)]
    pub memory_mib: usize,
    /// Output folder: features.parquet, features.json, rejects/<table>.parquet.
    #[arg(long, short = 'o', required_unless_present = "print_sql")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: FeaturesArgs) -> Result<ExitCode> {
    if a.print_sql {
        print!("{DEFAULT_SQL}");
        return Ok(ExitCode::SUCCESS);
    }
    let out_dir = a.out.clone().expect("clap requires --out");
    let mut spec = match &a.input {
        Some(dir) => FeatureSpec::from_dir(dir)?,
        None => FeatureSpec::new(),
    };
    if let Some(t) = &a.transactions {
        spec.sources.insert("transactions".into(), t.clone());
    }
    for s in &a.source {
        let Some((table, path)) = s.split_once('=') else {
            bail!(segmenta::Error::param(
                "--source",
                format!("`{s}` is not TABLE=PATH")
            ));
        };
        spec.sources
            .insert(table.trim().to_string(), PathBuf::from(path.trim()));
    }
    if let Some(m) = &a.map {
        spec.map = parse_map(m)?;
    }
    if let Some(d) = &a.as_of {
        spec.as_of = Some(segmenta::dates::parse_date(d, "--as-of")?);
    }
    if let Some(d) = &a.since {
        spec.since = Some(segmenta::dates::parse_date(d, "--since")?);
    }
    spec.ts_format = a.ts_format.clone();
    if a.max_amount.is_nan() || a.max_amount <= 0.0 {
        bail!(segmenta::Error::param("--max-amount", "must be > 0"));
    }
    spec.max_amount = a.max_amount;
    spec.dedup = !a.keep_duplicate_lines;
    spec.memory_limit = a.memory_mib.max(64) << 20;
    if let Some(p) = &a.sql {
        let text = std::fs::read_to_string(p).map_err(|e| segmenta::Error::io(p, e))?;
        spec.sql = (text, p.display().to_string());
    }
    let out = a.output;
    let t = Instant::now();
    let quiet = out.quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = run_features(&spec, &out_dir, &|s| {
        if !quiet {
            eprintln!("segmenta: {s} ({:.1} s)", t.elapsed().as_secs_f64());
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} customers ({} seen in transactions before the rules), {} features, as of {}, in {secs:.2} s",
        report.customers,
        report.customers_seen,
        report.features.len(),
        report.as_of
    );
    for s in &report.sources {
        let rej: Vec<String> = s.rejected.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "  {:<14} {:>11} rows in, {:>11} kept, {:>9} rejected{}",
            s.table,
            s.rows_in,
            s.rows_kept,
            s.rows_rejected,
            if rej.is_empty() {
                String::new()
            } else {
                format!(" ({})", rej.join(", "))
            }
        );
    }
    for (name, missing) in &report.dropped {
        out.warn(&format!(
            "feature {name} left out: its source {missing} is absent"
        ));
    }
    println!("wrote {}", out_dir.join("features.parquet").display());
    Ok(ExitCode::SUCCESS)
}
