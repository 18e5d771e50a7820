//! The partition seam: every raw source is streamed once into P buckets by a
//! seeded hash of its canonical customer id, so that a bucket holds every row of
//! its customers in every table, and the per-customer work (the source rules, the
//! duplicate lines, the known-customer check, the feature SQL and its returns
//! netting) runs one bucket at a time, in memory bounded by the budget instead of
//! by the number of customers.
//!
//! Outputs do not depend on P:
//! - every row carries its position in its source (`__row`); a bucket's kept rows
//!   and rejects are written in that order, and the buckets are merged back by it
//!   (`merge::merge_parts`), so `tables/` and `rejects/` hold the source order;
//! - a customer's rows reach the feature SQL in source order whatever bucket they
//!   are in, so its sums add in the same order; the buckets' feature rows are
//!   sorted by customer id, as the SQL's own `ORDER BY` does with one bucket;
//! - every output is written in batches of [`CHUNK`] rows, so the Parquet pages
//!   break at the same rows.
//!
//! A bucket is a range of the hash (`bucket = h·P / 2⁶⁴`), not `h mod P`. Rows
//! without a customer id (rejected by the rules) are spread by a hash of their
//! position.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::{IpcWriteOptions, StreamWriter};
use arrow_ipc::CompressionType;
use twox_hash::XxHash64;

use super::df_err;
use crate::error::{Error, Result};

/// The column that carries a row's position in its source.
pub(super) const ROW: &str = "__row";
/// Rows per batch of every output file (and of the merge).
pub(super) const CHUNK: usize = 8192;
/// The fewest rows a bucket file's batches hold (but the last), however small
/// the budget.
pub(super) const MIN_FLUSH_ROWS: usize = 128;
/// Seed of the customer-id hash.
const HASH_SEED: u64 = 0x7365_676d_656e_7461;
/// A bucket's working memory as a multiple of its raw rows held in memory: the raw
/// rows, the kept rows, and the hash tables of the rules and of the feature SQL.
pub const BUCKET_WORKING_FACTOR: u64 = 4;
/// The most buckets (one open file per bucket while a table is partitioned or
/// merged): enough for the story's mall (16.3M customers, about 110 GB of raw rows
/// in memory: 573 buckets at the default budget on two cores, 1,024 once aligned).
pub const MAX_PARTITIONS: usize = 1024;
/// Files a pass keeps open at once where the process's limit cannot be read: the
/// tables are partitioned together while `tables × P` stays under the allowance
/// ([`open_files_allowed`]).
pub const MAX_OPEN_FILES: usize = 512;

/// The bucket files a pass may keep open at once: half the process's soft limit
/// on open files (the rest is left to the readers, the kept-table writers and
/// whatever else the process holds), at least [`MAX_OPEN_FILES`] / 2 and at most
/// 8,192; [`MAX_OPEN_FILES`] where the limit cannot be read. The command line
/// raises the soft limit to the hard one, so that all the tables of a large
/// mall are split at once, each on a thread.
pub fn open_files_allowed() -> usize {
    #[cfg(unix)]
    {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
            let soft = usize::try_from(r.rlim_cur).unwrap_or(usize::MAX);
            return (soft / 2).clamp(MAX_OPEN_FILES / 2, 8192);
        }
    }
    MAX_OPEN_FILES
}

/// The number of buckets for `raw_bytes` of raw rows in memory and a budget of
/// `budget` bytes: `ceil(raw_bytes × BUCKET_WORKING_FACTOR / budget)`, at least 1,
/// at most [`MAX_PARTITIONS`].
pub fn partition_count(raw_bytes: u64, budget: usize) -> usize {
    let need = raw_bytes.saturating_mul(BUCKET_WORKING_FACTOR);
    (need.div_ceil(budget.max(1) as u64) as usize).clamp(1, MAX_PARTITIONS)
}

/// Sources smaller than this in memory run as one bucket.
pub const SPLIT_ABOVE: u64 = 64 << 20;

