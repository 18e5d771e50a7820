//! `model.json`: everything needed to reuse a fit — feature names, categorical
//! levels, the scaler and the centroids — in a versioned schema. `predict` refuses a
//! model whose `format` or `version` it does not know.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::artefact::{self, Artefact};
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
    /// The algorithm and its fitted state: `"kind": "kmeans"` with a `kmeans`
    /// section, or `"kind": "dbscan"` with a `dbscan` section.
    #[serde(flatten)]
    pub fitted: Fitted,
    /// A decision tree (original units) that mimics the segmentation, to explain it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surrogate: Option<crate::profile::tree::Surrogate>,
    /// XXH64 of the training input file's bytes.
    #[serde(default)]
    pub input_xxh64: String,
    /// This fit's identity: XXH64 of the input's hash, the feature names and every
    /// row's segment. `assignments.parquet` carries it in its metadata
    /// ([`FIT_ID_KEY`]) and `profile.json` records it, so a consumer can tell that
    /// the three belong together.
    #[serde(default)]
    pub fit_id: String,
    /// What the fit warns about (a segment left empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The Parquet metadata key of `assignments.parquet` that holds [`Model::fit_id`].
pub const FIT_ID_KEY: &str = "segmenta.fit_id";

/// The fit id of `labels` fitted on `input_xxh64` with `features` (see [`Model::fit_id`]).
pub fn fit_id(input_xxh64: &str, features: &[String], labels: &[i32]) -> String {
    use std::hash::Hasher;
    let mut h = twox_hash::XxHash64::with_seed(7);
    h.write(input_xxh64.as_bytes());
    for f in features {
        h.write(f.as_bytes());
        h.write_u8(0);
    }
    for l in labels {
        h.write(&l.to_le_bytes());
    }
    format!("{:016x}", h.finish())
}

/// What was fitted, tagged by `kind`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Fitted {
    /// K-means.
    Kmeans {
        /// Centroids and fit statistics.
        kmeans: KMeansModel,
    },
    /// DBSCAN.
    Dbscan {
        /// Core points and fit statistics.
        dbscan: DbscanModel,
    },
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
    pub timings: BTreeMap<String, f64>,
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
    /// Timings in seconds (read, scale, init, lloyd, per_iteration, surrogate).
    pub timings: BTreeMap<String, f64>,
    /// Rows the centroids were learnt from (`inliers` or `all`); every row is
    /// assigned. `inertia` is over these rows.
    #[serde(default = "all_rows")]
    pub fit_on: String,
    /// How many rows that was.
    #[serde(default)]
    pub fit_rows: u64,
    /// Per segment, the mean bootstrap Jaccard similarity (Hennig's clusterboot);
    /// empty when not computed, `None` for a segment no resample reached.
    #[serde(default)]
    pub stability: Vec<Option<f64>>,
    /// Segment ids of segments that vanished in an `update`: kept (with their last
    /// centroid and size 0) so that no later segment takes their id; no row is ever
    /// assigned to them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retired: Vec<usize>,
    /// How a warm-started fit (`update`) matched the previous model's segments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_start: Option<Box<crate::pipeline::WarmStartInfo>>,
}

impl KMeansModel {
    /// The segment ids rows can be assigned to (all but the retired ones).
    pub fn active(&self) -> Vec<usize> {
        (0..self.k).filter(|c| !self.retired.contains(c)).collect()
    }

    /// The nearest active centroid of every row of `x` (scaled units): its segment
    /// id and the squared distance.
    pub fn assign(&self, x: &crate::Matrix) -> Result<(Vec<u32>, Vec<f32>)> {
        let active = self.active();
        let flat: Vec<f32> = active
            .iter()
            .flat_map(|&c| self.centroids_scaled[c].iter().copied())
            .collect();
        let (labels, sq) = crate::kmeans::assign(x, &flat)?;
        Ok((
            labels.iter().map(|&l| active[l as usize] as u32).collect(),
            sq,
        ))
    }
}

fn all_rows() -> String {
    "all".into()
}

impl Model {
    /// A model of `fitted` for data read as `table` and scaled by `scaler`.
    pub fn for_table(
        table: &FeatureTable,
        scaler: Scaler,
        weight_col: Option<String>,
        fitted: Fitted,
    ) -> Model {
        Model {
            format: MODEL_FORMAT.into(),
            version: MODEL_VERSION,
            segmenta: env!("CARGO_PKG_VERSION").into(),
            input: table.path.display().to_string(),
            rows: table.x.n(),
            id_col: table.id_col.clone(),
            features: table.features.clone(),
            numeric_features: table.features[..table.numeric].to_vec(),
            categorical: table.categorical.clone(),
            weight_col,
            scaler,
            fitted,
            surrogate: None,
            input_xxh64: String::new(),
            fit_id: String::new(),
            warnings: Vec::new(),
        }
    }

