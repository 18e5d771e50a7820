//! Opening a tabular file as a stream of Arrow record batches.
//!
//! Parquet is read with a projection mask, so only the requested columns are
//! decoded. CSV has no schema, so its types are inferred over the whole file first,
//! cell by cell, with the rules of [`CsvCell`]: surrounding whitespace is trimmed,
//! the common missing tokens (empty, `NA`, `N/A`, `null`, `NaN`, `None`, `#N/A`)
//! are missing cells, and a cell that is not a number in a column whose other cells
//! mostly are is an error naming the file, column, row and value (a column does not
//! silently turn into text and drop out of the features). That costs a second pass,
//! which is acceptable because large inputs are expected as Parquet.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};

/// Rows per record batch when reading.
pub const BATCH_ROWS: usize = 65_536;

/// The file formats segmenta reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Apache Parquet.
    Parquet,
    /// Comma-separated values with a header row.
    Csv,
    /// Gzip-compressed CSV.
    CsvGz,
}

impl Format {
    /// The format implied by a file name.
    pub fn of(path: &Path) -> Result<Format> {
        let name = path
            .file_name()
            .map(|s| s.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.ends_with(".parquet") || name.ends_with(".pq") {
            Ok(Format::Parquet)
        } else if name.ends_with(".csv.gz") {
            Ok(Format::CsvGz)
        } else if name.ends_with(".csv") {
            Ok(Format::Csv)
        } else {
            Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
            })
        }
    }
}

/// An opened input: its format, full schema and (for Parquet) row count. A folder
/// of Parquet files (a kept table, `tables/<table>/part-NNNN.parquet`) is one
/// source: its files in name order, one schema.
pub struct Source {
    path: PathBuf,
    /// A folder's Parquet files, in name order, and their rows (empty for a file).
    parts: Vec<(PathBuf, usize)>,
    format: Format,
    schema: SchemaRef,
    rows: Option<usize>,
    /// Per column of a CSV: numbers but for a minority of text cells.
    mixed: Vec<Option<Mixed>>,
    /// Per column of a CSV: a padded cell or a missing token other than empty.
    dirty: Vec<bool>,
    /// Per column of a CSV: the first number that is not a canonical integer.
    uncanonical: Vec<Option<(usize, String)>>,
}

/// A stream of record batches; `Send` so several can be decoded in parallel.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

