//! Initial centroids: greedy k-means++ (scikit-learn's algorithm: `2 + ⌊ln k⌋` local
//! trials, the candidate that lowers the potential most wins) and uniform random
//! rows.
//!
//! Each pass over the data runs in parallel over fixed row chunks whose partial sums
//! are combined in chunk order, so the chosen rows do not depend on the thread count.
//! Distances come from the CPU kernel's lane scorer (the same FMA chain as
//! `fma_sqdist`, eight candidates per instruction).

use std::collections::HashSet;

use rayon::prelude::*;

use super::cpu::{candidate_distances, Isa, Packed, CANDIDATE_LANES, CHUNK_ROWS};
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

/// The squared distance of every row to each of `rows` (`m × d`), chunk by chunk:
/// `out[chunk]` holds [`candidate_distances`]'s layout for that chunk's rows.
/// The buffers are sized on the first call and reused by every later centre.
fn distances_to(x: &Matrix, rows: &[f32], m: usize, isa: Isa, bufs: &mut Vec<Vec<f32>>) {
    let d = x.d();
    let packed = Packed::new(rows, m, d, CANDIDATE_LANES);
    let chunks = x.n().div_ceil(CHUNK_ROWS);
    bufs.resize_with(chunks, Vec::new);
    x.data()
        .par_chunks(CHUNK_ROWS * d)
        .zip(bufs.par_iter_mut())
        .for_each(|(xc, buf)| {
            buf.resize(packed.blocks * (xc.len() / d) * CANDIDATE_LANES, 0.0);
            candidate_distances(isa, xc, d, &packed, buf);
        });
}

/// Candidate `t`'s distance to row `i` of a chunk of `rows` rows.
#[inline(always)]
fn at(buf: &[f32], rows: usize, i: usize, t: usize) -> f32 {
    let (b, l) = (t / CANDIDATE_LANES, t % CANDIDATE_LANES);
    buf[(b * rows + i) * CANDIDATE_LANES + l]
}

/// Greedy k-means++ seeding; returns `k × d` centroids, row-major.
///
/// Per new centre, one pass scores every row against all `2 + ⌊ln k⌋` candidates
/// at once (eight candidates per AVX2 instruction, the distances kept), and a
/// second, arithmetic-only pass folds the winner's distances into the running
/// minimum and sums the next sampling weights. The arithmetic and its order are
/// those of the textbook loop, so the chosen rows are the same, bit for bit, for
/// any thread count.
pub fn kmeans_plus_plus(x: &Matrix, w: Option<&[f32]>, k: usize, rng: &mut Rng) -> Vec<f32> {
    let (n, d) = (x.n(), x.d());
    let isa = Isa::detect();
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
    let mut dist: Vec<Vec<f32>> = Vec::new();
    distances_to(x, &centers, 1, isa, &mut dist);
    let mut closest: Vec<f64> = dist
        .iter()
        .flat_map(|buf| {
            let rows = buf.len() / CANDIDATE_LANES;
            (0..rows).map(move |i| at(buf, rows, i, 0) as f64)
        })
        .collect();
    let mut sums = chunk_sums(&closest, w);
    for _ in 1..k {
        let pot: f64 = sums.iter().sum();
        let cand: Vec<usize> = (0..trials)
            .map(|_| search_cumsum(&closest, w, &sums, rng.next_f64() * pot))
            .collect();
        let rows: Vec<f32> = cand.iter().flat_map(|&i| x.row(i).to_vec()).collect();
        distances_to(x, &rows, trials, isa, &mut dist);
        let pots: Vec<Vec<f64>> = dist
            .par_iter()
            .zip(closest.par_chunks(CHUNK_ROWS))
            .enumerate()
            .map(|(ci, (buf, cc))| {
                let mut p = vec![0.0f64; trials];
                for (i, c0) in cc.iter().enumerate() {
                    let wi = weight(w, ci * CHUNK_ROWS + i);
                    for (t, pt) in p.iter_mut().enumerate() {
                        *pt += wi * c0.min(at(buf, cc.len(), i, t) as f64);
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
        sums = closest
            .par_chunks_mut(CHUNK_ROWS)
            .zip(dist.par_iter())
            .enumerate()
            .map(|(ci, (cc, buf))| {
                let rows = cc.len();
                let mut s = 0.0f64;
                for (i, c0) in cc.iter_mut().enumerate() {
                    *c0 = c0.min(at(buf, rows, i, best) as f64);
                    s += *c0 * weight(w, ci * CHUNK_ROWS + i);
                }
                s
            })
            .collect();
        centers.extend_from_slice(&rows[best * d..(best + 1) * d]);
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

    /// The textbook greedy k-means++ loop, one scalar distance at a time: the
    /// fused passes must choose the same rows.
    fn reference(x: &Matrix, w: Option<&[f32]>, k: usize, rng: &mut Rng) -> Vec<f32> {
        let (n, d) = (x.n(), x.d());
        let trials = 2 + (k as f64).ln() as usize;
        let first = match w {
            None => rng.below(n as u64) as usize,
            Some(_) => {
                let ones = vec![1.0f64; n];
                let sums = chunk_sums(&ones, w);
                search_cumsum(&ones, w, &sums, rng.next_f64() * sums.iter().sum::<f64>())
            }
        };
        let mut centers = x.row(first).to_vec();
        let dist = |i: usize, c: &[f32]| super::super::cpu::fma_sqdist(x.row(i), c) as f64;
        let mut closest: Vec<f64> = (0..n).map(|i| dist(i, &centers[..d])).collect();
        for _ in 1..k {
            let sums = chunk_sums(&closest, w);
            let pot: f64 = sums.iter().sum();
            let cand: Vec<usize> = (0..trials)
                .map(|_| search_cumsum(&closest, w, &sums, rng.next_f64() * pot))
                .collect();
            let mut total = vec![0.0f64; trials];
            for chunk in (0..n).collect::<Vec<_>>().chunks(CHUNK_ROWS) {
                let mut p = vec![0.0f64; trials];
                for &i in chunk {
                    for (t, &c) in cand.iter().enumerate() {
                        p[t] += weight(w, i) * closest[i].min(dist(i, x.row(c)));
                    }
                }
                for (a, b) in total.iter_mut().zip(&p) {
                    *a += b;
                }
            }
            let best = (0..trials).fold(0, |b, t| if total[t] < total[b] { t } else { b });
            let row = x.row(cand[best]).to_vec();
            for (i, c0) in closest.iter_mut().enumerate() {
                *c0 = c0.min(dist(i, &row));
            }
            centers.extend_from_slice(&row);
        }
        centers
    }

    #[test]
    fn fused_passes_choose_the_textbook_rows() {
        for &(n, d, k) in &[(10_000, 16, 8), (9_001, 3, 70), (500, 7, 12)] {
            let x = crate::generate::blobs(crate::generate::BlobsSpec::new(n, d, 5, 1)).x;
            let w: Vec<f32> = (0..n).map(|i| (i % 7) as f32 * 0.5).collect();
            for (seed, weights) in [(0, None), (3, Some(w.as_slice()))] {
                let got = kmeans_plus_plus(&x, weights, k, &mut Rng::new(seed));
                let want = reference(&x, weights, k, &mut Rng::new(seed));
                assert_eq!(got, want, "n={n} d={d} k={k} seed={seed}");
            }
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
