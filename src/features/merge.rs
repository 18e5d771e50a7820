//! Bucket files merged back in source order (by `__row`), in batches of [`CHUNK`]
//! rows, so that the files do not depend on the number of buckets: the kept
//! tables' files that straddle buckets, and the rejects.

use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, UInt64Array};
use arrow::compute::interleave;
use arrow::datatypes::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::df_err;
use super::partition::{reader, PartReader, CHUNK};
use crate::error::Result;

/// One bucket's file in the merge: its current batch and row.
struct Cursor {
    reader: PartReader,
    batch: RecordBatch,
    rows: UInt64Array,
    at: usize,
    slot: usize,
}

/// Merges bucket files, each sorted by `__row` (its last column), into Parquet
/// `file` (at `out`) in `__row` order, without `__row`, in batches of [`CHUNK`]
/// rows. Returns the rows written.
pub(super) fn merge_parts(
    parts: &[PathBuf],
    schema: &SchemaRef,
    file: std::fs::File,
    props: WriterProperties,
    out: &Path,
) -> Result<u64> {
    let ncols = schema.fields().len() - 1;
    let out_schema = Arc::new(Schema::new(schema.fields()[..ncols].to_vec()));
    let mut w =
        ArrowWriter::try_new(file, out_schema.clone(), Some(props)).map_err(|e| df_err(out, e))?;
    let written = merge_into(parts, schema, &out_schema, &mut w, out)?;
    w.close().map_err(|e| df_err(out, e))?;
    Ok(written)
}

fn merge_into(
    parts: &[PathBuf],
    schema: &SchemaRef,
    out_schema: &SchemaRef,
    w: &mut ArrowWriter<std::fs::File>,
    out: &Path,
) -> Result<u64> {
    let mut pool: Vec<RecordBatch> = Vec::new();
    let mut cursors: Vec<Cursor> = Vec::new();
    let mut heap = BinaryHeap::new();
    let next = |c: &mut PartReader, path: &Path| -> Result<Option<RecordBatch>> {
        loop {
            match c.next() {
                None => return Ok(None),
                Some(b) => {
                    let b = b.map_err(|e| df_err(path, e))?;
                    if b.num_rows() > 0 {
                        return Ok(Some(b));
                    }
                }
            }
        }
    };
    let rows_of =
        |b: &RecordBatch| -> UInt64Array { b.column(b.num_columns() - 1).as_primitive().clone() };
    for (i, path) in parts.iter().enumerate() {
        let mut reader = reader(path)?;
        if let Some(batch) = next(&mut reader, path)? {
            let rows = rows_of(&batch);
            heap.push(std::cmp::Reverse((rows.value(0), i)));
            pool.push(batch.clone());
            cursors.push(Cursor {
                reader,
                batch,
                rows,
                at: 0,
                slot: pool.len() - 1,
            });
        } else {
            // Keeps cursor indices equal to part indices; never in the heap.
            cursors.push(Cursor {
                reader,
                batch: RecordBatch::new_empty(schema.clone()),
                rows: UInt64Array::from(Vec::<u64>::new()),
                at: 0,
                slot: usize::MAX,
            });
        }
    }
    let ncols = out_schema.fields().len();
    let mut picks: Vec<(usize, usize)> = Vec::with_capacity(CHUNK);
    let mut written = 0u64;
    let emit = |pool: &[RecordBatch],
                picks: &[(usize, usize)],
                w: &mut ArrowWriter<std::fs::File>|
     -> Result<()> {
        let cols = (0..ncols)
            .map(|c| {
                let arrays: Vec<&dyn Array> = pool.iter().map(|b| b.column(c).as_ref()).collect();
                interleave(&arrays, picks)
            })
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| df_err(out, e))?;
        let b = RecordBatch::try_new(out_schema.clone(), cols).map_err(|e| df_err(out, e))?;
        w.write(&b).map_err(|e| df_err(out, e))
    };
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        // A run: this bucket's rows up to the next row of any other bucket (a
        // source that lists a customer's rows together gives long ones).
        let limit = heap.peek().map_or(u64::MAX, |std::cmp::Reverse((r, _))| *r);
        let c = &mut cursors[i];
        loop {
            picks.push((c.slot, c.at));
            c.at += 1;
            if c.at == c.batch.num_rows() || picks.len() == CHUNK || c.rows.value(c.at) > limit {
                break;
            }
        }
        if c.at == c.batch.num_rows() {
            match next(&mut c.reader, &parts[i])? {
                Some(b) => {
                    c.rows = rows_of(&b);
                    c.at = 0;
                    pool.push(b.clone());
                    c.slot = pool.len() - 1;
                    c.batch = b;
                    heap.push(std::cmp::Reverse((c.rows.value(0), i)));
                }
                None => c.slot = usize::MAX,
            }
        } else {
            heap.push(std::cmp::Reverse((c.rows.value(c.at), i)));
        }
        if picks.len() == CHUNK {
            emit(&pool, &picks, w)?;
            written += picks.len() as u64;
            picks.clear();
            // Only the cursors' current batches stay in the pool.
            pool.clear();
            for c in cursors.iter_mut().filter(|c| c.slot != usize::MAX) {
                pool.push(c.batch.clone());
                c.slot = pool.len() - 1;
            }
        }
    }
    if !picks.is_empty() {
        emit(&pool, &picks, w)?;
        written += picks.len() as u64;
    }
    Ok(written)
}
