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

/// A day's net below this is no purchase (as the feature SQL's "fully returned").
const NOTHING: f64 = 0.005;

/// Reads `path` (canonical transactions: `customer_id`, `ts`, `amount`) and builds
/// the history of every customer of `index` (`n` rows) as of `as_of` (days since
/// the epoch, the first day after the history), in days.
pub fn summarise_transactions(
    path: &Path,
    index: &IdIndex,
    n: usize,
    as_of: i32,
) -> Result<History> {
    let src = Source::open(path)?;
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
    // (row, timestamp in µs, amount) of every line of a known customer before as-of.
    let mut lines: Vec<(u32, i64, f64)> = Vec::new();
    let (mut total, mut unknown) = (0u64, 0u64);
    for b in src.batches(&idx)? {
        let b = b?;
        let rows = index.rows(b.column(0).as_ref(), path)?;
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
                    "column `ts` is {t}, not a timestamp (rule: pass the features stage's kept transactions, tables/transactions.parquet)"
                )))
            }
        };
        let amount =
            cast(b.column(2), &DataType::Float64).map_err(|e| bad(format!("amount: {e}")))?;
        let amount = amount.as_primitive::<Float64Type>();
        for (i, r) in rows.iter().enumerate() {
            total += 1;
            let (Some(r), Some(us)) = (r, stamps[i]) else {
                unknown += u64::from(r.is_none());
                continue;
            };
            // The calibration period ends at as-of: later lines are not history.
            if amount.is_null(i)
                || !amount.value(i).is_finite()
                || us.div_euclid(DAY_US) >= i64::from(as_of)
            {
                continue;
            }
            lines.push((*r as u32, us, amount.value(i)));
        }
    }
    // In time order, a purchase before a return at the same instant: a return nets
    // against the latest purchase at or before it, as the feature SQL nets it.
    use rayon::slice::ParallelSliceMut;
    lines.par_sort_unstable_by(|a, b| {
        (a.0, a.1, a.2 < 0.0)
            .cmp(&(b.0, b.1, b.2 < 0.0))
            .then(a.2.total_cmp(&b.2))
    });
    let mut h = History {
        last_purchase: vec![None; n],
        lines: total,
        unknown_lines: unknown,
        ..History::default()
    };
    let mut days: Vec<(i32, f64)> = Vec::new();
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
                    _ => days.push((d, a)),
                }
            } else if let Some(last) = days.last_mut() {
                // The latest purchase day at or before the return.
                last.1 += a;
            }
            end += 1;
        }
        start = end;
        let kept: Vec<(i32, f64)> = days.iter().copied().filter(|d| d.1 > NOTHING).collect();
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
    Ok(h)
}
