//! `segmenta bench`: the same data and the same initial centroids through the CPU
//! and the GPU backends, side by side: setup (device + upload), per-iteration time
//! (median of every step), end to end, and how far the answers agree.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use segmenta::error::Result as LibResult;
use segmenta::generate::{blobs, BlobsSpec};
use segmenta::io::{read_features, ReadSpec};
use segmenta::kmeans::{
    init::random_rows, lloyd, CpuLloyd, GpuLloyd, LloydBackend, StepStats, Stop,
};
use segmenta::metrics::adjusted_rand_index;
use segmenta::rng::Rng;
use segmenta::scale::{ScaleMethod, Scaler};
use segmenta::Matrix;
use serde::Serialize;
use serde_json::json;

use super::common::{BackendArgs, OutputArgs};

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Feature table to use (standard-scaled); without it, seeded Gaussian blobs.
    #[arg(long, short = 'i')]
    pub input: Option<PathBuf>,
    /// Feature columns of --input [default: every numeric column but the id].
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Id column of --input.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// Rows of synthetic data.
    #[arg(long, default_value_t = 1_000_000)]
    pub n: usize,
    /// Features of synthetic data.
    #[arg(long, default_value_t = 16)]
    pub d: usize,
    /// Components of synthetic data.
    #[arg(long, default_value_t = 8)]
    pub centers: usize,
    /// Clusters.
    #[arg(long, short = 'k', default_value_t = 8)]
    pub k: usize,
    /// Lloyd iterations (tol 0: stops early only when no label changes).
    #[arg(long, default_value_t = 20)]
    pub iters: usize,
    /// Seed of the data and of the initial centroids (k distinct random rows).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Start from these rows (comma-separated, k of them), e.g. the ones the peer
    /// harness draws, so both runs start from the same centroids.
    #[arg(long, value_delimiter = ',')]
    pub init_rows: Option<Vec<usize>>,
    /// Scaling of --input before clustering (`none` to match the peer harness, which
    /// clusters raw columns).
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: super::kmeans::ScaleArg,
    /// Backends to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "cpu,gpu")]
    pub backends: Vec<String>,
    /// Pick the GPU adapter whose name contains this text.
    #[arg(long, env = "SEGMENTA_ADAPTER")]
    pub adapter: Option<String>,
    /// Workgroups per dispatch of the GPU kernel (tuning) [default: built in].
    #[arg(long)]
    pub gpu_groups: Option<usize>,
    /// Timing probe: time the GPU kernel without its summing phase (the fit is then
    /// meaningless; only the per-iteration time is of use).
    #[arg(long, hide = true)]
    pub gpu_probe_assign_only: bool,
    #[command(flatten)]
    pub output: OutputArgs,
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
    fn reset(&mut self) -> LibResult<()> {
        self.inner.reset()
    }
    fn step(&mut self, c: &[f32]) -> LibResult<StepStats> {
        let t = Instant::now();
        let s = self.inner.step(c)?;
        self.steps.push(t.elapsed().as_secs_f64());
        Ok(s)
    }
    fn labels(&mut self) -> LibResult<Vec<u32>> {
        self.inner.labels()
    }
    fn distances(&mut self) -> LibResult<Vec<f32>> {
        self.inner.distances()
    }
}

