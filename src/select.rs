//! Choosing k: cluster-quality scores and the elbow of the inertia curve.
//!
//! The scores follow scikit-learn's definitions exactly (`silhouette_score`,
//! `davies_bouldin_score`, `calinski_harabasz_score`, Euclidean metric) and are
//! computed in f64 from the f32 matrix. The silhouette is quadratic in the number of
//! rows, so above [`SILHOUETTE_EXACT_MAX`] rows it is computed on a seeded uniform
//! sample (as scikit-learn's `sample_size` does) and the sample size is reported.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::matrix::Matrix;
use crate::rng::Rng;

/// Largest row count whose silhouette is computed exactly (on every row).
pub const SILHOUETTE_EXACT_MAX: usize = 20_000;

fn cluster_count(labels: &[u32]) -> usize {
    labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0)
}

/// Mean silhouette coefficient of `rows` (all rows when `None`), distances measured
/// within those rows only. Rows alone in their cluster score 0, as in scikit-learn.
/// Returns `None` with fewer than 2 clusters among the rows.
///
/// The rows are copied column-major so that one row's distances to all others are
/// computed as `d` vectorised passes (f32 differences and squares, exact for the
/// integer-valued oracle data); per-cluster sums are accumulated in f64.
pub fn silhouette(x: &Matrix, labels: &[u32], rows: Option<&[usize]>) -> Option<f64> {
    let all: Vec<usize>;
    let rows = match rows {
        Some(r) => r,
        None => {
            all = (0..x.n()).collect();
            &all
        }
    };
    let (m, d) = (rows.len(), x.d());
    let k = cluster_count(labels);
    let lab: Vec<u32> = rows.iter().map(|&i| labels[i]).collect();
    let mut sizes = vec![0usize; k];
    for &l in &lab {
        sizes[l as usize] += 1;
    }
    if sizes.iter().filter(|&&s| s > 0).count() < 2 {
        return None;
    }
    let mut cols = vec![0f32; d * m];
    for (jj, &j) in rows.iter().enumerate() {
        for (c, v) in x.row(j).iter().enumerate() {
            cols[c * m + jj] = *v;
        }
    }
    // Each row's value in parallel, summed in row order: a parallel sum's
    // grouping follows the scheduling, and the last digit with it.
    let per_row: Vec<f64> = (0..m)
        .into_par_iter()
        .map_init(
            || (vec![0f32; m], vec![0f64; k]),
            |(dist, sums), i| {
                dist.fill(0.0);
                for c in 0..d {
                    let col = &cols[c * m..(c + 1) * m];
                    let xi = col[i];
                    for (a, &v) in dist.iter_mut().zip(col) {
                        let t = v - xi;
                        *a += t * t;
                    }
                }
                for a in dist.iter_mut() {
                    *a = a.sqrt();
                }
                sums.fill(0.0);
                for (a, &l) in dist.iter().zip(&lab) {
                    sums[l as usize] += f64::from(*a);
                }
                let own = lab[i] as usize;
                if sizes[own] <= 1 {
                    return 0.0;
                }
                let a = sums[own] / (sizes[own] - 1) as f64;
                let b = (0..k)
                    .filter(|&c| c != own && sizes[c] > 0)
                    .map(|c| sums[c] / sizes[c] as f64)
                    .fold(f64::INFINITY, f64::min);
                let mx = a.max(b);
                if mx > 0.0 {
                    (b - a) / mx
                } else {
                    0.0
                }
            },
        )
        .collect();
    let total: f64 = per_row.iter().sum();
    Some(total / m as f64)
}

/// The rows a sampled silhouette uses: all rows up to `max`, else `max` rows drawn
/// uniformly without replacement with `seed` (sorted).
pub fn silhouette_rows(n: usize, max: usize, seed: u64) -> Option<Vec<usize>> {
    if n <= max {
        return None;
    }
    // Partial Fisher–Yates over the index range.
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = Rng::new(seed ^ 0x5117_0a77);
    for i in 0..max {
        let j = i + rng.below((n - i) as u64) as usize;
        idx.swap(i, j);
    }
    idx.truncate(max);
    idx.sort_unstable();
    Some(idx)
}

