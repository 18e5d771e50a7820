//! The partition seam (issue 32): the features stage splits customers into buckets
//! by a hash of their id and works one bucket at a time; its outputs must not
//! depend on how many buckets there are.

use std::path::Path;

use super::util::*;

/// Every Parquet file under `dir` (relative path, bytes), sorted by path.
fn parquet_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// `features.json` without what may differ between two equal runs: the timings,
/// the bucket count, and the output paths.
fn report_without_timings(dir: &Path) -> serde_json::Value {
    let mut f = read_json(&dir.join("features.json"));
    let o = f.as_object_mut().unwrap();
    o.remove("timings");
    o.remove("partitions");
    for s in o["sources"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("kept_file");
        s.remove("rejects_file");
    }
    f
}

/// Runs `features` with `args` into `a` with one bucket, and into each folder of
/// `others` with its number of buckets and the smallest budget (`--memory-mib
/// 64`), and checks that every output is the same, byte for byte.
fn assert_same_outputs(args: &[&str], a: &Path, others: &[(&Path, &str)]) {
    let runs = std::iter::once((a, "1", "4096")).chain(others.iter().map(|&(d, p_)| (d, p_, "64")));
    for (out, p_, mib) in runs {
        let mut full = vec!["features"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--partitions", p_, "--memory-mib", mib, "-o", p(out), "-q"]);
        let o = segmenta(&full);
        assert!(o.status.success(), "--partitions {p_}: {}", stderr(&o));
    }
    assert_eq!(read_json(&a.join("features.json"))["partitions"], 1);
    let fa = parquet_files(a);
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert!(names(&fa).contains(&"features.parquet".to_string()));
    for &(b, buckets) in others {
        assert_eq!(
            read_json(&b.join("features.json"))["partitions"].to_string(),
            buckets
        );
        let fb = parquet_files(b);
        assert_eq!(names(&fa), names(&fb));
        for ((name, x), (_, y)) in fa.iter().zip(&fb) {
            assert!(x == y, "{name} differs between 1 and {buckets} buckets");
        }
        assert_eq!(report_without_timings(a), report_without_timings(b));
    }
}

/// A generated mall of 3,000 customers in `dir/mall`.
fn small_mall(dir: &Path) -> std::path::PathBuf {
    let mall = dir.join("mall");
    let o = segmenta(&[
        "generate",
        "--customers",
        "3000",
        "--seed",
        "11",
        "-o",
        p(&mall),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    mall
}

/// The generated mall, with its planted dirt (duplicate lines, unknown and
/// duplicate customers, absurd amounts, exits before entries) and returns: 16
/// buckets give the bytes of one.
#[test]
fn features_do_not_depend_on_the_bucket_count_on_the_mall() {
    let d = tempdir();
    let mall = small_mall(d.path());
    let (a, b) = (d.path().join("p1"), d.path().join("p16"));
    assert_same_outputs(&["-i", p(&mall)], &a, &[(&b, "16")]);
    let f = read_json(&a.join("features.json"));
    // The dirt was found in buckets as it is in one: something was rejected for
    // each kind the generator plants in transactions.
    let tx = f["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "transactions")
        .unwrap();
    for reason in ["duplicate_line", "unknown_customer"] {
        assert!(
            tx["rejected"][reason].as_u64().unwrap_or(0) > 0,
            "{reason}: {}",
            tx["rejected"]
        );
    }
    assert!(f["returns"]["matched"].as_u64().unwrap() > 0);
}

/// Online Retail (text timestamps, a mapped schema, C… returns, 5,225 duplicate
/// lines, rows without a customer): 16 buckets in the smallest budget give the
/// bytes of one.
#[test]
fn features_do_not_depend_on_the_bucket_count_on_online_retail() {
    let Some(src) = shared("online_retail.csv.gz") else {
        return;
    };
    let d = tempdir();
    let (a, b) = (d.path().join("p1"), d.path().join("p16"));
    assert_same_outputs(
        &[
            "--transactions",
            p(&src),
            "--map",
            "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo",
        ],
        &a,
        &[(&b, "16")],
    );
}

/// The kept tables in 8 files a table (`--table-parts 8`): one bucket writes
/// them all; 3 buckets own some files and share the two that straddle their
/// hash ranges; 16 buckets share every file. All give the same bytes, and every
/// customer's rows are in one file.
#[test]
fn kept_table_files_do_not_depend_on_the_bucket_count() {
    let d = tempdir();
    let mall = small_mall(d.path());
    let dirs: Vec<_> = ["p1", "p3", "p16"]
        .iter()
        .map(|n| d.path().join(n))
        .collect();
    assert_same_outputs(
        &["-i", p(&mall), "--table-parts", "8"],
        &dirs[0],
        &[(&dirs[1], "3"), (&dirs[2], "16")],
    );
    assert_eq!(read_json(&dirs[0].join("features.json"))["table_parts"], 8);
    let tx = dirs[0].join("tables/transactions");
    let mut owner = std::collections::HashMap::new();
    let mut rows = 0;
    for s in 0..8 {
        let f = tx.join(format!("part-{s:04}.parquet"));
        let ids = read_i64(&f, "customer_id");
        assert!(!ids.is_empty(), "{} is empty", f.display());
        rows += ids.len();
        for id in ids {
            assert_eq!(
                *owner.entry(id).or_insert(s),
                s,
                "customer {id} in two files"
            );
        }
    }
    let f = read_json(&dirs[0].join("features.json"));
    let kept = f["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "transactions")
        .unwrap()["rows_kept"]
        .as_u64()
        .unwrap();
    assert_eq!(rows as u64, kept);
}

/// A budget too small for one bucket stops before anything is written, with one
/// line that names `--memory-mib`, what a bucket needs and the flags that fit.
#[test]
fn a_budget_too_small_for_one_bucket_is_one_line() {
    let d = tempdir();
    let mall = small_mall(d.path());
    let out = d.path().join("f");
    let o = segmenta(&[
        "features",
        "-i",
        p(&mall),
        "--partitions",
        "1",
        "--memory-mib",
        "64",
        "-o",
        p(&out),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("--memory-mib")
            && e.contains("64 MiB is too small for one bucket of 1")
            && e.contains("rule: --memory-mib ")
            && e.contains("or --partitions "),
        "{e}"
    );
    assert!(!out.join("features.parquet").exists());
}

#[test]
fn partitions_must_be_at_least_one() {
    let d = tempdir();
    let o = segmenta(&[
        "features",
        "-i",
        p(&fixture("blobs_5k.parquet")),
        "--partitions",
        "0",
        "-o",
        p(d.path()),
    ]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("--partitions") && e.contains("rule: 1 to"),
        "{e}"
    );
    assert_eq!(e.trim().lines().count(), 1, "{e}");
}

/// The bucket files live under the output folder, never in `$TMPDIR`, and are gone
/// when the stage ends; a scratch folder a killed run left is removed at the next
/// start.
#[test]
fn scratch_files_stay_under_the_output_folder() {
    let d = tempdir();
    let mall = small_mall(d.path());
    let (out, tmp) = (d.path().join("f"), d.path().join("tmp"));
    std::fs::create_dir_all(out.join(".segmenta-tmp-killed")).unwrap();
    std::fs::write(out.join(".segmenta-tmp-killed/part-0000.parquet"), b"x").unwrap();
    std::fs::create_dir_all(&tmp).unwrap();
    let o = segmenta_env(
        &[
            "features",
            "-i",
            p(&mall),
            "--partitions",
            "4",
            "-o",
            p(&out),
            "-q",
        ],
        &[("TMPDIR", p(&tmp))],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "$TMPDIR was used"
    );
    let left: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".segmenta-tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(out.join("features.parquet").exists());
}