/// The number of buckets and of buckets in flight at once (threads) for
/// `raw_bytes` of raw rows in memory, a budget of `budget` bytes and `threads`
/// threads: each bucket in flight gets `budget / workers`, so P =
/// [`partition_count`]`(raw_bytes, budget / workers)`, and at least one bucket per
/// worker once the sources pass [`SPLIT_ABOVE`] (below it, one thread).
/// `given`: `--partitions`, run on as many threads as there are buckets and as
/// their share of the budget allows.
///
/// A bucket needs `raw_bytes × BUCKET_WORKING_FACTOR / P`; when even one bucket
/// in flight needs more than the budget (at [`MAX_PARTITIONS`], or at the given
/// P), the error names `--memory-mib`, what a bucket needs and what would fit.
pub fn plan(
    raw_bytes: u64,
    budget: usize,
    threads: usize,
    given: Option<usize>,
) -> Result<(usize, usize)> {
    let threads = threads.max(1);
    let p = match given {
        Some(p) => p,
        None if raw_bytes <= SPLIT_ABOVE => partition_count(raw_bytes, budget),
        None => partition_count(raw_bytes, budget / threads)
            .max(threads)
            .min(MAX_PARTITIONS),
    };
    let need = raw_bytes
        .saturating_mul(BUCKET_WORKING_FACTOR)
        .div_ceil(p as u64)
        .max(1);
    let fits = (budget as u64 / need) as usize;
    if fits == 0 {
        let mib = |b: u64| b.div_ceil(1 << 20);
        let more = partition_count(raw_bytes, budget);
        let split = match given {
            Some(_) if more <= MAX_PARTITIONS && more > p => {
                format!(", or --partitions {more} or more")
            }
            _ => String::new(),
        };
        return Err(Error::param(
            "--memory-mib",
            format!(
                "{} MiB is too small for one bucket of {p}: a bucket needs about {} MiB ({} MiB of raw rows × {BUCKET_WORKING_FACTOR} / {p}) (rule: --memory-mib {} or more{split})",
                budget >> 20,
                mib(need),
                mib(raw_bytes),
                mib(need),
            ),
        ));
    }
    Ok((p, threads.min(p).min(fits)))
}

/// Estimated raw bytes in memory per file of a kept table (`tables/<table>/`):
/// the kept tables are written in [`table_parts`] files a table, by the same hash,
/// a number that follows from the input sizes alone (never the budget), so that
/// their bytes do not depend on P.
pub const TABLE_PART_BYTES: u64 = 64 << 20;
/// The most files a kept table is written in.
pub const MAX_TABLE_PARTS: usize = 4096;

/// The number of files of each kept table for `raw_bytes` of raw rows in memory:
/// the power of two at or above `raw_bytes / TABLE_PART_BYTES`, 1 to
/// [`MAX_TABLE_PARTS`]. A power of two, so that the default P (a bucket per
/// 192 MiB at the default budget on two cores) mostly falls on its boundaries.
pub fn table_parts(raw_bytes: u64) -> usize {
    (raw_bytes.div_ceil(TABLE_PART_BYTES).max(1) as usize)
        .next_power_of_two()
        .min(MAX_TABLE_PARTS)
}

/// `p` buckets rounded up to the next divisor of `parts` files (a power of two,
/// so its divisors are the powers of two up to it), where there is one at most
/// twice `p` and at most [`MAX_PARTITIONS`]; else `p`.
pub fn aligned(p: usize, parts: usize) -> usize {
    let q = p.next_power_of_two();
    if p > 1 && parts.is_power_of_two() && q <= parts && q <= MAX_PARTITIONS {
        q
    } else {
        p
    }
}

/// The smallest and largest hash of bucket `b` among `p`.
pub(super) fn hash_range(b: usize, p: usize) -> (u64, u64) {
    // The smallest h with h·p ≥ b·2⁶⁴.
    let lo = |b: usize| -> u128 { ((b as u128) << 64).div_ceil(p as u128) };
    (lo(b) as u64, (lo(b + 1) - 1) as u64)
}

