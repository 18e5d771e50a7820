//! A customer feature table read from one file into a row-major [`Matrix`], an id
//! column, optional sample weights and one-hot encoded categorical columns.
//!
//! Reading streams record batches straight into the final matrix (its size is known
//! up front for Parquet), so the data is never held twice. One-hot columns are
//! appended by widening the matrix in place, back to front.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float32Type, Float64Type};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::ids::{append_ids, Ids};
use super::read::Source;
use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// What to read from a feature table.
#[derive(Clone, Debug)]
pub struct ReadSpec {
    /// The id column (integer or string).
    pub id_col: String,
    /// Numeric feature columns; `None` means every numeric column but the id, the
    /// weight and the categorical columns.
    pub columns: Option<Vec<String>>,
    /// Text (or integer-coded) columns to one-hot encode.
    pub categorical: Vec<String>,
    /// Optional non-negative sample-weight column.
    pub weight_col: Option<String>,
    /// Fail on a repeated id instead of counting it.
    pub strict_ids: bool,
    /// Known levels per categorical column (prediction); `None` learns them.
    pub levels: Option<Vec<CategoricalLevels>>,
}

impl ReadSpec {
    /// Reads every numeric column, keyed by `id_col`.
    pub fn new(id_col: impl Into<String>) -> Self {
        ReadSpec {
            id_col: id_col.into(),
            columns: None,
            categorical: Vec::new(),
            weight_col: None,
            strict_ids: false,
            levels: None,
        }
    }
}

/// The levels of one one-hot encoded column, in the order of its output columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategoricalLevels {
    /// The source column.
    pub column: String,
    /// Its levels, sorted; output column `i` is named `column=levels[i]`.
    pub levels: Vec<String>,
}

/// The most levels a `--categorical` column may have.
pub const MAX_LEVELS: usize = 1000;

/// A customer feature table ready for clustering.
#[derive(Clone, Debug)]
pub struct FeatureTable {
    /// The file it came from.
    pub path: PathBuf,
    /// Name of the id column.
    pub id_col: String,
    /// One id per row.
    pub ids: Ids,
    /// Feature names, one per matrix column: numeric columns, then one-hot columns.
    pub features: Vec<String>,
    /// How many of `features` are numeric (the rest are one-hot indicators).
    pub numeric: usize,
    /// The data, row-major.
    pub x: Matrix,
    /// Sample weights, when a weight column was given.
    pub weights: Option<Vec<f32>>,
    /// Levels of the one-hot encoded columns.
    pub categorical: Vec<CategoricalLevels>,
    /// The clean stage's outlier flags (its boolean column `outlier`), when the
    /// table has them.
    pub outlier: Option<Vec<bool>>,
    /// Rows whose id repeats an earlier row's id.
    pub duplicate_ids: usize,
    /// The first such row, 0-based.
    pub first_duplicate: Option<usize>,
    /// Text columns left out of the default features (none when `--columns` named them).
    pub text_columns: Vec<String>,
}

fn is_numeric(t: &DataType) -> bool {
    t.is_integer()
        || t.is_floating()
        || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..))
}

