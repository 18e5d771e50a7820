//! A bucket's work and the merge after it: the source rules and the feature SQL
//! on one bucket's rows in a session of its own ([`BucketJob`], several buckets
//! at once on threads), then every table's bucket files merged back in source
//! order ([`merge_tables`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use datafusion::datasource::MemTable;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::kept::{KeptTarget, KeptWriter};
use super::partition::{self, PartWriter};
use super::register::{sql_type, Registered};
use super::returns::{returns_summary, ReturnsSummary};
use super::rules::{self, split_rows, tagged_sql};
use super::{df_err, kept_table, one_line, props, FeatureSpec, Progress, SourceReport};
use crate::error::{Error, Result};
use crate::io::Staged;
use crate::schema::{Kind, CANONICAL};

/// What every bucket's work shares.
pub(super) struct BucketJob<'a> {
    pub(super) spec: &'a FeatureSpec,
    pub(super) regs: &'a [Registered],
    pub(super) parts: &'a [partition::Parts],
    /// Where each table's kept rows go (in `regs` order).
    pub(super) kept: &'a [KeptTarget],
    pub(super) sql: &'a str,
    pub(super) as_of: i32,
    pub(super) since: Option<i32>,
    pub(super) id_type: &'a str,
    pub(super) tmp: &'a Path,
    pub(super) out: &'a Path,
    /// The memory budget of one bucket in flight, bytes.
    pub(super) budget: usize,
    pub(super) progress: &'a Progress<'a>,
    /// Buckets done.
    pub(super) finished: std::sync::atomic::AtomicU64,
}

/// One bucket's results.
pub(super) struct BucketDone {
    pub(super) tables: Vec<TableBucket>,
    /// Its feature rows, spilled in id order.
    pub(super) rows: super::rows::BucketRows,
    pub(super) returns: Option<ReturnsSummary>,
    pub(super) rules_s: f64,
    pub(super) features_s: f64,
}

/// One table in one bucket.
pub(super) struct TableBucket {
    pub(super) rows_in: u64,
    pub(super) split: rules::Split,
    /// Kept rows written into the files it owns (the rest went into pieces).
    pub(super) kept_written: u64,
    /// Its pieces of the kept tables' files it shares with other buckets, as
    /// (file, piece).
    pub(super) kept_pieces: Vec<(usize, PathBuf)>,
    pub(super) rej_part: Option<PathBuf>,
}

