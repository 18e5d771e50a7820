//! The synthetic mall end to end: generate → features → clean → kmeans, checked
//! against the generator's truth (planted dirt counts, planted personas).

use std::collections::BTreeMap;
use std::path::Path;

use super::util::*;

fn generate(out: &Path, customers: &str, extra: &[&str], env: &[(&str, &str)]) {
    let mut args = vec![
        "generate",
        "--customers",
        customers,
        "--seed",
        "7",
        "-o",
        p(out),
        "-q",
    ];
    args.extend_from_slice(extra);
    let o = segmenta_env(&args, env);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn rejected(features_json: &serde_json::Value, table: &str, reason: &str) -> u64 {
    let s = features_json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == table)
        .unwrap_or_else(|| panic!("no source {table}"));
    s["rejected"][reason].as_u64().unwrap_or(0)
}

#[test]
fn same_seed_identical_files_whatever_the_threads() {
    let d = tempdir();
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    generate(
        &a,
        "40000",
        &["--months", "2"],
        &[("RAYON_NUM_THREADS", "1")],
    );
    generate(
        &b,
        "40000",
        &["--months", "2"],
        &[("RAYON_NUM_THREADS", "3")],
    );
    let mut names = files_in(&a);
    names.sort();
    assert_eq!(names.len(), 8, "{names:?}");
    for n in &names {
        let (x, y) = (
            std::fs::read(a.join(n)).unwrap(),
            std::fs::read(b.join(n)).unwrap(),
        );
        assert!(x == y, "{n} differs between 1 and 3 threads");
    }
    // A different seed gives different data.
    let c = d.path().join("c");
    let o = segmenta(&[
        "generate",
        "--customers",
        "40000",
        "--months",
        "2",
        "--seed",
        "8",
        "-o",
        p(&c),
        "-q",
    ]);
    assert!(o.status.success());
    assert_ne!(
        std::fs::read(a.join("transactions.parquet")).unwrap(),
        std::fs::read(c.join("transactions.parquet")).unwrap()
    );
}

