//! Exact DBSCAN on the CPU, with scikit-learn's definitions: a row is a core point
//! when at least `min_samples` rows (itself included) lie within `eps` (distance ≤
//! eps); core points within `eps` of each other share a cluster; a non-core row
//! within `eps` of a core point is a border point of that point's cluster (of the
//! smallest-indexed such core point, where several clusters reach it); the rest is
//! noise, labelled −1.
//!
//! Memory is O(n) plus the index: neighbourhoods are streamed from the index to a
//! callback, counted or consumed, never stored (scikit-learn stores them all and
//! runs out of memory at a few hundred thousand rows). Clusters are merged with a
//! lock-free union-find whose roots are always the smallest index, and numbered by
//! their smallest member, so the labels do not depend on the thread count.

pub mod index;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::rng::Rng;
use index::{kdtree, sqdist64, Index};

/// The label of noise.
pub const NOISE: i32 = -1;

/// How eps is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Eps {
    /// A given radius, in scaled units.
    Value(f64),
    /// The knee of the sorted k-distance curve (k = min_samples).
    Auto,
}

/// DBSCAN parameters as the user sets them.
#[derive(Clone, Copy, Debug)]
pub struct DbscanParams {
    /// Radius.
    pub eps: Eps,
    /// Rows within eps (itself included) that make a core point.
    pub min_samples: usize,
    /// Seed of the sample the k-distance curve is drawn from (eps auto).
    pub seed: u64,
}

/// Checked parameters.
#[derive(Clone, Copy, Debug)]
pub struct ValidDbscanParams {
    eps: Eps,
    min_samples: usize,
    seed: u64,
}

impl DbscanParams {
    /// Checks every rule against data of `n` rows.
    pub fn check(self, n: usize) -> Result<ValidDbscanParams> {
        if let Eps::Value(e) = self.eps {
            if !(e.is_finite() && e > 0.0) {
                return Err(Error::param(
                    "eps",
                    format!("eps must be finite and > 0, got {e}"),
                ));
            }
        }
        if self.min_samples == 0 {
            return Err(Error::param("min-samples", "min_samples cannot be 0"));
        }
        if n == 0 {
            return Err(Error::param("input", "DBSCAN needs at least one row"));
        }
        Ok(ValidDbscanParams {
            eps: self.eps,
            min_samples: self.min_samples,
            seed: self.seed,
        })
    }
}

/// The sorted k-distance curve behind `--eps auto`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KDistance {
    /// k (= min_samples, the row itself counted).
    pub k: usize,
    /// Rows the curve was drawn from (a seeded sample of at most [`KDIST_SAMPLE`]).
    pub sample: usize,
    /// Distances to the k-th nearest row, ascending (at most 512 points, evenly spaced).
    pub curve: Vec<f64>,
    /// Index of the knee in the full sorted sample, and its distance (the eps chosen).
    pub knee_index: usize,
    /// The eps chosen.
    pub eps: f64,
}

/// Rows at most in the k-distance sample.
pub const KDIST_SAMPLE: usize = 20_000;

/// A DBSCAN result.
#[derive(Clone, Debug)]
pub struct DbscanFit {
    /// Label of each row: 0.. for clusters, −1 for noise.
    pub labels: Vec<i32>,
    /// Whether each row is a core point.
    pub core: Vec<bool>,
    /// Number of clusters.
    pub clusters: usize,
    /// Rows labelled noise.
    pub noise: usize,
    /// The eps used.
    pub eps: f64,
    /// The curve, when eps was chosen automatically.
    pub kdistance: Option<KDistance>,
    /// "grid" or "kd-tree".
    pub index: &'static str,
    /// Seconds: eps choice, index build, core counting, merging, borders.
    pub timings: Vec<(&'static str, f64)>,
}

/// Lock-free union-find whose roots are the smallest index of their set.
struct UnionFind {
    parent: Vec<AtomicU32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).map(AtomicU32::new).collect(),
        }
    }

    fn find(&self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let gp = self.parent[p as usize].load(Ordering::Acquire);
            // Path halving; a failed exchange only means another thread helped.
            let _ = self.parent[x as usize].compare_exchange(
                p,
                gp,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            x = gp;
        }
    }

    fn union(&self, a: u32, b: u32) {
        let (mut a, mut b) = (a, b);
        loop {
            a = self.find(a);
            b = self.find(b);
            if a == b {
                return;
            }
            let (hi, lo) = if a > b { (a, b) } else { (b, a) };
            if self.parent[hi as usize]
                .compare_exchange(hi, lo, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                return;
            }
        }
    }
}

