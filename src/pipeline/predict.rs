//! Prediction with a saved model: the nearest centroid for K-means; for DBSCAN the
//! cluster of the nearest core point within eps, else noise (−1).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int32Array, StringArray};

use super::fit::warn_duplicates;
use super::Observer;
use crate::error::{Error, Result};
use crate::io::{read_features, write_table, ReadSpec, Staged};
use crate::matrix::Matrix;
use crate::model::{Fitted, Model};

/// Why a row is in `seg` when the surrogate tree says `tree`: the runner-up centroid
/// and the two features that most favour `seg` over it (scaled squared-distance
/// difference), with the row's value and both centroids in original units.
fn centroid_reason(
    features: &[String],
    km: &crate::model::KMeansModel,
    scaled: &[f32],
    original: &[f32],
    seg: usize,
    tree: usize,
) -> String {
    let sq = |c: &[f32]| -> f64 {
        scaled
            .iter()
            .zip(c)
            .map(|(a, b)| f64::from(a - b).powi(2))
            .sum()
    };
    let runner = km
        .active()
        .into_iter()
        .filter(|&c| c != seg)
        .min_by(|&a, &b| sq(&km.centroids_scaled[a]).total_cmp(&sq(&km.centroids_scaled[b])))
        .unwrap_or(tree);
    let (cs, cr) = (&km.centroids_scaled[seg], &km.centroids_scaled[runner]);
    let mut gain: Vec<(f64, usize)> = (0..scaled.len())
        .map(|j| {
            let v = f64::from(scaled[j]);
            (
                (v - f64::from(cr[j])).powi(2) - (v - f64::from(cs[j])).powi(2),
                j,
            )
        })
        .collect();
    gain.sort_by(|a, b| b.0.total_cmp(&a.0));
    let why: Vec<String> = gain
        .iter()
        .take(2)
        .filter(|g| g.0 > 0.0)
        .map(|&(_, j)| {
            format!(
                "{} {} (segment {seg} centre {}, segment {runner} centre {})",
                features[j],
                short(f64::from(original[j])),
                short(km.centroids[seg][j]),
                short(km.centroids[runner][j])
            )
        })
        .collect();
    format!(
        "segment {seg}: nearest centre (the surrogate tree's rules say segment {tree} here); closer to segment {seg} than to the runner-up {runner} by {}",
        why.join("; ")
    )
}

fn short(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.3}")
    }
}

/// What prediction wrote.
#[derive(Clone, Debug)]
pub struct PredictOutput {
    /// Rows assigned.
    pub rows: usize,
    /// Rows labelled noise (DBSCAN).
    pub noise: usize,
    /// The model's kind.
    pub kind: &'static str,
}

/// Assigns the customers of `input` to the segments of the model at
/// `model_path` and writes `out` (id, segment, distance, and with `explain` the
/// surrogate tree's conditions): the nearest centroid for K-means; for DBSCAN the
/// cluster of the nearest core point within eps, else noise (−1).
pub fn predict(
    model_path: &Path,
    input: &Path,
    id_col: Option<&str>,
    explain: bool,
    out: &Path,
    obs: &dyn Observer,
) -> Result<PredictOutput> {
    let model = Model::load(model_path)?;
    // Fail on a bad output name before reading anything.
    crate::io::Format::of(out)?;
    if explain && model.surrogate.is_none() {
        return Err(Error::Model {
            path: model_path.to_path_buf(),
            message: "the model has no surrogate tree (rule: --explain needs a K-means model fitted with --surrogate-depth > 0)".into(),
        });
    }
    let spec = ReadSpec {
        id_col: id_col.map_or_else(|| model.id_col.clone(), str::to_string),
        columns: Some(model.numeric_features.clone()),
        categorical: model.categorical.iter().map(|c| c.column.clone()).collect(),
        weight_col: None,
        strict_ids: false,
        levels: Some(model.categorical.clone()),
    };
    let mut table = read_features(input, &spec)?;
    warn_duplicates(&table, obs);
    // The tree reads original units: its leaf per row is found before scaling.
    // A tree has few leaves: each leaf's text is built once, not once per row.
    let leaves: Option<Vec<usize>> = model.surrogate.as_ref().filter(|_| explain).map(|t| {
        let mut row = vec![0f64; table.x.d()];
        (0..table.x.n())
            .map(|i| {
                for (r, v) in row.iter_mut().zip(table.x.row(i)) {
                    *r = f64::from(*v);
                }
                t.leaf_of(&row)
            })
            .collect()
    });
    let original = leaves.as_ref().map(|_| table.x.clone());
    model.scaler.transform(&mut table.x);
    // A value outside a transform's domain (log1p of -5) must not become segment 0.
    let d = table.x.d();
    if let Some(i) = table.x.data().iter().position(|v| !v.is_finite()) {
        let (row, j) = (i / d.max(1), i % d.max(1));
        return Err(Error::InvalidValue {
            path: input.to_path_buf(),
            column: model.features[j].clone(),
            row: row + 1,
            rule: format!(
                "the model's {} transform of this column is undefined for this value (rule: values in the transform's domain, e.g. above -1 for log1p)",
                model.scaler.transforms.get(j).map_or("none", |t| t.name()),
            ),
        });
    }
    let (labels, dist): (Vec<i32>, Vec<f32>) = match &model.fitted {
        Fitted::Kmeans { kmeans: km } => {
            let (labels, sq) = km.assign(&table.x)?;
            let labels = labels.iter().map(|l| *l as i32).collect();
            let dist = sq.iter().map(|v| v.sqrt()).collect();
            (labels, dist)
        }
        Fitted::Dbscan { dbscan: db } => {
            let d = model.features.len();
            let cores = Matrix::new(db.core_points.len(), d, db.core_points.concat());
            crate::dbscan::predict(&cores, &db.core_labels, db.eps, &table.x)
        }
    };
    // An explanation never contradicts `segment`: the tree's rule where the tree
    // agrees; otherwise it says so, and gives the features that most separate the
    // assigned segment from the runner-up centroid, in original units.
    let explanations: Option<StringArray> = match (&model.surrogate, &leaves, model.kmeans()) {
        (Some(t), Some(leaves), Some(km)) => {
            let original = original.expect("kept with the leaves");
            let mut texts: Vec<Option<String>> = vec![None; t.nodes.len()];
            Some(
                (0..table.x.n())
                    .map(|i| {
                        let leaf = leaves[i];
                        let seg = labels[i];
                        if t.nodes[leaf].class as i32 == seg {
                            let text = texts[leaf].get_or_insert_with(|| {
                                format!("segment {seg}: {}", t.path_text(leaf))
                            });
                            return Some(text.clone());
                        }
                        Some(centroid_reason(
                            &model.features,
                            km,
                            table.x.row(i),
                            original.row(i),
                            seg as usize,
                            t.nodes[leaf].class as usize,
                        ))
                    })
                    .collect(),
            )
        }
        _ => None,
    };
    let noise = labels.iter().filter(|l| **l < 0).count();
    let segments: Int32Array = labels.iter().copied().collect();
    let distance: Float32Array = dist.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
    let mut staged = Staged::for_file(out)?;
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        (spec.id_col.as_str(), table.ids.to_arrow()),
        ("segment", Arc::new(segments)),
        ("distance", Arc::new(distance)),
    ];
    if let Some(e) = explanations {
        cols.push(("explanation", Arc::new(e)));
    }
    write_table(&mut staged, out, cols)?;
    staged.commit()?;
    Ok(PredictOutput {
        rows: table.x.n(),
        noise,
        kind: model.kind(),
    })
}
