//! The library's one error type. Every message is a single line that names the input
//! (file, column or parameter) and the rule it broke, so that the CLI can print it as
//! is and a user knows what to fix without reading code.

use std::path::PathBuf;

/// Result alias used throughout the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in segmenta's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input file does not exist.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// An operating-system error while reading or writing a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file name has no extension segmenta knows how to read.
    #[error("{}: unsupported file type (rule: inputs end in .parquet, .csv or .csv.gz)", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
    },
    /// The Parquet reader failed: not Parquet, truncated, or corrupt.
    #[error("{}: unreadable Parquet ({message})", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// The CSV reader failed: ragged rows, bad quoting, bad encoding.
    #[error("{}: unreadable CSV ({message})", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        message: String,
    },
    /// A requested column is not in the file.
    #[error("{}: no column `{column}` (columns are: {available})", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file has, comma-separated.
        available: String,
    },
    /// A feature (or weight) column holds something other than numbers.
    #[error("{}: column `{column}` is {found}, not numeric (rule: feature columns hold integers or floats; pass text columns with --categorical)", path.display())]
    NotNumeric {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// What was found instead, e.g. "Utf8 (first value \"abc\")".
        found: String,
    },
    /// A feature holds NaN or ±Inf (or a value too large for f32).
    #[error("{}: column `{column}` has {count} NaN/Inf value(s), first at data row {row} (rule: features must be finite)", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// How many bad cells.
        count: usize,
        /// First bad data row, 1-based, header excluded.
        row: usize,
    },
    /// A feature, id or categorical cell is empty.
    #[error("{}: column `{column}` has {count} missing value(s), first at data row {row} (rule: every cell must be present; impute or drop them with `segmenta clean`)", path.display())]
    MissingValues {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// How many missing cells.
        count: usize,
        /// First missing data row, 1-based, header excluded.
        row: usize,
    },
    /// A value breaks a column rule other than finiteness (e.g. a negative weight).
    #[error("{}: column `{column}` has an invalid value at data row {row} (rule: {rule})", path.display())]
    InvalidValue {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// Data row, 1-based.
        row: usize,
        /// The rule broken.
        rule: String,
    },
    /// The table has no data rows.
    #[error("{}: the table has no rows (rule: at least one customer row is needed)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The table has no usable feature column.
    #[error("{}: no numeric feature columns besides the id `{id_col}` (rule: name them with --columns)", path.display())]
    NoFeatures {
        /// The file.
        path: PathBuf,
        /// The id column.
        id_col: String,
    },
    /// Two rows share an id and `strict` was asked for.
    #[error("{}: id {id} in column `{column}` appears again at data row {row} (rule: ids are unique under --strict)", path.display())]
    DuplicateId {
        /// The file.
        path: PathBuf,
        /// The id column.
        column: String,
        /// The repeated id.
        id: String,
        /// Data row of the repetition, 1-based.
        row: usize,
    },
    /// A parameter breaks its rule (e.g. `k cannot be 0`).
    #[error("invalid {name}: {rule}")]
    Param {
        /// The parameter, as the user spells it.
        name: &'static str,
        /// The rule, stated.
        rule: String,
    },
    /// A model file is unreadable or does not fit the input.
    #[error("{}: {message}", path.display())]
    Model {
        /// The model file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A source or SQL problem reported with the file (or SQL) it concerns.
    #[error("{}: {message}", path.display())]
    Source {
        /// The file, folder or SQL file involved.
        path: PathBuf,
        /// What is wrong, naming the column and the rule where one applies.
        message: String,
    },
    /// No GPU adapter could be found or opened.
    #[error("no GPU adapter: {0} (rule: --backend gpu needs a Vulkan, Metal or DX12 adapter; use --backend cpu or auto)")]
    NoAdapter(String),
    /// The GPU failed while working (device lost, out of memory, map failure).
    #[error("GPU error: {0}")]
    Gpu(String),
}

impl Error {
    /// The columns of a header, comma-separated, with why a CSV read as one column
    /// lacks them: a header of one column holding `;`, a tab or `|` was written
    /// with another separator.
    pub fn columns_of(names: &[&str]) -> String {
        let list = names.join(", ");
        match Error::separator_hint(names) {
            Some(h) => format!("{list}; {h}"),
            None => list,
        }
    }

    /// Why a header of one column holding `;`, a tab or `|` lacks every column.
    pub fn separator_hint(names: &[&str]) -> Option<String> {
        let c = match names {
            [one] => [';', '\t', '|'].into_iter().find(|c| one.contains(*c))?,
            _ => return None,
        };
        Some(format!(
            "the header is one column: the file looks separated by {} (rule: CSV sources are comma-separated; save it with commas)",
            match c {
                '\t' => "tabs".to_string(),
                c => format!("`{c}`"),
            }
        ))
    }

    /// Builds a [`Error::MissingColumn`] for `column` of `path`, listing `schema`'s.
    pub fn missing_column(
        path: &std::path::Path,
        column: &str,
        schema: &arrow::datatypes::Schema,
    ) -> Self {
        Error::MissingColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            available: Error::columns_of(
                &schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>(),
            ),
        }
    }

    /// Builds a [`Error::Param`].
    pub fn param(name: &'static str, rule: impl Into<String>) -> Self {
        Error::Param {
            name,
            rule: rule.into(),
        }
    }

    /// An I/O error while opening or reading `path`, with a missing file reported
    /// as [`Error::NotFound`].
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            Error::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }

    /// True when the error comes from the GPU environment rather than the input.
    pub fn is_environment(&self) -> bool {
        matches!(self, Error::NoAdapter(_) | Error::Gpu(_))
    }
}
