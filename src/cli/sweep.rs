//! `segmenta sweep`: K-means at every k of a range on the same scaled data (and, on
//! the GPU, the same uploaded buffers), with inertia, silhouette, Davies–Bouldin,
//! Calinski–Harabasz, the elbow and a recommended k.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use segmenta::io::{read_features, write_json, Staged};
use segmenta::kmeans::{self, Event, KMeansParams};
use segmenta::scale::Scaler;
use segmenta::select::{self, SweepPoint};
use serde_json::json;

use super::common::{warn_duplicates, BackendArgs, Engine, InputArgs, OutputArgs, Progress};
use super::kmeans::ScaleArg;

/// A k range: `2..12` (both ends included) or a list `3,5,8`.
pub fn parse_ks(s: &str) -> std::result::Result<Vec<usize>, String> {
    let bad = || format!("`{s}` is not a k range (rule: `A..B` with 1 <= A <= B, or `3,5,8`)");
    let ks: Vec<usize> = if let Some((a, b)) = s.split_once("..") {
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?;
        if a == 0 || a > b {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        let mut v = s
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        v.sort_unstable();
        v.dedup();
        v
    };
    if ks.is_empty() || ks[0] == 0 {
        return Err(bad());
    }
    Ok(ks)
}

#[derive(Args, Debug, Clone)]
pub struct SweepArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The k values: `2..12` (inclusive) or `3,5,8`.
    // Spelled `std::vec::Vec` so that clap takes one value parsed into a list,
    // not a repeatable flag.
    #[arg(long, default_value = "2..12", value_parser = parse_ks)]
    pub k: std::vec::Vec<usize>,
    /// Output folder: sweep.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Feature scaling.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// k-means++ restarts per k; the lowest inertia wins.
    #[arg(long, default_value_t = 3)]
    pub n_init: usize,
    /// Iteration cap per restart.
    #[arg(long, default_value_t = kmeans::params::DEFAULT_MAX_ITER)]
    pub max_iter: usize,
    /// Silhouette on every row up to this many rows, else on a seeded sample of
    /// this size (the silhouette is quadratic in rows).
    #[arg(long, default_value_t = select::SILHOUETTE_EXACT_MAX)]
    pub silhouette_sample: usize,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: SweepArgs) -> Result<ExitCode> {
    let out = a.output;
    let t_all = Instant::now();
    if a.silhouette_sample < 2 {
        bail!(
            "--silhouette-sample {} is too small (rule: at least 2)",
            a.silhouette_sample
        );
    }
    let mut table = read_features(&a.input.input, &a.input.spec())?;
    warn_duplicates(&out, &table);
    let (n, d) = (table.x.n(), table.x.d());
    // Every k is checked before any work is done.
    for &k in &a.k {
        KMeansParams::new(k).check(n, d)?;
    }
    let scaler = Scaler::fit(a.scale.into(), &table.x, table.numeric);
    scaler.transform(&mut table.x);
    let sample = select::silhouette_rows(n, a.silhouette_sample, a.seed);
    let sample_n = sample.as_ref().map_or(n, Vec::len);

    let ctx = a.backend.open(&out)?;
    let mut engine = Engine::new(
        ctx.as_ref(),
        &a.backend,
        &out,
        &table.x,
        table.weights.as_deref(),
    )?;
    let mut progress = Progress::new(&out, a.k.len() as u64, "sweep");
    let mut points = Vec::with_capacity(a.k.len());
    let mut backend_name = String::new();
    for (step, &k) in a.k.iter().enumerate() {
        progress.set(step as u64, a.k.len() as u64, format!("k={k}"));
        let params = KMeansParams::new(k)
            .n_init(a.n_init)
            .max_iter(a.max_iter)
            .seed(a.seed)
            .check(n, d)?;
        let t = Instant::now();
        let fit = kmeans::fit(
            &table.x,
            table.weights.as_deref(),
            &params,
            engine.backend(),
            &mut |_: &Event| {},
        )?;
        let fit_s = t.elapsed().as_secs_f64();
        backend_name = fit.backend.clone();
        let t = Instant::now();
        let mut sizes = vec![0u64; k];
        for &l in &fit.labels {
            sizes[l as usize] += 1;
        }
        let point = SweepPoint {
            k,
            inertia: fit.inertia,
            silhouette: select::silhouette(&table.x, &fit.labels, sample.as_deref()),
            davies_bouldin: select::davies_bouldin(&table.x, &fit.labels),
            calinski_harabasz: select::calinski_harabasz(&table.x, &fit.labels),
            iterations: fit.iterations,
            sizes,
            fit_s,
            score_s: t.elapsed().as_secs_f64(),
        };
        points.push(point);
    }
    progress.finish();
    let rec = select::recommend(&points).expect("at least one k");
    let total_s = t_all.elapsed().as_secs_f64();
    let silhouette_note = match &sample {
        None => format!("exact, on all {n} rows"),
        Some(_) => format!(
            "on a seeded uniform sample of {sample_n} of {n} rows (seed {})",
            a.seed
        ),
    };
    let report = json!({
        "command": "sweep",
        "input": a.input.input,
        "rows": n,
        "features": table.features,
        "scale": format!("{:?}", a.scale).to_lowercase(),
        "backend": backend_name,
        "n_init": a.n_init,
        "seed": a.seed,
        "silhouette_rows": sample_n,
        "silhouette_note": silhouette_note,
        "elbow_method": "kneedle: the k farthest below the chord of the inertia curve, both axes scaled to [0, 1]",
        "points": points,
        "recommended": rec,
        "total_s": total_s,
    });
    let path = a.out.join("sweep.json");
    let mut staged = Staged::new();
    write_json(&mut staged, &path, &report)?;
    staged.commit()?;
    if out.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "sweep on {n} rows x {d} features, backend {backend_name}, silhouette {silhouette_note}"
    );
    println!(
        "{:>4} {:>14} {:>11} {:>15} {:>18} {:>6} {:>8}",
        "k", "inertia", "silhouette", "davies_bouldin", "calinski_harabasz", "iters", "fit_s"
    );
    let opt = |v: Option<f64>, w: usize| v.map_or(format!("{:>w$}", "-"), |v| format!("{v:>w$.4}"));
    for p in &points {
        let mark = if p.k == rec.k { " <" } else { "" };
        println!(
            "{:>4} {:>14.2} {} {} {} {:>6} {:>8.3}{mark}",
            p.k,
            p.inertia,
            opt(p.silhouette, 11),
            opt(p.davies_bouldin, 15),
            opt(p.calinski_harabasz, 18),
            p.iterations,
            p.fit_s
        );
    }
    println!("recommended k = {}: {}", rec.k, rec.reason);
    println!("wrote {}", path.display());
    Ok(ExitCode::SUCCESS)
}
