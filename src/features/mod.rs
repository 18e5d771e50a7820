//! Raw sources → one row per customer, on Apache DataFusion.
//!
//! The work is SQL, so that the same definitions run on DataFusion here (which
//! reads Parquet, CSV, folders of partitions, and spills when data exceed memory)
//! and on Spark, Ballista or DuckDB when one machine is not enough:
//!
//! 1. each source file (or folder) is registered as `raw_<table>`;
//! 2. its columns are mapped onto the canonical schema of ARCHITECTURE.md (by name,
//!    or by `--map col=EXPR`) and tagged with the first source-level rule each row
//!    breaks (missing id, cancellation, negative or absurd amount, timestamp outside
//!    the window, unknown customer, duplicate line, exit before entry…);
//! 3. tagged rows go to `rejects/<table>.parquet` unchanged, with `reason` and
//!    `rule` columns; the others form the views `transactions`, `visits`, … read by
//!    [`DEFAULT_SQL`] (`src/features/features.sql`) or the user's own SQL;
//! 4. features whose source columns are absent are dropped and reported.
//!
//! Every row is accounted for: rows in = rows kept + rows rejected, per table,
//! checked at run time.

mod mapping;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::dates::{civil_from_days, format_date, DAY_US};
use crate::error::{Error, Result};
use crate::io::{write_json, Staged};
pub use mapping::{parse_map, MapEntry};

/// The default feature SQL, embedded in the binary.
pub const DEFAULT_SQL: &str = include_str!("features.sql");

/// The kind of a canonical column, which decides its cast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Customer id: BIGINT when the source is numeric, else VARCHAR.
    Id,
    /// A timestamp.
    Ts,
    /// A floating-point number.
    Num,
    /// An integer.
    Int,
    /// Text.
    Text,
    /// A calendar date.
    Date,
}

/// A canonical table: its name and columns `(name, kind, required)`.
pub struct Canonical {
    /// Table name.
    pub name: &'static str,
    /// Columns.
    pub columns: &'static [(&'static str, Kind, bool)],
}

/// The canonical raw tables (ARCHITECTURE.md), customers first: the others check
/// their ids against it.
pub const CANONICAL: &[Canonical] = &[
    Canonical {
        name: "customers",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("birth_year", Kind::Int, false),
            ("gender", Kind::Text, false),
            ("income_monthly", Kind::Num, false),
            ("signup_date", Kind::Date, false),
        ],
    },
    Canonical {
        name: "transactions",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("ts", Kind::Ts, true),
            ("amount", Kind::Num, true),
            ("store_id", Kind::Int, false),
            ("category", Kind::Text, false),
            ("discount", Kind::Num, false),
            ("invoice", Kind::Text, false),
        ],
    },
    Canonical {
        name: "visits",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("entered_at", Kind::Ts, true),
            ("left_at", Kind::Ts, true),
            ("entrance", Kind::Text, false),
        ],
    },
    Canonical {
        name: "wifi_sessions",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("started_at", Kind::Ts, true),
            ("ended_at", Kind::Ts, true),
            ("zone", Kind::Text, false),
        ],
    },
    Canonical {
        name: "app_events",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("ts", Kind::Ts, true),
            ("event", Kind::Text, true),
        ],
    },
    Canonical {
        name: "streaming",
        columns: &[
            ("customer_id", Kind::Id, true),
            ("package", Kind::Text, true),
            ("since", Kind::Date, false),
        ],
    },
];

/// What `segmenta features` runs.
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    /// Source per canonical table (a file or a folder of partitions).
    pub sources: BTreeMap<String, PathBuf>,
    /// Column mappings.
    pub map: Vec<MapEntry>,
    /// First day after the history (recency is measured to it; later rows are
    /// rejected). Default: the day after the last transaction.
    pub as_of: Option<i32>,
    /// First day of the history (earlier rows are rejected). Default: none.
    pub since: Option<i32>,
    /// chrono format for text or integer timestamps, e.g. `%d/%m/%Y %H:%M`.
    pub ts_format: Option<String>,
    /// Larger amounts are rejected as absurd.
    pub max_amount: f64,
    /// Reject a transaction line identical to an earlier one (`duplicate_line`).
    pub dedup: bool,
    /// The feature SQL and where it came from.
    pub sql: (String, String),
    /// Memory DataFusion may use before spilling to disk.
    pub memory_limit: usize,
    /// Threads.
    pub threads: usize,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec::new()
    }
}

impl FeatureSpec {
    /// No sources yet, the default SQL and settings.
    pub fn new() -> FeatureSpec {
        FeatureSpec {
            sources: BTreeMap::new(),
            map: Vec::new(),
            as_of: None,
            since: None,
            ts_format: None,
            max_amount: 100_000.0,
            dedup: true,
            sql: (
                DEFAULT_SQL.to_string(),
                "default (src/features/features.sql)".into(),
            ),
            memory_limit: 4 << 30,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    /// Sources found in `dir`, the default SQL, and the window of `dir/mall.json`
    /// when the folder was written by `segmenta generate`.
    pub fn from_dir(dir: &Path) -> Result<FeatureSpec> {
        let mut spec = FeatureSpec::new();
        spec.sources = discover(dir)?;
        let manifest = dir.join("mall.json");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest).map_err(|e| Error::io(&manifest, e))?;
            let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Model {
                path: manifest.clone(),
                message: format!("not JSON: {e}"),
            })?;
            let date = |k: &str| -> Option<i32> {
                v.get(k)
                    .and_then(|s| s.as_str())
                    .and_then(|s| crate::dates::parse_date(s, "mall.json").ok())
            };
            spec.since = date("window_start");
            spec.as_of = date("window_end");
        }
        Ok(spec)
    }
}

