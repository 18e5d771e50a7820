//! Bad input: each case exits non-zero with one line on stderr naming the file,
//! column or parameter and the rule, never panics, and leaves no output behind.

use std::path::Path;
use std::process::Output;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array};

use super::util::*;

/// Asserts the failure contract and returns the message.
fn assert_fails(o: &Output, out: &Path, needles: &[&str]) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("segmenta: error: "), "{err}");
    for n in needles {
        assert!(lines[0].contains(n), "`{n}` missing from: {err}");
    }
    assert_eq!(files_in(out), Vec::<String>::new(), "outputs left behind");
    err
}

fn kmeans(input: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["kmeans", "-i", p(input), "-o", p(out), "-k", "2"];
    args.extend_from_slice(extra);
    segmenta(&args)
}

fn csv(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn missing_file() {
    let d = tempdir();
    let o = kmeans(&d.path().join("nope.parquet"), &d.path().join("out"), &[]);
    assert_fails(&o, &d.path().join("out"), &["nope.parquet", "no such file"]);
}

#[test]
fn missing_column() {
    let d = tempdir();
    let f = csv(d.path(), "a.csv", "customer_id,x\n1,2\n2,3\n");
    let o = kmeans(&f, &d.path().join("out"), &["--columns", "x,y"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["a.csv", "no column `y`", "customer_id, x"],
    );
}

#[test]
fn missing_id_column() {
    let d = tempdir();
    let f = csv(d.path(), "a.csv", "id,x\n1,2\n2,3\n");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["a.csv", "no column `customer_id`"],
    );
}

#[test]
fn non_numeric_column() {
    let d = tempdir();
    let f = csv(d.path(), "a.csv", "customer_id,x,g\n1,2,a\n2,3,b\n");
    let o = kmeans(&f, &d.path().join("out"), &["--columns", "x,g"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["a.csv", "column `g`", "not numeric", "--categorical"],
    );
}

#[test]
fn mistyped_csv_cell_is_named_with_its_row() {
    let d = tempdir();
    let f = csv(d.path(), "a.csv", "customer_id,x\n1,2\n2,3\n3,abc\n4,5\n");
    let o = kmeans(&f, &d.path().join("out"), &["--columns", "x"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["a.csv", "column `x`", "data row 3: \"abc\" is not a number"],
    );
}

#[test]
fn nan_in_a_feature() {
    let d = tempdir();
    let f = d.path().join("nan.parquet");
    write_parquet(
        &f,
        vec![
            ("customer_id", Arc::new(Int64Array::from(vec![1, 2, 3]))),
            ("x", Arc::new(Float64Array::from(vec![1.0, f64::NAN, 2.0]))),
        ],
    );
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &[
            "nan.parquet",
            "column `x`",
            "NaN/Inf",
            "data row 2",
            "finite",
        ],
    );
}

#[test]
fn inf_and_f32_overflow_in_csv() {
    let d = tempdir();
    let f = csv(d.path(), "inf.csv", "customer_id,x\n1,2\n2,1e39\n3,4\n");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &[
            "inf.csv",
            "column `x`",
            "data row 2",
            "outside the range of a 32-bit float",
        ],
    );
}

#[test]
fn missing_value_in_a_feature() {
    let d = tempdir();
    let f = csv(d.path(), "gap.csv", "customer_id,x,y\n1,2,1\n2,,1\n3,4,1\n");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["gap.csv", "column `x`", "missing", "data row 2"],
    );
}

#[test]
fn empty_csv_table() {
    let d = tempdir();
    let f = csv(d.path(), "empty.csv", "customer_id,x\n");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(&o, &d.path().join("out"), &["empty.csv", "no rows"]);
}

#[test]
fn empty_parquet_table() {
    let d = tempdir();
    let f = d.path().join("empty.parquet");
    write_parquet(
        &f,
        vec![
            ("customer_id", Arc::new(Int64Array::from(Vec::<i64>::new()))),
            ("x", Arc::new(Float64Array::from(Vec::<f64>::new()))),
        ],
    );
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(&o, &d.path().join("out"), &["empty.parquet", "no rows"]);
}

#[test]
fn k_zero() {
    let d = tempdir();
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&fixture("blobs_5k.parquet")),
        "-o",
        p(&d.path().join("out")),
        "-k",
        "0",
    ]);
    assert_fails(&o, &d.path().join("out"), &["k cannot be 0"]);
}

#[test]
fn k_exceeds_rows() {
    let d = tempdir();
    let f = csv(d.path(), "a.csv", "customer_id,x\n1,2\n2,3\n");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&f),
        "-o",
        p(&d.path().join("out")),
        "-k",
        "3",
    ]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["k (3) cannot exceed the number of rows (2)"],
    );
}

