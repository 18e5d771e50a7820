//! Market basket: frequent itemsets and association rules per segment, at any item
//! count, and the next best offers that follow from them.
//!
//! **Itemsets.** Eclat (Zaki, 2000) on sparse tid-lists: each frequent item keeps
//! the sorted list of baskets that hold it, an itemset's list is the intersection of
//! its parts', and the search goes depth first, one top-level item per task (rayon),
//! so memory is the frequent items' lists plus one path of intersections, whatever
//! the number of distinct items. An itemset is frequent when its basket count is at
//! least `ceil(min_support × baskets)` (mlxtend's `fpgrowth` threshold), up to
//! `max_len` items.
//!
//! **Rules.** Every `A → b` with a single consequent from a frequent itemset,
//! with support, confidence `support(A ∪ b) / support(A)` and lift `confidence /
//! support(b)`, kept when confidence ≥ `min_confidence` and lift > `min_lift`. These
//! are mlxtend's `association_rules` restricted to one-item consequents (tested
//! against it: `tests/oracle/basket_oracle.py`).
//!
//! **Cross-sell similarity.** The cosine between two items' columns of the customer
//! × item purchase-count matrix, over the most bought items ([`SIM_ITEMS`]).

use std::collections::HashMap;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Items (by buyers) that the similarity and the next best offers consider.
pub const SIM_ITEMS: usize = 300;
/// Frequent items up to which pairs are counted in a square of counters (16 MiB).
const PAIR_COUNT_MAX: usize = 2048;
/// Frequent itemsets one segment may have before the search stops with a note.
pub const MAX_ITEMSETS: usize = 2_000_000;

/// Limits of the rule search.
#[derive(Clone, Copy, Debug)]
pub struct BasketParams {
    /// Minimum support of an itemset (share of the segment's baskets), in (0, 1].
    pub min_support: f64,
    /// Minimum confidence of a rule.
    pub min_confidence: f64,
    /// Rules must have a lift above this (1: more often together than by chance).
    pub min_lift: f64,
    /// Largest itemset (antecedent plus consequent).
    pub max_len: usize,
    /// Rules kept per segment (highest lift first).
    pub top: usize,
    /// Bytes the held purchase lines may take at once (see `market`).
    pub memory: usize,
}

impl Default for BasketParams {
    fn default() -> Self {
        BasketParams {
            min_support: 0.01,
            min_confidence: 0.2,
            min_lift: 1.0,
            max_len: 3,
            top: 10,
            memory: crate::profile::market::BASKET_MEMORY,
        }
    }
}

/// Baskets as compressed sparse rows: basket `b` holds
/// `items[offsets[b]..offsets[b + 1]]`, sorted and unique.
#[derive(Clone, Debug, Default)]
pub struct Baskets {
    offsets: Vec<usize>,
    items: Vec<u32>,
}

impl Baskets {
    /// Baskets from item lists (each sorted and deduplicated here).
    pub fn from_lists<I: IntoIterator<Item = Vec<u32>>>(lists: I) -> Self {
        let mut b = Baskets {
            offsets: vec![0],
            items: Vec::new(),
        };
        for mut l in lists {
            l.sort_unstable();
            l.dedup();
            b.push(&l);
        }
        b
    }

    /// Appends one basket (`items` sorted and unique).
    pub fn push(&mut self, items: &[u32]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        debug_assert!(items.windows(2).all(|w| w[0] < w[1]));
        self.items.extend_from_slice(items);
        self.offsets.push(self.items.len());
    }

    /// Number of baskets.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// Whether there is no basket.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Items of basket `b`.
    pub fn get(&self, b: usize) -> &[u32] {
        &self.items[self.offsets[b]..self.offsets[b + 1]]
    }
}

/// One association rule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AssocRule {
    /// Antecedent items, sorted by name.
    pub antecedent: Vec<String>,
    /// Consequent item.
    pub consequent: String,
    /// Share of baskets holding antecedent and consequent.
    pub support: f64,
    /// support(A ∪ b) / support(A).
    pub confidence: f64,
    /// confidence / support(b).
    pub lift: f64,
}

/// An item a segment buys less than the items bought with it predict.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Offer {
    /// The item to offer.
    pub item: String,
    /// Share of the segment's buyers who bought it.
    pub share: f64,
    /// Share of all buyers who bought it.
    pub share_all: f64,
    /// The segment's index on the item: `share / share_all`.
    pub index: f64,
    /// The segment's index on the items similar to it (similarity-weighted).
    pub expected_index: f64,
    /// Buyers gained if the segment bought it at `expected_index`.
    pub gain: f64,
    /// The similar item that weighs most in `expected_index` (the segment buys it).
    pub because: String,
    /// Cosine similarity of `because` and `item`.
    pub similarity: f64,
    /// The segment's strongest rule with `item` as consequent, if one passed.
    pub rule: Option<AssocRule>,
}

