//! A bucket's kept rows, written into the kept tables' files.
//!
//! Each kept table is written in S files (`tables/<table>/part-NNNN.parquet`, S
//! from [`partition::table_parts`]), file `s` holding the customers whose id hash
//! falls in the `s`-th of S equal ranges, in source order. S follows from the
//! input sizes only, so the files do not depend on the number of buckets P:
//! - a file whose hash range lies inside one bucket is written by that bucket
//!   directly ([`KeptWriter`], no merge);
//! - a file whose range straddles buckets gets a piece from each (with `__row`),
//!   merged in source order afterwards (`merge::merge_parts`).
//!
//! At the default budget S is about three times P, so most files are written
//! directly and the later stages read a customer's rows from one file.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use parquet::arrow::ArrowWriter;

use super::df_err;
use super::partition::{self, bucket_of, id_hashes, PartWriter, CHUNK};
use crate::error::{Error, Result};

/// Where one table's files go: the final (staged) path of each of its S files,
/// and a folder for the pieces of the files that straddle buckets.
pub(super) struct KeptTarget {
    pub(super) files: Vec<PathBuf>,
    pub(super) pieces: PathBuf,
}

/// One file of the kept table as a bucket sees it.
enum Slot {
    /// Wholly in this bucket: written here, in batches of [`CHUNK`] rows.
    Owned {
        path: PathBuf,
        w: Option<ArrowWriter<File>>,
        pending: Vec<RecordBatch>,
        rows: usize,
    },
    /// Shared with other buckets: this bucket's piece, `__row` kept.
    Shared(PartWriter),
}

/// Writes bucket `b`'s kept rows of one table (the canonical columns, `__row`
/// last, in source order) into the files its hash range covers.
pub(super) struct KeptWriter {
    b: usize,
    p: usize,
    parts: usize,
    first: usize,
    slots: Vec<Slot>,
    source: PathBuf,
    /// Rows written into the files this bucket owns.
    rows: u64,
}

impl KeptWriter {
    /// The writer of bucket `b` of `p` into `target`; `source` names the table in
    /// errors.
    pub(super) fn new(b: usize, p: usize, target: &KeptTarget, source: &Path) -> KeptWriter {
        let parts = target.files.len();
        let (lo, hi) = partition::hash_range(b, p);
        let (first, last) = (bucket_of(lo, parts), bucket_of(hi, parts));
        let slots = (first..=last)
            .map(|s| match partition::owner(s, parts, p) {
                Some(_) => Slot::Owned {
                    path: target.files[s].clone(),
                    w: None,
                    pending: Vec::new(),
                    rows: 0,
                },
                None => Slot::Shared(PartWriter::new(
                    target.pieces.join(format!("part-{s:04}-{b:04}.arrow")),
                )),
            })
            .collect();
        KeptWriter {
            b,
            p,
            parts,
            first,
            slots,
            source: source.to_path_buf(),
            rows: 0,
        }
    }

