//! The kmeans and predict subcommands end to end on the shipped fixture and on the
//! mall table.

use super::util::*;
use segmenta::metrics::adjusted_rand_index;

const BLOBS_COLS: &str = "f0,f1,f2,f3";

#[test]
fn kmeans_writes_assignments_and_model_for_every_row() {
    let dir = tempdir();
    let out = dir.path().join("run");
    let input = fixture("blobs_5k.parquet");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&input),
        "--columns",
        BLOBS_COLS,
        "-k",
        "5",
        "-o",
        p(&out),
        "--n-init",
        "3",
        "--seed",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids = read_i64(&out.join("assignments.parquet"), "customer_id");
    assert_eq!(ids, read_i64(&input, "customer_id"));
    let seg = read_i64(&out.join("assignments.parquet"), "segment");
    assert!(seg.iter().all(|s| (0..5).contains(s)));
    let m = read_json(&out.join("model.json"));
    assert_eq!(m["format"], "segmenta-model");
    assert_eq!(m["kmeans"]["k"], 5);
    assert_eq!(m["features"].as_array().unwrap().len(), 4);
    let sizes: u64 = m["kmeans"]["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(sizes, 5000);
}

#[test]
fn kmeans_recovers_the_planted_blobs() {
    let dir = tempdir();
    let input = fixture("blobs_5k.parquet");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&input),
        "--columns",
        BLOBS_COLS,
        "-k",
        "5",
        "-o",
        p(dir.path()),
        "--n-init",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seg = read_i64(&dir.path().join("assignments.parquet"), "segment");
    let truth = read_i64(&input, "segment");
    let ari = adjusted_rand_index(&seg, &truth);
    assert!(ari >= 0.95, "ARI {ari}");
}

#[test]
fn json_summary_is_machine_readable() {
    let dir = tempdir();
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&fixture("blobs_5k.parquet")),
        "--columns",
        BLOBS_COLS,
        "-k",
        "3",
        "-o",
        p(dir.path()),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("stdout is JSON");
    assert_eq!(v["rows"], 5000);
    assert_eq!(v["k"], 3);
    assert!(v["inertia"].as_f64().unwrap() > 0.0);
    assert!(v["backend"].as_str().unwrap().starts_with("cpu"));
}

#[test]
fn predict_on_the_training_rows_reproduces_their_segments() {
    let dir = tempdir();
    let input = fixture("blobs_5k.parquet");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&input),
        "--columns",
        BLOBS_COLS,
        "-k",
        "5",
        "-o",
        p(dir.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for name in ["pred.parquet", "pred.csv"] {
        let pred = dir.path().join(name);
        let o = segmenta(&[
            "predict",
            "-m",
            p(&dir.path().join("model.json")),
            "-i",
            p(&input),
            "-o",
            p(&pred),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        if name.ends_with(".parquet") {
            assert_eq!(
                read_i64(&pred, "segment"),
                read_i64(&dir.path().join("assignments.parquet"), "segment")
            );
        } else {
            let text = std::fs::read_to_string(&pred).unwrap();
            assert_eq!(text.lines().next(), Some("customer_id,segment,distance"));
            assert_eq!(text.lines().count(), 5001);
        }
    }
}

#[test]
fn mall_table_with_one_hot_gender_fits_and_predicts() {
    let Some(mall) = shared("mall_customers.csv") else {
        return;
    };
    let dir = tempdir();
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&mall),
        "--id-col",
        "id",
        "--categorical",
        "gender",
        "-k",
        "5",
        "-o",
        p(dir.path()),
        "--n-init",
        "5",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = read_json(&dir.path().join("model.json"));
    let feats = json_strs(&m["features"], |v| v);
    assert_eq!(
        feats,
        ["age", "income", "score", "gender=Female", "gender=Male"]
    );
    // one-hot columns are not scaled
    assert_eq!(m["scaler"]["scale"][3], 1.0);
    let pred = dir.path().join("p.parquet");
    let o = segmenta(&[
        "predict",
        "-m",
        p(&dir.path().join("model.json")),
        "-i",
        p(&mall),
        "-o",
        p(&pred),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        read_i64(&pred, "segment"),
        read_i64(&dir.path().join("assignments.parquet"), "segment")
    );
}

#[test]
fn sample_weights_pull_a_centroid_towards_heavy_rows() {
    use arrow::array::{Float64Array, Int64Array};
    use std::sync::Arc;
    let dir = tempdir();
    let input = dir.path().join("w.parquet");
    write_parquet(
        &input,
        vec![
            ("customer_id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
            ("x", Arc::new(Float64Array::from(vec![0.0, 1.0, 2.0]))),
            ("w", Arc::new(Float64Array::from(vec![1.0, 1.0, 8.0]))),
        ],
    );
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&input),
        "--weight-col",
        "w",
        "--scale",
        "none",
        "-k",
        "1",
        "-o",
        p(dir.path()),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = read_json(&dir.path().join("model.json"));
    let c = m["kmeans"]["centroids"][0][0].as_f64().unwrap();
    assert!((c - 1.7).abs() < 1e-6, "weighted mean is 17/10, got {c}");
    assert_eq!(m["features"], serde_json::json!(["x"]));
}