#[derive(Serialize)]
struct Outcome {
    backend: String,
    name: String,
    setup_s: f64,
    iter_median_s: f64,
    iter_min_s: f64,
    iterations: usize,
    inertia: f64,
    total_s: f64,
    /// Median GPU time of the assign and reduce kernels per step (timestamp queries).
    kernel_assign_s: Option<f64>,
    kernel_reduce_s: Option<f64>,
    #[serde(skip)]
    labels: Vec<u32>,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        f64::NAN
    } else {
        s[s.len() / 2]
    }
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

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let out = a.output;
    let t = Instant::now();
    let x = match &a.input {
        Some(path) => {
            let mut spec = ReadSpec::new(a.id_col.clone());
            spec.columns = a.columns.clone();
            let mut t = read_features(path, &spec)?;
            Scaler::fit(ScaleMethod::from(a.scale), &t.x, t.numeric).transform(&mut t.x);
            t.x
        }
        None => blobs(BlobsSpec::new(a.n, a.d, a.centers.max(1), a.seed)).x,
    };
    let data_s = t.elapsed().as_secs_f64();
    let (n, d) = (x.n(), x.d());
    if a.k == 0 || a.k > n {
        bail!(segmenta::Error::param(
            "k",
            format!("k must be in 1..={n}, got {}", a.k)
        ));
    }
    let init = match &a.init_rows {
        Some(rows) => {
            if rows.len() != a.k || rows.iter().any(|r| *r >= n) {
                bail!(segmenta::Error::param(
                    "init-rows",
                    format!("give k = {} row indices below {n}, got {:?}", a.k, rows)
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
                let backend_args = BackendArgs {
                    backend: super::common::BackendArg::Gpu,
                    adapter: a.adapter.clone(),
                };
                let (ctx, note) = segmenta::kmeans::open_gpu(
                    segmenta::kmeans::BackendChoice::Gpu,
                    &segmenta::gpu::GpuOptions {
                        max_groups: a.gpu_groups,
                        ..backend_args.gpu_options()
                    },
                )?;
                if let Some(n) = note {
                    out.warn(&n);
                }
                let Some(ctx) = ctx else {
                    bail!("no GPU context");
                };
                let mut gpu = GpuLloyd::new(&ctx, &x, None)?;
                gpu.set_probe_skip_sums(a.gpu_probe_assign_only);
                let setup = t.elapsed().as_secs_f64();
                out.info(&format!(
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
            other => bail!(segmenta::Error::param(
                "backends",
                format!("`{other}` is not cpu or gpu")
            )),
        }
    }
    let agreement = if results.len() == 2 {
        let (p, q) = (&results[0], &results[1]);
        let same = p
            .labels
            .iter()
            .zip(&q.labels)
            .filter(|(a, b)| a == b)
            .count();
        Some(json!({
            "label_agreement": same as f64 / n as f64,
            "ari": adjusted_rand_index(&p.labels, &q.labels),
            "inertia_rel_diff": (p.inertia - q.inertia).abs() / p.inertia.abs().max(f64::MIN_POSITIVE),
            "iterations_equal": p.iterations == q.iterations,
        }))
    } else {
        None
    };
    if out.json {
        let v = json!({
            "command": "bench", "n": n, "d": d, "k": a.k, "iters": a.iters, "seed": a.seed,
            "data": a.input.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "blobs".into()),
            "data_s": data_s, "results": results, "agreement": agreement,
        });
        println!("{}", serde_json::to_string(&v)?);
    } else {
        println!(
            "bench: n={n} d={d} k={} iters={} ({} s to make the data)",
            a.k,
            a.iters,
            fmt(data_s)
        );
        println!(
            "{:<4} {:>10} {:>12} {:>12} {:>6} {:>10} {:>16}  name",
            "", "setup s", "iter med ms", "iter min ms", "iters", "total s", "inertia"
        );
        for r in &results {
            println!(
                "{:<4} {:>10} {:>12.3} {:>12.3} {:>6} {:>10} {:>16.6}  {}",
                r.backend,
                fmt(r.setup_s),
                r.iter_median_s * 1e3,
                r.iter_min_s * 1e3,
                r.iterations,
                fmt(r.total_s),
                r.inertia,
                r.name
            );
            if let (Some(a), Some(b)) = (r.kernel_assign_s, r.kernel_reduce_s) {
                println!(
                    "     GPU kernels per step (median): assign {:.3} ms, reduce {:.3} ms",
                    a * 1e3,
                    b * 1e3
                );
            }
        }
        if let Some(ag) = agreement {
            println!(
                "agreement: {:.6} of labels equal, ARI {:.6}, inertia rel diff {:.2e}, iterations equal: {}",
                ag["label_agreement"].as_f64().unwrap_or(f64::NAN),
                ag["ari"].as_f64().unwrap_or(f64::NAN),
                ag["inertia_rel_diff"].as_f64().unwrap_or(f64::NAN),
                ag["iterations_equal"]
            );
            if results[0].iter_median_s > 0.0 && results[1].iter_median_s > 0.0 {
                println!(
                    "speed-up per iteration ({} / {}): {:.2}x",
                    results[0].backend,
                    results[1].backend,
                    results[0].iter_median_s / results[1].iter_median_s
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt(s: f64) -> String {
    format!("{s:.3}")
}