impl Source {
    /// Opens `path` and reads its schema (inferring it for CSV).
    pub fn open(path: &Path) -> Result<Source> {
        if path.is_dir() {
            return Source::open_folder(path);
        }
        let format = Format::of(path)?;
        super::commit::recover(path)?;
        let file = open_file(path)?;
        let mut mixed = Vec::new();
        let mut dirty = Vec::new();
        let mut uncanonical = Vec::new();
        let (schema, rows) = match format {
            Format::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| parquet_err(path, e))?;
                let rows = builder.metadata().file_metadata().num_rows();
                (builder.schema().clone(), Some(rows.max(0) as usize))
            }
            Format::Csv | Format::CsvGz => {
                let (schema, records, m, d, u) = infer_csv(path, file, format)?;
                mixed = m;
                dirty = d;
                uncanonical = u;
                (schema, Some(records))
            }
        };
        Ok(Source {
            path: path.to_path_buf(),
            parts: Vec::new(),
            format,
            schema,
            rows,
            mixed,
            dirty,
            uncanonical,
        })
    }

    /// A folder of Parquet files with one schema.
    fn open_folder(dir: &Path) -> Result<Source> {
        super::commit::recover(&dir.join("part"))?;
        let mut parts = Vec::new();
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let p = e.map_err(|e| Error::io(dir, e))?.path();
            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
            let hidden = name.as_deref().is_some_and(|n| n.starts_with('.'));
            if p.is_file() && !hidden && matches!(Format::of(&p), Ok(Format::Parquet)) {
                parts.push(p);
            }
        }
        parts.sort();
        let Some(first) = parts.first() else {
            return Err(Error::Source {
                path: dir.to_path_buf(),
                message: "a folder without Parquet files (rule: a folder source holds one table as .parquet files)".into(),
            });
        };
        let mut source = Source::open(first)?;
        let mut rows = 0;
        let mut counted = Vec::with_capacity(parts.len());
        for p in &parts {
            let f = open_file(p)?;
            let b = ParquetRecordBatchReaderBuilder::try_new(f).map_err(|e| parquet_err(p, e))?;
            if b.schema().fields() != source.schema.fields() {
                return Err(Error::Source {
                    path: p.clone(),
                    message: format!(
                        "its columns differ from those of {} (rule: the files of a folder share one schema)",
                        first.display()
                    ),
                });
            }
            let n = b.metadata().file_metadata().num_rows().max(0) as usize;
            rows += n;
            counted.push((p.clone(), n));
        }
        source.path = dir.to_path_buf();
        source.parts = counted;
        source.rows = Some(rows);
        Ok(source)
    }

    /// A folder's Parquet files in name order, and their rows; empty for a file.
    pub fn parts(&self) -> &[(PathBuf, usize)] {
        &self.parts
    }

    /// Makes a CSV's id column at `column` text unless every cell is the canonical
    /// spelling of an integer ([`canonical_int`]); returns why it became text (data
    /// row and value), or `None` when its type stands. Parquet keeps its types.
    pub fn ids_as_written(&mut self, column: usize) -> Option<(usize, String)> {
        let numeric = self.schema.field(column).data_type().is_numeric();
        let why = self.uncanonical.get(column).cloned().flatten()?;
        if !numeric {
            return None;
        }
        self.schema = Arc::new(as_text(&self.schema, column));
        Some(why)
    }

    /// The schema for a reader that takes cells as they are (DataFusion's CSV
    /// reader): a CSV column with padded cells or missing tokens is text there, to
    /// be trimmed and cast in SQL.
    pub fn verbatim_schema(&self) -> Schema {
        Schema::new(
            self.schema
                .fields()
                .iter()
                .enumerate()
                .map(|(i, f)| match self.dirty.get(i) {
                    Some(true) => Field::new(f.name(), DataType::Utf8, true),
                    _ => f.as_ref().clone(),
                })
                .collect::<Vec<_>>(),
        )
    }

    /// For a CSV column read as text, whether most of its cells are numbers.
    pub fn mixed(&self, column: usize) -> Option<&Mixed> {
        self.mixed.get(column).and_then(Option::as_ref)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The full schema of the file.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Number of data rows: from the footer for Parquet, from schema inference for CSV.
    pub fn rows_hint(&self) -> Option<usize> {
        self.rows
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Streams the columns at `indices` as up to `ways` streams over disjoint column
    /// groups whose batches line up row for row, so they can be decoded in
    /// parallel. Parquet only; other formats (and `ways` ≤ 1) give one stream.
    pub fn batches_split(&self, indices: &[usize], ways: usize) -> Result<Vec<BatchIter>> {
        if self.format != Format::Parquet || ways <= 1 || indices.len() < 2 {
            return Ok(vec![self.batches(indices)?]);
        }
        let ways = ways.min(indices.len());
        let groups: Vec<Vec<usize>> = (0..ways)
            .map(|g| indices.iter().copied().skip(g).step_by(ways).collect())
            .collect();
        groups.iter().map(|g| self.batches(g)).collect()
    }

    /// Streams batches holding only the columns at `indices` of [`Source::schema`].
    /// Look columns up by name in each batch: their order follows the file.
    pub fn batches(&self, indices: &[usize]) -> Result<BatchIter> {
        if !self.parts.is_empty() {
            // A file at a time: opened when the one before it is done.
            let parts: Vec<PathBuf> = self.parts.iter().map(|p| p.0.clone()).collect();
            let indices = indices.to_vec();
            return Ok(Box::new(parts.into_iter().flat_map(
                move |p| match parquet_batches(&p, &indices) {
                    Ok(it) => it,
                    Err(e) => Box::new(std::iter::once(Err(e))) as BatchIter,
                },
            )));
        }
        self.file_batches(&self.path, indices)
    }

    /// [`Source::batches`] of a folder's file `part` alone.
    pub fn part_batches(&self, part: usize, indices: &[usize]) -> Result<BatchIter> {
        self.file_batches(&self.parts[part].0, indices)
    }

    fn file_batches(&self, path: &Path, indices: &[usize]) -> Result<BatchIter> {
        let path = path.to_path_buf();
        match self.format {
            Format::Parquet => parquet_batches(&path, indices),
            Format::Csv | Format::CsvGz => {
                let reader = csv_reader(open_file(&path)?, self.format);
                let csv = arrow::csv::ReaderBuilder::new(text_schema(&self.schema))
                    .with_header(true)
                    .with_batch_size(BATCH_ROWS)
                    .with_projection(indices.to_vec())
                    .build(reader)
                    .map_err(|e| csv_err(&path, e))?;
                let typed: SchemaRef = Arc::new(
                    self.schema
                        .project(indices)
                        .map_err(|e| csv_err(&path, e))?,
                );
                Ok(Box::new(csv.map(move |b| {
                    let b = b.map_err(|e| csv_err(&path, e))?;
                    typed_batch(&path, &typed, &b)
                })))
            }
        }
    }
}

/// `schema` with the column at `column` read as text (nullable `Utf8`).
pub fn as_text(schema: &Schema, column: usize) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| match i == column {
                true => Field::new(f.name(), DataType::Utf8, true),
                false => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    )
}

