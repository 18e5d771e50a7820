//! `segmenta export`: a run's audience for the CRM, and the delta between two runs
//! which, applied to the earlier export, gives the later one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use arrow::util::display::array_value_to_string;

use super::util::*;

fn ok(args: &[&str]) -> String {
    let o = segmenta(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// The export as customer id → its values by column (as text, empty for null).
fn rows(path: &Path) -> BTreeMap<i64, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for b in read_batches(path) {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut row = BTreeMap::new();
            for (f, c) in schema.fields().iter().zip(b.columns()) {
                let v = match c.is_null(i) {
                    true => String::new(),
                    false => array_value_to_string(c, i).unwrap(),
                };
                row.insert(f.name().clone(), v);
            }
            let id: i64 = row["customer_id"].parse().unwrap();
            assert!(out.insert(id, row).is_none(), "customer {id} twice");
        }
    }
    out
}

/// Two months of one mall, with planted persona switches: a run on the first
/// cut, and its update on the whole history.
fn two_runs(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (c1, c2) = (dir.join("cut1"), dir.join("cut2"));
    for (out, cut) in [(&c1, Some("2025-11-01")), (&c2, None)] {
        let mut a = vec![
            "generate",
            "--customers",
            "3000",
            "--months",
            "12",
            "--drift",
            "0.15",
            "-o",
            p(out),
            "-q",
        ];
        if let Some(c) = cut {
            a.extend_from_slice(&["--cut", c]);
        }
        ok(&a);
    }
    let (r1, r2) = (dir.join("run1"), dir.join("run2"));
    let common = ["--backend", "cpu", "--stability-resamples", "0", "-q"];
    let mut a = vec!["run", "-i", p(&c1), "-o", p(&r1), "--k", "6"];
    a.extend_from_slice(&common);
    ok(&a);
    let mut a = vec!["update", "--previous", p(&r1), "-i", p(&c2), "-o", p(&r2)];
    a.extend_from_slice(&common);
    ok(&a);
    (r1, r2)
}

type Export = BTreeMap<i64, BTreeMap<String, String>>;

/// Applies `dl` to `a1` and checks that it gives `a2` on the `keep` columns, and
/// that the counts are what the command said.
fn apply_and_compare(a1: &Export, a2: &Export, dl: &Export, keep: &[&str], said: &str) {
    let mut applied = a1.clone();
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for (id, r) in dl {
        *count.entry(r["action"].clone()).or_default() += 1;
        match r["action"].as_str() {
            "insert" => assert!(applied.insert(*id, r.clone()).is_none()),
            "update" => {
                assert_eq!(r["previous_segment"], a1[id]["segment"]);
                assert!(applied.insert(*id, r.clone()).is_some());
            }
            "delete" => assert!(applied.remove(id).is_some()),
            other => panic!("action {other}"),
        }
    }
    let strip = |m: &BTreeMap<i64, BTreeMap<String, String>>| -> BTreeMap<i64, Vec<String>> {
        m.iter()
            .map(|(id, r)| (*id, keep.iter().map(|k| r[*k].clone()).collect()))
            .collect()
    };
    assert_eq!(strip(&applied), strip(a2));
    assert!(count.get("update").copied().unwrap_or(0) > 0, "{count:?}");
    let unchanged =
        a2.len() - count.get("insert").unwrap_or(&0) - count.get("update").unwrap_or(&0);
    assert!(
        said.contains(&format!("{unchanged} customers unchanged")),
        "{said} / {count:?}"
    );
}

