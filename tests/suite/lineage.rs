//! A run folder is one lineage (issue 38): a folder assembled from two runs, an
//! update from another dataset, and a migration backwards or between unrelated
//! runs are refused with one line naming the files, where they used to exit 0.

use std::path::{Path, PathBuf};

use super::util::*;

const COMMON: [&str; 5] = ["--backend", "cpu", "--stability-resamples", "0", "-q"];

fn ok(args: &[&str]) {
    let o = segmenta(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
}

/// A one-line refusal whose text holds every one of `want`.
fn refused(args: &[&str], want: &[&str]) {
    let o = segmenta(args);
    let e = stderr(&o);
    assert!(!o.status.success(), "{args:?} exited 0");
    assert_eq!(e.trim().lines().count(), 1, "{args:?}: {e}");
    for w in want {
        assert!(e.contains(w), "{args:?}: wanted {w:?} in {e}");
    }
}

/// `update --previous PREV -i SRC -o OUT` with the common flags.
fn update<'a>(prev: &'a Path, src: &'a Path, out: &'a Path) -> Vec<&'a str> {
    let mut a = vec!["update", "--previous", p(prev), "-i", p(src), "-o", p(out)];
    a.extend_from_slice(&COMMON);
    a
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

fn replace_stage(run: &Path, from: &Path, stage: &str) {
    std::fs::remove_dir_all(run.join(stage)).unwrap();
    copy_dir(&from.join(stage), &run.join(stage));
}

/// A small mall cut at 2025-06-01 and whole (seed 7), and runs: `a` (k 4) and
/// `b` (k 6) of the cut, `c` of another mall (seed 8), `u` an update of `a`.
struct Runs {
    _dir: tempfile::TempDir,
    root: PathBuf,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
    u: PathBuf,
    next: PathBuf,
}

fn runs() -> Runs {
    let dir = tempdir();
    let root = dir.path().to_path_buf();
    let g = |out: &Path, seed: &str, cut: Option<&str>| {
        let mut a = vec!["generate", "--customers", "3000", "--months", "7"];
        a.extend_from_slice(&["--seed", seed, "-o", p(out), "-q"]);
        if let Some(c) = cut {
            a.extend_from_slice(&["--cut", c]);
        }
        ok(&a);
    };
    let (m1, m2, other) = (root.join("m1"), root.join("m2"), root.join("other"));
    g(&m1, "7", Some("2025-06-01"));
    g(&m2, "7", None);
    g(&other, "8", Some("2025-06-01"));
    let run = |src: &Path, out: &Path, k: &str| {
        let mut a = vec!["run", "-i", p(src), "-o", p(out), "--k", k];
        a.extend_from_slice(&COMMON);
        ok(&a);
    };
    let (a, b, c) = (root.join("a"), root.join("b"), root.join("c"));
    run(&m1, &a, "4");
    run(&m1, &b, "6");
    run(&other, &c, "4");
    let u = root.join("u");
    ok(&update(&a, &m2, &u));
    Runs {
        _dir: dir,
        root: root.clone(),
        a,
        b,
        c,
        u,
        next: m2,
    }
}

#[test]
fn mixed_folders_updates_from_elsewhere_and_migrations_backwards_are_refused() {
    let r = runs();
    // Whole runs pass the check.
    ok(&[
        "report",
        "-i",
        p(&r.a),
        "-o",
        p(&r.root.join("a.html")),
        "-q",
    ]);
    ok(&[
        "report",
        "-i",
        p(&r.u),
        "-o",
        p(&r.root.join("u.html")),
        "-q",
    ]);

    // 1. The model of another fit (a kill between kmeans and profile of a rerun
    // with another k leaves the same state).
    let mixed = r.root.join("mixed-kmeans");
    copy_dir(&r.a, &mixed);
    replace_stage(&mixed, &r.b, "kmeans");
    let html = r.root.join("x.html");
    refused(
        &["report", "-i", p(&mixed), "-o", p(&html), "-q"],
        &["lifetime.json", "model.json", "one lineage"],
    );
    assert!(!html.exists());
    let out = r.root.join("u-mixed");
    refused(
        &update(&mixed, &r.next, &out),
        &["model.json", "one lineage"],
    );
    assert!(!out.join("kmeans").exists());

    // 2. Features of another mall under this run's clean stage.
    let mixed = r.root.join("mixed-features");
    copy_dir(&r.a, &mixed);
    replace_stage(&mixed, &r.c, "features");
    refused(
        &["report", "-i", p(&mixed), "-o", p(&html), "-q"],
        &["clean.json", "features.parquet", "one lineage"],
    );
    refused(
        &update(&mixed, &r.next, &out),
        &["clean.json", "features.parquet"],
    );

    // 3. A profile of another fit beside this run's model.
    let mixed = r.root.join("mixed-profile");
    copy_dir(&r.a, &mixed);
    replace_stage(&mixed, &r.b, "profile");
    refused(
        &["report", "-i", p(&mixed), "-o", p(&html), "-q"],
        &["profile.json", "model.json"],
    );

    // 4. Migrations: backwards, between two fresh fits, between unrelated runs.
    let m = r.root.join("mig");
    refused(
        &[
            "migrate",
            "--previous",
            p(&r.u),
            "--run",
            p(&r.a),
            "-o",
            p(&m),
            "-q",
        ],
        &["model.json", "fresh fit"],
    );
    refused(
        &[
            "migrate",
            "--previous",
            p(&r.a),
            "--run",
            p(&r.b),
            "-o",
            p(&m),
            "-q",
        ],
        &["fresh fit"],
    );
    refused(
        &[
            "migrate",
            "--previous",
            p(&r.c),
            "--run",
            p(&r.u),
            "-o",
            p(&m),
            "-q",
        ],
        &["continues fit"],
    );
    assert!(!m.join("migration.json").exists());
    ok(&[
        "migrate",
        "--previous",
        p(&r.a),
        "--run",
        p(&r.u),
        "-o",
        p(&m),
        "-q",
    ]);
}

