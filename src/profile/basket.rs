//! Market basket: association rules between product categories, per segment.
//!
//! A basket is the set of categories one customer bought on one day. Apriori over
//! category bitmasks (at most 64 categories): frequent itemsets up to three
//! categories, then every rule `A → b` with a single consequent, with support,
//! confidence and lift. Plus an item-to-item recommendation by cosine similarity
//! between categories (columns of the customer × category spend matrix), as the
//! mission's notebook did.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// Limits of the rule search.
#[derive(Clone, Copy, Debug)]
pub struct BasketParams {
    /// Minimum support of an itemset (share of the segment's baskets).
    pub min_support: f64,
    /// Minimum confidence of a rule.
    pub min_confidence: f64,
    /// Rules must have a lift above this (1: more often together than by chance).
    pub min_lift: f64,
    /// Rules kept per segment (highest lift first).
    pub top: usize,
}

impl Default for BasketParams {
    fn default() -> Self {
        BasketParams {
            min_support: 0.01,
            min_confidence: 0.2,
            min_lift: 1.0,
            top: 10,
        }
    }
}

/// One association rule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AssocRule {
    /// Antecedent categories.
    pub antecedent: Vec<String>,
    /// Consequent category.
    pub consequent: String,
    /// Share of baskets holding antecedent and consequent.
    pub support: f64,
    /// support(A ∪ b) / support(A).
    pub confidence: f64,
    /// confidence / support(b).
    pub lift: f64,
}

/// Rules of one segment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentRules {
    /// Segment id.
    pub segment: i32,
    /// Baskets (customer-days) in the segment.
    pub baskets: u64,
    /// Rules, highest lift first.
    pub rules: Vec<AssocRule>,
}

/// A category and its most similar other categories.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recommendation {
    /// The category bought.
    pub category: String,
    /// The most similar categories with their cosine similarity, best first.
    pub similar: Vec<(String, f64)>,
}

/// The basket part of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BasketReport {
    /// What a basket is.
    pub basket: String,
    /// Minimum support used.
    pub min_support: f64,
    /// Minimum confidence used.
    pub min_confidence: f64,
    /// Minimum lift used.
    pub min_lift: f64,
    /// Categories seen.
    pub categories: Vec<String>,
    /// Transaction lines used.
    pub lines: u64,
    /// Per segment.
    pub segments: Vec<SegmentRules>,
    /// Item-to-item recommendations (cosine similarity over customers' spend).
    pub recommendations: Vec<Recommendation>,
}

