//! The buckets' feature rows into `features.parquet`, held once at most.
//!
//! Each bucket sorts its rows by customer id and spills them to a scratch file
//! ([`spill`]), keeping only the ids. Then ([`assemble`]) the ids alone give the
//! global order, the rows stream from the spills in that order into a scratch
//! Parquet file in batches of [`CHUNK`] rows, each feature is summarised from that
//! file a column at a time, and the file becomes `features.parquet` (rewritten
//! without the features that hold one value for every customer, when there are
//! any). Memory: the ids and one small batch a bucket, not the feature table twice.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::{ArrowWriter, ProjectionMask};

use super::partition::{reader, PartReader, PartWriter, CHUNK};
use super::summary::{summarise, Declared};
use super::{df_err, props, FeatureSummary};
use crate::error::{Error, Result};
use crate::io::Staged;

/// Rows a spilled batch holds: the merge holds one a bucket.
const SPILL_ROWS: usize = 1024;

/// One bucket's feature rows: spilled (sorted by id) and its ids, in that order.
#[derive(Default)]
pub(super) struct BucketRows {
    file: Option<PathBuf>,
    ids: Option<ArrayRef>,
    schema: Option<SchemaRef>,
}

/// Sorts one bucket's feature rows by customer id (the first column) and writes
/// them to `path`; keeps the sorted ids.
pub(super) fn spill(
    batches: Vec<RecordBatch>,
    path: PathBuf,
    sql_path: &Path,
) -> Result<BucketRows> {
    let schema = batches.first().map(|b| b.schema());
    let sorted = super::bucket::sort_by_id(batches, sql_path)?;
    if sorted.is_empty() {
        return Ok(BucketRows {
            schema,
            ..BucketRows::default()
        });
    }
    let ids: Vec<&dyn Array> = sorted.iter().map(|b| b.column(0).as_ref()).collect();
    let ids = arrow::compute::concat(&ids).map_err(|e| df_err(sql_path, e))?;
    let mut w = PartWriter::new(path);
    for b in &sorted {
        let mut at = 0;
        while at < b.num_rows() {
            let n = SPILL_ROWS.min(b.num_rows() - at);
            w.write(&b.slice(at, n))?;
            at += n;
        }
    }
    Ok(BucketRows {
        file: w.finish()?,
        ids: Some(ids),
        schema,
    })
}

/// What the feature table came to.
pub(super) struct Assembled {
    pub(super) features: Vec<FeatureSummary>,
    /// Features that hold one value for every customer (left out), and the value.
    pub(super) constant: Vec<(String, Option<f64>)>,
    /// Features left out for a source column that is absent, and the columns.
    pub(super) dropped: Vec<(String, String)>,
    pub(super) customers: u64,
}

/// Where the feature table goes and comes from.
pub(super) struct Target<'a> {
    /// The feature SQL's name (for its errors).
    pub(super) sql_path: &'a Path,
    /// The transactions source (an empty result names it).
    pub(super) tx_path: &'a Path,
    /// The scratch folder.
    pub(super) scratch: &'a Path,
    /// `features.parquet`, staged.
    pub(super) out: &'a Path,
}

/// Writes the buckets' rows as `features.parquet` (staged in `staged`), in id
/// order, without the features whose sources are absent (`decl`, `present`) or
/// that hold one value for every customer; summarises each feature.
pub(super) fn assemble(
    buckets: Vec<BucketRows>,
    decl: &[Declared],
    present: &HashSet<(String, String)>,
    at: &Target<'_>,
    staged: &mut Staged,
) -> Result<Assembled> {
    let empty = || Error::Empty {
        path: at.tx_path.to_path_buf(),
    };
    let Some(schema) = buckets.iter().find_map(|b| b.schema.clone()) else {
        return Err(empty());
    };
    let ids: Vec<ArrayRef> = buckets.iter().filter_map(|b| b.ids.clone()).collect();
    super::result::check_result(at.sql_path, &schema, &ids)?;
    // Features whose source columns are absent.
    let mut dropped = Vec::new();
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
    let kept_schema = Arc::new(schema.project(&keep).map_err(|e| df_err(at.out, e))?);
    if ids.is_empty() {
        return Err(empty());
    }
    // The global order: the ids alone, sorted; (bucket, row) of each output row.
    let all: Vec<&dyn Array> = ids.iter().map(|a| a.as_ref()).collect();
    let all = arrow::compute::concat(&all).map_err(|e| df_err(at.sql_path, e))?;
    let from = super::bucket::sorted_order(all, ids.iter().map(|i| i.len()))
        .map_err(|e| df_err(at.sql_path, e))?;
    drop(ids);
    let files: Vec<PathBuf> = buckets.iter().filter_map(|b| b.file.clone()).collect();
    let all_rows = at.scratch.join("features-all.parquet");
    let f = File::create(&all_rows).map_err(|e| Error::io(&all_rows, e))?;
    let mut w = ArrowWriter::try_new(f, kept_schema.clone(), Some(props()))
        .map_err(|e| df_err(&all_rows, e))?;
    gather(&files, &from, &keep, &kept_schema, &mut |b| {
        w.write(&b).map_err(|e| df_err(&all_rows, e))
    })?;
    w.close().map_err(|e| df_err(&all_rows, e))?;
    for f in files {
        let _ = std::fs::remove_file(f);
    }
    finish(
        &all_rows,
        &kept_schema,
        decl,
        dropped,
        from.len(),
        at,
        staged,
    )
}

