//! `segmenta predict`: assign new customers to a saved model's segments — the
//! nearest centroid for K-means; for DBSCAN the cluster of the nearest core point
//! within eps, else noise (−1).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{Float32Array, Int32Array, StringArray};
use clap::Args;
use segmenta::io::{read_features, write_table, ReadSpec, Staged};
use segmenta::kmeans::{CpuLloyd, LloydBackend};
use segmenta::model::Model;
use segmenta::Matrix;
use serde_json::json;

use super::common::{warn_duplicates, OutputArgs};

#[derive(Args, Debug)]
pub struct PredictArgs {
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

pub fn run(a: PredictArgs) -> Result<ExitCode> {
    let out = a.output;
    let model = Model::load(&a.model)?;
    // Fail on a bad output name before reading anything.
    segmenta::io::Format::of(&a.out)?;
    let spec = ReadSpec {
        id_col: a.id_col.clone().unwrap_or_else(|| model.id_col.clone()),
        columns: Some(model.numeric_features.clone()),
        categorical: model.categorical.iter().map(|c| c.column.clone()).collect(),
        weight_col: None,
        strict_ids: false,
        levels: Some(model.categorical.clone()),
    };
    let mut table = read_features(&a.input, &spec)?;
    warn_duplicates(&out, &table);
    if a.explain && model.surrogate.is_none() {
        anyhow::bail!(
            "{}: the model has no surrogate tree (rule: --explain needs a K-means model fitted with --surrogate-depth > 0)",
            a.model.display()
        );
    }
    // The tree reads original units: explain before scaling.
    // A tree has few leaves: each leaf's text is built once, not once per row.
    let explanations: Option<StringArray> =
        model.surrogate.as_ref().filter(|_| a.explain).map(|t| {
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
    let (labels, dist): (Vec<i32>, Vec<f32>) = match (&model.kmeans, &model.dbscan) {
        (Some(km), _) => {
            let centroids: Vec<f32> = km.centroids_scaled.concat();
            let mut backend = CpuLloyd::new(&table.x, None);
            backend.step(&centroids)?;
            let labels = backend.labels()?.iter().map(|l| *l as i32).collect();
            let dist = backend.distances()?.iter().map(|v| v.sqrt()).collect();
            (labels, dist)
        }
        (None, Some(db)) => {
            let d = model.features.len();
            let cores = Matrix::new(db.core_points.len(), d, db.core_points.concat());
            segmenta::dbscan::predict(&cores, &db.core_labels, db.eps, &table.x)
        }
        (None, None) => unreachable!("Model::load checks that the kind has its section"),
    };
    let noise = labels.iter().filter(|l| **l < 0).count();
    let segments: Int32Array = labels.iter().copied().collect();
    let distance: Float32Array = dist.iter().map(|v| (!v.is_nan()).then_some(*v)).collect();
    let mut staged = Staged::new();
    let mut cols: Vec<(&str, arrow::array::ArrayRef)> = vec![
        (spec.id_col.as_str(), table.ids.to_arrow()),
        ("segment", Arc::new(segments)),
        ("distance", Arc::new(distance)),
    ];
    if let Some(e) = explanations {
        cols.push(("explanation", Arc::new(e)));
    }
    write_table(&mut staged, &a.out, cols)?;
    staged.commit()?;
    if out.json {
        let s = json!({"command": "predict", "kind": model.kind, "rows": table.x.n(), "noise": noise, "output": a.out});
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        println!(
            "assigned {} rows with the {} model ({} noise); wrote {}",
            table.x.n(),
            model.kind,
            noise,
            a.out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
