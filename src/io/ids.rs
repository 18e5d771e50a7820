//! Customer ids: integer or text, in row order, with their duplicates; read from
//! Arrow id columns of any integer, whole-float or text type.

use arrow::array::{ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use std::collections::HashSet;
use std::path::Path;

use super::table::missing;
use crate::error::{Error, Result};
use rayon::prelude::*;

/// Customer ids, in row order.
#[derive(Clone, Debug, PartialEq)]
pub enum Ids {
    /// Integer ids.
    Int(Vec<i64>),
    /// String ids.
    Str(Vec<String>),
}

impl Ids {
    /// Number of ids.
    pub fn len(&self) -> usize {
        match self {
            Ids::Int(v) => v.len(),
            Ids::Str(v) => v.len(),
        }
    }

    /// True when there are no ids.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id at `i`, formatted.
    pub fn display(&self, i: usize) -> String {
        match self {
            Ids::Int(v) => v[i].to_string(),
            Ids::Str(v) => v[i].clone(),
        }
    }

    /// The ids at `rows`, in that order.
    pub fn select(&self, rows: &[usize]) -> Ids {
        match self {
            Ids::Int(v) => Ids::Int(rows.iter().map(|&i| v[i]).collect()),
            Ids::Str(v) => Ids::Str(rows.iter().map(|&i| v[i].clone()).collect()),
        }
    }

    /// The ids as an Arrow array.
    pub fn to_arrow(&self) -> ArrayRef {
        match self {
            Ids::Int(v) => std::sync::Arc::new(arrow::array::Int64Array::from(v.clone())),
            Ids::Str(v) => std::sync::Arc::new(arrow::array::StringArray::from(v.clone())),
        }
    }

    /// How many rows repeat an earlier id, and the first such row (0-based).
    pub fn duplicates(&self) -> (usize, Option<usize>) {
        let n = self.len();
        let unique = match self {
            Ids::Int(v) => {
                let mut s = v.clone();
                s.par_sort_unstable();
                s.dedup();
                s.len()
            }
            Ids::Str(v) => v.iter().collect::<HashSet<_>>().len(),
        };
        if unique == n {
            return (0, None);
        }
        let first = match self {
            Ids::Int(v) => {
                let mut seen = HashSet::with_capacity(v.len());
                v.iter().position(|x| !seen.insert(*x))
            }
            Ids::Str(v) => {
                let mut seen = HashSet::with_capacity(v.len());
                v.iter().position(|x| !seen.insert(x.as_str()))
            }
        };
        (n - unique, first)
    }
}

/// The id column `column` of the table at `path` alone, in row order (a CSV's
/// by the identity rule, [`super::Source::ids_as_written`]).
pub fn read_ids(path: &Path, column: &str) -> Result<Ids> {
    let mut src = super::Source::open(path)?;
    let i = src
        .schema()
        .index_of(column)
        .map_err(|_| Error::missing_column(path, column, src.schema()))?;
    src.ids_as_written(i);
    let mut ids = Ids::Int(Vec::new());
    let (mut started, mut row0) = (false, 0usize);
    for b in src.batches(&[i])? {
        let b = b?;
        append_ids(path, column, b.column(0), row0, &mut ids, &mut started)?;
        row0 += b.num_rows();
    }
    Ok(ids)
}

/// Appends a batch's id column to `ids`, whose kind (integer or text) the first
/// batch decides.
pub(super) fn append_ids(
    path: &Path,
    column: &str,
    a: &ArrayRef,
    row0: usize,
    ids: &mut Ids,
    started: &mut bool,
) -> Result<()> {
    missing(path, column, a.as_ref(), row0)?;
    let t = a.data_type();
    if !*started {
        *ids = if t.is_integer() || t.is_floating() {
            Ids::Int(Vec::new())
        } else {
            Ids::Str(Vec::new())
        };
        *started = true;
    }
    match ids {
        Ids::Int(v) => {
            if t.is_floating() {
                let f = cast(a, &DataType::Float64).map_err(|e| id_type(path, column, t, e))?;
                for (r, x) in f.as_primitive::<Float64Type>().values().iter().enumerate() {
                    if x.fract() != 0.0 || !x.is_finite() || x.abs() > 9.007e15 {
                        return Err(Error::InvalidValue {
                            path: path.to_path_buf(),
                            column: column.to_string(),
                            row: row0 + r + 1,
                            rule: format!("ids are integers or strings, found {x}"),
                        });
                    }
                    v.push(*x as i64);
                }
            } else {
                let c = cast(a, &DataType::Int64).map_err(|e| id_type(path, column, t, e))?;
                v.extend_from_slice(c.as_primitive::<Int64Type>().values());
            }
        }
        Ids::Str(v) => {
            let c = cast(a, &DataType::Utf8).map_err(|e| id_type(path, column, t, e))?;
            v.extend(
                c.as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or("").to_string()),
            );
        }
    }
    Ok(())
}

fn id_type(path: &Path, column: &str, t: &DataType, e: arrow::error::ArrowError) -> Error {
    Error::InvalidValue {
        path: path.to_path_buf(),
        column: column.to_string(),
        row: 1,
        rule: format!("ids are integers or strings, found {t} ({e})"),
    }
}
