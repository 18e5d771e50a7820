//! DBSCAN against scikit-learn: expected labels and core points made by
//! tests/oracle/dbscan_oracle.py (scikit-learn 1.9.1), kept in
//! tests/oracle/dbscan_expected.json.

use std::collections::{HashMap, HashSet};

use segmenta::dbscan::index::sqdist64;
use segmenta::dbscan::{fit, DbscanParams, Eps, NOISE};
use segmenta::io::{read_features, ReadSpec};
use segmenta::Matrix;

use super::util::*;

fn data(case: &serde_json::Value) -> Option<Matrix> {
    match case["source"].as_str() {
        Some("mall") => {
            let path = shared("mall_customers.csv")?;
            let mut spec = ReadSpec::new("id");
            spec.columns = Some(vec!["age".into(), "income".into(), "score".into()]);
            Some(read_features(&path, &spec).unwrap().x)
        }
        Some("blobs") => {
            let mut spec = ReadSpec::new("customer_id");
            spec.columns = Some((0..4).map(|j| format!("f{j}")).collect());
            Some(
                read_features(&fixture("blobs_outliers_3k.parquet"), &spec)
                    .unwrap()
                    .x,
            )
        }
        _ => {
            let pts = case["points"].as_array().unwrap();
            let d = pts[0].as_array().unwrap().len();
            let v: Vec<f32> = pts
                .iter()
                .flat_map(|p| {
                    p.as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_f64().unwrap() as f32)
                })
                .collect();
            Some(Matrix::new(pts.len(), d, v))
        }
    }
}

