//! The profile's inputs beyond the feature table: the customer-id join, and the
//! basket and streaming statistics read from the kept canonical tables that the
//! features stage wrote (`features/tables/`), never from the raw sources.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

pub use super::categorical::{categorical_reports, CategoricalReport, CATEGORICAL, MAX_LEVELS};
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

pub(super) fn column<'a>(
    b: &'a arrow::array::RecordBatch,
    name: &str,
) -> Option<&'a arrow::array::ArrayRef> {
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
