//! K-means: the Lloyd driver shared by both backends, the [`LloydBackend`] seam they
//! plug into, and the choice between them.
//!
//! A backend does the data-sized work of one iteration (assign every row, sum the
//! rows per cluster); the driver does the k-sized rest (empty-cluster relocation,
//! new centroids, shift, convergence), identically for the CPU and the GPU. The
//! iteration logic follows scikit-learn's `_kmeans_single_lloyd` step for step, so
//! that given the same initial centroids both give the same answer.

pub mod bounds;
pub mod cpu;
pub mod gpu;
pub mod init;
pub mod matching;
pub mod params;
pub mod stability;

use std::time::Instant;

use serde::Serialize;

pub use bounds::{Algorithm, BoundedLloyd, CpuBackend};
pub use cpu::CpuLloyd;
pub use gpu::GpuLloyd;
pub use params::{Init, KMeansParams, ValidKMeansParams};

use crate::gpu::{GpuContext, GpuOptions};

use crate::error::Result;
use crate::matrix::Matrix;
use crate::rng::Rng;
use crate::scale::mean_variance;

/// What one data pass returns: per-cluster sums of the (weighted) rows, the weight
/// of each cluster, the inertia against the centroids used, and how many labels
/// differ from the previous pass.
#[derive(Clone, Debug, PartialEq)]
pub struct StepStats {
    /// `k × d` weighted sums, row-major.
    pub sums: Vec<f64>,
    /// Total weight assigned to each cluster.
    pub weights: Vec<f64>,
    /// `Σ w ‖x − c‖²` against the centroids passed in.
    pub inertia: f64,
    /// Rows whose label changed (all rows on the first pass after a reset).
    pub changed: u64,
}

impl StepStats {
    /// Nothing yet, for `k` clusters of `d` features.
    pub fn zeros(k: usize, d: usize) -> StepStats {
        StepStats {
            sums: vec![0.0; k * d],
            weights: vec![0.0; k],
            inertia: 0.0,
            changed: 0,
        }
    }

    /// Adds another part's statistics (backends add their row chunks in chunk
    /// order, so that the sums do not depend on the thread count).
    pub fn add(&mut self, other: &StepStats) {
        for (a, b) in self.sums.iter_mut().zip(&other.sums) {
            *a += b;
        }
        for (a, b) in self.weights.iter_mut().zip(&other.weights) {
            *a += b;
        }
        self.inertia += other.inertia;
        self.changed += other.changed;
    }
}

/// The data-sized half of a Lloyd iteration.
pub trait LloydBackend {
    /// Human-readable name, e.g. `cpu (avx2, 2 threads)` or `gpu (NVIDIA H100, vulkan)`.
    fn name(&self) -> String;
    /// Forgets the labels: the next step counts every row as changed.
    fn reset(&mut self) -> Result<()>;
    /// Assigns every row to its nearest centroid in `centroids` (`k × d`) and sums.
    fn step(&mut self, centroids: &[f32]) -> Result<StepStats>;
    /// The labels of the last step.
    fn labels(&mut self) -> Result<Vec<u32>>;
    /// The squared distances of the last step, each to its row's centroid.
    fn distances(&mut self) -> Result<Vec<f32>>;
}

/// Which backend runs the Lloyd iterations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendChoice {
    /// A hardware GPU when wgpu finds one, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// A GPU, a software adapter (lavapipe) included; none is an error.
    Gpu,
}

/// Opens the GPU that `choice` asks for. Returns the context (none for the CPU)
/// and a note for the user: why auto fell back to the CPU, or that a software
/// adapter will be slow.
pub fn open_gpu(
    choice: BackendChoice,
    opts: &GpuOptions,
) -> Result<(Option<GpuContext>, Option<String>)> {
    match choice {
        BackendChoice::Cpu => Ok((None, None)),
        BackendChoice::Auto => {
            let opts = GpuOptions {
                allow_software: false,
                ..opts.clone()
            };
            match GpuContext::new(&opts) {
                Ok(ctx) => Ok((Some(ctx), None)),
                Err(e) => Ok((None, Some(format!("{e}; using the CPU")))),
            }
        }
        BackendChoice::Gpu => {
            let opts = GpuOptions {
                allow_software: true,
                ..opts.clone()
            };
            let ctx = GpuContext::new(&opts)?;
            let note = ctx.adapter().software.then(|| {
                format!(
                    "`{}` is a software adapter: shaders run on the CPU, far slower than --backend cpu",
                    ctx.adapter().name
                )
            });
            Ok((Some(ctx), note))
        }
    }
}

