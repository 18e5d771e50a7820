//! The basket miner against mlxtend (tests/oracle/basket_oracle.py): a seeded
//! fixture, and Online Retail's 18,531 invoices at product and description level,
//! read through the features stage's kept table.

use std::collections::HashMap;

use segmenta::io::Ids;
use segmenta::profile::basket::{frequent_itemsets, rules, BasketParams, Baskets};
use segmenta::profile::inputs::{basket_report, IdIndex};

use super::util::*;

type Rule = (Vec<String>, String, f64, f64, f64);

fn expected() -> serde_json::Value {
    read_json(&root().join("tests/oracle/basket_expected.json"))
}

fn params(case: &serde_json::Value) -> BasketParams {
    BasketParams {
        min_support: case["min_support"].as_f64().unwrap(),
        min_confidence: case["min_confidence"].as_f64().unwrap(),
        min_lift: case["min_lift"].as_f64().unwrap(),
        max_len: case["max_len"].as_u64().unwrap() as usize,
        top: usize::MAX,
        ..BasketParams::default()
    }
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn expected_rules(case: &serde_json::Value) -> Vec<Rule> {
    case["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                strings(&r[0]),
                r[1].as_str().unwrap().to_string(),
                r[2].as_f64().unwrap(),
                r[3].as_f64().unwrap(),
                r[4].as_f64().unwrap(),
            )
        })
        .collect()
}

fn assert_rules_equal(got: Vec<segmenta::profile::basket::AssocRule>, want: &[Rule], what: &str) {
    let mut got: Vec<Rule> = got
        .into_iter()
        .map(|r| (r.antecedent, r.consequent, r.support, r.confidence, r.lift))
        .collect();
    got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    assert!(!want.is_empty(), "{what}: the oracle must have rules");
    assert_eq!(got.len(), want.len(), "{what}: rule count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!((&g.0, &g.1), (&w.0, &w.1), "{what}");
        for (a, b) in [(g.2, w.2), (g.3, w.3), (g.4, w.4)] {
            assert!(
                (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                "{what}: {g:?} vs {w:?}"
            );
        }
    }
}

#[test]
fn fixture_itemsets_and_rules_equal_mlxtend() {
    let case = &expected()["fixture"];
    let lists: Vec<Vec<String>> = case["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(strings)
        .collect();
    let mut names: Vec<String> = lists.iter().flatten().cloned().collect();
    names.sort();
    names.dedup();
    let pos: HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i as u32))
        .collect();
    let baskets = Baskets::from_lists(
        lists
            .iter()
            .map(|l| l.iter().map(|x| pos[x.as_str()]).collect::<Vec<u32>>()),
    );
    assert_eq!(baskets.len() as u64, case["baskets"].as_u64().unwrap());
    let p = params(case);
    let sets = frequent_itemsets(&baskets, names.len(), p.min_support, p.max_len).unwrap();
    let mut got: Vec<(Vec<String>, u64)> = sets
        .iter()
        .map(|(s, c)| {
            let mut v: Vec<String> = s.iter().map(|&i| names[i as usize].clone()).collect();
            v.sort();
            (v, *c)
        })
        .collect();
    got.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
    let want: Vec<(Vec<String>, u64)> = case["itemsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (strings(&s[0]), s[1].as_u64().unwrap()))
        .collect();
    assert!(
        want.iter().any(|s| s.0.len() == 4),
        "the fixture reaches 4 items"
    );
    assert_eq!(got, want);
    assert_rules_equal(
        rules(&baskets, &names, &p).unwrap(),
        &expected_rules(case),
        "fixture",
    );
}

/// Online Retail through `features` (product = StockCode, description auto-mapped
/// from Description), then the basket stage on the kept table with every customer
/// in one segment: the same invoices, itemsets and rules as mlxtend's.
#[test]
fn online_retail_invoices_give_mlxtends_rules_at_product_and_description_level() {
    let Some(src) = shared("online_retail.csv.gz") else {
        return;
    };
    let exp = expected();
    let d = tempdir();
    let o = segmenta(&[
        "features",
        "--transactions",
        p(&src),
        "--map",
        "customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice,invoice=InvoiceNo,product=StockCode",
        "-o",
        p(d.path()),
        "-q",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ids = read_i64(&d.path().join("features.parquet"), "customer_id");
    let index = IdIndex::new(&Ids::Int(ids.clone()));
    let labels = vec![0i32; ids.len()];
    let seg_pos: HashMap<i32, usize> = [(0, 0)].into();
    let table = d.path().join("tables/transactions");
    for (item, key) in [(None, "StockCode"), (Some("description"), "Description")] {
        let case = &exp["online_retail"][key];
        let p = params(case);
        let r = basket_report(&table, &index, &labels, &[0], &seg_pos, &p, item)
            .unwrap()
            .unwrap();
        assert_eq!(
            r.item,
            if key == "StockCode" {
                "product"
            } else {
                "description"
            }
        );
        assert_eq!(r.basket, "an invoice");
        assert_eq!(r.items, case["items"].as_u64().unwrap(), "{key}: items");
        let s = &r.segments[0];
        assert_eq!(
            s.baskets,
            case["baskets"].as_u64().unwrap(),
            "{key}: baskets"
        );
        assert_eq!(
            s.itemsets,
            case["itemsets"].as_array().unwrap().len() as u64,
            "{key}: itemsets"
        );
        assert_rules_equal(s.rules.clone(), &expected_rules(case), key);
        if key == "StockCode" {
            // The report shows what the codes are.
            assert_eq!(
                r.labels.get("85123A").map(String::as_str),
                Some("WHITE HANGING HEART T-LIGHT HOLDER")
            );
            for x in &s.rules {
                assert!(r.labels.contains_key(&x.consequent), "{}", x.consequent);
            }
        }
    }
}

#[test]
fn a_missing_item_column_is_named() {
    let d = tempdir();
    let t = d.path().join("transactions.parquet");
    write_parquet(
        &t,
        vec![
            (
                "customer_id",
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
            ),
            (
                "ts",
                std::sync::Arc::new(arrow::array::StringArray::from(vec![
                    "2025-01-01",
                    "2025-01-02",
                ])),
            ),
            (
                "category",
                std::sync::Arc::new(arrow::array::StringArray::from(vec!["a", "b"])),
            ),
        ],
    );
    let index = IdIndex::new(&Ids::Int(vec![1, 2]));
    let seg_pos: HashMap<i32, usize> = [(0, 0)].into();
    let report = |item: Option<&str>| {
        basket_report(
            &t,
            &index,
            &[0, 0],
            &[0],
            &seg_pos,
            &BasketParams::default(),
            item,
        )
    };
    let e = report(Some("brand")).unwrap_err().to_string();
    assert!(e.contains("--basket-item") && e.contains("`brand`"), "{e}");
    assert!(e.contains("customer_id, ts, category"), "{e}");
    // The columns that make the baskets are not items.
    let e = report(Some("customer_id")).unwrap_err().to_string();
    assert!(e.contains("not an item column"), "{e}");
    // Without products the default item is the category.
    let r = report(None).unwrap().unwrap();
    assert_eq!(r.item, "category");
    assert_eq!(r.segments[0].baskets, 2);
}
