//! `segmenta kmeans`, `segmenta dbscan` and `segmenta predict`: fit a feature
//! table, or assign new customers with a saved model.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, defaults, DbscanOptions, KmeansOptions, ReadOptions, WarmStart};
use serde_json::json;

use super::args::{FitArgs, ReadArgs, ScaleArg, StabilityArgs};
use super::common::{print_json, OutputArgs};

#[derive(Args, Debug)]
pub struct KmeansCmd {
    /// Feature table: .parquet, .csv or .csv.gz, one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output folder (created if missing): assignments.parquet and model.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Number of segments.
    #[arg(long, short = 'k')]
    pub k: usize,
    /// Depth of the surrogate decision tree stored in the model (explains the
    /// segments; `predict --explain` uses it). 0: no tree.
    #[arg(long, default_value_t = defaults::DEFAULT_SURROGATE_DEPTH)]
    pub surrogate_depth: usize,
    #[command(flatten)]
    pub stability: StabilityArgs,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    #[command(flatten)]
    pub warm: WarmArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Starting from last month's model.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Warm start (update)")]
pub struct WarmArgs {
    /// A previous K-means model.json: start from its centroids, under its scaler,
    /// and keep its segment ids (matched segments keep theirs; new ones get new
    /// ids; vanished ones are retired).
    #[arg(long)]
    pub previous_model: Option<PathBuf>,
    /// Fit a new scaler on this data instead of keeping the previous model's.
    #[arg(long)]
    pub refit_scaler: bool,
    /// A new segment continues the previous one it is paired with when their
    /// centres are closer than this share of the distance from that previous
    /// centre to its nearest neighbour; otherwise it is new.
    #[arg(long, default_value_t = segmenta::kmeans::matching::DEFAULT_MAX_SHIFT)]
    pub max_shift: f64,
}

impl WarmArgs {
    pub fn warm_start(&self) -> Option<WarmStart> {
        self.previous_model.as_ref().map(|m| WarmStart {
            model: m.clone(),
            refit_scaler: self.refit_scaler,
            max_shift: self.max_shift,
        })
    }
}

impl KmeansCmd {
    pub fn options(&self) -> KmeansOptions {
        KmeansOptions {
            k: self.k,
            fit: (&self.fit).into(),
            surrogate_depth: self.surrogate_depth,
            stability_resamples: self.stability.stability_resamples,
            stability_sample: self.stability.stability_sample,
            previous: self.warm.warm_start(),
        }
    }
}

pub fn kmeans(a: KmeansCmd) -> Result<ExitCode> {
    let out = a.output;
    let t = Instant::now();
    let read = ReadOptions::from(&a.read);
    let r = pipeline::kmeans(&a.input, &read, &a.options(), a.seed, &a.out, &out.term())?;
    let total_s = t.elapsed().as_secs_f64();
    let km = r.kmeans();
    let m = &r.model;
    if out.json {
        let mut timings = km.timings.clone();
        timings.insert("write_s".into(), r.write_s);
        timings.insert("total_s".into(), total_s);
        return print_json(&json!({
            "command": "kmeans", "input": a.input, "rows": m.rows, "features": m.features,
            "k": km.k, "backend": km.backend, "inertia": km.inertia,
            "iterations": km.iterations, "converged": km.converged, "runs": r.runs,
            "sizes": km.sizes, "duplicate_ids": r.duplicate_ids,
            "outputs": [r.assignments, r.model_path], "timings": timings,
        }))
        .map(|_| ExitCode::SUCCESS);
    }
    print!("{r}");
    println!("({total_s:.3} s)");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct DbscanCmd {
    /// Feature table: .parquet, .csv or .csv.gz, one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output folder (created if missing): assignments.parquet and model.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Radius in scaled units, or `auto` (the knee of the k-distance curve).
    #[arg(long)]
    pub eps: String,
    /// Rows within eps, the row itself included, that make a core point.
    #[arg(long, default_value_t = defaults::DEFAULT_MIN_SAMPLES)]
    pub min_samples: usize,
    /// Feature scaling, fitted on the input and stored in the model.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// Seed of the sample the k-distance curve is drawn from (eps auto).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl DbscanCmd {
    pub fn options(&self) -> Result<DbscanOptions> {
        let eps = match self.eps.as_str() {
            "auto" => None,
            s => Some(s.parse::<f64>().map_err(|_| {
                segmenta::Error::param("eps", format!("`{s}` is not a number or `auto`"))
            })?),
        };
        Ok(DbscanOptions {
            eps,
            min_samples: self.min_samples,
            scale: self.scale.into(),
        })
    }
}

pub fn dbscan(a: DbscanCmd) -> Result<ExitCode> {
    let out = a.output;
    let opts = a.options()?;
    let t = Instant::now();
    let read = ReadOptions::from(&a.read);
    let r = pipeline::dbscan(&a.input, &read, &opts, a.seed, &a.out, &out.term())?;
    let total_s = t.elapsed().as_secs_f64();
    let (m, db) = (&r.model, r.dbscan());
    if out.json {
        return print_json(&json!({
            "command": "dbscan", "rows": m.rows, "features": m.features, "eps": db.eps,
            "min_samples": db.min_samples, "clusters": db.clusters, "noise": db.noise,
            "core": r.core, "sizes": db.sizes, "index": db.index,
            "kdistance": db.kdistance, "total_s": total_s,
            "outputs": [r.assignments, r.model_path],
        }))
        .map(|_| ExitCode::SUCCESS);
    }
    print!("{r}");
    println!("({total_s:.3} s)");
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug)]
pub struct PredictCmd {
    /// model.json written by `segmenta kmeans` or `segmenta dbscan`.
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Customers to assign: .parquet, .csv or .csv.gz with the model's feature columns.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output table (.parquet, .csv or .csv.gz): id, segment, distance.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Id column of the input [default: the model's].
    #[arg(long)]
    pub id_col: Option<String>,
    /// Add an `explanation` column: the surrogate tree's conditions for each row
    /// (needs a model written by `segmenta kmeans` with its surrogate tree).
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn predict(a: PredictCmd) -> Result<ExitCode> {
    let out = a.output;
    let r = pipeline::predict(
        &a.model,
        &a.input,
        a.id_col.as_deref(),
        a.explain,
        &a.out,
        &out.term(),
    )?;
    if out.json {
        return print_json(&json!({"command": "predict", "kind": r.kind, "rows": r.rows, "noise": r.noise, "output": a.out}))
            .map(|_| ExitCode::SUCCESS);
    }
    println!(
        "assigned {} rows with the {} model ({} noise); wrote {}",
        r.rows,
        r.kind,
        r.noise,
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
