//! `segmenta clean`: rules with reasons, nothing lost.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use segmenta::clean::{clean, CleanConfig, Missing, OutlierAction, OutlierMethod};

use super::common::OutputArgs;

#[derive(Args, Debug)]
pub struct CleanArgs {
    /// Feature table (.parquet, .csv, .csv.gz), one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output folder: clean.parquet, rejects.parquet, clean.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Settings from a TOML file (fields of `CleanConfig`; flags given here win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Id column.
    #[arg(long)]
    pub id_col: Option<String>,
    /// Missing cells: median, mode or drop, for every column, or COL=POLICY for one
    /// (comma-separated), e.g. --missing median,age=drop.
    #[arg(long, value_delimiter = ',')]
    pub missing: Vec<String>,
    /// Keep rows whose id repeats (rejected as duplicate_id by default).
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Outlier rule: iqr[:K] (default iqr:1.5), zscore[:T], mad[:T], dbscan[:EPS], none.
    #[arg(long)]
    pub outliers: Option<String>,
    /// What happens to an outlier: drop, clip or flag (default flag: kept, column `outlier`).
    #[arg(long, value_enum)]
    pub outlier_action: Option<ActionArg>,
    /// Columns the outlier rule looks at (default: every numeric feature).
    #[arg(long, value_delimiter = ',')]
    pub outlier_columns: Option<Vec<String>>,
    /// DBSCAN core threshold for --outliers dbscan.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Seed (DBSCAN's eps-auto sample).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ActionArg {
    Drop,
    Clip,
    Flag,
}

fn parse_missing(s: &str) -> Result<Missing> {
    Ok(match s.trim() {
        "median" => Missing::Median,
        "mode" => Missing::Mode,
        "drop" => Missing::Drop,
        o => bail!(segmenta::Error::param(
            "--missing",
            format!("`{o}` is not median, mode or drop")
        )),
    })
}

fn parse_outliers(s: &str, min_samples: usize) -> Result<OutlierMethod> {
    let (name, arg) = match s.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (s, None),
    };
    let num = |default: f64| -> Result<f64> {
        match arg {
            None => Ok(default),
            Some(a) => match a.parse::<f64>() {
                Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
                _ => bail!(segmenta::Error::param(
                    "--outliers",
                    format!("`{a}` is not a positive number")
                )),
            },
        }
    };
    Ok(match name {
        "iqr" => OutlierMethod::Iqr { k: num(1.5)? },
        "zscore" => OutlierMethod::Zscore { t: num(3.0)? },
        "mad" => OutlierMethod::Mad { t: num(3.5)? },
        "dbscan" => OutlierMethod::Dbscan {
            eps: match arg {
                None | Some("auto") => None,
                Some(_) => Some(num(0.5)?),
            },
            min_samples,
        },
        "none" => OutlierMethod::None,
        o => bail!(segmenta::Error::param(
            "--outliers",
            format!("`{o}` is not iqr, zscore, mad, dbscan or none")
        )),
    })
}

pub fn run(a: CleanArgs) -> Result<ExitCode> {
    let out = a.output;
    let mut cfg = match &a.config {
        Some(p) => CleanConfig::from_toml(p)?,
        None => CleanConfig::default(),
    };
    if let Some(id) = &a.id_col {
        cfg.id_col = id.clone();
    }
    for m in &a.missing {
        match m.split_once('=') {
            Some((col, p)) => {
                cfg.missing_by_column
                    .insert(col.trim().to_string(), parse_missing(p)?);
            }
            None => cfg.missing = parse_missing(m)?,
        }
    }
    if a.keep_duplicates {
        cfg.duplicates = false;
    }
    if let Some(o) = &a.outliers {
        cfg.outliers = parse_outliers(o, a.min_samples)?;
        if matches!(cfg.outliers, OutlierMethod::Dbscan { .. }) && a.outlier_action.is_none() {
            cfg.action = OutlierAction::Drop;
        }
    }
    if let Some(act) = a.outlier_action {
        cfg.action = match act {
            ActionArg::Drop => OutlierAction::Drop,
            ActionArg::Clip => OutlierAction::Clip,
            ActionArg::Flag => OutlierAction::Flag,
        };
    }
    if a.outlier_columns.is_some() {
        cfg.outlier_columns = a.outlier_columns.clone();
    }
    if a.seed != 0 {
        cfg.seed = a.seed;
    }
    let t = Instant::now();
    let r = clean(&a.input, &a.out, &cfg)?;
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} rows in: {} kept, {} rejected, {} flagged as outliers ({secs:.2} s)",
        r.rows_in, r.rows_kept, r.rows_rejected, r.rows_flagged
    );
    for (code, c) in &r.rules {
        let cells: u64 = c.cells.values().sum();
        let what = if c.rows_rejected > 0 {
            format!("{} rows rejected", c.rows_rejected)
        } else {
            format!("{cells} cells")
        };
        let cols: Vec<String> = c
            .rows_by_column
            .iter()
            .chain(c.cells.iter())
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!("  {code:<20} {what} ({})", cols.join(", "));
    }
    println!(
        "wrote {}, {} and {}",
        a.out.join("clean.parquet").display(),
        a.out.join("rejects.parquet").display(),
        a.out.join("clean.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
