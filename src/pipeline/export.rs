//! `segmenta export`: a run folder as an audience for a CRM, one row per customer
//! (its segment, persona, P(alive), CLV, churn risk and next offer, with the run's
//! as-of date and fit id), in full or as the changes since an earlier run.
//!
//! The audience is read from the folder's artefacts after the lineage check
//! (`lineage::check(.., Upto::All)`): `kmeans/assignments.parquet` (who is in which
//! segment, and the fit id in its footer), `profile/profile.json` (the personas and
//! each segment's ranked offers), `lifetime/customers.parquet` (P(alive), CLV and
//! repeat purchases) and `features/tables/transactions.parquet` (what each customer
//! already bought, so the next offer is one they have not).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int32Type};

use super::lineage::{self, Upto};
use super::RunLayout;
use crate::artefact;
use crate::dates::parse_date;
use crate::error::{Error, Result};
use crate::features::FeaturesReport;
use crate::io::{self, Ids, Source, Staged};
use crate::lifetime::{LifetimeReport, CHURN_RISK_P_ALIVE};
use crate::profile::inputs::IdIndex;
use crate::profile::Profile;

/// What to export.
#[derive(Clone, Debug, Default)]
pub struct ExportOptions {
    /// Only these segments (`None`: all).
    pub segments: Option<Vec<i32>>,
    /// Only customers whose P(alive) is at least this (a customer without one is
    /// left out when it is set).
    pub min_p_alive: Option<f64>,
    /// An earlier run or update of the same customers: write only what changed.
    pub since: Option<PathBuf>,
    /// The columns whose change makes a delta's `update` (empty: [`COMPARED`]).
    pub compare: Vec<String>,
}

/// The columns a delta compares by default: what a campaign acts on. P(alive) and
/// CLV move a little for nearly every customer every month; comparing them
/// (`--compare`) makes almost every row an update.
pub const COMPARED: [&str; 4] = ["segment", "persona", "churn_risk", "next_offer"];

/// The columns a delta may compare.
pub const COMPARABLE: [&str; 6] = [
    "segment",
    "persona",
    "p_alive",
    "clv",
    "churn_risk",
    "next_offer",
];

/// What an export wrote.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ExportSummary {
    /// The file written.
    pub path: PathBuf,
    /// Rows written.
    pub rows: u64,
    /// With `--since`: rows per action (`insert`, `update`, `delete`).
    pub inserts: u64,
    /// Rows whose exported values changed.
    pub updates: u64,
    /// Rows of the earlier audience that are no longer in it.
    pub deletes: u64,
    /// Customers whose exported values did not change (not written).
    pub unchanged: u64,
}

/// One customer's exported values (`as_of` and `fit_id` are the run's).
#[derive(Clone, Debug)]
struct Row {
    segment: i32,
    persona: String,
    p_alive: Option<f64>,
    clv: Option<f64>,
    churn_risk: Option<bool>,
    next_offer: Option<String>,
}

impl Row {
    /// Whether `self` and `other` agree on every column of `compare`.
    fn same(&self, other: &Row, compare: &[&str]) -> bool {
        compare.iter().all(|c| match *c {
            "segment" => self.segment == other.segment,
            "persona" => self.persona == other.persona,
            "p_alive" => self.p_alive == other.p_alive,
            "clv" => self.clv == other.clv,
            "churn_risk" => self.churn_risk == other.churn_risk,
            _ => self.next_offer == other.next_offer,
        })
    }
}

/// A run's audience: ids in assignment order and their rows.
struct Audience {
    ids: Ids,
    rows: Vec<Row>,
    as_of: i32,
    fit_id: String,
}

