//! Customer ids are identities (issue 38): an id column is text unless every
//! value is the canonical spelling of an integer, so `012`, `0012` and `12`, or
//! `1e1` and `10`, or `2.5` and `2`, are never merged by number parsing.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;

use super::util::*;

/// (id as text, monetary_total) of every row of a features.parquet, and the
/// id column's type.
fn ids_and_spend(path: &Path) -> (DataType, BTreeMap<String, f64>) {
    let mut out = BTreeMap::new();
    let mut ty = DataType::Null;
    for b in read_batches(path) {
        let id = arrow::compute::cast(b.column_by_name("customer_id").unwrap(), &DataType::Utf8)
            .unwrap();
        ty = b.column_by_name("customer_id").unwrap().data_type().clone();
        let m = arrow::compute::cast(
            b.column_by_name("monetary_total").unwrap(),
            &DataType::Float64,
        )
        .unwrap();
        let (id, m) = (
            id.as_string::<i32>(),
            m.as_primitive::<arrow::datatypes::Float64Type>(),
        );
        for i in 0..id.len() {
            out.insert(id.value(i).to_string(), m.value(i));
        }
    }
    (ty, out)
}

const TX_HEAD: &str = "customer_id,ts,amount\n";

fn features(dir: &Path, out: &Path) -> std::process::Output {
    segmenta(&["features", "-i", p(dir), "-o", p(out), "-q"])
}

#[test]
fn leading_zeros_exponents_and_decimals_stay_their_own_customers() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("transactions.csv"),
        format!(
            "{TX_HEAD}12,2025-01-05,10\n12,2025-02-05,20\n012,2025-03-05,5000\n0012,2025-03-06,7000\n\
             10,2025-01-09,30\n1e1,2025-03-01,99\n2,2025-01-01,5\n2.5,2025-02-01,6\n"
        ),
    )
    .unwrap();
    let out = t.path().join("out");
    let o = features(&src, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ty, spend) = ids_and_spend(&out.join("features.parquet"));
    assert!(
        matches!(
            ty,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8
        ),
        "ids are text, found {ty}"
    );
    let want: BTreeMap<String, f64> = [
        ("12", 30.0),
        ("012", 5000.0),
        ("0012", 7000.0),
        ("10", 30.0),
        ("1e1", 99.0),
        ("2", 5.0),
        ("2.5", 6.0),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), *v))
    .collect();
    assert_eq!(spend, want);
    let f = read_json(&out.join("features.json"));
    assert_eq!(f["id_type"], "text");
    let why = f["id_type_why"].as_str().unwrap();
    assert!(why.contains("\"012\""), "{why}");

    // The same file read by `clean` directly: the ids stay as written too.
    let feats = t.path().join("feats.csv");
    std::fs::write(
        &feats,
        "customer_id,x\n12,1\n012,2\n0012,3\n1e1,4\n10,5\n2.5,6\n2,7\n",
    )
    .unwrap();
    let c = t.path().join("clean");
    let o = segmenta(&["clean", "-i", p(&feats), "-o", p(&c), "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ids = Vec::new();
    for b in read_batches(&c.join("clean.parquet")) {
        let id = arrow::compute::cast(b.column_by_name("customer_id").unwrap(), &DataType::Utf8)
            .unwrap();
        ids.extend(id.as_string::<i32>().iter().map(|s| s.unwrap().to_string()));
    }
    ids.sort();
    assert_eq!(ids, ["0012", "012", "10", "12", "1e1", "2", "2.5"]);
}

#[test]
fn canonical_integer_ids_stay_integers_and_a_text_table_makes_all_text() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(
        src.join("transactions.csv"),
        format!("{TX_HEAD}12,2025-01-05,10\n 7 ,2025-02-05,20\n0,2025-03-05,1\n"),
    )
    .unwrap();
    let out = t.path().join("a");
    let o = features(&src, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ty, spend) = ids_and_spend(&out.join("features.parquet"));
    assert_eq!(ty, DataType::Int64);
    assert_eq!(spend.len(), 3);
    assert_eq!(read_json(&out.join("features.json"))["id_type"], "integer");

    // Visits whose ids have leading zeros: every table's ids become text, and
    // visit `007` is not customer 7.
    std::fs::write(
        src.join("visits.csv"),
        "customer_id,entered_at,left_at\n007,2025-01-05 10:00:00,2025-01-05 11:00:00\n12,2025-01-06 10:00:00,2025-01-06 10:30:00\n",
    )
    .unwrap();
    let out = t.path().join("b");
    let o = features(&src, &out);
    assert!(o.status.success(), "{}", stderr(&o));
    let (ty, spend) = ids_and_spend(&out.join("features.parquet"));
    assert!(matches!(ty, DataType::Utf8 | DataType::Utf8View), "{ty}");
    assert!(
        spend.contains_key("7") && spend.contains_key("12"),
        "{spend:?}"
    );
    let f = read_json(&out.join("features.json"));
    assert_eq!(f["id_type"], "text");
    assert!(f["id_type_why"].as_str().unwrap().contains("visits"));
}

#[test]
fn a_float_id_with_a_fraction_is_refused_not_truncated() {
    let t = tempdir();
    let src = t.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    write_parquet(
        &src.join("transactions.parquet"),
        vec![
            (
                "customer_id",
                std::sync::Arc::new(arrow::array::Float64Array::from(vec![2.0, 2.5])),
            ),
            (
                "ts",
                std::sync::Arc::new(arrow::array::StringArray::from(vec![
                    "2025-01-01",
                    "2025-01-02",
                ])),
            ),
            (
                "amount",
                std::sync::Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.0])),
            ),
        ],
    );
    let out = t.path().join("out");
    let o = features(&src, &out);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("2.5") && e.contains("not a whole number"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(!out.join("features.parquet").exists());
}
