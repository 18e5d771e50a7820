//! Prediction with a saved model: the nearest centroid for K-means; for DBSCAN the
//! cluster of the nearest core point within eps, else noise (−1).

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float32Array, Int32Array, StringArray};

use super::fit::warn_duplicates;
use super::Observer;
use crate::error::{Error, Result};
use crate::io::{read_features, write_table, ReadSpec, Staged};
use crate::kmeans::assign;
use crate::matrix::Matrix;
use crate::model::{Fitted, Model};

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
    // The tree reads original units: explain before scaling. A tree has few
    // leaves: each leaf's text is built once, not once per row.
    let explanations: Option<StringArray> = model.surrogate.as_ref().filter(|_| explain).map(|t| {
        let mut texts: Vec<Option<String>> = vec![None; t.nodes.len()];
        let mut row = vec![0f64; table.x.d()];
        (0..table.x.n())
            .map(|i| {
                for (r, v) in row.iter_mut().zip(table.x.row(i)) {
                    *r = f64::from(*v);
                }
                let leaf = t.leaf_of(&row);
                let text = texts[leaf].get_or_insert_with(|| {
                    format!("segment {}: {}", t.nodes[leaf].class, t.path_text(leaf))
                });
                Some(text.clone())
            })
            .collect()
    });
    model.scaler.transform(&mut table.x);
    let (labels, dist): (Vec<i32>, Vec<f32>) = match &model.fitted {
        Fitted::Kmeans { kmeans: km } => {
            let (labels, sq) = assign(&table.x, &km.centroids_scaled.concat())?;
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
    let noise = labels.iter().filter(|l| **l < 0).count();
    let segments: Int32Array = labels.iter().copied().collect();
    let distance: Float32Array = dist.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
    let mut staged = Staged::new();
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
