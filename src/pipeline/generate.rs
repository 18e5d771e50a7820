//! The generate stage: a synthetic mall with planted personas and dirt (see
//! [`crate::generate`]), as `demo` runs it and `segmenta generate` does alone.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::flags::{self, Flags};
use super::Observer;
use crate::error::Result;
use crate::generate::{generate_mall, MallManifest, MallSpec};

/// Default customers of a generated mall.
pub const DEFAULT_CUSTOMERS: usize = 200_000;
/// Default seed of a generated mall.
pub const DEFAULT_MALL_SEED: u64 = 42;
/// Default first day of a generated history.
pub const DEFAULT_START: &str = "2025-01-01";
/// Default rate of planted dirt.
pub const DEFAULT_DIRT: f64 = 0.01;

/// What to generate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MallParams {
    /// Customers to simulate.
    pub customers: usize,
    /// Months of history.
    pub months: u32,
    /// First day of the history (YYYY-MM-DD).
    pub start: String,
    /// Rate of planted dirt.
    pub dirt: f64,
    /// Seed of the mall.
    pub seed: u64,
    /// Share of customers who switch persona on `drift_at`.
    #[serde(default)]
    pub drift: f64,
    /// The day they switch (YYYY-MM-DD; default: the first day of the middle month).
    #[serde(default)]
    pub drift_at: Option<String>,
    /// Write the history before this day only (YYYY-MM-DD).
    #[serde(default)]
    pub cut: Option<String>,
}

impl MallParams {
    /// `customers` over `months` with the other defaults.
    pub fn new(customers: usize, months: u32) -> MallParams {
        MallParams {
            customers,
            months,
            start: DEFAULT_START.into(),
            dirt: DEFAULT_DIRT,
            seed: DEFAULT_MALL_SEED,
            drift: 0.0,
            drift_at: None,
            cut: None,
        }
    }

    /// The generator's spec (checks the start date; the generator checks the rest).
    pub fn spec(&self) -> Result<MallSpec> {
        let start = crate::dates::parse_date(&self.start, "--start")?;
        let drift_at = match &self.drift_at {
            Some(d) => Some(crate::dates::parse_date(d, "--drift-at")?),
            None if self.drift > 0.0 && self.months < 2 => {
                return Err(crate::Error::param(
                    "--drift",
                    "needs a day to switch on inside the history (rule: --months 2 or more, or --drift-at DATE)",
                ))
            }
            None if self.drift > 0.0 => Some(crate::dates::add_months(start, self.months / 2)),
            None => None,
        };
        Ok(MallSpec {
            customers: self.customers,
            months: self.months,
            start,
            seed: self.seed,
            dirt: self.dirt,
            drift: self.drift,
            drift_at,
            cut: self
                .cut
                .as_deref()
                .map(|c| crate::dates::parse_date(c, "--cut"))
                .transpose()?,
        })
    }
}

impl Flags for MallParams {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--customers", self.customers);
        flags::value(argv, "--months", self.months);
        flags::value(argv, "--start", &self.start);
        flags::value(argv, "--dirt", self.dirt);
        flags::value(argv, "--seed", self.seed);
        if self.drift > 0.0 {
            flags::value(argv, "--drift", self.drift);
        }
        flags::opt(argv, "--drift-at", self.drift_at.as_ref());
        flags::opt(argv, "--cut", self.cut.as_ref());
    }
}

/// Generates the mall into `out`: the raw tables, the truth and `mall.json`.
pub fn generate(p: &MallParams, out: &Path, obs: &dyn Observer) -> Result<MallManifest> {
    let spec = p.spec()?;
    let n = p.customers as u64;
    let m = generate_mall(&spec, out, &|done| {
        obs.progress("generating customers", done, n)
    })?;
    obs.finish();
    Ok(m)
}