fn centroids64(x: &Matrix, labels: &[u32], k: usize) -> (Vec<Vec<f64>>, Vec<usize>) {
    let d = x.d();
    let mut c = vec![vec![0f64; d]; k];
    let mut n = vec![0usize; k];
    for (i, &l) in labels.iter().enumerate() {
        let l = l as usize;
        n[l] += 1;
        for (s, v) in c[l].iter_mut().zip(x.row(i)) {
            *s += f64::from(*v);
        }
    }
    for (row, &m) in c.iter_mut().zip(&n) {
        if m > 0 {
            row.iter_mut().for_each(|v| *v /= m as f64);
        }
    }
    (c, n)
}

/// Davies–Bouldin index (lower is better). `None` with fewer than 2 clusters.
pub fn davies_bouldin(x: &Matrix, labels: &[u32]) -> Option<f64> {
    let k = cluster_count(labels);
    let (c, n) = centroids64(x, labels, k);
    let live: Vec<usize> = (0..k).filter(|&i| n[i] > 0).collect();
    if live.len() < 2 {
        return None;
    }
    let mut scatter = vec![0f64; k];
    for (i, &l) in labels.iter().enumerate() {
        let l = l as usize;
        let d: f64 = x
            .row(i)
            .iter()
            .zip(&c[l])
            .map(|(a, b)| (f64::from(*a) - b).powi(2))
            .sum();
        scatter[l] += d.sqrt();
    }
    for (s, &m) in scatter.iter_mut().zip(&n) {
        if m > 0 {
            *s /= m as f64;
        }
    }
    let mut total = 0.0;
    for &i in &live {
        let mut worst = 0f64;
        for &j in &live {
            if i == j {
                continue;
            }
            let dist: f64 = c[i]
                .iter()
                .zip(&c[j])
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                .sqrt();
            // scikit-learn treats coincident centroids as infinitely far apart.
            let r = if dist == 0.0 {
                0.0
            } else {
                (scatter[i] + scatter[j]) / dist
            };
            worst = worst.max(r);
        }
        total += worst;
    }
    Some(total / live.len() as f64)
}

/// Calinski–Harabasz index (higher is better). `None` with fewer than 2 clusters.
pub fn calinski_harabasz(x: &Matrix, labels: &[u32]) -> Option<f64> {
    let k = cluster_count(labels);
    let (c, n) = centroids64(x, labels, k);
    let live = n.iter().filter(|&&m| m > 0).count();
    let rows = x.n();
    if live < 2 || rows <= live {
        return None;
    }
    let d = x.d();
    let mut mean = vec![0f64; d];
    for i in 0..rows {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= rows as f64);
    let mut between = 0.0;
    for (row, &m) in c.iter().zip(&n) {
        if m > 0 {
            between += m as f64
                * row
                    .iter()
                    .zip(&mean)
                    .map(|(a, b)| (a - b).powi(2))
                    .sum::<f64>();
        }
    }
    let mut within = 0.0;
    for (i, &l) in labels.iter().enumerate() {
        within += x
            .row(i)
            .iter()
            .zip(&c[l as usize])
            .map(|(a, b)| (f64::from(*a) - b).powi(2))
            .sum::<f64>();
    }
    if within == 0.0 {
        return Some(1.0);
    }
    Some(between * (rows - live) as f64 / (within * (live - 1) as f64))
}

