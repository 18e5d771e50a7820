//! Purchase histories (x, tₓ, T, m) from the kept transactions.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};

use super::Rfm;
use crate::dates::DAY_US;
use crate::error::{Error, Result};
use crate::io::Source;
use crate::profile::inputs::IdIndex;

/// The purchase histories of a table's customers.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// One entry per customer with a purchase.
    pub rfm: Rfm,
    /// The table row of each entry of `rfm`.
    pub rows: Vec<usize>,
    /// Per table row: the day (since 1970-01-01) of the last purchase, if any.
    pub last_purchase: Vec<Option<i32>>,
    /// Transaction lines read, and those of customers not in the table.
    pub lines: u64,
    /// Lines whose customer is not in the table (not segmented: left out).
    pub unknown_lines: u64,
}

/// A day whose returns leave its net at or below this is no purchase (the feature
/// SQL's "fully returned"); a day of free items with no return is a purchase.
const NOTHING: f64 = 0.005;

/// Bytes a held line takes while the histories are built: `(u32, i64, f64)` is 24
/// bytes, and the vector may hold up to twice its lines while it grows.
const LINE_BYTES: usize = 48;

/// Reads `path` (canonical transactions: `customer_id`, `ts`, `amount`) and builds
/// the history of every customer of `index` (`n` rows) as of `as_of` (days since
/// the epoch, the first day after the history), in days.
///
/// The kept transactions of the features stage are a folder of files, each
/// holding every line of its customers: they are read a file at a time. Within a
/// file (or a single-file table), the lines of a group of customers are held at
/// once: as many groups as it takes for one group's lines to fit `budget` bytes,
/// each a range of table rows read in a pass of its own. The histories come out
/// in row order whatever the number of files and groups.
pub fn summarise_transactions(
    path: &Path,
    index: &IdIndex,
    n: usize,
    as_of: i32,
    budget: usize,
) -> Result<History> {
    let src = Source::open(path)?;
    let files: Vec<(Option<usize>, usize)> = match src.parts() {
        [] => vec![(None, src.rows_hint().unwrap_or(0))],
        parts => parts
            .iter()
            .enumerate()
            .map(|(i, p)| (Some(i), p.1))
            .collect(),
    };
    let mut h = History {
        last_purchase: vec![None; n],
        ..History::default()
    };
    for &(file, lines_hint) in &files {
        let groups = lines_hint
            .saturating_mul(LINE_BYTES)
            .div_ceil(budget.max(1))
            .clamp(1, n.max(1));
        for g in 0..groups {
            let rows = n * g / groups..n * (g + 1) / groups;
            let (lines, total, unknown) = read_lines(&src, path, file, index, as_of, rows)?;
            if g == 0 {
                h.lines += total;
                h.unknown_lines += unknown;
            }
            add_histories(&mut h, lines, as_of);
        }
    }
    if files.len() > 1 {
        in_row_order(&mut h);
    }
    Ok(h)
}

/// Puts `h`'s entries in table-row order.
fn in_row_order(h: &mut History) {
    let mut order: Vec<usize> = (0..h.rows.len()).collect();
    order.sort_unstable_by_key(|&i| h.rows[i]);
    let pick_f = |v: &[f64]| order.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    h.rfm.t_x = pick_f(&h.rfm.t_x);
    h.rfm.t = pick_f(&h.rfm.t);
    h.rfm.monetary = pick_f(&h.rfm.monetary);
    h.rfm.x = order.iter().map(|&i| h.rfm.x[i]).collect();
    h.rows = order.iter().map(|&i| h.rows[i]).collect();
}

/// A line held while the histories are built: (table row, timestamp in µs, amount).
type Line = (u32, i64, f64);

/// The lines before as-of of the customers at table `rows`, with the number of
/// lines read and of lines whose customer is not in the table.
fn read_lines(
    src: &Source,
    path: &Path,
    file: Option<usize>,
    index: &IdIndex,
    as_of: i32,
    rows: std::ops::Range<usize>,
) -> Result<(Vec<Line>, u64, u64)> {
    let schema = src.schema().clone();
    let mut idx = Vec::new();
    for c in ["customer_id", "ts", "amount"] {
        idx.push(
            schema
                .index_of(c)
                .map_err(|_| Error::missing_column(path, c, &schema))?,
        );
    }
    let bad = |m: String| Error::Source {
        path: path.to_path_buf(),
        message: m,
    };
    let mut lines: Vec<Line> = Vec::new();
    let (mut total, mut unknown) = (0u64, 0u64);
    let batches = match file {
        Some(i) => src.part_batches(i, &idx)?,
        None => src.batches(&idx)?,
    };
    for b in batches {
        let b = b?;
        let ids = index.rows(b.column(0).as_ref(), path)?;
        let ts = b.column(1);
        let stamps: Vec<Option<i64>> = match ts.data_type() {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                let us = cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, None))
                    .map_err(|e| bad(format!("ts: {e}")))?;
                cast(&us, &DataType::Int64)
                    .map_err(|e| bad(format!("ts: {e}")))?
                    .as_primitive::<Int64Type>()
                    .iter()
                    .collect()
            }
            t => {
                return Err(bad(format!(
                    "column `ts` is {t}, not a timestamp (rule: pass the features stage's kept transactions, tables/transactions/)"
                )))
            }
        };
        let amount =
            cast(b.column(2), &DataType::Float64).map_err(|e| bad(format!("amount: {e}")))?;
        let amount = amount.as_primitive::<Float64Type>();
        for (i, r) in ids.iter().enumerate() {
            total += 1;
            let (Some(r), Some(us)) = (r, stamps[i]) else {
                unknown += u64::from(r.is_none());
                continue;
            };
            // The calibration period ends at as-of: later lines are not history.
            if !rows.contains(r)
                || amount.is_null(i)
                || !amount.value(i).is_finite()
                || us.div_euclid(DAY_US) >= i64::from(as_of)
            {
                continue;
            }
            lines.push((*r as u32, us, amount.value(i)));
        }
    }
    Ok((lines, total, unknown))
}

