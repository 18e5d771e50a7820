//! `segmenta dbscan`: read, scale, cluster with exact DBSCAN, write
//! assignments.parquet (id, segment, is_core) and model.json.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Result};
use arrow::array::{BooleanArray, Int32Array};
use clap::Args;
use segmenta::dbscan::{self, DbscanParams, Eps};
use segmenta::io::read_features;
use segmenta::model::{DbscanModel, Model};
use segmenta::scale::Scaler;
use serde_json::json;

use super::common::{print_sizes, warn_duplicates, write_run, InputArgs, OutputArgs};
use super::kmeans::ScaleArg;

#[derive(Args, Debug)]
pub struct DbscanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Radius in scaled units, or `auto` (the knee of the k-distance curve).
    #[arg(long)]
    pub eps: String,
    /// Rows within eps, the row itself included, that make a core point.
    #[arg(long, default_value_t = 5)]
    pub min_samples: usize,
    /// Output folder (created if missing): assignments.parquet and model.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Feature scaling, fitted on the input and stored in the model.
    #[arg(long, value_enum, default_value = "standard")]
    pub scale: ScaleArg,
    /// Seed of the sample the k-distance curve is drawn from (eps auto).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: DbscanArgs) -> Result<ExitCode> {
    let out = a.output;
    let eps = match a.eps.as_str() {
        "auto" => Eps::Auto,
        s => match s.parse::<f64>() {
            Ok(v) => Eps::Value(v),
            Err(_) => bail!(segmenta::Error::param(
                "eps",
                format!("`{s}` is not a number or `auto`")
            )),
        },
    };
    let t_all = Instant::now();
    let t = Instant::now();
    let mut table = read_features(&a.input.input, &a.input.spec())?;
    let read_s = t.elapsed().as_secs_f64();
    warn_duplicates(&out, &table);
    let params = DbscanParams {
        eps,
        min_samples: a.min_samples,
        seed: a.seed,
    }
    .check(table.x.n())?;
    if table.weights.is_some() {
        out.warn("DBSCAN ignores --weight-col");
    }
    let scaler = Scaler::fit(a.scale.into(), &table.x, table.numeric);
    scaler.transform(&mut table.x);
    let fit = dbscan::fit(&table.x, &params)?;
    let (n, d) = (table.x.n(), table.x.d());
    let mut sizes = vec![0u64; fit.clusters];
    for l in fit.labels.iter().filter(|l| **l >= 0) {
        sizes[*l as usize] += 1;
    }
    let core_idx: Vec<usize> = (0..n).filter(|i| fit.core[*i]).collect();
    let mut timings = serde_json::Map::new();
    timings.insert("read_s".into(), json!(read_s));
    for (k, v) in &fit.timings {
        timings.insert(format!("{k}_s"), json!(v));
    }
    let model = Model {
        dbscan: Some(DbscanModel {
            eps: fit.eps,
            eps_auto: eps == Eps::Auto,
            min_samples: a.min_samples,
            clusters: fit.clusters,
            sizes: sizes.clone(),
            noise: fit.noise,
            core_points: core_idx.iter().map(|i| table.x.row(*i).to_vec()).collect(),
            core_labels: core_idx.iter().map(|i| fit.labels[*i]).collect(),
            index: fit.index.into(),
            kdistance: fit.kdistance.clone(),
            timings,
        }),
        ..Model::for_table("dbscan", &table, scaler, None)
    };
    let segments: Int32Array = fit.labels.iter().copied().collect();
    let is_core: BooleanArray = fit.core.iter().map(|c| Some(*c)).collect();
    let (assignments, model_path) = write_run(
        &a.out,
        &table,
        segments,
        ("is_core", Arc::new(is_core)),
        &model,
    )?;
    let total_s = t_all.elapsed().as_secs_f64();
    if out.json {
        let s = json!({
            "command": "dbscan", "rows": n, "features": table.features, "eps": fit.eps,
            "min_samples": a.min_samples, "clusters": fit.clusters, "noise": fit.noise,
            "core": core_idx.len(), "sizes": sizes, "index": fit.index,
            "kdistance": fit.kdistance, "total_s": total_s,
            "outputs": [assignments, model_path],
        });
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "DBSCAN on {n} rows x {d} features, eps {:.6}{}, min_samples {}: {} cluster(s), {} noise ({:.1}%), {} core, {:.3} s ({} index)",
            fit.eps,
            if eps == Eps::Auto { " (auto)" } else { "" },
            a.min_samples,
            fit.clusters,
            fit.noise,
            100.0 * fit.noise as f64 / n as f64,
            core_idx.len(),
            total_s,
            fit.index
        );
        print_sizes(&sizes, n, &[&assignments, &model_path]);
    }
    Ok(ExitCode::SUCCESS)
}
