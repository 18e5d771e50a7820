//! The CPU Lloyd step: one fused pass that assigns every row to its nearest centroid
//! and accumulates the new centroid sums, in parallel with rayon.
//!
//! Speed: the centroids are packed transposed in blocks of eight lanes so the inner
//! loop is one vector subtract and one vector FMA per feature, and the n×k distance
//! matrix is never written. Eight rows are scored together so the FMA chains overlap. The kernel
//! uses AVX2+FMA intrinsics when the CPU has them (checked at run time), with a
//! portable fallback that computes bit-identical results.
//!
//! Exactness: the score is the squared distance itself, `Σ (x_j − c_j)²` as a fused
//! multiply-add chain in feature order, on every path (the fallback's `mul_add` is a
//! correctly rounded software FMA), and the GPU shader computes the same chain. The
//! expanded form `‖c‖² − 2 x·c` that BLAS-based tools use would save the subtract
//! but loses every digit to cancellation when features are large and close (a
//! mall's raw revenue next to a share), making the nearest centroid a coin toss;
//! the direct form keeps labels right and lets the two backends agree except on
//! genuine near-ties. Sums are accumulated in f64 over fixed row chunks that are
//! combined in chunk order, so results do not depend on the number of threads.

use rayon::prelude::*;

use super::{LloydBackend, StepStats};
use crate::error::Result;
use crate::matrix::Matrix;

/// Rows per parallel task. Fixed (not derived from the thread count) so that the
/// f64 partial sums, and hence the results, are the same for any thread count.
pub const CHUNK_ROWS: usize = 4096;

/// Label of a row that has not been assigned yet.
const UNASSIGNED: u32 = u32::MAX;

/// Centroids packed for the kernel: `blocks` blocks of `lanes` centroids, stored as
/// `[block][feature][lane]`, with a penalty per lane (`+inf` for padding lanes, 0
/// for real centroids).
pub(crate) struct Packed {
    pub(crate) blocks: usize,
    ct: Vec<f32>,
    pad: Vec<f32>,
}

/// `Σ (a_j − b_j)²` as a fused multiply-add chain in index order: the one distance
/// both backends use.
#[inline(always)]
pub(crate) fn fma_sqdist(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).fold(0.0f32, |acc, (x, y)| {
        let t = x - y;
        t.mul_add(t, acc)
    })
}

/// [`fma_sqdist`] compiled with the FMA instruction (without it `mul_add` is a
/// software call): the same result, several times faster.
///
/// # Safety
/// The CPU must support FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_sqdist_hw(a: &[f32], b: &[f32]) -> f32 {
    fma_sqdist(a, b)
}

/// [`fma_sqdist`] with the best instructions of `isa`.
#[inline(always)]
pub(crate) fn sqdist(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only chosen by `Isa::detect` after checking the CPU.
        Isa::Avx2 => unsafe { fma_sqdist_hw(a, b) },
        _ => fma_sqdist(a, b),
    }
}

impl Packed {
    pub(crate) fn new(centroids: &[f32], k: usize, d: usize, lanes: usize) -> Self {
        let blocks = k.div_ceil(lanes);
        let mut ct = vec![0.0f32; blocks * d * lanes];
        let mut pad = vec![f32::INFINITY; blocks * lanes];
        for c in 0..k {
            let (b, l) = (c / lanes, c % lanes);
            let row = &centroids[c * d..(c + 1) * d];
            for (j, v) in row.iter().enumerate() {
                ct[(b * d + j) * lanes + l] = *v;
            }
            pad[c] = 0.0;
        }
        Packed { blocks, ct, pad }
    }
}

/// Per-chunk accumulators.
type Partial = StepStats;

/// Arguments of one chunk of the fused kernel.
struct ChunkJob<'a> {
    x: &'a [f32],
    w: Option<&'a [f32]>,
    labels: &'a mut [u32],
    dist: &'a mut [f32],
}

/// Rows scored together. Each row's dot products are a dependent chain of FMAs
/// (latency ~4 cycles); interleaving `R` rows gives the core `R` independent chains
/// per centroid block without changing any row's order of operations.
const R: usize = 8;
const _: () = assert!(R <= 8, "nearest_avx2 unrolls at most 8 rows");

/// Centroids per block (one AVX2 register of f32).
const LANES: usize = 8;