/// The knee of an ascending curve: the point farthest below the chord from its
/// first to its last value (the kneedle rule for convex increasing curves).
pub fn knee(sorted: &[f64]) -> usize {
    let n = sorted.len();
    if n < 3 {
        return n.saturating_sub(1);
    }
    let (y0, y1) = (sorted[0], sorted[n - 1]);
    let span = (y1 - y0).max(f64::MIN_POSITIVE);
    let mut best = (0usize, f64::NEG_INFINITY);
    for (i, y) in sorted.iter().enumerate() {
        let xn = i as f64 / (n - 1) as f64;
        let yn = (y - y0) / span;
        if xn - yn > best.1 {
            best = (i, xn - yn);
        }
    }
    best.0
}

/// The k-distance curve of a seeded sample of rows, and the eps at its knee.
pub fn kdistance(x: &Matrix, k: usize, seed: u64) -> KDistance {
    let n = x.n();
    let tree = kdtree(x);
    let sample: Vec<usize> = if n <= KDIST_SAMPLE {
        (0..n).collect()
    } else {
        let mut r = Rng::new(seed);
        let mut s: Vec<usize> = (0..KDIST_SAMPLE)
            .map(|_| r.below(n as u64) as usize)
            .collect();
        s.sort_unstable();
        s
    };
    let kk = k.min(n);
    let mut d: Vec<f64> = sample
        .par_iter()
        .map(|&i| {
            tree.knn_sq(x.row(i), kk)
                .last()
                .copied()
                .unwrap_or(0.0)
                .sqrt()
        })
        .collect();
    d.sort_by(f64::total_cmp);
    let ki = knee(&d);
    let step = (d.len() / 512).max(1);
    KDistance {
        k,
        sample: d.len(),
        curve: d.iter().step_by(step).copied().collect(),
        knee_index: ki,
        eps: d[ki],
    }
}

/// Merges core points cell by cell: the cores of one cell are all within eps of
/// each other, and two neighbouring cells' cores are joined as soon as one pair of
/// them is within eps (or they already share a root).
fn merge_cells(x: &Matrix, g: &index::Grid<'_>, eps: f64, core: &[bool], uf: &UnionFind) {
    let eps2 = eps * eps;
    // The core rows of each cell, flattened: cell c's are list[start[c]..start[c + 1]].
    let mut start = Vec::with_capacity(g.cells() + 1);
    let mut list = Vec::new();
    for c in 0..g.cells() as u32 {
        start.push(list.len());
        list.extend(g.rows(c).iter().copied().filter(|i| core[*i as usize]));
    }
    start.push(list.len());
    let cores = |c: u32| &list[start[c as usize]..start[c as usize + 1]];
    (0..g.cells() as u32).into_par_iter().for_each(|c| {
        let mine = cores(c);
        let Some(&first) = mine.first() else { return };
        for &i in &mine[1..] {
            uf.union(first, i);
        }
        g.later_neighbour_cells(c, &mut |c2| {
            let theirs = cores(c2);
            let Some(&other) = theirs.first() else { return };
            if uf.find(first) == uf.find(other) {
                return;
            }
            let linked = mine.iter().any(|&p| {
                theirs
                    .iter()
                    .any(|&q| sqdist64(x.row(p as usize), x.row(q as usize)) <= eps2)
            });
            if linked {
                uf.union(first, other);
            }
        });
    });
}

/// Runs DBSCAN on `x` (already scaled).
pub fn fit(x: &Matrix, params: &ValidDbscanParams) -> Result<DbscanFit> {
    fit_weighted(x, None, params)
}

