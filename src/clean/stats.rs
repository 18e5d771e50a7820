//! Column statistics for cleaning: the before/after summaries of `clean.json`,
//! numpy's linear quantile (outlier fences, median imputation) and the mode.

use super::ColumnSummary;

/// A column's cells, a missing one as NaN (8 bytes a cell where `Option<f64>`
/// takes 16: the clean stage holds every feature cell of the table).
pub(super) struct Cells(pub(super) Vec<f64>);

impl Cells {
    /// The value of row `r`, if any.
    pub(super) fn get(&self, r: usize) -> Option<f64> {
        let v = self.0[r];
        (!v.is_nan()).then_some(v)
    }

    /// Sets row `r` (`None`: missing).
    pub(super) fn set(&mut self, r: usize, v: Option<f64>) {
        self.0[r] = v.unwrap_or(f64::NAN);
    }
}

pub(super) fn summary(v: impl Iterator<Item = Option<f64>>) -> ColumnSummary {
    let mut all = 0u64;
    let mut x: Vec<f64> = v.inspect(|_| all += 1).flatten().collect();
    let missing = all - x.len() as u64;
    if x.is_empty() {
        return ColumnSummary {
            count: 0,
            missing,
            mean: None,
            min: None,
            median: None,
            max: None,
        };
    }
    let mean = x.iter().sum::<f64>() / x.len() as f64;
    x.sort_by(f64::total_cmp);
    ColumnSummary {
        count: x.len() as u64,
        missing,
        mean: Some(mean),
        min: Some(x[0]),
        median: Some(quantile(&x, 0.5)),
        max: Some(x[x.len() - 1]),
    }
}

/// numpy's linear quantile of sorted data (the one definition, [`crate::stats`]).
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    crate::stats::quantile_sorted(sorted, q)
}

/// The most frequent value (smallest on a tie) of a non-empty column.
pub(super) fn mode(values: &[f64]) -> f64 {
    crate::stats::mode(values).unwrap_or(f64::NAN)
}

/// A value held by at least [`POINT_MASS`] of the rows of a sorted column, and
/// that share: a bound of a share column (0 or 1), a frequency score's floor.
pub(super) fn point_mass(sorted: &[f64]) -> Option<(f64, f64)> {
    let (mut best, mut len, mut i) = (None, 0usize, 0usize);
    while i < sorted.len() {
        let j = i + sorted[i..].partition_point(|v| *v == sorted[i]);
        if j - i > len {
            (best, len) = (Some(sorted[i]), j - i);
        }
        i = j;
    }
    let share = len as f64 / sorted.len().max(1) as f64;
    best.filter(|_| share >= POINT_MASS).map(|v| (v, share))
}

/// The share of a column's rows at one value from which that value is a point
/// mass: the outlier rule judges the column on its other values, never the mass.
pub const POINT_MASS: f64 = 0.2;

/// The most an outlier rule flags of a column's rows before it says so: beyond it
/// the column's shape may defeat the rule (a second mode, a heavy tail the
/// transform missed). The rule is still applied, with a warning.
pub const MAX_FLAGGED: f64 = 0.05;