/// The portable scorer: the nearest centroid of each of the `RR` rows in `x` (first
/// minimum of the squared distance) and that distance.
#[inline(always)]
fn nearest_portable<const RR: usize>(x: &[f32], d: usize, p: &Packed) -> ([usize; RR], [f32; RR]) {
    let mut best = [f32::INFINITY; RR];
    let mut bi = [0usize; RR];
    for b in 0..p.blocks {
        let blk = &p.ct[b * d * LANES..(b + 1) * d * LANES];
        for r in 0..RR {
            let row = &x[r * d..(r + 1) * d];
            let mut acc = [0.0f32; LANES];
            for (xj, cj) in row.iter().zip(blk.chunks_exact(LANES)) {
                for l in 0..LANES {
                    let t = xj - cj[l];
                    acc[l] = t.mul_add(t, acc[l]);
                }
            }
            let mut s = [0.0f32; LANES];
            for l in 0..LANES {
                s[l] = acc[l] + p.pad[b * LANES + l];
            }
            let m = s.iter().fold(f32::INFINITY, |a, v| a.min(*v));
            if m < best[r] {
                best[r] = m;
                bi[r] = b * LANES + s.iter().position(|v| *v == m).unwrap_or(0);
            }
        }
    }
    (bi, best)
}

/// The AVX2 scorer: the same arithmetic as [`nearest_portable`], eight centroids per
/// instruction, `RR` rows interleaved.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn nearest_avx2<const RR: usize>(
    x: &[f32],
    d: usize,
    p: &Packed,
) -> ([usize; RR], [f32; RR]) {
    use std::arch::x86_64::*;
    assert!(
        x.len() >= RR * d && p.ct.len() >= p.blocks * d * LANES && p.pad.len() >= p.blocks * LANES
    );
    let mut best = [f32::INFINITY; RR];
    let mut bi = [0usize; RR];
    for b in 0..p.blocks {
        // SAFETY: every pointer below stays inside the slices whose lengths the
        // assert above checked: block b has d rows of LANES floats, x has RR rows.
        unsafe {
            let blk = p.ct.as_ptr().add(b * d * LANES);
            let xp = x.as_ptr();
            let mut acc = [_mm256_setzero_ps(); RR];
            // Written out per row (RR is 8 or 1) so the accumulators stay in registers.
            macro_rules! rows {
                ($c:ident, $j:ident; $($r:literal)*) => {
                    $( if $r < RR {
                        let t = _mm256_sub_ps(_mm256_broadcast_ss(&*xp.add($r * d + $j)), $c);
                        acc[$r] = _mm256_fmadd_ps(t, t, acc[$r]);
                    } )*
                };
            }
            for j in 0..d {
                let c = _mm256_loadu_ps(blk.add(j * LANES));
                rows!(c, j; 0 1 2 3 4 5 6 7);
            }
            let pad = _mm256_loadu_ps(p.pad.as_ptr().add(b * LANES));
            for r in 0..RR {
                let s = _mm256_add_ps(acc[r], pad);
                let v1 = _mm256_min_ps(s, _mm256_permute2f128_ps::<1>(s, s));
                let v2 = _mm256_min_ps(v1, _mm256_shuffle_ps::<0b01_00_11_10>(v1, v1));
                let v3 = _mm256_min_ps(v2, _mm256_shuffle_ps::<0b10_11_00_01>(v2, v2));
                let m = _mm256_cvtss_f32(v3);
                if m < best[r] {
                    best[r] = m;
                    let eq = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(s, v3)) as u32;
                    bi[r] = b * LANES + eq.trailing_zeros() as usize;
                }
            }
        }
    }
    (bi, best)
}

/// The squared distance of each of `RR` rows to each lane of block `b`, stored
/// row-major (`out[r * LANES + lane]`): the same FMA chain as [`fma_sqdist`].
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lanes_avx2<const RR: usize>(x: &[f32], d: usize, p: &Packed, b: usize, out: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(x.len() >= RR * d && p.ct.len() >= (b + 1) * d * LANES && out.len() >= RR * LANES);
    // SAFETY: the pointers stay inside the slices whose lengths the assert checked.
    unsafe {
        let blk = p.ct.as_ptr().add(b * d * LANES);
        let xp = x.as_ptr();
        let mut acc = [_mm256_setzero_ps(); RR];
        macro_rules! rows {
            ($c:ident, $j:ident; $($r:literal)*) => {
                $( if $r < RR {
                    let t = _mm256_sub_ps(_mm256_broadcast_ss(&*xp.add($r * d + $j)), $c);
                    acc[$r] = _mm256_fmadd_ps(t, t, acc[$r]);
                } )*
            };
        }
        for j in 0..d {
            let c = _mm256_loadu_ps(blk.add(j * LANES));
            rows!(c, j; 0 1 2 3 4 5 6 7);
        }
        for (r, a) in acc.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(r * LANES), *a);
        }
    }
}

