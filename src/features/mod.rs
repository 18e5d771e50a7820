//! Raw sources → one row per customer, on Apache DataFusion.
//!
//! The work is SQL, so that the same definitions run on DataFusion here (which
//! reads Parquet, CSV, folders of partitions, and spills when data exceed memory)
//! and on Spark, Ballista or DuckDB when one machine is not enough:
//!
//! 1. each source file (or folder) is registered as `raw_<table>`, and its columns
//!    are mapped onto the canonical schema of ARCHITECTURE.md (by name, or by
//!    `--map col=EXPR`); the window (as-of, since) is estimated over the whole
//!    history when it is not given;
//! 2. each source is streamed once into P buckets by a hash of its customer id
//!    (`partition.rs`), P from the sources' size and `--memory-mib`;
//! 3. a bucket at a time (one thread per bucket in flight), every row is tagged
//!    with the first source-level rule it breaks (missing id, absurd amount,
//!    timestamp outside the window, unknown customer, duplicate line, exit before
//!    entry…; a return, a `C…` invoice or a negative amount, is kept with a
//!    negative amount, for the SQL to net); the kept rows form the tables
//!    `transactions`, `visits`, … read by [`DEFAULT_SQL`]
//!    (`src/features/features.sql`) or the user's own SQL, which gives the
//!    bucket's customers their rows;
//! 4. the buckets' kept rows (`tables/<table>.parquet`) and rejects
//!    (`rejects/<table>.parquet`, raw columns with `reason` and `rule`) are merged
//!    back in source order, the feature rows sorted by customer id; features whose
//!    source columns are absent are dropped and reported.
//!
//! Every row is accounted for: rows in = rows kept + rows rejected, per table,
//! checked at run time. The outputs are the same bytes whatever P.

mod bucket;
mod groups;
mod kept;
mod mapping;
mod merge;
mod partition;
mod register;
mod report;
mod result;
mod returns;
mod rows;
mod rules;
mod sizes;
mod summary;
mod window;

use bucket::{session, BucketJob, TableAcc};

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use futures::StreamExt;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::dates::{civil_from_days, format_date};
use crate::error::{Error, Result};
use crate::io::{write_json, Staged};
pub use crate::schema::{Canonical, Kind, CANONICAL};
pub use mapping::{check_map, parse_map, MapEntry};
pub use partition::{
    partition_count, table_parts, BUCKET_WORKING_FACTOR, MAX_PARTITIONS, MAX_TABLE_PARTS,
    TABLE_PART_BYTES,
};
use register::{customer_id_type, register_sources};
pub use report::{FeatureSummary, FeaturesReport, SourceReport};
pub use rules::RULES;
use summary::declared;

