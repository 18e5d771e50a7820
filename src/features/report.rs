//! `features.json`: what the features stage read, kept, rejected and made.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ReturnsSummary;

/// Per-table accounting.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SourceReport {
    /// Canonical table.
    pub table: String,
    /// File or folder read.
    pub path: PathBuf,
    /// Rows read.
    pub rows_in: u64,
    /// Rows that passed the source rules.
    pub rows_kept: u64,
    /// Rows rejected (written to `rejects`).
    pub rows_rejected: u64,
    /// Rejected rows per reason.
    pub rejected: BTreeMap<String, u64>,
    /// How each canonical column was obtained.
    pub columns: BTreeMap<String, String>,
    /// Where the rejects went, when there were any.
    pub rejects_file: Option<PathBuf>,
    /// The kept rows in canonical form: the folder `tables/<table>/` of
    /// `part-NNNN.parquet` files (one file `tables/<table>.parquet` before
    /// `table_parts`).
    pub kept_file: PathBuf,
}

/// One output feature, summarised.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeatureSummary {
    /// Column name.
    pub name: String,
    /// Definition (from the SQL's `@feature` line).
    pub definition: String,
    /// Columns it is computed from.
    pub source: String,
    /// Null cells.
    pub nulls: u64,
    /// Minimum (non-null).
    pub min: Option<f64>,
    /// Median (non-null; numpy's, the mean of the middle two for an even count: [`crate::stats`]).
    pub median: Option<f64>,
    /// Maximum (non-null).
    pub max: Option<f64>,
}

/// `features.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FeaturesReport {
    /// Always "segmenta-features".
    pub format: String,
    /// Version of this file's layout.
    pub version: u32,
    /// Which SQL ran.
    pub sql: String,
    /// First day after the history.
    pub as_of: String,
    /// Where `as_of` came from: `--as-of`, `mall.json`, or how it was estimated.
    pub as_of_source: String,
    /// First day of the history, when one applies.
    pub since: Option<String>,
    /// Where `since` came from, when one applies.
    pub since_source: Option<String>,
    /// Where the category groups (`${group:NAME}`) came from.
    pub category_groups: String,
    /// Groups the default SQL names that the user's file lacks: they hold no
    /// category, so their shares are 0 (and left out as constant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub category_groups_absent: Vec<String>,
    /// Return lines and how they were netted (features.sql, "Returns").
    pub returns: Option<ReturnsSummary>,
    /// Features left out because they hold one value for every customer, with it
    /// (`None`: every cell empty).
    pub constant: Vec<(String, Option<f64>)>,
    /// Distinct customer ids among transaction rows that have one, before the rules.
    pub customers_seen: u64,
    /// Output rows (customers).
    pub customers: u64,
    /// Buckets of customers the stage ran in (`partition.rs`); 0 in files written
    /// before there were buckets.
    #[serde(default)]
    pub partitions: u64,
    /// Files each kept table is written in (`tables/<table>/part-NNNN.parquet`);
    /// 0 in files written when a kept table was one file.
    #[serde(default)]
    pub table_parts: u64,
    /// How customer ids are kept: `integer` or `text` (empty in files written
    /// before this was recorded).
    #[serde(default)]
    pub id_type: String,
    /// Why: every id an integer, or the first table and value that is not the
    /// canonical spelling of one.
    #[serde(default)]
    pub id_type_why: String,
    /// XXH64 of the `features.parquet` written beside this file: what the later
    /// stages record as made from (see `pipeline::lineage`).
    #[serde(default)]
    pub features_xxh64: String,
    /// Sources and their accounting.
    pub sources: Vec<SourceReport>,
    /// Output features.
    pub features: Vec<FeatureSummary>,
    /// Declared features left out, with the columns they lacked.
    pub dropped: Vec<(String, String)>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
}

impl crate::artefact::Artefact for FeaturesReport {
    const FORMAT: &'static str = "segmenta-features";
    const VERSION: u32 = 3;
    const NOUN: &'static str = "features summary";
}
