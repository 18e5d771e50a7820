//! `segmenta bench`: the same data and the same initial centroids through the CPU
//! and the GPU backends, side by side: setup (device + upload), per-iteration time
//! (median of every step), end to end, and how far the answers agree.

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use super::Observer;
use crate::error::{Error, Result};
use crate::generate::{blobs, BlobsSpec};
use crate::io::{read_features, ReadSpec};
use crate::kmeans::{init::random_rows, lloyd, CpuLloyd, GpuLloyd, LloydBackend, StepStats, Stop};
use crate::matrix::Matrix;
use crate::metrics::adjusted_rand_index;
use crate::rng::Rng;
use crate::scale::{ScaleMethod, Scaler};

/// What to time.
#[derive(Clone, Debug)]
pub struct BenchSpec {
    /// A feature table (scaled by `scale`), or `None` for seeded Gaussian blobs.
    pub input: Option<PathBuf>,
    /// Feature columns of `input`.
    pub columns: Option<Vec<String>>,
    /// Id column of `input`.
    pub id_col: String,
    /// Scaling of `input`.
    pub scale: ScaleMethod,
    /// Rows, features and components of the blobs.
    pub n: usize,
    /// Features of the blobs.
    pub d: usize,
    /// Components of the blobs.
    pub centers: usize,
    /// Clusters.
    pub k: usize,
    /// Lloyd iterations (tol 0).
    pub iters: usize,
    /// Seed of the data and of the initial rows.
    pub seed: u64,
    /// Start from these rows instead of `k` seeded random rows.
    pub init_rows: Option<Vec<usize>>,
    /// `cpu`, `gpu`, in order.
    pub backends: Vec<String>,
    /// The GPU adapter whose name contains this text.
    pub adapter: Option<String>,
    /// Workgroups per dispatch of the GPU kernel.
    pub gpu_groups: Option<usize>,
    /// Time the GPU kernel without its summing phase (a timing probe).
    pub probe_assign_only: bool,
}

/// How far two backends agree.
#[derive(Clone, Debug, Serialize)]
pub struct Agreement {
    /// Share of equal labels.
    pub label_agreement: f64,
    /// Adjusted Rand index of the two labellings.
    pub ari: f64,
    /// |Δ inertia| / inertia.
    pub inertia_rel_diff: f64,
    /// Whether both ran the same number of iterations.
    pub iterations_equal: bool,
}

/// The bench's result (one JSON line with `--json`).
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Always `bench`.
    pub command: &'static str,
    /// Rows.
    pub n: usize,
    /// Features.
    pub d: usize,
    /// Clusters.
    pub k: usize,
    /// Iterations asked for.
    pub iters: usize,
    /// Seed.
    pub seed: u64,
    /// The table, or `blobs`.
    pub data: String,
    /// Seconds to read or make the data.
    pub data_s: f64,
    /// One per backend, in order.
    pub results: Vec<Outcome>,
    /// When two backends ran.
    pub agreement: Option<Agreement>,
}

/// Times every step of the wrapped backend.
struct Timed<'b> {
    inner: &'b mut dyn LloydBackend,
    steps: Vec<f64>,
}

impl LloydBackend for Timed<'_> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn reset(&mut self) -> Result<()> {
        self.inner.reset()
    }
    fn step(&mut self, c: &[f32]) -> Result<StepStats> {
        let t = Instant::now();
        let s = self.inner.step(c)?;
        self.steps.push(t.elapsed().as_secs_f64());
        Ok(s)
    }
    fn labels(&mut self) -> Result<Vec<u32>> {
        self.inner.labels()
    }
    fn distances(&mut self) -> Result<Vec<f32>> {
        self.inner.distances()
    }
}

/// One backend's timings and answer.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// `cpu` or `gpu`.
    pub backend: String,
    /// The backend's own name (ISA, threads; adapter, API).
    pub name: String,
    /// Seconds to open the device and upload the data.
    pub setup_s: f64,
    /// Median seconds of one iteration.
    pub iter_median_s: f64,
    /// Fastest iteration, seconds.
    pub iter_min_s: f64,
    /// Iterations run.
    pub iterations: usize,
    /// Final inertia.
    pub inertia: f64,
    /// Setup and every iteration, seconds.
    pub total_s: f64,
    /// Median GPU time of the assign kernel per step (timestamp queries).
    pub kernel_assign_s: Option<f64>,
    /// Median GPU time of the reduce kernel per step.
    pub kernel_reduce_s: Option<f64>,
    /// Final labels.
    #[serde(skip)]
    pub labels: Vec<u32>,
}

/// The median of timings, by the one definition ([`crate::stats::median`]).
fn median(v: &[f64]) -> f64 {
    crate::stats::median(&mut v.to_vec()).unwrap_or(f64::NAN)
}