/// The main generator-truth test: 50k customers, as the issue asks.
#[test]
fn pipeline_finds_the_planted_dirt_and_personas() {
    let d = tempdir();
    let mall = d.path().join("mall");
    generate(&mall, "50000", &[], &[]);
    let m = read_json(&mall.join("mall.json"));
    let dirt = &m["dirt"];
    let n = m["customers"].as_u64().unwrap();
    for k in [
        "duplicate_transactions",
        "negative_amounts",
        "absurd_amounts",
        "transactions_out_of_window",
        "unknown_customer_transactions",
        "visits_exit_before_entry",
        "missing_birth_years",
        "impossible_birth_years",
    ] {
        assert!(
            dirt[k].as_u64().unwrap() > 0,
            "no {k} planted: the test would prove nothing"
        );
    }

    // features: the source rules find exactly the planted rows.
    let feats = d.path().join("feat");
    let o = segmenta(&["features", "-i", p(&mall), "-o", p(&feats), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_json(&feats.join("features.json"));
    assert_eq!(
        rejected(&f, "transactions", "duplicate_line"),
        dirt["duplicate_transactions"].as_u64().unwrap()
    );
    assert_eq!(
        rejected(&f, "transactions", "negative_amount"),
        dirt["negative_amounts"].as_u64().unwrap()
    );
    assert_eq!(
        rejected(&f, "transactions", "absurd_amount"),
        dirt["absurd_amounts"].as_u64().unwrap()
    );
    assert_eq!(
        rejected(&f, "transactions", "ts_out_of_window"),
        dirt["transactions_out_of_window"].as_u64().unwrap()
    );
    assert_eq!(
        rejected(&f, "transactions", "unknown_customer"),
        dirt["unknown_customer_transactions"].as_u64().unwrap()
    );
    assert_eq!(
        rejected(&f, "visits", "exit_before_entry"),
        dirt["visits_exit_before_entry"].as_u64().unwrap()
    );
    for s in f["sources"].as_array().unwrap() {
        let (i, k, r) = (
            s["rows_in"].as_u64().unwrap(),
            s["rows_kept"].as_u64().unwrap(),
            s["rows_rejected"].as_u64().unwrap(),
        );
        assert_eq!(i, k + r, "{s}");
        let table = s["table"].as_str().unwrap();
        assert_eq!(
            i,
            m["rows"][table].as_u64().unwrap(),
            "{table}: rows in = rows generated"
        );
        let planted: u64 = match table {
            "transactions" => [
                "duplicate_transactions",
                "negative_amounts",
                "absurd_amounts",
                "transactions_out_of_window",
                "unknown_customer_transactions",
            ]
            .iter()
            .map(|k| dirt[*k].as_u64().unwrap())
            .sum(),
            "visits" => dirt["visits_exit_before_entry"].as_u64().unwrap(),
            _ => 0,
        };
        assert_eq!(
            r, planted,
            "{table}: nothing but the planted dirt is rejected"
        );
        if r > 0 {
            let rej = feats.join("rejects").join(format!("{table}.parquet"));
            assert_eq!(read_i64(&rej, "customer_id").len() as u64, r);
        }
    }
    assert_eq!(
        f["customers"].as_u64().unwrap(),
        n,
        "every customer has a feature row"
    );
    assert_eq!(f["features"].as_array().unwrap().len(), 17);
    let age = f["features"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "age")
        .unwrap();
    assert_eq!(
        age["nulls"].as_u64().unwrap(),
        dirt["missing_birth_years"].as_u64().unwrap()
    );

    // clean: imputes exactly the missing birth years, rejects exactly the impossible ones.
    let cl = d.path().join("clean");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&feats.join("features.parquet")),
        "-o",
        p(&cl),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = read_json(&cl.join("clean.json"));
    assert_eq!(
        c["rules"]["impute_median"]["cells"]["age"]
            .as_u64()
            .unwrap(),
        dirt["missing_birth_years"].as_u64().unwrap()
    );
    assert_eq!(
        c["rules"]["impossible_age"]["rows_rejected"]
            .as_u64()
            .unwrap(),
        dirt["impossible_birth_years"].as_u64().unwrap()
    );
    assert_eq!(
        c["rows_rejected"].as_u64().unwrap(),
        dirt["impossible_birth_years"].as_u64().unwrap()
    );
    assert_eq!(
        c["rows_in"].as_u64().unwrap(),
        c["rows_kept"].as_u64().unwrap() + c["rows_rejected"].as_u64().unwrap()
    );
    let rej_ids = read_i64(&cl.join("rejects.parquet"), "customer_id");
    assert_eq!(rej_ids.len() as u64, c["rows_rejected"].as_u64().unwrap());

    // K-means with k=6 recovers the planted personas well, but not trivially.
    let km = d.path().join("km");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&cl.join("clean.parquet")),
        "-k",
        "6",
        "--backend",
        "cpu",
        "--seed",
        "1",
        "--n-init",
        "10",
        "-o",
        p(&km),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids = read_i64(&km.join("assignments.parquet"), "customer_id");
    let seg = read_i64(&km.join("assignments.parquet"), "segment");
    let truth_ids = read_i64(&mall.join("truth.parquet"), "customer_id");
    let truth = read_i64(&mall.join("truth.parquet"), "persona_id");
    let by_id: BTreeMap<i64, i64> = truth_ids.into_iter().zip(truth).collect();
    let t: Vec<i64> = ids.iter().map(|i| by_id[i]).collect();
    let ari = segmenta::metrics::adjusted_rand_index(&t, &seg);
    let mut conf = vec![[0u64; 6]; 6];
    for (a, b) in t.iter().zip(&seg) {
        conf[*a as usize][*b as usize] += 1;
    }
    eprintln!("ARI {ari:.4}; confusion (planted persona × segment): {conf:?}");
    assert!(ari >= 0.8, "ARI {ari} < 0.8");
    assert!(ari < 0.999, "ARI {ari}: the personas are too easy");
}