/// What one CSV cell holds, after trimming surrounding whitespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CsvCell {
    /// Empty or a missing token: `NA`, `N/A`, `null`, `NaN`, `None`, `#N/A` (any case).
    Missing,
    /// `true` or `false` (any case).
    Bool,
    /// A 64-bit integer.
    Int,
    /// Any other number Rust's `f64` parser takes (`1e5`, `.5`, `inf`).
    Float,
    /// Anything else.
    Text,
}

/// The missing-cell tokens, compared after trimming and ignoring case.
pub const MISSING_TOKENS: [&str; 6] = ["na", "n/a", "null", "nan", "none", "#n/a"];

impl CsvCell {
    /// Classifies one cell.
    pub fn of(raw: &str) -> CsvCell {
        let t = raw.trim();
        if t.is_empty() || MISSING_TOKENS.iter().any(|m| t.eq_ignore_ascii_case(m)) {
            CsvCell::Missing
        } else if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") {
            CsvCell::Bool
        } else if t.parse::<i64>().is_ok() {
            CsvCell::Int
        } else if t.parse::<f64>().is_ok() {
            CsvCell::Float
        } else {
            CsvCell::Text
        }
    }
}

/// Per-column tallies of the inference pass.
#[derive(Default)]
struct Tally {
    bools: usize,
    ints: usize,
    floats: usize,
    texts: usize,
    /// A cell was padded with whitespace or was a missing token other than empty:
    /// a reader that does not trim (DataFusion's) must read the column as text.
    dirty: bool,
    /// The first cell that is not a number: data row (1-based) and value.
    first_text: Option<(usize, String)>,
    /// The first number that is not the canonical spelling of an integer
    /// ([`canonical_int`]): as an id, the column is text.
    first_uncanonical: Option<(usize, String)>,
}

/// Whether `t` (trimmed) is the canonical spelling of an integer id: digits only,
/// no leading zero, sign, exponent or decimal point, at most 18 digits (so it
/// fits in 64 bits). `012`, `+12`, `-3`, `1e1` and `2.0` are not; as ids they
/// are kept as text, so that `012` and `12` stay two customers.
pub fn canonical_int(t: &str) -> bool {
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 18
        && b.iter().all(u8::is_ascii_digit)
        && (b[0] != b'0' || b.len() == 1)
}

