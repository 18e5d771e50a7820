//! Cluster-quality scores against scikit-learn on mall_customers.csv. Expected values
//! and the labels they were computed on come from tests/oracle/select_oracle.py
//! (scikit-learn 1.9.1), committed as tests/oracle/select_expected.json.

use segmenta::io::{read_features, ReadSpec};
use segmenta::select::{calinski_harabasz, davies_bouldin, silhouette};

use super::util::*;

fn close(got: f64, want: f64, what: &str) {
    let rel = (got - want).abs() / want.abs().max(1e-300);
    assert!(
        rel <= 1e-6,
        "{what}: {got} vs scikit-learn {want} (relative {rel:e})"
    );
}

#[test]
fn scores_match_scikit_learn_on_mall_customers() {
    let Some(path) = shared("mall_customers.csv") else {
        return;
    };
    let mut spec = ReadSpec::new("id");
    spec.columns = Some(vec!["age".into(), "income".into(), "score".into()]);
    let t = read_features(&path, &spec).unwrap();
    let want = read_json(&root().join("tests/oracle/select_expected.json"));
    let cases = want["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let k = case["k"].as_u64().unwrap();
        let labels: Vec<u32> = case["labels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(labels.len(), t.x.n());
        let f = |name: &str| case[name].as_f64().unwrap();
        close(
            silhouette(&t.x, &labels, None).unwrap(),
            f("silhouette"),
            &format!("silhouette k={k}"),
        );
        close(
            davies_bouldin(&t.x, &labels).unwrap(),
            f("davies_bouldin"),
            &format!("davies_bouldin k={k}"),
        );
        close(
            calinski_harabasz(&t.x, &labels).unwrap(),
            f("calinski_harabasz"),
            &format!("calinski_harabasz k={k}"),
        );
    }
}