/// The default feature SQL, embedded in the binary.
pub const DEFAULT_SQL: &str = include_str!("features.sql");
/// The default category groups (`${group:NAME}` in the SQL), embedded in the binary.
pub const DEFAULT_CATEGORY_GROUPS: &str = include_str!("category_groups.toml");
use groups::expand_groups;
pub use groups::parse_category_groups;
pub use returns::ReturnsSummary;
pub use window::{estimate_window, Window, MAX_OUTSIDE, WINDOW_GAP_DAYS};

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
    /// Where `as_of` came from (`--as-of`, `mall.json`); `None`: estimated.
    pub as_of_source: Option<String>,
    /// First day of the history (earlier rows are rejected). Default: estimated.
    pub since: Option<i32>,
    /// Where `since` came from; `None`: estimated.
    pub since_source: Option<String>,
    /// chrono format for text or integer timestamps, e.g. `%d/%m/%Y %H:%M`.
    pub ts_format: Option<String>,
    /// Larger amounts are rejected as absurd.
    pub max_amount: f64,
    /// Reject a transaction line identical to an earlier one (`duplicate_line`).
    pub dedup: bool,
    /// The feature SQL and where it came from.
    pub sql: (String, String),
    /// Category groups (`${group:NAME}`) and where they came from.
    pub category_groups: (BTreeMap<String, Vec<String>>, String),
    /// The memory budget of the stage, bytes: the partitions follow from it, and
    /// DataFusion spills past it.
    pub memory_limit: usize,
    /// Buckets of customers (`None`: from the input sizes and the budget,
    /// [`partition_count`]).
    pub partitions: Option<usize>,
    /// Files a kept table is written in (`None`: from the input sizes,
    /// [`table_parts`]).
    pub table_parts: Option<usize>,
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
            as_of_source: None,
            since: None,
            since_source: None,
            ts_format: None,
            max_amount: 100_000.0,
            dedup: true,
            sql: (
                DEFAULT_SQL.to_string(),
                "default (src/features/features.sql)".into(),
            ),
            category_groups: (
                parse_category_groups(DEFAULT_CATEGORY_GROUPS, "<built-in category_groups.toml>")
                    .expect("the embedded category groups parse"),
                "default (src/features/category_groups.toml)".into(),
            ),
            memory_limit: 4 << 30,
            partitions: None,
            table_parts: None,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }

    /// Checks `partitions` (1 to [`MAX_PARTITIONS`]) and `table_parts` (1 to
    /// [`MAX_TABLE_PARTS`]), when given.
    pub fn check_counts(&self) -> Result<()> {
        for (flag, v, max) in [
            ("--partitions", self.partitions, MAX_PARTITIONS),
            ("--table-parts", self.table_parts, MAX_TABLE_PARTS),
        ] {
            if let Some(v) = v.filter(|&v| v == 0 || v > max) {
                return Err(Error::param(
                    flag,
                    format!("{v} is out of range (rule: 1 to {max})"),
                ));
            }
        }
        Ok(())
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
            spec.since_source = spec.since.map(|_| "mall.json (window_start)".into());
            spec.as_of_source = spec.as_of.map(|_| "mall.json (window_end)".into());
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

/// Where the features stage keeps a canonical table's kept rows: the folder
/// `OUT/tables/<table>/`, one Parquet file per range of the customer-id hash
/// ([`kept_file`]).
pub fn kept_table(out: &Path, table: &str) -> PathBuf {
    out.join("tables").join(table)
}

/// File `s` of a kept table: `OUT/tables/<table>/part-NNNN.parquet`.
pub fn kept_file(out: &Path, table: &str, s: usize) -> PathBuf {
    kept_table(out, table).join(format!("part-{s:04}.parquet"))
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

/// What the features stage says of its progress: a step, the steps done, the
/// steps in all (which grows once the number of buckets is known).
pub type Progress<'a> = dyn Fn(&str, u64, u64) + Sync + 'a;

/// Runs the features stage and writes `features.parquet`, `features.json` and
/// `rejects/<table>.parquet` into `out`, all together. `progress` is told what runs.
pub fn run_features(
    spec: &FeatureSpec,
    out: &Path,
    progress: &Progress<'_>,
) -> Result<FeaturesReport> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(spec.threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| Error::io(out, e))?;
    rt.block_on(run_async(spec, out, progress))
}

/// The prefix of the stage's scratch folder under its output folder.
const SCRATCH_PREFIX: &str = ".segmenta-tmp-";

/// A new scratch folder under `out` (locked by the caller), after removing any
/// that a killed run left there.
fn scratch(out: &Path) -> Result<tempfile::TempDir> {
    if let Ok(entries) = std::fs::read_dir(out) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX) {
                std::fs::remove_dir_all(e.path()).map_err(|err| Error::io(&e.path(), err))?;
            }
        }
    }
    tempfile::Builder::new()
        .prefix(SCRATCH_PREFIX)
        .tempdir_in(out)
        .map_err(|e| Error::io(out, e))
}