#[test]
fn an_audience_per_run_and_a_delta_that_applies() {
    let d = tempdir();
    let (r1, r2) = two_runs(d.path());
    let (e1, e2, delta) = (
        d.path().join("e1.parquet"),
        d.path().join("e2.parquet"),
        d.path().join("delta.parquet"),
    );
    ok(&["export", "-i", p(&r1), "-o", p(&e1), "-q"]);
    ok(&["export", "-i", p(&r2), "-o", p(&e2), "-q"]);
    let said = ok(&["export", "-i", p(&r2), "-o", p(&delta), "--since", p(&r1)]);

    // One row per assigned customer, with the fit's segment and the profile's name.
    let a1 = rows(&e1);
    let ids = read_i64(&r1.join("kmeans/assignments.parquet"), "customer_id");
    let seg = read_i64(&r1.join("kmeans/assignments.parquet"), "segment");
    assert_eq!(a1.len(), ids.len());
    let prof = read_json(&r1.join("profile/profile.json"));
    let names: HashMap<String, String> = prof["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["segment"].to_string(),
                s["persona"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let as_of = read_json(&r1.join("features/features.json"))["as_of"]
        .as_str()
        .unwrap()
        .to_string();
    for (id, s) in ids.iter().zip(&seg) {
        let r = &a1[id];
        assert_eq!(r["segment"], s.to_string());
        assert_eq!(r["persona"], names[&s.to_string()]);
        assert_eq!(r["as_of"], as_of);
        assert_eq!(r["fit_id"], prof["fit_id"].as_str().unwrap());
        if !r["p_alive"].is_empty() {
            let pa: f64 = r["p_alive"].parse().unwrap();
            assert!((0.0..=1.0).contains(&pa), "{r:?}");
            if !r["churn_risk"].is_empty() {
                assert_eq!(r["churn_risk"] == "true", pa < 0.5, "{r:?}");
            }
        }
    }
    // The next offer is one of the segment's offers the customer has not bought.
    let offers: HashMap<String, Vec<String>> = prof["basket"]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let o = s["offers"].as_array().unwrap();
            let o = o.iter().map(|o| o["item"].as_str().unwrap().to_string());
            (s["segment"].to_string(), o.collect())
        })
        .collect();
    let tx = read_batches(&r1.join("features/tables/transactions"));
    let mut bought: HashSet<(i64, String)> = HashSet::new();
    for b in &tx {
        let (c, item, amount) = (
            b.column_by_name("customer_id").unwrap(),
            b.column_by_name("product").unwrap(),
            b.column_by_name("amount").unwrap(),
        );
        for i in 0..b.num_rows() {
            let amt: f64 = array_value_to_string(amount, i)
                .unwrap()
                .parse()
                .unwrap_or(0.0);
            if amt >= 0.0 && !item.is_null(i) {
                bought.insert((
                    array_value_to_string(c, i).unwrap().parse().unwrap(),
                    array_value_to_string(item, i).unwrap(),
                ));
            }
        }
    }
    let mut with_offer = 0;
    for (id, r) in &a1 {
        let list = &offers[&r["segment"]];
        let first = list.iter().find(|o| !bought.contains(&(*id, (*o).clone())));
        assert_eq!(r["next_offer"], first.cloned().unwrap_or_default(), "{id}");
        with_offer += usize::from(!r["next_offer"].is_empty());
    }
    assert!(
        with_offer > a1.len() / 2,
        "{with_offer} of {} have an offer",
        a1.len()
    );

    // The delta, applied to the first export, gives the second on the compared
    // columns (as_of and fit_id say which run last changed a row).
    let a2 = rows(&e2);
    let dl = rows(&delta);
    let keep = ["segment", "persona", "churn_risk", "next_offer"];
    apply_and_compare(&a1, &a2, &dl, &keep, &said);
    // Customers unchanged on those columns are not written.
    assert!(dl.len() < a2.len(), "{} of {}", dl.len(), a2.len());
    // Comparing every column, the applied delta is the second export exactly.
    let every = d.path().join("every.parquet");
    let all = segmenta::pipeline::COMPARABLE;
    let said = ok(&[
        "export",
        "-i",
        p(&r2),
        "-o",
        p(&every),
        "--since",
        p(&r1),
        "--compare",
        &all.join(","),
    ]);
    apply_and_compare(&a1, &a2, &rows(&every), &all, &said);

    // Selections.
    let sel = d.path().join("sel.csv");
    ok(&[
        "export",
        "-i",
        p(&r2),
        "-o",
        p(&sel),
        "--segments",
        "1,3",
        "--min-p-alive",
        "0.5",
        "-q",
    ]);
    let text = std::fs::read_to_string(&sel).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "customer_id,segment,persona,p_alive,clv,churn_risk,next_offer,as_of,fit_id"
    );
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert!(f[1] == "1" || f[1] == "3", "{l}");
        assert!(f[3].parse::<f64>().unwrap() >= 0.5, "{l}");
        assert_eq!(f[7].len(), 10, "ISO date: {l}");
        n += 1;
    }
    let want = a2
        .values()
        .filter(|r| {
            (r["segment"] == "1" || r["segment"] == "3")
                && r["p_alive"].parse::<f64>().is_ok_and(|p| p >= 0.5)
        })
        .count();
    assert_eq!(n, want);
    assert!(n > 0);
}

#[test]
fn a_bad_export_says_why_and_leaves_the_old_file() {
    let d = tempdir();
    let out = d.path().join("audience.csv");
    std::fs::write(&out, "the previous audience\n").unwrap();
    // Not a run folder.
    let o = segmenta(&["export", "-i", p(d.path()), "-o", p(&out)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the previous audience\n"
    );
    // A probability out of range.
    let o = segmenta(&[
        "export",
        "-i",
        p(d.path()),
        "-o",
        p(&out),
        "--min-p-alive",
        "2",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--min-p-alive"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "the previous audience\n"
    );
    assert_eq!(files_in(d.path()), ["audience.csv"]);
}
