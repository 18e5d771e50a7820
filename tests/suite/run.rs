//! `segmenta demo`, `run` and `report`: the manifest, stage reuse, the report in a
//! real headless Chromium, and a run on real data.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::util::*;

fn stages(run: &Path) -> Vec<serde_json::Value> {
    read_json(&run.join("run.json"))["stages"]
        .as_array()
        .unwrap()
        .clone()
}

fn reused(run: &Path) -> Vec<(String, bool)> {
    stages(run)
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["reused"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn demo(run: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "demo",
        "--customers",
        "4000",
        "--months",
        "3",
        "--k-range",
        "3..8",
        "--backend",
        "cpu",
        "-o",
        p(run),
        "-q",
    ];
    args.extend_from_slice(extra);
    segmenta(&args)
}

/// A small demo run, made once and shared by the tests that only read it.
fn shared_demo() -> &'static Path {
    static DIR: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &DIR.get_or_init(|| {
        let d = tempdir();
        let run = d.path().join("demo");
        let o = demo(&run, &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("report: "), "{}", stdout(&o));
        (d, run)
    })
    .1
}

#[test]
fn demo_writes_every_file_of_its_manifest() {
    let run = shared_demo();
    let m = read_json(&run.join("run.json"));
    assert_eq!(m["format"], "segmenta-run");
    // The features stage's customer buckets, as its features.json says.
    let f = read_json(&run.join("features/features.json"));
    assert!(m["partitions"].as_u64().unwrap() >= 1);
    assert_eq!(m["partitions"], f["partitions"]);
    assert!(m["versions"]["segmenta"].is_string());
    assert!(
        m["backend"].as_str().unwrap().starts_with("cpu"),
        "{}",
        m["backend"]
    );
    let names: Vec<String> = reused(run).into_iter().map(|x| x.0).collect();
    assert_eq!(
        names,
        ["generate", "features", "clean", "sweep", "kmeans", "lifetime", "profile", "report"]
    );
    for s in stages(run) {
        let outs = s["outputs"].as_array().unwrap();
        assert!(!outs.is_empty(), "{} wrote nothing", s["name"]);
        for o in outs {
            let path = Path::new(o["path"].as_str().unwrap());
            assert!(path.is_file(), "{} is missing", path.display());
            assert_eq!(
                std::fs::metadata(path).unwrap().len(),
                o["bytes"].as_u64().unwrap()
            );
        }
        if s["name"] != "report" {
            assert!(s["seconds"].as_f64().unwrap() > 0.0);
        }
        // Peak memory: the process's high-water mark when the stage ended, and
        // what the stage added to it (Linux; CI runs there).
        let peak = s["peak_rss_bytes"].as_u64().unwrap();
        assert!(peak > 1 << 20, "{}: peak {peak}", s["name"]);
        if s["name"] != "report" {
            assert!(s["peak_rss_growth_bytes"].as_u64().unwrap() <= peak);
        }
    }

    for f in [
        "features/features.parquet",
        "clean/clean.parquet",
        "clean/rejects.parquet",
        "sweep/sweep.json",
        "kmeans/model.json",
        "kmeans/assignments.parquet",
        "lifetime/customers.parquet",
        "lifetime/lifetime.json",
        "profile/profile.json",
        "report.html",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // Input records: the generated sources with their hashes.
    let feat = stages(run)
        .into_iter()
        .find(|s| s["name"] == "features")
        .unwrap();
    assert!(feat["inputs"].as_array().unwrap().iter().any(|i| i["path"]
        .as_str()
        .unwrap()
        .ends_with("transactions.parquet")
        && i["xxh64"].as_str().unwrap().len() == 16));
}

#[test]
fn rerun_reuses_and_a_changed_k_redoes_only_what_follows() {
    let d = tempdir();
    let run = d.path().join("demo");
    let o = demo(&run, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = read_json(&run.join("kmeans/model.json"));

    let o = demo(&run, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, r) in reused(&run) {
        assert_eq!(r, name != "report", "{name}: reused = {r}");
    }
    assert!(
        stdout(&o).contains("0 stage(s) run, 7 reused"),
        "{}",
        stdout(&o)
    );

    // A k other than the sweep's.
    let k2 = if first["kmeans"]["k"] == 4 { "3" } else { "4" };
    let o = demo(&run, &["--k", k2]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: std::collections::BTreeMap<String, bool> = reused(&run).into_iter().collect();
    assert!(r["generate"]);
    assert!(r["features"]);
    assert!(r["clean"]);
    assert!(!r["kmeans"]);
    assert!(!r["lifetime"]);
    assert!(!r["profile"]);
    assert!(!r.contains_key("sweep"), "a given k needs no sweep");
    assert_eq!(
        read_json(&run.join("kmeans/model.json"))["kmeans"]["k"].to_string(),
        k2
    );

    // --force redoes everything.
    let o = demo(&run, &["--k", k2, "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(reused(&run).iter().all(|x| !x.1));
}

#[test]
fn interrupted_stage_is_redone_not_trusted() {
    let d = tempdir();
    let run = d.path().join("demo");
    assert!(demo(&run, &["--k", "3"]).status.success());
    // A damaged output (as a crash mid-copy would leave) makes its stage run again.
    std::fs::write(run.join("clean/clean.parquet"), b"PAR1 truncated").unwrap();
    let o = demo(&run, &["--k", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: std::collections::BTreeMap<String, bool> = reused(&run).into_iter().collect();
    assert!(r["features"]);
    assert!(!r["clean"]);
    assert!(
        r["kmeans"],
        "same clean output, same fingerprint downstream"
    );
    let leftovers: Vec<String> = files_in(&run.join("clean"))
        .into_iter()
        .filter(|f| f.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporaries left: {leftovers:?}");
}

#[test]
fn report_renders_as_markdown_and_json() {
    let run = shared_demo();
    let d = tempdir();
    let md = d.path().join("r.md");
    let o = segmenta(&[
        "report",
        "--run",
        p(run),
        "--format",
        "md",
        "-o",
        p(&md),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&md).unwrap();
    let prof = read_json(&run.join("profile/profile.json"));
    for s in prof["segments"].as_array().unwrap() {
        assert!(text.contains(s["persona"].as_str().unwrap()));
    }
    let js = d.path().join("r.json");
    let o = segmenta(&[
        "report",
        "--run",
        p(run),
        "--format",
        "json",
        "-o",
        p(&js),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = read_json(&js);
    assert_eq!(v["format"], "segmenta-report");
    assert!(v["pca"]["points"].as_array().unwrap().len() >= 1000);
    let o = segmenta(&["report", "--run", p(&d.path().join("nope"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("profile.json"), "{}", stderr(&o));
}

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(o) = Command::new("which").arg(name).output() {
            if o.status.success() {
                return Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
            }
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no chromium: .ci/run installs it");
    }
    eprintln!("SKIPPED report_in_headless_chromium: no chromium on PATH (CI installs it)");
    None
}

#[test]
fn report_in_headless_chromium() {
    let Some(chrome) = chromium() else { return };
    let run = shared_demo();
    let html = run.join("report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    for external in [
        "src=\"http",
        "href=\"http",
        "url(http",
        "<link",
        "<script",
        "@import",
    ] {
        assert!(
            !page.contains(external),
            "the report is self-contained: found {external}"
        );
    }
    let shot = root().join("target/report-screenshot.png");
    let _ = std::fs::create_dir_all(shot.parent().unwrap());
    let profile = tempdir();
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ];
    let dom = Command::new(&chrome)
        .args(common)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--dump-dom", &url])
        .output()
        .expect("chromium runs");
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let log = String::from_utf8_lossy(&dom.stderr);
    for bad in ["Uncaught", "ERROR:CONSOLE", "Failed to load", "net::ERR_"] {
        assert!(!log.contains(bad), "console error `{bad}`:\n{log}");
    }
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    // Every plot is a non-empty SVG.
    let svgs: Vec<&str> = dom
        .split("<svg")
        .skip(1)
        .map(|s| s.split("</svg>").next().unwrap())
        .collect();
    assert!(svgs.len() >= 7, "{} plots", svgs.len());
    for s in &svgs {
        assert!(
            s.contains("<rect") || s.contains("<circle") || s.contains("<polyline"),
            "an empty plot: {}",
            &s[..s.len().min(200)]
        );
    }
    // Every persona has a card.
    let prof = read_json(&run.join("profile/profile.json"));
    let segs = prof["segments"].as_array().unwrap();
    assert_eq!(dom.matches("class=\"persona-card\"").count(), segs.len());
    for s in segs {
        let name = s["persona"].as_str().unwrap().replace('&', "&amp;");
        assert!(dom.contains(&name), "no card for {name}");
    }
    let profile2 = tempdir();
    let o = Command::new(&chrome)
        .args(common)
        .arg(format!("--user-data-dir={}", profile2.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .args(["--window-size=1280,6000", &url])
        .output()
        .expect("chromium runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "screenshot {}",
        shot.display()
    );
    eprintln!("report screenshot: {}", shot.display());
}

#[test]
fn run_on_online_retail_with_a_mapped_schema() {
    let Some(path) = shared("online_retail.csv.gz") else {
        return;
    };
    let d = tempdir();
    let run = d.path().join("run");
    let run_k = |k: &str| {
        segmenta(&[
            "run",
            "-i",
            p(&path),
            "--map",
            "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo,product=StockCode",
            "--as-of",
            "2011-12-10",
            "--k",
            k,
            "--backend",
            "cpu",
            "-o",
            p(&run),
            "-q",
        ])
    };
    let o = run_k("4");
    assert!(o.status.success(), "{}", stderr(&o));
    let prof = read_json(&run.join("profile/profile.json"));
    let schema = read_json(&root().join("docs/profile.schema.json"));
    assert_eq!(schema_errors(&schema, &prof), Vec::<String>::new());
    let segs = prof["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 4);
    let mut names: Vec<&str> = segs
        .iter()
        .map(|s| s["persona"].as_str().unwrap())
        .collect();
    eprintln!("Online Retail personas: {names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 4, "names are unique");
    // Baskets are invoices, items the StockCodes: every segment has rules, and the
    // report names the products by their descriptions.
    let b = &prof["basket"];
    assert_eq!(
        (b["item"].as_str(), b["basket"].as_str()),
        (Some("product"), Some("an invoice"))
    );
    assert!(b["items"].as_u64().unwrap() > 3000, "{}", b["items"]);
    for s in b["segments"].as_array().unwrap() {
        let rules = s["rules"].as_array().unwrap();
        eprintln!(
            "segment {}: {} baskets, {} rules, first {}",
            s["segment"],
            s["baskets"],
            rules.len(),
            rules.first().unwrap_or(&serde_json::Value::Null)
        );
        assert!(!rules.is_empty(), "segment {} has no rule", s["segment"]);
    }
    let html = std::fs::read_to_string(run.join("report.html")).unwrap();
    assert!(
        html.contains("WHITE HANGING HEART T-LIGHT HOLDER"),
        "descriptions in the report"
    );
    // Every segment is named by the RFM map, none is a micro-segment, and each has
    // its bootstrap stability.
    for s in segs {
        assert_eq!(s["naming"], "rfm", "{}", s["persona"]);
        assert_eq!(s["micro"], false, "{}", s["persona"]);
        let j = s["stability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&j), "{j}");
        for t in s["traits"].as_array().unwrap() {
            let t = t.as_str().unwrap();
            assert!(!t.contains("(+0.0σ)") && !t.contains("(-0.0σ)"), "{t}");
        }
    }
    // The partition agrees with scikit-learn's KMeans(n_init=10) on the same net
    // features, log1p, standard scaling and the same inliers
    // (tests/oracle/retail_net_oracle.py).
    let exp = read_json(&root().join("tests/oracle/retail_net_expected.json"));
    let labels = exp["kmeans_k4"]["labels"].as_object().unwrap();
    let ids = read_i64(&run.join("kmeans/assignments.parquet"), "customer_id");
    let seg = read_i64(&run.join("kmeans/assignments.parquet"), "segment");
    let theirs: Vec<i64> = ids
        .iter()
        .map(|i| labels[&i.to_string()].as_i64().unwrap())
        .collect();
    let ari = segmenta::metrics::adjusted_rand_index(&theirs, &seg);
    eprintln!("Online Retail k=4: ARI {ari:.4} against scikit-learn");
    assert!(ari >= 0.9, "ARI {ari}");
    let clean = read_json(&run.join("clean/clean.json"));
    assert_eq!(clean["rows_flagged"], exp["kmeans_k4"]["flagged"]);
    assert_eq!(clean["rows_rejected"], 0);

    // --k auto: no segment under 1% of customers, every one with a rule-based name.
    let o = run_k("auto");
    assert!(o.status.success(), "{}", stderr(&o));
    let prof = read_json(&run.join("profile/profile.json"));
    for s in prof["segments"].as_array().unwrap() {
        assert!(s["share"].as_f64().unwrap() >= 0.01, "{s}");
        assert_eq!(s["micro"], false);
        assert_eq!(s["naming"], "rfm", "{}", s["persona"]);
    }
}

#[test]
fn run_names_a_missing_input_and_a_bad_k() {
    let d = tempdir();
    let missing = d.path().join("no-such-folder");
    let o = segmenta(&["run", "-i", p(&missing), "-o", p(&d.path().join("r"))]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no-such-folder"), "{}", stderr(&o));
    assert!(
        !d.path().join("r/run.json").exists(),
        "nothing written for a bad input"
    );

    let run = shared_demo();
    let o = segmenta(&[
        "run",
        "-i",
        p(&run.join("sources")),
        "-o",
        p(&d.path().join("r2")),
        "--k",
        "many",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--k `many`"), "{}", stderr(&o));
}