/// The portable [`lanes_avx2`].
fn lanes_portable(x: &[f32], d: usize, p: &Packed, b: usize, out: &mut [f32]) {
    let blk = &p.ct[b * d * LANES..(b + 1) * d * LANES];
    for (row, o) in x.chunks_exact(d).zip(out.chunks_exact_mut(LANES)) {
        let mut acc = [0.0f32; LANES];
        for (xj, cj) in row.iter().zip(blk.chunks_exact(LANES)) {
            for l in 0..LANES {
                let t = xj - cj[l];
                acc[l] = t.mul_add(t, acc[l]);
            }
        }
        o.copy_from_slice(&acc);
    }
}

/// Candidates scored together by [`candidate_distances`] (one AVX2 register).
pub(crate) const CANDIDATE_LANES: usize = LANES;

/// The squared distance of every row of `x` (row-major, `d` features) to every
/// candidate packed in `p`, written as `out[(block * rows + row) * LANES + lane]`
/// (padding lanes hold garbage). Bit-identical to [`fma_sqdist`] on every ISA.
pub(crate) fn candidate_distances(isa: Isa, x: &[f32], d: usize, p: &Packed, out: &mut [f32]) {
    let n = x.len() / d.max(1);
    for b in 0..p.blocks {
        let o = &mut out[b * n * LANES..(b + 1) * n * LANES];
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                let full = n / R * R;
                for i0 in (0..full).step_by(R) {
                    // SAFETY: `Isa::Avx2` is only chosen after checking the CPU.
                    unsafe {
                        lanes_avx2::<R>(&x[i0 * d..(i0 + R) * d], d, p, b, &mut o[i0 * LANES..])
                    }
                }
                for i0 in full..n {
                    // SAFETY: as above.
                    unsafe {
                        lanes_avx2::<1>(&x[i0 * d..(i0 + 1) * d], d, p, b, &mut o[i0 * LANES..])
                    }
                }
            }
            _ => lanes_portable(x, d, p, b, o),
        }
    }
}

/// Labels, distances and sums for `RR` rows starting at `i0`.
#[inline(always)]
fn finish_rows<const RR: usize>(
    job: &mut ChunkJob<'_>,
    i0: usize,
    d: usize,
    (bi, dist): ([usize; RR], [f32; RR]),
    part: &mut Partial,
) {
    let x = job.x;
    for (r, (&c, &d2)) in bi.iter().zip(&dist).enumerate() {
        let i = i0 + r;
        let row = &x[i * d..(i + 1) * d];
        let wi = job.w.map_or(1.0, |w| w[i] as f64);
        if job.labels[i] != c as u32 {
            part.changed += 1;
            job.labels[i] = c as u32;
        }
        job.dist[i] = d2;
        part.inertia += wi * d2 as f64;
        part.weights[c] += wi;
        let sums = &mut part.sums[c * d..(c + 1) * d];
        for (s, v) in sums.iter_mut().zip(row) {
            *s += *v as f64 * wi;
        }
    }
}

#[inline(always)]
fn assign_rows(
    mut job: ChunkJob<'_>,
    d: usize,
    part: &mut Partial,
    nearest: impl Fn(&[f32]) -> ([usize; R], [f32; R]),
    nearest1: impl Fn(&[f32]) -> ([usize; 1], [f32; 1]),
) {
    let x = job.x;
    let n = job.labels.len();
    let full = n / R * R;
    for i0 in (0..full).step_by(R) {
        let best = nearest(&x[i0 * d..(i0 + R) * d]);
        finish_rows::<R>(&mut job, i0, d, best, part);
    }
    for i0 in full..n {
        let best = nearest1(&x[i0 * d..(i0 + 1) * d]);
        finish_rows::<1>(&mut job, i0, d, best, part);
    }
}

/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn assign_avx2(job: ChunkJob<'_>, d: usize, p: &Packed, part: &mut Partial) {
    // SAFETY: this function only runs where the caller checked AVX2 and FMA.
    assign_rows(
        job,
        d,
        part,
        |x| unsafe { nearest_avx2::<R>(x, d, p) },
        |x| unsafe { nearest_avx2::<1>(x, d, p) },
    )
}

fn assign_portable(job: ChunkJob<'_>, d: usize, p: &Packed, part: &mut Partial) {
    assign_rows(
        job,
        d,
        part,
        |x| nearest_portable::<R>(x, d, p),
        |x| nearest_portable::<1>(x, d, p),
    )
}

/// The instruction set the kernel runs with on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX2 with FMA: eight centroids per instruction.
    Avx2,
    /// Portable code (software FMA where the CPU lacks it).
    Portable,
}

impl Isa {
    /// The best the running CPU supports.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }
}

fn run_chunk(isa: Isa, job: ChunkJob<'_>, d: usize, p: &Packed, part: &mut Partial) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx2` is only chosen by `Isa::detect` after checking the CPU.
        Isa::Avx2 => unsafe { assign_avx2(job, d, p, part) },
        _ => assign_portable(job, d, p, part),
    }
}