/// The bucket among `p` that holds the whole of bucket `s` among `parts`, if one
/// does (else `s` straddles two or more buckets of `p`).
pub(super) fn owner(s: usize, parts: usize, p: usize) -> Option<usize> {
    let (lo, hi) = hash_range(s, parts);
    let b = bucket_of(lo, p);
    (b == bucket_of(hi, p)).then_some(b)
}

/// `b`'s rows grouped by their `keys` (each below `groups`), in their order within
/// each group (a counting sort, then one `take` a column), and where each group
/// starts: group `k` is rows `start[k]..start[k + 1]`.
pub(super) fn group_rows(
    b: &RecordBatch,
    keys: &[u32],
    groups: usize,
) -> arrow::error::Result<(RecordBatch, Vec<u32>)> {
    let mut start = vec![0u32; groups + 1];
    for &k in keys {
        start[k as usize + 1] += 1;
    }
    for k in 0..groups {
        start[k + 1] += start[k];
    }
    let mut at = start.clone();
    let mut perm = vec![0u32; keys.len()];
    for (i, &k) in keys.iter().enumerate() {
        perm[at[k as usize] as usize] = i as u32;
        at[k as usize] += 1;
    }
    let grouped = arrow::compute::take_record_batch(b, &UInt32Array::from(perm))?;
    Ok((grouped, start))
}

/// The bucket of hash `h` among `p`.
pub(super) fn bucket_of(h: u64, p: usize) -> usize {
    ((u128::from(h) * p as u128) >> 64) as usize
}

/// The seeded hash of each customer id (`None` where it is missing). Integer ids
/// hash their little-endian bytes, text ids their UTF-8 bytes; any other type is
/// hashed as its text.
pub(super) fn id_hashes(ids: &ArrayRef) -> arrow::error::Result<Vec<Option<u64>>> {
    let h = |b: &[u8]| XxHash64::oneshot(HASH_SEED, b);
    if let Some(a) = ids.as_primitive_opt::<Int64Type>() {
        return Ok(a.iter().map(|v| v.map(|v| h(&v.to_le_bytes()))).collect());
    }
    if let Some(a) = ids.as_string_opt::<i32>() {
        return Ok(a.iter().map(|v| v.map(|v| h(v.as_bytes()))).collect());
    }
    if let Some(a) = ids.as_string_view_opt() {
        return Ok(a.iter().map(|v| v.map(|v| h(v.as_bytes()))).collect());
    }
    if ids.data_type().is_integer() {
        let a = cast(ids, &DataType::Int64)?;
        return id_hashes(&a);
    }
    let a = cast(ids, &DataType::Utf8)?;
    id_hashes(&a)
}

/// The raw rows of one table, split into buckets: in memory when there is one
/// bucket, else one Arrow IPC file per bucket.
pub(super) struct Parts {
    /// The raw columns and `__row`.
    pub(super) schema: SchemaRef,
    /// Rows read from the source.
    pub(super) rows: u64,
    parts: Vec<Part>,
}

enum Part {
    Memory(Vec<RecordBatch>),
    File(PathBuf),
}

impl Parts {
    /// The rows of bucket `b`, in source order. A bucket is loaded once: its file
    /// is removed once read, so the scratch folder holds each row about once.
    pub(super) fn load(&self, b: usize) -> Result<Vec<RecordBatch>> {
        match &self.parts[b] {
            Part::Memory(batches) => Ok(batches.clone()),
            Part::File(path) => {
                let batches = read_all(path)?;
                std::fs::remove_file(path).map_err(|e| Error::io(path, e))?;
                Ok(batches)
            }
        }
    }
}

/// Reads a whole bucket file written by this module.
fn read_all(path: &Path) -> Result<Vec<RecordBatch>> {
    reader(path)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| df_err(path, e))
}