/// Adds the histories of the customers of `lines` to `h`, in row order.
fn add_histories(h: &mut History, mut lines: Vec<Line>, as_of: i32) {
    // In time order, a purchase before a return at the same instant: a return nets
    // against the latest purchase at or before it, as the feature SQL nets it.
    use rayon::slice::ParallelSliceMut;
    lines.par_sort_unstable_by(|a, b| {
        (a.0, a.1, a.2 < 0.0)
            .cmp(&(b.0, b.1, b.2 < 0.0))
            .then(a.2.total_cmp(&b.2))
    });
    // (day, net, whether a return was netted against it)
    let mut days: Vec<(i32, f64, bool)> = Vec::new();
    let mut start = 0;
    while start < lines.len() {
        let row = lines[start].0;
        let mut end = start;
        days.clear();
        while end < lines.len() && lines[end].0 == row {
            let (_, us, a) = lines[end];
            let d = us.div_euclid(DAY_US) as i32;
            if a >= 0.0 {
                match days.last_mut() {
                    Some(last) if last.0 == d => last.1 += a,
                    _ => days.push((d, a, false)),
                }
            } else if let Some(last) = days.last_mut() {
                // The latest purchase day at or before the return.
                last.1 += a;
                last.2 = true;
            }
            end += 1;
        }
        start = end;
        let kept: Vec<(i32, f64)> = days
            .iter()
            .filter(|d| d.1 > NOTHING || !d.2)
            .map(|d| (d.0, d.1))
            .collect();
        let (Some(first), Some(last)) = (kept.first(), kept.last()) else {
            continue;
        };
        if first.0 >= as_of {
            continue;
        }
        let x = (kept.len() - 1) as u32;
        let m = match x {
            0 => 0.0,
            _ => kept[1..].iter().map(|d| d.1).sum::<f64>() / f64::from(x),
        };
        h.rfm.push(
            x,
            f64::from(last.0 - first.0),
            f64::from(as_of - first.0),
            m,
        );
        h.rows.push(row as usize);
        h.last_purchase[row as usize] = Some(last.0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;
    use crate::io::Ids;

    /// One rule with the feature SQL: a day of free items with no return is a
    /// purchase (it counts, and sets the last purchase); a day its returns net to
    /// nothing is not.
    #[test]
    fn a_free_item_is_a_purchase_and_a_returned_one_is_not() {
        let day = |d: i64| d * DAY_US + 3_600_000_000;
        let lines = vec![
            // row 0: free on day 10, 20 on day 40: two purchase days.
            (0, day(10), 0.0),
            (0, day(40), 20.0),
            // row 1: free on day 5 returned on day 6 (-5), 15 on day 30: one.
            (1, day(5), 0.0),
            (1, day(6), -5.0),
            (1, day(30), 15.0),
            // row 2: free items only, on days 3 and 9.
            (2, day(3), 0.0),
            (2, day(9), 0.0),
        ];
        let mut h = History {
            last_purchase: vec![None; 3],
            ..History::default()
        };
        add_histories(&mut h, lines, 100);
        assert_eq!(h.rows, [0, 1, 2]);
        assert_eq!(h.rfm.x, [1, 0, 1]);
        assert_eq!(h.last_purchase, [Some(40), Some(30), Some(9)]);
    }

    /// Histories built a customer at a time (a budget of one byte) are those built
    /// at once, in the same order, with the same line counts.
    #[test]
    fn groups_of_customers_give_the_histories_of_one() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("transactions.parquet");
        let (mut ids, mut ts, mut amount) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..4000i64 {
            let c = (i * 7919) % 97; // customers 0..97, lines interleaved
            ids.push(c);
            ts.push((i % 300) * DAY_US + (i % 5) * 3_600_000_000);
            amount.push(if i % 11 == 0 {
                -5.0
            } else {
                (i % 13) as f64 + 1.0
            });
        }
        ids.push(5000); // not a customer of the table
        ts.push(DAY_US);
        amount.push(1.0);
        let schema = Arc::new(Schema::new(vec![
            Field::new("customer_id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("amount", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids)),
                Arc::new(TimestampMicrosecondArray::from(ts)),
                Arc::new(Float64Array::from(amount)),
            ],
        )
        .unwrap();
        let f = std::fs::File::create(&path).unwrap();
        let mut w = parquet::arrow::ArrowWriter::try_new(f, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        // Table rows in another order than the ids.
        let table: Vec<i64> = (0..97).rev().collect();
        let index = IdIndex::new(&Ids::Int(table));
        let one = summarise_transactions(&path, &index, 97, 250, usize::MAX).unwrap();
        let many = summarise_transactions(&path, &index, 97, 250, 1).unwrap();
        assert!(one.rfm.len() > 90, "{}", one.rfm.len());
        assert_eq!(one.rfm, many.rfm);
        assert_eq!(one.rows, many.rows);
        assert_eq!(one.last_purchase, many.last_purchase);
        assert_eq!((one.lines, one.unknown_lines), (4001, 1));
        assert_eq!((many.lines, many.unknown_lines), (4001, 1));
    }
}