impl Tally {
    /// The column's type, and whether it is numeric but for a minority of text cells.
    fn data_type(&self) -> (DataType, Option<Mixed>) {
        let numbers = self.ints + self.floats;
        if self.texts > 0 || (self.bools > 0 && numbers > 0) {
            let mixed = (numbers > self.texts + self.bools).then(|| {
                let (row, value) = self.first_text.clone().unwrap_or_default();
                Mixed {
                    row,
                    value,
                    numbers,
                    others: self.texts + self.bools,
                }
            });
            return (DataType::Utf8, mixed);
        }
        let t = if self.floats > 0 {
            DataType::Float64
        } else if self.ints > 0 {
            DataType::Int64
        } else if self.bools > 0 {
            DataType::Boolean
        } else {
            DataType::Utf8
        };
        (t, None)
    }
}

/// A CSV column read as text although most of its cells are numbers: as an id or a
/// categorical column it is text; as a feature it is an error ([`Mixed::error`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mixed {
    /// The first cell that is not a number: data row, 1-based.
    pub row: usize,
    /// Its value.
    pub value: String,
    /// Cells that are numbers.
    pub numbers: usize,
    /// Cells that are not.
    pub others: usize,
}

impl Mixed {
    /// The error for using the column as a number.
    pub fn error(&self, path: &Path, column: &str) -> Error {
        Error::Source {
            path: path.to_path_buf(),
            message: format!(
                "column `{}`, data row {}: \"{}\" is not a number, though {} of the column's cells are ({} are not) (rule: a numeric column holds numbers with a dot for decimals; missing cells are empty, NA, N/A, null, NaN, None or #N/A)",
                column.escape_default(),
                self.row,
                self.value.escape_default(),
                self.numbers,
                self.others
            ),
        }
    }
}

/// The same columns, every one as text: how the CSV reader reads them before
/// [`typed_batch`] parses each cell by the rules of [`CsvCell`].
fn text_schema(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// What [`infer_csv`] learns: the types, the data rows, the mixed and the dirty
/// columns, and each column's first number that is not a canonical integer.
type Inferred = (
    SchemaRef,
    usize,
    Vec<Option<Mixed>>,
    Vec<bool>,
    Vec<Option<(usize, String)>>,
);

/// Infers a CSV's column types over every cell, and counts its data rows.
fn infer_csv(path: &Path, file: File, format: Format) -> Result<Inferred> {
    let header = arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(
            csv_reader(file.try_clone().map_err(|e| Error::io(path, e))?, format),
            Some(0),
        )
        .map_err(|e| csv_err(path, e))?
        .0;
    let mut seen = std::collections::HashSet::new();
    for f in header.fields() {
        if !seen.insert(f.name().as_str()) {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                message: format!(
                    "the header names column `{}` twice (rule: column names are unique)",
                    f.name()
                ),
            });
        }
    }
    let text = text_schema(&Arc::new(header));
    let csv = arrow::csv::ReaderBuilder::new(text.clone())
        .with_header(true)
        .with_batch_size(BATCH_ROWS)
        .build(csv_reader(file, format))
        .map_err(|e| csv_err(path, e))?;
    let mut tallies: Vec<Tally> = (0..text.fields().len()).map(|_| Tally::default()).collect();
    let mut rows = 0usize;
    for batch in csv {
        let batch = batch.map_err(|e| csv_err(path, e))?;
        for (c, t) in tallies.iter_mut().enumerate() {
            let a = batch.column(c).as_string::<i32>();
            for i in 0..a.len() {
                if a.is_null(i) {
                    continue;
                }
                let v = a.value(i);
                if !t.dirty && (v.trim().len() != v.len()) {
                    t.dirty = true;
                }
                let cell = CsvCell::of(v);
                match cell {
                    CsvCell::Missing => t.dirty |= !v.is_empty(),
                    CsvCell::Bool => t.bools += 1,
                    CsvCell::Int => t.ints += 1,
                    CsvCell::Float => t.floats += 1,
                    CsvCell::Text => t.texts += 1,
                }
                if matches!(cell, CsvCell::Bool | CsvCell::Text) && t.first_text.is_none() {
                    t.first_text = Some((rows + i + 1, v.to_string()));
                }
                if matches!(cell, CsvCell::Int | CsvCell::Float)
                    && t.first_uncanonical.is_none()
                    && !canonical_int(v.trim())
                {
                    t.first_uncanonical = Some((rows + i + 1, v.trim().to_string()));
                }
            }
        }
        rows += batch.num_rows();
    }
    let mut mixed = Vec::with_capacity(tallies.len());
    let mut fields = Vec::with_capacity(tallies.len());
    for (f, t) in text.fields().iter().zip(&tallies) {
        let (dt, m) = t.data_type();
        fields.push(Field::new(f.name(), dt, true));
        mixed.push(m);
    }
    let dirty = tallies.iter().map(|t| t.dirty).collect();
    let uncanonical = tallies.into_iter().map(|t| t.first_uncanonical).collect();
    Ok((
        Arc::new(Schema::new(fields)),
        rows,
        mixed,
        dirty,
        uncanonical,
    ))
}