/// Summarises each feature of `all_rows` a column at a time, leaves out the
/// constant ones, and stages the result as `features.parquet`.
fn finish(
    all_rows: &Path,
    schema: &SchemaRef,
    decl: &[Declared],
    dropped: Vec<(String, String)>,
    customers: usize,
    at: &Target<'_>,
    staged: &mut Staged,
) -> Result<Assembled> {
    let mut features = Vec::new();
    let mut constant = Vec::new();
    let mut keep = vec![0];
    for (i, f) in schema.fields().iter().enumerate().skip(1) {
        let cols = read_columns(all_rows, &[i])?
            .into_iter()
            .map(|b| b.column(0).clone())
            .collect::<Vec<_>>();
        let d = decl.iter().find(|d| &d.name == f.name());
        let s = summarise(
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
        )?;
        // A feature with one value for every customer (the luxury share of a
        // retailer without the mall's categories, say) carries no information:
        // left out, noted.
        if customers > 1 && s.min == s.max {
            constant.push((s.name.clone(), s.min));
        } else {
            keep.push(i);
            features.push(s);
        }
    }
    if keep.len() == 1 {
        return Err(Error::Source {
            path: at.tx_path.to_path_buf(),
            message: format!(
                "every feature holds one value for every customer ({}); nothing to segment on (rule: at least one feature must vary)",
                constant.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    let target = staged.create_path(at.out)?;
    if keep.len() == schema.fields().len() {
        std::fs::rename(all_rows, &target).map_err(|e| Error::io(at.out, e))?;
    } else {
        let kept = Arc::new(schema.project(&keep).map_err(|e| df_err(at.out, e))?);
        let f = File::create(&target).map_err(|e| Error::io(at.out, e))?;
        let mut w = ArrowWriter::try_new(f, kept, Some(props())).map_err(|e| df_err(at.out, e))?;
        for b in read_columns(all_rows, &keep)? {
            w.write(&b).map_err(|e| df_err(at.out, e))?;
        }
        w.close().map_err(|e| df_err(at.out, e))?;
        let _ = std::fs::remove_file(all_rows);
    }
    Ok(Assembled {
        features,
        constant,
        dropped,
        customers: customers as u64,
    })
}

/// The columns `cols` of the scratch file `path`, in batches of [`CHUNK`] rows.
fn read_columns(path: &Path, cols: &[usize]) -> Result<Vec<RecordBatch>> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| df_err(path, e))?;
    let mask = ProjectionMask::roots(b.parquet_schema(), cols.iter().copied());
    b.with_projection(mask)
        .with_batch_size(CHUNK)
        .build()
        .map_err(|e| df_err(path, e))?
        .map(|r| r.map_err(|e| df_err(path, e)))
        .collect()
}

/// A spilled bucket being read: its current batch and that batch's first row.
struct Cursor {
    reader: PartReader,
    path: PathBuf,
    batch: Option<RecordBatch>,
    base: usize,
    slot: usize,
}

/// Streams the rows `from` names ((file, row), each file's rows in increasing
/// order) out of `files`, the columns `keep`, to `emit` in batches of [`CHUNK`].
fn gather(
    files: &[PathBuf],
    from: &[(usize, usize)],
    keep: &[usize],
    schema: &SchemaRef,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut curs = files
        .iter()
        .map(|p| {
            Ok(Cursor {
                reader: reader(p)?,
                path: p.clone(),
                batch: None,
                base: 0,
                slot: usize::MAX,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut pool: Vec<RecordBatch> = Vec::new();
    for chunk in from.chunks(CHUNK) {
        pool.clear();
        for c in curs.iter_mut() {
            if let Some(b) = &c.batch {
                pool.push(b.clone());
                c.slot = pool.len() - 1;
            }
        }
        let mut picks = Vec::with_capacity(chunk.len());
        for &(f, r) in chunk {
            let c = &mut curs[f];
            if r < c.base {
                return Err(internal(&c.path));
            }
            while c.batch.as_ref().is_none_or(|b| r >= c.base + b.num_rows()) {
                if let Some(b) = &c.batch {
                    c.base += b.num_rows();
                }
                let next = c
                    .reader
                    .next()
                    .ok_or_else(|| internal(&c.path))?
                    .map_err(|e| df_err(&c.path, e))?;
                let next = next.project(keep).map_err(|e| df_err(&c.path, e))?;
                pool.push(next.clone());
                c.slot = pool.len() - 1;
                c.batch = Some(next);
            }
            picks.push((c.slot, r - c.base));
        }
        let cols = (0..keep.len())
            .map(|j| {
                let arrays: Vec<&dyn Array> = pool.iter().map(|b| b.column(j).as_ref()).collect();
                arrow::compute::interleave(&arrays, &picks)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| df_err(&curs[0].path, e))?;
        emit(RecordBatch::try_new(schema.clone(), cols).map_err(|e| df_err(&curs[0].path, e))?)?;
    }
    Ok(())
}

fn internal(path: &Path) -> Error {
    Error::Source {
        path: path.to_path_buf(),
        message: "internal error: a bucket's feature rows are not in id order".into(),
    }
}
