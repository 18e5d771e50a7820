//! The clean stage: rules with reasons, nothing lost (see [`crate::clean`]).

use std::path::{Path, PathBuf};

use super::flags::{self, Flags};
use crate::clean::{CleanConfig, CleanReport, Missing, OutlierAction, OutlierMethod};
use crate::error::{Error, Result};

/// Default of [`CleanOptions::outlier_min_samples`].
pub const DEFAULT_OUTLIER_MIN_SAMPLES: usize = 10;

/// How the feature table is cleaned. Flags win over a `config` file.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanOptions {
    /// Settings from a TOML file (fields of [`CleanConfig`]).
    pub config: Option<PathBuf>,
    /// `median`, `mode` or `drop` for every column, or `COL=POLICY` for one.
    pub missing: Vec<String>,
    /// Keep rows whose id repeats.
    pub keep_duplicates: bool,
    /// `iqr[:K]`, `zscore[:T]`, `mad[:T]`, `dbscan[:EPS]` or `none`.
    pub outliers: Option<String>,
    /// What happens to an outlier.
    pub outlier_action: Option<OutlierAction>,
    /// Columns the outlier rule looks at.
    pub outlier_columns: Vec<String>,
    /// DBSCAN's core threshold for `--outliers dbscan`.
    pub outlier_min_samples: usize,
    /// The transforms outliers are judged on (K-means's `--transform`).
    pub transform: Option<String>,
    /// A previous run's `clean.json`: apply its imputation values and outlier
    /// fences instead of fitting new ones (`update`).
    pub reuse: Option<PathBuf>,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            config: None,
            missing: Vec::new(),
            keep_duplicates: false,
            outliers: None,
            outlier_action: None,
            outlier_columns: Vec::new(),
            outlier_min_samples: DEFAULT_OUTLIER_MIN_SAMPLES,
            transform: None,
            reuse: None,
        }
    }
}

/// The flag spelling of an outlier action.
pub fn action_name(a: OutlierAction) -> &'static str {
    match a {
        OutlierAction::Drop => "drop",
        OutlierAction::Clip => "clip",
        OutlierAction::Flag => "flag",
    }
}

impl Flags for CleanOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::path(argv, "--config", self.config.as_deref());
        flags::list(argv, "--missing", &self.missing);
        flags::switch(argv, "--keep-duplicates", self.keep_duplicates);
        flags::opt(argv, "--outliers", self.outliers.as_ref());
        flags::opt(
            argv,
            "--outlier-action",
            self.outlier_action.map(action_name),
        );
        flags::list(argv, "--outlier-columns", &self.outlier_columns);
        flags::value(argv, "--outlier-min-samples", self.outlier_min_samples);
        flags::opt(argv, "--transform", self.transform.as_ref());
        flags::path(argv, "--reuse-fitted", self.reuse.as_deref());
    }
}

fn parse_missing(s: &str) -> Result<Missing> {
    Ok(match s.trim() {
        "median" => Missing::Median,
        "mode" => Missing::Mode,
        "drop" => Missing::Drop,
        o => {
            return Err(Error::param(
                "--missing",
                format!("`{o}` is not median, mode or drop"),
            ))
        }
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
                _ => Err(Error::param(
                    "--outliers",
                    format!("`{a}` is not a positive number"),
                )),
            },
        }
    };
    Ok(match name {
        "iqr" => OutlierMethod::Iqr { k: num(3.0)? },
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
        o => {
            return Err(Error::param(
                "--outliers",
                format!("`{o}` is not iqr, zscore, mad, dbscan or none"),
            ))
        }
    })
}

impl CleanOptions {
    /// The configuration these options give; `id_col` and `seed` (DBSCAN's
    /// sample), when given, win over the config file's.
    pub fn config(&self, id_col: Option<&str>, seed: Option<u64>) -> Result<CleanConfig> {
        let mut cfg = match &self.config {
            Some(p) => CleanConfig::from_toml(p)?,
            None => CleanConfig::default(),
        };
        if let Some(id) = id_col {
            cfg.id_col = id.to_string();
        }
        for m in &self.missing {
            match m.split_once('=') {
                Some((col, p)) => {
                    cfg.missing_by_column
                        .insert(col.trim().to_string(), parse_missing(p)?);
                }
                None => cfg.missing = parse_missing(m)?,
            }
        }
        if self.keep_duplicates {
            cfg.duplicates = false;
        }
        if self.outlier_min_samples == 0 {
            return Err(Error::param("--outlier-min-samples", "must be at least 1"));
        }
        if let Some(o) = &self.outliers {
            cfg.outliers = parse_outliers(o, self.outlier_min_samples)?;
            if matches!(cfg.outliers, OutlierMethod::Dbscan { .. }) && self.outlier_action.is_none()
            {
                cfg.action = OutlierAction::Drop;
            }
        }
        if let Some(act) = self.outlier_action {
            cfg.action = act;
        }
        if !self.outlier_columns.is_empty() {
            cfg.outlier_columns = Some(self.outlier_columns.clone());
        }
        if let Some(seed) = seed {
            cfg.seed = seed;
        }
        if let Some(t) = &self.transform {
            cfg.transform = t.parse()?;
        }
        if let Some(p) = &self.reuse {
            let r: crate::clean::CleanReport = crate::artefact::read(p)?;
            cfg.reuse = Some(crate::clean::FittedClean::of(&r, p));
        }
        Ok(cfg)
    }
}

/// Cleans the feature table `input` into `out`: clean.parquet, rejects.parquet and
/// clean.json.
pub fn clean(
    input: &Path,
    opts: &CleanOptions,
    id_col: Option<&str>,
    seed: Option<u64>,
    out: &Path,
) -> Result<CleanReport> {
    let cfg = opts.config(id_col, seed)?;
    crate::clean::clean(input, out, &cfg)
}