/// A bucket file: an Arrow IPC stream, LZ4-compressed. The bucket files are
/// written once and read once, so they skip Parquet's encoding, and the reader
/// gives back the batches as they were written.
pub(super) type PartReader = StreamReader<BufReader<File>>;
type PartFile = StreamWriter<BufWriter<File>>;

pub(super) fn reader(path: &Path) -> Result<PartReader> {
    let f = File::open(path).map_err(|e| Error::io(path, e))?;
    let r = StreamReader::try_new(BufReader::with_capacity(1 << 16, f), None)
        .map_err(|e| df_err(path, e))?;
    // SAFETY: the file was written by this stage, moments ago, from arrays that
    // were valid, into the scratch folder of an output folder it holds locked;
    // checking every string's UTF-8 again would cost a third of the reading.
    Ok(unsafe { r.with_skip_validation(true) })
}

/// `b` with its text and binary views compacted: a view array keeps the data
/// buffers of the batch it was sliced, taken or filtered from, and an IPC writer
/// writes every buffer an array holds, so a bucket's slice of a batch would carry
/// the whole batch's long strings.
fn compact(b: &RecordBatch) -> RecordBatch {
    let cols: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| {
            if let Some(v) = c.as_string_view_opt() {
                Arc::new(v.gc()) as ArrayRef
            } else if let Some(v) = c.as_binary_view_opt() {
                Arc::new(v.gc()) as ArrayRef
            } else {
                c.clone()
            }
        })
        .collect();
    RecordBatch::try_new(b.schema(), cols).expect("same schema and lengths")
}

fn part_file(path: &Path, schema: &Schema) -> Result<PartFile> {
    let f = File::create(path).map_err(|e| Error::io(path, e))?;
    let opts = IpcWriteOptions::default()
        .try_with_compression(Some(CompressionType::LZ4_FRAME))
        .map_err(|e| df_err(path, e))?;
    StreamWriter::try_new_with_options(BufWriter::with_capacity(1 << 16, f), schema, opts)
        .map_err(|e| df_err(path, e))
}

/// Writes the rows of one table into `p` buckets as they stream by: `batch`
/// holds the raw columns and, last, the canonical customer id (dropped here).
pub(super) struct Partitioner {
    p: usize,
    /// Bytes the rows pending in memory may take, all buckets together.
    pending_budget: usize,
    /// A bucket's pending rows are written once they reach this many: at most
    /// [`CHUNK`], fewer when P buckets of CHUNK rows would not fit the budget.
    flush_rows: usize,
    /// Whether `flush_rows` was sized from the rows' size.
    sized: bool,
    schema: SchemaRef,
    next_row: u64,
    memory: Vec<RecordBatch>,
    files: Vec<(PathBuf, PartFile)>,
    /// Each bucket's rows not yet written, and how many: a bucket's file gets
    /// batches of at least [`CHUNK`] rows.
    pending: Vec<(Vec<RecordBatch>, usize)>,
}

