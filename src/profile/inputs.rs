//! The profile's inputs beyond the feature table: the customer-id join, and the
//! basket and streaming statistics read from the kept canonical tables that the
//! features stage wrote (`features/tables/`), never from the raw sources.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

pub use super::market::basket_report;
use super::streaming::{self, StreamingReport};
use super::{age_band, AGE_BANDS};
use crate::error::{Error, Result};
use crate::io::{Ids, Source};

/// Customer id → row of the feature table.
pub enum IdIndex {
    /// Integer ids.
    Int(HashMap<i64, usize>),
    /// Text ids.
    Str(HashMap<String, usize>),
}

impl IdIndex {
    /// The index of `ids`.
    pub fn new(ids: &Ids) -> IdIndex {
        match ids {
            Ids::Int(v) => IdIndex::Int(v.iter().enumerate().map(|(i, x)| (*x, i)).collect()),
            Ids::Str(v) => {
                IdIndex::Str(v.iter().enumerate().map(|(i, x)| (x.clone(), i)).collect())
            }
        }
    }

    /// Rows of each id in `col` (None: unknown or null).
    pub fn rows(&self, col: &dyn Array, path: &Path) -> Result<Vec<Option<usize>>> {
        let err = |e: arrow::error::ArrowError| Error::Source {
            path: path.to_path_buf(),
            message: format!("customer_id: {e}"),
        };
        Ok(match self {
            IdIndex::Int(m) => {
                let a = cast(col, &DataType::Int64).map_err(err)?;
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.and_then(|v| m.get(&v).copied()))
                    .collect()
            }
            IdIndex::Str(m) => {
                let a = cast(col, &DataType::Utf8).map_err(err)?;
                a.as_string::<i32>()
                    .iter()
                    .map(|v| v.and_then(|v| m.get(v).copied()))
                    .collect()
            }
        })
    }
}

/// The segment of every row of `table` (read from `features`), from the fit's
/// `assignments`: every row must have one, and only one.
pub fn read_labels(
    index: &IdIndex,
    table: &crate::io::FeatureTable,
    assignments: &Path,
    features: &Path,
) -> Result<Vec<i32>> {
    let mut aspec = crate::io::ReadSpec::new(table.id_col.clone());
    aspec.columns = Some(vec!["segment".into()]);
    let assigned = crate::io::read_features(assignments, &aspec)?;
    let mut labels = vec![i32::MIN; table.x.n()];
    let rows = index.rows(assigned.ids.to_arrow().as_ref(), assignments)?;
    for (i, r) in rows.iter().enumerate() {
        if let Some(r) = r {
            let l = assigned.x.row(i)[0] as i32;
            if labels[*r] != i32::MIN && labels[*r] != l {
                return Err(Error::Source {
                    path: assignments.to_path_buf(),
                    message: format!(
                        "customer {} is assigned to segment {} and to segment {l} (rule: one segment per customer)",
                        assigned.ids.display(i),
                        labels[*r]
                    ),
                });
            }
            labels[*r] = l;
        }
    }
    let missing = labels.iter().filter(|l| **l == i32::MIN).count();
    if missing > 0 {
        return Err(Error::Source {
            path: assignments.to_path_buf(),
            message: format!(
                "{missing} of {} customers in {} have no segment (rule: profile the table the segments were fitted on)",
                table.x.n(),
                features.display()
            ),
        });
    }
    Ok(labels)
}

fn column<'a>(b: &'a arrow::array::RecordBatch, name: &str) -> Option<&'a arrow::array::ArrayRef> {
    b.schema().index_of(name).ok().map(|i| b.column(i))
}

/// Names in first-seen order → (sorted names, new position of each old index).
fn sorted_names(names: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut newpos = vec![0usize; names.len()];
    for (new, &old) in order.iter().enumerate() {
        newpos[old] = new;
    }
    (order.iter().map(|&o| names[o].clone()).collect(), newpos)
}

/// The kept table `table` in `dir`: the folder `<table>/` of Parquet files the
/// features stage writes, or a file `<table>.parquet`, `.csv` or `.csv.gz`.
pub fn find(dir: &Path, table: &str) -> Option<std::path::PathBuf> {
    std::iter::once(dir.join(table))
        .filter(|p| p.is_dir())
        .chain(
            ["parquet", "csv", "csv.gz"]
                .iter()
                .map(|e| dir.join(format!("{table}.{e}"))),
        )
        .find(|p| p.exists())
}

/// A statistic, or the note that says why it is left out.
pub type Report<T> = Result<std::result::Result<T, String>>;

