//! Triangle-inequality bounds: CPU Lloyd steps that skip the distance work whose
//! answer cannot have changed, with the same labels, iterations and inertia as
//! plain Lloyd.
//!
//! The centroids are split into groups (Yinyang k-means, Ding et al. 2015; one
//! group is Hamerly's single bound). Per row the backend keeps, for every group, a
//! lower bound on the distance to the group's centroids other than the row's own;
//! after the centroids move, each bound drops by the largest move in its group.
//! Every step the distance to the row's own centroid is computed exactly (with the
//! kernel's FMA chain, so inertia and distances stay exact). A row is settled when
//! that distance is below every group bound, or below half the distance from its
//! centroid to the nearest other one; otherwise only the groups whose bound it
//! does not clear are scored, gathered across rows for the interleaved kernel.
//! Each test keeps a margin for f32 rounding, so a row is skipped only where the
//! full scan gives the same label; ties go to the lowest index, as in the kernel.
//! Sums are then accumulated in the same chunks and order as [`super::CpuLloyd`],
//! so given the same labels both backends return bit-identical steps.

use rayon::prelude::*;

use super::cpu::{
    candidate_distances, fma_sqdist, sqdist, Isa, Packed, CANDIDATE_LANES, CHUNK_ROWS,
};
use super::{LloydBackend, StepStats};
use crate::error::Result;
use crate::matrix::Matrix;

const UNASSIGNED: u32 = u32::MAX;
/// Relative margin of the skip tests (f32 distances carry ~1e-6 relative error).
const REL_MARGIN: f64 = 1e-4;

/// The CPU backend with group bounds.
pub struct BoundedLloyd<'a> {
    x: &'a Matrix,
    w: Option<&'a [f32]>,
    isa: Isa,
    /// Groups asked for (at most k); 0: k/10, Yinyang's choice.
    groups: usize,
    labels: Vec<u32>,
    dist: Vec<f32>,
    /// Per row and group, a lower bound on the distance to the group's centroids
    /// other than the row's own (`row * groups + group`).
    lower: Vec<f64>,
    /// The group of each centroid, fixed at the first step after a reset.
    group_of: Vec<usize>,
    /// The centroids of the last step; `None` after a reset.
    prev: Option<Vec<f32>>,
    /// An absolute margin for the skip tests: the f32 rounding of a distance
    /// between points of this data's magnitude.
    abs_margin: f64,
    /// Row × group scans, over all steps (a measure of the saving).
    pub group_scans: u64,
}

impl<'a> BoundedLloyd<'a> {
    /// A backend over `x` with optional sample weights and `groups` centroid
    /// groups (1: Hamerly's bound; 0: k/10 for each k, Yinyang's choice).
    pub fn new(x: &'a Matrix, w: Option<&'a [f32]>, groups: usize) -> Self {
        let max_abs = x
            .data()
            .iter()
            .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
        let d = x.d() as f64;
        BoundedLloyd {
            x,
            w,
            isa: Isa::detect(),
            groups,
            labels: vec![UNASSIGNED; x.n()],
            dist: vec![0.0; x.n()],
            lower: Vec::new(),
            group_of: Vec::new(),
            prev: None,
            abs_margin: 8.0 * d.sqrt() * max_abs * f64::from(f32::EPSILON),
            group_scans: 0,
        }
    }
}

/// Groups of similar centroids: a few seeded-free Lloyd passes over the centroids
/// themselves, started from every (k/t)-th one; deterministic.
fn group_centroids(c: &[f32], k: usize, d: usize, t: usize) -> Vec<usize> {
    let t = t.clamp(1, k.max(1));
    let mut g: Vec<Vec<f64>> = (0..t)
        .map(|i| {
            c[(i * k / t) * d..(i * k / t + 1) * d]
                .iter()
                .map(|v| f64::from(*v))
                .collect()
        })
        .collect();
    let mut of = vec![0usize; k];
    for _ in 0..5 {
        for (j, o) in of.iter_mut().enumerate() {
            let row = &c[j * d..(j + 1) * d];
            let dist = |gc: &Vec<f64>| -> f64 {
                row.iter()
                    .zip(gc)
                    .map(|(a, b)| (f64::from(*a) - b).powi(2))
                    .sum()
            };
            *o = (0..t).fold(0, |b, q| if dist(&g[q]) < dist(&g[b]) { q } else { b });
        }
        for (q, gc) in g.iter_mut().enumerate() {
            let members: Vec<usize> = (0..k).filter(|&j| of[j] == q).collect();
            if members.is_empty() {
                continue;
            }
            for (f, v) in gc.iter_mut().enumerate() {
                *v = members
                    .iter()
                    .map(|&j| f64::from(c[j * d + f]))
                    .sum::<f64>()
                    / members.len() as f64;
            }
        }
    }
    of
}