/// The canonical tables present in `dir`: `<table>.parquet`, `.csv`, `.csv.gz`, or a
/// folder `<table>/` of such partitions.
pub fn discover(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    if !dir.is_dir() {
        return Err(if dir.exists() {
            Error::param("--input", format!("{} is not a folder (rule: pass a folder of raw tables, or --transactions FILE)", dir.display()))
        } else {
            Error::NotFound {
                path: dir.to_path_buf(),
            }
        });
    }
    let mut found = BTreeMap::new();
    for t in CANONICAL {
        for ext in ["parquet", "csv", "csv.gz"] {
            let p = dir.join(format!("{}.{ext}", t.name));
            if p.is_file() {
                found.insert(t.name.to_string(), p);
                break;
            }
        }
        let folder = dir.join(t.name);
        if !found.contains_key(t.name) && folder.is_dir() {
            found.insert(t.name.to_string(), folder);
        }
    }
    if !found.contains_key("transactions") {
        return Err(Error::NotFound {
            path: dir.join("transactions.parquet"),
        });
    }
    Ok(found)
}

/// Per-table accounting.
#[derive(Clone, Debug, Serialize)]
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
}

/// One output feature, summarised.
#[derive(Clone, Debug, Serialize)]
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
    /// Median (non-null; the lower middle value for an even count).
    pub median: Option<f64>,
    /// Maximum (non-null).
    pub max: Option<f64>,
}

/// `features.json`.
#[derive(Clone, Debug, Serialize)]
pub struct FeaturesReport {
    /// Always "segmenta-features".
    pub format: &'static str,
    /// Version of this file's layout.
    pub version: u32,
    /// Which SQL ran.
    pub sql: String,
    /// First day after the history.
    pub as_of: String,
    /// First day of the history, when one applies.
    pub since: Option<String>,
    /// Distinct customer ids among transaction rows that have one, before the rules.
    pub customers_seen: u64,
    /// Output rows (customers).
    pub customers: u64,
    /// Sources and their accounting.
    pub sources: Vec<SourceReport>,
    /// Output features.
    pub features: Vec<FeatureSummary>,
    /// Declared features left out, with the columns they lacked.
    pub dropped: Vec<(String, String)>,
    /// Seconds per stage.
    pub timings: BTreeMap<String, f64>,
}

/// A declared feature: `-- @feature name | needs | definition`.
struct Declared {
    name: String,
    needs: Vec<(String, String)>,
    definition: String,
}

fn declared(sql: &str) -> Vec<Declared> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("-- @feature "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, '|').map(str::trim);
            let name = parts.next()?.to_string();
            let needs = parts
                .next()?
                .split_whitespace()
                .filter_map(|n| {
                    n.split_once('.')
                        .map(|(t, c)| (t.to_string(), c.to_string()))
                })
                .collect();
            let definition = parts.next().unwrap_or("").to_string();
            Some(Declared {
                name,
                needs,
                definition,
            })
        })
        .collect()
}

fn df_err(context: &Path, e: impl std::fmt::Display) -> Error {
    Error::Source {
        path: context.to_path_buf(),
        message: one_line(&e.to_string()),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn ts_literal(days: i32) -> String {
    format!("TIMESTAMP '{} 00:00:00'", format_date(days))
}

struct Registered {
    table: &'static Canonical,
    path: PathBuf,
    raw_cols: Vec<(String, DataType)>,
    exprs: BTreeMap<&'static str, String>,
    how: BTreeMap<String, String>,
    /// Timestamp columns parsed from text or integers (the only casts that can fail).
    parsed: Vec<&'static str>,
}

/// Runs the features stage and writes `features.parquet`, `features.json` and
/// `rejects/<table>.parquet` into `out`, all together. `stage` is told what runs.
pub fn run_features(
    spec: &FeatureSpec,
    out: &Path,
    stage: &(dyn Fn(&str) + Sync),
) -> Result<FeaturesReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io(out, e))?;
    rt.block_on(run_async(spec, out, stage))
}

