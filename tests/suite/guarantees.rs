//! The guarantees of the README's "Guarantees" section, one test per finding of the
//! adversarial probe (issue 14): no panic on any argument, numeric CSV cells read as
//! numbers or named, a read-only `--sql`, options that are neither dropped nor
//! doubled, artefacts that must belong together, outputs that appear together, one
//! writer per folder, byte-identical reruns, and messages that say what is wrong.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array};

use super::util::*;

/// Damages a model's JSON.
type Edit = fn(&mut serde_json::Value);
/// A fuzz entry point.
type Target = fn(&[u8]);

/// Exit 1 with one `segmenta: error:` line holding every needle.
fn fails(o: &Output, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {err}");
    }
    err
}

fn ok(o: &Output) {
    assert!(o.status.success(), "{}", stderr(o));
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A small generated mall (sources folder).
fn mall(dir: &Path, customers: &str) -> PathBuf {
    let m = dir.join("mall");
    ok(&segmenta(&[
        "generate",
        "--customers",
        customers,
        "-o",
        p(&m),
        "-q",
    ]));
    m
}

fn kmeans(input: &Path, out: &Path, k: &str, extra: &[&str]) -> Output {
    let mut a = vec![
        "kmeans",
        "-i",
        p(input),
        "-o",
        p(out),
        "-k",
        k,
        "--stability-resamples",
        "0",
        "-q",
    ];
    a.extend_from_slice(extra);
    segmenta(&a)
}

// 1. No panic on any argument.

#[test]
fn bench_with_zero_features_is_an_error_not_a_panic() {
    let o = segmenta(&["bench", "--d", "0", "--n", "100"]);
    fails(&o, &["--d", "at least 1"]);
}

/// Seeded random values (0, negative, huge, NaN, text) for the numeric flags of the
/// fitting commands: every run exits 0, 1 (an error) or 2 (clap), never panics.
#[test]
fn random_flag_values_never_panic() {
    let d = tempdir();
    let input = fixture("blobs_5k.parquet");
    let values = [
        "0",
        "1",
        "2",
        "-1",
        "3.5",
        "1e9",
        "18446744073709551615",
        "NaN",
        "inf",
        "",
        "x",
    ];
    let flags: [(&str, &[&str]); 4] = [
        (
            "kmeans",
            &[
                "-k",
                "--n-init",
                "--max-iter",
                "--tol",
                "--surrogate-depth",
                "--stability-sample",
                "--seed",
            ],
        ),
        ("dbscan", &["--eps", "--min-samples"]),
        (
            "sweep",
            &["--k-range", "--silhouette-sample", "--sweep-rows"],
        ),
        ("bench", &["--n", "--d", "--centers", "-k", "--iters"]),
    ];
    let mut rng = 12345u64;
    let mut next = |m: usize| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((rng >> 33) as usize) % m
    };
    for round in 0..60 {
        let (cmd, fl) = flags[round % flags.len()];
        let out = d.path().join(format!("o{round}"));
        let mut args: Vec<String> = vec![cmd.into()];
        if cmd == "bench" {
            args.extend(["--n".into(), "300".into()]);
        } else {
            args.extend(["-i".into(), p(&input).into(), "-o".into(), p(&out).into()]);
            args.extend(["--columns".into(), "f0,f1".into()]);
        }
        let flag = fl[next(fl.len())];
        let value = values[next(values.len())];
        args.extend([flag.into(), value.into()]);
        if cmd == "kmeans" && flag != "-k" {
            args.extend(["-k".into(), "3".into()]);
        }
        if cmd == "dbscan" && flag != "--eps" {
            args.extend(["--eps".into(), "auto".into()]);
        }
        args.extend(["--stability-resamples".into(), "0".into()]);
        if cmd == "bench" || cmd == "dbscan" || cmd == "sweep" {
            args.pop();
            args.pop();
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = segmenta(&refs);
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(0..=2)) && !err.contains("panicked"),
            "{refs:?}: {:?} {err}",
            o.status.code()
        );
    }
}

// 2. Numeric CSV cells.