struct Partial {
    stats: StepStats,
    scans: u64,
}

/// The nearest of `(distance, index)` pairs: the smallest distance, the lowest
/// index on a tie (as the kernel picks).
fn nearer(a: (f32, u32), b: (f32, u32)) -> (f32, u32) {
    if b.0 < a.0 || (b.0 == a.0 && b.1 < a.1) {
        b
    } else {
        a
    }
}

/// What every chunk of one bounded step reads.
struct StepCtx<'s> {
    d: usize,
    k: usize,
    t: usize,
    /// The first step after a reset: every row is scored against every group.
    fresh: bool,
    centroids: &'s [f32],
    members: &'s [Vec<usize>],
    packs: &'s [Packed],
    /// How far each group's centroids moved at most (−∞ for an empty group).
    drift: &'s [f64],
    /// Half the distance from each centroid to its nearest other.
    half: &'s [f64],
    group_of: &'s [usize],
    abs_margin: f64,
    w: Option<&'s [f32]>,
}

/// One chunk's rows and their state.
struct Chunk<'a> {
    /// Index of the chunk's first row in the data.
    first: usize,
    x: &'a [f32],
    labels: &'a mut [u32],
    dist: &'a mut [f32],
    lower: &'a mut [f64],
}

/// The squared distance of each row of `x` to the centroid its label names, the
/// kernel's FMA chain ([`fma_sqdist`]) per row; eight rows at a time so that their
/// eight dependent chains overlap (one chain alone waits on each FMA's latency).
#[inline(always)]
fn own_distances(x: &[f32], d: usize, labels: &[u32], centroids: &[f32], out: &mut [f32]) {
    const W: usize = 8;
    let n = labels.len();
    let full = n / W * W;
    for i0 in (0..full).step_by(W) {
        let rows: [&[f32]; W] = std::array::from_fn(|r| &x[(i0 + r) * d..(i0 + r + 1) * d]);
        let cens: [&[f32]; W] = std::array::from_fn(|r| {
            let c = labels[i0 + r] as usize;
            &centroids[c * d..(c + 1) * d]
        });
        let mut acc = [0.0f32; W];
        for j in 0..d {
            for r in 0..W {
                let t = rows[r][j] - cens[r][j];
                acc[r] = t.mul_add(t, acc[r]);
            }
        }
        out[i0..i0 + W].copy_from_slice(&acc);
    }
    for i in full..n {
        let c = labels[i] as usize;
        out[i] = fma_sqdist(&x[i * d..(i + 1) * d], &centroids[c * d..(c + 1) * d]);
    }
}