/// Progress events, for a progress bar.
#[derive(Clone, Debug)]
pub enum Event {
    /// Restart `run` of `of` begins.
    Run {
        /// 0-based restart.
        run: usize,
        /// Total restarts.
        of: usize,
    },
    /// An iteration finished.
    Iteration {
        /// 0-based restart.
        run: usize,
        /// 1-based iteration.
        iter: usize,
        /// Inertia against the centroids of that iteration.
        inertia: f64,
        /// Squared centroid shift.
        shift: f64,
    },
}

/// The outcome of one Lloyd run.
#[derive(Clone, Debug)]
pub struct LloydRun {
    /// Final centroids, `k × d`.
    pub centroids: Vec<f32>,
    /// Inertia of the final labels against the final centroids.
    pub inertia: f64,
    /// Iterations run.
    pub iterations: usize,
    /// True when labels stopped changing or the shift fell to the tolerance.
    pub converged: bool,
}

/// Moves each empty cluster onto one of the rows farthest from their centroids,
/// as scikit-learn's `_relocate_empty_clusters_dense` does.
fn relocate_empty(
    x: &Matrix,
    w: Option<&[f32]>,
    backend: &mut dyn LloydBackend,
    st: &mut StepStats,
) -> Result<()> {
    let d = x.d();
    let empty: Vec<usize> = (0..st.weights.len())
        .filter(|&c| st.weights[c] == 0.0)
        .collect();
    if empty.is_empty() {
        return Ok(());
    }
    let dist = backend.distances()?;
    let labels = backend.labels()?;
    let mut order: Vec<usize> = (0..dist.len()).collect();
    let m = empty.len().min(order.len());
    let by_far = |a: &usize, b: &usize| dist[*b].total_cmp(&dist[*a]).then(a.cmp(b));
    if m < order.len() {
        order.select_nth_unstable_by(m, by_far);
    }
    order.truncate(m);
    order.sort_unstable_by(by_far);
    for (&c, &i) in empty.iter().zip(&order) {
        let wi = w.map_or(1.0, |w| w[i] as f64);
        let old = labels[i] as usize;
        for (j, v) in x.row(i).iter().enumerate() {
            st.sums[old * d + j] -= *v as f64 * wi;
            st.sums[c * d + j] = *v as f64 * wi;
        }
        st.weights[c] = wi;
        st.weights[old] -= wi;
    }
    Ok(())
}

/// When a Lloyd run stops.
#[derive(Clone, Copy, Debug)]
pub struct Stop {
    /// Iteration cap.
    pub max_iter: usize,
    /// Stop once the total squared centroid shift is at most this (absolute).
    pub tol_abs: f64,
}

/// Runs Lloyd iterations from `centroids` until labels stop changing, the squared
/// shift is at most `stop.tol_abs`, or `stop.max_iter` is reached; then relabels
/// with the final centroids (unless labels had stopped changing). `run` only tags
/// the progress events.
pub fn lloyd(
    x: &Matrix,
    w: Option<&[f32]>,
    backend: &mut dyn LloydBackend,
    mut centroids: Vec<f32>,
    stop: Stop,
    run: usize,
    observe: &mut dyn FnMut(&Event),
) -> Result<LloydRun> {
    let Stop { max_iter, tol_abs } = stop;
    let d = x.d();
    let k = centroids.len() / d.max(1);
    backend.reset()?;
    let mut strict = false;
    let mut converged = false;
    let mut iterations = 0;
    let mut last_inertia = f64::NAN;
    for i in 0..max_iter {
        let mut st = backend.step(&centroids)?;
        relocate_empty(x, w, backend, &mut st)?;
        let mut shift = 0.0f64;
        for c in 0..k {
            if st.weights[c] > 0.0 {
                for j in 0..d {
                    let new = (st.sums[c * d + j] / st.weights[c]) as f32;
                    let delta = (new - centroids[c * d + j]) as f64;
                    shift += delta * delta;
                    centroids[c * d + j] = new;
                }
            }
        }
        iterations = i + 1;
        last_inertia = st.inertia;
        observe(&Event::Iteration {
            run,
            iter: iterations,
            inertia: st.inertia,
            shift,
        });
        if st.changed == 0 {
            strict = true;
            converged = true;
            break;
        }
        if shift <= tol_abs {
            converged = true;
            break;
        }
    }
    let inertia = if strict {
        last_inertia
    } else {
        backend.step(&centroids)?.inertia
    };
    Ok(LloydRun {
        centroids,
        inertia,
        iterations,
        converged,
    })
}

/// Summary of one restart.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// Final inertia.
    pub inertia: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Converged before `max_iter`.
    pub converged: bool,
}

/// Wall-clock timings of a fit, in seconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FitTimings {
    /// Choosing initial centroids, all restarts.
    pub init_s: f64,
    /// Lloyd iterations, all restarts.
    pub lloyd_s: f64,
    /// `lloyd_s` divided by the iterations run.
    pub per_iteration_s: f64,
}

