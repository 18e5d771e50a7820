//! A synthetic mall: six planted personas with overlapping, realistic behaviour,
//! written as the canonical raw tables of ARCHITECTURE.md, with planted dirt counted
//! exactly and the truth kept.
//!
//! Realism, so that the engine is tuned on something honest: tickets are log-normal,
//! visit counts negative binomial (a gamma-distributed personal rate, then Poisson),
//! weekends, evenings and December are busier, about
//! one customer in eight churns mid-window and one in seven signs up during it, and
//! every customer's habits are jittered around their persona's, so personas overlap.
//! The frequency and spend distributions are calibrated against Online Retail and
//! CDNOW (`scripts/realism.py`, BENCHMARKS.md "Realism").
//!
//! Stores sell products (`catalog`: twelve per category), and five personas buy
//! planted bundles (a film and its popcorn, a handbag with jewellery and perfume…),
//! written to `mall.json` as `affinities`: the truth of the basket rules.
//!
//! Determinism: customer `i` draws everything from its own stream
//! `Rng::stream(seed, i)`, and chunks of customers are generated in parallel but
//! written in order, so the files are identical for a seed whatever the thread count.
//! Memory is bounded by a few chunks in flight.
//!
//! Dirt never corrupts a real row: each dirty row is an *extra* row (a copied
//! transaction, a refund with a negative amount, a visit that ends before it starts…),
//! so the clean data is exactly what the personas produced and every planted row can
//! be counted.

mod catalog;
mod draw;
mod persona;
mod spell;
mod tables;

use std::fs::File;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;
use serde::Serialize;

use crate::dates::{add_months, days_from_civil, format_date, DAY_US};
use crate::error::{Error, Result};
use crate::io::Staged;
use crate::rng::Rng;
use draw::{normal, pick};
use persona::age_band_weights;
pub use persona::{personas, Persona};
use spell::{Habits, Spell, DRIFT_STREAM};
use tables::{tables, Chunk};

pub use catalog::Affinity;

/// A persona's planted co-purchase: `(bundle_p, [(category, product)])`.
type Bundle = (f64, Vec<(usize, usize)>);

/// Shape of the gamma behind each customer's visit rate (CV `1 / sqrt(shape)`):
/// heavy and light visitors within a persona. Calibration: BENCHMARKS.md, "Realism"
/// (a wider gamma brings the frequency CV nearer real retail, but K-means at k = 6
/// then splits the personas by how often they come: ARI 0.64 at shape 1.5, 0.72 at 3).
const RATE_SHAPE: f64 = 4.0;
/// Spread (log scale) of a customer's usual ticket around the persona's.
const TICKET_SPREAD: f64 = 0.5;

/// Customers generated per chunk (one random stream each; one Parquet batch).
const CHUNK: usize = 16_384;

/// Product categories. `luxury` and `food` feed the spend-share features.
pub const CATEGORIES: [&str; 9] = [
    "luxury",
    "fashion",
    "food",
    "entertainment",
    "electronics",
    "home",
    "kids",
    "beauty",
    "grocery",
];

/// The streaming packages of SHOPPING x STREAMING.
pub const PACKAGES: [&str; 7] = [
    "Filmes & Séries",
    "Esportes",
    "Infantil",
    "Novelas",
    "Notícias",
    "Cultura & Variedades",
    "Rádio & Músicas",
];

const ENTRANCES: [&str; 5] = ["North", "South", "East", "West", "Parking"];
const ZONES: [&str; 6] = [
    "Food Court",
    "Fashion Wing",
    "Entertainment",
    "Luxury Hall",
    "Kids Zone",
    "Hypermarket",
];

/// What to generate.
#[derive(Clone, Debug)]
pub struct MallSpec {
    /// Customers.
    pub customers: usize,
    /// Length of the history, in calendar months.
    pub months: u32,
    /// First day of the window (days since 1970-01-01).
    pub start: i32,
    /// Seed.
    pub seed: u64,
    /// Rate of planted dirt (see [`DirtCounts`]).
    pub dirt: f64,
    /// Share of the customers active on both sides of `drift_at` who switch persona
    /// on that day.
    pub drift: f64,
    /// The day drifting customers switch (days since 1970-01-01).
    pub drift_at: Option<i32>,
    /// Write only the history before this day (the mall is the same; `mall.json`'s
    /// window ends here).
    pub cut: Option<i32>,
}

impl MallSpec {
    /// `customers` over 12 months from 2025-01-01, 1% dirt.
    pub fn new(customers: usize, seed: u64) -> Self {
        MallSpec {
            customers,
            months: 12,
            start: days_from_civil(2025, 1, 1),
            seed,
            dirt: 0.01,
            drift: 0.0,
            drift_at: None,
            cut: None,
        }
    }