/// A transactions-only source of `n` customers numbered from `first`, spelled
/// with `width` digits (zero-padded when wider than the number).
fn tx_source(dir: &Path, first: u32, n: u32, width: usize, month: u32) {
    std::fs::create_dir_all(dir).unwrap();
    let mut s = String::from("customer_id,ts,amount\n");
    for i in 0..n {
        let id = first + i;
        for d in 0..(1 + i % 4) {
            let m = 1 + (d + i) % month;
            s.push_str(&format!(
                "{id:0width$},2025-{m:02}-{:02},{}\n",
                1 + (i * 7 + d) % 27,
                5 + (i * 13 + d * 3) % 90
            ));
        }
    }
    std::fs::write(dir.join("transactions.csv"), s).unwrap();
}

#[test]
fn an_update_from_other_customers_or_ids_is_refused() {
    let dir = tempdir();
    let d = dir.path();
    let prev = d.join("prev");
    tx_source(&d.join("s1"), 1, 300, 1, 5);
    let (s1, s2, s3) = (d.join("s1"), d.join("s2"), d.join("s3"));
    let mut a = vec!["run", "-i", p(&s1), "-o", p(&prev), "--k", "3"];
    a.extend_from_slice(&COMMON);
    ok(&a);

    // Other customers (ids 5001…): none of the previous reappear.
    tx_source(&d.join("s2"), 5001, 300, 1, 6);
    let out = d.join("u2");
    let mut a = update(&prev, &s2, &out);
    refused(
        &a,
        &[
            "--min-overlap",
            "only 0 of the previous run's 300 customers",
        ],
    );
    assert!(!out.join("kmeans").exists());
    // The flag says to proceed anyway.
    a.extend_from_slice(&["--min-overlap", "0"]);
    ok(&a);

    // Another kind of sources: a table the previous run did not read.
    let s4 = d.join("s4");
    tx_source(&s4, 1, 300, 1, 6);
    std::fs::write(
        s4.join("visits.csv"),
        "customer_id,entered_at,left_at\n1,2025-01-05 10:00:00,2025-01-05 11:00:00\n",
    )
    .unwrap();
    let out = d.join("u4");
    let a = update(&prev, &s4, &out);
    refused(
        &a,
        &["--input", "transactions, visits", "read transactions"],
    );

    // The same customers with zero-padded ids (`00001`): text, not integers.
    tx_source(&d.join("s3"), 1, 300, 5, 6);
    let out = d.join("u3");
    let a = update(&prev, &s3, &out);
    refused(&a, &["customer ids are text", "\"00001\"", "integer"]);
}

/// `kill -9` anywhere in a rerun of `update` with another k leaves a folder that
/// either passes the lineage check, whole and of one fit, or is refused by it.
#[test]
fn a_killed_update_rerun_is_whole_or_refused() {
    let r = runs();
    let pristine = r.root.join("u-pristine");
    copy_dir(&r.u, &pristine);
    let rerun = |out: &Path| {
        let mut a = update(&r.a, &r.next, out);
        a.extend_from_slice(&["--k", "6"]);
        a.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    // How long a whole rerun takes here (in a copy, as each killed one runs).
    let timed = r.root.join("u-timed");
    copy_dir(&pristine, &timed);
    let t = std::time::Instant::now();
    let args = rerun(&timed);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let whole = t.elapsed();
    let (mut passed, mut refusals) = (0, 0);
    // Temporary files live under the output folder, never in $TMPDIR.
    let tmpdir = r.root.join("tmpdir");
    std::fs::create_dir_all(&tmpdir).unwrap();
    for i in 1..=8u32 {
        let u = r.root.join(format!("u-kill-{i}"));
        copy_dir(&pristine, &u);
        let mut child = std::process::Command::new(super::util::bin())
            .args(rerun(&u))
            .env("TMPDIR", &tmpdir)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * i / 9);
        let _ = child.kill();
        let _ = child.wait();
        let html = r.root.join(format!("kill-{i}.html"));
        let o = segmenta(&["report", "-i", p(&u), "-o", p(&html), "-q"]);
        if o.status.success() {
            passed += 1;
            // Whole: every stage of one fit.
            let model = read_json(&u.join("kmeans/model.json"));
            let fit = model["fit_id"].as_str().unwrap().to_string();
            for f in ["profile/profile.json", "lifetime/lifetime.json"] {
                assert_eq!(
                    read_json(&u.join(f))["fit_id"],
                    fit.as_str(),
                    "kill {i}: {f}"
                );
            }
            let k = model["kmeans"]["k"].as_u64().unwrap();
            eprintln!(
                "kill {i} after {:?} of {whole:?}: whole, k = {k}",
                whole * i / 9
            );
            let segs = read_json(&u.join("profile/profile.json"))["segments"]
                .as_array()
                .unwrap()
                .len() as u64;
            assert!(segs <= k, "kill {i}: {segs} profiled segments, k {k}");
        } else {
            refusals += 1;
            let e = stderr(&o);
            assert_eq!(e.trim().lines().count(), 1, "kill {i}: {e}");
            assert!(
                e.contains("one lineage") || e.contains("no profile"),
                "kill {i}: {e}"
            );
            assert!(!html.exists());
        }
    }
    assert_eq!(files_in(&tmpdir), Vec::<String>::new(), "left in $TMPDIR");
    eprintln!("kill -9 in an update rerun: {passed} whole, {refusals} refused");
    assert_eq!(passed + refusals, 8);
}
