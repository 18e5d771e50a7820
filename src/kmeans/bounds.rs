//! Hamerly's bounds: the CPU Lloyd step that skips the rows whose nearest centroid
//! cannot have changed.
//!
//! Per row it keeps a lower bound on the distance to the second-nearest centroid;
//! after the centroids move, the bound drops by the largest move of any other
//! centroid. A row is settled when the distance to its own centroid (computed
//! exactly every step, with the kernel's FMA chain, so inertia and distances stay
//! exact) is below both that bound and half the distance from its centroid to the
//! nearest other one; only the other rows are scored against every centroid. The
//! test keeps a safety margin for f32 rounding, so a row is skipped only when the
//! full scan would give the same label. Sums are then accumulated in the same
//! chunks and order as [`super::CpuLloyd`], so given the same labels both backends
//! return bit-identical steps, and a fit runs the same iterations to the same
//! answer (`tests/suite/oracle.rs` checks it).
//!
//! Measured on 1M × 16 blobs (BENCHMARKS.md) it does not pay yet: with one bound
//! per row, the largest move of any centroid lowers every bound, so at k = 64 most
//! rows are rescored every iteration, and `--algorithm auto` keeps plain Lloyd.

use rayon::prelude::*;

use super::cpu::{candidate_distances, sqdist, Isa, Packed, CANDIDATE_LANES, CHUNK_ROWS};
use super::{LloydBackend, StepStats};
use crate::error::Result;
use crate::matrix::Matrix;

const UNASSIGNED: u32 = u32::MAX;
/// Relative margin of the skip test (f32 distances carry ~1e-6 relative error).
const REL_MARGIN: f64 = 1e-4;

/// The CPU backend with Hamerly's bounds.
pub struct HamerlyLloyd<'a> {
    x: &'a Matrix,
    w: Option<&'a [f32]>,
    isa: Isa,
    labels: Vec<u32>,
    dist: Vec<f32>,
    /// Lower bound on the (Euclidean) distance to the second-nearest centroid.
    lower: Vec<f64>,
    /// The centroids of the last step; `None` after a reset.
    prev: Option<Vec<f32>>,
    /// An absolute margin for the skip test: the f32 rounding of a distance
    /// between points of this data's magnitude.
    abs_margin: f64,
    /// Rows scored against every centroid, over all steps (a measure of the saving).
    pub full_scans: u64,
}

impl<'a> HamerlyLloyd<'a> {
    /// A backend over `x` with optional sample weights.
    pub fn new(x: &'a Matrix, w: Option<&'a [f32]>) -> Self {
        let max_abs = x
            .data()
            .iter()
            .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
        let d = x.d() as f64;
        HamerlyLloyd {
            x,
            w,
            isa: Isa::detect(),
            labels: vec![UNASSIGNED; x.n()],
            dist: vec![0.0; x.n()],
            lower: vec![0.0; x.n()],
            prev: None,
            abs_margin: 8.0 * d.sqrt() * max_abs * f64::from(f32::EPSILON),
            full_scans: 0,
        }
    }
}

struct Partial {
    stats: StepStats,
    scans: u64,
}

/// Nearest and second-nearest of `k` candidates from one row's distances (first
/// minimum, as the Lloyd kernel picks it).
fn best_two(dists: impl Iterator<Item = f32>) -> (usize, f32, f32) {
    let (mut bi, mut b1, mut b2) = (0usize, f32::INFINITY, f32::INFINITY);
    for (c, v) in dists.enumerate() {
        if v < b1 {
            b2 = b1;
            b1 = v;
            bi = c;
        } else if v < b2 {
            b2 = v;
        }
    }
    (bi, b1, b2)
}