    /// `kmeans` or `dbscan`.
    pub fn kind(&self) -> &'static str {
        match self.fitted {
            Fitted::Kmeans { .. } => "kmeans",
            Fitted::Dbscan { .. } => "dbscan",
        }
    }

    /// The K-means part, when the model is a K-means one.
    pub fn kmeans(&self) -> Option<&KMeansModel> {
        match &self.fitted {
            Fitted::Kmeans { kmeans } => Some(kmeans),
            Fitted::Dbscan { .. } => None,
        }
    }

    /// The DBSCAN part, when the model is a DBSCAN one.
    pub fn dbscan(&self) -> Option<&DbscanModel> {
        match &self.fitted {
            Fitted::Dbscan { dbscan } => Some(dbscan),
            Fitted::Kmeans { .. } => None,
        }
    }

    /// Reads and checks a model file.
    pub fn load(path: &Path) -> Result<Model> {
        let m: Model = artefact::read(path)?;
        let bad = |message: &str| Error::Model {
            path: path.to_path_buf(),
            message: message.to_string(),
        };
        let d = m.features.len();
        if m.scaler.offset.len() != d || m.scaler.scale.len() != d {
            return Err(bad(
                "the scaler does not match the feature list (rule: d values)",
            ));
        }
        if m.scaler.transforms.len() > d
            || m.scaler.transforms.iter().any(|t| {
                matches!(t, crate::transform::Transform::Quantile { quantiles } if quantiles.is_empty())
            })
        {
            return Err(bad(
                "the transforms do not match the feature list (rule: at most d transforms, quantiles non-empty)",
            ));
        }
        if d == 0 {
            return Err(bad("the model has no features (rule: at least one)"));
        }
        if m.numeric_features.len() > d
            || m.features[..m.numeric_features.len()] != m.numeric_features[..]
        {
            return Err(bad(
                "numeric_features is not a prefix of features (rule: numeric features first, then one-hot)",
            ));
        }
        if let Some(j) = (0..d).find(|&j| !m.scaler.offset[j].is_finite()) {
            return Err(bad(&format!(
                "the scaler's offset of `{}` is {} (rule: finite)",
                m.features[j], m.scaler.offset[j]
            )));
        }
        if let Some(j) =
            (0..d).find(|&j| !(m.scaler.scale[j].is_finite() && m.scaler.scale[j] > 0.0))
        {
            return Err(bad(&format!(
                "the scaler's scale of `{}` is {} (rule: finite and > 0)",
                m.features[j], m.scaler.scale[j]
            )));
        }
        match &m.fitted {
            Fitted::Kmeans { kmeans: k } => {
                if k.k == 0
                    || k.centroids_scaled.len() != k.k
                    || k.centroids_scaled.iter().any(|c| c.len() != d)
                {
                    return Err(bad(
                        "centroids do not match the feature list (rule: k >= 1 rows of d values)",
                    ));
                }
                if let Some(c) = k
                    .centroids_scaled
                    .iter()
                    .position(|c| c.iter().any(|v| !v.is_finite()))
                {
                    return Err(bad(&format!(
                        "centroid {c} holds a value that is not finite (rule: centroids are finite)"
                    )));
                }
                if !k.sizes.is_empty() && k.sizes.len() != k.k {
                    return Err(bad("sizes do not match k (rule: one size per segment)"));
                }
                if k.retired.iter().any(|&c| c >= k.k) || k.active().is_empty() {
                    return Err(bad(
                        "retired segments are not segments of the model, or every segment is retired (rule: ids below k, at least one active)",
                    ));
                }
            }
            Fitted::Dbscan { dbscan: db } => {
                if db.core_points.len() != db.core_labels.len()
                    || db.core_points.iter().any(|c| c.len() != d)
                {
                    return Err(bad(
                        "core points do not match the feature list (rule: one label and d values each)",
                    ));
                }
                if !(db.eps.is_finite() && db.eps > 0.0) {
                    return Err(bad(&format!("eps is {} (rule: finite and > 0)", db.eps)));
                }
                if db.min_samples == 0 {
                    return Err(bad("min_samples is 0 (rule: at least 1)"));
                }
                if db
                    .core_points
                    .iter()
                    .any(|c| c.iter().any(|v| !v.is_finite()))
                {
                    return Err(bad(
                        "a core point holds a value that is not finite (rule: finite)",
                    ));
                }
                if db
                    .core_labels
                    .iter()
                    .any(|&l| l < 0 || l as usize >= db.clusters)
                {
                    return Err(bad(&format!(
                        "a core label is outside 0..{} (rule: core points belong to one of the clusters)",
                        db.clusters
                    )));
                }
            }
        }
        Ok(m)
    }
}

impl Artefact for Model {
    const FORMAT: &'static str = MODEL_FORMAT;
    const VERSION: u32 = MODEL_VERSION;
    const NOUN: &'static str = "model";
}