impl Partitioner {
    /// A partitioner of rows with the raw columns of `raw` (plus the id, last)
    /// into `p` buckets, files under `dir` when `p > 1`; the rows pending in
    /// memory take about `pending_budget` bytes at most (a bucket's rows are
    /// written in batches of [`CHUNK`] rows, or of fewer where P of those would
    /// not fit, at least [`MIN_FLUSH_ROWS`]).
    pub(super) fn new(
        raw: &Schema,
        p: usize,
        dir: &Path,
        pending_budget: usize,
    ) -> Result<Partitioner> {
        let mut fields: Vec<Field> = raw.fields()[..raw.fields().len() - 1]
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(ROW, DataType::UInt64, false));
        let schema = Arc::new(Schema::new(fields));
        let mut files = Vec::new();
        if p > 1 {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            for b in 0..p {
                let path = dir.join(format!("part-{b:04}.arrow"));
                let w = part_file(&path, &schema)?;
                files.push((path, w));
            }
        }
        Ok(Partitioner {
            p,
            pending_budget,
            flush_rows: CHUNK,
            sized: false,
            schema,
            next_row: 0,
            memory: Vec::new(),
            pending: vec![(Vec::new(), 0); if p > 1 { p } else { 0 }],
            files,
        })
    }

    /// Adds the next rows of the source.
    pub(super) fn push(&mut self, batch: &RecordBatch, path: &Path) -> Result<()> {
        let n = batch.num_rows();
        let last = batch.num_columns() - 1;
        let first = self.next_row;
        let rows: ArrayRef = Arc::new(UInt64Array::from_iter_values(
            self.next_row..self.next_row + n as u64,
        ));
        self.next_row += n as u64;
        let mut cols: Vec<ArrayRef> = batch.columns()[..last].to_vec();
        cols.push(rows);
        let b = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| df_err(path, e))?;
        if self.p == 1 {
            self.memory.push(b);
            return Ok(());
        }
        let hashes = id_hashes(batch.column(last)).map_err(|e| df_err(path, e))?;
        // The rows grouped by bucket, in source order within each (a counting
        // sort), so that one `take` a column serves every bucket: each bucket's
        // rows are then a slice.
        let buckets: Vec<u32> = hashes
            .iter()
            .enumerate()
            .map(|(i, h)| {
                // Rows without an id (rejected) spread over the buckets by their
                // position, so that no bucket takes them all.
                let h = h.unwrap_or_else(|| {
                    XxHash64::oneshot(HASH_SEED, &(first + i as u64).to_le_bytes())
                });
                bucket_of(h, self.p) as u32
            })
            .collect();
        let (grouped, start) = group_rows(&b, &buckets, self.p).map_err(|e| df_err(path, e))?;
        // A pending slice keeps its whole grouped batch alive, so the rows held
        // are about P × the flush size, whatever the buckets' shares.
        if !self.sized && n > 0 {
            self.sized = true;
            let row_bytes = (grouped.get_array_memory_size() / n).max(1);
            self.flush_rows =
                (self.pending_budget / (self.p * row_bytes)).clamp(MIN_FLUSH_ROWS, CHUNK);
        }
        for bucket in 0..self.p {
            let (lo, hi) = (start[bucket] as usize, start[bucket + 1] as usize);
            if lo == hi {
                continue;
            }
            let (held, rows) = &mut self.pending[bucket];
            held.push(grouped.slice(lo, hi - lo));
            *rows += hi - lo;
            if *rows >= self.flush_rows {
                self.write_pending(bucket)?;
            }
        }
        Ok(())
    }

    /// Writes bucket `b`'s pending rows as one batch.
    fn write_pending(&mut self, b: usize) -> Result<()> {
        let (held, rows) = &mut self.pending[b];
        if held.is_empty() {
            return Ok(());
        }
        let (fp, w) = &mut self.files[b];
        let batch = match held.len() {
            1 => held.pop().expect("one"),
            _ => arrow::compute::concat_batches(&self.schema, held.iter())
                .map_err(|e| df_err(fp, e))?,
        };
        held.clear();
        *rows = 0;
        w.write(&compact(&batch)).map_err(|e| df_err(fp, e))
    }

    /// The buckets, their files closed.
    pub(super) fn finish(mut self) -> Result<Parts> {
        for b in 0..self.pending.len() {
            self.write_pending(b)?;
        }
        let parts = if self.p == 1 {
            vec![Part::Memory(self.memory)]
        } else {
            let mut parts = Vec::with_capacity(self.p);
            for (path, mut w) in self.files {
                w.finish().map_err(|e| df_err(&path, e))?;
                drop(w);
                parts.push(Part::File(path));
            }
            parts
        };
        Ok(Parts {
            schema: self.schema,
            rows: self.next_row,
            parts,
        })
    }
}

/// A bucket's output (kept rows or rejects), `__row` last, written in `__row` order
/// to a temporary file of its own.
pub(super) struct PartWriter {
    path: PathBuf,
    w: Option<PartFile>,
}

