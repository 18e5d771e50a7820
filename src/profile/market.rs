//! The basket stage: reads the kept transactions table, builds each segment's
//! baskets and mines them ([`super::basket`]), then the cross-sell similarity and
//! the next best offers.
//!
//! **Baskets** are invoices where the table has an `invoice` value, customer-days
//! otherwise. **Items** are the values of one column: `--basket-item` (`product`,
//! `sku` (the same), `category`, `description`, or any text column of the
//! canonical table); by default `product` when the table has products, else
//! `category`. Lines with a zero, negative or missing amount are not purchases.
//!
//! **Memory.** A purchase line takes 16 bytes while its segment waits to be mined
//! (basket key, item, customer), and up to twice that while its vector grows. When
//! the table's lines would take more than the budget (`BasketParams::memory`,
//! [`BASKET_MEMORY`] unless given), the segments are split into groups of about equal count and the
//! table is read once per group, so only one group's lines are held; `passes` in the
//! report says how many reads it took. The groups split segments, not lines: one
//! segment's lines are always held at once (the customer-hash partitions of the
//! story's-mall issue are what bounds that). The mining holds one segment's
//! tid-lists.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use rayon::slice::ParallelSliceMut;

use super::basket::{self, BasketParams, BasketReport, SegmentRules, SIM_ITEMS};
use super::inputs::{IdIndex, Report};
use crate::dates::DAY_US;
use crate::error::{Error, Result};
use crate::io::Source;

/// Bytes the held purchase lines may take at once by default.
pub const BASKET_MEMORY: usize = 2 << 30;
/// Bytes a held purchase line may take: 16, twice while its vector grows.
const LINE_BYTES: usize = 32;
/// Items in the report's cross-sell table.
const RECOMMEND_ITEMS: usize = 30;
/// Next best offers per segment.
const OFFERS: usize = 5;

