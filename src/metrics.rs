//! Partition agreement: the adjusted Rand index, used to compare labels with a
//! ground truth or two backends with each other.

use std::collections::HashMap;

fn comb2(x: f64) -> f64 {
    x * (x - 1.0) / 2.0
}

/// Adjusted Rand index between two labelings of the same rows (scikit-learn's
/// `adjusted_rand_score`): 1 for identical partitions, about 0 for chance.
pub fn adjusted_rand_index<A: Eq + std::hash::Hash + Copy, B: Eq + std::hash::Hash + Copy>(
    a: &[A],
    b: &[B],
) -> f64 {
    assert_eq!(a.len(), b.len(), "labelings differ in length");
    let n = a.len() as f64;
    let mut pairs: HashMap<(A, B), u64> = HashMap::new();
    let mut ra: HashMap<A, u64> = HashMap::new();
    let mut rb: HashMap<B, u64> = HashMap::new();
    for (x, y) in a.iter().zip(b) {
        *pairs.entry((*x, *y)).or_default() += 1;
        *ra.entry(*x).or_default() += 1;
        *rb.entry(*y).or_default() += 1;
    }
    let index: f64 = pairs.values().map(|&v| comb2(v as f64)).sum();
    let sa: f64 = ra.values().map(|&v| comb2(v as f64)).sum();
    let sb: f64 = rb.values().map(|&v| comb2(v as f64)).sum();
    let expected = sa * sb / comb2(n).max(f64::MIN_POSITIVE);
    let max = (sa + sb) / 2.0;
    if max == expected {
        // Both partitions are trivial (one cluster, or all singletons): scikit-learn
        // returns 1.0 here.
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_up_to_relabelling_is_one() {
        assert_eq!(adjusted_rand_index(&[0, 0, 1, 1, 2], &[5, 5, 3, 3, 9]), 1.0);
    }

    #[test]
    fn matches_scikit_learn_on_a_known_case() {
        // sklearn.metrics.adjusted_rand_score([0,0,1,1],[0,0,1,2]) == 0.5714285714285715
        let v = adjusted_rand_index(&[0, 0, 1, 1], &[0, 0, 1, 2]);
        assert!((v - 0.571_428_571_428_571_5).abs() < 1e-12, "{v}");
    }
}
