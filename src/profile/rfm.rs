//! The standard RFM segment map: per customer quintile scores of recency,
//! frequency and spend, and the name of a segment's mean (R, FM) scores. It names
//! every segment no mall persona fits (transaction-only data above all).

use crate::matrix::Matrix;

/// The standard RFM segment map: the name of a (R, FM) pair of 1–5 scores, rows R
/// = 5..1, columns FM = 1..5 (R: recency, 5 the most recent; FM: the mean of the
/// frequency and spend scores).
pub const RFM_MAP: [[&str; 5]; 5] = [
    [
        "New Customers",
        "Potential Loyalist",
        "Potential Loyalist",
        "Champions",
        "Champions",
    ],
    [
        "Promising",
        "Potential Loyalist",
        "Potential Loyalist",
        "Loyal Customers",
        "Champions",
    ],
    [
        "About to Sleep",
        "About to Sleep",
        "Need Attention",
        "Loyal Customers",
        "Loyal Customers",
    ],
    [
        "Hibernating",
        "Hibernating",
        "At Risk",
        "At Risk",
        "Can't Lose Them",
    ],
    [
        "Lost",
        "Lost",
        "At Risk",
        "Can't Lose Them",
        "Can't Lose Them",
    ],
];

/// One-sentence descriptions of the RFM names.
pub fn rfm_description(name: &str) -> &'static str {
    match name {
        "Champions" => "Bought recently, buy often and spend the most.",
        "Loyal Customers" => "Buy regularly and spend well; responsive to loyalty offers.",
        "Potential Loyalist" => {
            "Recent customers with average frequency and spend: could become loyal."
        }
        "New Customers" => "Bought very recently, but not often yet.",
        "Promising" => "Recent shoppers who have not bought much yet.",
        "Need Attention" => {
            "Average recency, frequency and spend: slipping without a reason to come back."
        }
        "About to Sleep" => {
            "Below-average recency and frequency: will be lost without reactivation."
        }
        "At Risk" => "Used to buy often and spend well, but long ago.",
        "Can't Lose Them" => {
            "Were among the best customers, and have not come back for a long time."
        }
        "Hibernating" => "Last bought long ago, with few purchases and low spend.",
        "Lost" => "The lowest recency, frequency and spend scores.",
        _ => "",
    }
}

/// The RFM name of mean scores (rounded to the nearest whole score).
pub fn rfm_name(r: f64, fm: f64) -> &'static str {
    let idx = |v: f64| (v.round().clamp(1.0, 5.0) as usize) - 1;
    RFM_MAP[4 - idx(r)][idx(fm)]
}

/// Quintile scores 1–5 of a column: 1 + ⌊5 · (values strictly below) / n⌋, so tied
/// values share a score; `reverse` scores low values high (recency).
pub fn quintile_scores(v: &[f64], reverse: bool) -> Vec<f64> {
    let n = v.len();
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    v.iter()
        .map(|x| {
            let below = if reverse {
                n - sorted.partition_point(|s| s <= x)
            } else {
                sorted.partition_point(|s| s < x)
            };
            (1 + (5 * below) / n.max(1)).min(5) as f64
        })
        .collect()
}

/// Per customer `[R, FM]`: R the quintile score of recency (recent is 5), FM the
/// mean of the frequency and spend scores; `None` without those three features.
pub fn rfm_scores(x: &Matrix, features: &[String]) -> Option<Vec<[f64; 2]>> {
    let at = |f: &str| features.iter().position(|n| n == f);
    let (r, f, m) = (
        at("recency_days")?,
        at("frequency_per_month")?,
        at("monetary_total")?,
    );
    let col = |j: usize| -> Vec<f64> { (0..x.n()).map(|i| f64::from(x.row(i)[j])).collect() };
    let (rs, fs, ms) = (
        quintile_scores(&col(r), true),
        quintile_scores(&col(f), false),
        quintile_scores(&col(m), false),
    );
    Some((0..x.n()).map(|i| [rs[i], (fs[i] + ms[i]) / 2.0]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfm_map_names_the_corners_and_scores_share_ties() {
        assert_eq!(rfm_name(5.0, 5.0), "Champions");
        assert_eq!(rfm_name(1.0, 1.0), "Lost");
        assert_eq!(rfm_name(1.2, 4.6), "Can't Lose Them");
        assert_eq!(rfm_name(4.0, 1.4), "Promising");
        assert_eq!(rfm_name(5.0, 1.0), "New Customers");
        assert_eq!(rfm_name(3.0, 3.0), "Need Attention");
        let names: std::collections::BTreeSet<&str> = RFM_MAP.iter().flatten().copied().collect();
        assert_eq!(names.len(), 11, "{names:?}");
        assert!(names.iter().all(|n| !rfm_description(n).is_empty()));
        // Ties share a score; recency scores low values high.
        let v = [1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(
            quintile_scores(&v, false),
            vec![1., 1., 1., 2., 3., 3., 4., 4., 5., 5.]
        );
        assert_eq!(quintile_scores(&v, true)[9], 1.0);
        assert_eq!(quintile_scores(&v, true)[0], 4.0);
    }
}