async fn run_async(
    spec: &FeatureSpec,
    out: &Path,
    stage: &(dyn Fn(&str) + Sync),
) -> Result<FeaturesReport> {
    let mut timings = BTreeMap::new();
    let t0 = Instant::now();
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(spec.memory_limit, 1.0)
        .build_arc()
        .map_err(|e| df_err(out, e))?;
    let config = SessionConfig::new().with_target_partitions(spec.threads.max(1));
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    let tmp = tempfile::tempdir().map_err(|e| Error::io(out, e))?;

    for e in &spec.map {
        if !CANONICAL.iter().any(|t| t.name == e.table) {
            return Err(Error::param("--map", format!("`{}` is not a canonical table (rule: tables are customers, transactions, visits, wifi_sessions, app_events, streaming)", e.table)));
        }
        if !spec.sources.contains_key(&e.table) {
            return Err(Error::param(
                "--map",
                format!(
                    "maps `{}.{}` but no {} source was given",
                    e.table, e.column, e.table
                ),
            ));
        }
    }

    // 1. Register the raw sources and build the canonical expressions.
    stage("reading sources");
    let mut regs: Vec<Registered> = Vec::new();
    for t in CANONICAL {
        let Some(path) = spec.sources.get(t.name) else {
            continue;
        };
        let raw = format!("raw_{}", t.name);
        register(&ctx, &raw, path, tmp.path()).await?;
        let schema = ctx
            .table(raw.as_str())
            .await
            .map_err(|e| df_err(path, e))?
            .schema()
            .clone();
        let raw_cols: Vec<(String, DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let names: Vec<String> = raw_cols.iter().map(|c| c.0.clone()).collect();
        let mut exprs = BTreeMap::new();
        let mut how = BTreeMap::new();
        let mut parsed = Vec::new();
        for &(col, kind, required) in t.columns {
            let mapped = spec
                .map
                .iter()
                .find(|m| m.table == t.name && m.column == col);
            let (expr, desc) = if let Some(m) = mapped {
                (
                    mapping::rewrite(&m.expr, &names, path, col)?,
                    format!("mapped: {}", m.expr),
                )
            } else if let Some(n) = names
                .iter()
                .find(|n| n.as_str() == col)
                .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(col)))
            {
                (quote(n), format!("column `{n}`"))
            } else if required {
                return Err(Error::MissingColumn {
                    path: path.clone(),
                    column: col.to_string(),
                    available: format!(
                        "{} (rule: {}.{col} is required; name it with --map {col}=EXPR)",
                        names.join(", "),
                        t.name
                    ),
                });
            } else {
                ("NULL".to_string(), "absent".to_string())
            };
            let (typed, parses) = typed_expr(
                &ctx,
                &raw,
                path,
                col,
                kind,
                &expr,
                spec.ts_format.as_deref(),
            )
            .await?;
            exprs.insert(col, typed);
            how.insert(col.to_string(), desc);
            if parses {
                parsed.push(col);
            }
        }
        regs.push(Registered {
            table: t,
            path: path.clone(),
            raw_cols,
            exprs,
            how,
            parsed,
        });
    }

    // Timestamps held as text are checked up front, so a bad value is reported
    // with its file and column instead of failing deep inside the query.
    for r in &regs {
        for &col in &r.parsed {
            let q = format!("SELECT COUNT({}) FROM raw_{}", r.exprs[col], r.table.name);
            let res = async { ctx.sql(&q).await?.collect().await }.await;
            if let Err(e) = res {
                return Err(Error::Source {
                    path: r.path.clone(),
                    message: format!(
                        "column `{col}` ({}): a timestamp does not parse: {} (rule: timestamps are ISO 8601 (YYYY-MM-DD[ HH:MM:SS]) or match --ts-format)",
                        r.how[col],
                        first_sentence(&e.to_string())
                    ),
                });
            }
        }
    }

    // as-of: given, from mall.json, or the day after the last transaction.
    let tx = regs
        .iter()
        .find(|r| r.table.name == "transactions")
        .expect("transactions is required");
    let as_of = match spec.as_of {
        Some(d) => d,
        None => {
            let q = format!(
                "SELECT CAST(MAX({}) AS TIMESTAMP) FROM raw_transactions WHERE {} IS NOT NULL",
                tx.exprs["ts"], tx.exprs["customer_id"]
            );
            let batches = ctx
                .sql(&q)
                .await
                .map_err(|e| df_err(&tx.path, e))?
                .collect()
                .await
                .map_err(|e| df_err(&tx.path, e))?;
            let a =
                cast(batches[0].column(0), &DataType::Int64).map_err(|e| df_err(&tx.path, e))?;
            let a = a.as_primitive::<Int64Type>();
            if a.is_null(0) {
                return Err(Error::Empty {
                    path: tx.path.clone(),
                });
            }
            (a.value(0).div_euclid(DAY_US * 1000) + 1) as i32
        }
    };
    let id_type = customer_id_type(&ctx, tx).await?;

    // 2. Tag every row with the first rule it breaks, in one streamed pass per
    // table: rejected rows go to rejects/<table>.parquet unchanged, kept rows (in
    // canonical form) to a temporary Parquet file that becomes the view the feature
    // SQL reads. Customers come first: the others check their ids against them.
    stage("applying source rules");
    let t1 = Instant::now();
    let has_customers = regs.iter().any(|r| r.table.name == "customers");
    let mut staged = Staged::new();
    let mut sources = Vec::new();
    let mut customers_seen = 0;
    for r in &regs {
        let name = r.table.name;
        let sql = tagged_sql(r, spec, as_of, has_customers, &id_type);
        ctx.sql(&format!("CREATE VIEW tagged_{name} AS {sql}"))
            .await
            .map_err(|e| df_err(&r.path, e))?;
        let rows_in =
            scalar_u64(&ctx, &format!("SELECT COUNT(*) FROM raw_{name}"), &r.path).await?;
        let kept_path = tmp.path().join(format!("kept_{name}.parquet"));
        let split = split_rows(&ctx, r, &mut staged, out, &kept_path, spec.dedup).await?;
        let rows_rejected: u64 = split.rejected.values().sum();
        if rows_in != split.kept + rows_rejected {
            return Err(Error::Source {
                path: r.path.clone(),
                message: format!(
                    "internal accounting error: {rows_in} rows in, {} kept, {rows_rejected} rejected (rule: rows in = kept + rejected)",
                    split.kept
                ),
            });
        }
        ctx.register_parquet(
            name,
            kept_path.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .map_err(|e| df_err(&r.path, e))?;
        if name == "transactions" {
            customers_seen = split.ids_seen;
        }
        sources.push(SourceReport {
            table: name.to_string(),
            path: r.path.clone(),
            rows_in,
            rows_kept: split.kept,
            rows_rejected,
            rejected: split.rejected,
            columns: r.how.clone(),
            rejects_file: split.rejects_file,
        });
    }
    for t in CANONICAL {
        if regs.iter().any(|r| r.table.name == t.name) {
            continue;
        }
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|&(c, k, _)| {
                format!(
                    "CAST(NULL AS {}) AS {c}",
                    if k == Kind::Id {
                        id_type.as_str()
                    } else {
                        sql_type(k)
                    }
                )
            })
            .collect();
        ctx.sql(&format!(
            "CREATE VIEW {} AS SELECT {} WHERE 1 = 0",
            t.name,
            cols.join(", ")
        ))
        .await
        .map_err(|e| df_err(out, e))?;
    }
    timings.insert(
        "register".into(),
        t0.elapsed().as_secs_f64() - t1.elapsed().as_secs_f64(),
    );
    timings.insert("rules".into(), t1.elapsed().as_secs_f64());

    // 4. The feature SQL.
    stage("computing features");
    let t2 = Instant::now();
    let (as_of_year, _, _) = civil_from_days(as_of);
    let sql = spec
        .sql
        .0
        .replace("${as_of_year}", &as_of_year.to_string())
        .replace("${as_of}", &ts_literal(as_of));
    let sql_path = PathBuf::from(&spec.sql.1);
    let df = ctx.sql(&sql).await.map_err(|e| Error::Source {
        path: sql_path.clone(),
        message: format!("feature SQL error: {}", one_line(&e.to_string())),
    })?;
    let batches = df.collect().await.map_err(|e| Error::Source {
        path: sql_path.clone(),
        message: format!("feature SQL failed: {}", one_line(&e.to_string())),
    })?;
    timings.insert("features".into(), t2.elapsed().as_secs_f64());

    // 5. Drop features whose source columns are absent; summarise the rest.
    let present: HashSet<(String, String)> = regs
        .iter()
        .flat_map(|r| {
            r.how
                .iter()
                .filter(|(_, h)| h.as_str() != "absent")
                .map(|(c, _)| (r.table.name.to_string(), c.clone()))
        })
        .collect();
    let decl = declared(&spec.sql.0);
    let mut dropped = Vec::new();
    let Some(first) = batches.first() else {
        return Err(Error::Empty {
            path: tx.path.clone(),
        });
    };
    let schema = first.schema();
    let mut keep = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if let Some(d) = decl.iter().find(|d| &d.name == f.name()) {
            let missing: Vec<String> = d
                .needs
                .iter()
                .filter(|n| !present.contains(*n))
                .map(|(t, c)| format!("{t}.{c}"))
                .collect();
            if !missing.is_empty() {
                dropped.push((d.name.clone(), missing.join(" ")));
                continue;
            }
        }
        keep.push(i);
    }
    let kept_schema = Arc::new(schema.project(&keep).map_err(|e| df_err(out, e))?);
    let mut out_batches = Vec::with_capacity(batches.len());
    for b in &batches {
        out_batches.push(b.project(&keep).map_err(|e| df_err(out, e))?);
    }
    let customers: u64 = out_batches.iter().map(|b| b.num_rows() as u64).sum();
    if customers == 0 {
        return Err(Error::Empty {
            path: tx.path.clone(),
        });
    }
    let mut features = Vec::new();
    for (i, f) in kept_schema.fields().iter().enumerate() {
        if i == 0 {
            continue; // the id
        }
        let cols: Vec<ArrayRef> = out_batches.iter().map(|b| b.column(i).clone()).collect();
        let d = decl.iter().find(|d| &d.name == f.name());
        features.push(summarise(
            f.name(),
            &cols,
            d.map_or("user SQL", |d| d.definition.as_str()),
            d.map_or(String::new(), |d| {
                d.needs
                    .iter()
                    .map(|(t, c)| format!("{t}.{c}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        )?);
    }
    let fpath = out.join("features.parquet");
    let file = staged.create(&fpath)?;
    let mut w = ArrowWriter::try_new(file, kept_schema.clone(), Some(props()))
        .map_err(|e| df_err(&fpath, e))?;
    for b in &out_batches {
        w.write(b).map_err(|e| df_err(&fpath, e))?;
    }
    w.close().map_err(|e| df_err(&fpath, e))?;

    let report = FeaturesReport {
        format: "segmenta-features",
        version: 1,
        sql: spec.sql.1.clone(),
        as_of: format_date(as_of),
        since: spec.since.map(format_date),
        customers_seen,
        customers,
        sources,
        features,
        dropped,
        timings,
    };
    write_json(&mut staged, &out.join("features.json"), &report)?;
    staged.commit()?;
    Ok(report)
}

fn first_sentence(s: &str) -> String {
    let s = one_line(s);
    s.trim_start_matches("Arrow error: ")
        .trim_start_matches("Execution error: ")
        .to_string()
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

async fn register(ctx: &SessionContext, name: &str, path: &Path, tmp: &Path) -> Result<()> {
    let s = path.to_string_lossy().to_string();
    let lower = s.to_ascii_lowercase();
    let is_dir = path.is_dir();
    let ext_of_dir = || -> Result<&'static str> {
        let mut exts = HashSet::new();
        for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let n = e
                .map_err(|e| Error::io(path, e))?
                .file_name()
                .to_string_lossy()
                .to_ascii_lowercase();
            if n.ends_with(".parquet") {
                exts.insert(".parquet");
            } else if n.ends_with(".csv") {
                exts.insert(".csv");
            }
        }
        match exts.len() {
            1 => Ok(exts.into_iter().next().expect("one element")),
            0 => Err(Error::Empty {
                path: path.to_path_buf(),
            }),
            _ => Err(Error::param(
                "--input",
                format!(
                    "{} mixes Parquet and CSV partitions (rule: one format per folder)",
                    path.display()
                ),
            )),
        }
    };
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let res = if (is_dir && ext_of_dir()? == ".parquet") || (!is_dir && lower.ends_with(".parquet"))
    {
        ctx.register_parquet(
            name,
            &s,
            ParquetReadOptions::default().file_extension(if is_dir { ".parquet" } else { "" }),
        )
        .await
    } else if is_dir || lower.ends_with(".csv") {
        if !is_dir
            && std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len()
                == 0
        {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        ctx.register_csv(name, &s, csv_options(if is_dir { ".csv" } else { "" }))
            .await
    } else if lower.ends_with(".csv.gz") {
        // Unpacked once into the run's temporary folder (DataFusion's own gzip
        // support would add xz and bzip2 C builds for one format).
        let unpacked = tmp.join(format!("{name}.csv"));
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
        let mut o = std::io::BufWriter::new(
            std::fs::File::create(&unpacked).map_err(|e| Error::io(&unpacked, e))?,
        );
        std::io::copy(&mut gz, &mut o).map_err(|e| Error::Source {
            path: path.to_path_buf(),
            message: format!("unreadable gzip ({e})"),
        })?;
        drop(o);
        if std::fs::metadata(&unpacked)
            .map_err(|e| Error::io(&unpacked, e))?
            .len()
            == 0
        {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        ctx.register_csv(name, unpacked.to_string_lossy().as_ref(), csv_options(""))
            .await
    } else {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
        });
    };
    res.map_err(|e| df_err(path, e))
}

fn csv_options(ext: &str) -> CsvReadOptions<'_> {
    CsvReadOptions::new()
        .has_header(true)
        .file_extension(ext)
        .schema_infer_max_records(1_000_000)
}

fn sql_type(k: Kind) -> &'static str {
    match k {
        Kind::Id | Kind::Int => "BIGINT",
        Kind::Ts => "TIMESTAMP",
        Kind::Num => "DOUBLE",
        Kind::Text => "VARCHAR",
        Kind::Date => "DATE",
    }
}

/// The canonical, typed expression for one column, and whether it parses text or
/// integers into a timestamp (a cast that can fail on a bad value).
async fn typed_expr(
    ctx: &SessionContext,
    raw: &str,
    path: &Path,
    col: &str,
    kind: Kind,
    expr: &str,
    ts_format: Option<&str>,
) -> Result<(String, bool)> {
    if expr == "NULL" {
        return Ok((
            format!(
                "CAST(NULL AS {})",
                sql_type(if kind == Kind::Id { Kind::Int } else { kind })
            ),
            false,
        ));
    }
    let probe = format!("SELECT ({expr}) AS v FROM {raw} LIMIT 0");
    let df = ctx.sql(&probe).await.map_err(|e| Error::Source {
        path: path.to_path_buf(),
        message: format!(
            "mapping of `{col}` (`{expr}`) is not valid SQL here: {}",
            one_line(&e.to_string())
        ),
    })?;
    let dt = df.schema().field(0).data_type().clone();
    let text = matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let numeric = dt.is_numeric();
    let parses = kind == Kind::Ts && (text || numeric);
    let typed = match kind {
        Kind::Id if numeric => format!("CAST(({expr}) AS BIGINT)"),
        Kind::Id => format!("CAST(({expr}) AS VARCHAR)"),
        Kind::Ts => match (ts_format, text, numeric) {
            (Some(f), true, _) => format!("to_timestamp(({expr}), '{}')", f.replace('\'', "''")),
            (Some(f), _, true) => format!("to_timestamp(CAST(({expr}) AS VARCHAR), '{}')", f.replace('\'', "''")),
            (None, _, true) => {
                return Err(Error::Source {
                    path: path.to_path_buf(),
                    message: format!("column `{col}` (`{expr}`) is {dt}, not a timestamp (rule: give --ts-format, e.g. %Y%m%d for 20110131)"),
                })
            }
            _ => format!("CAST(({expr}) AS TIMESTAMP)"),
        },
        Kind::Num | Kind::Int if !(numeric || text || dt == DataType::Null) => {
            return Err(Error::NotNumeric {
                path: path.to_path_buf(),
                column: format!("{col} (`{expr}`)"),
                found: dt.to_string(),
            })
        }
        k => format!("CAST(({expr}) AS {})", sql_type(k)),
    };
    Ok((typed, parses))
}

async fn customer_id_type(ctx: &SessionContext, tx: &Registered) -> Result<String> {
    let q = format!(
        "SELECT {} AS v FROM raw_transactions LIMIT 0",
        tx.exprs["customer_id"]
    );
    let df = ctx.sql(&q).await.map_err(|e| df_err(&tx.path, e))?;
    Ok(if df.schema().field(0).data_type().is_numeric() {
        "BIGINT"
    } else {
        "VARCHAR"
    }
    .to_string())
}

/// The reason codes and the rules they stand for.
pub const RULES: &[(&str, &str)] = &[
    ("missing_customer_id", "customer_id must be present"),
    ("missing_ts", "timestamps must be present"),
    (
        "cancellation",
        "invoice must not start with C (a cancellation)",
    ),
    ("missing_amount", "amount must be present"),
    ("negative_amount", "amount must not be negative"),
    ("absurd_amount", "amount must not exceed --max-amount"),
    (
        "exit_before_entry",
        "an exit must not come before its entry",
    ),
    (
        "ts_out_of_window",
        "timestamps must lie in [--since, --as-of)",
    ),
    ("unknown_customer", "customer_id must exist in customers"),
    (
        "duplicate_customer",
        "customer_id must be unique in customers",
    ),
    (
        "duplicate_line",
        "a line must not repeat an earlier identical line",
    ),
];

fn rule_case() -> String {
    let mut s = String::from("CASE __reason");
    for (code, rule) in RULES {
        s.push_str(&format!(" WHEN '{code}' THEN '{rule}'"));
    }
    s.push_str(" END");
    s
}

fn tagged_sql(
    r: &Registered,
    spec: &FeatureSpec,
    as_of: i32,
    has_customers: bool,
    id_type: &str,
) -> String {
    let name = r.table.name;
    let e = |c: &str| quote(&format!("__c_{c}"));
    let mut inner: Vec<String> = vec!["r.*".into()];
    for (c, expr) in &r.exprs {
        let expr = if *c == "customer_id" {
            format!("CAST({expr} AS {id_type})")
        } else {
            expr.clone()
        };
        inner.push(format!("{expr} AS {}", e(c)));
    }
    let raw_cols: Vec<String> = r
        .raw_cols
        .iter()
        .map(|(c, _)| format!("r.{}", quote(c)))
        .collect();
    // Duplicate transaction lines are found by `split_rows` with a hash of each raw
    // line: a window function over every raw column cost three quarters of the
    // rules stage (BENCHMARKS.md).
    match name {
        "customers" => inner.push(format!(
            "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}) AS __dup",
            r.exprs["customer_id"],
            raw_cols.join(", ")
        )),
        _ => inner.push("1 AS __dup".into()),
    }
    let l1 = format!("SELECT {} FROM raw_{name} r", inner.join(", "));
    let check_known = has_customers && name != "customers";
    let l2 = if check_known {
        format!("SELECT l1.*, k.__known FROM ({l1}) l1 LEFT JOIN (SELECT DISTINCT customer_id AS __known FROM customers) k ON l1.{} = k.__known", e("customer_id"))
    } else {
        format!("SELECT l1.*, 1 AS __known FROM ({l1}) l1")
    };
    let window = |c: &str| {
        let mut conds = vec![format!("{} >= {}", e(c), ts_literal(as_of))];
        if let Some(s) = spec.since {
            conds.push(format!("{} < {}", e(c), ts_literal(s)));
        }
        conds.join(" OR ")
    };
    let mut whens = vec![format!(
        "WHEN {} IS NULL THEN 'missing_customer_id'",
        e("customer_id")
    )];
    match name {
        "transactions" => {
            whens.push(format!("WHEN {} IS NULL THEN 'missing_ts'", e("ts")));
            whens.push(format!(
                "WHEN {} LIKE 'C%' THEN 'cancellation'",
                e("invoice")
            ));
            whens.push(format!(
                "WHEN {} IS NULL THEN 'missing_amount'",
                e("amount")
            ));
            whens.push(format!("WHEN {} < 0 THEN 'negative_amount'", e("amount")));
            whens.push(format!(
                "WHEN {} > {} THEN 'absurd_amount'",
                e("amount"),
                spec.max_amount
            ));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window("ts")));
        }
        "visits" | "wifi_sessions" => {
            let (a, b) = if name == "visits" {
                ("entered_at", "left_at")
            } else {
                ("started_at", "ended_at")
            };
            whens.push(format!(
                "WHEN {} IS NULL OR {} IS NULL THEN 'missing_ts'",
                e(a),
                e(b)
            ));
            whens.push(format!("WHEN {} < {} THEN 'exit_before_entry'", e(b), e(a)));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window(a)));
        }
        "app_events" => {
            whens.push(format!("WHEN {} IS NULL THEN 'missing_ts'", e("ts")));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window("ts")));
        }
        "customers" => whens.push("WHEN __dup > 1 THEN 'duplicate_customer'".into()),
        _ => {}
    }
    if check_known {
        whens.push("WHEN __known IS NULL THEN 'unknown_customer'".into());
    }
    format!(
        "SELECT l2.*, CASE {} END AS __reason FROM ({l2}) l2",
        whens.join(" ")
    )
}

