//! CPU K-means against scikit-learn on mall_customers.csv. Expected values come from
//! tests/oracle/kmeans_oracle.py (scikit-learn 1.9.1), committed as
//! tests/oracle/kmeans_mall.json.

use std::path::Path;

use segmenta::io::{read_features, ReadSpec};
use segmenta::kmeans::{fit, CpuLloyd, Init, KMeansParams};
use segmenta::scale::{ScaleMethod, Scaler};
use segmenta::Matrix;

use super::util::*;

fn mall(path: &Path) -> Matrix {
    let mut spec = ReadSpec::new("id");
    spec.columns = Some(vec!["age".into(), "income".into(), "score".into()]);
    let mut t = read_features(path, &spec).unwrap();
    Scaler::fit(ScaleMethod::Standard, &t.x, 3).transform(&mut t.x);
    t.x
}

fn oracle() -> serde_json::Value {
    read_json(&root().join("tests/oracle/kmeans_mall.json"))
}

fn sorted_rows(rows: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let mut r = rows;
    r.sort_by(|a, b| {
        a.iter()
            .zip(b)
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    r
}

#[test]
fn lloyd_from_the_same_start_matches_scikit_learn() {
    let Some(path) = shared("mall_customers.csv") else {
        return;
    };
    let x = mall(&path);
    for case in oracle()["cases"].as_array().unwrap() {
        let k = case["k"].as_u64().unwrap() as usize;
        let init: Vec<f32> = case["init_rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| x.row(r.as_u64().unwrap() as usize).to_vec())
            .collect();
        let params = KMeansParams::new(k)
            .init(Init::Given(init))
            .check(x.n(), 3)
            .unwrap();
        let f = fit(&x, None, &params, &mut CpuLloyd::new(&x, None), &mut |_| {}).unwrap();
        let want = case["inertia"].as_f64().unwrap();
        assert!(
            (f.inertia - want).abs() <= 1e-4 * want,
            "k={k}: inertia {} vs {want}",
            f.inertia
        );
        let ours = sorted_rows(
            f.centroids
                .chunks(3)
                .map(|c| c.iter().map(|v| *v as f64).collect())
                .collect(),
        );
        let theirs = sorted_rows(
            case["centers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect(),
        );
        for (a, b) in ours.iter().zip(&theirs) {
            for (x, y) in a.iter().zip(b) {
                assert!(
                    (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                    "k={k}: centroid {a:?} vs {b:?}"
                );
            }
        }
        let labels: Vec<u64> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(
            segmenta::metrics::adjusted_rand_index(&f.labels, &labels),
            1.0,
            "k={k}"
        );
        assert_eq!(
            f.iterations as u64,
            case["n_iter"].as_u64().unwrap(),
            "k={k}"
        );
    }
}

#[test]
fn kmeans_plus_plus_with_ten_restarts_is_no_worse_than_scikit_learn_default() {
    let Some(path) = shared("mall_customers.csv") else {
        return;
    };
    let x = mall(&path);
    for case in oracle()["cases"].as_array().unwrap() {
        let k = case["k"].as_u64().unwrap() as usize;
        let params = KMeansParams::new(k)
            .n_init(10)
            .seed(0)
            .check(x.n(), 3)
            .unwrap();
        let f = fit(&x, None, &params, &mut CpuLloyd::new(&x, None), &mut |_| {}).unwrap();
        let theirs = case["default_inertia"].as_f64().unwrap();
        assert!(
            f.inertia <= theirs * 1.01,
            "k={k}: {} vs scikit-learn {theirs}",
            f.inertia
        );
    }
}
