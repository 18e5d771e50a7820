//! Flag groups shared by the subcommands, each the clap face of one option group
//! of `segmenta::pipeline`: the same flag, short flag and default wherever the same
//! thing is set. `run` and `demo` flatten every group of the stages they chain.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use segmenta::clean::OutlierAction;
use segmenta::kmeans::{Algorithm, BackendChoice};
use segmenta::pipeline::FitOn;
use segmenta::pipeline::{
    self, defaults, CleanOptions, FeaturesOptions, FitOptions, ProfileOptions, ReadOptions,
    SweepOptions,
};
use segmenta::scale::ScaleMethod;
use segmenta::transform::TransformSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScaleArg {
    Standard,
    Minmax,
    Robust,
    None,
}

impl From<ScaleArg> for ScaleMethod {
    fn from(s: ScaleArg) -> Self {
        match s {
            ScaleArg::Standard => ScaleMethod::Standard,
            ScaleArg::Minmax => ScaleMethod::MinMax,
            ScaleArg::Robust => ScaleMethod::Robust,
            ScaleArg::None => ScaleMethod::None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InitArg {
    /// Greedy k-means++ (scikit-learn's).
    #[value(name = "k-means++")]
    KMeansPlusPlus,
    /// k distinct random rows.
    Random,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Auto,
    Gpu,
    Cpu,
}

impl From<BackendArg> for BackendChoice {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AlgorithmArg {
    /// Yinyang from k = 64 on, plain Lloyd below: the faster where measured (BENCHMARKS.md).
    Auto,
    /// Every row against every centroid, every iteration.
    Lloyd,
    /// Hamerly's bound: rows whose centroid cannot have changed are skipped.
    Hamerly,
    /// Yinyang's group bounds (k/10 groups): only the groups a row may have moved to are scored.
    Yinyang,
}

impl From<AlgorithmArg> for Algorithm {
    fn from(a: AlgorithmArg) -> Self {
        match a {
            AlgorithmArg::Auto => Algorithm::Auto,
            AlgorithmArg::Lloyd => Algorithm::Lloyd,
            AlgorithmArg::Hamerly => Algorithm::Hamerly,
            AlgorithmArg::Yinyang => Algorithm::Yinyang,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    Drop,
    Clip,
    Flag,
}

impl From<ActionArg> for OutlierAction {
    fn from(a: ActionArg) -> Self {
        match a {
            ActionArg::Drop => OutlierAction::Drop,
            ActionArg::Clip => OutlierAction::Clip,
            ActionArg::Flag => OutlierAction::Flag,
        }
    }
}

fn table_path(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((t, p)) if !t.trim().is_empty() && !p.trim().is_empty() => {
            Ok((t.trim().to_string(), PathBuf::from(p.trim())))
        }
        _ => Err(format!("`{s}` is not TABLE=PATH")),
    }
}

/// How raw sources become features.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Features")]
pub struct FeaturesArgs {
    /// Other sources by table, e.g. --source customers=clients.csv (repeatable).
    #[arg(long, value_name = "TABLE=PATH", value_parser = table_path)]
    pub source: Vec<(String, PathBuf)>,
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
    #[arg(long, default_value_t = defaults::DEFAULT_MAX_AMOUNT)]
    pub max_amount: f64,
    /// Keep transaction lines identical to an earlier one (by default they are
    /// rejected as duplicate_line; with dates only, two equal purchases a day may be real).
    #[arg(long)]
    pub keep_duplicate_lines: bool,
    /// Your own feature SQL instead of the embedded one (`segmenta features --print-sql`).
    #[arg(long)]
    pub sql: Option<PathBuf>,
    /// Category groups behind the *_spend_share features (TOML: group = ["category", …])
    /// instead of the embedded ones (`segmenta features --print-category-groups`).
    #[arg(long)]
    pub category_groups: Option<PathBuf>,
    /// Memory budget, in MiB (default: a sixteenth of the machine's memory, 512 to
    /// 8192): the features stage splits the customers into buckets that fit it
    /// (each raw source read once into buckets by a hash of the customer id); in a
    /// run, the lifetime histories and the basket rules hold at most this much too.
    #[arg(long, default_value_t = defaults::default_memory_mib())]
    pub memory_mib: usize,
    /// Number of customer buckets, instead of the one that follows from the input
    /// sizes and --memory-mib (the output does not depend on it).
    #[arg(long)]
    pub partitions: Option<usize>,
    /// Files each kept table is written in (tables/<table>/part-NNNN.parquet, by
    /// the customer-id hash), instead of the number that follows from the input
    /// sizes (a file per 64 MiB of raw rows in memory, a power of two).
    #[arg(long)]
    pub table_parts: Option<usize>,
}

impl From<&FeaturesArgs> for FeaturesOptions {
    fn from(a: &FeaturesArgs) -> Self {
        FeaturesOptions {
            sources: a.source.clone(),
            map: a.map.clone(),
            as_of: a.as_of.clone(),
            since: a.since.clone(),
            ts_format: a.ts_format.clone(),
            max_amount: a.max_amount,
            keep_duplicate_lines: a.keep_duplicate_lines,
            sql: a.sql.clone(),
            category_groups: a.category_groups.clone(),
            memory_mib: a.memory_mib,
            partitions: a.partitions,
            table_parts: a.table_parts,
        }
    }
}

/// How the feature table is cleaned.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Cleaning")]
pub struct CleanArgs {
    /// Settings from a TOML file (fields of `CleanConfig`; flags given here win).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Missing cells: median, mode or drop, for every column, or COL=POLICY for one
    /// (comma-separated), e.g. --missing median,age=drop.
    #[arg(long, value_delimiter = ',')]
    pub missing: Vec<String>,
    /// Keep rows whose id repeats (rejected as duplicate_id by default).
    #[arg(long)]
    pub keep_duplicates: bool,
    /// Outlier rule: iqr[:K] (default iqr:3, Tukey's far-out fences, on the transformed scale), zscore[:T], mad[:T], dbscan[:EPS], none.
    #[arg(long)]
    pub outliers: Option<String>,
    /// What happens to an outlier: drop, clip or flag (default flag: kept, column `outlier`).
    #[arg(long, value_enum)]
    pub outlier_action: Option<ActionArg>,
    /// Columns the outlier rule looks at (default: every numeric feature).
    #[arg(long, value_delimiter = ',')]
    pub outlier_columns: Vec<String>,
    /// DBSCAN core threshold for --outliers dbscan.
    #[arg(long, default_value_t = defaults::DEFAULT_OUTLIER_MIN_SAMPLES)]
    pub outlier_min_samples: usize,
}

impl From<&CleanArgs> for CleanOptions {
    fn from(a: &CleanArgs) -> Self {
        CleanOptions {
            config: a.config.clone(),
            missing: a.missing.clone(),
            keep_duplicates: a.keep_duplicates,
            outliers: a.outliers.clone(),
            outlier_action: a.outlier_action.map(Into::into),
            outlier_columns: a.outlier_columns.clone(),
            outlier_min_samples: a.outlier_min_samples,
            transform: None,
            reuse: None,
        }
    }
}

/// How a customer feature table is read.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Feature table")]
pub struct ReadArgs {
    /// Id column (integer or string).
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// Feature columns, comma-separated [default: every numeric column but the id].
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Columns to one-hot encode (comma-separated), e.g. gender.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Column of non-negative sample weights.
    #[arg(long)]
    pub weight_col: Option<String>,
    /// Make a repeated id an error instead of a warning.
    #[arg(long)]
    pub strict: bool,
}

impl From<&ReadArgs> for ReadOptions {
    fn from(a: &ReadArgs) -> Self {
        ReadOptions {
            id_col: a.id_col.clone(),
            columns: a.columns.clone(),
            categorical: a.categorical.clone(),
            weight_col: a.weight_col.clone(),
            strict: a.strict,
        }
    }
}

/// K-means settings, shared by `sweep`, `kmeans`, `run` and `demo`.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "K-means")]
pub struct FitArgs {
    /// Transforms before scaling: auto (log1p for non-negative columns with skewness
    /// above 1), none, log1p, yeo-johnson or quantile; per column with COL=KIND,
    /// e.g. `auto,monetary_total=quantile`. Fitted on the input, stored in the model.
    #[arg(long, default_value = "auto", value_parser = parse_transform)]
    pub transform: TransformSpec,
    /// Feature scaling, fitted on the input and stored in the model.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// Rows the centroids are learnt from: inliers (rows the clean stage did not
    /// flag as outliers) or all; every row is then assigned.
    #[arg(long, value_enum, default_value = "inliers")]
    pub fit_on: FitOnArg,
    /// Initialisation.
    #[arg(long, value_enum, default_value = "k-means++")]
    pub init: InitArg,
    /// Restarts; the lowest inertia wins [default: 4 for k-means++, 10 for random].
    #[arg(long)]
    pub n_init: Option<usize>,
    /// Iteration cap per restart.
    #[arg(long, default_value_t = segmenta::kmeans::params::DEFAULT_MAX_ITER)]
    pub max_iter: usize,
    /// Stop when the squared centroid shift is below tol x mean feature variance.
    #[arg(long, default_value_t = segmenta::kmeans::params::DEFAULT_TOL)]
    pub tol: f64,
    /// auto: a hardware GPU if wgpu finds one, else the CPU; gpu: any GPU adapter,
    /// software (lavapipe) included, with a warning; cpu: the CPU.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// The CPU iteration (the same labels and iterations whichever is chosen).
    #[arg(long, value_enum, default_value = "auto")]
    pub algorithm: AlgorithmArg,
    /// Pick the GPU adapter whose name contains this text.
    #[arg(long, env = "SEGMENTA_ADAPTER")]
    pub adapter: Option<String>,
}

impl From<&FitArgs> for FitOptions {
    fn from(a: &FitArgs) -> Self {
        FitOptions {
            transform: a.transform.clone(),
            scale: a.scale.into(),
            fit_on: match a.fit_on {
                FitOnArg::Inliers => FitOn::Inliers,
                FitOnArg::All => FitOn::All,
            },
            init_random: a.init == InitArg::Random,
            n_init: a.n_init,
            max_iter: a.max_iter,
            tol: a.tol,
            backend: pipeline::BackendOptions {
                backend: a.backend.into(),
                algorithm: a.algorithm.into(),
                adapter: a.adapter.clone(),
            },
        }
    }
}

/// `--fit-on`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitOnArg {
    Inliers,
    All,
}

fn parse_transform(s: &str) -> std::result::Result<TransformSpec, String> {
    s.parse().map_err(|e: segmenta::error::Error| e.to_string())
}

/// The stability bootstrap of the K-means stage.
#[derive(Args, Debug, Clone)]
pub struct StabilityArgs {
    /// Bootstrap resamples of the per-segment stability (clusterboot's Jaccard); 0: none.
    #[arg(long, default_value_t = segmenta::kmeans::stability::DEFAULT_RESAMPLES)]
    pub stability_resamples: usize,
    /// Rows the stability bootstrap resamples (a seeded sample of larger tables).
    #[arg(long, default_value_t = segmenta::kmeans::stability::DEFAULT_SAMPLE)]
    pub stability_sample: usize,
}

/// How k is chosen.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Choosing k")]
pub struct SweepArgs {
    /// The k values a sweep considers: `2..10` (inclusive) or `3,5,8`.
    // Spelled `std::vec::Vec` so that clap takes one value parsed into a list,
    // not a repeatable flag.
    #[arg(long, default_value = defaults::DEFAULT_K_RANGE, value_parser = pipeline::parse_k_range)]
    pub k_range: std::vec::Vec<usize>,
    /// Silhouette on every row up to this many rows, else on a seeded sample of
    /// this size (the silhouette is quadratic in rows).
    #[arg(long, default_value_t = defaults::DEFAULT_SILHOUETTE_SAMPLE)]
    pub silhouette_sample: usize,
    /// Fit and score each k on every row up to this many rows, else on a seeded
    /// sample of this size (the chosen k is then fitted on all rows).
    #[arg(long, default_value_t = defaults::DEFAULT_SWEEP_ROWS)]
    pub sweep_rows: usize,
}

impl From<&SweepArgs> for SweepOptions {
    fn from(a: &SweepArgs) -> Self {
        SweepOptions {
            k_range: a.k_range.clone(),
            silhouette_sample: a.silhouette_sample,
            rows: a.sweep_rows,
        }
    }
}

/// How segments are explained.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Profile")]
pub struct ProfileArgs {
    /// Persona rules (TOML) instead of the built-in ones (`segmenta profile --print-personas`).
    #[arg(long)]
    pub personas: Option<PathBuf>,
    /// Minimum support of a basket itemset (share of a segment's baskets).
    #[arg(long, default_value_t = defaults::DEFAULT_MIN_SUPPORT)]
    pub min_support: f64,
    /// Minimum confidence of a basket rule.
    #[arg(long, default_value_t = defaults::DEFAULT_MIN_CONFIDENCE)]
    pub min_confidence: f64,
    /// Minimum lift of a basket rule (1: bought together more often than by chance).
    #[arg(long, default_value_t = defaults::DEFAULT_MIN_LIFT)]
    pub min_lift: f64,
    /// Largest basket itemset (antecedent plus consequent), 1..=8.
    #[arg(long, default_value_t = defaults::DEFAULT_MAX_LEN)]
    pub max_len: usize,
    /// Column whose values are a basket's items: product (or sku), category,
    /// description, or another text column of the transactions [default: product
    /// when the transactions have products, else category].
    #[arg(long, value_name = "COLUMN")]
    pub basket_item: Option<String>,
}

impl From<&ProfileArgs> for ProfileOptions {
    fn from(a: &ProfileArgs) -> Self {
        ProfileOptions {
            personas: a.personas.clone(),
            min_support: a.min_support,
            min_confidence: a.min_confidence,
            min_lift: a.min_lift,
            max_len: a.max_len,
            basket_item: a.basket_item.clone(),
            // The run's `--memory-mib` (FeaturesArgs) or the command's.
            memory_mib: defaults::default_memory_mib(),
        }
    }
}

/// How far ahead the lifetime models look.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "What comes next (BG/NBD, Gamma-Gamma)")]
pub struct LifetimeArgs {
    /// Expected purchases and revenue over this many days.
    #[arg(long, default_value_t = defaults::DEFAULT_HORIZON_DAYS)]
    pub horizon_days: u32,
    /// Customer lifetime value over this many months.
    #[arg(long, default_value_t = defaults::DEFAULT_CLV_MONTHS)]
    pub clv_months: u32,
    /// Discount rate per month of the CLV.
    #[arg(long, default_value_t = defaults::DEFAULT_DISCOUNT_RATE)]
    pub discount_rate: f64,
}

impl From<&LifetimeArgs> for segmenta::pipeline::LifetimeOptions {
    fn from(a: &LifetimeArgs) -> Self {
        segmenta::pipeline::LifetimeOptions {
            horizon_days: a.horizon_days,
            clv_months: a.clv_months,
            discount_rate: a.discount_rate,
            // The run's `--memory-mib` (FeaturesArgs) or the command's.
            memory_mib: defaults::default_memory_mib(),
        }
    }
}