    /// First day after the simulated history.
    pub fn end(&self) -> i32 {
        add_months(self.start, self.months)
    }

    fn validate(&self) -> Result<()> {
        if self.customers == 0 {
            return Err(Error::param("--customers", "must be at least 1"));
        }
        if self.customers > i64::MAX as usize / 4 {
            return Err(Error::param("--customers", "is too large"));
        }
        if !(1..=120).contains(&self.months) {
            return Err(Error::param("--months", "must be 1..=120"));
        }
        if !(0.0..=0.5).contains(&self.dirt) || self.dirt.is_nan() {
            return Err(Error::param("--dirt", "must be a rate in [0, 0.5]"));
        }
        if !(0.0..=1.0).contains(&self.drift) || self.drift.is_nan() {
            return Err(Error::param("--drift", "must be a rate in [0, 1]"));
        }
        let (start, end) = (self.start, self.end());
        if let Some(d) = self.drift_at {
            if d <= start || d >= end {
                return Err(Error::param(
                    "--drift-at",
                    format!(
                        "{} is not inside the history (rule: after {} and before {})",
                        format_date(d),
                        format_date(start),
                        format_date(end)
                    ),
                ));
            }
        }
        if let Some(c) = self.cut {
            if c <= start || c > end {
                return Err(Error::param(
                    "--cut",
                    format!(
                        "{} is not inside the history (rule: after {} and at most {})",
                        format_date(c),
                        format_date(start),
                        format_date(end)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Planted dirt, counted exactly. Every count is a number of extra rows (or, for
/// birth years, of customer rows) in the raw tables.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct DirtCounts {
    /// Exact copies of a real transaction line.
    pub duplicate_transactions: u64,
    /// Returns: a negative copy of a purchase line, one second after it (kept, and
    /// netted against that purchase by the features stage).
    pub negative_amounts: u64,
    /// Transactions with an absurd amount (≥ 1,000,000).
    pub absurd_amounts: u64,
    /// Transactions dated outside the window (before its start or after its end).
    pub transactions_out_of_window: u64,
    /// Transactions of a customer id that is not in `customers`.
    pub unknown_customer_transactions: u64,
    /// Visits whose `left_at` comes before `entered_at`.
    pub visits_exit_before_entry: u64,
    /// Customers whose birth year is missing.
    pub missing_birth_years: u64,
    /// Customers whose birth year gives an age outside 0–110.
    pub impossible_birth_years: u64,
}

impl DirtCounts {
    fn add(&mut self, o: &DirtCounts) {
        self.duplicate_transactions += o.duplicate_transactions;
        self.negative_amounts += o.negative_amounts;
        self.absurd_amounts += o.absurd_amounts;
        self.transactions_out_of_window += o.transactions_out_of_window;
        self.unknown_customer_transactions += o.unknown_customer_transactions;
        self.visits_exit_before_entry += o.visits_exit_before_entry;
        self.missing_birth_years += o.missing_birth_years;
        self.impossible_birth_years += o.impossible_birth_years;
    }
}

/// Rows written per table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TableRows {
    /// customers.parquet
    pub customers: u64,
    /// transactions.parquet
    pub transactions: u64,
    /// visits.parquet
    pub visits: u64,
    /// wifi_sessions.parquet
    pub wifi_sessions: u64,
    /// app_events.parquet
    pub app_events: u64,
    /// streaming.parquet
    pub streaming: u64,
    /// truth.parquet
    pub truth: u64,
}

/// The generator's manifest, written as `mall.json` beside the tables.
#[derive(Clone, Debug, Serialize)]
pub struct MallManifest {
    /// Always "segmenta-mall".
    pub format: &'static str,
    /// Manifest version.
    pub version: u32,
    /// Seed.
    pub seed: u64,
    /// Customers.
    pub customers: u64,
    /// Months of history.
    pub months: u32,
    /// First day of the window, `YYYY-MM-DD`.
    pub window_start: String,
    /// First day after the window, `YYYY-MM-DD` (the natural `--as-of`): the cut,
    /// when there is one.
    pub window_end: String,
    /// First day after the simulated history (`window_end` without a cut).
    pub history_end: String,
    /// Dirt rate asked for.
    pub dirt_rate: f64,
    /// Planted dirt, counted.
    pub dirt: DirtCounts,
    /// Rows per table.
    pub rows: TableRows,
    /// Planted personas with their customer counts, in truth-id order.
    pub personas: Vec<(String, u64)>,
    /// Customers who stop coming before the window ends.
    pub churned: u64,
    /// Share of customers asked to switch persona.
    pub drift_rate: f64,
    /// The day they switch.
    pub drift_at: Option<String>,
    /// Customers who switched (truth.parquet: `persona_after_id`, `switched_on`).
    pub switched: u64,
    /// Planted co-purchases (see `catalog`): the basket rules each persona's
    /// segment should show.
    pub affinities: Vec<Affinity>,
}

struct Window {
    start: i32,
    end: i32, // exclusive
    /// Rows from this day on are not written (`end` without a cut).
    cut: i32,
    /// Whether there is a cut.
    cutting: bool,
}

impl Window {
    /// Rows (by their start: a purchase, an entry, a session's start, an event)
    /// at or after this instant are left out: the cut, or nothing without one (so
    /// that a mall without a cut is the mall it always was).
    fn limit(&self) -> i64 {
        if self.cutting {
            i64::from(self.cut) * DAY_US
        } else {
            i64::MAX
        }
    }
}

/// Draws customer `idx` and their rows; `shares` are the personas' shares.
#[allow(clippy::too_many_arguments)]
fn gen_customer(
    spec: &MallSpec,
    ps: &[Persona],
    bundles: &[Bundle],
    popularity: &[f64],
    shares: &[f64],
    w: &Window,
    idx: usize,
    c: &mut Chunk,
) {
    let mut r = Rng::stream(spec.seed, idx as u64);
    let id = idx as i64 + 1;
    let pi = pick(&mut r, shares);
    let p = &ps[pi];
    let window_days = w.end - w.start;
    let end_year = crate::dates::civil_from_days(w.end).0;

    // Demographics.
    let age = (p.age.0 + p.age.1 * normal(&mut r)).clamp(18.0, 88.0);
    let mut birth = Some(end_year - age.round() as i32);
    // Counted below, when the customer is written (a cut leaves out later sign-ups).
    let (mut missing_birth, mut impossible_birth) = (false, false);
    if r.next_f64() < spec.dirt {
        birth = None;
        missing_birth = true;
    } else if r.next_f64() < spec.dirt / 4.0 {
        birth = Some(if r.next_f64() < 0.5 {
            1850 + r.below(40) as i32
        } else {
            end_year + 1 + r.below(30) as i32
        });
        impossible_birth = true;
    }
    let gender = if r.next_f64() < p.female_p { "F" } else { "M" };
    let income = (p.income * (0.45 * normal(&mut r)).exp() / 10.0).round() * 10.0;
    let signup = if r.next_f64() < 0.15 {
        w.start + r.below(window_days as u64 * 3 / 4) as i32
    } else {
        w.start - 1 - r.below(5 * 365) as i32
    };
    let active_from = signup.max(w.start);
    let churned = r.next_f64() < 0.12;
    let active_to = if churned {
        active_from + 1 + r.below(((w.end - active_from) as u64).max(2) - 1) as i32
    } else {
        w.end
    };

    // Personal habits around the persona's: this is where personas overlap.
    let h1 = Habits::draw(&mut r, p, pi);
    // A drifting customer switches persona on the drift day: the decision, the new
    // habits and everything after the switch come from a stream of their own, so
    // every other customer's rows are those of a mall without drift.
    let mut dr = Rng::stream(spec.seed ^ DRIFT_STREAM, idx as u64);
    let switch = match spec.drift_at {
        Some(day)
            if spec.drift > 0.0
                && active_from < day
                && active_to > day
                && dr.next_f64() < spec.drift =>
        {
            let others: Vec<f64> = shares
                .iter()
                .enumerate()
                .map(|(j, s)| if j == pi { 0.0 } else { *s })
                .collect();
            let to = pick(&mut dr, &others);
            Some((day, Habits::draw(&mut dr, &ps[to], to)))
        }
        _ => None,
    };

    if active_from < w.cut {
        c.dirt.missing_birth_years += u64::from(missing_birth);
        c.dirt.impossible_birth_years += u64::from(impossible_birth);
        c.cust_id.push(id);
        c.cust_birth.push(birth);
        c.cust_gender.push(gender);
        c.cust_income.push(income);
        c.cust_signup.push(signup);
        c.truth_persona.push(pi as i32);
        c.truth_churned.push(churned);
        c.truth_after
            .push(switch.as_ref().map_or(pi, |(_, h)| h.persona) as i32);
        c.truth_switch.push(switch.as_ref().map(|(d, _)| *d));
    }

    let switch_day = switch.as_ref().map_or(active_to, |(d, _)| *d);
    let spell = Spell {
        id,
        from: active_from,
        to: switch_day,
    };
    spell.visits(&mut r, spec, ps, bundles, popularity, w, &h1, c);
    spell.app_sessions(&mut r, w, &h1, c);
    if let Some((day, h2)) = &switch {
        let later = Spell {
            id,
            from: *day,
            to: active_to,
        };
        later.visits(&mut dr, spec, ps, bundles, popularity, w, h2, c);
        later.app_sessions(&mut dr, w, h2, c);
    }

    // Streaming packages, by persona and age band.
    let n_pkg = pick(&mut r, &[0.35, 0.35, 0.2, 0.1]);
    let band = age_band_weights(age);
    let mut weights: Vec<f64> = (0..7).map(|i| p.streaming[i] * band[i]).collect();
    for _ in 0..n_pkg {
        let k = pick(&mut r, &weights);
        weights[k] = 0.0;
        let since = w.end - 1 - r.below(3 * 365) as i32;
        if since < w.cut && active_from < w.cut {
            c.st_id.push(id);
            c.st_pkg.push(PACKAGES[k]);
            c.st_since.push(since);
        }
        if weights.iter().all(|v| *v == 0.0) {
            break;
        }
    }
}

/// One transaction line.
#[derive(Clone, Copy)]
struct Line {
    id: i64,
    ts: i64,
    store: i32,
    cat: &'static str,
    product: &'static str,
    amount: f64,
    discount: f64,
}

fn push_tx(c: &mut Chunk, l: &Line) {
    c.tx_id.push(l.id);
    c.tx_ts.push(l.ts);
    c.tx_store.push(l.store);
    c.tx_cat.push(l.cat);
    c.tx_product.push(l.product);
    c.tx_amount.push(l.amount);
    c.tx_discount.push(l.discount);
}

/// An extra, dirty line next to `l` (never a change to `l` itself), written and
/// counted when it falls before the cut.
fn plant_tx_dirt(r: &mut Rng, spec: &MallSpec, w: &Window, c: &mut Chunk, l: Line) {
    let later = Line {
        ts: l.ts + 1_000_000,
        discount: 0.0,
        ..l
    };
    let cut = w.limit();
    let plant = |c: &mut Chunk, line: Line| {
        let keep = line.ts < cut;
        if keep {
            push_tx(c, &line);
        }
        keep
    };
    match r.below(5) {
        0 => {
            if plant(c, l) {
                c.dirt.duplicate_transactions += 1;
            }
        }
        1 => {
            let line = Line {
                amount: -l.amount,
                ..later
            };
            if plant(c, line) {
                c.dirt.negative_amounts += 1;
            }
        }
        2 => {
            let absurd = 1_000_000.0 + (r.below(9_000_000) as f64);
            let line = Line {
                amount: absurd,
                ..later
            };
            if plant(c, line) {
                c.dirt.absurd_amounts += 1;
            }
        }
        3 => {
            // Before the window, or after it (after the cut, when there is one).
            let day = if r.next_f64() < 0.5 {
                w.start - 1 - r.below(3650) as i32
            } else {
                w.cut + r.below(3650) as i32
            };
            let ts = day as i64 * DAY_US + r.below(86_400) as i64 * 1_000_000;
            push_tx(c, &Line { ts, ..l });
            c.dirt.transactions_out_of_window += 1;
        }
        _ => {
            let id = spec.customers as i64 + 1 + r.below(1_000_000) as i64;
            if plant(c, Line { id, ..l }) {
                c.dirt.unknown_customer_transactions += 1;
            }
        }
    }
}

/// What a chunk of customers adds to the manifest.
struct Tally {
    dirt: DirtCounts,
    personas: Vec<u64>,
    churned: u64,
    switched: u64,
    customers: u64,
}

/// Generates the mall into `dir` (customers.parquet, transactions.parquet, …,
/// truth.parquet and mall.json). All files appear together when every one is
/// complete. `progress` is called with the customers done so far.
pub fn generate_mall(
    spec: &MallSpec,
    dir: &Path,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<MallManifest> {
    spec.validate()?;
    let ps = personas();
    let bundles = catalog::bundles();
    let popularity = catalog::popularity();
    let shares: Vec<f64> = ps.iter().map(|p| p.share).collect();
    let w = Window {
        start: spec.start,
        end: spec.end(),
        cut: spec.cut.unwrap_or(spec.end()),
        cutting: spec.cut.is_some(),
    };
    let ts = tables();
    let mut staged = Staged::new(dir)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("zstd level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut writers: Vec<(PathBuf, ArrowWriter<File>)> = Vec::new();
    for t in &ts {
        let path = dir.join(format!("{}.parquet", t.name));
        let file = staged.create(&path)?;
        let writer = ArrowWriter::try_new(file, t.schema.clone(), Some(props.clone()))
            .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
        writers.push((path, writer));
    }
    let n_chunks = spec.customers.div_ceil(CHUNK);
    let in_flight = rayon::current_num_threads().max(1) * 2;
    let mut dirt = DirtCounts::default();
    let mut rows = [0u64; 7];
    let mut persona_counts = vec![0u64; ps.len()];
    let mut churned = 0u64;
    let mut switched = 0u64;
    let mut done = 0u64;
    // Each table has a writer thread of its own, fed its batches in customer
    // order through a short queue, so that encoding and compressing the tables
    // overlaps with generating the next chunks (it used to wait for them: one
    // core idle on two). The files are the same bytes whatever the thread count.
    std::thread::scope(|scope| -> Result<()> {
        let mut queues = Vec::with_capacity(writers.len());
        let mut handles = Vec::with_capacity(writers.len());
        for (path, mut writer) in writers.drain(..) {
            let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(2);
            queues.push(tx);
            handles.push(scope.spawn(move || -> Result<()> {
                for batch in rx {
                    writer
                        .write(&batch)
                        .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                }
                writer
                    .close()
                    .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                Ok(())
            }));
        }
        let mut sent = Ok(());
        'groups: for group in (0..n_chunks).collect::<Vec<_>>().chunks(in_flight) {
            let chunks: Vec<(Tally, Vec<Vec<arrow::array::ArrayRef>>)> = group
                .par_iter()
                .map(|&ci| {
                    let mut c = Chunk::default();
                    let lo = ci * CHUNK;
                    let hi = ((ci + 1) * CHUNK).min(spec.customers);
                    for idx in lo..hi {
                        gen_customer(spec, &ps, &bundles, &popularity, &shares, &w, idx, &mut c);
                    }
                    let mut personas = vec![0u64; ps.len()];
                    for &p in &c.truth_persona {
                        personas[p as usize] += 1;
                    }
                    let tally = Tally {
                        dirt: std::mem::take(&mut c.dirt),
                        personas,
                        churned: c.truth_churned.iter().filter(|&&b| b).count() as u64,
                        switched: c.truth_switch.iter().filter(|d| d.is_some()).count() as u64,
                        customers: c.cust_id.len() as u64,
                    };
                    (tally, c.batches(&ps))
                })
                .collect();
            for (c, tables) in chunks {
                dirt.add(&c.dirt);
                for (n, k) in persona_counts.iter_mut().zip(&c.personas) {
                    *n += k;
                }
                churned += c.churned;
                switched += c.switched;
                done += c.customers;
                for (i, cols) in tables.into_iter().enumerate() {
                    let path = dir.join(format!("{}.parquet", ts[i].name));
                    let batch = RecordBatch::try_new(ts[i].schema.clone(), cols)
                        .map_err(|e| Error::io(&path, std::io::Error::other(e)))?;
                    rows[i] += batch.num_rows() as u64;
                    // A writer that stopped has an error to give at its join.
                    if queues[i].send(batch).is_err() {
                        sent = Err(());
                        break 'groups;
                    }
                }
                progress(done);
            }
        }
        drop(queues);
        for h in handles {
            h.join().map_err(|_| Error::Source {
                path: dir.to_path_buf(),
                message: "internal error: a table writer panicked".into(),
            })??;
        }
        sent.map_err(|()| Error::Source {
            path: dir.to_path_buf(),
            message: "internal error: a table writer stopped early".into(),
        })
    })?;
    let manifest = MallManifest {
        format: "segmenta-mall",
        version: 2,
        seed: spec.seed,
        customers: spec.customers as u64,
        months: spec.months,
        window_start: format_date(w.start),
        window_end: format_date(w.cut),
        history_end: format_date(w.end),
        dirt_rate: spec.dirt,
        dirt,
        rows: TableRows {
            customers: rows[0],
            transactions: rows[1],
            visits: rows[2],
            wifi_sessions: rows[3],
            app_events: rows[4],
            streaming: rows[5],
            truth: rows[6],
        },
        personas: ps
            .iter()
            .zip(&persona_counts)
            .map(|(p, &n)| (p.name.to_string(), n))
            .collect(),
        churned,
        drift_rate: spec.drift,
        drift_at: spec.drift_at.map(format_date),
        switched,
        affinities: catalog::affinities(
            &ps.iter().map(|p| p.name).collect::<Vec<_>>(),
            &CATEGORIES,
        ),
    };
    crate::io::write_json(&mut staged, &dir.join("mall.json"), &manifest)?;
    staged.commit()?;
    Ok(manifest)
}
