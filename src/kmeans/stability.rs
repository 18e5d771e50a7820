//! How stable each segment is: the clusterwise bootstrap Jaccard similarity of
//! Hennig's `clusterboot` (fpc; Hennig 2007, "Cluster-wise assessment of cluster
//! stability").
//!
//! For each of B resamples, drawn with replacement from the (sampled) rows, K-means
//! is fitted again (same k, one k-means++ start, its own seed). Each segment of
//! the original fit, restricted to the distinct rows of the resample, is compared
//! with every cluster of the refit on those rows; its similarity is the largest
//! Jaccard coefficient |A ∩ B| / |A ∪ B|. A segment's stability is the mean over
//! the resamples that contain any of its rows. The usual reading: below 0.6
//! unstable, 0.6–0.75 doubtful, 0.75 and above stable.

use super::params::ValidKMeansParams;
use super::{fit, CpuLloyd, Init};
use crate::error::Result;
use crate::matrix::Matrix;
use crate::rng::Rng;

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 50;
/// Default rows the bootstrap resamples (a seeded sample of larger tables).
pub const DEFAULT_SAMPLE: usize = 5_000;

/// The reading of a stability value.
pub fn verdict(jaccard: f64) -> &'static str {
    if jaccard < 0.6 {
        "unstable"
    } else if jaccard < 0.75 {
        "doubtful"
    } else {
        "stable"
    }
}

/// Per segment of `labels` (a fit of `params.k` clusters on the scaled rows `x`),
/// the mean best-match bootstrap Jaccard over `resamples` resamples of up to
/// `sample` rows; `None` for a segment none of the resamples drew a row of.
pub fn clusterboot(
    x: &Matrix,
    labels: &[u32],
    params: &ValidKMeansParams,
    resamples: usize,
    sample: usize,
    seed: u64,
) -> Result<Vec<Option<f64>>> {
    let k = params.k;
    let rows: Vec<usize> = crate::select::silhouette_rows(x.n(), sample.max(k), seed)
        .unwrap_or_else(|| (0..x.n()).collect());
    let m = rows.len();
    let mut sum = vec![0.0f64; k];
    let mut count = vec![0u32; k];
    let boot = ValidKMeansParams {
        n_init: 1,
        init: match params.init {
            Init::Given(_) => Init::KMeansPlusPlus,
            ref i => i.clone(),
        },
        ..params.clone()
    };
    for b in 0..resamples {
        let mut rng = Rng::stream(seed ^ 0x0063_6c75_7374_6572, b as u64);
        let picks: Vec<usize> = (0..m).map(|_| rows[rng.below(m as u64) as usize]).collect();
        let xb = x.select(&picks);
        let p = ValidKMeansParams {
            seed: seed.wrapping_add(1 + b as u64),
            ..boot.clone()
        };
        let mut backend = CpuLloyd::new(&xb, None);
        let refit = fit(&xb, None, &p, &mut backend, &mut |_| {})?;
        // The distinct rows of the resample, with their refit cluster.
        let mut distinct = picks.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let xd = x.select(&distinct);
        let (boot_labels, _) = super::assign(&xd, &refit.centroids)?;
        // Contingency of original segment × refit cluster on the distinct rows.
        let mut table = vec![0u64; k * k];
        let mut a = vec![0u64; k];
        let mut bsz = vec![0u64; k];
        for (i, &r) in distinct.iter().enumerate() {
            let (o, c) = (labels[r] as usize, boot_labels[i] as usize);
            table[o * k + c] += 1;
            a[o] += 1;
            bsz[c] += 1;
        }
        for o in 0..k {
            if a[o] == 0 {
                continue;
            }
            let best = (0..k)
                .map(|c| {
                    let inter = table[o * k + c] as f64;
                    inter / ((a[o] + bsz[c]) as f64 - inter)
                })
                .fold(0.0f64, f64::max);
            sum[o] += best;
            count[o] += 1;
        }
    }
    Ok(sum
        .iter()
        .zip(&count)
        .map(|(s, c)| (*c > 0).then(|| s / *c as f64))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::params::KMeansParams;

    fn blobs(centres: &[(f32, f32)], per: usize, spread: f32, seed: u64) -> Matrix {
        let mut r = Rng::new(seed);
        let mut data = Vec::new();
        for &(cx, cy) in centres {
            for _ in 0..per {
                // Sum of uniforms: a bounded, roughly normal cloud.
                let u = |r: &mut Rng| (0..4).map(|_| r.next_f64() as f32 - 0.5).sum::<f32>();
                data.push(cx + spread * u(&mut r));
                data.push(cy + spread * u(&mut r));
            }
        }
        Matrix::new(centres.len() * per, 2, data)
    }

    fn stability(x: &Matrix, k: usize) -> Vec<f64> {
        let p = KMeansParams::new(k)
            .n_init(4)
            .seed(3)
            .check(x.n(), 2)
            .unwrap();
        let mut backend = CpuLloyd::new(x, None);
        let f = fit(x, None, &p, &mut backend, &mut |_| {}).unwrap();
        clusterboot(x, &f.labels, &p, 30, 2000, 5)
            .unwrap()
            .into_iter()
            .map(|j| j.expect("every segment is drawn"))
            .collect()
    }

    #[test]
    fn separated_blobs_are_stable() {
        let x = blobs(&[(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)], 300, 2.0, 1);
        let s = stability(&x, 3);
        assert!(s.iter().all(|j| *j >= 0.95), "{s:?}");
        assert_eq!(verdict(s[0]), "stable");
    }

    #[test]
    fn one_blob_split_in_two_is_not() {
        // Two well-separated blobs fitted with k = 3: one of them is cut in two,
        // somewhere different (and not always the same blob) in each refit, so
        // the halves are unstable.
        let x = blobs(&[(0.0, 0.0), (30.0, 0.0)], 500, 4.0, 2);
        let mut s = stability(&x, 3);
        s.sort_by(f64::total_cmp);
        assert!(s[0] < 0.75 && s[1] < 0.75, "{s:?}");
        assert_eq!(verdict(s[0]), "unstable", "{s:?}");
    }
}