#[test]
fn duplicate_id_warns_and_strict_rejects() {
    let d = tempdir();
    let f = csv(d.path(), "dup.csv", "customer_id,x\n1,2\n2,3\n1,4\n5,5\n");
    let out = d.path().join("out");
    let o = kmeans(&f, &out, &[]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("warning: ") && stderr(&o).contains("data row 3 (id 1)"),
        "{}",
        stderr(&o)
    );
    let strict_out = d.path().join("strict");
    let o = kmeans(&f, &strict_out, &["--strict"]);
    assert_fails(
        &o,
        &strict_out,
        &["dup.csv", "id 1", "data row 3", "unique"],
    );
}

#[test]
fn truncated_parquet() {
    let d = tempdir();
    let bytes = std::fs::read(fixture("blobs_5k.parquet")).unwrap();
    let f = d.path().join("cut.parquet");
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let o = kmeans(&f, &d.path().join("out"), &["--columns", "f0"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["cut.parquet", "unreadable Parquet"],
    );
}

#[test]
fn corrupt_parquet_footer() {
    let d = tempdir();
    let mut bytes = std::fs::read(fixture("blobs_5k.parquet")).unwrap();
    let n = bytes.len();
    // Overwrite the footer's metadata (just before the length and the magic).
    for b in &mut bytes[n - 200..n - 8] {
        *b = 0xAB;
    }
    let f = d.path().join("bad.parquet");
    std::fs::write(&f, &bytes).unwrap();
    let o = kmeans(&f, &d.path().join("out"), &["--columns", "f0"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["bad.parquet", "unreadable Parquet"],
    );
}

#[test]
fn ragged_csv_row() {
    let d = tempdir();
    let f = csv(
        d.path(),
        "ragged.csv",
        "customer_id,x,y\n1,2,3\n2,3\n3,4,5\n",
    );
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(&o, &d.path().join("out"), &["ragged.csv", "unreadable CSV"]);
}

#[test]
fn unsupported_extension() {
    let d = tempdir();
    let f = csv(d.path(), "a.xlsx", "x");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["a.xlsx", ".parquet, .csv or .csv.gz"],
    );
}

#[test]
fn negative_weight() {
    let d = tempdir();
    let f = csv(d.path(), "w.csv", "customer_id,x,w\n1,2,1\n2,3,-1\n");
    let o = kmeans(&f, &d.path().join("out"), &["--weight-col", "w"]);
    assert_fails(
        &o,
        &d.path().join("out"),
        &["w.csv", "column `w`", "data row 2", ">= 0"],
    );
}

#[test]
fn predict_with_an_unseen_level() {
    let d = tempdir();
    let train = csv(d.path(), "t.csv", "customer_id,x,g\n1,2,a\n2,3,b\n3,9,a\n");
    let o = segmenta(&[
        "kmeans",
        "-i",
        p(&train),
        "-o",
        p(d.path()),
        "-k",
        "2",
        "--categorical",
        "g",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let new = csv(d.path(), "n.csv", "customer_id,x,g\n7,2,c\n");
    let out = d.path().join("pred");
    let o = segmenta(&[
        "predict",
        "-m",
        p(&d.path().join("model.json")),
        "-i",
        p(&new),
        "-o",
        p(&out.join("p.parquet")),
    ]);
    assert_fails(
        &o,
        &out,
        &["n.csv", "column `g`", "level `c`", "known: a, b"],
    );
}

#[test]
fn predict_with_a_non_model_file() {
    let d = tempdir();
    let m = csv(d.path(), "m.json", "{\"hello\": 1}");
    let out = d.path().join("pred");
    let o = segmenta(&[
        "predict",
        "-m",
        p(&m),
        "-i",
        p(&fixture("blobs_5k.parquet")),
        "-o",
        p(&out.join("p.parquet")),
    ]);
    assert_fails(&o, &out, &["m.json", "not a segmenta model"]);
}

#[test]
fn string_ids_are_kept() {
    let d = tempdir();
    let f = csv(d.path(), "s.csv", "customer_id,x\nA,1\nB,2\nC,10\n");
    let o = kmeans(&f, &d.path().join("out"), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let pred = d.path().join("out/assignments.parquet");
    let file = std::fs::File::open(pred).unwrap();
    let r = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    assert_eq!(
        r.schema().field(0).data_type(),
        &arrow::datatypes::DataType::Utf8
    );
}

fn features(out: &Path, args: &[&str]) -> Output {
    let mut a = vec!["features", "-o", p(out)];
    a.extend_from_slice(args);
    segmenta(&a)
}

#[test]
fn features_mapped_column_missing() {
    let d = tempdir();
    let tx = csv(
        d.path(),
        "tx.csv",
        "CustomerID,InvoiceDate,Quantity,UnitPrice\n1,2011-01-02 10:00:00,2,3.5\n",
    );
    let out = d.path().join("out");
    let o = features(
        &out,
        &[
            "--transactions",
            p(&tx),
            "--map",
            "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*Price",
        ],
    );
    assert_fails(&o, &out, &["tx.csv", "`Price`", "rule"]);
}

#[test]
fn features_timestamp_does_not_parse() {
    let d = tempdir();
    let tx = csv(
        d.path(),
        "tx.csv",
        "customer_id,ts,amount\n1,2011-01-02 10:00:00,3\n2,31/02/2011 10:00,4\n",
    );
    let out = d.path().join("out");
    let o = features(&out, &["--transactions", p(&tx)]);
    assert_fails(&o, &out, &["tx.csv", "`ts`", "timestamp", "rule"]);
}

#[test]
fn features_sql_error() {
    let d = tempdir();
    let tx = csv(
        d.path(),
        "tx.csv",
        "customer_id,ts,amount\n1,2011-01-02 10:00:00,3\n",
    );
    let sql = csv(
        d.path(),
        "bad.sql",
        "SELECT customer_id, no_such_column FROM transactions",
    );
    let out = d.path().join("out");
    let o = features(&out, &["--transactions", p(&tx), "--sql", p(&sql)]);
    assert_fails(&o, &out, &["bad.sql", "no_such_column"]);
}

#[test]
fn features_empty_source() {
    let d = tempdir();
    let tx = csv(d.path(), "tx.csv", "");
    let out = d.path().join("out");
    let o = features(&out, &["--transactions", p(&tx)]);
    assert_fails(&o, &out, &["tx.csv", "no rows"]);
    // A header and no rows is empty too.
    let tx = csv(d.path(), "tx2.csv", "customer_id,ts,amount\n");
    let o = features(&out, &["--transactions", p(&tx)]);
    assert_fails(&o, &out, &["tx2.csv"]);
}

#[test]
fn features_required_column_absent() {
    let d = tempdir();
    let tx = csv(
        d.path(),
        "tx.csv",
        "customer_id,ts\n1,2011-01-02 10:00:00\n",
    );
    let out = d.path().join("out");
    let o = features(&out, &["--transactions", p(&tx)]);
    assert_fails(&o, &out, &["tx.csv", "`amount`", "--map"]);
}

#[test]
fn clean_bad_outlier_rule_and_empty_input() {
    let d = tempdir();
    let t = csv(d.path(), "f.csv", "customer_id,a\n1,2\n");
    let out = d.path().join("out");
    let o = segmenta(&["clean", "-i", p(&t), "-o", p(&out), "--outliers", "iqr:-1"]);
    assert_fails(&o, &out, &["--outliers", "positive"]);
    let e = csv(d.path(), "e.csv", "customer_id,a\n");
    let o = segmenta(&["clean", "-i", p(&e), "-o", p(&out)]);
    assert_fails(&o, &out, &["e.csv"]);
}

/// Three errors that named the wrong cause (issue 38).
#[test]
fn errors_name_their_real_cause() {
    let d = tempdir();
    // A semicolon-separated file: the separator, not only a missing column.
    let src = d.path().join("semi");
    std::fs::create_dir_all(&src).unwrap();
    csv(
        &src,
        "transactions.csv",
        "customer_id;ts;amount\n1;2025-01-01;5\n2;2025-01-02;6\n",
    );
    let out = d.path().join("f");
    let o = segmenta(&["features", "-i", p(&src), "-o", p(&out), "-q"]);
    assert_fails(
        &o,
        &out,
        &["customer_id", "separated by `;`", "comma-separated"],
    );
    let f = csv(d.path(), "semi.csv", "customer_id;x\n1;2\n2;3\n");
    let out = d.path().join("k");
    assert_fails(&kmeans(&f, &out, &[]), &out, &["separated by `;`"]);

    // One customer and `--k auto`: the sweep's range, not a k never given.
    let one = d.path().join("one");
    std::fs::create_dir_all(&one).unwrap();
    csv(
        &one,
        "transactions.csv",
        "customer_id,ts,amount\n1,2025-01-01,5\n1,2025-02-01,7\n",
    );
    let out = d.path().join("r");
    let o = segmenta(&[
        "run",
        "-i",
        p(&one),
        "-o",
        p(&out),
        "--backend",
        "cpu",
        "-q",
    ]);
    let e = stderr(&o);
    assert!(!o.status.success());
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(e.contains("--k-range") && e.contains("--k auto"), "{e}");
    assert!(!e.contains("k (2)"), "{e}");
}