/// The CPU backend: borrows the data, owns labels and distances.
pub struct CpuLloyd<'a> {
    x: &'a Matrix,
    w: Option<&'a [f32]>,
    labels: Vec<u32>,
    dist: Vec<f32>,
    isa: Isa,
}

impl<'a> CpuLloyd<'a> {
    /// A backend over `x` with optional sample weights.
    pub fn new(x: &'a Matrix, w: Option<&'a [f32]>) -> Self {
        Self::with_isa(x, w, Isa::detect())
    }

    /// A backend forced to one instruction set (tests and benches).
    pub fn with_isa(x: &'a Matrix, w: Option<&'a [f32]>, isa: Isa) -> Self {
        CpuLloyd {
            x,
            w,
            labels: vec![UNASSIGNED; x.n()],
            dist: vec![0.0; x.n()],
            isa,
        }
    }
}

impl LloydBackend for CpuLloyd<'_> {
    fn name(&self) -> String {
        format!(
            "cpu ({:?}, {} threads)",
            self.isa,
            rayon::current_num_threads()
        )
        .to_lowercase()
    }

    fn reset(&mut self) -> Result<()> {
        self.labels.fill(UNASSIGNED);
        Ok(())
    }

    fn step(&mut self, centroids: &[f32]) -> Result<StepStats> {
        let d = self.x.d();
        let k = centroids.len() / d.max(1);
        let packed = Packed::new(centroids, k, d, LANES);
        let isa = self.isa;
        let w = self.w;
        let parts: Vec<Partial> = self
            .x
            .data()
            .par_chunks(CHUNK_ROWS * d)
            .zip(self.labels.par_chunks_mut(CHUNK_ROWS))
            .zip(self.dist.par_chunks_mut(CHUNK_ROWS))
            .enumerate()
            .map(|(ci, ((x, labels), dist))| {
                let mut part = StepStats::zeros(k, d);
                let w = w.map(|w| &w[ci * CHUNK_ROWS..ci * CHUNK_ROWS + labels.len()]);
                let job = ChunkJob { x, w, labels, dist };
                run_chunk(isa, job, d, &packed, &mut part);
                part
            })
            .collect();
        let mut out = StepStats::zeros(k, d);
        for p in &parts {
            out.add(p);
        }
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

    fn brute(x: &Matrix, c: &[f32]) -> Vec<u32> {
        let d = x.d();
        (0..x.n())
            .map(|i| {
                let row = x.row(i);
                let mut best = (f32::INFINITY, 0u32);
                for (j, cj) in c.chunks(d).enumerate() {
                    let s = fma_sqdist(row, cj);
                    if s < best.0 {
                        best = (s, j as u32);
                    }
                }
                best.1
            })
            .collect()
    }

    fn data(n: usize, d: usize, seed: u64) -> Matrix {
        let mut r = crate::rng::Rng::new(seed);
        Matrix::new(
            n,
            d,
            (0..n * d)
                .map(|_| (r.next_f64() * 10.0 - 5.0) as f32)
                .collect(),
        )
    }

    #[test]
    fn every_isa_gives_the_brute_force_labels() {
        for &(n, d, k) in &[(1000, 16, 8), (999, 3, 21), (50, 37, 1), (300, 1, 64)] {
            let x = data(n, d, 1);
            let c: Vec<f32> = x.data()[..k * d].to_vec();
            let want = brute(&x, &c);
            for isa in [Isa::detect(), Isa::Portable] {
                let mut b = CpuLloyd::with_isa(&x, None, isa);
                let s = b.step(&c).unwrap();
                assert_eq!(b.labels().unwrap(), want, "{isa:?} n={n} d={d} k={k}");
                assert_eq!(s.changed, n as u64);
                assert_eq!(s.weights.iter().sum::<f64>(), n as f64);
            }
        }
    }

    #[test]
    fn a_second_step_with_the_same_centroids_changes_nothing() {
        let x = data(500, 4, 2);
        let c = x.data()[..12].to_vec();
        let mut b = CpuLloyd::new(&x, None);
        b.step(&c).unwrap();
        assert_eq!(b.step(&c).unwrap().changed, 0);
    }

    #[test]
    fn weights_scale_sums_and_inertia() {
        let x = data(100, 2, 3);
        let c = x.data()[..4].to_vec();
        let w = vec![2.0f32; 100];
        let a = CpuLloyd::new(&x, None).step(&c).unwrap();
        let b = CpuLloyd::new(&x, Some(&w)).step(&c).unwrap();
        assert!((b.inertia - 2.0 * a.inertia).abs() < 1e-9 * a.inertia);
        assert_eq!(b.weights[0], 2.0 * a.weights[0]);
    }
}
