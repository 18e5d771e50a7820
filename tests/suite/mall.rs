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

/// Runs the features stage on `mall` into `feats` and checks that the source rules
/// reject exactly the planted dirt of `mall.json`, and nothing else.
fn planted_dirt_is_what_features_rejects(mall: &Path, feats: &Path) -> serde_json::Value {
    let m = read_json(&mall.join("mall.json"));
    let dirt = &m["dirt"];
    let o = segmenta(&["features", "-i", p(mall), "-o", p(feats), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_json(&feats.join("features.json"));
    assert_eq!(
        rejected(&f, "transactions", "duplicate_line"),
        dirt["duplicate_transactions"].as_u64().unwrap()
    );
    // Planted returns (a negative copy of a purchase line a second later) are kept
    // and netted against the purchase they follow, every one of them.
    let returns = dirt["negative_amounts"].as_u64().unwrap();
    assert_eq!(f["returns"]["lines"].as_u64().unwrap(), returns);
    assert_eq!(f["returns"]["matched"].as_u64().unwrap(), returns);
    assert_eq!(f["returns"]["unmatched"].as_u64().unwrap(), 0);
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
    // Missing birth years: exactly the customer rows without one.
    let missing = read_batches(&mall.join("customers.parquet"))
        .iter()
        .map(|b| b.column_by_name("birth_year").unwrap().null_count() as u64)
        .sum::<u64>();
    assert_eq!(missing, dirt["missing_birth_years"].as_u64().unwrap());
    f
}

/// The same mall cut at a date (`--cut`, for `update`): the planted dirt is still
/// counted exactly, customers who sign up after the cut are not there, and the
/// window ends at the cut.
#[test]
fn a_cut_mall_keeps_its_dirt_exact() {
    let d = tempdir();
    let mall = d.path().join("mall");
    generate(&mall, "20000", &["--cut", "2025-07-01"], &[]);
    let m = read_json(&mall.join("mall.json"));
    assert_eq!(m["window_end"], "2025-07-01");
    assert_eq!(m["history_end"], "2026-01-01");
    assert!(m["rows"]["customers"].as_u64().unwrap() < 20000);
    planted_dirt_is_what_features_rejects(&mall, &d.path().join("feat"));
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
    let f = planted_dirt_is_what_features_rejects(&mall, &feats);
    assert_eq!(
        f["customers"].as_u64().unwrap(),
        n,
        "every customer has a feature row"
    );
    // Nine spend shares among them: what tells the family from the weekend visitor.
    assert_eq!(f["features"].as_array().unwrap().len(), 24);
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

    // clean: an impossible birth year empties the cell, which is then imputed like
    // a missing one; no customer row is rejected.
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
    let impossible = dirt["impossible_birth_years"].as_u64().unwrap();
    assert_eq!(
        c["rules"]["impute_median"]["cells"]["age"]
            .as_u64()
            .unwrap(),
        dirt["missing_birth_years"].as_u64().unwrap() + impossible
    );
    assert_eq!(
        c["rules"]["impossible_age"]["cells"]["age"]
            .as_u64()
            .unwrap(),
        impossible
    );
    assert_eq!(c["rows_rejected"].as_u64().unwrap(), 0);
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
    assert!(ari >= 0.9, "ARI {ari} < 0.9");
    assert!(ari < 0.999, "ARI {ari}: the personas are too easy");

    // sweep: the vote of the four indices recommends the six planted personas.
    let sw = d.path().join("sweep");
    let o = segmenta(&[
        "sweep",
        "-i",
        p(&cl.join("clean.parquet")),
        "--k-range",
        "2..10",
        "--n-init",
        "3",
        "--silhouette-sample",
        "5000",
        "--backend",
        "cpu",
        "--seed",
        "1",
        "-o",
        p(&sw),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s = read_json(&sw.join("sweep.json"));
    let rec = s["recommended"]["k"].as_u64().unwrap();
    eprintln!("sweep: {}", stdout(&o));
    assert_eq!(rec, 6, "recommended k {rec}: {}", s["recommended"]);
    let reason = s["recommended"]["reason"].as_str().unwrap();
    assert!(reason.contains("indices choose it"), "{reason}");
    assert_eq!(s["silhouette_rows"].as_u64().unwrap(), 5000);
    assert_eq!(s["points"].as_array().unwrap().len(), 9);

    // The sampled sweep (a large table's path, forced with --sweep-rows): the
    // same seed gives the same sample and the same scores, and it still
    // recommends the six planted personas.
    let sampled = |name: &str| {
        let out = d.path().join(name);
        let o = segmenta(&[
            "sweep",
            "-i",
            p(&cl.join("clean.parquet")),
            "--k-range",
            "2..10",
            "--n-init",
            "3",
            "--silhouette-sample",
            "5000",
            "--sweep-rows",
            "20000",
            "--backend",
            "cpu",
            "--seed",
            "1",
            "-o",
            p(&out),
            "-q",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let mut s = read_json(&out.join("sweep.json"));
        for pt in s["points"].as_array_mut().unwrap() {
            let pt = pt.as_object_mut().unwrap();
            pt.remove("fit_s");
            pt.remove("score_s");
        }
        s
    };
    let (a, b) = (sampled("sweep-a"), sampled("sweep-b"));
    assert_eq!(
        a["points"], b["points"],
        "same seed, same sample, same scores"
    );
    assert_eq!(a["fit_rows"].as_u64().unwrap(), 20000);
    assert_eq!(a["rows"], s["rows"]);
    assert!(a["fit_rows_note"]
        .as_str()
        .unwrap()
        .contains("seeded uniform sample of 20000"));
    assert_ne!(a["points"], s["points"], "the sample is not every row");
    assert_eq!(
        a["recommended"]["k"].as_u64().unwrap(),
        6,
        "{}",
        a["recommended"]
    );

    // profile: every persona K-means recovers (≥ 80% of its customers in one
    // segment) gets its planted name; the surrogate tree mimics the segments.
    let pr = d.path().join("profile");
    let o = segmenta(&[
        "profile",
        "--features",
        p(&cl.join("clean.parquet")),
        "--assignments",
        p(&km.join("assignments.parquet")),
        "--tables",
        p(&feats.join("tables")),
        "-o",
        p(&pr),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!("{}", stdout(&o));
    let prof = read_json(&pr.join("profile.json"));
    let planted: Vec<String> = m["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x[0].as_str().unwrap().to_string())
        .collect();
    let name_of = |segment: usize| -> String {
        prof["segments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["segment"] == segment as i64)
            .unwrap()["persona"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let mut recovered = 0;
    for (pi, row) in conf.iter().enumerate() {
        let total: u64 = row.iter().sum();
        let (best, &top) = row.iter().enumerate().max_by_key(|x| x.1).unwrap();
        if top as f64 >= 0.8 * total as f64 {
            recovered += 1;
            assert_eq!(
                name_of(best),
                planted[pi],
                "segment {best} holds {top} of {total} {}",
                planted[pi]
            );
        }
    }
    assert_eq!(
        recovered, 6,
        "only {recovered} personas recovered: {conf:?}"
    );
    let fidelity = prof["surrogate"]["fidelity"].as_f64().unwrap();
    assert!(fidelity >= 0.9, "surrogate fidelity {fidelity}");
    let mut names: Vec<&str> = prof["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["persona"].as_str().unwrap())
        .collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6, "names are unique");
    let chi = &prof["streaming"]["chi_square"];
    assert!(
        chi["p_value"].as_f64().unwrap() < 1e-6,
        "packages depend on the persona: {chi}"
    );
    assert_eq!(
        prof["streaming"]["by_age_band"].as_array().unwrap().len(),
        7
    );
    // Baskets: every segment's were counted, at product level.
    let basket = &prof["basket"];
    assert!(basket["lines"].as_u64().unwrap() > 0);
    assert_eq!(basket["item"], "product");
    let per_seg = basket["segments"].as_array().unwrap();
    assert_eq!(per_seg.len(), 6);
    assert!(per_seg.iter().all(|s| s["baskets"].as_u64().unwrap() > 100));
    planted_pairs_come_out_where_planted(&m, &feats.join("tables"), &ids, &seg, &conf, per_seg);
    let schema = read_json(&root().join("docs/profile.schema.json"));
    assert_eq!(schema_errors(&schema, &prof), Vec::<String>::new());

    // predict --explain: the surrogate's conditions for each customer.
    let pred = d.path().join("pred.parquet");
    let o = segmenta(&[
        "predict",
        "-m",
        p(&km.join("model.json")),
        "-i",
        p(&cl.join("clean.parquet")),
        "-o",
        p(&pred),
        "--explain",
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b = read_batches(&pred);
    let col = b[0]
        .column_by_name("explanation")
        .expect("explanation column");
    let e = arrow::array::AsArray::as_string::<i32>(col.as_ref());
    assert!(
        e.value(0).starts_with("segment ") && e.value(0).contains(" and "),
        "{}",
        e.value(0)
    );
    // An explanation never contradicts the segment: where the tree disagrees it
    // says so and gives the nearest-centre reason instead.
    let segs = read_i64(&pred, "segment");
    let texts: Vec<String> = b
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name("explanation").unwrap();
            let e = arrow::array::AsArray::as_string::<i32>(col.as_ref());
            (0..b.num_rows())
                .map(|i| e.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(texts.len(), segs.len());
    let mut disagree = 0;
    for (i, s) in segs.iter().enumerate() {
        let text = &texts[i];
        assert!(
            text.starts_with(&format!("segment {s}:")),
            "row {i}: {s} vs {text}"
        );
        if text.contains("surrogate tree's rules say") {
            disagree += 1;
            assert!(
                text.contains("runner-up") && text.contains("centre"),
                "{text}"
            );
        }
    }
    assert!(
        disagree > 0,
        "the tree agrees everywhere: the check proves nothing"
    );
}

/// One bad date must not move everyone: a generated mall's transactions alone (no
/// mall.json to give the window) get the window estimated from the days that have
/// transactions, so the planted timestamps years out are rejected (every one of
/// them) instead of pushing the as-of date, and every recency, ten years out.
/// The generator's planted co-purchases (`affinities` in mall.json) against the
/// rules of the segment that holds most of each persona: every planted pair is a
/// rule with lift ≥ 1.5 there, and no rule with lift ≥ 1.5 in any persona's segment
/// joins products that no persona was planted to buy together. All rules are
/// mined (the library's basket stage with no top), not only the profile's ten.
fn planted_pairs_come_out_where_planted(
    mall: &serde_json::Value,
    tables: &Path,
    ids: &[i64],
    seg: &[i64],
    conf: &[[u64; 6]],
    shown: &[serde_json::Value],
) {
    use segmenta::profile::basket::BasketParams;
    use segmenta::profile::inputs::{basket_report, IdIndex};
    let labels: Vec<i32> = seg.iter().map(|&s| s as i32).collect();
    let seg_ids: Vec<i32> = (0..6).collect();
    let seg_pos: std::collections::HashMap<i32, usize> = (0..6).map(|s| (s, s as usize)).collect();
    let index = IdIndex::new(&segmenta::io::Ids::Int(ids.to_vec()));
    let params = BasketParams {
        top: usize::MAX,
        ..BasketParams::default()
    };
    let r = basket_report(
        &tables.join("transactions"),
        &index,
        &labels,
        &seg_ids,
        &seg_pos,
        &params,
        None,
    )
    .unwrap()
    .unwrap();
    let personas: Vec<&str> = mall["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .collect();
    let planted: Vec<(usize, Vec<String>)> = mall["affinities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let name = a["persona"].as_str().unwrap();
            let products = a["products"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_string())
                .collect();
            (personas.iter().position(|p| *p == name).unwrap(), products)
        })
        .collect();
    assert_eq!(planted.len(), 5, "five personas have a planted bundle");
    let mut checked = 0;
    for (pi, row) in conf.iter().enumerate() {
        let s = (0..6).max_by_key(|&s| row[s]).unwrap();
        let in_seg: u64 = conf.iter().map(|r| r[s]).sum();
        let purity = row[s] as f64 / in_seg as f64;
        if purity < 0.6 {
            eprintln!(
                "{}: its segment {s} is only {purity:.2} of it: not checked",
                personas[pi]
            );
            continue;
        }
        let rules = &r.segments[s].rules;
        let bundle = planted.iter().find(|(p, _)| *p == pi).map(|(_, b)| b);
        let strong: Vec<_> = rules.iter().filter(|x| x.lift >= 1.5).collect();
        match bundle {
            Some(b) => {
                for (i, x) in b.iter().enumerate() {
                    for y in &b[i + 1..] {
                        let found = strong.iter().any(|r| {
                            (r.antecedent == [x.clone()] && &r.consequent == y)
                                || (r.antecedent == [y.clone()] && &r.consequent == x)
                        });
                        assert!(found, "{}: planted {x} + {y} is no rule with lift >= 1.5 in segment {s}: {rules:?}", personas[pi]);
                    }
                }
                // The profile's own rules (its ten best by lift) show the bundle.
                let shown_rules = shown[s]["rules"].as_array().unwrap();
                assert!(
                    shown_rules
                        .iter()
                        .any(|r| b.iter().any(|i| *i == r["consequent"])),
                    "{}: {shown_rules:?}",
                    personas[pi]
                );
            }
            None => eprintln!(
                "{}: no bundle planted; {} strong rules (other personas' bundles)",
                personas[pi],
                strong.len()
            ),
        }
        // No strong rule joins products that no persona buys together (a bundle of
        // another persona shows where some of its customers share the segment).
        for r in &strong {
            let items: Vec<&String> = r.antecedent.iter().chain([&r.consequent]).collect();
            assert!(
                planted
                    .iter()
                    .any(|(_, b)| items.iter().all(|i| b.contains(i))),
                "{} (segment {s}): unplanted rule {r:?}",
                personas[pi]
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 5,
        "only {checked} personas had a segment of their own"
    );
}

#[test]
fn stray_timestamps_do_not_move_the_as_of_date() {
    let d = tempdir();
    let mall = d.path().join("mall");
    generate(&mall, "5000", &[], &[]);
    let m = read_json(&mall.join("mall.json"));
    let planted = m["dirt"]["transactions_out_of_window"].as_u64().unwrap();
    assert!(
        planted > 0,
        "no stray timestamp planted: the test proves nothing"
    );
    let out = d.path().join("feat");
    let o = segmenta(&[
        "features",
        "--transactions",
        p(&mall.join("transactions.parquet")),
        "-o",
        p(&out),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let f = read_json(&out.join("features.json"));
    assert_eq!(f["as_of"], m["window_end"], "{}", f["as_of_source"]);
    assert_eq!(f["since"], m["window_start"], "{}", f["since_source"]);
    assert!(f["as_of_source"].as_str().unwrap().starts_with("estimated"));
    assert_eq!(rejected(&f, "transactions", "ts_out_of_window"), planted);
}