impl LloydBackend for HamerlyLloyd<'_> {
    fn name(&self) -> String {
        format!(
            "cpu ({:?}, {} threads, hamerly)",
            self.isa,
            rayon::current_num_threads()
        )
        .to_lowercase()
    }

    fn reset(&mut self) -> Result<()> {
        self.labels.fill(UNASSIGNED);
        self.prev = None;
        Ok(())
    }

    fn step(&mut self, centroids: &[f32]) -> Result<StepStats> {
        let d = self.x.d();
        let k = centroids.len() / d.max(1);
        let packed = Packed::new(centroids, k, d, CANDIDATE_LANES);
        let isa = self.isa;
        let cen = |c: usize| &centroids[c * d..(c + 1) * d];
        // How far each centroid moved, and half the distance to its nearest other.
        let moved: Option<Vec<f64>> = self.prev.as_ref().map(|p| {
            (0..k)
                .map(|c| f64::from(sqdist(isa, &p[c * d..(c + 1) * d], cen(c))).sqrt())
                .collect()
        });
        let half: Vec<f64> = (0..k)
            .map(|c| {
                (0..k)
                    .filter(|&j| j != c)
                    .map(|j| f64::from(sqdist(isa, cen(c), cen(j))).sqrt())
                    .fold(f64::INFINITY, f64::min)
                    / 2.0
            })
            .collect();
        // The largest move of any centroid but `a`: the first or the second largest.
        let (m1, a1, m2) = moved.as_ref().map_or((0.0, 0, 0.0), |m| {
            let (mut m1, mut a1, mut m2) = (0.0f64, 0usize, 0.0f64);
            for (c, &v) in m.iter().enumerate() {
                if v > m1 {
                    m2 = m1;
                    m1 = v;
                    a1 = c;
                } else if v > m2 {
                    m2 = v;
                }
            }
            (m1, a1, m2)
        });
        let fresh = moved.is_none();
        let (w, abs_margin) = (self.w, self.abs_margin);
        let parts: Vec<Partial> = self
            .x
            .data()
            .par_chunks(CHUNK_ROWS * d)
            .zip(self.labels.par_chunks_mut(CHUNK_ROWS))
            .zip(self.dist.par_chunks_mut(CHUNK_ROWS))
            .zip(self.lower.par_chunks_mut(CHUNK_ROWS))
            .enumerate()
            .map(|(ci, (((xc, labels), dist), lower))| {
                let rows = labels.len();
                let mut part = Partial {
                    stats: StepStats::zeros(k, d),
                    scans: 0,
                };
                // 1. The bound test, row by row; the rows it cannot settle are
                // gathered and scored together by the interleaved kernel.
                let mut assigned: Vec<(usize, f32)> = vec![(0, 0.0); rows];
                let mut scan: Vec<usize> = Vec::new();
                for i in 0..rows {
                    let old = labels[i];
                    if fresh || old == UNASSIGNED {
                        scan.push(i);
                        continue;
                    }
                    let a = old as usize;
                    let own = sqdist(isa, &xc[i * d..(i + 1) * d], cen(a));
                    lower[i] -= if a == a1 { m2 } else { m1 };
                    let u = f64::from(own).sqrt();
                    if u + abs_margin < half[a].max(lower[i]) * (1.0 - REL_MARGIN) {
                        assigned[i] = (a, own);
                    } else {
                        scan.push(i);
                    }
                }
                if !scan.is_empty() {
                    let gathered: Vec<f32> = scan
                        .iter()
                        .flat_map(|&i| xc[i * d..(i + 1) * d].iter().copied())
                        .collect();
                    let m = scan.len();
                    let mut all = vec![0.0f32; packed.blocks * m * CANDIDATE_LANES];
                    candidate_distances(isa, &gathered, d, &packed, &mut all);
                    for (r, &i) in scan.iter().enumerate() {
                        let (c, b1, b2) = best_two((0..k).map(|c| {
                            let (blk, lane) = (c / CANDIDATE_LANES, c % CANDIDATE_LANES);
                            all[(blk * m + r) * CANDIDATE_LANES + lane]
                        }));
                        lower[i] = f64::from(b2).sqrt();
                        assigned[i] = (c, b1);
                    }
                    part.scans += m as u64;
                }
                // 2. Labels, distances and sums in row order, as the Lloyd kernel.
                for i in 0..rows {
                    let row = &xc[i * d..(i + 1) * d];
                    let old = labels[i];
                    let (c, d2) = assigned[i];
                    let wi = w.map_or(1.0, |w| f64::from(w[ci * CHUNK_ROWS + i]));
                    let st = &mut part.stats;
                    if old != c as u32 {
                        st.changed += 1;
                        labels[i] = c as u32;
                    }
                    dist[i] = d2;
                    st.inertia += wi * f64::from(d2);
                    st.weights[c] += wi;
                    for (s, v) in st.sums[c * d..(c + 1) * d].iter_mut().zip(row) {
                        *s += f64::from(*v) * wi;
                    }
                }
                part
            })
            .collect();
        let mut out = StepStats::zeros(k, d);
        for p in &parts {
            out.add(&p.stats);
            self.full_scans += p.scans;
        }
        self.prev = Some(centroids.to_vec());
        Ok(out)
    }

    fn labels(&mut self) -> Result<Vec<u32>> {
        Ok(self.labels.clone())
    }

    fn distances(&mut self) -> Result<Vec<f32>> {
        Ok(self.dist.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kmeans::CpuLloyd;

    fn data(n: usize, d: usize, seed: u64) -> Matrix {
        crate::generate::blobs(crate::generate::BlobsSpec::new(n, d, 6, seed)).x
    }

    #[test]
    fn hamerly_lloyd_equivalence() {
        // The same steps from the same centroids, step after step: bit-identical.
        for &(n, d, k) in &[(5000, 16, 8), (3001, 3, 40), (800, 7, 1), (2000, 2, 100)] {
            let x = data(n, d, 3);
            let mut c: Vec<f32> = x.data()[..k * d].to_vec();
            let mut h = HamerlyLloyd::new(&x, None);
            let mut l = CpuLloyd::new(&x, None);
            for it in 0..12 {
                let (sh, sl) = (h.step(&c).unwrap(), l.step(&c).unwrap());
                assert_eq!(
                    h.labels().unwrap(),
                    l.labels().unwrap(),
                    "n={n} k={k} it={it}"
                );
                assert_eq!(sh, sl, "n={n} k={k} it={it}");
                assert_eq!(h.distances().unwrap(), l.distances().unwrap());
                for cc in 0..k {
                    if sl.weights[cc] > 0.0 {
                        for j in 0..d {
                            c[cc * d + j] = (sl.sums[cc * d + j] / sl.weights[cc]) as f32;
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn whole_fits_agree_between_lloyd_and_hamerly() {
        use crate::kmeans::{fit, KMeansParams};
        for &(n, d, k) in &[(20_000, 16, 8), (8000, 5, 48)] {
            let x = data(n, d, 9);
            let p = KMeansParams::new(k).n_init(2).seed(4).check(n, d).unwrap();
            let mut a = CpuBackend::new(&x, None, Algorithm::Lloyd);
            let mut b = CpuBackend::new(&x, None, Algorithm::Hamerly);
            let fa = fit(&x, None, &p, &mut a, &mut |_| {}).unwrap();
            let fb = fit(&x, None, &p, &mut b, &mut |_| {}).unwrap();
            assert_eq!(fa.labels, fb.labels, "n={n} k={k}");
            assert_eq!((fa.iterations, fa.inertia), (fb.iterations, fb.inertia));
            assert_eq!(fa.centroids, fb.centroids);
        }
    }

    #[test]
    fn settled_rows_are_not_rescored() {
        let x = data(20_000, 8, 5);
        let c: Vec<f32> = x.data()[..32 * 8].to_vec();
        let mut h = HamerlyLloyd::new(&x, None);
        h.step(&c).unwrap();
        assert_eq!(h.full_scans, 20_000, "the first step scores every row");
        h.step(&c).unwrap();
        assert!(
            h.full_scans < 20_000 + 2_000,
            "unmoved centroids settle most rows: {}",
            h.full_scans
        );
    }
}

/// Which CPU iteration runs. Both give the same labels, iterations and inertia.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// The measured faster one: plain Lloyd. On the benchmark data (1M × 16, k = 8
    /// and 64, BENCHMARKS.md) Hamerly's single bound settles too few rows to pay for
    /// its bookkeeping; `auto` will take bounds when a variant that wins (Elkan- or
    /// Yinyang-style group bounds) is measured to.
    Auto,
    /// Every row scored against every centroid, every step.
    Lloyd,
    /// Hamerly's bounds.
    Hamerly,
}

/// The CPU backend of `algorithm`.
pub struct CpuBackend<'a> {
    algorithm: Algorithm,
    lloyd: super::CpuLloyd<'a>,
    hamerly: HamerlyLloyd<'a>,
}

impl<'a> CpuBackend<'a> {
    /// A backend over `x` with optional sample weights.
    pub fn new(x: &'a Matrix, w: Option<&'a [f32]>, algorithm: Algorithm) -> Self {
        CpuBackend {
            algorithm,
            lloyd: super::CpuLloyd::new(x, w),
            hamerly: HamerlyLloyd::new(x, w),
        }
    }

    fn uses_hamerly(&self) -> bool {
        self.algorithm == Algorithm::Hamerly
    }
}

impl LloydBackend for CpuBackend<'_> {
    fn name(&self) -> String {
        match self.uses_hamerly() {
            true => self.hamerly.name(),
            false => self.lloyd.name(),
        }
    }

    fn reset(&mut self) -> Result<()> {
        self.lloyd.reset()?;
        self.hamerly.reset()
    }

    fn step(&mut self, centroids: &[f32]) -> Result<StepStats> {
        match self.uses_hamerly() {
            true => self.hamerly.step(centroids),
            false => self.lloyd.step(centroids),
        }
    }

    fn labels(&mut self) -> Result<Vec<u32>> {
        match self.uses_hamerly() {
            true => self.hamerly.labels(),
            false => self.lloyd.labels(),
        }
    }

    fn distances(&mut self) -> Result<Vec<f32>> {
        match self.uses_hamerly() {
            true => self.hamerly.distances(),
            false => self.lloyd.distances(),
        }
    }
}