#[test]
fn csv_missing_tokens_and_whitespace_are_read_not_turned_to_text() {
    let d = tempdir();
    let f = write(
        d.path(),
        "a.csv",
        "customer_id,x,y\n1,1.0, 2.5 \n2,NA,3\n3,2.0,N/A\n4,3.0,null\n5,1.5,4\n6,2.5,1\n",
    );
    // Missing cells are missing (named), not a reason to drop the column as text.
    let out = d.path().join("k");
    fails(
        &kmeans(&f, &out, "2", &[]),
        &["a.csv", "column `x`", "1 missing value"],
    );
    // `clean` imputes them; both columns stay features.
    let c = d.path().join("c");
    ok(&segmenta(&["clean", "-i", p(&f), "-o", p(&c), "-q"]));
    ok(&kmeans(&c.join("clean.parquet"), &out, "2", &[]));
    let m = read_json(&out.join("model.json"));
    assert_eq!(m["features"], serde_json::json!(["x", "y"]));
}

#[test]
fn csv_cell_that_is_not_a_number_is_named() {
    let d = tempdir();
    for (cell, shown) in [("1,5", "\"1,5\""), ("abc", "\"abc\"")] {
        let f = write(
            d.path(),
            "b.csv",
            &format!("customer_id,x,y\n1,1,2\n2,2,3\n3,\"{cell}\",4\n4,5,1\n"),
        );
        let o = kmeans(&f, &d.path().join("k"), "2", &[]);
        fails(
            &o,
            &["b.csv", "column `x`", "data row 3", shown, "not a number"],
        );
    }
    // Infinity parses, and is refused as not finite.
    let f = write(d.path(), "c.csv", "customer_id,x\n1,1\n2,Infinity\n3,2\n");
    fails(
        &kmeans(&f, &d.path().join("k"), "2", &[]),
        &["c.csv", "`x`", "NaN/Inf"],
    );
}

#[test]
fn csv_ids_are_trimmed() {
    let d = tempdir();
    let f = write(d.path(), "ids.csv", "customer_id,x\n 1,1\n1,2\n2,3\n3,4\n");
    let o = kmeans(&f, &d.path().join("k"), "2", &["--strict"]);
    fails(&o, &["ids.csv", "id 1", "data row 2"]);
}

/// Runs `features` on a one-table source folder holding `transactions.csv`; returns
/// `features.json`.
fn features_of(transactions: &str) -> serde_json::Value {
    let d = tempdir();
    let src = d.path().join("src");
    std::fs::create_dir(&src).unwrap();
    write(&src, "transactions.csv", transactions);
    let out = d.path().join("f");
    ok(&segmenta(&["features", "-i", p(&src), "-o", p(&out), "-q"]));
    read_json(&out.join("features.json"))
}

#[test]
fn features_trim_cells_and_read_missing_tokens() {
    let r = features_of(
        "customer_id,ts,amount,category\n 1,2025-01-02, 12.5 ,food\n1,2025-01-03,NA,food\n2,2025-01-02,7,fashion\n2 ,2025-01-05,8.25,food\n3,2025-01-04,3,food\n",
    );
    assert_eq!(r["customers"], 3, "` 1` and `1` are one customer: {r}");
    // The NA amount is a missing amount (a rule's reject), not a text column.
    let tx = &r["sources"][0];
    assert_eq!(tx["rows_in"], 5);
    assert_eq!(
        tx["rows_kept"].as_u64().unwrap() + tx["rows_rejected"].as_u64().unwrap(),
        5
    );
}

#[test]
fn features_read_a_quoted_newline_in_a_csv_field() {
    // Past 10 MB DataFusion used to split a CSV into ranges at newlines, and a
    // quoted newline then broke the file ("unequal lengths").
    let mut text = String::from("customer_id,ts,amount,description\n");
    let n = 220_000;
    for i in 0..n {
        text.push_str(&format!(
            "{},2025-01-{:02},{}.5,\"line one of item {i}\nline two\"\n",
            i % 5000,
            1 + i % 28,
            1 + i % 40
        ));
    }
    assert!(text.len() > 11_000_000);
    let r = features_of(&text);
    assert_eq!(r["customers"], 5000);
    assert_eq!(r["sources"][0]["rows_in"], n);
}

// 3. A read-only --sql with a checked result.

