//! Initial centroids: greedy k-means++ (scikit-learn's algorithm: `2 + ⌊ln k⌋` local
//! trials, the candidate that lowers the potential most wins) and uniform random
//! rows.
//!
//! Each pass over the data runs in parallel over fixed row chunks whose partial sums
//! are combined in chunk order, so the chosen rows do not depend on the thread count.

use std::collections::HashSet;

use rayon::prelude::*;

use super::cpu::{fma_sqdist, CHUNK_ROWS};
use crate::matrix::Matrix;
use crate::rng::Rng;

fn weight(w: Option<&[f32]>, i: usize) -> f64 {
    w.map_or(1.0, |w| w[i] as f64)
}

/// Index of the first entry where the running sum of `v[i] * w[i]` reaches `target`
/// (numpy's `searchsorted(cumsum, target, side="left")`), clipped to the last row.
fn search_cumsum(v: &[f64], w: Option<&[f32]>, chunk_sums: &[f64], target: f64) -> usize {
    let mut acc = 0.0;
    for (ci, s) in chunk_sums.iter().enumerate() {
        if acc + s >= target {
            let start = ci * CHUNK_ROWS;
            for (i, x) in v[start..(start + CHUNK_ROWS).min(v.len())]
                .iter()
                .enumerate()
            {
                acc += x * weight(w, start + i);
                if acc >= target {
                    return start + i;
                }
            }
        } else {
            acc += s;
        }
    }
    v.len() - 1
}

fn chunk_sums(v: &[f64], w: Option<&[f32]>) -> Vec<f64> {
    v.par_chunks(CHUNK_ROWS)
        .enumerate()
        .map(|(ci, ch)| {
            ch.iter()
                .enumerate()
                .map(|(i, x)| x * weight(w, ci * CHUNK_ROWS + i))
                .sum()
        })
        .collect()
}

/// Greedy k-means++ seeding; returns `k × d` centroids, row-major.
pub fn kmeans_plus_plus(x: &Matrix, w: Option<&[f32]>, k: usize, rng: &mut Rng) -> Vec<f32> {
    let (n, d) = (x.n(), x.d());
    let trials = 2 + (k as f64).ln() as usize;
    let first = match w {
        None => rng.below(n as u64) as usize,
        Some(_) => {
            let ones = vec![1.0f64; n];
            let sums = chunk_sums(&ones, w);
            let total: f64 = sums.iter().sum();
            search_cumsum(&ones, w, &sums, rng.next_f64() * total)
        }
    };
    let mut centers: Vec<f32> = Vec::with_capacity(k * d);
    centers.extend_from_slice(x.row(first));
    let mut closest: Vec<f64> = x
        .data()
        .par_chunks(d)
        .map(|row| fma_sqdist(row, &centers[..d]) as f64)
        .collect();
    for _ in 1..k {
        let sums = chunk_sums(&closest, w);
        let pot: f64 = sums.iter().sum();
        let cand: Vec<usize> = (0..trials)
            .map(|_| search_cumsum(&closest, w, &sums, rng.next_f64() * pot))
            .collect();
        let rows: Vec<&[f32]> = cand.iter().map(|&i| x.row(i)).collect();
        let pots: Vec<Vec<f64>> = x
            .data()
            .par_chunks(CHUNK_ROWS * d)
            .zip(closest.par_chunks(CHUNK_ROWS))
            .enumerate()
            .map(|(ci, (xc, cc))| {
                let mut p = vec![0.0f64; trials];
                for (i, (row, c0)) in xc.chunks_exact(d).zip(cc).enumerate() {
                    let wi = weight(w, ci * CHUNK_ROWS + i);
                    for (t, cr) in rows.iter().enumerate() {
                        p[t] += wi * c0.min(fma_sqdist(row, cr) as f64);
                    }
                }
                p
            })
            .collect();
        let mut total = vec![0.0f64; trials];
        for p in &pots {
            for (a, b) in total.iter_mut().zip(p) {
                *a += b;
            }
        }
        let best = (0..trials).fold(0, |b, t| if total[t] < total[b] { t } else { b });
        let row = rows[best];
        closest
            .par_chunks_mut(CHUNK_ROWS)
            .zip(x.data().par_chunks(CHUNK_ROWS * d))
            .for_each(|(cc, xc)| {
                for (c0, r) in cc.iter_mut().zip(xc.chunks_exact(d)) {
                    *c0 = c0.min(fma_sqdist(r, row) as f64);
                }
            });
        centers.extend_from_slice(row);
    }
    centers
}

/// `k` distinct rows drawn uniformly (Floyd's algorithm), in draw order. Sample
/// weights do not bias this draw.
pub fn random_rows(x: &Matrix, k: usize, rng: &mut Rng) -> Vec<f32> {
    let n = x.n();
    let mut chosen = HashSet::with_capacity(k);
    let mut order = Vec::with_capacity(k);
    for j in (n - k)..n {
        let t = rng.below(j as u64 + 1) as usize;
        let pick = if chosen.contains(&t) { j } else { t };
        chosen.insert(pick);
        order.push(pick);
    }
    order
        .iter()
        .flat_map(|&i| x.row(i).iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_far_groups() -> Matrix {
        let mut v = Vec::new();
        for i in 0..50 {
            v.extend([i as f32 * 0.01, 0.0]);
        }
        for i in 0..50 {
            v.extend([100.0 + i as f32 * 0.01, 0.0]);
        }
        Matrix::new(100, 2, v)
    }

    #[test]
    fn plus_plus_picks_one_seed_in_each_far_group() {
        let x = two_far_groups();
        for seed in 0..20 {
            let c = kmeans_plus_plus(&x, None, 2, &mut Rng::new(seed));
            assert!((c[0] < 50.0) != (c[2] < 50.0), "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn plus_plus_ignores_zero_weight_rows() {
        let x = two_far_groups();
        let mut w = vec![1.0f32; 100];
        w[50..].fill(0.0);
        for seed in 0..10 {
            let c = kmeans_plus_plus(&x, Some(&w), 2, &mut Rng::new(seed));
            assert!(c[0] < 50.0 && c[2] < 50.0, "seed {seed}: {c:?}");
        }
    }

    #[test]
    fn random_rows_are_distinct_rows() {
        let x = Matrix::new(10, 1, (0..10).map(|i| i as f32).collect());
        let c = random_rows(&x, 10, &mut Rng::new(5));
        let mut s = c.clone();
        s.sort_by(f32::total_cmp);
        assert_eq!(s, (0..10).map(|i| i as f32).collect::<Vec<_>>());
    }
}
