//! `segmenta clean` on small hand-made tables whose answers are known.

use std::path::Path;

use super::util::*;

fn table(dir: &Path) -> std::path::PathBuf {
    // 12 rows: row 3 has no id, row 5 repeats id 4, row 6 is 150 years old, row 7 has a
    // share above 1, row 8 a negative spend, row 9 a missing age, row 10 an extreme
    // monetary_total (an IQR outlier), the others are ordinary.
    let text = "customer_id,age,weekend_visit_share,monetary_total\n\
        1,30,0.5,100\n2,40,0.4,120\n,35,0.5,110\n4,45,0.6,90\n4,46,0.6,95\n6,150,0.5,100\n\
        7,33,1.2,100\n8,28,0.3,-5\n9,,0.5,105\n10,50,0.5,100000\n11,38,0.45,115\n12,41,0.55,98\n";
    let p = dir.join("f.csv");
    std::fs::write(&p, text).unwrap();
    p
}

fn reasons(dir: &Path) -> Vec<(i64, String)> {
    use arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for b in read_batches(&dir.join("rejects.parquet")) {
        let ids = arrow::compute::cast(
            b.column_by_name("customer_id").unwrap(),
            &arrow::datatypes::DataType::Int64,
        )
        .unwrap();
        let ids = ids.as_primitive::<arrow::datatypes::Int64Type>();
        let rs = b.column_by_name("reason").unwrap().as_string::<i32>();
        assert!(b.column_by_name("rule").is_some());
        for i in 0..b.num_rows() {
            out.push((
                if ids.is_null(i) { -1 } else { ids.value(i) },
                rs.value(i).to_string(),
            ));
        }
    }
    out
}

#[test]
fn every_rule_with_its_reason_and_nothing_lost() {
    let d = tempdir();
    let input = table(d.path());
    let out = d.path().join("out");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&input),
        "-o",
        p(&out),
        "--outliers",
        "iqr",
        "--outlier-action",
        "drop",
        "--outlier-columns",
        "monetary_total",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = reasons(&out);
    // Only unusable rows are rejected (no id, a repeated id), and the outlier
    // under --outlier-action drop; the impossible cells of rows 6, 7 and 8 are
    // emptied, counted under their rule, and imputed.
    let want: Vec<(i64, String)> = [(-1, "missing_id"), (4, "duplicate_id"), (10, "outlier_iqr")]
        .iter()
        .map(|(i, s)| (*i, s.to_string()))
        .collect();
    assert_eq!(r, want);
    let c = read_json(&out.join("clean.json"));
    assert_eq!(c["rows_in"], 12);
    assert_eq!(c["rows_kept"], 9);
    assert_eq!(c["rows_rejected"], 3);
    for (rule, col) in [
        ("impossible_age", "age"),
        ("share_out_of_range", "weekend_visit_share"),
        ("negative_spend", "monetary_total"),
    ] {
        assert_eq!(c["rules"][rule]["cells"][col], 1, "{rule}");
        assert_eq!(c["rules"][rule]["rows_rejected"], 0, "{rule}");
    }
    // Rows 6 (emptied) and 9 (missing) get the median of the other ages still in
    // when imputing (28, 30, 33, 38, 40, 41, 45, 50; row 10 is dropped only later).
    assert_eq!(c["rules"]["impute_median"]["cells"]["age"], 2);
    assert_eq!(c["imputed_with"]["age"].as_f64().unwrap(), 39.0);
    assert_eq!(c["imputed_with"]["monetary_total"].as_f64().unwrap(), 100.0);
    // The outlier rule ran on log1p(monetary_total) (skewed, non-negative).
    assert_eq!(c["outlier_transforms"]["monetary_total"], "log1p");
    let ids = read_i64(&out.join("clean.parquet"), "customer_id");
    assert_eq!(ids, vec![1, 2, 4, 6, 7, 8, 9, 11, 12]);
}