/// Association rules over `baskets` (bitmasks over `categories`).
pub fn rules(baskets: &[u64], categories: &[String], p: &BasketParams) -> Vec<AssocRule> {
    let n = baskets.len();
    if n == 0 {
        return Vec::new();
    }
    let nf = n as f64;
    let m = categories.len().min(64);
    let mut count: HashMap<u64, u64> = HashMap::new();
    // Level 1.
    let mut singles = vec![0u64; m];
    for &b in baskets {
        for (i, s) in singles.iter_mut().enumerate() {
            if b >> i & 1 == 1 {
                *s += 1;
            }
        }
    }
    let frequent = |c: u64| c as f64 / nf >= p.min_support;
    let items: Vec<usize> = (0..m).filter(|&i| frequent(singles[i])).collect();
    for &i in &items {
        count.insert(1 << i, singles[i]);
    }
    // Levels 2 and 3: candidates from frequent subsets (Apriori pruning).
    let mut level: Vec<u64> = items.iter().map(|&i| 1u64 << i).collect();
    for _size in 2..=3 {
        let mut cands: Vec<u64> = Vec::new();
        for &s in &level {
            for &i in &items {
                let bit = 1u64 << i;
                if s & bit != 0 || bit < (1u64 << (63 - s.leading_zeros())) {
                    continue;
                }
                let c = s | bit;
                // Every subset one smaller must be frequent.
                let ok = (0..m)
                    .filter(|&j| c >> j & 1 == 1)
                    .all(|j| count.contains_key(&(c & !(1u64 << j))));
                if ok {
                    cands.push(c);
                }
            }
        }
        let mut counts = vec![0u64; cands.len()];
        for &b in baskets {
            for (k, &c) in cands.iter().enumerate() {
                if b & c == c {
                    counts[k] += 1;
                }
            }
        }
        level = Vec::new();
        for (c, k) in cands.into_iter().zip(counts) {
            if frequent(k) {
                count.insert(c, k);
                level.push(c);
            }
        }
        if level.is_empty() {
            break;
        }
    }
    let mut out = Vec::new();
    for (&set, &k) in &count {
        if set.count_ones() < 2 {
            continue;
        }
        for j in 0..m {
            let bit = 1u64 << j;
            if set & bit == 0 {
                continue;
            }
            let a = set & !bit;
            let conf = k as f64 / count[&a] as f64;
            if conf < p.min_confidence {
                continue;
            }
            let sup_b = count[&bit] as f64 / nf;
            if conf / sup_b <= p.min_lift {
                continue;
            }
            out.push(AssocRule {
                antecedent: (0..m)
                    .filter(|&i| a >> i & 1 == 1)
                    .map(|i| categories[i].clone())
                    .collect(),
                consequent: categories[j].clone(),
                support: k as f64 / nf,
                confidence: conf,
                lift: conf / sup_b,
            });
        }
    }
    out.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(b.support.total_cmp(&a.support))
            .then(a.antecedent.cmp(&b.antecedent))
            .then(a.consequent.cmp(&b.consequent))
    });
    out
}

/// For each category, its `top` most similar categories by the cosine similarity of
/// their columns in `spend` (one row per customer, one column per category: purchase
/// counts or amounts).
pub fn cosine_recommendations(
    spend: &[Vec<f64>],
    categories: &[String],
    top: usize,
) -> Vec<Recommendation> {
    let m = categories.len();
    let mut dot = vec![vec![0f64; m]; m];
    for row in spend {
        for i in 0..m {
            if row[i] == 0.0 {
                continue;
            }
            for j in 0..m {
                dot[i][j] += row[i] * row[j];
            }
        }
    }
    (0..m)
        .map(|i| {
            let mut sims: Vec<(String, f64)> = (0..m)
                .filter(|&j| j != i)
                .map(|j| {
                    let den = (dot[i][i] * dot[j][j]).sqrt();
                    let s = if den > 0.0 { dot[i][j] / den } else { 0.0 };
                    (categories[j].clone(), s)
                })
                .collect();
            sims.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            sims.truncate(top);
            Recommendation {
                category: categories[i].clone(),
                similar: sims,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_example() {
        let cats: Vec<String> = ["bread", "milk", "beer"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // bread+milk ×3, bread ×1, beer ×1
        let b = [0b011, 0b011, 0b011, 0b001, 0b100];
        let p = BasketParams {
            min_support: 0.2,
            min_confidence: 0.5,
            min_lift: 1.0,
            top: 10,
        };
        let r = rules(&b, &cats, &p);
        let milk_bread = r.iter().find(|x| x.consequent == "bread").unwrap();
        assert_eq!(milk_bread.antecedent, vec!["milk".to_string()]);
        assert!((milk_bread.support - 0.6).abs() < 1e-12);
        assert!((milk_bread.confidence - 1.0).abs() < 1e-12);
        assert!((milk_bread.lift - 1.0 / 0.8).abs() < 1e-12);
    }

    #[test]
    fn cosine_is_one_for_proportional_columns() {
        let cats: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let spend = vec![
            vec![1.0, 2.0, 0.0],
            vec![2.0, 4.0, 0.0],
            vec![0.0, 0.0, 5.0],
        ];
        let r = cosine_recommendations(&spend, &cats, 1);
        assert_eq!(r[0].similar[0].0, "b");
        assert!((r[0].similar[0].1 - 1.0).abs() < 1e-12);
        assert_eq!(r[2].similar[0].1, 0.0);
    }
}