/// Exports the audience of `run` to `out` (`.csv` or `.parquet`), written whole or
/// not at all.
pub fn export(run: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportSummary> {
    if let Some(m) = opts.min_p_alive.filter(|m| !(0.0..=1.0).contains(m)) {
        return Err(Error::param(
            "--min-p-alive",
            format!("{m} is not a probability (rule: between 0 and 1)"),
        ));
    }
    if let Some(c) = opts
        .compare
        .iter()
        .find(|c| !COMPARABLE.contains(&c.as_str()))
    {
        return Err(Error::param(
            "--compare",
            format!(
                "no column {c:?} (rule: columns among {})",
                COMPARABLE.join(", ")
            ),
        ));
    }
    let now = Audience::load(run, opts)?;
    let before = match &opts.since {
        Some(b) => {
            let b = Audience::load(b, opts)?;
            if matches!(b.ids, Ids::Int(_)) != matches!(now.ids, Ids::Int(_)) {
                return Err(Error::param(
                    "--since",
                    format!(
                        "{}'s customer ids are {} and {}'s are {} (rule: a delta compares the same customers)",
                        opts.since.as_deref().unwrap_or(Path::new("")).display(),
                        id_kind(&b.ids),
                        run.display(),
                        id_kind(&now.ids)
                    ),
                ));
            }
            Some(b)
        }
        None => None,
    };
    let mut staged = Staged::for_file(out)?;
    let summary = match before {
        None => {
            write(&mut staged, out, &now, None)?;
            ExportSummary {
                path: out.to_path_buf(),
                rows: now.rows.len() as u64,
                inserts: 0,
                updates: 0,
                deletes: 0,
                unchanged: 0,
            }
        }
        Some(before) => {
            let compare: Vec<&str> = match opts.compare.is_empty() {
                true => COMPARED.to_vec(),
                false => opts.compare.iter().map(String::as_str).collect(),
            };
            write_delta(&mut staged, out, &now, &before, &compare)?
        }
    };
    staged.commit()?;
    Ok(summary)
}

fn id_kind(ids: &Ids) -> &'static str {
    match ids {
        Ids::Int(_) => "integers",
        Ids::Str(_) => "text",
    }
}

impl Audience {
    fn load(run: &Path, opts: &ExportOptions) -> Result<Audience> {
        lineage::check(run, Upto::All)?;
        let lay = RunLayout::new(run);
        let feats: FeaturesReport = artefact::read(&lay.features_json())?;
        let as_of = parse_date(&feats.as_of, "features.json as_of")?;
        let profile: Profile = artefact::read(&lay.profile_json())?;
        let assignments = lay.assignments();
        let fit_id =
            io::parquet_metadata(&assignments, crate::model::FIT_ID_KEY)?.unwrap_or_default();
        let ids = io::read_ids(&assignments, "customer_id")?;
        let segments = read_i32(&assignments, "segment")?;
        let index = IdIndex::new(&ids);
        let persona: HashMap<i32, &str> = profile
            .segments
            .iter()
            .map(|s| (s.segment, s.persona.as_str()))
            .collect();

        // Lifetime: P(alive) and CLV per customer; churn risk where the fit found
        // dropout and the customer has a repeat purchase (the report's definition).
        let n = ids.len();
        let (mut p_alive, mut clv, mut churn) = (vec![None; n], vec![None; n], vec![None; n]);
        let life_dir = lay.stage("lifetime");
        let life_pq = life_dir.join("customers.parquet");
        if life_pq.is_file() {
            let report: LifetimeReport = artefact::read(&lay.lifetime_json())?;
            let dropout = report.segments.iter().any(|s| s.churn_risk.is_some());
            let src = Source::open(&life_pq)?;
            let cols = column_indices(&src, &["customer_id", "p_alive", "clv", "frequency"])?;
            for b in src.batches(&cols)? {
                let b = b?;
                let rows = index.rows(col(&b, "customer_id"), &life_pq)?;
                let pa = f64s(col(&b, "p_alive"), &life_pq)?;
                let cl = f64s(col(&b, "clv"), &life_pq)?;
                let fr = f64s(col(&b, "frequency"), &life_pq)?;
                for (i, r) in rows.into_iter().enumerate() {
                    let Some(r) = r else { continue };
                    p_alive[r] = pa.is_valid(i).then(|| round(pa.value(i), 1e4));
                    clv[r] = cl.is_valid(i).then(|| round(cl.value(i), 1e2));
                    let repeat = fr.is_valid(i) && fr.value(i) > 0.0;
                    churn[r] = (dropout && repeat && pa.is_valid(i))
                        .then(|| pa.value(i) < CHURN_RISK_P_ALIVE);
                }
            }
        }

        let next_offer = next_offers(&lay, &profile, &index, &segments)?;
        let mut rows = Vec::with_capacity(n);
        for i in 0..n {
            rows.push(Row {
                segment: segments[i],
                persona: persona.get(&segments[i]).copied().unwrap_or("").to_string(),
                p_alive: p_alive[i],
                clv: clv[i],
                churn_risk: churn[i],
                next_offer: next_offer[i].clone(),
            });
        }
        let keep = |r: &Row| {
            opts.segments
                .as_ref()
                .is_none_or(|s| s.contains(&r.segment))
                && opts
                    .min_p_alive
                    .is_none_or(|m| r.p_alive.is_some_and(|p| p >= m))
        };
        let chosen: Vec<usize> = (0..n).filter(|&i| keep(&rows[i])).collect();
        let ids = ids.select(&chosen);
        let rows = chosen.into_iter().map(|i| rows[i].clone()).collect();
        Ok(Audience {
            ids,
            rows,
            as_of,
            fit_id,
        })
    }
}

