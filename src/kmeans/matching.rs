//! Matching a new fit's segments to the previous ones, so a segment keeps its id
//! from one month to the next: the optimal assignment (Hungarian algorithm) on the
//! Euclidean distance between centroids, in the previous model's scaled space.
//!
//! A new centroid matched to a previous one counts as the same segment only when
//! it lies within `max_shift` × the distance from that previous centroid to its
//! nearest other previous centroid (0.5 by default: closer to where the segment was
//! than halfway to its nearest neighbour); otherwise it is a **new** segment, and
//! a previous segment left without a counterpart has **vanished**.

use serde::{Deserialize, Serialize};

/// Default of the matching threshold (see the module docs).
pub const DEFAULT_MAX_SHIFT: f64 = 0.5;

/// The pairs `(row, column)` of least total cost, `min(rows, columns)` of them
/// (Kuhn–Munkres with potentials, O(n² m)). Costs must be finite.
pub fn hungarian(cost: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let n = cost.len();
    let m = cost.first().map_or(0, Vec::len);
    if n == 0 || m == 0 {
        return Vec::new();
    }
    if n > m {
        let t: Vec<Vec<f64>> = (0..m)
            .map(|j| (0..n).map(|i| cost[i][j]).collect())
            .collect();
        let mut pairs: Vec<(usize, usize)> =
            hungarian(&t).into_iter().map(|(j, i)| (i, j)).collect();
        pairs.sort_unstable();
        return pairs;
    }
    // 1-based, as in the textbook form; p[j]: the row matched to column j.
    let (mut u, mut v) = (vec![0.0f64; n + 1], vec![0.0f64; m + 1]);
    let (mut p, mut way) = (vec![0usize; m + 1], vec![0usize; m + 1]);
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0;
        let mut minv = vec![f64::INFINITY; m + 1];
        let mut used = vec![false; m + 1];
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=m {
                if !used[j] {
                    let cur = cost[i0 - 1][j - 1] - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=m)
        .filter(|&j| p[j] != 0)
        .map(|j| (p[j] - 1, j - 1))
        .collect();
    pairs.sort_unstable();
    pairs
}

/// What became of one segment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentMatch {
    /// The segment's id in the new model.
    pub segment: usize,
    /// The previous segment it continues (`None`: new).
    pub previous: Option<usize>,
    /// Distance between its centroid and the previous one it was paired with
    /// (previous scaled units), whether or not that was close enough.
    pub distance: Option<f64>,
    /// The largest distance that counts as the same segment.
    pub threshold: Option<f64>,
    /// `kept`, `new` or `vanished`.
    pub status: String,
}

/// Euclidean distance.
pub fn distance(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x - y).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Pairs each new centroid with a previous one (ids `previous[i].0`), optimally,
/// and keeps the pairs within the threshold. Returns, per new centroid, the
/// previous id it continues (or `None`), the paired distance and the threshold.
pub fn match_centroids(
    previous: &[(usize, Vec<f32>)],
    new: &[Vec<f32>],
    max_shift: f64,
) -> Vec<(Option<usize>, Option<f64>, Option<f64>)> {
    // A non-finite distance (a centroid that is not finite) can match nothing:
    // a cost beyond any real one, and beyond every threshold.
    let cost: Vec<Vec<f64>> = new
        .iter()
        .map(|c| {
            previous
                .iter()
                .map(|(_, p)| {
                    Some(distance(c, p))
                        .filter(|d| d.is_finite())
                        .unwrap_or(1e300)
                })
                .collect()
        })
        .collect();
    let threshold: Vec<f64> = previous
        .iter()
        .enumerate()
        .map(|(j, (_, p))| {
            let nn = previous
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != j)
                .map(|(_, (_, q))| distance(p, q))
                .fold(f64::INFINITY, f64::min);
            max_shift * nn
        })
        .collect();
    let mut out = vec![(None, None, None); new.len()];
    for (i, j) in hungarian(&cost) {
        let d = cost[i][j];
        let t = threshold[j];
        out[i] = (
            (d <= t).then_some(previous[j].0),
            Some(d),
            t.is_finite().then_some(t),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hungarian_finds_the_optimum_where_greedy_does_not() {
        // Greedy takes (0,0) = 1, then (1,1) = 10: 11. The optimum is 2 + 3 = 5.
        let c = vec![vec![1.0, 2.0], vec![3.0, 10.0]];
        assert_eq!(hungarian(&c), vec![(0, 1), (1, 0)]);
        // Brute force over every permutation of a seeded 6 x 6.
        let mut r = crate::rng::Rng::new(3);
        let c: Vec<Vec<f64>> = (0..6)
            .map(|_| (0..6).map(|_| r.next_f64()).collect())
            .collect();
        let total = |p: &[(usize, usize)]| p.iter().map(|&(i, j)| c[i][j]).sum::<f64>();
        let mut best = f64::INFINITY;
        let mut perm: Vec<usize> = (0..6).collect();
        permute(&mut perm, 0, &mut |p| {
            best = best.min(p.iter().enumerate().map(|(i, &j)| c[i][j]).sum());
        });
        assert!((total(&hungarian(&c)) - best).abs() < 1e-12);
    }

    fn permute(v: &mut Vec<usize>, k: usize, f: &mut dyn FnMut(&[usize])) {
        if k == v.len() {
            f(v);
            return;
        }
        for i in k..v.len() {
            v.swap(k, i);
            permute(v, k + 1, f);
            v.swap(k, i);
        }
    }

    #[test]
    fn rectangular_costs_match_the_smaller_side() {
        let c = vec![vec![5.0, 1.0, 9.0]];
        assert_eq!(hungarian(&c), vec![(0, 1)]);
        let c = vec![vec![5.0], vec![1.0], vec![9.0]];
        assert_eq!(hungarian(&c), vec![(1, 0)]);
    }

    #[test]
    fn permuted_centroids_are_matched_back_and_a_far_one_is_new() {
        let prev = vec![
            (0, vec![0.0, 0.0]),
            (1, vec![10.0, 0.0]),
            (2, vec![0.0, 10.0]),
        ];
        // The same three, shuffled and nudged, and one far from all.
        let new = vec![
            vec![0.3, 9.8],
            vec![30.0, 30.0],
            vec![0.1, -0.2],
            vec![9.7, 0.4],
        ];
        let m = match_centroids(&prev, &new, DEFAULT_MAX_SHIFT);
        let ids: Vec<Option<usize>> = m.iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![Some(2), None, Some(0), Some(1)]);
        // The threshold is half the distance to the nearest other centroid (10).
        assert_eq!(m[0].2, Some(5.0));
    }
}
