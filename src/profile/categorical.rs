//! Categorical profiles: the text columns of the kept canonical tables (gender,
//! country, the entrance of a visit, the Wi-Fi zone) per segment. A customer's
//! value is the most frequent over their rows, found a file of the kept table
//! at a time (each file holds every row of its customers), so that the counts
//! held are those of one file's customers, not of every customer.

use std::collections::HashMap;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;

use super::inputs::{column, find, IdIndex};
use super::market::Dict;
use super::streaming;
use crate::error::{Error, Result};
use crate::io::Source;

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
    let mut levels = Dict::default();
    let best = customer_levels(
        &src,
        &[ic, iv],
        col,
        index,
        labels.len(),
        &path,
        &mut levels,
    )?;
    let names = levels.names;
    let best: Vec<(usize, u32)> = best
        .into_iter()
        .enumerate()
        .filter(|(_, c)| *c != NONE)
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

/// No level (a customer without a value).
const NONE: u32 = u32::MAX;

/// Per customer row, counts per level code (few levels: a short list each).
type Counts = HashMap<usize, Vec<(u32, u64)>>;

/// Adds the rows of `b` (the id and `col`) to `counts`.
fn add_counts(
    b: &RecordBatch,
    col: &str,
    index: &IdIndex,
    path: &Path,
    levels: &mut Dict,
    counts: &mut Counts,
) -> Result<()> {
    let rows = index.rows(column(b, "customer_id").expect("projected").as_ref(), path)?;
    let v =
        cast(column(b, col).expect("projected"), &DataType::Utf8).map_err(|e| Error::Source {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let v = v.as_string::<i32>();
    for (i, r) in rows.iter().enumerate() {
        let Some(r) = r else { continue };
        if !v.is_valid(i) || v.value(i).is_empty() {
            continue;
        }
        let code = levels.id(v.value(i));
        let list = counts.entry(*r).or_default();
        match list.iter_mut().find(|e| e.0 == code) {
            Some(e) => e.1 += 1,
            None => list.push((code, 1)),
        }
    }
    Ok(())
}

/// A customer's most frequent level (the smallest name on a tie).
fn most_frequent(list: &[(u32, u64)], names: &[String]) -> u32 {
    list.iter()
        .copied()
        .reduce(|a, b| {
            if b.1 > a.1 || (b.1 == a.1 && names[b.0 as usize] < names[a.0 as usize]) {
                b
            } else {
                a
            }
        })
        .map_or(NONE, |(code, _)| code)
}

/// Each of the `n` customers' most frequent level of `col` ([`NONE`]: no
/// value). A folder is read a file at a time, which holds one file's customers'
/// counts; should a customer's rows lie in two files (a folder not written by
/// the features stage), the whole table is counted at once instead.
fn customer_levels(
    src: &Source,
    idx: &[usize],
    col: &str,
    index: &IdIndex,
    n: usize,
    path: &Path,
    levels: &mut Dict,
) -> Result<Vec<u32>> {
    let mut best = vec![NONE; n];
    if src.parts().len() > 1 {
        let mut split = true;
        'files: for f in 0..src.parts().len() {
            let mut counts = Counts::new();
            for b in src.part_batches(f, idx)? {
                add_counts(&b?, col, index, path, levels, &mut counts)?;
            }
            for (r, list) in counts {
                if best[r] != NONE {
                    split = false;
                    break 'files;
                }
                best[r] = most_frequent(&list, &levels.names);
            }
        }
        if split {
            return Ok(best);
        }
        best.fill(NONE);
    }
    let mut counts = Counts::new();
    for b in src.batches(idx)? {
        add_counts(&b?, col, index, path, levels, &mut counts)?;
    }
    for (r, list) in counts {
        best[r] = most_frequent(&list, &levels.names);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};

    use super::*;
    use crate::io::Ids;

    fn part(path: &Path, ids: &[i64], zones: &[&str]) {
        let b = RecordBatch::try_from_iter([
            (
                "customer_id",
                Arc::new(Int64Array::from(ids.to_vec())) as ArrayRef,
            ),
            (
                "zone",
                Arc::new(StringArray::from(zones.to_vec())) as ArrayRef,
            ),
        ])
        .unwrap();
        let f = std::fs::File::create(path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, b.schema(), None).unwrap();
        w.write(&b).unwrap();
        w.close().unwrap();
    }

    #[test]
    fn a_customer_in_two_files_is_counted_over_both() {
        let d = tempfile::tempdir().unwrap();
        // Customer 1: two `a` in the first file, three `b` in the second; a file
        // at a time would call it `a`. Customer 2: one file, `a` and `b` tied.
        part(&d.path().join("part-0000.parquet"), &[1, 1], &["a", "a"]);
        part(
            &d.path().join("part-0001.parquet"),
            &[1, 2, 1, 2, 1],
            &["b", "b", "b", "a", "b"],
        );
        let src = Source::open(d.path()).unwrap();
        let index = IdIndex::new(&Ids::Int(vec![1, 2, 3]));
        let mut levels = Dict::default();
        let best =
            customer_levels(&src, &[0, 1], "zone", &index, 3, d.path(), &mut levels).unwrap();
        let name = |c: u32| (c != NONE).then(|| levels.names[c as usize].clone());
        let got: Vec<Option<String>> = best.iter().map(|&c| name(c)).collect();
        assert_eq!(got, vec![Some("b".into()), Some("a".into()), None]);

        // Split by customer: a file at a time gives the same levels.
        let e = tempfile::tempdir().unwrap();
        part(
            &e.path().join("part-0000.parquet"),
            &[1, 1, 1, 1, 1],
            &["a", "a", "b", "b", "b"],
        );
        part(&e.path().join("part-0001.parquet"), &[2, 2], &["b", "a"]);
        let src = Source::open(e.path()).unwrap();
        let mut levels = Dict::default();
        let best =
            customer_levels(&src, &[0, 1], "zone", &index, 3, e.path(), &mut levels).unwrap();
        let name = |c: u32| (c != NONE).then(|| levels.names[c as usize].clone());
        let got: Vec<Option<String>> = best.iter().map(|&c| name(c)).collect();
        assert_eq!(got, vec![Some("b".into()), Some("a".into()), None]);
    }
}
