//! One definition each of the order statistics every stage reports, so that
//! "median" means the same thing in `features.json`, `clean.json`, `profile.json`
//! and the robust scaler: numpy's default (linear) quantile, under which the median
//! of an even count is the mean of the two middle values.

/// numpy's linear quantile (`np.quantile(x, q)`, method `linear`) of data sorted
/// ascending. Panics on empty data (callers report an empty column first).
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// The median of `values` (reordered in place); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    Some(quantile_sorted(values, 0.5))
}

/// The most frequent value, the smallest on a tie; `None` when empty.
pub fn mode(values: &[f64]) -> Option<f64> {
    let mut x = values.to_vec();
    x.sort_by(f64::total_cmp);
    let (mut best, mut best_n) = (*x.first()?, 0usize);
    let mut i = 0;
    while i < x.len() {
        let mut j = i;
        while j < x.len() && x[j] == x[i] {
            j += 1;
        }
        if j - i > best_n {
            best = x[i];
            best_n = j - i;
        }
        i = j;
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_numpys_linear_ones() {
        // np.quantile([1, 2, 3, 4, 10], [0, .25, .5, .75, .9, 1])
        let x = [1.0, 2.0, 3.0, 4.0, 10.0];
        let want = [1.0, 2.0, 3.0, 4.0, 7.6, 10.0];
        for (q, w) in [0.0, 0.25, 0.5, 0.75, 0.9, 1.0].iter().zip(want) {
            assert!((quantile_sorted(&x, *q) - w).abs() < 1e-12, "q={q}");
        }
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn the_mode_takes_the_smallest_on_a_tie() {
        assert_eq!(mode(&[3.0, 1.0, 3.0, 1.0, 2.0]), Some(1.0));
        assert_eq!(mode(&[]), None);
    }
}
