//! Seeded Gaussian blobs: `centers` spherical-ish components with uneven sizes, the
//! truth kept. Deterministic for a seed, and built in parallel over fixed blocks
//! that each have their own random stream, so the thread count does not matter.

use rayon::prelude::*;

use crate::matrix::Matrix;
use crate::rng::Rng;

/// Rows generated per random stream.
const BLOCK: usize = 1 << 16;

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct BlobsSpec {
    /// Rows.
    pub n: usize,
    /// Features.
    pub d: usize,
    /// Components.
    pub centers: usize,
    /// Means are uniform in `[-box_size, box_size]^d`.
    pub box_size: f32,
    /// Standard deviation of every component.
    pub spread: f32,
    /// Seed.
    pub seed: u64,
}

impl BlobsSpec {
    /// `n × d` with `centers` components, box 10, spread 1.
    pub fn new(n: usize, d: usize, centers: usize, seed: u64) -> Self {
        BlobsSpec {
            n,
            d,
            centers,
            box_size: 10.0,
            spread: 1.0,
            seed,
        }
    }
}

/// Generated data with its truth.
#[derive(Clone, Debug)]
pub struct Blobs {
    /// The rows.
    pub x: Matrix,
    /// The component of each row.
    pub truth: Vec<u32>,
    /// The component means, `centers × d`.
    pub means: Vec<f32>,
}

fn normal(r: &mut Rng) -> f32 {
    // Box–Muller; 1 - u keeps the logarithm finite.
    let u = 1.0 - r.next_f64();
    let v = r.next_f64();
    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
}

/// Generates blobs as `spec` says.
pub fn blobs(spec: BlobsSpec) -> Blobs {
    let BlobsSpec { n, d, centers, .. } = spec;
    let mut r = Rng::stream(spec.seed, u64::MAX);
    let means: Vec<f32> = (0..centers * d)
        .map(|_| ((r.next_f64() * 2.0 - 1.0) * spec.box_size as f64) as f32)
        .collect();
    // Uneven sizes: weights 0.5..1.5, cumulated for sampling.
    let w: Vec<f64> = (0..centers).map(|_| 0.5 + r.next_f64()).collect();
    let total: f64 = w.iter().sum();
    let cum: Vec<f64> = w
        .iter()
        .scan(0.0, |s, v| {
            *s += v / total;
            Some(*s)
        })
        .collect();
    let mut data = vec![0.0f32; n * d];
    let mut truth = vec![0u32; n];
    data.par_chunks_mut(BLOCK * d)
        .zip(truth.par_chunks_mut(BLOCK))
        .enumerate()
        .for_each(|(b, (xs, ts))| {
            let mut r = Rng::stream(spec.seed, b as u64);
            for (row, t) in xs.chunks_mut(d).zip(ts.iter_mut()) {
                let u = r.next_f64();
                let c = cum.iter().position(|v| u < *v).unwrap_or(centers - 1);
                *t = c as u32;
                for (j, v) in row.iter_mut().enumerate() {
                    *v = means[c * d + j] + spec.spread * normal(&mut r);
                }
            }
        });
    Blobs {
        x: Matrix::new(n, d, data),
        truth,
        means,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_every_component_is_used() {
        let a = blobs(BlobsSpec::new(5000, 3, 4, 9));
        let b = blobs(BlobsSpec::new(5000, 3, 4, 9));
        assert_eq!(a.x, b.x);
        for c in 0..4 {
            assert!(a.truth.iter().filter(|t| **t == c).count() > 500);
        }
    }
}