async fn scalar_u64(ctx: &SessionContext, q: &str, path: &Path) -> Result<u64> {
    let b = ctx
        .sql(q)
        .await
        .map_err(|e| df_err(path, e))?
        .collect()
        .await
        .map_err(|e| df_err(path, e))?;
    let a = cast(b[0].column(0), &DataType::Int64).map_err(|e| df_err(path, e))?;
    Ok(a.as_primitive::<Int64Type>().value(0) as u64)
}

struct Split {
    kept: u64,
    rejected: BTreeMap<String, u64>,
    rejects_file: Option<PathBuf>,
    ids_seen: u64,
}

/// Streams `tagged_<table>` once, writing kept rows (canonical columns) to `kept`
/// and rejected rows (raw columns, `reason`, `rule`) to `out/rejects/<table>.parquet`.
async fn split_rows(
    ctx: &SessionContext,
    r: &Registered,
    staged: &mut Staged,
    out: &Path,
    kept: &Path,
    dedup: bool,
) -> Result<Split> {
    let name = r.table.name;
    let dedup = dedup && name == "transactions";
    let raw: Vec<String> = r.raw_cols.iter().map(|(c, _)| quote(c)).collect();
    let canon: Vec<String> = r
        .table
        .columns
        .iter()
        .map(|(c, _, _)| quote(&format!("__c_{c}")))
        .collect();
    let q = format!(
        "SELECT {}, {}, __reason AS reason, {} AS rule FROM tagged_{name}",
        raw.join(", "),
        canon.join(", "),
        rule_case()
    );
    let df = ctx.sql(&q).await.map_err(|e| df_err(&r.path, e))?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let (nr, nc) = (raw.len(), canon.len());
    let kept_idx: Vec<usize> = (nr..nr + nc).collect();
    let rej_idx: Vec<usize> = (0..nr).chain([nr + nc, nr + nc + 1]).collect();
    let kept_schema = Arc::new(arrow::datatypes::Schema::new(
        kept_idx
            .iter()
            .zip(r.table.columns)
            .map(|(&i, (c, _, _))| schema.field(i).clone().with_name(*c))
            .collect::<Vec<_>>(),
    ));
    let rej_schema = Arc::new(schema.project(&rej_idx).map_err(|e| df_err(&r.path, e))?);
    let mut stream = df.execute_stream().await.map_err(|e| df_err(&r.path, e))?;
    let kf = std::fs::File::create(kept).map_err(|e| Error::io(kept, e))?;
    let mut kw = ArrowWriter::try_new(kf, kept_schema.clone(), Some(tmp_props()))
        .map_err(|e| df_err(kept, e))?;
    let rej_path = out.join("rejects").join(format!("{name}.parquet"));
    let mut rw: Option<ArrowWriter<std::fs::File>> = None;
    let mut split = Split {
        kept: 0,
        rejected: BTreeMap::new(),
        rejects_file: None,
        ids_seen: 0,
    };
    let mut int_ids = HashSet::new();
    let mut str_ids = HashSet::new();
    let mut lines = match dedup {
        true => Some(LineSet::new(&schema, nr).map_err(|e| df_err(&r.path, e))?),
        false => None,
    };
    while let Some(b) = stream.next().await {
        let mut b: RecordBatch = b.map_err(|e| df_err(&r.path, e))?;
        if let Some(lines) = lines.as_mut() {
            b = lines.tag(b, nr + nc).map_err(|e| df_err(&r.path, e))?;
        }
        let id = b.column(nr);
        if let Some(a) = id.as_primitive_opt::<Int64Type>() {
            int_ids.extend(a.iter().flatten());
        } else if let Some(a) = id.as_string_opt::<i32>() {
            str_ids.extend(a.iter().flatten().map(str::to_string));
        } else if let Some(a) = id.as_string_view_opt() {
            str_ids.extend(a.iter().flatten().map(str::to_string));
        }
        let reason = cast(b.column(nr + nc), &DataType::Utf8).map_err(|e| df_err(&r.path, e))?;
        let reason = reason.as_string::<i32>();
        let keep_mask = arrow::compute::is_null(&reason).map_err(|e| df_err(&r.path, e))?;
        let rej_mask = arrow::compute::not(&keep_mask).map_err(|e| df_err(&r.path, e))?;
        let kb = arrow::compute::filter_record_batch(
            &b.project(&kept_idx).map_err(|e| df_err(&r.path, e))?,
            &keep_mask,
        )
        .map_err(|e| df_err(&r.path, e))?;
        let kb = RecordBatch::try_new(kept_schema.clone(), kb.columns().to_vec())
            .map_err(|e| df_err(&r.path, e))?;
        split.kept += kb.num_rows() as u64;
        kw.write(&kb).map_err(|e| df_err(kept, e))?;
        if rej_mask.true_count() > 0 {
            for v in reason.iter().flatten() {
                *split.rejected.entry(v.to_string()).or_default() += 1;
            }
            let rb = arrow::compute::filter_record_batch(
                &b.project(&rej_idx).map_err(|e| df_err(&r.path, e))?,
                &rej_mask,
            )
            .map_err(|e| df_err(&r.path, e))?;
            if rw.is_none() {
                let f = staged.create(&rej_path)?;
                rw = Some(
                    ArrowWriter::try_new(f, rej_schema.clone(), Some(props()))
                        .map_err(|e| df_err(&rej_path, e))?,
                );
            }
            rw.as_mut()
                .expect("just set")
                .write(&rb)
                .map_err(|e| df_err(&rej_path, e))?;
        }
    }
    kw.close().map_err(|e| df_err(kept, e))?;
    if let Some(w) = rw {
        w.close().map_err(|e| df_err(&rej_path, e))?;
        split.rejects_file = Some(rej_path);
    }
    split.ids_seen = (int_ids.len() + str_ids.len()) as u64;
    Ok(split)
}