#[test]
fn feature_sql_is_one_read_only_query_with_one_row_per_customer() {
    let d = tempdir();
    let m = mall(d.path(), "500");
    let escape = d.path().join("escaped.csv");
    let cases = [
        (
            format!("COPY (SELECT 1 AS x) TO '{}'", p(&escape)),
            "read-only",
        ),
        ("CREATE TABLE t AS SELECT 1 AS x".to_string(), "read-only"),
        ("SELECT 1; SELECT 2".to_string(), "read-only"),
        ("SELECT 1 AS x".to_string(), "not `customer_id`"),
        (
            "SELECT customer_id, amount FROM transactions".to_string(),
            "more than once",
        ),
        (
            "SELECT customer_id, MAX(category) AS c FROM transactions GROUP BY customer_id"
                .to_string(),
            "not a number",
        ),
    ];
    for (i, (sql, needle)) in cases.iter().enumerate() {
        let f = write(d.path(), &format!("q{i}.sql"), sql);
        let out = d.path().join(format!("f{i}"));
        let o = segmenta(&["features", "-i", p(&m), "-o", p(&out), "--sql", p(&f), "-q"]);
        fails(&o, &[&format!("q{i}.sql"), needle]);
        assert!(!out.join("features.parquet").exists());
    }
    assert!(!escape.exists(), "COPY wrote outside --out");
}

// 4. Options neither dropped nor doubled.

#[test]
fn doubled_and_misapplied_options_are_errors() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let out = d.path().join("k");
    fails(
        &kmeans(&f, &out, "3", &["--columns", "f0,f1,f0"]),
        &["--columns", "`f0` is named twice"],
    );
    fails(
        &kmeans(&f, &out, "3", &["--columns", "f0", "--categorical", "f1"]),
        &["--categorical", "`f1`", "not a category"],
    );
    let ids = d.path().join("many.parquet");
    let n = 3000i64;
    write_parquet(
        &ids,
        vec![
            ("customer_id", Arc::new(Int64Array::from_iter_values(0..n))),
            (
                "x",
                Arc::new(Float64Array::from_iter_values((0..n).map(|i| i as f64))),
            ),
            ("code", Arc::new(Int64Array::from_iter_values(0..n))),
        ],
    );
    fails(
        &kmeans(&ids, &out, "3", &["--categorical", "code"]),
        &["--categorical", "3000 levels"],
    );
    let m = mall(d.path(), "300");
    for fmt in ["%Q-%m", "yyyy-mm-dd", "%Y-%"] {
        let o = segmenta(&[
            "features",
            "-i",
            p(&m),
            "-o",
            p(&out),
            "--ts-format",
            fmt,
            "-q",
        ]);
        fails(&o, &["--ts-format", "strftime"]);
    }
    let o = segmenta(&[
        "features",
        "-i",
        p(&m),
        "-o",
        p(&out),
        "--since",
        "2026-06-01",
        "--as-of",
        "2025-06-01",
        "-q",
    ]);
    fails(&o, &["--since", "before"]);
}

#[test]
fn empty_segments_are_reported() {
    let d = tempdir();
    let f = d.path().join("three.parquet");
    // Three distinct points, many times over: k = 5 leaves segments empty.
    let xs: Vec<f64> = (0..60).map(|i| (i % 3) as f64 * 10.0).collect();
    write_parquet(
        &f,
        vec![
            ("customer_id", Arc::new(Int64Array::from_iter_values(0..60))),
            ("x", Arc::new(Float64Array::from(xs))),
        ],
    );
    let out = d.path().join("k");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&f),
        "-o",
        p(&out),
        "-k",
        "5",
        "--stability-resamples",
        "0",
        "--surrogate-depth",
        "0",
    ]);
    ok(&o);
    assert!(
        stderr(&o).contains("segments ended empty"),
        "{}",
        stderr(&o)
    );
    let m = read_json(&out.join("model.json"));
    let w = m["warnings"].as_array().expect("warnings in model.json");
    assert!(w[0].as_str().unwrap().contains("ended empty"), "{w:?}");
}

// 5. Artefacts that must belong together.

fn clean_table(d: &Path) -> PathBuf {
    let m = mall(d, "1500");
    let f = d.join("f");
    ok(&segmenta(&["features", "-i", p(&m), "-o", p(&f), "-q"]));
    let c = d.join("c");
    ok(&segmenta(&[
        "clean",
        "-i",
        p(&f.join("features.parquet")),
        "-o",
        p(&c),
        "-q",
    ]));
    c.join("clean.parquet")
}

fn profile(table: &Path, assignments: &Path, model: &Path, out: &Path) -> Output {
    segmenta(&[
        "profile",
        "-i",
        p(table),
        "-a",
        p(assignments),
        "--model",
        p(model),
        "-o",
        p(out),
        "-q",
    ])
}