fn run_one(
    which: &str,
    name_hint: String,
    setup_s: f64,
    backend: &mut dyn LloydBackend,
    x: &Matrix,
    init: &[f32],
    iters: usize,
) -> Result<Outcome> {
    let t = Instant::now();
    let mut timed = Timed {
        inner: backend,
        steps: Vec::new(),
    };
    let r = lloyd(
        x,
        None,
        &mut timed,
        init.to_vec(),
        Stop {
            max_iter: iters,
            tol_abs: 0.0,
        },
        0,
        &mut |_| {},
    )?;
    let labels = timed.labels()?;
    let total = setup_s + t.elapsed().as_secs_f64();
    Ok(Outcome {
        backend: which.into(),
        name: if name_hint.is_empty() {
            timed.name()
        } else {
            name_hint
        },
        setup_s,
        iter_median_s: median(&timed.steps),
        iter_min_s: timed.steps.iter().copied().fold(f64::INFINITY, f64::min),
        iterations: r.iterations,
        inertia: r.inertia,
        total_s: total,
        kernel_assign_s: None,
        kernel_reduce_s: None,
        labels,
    })
}

/// Runs the bench.
pub fn bench(a: &BenchSpec, obs: &dyn Observer) -> Result<BenchReport> {
    if a.input.is_none() {
        for (name, v) in [("--n", a.n), ("--d", a.d), ("--centers", a.centers)] {
            if v == 0 {
                return Err(Error::param(name, "must be at least 1"));
            }
        }
    }
    if a.iters == 0 {
        return Err(Error::param("--iters", "must be at least 1"));
    }
    let t = Instant::now();
    let x = match &a.input {
        Some(path) => {
            let mut spec = ReadSpec::new(a.id_col.clone());
            spec.columns = a.columns.clone();
            let mut t = read_features(path, &spec)?;
            Scaler::fit(a.scale, &t.x, t.numeric).transform(&mut t.x);
            t.x
        }
        None => blobs(BlobsSpec::new(a.n, a.d, a.centers, a.seed)).x,
    };
    let data_s = t.elapsed().as_secs_f64();
    let (n, d) = (x.n(), x.d());
    if a.k == 0 || a.k > n {
        return Err(Error::param(
            "k",
            format!("k must be in 1..={n}, got {}", a.k),
        ));
    }
    let init = match &a.init_rows {
        Some(rows) => {
            if rows.len() != a.k || rows.iter().any(|r| *r >= n) {
                return Err(Error::param(
                    "init-rows",
                    format!("give k = {} row indices below {n}, got {:?}", a.k, rows),
                ));
            }
            rows.iter().flat_map(|r| x.row(*r).to_vec()).collect()
        }
        None => random_rows(&x, a.k, &mut Rng::new(a.seed)),
    };
    let mut results: Vec<Outcome> = Vec::new();
    for b in &a.backends {
        match b.as_str() {
            "cpu" => {
                let mut cpu = CpuLloyd::new(&x, None);
                results.push(run_one(
                    "cpu",
                    String::new(),
                    0.0,
                    &mut cpu,
                    &x,
                    &init,
                    a.iters,
                )?);
            }
            "gpu" => {
                let t = Instant::now();
                let (ctx, note) = crate::kmeans::open_gpu(
                    crate::kmeans::BackendChoice::Gpu,
                    &crate::gpu::GpuOptions {
                        max_groups: a.gpu_groups,
                        adapter: a.adapter.clone(),
                        ..crate::gpu::GpuOptions::default()
                    },
                )?;
                if let Some(n) = note {
                    obs.warn(&n);
                }
                let Some(ctx) = ctx else {
                    return Err(Error::NoAdapter("none opened".into()));
                };
                let mut gpu = GpuLloyd::new(&ctx, &x, None)?;
                gpu.set_probe_skip_sums(a.probe_assign_only);
                let setup = t.elapsed().as_secs_f64();
                obs.info(&format!(
                    "gpu: {} chunk(s), upload {:.3} s",
                    gpu.chunks(),
                    gpu.upload_seconds()
                ));
                let mut r = run_one("gpu", String::new(), setup, &mut gpu, &x, &init, a.iters)?;
                let log = gpu.kernel_log();
                if !log.is_empty() {
                    let assign: Vec<f64> = log.iter().map(|t| t.0).collect();
                    let reduce: Vec<f64> = log.iter().map(|t| t.1).collect();
                    r.kernel_assign_s = Some(median(&assign));
                    r.kernel_reduce_s = Some(median(&reduce));
                }
                results.push(r);
            }
            other => {
                return Err(Error::param(
                    "backends",
                    format!("`{other}` is not cpu or gpu"),
                ))
            }
        }
    }
    let agreement = match results.as_slice() {
        [p, q] => {
            let same = p
                .labels
                .iter()
                .zip(&q.labels)
                .filter(|(a, b)| a == b)
                .count();
            Some(Agreement {
                label_agreement: same as f64 / n as f64,
                ari: adjusted_rand_index(&p.labels, &q.labels),
                inertia_rel_diff: (p.inertia - q.inertia).abs()
                    / p.inertia.abs().max(f64::MIN_POSITIVE),
                iterations_equal: p.iterations == q.iterations,
            })
        }
        _ => None,
    };
    Ok(BenchReport {
        command: "bench",
        n,
        d,
        k: a.k,
        iters: a.iters,
        seed: a.seed,
        data: a
            .input
            .as_ref()
            .map_or_else(|| "blobs".into(), |p| p.display().to_string()),
        data_s,
        results,
        agreement,
    })
}
