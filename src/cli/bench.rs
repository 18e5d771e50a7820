//! `segmenta bench`: the same data and the same initial centroids through the CPU
//! and the GPU backends, side by side: setup (device + upload), per-iteration time
//! (median of every step), end to end, and how far the answers agree.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{bench, BenchSpec};

use super::common::OutputArgs;

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
    pub scale: super::args::ScaleArg,
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

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    let out = a.output;
    let spec = BenchSpec {
        input: a.input.clone(),
        columns: a.columns.clone(),
        id_col: a.id_col.clone(),
        scale: a.scale.into(),
        n: a.n,
        d: a.d,
        centers: a.centers,
        k: a.k,
        iters: a.iters,
        seed: a.seed,
        init_rows: a.init_rows.clone(),
        backends: a.backends.clone(),
        adapter: a.adapter.clone(),
        gpu_groups: a.gpu_groups,
        probe_assign_only: a.gpu_probe_assign_only,
    };
    let r = bench(&spec, &out.term())?;
    if out.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "bench: n={} d={} k={} iters={} ({} s to make the data)",
        r.n,
        r.d,
        r.k,
        r.iters,
        fmt(r.data_s)
    );
    println!(
        "{:<4} {:>10} {:>12} {:>12} {:>6} {:>10} {:>16}  name",
        "", "setup s", "iter med ms", "iter min ms", "iters", "total s", "inertia"
    );
    for r in &r.results {
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
    if let Some(ag) = &r.agreement {
        println!(
            "agreement: {:.6} of labels equal, ARI {:.6}, inertia rel diff {:.2e}, iterations equal: {}",
            ag.label_agreement,
            ag.ari,
            ag.inertia_rel_diff,
            ag.iterations_equal
        );
        if r.results[0].iter_median_s > 0.0 && r.results[1].iter_median_s > 0.0 {
            println!(
                "speed-up per iteration ({} / {}): {:.2}x",
                r.results[0].backend,
                r.results[1].backend,
                r.results[0].iter_median_s / r.results[1].iter_median_s
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn fmt(s: f64) -> String {
    format!("{s:.3}")
}