/// A fitted K-means.
#[derive(Clone, Debug)]
pub struct KMeansFit {
    /// Centroids of the best restart, `k × d`, scaled units.
    pub centroids: Vec<f32>,
    /// Label of each row.
    pub labels: Vec<u32>,
    /// Squared distance of each row to its centroid.
    pub sq_distances: Vec<f32>,
    /// Inertia of the best restart.
    pub inertia: f64,
    /// Iterations of the best restart.
    pub iterations: usize,
    /// Whether the best restart converged.
    pub converged: bool,
    /// Which restart won (0-based).
    pub best_run: usize,
    /// Every restart.
    pub runs: Vec<RunSummary>,
    /// The backend's name.
    pub backend: String,
    /// Timings.
    pub timings: FitTimings,
}

/// The initial centroids of restart `run`.
pub fn initial_centroids(
    x: &Matrix,
    w: Option<&[f32]>,
    params: &ValidKMeansParams,
    run: usize,
) -> Vec<f32> {
    let mut rng = Rng::stream(params.seed, run as u64);
    match &params.init {
        Init::KMeansPlusPlus => init::kmeans_plus_plus(x, w, params.k, &mut rng),
        Init::Random => init::random_rows(x, params.k, &mut rng),
        Init::Given(c) => c.clone(),
    }
}

/// The nearest of `centroids` (row-major, in the units of `x`) for every row of
/// `x`, with the squared distance to it.
pub fn assign(x: &Matrix, centroids: &[f32]) -> Result<(Vec<u32>, Vec<f32>)> {
    let mut backend = CpuLloyd::new(x, None);
    backend.step(centroids)?;
    Ok((backend.labels()?, backend.distances()?))
}

/// Fits K-means on `x` with `backend`, keeping the restart with the lowest inertia.
pub fn fit(
    x: &Matrix,
    w: Option<&[f32]>,
    params: &ValidKMeansParams,
    backend: &mut dyn LloydBackend,
    observe: &mut dyn FnMut(&Event),
) -> Result<KMeansFit> {
    let tol_abs = params.tol * mean_variance(x);
    let mut best: Option<KMeansFit> = None;
    let mut runs = Vec::with_capacity(params.n_init);
    let mut timings = FitTimings::default();
    let mut total_iters = 0;
    for run in 0..params.n_init {
        observe(&Event::Run {
            run,
            of: params.n_init,
        });
        let t = Instant::now();
        let c0 = initial_centroids(x, w, params, run);
        timings.init_s += t.elapsed().as_secs_f64();
        let t = Instant::now();
        let stop = Stop {
            max_iter: params.max_iter,
            tol_abs,
        };
        let r = lloyd(x, w, backend, c0, stop, run, observe)?;
        timings.lloyd_s += t.elapsed().as_secs_f64();
        total_iters += r.iterations;
        runs.push(RunSummary {
            inertia: r.inertia,
            iterations: r.iterations,
            converged: r.converged,
        });
        if best.as_ref().is_none_or(|b| r.inertia < b.inertia) {
            best = Some(KMeansFit {
                labels: backend.labels()?,
                sq_distances: backend.distances()?,
                centroids: r.centroids,
                inertia: r.inertia,
                iterations: r.iterations,
                converged: r.converged,
                best_run: run,
                runs: Vec::new(),
                backend: backend.name(),
                timings: FitTimings::default(),
            });
        }
    }
    timings.per_iteration_s = timings.lloyd_s / total_iters.max(1) as f64;
    let mut fit = best.expect("n_init >= 1 is checked");
    fit.runs = runs;
    fit.timings = timings;
    Ok(fit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_cluster_is_moved_to_the_farthest_row() {
        // Centroid 1 sits far from every row, so it starts empty.
        let x = Matrix::new(4, 1, vec![0.0, 0.1, 0.2, 10.0]);
        let mut b = CpuLloyd::new(&x, None);
        let stop = Stop {
            max_iter: 10,
            tol_abs: 0.0,
        };
        let r = lloyd(&x, None, &mut b, vec![0.0, 1000.0], stop, 0, &mut |_| {}).unwrap();
        let mut c = r.centroids.clone();
        c.sort_by(f32::total_cmp);
        assert!((c[0] - 0.1).abs() < 1e-6 && c[1] == 10.0, "{c:?}");
        assert!(r.converged);
    }

    #[test]
    fn identical_points_converge_to_zero_inertia() {
        let x = Matrix::new(6, 2, vec![1.0; 12]);
        let p = KMeansParams::new(3).seed(1).check(6, 2).unwrap();
        let f = fit(&x, None, &p, &mut CpuLloyd::new(&x, None), &mut |_| {}).unwrap();
        assert_eq!(f.inertia, 0.0);
        assert!(f.converged);
    }
}
