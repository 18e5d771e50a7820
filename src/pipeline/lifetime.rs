//! The lifetime stage: BG/NBD and Gamma-Gamma fitted on the segmented customers'
//! purchase histories (see [`crate::lifetime`]), per customer in
//! `customers.parquet` and per segment in `lifetime.json`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array};

use super::flags::{self, Flags};
use super::Observer;
use crate::error::{Error, Result};
use crate::io::{read_features, write_json, write_table, ReadSpec, Staged};
use crate::lifetime::{
    predict, summarise_transactions, BgNbd, GammaGamma, Horizon, LifetimeReport, SegmentLifetime,
    CHURN_RISK_P_ALIVE, LIFETIME_FORMAT, LIFETIME_VERSION,
};
use crate::profile::inputs::{find, IdIndex};

/// Default horizon of the expected purchases and revenue, days.
pub const DEFAULT_HORIZON_DAYS: u32 = 90;
/// Default CLV horizon, months.
pub const DEFAULT_CLV_MONTHS: u32 = 12;
/// Default discount rate per month (lifetimes' default).
pub const DEFAULT_DISCOUNT_RATE: f64 = 0.01;
/// Days per month in the CLV sum (as lifetimes counts them).
pub const DAYS_PER_MONTH: f64 = 30.0;
/// Below this mean dropout chance per purchase, a / (a + b), BG/NBD found no
/// dropout (see [`lifetime`]): a at its boundary (a → 0), or b without bound (the
/// Online Retail fit as of 2011-06-01: a = 1.8e-6, b = 3.3e8, 5e-15).
pub const DEGENERATE_DROPOUT: f64 = 1e-6;

/// How far ahead the lifetime stage looks.
#[derive(Clone, Debug, PartialEq)]
pub struct LifetimeOptions {
    /// Expected purchases and revenue over this many days.
    pub horizon_days: u32,
    /// CLV over this many months.
    pub clv_months: u32,
    /// Discount rate per month.
    pub discount_rate: f64,
    /// Memory budget, MiB: the lines of as many customers as fit it are held at
    /// once (in a run, the run's `--memory-mib`).
    pub memory_mib: usize,
}

impl Default for LifetimeOptions {
    fn default() -> Self {
        LifetimeOptions {
            horizon_days: DEFAULT_HORIZON_DAYS,
            clv_months: DEFAULT_CLV_MONTHS,
            discount_rate: DEFAULT_DISCOUNT_RATE,
            memory_mib: super::memory::default_memory_mib(),
        }
    }
}

impl Flags for LifetimeOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        self.horizon_flags(argv);
        flags::value(argv, "--memory-mib", self.memory_mib);
    }
}

impl LifetimeOptions {
    /// The flags of the horizons and the rate (a run records its one
    /// `--memory-mib` with the features stage's flags).
    pub(super) fn horizon_flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--horizon-days", self.horizon_days);
        flags::value(argv, "--clv-months", self.clv_months);
        flags::value(argv, "--discount-rate", self.discount_rate);
    }

    /// Checks the horizons and the rate.
    pub fn check(&self) -> Result<()> {
        if self.horizon_days == 0 {
            return Err(Error::param("--horizon-days", "must be at least 1"));
        }
        if self.clv_months == 0 || self.clv_months > 600 {
            return Err(Error::param("--clv-months", "must be 1..=600"));
        }
        if !(0.0..1.0).contains(&self.discount_rate) {
            return Err(Error::param(
                "--discount-rate",
                format!("{} is not a monthly rate in [0, 1)", self.discount_rate),
            ));
        }
        super::memory::check_memory_mib(self.memory_mib)
    }
}

/// The files the lifetime stage reads.
#[derive(Clone, Debug, PartialEq)]
pub struct LifetimeInputs {
    /// The fit's `assignments.parquet`.
    pub assignments: PathBuf,
    /// The features stage's kept tables (`transactions` is read).
    pub tables: PathBuf,
    /// The end of the calibration period (YYYY-MM-DD): the features' as-of.
    pub as_of: String,
    /// Id column.
    pub id_col: String,
}

impl Flags for LifetimeInputs {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--assignments", self.assignments.display());
        flags::value(argv, "--tables", self.tables.display());
        flags::value(argv, "--as-of", &self.as_of);
        flags::value(argv, "--id-col", &self.id_col);
    }
}