#[test]
fn clip_and_flag_keep_the_rows() {
    let d = tempdir();
    let input = table(d.path());
    for (action, kept, extra) in [("clip", 10, "clip"), ("flag", 10, "outlier_iqr")] {
        let out = d.path().join(action);
        let o = segmenta(&[
            "clean",
            "-i",
            p(&input),
            "-o",
            p(&out),
            "--outliers",
            "iqr",
            "--outlier-action",
            action,
            "--outlier-columns",
            "monetary_total",
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let c = read_json(&out.join("clean.json"));
        assert_eq!(c["rows_kept"], kept, "{action}");
        // A clipped cell is changed; a flagged one is not (counted as flagged).
        let counted = if action == "clip" {
            "cells"
        } else {
            "cells_flagged"
        };
        assert_eq!(
            c["rules"][extra][counted]["monetary_total"], 1,
            "{action}: {c}"
        );
        if action == "flag" {
            assert_eq!(c["rows_flagged"], 1);
            assert!(c["rules"][extra]["cells"].as_object().unwrap().is_empty());
        }
        let m = read_i64(&out.join("clean.parquet"), "monetary_total");
        if action == "clip" {
            assert!(m.iter().all(|v| *v < 1000), "{m:?}");
        } else {
            assert!(m.contains(&100000));
        }
    }
}

/// `--outliers dbscan`: DBSCAN noise on the scaled features becomes rejects with
/// reason dbscan_noise; the counts equal those of `segmenta dbscan` on the same rows.
#[test]
fn dbscan_noise_becomes_rejects() {
    let d = tempdir();
    let input = fixture("blobs_outliers_3k.parquet");
    let out = d.path().join("out");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&input),
        "-o",
        p(&out),
        "--outliers",
        "dbscan:0.3",
        "--outlier-min-samples",
        "10",
        "--outlier-columns",
        "f0,f1,f2,f3",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let c = read_json(&out.join("clean.json"));
    let noise = c["rules"]["dbscan_noise"]["rows_rejected"]
        .as_u64()
        .unwrap();
    let db = d.path().join("db");
    let o = segmenta(&[
        "dbscan",
        "-i",
        p(&input),
        "--columns",
        "f0,f1,f2,f3",
        "--eps",
        "0.3",
        "--min-samples",
        "10",
        "-o",
        p(&db),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seg = read_i64(&db.join("assignments.parquet"), "segment");
    let want = seg.iter().filter(|s| **s == -1).count() as u64;
    assert!(want > 0);
    assert_eq!(noise, want);
    assert_eq!(c["rows_rejected"].as_u64().unwrap(), want);
    assert!(reasons(&out).iter().all(|(_, r)| r == "dbscan_noise"));
    assert_eq!(c["rows_kept"].as_u64().unwrap() + want, 3000);
}

/// A share column with a point mass (issue 37): 75% of the rows at 1.0, the rest
/// spread below it, and a column with 60% at 0. The rule judges each on its
/// other values: no row at the mass is an outlier, and at most 5% are flagged.
#[test]
fn a_point_mass_is_never_an_outlier() {
    let d = tempdir();
    let n = 2000;
    let mut text = String::from("customer_id,share,visits_score,spend\n");
    for i in 0..n {
        let share = if i % 4 != 0 {
            1.0
        } else {
            0.2 + 0.75 * ((i * 37 % 500) as f64 / 500.0)
        };
        let score = if i % 5 < 3 {
            0.0
        } else {
            1.0 + (i % 97) as f64
        };
        let spend = 100.0 + (i * 13 % 400) as f64;
        text.push_str(&format!("{i},{share},{score},{spend}\n"));
    }
    let f = d.path().join("shares.csv");
    std::fs::write(&f, text).unwrap();
    let out = d.path().join("c");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&f),
        "-o",
        p(&out),
        "--outlier-action",
        "flag",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = read_json(&out.join("clean.json"));
    let flagged = &j["rules"]["outlier_iqr"]["cells_flagged"];
    for col in ["share", "visits_score"] {
        let k = flagged[col].as_u64().unwrap_or(0);
        assert!(k as f64 <= 0.05 * n as f64, "{col}: {k} flagged");
        let why = j["outlier_masses"][col].as_str().unwrap();
        assert!(why.contains('%'), "{why}");
    }
    assert!(j["outlier_warnings"].as_object().unwrap().is_empty(), "{j}");
    // No row at a mass is flagged, nor when `update` reapplies the fences.
    let again = d.path().join("again");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&f),
        "-o",
        p(&again),
        "--outlier-action",
        "flag",
        "--reuse-fitted",
        p(&out.join("clean.json")),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    use arrow::array::{Array, AsArray};
    for b in read_batches(&out.join("clean.parquet"))
        .into_iter()
        .chain(read_batches(&again.join("clean.parquet")))
    {
        let share = arrow::compute::cast(
            b.column_by_name("share").unwrap(),
            &arrow::datatypes::DataType::Float64,
        )
        .unwrap();
        let share = share.as_primitive::<arrow::datatypes::Float64Type>();
        let out = b.column_by_name("outlier").unwrap().as_boolean();
        for i in 0..b.num_rows() {
            assert!(
                !(share.value(i) == 1.0 && out.value(i)),
                "a row at 1.0 flagged"
            );
            assert!(!out.is_null(i));
        }
    }
}