/// `profile` of the assignments of the fit in `assigned` with the model of the fit
/// in `modelled`.
fn profile_of(table: &Path, assigned: &Path, modelled: &Path, out: &Path) -> Output {
    profile(
        table,
        &assigned.join("assignments.parquet"),
        &modelled.join("model.json"),
        out,
    )
}

#[test]
fn profile_refuses_a_model_assignments_or_table_of_another_fit() {
    let d = tempdir();
    let t = clean_table(d.path());
    let (k4, k6) = (d.path().join("k4"), d.path().join("k6"));
    ok(&kmeans(&t, &k4, "4", &[]));
    ok(&kmeans(&t, &k6, "6", &[]));
    let out = d.path().join("p");
    ok(&profile_of(&t, &k4, &k4, &out));
    // k = 6 assignments with the k = 4 model.
    fails(
        &profile_of(&t, &k6, &k4, &out),
        &["model.json", "segment", "one fit"],
    );
    // A model fitted on other columns.
    let narrow = d.path().join("kn");
    ok(&kmeans(
        &t,
        &narrow,
        "4",
        &["--columns", "recency_days,monetary_total"],
    ));
    let small = d.path().join("small.parquet");
    let ids = read_i64(&t, "customer_id");
    write_parquet(
        &small,
        vec![
            ("customer_id", Arc::new(Int64Array::from(ids.clone()))),
            ("age", Arc::new(Float64Array::from(vec![30.0; ids.len()]))),
            (
                "visits_per_month",
                Arc::new(Float64Array::from_iter_values(
                    (0..ids.len()).map(|i| i as f64),
                )),
            ),
        ],
    );
    fails(
        &profile_of(&small, &narrow, &narrow, &out),
        &["model.json", "recency_days", "lacks"],
    );
    // Another fit's assignments whose segments the model has: only the fit id tells.
    let k4b = d.path().join("k4b");
    ok(&kmeans(
        &t,
        &k4b,
        "4",
        &["--columns", "recency_days,monetary_total,age"],
    ));
    fails(
        &profile_of(&t, &k4b, &k4, &out),
        &["model.json", "comes from fit", "one fit"],
    );
    // Duplicate ids with conflicting segments.
    let dup = d.path().join("dup.parquet");
    let mut dids = ids.clone();
    dids.push(ids[0]);
    let mut segs = read_i64(&k4.join("assignments.parquet"), "segment");
    segs.push((segs[0] + 1) % 4);
    write_parquet(
        &dup,
        vec![
            ("customer_id", Arc::new(Int64Array::from(dids))),
            ("segment", Arc::new(Int64Array::from(segs))),
        ],
    );
    fails(
        &profile(&t, &dup, &k4.join("model.json"), &out),
        &["dup.parquet", "one segment per customer"],
    );
}

#[test]
fn report_refuses_a_profile_of_another_fit() {
    let d = tempdir();
    let run = d.path().join("run");
    ok(&segmenta(&[
        "demo",
        "--customers",
        "1500",
        "--k",
        "4",
        "-o",
        p(&run),
        "-q",
    ]));
    // kmeans rerun by hand with k = 3 beside the 4-segment profile.
    let clean = run.join("clean").join("clean.parquet");
    ok(&kmeans(&clean, &run.join("kmeans"), "3", &[]));
    let o = segmenta(&["report", "-i", p(&run), "-q"]);
    fails(&o, &["lifetime.json", "model.json", "one lineage"]);
}

#[test]
fn predict_validates_model_values() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let k = d.path().join("k");
    ok(&kmeans(&f, &k, "3", &["--columns", "f0,f1"]));
    let good = read_json(&k.join("model.json"));
    let cases: [(&str, Edit, &str); 4] = [
        (
            "scale",
            |m| m["scaler"]["scale"][0] = serde_json::json!(0.0),
            "scale of `f0` is 0 (rule: finite and > 0)",
        ),
        (
            "centroid",
            |m| m["kmeans"]["centroids_scaled"][0][0] = serde_json::json!(1e39),
            "centroid 0 holds a value that is not finite",
        ),
        ("k", |m| m["kmeans"]["k"] = serde_json::json!(0), "k >= 1"),
        (
            "version",
            |m| m["version"] = serde_json::json!("1"),
            "`version` is \"1\", not a whole number",
        ),
    ];
    for (what, edit, rule) in cases {
        let mut m = good.clone();
        edit(&mut m);
        let mp = d.path().join(format!("{what}.json"));
        std::fs::write(&mp, serde_json::to_string(&m).unwrap()).unwrap();
        let o = segmenta(&[
            "predict",
            "-i",
            p(&f),
            "-m",
            p(&mp),
            "-o",
            p(&d.path().join("p.parquet")),
        ]);
        fails(&o, &[&format!("{what}.json"), rule]);
    }
}