/// Rules of one segment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentRules {
    /// Segment id.
    pub segment: i32,
    /// Baskets in the segment.
    pub baskets: u64,
    /// Customers of the segment with at least one purchase line.
    pub buyers: u64,
    /// Frequent itemsets found.
    pub itemsets: u64,
    /// Rules, highest lift first (at most the report's top).
    pub rules: Vec<AssocRule>,
    /// Next best offers, largest gain first.
    pub offers: Vec<Offer>,
    /// Why the segment has no rules, when the search stopped early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// An item and its most similar other items.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Recommendation {
    /// The item bought.
    pub item: String,
    /// The most similar items with their cosine similarity, best first.
    pub similar: Vec<(String, f64)>,
}

/// The basket part of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BasketReport {
    /// What a basket is.
    pub basket: String,
    /// The column whose values are the items.
    pub item: String,
    /// Minimum support used.
    pub min_support: f64,
    /// Minimum confidence used.
    pub min_confidence: f64,
    /// Minimum lift used.
    pub min_lift: f64,
    /// Largest itemset searched.
    pub max_len: usize,
    /// Distinct items seen.
    pub items: u64,
    /// Transaction lines used.
    pub lines: u64,
    /// Reads of the table (more than one when the lines of all segments would not
    /// fit the memory budget at once).
    pub passes: u32,
    /// Description of each item shown (the most frequent `description` of its
    /// lines), when the table has one.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Per segment.
    pub segments: Vec<SegmentRules>,
    /// Item-to-item recommendations (cosine similarity over customers' purchase
    /// counts) for the most bought items.
    pub recommendations: Vec<Recommendation>,
}

/// The smallest basket count of a frequent itemset: `ceil(min_support × n)`, at
/// least 1 (mlxtend's `fpgrowth` threshold, floats and all: `0.07 × 100` is
/// 7.000000000000001 there too, so 8).
pub fn min_count(n: usize, min_support: f64) -> u64 {
    (min_support * n as f64).ceil().max(1.0) as u64
}

/// Intersection of two sorted lists.
fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (a, b) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let mut out = Vec::with_capacity(a.len());
    if b.len() > 16 * a.len() {
        // Galloping: binary search the long list from where the last hit was.
        let mut lo = 0;
        for &x in a {
            match b[lo..].binary_search(&x) {
                Ok(i) => {
                    out.push(x);
                    lo += i + 1;
                }
                Err(i) => lo += i,
            }
            if lo >= b.len() {
                break;
            }
        }
    } else {
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    out.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
    }
    out
}

type Ext = (u32, Vec<u32>);
/// Itemsets (sorted item ids) with their basket counts.
type Itemsets = Vec<(Vec<u32>, u64)>;

/// The frequent extensions of an itemset with tid-list `tids` by the later items.
fn extensions(tids: &[u32], later: &[Ext], min: u64) -> Vec<Ext> {
    later
        .iter()
        .filter_map(|(j, t)| {
            let x = intersect(tids, t);
            (x.len() as u64 >= min).then_some((*j, x))
        })
        .collect()
}

fn eclat(
    prefix: &mut Vec<u32>,
    exts: &[Ext],
    min: u64,
    max_len: usize,
    out: &mut Vec<(Vec<u32>, u64)>,
) -> bool {
    for (i, (item, tids)) in exts.iter().enumerate() {
        prefix.push(*item);
        out.push((prefix.clone(), tids.len() as u64));
        if out.len() > MAX_ITEMSETS {
            return false;
        }
        if prefix.len() < max_len {
            let next = extensions(tids, &exts[i + 1..], min);
            if !next.is_empty() && !eclat(prefix, &next, min, max_len, out) {
                return false;
            }
        }
        prefix.pop();
    }
    true
}

