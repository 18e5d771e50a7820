//! `segmenta update`: next month with stable segment ids, against the
//! generator's planted truth (who switched persona, and when).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, BooleanArray, Int32Array};
use arrow::datatypes::Int64Type;

use super::util::*;

fn run_ok(args: &[&str]) {
    let out = segmenta(args);
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

/// The same seeded mall twice: cut at `cut`, and whole.
fn two_cuts(
    dir: &Path,
    customers: &str,
    months: &str,
    cut: &str,
    drift: &[&str],
) -> (PathBuf, PathBuf) {
    let (a, b) = (dir.join("cut1"), dir.join("cut2"));
    for (out, cut) in [(&a, Some(cut)), (&b, None)] {
        let mut args = vec![
            "generate",
            "--customers",
            customers,
            "--months",
            months,
            "-o",
            p(out),
            "-q",
        ];
        args.extend_from_slice(drift);
        if let Some(c) = cut {
            args.extend_from_slice(&["--cut", c]);
        }
        run_ok(&args);
    }
    (a, b)
}

fn fit_pair(dir: &Path, cut1: &Path, cut2: &Path) -> (PathBuf, PathBuf) {
    let (r1, r2) = (dir.join("run1"), dir.join("run2"));
    let common = ["--backend", "cpu", "--stability-resamples", "0", "-q"];
    let mut a = vec!["run", "-i", p(cut1), "-o", p(&r1), "--k", "6"];
    a.extend_from_slice(&common);
    run_ok(&a);
    let mut a = vec!["update", "--previous", p(&r1), "-i", p(cut2), "-o", p(&r2)];
    a.extend_from_slice(&common);
    run_ok(&a);
    (r1, r2)
}

struct Migration {
    previous: Vec<Option<i32>>,
    segment: Vec<Option<i32>>,
    state: Vec<String>,
    moved: Vec<bool>,
    ids: Vec<i64>,
}

fn migration(run: &Path) -> Migration {
    let mut m = Migration {
        previous: vec![],
        segment: vec![],
        state: vec![],
        moved: vec![],
        ids: vec![],
    };
    for b in read_batches(&run.join("migration/migration.parquet")) {
        let i32s = |c: &str| {
            let a = b
                .column_by_name(c)
                .unwrap()
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap()
                .clone();
            (0..a.len()).map(move |i| a.is_valid(i).then(|| a.value(i)))
        };
        m.previous.extend(i32s("previous_segment"));
        m.segment.extend(i32s("segment"));
        m.state.extend(
            b.column_by_name("state")
                .unwrap()
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_string()),
        );
        let mv = b
            .column_by_name("moved")
            .unwrap()
            .as_any()
            .downcast_ref::<BooleanArray>()
            .unwrap()
            .clone();
        m.moved.extend((0..mv.len()).map(|i| mv.value(i)));
        m.ids.extend(
            b.column_by_name("customer_id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .copied(),
        );
    }
    m
}

/// Customers the generator switched to another persona.
fn switchers(truth: &Path) -> HashSet<i64> {
    let mut s = HashSet::new();
    for b in read_batches(truth) {
        let ids = b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        let on = b.column_by_name("switched_on").unwrap();
        for i in 0..b.num_rows() {
            if on.is_valid(i) {
                s.insert(ids.value(i));
            }
        }
    }
    s
}

/// Item 4 of issue 16: a 50,000-customer mall over two years, one in five
/// customers switching persona on the day between the two runs; each run's
/// features cover its own year (the update keeps the previous run's window
/// length). The customers the migration says moved are the planted switchers.
#[test]
fn planted_switchers_are_the_movers() {
    let dir = tempdir();
    let drift = ["--drift", "0.2", "--drift-at", "2026-01-01"];
    let (c1, c2) = two_cuts(dir.path(), "50000", "24", "2026-01-01", &drift);
    let (_, r2) = fit_pair(dir.path(), &c1, &c2);
    let m = migration(&r2);
    let planted = switchers(&c2.join("truth.parquet"));
    assert!(planted.len() > 8000, "{} switchers", planted.len());
    let (mut tp, mut moved, mut planted_both) = (0usize, 0usize, 0usize);
    for i in 0..m.ids.len() {
        if m.previous[i].is_none() || m.segment[i].is_none() {
            continue;
        }
        let p = planted.contains(&m.ids[i]);
        planted_both += usize::from(p);
        moved += usize::from(m.moved[i]);
        tp += usize::from(p && m.moved[i]);
    }
    let precision = tp as f64 / moved as f64;
    let recall = tp as f64 / planted_both as f64;
    eprintln!("planted drift: precision {precision:.3}, recall {recall:.3} ({tp} of {moved} movers, {planted_both} switchers)");
    assert!(
        precision >= 0.8 && recall >= 0.8,
        "precision {precision:.3}, recall {recall:.3}"
    );
    // Every segment kept its id: the personas did not change, only who has them.
    let j = read_json(&r2.join("migration/migration.json"));
    for s in j["segments"].as_array().unwrap() {
        assert_eq!(s["status"], "kept", "{s}");
    }
}

/// Without drift, a month later: at least 97% of the customers in both runs keep
/// their segment, under the same id; the states account for every customer.
#[test]
fn without_drift_customers_keep_their_segment_and_id() {
    let dir = tempdir();
    let (c1, c2) = two_cuts(dir.path(), "50000", "12", "2025-12-01", &[]);
    let (r1, r2) = fit_pair(dir.path(), &c1, &c2);
    let m = migration(&r2);
    let both: Vec<usize> = (0..m.ids.len())
        .filter(|&i| m.previous[i].is_some() && m.segment[i].is_some())
        .collect();
    let same = both
        .iter()
        .filter(|&&i| m.previous[i] == m.segment[i])
        .count();
    let kept = same as f64 / both.len() as f64;
    eprintln!(
        "no drift: {kept:.4} of {} customers kept their segment id",
        both.len()
    );
    assert!(kept >= 0.97, "{kept}");

    // States: `new` are exactly the customers the previous run did not segment,
    // `gone` those this run does not; lapsed ones bought nothing since the
    // previous as-of; moved = another segment.
    let before: HashSet<i64> = read_i64(&r1.join("kmeans/assignments.parquet"), "customer_id")
        .into_iter()
        .collect();
    let after: HashSet<i64> = read_i64(&r2.join("kmeans/assignments.parquet"), "customer_id")
        .into_iter()
        .collect();
    assert_eq!(m.ids.len(), before.union(&after).count());
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for i in 0..m.ids.len() {
        let s = m.state[i].as_str();
        *counts.entry(s).or_default() += 1;
        let id = m.ids[i];
        match s {
            "new" => assert!(!before.contains(&id) && after.contains(&id)),
            "gone" => assert!(before.contains(&id) && !after.contains(&id)),
            "stayed" => assert_eq!(m.previous[i], m.segment[i]),
            "moved" => assert_ne!(m.previous[i], m.segment[i]),
            "lapsed" => assert!(before.contains(&id) && after.contains(&id)),
            other => panic!("state {other}"),
        }
    }
    // A month of a mall: some customers lapse, a few are new.
    assert!(
        counts["lapsed"] > 1000 && counts.get("new").copied().unwrap_or(0) > 0,
        "{counts:?}"
    );
    let j = read_json(&r2.join("migration/migration.json"));
    let total: u64 = j["matrix"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, m.ids.len());
    // Lapsed ones made no purchase after the previous as-of (lifetime's last purchase).
    let prev_as_of = j["previous_as_of"].as_str().unwrap().to_string();
    assert_eq!(prev_as_of, "2025-12-01");
    // Persona names carry over with the ids.
    let p1 = read_json(&r1.join("profile/profile.json"));
    let p2 = read_json(&r2.join("profile/profile.json"));
    for s in p2["segments"].as_array().unwrap() {
        let prev = p1["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["segment"] == s["segment"])
            .unwrap();
        assert_eq!(s["persona"], prev["persona"]);
        assert_eq!(s["naming"], "kept");
    }
    // P(alive) against the generator's truth: the customers it churned mid-history
    // look less alive than the others, and most of those at risk did churn.
    let churned: HashSet<i64> = {
        let mut c = HashSet::new();
        for b in read_batches(&c2.join("truth.parquet")) {
            let ids = b
                .column_by_name("customer_id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone();
            let ch = b
                .column_by_name("churned")
                .unwrap()
                .as_any()
                .downcast_ref::<BooleanArray>()
                .unwrap()
                .clone();
            for i in 0..b.num_rows() {
                if ch.value(i) {
                    c.insert(ids.value(i));
                }
            }
        }
        c
    };
    let (mut sum, mut n, mut risk) = ([0.0f64; 2], [0usize; 2], [0usize; 2]);
    for b in read_batches(&r2.join("lifetime/customers.parquet")) {
        let ids = b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .clone();
        let pa = b
            .column_by_name("p_alive")
            .unwrap()
            .as_primitive::<arrow::datatypes::Float64Type>()
            .clone();
        for i in 0..b.num_rows() {
            if pa.is_valid(i) {
                let g = usize::from(churned.contains(&ids.value(i)));
                sum[g] += pa.value(i);
                n[g] += 1;
                risk[g] += usize::from(pa.value(i) < 0.5);
            }
        }
    }
    let (alive, gone) = (sum[0] / n[0] as f64, sum[1] / n[1] as f64);
    let (risk_alive, risk_gone) = (risk[0] as f64 / n[0] as f64, risk[1] as f64 / n[1] as f64);
    eprintln!("P(alive): churned {gone:.3}, others {alive:.3}; at risk: churned {risk_gone:.3}, others {risk_alive:.4}");
    assert!(
        gone < alive - 0.1 && risk_gone > 10.0 * risk_alive,
        "{gone} {alive} {risk_gone} {risk_alive}"
    );

    // The report shows what changed, with the Sankey diagram, and the outlook.
    let html = std::fs::read_to_string(r2.join("report.html")).unwrap();
    for want in [
        "What changed since last run",
        "Who moved where",
        "Migration matrix",
        "What comes next",
        "P(alive)",
    ] {
        assert!(html.contains(want), "report lacks {want}");
    }
}

fn blobs(path: &Path, centres: &[(f64, f64)], per: usize) {
    let mut r = segmenta::rng::Rng::new(5);
    let (mut id, mut x, mut y) = (vec![], vec![], vec![]);
    for (c, (cx, cy)) in centres.iter().enumerate() {
        for i in 0..per {
            id.push((c * per + i) as i64);
            x.push(cx + r.next_f64() - 0.5);
            y.push(cy + r.next_f64() - 0.5);
        }
    }
    write_parquet(
        path,
        vec![
            (
                "customer_id",
                std::sync::Arc::new(arrow::array::Int64Array::from(id)),
            ),
            (
                "x",
                std::sync::Arc::new(arrow::array::Float64Array::from(x)),
            ),
            (
                "y",
                std::sync::Arc::new(arrow::array::Float64Array::from(y)),
            ),
        ],
    );
}

fn labels(dir: &Path) -> Vec<i32> {
    let mut v = vec![];
    for b in read_batches(&dir.join("assignments.parquet")) {
        let a = b
            .column_by_name("segment")
            .unwrap()
            .as_any()
            .downcast_ref::<Int32Array>()
            .unwrap();
        v.extend(a.values().iter().copied());
    }
    v
}

/// The matching, through `kmeans --previous-model`: the same data fitted again
/// keeps every id; a fourth, far cluster with k = 4 is reported new, under the
/// next id; without it (k = 2, one blob gone) the missing segment is vanished and
/// its id retired, never reused.
#[test]
fn warm_start_keeps_ids_reports_new_and_vanished_segments() {
    let dir = tempdir();
    let d = dir.path();
    let three = [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)];
    blobs(&d.join("a.parquet"), &three, 300);
    let base = ["--stability-resamples", "0", "--backend", "cpu", "-q"];
    let k = |input: &str, out: &str, k: &str, prev: Option<&str>| {
        let (i, o) = (d.join(input), d.join(out));
        let mut a = vec!["kmeans", "-i", p(&i), "-o", p(&o), "--k", k];
        a.extend_from_slice(&base);
        let pm = prev.map(|m| d.join(m).join("model.json"));
        if let Some(pm) = &pm {
            a.extend_from_slice(&["--previous-model", p(pm)]);
        }
        run_ok(&a);
    };
    k("a.parquet", "m0", "3", None);
    k("a.parquet", "m1", "3", Some("m0"));
    assert_eq!(labels(&d.join("m0")), labels(&d.join("m1")));
    let m1 = read_json(&d.join("m1/model.json"));
    assert_eq!(m1["kmeans"]["init"], "previous");
    // With a new scaler fitted on data spread twice as wide, the centres are mapped
    // through both scalers and still match: the same ids, the scaler recorded.
    let wide = [(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)];
    blobs(&d.join("wide.parquet"), &wide, 300);
    let (i, o) = (d.join("wide.parquet"), d.join("m1w"));
    let pm = d.join("m0/model.json");
    let mut a = vec![
        "kmeans",
        "-i",
        p(&i),
        "-o",
        p(&o),
        "--k",
        "3",
        "--previous-model",
        p(&pm),
        "--refit-scaler",
        "--max-shift",
        "2",
    ];
    a.extend_from_slice(&base);
    run_ok(&a);
    assert_eq!(labels(&d.join("m0")), labels(&o));
    let w = read_json(&o.join("model.json"));
    assert_eq!(w["kmeans"]["warm_start"]["scaler"], "refitted");
    assert!(w["kmeans"]["warm_start"]["drift"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["drifted"] == true));

    // The previous ids in another order: fit with the centres permuted.
    let four = [(0.0, 10.0), (0.0, 0.0), (10.0, 0.0), (40.0, 40.0)];
    blobs(&d.join("b.parquet"), &four, 300);
    k("b.parquet", "m2", "4", Some("m0"));
    let m0 = labels(&d.join("m0"));
    let m2 = labels(&d.join("m2"));
    // Blob c of b.parquet is blob `order[c]` of a.parquet.
    let order = [2usize, 0, 1];
    for c in 0..3 {
        assert_eq!(m2[c * 300], m0[order[c] * 300], "blob {c}");
    }
    assert!(
        m2[900..].iter().all(|&l| l == 3),
        "the far blob is the new segment 3"
    );
    let w = read_json(&d.join("m2/model.json"));
    let segs = w["kmeans"]["warm_start"]["segments"].as_array().unwrap();
    assert_eq!(segs.iter().filter(|s| s["status"] == "new").count(), 1);
    assert_eq!(segs.iter().filter(|s| s["status"] == "kept").count(), 3);

    // One blob gone, k = 2: its segment vanishes and its id is retired.
    blobs(&d.join("c.parquet"), &three[..2], 300);
    k("c.parquet", "m3", "2", Some("m0"));
    let m3 = read_json(&d.join("m3/model.json"));
    let gone = m0[600];
    assert_eq!(m3["kmeans"]["retired"], serde_json::json!([gone]));
    assert!(labels(&d.join("m3")).iter().all(|&l| l != gone));
    // Predicting with it never lands in the retired segment.
    let pred = d.join("pred.parquet");
    run_ok(&[
        "predict",
        "--model",
        p(&d.join("m3/model.json")),
        "-i",
        p(&d.join("a.parquet")),
        "-o",
        p(&pred),
        "-q",
    ]);
    assert!(read_i64(&pred, "segment")
        .iter()
        .all(|&l| l != i64::from(gone)));
}

#[test]
fn bad_updates_say_what_is_wrong_and_write_nothing() {
    let dir = tempdir();
    let d = dir.path();
    run_ok(&[
        "generate",
        "--customers",
        "2000",
        "--months",
        "6",
        "--cut",
        "2025-06-01",
        "-o",
        p(&d.join("c1")),
        "-q",
    ]);
    run_ok(&[
        "run",
        "-i",
        p(&d.join("c1")),
        "-o",
        p(&d.join("r1")),
        "--k",
        "4",
        "--backend",
        "cpu",
        "--stability-resamples",
        "0",
        "-q",
    ]);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--previous".into(), p(&d.join("c1")).into()],
            "lacks its K-means model",
        ),
        // The same sources: the new as-of is not after the previous one.
        (
            vec!["--previous".into(), p(&d.join("r1")).into()],
            "not after the previous run's as-of",
        ),
        (
            vec![
                "--previous".into(),
                p(&d.join("r1")).into(),
                "--max-shift".into(),
                "0".into(),
            ],
            "--max-shift",
        ),
    ];
    for (extra, want) in cases {
        let out_dir = d.join("r2");
        let mut a: Vec<String> = vec![
            "update".into(),
            "-i".into(),
            p(&d.join("c1")).into(),
            "-o".into(),
            p(&out_dir).into(),
        ];
        a.extend(extra);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let o = segmenta(&refs);
        assert_eq!(o.status.code(), Some(1), "{refs:?}");
        let e = stderr(&o);
        assert!(e.contains(want) && e.lines().count() == 1, "{refs:?}: {e}");
        assert!(
            !out_dir.exists() || files_in(&out_dir).is_empty(),
            "{refs:?} wrote {:?}",
            files_in(&out_dir)
        );
    }
    let o = segmenta(&[
        "update",
        "--previous",
        p(&d.join("r1")),
        "-i",
        p(&d.join("c1")),
        "-o",
        p(&d.join("r1")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is the previous run folder"),
        "{}",
        stderr(&o)
    );
}

/// `clean --reuse-fitted`: last month's imputation value and fences are applied
/// as they were, not refitted on this month's table.
#[test]
fn clean_reapplies_last_runs_imputation_and_fences() {
    let dir = tempdir();
    let d = dir.path();
    let table = |path: &Path, base: f64| {
        let ids: Vec<i64> = (0..200).collect();
        let v: Vec<Option<f64>> = (0..200)
            .map(|i| (i != 7).then(|| base + f64::from(i % 100)))
            .collect();
        write_parquet(
            path,
            vec![
                (
                    "customer_id",
                    std::sync::Arc::new(arrow::array::Int64Array::from(ids)),
                ),
                (
                    "spend",
                    std::sync::Arc::new(arrow::array::Float64Array::from(v)),
                ),
            ],
        );
    };
    table(&d.join("may.parquet"), 0.0);
    table(&d.join("june.parquet"), 1000.0);
    let clean = |input: &str, out: &str, extra: &[&str]| {
        let (i, o) = (d.join(input), d.join(out));
        let mut a = vec![
            "clean",
            "-i",
            p(&i),
            "-o",
            p(&o),
            "--transform",
            "none",
            "-q",
        ];
        a.extend_from_slice(extra);
        run_ok(&a);
        read_json(&o.join("clean.json"))
    };
    let may = clean("may.parquet", "may", &[]);
    let (lo, hi) = (
        may["fences"]["spend"][0].as_f64().unwrap(),
        may["fences"]["spend"][1].as_f64().unwrap(),
    );
    assert!(hi < 1000.0, "{hi}");
    let median = may["imputed_with"]["spend"].as_f64().unwrap();
    // Refitted on June, June is its own normal: nothing is an outlier.
    let fresh = clean("june.parquet", "june-fresh", &[]);
    assert_eq!(fresh["rows_flagged"], 0);
    assert!(fresh["imputed_with"]["spend"].as_f64().unwrap() > 1000.0);
    // With May's values: the hole takes May's median, and every other June row
    // lies above May's fences.
    let prev = d.join("may/clean.json");
    let reused = clean("june.parquet", "june-reused", &["--reuse-fitted", p(&prev)]);
    assert_eq!(reused["rows_flagged"], 199);
    assert_eq!(reused["fences"]["spend"], serde_json::json!([lo, hi]));
    assert_eq!(reused["imputed_with"]["spend"].as_f64().unwrap(), median);
    assert_eq!(
        reused["config"]["reuse"]["source"].as_str().unwrap(),
        p(&prev)
    );
}

/// Item 5 of issue 16: Online Retail as of 2011-06-01, then 2011-12-10, through
/// `update`; the figures the README shows.
#[test]
fn online_retail_june_to_december() {
    let Some(csv) = shared("online_retail.csv.gz") else {
        return;
    };
    let dir = tempdir();
    let (jun, dec) = (dir.path().join("jun"), dir.path().join("dec"));
    let map = "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo,product=StockCode";
    run_ok(&[
        "run",
        "-i",
        p(&csv),
        "--map",
        map,
        "--as-of",
        "2011-06-01",
        "--k",
        "4",
        "-o",
        p(&jun),
        "-q",
    ]);
    run_ok(&[
        "update",
        "--previous",
        p(&jun),
        "-i",
        p(&csv),
        "--map",
        map,
        "--as-of",
        "2011-12-10",
        "-o",
        p(&dec),
        "-q",
    ]);
    let m = read_json(&dec.join("migration/migration.json"));
    assert_eq!(
        m["matrix"]["counts"],
        serde_json::json!([
            [170, 12, 153, 395, 0],
            [400, 78, 13, 204, 0],
            [144, 335, 5, 50, 0],
            [215, 81, 206, 306, 0],
            [383, 329, 738, 155, 0]
        ])
    );
    let st = &m["states"];
    assert_eq!(
        (
            st["stayed"].as_u64(),
            st["moved"].as_u64(),
            st["lapsed"].as_u64(),
            st["new"].as_u64()
        ),
        (Some(941), Some(1005), Some(821), Some(1605))
    );
    let status: Vec<&str> = m["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["vanished", "kept", "kept", "kept", "new"]);
    assert!(m["drift"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["column"] == "recency_days" && d["drifted"] == true));
    // BG/NBD finds no dropout here (a at its boundary): said, not shown as 0% risk.
    let l = read_json(&dec.join("lifetime/lifetime.json"));
    assert!(
        l["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("boundary")),
        "{}",
        l["notes"]
    );
    assert!(l["segments"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["churn_risk"].is_null()));
    // And the report draws no 0% churn bars beside that note.
    let html = std::fs::read_to_string(dec.join("report.html")).unwrap();
    assert!(html.contains("No chart of P(alive) and churn risk"));
    assert!(!html.contains(">Mean P(alive) and churn risk<"));
}