/// The first offer of each customer's segment (profile.json's ranking) that the
/// customer has not bought: purchase lines of the kept transactions, by the
/// basket's item column. `None` without baskets, or when every offer was bought.
fn next_offers(
    lay: &RunLayout,
    profile: &Profile,
    index: &IdIndex,
    segments: &[i32],
) -> Result<Vec<Option<String>>> {
    let n = segments.len();
    let Some(basket) = &profile.basket else {
        return Ok(vec![None; n]);
    };
    // Each segment's offers in rank order (the first 64: profile.json ranks a
    // handful), and the rank of each, for one lookup per purchase line.
    let offers: HashMap<i32, Vec<&str>> = basket
        .segments
        .iter()
        .map(|s| {
            (
                s.segment,
                s.offers.iter().take(64).map(|o| o.item.as_str()).collect(),
            )
        })
        .collect();
    let rank: HashMap<(i32, &str), u32> = offers
        .iter()
        .flat_map(|(s, list)| {
            list.iter()
                .enumerate()
                .map(move |(j, o)| ((*s, *o), j as u32))
        })
        .collect();
    // Bit j of bought[row]: the customer bought its segment's offer j.
    let mut bought = vec![0u64; n];
    if let Some(tx) = crate::profile::inputs::find(&lay.tables(), "transactions") {
        let src = Source::open(&tx)?;
        let cols = column_indices(&src, &["customer_id", &basket.item, "amount"])?;
        for b in src.batches(&cols)? {
            let b = b?;
            let rows = index.rows(col(&b, "customer_id"), &tx)?;
            let item =
                cast(col(&b, &basket.item), &DataType::Utf8).map_err(|e| arrow_err(&tx, e))?;
            let item = item.as_string::<i32>();
            let amount = f64s(col(&b, "amount"), &tx)?;
            for (i, r) in rows.into_iter().enumerate() {
                let Some(r) = r else { continue };
                if !item.is_valid(i) || (amount.is_valid(i) && amount.value(i) < 0.0) {
                    continue;
                }
                if let Some(j) = rank.get(&(segments[r], item.value(i))) {
                    bought[r] |= 1 << j;
                }
            }
        }
    }
    Ok((0..n)
        .map(|r| {
            let list = offers.get(&segments[r])?;
            list.iter()
                .enumerate()
                .find(|(j, _)| bought[r] & (1 << j) == 0)
                .map(|(_, o)| o.to_string())
        })
        .collect())
}

/// Writes the rows of `a`; with `delta`, the actions and previous segments too.
fn write(
    staged: &mut Staged,
    out: &Path,
    a: &Audience,
    delta: Option<(&[&str], &[Option<i32>])>,
) -> Result<()> {
    let rows = &a.rows;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    if let Some((actions, _)) = delta {
        cols.push(("action", Arc::new(StringArray::from(actions.to_vec()))));
    }
    cols.push(("customer_id", a.ids.to_arrow()));
    cols.push((
        "segment",
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.segment))),
    ));
    if let Some((_, previous)) = delta {
        cols.push((
            "previous_segment",
            Arc::new(Int32Array::from(previous.to_vec())),
        ));
    }
    cols.push((
        "persona",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.persona.as_str()),
        )),
    ));
    cols.push((
        "p_alive",
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.p_alive))),
    ));
    cols.push((
        "clv",
        Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.clv))),
    ));
    cols.push((
        "churn_risk",
        Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.churn_risk))),
    ));
    cols.push((
        "next_offer",
        Arc::new(StringArray::from_iter(
            rows.iter().map(|r| r.next_offer.as_deref()),
        )),
    ));
    cols.push((
        "as_of",
        Arc::new(Date32Array::from_iter_values(rows.iter().map(|_| a.as_of))),
    ));
    cols.push((
        "fit_id",
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|_| a.fit_id.as_str()),
        )),
    ));
    io::write_table(staged, out, cols)
}

