//! `features` on the real datasets of ../shared/datasets, checked against an
//! independent pandas computation (tests/oracle/real_features_oracle.py, whose
//! output is committed as tests/oracle/real_features_expected.json).

use std::path::Path;

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;

use super::util::*;

fn expected() -> serde_json::Value {
    read_json(&root().join("tests/oracle/real_features_expected.json"))
}

/// Column `name` of `features.parquet` as (id, value).
fn column(path: &Path, name: &str) -> Vec<(i64, f64)> {
    let ids = read_i64(path, "customer_id");
    let mut v = Vec::new();
    for b in read_batches(path) {
        let c = arrow::compute::cast(
            b.column_by_name(name).unwrap(),
            &arrow::datatypes::DataType::Float64,
        )
        .unwrap();
        v.extend(c.as_primitive::<Float64Type>().iter().map(|x| x.unwrap()));
    }
    ids.into_iter().zip(v).collect()
}

fn check(name: &str, out: &Path, exp: &serde_json::Value) {
    let f = read_json(&out.join("features.json"));
    let s = &f["sources"][0];
    assert_eq!(s["table"], "transactions");
    assert_eq!(s["rows_in"], exp["rows_in"], "{name}");
    assert_eq!(s["rows_kept"], exp["rows_kept"], "{name}");
    assert_eq!(s["rejected"], exp["rejected"], "{name}: rejects per reason");
    assert_eq!(f["customers_seen"], exp["customers_seen"], "{name}");
    assert_eq!(f["customers"], exp["customers"], "{name}");
    assert_eq!(f["as_of"], exp["as_of"]);
    let feats = out.join("features.parquet");
    for feature in [
        "recency_days",
        "frequency_per_month",
        "monetary_total",
        "avg_ticket",
    ] {
        let col = column(&feats, feature);
        for (id, want) in exp["rfm"].as_object().unwrap() {
            let id: i64 = id.parse().unwrap();
            let want = want[feature].as_f64().unwrap();
            let got = col
                .iter()
                .find(|(i, _)| *i == id)
                .unwrap_or_else(|| panic!("{name}: no customer {id}"))
                .1;
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name} customer {id} {feature}: {got} vs {want}"
            );
        }
    }
    // Transaction-only data: the features of other sources are left out, and reported.
    let dropped: Vec<&str> = f["dropped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d[0].as_str().unwrap())
        .collect();
    assert!(
        dropped.contains(&"visits_per_month") && dropped.contains(&"age"),
        "{dropped:?}"
    );
}

/// Online Retail: 541,909 invoice lines. 135,080 have no CustomerID; of the rows
/// with one (4,372 customers), 8,905 are cancellations, 5,192 repeat an earlier
/// identical line and 1 (80,995 units of one item, cancelled the same day) exceeds
/// the absurd-amount bar, which leaves 392,731 lines of 4,339 customers: 33
/// customers had only cancellations.
#[test]
fn online_retail_features_match_pandas() {
    let Some(src) = shared("online_retail.csv.gz") else {
        return;
    };
    let d = tempdir();
    let o = segmenta(&[
        "features", "--transactions", p(&src),
        "--map", "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo,category=StockCode",
        "--as-of", "2011-12-10", "-o", p(d.path()), "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    check("online_retail", d.path(), &expected()["online_retail"]);
    // Rejected lines are kept unchanged, with their reason.
    let rej = d.path().join("rejects/transactions.parquet");
    assert_eq!(
        read_i64(&rej, "Quantity").len(),
        135_080 + 8_905 + 5_192 + 1
    );
}

/// CDNOW: 69,659 purchases of 23,570 customers, dates only; 255 lines repeat an
/// earlier identical one (same customer, day, CDs and amount) and are rejected;
/// the 80 zero-dollar purchases are kept (a free item is still a purchase).
#[test]
fn cdnow_features_match_pandas() {
    let Some(src) = shared("cdnow_master.csv") else {
        return;
    };
    let d = tempdir();
    let o = segmenta(&[
        "features",
        "--transactions",
        p(&src),
        "--map",
        "ts=date,amount=dollar_value",
        "--as-of",
        "1998-07-01",
        "-o",
        p(d.path()),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    check("cdnow", d.path(), &expected()["cdnow"]);
}