async fn run_async(
    spec: &FeatureSpec,
    out: &Path,
    progress: &Progress<'_>,
) -> Result<FeaturesReport> {
    let mut timings = BTreeMap::new();
    let t0 = Instant::now();
    // The output folder, locked from here on; the bucket files and any spill
    // live in a folder of its own under it (never in the system's temporary
    // folder, which may be small or in memory), removed when the stage ends and,
    // after a kill, at the next start.
    let mut staged = Staged::new(out)?;
    let tmp = scratch(out)?;
    // Larger batches for the partition pass: each is split among the buckets.
    let ctx = session(spec, out, 1 << 16, tmp.path())?;

    check_map(&spec.map, &spec.sources)?;
    spec.check_counts()?;

    // 1. Register the raw sources and build the canonical expressions.
    progress("reading sources", 0, 4);
    let regs = register_sources(&ctx, spec, tmp.path()).await?;

    // as-of: given, from mall.json, or the day after the last transaction.
    let tx = regs
        .iter()
        .find(|r| r.table.name == "transactions")
        .expect("transactions is required");
    // The window: given (--as-of, --since, mall.json), or estimated robustly from
    // the days that have transactions ([`estimate_window`]).
    let window::History {
        as_of,
        since,
        as_of_source,
        since_source,
    } = window::history(&ctx, spec, tx).await?;
    let ids = customer_id_type(&ctx, &regs).await?;
    let id_type = ids.sql;

    // 2. The partition seam: each source streamed once into P buckets by the hash
    // of its customer id (partition.rs), so that every later step holds one
    // bucket's rows at a time.
    let budget = spec.memory_limit;
    let mut raw_total = 0u64;
    for r in &regs {
        let unpacked = tmp.path().join(format!("raw_{}.csv", r.table.name));
        raw_total += sizes::raw_bytes(&r.path, &unpacked)?;
    }
    let (p, workers) = partition::plan(raw_total, budget, spec.threads, spec.partitions)?;
    // The kept tables' files: from the input sizes alone, so that they do not
    // depend on P; staged before the buckets write into them.
    let table_parts = spec
        .table_parts
        .unwrap_or_else(|| partition::table_parts(raw_total));
    // P rounded up to a divisor of the files (when not given), so that every file
    // lies inside one bucket and none is merged from pieces; smaller buckets
    // still fit the budget.
    let p = match spec.partitions {
        None => partition::aligned(p, table_parts),
        Some(_) => p,
    };
    let mut kept_targets = Vec::with_capacity(regs.len());
    for r in &regs {
        let name = r.table.name;
        let files = (0..table_parts)
            .map(|s| staged.create_path(&kept_file(out, name, s)))
            .collect::<Result<Vec<_>>>()?;
        kept_targets.push(kept::KeptTarget {
            files,
            pieces: tmp.path().join("out").join(name),
        });
    }
    // Steps: reading, partitioning, one a bucket, writing.
    let steps = p as u64 + 3;
    progress(
        &format!("partitioning sources into {p} bucket(s)"),
        1,
        steps,
    );
    let t1 = Instant::now();
    timings.insert("register".into(), t0.elapsed().as_secs_f64());
    // The tables are partitioned at once, each in a task of its own (the
    // runtime has one thread a core), as many at once as keep P files each under
    // the open-file limit; a writer holds fewer than CHUNK rows a bucket.
    let at_once = (partition::open_files_allowed() / p).clamp(1, regs.len());
    let mut parts = Vec::with_capacity(regs.len());
    for group in regs.chunks(at_once) {
        let mut tasks = Vec::with_capacity(group.len());
        for r in group {
            let name = r.table.name;
            let q = format!(
                "SELECT r.*, CAST({} AS {id_type}) AS __pid FROM raw_{name} r",
                r.exprs["customer_id"]
            );
            let df = ctx.sql(&q).await.map_err(|e| df_err(&r.path, e))?;
            let schema = df.schema().as_arrow().clone();
            let dir = tmp.path().join("parts").join(name);
            // Half the budget for the rows pending in the tables split at once.
            let pending = budget / (2 * group.len());
            let mut split = partition::Partitioner::new(&schema, p, &dir, pending)?;
            let path = r.path.clone();
            tasks.push(tokio::spawn(async move {
                let mut stream = df.execute_stream().await.map_err(|e| df_err(&path, e))?;
                while let Some(b) = stream.next().await {
                    split.push(&b.map_err(|e| df_err(&path, e))?, &path)?;
                }
                split.finish()
            }));
        }
        for (t, r) in tasks.into_iter().zip(group) {
            parts.push(t.await.map_err(|e| df_err(&r.path, e))??);
        }
    }
    drop(ctx);
    timings.insert("partition".into(), t1.elapsed().as_secs_f64());

    // 3. Per bucket: tag every row with the first rule it breaks (rejected rows
    // keep their raw columns, kept rows take the canonical ones), then the feature
    // SQL over the kept rows. Customers come first: the others check their ids
    // against them.
    progress("source rules and features, a bucket at a time", 2, steps);
    let (as_of_year, _, _) = civil_from_days(as_of);
    let (sql, category_groups_absent) = expand_groups(
        &spec.sql.0,
        &spec.category_groups.0,
        &spec.category_groups.1,
        spec.sql.0 == DEFAULT_SQL,
    )?;
    let sql = sql
        .replace("${as_of_year}", &as_of_year.to_string())
        .replace("${as_of}", &ts_literal(as_of));
    let job = BucketJob {
        spec,
        regs: &regs,
        parts: &parts,
        kept: &kept_targets,
        sql: &sql,
        as_of,
        since,
        id_type,
        tmp: tmp.path(),
        out,
        budget: budget / workers,
        progress,
        finished: std::sync::atomic::AtomicU64::new(0),
    };
    let mut tables: Vec<TableAcc> = regs.iter().map(|_| TableAcc::default()).collect();
    let mut feature_rows = Vec::new();
    let mut returns: Option<ReturnsSummary> = None;
    let (mut rules_s, mut features_s) = (0.0, 0.0);
    for done in job.run_all(p, workers)? {
        for (acc, t) in tables.iter_mut().zip(done.tables) {
            acc.rows_in += t.rows_in;
            acc.kept += t.split.kept;
            acc.ids_seen += t.split.ids_seen;
            for (k, v) in t.split.rejected {
                *acc.rejected.entry(k).or_default() += v;
            }
            acc.kept_written += t.kept_written;
            for (file, piece) in t.kept_pieces {
                acc.kept_pieces.entry(file).or_default().push(piece);
            }
            acc.rej_parts.extend(t.rej_part);
            acc.part_schemas = Some(t.split.part_schemas);
        }
        feature_rows.push(done.rows);
        returns = ReturnsSummary::add(returns, done.returns);
        rules_s += done.rules_s;
        features_s += done.features_s;
    }
    // The raw rows are no longer needed (one bucket keeps them in memory).
    let read_rows: Vec<u64> = parts.iter().map(|p| p.rows).collect();
    drop(parts);
    timings.insert("rules".into(), rules_s);
    timings.insert("features".into(), features_s);

    // 4. The buckets' kept rows and rejects merged back in source order.
    progress("writing tables", steps - 1, steps);
    let t3 = Instant::now();
    let (sources, customers_seen) = bucket::merge_tables(
        &mut staged,
        out,
        &regs,
        &kept_targets,
        tables,
        &read_rows,
        p,
    )?;
    timings.insert("merge".into(), t3.elapsed().as_secs_f64());

    // 5. The feature rows in id order, without the features whose source columns
    // are absent or that hold one value for every customer; summarised.
    let sql_path = PathBuf::from(&spec.sql.1);
    let present: HashSet<(String, String)> = regs
        .iter()
        .flat_map(|r| {
            r.how
                .iter()
                .filter(|(_, h)| h.as_str() != "absent")
                .map(|(c, _)| (r.table.name.to_string(), c.clone()))
        })
        .collect();
    let fpath = out.join("features.parquet");
    let t4 = Instant::now();
    let rows::Assembled {
        features,
        constant,
        dropped,
        customers,
    } = rows::assemble(
        feature_rows,
        &declared(&spec.sql.0),
        &present,
        &rows::Target {
            sql_path: &sql_path,
            tx_path: &tx.path,
            scratch: tmp.path(),
            out: &fpath,
        },
        &mut staged,
    )?;
    timings.insert("assemble".into(), t4.elapsed().as_secs_f64());
    let features_xxh64 = match staged.temporary(&fpath) {
        Some(t) => crate::pipeline::hash_file(&t)?.xxh64,
        None => String::new(),
    };

    let report = FeaturesReport {
        format: "segmenta-features".into(),
        version: 3,
        sql: spec.sql.1.clone(),
        as_of: format_date(as_of),
        as_of_source: as_of_source.unwrap_or_else(|| "given".into()),
        since: since.map(format_date),
        since_source,
        category_groups: spec.category_groups.1.clone(),
        category_groups_absent,
        returns,
        constant,
        customers_seen,
        customers,
        partitions: p as u64,
        table_parts: table_parts as u64,
        id_type: match id_type {
            "BIGINT" => "integer".into(),
            _ => "text".into(),
        },
        id_type_why: ids.why,
        features_xxh64,
        sources,
        features,
        dropped,
        timings,
    };
    write_json(&mut staged, &out.join("features.json"), &report)?;
    staged.commit()?;
    remove_stale(out, &report)?;
    Ok(report)
}