/// SHOPPING x STREAMING from a canonical streaming table; `Ok(Err(note))` when
/// the table cannot give it.
pub fn streaming_report(
    path: &Path,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
    ages: Option<&[f32]>,
) -> Report<StreamingReport> {
    let src = Source::open(path)?;
    let schema = src.schema().clone();
    for c in ["customer_id", "package"] {
        if schema.index_of(c).is_err() {
            return Ok(Err(format!(
                "{}: no `{c}` column: no SHOPPING x STREAMING",
                path.display()
            )));
        }
    }
    let idx = [
        schema.index_of("customer_id").expect("checked"),
        schema.index_of("package").expect("checked"),
    ];
    let mut pk: HashMap<String, usize> = HashMap::new();
    let mut packages: Vec<String> = Vec::new();
    let mut subs: Vec<(usize, usize)> = Vec::new();
    for b in src.batches(&idx)? {
        let b = b?;
        let rows = index.rows(column(&b, "customer_id").expect("projected").as_ref(), path)?;
        let p = cast(column(&b, "package").expect("projected"), &DataType::Utf8).map_err(|e| {
            Error::Source {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let p = p.as_string::<i32>();
        for (i, r) in rows.iter().enumerate() {
            let Some(r) = r else { continue };
            if !p.is_valid(i) {
                continue;
            }
            let name = p.value(i);
            let j = match pk.get(name) {
                Some(&j) => j,
                None => {
                    packages.push(name.to_string());
                    pk.insert(name.to_string(), packages.len() - 1);
                    packages.len() - 1
                }
            };
            subs.push((*r, j));
        }
    }
    if subs.is_empty() {
        return Ok(Err(format!(
            "{}: no subscription of a profiled customer: no SHOPPING x STREAMING",
            path.display()
        )));
    }
    let (sorted, newpos) = sorted_names(&packages);
    let m = sorted.len();
    let mut by_seg = vec![vec![0u64; m]; seg_ids.len()];
    let mut by_age = vec![vec![0u64; m]; AGE_BANDS.len()];
    let mut seg_people: Vec<std::collections::HashSet<usize>> =
        vec![Default::default(); seg_ids.len()];
    let mut age_people: Vec<std::collections::HashSet<usize>> =
        vec![Default::default(); AGE_BANDS.len()];
    for &(r, j) in &subs {
        let s = seg_pos[&labels[r]];
        by_seg[s][newpos[j]] += 1;
        seg_people[s].insert(r);
        if let Some(ages) = ages {
            let band = AGE_BANDS
                .iter()
                .position(|b| *b == age_band(f64::from(ages[r])))
                .expect("a band");
            by_age[band][newpos[j]] += 1;
            age_people[band].insert(r);
        }
    }
    let seg_names: Vec<String> = seg_ids.iter().map(|s| s.to_string()).collect();
    let seg_counts: Vec<u64> = seg_people.iter().map(|s| s.len() as u64).collect();
    let age_names: Vec<String> = AGE_BANDS.iter().map(|s| s.to_string()).collect();
    let age_counts: Vec<u64> = age_people.iter().map(|s| s.len() as u64).collect();
    Ok(Ok(StreamingReport {
        subscriptions: subs.len() as u64,
        by_segment: streaming::shares(&seg_names, &by_seg, &seg_counts),
        by_age_band: if ages.is_some() {
            streaming::shares(&age_names, &by_age, &age_counts)
        } else {
            Vec::new()
        },
        chi_square: streaming::chi_square(&by_seg),
        packages: sorted,
    }))
}

/// The text columns of the kept canonical tables profiled per segment: table,
/// column. A customer's value is the table's value (customers) or the most
/// frequent one over the customer's rows (the smallest on a tie).
pub const CATEGORICAL: &[(&str, &str)] = &[
    ("customers", "gender"),
    ("customers", "country"),
    ("transactions", "country"),
    ("visits", "entrance"),
    ("wifi_sessions", "zone"),
];

/// Levels kept apart at most; the rarer ones are pooled as `(other)`.
pub const MAX_LEVELS: usize = 12;

/// One text column per segment: shares of the segment's customers per level.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CategoricalReport {
    /// Canonical table.
    pub table: String,
    /// Column.
    pub column: String,
    /// How a customer's value is found.
    pub per_customer: String,
    /// Levels, most customers first (`(other)` last when rarer ones are pooled).
    pub levels: Vec<String>,
    /// Profiled customers with a value.
    pub customers: u64,
    /// Per segment: `subscriptions` and `subscribers` are its customers with a
    /// value, `shares` their share per level.
    pub by_segment: Vec<streaming::GroupShares>,
    /// Segment × level independence.
    pub chi_square: Option<streaming::ChiSquare>,
}

/// The categorical profiles of the text columns present in `dir`'s kept tables.
pub fn categorical_reports(
    dir: &Path,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
) -> Result<Vec<CategoricalReport>> {
    use rayon::prelude::*;
    // One table per thread: the visits and Wi-Fi tables are the largest inputs of
    // the profile.
    let found: Vec<Result<Option<CategoricalReport>>> = CATEGORICAL
        .par_iter()
        .map(|&(table, col)| categorical_one(dir, table, col, index, labels, seg_ids, seg_pos))
        .collect();
    found.into_iter().filter_map(Result::transpose).collect()
}

fn categorical_one(
    dir: &Path,
    table: &str,
    col: &str,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
) -> Result<Option<CategoricalReport>> {
    let Some(path) = find(dir, table) else {
        return Ok(None);
    };
    let src = Source::open(&path)?;
    let schema = src.schema().clone();
    let (Ok(ic), Ok(iv)) = (schema.index_of("customer_id"), schema.index_of(col)) else {
        return Ok(None);
    };
    // A column the source did not have is all nulls in the kept table: skip it
    // without reading the ids.
    let mut any = false;
    for b in src.batches(&[iv])? {
        let b = b?;
        if b.column(0).null_count() < b.num_rows() {
            any = true;
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    // Per customer row, counts per level code (few levels: a short list each).
    let mut codes: HashMap<String, u32> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut counts: Vec<Vec<(u32, u64)>> = vec![Vec::new(); labels.len()];
    for b in src.batches(&[ic, iv])? {
        let b = b?;
        let rows = index.rows(
            column(&b, "customer_id").expect("projected").as_ref(),
            &path,
        )?;
        let v = cast(column(&b, col).expect("projected"), &DataType::Utf8).map_err(|e| {
            Error::Source {
                path: path.clone(),
                message: e.to_string(),
            }
        })?;
        let v = v.as_string::<i32>();
        for (i, r) in rows.iter().enumerate() {
            let Some(r) = r else { continue };
            if !v.is_valid(i) || v.value(i).is_empty() {
                continue;
            }
            let s = v.value(i);
            let code = match codes.get(s) {
                Some(&c) => c,
                None => {
                    names.push(s.to_string());
                    codes.insert(s.to_string(), names.len() as u32 - 1);
                    names.len() as u32 - 1
                }
            };
            let list = &mut counts[*r];
            match list.iter_mut().find(|e| e.0 == code) {
                Some(e) => e.1 += 1,
                None => list.push((code, 1)),
            }
        }
    }
    // Each customer's most frequent level (the smallest name on a tie).
    let best: Vec<(usize, u32)> = counts
        .iter()
        .enumerate()
        .filter_map(|(r, list)| {
            list.iter()
                .copied()
                .reduce(|a, b| {
                    if b.1 > a.1 || (b.1 == a.1 && names[b.0 as usize] < names[a.0 as usize]) {
                        b
                    } else {
                        a
                    }
                })
                .map(|(code, _)| (r, code))
        })
        .collect();
    if best.is_empty() {
        return Ok(None);
    }
    let mut per_level = vec![0u64; names.len()];
    for &(_, code) in &best {
        per_level[code as usize] += 1;
    }
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| {
        per_level[b]
            .cmp(&per_level[a])
            .then(names[a].cmp(&names[b]))
    });
    let pooled = order.len() > MAX_LEVELS;
    let keep = if pooled { MAX_LEVELS - 1 } else { order.len() };
    let mut slot = vec![keep; names.len()];
    for (i, &o) in order.iter().take(keep).enumerate() {
        slot[o] = i;
    }
    let mut levels: Vec<String> = order.iter().take(keep).map(|&o| names[o].clone()).collect();
    if pooled {
        levels.push("(other)".into());
    }
    let mut table_counts = vec![vec![0u64; levels.len()]; seg_ids.len()];
    for &(r, code) in &best {
        table_counts[seg_pos[&labels[r]]][slot[code as usize]] += 1;
    }
    let seg_names: Vec<String> = seg_ids.iter().map(|s| s.to_string()).collect();
    let seg_counts: Vec<u64> = table_counts.iter().map(|r| r.iter().sum()).collect();
    Ok(Some(CategoricalReport {
        table: table.into(),
        column: col.into(),
        per_customer: if table == "customers" {
            "the customer's value".into()
        } else {
            format!("the customer's most frequent value over their {table} rows")
        },
        levels,
        customers: best.len() as u64,
        by_segment: streaming::shares(&seg_names, &table_counts, &seg_counts),
        chi_square: streaming::chi_square(&table_counts),
    }))
}
