//! The pipeline's seams: the profile reads the kept, mapped tables (so a mapped
//! source and the same data under canonical names give the same profile), bad
//! mappings fail before any work naming the file, column and rule, and `report`
//! renders a folder of stages run by hand.

use std::path::Path;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};

use super::util::*;

/// Copies `src` to `dst` with its columns renamed by `names` (old → new).
fn rename_columns(src: &Path, dst: &Path, names: &[(&str, &str)]) {
    let batches = read_batches(src);
    let schema = batches[0].schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let to = names
                .iter()
                .find(|(from, _)| from == f.name())
                .map_or(f.name().as_str(), |(_, to)| to);
            f.as_ref().clone().with_name(to)
        })
        .collect();
    let renamed = Arc::new(Schema::new(fields));
    let f = std::fs::File::create(dst).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, renamed.clone(), None).unwrap();
    for b in batches {
        w.write(&RecordBatch::try_new(renamed.clone(), b.columns().to_vec()).unwrap())
            .unwrap();
    }
    w.close().unwrap();
}

/// Generates a small mall into `dir`.
fn generate(dir: &Path, customers: &str, months: &str) {
    let o = segmenta(&[
        "generate",
        "--customers",
        customers,
        "--months",
        months,
        "-o",
        p(dir),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
}

fn run_k3(sources: &Path, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "run",
        "-i",
        p(sources),
        "-o",
        p(out),
        "-k",
        "3",
        "--backend",
        "cpu",
        "-q",
    ];
    args.extend_from_slice(extra);
    let o = segmenta(&args);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn a_mapped_source_gives_the_profile_of_the_canonical_one() {
    let d = tempdir();
    let canon = d.path().join("canon");
    generate(&canon, "1500", "3");
    let mapped = d.path().join("mapped");
    std::fs::create_dir_all(&mapped).unwrap();
    for e in std::fs::read_dir(&canon).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name != "transactions.parquet" {
            std::fs::copy(e.path(), mapped.join(&name)).unwrap();
        }
    }
    rename_columns(
        &canon.join("transactions.parquet"),
        &mapped.join("transactions.parquet"),
        &[
            ("customer_id", "Client"),
            ("ts", "When"),
            ("category", "Aisle"),
        ],
    );
    let (a, b) = (d.path().join("a"), d.path().join("b"));
    run_k3(&canon, &a, &[]);
    run_k3(
        &mapped,
        &b,
        &["--map", "customer_id=Client,ts=When,category=Aisle"],
    );
    let (pa, pb) = (
        read_json(&a.join("profile/profile.json")),
        read_json(&b.join("profile/profile.json")),
    );
    assert!(
        pa["basket"].is_object(),
        "the canonical run has basket rules"
    );
    assert!(pa["streaming"].is_object(), "and SHOPPING x STREAMING");
    for part in ["segments", "basket", "streaming", "population", "rows"] {
        assert_eq!(
            pa[part], pb[part],
            "{part} differs between mapped and canonical"
        );
    }
    // The kept tables are canonical whatever the source called its columns.
    let kept = read_batches(&b.join("features/tables/transactions"));
    let schema = kept[0].schema();
    for c in ["customer_id", "ts", "category", "amount"] {
        assert!(schema.index_of(c).is_ok(), "kept transactions lack {c}");
    }
    // Rows in = rows kept + rows rejected, and only kept rows are in the table.
    let f = read_json(&b.join("features/features.json"));
    let tx = f["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "transactions")
        .unwrap();
    let kept_rows: usize = kept.iter().map(|b| b.num_rows()).sum();
    assert_eq!(kept_rows as u64, tx["rows_kept"].as_u64().unwrap());
    assert!(
        tx["rows_rejected"].as_u64().unwrap() > 0,
        "the mall has planted dirt"
    );
}

fn retail_csv(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("retail.csv");
    std::fs::write(
        &path,
        "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n\
         536365,85123A,6,2010-12-01 08:26:00,2.55,17850,United Kingdom\n\
         536366,71053,6,2010-12-02 08:28:00,3.39,17851,France\n\
         536367,84406B,8,2010-12-03 08:34:00,2.75,17852,United Kingdom\n",
    )
    .unwrap();
    path
}

const BASE: &str = "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice";

#[test]
fn each_bad_mapping_fails_before_any_work_naming_it() {
    let d = tempdir();
    let csv = retail_csv(d.path());
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            format!("{BASE},categroy=StockCode"),
            vec!["categroy", "not a column of transactions", "category"],
        ),
        (
            format!("{BASE},region=Country"),
            vec!["region", "not a column of transactions"],
        ),
        (
            format!("{BASE},shops.store_id=Country"),
            vec!["shops", "not a canonical table"],
        ),
        (
            format!("{BASE},category=NoSuchColumn"),
            vec!["NoSuchColumn", "retail.csv"],
        ),
        (
            format!("{BASE},store_id=Country"),
            vec!["retail.csv", "store_id", "United Kingdom", "not an integer"],
        ),
        (
            format!("{BASE},amount=UnitPrice"),
            vec!["amount", "mapped twice"],
        ),
    ];
    for (i, (map, needles)) in cases.iter().enumerate() {
        let out = d.path().join(format!("run{i}"));
        let o = segmenta(&[
            "run",
            "-i",
            p(&csv),
            "--map",
            map,
            "-k",
            "2",
            "-o",
            p(&out),
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(1), "{map}: {}", stderr(&o));
        let err = stderr(&o);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        for n in needles {
            assert!(err.contains(n), "{map}: `{n}` not in: {err}");
        }
        assert!(
            !out.join("features/features.parquet").exists(),
            "{map}: no stage output after a bad mapping"
        );
    }
    let o = segmenta(&[
        "run",
        "-i",
        p(&csv),
        "--map",
        BASE,
        "--source",
        "shops=x.csv",
        "-k",
        "2",
        "-o",
        p(&d.path().join("src")),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`shops` is not a canonical table"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn report_renders_stages_run_by_hand() {
    let d = tempdir();
    let src = d.path().join("src");
    generate(&src, "800", "2");
    for nested in [false, true] {
        let root = d.path().join(if nested { "nested" } else { "flat" });
        let dir = |stage: &str| {
            if nested {
                root.join(stage)
            } else {
                root.clone()
            }
        };
        let steps: Vec<Vec<String>> = vec![
            vec![
                "features".into(),
                "-i".into(),
                p(&src).into(),
                "-o".into(),
                p(&dir("features")).into(),
            ],
            vec![
                "clean".into(),
                "-i".into(),
                p(&dir("features").join("features.parquet")).into(),
                "-o".into(),
                p(&dir("clean")).into(),
            ],
            vec![
                "kmeans".into(),
                "-i".into(),
                p(&dir("clean").join("clean.parquet")).into(),
                "-k".into(),
                "3".into(),
                "--backend".into(),
                "cpu".into(),
                "-o".into(),
                p(&dir("kmeans")).into(),
            ],
            vec![
                "profile".into(),
                "-i".into(),
                p(&dir("clean").join("clean.parquet")).into(),
                "-a".into(),
                p(&dir("kmeans").join("assignments.parquet")).into(),
                "--tables".into(),
                p(&dir("features").join("tables")).into(),
                "-o".into(),
                p(&dir("profile")).into(),
            ],
            vec!["report".into(), "-i".into(), p(&root).into()],
        ];
        for s in &steps {
            let mut args: Vec<&str> = s.iter().map(String::as_str).collect();
            args.push("-q");
            let o = segmenta(&args);
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        }
        let html = std::fs::read_to_string(root.join("report.html")).unwrap();
        let prof = read_json(&dir("profile").join("profile.json"));
        for s in prof["segments"].as_array().unwrap() {
            assert!(
                html.contains(s["persona"].as_str().unwrap()),
                "persona missing"
            );
        }
        assert!(
            html.contains("Customer rows:"),
            "the cleaning section is there"
        );
        assert!(html.contains("<svg"), "the plots are there");
        assert!(html.contains("k = 3 was given"), "the fit is found");
    }
}

fn stage_reused(run: &Path) -> Vec<(String, bool)> {
    read_json(&run.join("run.json"))["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["reused"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn an_edited_rules_file_redoes_its_stage_and_an_absent_table_leaves_nothing_stale() {
    let d = tempdir();
    let src = d.path().join("src");
    generate(&src, "1200", "2");
    let personas = d.path().join("personas.toml");
    let o = segmenta(&["profile", "--print-personas"]);
    std::fs::write(&personas, stdout(&o)).unwrap();
    let run = d.path().join("run");
    let args = ["--personas", p(&personas)];
    run_k3(&src, &run, &args);
    // The same path with new content: the profile is redone, nothing before it.
    let mut text = std::fs::read_to_string(&personas).unwrap();
    text.push_str("\n# edited\n");
    std::fs::write(&personas, text).unwrap();
    run_k3(&src, &run, &args);
    for (name, reused) in stage_reused(&run) {
        let want = !matches!(name.as_str(), "profile" | "report");
        assert_eq!(reused, want, "{name}: reused = {reused}");
    }
    // The same run folder on sources without a streaming table: the kept table of
    // the first run is gone and the profile has no streaming section.
    assert!(run
        .join("features/tables/streaming/part-0000.parquet")
        .is_file());
    std::fs::remove_file(src.join("streaming.parquet")).unwrap();
    run_k3(&src, &run, &args);
    assert!(
        !run.join("features/tables/streaming").exists(),
        "a stale table is left"
    );
    let prof = read_json(&run.join("profile/profile.json"));
    assert!(
        prof["streaming"].is_null(),
        "streaming from another run's table"
    );
}

#[test]
fn a_huge_k_range_and_a_bad_demo_option_fail_before_any_work() {
    let d = tempdir();
    let o = segmenta(&[
        "run",
        "-i",
        p(d.path()),
        "-o",
        p(&d.path().join("r")),
        "--k-range",
        "2..100000000000",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("at most 1000 values"), "{}", stderr(&o));
    let out = d.path().join("demo");
    let missing = d.path().join("missing.sql");
    let o = segmenta(&[
        "demo",
        "--customers",
        "500",
        "--sql",
        p(&missing),
        "-o",
        p(&out),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("missing.sql"), "{}", stderr(&o));
    assert!(
        !out.join("sources").exists(),
        "the mall was generated before the check"
    );
}