impl BucketJob<'_> {
    /// Runs the `p` buckets on `workers` threads, each with a runtime of its own
    /// and one DataFusion partition (the same sums in the same order whatever the
    /// thread count); the results in bucket order.
    pub(super) fn run_all(&self, p: usize, workers: usize) -> Result<Vec<BucketDone>> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let setup: std::sync::Mutex<Option<Error>> = std::sync::Mutex::new(None);
        let results: std::sync::Mutex<Vec<Option<Result<BucketDone>>>> =
            std::sync::Mutex::new((0..p).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..workers.clamp(1, p) {
                scope.spawn(|| {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                            let mut r = setup.lock().unwrap_or_else(|e| e.into_inner());
                            *r = Some(Error::io(self.out, e));
                            return;
                        }
                    };
                    loop {
                        if failed.load(std::sync::atomic::Ordering::Relaxed) {
                            return;
                        }
                        let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if b >= p {
                            return;
                        }
                        let done = rt.block_on(self.run(b, p));
                        let k = self
                            .finished
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                            + 1;
                        (self.progress)(
                            &format!("source rules and features: {k} of {p} bucket(s) done"),
                            2 + k,
                            p as u64 + 3,
                        );
                        if done.is_err() {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        results.lock().unwrap_or_else(|e| e.into_inner())[b] = Some(done);
                    }
                });
            }
        });
        if let Some(e) = setup.into_inner().unwrap_or_else(|e| e.into_inner()) {
            return Err(e);
        }
        let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
        // The first error in bucket order, so that a bad input names the same
        // problem whatever the thread count.
        let mut out = Vec::with_capacity(p);
        for r in results {
            match r {
                Some(Ok(d)) => out.push(d),
                Some(Err(Error::Source { message, .. }))
                    if message.contains("Resources exhausted") =>
                {
                    return Err(Error::param(
                        "--memory-mib",
                        format!(
                            "{} MiB is too small for one bucket of {p} ({} MiB per bucket in flight on {workers} thread(s)): {message} (rule: raise --memory-mib, or split further with --partitions above {p})",
                            self.spec.memory_limit >> 20,
                            self.budget >> 20
                        ),
                    ))
                }
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        if out.len() != p {
            return Err(Error::Source {
                path: self.out.to_path_buf(),
                message: "internal error: a bucket of the features stage did not run".into(),
            });
        }
        Ok(out)
    }

    /// Bucket `b`: the source rules on its raw rows (customers first: the others
    /// check their ids against them), then the feature SQL on its kept rows.
    async fn run(&self, b: usize, p: usize) -> Result<BucketDone> {
        let t = Instant::now();
        // Half of the bucket's share for DataFusion's operators; the rest holds the
        // bucket's raw and kept rows (in-memory tables, outside DataFusion's pool).
        let mut spec = self.spec.clone();
        spec.memory_limit = self.budget / 2;
        let ctx = session(&spec, self.out, partition::CHUNK, self.tmp)?;
        let mut tables = Vec::with_capacity(self.regs.len());
        let mut rows_in = Vec::with_capacity(self.regs.len());
        for (r, part) in self.regs.iter().zip(self.parts) {
            let rows = part.load(b)?;
            rows_in.push(rows.iter().map(|b| b.num_rows() as u64).sum::<u64>());
            let mem = MemTable::try_new(part.schema.clone(), vec![rows])
                .map_err(|e| df_err(&r.path, e))?;
            ctx.register_table(format!("raw_{}", r.table.name), Arc::new(mem))
                .map_err(|e| df_err(&r.path, e))?;
        }
        // The kept customers' ids (customers come first in `regs`).
        let mut known: Option<rules::Known> = None;
        for ((r, rows_in), target) in self.regs.iter().zip(rows_in).zip(self.kept) {
            let name = r.table.name;
            let sql = tagged_sql(r, &spec, self.as_of, self.since, self.id_type);
            ctx.sql(&format!("CREATE VIEW tagged_{name} AS {sql}"))
                .await
                .map_err(|e| df_err(&r.path, e))?;
            let dir = self.tmp.join("out").join(name);
            let mut kept = KeptWriter::new(b, p, target, &r.path);
            let mut rejects = PartWriter::new(dir.join(format!("rejects-{b:04}.arrow")));
            let check = known.as_ref().filter(|_| name != "customers");
            let mut split = split_rows(&ctx, r, &mut kept, &mut rejects, spec.dedup, check).await?;
            let kept_rows = std::mem::take(&mut split.kept_batches);
            if name == "customers" {
                known = Some(rules::Known::of(&kept_rows));
            }
            let mem = MemTable::try_new(split.kept_schema.clone(), vec![kept_rows])
                .map_err(|e| df_err(&r.path, e))?;
            ctx.register_table(name, Arc::new(mem))
                .map_err(|e| df_err(&r.path, e))?;
            let (kept_written, kept_pieces) = kept.finish(&split.part_schemas.0)?;
            tables.push(TableBucket {
                rows_in,
                split,
                kept_written,
                kept_pieces,
                rej_part: rejects.finish()?,
            });
        }
        empty_views(&ctx, self.regs, self.id_type, self.out).await?;
        let rules_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let batches = feature_sql(&ctx, self.sql, &spec.sql.1).await?;
        let rows = super::rows::spill(
            batches,
            self.tmp.join("features").join(format!("part-{b:04}.arrow")),
            Path::new(&spec.sql.1),
        )?;
        let tx = &self
            .regs
            .iter()
            .find(|r| r.table.name == "transactions")
            .expect("transactions is required")
            .path;
        let returns = returns_summary(&ctx, tx).await?;
        Ok(BucketDone {
            tables,
            rows,
            returns,
            rules_s,
            features_s: t.elapsed().as_secs_f64(),
        })
    }
}

/// One table's accounting over the buckets, and its buckets' output files.
#[derive(Default)]
pub(super) struct TableAcc {
    pub(super) rows_in: u64,
    pub(super) kept: u64,
    pub(super) rejected: BTreeMap<String, u64>,
    pub(super) ids_seen: u64,
    /// Kept rows the buckets wrote into the files they own.
    pub(super) kept_written: u64,
    /// The pieces of each shared file of the kept table, by file.
    pub(super) kept_pieces: BTreeMap<usize, Vec<PathBuf>>,
    pub(super) rej_parts: Vec<PathBuf>,
    pub(super) part_schemas: Option<(SchemaRef, SchemaRef)>,
}

