//! `segmenta kmeans`: read, scale, cluster, write assignments.parquet and model.json.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use arrow::array::{Float32Array, Int32Array};
use clap::{Args, ValueEnum};
use segmenta::io::read_features;
use segmenta::kmeans::{self, Event, Init, KMeansParams};
use segmenta::model::{KMeansModel, Model};
use segmenta::profile::tree::{Surrogate, TreeParams};
use segmenta::scale::{ScaleMethod, Scaler};
use serde_json::json;

use super::common::{
    print_sizes, warn_duplicates, write_run, BackendArgs, Engine, InputArgs, OutputArgs, Progress,
};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum InitArg {
    /// Greedy k-means++ (scikit-learn's).
    #[value(name = "k-means++")]
    KMeansPlusPlus,
    /// k distinct random rows.
    Random,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScaleArg {
    Standard,
    Minmax,
    Robust,
    None,
}

impl From<ScaleArg> for ScaleMethod {
    fn from(s: ScaleArg) -> Self {
        match s {
            ScaleArg::Standard => ScaleMethod::Standard,
            ScaleArg::Minmax => ScaleMethod::MinMax,
            ScaleArg::Robust => ScaleMethod::Robust,
            ScaleArg::None => ScaleMethod::None,
        }
    }
}

#[derive(Args, Debug)]
pub struct KmeansArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Number of segments.
    #[arg(long, short = 'k')]
    pub k: usize,
    /// Output folder (created if missing): assignments.parquet and model.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Feature scaling, fitted on the input and stored in the model.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// Initialisation.
    #[arg(long, value_enum, default_value = "k-means++")]
    pub init: InitArg,
    /// Restarts; the lowest inertia wins [default: 1 for k-means++, 10 for random].
    #[arg(long)]
    pub n_init: Option<usize>,
    /// Iteration cap per restart.
    #[arg(long, default_value_t = kmeans::params::DEFAULT_MAX_ITER)]
    pub max_iter: usize,
    /// Stop when the squared centroid shift is below tol x mean feature variance.
    #[arg(long, default_value_t = kmeans::params::DEFAULT_TOL)]
    pub tol: f64,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Depth of the surrogate decision tree stored in the model (explains the
    /// segments; `predict --explain` uses it). 0: no tree.
    #[arg(long, default_value_t = 6)]
    pub surrogate_depth: usize,
    #[command(flatten)]
    pub backend: BackendArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: KmeansArgs) -> Result<ExitCode> {
    let out = a.output;
    let t_all = Instant::now();
    let t = Instant::now();
    let mut table = read_features(&a.input.input, &a.input.spec())?;
    let read_s = t.elapsed().as_secs_f64();
    warn_duplicates(&out, &table);
    let (n, d) = (table.x.n(), table.x.d());
    let init = match a.init {
        InitArg::KMeansPlusPlus => Init::KMeansPlusPlus,
        InitArg::Random => Init::Random,
    };
    let mut params = KMeansParams::new(a.k)
        .max_iter(a.max_iter)
        .tol(a.tol)
        .seed(a.seed)
        .init(init);
    if let Some(ni) = a.n_init {
        params = params.n_init(ni);
    }
    let params = params.check(n, d)?;

    // The surrogate tree learns from original units: keep a seeded sample of rows
    // before scaling (none when no tree is wanted).
    let want_tree = a.surrogate_depth > 0 && params.k > 1;
    let tree_rows = match want_tree {
        true => surrogate_rows(n, a.seed),
        false => Vec::new(),
    };
    let tree_cols: Vec<Vec<f32>> = (0..d)
        .map(|j| tree_rows.iter().map(|&i| table.x.row(i)[j]).collect())
        .collect();

    let t = Instant::now();
    let scaler = Scaler::fit(a.scale.into(), &table.x, table.numeric);
    scaler.transform(&mut table.x);
    let scale_s = t.elapsed().as_secs_f64();

    let ctx = a.backend.open(&out)?;
    let mut engine = Engine::new(
        ctx.as_ref(),
        &a.backend,
        &out,
        &table.x,
        table.weights.as_deref(),
    )?;
    let mut progress = Progress::new(&out, params.max_iter as u64, "k-means");
    let n_init = params.n_init;
    let fit = kmeans::fit(
        &table.x,
        table.weights.as_deref(),
        &params,
        engine.backend(),
        &mut |e| match e {
            Event::Run { run, of } => progress.set(
                0,
                params.max_iter as u64,
                format!("restart {}/{of}", run + 1),
            ),
            Event::Iteration {
                run, iter, inertia, ..
            } => progress.set(
                *iter as u64,
                params.max_iter as u64,
                format!("restart {}/{n_init} inertia {inertia:.6e}", run + 1),
            ),
        },
    )?;
    progress.finish();

    let t = Instant::now();
    let k = params.k;
    let mut sizes = vec![0u64; k];
    for l in &fit.labels {
        sizes[*l as usize] += 1;
    }
    let centroids_scaled: Vec<Vec<f32>> = fit.centroids.chunks(d).map(|c| c.to_vec()).collect();
    let original = scaler.inverse(&fit.centroids);
    let centroids: Vec<Vec<f64>> = original.chunks(d).map(|c| c.to_vec()).collect();
    let segments: Int32Array = fit.labels.iter().map(|l| *l as i32).collect();
    let distance: Float32Array = fit.sq_distances.iter().map(|v| v.sqrt()).collect();

    let mut timings = serde_json::Map::new();
    timings.insert("read_s".into(), json!(read_s));
    timings.insert("scale_s".into(), json!(scale_s));
    timings.insert("init_s".into(), json!(fit.timings.init_s));
    timings.insert("lloyd_s".into(), json!(fit.timings.lloyd_s));
    timings.insert("per_iteration_s".into(), json!(fit.timings.per_iteration_s));
    let t_tree = Instant::now();
    let surrogate = want_tree.then(|| {
        let y: Vec<u32> = tree_rows.iter().map(|&i| fit.labels[i]).collect();
        let params = TreeParams {
            max_depth: a.surrogate_depth,
            min_leaf: (tree_rows.len() / 500).max(5),
            seed: a.seed,
            ..TreeParams::default()
        };
        Surrogate::fit(&table.features, &tree_cols, &y, k, params)
    });
    timings.insert("surrogate_s".into(), json!(t_tree.elapsed().as_secs_f64()));
    let model = Model {
        surrogate,
        kmeans: Some(KMeansModel {
            k,
            centroids_scaled,
            centroids,
            sizes: sizes.clone(),
            inertia: fit.inertia,
            iterations: fit.iterations,
            converged: fit.converged,
            init: match a.init {
                InitArg::KMeansPlusPlus => "k-means++".into(),
                InitArg::Random => "random".into(),
            },
            n_init: params.n_init,
            best_run: fit.best_run,
            max_iter: params.max_iter,
            tol: params.tol,
            seed: params.seed,
            backend: fit.backend.clone(),
            timings,
        }),
        ..Model::for_table("kmeans", &table, scaler, a.input.weight_col.clone())
    };
    let (assignments, model_path) = write_run(
        &a.out,
        &table,
        segments,
        ("distance", Arc::new(distance)),
        &model,
    )?;
    let write_s = t.elapsed().as_secs_f64();
    let total_s = t_all.elapsed().as_secs_f64();

    if out.json {
        let summary = json!({
            "command": "kmeans",
            "input": a.input.input,
            "rows": n,
            "features": table.features,
            "k": k,
            "backend": fit.backend,
            "inertia": fit.inertia,
            "iterations": fit.iterations,
            "converged": fit.converged,
            "runs": fit.runs,
            "sizes": sizes,
            "duplicate_ids": table.duplicate_ids,
            "outputs": [assignments, model_path],
            "timings": {
                "read_s": read_s, "scale_s": scale_s, "init_s": fit.timings.init_s,
                "lloyd_s": fit.timings.lloyd_s, "per_iteration_s": fit.timings.per_iteration_s,
                "write_s": write_s, "total_s": total_s,
            },
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "k-means on {n} rows x {d} features, k={k}, backend {}: inertia {:.6}, {} iteration(s){}, {:.3} s",
            fit.backend,
            fit.inertia,
            fit.iterations,
            if fit.converged { "" } else { " (not converged: raise --max-iter)" },
            total_s
        );
        print_sizes(&sizes, n, &[&assignments, &model_path]);
    }
    Ok(ExitCode::SUCCESS)
}

/// Rows the surrogate tree learns from: all up to 200,000, else a seeded sample.
fn surrogate_rows(n: usize, seed: u64) -> Vec<usize> {
    segmenta::select::silhouette_rows(n, 200_000, seed).unwrap_or_else(|| (0..n).collect())
}