impl StepCtx<'_> {
    fn run(&self, isa: Isa, job: Chunk<'_>) -> Partial {
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Isa::Avx2` is only chosen by `Isa::detect` after checking the CPU.
            Isa::Avx2 => unsafe { self.run_avx2(job) },
            _ => self.chunk(isa, job),
        }
    }

    /// [`Self::chunk`] compiled with AVX2 and FMA, so that the own distances use
    /// the FMA instruction and the sums are vectorised; the same results.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, job: Chunk<'_>) -> Partial {
        self.chunk(Isa::Avx2, job)
    }

    #[inline(always)]
    fn chunk(&self, isa: Isa, job: Chunk<'_>) -> Partial {
        let StepCtx {
            d,
            k,
            t,
            fresh,
            centroids,
            members,
            packs,
            drift,
            half,
            group_of,
            abs_margin,
            w,
        } = *self;
        let Chunk {
            first,
            x: xc,
            labels,
            dist,
            lower,
        } = job;
        let clears = |u: f64, bound: f64| u + abs_margin < bound * (1.0 - REL_MARGIN);
        let rows = labels.len();
        let mut part = Partial {
            stats: StepStats::zeros(k, d),
            scans: 0,
        };
        // 1. Bounds: the own distance, the settled rows, and per group the rows
        // that must be scored against it.
        let mut own = vec![0.0f32; rows];
        let mut best: Vec<(f32, u32)> = vec![(f32::INFINITY, UNASSIGNED); rows];
        let mut todo: Vec<Vec<usize>> = vec![Vec::new(); t];
        if fresh {
            todo.iter_mut().for_each(|g| g.extend(0..rows));
        } else {
            own_distances(xc, d, labels, centroids, &mut own);
            for i in 0..rows {
                let lb = &mut lower[i * t..(i + 1) * t];
                let a = labels[i] as usize;
                best[i] = (own[i], labels[i]);
                let mut gmin = f64::INFINITY;
                for (l, dr) in lb.iter_mut().zip(drift) {
                    *l -= dr;
                    gmin = gmin.min(*l);
                }
                let u = f64::from(own[i]).sqrt();
                if clears(u, half[a]) || clears(u, gmin) {
                    continue;
                }
                for (g, l) in lb.iter().enumerate() {
                    if !clears(u, *l) {
                        todo[g].push(i);
                    }
                }
            }
        }
        // 2. Score the gathered rows group by group; keep per (row, group) the
        // nearest member and the runner-up's distance.
        let mut found: Vec<(usize, usize, (f32, u32), f32)> = Vec::new();
        let mut gathered: Vec<f32> = Vec::new();
        let mut all: Vec<f32> = Vec::new();
        for (g, rows_g) in todo.iter().enumerate() {
            if rows_g.is_empty() || members[g].is_empty() {
                continue;
            }
            let m = rows_g.len();
            let xg: &[f32] = if m == rows {
                xc
            } else {
                gathered.clear();
                gathered.extend(rows_g.iter().flat_map(|&i| &xc[i * d..(i + 1) * d]));
                &gathered
            };
            all.resize(packs[g].blocks * m * CANDIDATE_LANES, 0.0);
            candidate_distances(isa, xg, d, &packs[g], &mut all);
            for (r, &i) in rows_g.iter().enumerate() {
                let (mut b1, mut b2) = ((f32::INFINITY, UNASSIGNED), f32::INFINITY);
                for (q, &j) in members[g].iter().enumerate() {
                    let (blk, lane) = (q / CANDIDATE_LANES, q % CANDIDATE_LANES);
                    let v = all[(blk * m + r) * CANDIDATE_LANES + lane];
                    let cand = (v, j as u32);
                    if nearer(b1, cand) == cand {
                        b2 = b1.0;
                        b1 = cand;
                    } else if v < b2 {
                        b2 = v;
                    }
                }
                best[i] = nearer(best[i], b1);
                found.push((i, g, b1, b2));
            }
            part.scans += m as u64;
        }
        // 3. New bounds for the scored groups (excluding the new own centroid),
        // and for the old centroid's group when the row moved.
        for &(i, g, b1, b2) in &found {
            let v = if b1.1 == best[i].1 { b2 } else { b1.0 };
            lower[i * t + g] = f64::from(v).sqrt();
        }
        if !fresh {
            for i in 0..rows {
                let old = labels[i];
                if best[i].1 != old {
                    let l = &mut lower[i * t + group_of[old as usize]];
                    *l = l.min(f64::from(own[i]).sqrt());
                }
            }
        }
        // 4. Labels, distances and sums in row order, as the Lloyd kernel.
        for i in 0..rows {
            let row = &xc[i * d..(i + 1) * d];
            let (d2, c) = (best[i].0, best[i].1 as usize);
            let wi = w.map_or(1.0, |w| f64::from(w[first + i]));
            let st = &mut part.stats;
            if labels[i] != c as u32 {
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
    }
}

impl LloydBackend for BoundedLloyd<'_> {
    fn name(&self) -> String {
        let kind = match self.groups {
            1 => "hamerly".to_string(),
            0 => "yinyang, k/10 groups".to_string(),
            g => format!("yinyang, {g} groups"),
        };
        format!(
            "cpu ({:?}, {} threads, {kind})",
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
        let isa = self.isa;
        let cen = |c: usize| &centroids[c * d..(c + 1) * d];
        let fresh = self.prev.is_none() || self.group_of.len() != k;
        if fresh {
            let t = match self.groups {
                0 => (k / 10).max(1),
                g => g,
            };
            self.group_of = group_centroids(centroids, k, d, t);
            self.prev = None;
        }
        let t = self.group_of.iter().max().map_or(1, |m| m + 1);
        if self.lower.len() != self.x.n() * t {
            self.lower = vec![0.0; self.x.n() * t];
        }
        let members: Vec<Vec<usize>> = (0..t)
            .map(|g| (0..k).filter(|&j| self.group_of[j] == g).collect())
            .collect();
        let packs: Vec<Packed> = members
            .iter()
            .map(|m| {
                let rows: Vec<f32> = m.iter().flat_map(|&j| cen(j).to_vec()).collect();
                Packed::new(&rows, m.len(), d, CANDIDATE_LANES)
            })
            .collect();
        // How far each group's centroids moved at most, and half the distance
        // from each centroid to its nearest other.
        // A group without members bounds nothing: subtracting −∞ keeps its bound
        // at +∞, so it never fails a test and is never scored.
        let moved: Option<Vec<f64>> = self.prev.as_ref().map(|p| {
            (0..k)
                .map(|c| f64::from(sqdist(isa, &p[c * d..(c + 1) * d], cen(c))).sqrt())
                .collect()
        });
        let drift: Vec<f64> = members
            .iter()
            .map(|m| match (&moved, m.is_empty()) {
                (_, true) => f64::NEG_INFINITY,
                (None, false) => 0.0,
                (Some(mv), false) => m.iter().map(|&j| mv[j]).fold(0.0, f64::max),
            })
            .collect();
        let half: Vec<f64> = (0..k)
            .map(|c| {
                (0..k)
                    .filter(|&j| j != c)
                    .map(|j| f64::from(sqdist(isa, cen(c), cen(j))).sqrt())
                    .fold(f64::INFINITY, f64::min)
                    / 2.0
            })
            .collect();
        let ctx = StepCtx {
            d,
            k,
            t,
            fresh,
            centroids,
            members: &members,
            packs: &packs,
            drift: &drift,
            half: &half,
            group_of: &self.group_of,
            abs_margin: self.abs_margin,
            w: self.w,
        };
        let parts: Vec<Partial> = self
            .x
            .data()
            .par_chunks(CHUNK_ROWS * d)
            .zip(self.labels.par_chunks_mut(CHUNK_ROWS))
            .zip(self.dist.par_chunks_mut(CHUNK_ROWS))
            .zip(self.lower.par_chunks_mut(CHUNK_ROWS * t))
            .enumerate()
            .map(|(ci, (((xc, labels), dist), lower))| {
                let job = Chunk {
                    first: ci * CHUNK_ROWS,
                    x: xc,
                    labels,
                    dist,
                    lower,
                };
                ctx.run(isa, job)
            })
            .collect();
        let mut out = StepStats::zeros(k, d);
        for p in &parts {
            out.add(&p.stats);
            self.group_scans += p.scans;
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
        // The same steps from the same centroids, step after step: bit-identical,
        // with one group (Hamerly), k/10 groups (Yinyang) and an odd count.
        let cases = [(5000, 16, 8), (3001, 3, 40), (800, 7, 1), (2000, 2, 100)];
        for (&(n, d, k), groups) in cases.iter().flat_map(|c| [(c, 1), (c, 0), (c, 3)]) {
            let x = data(n, d, 3);
            let mut c: Vec<f32> = x.data()[..k * d].to_vec();
            let mut h = BoundedLloyd::new(&x, None, groups);
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
    fn whole_fits_agree_between_lloyd_and_bounds() {
        use crate::kmeans::{fit, KMeansParams};
        for &(n, d, k) in &[(20_000, 16, 8), (8000, 5, 48), (6000, 4, AUTO_BOUNDS_MIN_K)] {
            let x = data(n, d, 9);
            let p = KMeansParams::new(k).n_init(2).seed(4).check(n, d).unwrap();
            let mut a = CpuBackend::new(&x, None, Algorithm::Lloyd);
            let fa = fit(&x, None, &p, &mut a, &mut |_| {}).unwrap();
            for alg in [Algorithm::Hamerly, Algorithm::Yinyang, Algorithm::Auto] {
                let mut b = CpuBackend::new(&x, None, alg);
                let fb = fit(&x, None, &p, &mut b, &mut |_| {}).unwrap();
                assert_eq!(fa.labels, fb.labels, "n={n} k={k} {alg:?}");
                assert_eq!((fa.iterations, fa.inertia), (fb.iterations, fb.inertia));
                assert_eq!(fa.centroids, fb.centroids);
            }
        }
    }

    #[test]
    fn settled_rows_are_not_rescored() {
        let x = data(20_000, 8, 5);
        let c: Vec<f32> = x.data()[..32 * 8].to_vec();
        let mut h = BoundedLloyd::new(&x, None, 4);
        h.step(&c).unwrap();
        assert_eq!(
            h.group_scans,
            4 * 20_000,
            "the first step scores every row and group"
        );
        h.step(&c).unwrap();
        assert!(
            h.group_scans < 4 * 20_000 + 2_000,
            "unmoved centroids settle most rows: {}",
            h.group_scans
        );
    }
}

/// From this k on, `auto` runs Yinyang's bounds: on 200,000 × 16 blobs at k = 64
/// a whole fit takes 0.77 s against Lloyd's 1.02 s (criterion `fit/`, BENCHMARKS.md),
/// while at k = 8 the few iterations leave the bounds nothing to save.
pub const AUTO_BOUNDS_MIN_K: usize = 64;

/// Which CPU iteration runs. All give the same labels, iterations and inertia.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Yinyang from [`AUTO_BOUNDS_MIN_K`] centroids on, plain Lloyd below (the
    /// faster of the two where measured; both give the same fit).
    Auto,
    /// Every row scored against every centroid, every step.
    Lloyd,
    /// Hamerly's single bound per row.
    Hamerly,
    /// Yinyang's group bounds (k/10 groups).
    Yinyang,
}

enum Inner<'a> {
    Lloyd(super::CpuLloyd<'a>),
    Bounded(Box<BoundedLloyd<'a>>),
}

/// The CPU backend of `algorithm`; only the chosen one is built (the bound
/// backend scans the data for its margin and holds per-row bounds). Under
/// `auto` the choice is made from k at each step, and remade when k changes.
pub struct CpuBackend<'a> {
    x: &'a Matrix,
    w: Option<&'a [f32]>,
    auto: bool,
    inner: Inner<'a>,
}

impl<'a> Inner<'a> {
    /// The backend `algorithm` names (`auto` starts on Lloyd).
    fn of(x: &'a Matrix, w: Option<&'a [f32]>, algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Auto | Algorithm::Lloyd => Inner::Lloyd(super::CpuLloyd::new(x, w)),
            Algorithm::Hamerly => Inner::Bounded(Box::new(BoundedLloyd::new(x, w, 1))),
            Algorithm::Yinyang => Inner::Bounded(Box::new(BoundedLloyd::new(x, w, 0))),
        }
    }
}

impl<'a> CpuBackend<'a> {
    /// A backend over `x` with optional sample weights.
    pub fn new(x: &'a Matrix, w: Option<&'a [f32]>, algorithm: Algorithm) -> Self {
        CpuBackend {
            x,
            w,
            auto: algorithm == Algorithm::Auto,
            inner: Inner::of(x, w, algorithm),
        }
    }

    fn inner(&mut self) -> &mut dyn LloydBackend {
        match &mut self.inner {
            Inner::Lloyd(b) => b,
            Inner::Bounded(b) => b.as_mut(),
        }
    }
}

impl LloydBackend for CpuBackend<'_> {
    fn name(&self) -> String {
        match &self.inner {
            Inner::Lloyd(b) => b.name(),
            Inner::Bounded(b) => b.name(),
        }
    }

    fn reset(&mut self) -> Result<()> {
        self.inner().reset()
    }

    fn step(&mut self, centroids: &[f32]) -> Result<StepStats> {
        if self.auto {
            let k = centroids.len() / self.x.d().max(1);
            let bounded = matches!(self.inner, Inner::Bounded(_));
            if (k >= AUTO_BOUNDS_MIN_K) != bounded {
                // A new k starts a new fit (the driver resets first), so the
                // fresh backend loses no state.
                let algorithm = match bounded {
                    true => Algorithm::Lloyd,
                    false => Algorithm::Yinyang,
                };
                self.inner = Inner::of(self.x, self.w, algorithm);
            }
        }
        self.inner().step(centroids)
    }

    fn labels(&mut self) -> Result<Vec<u32>> {
        self.inner().labels()
    }

    fn distances(&mut self) -> Result<Vec<f32>> {
        self.inner().distances()
    }
}