/// Reads the feature table at `path` as `spec` says.
pub fn read_features(path: &Path, spec: &ReadSpec) -> Result<FeatureTable> {
    let mut source = Source::open(path)?;
    // Ids are identities: a CSV id column with `012` or `1e1` is read as text.
    if let Ok(i) = source.schema().index_of(&spec.id_col) {
        source.ids_as_written(i);
    }
    let schema = source.schema().clone();
    let available = || {
        Error::columns_of(
            &schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>(),
        )
    };
    let index_of = |name: &str| -> Result<usize> {
        schema.index_of(name).map_err(|_| Error::MissingColumn {
            path: path.to_path_buf(),
            column: name.to_string(),
            available: available(),
        })
    };
    let not_numeric = |name: &str, t: &DataType| Error::NotNumeric {
        path: path.to_path_buf(),
        column: name.to_string(),
        found: t.to_string(),
    };

    if source.rows_hint() == Some(0) {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let id_idx = index_of(&spec.id_col)?;
    let weight_idx = spec.weight_col.as_deref().map(index_of).transpose()?;
    let cat_idx: Vec<usize> = spec
        .categorical
        .iter()
        .map(|c| index_of(c))
        .collect::<Result<_>>()?;
    // Columns other than the id, the weight and the categorical ones.
    let cats = &cat_idx;
    let others = || {
        schema
            .fields()
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != id_idx && Some(*i) != weight_idx && !cats.contains(i))
    };
    let feature_names: Vec<String> = match &spec.columns {
        Some(cols) => cols.clone(),
        None => others()
            .filter(|(i, f)| is_numeric(f.data_type()) || source.mixed(*i).is_some())
            .map(|(_, f)| f.name().clone())
            .collect(),
    };
    // A CSV has no types of its own: say which of its columns were read as text.
    let text_columns: Vec<String> = match &spec.columns {
        Some(_) => Vec::new(),
        None if source.format() == crate::io::Format::Parquet => Vec::new(),
        None => others()
            .filter(|(_, f)| f.name() != "outlier" && !feature_names.contains(f.name()))
            .map(|(_, f)| f.name().clone())
            .collect(),
    };
    let once = |names: &[String], flag: &'static str| -> Result<()> {
        let mut seen = HashSet::new();
        match names.iter().find(|n| !seen.insert(n.as_str())) {
            Some(n) => Err(Error::param(
                flag,
                format!("`{n}` is named twice (rule: each column once)"),
            )),
            None => Ok(()),
        }
    };
    once(&feature_names, "--columns")?;
    once(&spec.categorical, "--categorical")?;
    if let Some(c) = spec.categorical.iter().find(|c| feature_names.contains(c)) {
        return Err(Error::param(
            "--categorical",
            format!("`{c}` is also a numeric feature (rule: a column is numeric or categorical, not both; leave it out of --columns)"),
        ));
    }
    let mut feat_idx = Vec::with_capacity(feature_names.len());
    for name in &feature_names {
        let i = index_of(name)?;
        let t = schema.field(i).data_type();
        if let Some(m) = source.mixed(i) {
            return Err(m.error(path, name));
        }
        if !is_numeric(t) {
            return Err(match first_text_value(&source, i)? {
                Some((row, v)) => Error::NotNumeric {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    found: format!("{t} (first non-number \"{v}\" at data row {row})"),
                },
                None => not_numeric(name, t),
            });
        }
        feat_idx.push(i);
    }
    if let Some(i) = weight_idx {
        let t = schema.field(i).data_type();
        if !is_numeric(t) {
            return Err(not_numeric(&schema.field(i).name().clone(), t));
        }
    }
    if feature_names.is_empty() && spec.categorical.is_empty() {
        return Err(Error::NoFeatures {
            path: path.to_path_buf(),
            id_col: spec.id_col.clone(),
        });
    }

    let outlier_idx = schema
        .index_of("outlier")
        .ok()
        .filter(|&i| schema.field(i).data_type() == &DataType::Boolean);
    let mut projection: Vec<usize> = vec![id_idx];
    projection.extend(&feat_idx);
    projection.extend(outlier_idx);
    projection.extend(weight_idx);
    projection.extend(&cat_idx);
    projection.sort_unstable();
    projection.dedup();

    let d_num = feature_names.len();
    let hint = source.rows_hint().unwrap_or(0);
    let mut data: Vec<f32> = Vec::with_capacity(hint * d_num);
    let mut ids = Ids::Int(Vec::new());
    let mut ids_started = false;
    let mut weights: Option<Vec<f32>> = weight_idx.map(|_| Vec::with_capacity(hint));
    let mut cat_codes: Vec<Vec<u32>> = vec![Vec::with_capacity(hint); cat_idx.len()];
    let mut cat_maps: Vec<HashMap<String, u32>> = vec![HashMap::new(); cat_idx.len()];
    let mut outlier: Option<Vec<bool>> = outlier_idx.map(|_| Vec::with_capacity(hint));
    let mut row0 = 0usize;

    // Parquet decoding is the bulk of the time: decode column groups in parallel,
    // one batch at a time, so memory stays one batch per group.
    let mut streams = source.batches_split(&projection, rayon::current_num_threads())?;
    loop {
        let parts: Vec<Option<Result<arrow::array::RecordBatch>>> =
            streams.par_iter_mut().map(|s| s.next()).collect();
        if parts.iter().any(|p| p.is_none()) {
            break;
        }
        let parts: Vec<arrow::array::RecordBatch> = parts
            .into_iter()
            .map(|p| p.expect("checked above"))
            .collect::<Result<_>>()?;
        let m = parts[0].num_rows();
        if parts.iter().any(|p| p.num_rows() != m) {
            return Err(Error::Parquet {
                path: path.to_path_buf(),
                message: "column groups returned batches of different lengths".into(),
            });
        }
        let col = |name: &str| -> &ArrayRef {
            parts
                .iter()
                .find_map(|b| b.column_by_name(name))
                .expect("projected column is present in every batch")
        };
        // ids
        append_ids(
            path,
            &spec.id_col,
            col(&spec.id_col),
            row0,
            &mut ids,
            &mut ids_started,
        )?;
        // numeric features, written straight into their row-major slots
        data.resize((row0 + m) * d_num, 0.0);
        for (j, name) in feature_names.iter().enumerate() {
            let dst = &mut data[row0 * d_num..];
            let mut bad = (0usize, 0usize);
            let mut put = |r: usize, f: f32| {
                if !f.is_finite() {
                    if bad.0 == 0 {
                        bad.1 = row0 + r + 1;
                    }
                    bad.0 += 1;
                }
                dst[r * d_num + j] = f;
            };
            let a = col(name);
            if a.data_type() == &DataType::Float32 {
                // The common case (and what gen_blobs writes): no conversion needed.
                missing(path, name, a.as_ref(), row0)?;
                for (r, v) in a.as_primitive::<Float32Type>().values().iter().enumerate() {
                    put(r, *v);
                }
            } else {
                let values = to_f64(path, name, a, row0)?;
                // A finite value beyond f32's range is its own error, not "NaN/Inf".
                if let Some((r, v)) = values
                    .values()
                    .iter()
                    .enumerate()
                    .find(|(_, v)| v.is_finite() && !(**v as f32).is_finite())
                {
                    return Err(Error::InvalidValue {
                        path: path.to_path_buf(),
                        column: name.clone(),
                        row: row0 + r + 1,
                        rule: format!(
                            "{v:e} is outside the range of a 32-bit float (±3.4e38), in which features are held; rescale the column, e.g. in --map or the feature SQL"
                        ),
                    });
                }
                for (r, v) in values.values().iter().enumerate() {
                    put(r, *v as f32);
                }
            }
            if bad.0 > 0 {
                return Err(Error::NonFinite {
                    path: path.to_path_buf(),
                    column: name.clone(),
                    count: bad.0,
                    row: bad.1,
                });
            }
        }
        if let (Some(w), Some(name)) = (weights.as_mut(), spec.weight_col.as_deref()) {
            let values = to_f64(path, name, col(name), row0)?;
            for (r, v) in values.values().iter().enumerate() {
                let f = *v as f32;
                if !(f.is_finite() && f >= 0.0) {
                    return Err(Error::InvalidValue {
                        path: path.to_path_buf(),
                        column: name.to_string(),
                        row: row0 + r + 1,
                        rule: format!("sample weights are finite and >= 0, found {v}"),
                    });
                }
                w.push(f);
            }
        }
        if let Some(o) = outlier.as_mut() {
            let a = col("outlier").as_boolean();
            o.extend((0..m).map(|r| a.is_valid(r) && a.value(r)));
        }
        for (c, name) in spec.categorical.iter().enumerate() {
            let known = spec
                .levels
                .as_ref()
                .and_then(|l| l.iter().find(|l| &l.column == name));
            append_codes(
                path,
                name,
                col(name),
                row0,
                known,
                &mut cat_maps[c],
                &mut cat_codes[c],
            )?;
        }
        row0 += m;
    }
    let n = row0;
    if n == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }

    // Levels: sorted learnt levels, or the model's levels in the model's order.
    let mut categorical = Vec::with_capacity(spec.categorical.len());
    for (c, name) in spec.categorical.iter().enumerate() {
        // A float code (1.0, 2.0) is a category; a measurement (2.37) is not.
        let t = schema.field(cat_idx[c]).data_type();
        let fractional = matches!(t, DataType::Float16 | DataType::Float32 | DataType::Float64)
            || matches!(t, DataType::Decimal128(_, s) | DataType::Decimal256(_, s) if *s > 0);
        if spec.levels.is_none() && fractional {
            if let Some(l) = cat_maps[c]
                .keys()
                .find(|l| l.parse::<f64>().is_ok_and(|v| v.fract() != 0.0))
            {
                return Err(Error::param(
                    "--categorical",
                    format!("`{name}` is {t} with the value {l}, a measurement, not a category (rule: --categorical takes text, integer or boolean columns, or whole-number codes)"),
                ));
            }
        }
        if spec.levels.is_none() && cat_maps[c].len() > MAX_LEVELS {
            return Err(Error::param(
                "--categorical",
                format!(
                    "`{name}` has {} levels (rule: at most {MAX_LEVELS}, one one-hot column each; an id or a measurement is not a category)",
                    cat_maps[c].len()
                ),
            ));
        }
        let known = spec
            .levels
            .as_ref()
            .and_then(|l| l.iter().find(|l| &l.column == name));
        let levels = match known {
            Some(k) => k.levels.clone(),
            None => {
                let mut levels: Vec<String> = cat_maps[c].keys().cloned().collect();
                levels.sort();
                let rank: HashMap<&str, u32> = levels
                    .iter()
                    .enumerate()
                    .map(|(i, l)| (l.as_str(), i as u32))
                    .collect();
                let mut remap = vec![0u32; levels.len()];
                for (level, code) in &cat_maps[c] {
                    remap[*code as usize] = rank[level.as_str()];
                }
                for code in cat_codes[c].iter_mut() {
                    *code = remap[*code as usize];
                }
                levels
            }
        };
        categorical.push(CategoricalLevels {
            column: name.clone(),
            levels,
        });
    }

    let d_cat: usize = categorical.iter().map(|c| c.levels.len()).sum();
    let d = d_num + d_cat;
    if d_cat > 0 {
        widen_one_hot(&mut data, n, d_num, &categorical, &cat_codes);
    }
    let mut features = feature_names;
    for c in &categorical {
        features.extend(c.levels.iter().map(|l| format!("{}={}", c.column, l)));
    }

    let (duplicate_ids, first_duplicate) = ids.duplicates();
    if spec.strict_ids {
        if let Some(row) = first_duplicate {
            return Err(Error::DuplicateId {
                path: path.to_path_buf(),
                column: spec.id_col.clone(),
                id: ids.display(row),
                row: row + 1,
            });
        }
    }
    Ok(FeatureTable {
        path: path.to_path_buf(),
        id_col: spec.id_col.clone(),
        ids,
        numeric: d_num,
        features,
        x: Matrix::new(n, d, data),
        weights,
        categorical,
        outlier,
        duplicate_ids,
        first_duplicate,
        text_columns,
    })
}