/// Writes what changed from `before` to `now` on the `compare` columns: inserts
/// and updates in `now`'s order (all their values now's), then deletes (their
/// values the earlier run's).
fn write_delta(
    staged: &mut Staged,
    out: &Path,
    now: &Audience,
    before: &Audience,
    compare: &[&str],
) -> Result<ExportSummary> {
    let old = IdIndex::new(&before.ids);
    let old_rows = old.rows(now.ids.to_arrow().as_ref(), out)?;
    let mut keep = Vec::new();
    let mut actions = Vec::new();
    let mut previous = Vec::new();
    let mut seen = vec![false; before.rows.len()];
    let (mut inserts, mut updates, mut unchanged) = (0u64, 0u64, 0u64);
    for (i, o) in old_rows.iter().enumerate() {
        match o {
            None => {
                inserts += 1;
                keep.push(i);
                actions.push("insert");
                previous.push(None);
            }
            Some(o) => {
                seen[*o] = true;
                if before.rows[*o].same(&now.rows[i], compare) {
                    unchanged += 1;
                } else {
                    updates += 1;
                    keep.push(i);
                    actions.push("update");
                    previous.push(Some(before.rows[*o].segment));
                }
            }
        }
    }
    // Deletes: the earlier rows, marked, appended as an audience of their own.
    let gone: Vec<usize> = (0..before.rows.len()).filter(|&o| !seen[o]).collect();
    let deletes = gone.len() as u64;
    let mut all = Audience {
        ids: concat_ids(&now.ids, &keep, &before.ids, &gone),
        rows: keep.iter().map(|&i| now.rows[i].clone()).collect(),
        as_of: now.as_of,
        fit_id: now.fit_id.clone(),
    };
    for &o in &gone {
        all.rows.push(before.rows[o].clone());
        actions.push("delete");
        previous.push(Some(before.rows[o].segment));
    }
    write(staged, out, &all, Some((&actions, &previous)))?;
    Ok(ExportSummary {
        path: out.to_path_buf(),
        rows: all.rows.len() as u64,
        inserts,
        updates,
        deletes,
        unchanged,
    })
}

fn concat_ids(a: &Ids, ai: &[usize], b: &Ids, bi: &[usize]) -> Ids {
    match (a.select(ai), b.select(bi)) {
        (Ids::Int(mut x), Ids::Int(y)) => {
            x.extend(y);
            Ids::Int(x)
        }
        (x, y) => Ids::Str(
            (0..x.len())
                .map(|i| x.display(i))
                .chain((0..y.len()).map(|i| y.display(i)))
                .collect(),
        ),
    }
}

fn round(v: f64, scale: f64) -> f64 {
    (v * scale).round() / scale
}

fn arrow_err(path: &Path, e: arrow::error::ArrowError) -> Error {
    Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn column_indices(src: &Source, names: &[&str]) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|n| {
            src.schema()
                .index_of(n)
                .map_err(|_| Error::missing_column(src.path(), n, src.schema()))
        })
        .collect()
}

fn col<'a>(b: &'a arrow::record_batch::RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name)
        .expect("projected by column_indices")
        .as_ref()
}

fn f64s(a: &dyn Array, path: &Path) -> Result<arrow::array::PrimitiveArray<Float64Type>> {
    Ok(cast(a, &DataType::Float64)
        .map_err(|e| arrow_err(path, e))?
        .as_primitive::<Float64Type>()
        .clone())
}

fn read_i32(path: &Path, name: &str) -> Result<Vec<i32>> {
    let src = Source::open(path)?;
    let cols = column_indices(&src, &[name])?;
    let mut out = Vec::new();
    for b in src.batches(&cols)? {
        let b = b?;
        let a = cast(col(&b, name), &DataType::Int32).map_err(|e| arrow_err(path, e))?;
        let a = a.as_primitive::<Int32Type>();
        if a.null_count() > 0 {
            return Err(Error::Source {
                path: path.to_path_buf(),
                message: format!("{name} has empty cells (rule: every customer has a segment)"),
            });
        }
        out.extend(a.values().iter().copied());
    }
    Ok(out)
}