#[test]
fn matches_scikit_learn_on_every_case() {
    let oracle = read_json(&root().join("tests/oracle/dbscan_expected.json"));
    for case in oracle["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let Some(x) = data(case) else { continue };
        let eps = case["eps"].as_f64().unwrap();
        let m = case["min_samples"].as_u64().unwrap() as usize;
        let p = DbscanParams {
            eps: Eps::Value(eps),
            min_samples: m,
            seed: 0,
        }
        .check(x.n())
        .unwrap();
        let f = fit(&x, &p).unwrap();
        let want: Vec<i64> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let want_core: HashSet<usize> = case["core"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let ours_core: HashSet<usize> = (0..x.n()).filter(|i| f.core[*i]).collect();
        assert_eq!(ours_core, want_core, "{name}: core points");
        for (i, (ours, theirs)) in f.labels.iter().zip(&want).enumerate() {
            assert_eq!(*ours == NOISE, *theirs == -1, "{name}: noise at row {i}");
        }
        // Core partition identical up to relabelling: a bijection on core rows.
        let mut fwd: HashMap<i32, i64> = HashMap::new();
        let mut back: HashMap<i64, i32> = HashMap::new();
        for &i in &ours_core {
            assert_eq!(
                *fwd.entry(f.labels[i]).or_insert(want[i]),
                want[i],
                "{name}: core row {i}"
            );
            assert_eq!(
                *back.entry(want[i]).or_insert(f.labels[i]),
                f.labels[i],
                "{name}: core row {i}"
            );
        }
        assert_eq!(f.clusters, back.len(), "{name}: clusters");
        // Borders may differ only when core points of two clusters reach them.
        let mut differing = 0;
        for i in 0..x.n() {
            if f.labels[i] == NOISE || f.core[i] || fwd[&f.labels[i]] == want[i] {
                continue;
            }
            let reached: HashSet<i32> = (0..x.n())
                .filter(|j| f.core[*j] && sqdist64(x.row(i), x.row(*j)) <= eps * eps)
                .map(|j| f.labels[j])
                .collect();
            assert!(
                reached.len() >= 2,
                "{name}: border row {i} differs but only one cluster reaches it"
            );
            differing += 1;
        }
        eprintln!(
            "{name}: {} clusters, {} noise, {differing} ambiguous borders differ",
            f.clusters, f.noise
        );
    }
}

#[test]
fn clusters_are_numbered_by_their_smallest_member() {
    let x = Matrix::new(6, 1, vec![10.0, 0.0, 10.1, 0.1, 20.0, 0.2]);
    let p = DbscanParams {
        eps: Eps::Value(0.5),
        min_samples: 2,
        seed: 0,
    }
    .check(6)
    .unwrap();
    let f = fit(&x, &p).unwrap();
    assert_eq!(f.labels, vec![0, 1, 0, 1, NOISE, 1]);
}

#[test]
fn eps_auto_reports_the_curve_and_finds_the_planted_blobs() {
    let mut spec = ReadSpec::new("customer_id");
    spec.columns = Some((0..4).map(|j| format!("f{j}")).collect());
    let t = read_features(&fixture("blobs_outliers_3k.parquet"), &spec).unwrap();
    let p = DbscanParams {
        eps: Eps::Auto,
        min_samples: 10,
        seed: 0,
    }
    .check(t.x.n())
    .unwrap();
    let f = fit(&t.x, &p).unwrap();
    let kd = f.kdistance.as_ref().expect("auto reports the curve");
    assert_eq!(kd.sample, 3000);
    assert!(kd.curve.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(f.eps, kd.eps);
    let truth = read_i64(&fixture("blobs_outliers_3k.parquet"), "segment");
    let ari = segmenta::metrics::adjusted_rand_index(&f.labels, &truth);
    assert!(ari > 0.6, "ARI {ari} with eps {}", f.eps);
}

#[test]
fn cli_writes_core_flags_and_a_model_that_predicts_its_own_rows() {
    let dir = tempdir();
    let input = fixture("blobs_outliers_3k.parquet");
    let o = segmenta(&[
        "dbscan",
        "-i",
        p(&input),
        "--columns",
        "f0,f1,f2,f3",
        "--eps",
        "0.5",
        "--min-samples",
        "10",
        "-o",
        p(dir.path()),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let m = read_json(&dir.path().join("model.json"));
    assert_eq!(m["kind"], "dbscan");
    assert_eq!(
        m["dbscan"]["core_points"].as_array().unwrap().len() as u64,
        v["core"].as_u64().unwrap()
    );
    let seg = read_i64(&dir.path().join("assignments.parquet"), "segment");
    let core = read_i64(&dir.path().join("assignments.parquet"), "is_core");
    assert_eq!(
        seg.iter().filter(|s| **s == -1).count() as u64,
        v["noise"].as_u64().unwrap()
    );
    let pred = dir.path().join("pred.parquet");
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
    let again = read_i64(&pred, "segment");
    for i in 0..seg.len() {
        // A core row's nearest core point is itself; noise has no core point within eps.
        if core[i] == 1 || seg[i] == -1 {
            assert_eq!(again[i], seg[i], "row {i}");
        }
    }
}

#[test]
fn cli_rejects_bad_parameters_without_writing() {
    let dir = tempdir();
    let input = fixture("blobs_outliers_3k.parquet");
    for (eps, m, rule) in [
        ("0", "5", "eps must be finite and > 0"),
        ("nan", "5", "eps must be finite and > 0"),
        ("x", "5", "not a number or `auto`"),
        ("0.5", "0", "min_samples cannot be 0"),
    ] {
        let out = dir.path().join("out");
        let o = segmenta(&[
            "dbscan",
            "-i",
            p(&input),
            "--eps",
            eps,
            "--min-samples",
            m,
            "-o",
            p(&out),
        ]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(rule), "{}", stderr(&o));
        assert!(files_in(&out).is_empty());
    }
}

#[test]
fn cli_rejects_an_empty_table() {
    let dir = tempdir();
    let f = dir.path().join("e.csv");
    std::fs::write(&f, "customer_id,x\n").unwrap();
    let o = segmenta(&[
        "dbscan",
        "-i",
        p(&f),
        "--eps",
        "1",
        "-o",
        p(&dir.path().join("out")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no rows"), "{}", stderr(&o));
}