/// Widens an `n × d_num` row-major buffer to `n × (d_num + levels)` in place, filling
/// the one-hot indicators. Rows move back to front so no row is overwritten before
/// it has been moved.
fn widen_one_hot(
    data: &mut Vec<f32>,
    n: usize,
    d_num: usize,
    categorical: &[CategoricalLevels],
    codes: &[Vec<u32>],
) {
    let d_cat: usize = categorical.iter().map(|c| c.levels.len()).sum();
    let d = d_num + d_cat;
    data.resize(n * d, 0.0);
    for i in (0..n).rev() {
        data.copy_within(i * d_num..(i + 1) * d_num, i * d);
        let row = &mut data[i * d + d_num..(i + 1) * d];
        row.fill(0.0);
        let mut offset = 0;
        for (c, cat) in categorical.iter().enumerate() {
            row[offset + codes[c][i] as usize] = 1.0;
            offset += cat.levels.len();
        }
    }
}

/// The first cell of column `i` that does not parse as a number (1-based row, text),
/// so a mis-typed CSV cell can be named rather than the whole column blamed.
fn first_text_value(source: &Source, i: usize) -> Result<Option<(usize, String)>> {
    let mut row0 = 0;
    for batch in source.batches(&[i])? {
        let batch = batch?;
        let col = cast(batch.column(0), &DataType::Utf8).ok();
        if let Some(col) = col {
            for (r, v) in col.as_string::<i32>().iter().enumerate() {
                if let Some(v) = v {
                    if v.trim().parse::<f64>().is_err() {
                        return Ok(Some((row0 + r + 1, v.to_string())));
                    }
                }
            }
        }
        row0 += batch.num_rows();
    }
    Ok(None)
}