/// Frequent itemsets of `baskets` (items `0..n_items`): each with its items sorted
/// ascending and its basket count, sorted by (length, items). `Err` when there are
/// more than [`MAX_ITEMSETS`].
pub fn frequent_itemsets(
    baskets: &Baskets,
    n_items: usize,
    min_support: f64,
    max_len: usize,
) -> Result<Vec<(Vec<u32>, u64)>, String> {
    let n = baskets.len();
    if n == 0 || max_len == 0 {
        return Ok(Vec::new());
    }
    if n > u32::MAX as usize {
        return Err(format!("{n} baskets in one segment: at most {}", u32::MAX));
    }
    let min = min_count(n, min_support);
    let mut count = vec![0u64; n_items];
    for &i in &baskets.items {
        count[i as usize] += 1;
    }
    let frequent: Vec<u32> = (0..n_items as u32)
        .filter(|&i| count[i as usize] >= min)
        .collect();
    let mut pos = vec![u32::MAX; n_items];
    for (k, &i) in frequent.iter().enumerate() {
        pos[i as usize] = k as u32;
    }
    let mut tids: Vec<Vec<u32>> = frequent
        .iter()
        .map(|&i| Vec::with_capacity(count[i as usize] as usize))
        .collect();
    for b in 0..n {
        for &i in baskets.get(b) {
            let k = pos[i as usize];
            if k != u32::MAX {
                tids[k as usize].push(b as u32);
            }
        }
    }
    // Rarest first: the intersections shrink fastest.
    let mut exts: Vec<Ext> = frequent.into_iter().zip(tids).collect();
    exts.sort_by_key(|(i, t)| (t.len(), *i));
    // Pairs counted in one pass over the baskets (when the frequent items are few
    // enough for a square of counters), so only frequent pairs are intersected.
    let f = exts.len();
    let pairs: Option<Vec<u32>> = (max_len > 1 && (2..=PAIR_COUNT_MAX).contains(&f)).then(|| {
        let mut order = vec![u32::MAX; n_items];
        for (k, (i, _)) in exts.iter().enumerate() {
            order[*i as usize] = k as u32;
        }
        let mut c = vec![0u32; f * f];
        let mut ks: Vec<usize> = Vec::new();
        for b in 0..n {
            ks.clear();
            ks.extend(
                baskets
                    .get(b)
                    .iter()
                    .map(|&i| order[i as usize])
                    .filter(|&k| k != u32::MAX)
                    .map(|k| k as usize),
            );
            ks.sort_unstable();
            for (x, &a) in ks.iter().enumerate() {
                for &b in &ks[x + 1..] {
                    c[a * f + b] += 1;
                }
            }
        }
        c
    });
    let parts: Vec<Option<Itemsets>> = (0..exts.len())
        .into_par_iter()
        .map(|i| {
            // The subtree of `exts[i]`: itemsets whose rarest item it is.
            let mut out = Vec::new();
            let mut prefix = Vec::new();
            let (item, t) = &exts[i];
            prefix.push(*item);
            out.push((prefix.clone(), t.len() as u64));
            if max_len > 1 {
                let next = match &pairs {
                    Some(c) => exts[i + 1..]
                        .iter()
                        .enumerate()
                        .filter(|(d, _)| c[i * f + i + 1 + d] as u64 >= min)
                        .map(|(_, (j, u))| (*j, intersect(t, u)))
                        .collect(),
                    None => extensions(t, &exts[i + 1..], min),
                };
                if !eclat(&mut prefix, &next, min, max_len, &mut out) {
                    return None;
                }
            }
            Some(out)
        })
        .collect();
    let mut all = Vec::new();
    for p in parts {
        let Some(p) = p else {
            return Err(format!(
                "more than {MAX_ITEMSETS} frequent itemsets: raise --min-support or lower --max-len"
            ));
        };
        all.extend(p);
        if all.len() > MAX_ITEMSETS {
            return Err(format!(
                "more than {MAX_ITEMSETS} frequent itemsets: raise --min-support or lower --max-len"
            ));
        }
    }
    for (s, _) in all.iter_mut() {
        s.sort_unstable();
    }
    all.sort_unstable_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
    Ok(all)
}