/// Raw lines seen so far and kept, as 128-bit hashes of their row encoding (two
/// seeded XXH64): a line identical to a kept one is a `duplicate_line`. The first of
/// identical lines is kept, as with `ROW_NUMBER() … = 1`; identical lines share every
/// other rule's verdict, so only rows otherwise kept are looked up.
struct LineSet {
    conv: arrow::row::RowConverter,
    raw: usize,
    seen: HashSet<u128, PassThrough>,
}

#[derive(Default, Clone, Copy)]
struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// The keys are already hashes: use their low bits.
struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

impl LineSet {
    fn new(schema: &arrow::datatypes::Schema, raw: usize) -> arrow::error::Result<LineSet> {
        let fields = (0..raw)
            .map(|i| arrow::row::SortField::new(schema.field(i).data_type().clone()))
            .collect();
        Ok(LineSet {
            conv: arrow::row::RowConverter::new(fields)?,
            raw,
            seen: HashSet::with_hasher(PassThrough),
        })
    }

    /// Sets `reason` (column `reason_at`) and `rule` (the next column) of repeated
    /// lines to `duplicate_line`.
    fn tag(&mut self, b: RecordBatch, reason_at: usize) -> arrow::error::Result<RecordBatch> {
        use arrow::array::StringBuilder;
        use twox_hash::XxHash64;
        let raw: Vec<ArrayRef> = (0..self.raw).map(|i| b.column(i).clone()).collect();
        let rows = self.conv.convert_columns(&raw)?;
        let reason = cast(b.column(reason_at), &DataType::Utf8)?;
        let reason = reason.as_string::<i32>();
        let rule = cast(b.column(reason_at + 1), &DataType::Utf8)?;
        let rule = rule.as_string::<i32>();
        let dup_rule = RULES
            .iter()
            .find(|(c, _)| *c == "duplicate_line")
            .map(|(_, r)| *r)
            .unwrap_or("duplicate_line");
        let mut any = false;
        let mut new_reason = StringBuilder::with_capacity(b.num_rows(), 0);
        let mut new_rule = StringBuilder::with_capacity(b.num_rows(), 0);
        for i in 0..b.num_rows() {
            if reason.is_valid(i) {
                new_reason.append_value(reason.value(i));
                new_rule.append_option(rule.is_valid(i).then(|| rule.value(i)));
                continue;
            }
            let bytes = rows.row(i);
            let bytes = bytes.as_ref();
            let h = (u128::from(XxHash64::oneshot(0x5e9, bytes)) << 64)
                | u128::from(XxHash64::oneshot(0x6d61_6c6c, bytes));
            if self.seen.insert(h) {
                new_reason.append_null();
                new_rule.append_null();
            } else {
                any = true;
                new_reason.append_value("duplicate_line");
                new_rule.append_value(dup_rule);
            }
        }
        if !any {
            return Ok(b);
        }
        let mut cols = b.columns().to_vec();
        let new_reason: ArrayRef = Arc::new(new_reason.finish());
        let new_rule: ArrayRef = Arc::new(new_rule.finish());
        cols[reason_at] = cast(&new_reason, b.column(reason_at).data_type())?;
        cols[reason_at + 1] = cast(&new_rule, b.column(reason_at + 1).data_type())?;
        RecordBatch::try_new(b.schema(), cols)
    }
}

fn tmp_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

fn summarise(
    name: &str,
    cols: &[ArrayRef],
    definition: &str,
    source: String,
) -> Result<FeatureSummary> {
    let mut v = Vec::new();
    let mut nulls = 0u64;
    for c in cols {
        let c = cast(c, &DataType::Float64)
            .map_err(|e| Error::param("--sql", format!("feature `{name}` is not numeric ({e})")))?;
        let c = c.as_primitive::<Float64Type>();
        nulls += c.null_count() as u64;
        v.extend(c.iter().flatten());
    }
    let (min, median, max) = if v.is_empty() {
        (None, None, None)
    } else {
        let mid = (v.len() - 1) / 2;
        let (_, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
        let m = *m;
        let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
        let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (Some(mn), Some(m), Some(mx))
    };
    Ok(FeatureSummary {
        name: name.to_string(),
        definition: definition.to_string(),
        source,
        nulls,
        min,
        median,
        max,
    })
}