#[test]
fn a_value_beyond_f32_is_named_as_such() {
    let d = tempdir();
    let f = d.path().join("big.parquet");
    write_parquet(
        &f,
        vec![
            ("customer_id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
            ("x", Arc::new(Float64Array::from(vec![1.0, 1e150, 2.0]))),
        ],
    );
    let o = kmeans(&f, &d.path().join("k"), "2", &[]);
    let err = fails(&o, &["big.parquet", "`x`", "data row 2", "32-bit float"]);
    assert!(!err.contains("NaN"), "{err}");
}

// 6. Outputs that appear together, and no leftovers.

/// Fits k = 4 into `out`, then refits k = 6 and dies after the first of the two
/// renames, leaving the commit's journal.
fn killed_refit(f: &Path, out: &Path) {
    ok(&kmeans(f, out, "4", &["--columns", "f0,f1,f2"]));
    let o = segmenta_env(
        &[
            "kmeans",
            "-i",
            p(f),
            "-o",
            p(out),
            "-k",
            "6",
            "--columns",
            "f0,f1,f2",
            "--stability-resamples",
            "0",
            "-q",
        ],
        &[("SEGMENTA_TEST_DIE_AFTER_RENAMES", "1")],
    );
    assert!(!o.status.success());
    assert!(out.join(segmenta::io::commit::JOURNAL_FILE).exists());
}

/// The folder holds the k = 6 fit whole: predict with its model agrees with its
/// assignments on every row, and the journal is gone.
fn assert_whole_k6(f: &Path, out: &Path, scratch: &Path) {
    let pred = scratch.join("pred.parquet");
    ok(&segmenta(&[
        "predict",
        "-i",
        p(f),
        "-m",
        p(&out.join("model.json")),
        "-o",
        p(&pred),
        "-q",
    ]));
    assert_eq!(read_json(&out.join("model.json"))["kmeans"]["k"], 6);
    assert_eq!(
        read_i64(&pred, "segment"),
        read_i64(&out.join("assignments.parquet"), "segment")
    );
    assert!(!out.join(segmenta::io::commit::JOURNAL_FILE).exists());
}

#[test]
fn a_kill_between_renames_is_finished_by_the_next_reader() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let out = d.path().join("k");
    killed_refit(&f, &out);
    // The next reader (predict, reading model.json) finishes the commit.
    assert_whole_k6(&f, &out, d.path());
}

#[test]
fn a_writer_to_the_parent_folder_finishes_a_killed_commit_below_it() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let out = d.path().join("work");
    let km = out.join("km");
    killed_refit(&f, &km);
    // A writer of the parent folder removes leftovers below it: it must finish the
    // commit first, not delete the temporaries the journal still names.
    ok(&kmeans(&f, &out, "2", &["--columns", "f0,f1"]));
    assert!(!km.join(segmenta::io::commit::JOURNAL_FILE).exists());
    assert_whole_k6(&f, &km, d.path());
}

#[test]
fn a_killed_runs_temporaries_are_removed_by_the_next_run() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let out = d.path().join("k");
    std::fs::create_dir_all(out.join("sub")).unwrap();
    std::fs::write(out.join(".segmenta-abc123.tmp"), vec![0u8; 1000]).unwrap();
    std::fs::write(out.join("sub/.segmenta-def456.tmp"), b"x").unwrap();
    ok(&kmeans(&f, &out, "3", &["--columns", "f0,f1"]));
    let mut left = files_in(&out);
    left.sort();
    assert_eq!(left, ["assignments.parquet", "model.json", "sub"]);
    assert!(files_in(&out.join("sub")).is_empty());
}

// 7. One writer per folder.