    /// Adds kept rows (`__row` last; the customer id in column `id`).
    pub(super) fn write(&mut self, batch: &RecordBatch, id: usize) -> Result<()> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let hashes = id_hashes(batch.column(id)).map_err(|e| df_err(&self.source, e))?;
        let mut slot_of = Vec::with_capacity(n);
        for h in hashes {
            let h = h.ok_or_else(|| self.internal("a kept row without a customer id"))?;
            let s = bucket_of(h, self.parts);
            if bucket_of(h, self.p) != self.b
                || s < self.first
                || s - self.first >= self.slots.len()
            {
                return Err(self.internal("a kept row in another bucket than its customer's"));
            }
            slot_of.push((s - self.first) as u32);
        }
        if self.slots.len() == 1 {
            return self.push(0, batch.clone());
        }
        // Grouped by file, in source order within each.
        let (grouped, start) = partition::group_rows(batch, &slot_of, self.slots.len())
            .map_err(|e| df_err(&self.source, e))?;
        for k in 0..self.slots.len() {
            let (lo, hi) = (start[k] as usize, start[k + 1] as usize);
            if lo < hi {
                self.push(k, grouped.slice(lo, hi - lo))?;
            }
        }
        Ok(())
    }

    fn internal(&self, what: &str) -> Error {
        Error::Source {
            path: self.source.clone(),
            message: format!("internal error: {what} (rule: a customer's rows share one bucket)"),
        }
    }

    fn push(&mut self, k: usize, b: RecordBatch) -> Result<()> {
        if matches!(self.slots[k], Slot::Owned { .. }) {
            self.rows += b.num_rows() as u64;
        }
        match &mut self.slots[k] {
            Slot::Shared(w) => w.write(&b),
            Slot::Owned {
                path,
                w,
                pending,
                rows,
            } => {
                *rows += b.num_rows();
                pending.push(b);
                while *rows >= CHUNK {
                    emit(path, w, pending, rows, CHUNK)?;
                }
                Ok(())
            }
        }
    }

    /// Closes the files this bucket owns (written even when empty, with the kept
    /// columns of `schema`, `__row` last) and returns the rows written into them
    /// and the pieces it wrote for shared files, as (file, piece).
    pub(super) fn finish(self, schema: &SchemaRef) -> Result<(u64, Vec<(usize, PathBuf)>)> {
        let mut pieces = Vec::new();
        for (k, slot) in self.slots.into_iter().enumerate() {
            match slot {
                Slot::Shared(w) => {
                    if let Some(piece) = w.finish()? {
                        pieces.push((self.first + k, piece));
                    }
                }
                Slot::Owned {
                    path,
                    mut w,
                    mut pending,
                    mut rows,
                } => {
                    if rows > 0 {
                        let n = rows;
                        emit(&path, &mut w, &mut pending, &mut rows, n)?;
                    }
                    let w = match w {
                        Some(w) => w,
                        None => open(&path, &without_row(schema))?,
                    };
                    w.close().map_err(|e| df_err(&path, e))?;
                }
            }
        }
        Ok((self.rows, pieces))
    }
}

/// `schema` without its last column (`__row`).
pub(super) fn without_row(schema: &Schema) -> SchemaRef {
    let n = schema.fields().len() - 1;
    Arc::new(Schema::new(schema.fields()[..n].to_vec()))
}

fn open(path: &Path, schema: &SchemaRef) -> Result<ArrowWriter<File>> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    ArrowWriter::try_new(f, schema.clone(), Some(super::bucket::kept_props()))
        .map_err(|e| df_err(path, e))
}

/// Writes the first `n` pending rows as one batch, without `__row`.
fn emit(
    path: &Path,
    w: &mut Option<ArrowWriter<File>>,
    pending: &mut Vec<RecordBatch>,
    rows: &mut usize,
    n: usize,
) -> Result<()> {
    let schema = without_row(&pending[0].schema());
    let ncols = schema.fields().len();
    let mut take = Vec::new();
    let mut need = n;
    let mut rest = Vec::new();
    for b in pending.drain(..) {
        if need == 0 {
            rest.push(b);
        } else if b.num_rows() <= need {
            need -= b.num_rows();
            take.push(b);
        } else {
            take.push(b.slice(0, need));
            rest.push(b.slice(need, b.num_rows() - need));
            need = 0;
        }
    }
    *pending = rest;
    *rows -= n;
    let mut take: Vec<RecordBatch> = take
        .iter()
        .map(|b| {
            RecordBatch::try_new(schema.clone(), b.columns()[..ncols].to_vec())
                .map_err(|e| df_err(path, e))
        })
        .collect::<Result<_>>()?;
    let batch = match take.len() {
        1 => take.pop().expect("one"),
        _ => arrow::compute::concat_batches(&schema, take.iter()).map_err(|e| df_err(path, e))?,
    };
    if w.is_none() {
        *w = Some(open(path, &schema)?);
    }
    w.as_mut()
        .expect("just opened")
        .write(&batch)
        .map_err(|e| df_err(path, e))
}