/// Fits BG/NBD and Gamma-Gamma on the histories of the customers of `inputs` and
/// writes `out/customers.parquet` and `out/lifetime.json`. A data set the models
/// cannot be fitted on (no repeat purchase) gives a report that says so, not an
/// error: the rest of the run stands.
pub fn lifetime(
    inputs: &LifetimeInputs,
    opts: &LifetimeOptions,
    out: &Path,
    obs: &dyn Observer,
) -> Result<LifetimeReport> {
    opts.check()?;
    if let Some(root) = super::lineage::run_of(&inputs.assignments) {
        super::lineage::check(&root, super::lineage::Upto::Fit)?;
    }
    let as_of = crate::dates::parse_date(&inputs.as_of, "--as-of")?;
    // The customers are the fit's: its assignments hold every id and its segment.
    let mut spec = ReadSpec::new(inputs.id_col.clone());
    spec.columns = Some(vec!["segment".into()]);
    let table = read_features(&inputs.assignments, &spec)?;
    let index = IdIndex::new(&table.ids);
    let n = table.x.n();
    let labels: Vec<i32> = (0..n).map(|i| table.x.row(i)[0] as i32).collect();
    let tx = find(&inputs.tables, "transactions").ok_or_else(|| Error::NotFound {
        path: inputs.tables.join("transactions"),
    })?;
    obs.step("lifetime: purchase histories");
    let mut timings = BTreeMap::new();
    let mut t = std::time::Instant::now();
    let mut lap = |name: &str| {
        timings.insert(name.to_string(), t.elapsed().as_secs_f64());
        t = std::time::Instant::now();
    };
    let h = summarise_transactions(&tx, &index, n, as_of, opts.memory_mib << 20)?;
    lap("histories_s");
    let mut notes = Vec::new();
    let repeaters = h.rfm.x.iter().filter(|&&x| x > 0).count() as u64;
    obs.step(&format!(
        "lifetime: BG/NBD on {} customers with a purchase",
        h.rfm.len()
    ));
    let bg = match BgNbd::fit(&h.rfm) {
        Ok(f) => Some(f),
        Err(e) => {
            notes.push(format!("no BG/NBD: {e}"));
            None
        }
    };
    lap("bgnbd_s");
    let gg = match GammaGamma::fit(&h.rfm) {
        Ok(f) => {
            if f.frequency_value_correlation.abs() > 0.3 {
                notes.push(format!(
                    "frequency and purchase value correlate ({:.2}) among repeat customers: Gamma-Gamma assumes they do not, so its spend is less reliable",
                    f.frequency_value_correlation
                ));
            }
            Some(f)
        }
        Err(e) => {
            notes.push(format!("no Gamma-Gamma: {e}"));
            None
        }
    };
    lap("gamma_gamma_s");
    // The dropout estimate at its boundary (a → 0: no customer ever drops out)
    // makes every P(alive) 1: a number that says nothing, not a churn risk of 0.
    let dropout = |b: &crate::lifetime::BgNbdFit| b.params.a / (b.params.a + b.params.b);
    let dropout_seen = bg.as_ref().is_none_or(|b| dropout(b) >= DEGENERATE_DROPOUT);
    if let Some(b) = bg.as_ref().filter(|_| !dropout_seen) {
        notes.push(format!(
            "BG/NBD's dropout estimate is at its boundary (a = {:.1e}, b = {:.1e}: a mean dropout chance per purchase of {:.0e}): these purchase histories show no dropout the model can detect, so P(alive) is 1 for everyone and churn risk is not estimated; the expected purchases stand (a plain NBD)",
            b.params.a,
            b.params.b,
            dropout(b)
        ));
    }
    if let Some(b) = &bg {
        if !b.converged {
            notes.push(
                "the BG/NBD optimiser stopped at its evaluation cap before converging".into(),
            );
        }
    }
    let horizon = Horizon {
        horizon: f64::from(opts.horizon_days),
        clv_months: opts.clv_months,
        discount_rate: opts.discount_rate,
        unit_per_month: DAYS_PER_MONTH,
    };
    let preds = bg
        .as_ref()
        .map(|b| predict(&b.params, gg.as_ref().map(|g| &g.params), &horizon, &h.rfm));
    lap("predict_s");

    // Per table row (None: no purchase, or no model).
    let mut row_of = vec![None; n];
    for (e, &r) in h.rows.iter().enumerate() {
        row_of[r] = Some(e);
    }
    let col = |f: &dyn Fn(usize) -> Option<f64>| -> ArrayRef {
        Arc::new(Float64Array::from_iter(
            (0..n).map(|r| row_of[r].and_then(f)),
        ))
    };
    let p = preds.as_deref();
    let finite = |v: f64| v.is_finite().then_some(v);
    let cols: Vec<(&str, ArrayRef)> = vec![
        (inputs.id_col.as_str(), table.ids.to_arrow()),
        ("segment", Arc::new(Int32Array::from(labels.clone()))),
        (
            "frequency",
            Arc::new(Int32Array::from_iter(
                (0..n).map(|r| row_of[r].map(|e| h.rfm.x[e] as i32)),
            )),
        ),
        // BG/NBD's recency is first to last purchase (lifetimes' `recency`), not the
        // features' days since the last purchase: named for what it is.
        ("days_first_to_last", col(&|e| Some(h.rfm.t_x[e]))),
        ("days_first_to_as_of", col(&|e| Some(h.rfm.t[e]))),
        ("mean_repeat_value", col(&|e| Some(h.rfm.monetary[e]))),
        ("p_alive", col(&|e| p.map(|p| p[e].p_alive))),
        (
            "expected_purchases",
            col(&|e| p.map(|p| p[e].expected_purchases)),
        ),
        (
            "expected_spend",
            col(&|e| p.and_then(|p| finite(p[e].expected_spend))),
        ),
        (
            "expected_revenue",
            col(&|e| p.and_then(|p| finite(p[e].expected_revenue))),
        ),
        ("clv", col(&|e| p.and_then(|p| finite(p[e].clv)))),
        (
            "last_purchase",
            Arc::new(Date32Array::from(h.last_purchase.clone())),
        ),
    ];

    // Per segment.
    let mut by_seg: BTreeMap<i32, SegAcc> = BTreeMap::new();
    for r in 0..n {
        let a = by_seg.entry(labels[r]).or_default();
        a.customers += 1;
        if let Some(e) = row_of[r] {
            a.with_purchases += 1;
            let repeat = h.rfm.x[e] > 0;
            a.repeaters += u64::from(repeat);
            if let Some(p) = p {
                let q = &p[e];
                if repeat {
                    a.p_alive += q.p_alive;
                    a.at_risk += u64::from(q.p_alive < CHURN_RISK_P_ALIVE);
                }
                a.purchases += q.expected_purchases;
                if q.expected_revenue.is_finite() {
                    a.revenue += q.expected_revenue;
                    a.clv += q.clv;
                }
            }
        }
    }
    let has_gg = gg.is_some();
    let segments = by_seg
        .into_iter()
        .map(|(segment, a)| {
            let m = a.with_purchases as f64;
            let modelled = p.is_some() && a.with_purchases > 0;
            let repeat = p.is_some() && a.repeaters > 0 && dropout_seen;
            SegmentLifetime {
                segment,
                customers: a.customers,
                with_purchases: a.with_purchases,
                repeaters: a.repeaters,
                mean_p_alive: repeat.then(|| a.p_alive / a.repeaters as f64),
                churn_risk: repeat.then(|| a.at_risk as f64 / a.repeaters as f64),
                expected_purchases: a.purchases,
                expected_revenue: (p.is_some() && has_gg).then_some(a.revenue),
                clv_total: (p.is_some() && has_gg).then_some(a.clv),
                clv_mean: (modelled && has_gg).then(|| a.clv / m),
            }
        })
        .collect();
    let fit_id = crate::io::parquet_metadata(&inputs.assignments, crate::model::FIT_ID_KEY)?
        .unwrap_or_default();
    let report = LifetimeReport {
        format: LIFETIME_FORMAT.into(),
        version: LIFETIME_VERSION,
        as_of: inputs.as_of.clone(),
        time_unit: "days".into(),
        horizon_days: f64::from(opts.horizon_days),
        clv_months: opts.clv_months,
        discount_rate: opts.discount_rate,
        customers: n as u64,
        with_purchases: h.rfm.len() as u64,
        repeaters,
        bgnbd: bg,
        gamma_gamma: gg,
        segments,
        notes,
        fit_id,
        features_xxh64: super::lineage::features_token(&inputs.tables),
        timings,
    };
    let mut staged = Staged::new(out)?;
    write_table(&mut staged, &out.join("customers.parquet"), cols)?;
    write_json(&mut staged, &out.join("lifetime.json"), &report)?;
    staged.commit()?;
    Ok(report)
}

#[derive(Default)]
struct SegAcc {
    customers: u64,
    with_purchases: u64,
    repeaters: u64,
    p_alive: f64,
    at_risk: u64,
    purchases: f64,
    revenue: f64,
    clv: f64,
}