fn first_null(a: &dyn Array) -> Option<usize> {
    (0..a.len()).find(|&i| a.is_null(i))
}

pub(super) fn missing(path: &Path, column: &str, a: &dyn Array, row0: usize) -> Result<()> {
    if a.null_count() > 0 {
        let r = first_null(a).unwrap_or(0);
        return Err(Error::MissingValues {
            path: path.to_path_buf(),
            column: column.to_string(),
            count: a.null_count(),
            row: row0 + r + 1,
        });
    }
    Ok(())
}

fn to_f64(
    path: &Path,
    column: &str,
    a: &ArrayRef,
    row0: usize,
) -> Result<arrow::array::Float64Array> {
    missing(path, column, a.as_ref(), row0)?;
    let c = cast(a, &DataType::Float64).map_err(|e| Error::NotNumeric {
        path: path.to_path_buf(),
        column: column.to_string(),
        found: format!("{} ({e})", a.data_type()),
    })?;
    Ok(c.as_primitive::<Float64Type>().clone())
}

fn append_codes(
    path: &Path,
    column: &str,
    a: &ArrayRef,
    row0: usize,
    known: Option<&CategoricalLevels>,
    map: &mut HashMap<String, u32>,
    codes: &mut Vec<u32>,
) -> Result<()> {
    missing(path, column, a.as_ref(), row0)?;
    let s = cast(a, &DataType::Utf8).map_err(|e| Error::InvalidValue {
        path: path.to_path_buf(),
        column: column.to_string(),
        row: row0 + 1,
        rule: format!("categorical columns are text or integers ({e})"),
    })?;
    if map.is_empty() {
        if let Some(k) = known {
            for (i, l) in k.levels.iter().enumerate() {
                map.insert(l.clone(), i as u32);
            }
        }
    }
    for (r, v) in s.as_string::<i32>().iter().enumerate() {
        let v = v.unwrap_or("");
        let code = match map.get(v) {
            Some(c) => *c,
            None if known.is_some() => {
                return Err(Error::InvalidValue {
                    path: path.to_path_buf(),
                    column: column.to_string(),
                    row: row0 + r + 1,
                    rule: format!(
                        "level `{v}` was not seen when the model was fitted (known: {})",
                        known.map(|k| k.levels.join(", ")).unwrap_or_default()
                    ),
                })
            }
            None => {
                let c = map.len() as u32;
                map.insert(v.to_string(), c);
                c
            }
        };
        codes.push(code);
    }
    Ok(())
}