/// Whether column `name` of `src` holds any non-null value.
fn has_values(src: &Source, name: &str) -> Result<bool> {
    let Ok(i) = src.schema().index_of(name) else {
        return Ok(false);
    };
    for b in src.batches(&[i])? {
        let b = b?;
        if b.column(0).null_count() < b.num_rows() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The item column: the user's, or `product` when the table has products, else
/// `category`. `Ok(None)`: the default and neither column has values.
fn item_column(src: &Source, item: Option<&str>, path: &Path) -> Result<Option<String>> {
    match item {
        Some(c) => {
            let c = if c == "sku" { "product" } else { c };
            if ["customer_id", "ts", "amount", "invoice"].contains(&c) {
                return Err(Error::param(
                    "--basket-item",
                    format!("`{c}` is not an item column (customer_id, ts, amount and invoice make the baskets)"),
                ));
            }
            if src.schema().index_of(c).is_err() {
                let cols: Vec<&str> = src
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(Error::param(
                    "--basket-item",
                    format!(
                        "{}: no column `{c}` (columns: {})",
                        path.display(),
                        cols.join(", ")
                    ),
                ));
            }
            Ok(Some(c.to_string()))
        }
        None => {
            for c in ["product", "category"] {
                if has_values(src, c)? {
                    return Ok(Some(c.to_string()));
                }
            }
            Ok(None)
        }
    }
}

/// Interns strings as dense ids, in first-seen order.
#[derive(Default)]
pub(super) struct Dict {
    ids: HashMap<String, u32>,
    pub(super) names: Vec<String>,
}

impl Dict {
    pub(super) fn id(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(s.to_string(), i);
        self.names.push(s.to_string());
        i
    }
}

/// Basket rules, similarity and offers per segment from a canonical transactions
/// table; `Ok(Err(note))` when the table cannot give any (the note says why).
#[allow(clippy::too_many_arguments)]
pub fn basket_report(
    path: &Path,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
    params: &BasketParams,
    item: Option<&str>,
) -> Report<BasketReport> {
    if labels.len() >= 1 << 31 {
        return Ok(Err(format!(
            "{}: {} customers: the basket keys hold at most 2^31",
            path.display(),
            labels.len()
        )));
    }
    let src = Source::open(path)?;
    let Some(item_col) = item_column(&src, item, path)? else {
        return Ok(Err(format!(
            "{}: no product or category values: no basket rules (--basket-item names the item column)",
            path.display()
        )));
    };
    let schema = src.schema().clone();
    for c in ["customer_id", "ts"] {
        if schema.index_of(c).is_err() {
            return Ok(Err(format!(
                "{}: no `{c}` column: no basket rules (they need customer_id, ts and an item column)",
                path.display()
            )));
        }
    }
    let mut wanted = vec!["customer_id", "ts", item_col.as_str()];
    let optional = ["amount", "invoice", "description"];
    for c in optional {
        if c != item_col && schema.index_of(c).is_ok() {
            wanted.push(c);
        }
    }
    let idx: Vec<usize> = wanted
        .iter()
        .map(|c| schema.index_of(c).expect("checked"))
        .collect();

    // Groups of segments, so that one group's lines fit the budget.
    let nseg = seg_ids.len().max(1);
    let groups = (src.rows_hint().unwrap_or(0) * LINE_BYTES)
        .div_ceil(params.memory.max(1))
        .clamp(1, nseg);
    let group_of: Vec<usize> = (0..seg_ids.len()).map(|s| s * groups / nseg).collect();
    let seg_of_row: Vec<usize> = labels.iter().map(|l| seg_pos[l]).collect();

    let mut items = Dict::default();
    let mut descs = Dict::default();
    let mut desc_count: HashMap<(u32, u32), u64> = HashMap::new();
    let mut item_lines: Vec<u64> = Vec::new();
    let mut day_keys: HashMap<String, i64> = HashMap::new();
    let mut lines_used = 0u64;
    let mut has_invoice_baskets = false;
    let mut has_day_baskets = false;
    let mut results: Vec<Option<Mined>> = (0..seg_ids.len()).map(|_| None).collect();
    let mut sim_pos: Vec<u32> = Vec::new();
    let mut sim_names: Vec<String> = Vec::new();
    let mut dot: Vec<f64> = Vec::new();
    let err = |e: arrow::error::ArrowError| Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    for group in 0..groups {
        // This group's lines per segment position: (basket key, item, customer row).
        let mut held: Vec<Vec<(u64, u32, u32)>> = vec![Vec::new(); seg_ids.len()];
        let mut invoices = Dict::default();
        for b in src.batches(&idx)? {
            let b = b?;
            let col = |name: &str| b.schema().index_of(name).ok().map(|i| b.column(i).clone());
            let rows = index.rows(col("customer_id").expect("projected").as_ref(), path)?;
            let ts = col("ts").expect("projected");
            let day = basket_days(&ts, &mut day_keys).map_err(err)?;
            let it = cast(&col(&item_col).expect("projected"), &DataType::Utf8).map_err(err)?;
            let it = it.as_string::<i32>();
            let amt = col("amount")
                .map(|a| cast(&a, &DataType::Float64))
                .transpose()
                .map_err(err)?;
            let amt = amt.as_ref().map(|a| a.as_primitive::<Float64Type>());
            let inv = col("invoice")
                .map(|a| cast(&a, &DataType::Utf8))
                .transpose()
                .map_err(err)?;
            let inv = inv.as_ref().map(|a| a.as_string::<i32>());
            let desc = col("description")
                .filter(|_| group == 0 && item_col != "description")
                .map(|a| cast(&a, &DataType::Utf8))
                .transpose()
                .map_err(err)?;
            let desc = desc.as_ref().map(|a| a.as_string::<i32>());
            for i in 0..b.num_rows() {
                let (Some(r), Some(d)) = (rows[i], day[i]) else {
                    continue;
                };
                if !it.is_valid(i) {
                    continue;
                }
                let v = amt.map_or(Some(1.0), |a| a.is_valid(i).then(|| a.value(i)));
                // Lines with a zero, negative or missing amount are not purchases.
                if !v.is_some_and(|v| v > 0.0) {
                    continue;
                }
                let s = seg_of_row[r];
                let this_group = group_of[s] == group;
                if group > 0 && !this_group {
                    continue;
                }
                let name = it.value(i).trim();
                if name.is_empty() {
                    continue;
                }
                let item = items.id(name);
                if group == 0 {
                    item_lines.resize(items.names.len(), 0);
                    item_lines[item as usize] += 1;
                    lines_used += 1;
                    if let Some(dc) = desc.filter(|dc| dc.is_valid(i)) {
                        let t = dc.value(i).trim();
                        if !t.is_empty() {
                            *desc_count.entry((item, descs.id(t))).or_default() += 1;
                        }
                    }
                }
                if !this_group {
                    continue;
                }
                let key = match inv.filter(|a| a.is_valid(i) && !a.value(i).is_empty()) {
                    Some(a) => {
                        has_invoice_baskets = true;
                        1u64 << 63 | invoices.id(a.value(i)) as u64
                    }
                    None => {
                        has_day_baskets = true;
                        (r as u64) << 32 | (d as u32 as u64)
                    }
                };
                held[s].push((key, item, r as u32));
            }
        }
        if group == 0 {
            if lines_used == 0 {
                return Ok(Err(format!(
                    "{}: no purchase line of a profiled customer: no basket rules",
                    path.display()
                )));
            }
            // The similarity items: the most bought (by lines), ties by name.
            let mut order: Vec<u32> = (0..items.names.len() as u32).collect();
            order.sort_by(|a, b| {
                item_lines[*b as usize]
                    .cmp(&item_lines[*a as usize])
                    .then(items.names[*a as usize].cmp(&items.names[*b as usize]))
            });
            order.truncate(SIM_ITEMS);
            sim_pos = vec![u32::MAX; items.names.len()];
            for (k, &i) in order.iter().enumerate() {
                sim_pos[i as usize] = k as u32;
            }
            sim_names = order
                .iter()
                .map(|&i| items.names[i as usize].clone())
                .collect();
            dot = vec![0.0; sim_names.len() * sim_names.len()];
        }
        for (s, lines) in held.into_iter().enumerate() {
            if group_of[s] != group {
                continue;
            }
            results[s] = Some(mine(
                lines,
                &items.names,
                &sim_pos,
                sim_names.len(),
                &mut dot,
                params,
            ));
        }
    }

    let m = sim_names.len();
    let sim = basket::cosine(&dot, m);
    let mined: Vec<Mined> = results.into_iter().map(|r| r.expect("mined")).collect();
    let all_buyers: u64 = mined.iter().map(|x| x.buyers).sum();
    let mut share_all = vec![0.0; m];
    for x in &mined {
        for (t, &c) in x.buyers_of.iter().enumerate() {
            share_all[t] += c as f64;
        }
    }
    for v in share_all.iter_mut() {
        *v /= all_buyers.max(1) as f64;
    }
    let segments: Vec<SegmentRules> = seg_ids
        .iter()
        .zip(mined)
        .map(|(seg, x)| {
            let share: Vec<f64> = x
                .buyers_of
                .iter()
                .map(|&c| c as f64 / x.buyers.max(1) as f64)
                .collect();
            let offers = basket::offers(
                &share, &share_all, &sim, &sim_names, x.buyers, &x.rules, OFFERS,
            );
            let mut rules = x.rules;
            rules.truncate(params.top);
            SegmentRules {
                segment: *seg,
                baskets: x.baskets,
                buyers: x.buyers,
                itemsets: x.itemsets,
                rules,
                offers,
                note: x.note,
            }
        })
        .collect();
    let mut recommendations = basket::recommendations(&sim, &sim_names, 3);
    recommendations.truncate(RECOMMEND_ITEMS);

    // Descriptions of the items shown: the most frequent of each item's lines.
    let mut labels_out = BTreeMap::new();
    if !desc_count.is_empty() {
        let mut best: HashMap<u32, (u64, u32)> = HashMap::new();
        for (&(item, d), &c) in &desc_count {
            let e = best.entry(item).or_insert((0, d));
            if c > e.0 || (c == e.0 && descs.names[d as usize] < descs.names[e.1 as usize]) {
                *e = (c, d);
            }
        }
        let mut shown: Vec<&str> = Vec::new();
        for s in &segments {
            for r in &s.rules {
                shown.extend(r.antecedent.iter().map(String::as_str));
                shown.push(&r.consequent);
            }
            for o in &s.offers {
                shown.push(&o.item);
                shown.push(&o.because);
            }
        }
        for r in &recommendations {
            shown.push(&r.item);
            shown.extend(r.similar.iter().map(|x| x.0.as_str()));
        }
        for name in shown {
            if let Some(&(_, d)) = items.ids.get(name).and_then(|i| best.get(i)) {
                labels_out.insert(name.to_string(), descs.names[d as usize].clone());
            }
        }
    }
    let basket = match (has_invoice_baskets, has_day_baskets) {
        (true, false) => "an invoice",
        (true, true) => "an invoice (a customer-day where a line has no invoice)",
        _ => "the items one customer bought on one day",
    };
    Ok(Ok(BasketReport {
        basket: basket.into(),
        item: item_col,
        min_support: params.min_support,
        min_confidence: params.min_confidence,
        min_lift: params.min_lift,
        max_len: params.max_len,
        items: items.names.len() as u64,
        lines: lines_used,
        passes: groups as u32,
        labels: labels_out,
        segments,
        recommendations,
    }))
}

/// The day of each line: days since the epoch for timestamps and dates; for text
/// timestamps, a key per distinct date part (one key map for the whole table, so a
/// day keeps its key across batches).
fn basket_days(
    ts: &arrow::array::ArrayRef,
    day_keys: &mut HashMap<String, i64>,
) -> std::result::Result<Vec<Option<i64>>, arrow::error::ArrowError> {
    Ok(match ts.data_type() {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let us = cast(ts, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            cast(&us, &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map(|v| v.div_euclid(DAY_US)))
                .collect()
        }
        _ => cast(ts, &DataType::Utf8)?
            .as_string::<i32>()
            .iter()
            .map(|v| {
                v.map(|v| {
                    let d = v.split([' ', 'T']).next().unwrap_or(v).to_string();
                    let n = day_keys.len() as i64;
                    *day_keys.entry(d).or_insert(n)
                })
            })
            .collect(),
    })
}

/// One segment, mined.
struct Mined {
    baskets: u64,
    buyers: u64,
    /// Buyers of each similarity item.
    buyers_of: Vec<u64>,
    itemsets: u64,
    /// All rules that passed, best first.
    rules: Vec<basket::AssocRule>,
    note: Option<String>,
}

/// Baskets and rules of one segment's lines; adds its customers' purchase counts
/// to the similarity items' dot products.
fn mine(
    mut lines: Vec<(u64, u32, u32)>,
    names: &[String],
    sim_pos: &[u32],
    m: usize,
    dot: &mut [f64],
    params: &BasketParams,
) -> Mined {
    lines.par_sort_unstable();
    let mut baskets = basket::Baskets::default();
    let mut cur: Vec<u32> = Vec::new();
    let mut key = None;
    for &(k, item, _) in &lines {
        if key != Some(k) {
            if key.is_some() {
                baskets.push(&cur);
            }
            cur.clear();
            key = Some(k);
        }
        if cur.last() != Some(&item) {
            cur.push(item);
        }
    }
    if key.is_some() {
        baskets.push(&cur);
    }
    // Customers: purchase counts of the similarity items.
    lines.par_sort_unstable_by_key(|&(_, item, row)| (row, item));
    let mut buyers = 0u64;
    let mut buyers_of = vec![0u64; m];
    let mut counts: Vec<(usize, f64)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let row = lines[i].2;
        buyers += 1;
        counts.clear();
        while i < lines.len() && lines[i].2 == row {
            let item = lines[i].1;
            let mut c = 0.0;
            while i < lines.len() && lines[i].2 == row && lines[i].1 == item {
                c += 1.0;
                i += 1;
            }
            let t = sim_pos[item as usize];
            if t != u32::MAX {
                counts.push((t as usize, c));
                buyers_of[t as usize] += 1;
            }
        }
        for &(a, ca) in &counts {
            for &(b, cb) in &counts {
                dot[a * m + b] += ca * cb;
            }
        }
    }
    drop(lines);
    let (itemsets, rules, note) = match basket::frequent_itemsets(
        &baskets,
        names.len(),
        params.min_support,
        params.max_len,
    ) {
        Ok(sets) => {
            let r = basket::rules_from_itemsets(&sets, baskets.len(), names, params);
            (sets.len() as u64, r, None)
        }
        Err(e) => (0, Vec::new(), Some(e)),
    };
    Mined {
        baskets: baskets.len() as u64,
        buyers,
        buyers_of,
        itemsets,
        rules,
        note,
    }
}