/// Parses a batch read as text into the inferred types: cells trimmed, missing
/// tokens null. Inference saw every cell, so a parse cannot fail here.
fn typed_batch(path: &Path, typed: &SchemaRef, b: &RecordBatch) -> Result<RecordBatch> {
    let cols: Vec<ArrayRef> = typed
        .fields()
        .iter()
        .zip(b.columns())
        .map(|(f, a)| {
            let a = a.as_string::<i32>();
            let cell = |i: usize| -> Option<&str> {
                if a.is_null(i) {
                    return None;
                }
                let v = a.value(i).trim();
                (CsvCell::of(v) != CsvCell::Missing).then_some(v)
            };
            let n = a.len();
            match f.data_type() {
                DataType::Int64 => Arc::new(Int64Array::from_iter(
                    (0..n).map(|i| cell(i).and_then(|v| v.parse().ok())),
                )) as ArrayRef,
                DataType::Float64 => Arc::new(Float64Array::from_iter(
                    (0..n).map(|i| cell(i).and_then(|v| v.parse().ok())),
                )),
                DataType::Boolean => Arc::new(BooleanArray::from_iter(
                    (0..n).map(|i| cell(i).map(|v| v.eq_ignore_ascii_case("true"))),
                )),
                // Text keeps its tokens ("NA" may be North America): trimmed only.
                _ => Arc::new(StringArray::from_iter((0..n).map(|i| {
                    (!a.is_null(i))
                        .then(|| a.value(i).trim())
                        .filter(|v| !v.is_empty())
                }))),
            }
        })
        .collect();
    RecordBatch::try_new(typed.clone(), cols).map_err(|e| csv_err(path, e))
}

/// Streams the columns at `indices` of the Parquet file `path`.
fn parquet_batches(path: &Path, indices: &[usize]) -> Result<BatchIter> {
    let file = open_file(path)?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_err(path, e))?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_err(path, e))?;
    let path = path.to_path_buf();
    Ok(Box::new(reader.map(move |b| {
        b.map_err(|e| Error::Parquet {
            path: path.clone(),
            message: one_line(&e.to_string()),
        })
    })))
}

fn open_file(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::io(path, source))
}

fn csv_reader(mut file: File, format: Format) -> Box<dyn Read + Send> {
    // Rewind is infallible for a freshly opened file; ignore the position.
    let _ = file.rewind();
    match format {
        Format::CsvGz => Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(
            BufReader::new(file),
        ))),
        _ => Box::new(BufReader::new(file)),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parquet_err(path: &Path, e: parquet::errors::ParquetError) -> Error {
    Error::Parquet {
        path: path.to_path_buf(),
        message: one_line(&e.to_string()),
    }
}

fn csv_err(path: &Path, e: ArrowError) -> Error {
    Error::Csv {
        path: path.to_path_buf(),
        message: one_line(&e.to_string()),
    }
}