/// Removes the kept tables and rejects an earlier run left in `out` that this run
/// did not write (a table absent now, a file of a table split differently, a kept
/// table in the one-file layout of earlier versions, rejects that are none now),
/// so that no later stage reads another run's rows.
fn remove_stale(out: &Path, report: &FeaturesReport) -> Result<()> {
    let mut written: HashSet<PathBuf> = HashSet::new();
    for s in &report.sources {
        written.extend(s.rejects_file.clone());
        for i in 0..report.table_parts as usize {
            written.insert(kept_file(out, &s.table, i));
        }
    }
    let parquet = |p: &Path| p.extension().is_some_and(|x| x == "parquet");
    for dir in [out.join("tables"), out.join("rejects")] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.map_err(|e| Error::io(&dir, e))?.path();
            if p.is_dir() {
                for f in std::fs::read_dir(&p).map_err(|e| Error::io(&p, e))? {
                    let f = f.map_err(|e| Error::io(&p, e))?.path();
                    if parquet(&f) && !written.contains(&f) {
                        std::fs::remove_file(&f).map_err(|e| Error::io(&f, e))?;
                    }
                }
                // A table absent now: its folder goes once empty.
                let _ = std::fs::remove_dir(&p);
            } else if parquet(&p) && !written.contains(&p) {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
    }
    Ok(())
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build()
}

/// Runs `q` and collects its batches (errors name `path`).
async fn collect(
    ctx: &SessionContext,
    q: &str,
    path: &Path,
) -> Result<Vec<arrow::array::RecordBatch>> {
    ctx.sql(q)
        .await
        .map_err(|e| df_err(path, e))?
        .collect()
        .await
        .map_err(|e| df_err(path, e))
}

async fn scalar_u64(ctx: &SessionContext, q: &str, path: &Path) -> Result<u64> {
    let b = collect(ctx, q, path).await?;
    let a = cast(b[0].column(0), &DataType::Int64).map_err(|e| df_err(path, e))?;
    Ok(a.as_primitive::<Int64Type>().value(0) as u64)
}
