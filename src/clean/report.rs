//! `clean.json`: what the clean stage did, rule by rule and column by column.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{CleanConfig, Range};

/// Counts of one rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuleCount {
    /// Rows rejected.
    pub rows_rejected: u64,
    /// Cells changed, per column: imputed, clipped, or (a range rule) emptied.
    pub cells: BTreeMap<String, u64>,
    /// Cells outside the outlier fences of a `flag` rule, per column (unchanged).
    #[serde(default)]
    pub cells_flagged: BTreeMap<String, u64>,
    /// Rows this rule flagged (kept, `outlier` = true).
    #[serde(default)]
    pub rows_flagged: u64,
    /// Rows rejected per column (the column that triggered it).
    pub rows_by_column: BTreeMap<String, u64>,
}

/// A column summary, before or after.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColumnSummary {
    /// Non-missing cells.
    pub count: u64,
    /// Missing cells.
    pub missing: u64,
    /// Mean.
    pub mean: Option<f64>,
    /// Minimum.
    pub min: Option<f64>,
    /// Median.
    pub median: Option<f64>,
    /// Maximum.
    pub max: Option<f64>,
}

/// `clean.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CleanReport {
    /// Always "segmenta-clean".
    pub format: String,
    /// Layout version.
    pub version: u32,
    /// Input table.
    pub input: PathBuf,
    /// XXH64 of the input table (empty in files written before it was recorded).
    #[serde(default)]
    pub input_xxh64: String,
    /// Rows read.
    pub rows_in: u64,
    /// Rows written to clean.parquet.
    pub rows_kept: u64,
    /// Rows written to rejects.parquet.
    pub rows_rejected: u64,
    /// Rows flagged as outliers (kept).
    pub rows_flagged: u64,
    /// Counts per reason code.
    pub rules: BTreeMap<String, RuleCount>,
    /// The configuration that ran.
    pub config: CleanConfig,
    /// Range rules applied.
    pub ranges: Vec<Range>,
    /// Imputation values used, per column.
    pub imputed_with: BTreeMap<String, f64>,
    /// Outlier fences used, per column (`[low, high]`, original units; the rule
    /// ran on the transformed scale, `outlier_transforms`).
    pub fences: BTreeMap<String, (f64, f64)>,
    /// The transform each outlier column was judged on (`none`, `log1p`, …).
    #[serde(default)]
    pub outlier_transforms: BTreeMap<String, String>,
    /// Outlier columns left out of the rule, with why (no spread: half or more of
    /// the rows share one value, so any other value would be an outlier).
    #[serde(default)]
    pub outlier_skipped: BTreeMap<String, String>,
    /// Outlier columns with a point mass (`stats::POINT_MASS` of the rows at one
    /// value), judged on their other values.
    #[serde(default)]
    pub outlier_masses: BTreeMap<String, String>,
    /// The value of each point mass, original units (never an outlier, also when
    /// `update` reapplies the fences).
    #[serde(default)]
    pub outlier_mass_values: BTreeMap<String, f64>,
    /// Outlier columns where the rule flags more than `stats::MAX_FLAGGED` of the
    /// rows, with the count: applied, and said.
    #[serde(default)]
    pub outlier_warnings: BTreeMap<String, String>,
    /// DBSCAN's eps when it was the outlier rule.
    pub dbscan_eps: Option<f64>,
    /// Per column, before cleaning.
    pub before: BTreeMap<String, ColumnSummary>,
    /// Per column, after cleaning.
    pub after: BTreeMap<String, ColumnSummary>,
}

impl crate::artefact::Artefact for CleanReport {
    const FORMAT: &'static str = "segmenta-clean";
    const VERSION: u32 = 2;
    const NOUN: &'static str = "cleaning summary";
}