impl PartWriter {
    /// A writer of `path`, created with the first row.
    pub(super) fn new(path: PathBuf) -> PartWriter {
        PartWriter { path, w: None }
    }

    pub(super) fn write(&mut self, b: &RecordBatch) -> Result<()> {
        if b.num_rows() == 0 {
            return Ok(());
        }
        if self.w.is_none() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            self.w = Some(part_file(&self.path, &b.schema())?);
        }
        let w = self.w.as_mut().expect("just opened");
        w.write(&compact(b)).map_err(|e| df_err(&self.path, e))
    }

    /// The file, when any row was written.
    pub(super) fn finish(self) -> Result<Option<PathBuf>> {
        match self.w {
            Some(mut w) => {
                w.finish().map_err(|e| df_err(&self.path, e))?;
                drop(w);
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ranges_of_the_hash() {
        assert_eq!(bucket_of(0, 16), 0);
        assert_eq!(bucket_of(u64::MAX, 16), 15);
        assert_eq!(bucket_of(1 << 63, 2), 1);
        assert_eq!(bucket_of((1 << 63) - 1, 2), 0);
        // A bucket of P splits into buckets of 2P: the order of hashes is one.
        for h in [0u64, 12345, 1 << 40, u64::MAX / 3, u64::MAX] {
            assert_eq!(bucket_of(h, 8), bucket_of(h, 16) / 2);
        }
    }

    #[test]
    fn equal_ids_share_a_hash_whatever_their_array_type() {
        let ints: ArrayRef = Arc::new(arrow::array::Int64Array::from(vec![Some(12), None]));
        let ints32: ArrayRef = Arc::new(arrow::array::Int32Array::from(vec![Some(12), None]));
        assert_eq!(id_hashes(&ints).unwrap(), id_hashes(&ints32).unwrap());
        assert_eq!(id_hashes(&ints).unwrap()[1], None);
        let text: ArrayRef = Arc::new(arrow::array::StringArray::from(vec!["012", "12"]));
        let view: ArrayRef = Arc::new(arrow::array::StringViewArray::from(vec!["012", "12"]));
        let (t, v) = (id_hashes(&text).unwrap(), id_hashes(&view).unwrap());
        assert_eq!(t, v);
        assert_ne!(t[0], t[1], "ids are hashed as written, not as numbers");
    }

    #[test]
    fn table_files_nest_in_buckets_or_straddle_them() {
        for p in [1usize, 2, 3, 7, 16, 71] {
            let mut b = 0;
            while b < p {
                let (lo, hi) = hash_range(b, p);
                assert_eq!(bucket_of(lo, p), b);
                assert_eq!(bucket_of(hi, p), b);
                if b > 0 {
                    assert_eq!(bucket_of(lo - 1, p), b - 1);
                }
                if b + 1 < p {
                    assert_eq!(bucket_of(hi + 1, p), b + 1);
                }
                b += 1;
            }
        }
        assert_eq!(hash_range(0, 1), (0, u64::MAX));
        // 8 files in 2 buckets: each file in one bucket.
        assert_eq!(owner(3, 8, 2), Some(0));
        assert_eq!(owner(4, 8, 2), Some(1));
        // 2 files in 8 buckets: each file over four.
        assert_eq!(owner(1, 2, 8), None);
        // 8 files in 3 buckets: files 2 and 5 straddle.
        let owners: Vec<_> = (0..8).map(|s| owner(s, 8, 3)).collect();
        assert_eq!(
            owners,
            [
                Some(0),
                Some(0),
                None,
                Some(1),
                Some(1),
                None,
                Some(2),
                Some(2)
            ]
        );
        assert_eq!(aligned(71, 256), 128);
        assert_eq!(aligned(7, 32), 8);
        assert_eq!(aligned(8, 32), 8);
        assert_eq!(aligned(1, 32), 1);
        // No divisor of the files at or above P: P stands.
        assert_eq!(aligned(40, 32), 40);
        assert_eq!(aligned(3, 12), 3);
        for (p, s) in [(71, 256), (7, 32), (3, 4)] {
            let q = aligned(p, s);
            assert!((0..s).all(|f| owner(f, s, q).is_some()), "{p} {s}");
        }
        assert_eq!(table_parts(0), 1);
        assert_eq!(table_parts(TABLE_PART_BYTES), 1);
        assert_eq!(table_parts(TABLE_PART_BYTES + 1), 2);
        assert_eq!(table_parts(5 * TABLE_PART_BYTES), 8);
        assert_eq!(table_parts(u64::MAX), MAX_TABLE_PARTS);
    }

    #[test]
    fn partition_count_follows_the_budget() {
        assert_eq!(partition_count(0, 1 << 30), 1);
        assert_eq!(partition_count(1 << 28, 1 << 30), 1);
        assert_eq!(partition_count((1 << 28) + 1, 1 << 30), 2);
        assert_eq!(partition_count(10 << 30, 1 << 30), 40);
        assert_eq!(partition_count(u64::MAX, 1), MAX_PARTITIONS);
    }

    #[test]
    fn plan_fits_the_budget_or_says_what_would() {
        const MIB: usize = 1 << 20;
        // Small sources: one thread, buckets that fit the whole budget.
        assert_eq!(plan(10 << 20, 1024 * MIB, 2, None).unwrap(), (1, 1));
        // Large ones: a bucket per thread at least, each fitting its share.
        assert_eq!(plan(1 << 30, 1024 * MIB, 2, None).unwrap(), (8, 2));
        // A given P runs on fewer threads when two buckets would not fit at once.
        assert_eq!(plan(1 << 30, 1024 * MIB, 2, Some(4)).unwrap(), (4, 1));
        assert_eq!(plan(1 << 30, 1024 * MIB, 2, Some(8)).unwrap(), (8, 2));
        // One bucket of 2 would need 2,048 MiB: the error says what fits.
        let e = plan(1 << 30, 1024 * MIB, 2, Some(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("--memory-mib"), "{e}");
        assert!(
            e.contains("1024 MiB is too small for one bucket of 2"),
            "{e}"
        );
        assert!(e.contains("about 2048 MiB"), "{e}");
        assert!(e.contains("--partitions 4 or more"), "{e}");
        // Past MAX_PARTITIONS only a larger budget helps.
        let e = plan(1 << 40, 64 * MIB, 2, None).unwrap_err().to_string();
        assert!(e.contains("bucket of 1024"), "{e}");
        assert!(!e.contains("--partitions"), "{e}");
    }

    #[test]
    fn a_slice_of_long_strings_is_written_without_the_rest_of_its_batch() {
        let long: Vec<String> = (0..1000)
            .map(|i| format!("a description longer than twelve bytes {i}"))
            .collect();
        let col: ArrayRef = Arc::new(arrow::array::StringViewArray::from_iter_values(&long));
        let schema = Arc::new(Schema::new(vec![Field::new(
            "d",
            DataType::Utf8View,
            false,
        )]));
        let b = RecordBatch::try_new(schema.clone(), vec![col]).unwrap();
        let slice = b.slice(10, 5);
        let d = tempfile::tempdir().unwrap();
        let (whole, small) = (d.path().join("whole.arrow"), d.path().join("small.arrow"));
        for (path, batch) in [(&whole, &slice), (&small, &compact(&slice))] {
            let mut w = part_file(path, &schema).unwrap();
            w.write(batch).unwrap();
            w.finish().unwrap();
        }
        // Written as-is, the slice carries its batch's 1,000 strings.
        let size = |p: &Path| std::fs::metadata(p).unwrap().len();
        assert!(
            size(&small) * 4 < size(&whole),
            "{} vs {}",
            size(&small),
            size(&whole)
        );
        let back = read_all(&small).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].column(0).as_string_view().value(0), long[10]);
        assert_eq!(back[0].num_rows(), 5);
    }
}
