//! `model.json`: everything needed to reuse a fit — feature names, categorical
//! levels, the scaler and the centroids — in a versioned schema. `predict` refuses a
//! model whose `format` or `version` it does not know.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{CategoricalLevels, FeatureTable};
use crate::scale::Scaler;

/// The value of [`Model::format`].
pub const MODEL_FORMAT: &str = "segmenta-model";
/// The schema version written by this build.
pub const MODEL_VERSION: u32 = 1;

/// A saved model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Model {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Schema version, [`MODEL_VERSION`] when written by this build.
    pub version: u32,
    /// `segmenta` version that wrote it.
    pub segmenta: String,
    /// The algorithm: `kmeans` or `dbscan`.
    pub kind: String,
    /// The training input.
    pub input: String,
    /// Rows used for training.
    pub rows: usize,
    /// Id column of the training input.
    pub id_col: String,
    /// Feature names, one per centroid coordinate (numeric, then one-hot).
    pub features: Vec<String>,
    /// Numeric source columns (a prefix of `features`).
    pub numeric_features: Vec<String>,
    /// One-hot encoded columns and their levels.
    pub categorical: Vec<CategoricalLevels>,
    /// Sample-weight column used in training, if any.
    pub weight_col: Option<String>,
    /// The fitted scaler.
    pub scaler: Scaler,
    /// The K-means part (kind `kmeans`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kmeans: Option<KMeansModel>,
    /// The DBSCAN part (kind `dbscan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dbscan: Option<DbscanModel>,
    /// A decision tree (original units) that mimics the segmentation, to explain it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surrogate: Option<crate::profile::tree::Surrogate>,
}

/// The DBSCAN part of a model: enough to assign new rows (nearest core point within
/// eps, else noise).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DbscanModel {
    /// Radius, in scaled units.
    pub eps: f64,
    /// Whether eps was chosen from the k-distance curve.
    pub eps_auto: bool,
    /// Neighbours (itself included) that make a core point.
    pub min_samples: usize,
    /// Clusters found.
    pub clusters: usize,
    /// Rows per cluster.
    pub sizes: Vec<u64>,
    /// Rows labelled noise.
    pub noise: usize,
    /// The core points, scaled units, one row each.
    pub core_points: Vec<Vec<f32>>,
    /// The cluster of each core point.
    pub core_labels: Vec<i32>,
    /// Spatial index used: `grid` or `kd-tree`.
    pub index: String,
    /// The k-distance curve, when eps was automatic.
    pub kdistance: Option<crate::dbscan::KDistance>,
    /// Timings in seconds.
    pub timings: serde_json::Map<String, serde_json::Value>,
}

/// The K-means part of a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KMeansModel {
    /// Number of clusters.
    pub k: usize,
    /// Centroids in scaled units, one row per segment.
    pub centroids_scaled: Vec<Vec<f32>>,
    /// Centroids in original units.
    pub centroids: Vec<Vec<f64>>,
    /// Rows per segment.
    pub sizes: Vec<u64>,
    /// Inertia (sum of squared scaled distances, weighted).
    pub inertia: f64,
    /// Iterations of the winning restart.
    pub iterations: usize,
    /// Whether it converged before `max_iter`.
    pub converged: bool,
    /// Initialisation: `k-means++`, `random` or `given`.
    pub init: String,
    /// Restarts.
    pub n_init: usize,
    /// Winning restart.
    pub best_run: usize,
    /// Iteration cap.
    pub max_iter: usize,
    /// Relative tolerance.
    pub tol: f64,
    /// Seed.
    pub seed: u64,
    /// Backend that ran the fit.
    pub backend: String,
    /// Timings in seconds (read, scale, init, lloyd, per_iteration, write, total).
    pub timings: serde_json::Map<String, serde_json::Value>,
}

impl Model {
    /// A model of `kind` for data read as `table` and scaled by `scaler`, with no
    /// algorithm section yet (set `kmeans` or `dbscan`).
    pub fn for_table(
        kind: &str,
        table: &FeatureTable,
        scaler: Scaler,
        weight_col: Option<String>,
    ) -> Model {
        Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            segmenta: env!("CARGO_PKG_VERSION").into(),
            kind: kind.into(),
            input: table.path.display().to_string(),
            rows: table.x.n(),
            id_col: table.id_col.clone(),
            features: table.features.clone(),
            numeric_features: table.features[..table.numeric].to_vec(),
            categorical: table.categorical.clone(),
            weight_col,
            scaler,
            kmeans: None,
            dbscan: None,
            surrogate: None,
        }
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::io(path, source))?;
        let bad = |message: String| Error::Model {
            path: path.to_path_buf(),
            message,
        };
        let head: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(format!("not JSON ({e})")))?;
        if head.get("format").and_then(|v| v.as_str()) != Some(MODEL_FORMAT) {
            return Err(bad(format!(
                "not a segmenta model (rule: `format` is \"{MODEL_FORMAT}\")"
            )));
        }
        let version = head.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
        if version != MODEL_VERSION as u64 {
            return Err(bad(format!(
                "model version {version} is not supported (rule: this build reads version {MODEL_VERSION})"
            )));
        }
        let m: Model =
            serde_json::from_value(head).map_err(|e| bad(format!("malformed model ({e})")))?;
        let d = m.features.len();
        if m.scaler.offset.len() != d || m.scaler.scale.len() != d {
            return Err(bad(
                "the scaler does not match the feature list (rule: d values)".into(),
            ));
        }
        match (m.kind.as_str(), &m.kmeans, &m.dbscan) {
            ("kmeans", Some(k), _) => {
                if k.centroids_scaled.len() != k.k
                    || k.centroids_scaled.iter().any(|c| c.len() != d)
                {
                    return Err(bad(
                        "centroids do not match the feature list (rule: k rows of d values)".into(),
                    ));
                }
            }
            ("dbscan", _, Some(db)) => {
                if db.core_points.len() != db.core_labels.len()
                    || db.core_points.iter().any(|c| c.len() != d)
                {
                    return Err(bad(
                        "core points do not match the feature list (rule: one label and d values each)".into(),
                    ));
                }
            }
            (kind, _, _) => {
                return Err(bad(format!(
                    "kind `{kind}` has no matching section (rule: `kmeans` or `dbscan`)"
                )))
            }
        }
        Ok(m)
    }
}
