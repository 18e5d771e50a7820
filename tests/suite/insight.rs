//! Basket rules against a brute-force count, and the profile's bad-input errors.

use segmenta::profile::basket::{rules, BasketParams, Baskets};
use segmenta::rng::Rng;

use super::util::*;

/// Every rule A → b with |A| ≤ 2, counted by scanning all baskets for each.
fn brute_force(
    baskets: &[u64],
    cats: &[String],
    p: &BasketParams,
) -> Vec<(Vec<String>, String, f64, f64, f64)> {
    let n = baskets.len() as f64;
    let m = cats.len();
    let count = |set: u64| baskets.iter().filter(|b| **b & set == set).count() as f64;
    let mut out = Vec::new();
    let mut antecedents: Vec<u64> = (0..m).map(|i| 1u64 << i).collect();
    for i in 0..m {
        for j in i + 1..m {
            antecedents.push(1 << i | 1 << j);
        }
    }
    for a in antecedents {
        for c in 0..m {
            let bit = 1u64 << c;
            if a & bit != 0 {
                continue;
            }
            let all = a | bit;
            // Apriori's frequent itemsets: the rule's set and all its subsets.
            let frequent = |s: u64| count(s) / n >= p.min_support;
            if !frequent(all)
                || !(0..m)
                    .filter(|k| all >> k & 1 == 1)
                    .all(|k| frequent(1 << k))
            {
                continue;
            }
            let support = count(all) / n;
            let confidence = count(all) / count(a);
            let lift = confidence / (count(bit) / n);
            if confidence >= p.min_confidence && lift > p.min_lift {
                let names = (0..m)
                    .filter(|k| a >> k & 1 == 1)
                    .map(|k| cats[k].clone())
                    .collect();
                out.push((names, cats[c].clone(), support, confidence, lift));
            }
        }
    }
    out.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    out
}

#[test]
fn basket_rules_equal_a_brute_force_count() {
    let cats: Vec<String> = ["bakery", "books", "fashion", "food", "kids", "toys"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rng = Rng::new(11);
    // Correlated baskets: food goes with bakery, kids with toys.
    let baskets: Vec<u64> = (0..3000)
        .map(|_| {
            let mut b = 0u64;
            for i in 0..cats.len() {
                if rng.next_f64() < 0.15 {
                    b |= 1 << i;
                }
            }
            if b & 1 << 3 != 0 && rng.next_f64() < 0.6 {
                b |= 1;
            }
            if b & 1 << 4 != 0 && rng.next_f64() < 0.5 {
                b |= 1 << 5;
            }
            b
        })
        .collect();
    for (sup, conf) in [(0.01, 0.1), (0.05, 0.3), (0.02, 0.5)] {
        let p = BasketParams {
            min_support: sup,
            min_confidence: conf,
            min_lift: 1.0,
            max_len: 3,
            top: usize::MAX,
            ..BasketParams::default()
        };
        let lists = baskets
            .iter()
            .map(|b| (0..cats.len() as u32).filter(|i| b >> i & 1 == 1).collect());
        let got = rules(&Baskets::from_lists(lists), &cats, &p).unwrap();
        let mut got: Vec<(Vec<String>, String, f64, f64, f64)> = got
            .into_iter()
            .map(|r| (r.antecedent, r.consequent, r.support, r.confidence, r.lift))
            .collect();
        got.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
        let want = brute_force(&baskets, &cats, &p);
        assert!(!want.is_empty(), "the fixture must produce rules");
        assert_eq!(got.len(), want.len(), "support {sup} confidence {conf}");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((&g.0, &g.1), (&w.0, &w.1));
            for (a, b) in [(g.2, w.2), (g.3, w.3), (g.4, w.4)] {
                assert!((a - b).abs() < 1e-12, "{g:?} vs {w:?}");
            }
        }
    }
}

#[test]
fn profile_rejects_assignments_of_another_table() {
    let d = tempdir();
    let feats = d.path().join("f.parquet");
    let ids = std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2, 3]));
    write_parquet(
        &feats,
        vec![
            ("customer_id", ids),
            (
                "x",
                std::sync::Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.0, 3.0])),
            ),
        ],
    );
    let asg = d.path().join("a.parquet");
    write_parquet(
        &asg,
        vec![
            (
                "customer_id",
                std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])),
            ),
            (
                "segment",
                std::sync::Arc::new(arrow::array::Int32Array::from(vec![0, 1])),
            ),
        ],
    );
    let o = segmenta(&[
        "profile",
        "--features",
        p(&feats),
        "--assignments",
        p(&asg),
        "-o",
        p(&d.path().join("out")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(
        e.contains("a.parquet") && e.contains("1 of 3 customers"),
        "{e}"
    );
    assert!(
        !d.path().join("out/profile.json").exists(),
        "no half-written output"
    );

    let bad = d.path().join("p.toml");
    std::fs::write(
        &bad,
        "[[persona]]\nname = 'X'\ndescription = 'd'\nwhen = ['x >> 1']\n",
    )
    .unwrap();
    let o = segmenta(&[
        "profile",
        "--features",
        p(&feats),
        "--assignments",
        p(&feats),
        "--personas",
        p(&bad),
        "-o",
        p(&d.path().join("out")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("p.toml"), "{}", stderr(&o));
}