/// Runs DBSCAN on `x` (already scaled) with a weight per row, as scikit-learn's
/// `sample_weight`: a row is core when the weights within `eps` of it (its own
/// included) add up to at least `min_samples`. Weights are finite and >= 0
/// (checked by the caller); `None` is a weight of 1 each.
pub fn fit_weighted(
    x: &Matrix,
    w: Option<&[f32]>,
    params: &ValidDbscanParams,
) -> Result<DbscanFit> {
    let n = x.n();
    if let Some(w) = w {
        assert_eq!(w.len(), n, "one weight per row");
    }
    let mut timings = Vec::new();
    let t = Instant::now();
    let (eps, kd) = match params.eps {
        Eps::Value(e) => (e, None),
        Eps::Auto => {
            let kd = kdistance(x, params.min_samples, params.seed);
            if kd.eps.is_nan() || kd.eps <= 0.0 {
                return Err(Error::param(
                    "eps",
                    "eps auto found a zero k-distance knee (many identical rows); give --eps",
                ));
            }
            (kd.eps, Some(kd))
        }
    };
    timings.push(("eps", t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let index = Index::new(x, eps);
    timings.push(("index", t.elapsed().as_secs_f64()));

    // 1. core points: count neighbours, stopping at min_samples. On the grid a
    //    cell holding min_samples rows makes all of them core at once.
    let t = Instant::now();
    let m = params.min_samples;
    let core: Vec<bool> = (0..n)
        .into_par_iter()
        .map(|i| {
            if let Some(w) = w {
                let need = m as f64;
                let mut c = 0.0f64;
                index.within(x.row(i), eps, &mut |j| {
                    c += w[j as usize] as f64;
                    c < need
                });
                return c >= need;
            }
            if let Index::Grid(g) = &index {
                if g.rows(g.cell(i as u32)).len() >= m {
                    return true;
                }
            }
            let mut c = 0usize;
            index.within(x.row(i), eps, &mut |_| {
                c += 1;
                c < m
            });
            c >= m
        })
        .collect();
    timings.push(("core", t.elapsed().as_secs_f64()));

    // 2. merge core points within eps of each other.
    let t = Instant::now();
    let uf = UnionFind::new(n);
    match &index {
        Index::Grid(g) => merge_cells(x, g, eps, &core, &uf),
        Index::Tree(_) => (0..n).into_par_iter().filter(|&i| core[i]).for_each(|i| {
            let iu = i as u32;
            index.within(x.row(i), eps, &mut |j| {
                if j < iu && core[j as usize] {
                    uf.union(iu, j);
                }
                true
            });
        }),
    }
    timings.push(("merge", t.elapsed().as_secs_f64()));

    // 3. borders: the cluster of the smallest-indexed core neighbour.
    let t = Instant::now();
    let root: Vec<i64> = (0..n)
        .into_par_iter()
        .map(|i| {
            if core[i] {
                return uf.find(i as u32) as i64;
            }
            let mut best = u32::MAX;
            index.within(x.row(i), eps, &mut |j| {
                if core[j as usize] && j < best {
                    best = j;
                }
                true
            });
            if best == u32::MAX {
                -1
            } else {
                uf.find(best) as i64
            }
        })
        .collect();
    // Number clusters by their smallest member.
    let mut first_member: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for (i, r) in root.iter().enumerate() {
        if *r >= 0 {
            first_member.entry(*r).or_insert(i);
        }
    }
    let mut order: Vec<(usize, i64)> = first_member.iter().map(|(r, i)| (*i, *r)).collect();
    order.sort_unstable();
    let id: std::collections::HashMap<i64, i32> = order
        .iter()
        .enumerate()
        .map(|(c, (_, r))| (*r, c as i32))
        .collect();
    let labels: Vec<i32> = root
        .iter()
        .map(|r| if *r < 0 { NOISE } else { id[r] })
        .collect();
    timings.push(("borders", t.elapsed().as_secs_f64()));
    let noise = labels.iter().filter(|l| **l == NOISE).count();
    Ok(DbscanFit {
        labels,
        core,
        clusters: order.len(),
        noise,
        eps,
        kdistance: kd,
        index: index.kind(),
        timings,
    })
}

/// Assigns new rows to the cluster of their nearest core point within `eps`, or
/// noise. Returns labels and the distance to that core point (NaN for noise).
pub fn predict(cores: &Matrix, core_labels: &[i32], eps: f64, x: &Matrix) -> (Vec<i32>, Vec<f32>) {
    let index = Index::new(cores, eps);
    (0..x.n())
        .into_par_iter()
        .map(|i| {
            let q = x.row(i);
            let mut best = (f64::INFINITY, u32::MAX);
            index.within(q, eps, &mut |j| {
                let d2 = sqdist64(q, cores.row(j as usize));
                if d2 < best.0 || (d2 == best.0 && j < best.1) {
                    best = (d2, j);
                }
                true
            });
            if best.1 == u32::MAX {
                (NOISE, f32::NAN)
            } else {
                (core_labels[best.1 as usize], best.0.sqrt() as f32)
            }
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x: &Matrix, eps: f64, m: usize) -> DbscanFit {
        let p = DbscanParams {
            eps: Eps::Value(eps),
            min_samples: m,
            seed: 0,
        }
        .check(x.n())
        .unwrap();
        fit(x, &p).unwrap()
    }

    #[test]
    fn a_weight_of_two_counts_as_a_duplicated_row() {
        // Three rows close together and one far: with min_samples 4 nothing is
        // core, until the first row weighs 2 (as if it were there twice).
        let x = Matrix::new(4, 1, vec![0.0, 0.1, 0.2, 9.0]);
        let p = DbscanParams {
            eps: Eps::Value(0.5),
            min_samples: 4,
            seed: 0,
        }
        .check(4)
        .unwrap();
        assert_eq!(fit(&x, &p).unwrap().clusters, 0);
        let w = [2.0, 1.0, 1.0, 1.0];
        let f = fit_weighted(&x, Some(&w), &p).unwrap();
        assert_eq!(f.labels, vec![0, 0, 0, NOISE]);
        assert_eq!(f.core, vec![true, true, true, false]);
        let dup = Matrix::new(5, 1, vec![0.0, 0.0, 0.1, 0.2, 9.0]);
        assert_eq!(fit(&dup, &p).unwrap().core[1..], f.core[..]);
        // Weight 0 takes a row out of every count.
        let w0 = [1.0, 1.0, 0.0, 1.0];
        let p3 = DbscanParams {
            eps: Eps::Value(0.5),
            min_samples: 3,
            seed: 0,
        }
        .check(4)
        .unwrap();
        assert_eq!(fit_weighted(&x, Some(&w0), &p3).unwrap().clusters, 0);
        assert_eq!(fit(&x, &p3).unwrap().clusters, 1);
    }

    #[test]
    fn eps_must_be_positive_and_finite() {
        for e in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let r = DbscanParams {
                eps: Eps::Value(e),
                min_samples: 3,
                seed: 0,
            }
            .check(5);
            assert!(r
                .unwrap_err()
                .to_string()
                .contains("eps must be finite and > 0"));
        }
    }

    #[test]
    fn min_samples_cannot_be_zero() {
        let r = DbscanParams {
            eps: Eps::Value(1.0),
            min_samples: 0,
            seed: 0,
        }
        .check(5);
        assert!(r
            .unwrap_err()
            .to_string()
            .contains("min_samples cannot be 0"));
    }

    #[test]
    fn empty_input_is_refused() {
        let r = DbscanParams {
            eps: Eps::Value(1.0),
            min_samples: 2,
            seed: 0,
        }
        .check(0);
        assert!(r.unwrap_err().to_string().contains("at least one row"));
    }

    #[test]
    fn a_chain_of_core_points_is_one_cluster_and_far_points_are_noise() {
        let mut v: Vec<f32> = (0..20).map(|i| i as f32 * 0.5).collect();
        v.push(100.0);
        let x = Matrix::new(21, 1, v);
        let f = run(&x, 0.6, 3);
        assert_eq!(f.clusters, 1);
        assert_eq!(f.labels[20], NOISE);
        assert!(f.labels[..20].iter().all(|l| *l == 0));
        // the chain's ends have only two neighbours within 0.6: borders
        assert!(!f.core[0] && !f.core[19] && f.core[1]);
    }

    #[test]
    fn min_samples_one_makes_every_row_core() {
        let x = Matrix::new(3, 1, vec![0.0, 10.0, 20.0]);
        let f = run(&x, 1.0, 1);
        assert_eq!(f.labels, vec![0, 1, 2]);
        assert!(f.core.iter().all(|c| *c));
    }

    #[test]
    fn labels_do_not_depend_on_the_thread_count() {
        let x = crate::generate::blobs(crate::generate::BlobsSpec::new(5000, 3, 6, 1)).x;
        let a = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| run(&x, 0.5, 5));
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| run(&x, 0.5, 5));
        assert_eq!(a.labels, b.labels);
        assert_eq!(a.core, b.core);
    }

    #[test]
    fn knee_of_a_hockey_stick_is_at_the_bend() {
        let mut v: Vec<f64> = (0..90).map(|i| i as f64 * 0.01).collect();
        v.extend((0..10).map(|i| 1.0 + i as f64 * 5.0));
        // the first value past the flat part: an eps that still covers all of it
        assert_eq!(knee(&v), 90);
    }
}
