//! `segmenta export`: a run folder's audience for a CRM, in full or as a delta.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, ExportOptions};

use super::common::{print_json, OutputArgs};

/// Export one row per customer: customer_id, segment, persona, p_alive, clv,
/// churn_risk, next_offer, as_of, fit_id.
#[derive(Args, Debug)]
pub struct ExportCmd {
    /// The run folder (of `segmenta run`, `demo` or `update`).
    #[arg(long, short = 'i', visible_alias = "run")]
    pub input: PathBuf,
    /// Output file: `.csv` (UTF-8, header, ISO dates) or `.parquet`; written whole or
    /// not at all.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Only these segments, e.g. `2,4`.
    #[arg(long, value_delimiter = ',')]
    pub segments: Option<Vec<i32>>,
    /// Only customers with P(alive) at least this (customers without one are left
    /// out).
    #[arg(long)]
    pub min_p_alive: Option<f64>,
    /// An earlier run or update of the same customers: write only the rows that
    /// changed, with `action` (insert, update, delete) and `previous_segment`.
    #[arg(long)]
    pub since: Option<PathBuf>,
    /// With --since: the columns whose change makes an update (segment, persona,
    /// p_alive, clv, churn_risk, next_offer) [default: segment,persona,churn_risk,next_offer]
    #[arg(long, value_delimiter = ',')]
    pub compare: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: ExportCmd) -> Result<ExitCode> {
    let opts = ExportOptions {
        segments: a.segments,
        min_p_alive: a.min_p_alive,
        since: a.since,
        compare: a.compare,
    };
    let s = pipeline::export(&a.input, &a.out, &opts)?;
    if a.output.json {
        print_json(&s)?;
    } else if !a.output.quiet {
        match opts.since {
            Some(_) => println!(
                "wrote {} rows to {}: {} inserts, {} updates, {} deletes ({} customers unchanged)",
                s.rows,
                s.path.display(),
                s.inserts,
                s.updates,
                s.deletes,
                s.unchanged
            ),
            None => println!("wrote {} customers to {}", s.rows, s.path.display()),
        }
    }
    Ok(ExitCode::SUCCESS)
}