/// The elbow of a decreasing inertia curve: the k whose point lies farthest below
/// the chord from the first to the last point, both axes scaled to [0, 1] (the
/// Kneedle difference curve for a convex decreasing curve). `None` with fewer than
/// 3 points or a flat curve.
pub fn elbow(ks: &[usize], inertia: &[f64]) -> Option<usize> {
    if ks.len() < 3 || ks.len() != inertia.len() {
        return None;
    }
    let (k0, k1) = (ks[0] as f64, *ks.last()? as f64);
    let lo = inertia.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = inertia.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if hi - lo <= 0.0 || k1 <= k0 {
        return None;
    }
    let mut best = (0.0, None);
    let (y0, y1) = (
        (inertia[0] - lo) / (hi - lo),
        (inertia[inertia.len() - 1] - lo) / (hi - lo),
    );
    for (&k, &v) in ks.iter().zip(inertia) {
        let xn = (k as f64 - k0) / (k1 - k0);
        let yn = (v - lo) / (hi - lo);
        let chord = y0 + (y1 - y0) * xn;
        let gap = chord - yn;
        if gap > best.0 {
            best = (gap, Some(k));
        }
    }
    best.1
}

/// One k of a sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepPoint {
    /// Number of segments.
    pub k: usize,
    /// K-means inertia (scaled units).
    pub inertia: f64,
    /// Mean silhouette (on the stated sample).
    pub silhouette: Option<f64>,
    /// Davies–Bouldin index, all rows.
    pub davies_bouldin: Option<f64>,
    /// Calinski–Harabasz index, all rows.
    pub calinski_harabasz: Option<f64>,
    /// Iterations of the winning restart.
    pub iterations: usize,
    /// Segment sizes.
    pub sizes: Vec<u64>,
    /// Seconds for the fit and for the scores.
    pub fit_s: f64,
    /// Seconds for the scores.
    pub score_s: f64,
}

/// The recommendation of a sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recommendation {
    /// The recommended k.
    pub k: usize,
    /// The elbow of the inertia curve, if any.
    pub elbow: Option<usize>,
    /// The k with the highest silhouette.
    pub silhouette_peak: Option<usize>,
    /// The k with the highest Calinski–Harabasz index (absent in sweeps written
    /// before the vote).
    #[serde(default)]
    pub calinski_harabasz_peak: Option<usize>,
    /// The k with the lowest Davies–Bouldin index (absent in sweeps written before
    /// the vote).
    #[serde(default)]
    pub davies_bouldin_min: Option<usize>,
    /// Why, in one sentence: what each index found, and how they were weighed.
    pub reason: String,
}

/// The k whose score `f` is best (`higher`: the largest, else the smallest), the
/// smallest such k on a tie; `None` when no k has the score.
fn best_k<'a>(
    points: impl Iterator<Item = &'a SweepPoint>,
    f: impl Fn(&SweepPoint) -> Option<f64>,
    higher: bool,
) -> Option<usize> {
    points
        .filter_map(|p| Some((p.k, f(p)?)))
        .filter(|(_, v)| v.is_finite())
        .fold(None, |b: Option<(usize, f64)>, (k, v)| match b {
            Some((_, bv)) if (higher && bv >= v) || (!higher && bv <= v) => b,
            _ => Some((k, v)),
        })
        .map(|(k, _)| k)
}