/// Rules from frequent itemsets (as [`frequent_itemsets`] gives them) over `n`
/// baskets; items named by `names`. Sorted by lift, then support, descending, then
/// by names.
pub fn rules_from_itemsets(
    sets: &[(Vec<u32>, u64)],
    n: usize,
    names: &[String],
    p: &BasketParams,
) -> Vec<AssocRule> {
    let nf = n as f64;
    let count: HashMap<&[u32], u64> = sets.iter().map(|(s, c)| (s.as_slice(), *c)).collect();
    let mut out = Vec::new();
    let mut a: Vec<u32> = Vec::new();
    for (set, k) in sets.iter().filter(|(s, _)| s.len() >= 2) {
        for (j, &b) in set.iter().enumerate() {
            a.clear();
            a.extend(
                set.iter()
                    .enumerate()
                    .filter(|(x, _)| *x != j)
                    .map(|(_, v)| *v),
            );
            // Every subset of a frequent itemset is frequent, so both are present.
            let (Some(&ca), Some(&cb)) = (count.get(a.as_slice()), count.get(&[b][..])) else {
                continue;
            };
            // mlxtend's arithmetic: supports first, then their ratios.
            let support = *k as f64 / nf;
            let conf = support / (ca as f64 / nf);
            let lift = conf / (cb as f64 / nf);
            if conf < p.min_confidence || lift <= p.min_lift {
                continue;
            }
            let mut ant: Vec<String> = a.iter().map(|&i| names[i as usize].clone()).collect();
            ant.sort();
            out.push(AssocRule {
                antecedent: ant,
                consequent: names[b as usize].clone(),
                support,
                confidence: conf,
                lift,
            });
        }
    }
    out.sort_by(|a, b| {
        b.lift
            .total_cmp(&a.lift)
            .then(b.support.total_cmp(&a.support))
            .then(a.antecedent.cmp(&b.antecedent))
            .then(a.consequent.cmp(&b.consequent))
    });
    out
}

/// Association rules over `baskets` whose items are named by `names`.
pub fn rules(
    baskets: &Baskets,
    names: &[String],
    p: &BasketParams,
) -> Result<Vec<AssocRule>, String> {
    let sets = frequent_itemsets(baskets, names.len(), p.min_support, p.max_len)?;
    Ok(rules_from_itemsets(&sets, baskets.len(), names, p))
}

/// Cosine similarity between items from their dot products: `dot[i * m + j]`.
pub fn cosine(dot: &[f64], m: usize) -> Vec<f64> {
    let mut sim = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            let den = (dot[i * m + i] * dot[j * m + j]).sqrt();
            if i != j && den > 0.0 {
                sim[i * m + j] = dot[i * m + j] / den;
            }
        }
    }
    sim
}

/// For each of the `m` items (named by `names`), its `top` most similar others.
pub fn recommendations(sim: &[f64], names: &[String], top: usize) -> Vec<Recommendation> {
    let m = names.len();
    (0..m)
        .map(|i| {
            let mut s: Vec<(String, f64)> = (0..m)
                .filter(|&j| j != i)
                .map(|j| (names[j].clone(), sim[i * m + j]))
                .collect();
            s.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            s.truncate(top);
            Recommendation {
                item: names[i].clone(),
                similar: s,
            }
        })
        .collect()
}