#[test]
fn a_second_writer_is_refused() {
    let d = tempdir();
    let f = fixture("blobs_5k.parquet");
    let out = d.path().join("k");
    // This test process holds the folder, as a running `segmenta` would.
    let lock = segmenta::io::commit::hold(&out).unwrap();
    let o = kmeans(&f, &out, "3", &["--columns", "f0,f1"]);
    fails(&o, &["another segmenta process is writing"]);
    let run = d.path().join("run");
    let rl = segmenta::io::commit::hold(&run).unwrap();
    let o = segmenta(&["demo", "--customers", "300", "-o", p(&run), "-q"]);
    fails(&o, &["another segmenta process is writing"]);
    drop((lock, rl));
    // Released: the same command now runs.
    ok(&kmeans(&f, &out, "3", &["--columns", "f0,f1"]));
}

// 8. Byte-identical reruns at the demo's size (two runs; rayon's thread count
// differs between them; DataFusion's partitions follow the machine's cores).

#[test]
fn reruns_at_200k_give_identical_parquet_bytes() {
    let d = tempdir();
    let m = mall(d.path(), "200000");
    let mut outs = Vec::new();
    for threads in ["1", "2"] {
        let f = d.path().join(format!("f{threads}"));
        let env = [("RAYON_NUM_THREADS", threads)];
        ok(&segmenta_env(
            &["features", "-i", p(&m), "-o", p(&f), "-q"],
            &env,
        ));
        let c = f.join("clean");
        ok(&segmenta_env(
            &[
                "clean",
                "-i",
                p(&f.join("features.parquet")),
                "-o",
                p(&c),
                "-q",
            ],
            &env,
        ));
        outs.push(f);
    }
    let mut rels: Vec<String> = [
        "features.parquet",
        "clean/clean.parquet",
        "clean/rejects.parquet",
        "rejects/transactions.parquet",
        "rejects/visits.parquet",
    ]
    .map(String::from)
    .to_vec();
    // The kept tables: every file of each.
    let parts = read_json(&outs[0].join("features.json"))["table_parts"]
        .as_u64()
        .unwrap();
    assert!(
        parts > 1,
        "the demo's mall is written in {parts} file(s) a table"
    );
    for t in ["transactions", "visits"] {
        rels.extend((0..parts).map(|s| format!("tables/{t}/part-{s:04}.parquet")));
    }
    for rel in &rels {
        let (a, b) = (outs[0].join(rel), outs[1].join(rel));
        assert!(a.exists(), "{rel}");
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "{rel} differs between runs"
        );
    }
    assert_eq!(rels.len() as u64, 5 + 2 * parts);
}

// 10. clean --outliers dbscan at the demo's size: fast, or refused up front.

#[test]
fn dbscan_outliers_are_refused_where_they_would_take_minutes() {
    let d = tempdir();
    let f = d.path().join("wide.parquet");
    let n = 30_000i64;
    let col = |s: u64| {
        let mut r = s;
        Float64Array::from_iter_values((0..n).map(move |_| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1);
            (r >> 11) as f64 / (1u64 << 53) as f64
        }))
    };
    write_parquet(
        &f,
        vec![
            ("customer_id", Arc::new(Int64Array::from_iter_values(0..n))),
            ("a", Arc::new(col(1))),
            ("b", Arc::new(col(2))),
            ("c", Arc::new(col(3))),
            ("e", Arc::new(col(4))),
            ("g", Arc::new(col(5))),
        ],
    );
    let out = d.path().join("c");
    let o = segmenta(&[
        "clean",
        "-i",
        p(&f),
        "-o",
        p(&out),
        "--outliers",
        "dbscan",
        "-q",
    ]);
    fails(
        &o,
        &["--outliers", "30000 rows x 5 columns", "--outlier-columns"],
    );
    let t = std::time::Instant::now();
    ok(&segmenta(&[
        "clean",
        "-i",
        p(&f),
        "-o",
        p(&out),
        "--outliers",
        "dbscan",
        "--outlier-columns",
        "a,b,c",
        "-q",
    ]));
    eprintln!(
        "dbscan outliers, 30k x 3: {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

// 1. The fuzz corpus, replayed: every reader gives an error or a value, never a panic.

#[test]
fn fuzz_corpus_replays_without_a_panic() {
    let targets: [(&str, Target); 3] = [
        ("csv", segmenta::fuzz::csv),
        ("parquet", segmenta::fuzz::parquet),
        ("model", segmenta::fuzz::model),
    ];
    for (name, target) in targets {
        let dir = root().join("fuzz/corpus").join(name);
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| target(&data));
            assert!(r.is_ok(), "{} panics the {name} reader", path.display());
            n += 1;
        }
        assert!(n >= 10, "{name}: only {n} corpus files");
    }
}
