//! Column statistics for cleaning: the before/after summaries of `clean.json`,
//! numpy's linear quantile (outlier fences, median imputation) and the mode.

use super::ColumnSummary;

pub(super) fn summary(v: &[Option<f64>]) -> ColumnSummary {
    let mut x: Vec<f64> = v.iter().flatten().copied().collect();
    let missing = (v.len() - x.len()) as u64;
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