/// Next best offers of one segment over the `m` similarity items.
///
/// `share[i]`: the segment's buyers of item `i` over its buyers; `share_all[i]`: the
/// same over all buyers. The segment's index on an item is `share / share_all`; its
/// expected index is the similarity-weighted mean of its index on the other items
/// (`Σ_j sim(i, j) · index(j) / Σ_j sim(i, j)`): what customers who buy what this
/// segment buys buy. An item whose index falls short of its expected index is an
/// offer, ranked by the buyers the segment would gain at the expected index.
pub fn offers(
    share: &[f64],
    share_all: &[f64],
    sim: &[f64],
    names: &[String],
    buyers: u64,
    rules: &[AssocRule],
    top: usize,
) -> Vec<Offer> {
    let m = names.len();
    let index: Vec<f64> = (0..m)
        .map(|i| {
            if share_all[i] > 0.0 {
                share[i] / share_all[i]
            } else {
                0.0
            }
        })
        .collect();
    let mut out: Vec<Offer> = (0..m)
        .filter_map(|i| {
            let (mut num, mut den, mut best, mut best_w) = (0.0, 0.0, None, 0.0);
            for j in (0..m).filter(|&j| j != i) {
                let s = sim[i * m + j];
                if s <= 0.0 {
                    continue;
                }
                num += s * index[j];
                den += s;
                let w = s * index[j];
                if w > best_w {
                    best_w = w;
                    best = Some(j);
                }
            }
            let best = best?;
            let expected = num / den;
            let gain = buyers as f64 * share_all[i] * (expected - index[i]);
            // At least one buyer to gain, and 10% short of the expectation.
            (gain >= 1.0 && index[i] < 0.9 * expected).then(|| Offer {
                item: names[i].clone(),
                share: share[i],
                share_all: share_all[i],
                index: index[i],
                expected_index: expected,
                gain,
                because: names[best].clone(),
                similarity: sim[i * m + best],
                rule: rules.iter().find(|r| r.consequent == names[i]).cloned(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.gain.total_cmp(&a.gain).then(a.item.cmp(&b.item)));
    out.truncate(top);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn classic_example() {
        let cats = names(&["bread", "milk", "beer"]);
        // bread+milk ×3, bread ×1, beer ×1
        let b = Baskets::from_lists([vec![0, 1], vec![1, 0], vec![0, 1], vec![0], vec![2]]);
        let p = BasketParams {
            min_support: 0.2,
            min_confidence: 0.5,
            min_lift: 1.0,
            max_len: 3,
            top: 10,
            memory: crate::profile::market::BASKET_MEMORY,
        };
        let r = rules(&b, &cats, &p).unwrap();
        let milk_bread = r.iter().find(|x| x.consequent == "bread").unwrap();
        assert_eq!(milk_bread.antecedent, vec!["milk".to_string()]);
        assert!((milk_bread.support - 0.6).abs() < 1e-12);
        assert!((milk_bread.confidence - 1.0).abs() < 1e-12);
        assert!((milk_bread.lift - 1.0 / 0.8).abs() < 1e-12);
    }

    #[test]
    fn min_count_is_mlxtends_ceiling() {
        // 0.07 * 100 = 7.000000000000001 in floats: ceil gives 8, as in mlxtend.
        assert_eq!(min_count(100, 0.07), 8);
        assert_eq!(min_count(30, 0.1), 3);
        assert_eq!(min_count(7, 0.5), 4);
        assert_eq!(min_count(100, 0.0), 1);
        assert_eq!(min_count(10, 1.0), 10);
    }

    #[test]
    fn itemsets_equal_a_brute_force_count_with_many_items() {
        // 500 items, far past the old 64-item bitmask.
        let mut rng = crate::rng::Rng::new(3);
        let lists: Vec<Vec<u32>> = (0..4000)
            .map(|_| {
                let mut l: Vec<u32> = (0..1 + rng.below(6))
                    .map(|_| rng.below(500) as u32)
                    .collect();
                if rng.next_f64() < 0.3 {
                    l.extend([7, 400]);
                    if rng.next_f64() < 0.5 {
                        l.push(250);
                    }
                }
                l
            })
            .collect();
        let b = Baskets::from_lists(lists.clone());
        let sets = frequent_itemsets(&b, 500, 0.02, 3).unwrap();
        let min = min_count(b.len(), 0.02);
        let count = |s: &[u32]| {
            (0..b.len())
                .filter(|&k| s.iter().all(|x| b.get(k).contains(x)))
                .count() as u64
        };
        for (s, c) in &sets {
            assert_eq!(*c, count(s), "{s:?}");
            assert!(*c >= min);
        }
        // Every frequent pair is found.
        let singles: Vec<u32> = sets
            .iter()
            .filter(|s| s.0.len() == 1)
            .map(|s| s.0[0])
            .collect();
        for (x, &i) in singles.iter().enumerate() {
            for &j in &singles[x + 1..] {
                let (i, j) = (i.min(j), i.max(j));
                let c = count(&[i, j]);
                assert_eq!(
                    c >= min,
                    sets.iter().any(|s| s.0 == [i, j]),
                    "pair {i},{j} count {c}"
                );
            }
        }
        assert!(sets.iter().any(|s| s.0 == [7, 250, 400]));
    }

    #[test]
    fn offers_point_at_what_the_similar_items_predict() {
        let n = names(&["a", "b", "c"]);
        // a and b always bought together (sim 1); the segment buys a at twice the
        // mall's rate but b at the mall's rate: b is the offer, because of a.
        let sim = vec![0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let o = offers(&[0.4, 0.2, 0.1], &[0.2, 0.2, 0.1], &sim, &n, 1000, &[], 5);
        assert_eq!(o.len(), 1);
        assert_eq!(o[0].item, "b");
        assert_eq!(o[0].because, "a");
        assert!((o[0].expected_index - 2.0).abs() < 1e-12);
        assert!((o[0].gain - 1000.0 * 0.2 * 1.0).abs() < 1e-9);
    }

    #[test]
    fn cosine_is_one_for_proportional_columns() {
        // Columns a, b proportional; c alone. dot = XᵀX of [[1,2,0],[2,4,0],[0,0,5]].
        let dot = vec![5.0, 10.0, 0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 25.0];
        let sim = cosine(&dot, 3);
        let r = recommendations(&sim, &names(&["a", "b", "c"]), 1);
        assert_eq!(r[0].similar[0].0, "b");
        assert!((r[0].similar[0].1 - 1.0).abs() < 1e-12);
        assert_eq!(r[2].similar[0].1, 0.0);
    }
}
