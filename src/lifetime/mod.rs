//! What each customer will do next: BG/NBD (is the customer still alive, how many
//! purchases in the next days) and Gamma-Gamma (how much per purchase), hence the
//! customer lifetime value, fitted by maximum likelihood on each customer's
//! purchase history as of the features' as-of date.
//!
//! The history of a customer is read from the kept transactions
//! (`features/tables/transactions.parquet`), one purchase occasion per day with
//! purchases, as `lifetimes`' `summary_data_from_transaction_data` counts it:
//! frequency x = purchase days − 1 (repeat purchases), recency tₓ = days from the
//! first purchase day to the last, age T = days from the first purchase day to
//! as-of, and monetary m = the mean value of the repeat purchase days. A return
//! (negative amount) is netted against the customer's latest purchase day at or
//! before it, as the feature SQL nets returns against occasions; a day netted to
//! nothing (half a cent or less) is no purchase. Customers with no purchase have
//! no history to extrapolate and get no prediction.

mod bgnbd;
mod gamma_gamma;
mod optimize;
mod special;
mod summary;

pub use bgnbd::{BgNbd, BgNbdFit};
pub use gamma_gamma::{pearson, GammaGamma, GammaGammaFit};
pub use optimize::{nelder_mead, Minimum};
pub use special::ln_gamma;
pub use summary::{summarise_transactions, History};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Per customer: repeat purchases, recency, age and mean repeat value, in one time
/// unit (days for segmenta's own summaries; CDNOW's published cohort uses weeks).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rfm {
    /// Repeat purchases x.
    pub x: Vec<u32>,
    /// Time from the first purchase to the last, tₓ.
    pub t_x: Vec<f64>,
    /// Time from the first purchase to the end of the calibration period, T.
    pub t: Vec<f64>,
    /// Mean value of the repeat purchases (0 when x = 0).
    pub monetary: Vec<f64>,
}

impl Rfm {
    /// Customers.
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }

    /// Pushes one customer.
    pub fn push(&mut self, x: u32, t_x: f64, t: f64, monetary: f64) {
        self.x.push(x);
        self.t_x.push(t_x);
        self.t.push(t);
        self.monetary.push(monetary);
    }

    /// Every customer has 0 ≤ tₓ ≤ T, finite values, tₓ = 0 when x = 0 and a
    /// monetary value ≥ 0.
    pub fn check(&self) -> Result<()> {
        if self.is_empty() {
            return Err(Error::param(
                "lifetime",
                "no customer with a purchase (rule: the models need purchase histories)",
            ));
        }
        for i in 0..self.len() {
            let (x, tx, t, m) = (self.x[i], self.t_x[i], self.t[i], self.monetary[i]);
            let ok = tx.is_finite()
                && t.is_finite()
                && m.is_finite()
                && tx >= 0.0
                && t >= tx
                && t > 0.0
                && m >= 0.0
                && (x > 0 || tx == 0.0);
            if !ok {
                return Err(Error::param(
                    "lifetime",
                    format!("purchase history {i} (0-based) has x = {x}, recency = {tx}, T = {t}, monetary = {m} (rule: 0 <= recency <= T, T > 0, recency = 0 when x = 0, monetary >= 0)"),
                ));
            }
        }
        Ok(())
    }
}

/// One customer's predictions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    /// P(alive).
    pub p_alive: f64,
    /// Expected purchases over the horizon.
    pub expected_purchases: f64,
    /// Expected value of a purchase (Gamma-Gamma).
    pub expected_spend: f64,
    /// Expected revenue over the horizon (purchases × spend).
    pub expected_revenue: f64,
    /// Lifetime value over the CLV months, discounted.
    pub clv: f64,
}

/// How far ahead the predictions look.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Horizon {
    /// Expected purchases and revenue over this many time units.
    pub horizon: f64,
    /// CLV over this many months.
    pub clv_months: u32,
    /// Discount rate per month.
    pub discount_rate: f64,
    /// Time units per month (30 for days, 4.345 for weeks).
    pub unit_per_month: f64,
}

