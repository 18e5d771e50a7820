//! The DBSCAN stage: exact DBSCAN on a feature table, its model and assignments
//! (see [`crate::dbscan`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{BooleanArray, Int32Array};

use super::fit::{scale_name, write_fit, ReadOptions};
use super::flags::{self, Flags};
use super::Observer;
use crate::dbscan::{self, DbscanParams, Eps};
use crate::error::Result;
use crate::model::{DbscanModel, Fitted, Model};
use crate::scale::{ScaleMethod, Scaler};

/// Default DBSCAN core threshold.
pub const DEFAULT_MIN_SAMPLES: usize = 5;

/// The DBSCAN stage's options.
#[derive(Clone, Debug, PartialEq)]
pub struct DbscanOptions {
    /// Radius in scaled units; `None`: the knee of the k-distance curve.
    pub eps: Option<f64>,
    /// Rows within eps, the row itself included, that make a core point.
    pub min_samples: usize,
    /// Feature scaling.
    pub scale: ScaleMethod,
}

impl Flags for DbscanOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(
            argv,
            "--eps",
            self.eps.map_or("auto".to_string(), |e| e.to_string()),
        );
        flags::value(argv, "--min-samples", self.min_samples);
        flags::value(argv, "--scale", scale_name(self.scale));
    }
}

/// What the DBSCAN stage wrote.
#[derive(Clone, Debug)]
pub struct DbscanOutput {
    /// The model written.
    pub model: Model,
    /// `assignments.parquet`.
    pub assignments: PathBuf,
    /// `model.json`.
    pub model_path: PathBuf,
    /// Core points found.
    pub core: usize,
}

impl DbscanOutput {
    /// The DBSCAN part of the model.
    pub fn dbscan(&self) -> &DbscanModel {
        self.model
            .dbscan()
            .expect("the DBSCAN stage writes a DBSCAN model")
    }
}

/// Clusters the feature table `input` with exact DBSCAN and writes
/// `out/assignments.parquet` (id, segment, is_core) and `out/model.json`.
pub fn dbscan(
    input: &Path,
    read: &ReadOptions,
    opts: &DbscanOptions,
    seed: u64,
    out: &Path,
    obs: &dyn Observer,
) -> Result<DbscanOutput> {
    let eps = opts.eps.map_or(Eps::Auto, Eps::Value);
    let t = Instant::now();
    let mut table = read.read(input, obs)?;
    let read_s = t.elapsed().as_secs_f64();
    let params = DbscanParams {
        eps,
        min_samples: opts.min_samples,
        seed,
    }
    .check(table.x.n())?;
    if table.weights.is_some() {
        obs.warn("DBSCAN ignores --weight-col");
    }
    let scaler = Scaler::fit(opts.scale, &table.x, table.numeric);
    scaler.transform(&mut table.x);
    let fit = dbscan::fit(&table.x, &params)?;
    let n = table.x.n();
    let mut sizes = vec![0u64; fit.clusters];
    for l in fit.labels.iter().filter(|l| **l >= 0) {
        sizes[*l as usize] += 1;
    }
    let core_idx: Vec<usize> = (0..n).filter(|i| fit.core[*i]).collect();
    let mut timings = std::collections::BTreeMap::new();
    timings.insert("read_s".to_string(), read_s);
    for (k, v) in &fit.timings {
        timings.insert(format!("{k}_s"), *v);
    }
    let db = DbscanModel {
        eps: fit.eps,
        eps_auto: eps == Eps::Auto,
        min_samples: opts.min_samples,
        clusters: fit.clusters,
        sizes,
        noise: fit.noise,
        core_points: core_idx.iter().map(|i| table.x.row(*i).to_vec()).collect(),
        core_labels: core_idx.iter().map(|i| fit.labels[*i]).collect(),
        index: fit.index.to_string(),
        kdistance: fit.kdistance.clone(),
        timings,
    };
    let mut model = Model::for_table(&table, scaler, None, Fitted::Dbscan { dbscan: db });
    let segments: Int32Array = fit.labels.iter().copied().collect();
    let is_core: BooleanArray = fit.core.iter().map(|c| Some(*c)).collect();
    let (assignments, model_path) = write_fit(
        out,
        &table,
        segments,
        ("is_core", Arc::new(is_core)),
        &mut model,
    )?;
    Ok(DbscanOutput {
        model,
        assignments,
        model_path,
        core: core_idx.len(),
    })
}
