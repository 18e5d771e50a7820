//! The transforms against scikit-learn (tests/oracle/transform_oracle.py, whose
//! output is tests/oracle/transform_expected.json): Yeo-Johnson's λ and values as
//! `PowerTransformer(standardize=False)`, the quantile transform as
//! `QuantileTransformer(n_quantiles=1000)`, and the skewness `auto` reads.

use segmenta::transform::{skewness, Transform, TransformKind};

use super::util::*;

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol * want.abs().max(1.0),
        "{what}: {got} vs scikit-learn {want}"
    );
}

#[test]
fn transforms_match_scikit_learn() {
    let exp = read_json(&root().join("tests/oracle/transform_expected.json"));
    let cols = exp["columns"].as_object().unwrap();
    assert_eq!(cols.len(), 3);
    for (name, c) in cols {
        let x = floats(&c["x"]);
        close(skewness(&x), c["skew_g1"].as_f64().unwrap(), 1e-9, name);

        let yj = Transform::fit(TransformKind::YeoJohnson, name, &x).unwrap();
        let Transform::YeoJohnson { lambda } = yj else {
            panic!("{yj:?}")
        };
        close(
            lambda,
            c["yeo_johnson"]["lambda"].as_f64().unwrap(),
            1e-7,
            name,
        );
        for (v, want) in x.iter().zip(floats(&c["yeo_johnson"]["y"])) {
            close(
                yj.apply(*v),
                want,
                1e-6,
                &format!("{name} yeo-johnson({v})"),
            );
        }

        let q = Transform::fit(TransformKind::Quantile, name, &x).unwrap();
        let Transform::Quantile { quantiles } = &q else {
            panic!("{q:?}")
        };
        let want_q = floats(&c["quantile"]["quantiles"]);
        assert_eq!(quantiles.len(), want_q.len());
        for (g, w) in quantiles.iter().zip(&want_q) {
            close(*g, *w, 1e-12, &format!("{name} quantiles"));
        }
        for (v, want) in x.iter().zip(floats(&c["quantile"]["y"])) {
            close(q.apply(*v), want, 1e-12, &format!("{name} quantile({v})"));
        }
        let probes = floats(&c["quantile"]["probes"]);
        for (v, want) in probes.iter().zip(floats(&c["quantile"]["probes_y"])) {
            close(
                q.apply(*v),
                want,
                1e-12,
                &format!("{name} quantile(probe {v})"),
            );
        }
    }
}