/// Recommends k by a vote of four indices: the elbow of the inertia curve, and,
/// among the k within two of it (where more segments still pay, by the curve),
/// the silhouette peak, the Calinski–Harabasz peak and the Davies–Bouldin
/// minimum. The k most of them choose wins (the majority rule of R's NbClust,
/// Charrad et al. 2014); on a tie, the tied k with the highest silhouette. With no
/// elbow, the three scores vote over the whole range.
///
/// Each index alone misleads: the silhouette (on a sample) moves by noise between
/// neighbouring k and splits off a dense subgroup (the window shoppers who never
/// buy, on the demo mall: 7 for the planted 6); the elbow moves with one poor
/// restart (on the 50k test mall a k = 5 local optimum once put it at 4); the
/// silhouette and Calinski–Harabasz over the whole range favour k = 2 on data
/// without separated groups (Online Retail: both peak at 2, the elbow at 5). When
/// they disagree, `reason` says what each found.
pub fn recommend(points: &[SweepPoint]) -> Option<Recommendation> {
    if points.is_empty() {
        return None;
    }
    let ks: Vec<usize> = points.iter().map(|p| p.k).collect();
    let inertia: Vec<f64> = points.iter().map(|p| p.inertia).collect();
    let el = elbow(&ks, &inertia);
    let near = |p: &&SweepPoint| el.is_none_or(|e| p.k + 2 >= e && p.k <= e + 2);
    let sil = best_k(points.iter().filter(near), |p| p.silhouette, true);
    let ch = best_k(points.iter().filter(near), |p| p.calinski_harabasz, true);
    let db = best_k(points.iter().filter(near), |p| p.davies_bouldin, false);
    let votes: Vec<(&str, usize)> = [
        ("elbow", el),
        ("silhouette", sil),
        ("Calinski-Harabasz", ch),
        ("Davies-Bouldin", db),
    ]
    .into_iter()
    .filter_map(|(n, k)| Some((n, k?)))
    .collect();
    // The peaks over the whole range, recorded and named where they differ.
    let all_sil = best_k(points.iter(), |p| p.silhouette, true);
    let all_ch = best_k(points.iter(), |p| p.calinski_harabasz, true);
    let all_db = best_k(points.iter(), |p| p.davies_bouldin, false);
    let silhouette_of = |k: usize| {
        points
            .iter()
            .find(|p| p.k == k)
            .and_then(|p| p.silhouette)
            .unwrap_or(f64::NEG_INFINITY)
    };
    let count = |k: usize| votes.iter().filter(|v| v.1 == k).count();
    // Most votes, then the highest silhouette, then the smallest k.
    let mut candidates: Vec<usize> = votes.iter().map(|v| v.1).collect();
    candidates.sort_unstable();
    candidates.dedup();
    let winner = candidates.iter().copied().max_by(|&a, &b| {
        count(a)
            .cmp(&count(b))
            .then(silhouette_of(a).total_cmp(&silhouette_of(b)))
            .then(b.cmp(&a))
    });
    let list = |v: &[(&str, usize)]| {
        v.iter()
            .map(|(n, k)| format!("{n} {k}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut found = match el {
        Some(e) if votes.len() == 1 => format!("elbow {e}"),
        Some(e) => format!(
            "elbow {e}; among k = {}..{}: {}",
            ks.iter()
                .copied()
                .filter(|&k| k + 2 >= e)
                .min()
                .unwrap_or(e),
            ks.iter()
                .copied()
                .filter(|&k| k <= e + 2)
                .max()
                .unwrap_or(e),
            list(&votes[1..])
        ),
        None => format!("no elbow; {}", list(&votes)),
    };
    let elsewhere: Vec<(&str, usize)> = [
        ("silhouette", sil, all_sil),
        ("Calinski-Harabasz", ch, all_ch),
        ("Davies-Bouldin", db, all_db),
    ]
    .into_iter()
    .filter_map(|(n, w, a)| (w != a).then_some((n, a?)))
    .collect();
    if !elsewhere.is_empty() {
        found.push_str(&format!("; over all k: {}", list(&elsewhere)));
    }
    let (k, reason) = match winner {
        None => (
            ks[0],
            "no index chose a k (no elbow and no scores): smallest k".into(),
        ),
        Some(k) => {
            let n = count(k);
            let rivals: Vec<String> = candidates
                .iter()
                .filter(|&&c| c != k && count(c) == n)
                .map(|c| c.to_string())
                .collect();
            let why = if votes.len() == 1 {
                format!("the {} is the only index computed", votes[0].0)
            } else if n == votes.len() {
                format!("all {n} indices choose it")
            } else if n == 1 {
                "no two indices agree; it has the highest silhouette of their choices".to_string()
            } else if !rivals.is_empty() {
                format!(
                    "{n} of {} indices choose it, as many as choose {}; its silhouette is higher",
                    votes.len(),
                    rivals.join(" and ")
                )
            } else {
                format!("{n} of {} indices choose it", votes.len())
            };
            (k, format!("{why} ({found})"))
        }
    };
    Some(Recommendation {
        k,
        elbow: el,
        silhouette_peak: all_sil,
        calinski_harabasz_peak: all_ch,
        davies_bouldin_min: all_db,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Matrix, Vec<u32>) {
        // Two tight pairs far apart, and a singleton cluster.
        let data = vec![0.0, 0.0, 0.0, 1.0, 10.0, 10.0, 10.0, 11.0, 30.0, 0.0];
        (Matrix::new(5, 2, data), vec![0, 0, 1, 1, 2])
    }

    #[test]
    fn silhouette_matches_a_hand_computation() {
        let (x, l) = toy();
        let s = silhouette(&x, &l, None).unwrap();
        // Rows 0 and 3: a = 1, b = (√200 + √221) / 2; rows 1 and 2: a = 1,
        // b = (√181 + √200) / 2; the singleton scores 0 (scikit-learn's convention).
        let outer = (200f64.sqrt() + 221f64.sqrt()) / 2.0;
        let inner = (181f64.sqrt() + 200f64.sqrt()) / 2.0;
        let want = (2.0 * (outer - 1.0) / outer + 2.0 * (inner - 1.0) / inner) / 5.0;
        // f32 distances: about 1e-7 relative.
        assert!((s - want).abs() < 1e-6 * want, "{s} vs {want}");
    }

    #[test]
    fn elbow_of_a_sharp_curve() {
        let ks = [1, 2, 3, 4, 5, 6];
        let y = [100.0, 60.0, 20.0, 17.0, 15.0, 14.0];
        assert_eq!(elbow(&ks, &y), Some(3));
    }

    #[test]
    fn sample_is_seeded_and_sized() {
        let a = silhouette_rows(1000, 100, 7).unwrap();
        assert_eq!(a.len(), 100);
        assert_eq!(a, silhouette_rows(1000, 100, 7).unwrap());
        assert_ne!(a, silhouette_rows(1000, 100, 8).unwrap());
        assert!(silhouette_rows(50, 100, 7).is_none());
    }

    #[test]
    fn one_cluster_has_no_scores() {
        let x = Matrix::new(3, 1, vec![0.0, 1.0, 2.0]);
        let l = [0, 0, 0];
        assert!(silhouette(&x, &l, None).is_none());
        assert!(davies_bouldin(&x, &l).is_none());
        assert!(calinski_harabasz(&x, &l).is_none());
    }

    fn point(k: usize, inertia: f64, sil: f64, db: f64, ch: f64) -> SweepPoint {
        SweepPoint {
            k,
            inertia,
            silhouette: Some(sil),
            davies_bouldin: Some(db),
            calinski_harabasz: Some(ch),
            iterations: 1,
            sizes: vec![],
            fit_s: 0.0,
            score_s: 0.0,
        }
    }

    // Inertia with its elbow at 4 (100, 60, 20, 17, 15).
    const INERTIA: [f64; 5] = [100.0, 60.0, 20.0, 17.0, 15.0];

    #[test]
    fn the_majority_outvotes_the_silhouette() {
        // Elbow 4, Calinski-Harabasz 4, Davies-Bouldin 4, silhouette 5.
        let sil = [0.20, 0.25, 0.30, 0.31, 0.28];
        let db = [1.6, 1.4, 1.1, 1.2, 1.3];
        let ch = [10.0, 20.0, 30.0, 25.0, 22.0];
        let pts: Vec<SweepPoint> = (0..5)
            .map(|i| point(i + 2, INERTIA[i], sil[i], db[i], ch[i]))
            .collect();
        let r = recommend(&pts).unwrap();
        assert_eq!(
            (
                r.k,
                r.elbow,
                r.silhouette_peak,
                r.calinski_harabasz_peak,
                r.davies_bouldin_min
            ),
            (4, Some(4), Some(5), Some(4), Some(4))
        );
        assert_eq!(
            r.reason,
            "3 of 4 indices choose it (elbow 4; among k = 2..6: silhouette 5, Calinski-Harabasz 4, Davies-Bouldin 4)"
        );
    }

    #[test]
    fn a_tie_goes_to_the_higher_silhouette() {
        // Elbow 4 and Calinski-Harabasz 4 against silhouette 6 and Davies-Bouldin 6.
        let sil = [0.20, 0.25, 0.30, 0.28, 0.33];
        let db = [1.6, 1.4, 1.2, 1.3, 1.1];
        let ch = [10.0, 20.0, 30.0, 25.0, 22.0];
        let pts: Vec<SweepPoint> = (0..5)
            .map(|i| point(i + 2, INERTIA[i], sil[i], db[i], ch[i]))
            .collect();
        let r = recommend(&pts).unwrap();
        assert_eq!(r.k, 6, "{}", r.reason);
        assert!(
            r.reason
                .starts_with("2 of 4 indices choose it, as many as choose 4"),
            "{}",
            r.reason
        );
        // The other way round, the elbow's pair wins.
        let sil = [0.20, 0.25, 0.34, 0.28, 0.33];
        let pts: Vec<SweepPoint> = (0..5)
            .map(|i| point(i + 2, INERTIA[i], sil[i], db[i], ch[i]))
            .collect();
        let r = recommend(&pts).unwrap();
        assert_eq!((r.k, r.silhouette_peak), (4, Some(4)), "{}", r.reason);
        assert!(r.reason.starts_with("3 of 4"), "{}", r.reason);
    }

    #[test]
    fn without_scores_the_elbow_decides() {
        let pts: Vec<SweepPoint> = (0..5)
            .map(|i| SweepPoint {
                silhouette: None,
                davies_bouldin: None,
                calinski_harabasz: None,
                ..point(i + 2, INERTIA[i], 0.0, 0.0, 0.0)
            })
            .collect();
        let r = recommend(&pts).unwrap();
        assert_eq!(r.k, 4);
        assert_eq!(r.reason, "the elbow is the only index computed (elbow 4)");
    }

    #[test]
    fn the_scores_vote_near_the_elbow() {
        // k = 2..10, elbow at 5; the silhouette and Calinski-Harabasz peak at 2, as
        // on data without separated groups, and within 3..7 at 4 and 3.
        let inertia = [100.0, 80.0, 60.0, 30.0, 27.0, 25.0, 23.5, 22.5, 22.0];
        let sil = [0.34, 0.26, 0.29, 0.26, 0.25, 0.26, 0.25, 0.25, 0.25];
        let ch = [28.0, 22.8, 22.2, 20.7, 19.0, 18.5, 17.6, 16.8, 16.3];
        let db = [1.13, 1.26, 1.15, 1.14, 1.2, 1.12, 1.13, 1.19, 1.17];
        let pts: Vec<SweepPoint> = (0..9)
            .map(|i| point(i + 2, inertia[i], sil[i], db[i], ch[i]))
            .collect();
        let r = recommend(&pts).unwrap();
        assert_eq!(r.elbow, Some(5), "{}", r.reason);
        // Four different answers: the highest silhouette among them.
        assert_eq!(r.k, 4, "{}", r.reason);
        assert_eq!(
            (
                r.silhouette_peak,
                r.calinski_harabasz_peak,
                r.davies_bouldin_min
            ),
            (Some(2), Some(2), Some(7))
        );
        assert_eq!(
            r.reason,
            "no two indices agree; it has the highest silhouette of their choices (elbow 5; among k = 3..7: silhouette 4, Calinski-Harabasz 3, Davies-Bouldin 7; over all k: silhouette 2, Calinski-Harabasz 2)"
        );
    }
}
