//! The history's window when no `--as-of` (or `mall.json`) gives it: estimated
//! from the days that have transactions, robustly to stray timestamps.

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;

use super::register::Registered;
use super::{collect, df_err, FeatureSpec};
use crate::dates::format_date;
use crate::error::{Error, Result};

/// A gap longer than this many days without transactions ends the estimated
/// history ([`estimate_window`]).
pub const WINDOW_GAP_DAYS: i64 = 30;
/// The estimated window sets aside at most this share of the transactions; past
/// it, the whole span is kept ([`estimate_window`]).
pub const MAX_OUTSIDE: f64 = 0.02;

/// The history's window, estimated from the days that have transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First day of the history.
    pub since: i32,
    /// First day after the history.
    pub as_of: i32,
    /// Transactions before `since`, and the days they fall on.
    pub before_lines: u64,
    /// Days before `since`.
    pub before_days: u64,
    /// Transactions on or after `as_of`, and the days they fall on.
    pub after_lines: u64,
    /// Days on or after `as_of`.
    pub after_days: u64,
    /// The gap, in days, that ended the history.
    pub gap_days: i64,
}

/// Estimates the history from `(day, transactions)` pairs, robustly to stray
/// timestamps: a *busy* day has at least 1% of the transactions of a typical day
/// (the transaction-weighted median day), and at least one. From the day of the
/// median transaction, the history runs on while the next busy day comes within
/// the gap ([`WINDOW_GAP_DAYS`], or three times the median spacing of busy days when
/// that is longer), and `as_of` is the day after the last such day; `since` is found
/// the same way backwards. When that would set aside more than [`MAX_OUTSIDE`] of
/// the transactions, the history has a real gap and the whole span is kept. A contiguous history keeps every day; stray
/// timestamps years out (clock errors, test rows), even one every few days, fall
/// outside. `None` when there is no day.
pub fn estimate_window(days: &mut [(i64, u64)]) -> Option<Window> {
    days.sort_unstable();
    let total: u64 = days.iter().map(|d| d.1).sum();
    if total == 0 {
        return None;
    }
    // The typical day, weighted by transactions (half of them fall on days no
    // busier), so that many near-empty stray days cannot make it small.
    let mut counts: Vec<u64> = days.iter().map(|d| d.1).collect();
    counts.sort_unstable();
    let mut cum = 0;
    let typical = counts
        .iter()
        .find(|&&c| {
            cum += c;
            2 * cum >= total
        })
        .copied()
        .unwrap_or(1);
    let busy_min = (typical as f64 * 0.01).ceil().max(1.0) as u64;
    // The first day whose cumulative count reaches the share.
    let at = |share: f64| {
        let want = (share * total as f64).ceil().max(1.0) as u64;
        let mut cum = 0;
        days.iter()
            .position(|d| {
                cum += d.1;
                cum >= want
            })
            .unwrap_or(days.len() - 1)
    };
    let busy: Vec<usize> = (0..days.len()).filter(|&i| days[i].1 >= busy_min).collect();
    // The gap that ends the history: 30 days, or three typical spacings of busy
    // days for sparser data (monthly timestamps).
    let mut spacing: Vec<f64> = busy
        .windows(2)
        .map(|w| (days[w[1]].0 - days[w[0]].0) as f64)
        .collect();
    let gap = crate::stats::median(&mut spacing).map_or(WINDOW_GAP_DAYS, |m| {
        WINDOW_GAP_DAYS.max((3.0 * m).ceil() as i64)
    });
    let start_hi = at(0.5);
    let mut hi = start_hi;
    for &i in busy.iter().filter(|&&i| i > start_hi) {
        if days[i].0 - days[hi].0 > gap {
            break;
        }
        hi = i;
    }
    let start_lo = at(0.5);
    let mut lo = start_lo;
    for &i in busy.iter().rev().filter(|&&i| i < start_lo) {
        if days[lo].0 - days[i].0 > gap {
            break;
        }
        lo = i;
    }
    let count = |r: &[(i64, u64)]| (r.iter().map(|d| d.1).sum(), r.len() as u64);
    let (mut before_lines, mut before_days) = count(&days[..lo]);
    let (mut after_lines, mut after_days) = count(&days[hi + 1..]);
    // Stray timestamps are a few; when the chain would set aside more than
    // MAX_OUTSIDE of the transactions, the history itself has a gap (a closure):
    // keep everything.
    if (before_lines + after_lines) as f64 > MAX_OUTSIDE * total as f64 {
        lo = 0;
        hi = days.len() - 1;
        (before_lines, before_days, after_lines, after_days) = (0, 0, 0, 0);
    }
    Some(Window {
        since: days[lo].0 as i32,
        as_of: days[hi].0 as i32 + 1,
        before_lines,
        before_days,
        after_lines,
        after_days,
        gap_days: gap,
    })
}

/// The history's window and where it came from (`--as-of`, `--since`,
/// `mall.json`, or how it was estimated).
pub(super) struct History {
    pub(super) as_of: i32,
    pub(super) since: Option<i32>,
    pub(super) as_of_source: Option<String>,
    pub(super) since_source: Option<String>,
}