/// A DataFusion session whose plans, and so the order in which a customer's
/// values are summed, do not depend on the data's size: one partition (outputs
/// identical whatever the thread count), joins never swapped by their inputs'
/// statistics, partial aggregation never skipped (it is skipped after 100,000 rows
/// with many groups, which a large bucket reaches and a small one does not).
/// DataFusion spills past the budget.
/// A DataFusion session in `spec`'s memory, spilling (if it must) under `tmp`.
pub(super) fn session(
    spec: &FeatureSpec,
    out: &Path,
    batch_size: usize,
    tmp: &Path,
) -> Result<SessionContext> {
    let disk = DiskManagerBuilder::default()
        .with_mode(DiskManagerMode::Directories(vec![tmp.to_path_buf()]));
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(spec.memory_limit, 1.0)
        .with_disk_manager_builder(disk)
        .build_arc()
        .map_err(|e| df_err(out, e))?;
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(batch_size)
        .set_bool("datafusion.optimizer.join_reordering", false)
        .set_usize(
            "datafusion.execution.skip_partial_aggregation_probe_rows_threshold",
            usize::MAX,
        );
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Empty views for the canonical tables without a source, so that the feature SQL
/// reads every table.
pub(super) async fn empty_views(
    ctx: &SessionContext,
    regs: &[Registered],
    id_type: &str,
    out: &Path,
) -> Result<()> {
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
                    if k == Kind::Id { id_type } else { sql_type(k) }
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
    Ok(())
}

/// Runs the feature SQL (one read-only query: no DDL (CREATE, DROP), no DML
/// (INSERT, COPY ... TO, which would write files outside --out), no statements
/// (SET, transactions)) and collects its rows.
pub(super) async fn feature_sql(
    ctx: &SessionContext,
    sql: &str,
    source: &str,
) -> Result<Vec<arrow::array::RecordBatch>> {
    let sql_path = PathBuf::from(source);
    let read_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let df = ctx
        .sql_with_options(sql, read_only)
        .await
        .map_err(|e| Error::Source {
            path: sql_path.clone(),
            message: format!(
                "feature SQL error: {} (rule: the feature SQL is one read-only SELECT query)",
                one_line(&e.to_string())
            ),
        })?;
    df.collect().await.map_err(|e| Error::Source {
        path: sql_path.clone(),
        message: format!("feature SQL failed: {}", one_line(&e.to_string())),
    })
}

/// The buckets' feature rows in one order, by customer id (the first column), as
/// one bucket's `ORDER BY` gives them; empty batches left out.
pub(super) fn sort_by_id(
    batches: Vec<arrow::array::RecordBatch>,
    sql_path: &Path,
) -> Result<Vec<arrow::array::RecordBatch>> {
    let Some(first) = batches.first() else {
        return Ok(batches);
    };
    let schema = first.schema();
    let err = |e| df_err(sql_path, e);
    // The ids alone are concatenated and sorted; the rows are gathered from the
    // buckets' batches a chunk at a time, so the table is held twice at most.
    let ids: Vec<&dyn arrow::array::Array> = batches.iter().map(|b| b.column(0).as_ref()).collect();
    let ids = arrow::compute::concat(&ids).map_err(err)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let from = sorted_order(ids, batches.iter().map(|b| b.num_rows())).map_err(err)?;
    let mut sorted = Vec::with_capacity(from.len().div_ceil(partition::CHUNK));
    for chunk in from.chunks(partition::CHUNK) {
        let columns = (0..schema.fields().len())
            .map(|j| {
                let col: Vec<&dyn arrow::array::Array> =
                    batches.iter().map(|b| b.column(j).as_ref()).collect();
                arrow::compute::interleave(&col, chunk)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(err)?;
        sorted.push(arrow::array::RecordBatch::try_new(schema.clone(), columns).map_err(err)?);
    }
    Ok(sorted)
}

/// The order of `ids` (the concatenation of pieces of lengths `lens`), as
/// (piece, row in the piece) of each row in id order.
pub(super) fn sorted_order(
    ids: arrow::array::ArrayRef,
    lens: impl Iterator<Item = usize>,
) -> arrow::error::Result<Vec<(usize, usize)>> {
    let idx = arrow::compute::sort_to_indices(&ids, None, None)?;
    drop(ids);
    let mut starts = Vec::new();
    let mut at = 0usize;
    for n in lens {
        starts.push(at);
        at += n;
    }
    Ok(idx
        .values()
        .iter()
        .map(|&g| {
            let g = g as usize;
            let b = starts.partition_point(|&s| s <= g) - 1;
            (b, g - starts[b])
        })
        .collect())
}

pub(super) fn accounting(path: &Path, rows_in: u64, kept: u64, rejected: u64) -> Error {
    Error::Source {
        path: path.to_path_buf(),
        message: format!(
            "internal accounting error: {rows_in} rows in, {kept} kept, {rejected} rejected (rule: rows in = kept + rejected)"
        ),
    }
}

/// The kept tables: read again by later stages, so quick to decode.
pub(super) fn kept_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build()
}

/// The kept tables' files that straddle buckets merged from their pieces (in
/// source order), each table's rejects merged into `rejects/<table>.parquet`
/// (staged in `staged`), all on the pool's threads; then every table's accounting
/// checked against the `read_rows` its source gave. Returns the tables' reports
/// and the distinct customers seen in transactions.
pub(super) fn merge_tables(
    staged: &mut Staged,
    out: &Path,
    regs: &[Registered],
    targets: &[KeptTarget],
    tables: Vec<TableAcc>,
    read_rows: &[u64],
    p: usize,
) -> Result<(Vec<SourceReport>, u64)> {
    enum Job<'a> {
        Kept(usize, &'a Path, &'a [PathBuf]),
        Rejects(usize, PathBuf, std::fs::File),
    }
    let mut jobs = Vec::new();
    for (i, ((r, acc), target)) in regs.iter().zip(&tables).zip(targets).enumerate() {
        if acc.part_schemas.is_none() {
            return Err(Error::Empty {
                path: r.path.clone(),
            });
        }
        let parts = target.files.len();
        for (s, file) in target.files.iter().enumerate() {
            if partition::owner(s, parts, p).is_none() {
                let pieces = acc.kept_pieces.get(&s).map_or(&[][..], |v| v.as_slice());
                jobs.push(Job::Kept(i, file, pieces));
            }
        }
        if !acc.rej_parts.is_empty() {
            let path = out
                .join("rejects")
                .join(format!("{}.parquet", r.table.name));
            let f = staged.create(&path)?;
            jobs.push(Job::Rejects(i, path, f));
        }
    }
    let done: Vec<(usize, bool, u64)> = {
        use rayon::prelude::*;
        jobs.into_par_iter()
            .map(|job| -> Result<(usize, bool, u64)> {
                match job {
                    Job::Kept(i, file, pieces) => {
                        let (kept_schema, _) = tables[i].part_schemas.clone().expect("checked");
                        let f = std::fs::File::create(file).map_err(|e| Error::io(file, e))?;
                        let n =
                            super::merge::merge_parts(pieces, &kept_schema, f, kept_props(), file)?;
                        Ok((i, false, n))
                    }
                    Job::Rejects(i, path, f) => {
                        let (_, rej_schema) = tables[i].part_schemas.clone().expect("checked");
                        let n = super::merge::merge_parts(
                            &tables[i].rej_parts,
                            &rej_schema,
                            f,
                            props(),
                            &path,
                        )?;
                        Ok((i, true, n))
                    }
                }
            })
            .collect::<Result<Vec<_>>>()?
    };
    let mut merged: Vec<(u64, Option<u64>)> = vec![(0, None); regs.len()];
    for (i, rejects, n) in done {
        match rejects {
            true => merged[i].1 = Some(n),
            false => merged[i].0 += n,
        }
    }
    let mut sources = Vec::new();
    let mut customers_seen = 0;
    for ((r, acc), (merged_kept, merged_rejects)) in regs.iter().zip(tables).zip(merged) {
        let kept_rows = acc.kept_written + merged_kept;
        let name = r.table.name;
        let rows_rejected: u64 = acc.rejected.values().sum();
        let read = read_rows[sources.len()];
        if acc.rows_in != read
            || acc.rows_in != kept_rows + rows_rejected
            || kept_rows != acc.kept
            || merged_rejects.unwrap_or(0) != rows_rejected
        {
            return Err(accounting(&r.path, acc.rows_in, kept_rows, rows_rejected));
        }
        if name == "transactions" {
            customers_seen = acc.ids_seen;
        }
        sources.push(SourceReport {
            table: name.to_string(),
            path: r.path.clone(),
            rows_in: acc.rows_in,
            rows_kept: kept_rows,
            rows_rejected,
            rejected: acc.rejected,
            columns: r.how.clone(),
            rejects_file: merged_rejects
                .map(|_| out.join("rejects").join(format!("{name}.parquet"))),
            kept_file: kept_table(out, name),
        });
    }
    Ok((sources, customers_seen))
}