/// Predictions for every customer of `d`.
pub fn predict(bg: &BgNbd, gg: Option<&GammaGamma>, h: &Horizon, d: &Rfm) -> Vec<Prediction> {
    use rayon::prelude::*;
    (0..d.len())
        .into_par_iter()
        .map(|i| {
            let (x, tx, t, m) = (d.x[i], d.t_x[i], d.t[i], d.monetary[i]);
            let e = bg.expected_purchases(h.horizon, x, tx, t);
            let (spend, clv) = match gg {
                Some(g) => (
                    g.expected_spend(x, m),
                    g.clv(
                        bg,
                        h.clv_months,
                        h.discount_rate,
                        h.unit_per_month,
                        x,
                        tx,
                        t,
                        m,
                    ),
                ),
                None => (f64::NAN, f64::NAN),
            };
            Prediction {
                p_alive: bg.p_alive(x, tx, t),
                expected_purchases: e,
                expected_spend: spend,
                expected_revenue: e * spend,
                clv,
            }
        })
        .collect()
}

/// The value of [`LifetimeReport::format`].
pub const LIFETIME_FORMAT: &str = "segmenta-lifetime";
/// The layout version written by this build.
pub const LIFETIME_VERSION: u32 = 1;

/// `lifetime.json`: the fitted models and what each segment will do next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LifetimeReport {
    /// Always [`LIFETIME_FORMAT`].
    pub format: String,
    /// [`LIFETIME_VERSION`].
    pub version: u32,
    /// The end of the calibration period: the features' as-of date.
    pub as_of: String,
    /// The time unit of recency, age and the horizon.
    pub time_unit: String,
    /// Expected purchases and revenue over this many days.
    pub horizon_days: f64,
    /// CLV over this many months.
    pub clv_months: u32,
    /// Discount rate per month.
    pub discount_rate: f64,
    /// Customers segmented.
    pub customers: u64,
    /// Of them, with at least one purchase (the models' customers).
    pub with_purchases: u64,
    /// Of them, with a repeat purchase.
    pub repeaters: u64,
    /// BG/NBD, when it could be fitted.
    pub bgnbd: Option<BgNbdFit>,
    /// Gamma-Gamma, when it could be fitted.
    pub gamma_gamma: Option<GammaGammaFit>,
    /// Per segment.
    pub segments: Vec<SegmentLifetime>,
    /// Why a part is missing, and what to keep in mind.
    pub notes: Vec<String>,
    /// The fit whose segments these are (its model's `fit_id`).
    #[serde(default)]
    pub fit_id: String,
    /// The `features_xxh64` of the features stage whose tables it read (empty
    /// when unknown).
    #[serde(default)]
    pub features_xxh64: String,
    /// Seconds: `histories_s` (reading the transactions), `bgnbd_s`,
    /// `gamma_gamma_s`, `predict_s`.
    #[serde(default)]
    pub timings: std::collections::BTreeMap<String, f64>,
}

impl crate::artefact::Artefact for LifetimeReport {
    const FORMAT: &'static str = LIFETIME_FORMAT;
    const VERSION: u32 = LIFETIME_VERSION;
    const NOUN: &'static str = "lifetime summary";
}

/// Below this P(alive) a customer counts as at risk of churn.
pub const CHURN_RISK_P_ALIVE: f64 = 0.5;

/// One segment's outlook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentLifetime {
    /// Segment id.
    pub segment: i32,
    /// Customers.
    pub customers: u64,
    /// Of them, with a purchase (the others have no prediction).
    pub with_purchases: u64,
    /// Of them, with a repeat purchase.
    #[serde(default)]
    pub repeaters: u64,
    /// Mean P(alive) of the repeat buyers. BG/NBD lets a customer drop out only
    /// after a repeat purchase, so a one-time buyer's P(alive) is 1 by the model's
    /// definition: they are left out of this mean and of the churn risk.
    pub mean_p_alive: Option<f64>,
    /// Share of the repeat buyers whose P(alive) is below [`CHURN_RISK_P_ALIVE`].
    pub churn_risk: Option<f64>,
    /// Expected purchases over the horizon, summed.
    pub expected_purchases: f64,
    /// Expected revenue over the horizon, summed (Gamma-Gamma spend × purchases).
    pub expected_revenue: Option<f64>,
    /// Lifetime value over the CLV months, summed.
    pub clv_total: Option<f64>,
    /// Mean CLV of those with a purchase.
    pub clv_mean: Option<f64>,
}