/// The window `spec` gives, or its missing ends estimated over the whole history
/// of `raw_transactions` ([`estimate_window`]): a cheap global pre-pass, one row a
/// day.
pub(super) async fn history(
    ctx: &SessionContext,
    spec: &FeatureSpec,
    tx: &Registered,
) -> Result<History> {
    let mut as_of_source = spec.as_of_source.clone();
    let mut since_source = spec.since_source.clone();
    let (as_of, since) = match (spec.as_of, spec.since) {
        (Some(a), Some(s)) => (a, Some(s)),
        (a, s) => {
            let q = format!(
                "SELECT CAST(FLOOR(date_part('epoch', CAST({ts} AS TIMESTAMP)) / 86400) AS BIGINT) AS d, COUNT(*) AS n \
                 FROM raw_transactions WHERE {ts} IS NOT NULL AND {id} IS NOT NULL GROUP BY 1",
                ts = tx.exprs["ts"],
                id = tx.exprs["customer_id"]
            );
            let batches = collect(ctx, &q, &tx.path).await?;
            let mut days = Vec::new();
            for b in &batches {
                let d = cast(b.column(0), &DataType::Int64).map_err(|e| df_err(&tx.path, e))?;
                let n = cast(b.column(1), &DataType::Int64).map_err(|e| df_err(&tx.path, e))?;
                let (d, n) = (d.as_primitive::<Int64Type>(), n.as_primitive::<Int64Type>());
                for i in 0..b.num_rows() {
                    if d.is_valid(i) {
                        days.push((d.value(i), n.value(i) as u64));
                    }
                }
            }
            let Some(w) = estimate_window(&mut days) else {
                return Err(Error::Empty {
                    path: tx.path.clone(),
                });
            };
            let a = a.unwrap_or_else(|| {
                as_of_source = Some(format!(
                    "estimated: the day after the last busy day (at least 1% of a typical day's transactions) that follows the median transaction with no gap over {} days ({} transaction(s) on {} later day(s) fall outside)",
                    w.gap_days, w.after_lines, w.after_days
                ));
                w.as_of
            });
            let s = match s {
                Some(s) => Some(s),
                None if w.before_lines > 0 => {
                    since_source = Some(format!(
                        "estimated: the first busy day (at least 1% of a typical day's transactions) that precedes the median transaction with no gap over {} days ({} transaction(s) on {} earlier day(s) fall outside)",
                        w.gap_days, w.before_lines, w.before_days
                    ));
                    Some(w.since)
                }
                None => None,
            };
            if let Some(s) = s {
                if s >= a {
                    return Err(Error::param(
                        "--since",
                        format!("{} is not before the as-of date {} (rule: the history is [since, as-of))", format_date(s), format_date(a)),
                    ));
                }
            }
            (a, s)
        }
    };
    Ok(History {
        as_of,
        since,
        as_of_source,
        since_source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_few_stray_days_do_not_move_the_window() {
        // 400 contiguous days of 100 transactions, plus 3 stray ones ten years out
        // and 2 ten years before.
        let mut days: Vec<(i64, u64)> = (1000..1400).map(|d| (d, 100)).collect();
        days.extend([(4650, 1), (4700, 2), (-2700, 1), (-2650, 1)]);
        let w = estimate_window(&mut days).unwrap();
        assert_eq!((w.since, w.as_of), (1000, 1400));
        assert_eq!((w.after_lines, w.after_days), (3, 2));
        assert_eq!((w.before_lines, w.before_days), (2, 2));
        // A contiguous history keeps every day, sparse edges included.
        let mut days: Vec<(i64, u64)> = (0..100).map(|d| (d * 7, 1)).collect();
        let w = estimate_window(&mut days).unwrap();
        assert_eq!(
            (w.since, w.as_of, w.after_lines, w.before_lines),
            (0, 694, 0, 0)
        );
        // Five strays every third day for years (1.2% of all transactions): each
        // of their days is below the busy bar (1% of a typical day's 1,000).
        let mut days: Vec<(i64, u64)> = (1000..1400).map(|d| (d, 1000)).collect();
        days.extend((0..1000).map(|i| (1400 + 3 * i, 5)));
        let w = estimate_window(&mut days).unwrap();
        assert_eq!((w.as_of, w.after_lines, w.after_days), (1400, 5000, 1000));
        // Monthly timestamps (31-day spacing) keep every month.
        let mut days: Vec<(i64, u64)> = (0..24).map(|m| (m * 31, 500)).collect();
        let w = estimate_window(&mut days).unwrap();
        assert_eq!((w.since, w.as_of, w.after_lines), (0, 23 * 31 + 1, 0));
        // A six-week closure in the middle of the history is not its end.
        let mut days: Vec<(i64, u64)> = (0..100).chain(142..300).map(|d| (d, 100)).collect();
        let w = estimate_window(&mut days).unwrap();
        assert_eq!(
            (w.since, w.as_of, w.before_lines, w.after_lines),
            (0, 300, 0, 0)
        );
        assert!(estimate_window(&mut []).is_none());
    }
}
