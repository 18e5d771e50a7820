//! The cleaning configuration: the policies for missing cells and outliers, the
//! range rules and their defaults, as set by flags or a TOML file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::transform::TransformSpec;

/// What to do with a missing (empty, NaN or infinite) cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Replace with the column's median over the rows that survive rules 1–3.
    Median,
    /// Replace with the column's most frequent value (smallest on a tie).
    Mode,
    /// Reject the row (`missing_value`).
    Drop,
}

/// How outliers are detected.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "method")]
pub enum OutlierMethod {
    /// Outside [Q1 − k·IQR, Q3 + k·IQR] (numpy's linear quantiles).
    Iqr {
        /// Fence multiplier (3 by default: Tukey's far-out fences).
        k: f64,
    },
    /// |x − mean| > t · std (population).
    Zscore {
        /// Threshold (3 by default).
        t: f64,
    },
    /// |x − median| > t · 1.4826 · MAD.
    Mad {
        /// Threshold (3.5 by default).
        t: f64,
    },
    /// DBSCAN noise on the standard-scaled features.
    Dbscan {
        /// Radius in scaled units; `None` picks it from the k-distance knee.
        eps: Option<f64>,
        /// Core-point threshold.
        min_samples: usize,
    },
    /// No outlier rule.
    None,
}

/// What happens to an outlier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutlierAction {
    /// Reject the row.
    Drop,
    /// Bound the cell to the fence (not available for DBSCAN).
    Clip,
    /// Keep the row and mark it in the column `outlier`.
    Flag,
}

/// A value range rule for one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Column.
    pub column: String,
    /// Smallest allowed value.
    pub min: Option<f64>,
    /// Largest allowed value.
    pub max: Option<f64>,
    /// Reason code of a rejection.
    pub reason: String,
}

/// The cleaning configuration (flags, or a TOML file with the same fields).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CleanConfig {
    /// Id column.
    pub id_col: String,
    /// Default policy for missing cells.
    pub missing: Missing,
    /// Per-column policies overriding `missing`.
    pub missing_by_column: BTreeMap<String, Missing>,
    /// Reject repeated ids (the first row is kept).
    pub duplicates: bool,
    /// Range rules; `None` means the defaults for the columns present
    /// ([`default_ranges`]).
    pub ranges: Option<Vec<Range>>,
    /// Outlier detection.
    pub outliers: OutlierMethod,
    /// Outlier action.
    pub action: OutlierAction,
    /// Columns the outlier rule looks at (default: every feature).
    pub outlier_columns: Option<Vec<String>>,
    /// Seed (DBSCAN's eps-auto sample).
    pub seed: u64,
    /// The transforms the outlier rule judges columns on (those K-means uses).
    pub transform: TransformSpec,
    /// Values fitted by an earlier run, applied instead of refitting (`update`):
    /// its imputation values and outlier fences, per column. A column it has no
    /// value for is fitted on this data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse: Option<FittedClean>,
}

/// What a clean run fitted, to apply again to next month's data.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FittedClean {
    /// Where the values came from (a `clean.json`).
    pub source: String,
    /// Imputation value per column.
    pub imputed_with: BTreeMap<String, f64>,
    /// Outlier fences per column (original units).
    pub fences: BTreeMap<String, (f64, f64)>,
    /// The transform each fenced column was judged on.
    #[serde(default)]
    pub outlier_transforms: BTreeMap<String, String>,
    /// Columns the outlier rule left out, with why.
    #[serde(default)]
    pub outlier_skipped: BTreeMap<String, String>,
    /// Each point mass's value: never an outlier.
    #[serde(default)]
    pub outlier_mass_values: BTreeMap<String, f64>,
    /// DBSCAN's eps, when it was the outlier rule.
    #[serde(default)]
    pub dbscan_eps: Option<f64>,
}

impl FittedClean {
    /// The values the clean run of `report` (read from `source`) fitted, for
    /// `update` to apply to next month's data.
    pub fn of(report: &super::CleanReport, source: &Path) -> FittedClean {
        FittedClean {
            source: source.display().to_string(),
            imputed_with: report.imputed_with.clone(),
            fences: report.fences.clone(),
            outlier_transforms: report.outlier_transforms.clone(),
            outlier_skipped: report.outlier_skipped.clone(),
            outlier_mass_values: report.outlier_mass_values.clone(),
            dbscan_eps: report.dbscan_eps,
        }
    }
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig {
            id_col: "customer_id".into(),
            missing: Missing::Median,
            missing_by_column: BTreeMap::new(),
            duplicates: true,
            ranges: None,
            outliers: OutlierMethod::Iqr { k: 3.0 },
            action: OutlierAction::Flag,
            outlier_columns: None,
            seed: 0,
            transform: TransformSpec::default(),
            reuse: None,
        }
    }
}

impl CleanConfig {
    /// Reads a TOML file; fields left out keep their defaults.
    pub fn from_toml(path: &Path) -> Result<CleanConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| Error::Source {
            path: path.to_path_buf(),
            message: format!("bad cleaning config: {}", e.message()),
        })
    }
}

/// The default range rules for the features present (names of ARCHITECTURE.md).
pub fn default_ranges(columns: &[String]) -> Vec<Range> {
    let mut out = Vec::new();
    for c in columns {
        let r = |min: Option<f64>, max: Option<f64>, reason: &str| Range {
            column: c.clone(),
            min,
            max,
            reason: reason.into(),
        };
        if c == "age" {
            out.push(r(Some(0.0), Some(110.0), "impossible_age"));
        } else if c.ends_with("_share") {
            out.push(r(Some(0.0), Some(1.0), "share_out_of_range"));
        } else if c == "monetary_total" || c == "avg_ticket" || c.contains("spend") {
            out.push(r(Some(0.0), None, "negative_spend"));
        } else if c.ends_with("_per_month")
            || matches!(
                c.as_str(),
                "recency_days"
                    | "coupon_redemptions"
                    | "category_diversity"
                    | "avg_dwell_minutes"
                    | "income_monthly"
            )
        {
            out.push(r(Some(0.0), None, "negative_value"));
        }
    }
    out
}
