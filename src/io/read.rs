//! Opening a tabular file as a stream of Arrow record batches.
//!
//! Parquet is read with a projection mask, so only the requested columns are
//! decoded. CSV has no schema, so its types are inferred over the whole file first
//! (a column with one text cell among numbers is text, not a parse error two million
//! rows in); that costs a second pass, which is acceptable because large inputs are
//! expected as Parquet.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
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

/// An opened input: its format, full schema and (for Parquet) row count.
pub struct Source {
    path: PathBuf,
    format: Format,
    schema: SchemaRef,
    rows: Option<usize>,
}

/// A stream of record batches; `Send` so several can be decoded in parallel.
pub type BatchIter = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

impl Source {
    /// Opens `path` and reads its schema (inferring it for CSV).
    pub fn open(path: &Path) -> Result<Source> {
        let format = Format::of(path)?;
        let file = open_file(path)?;
        let (schema, rows) = match format {
            Format::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| parquet_err(path, e))?;
                let rows = builder.metadata().file_metadata().num_rows();
                (builder.schema().clone(), Some(rows.max(0) as usize))
            }
            Format::Csv | Format::CsvGz => {
                let reader = csv_reader(file, format);
                let (schema, records) = arrow::csv::reader::Format::default()
                    .with_header(true)
                    .infer_schema(reader, None)
                    .map_err(|e| csv_err(path, e))?;
                (Arc::new(schema), Some(records))
            }
        };
        Ok(Source {
            path: path.to_path_buf(),
            format,
            schema,
            rows,
        })
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
        let path = self.path.clone();
        let file = open_file(&path)?;
        match self.format {
            Format::Parquet => {
                let builder = ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| parquet_err(&path, e))?;
                let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
                let reader = builder
                    .with_projection(mask)
                    .with_batch_size(BATCH_ROWS)
                    .build()
                    .map_err(|e| parquet_err(&path, e))?;
                Ok(Box::new(reader.map(move |b| {
                    b.map_err(|e| Error::Parquet {
                        path: path.clone(),
                        message: one_line(&e.to_string()),
                    })
                })))
            }
            Format::Csv | Format::CsvGz => {
                let reader = csv_reader(file, self.format);
                let csv = arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(true)
                    .with_batch_size(BATCH_ROWS)
                    .with_projection(indices.to_vec())
                    .build(reader)
                    .map_err(|e| csv_err(&path, e))?;
                Ok(Box::new(csv.map(move |b| b.map_err(|e| csv_err(&path, e)))))
            }
        }
    }
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
