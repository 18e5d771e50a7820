//! Gamma-Gamma (Fader, Hardie & Lee, 2005, "RFM and CLV"): a customer's purchase
//! values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers, independent of
//! how often they buy. Fitted by maximum likelihood on the customers with repeat
//! purchases (x > 0, mean repeat value m > 0), as `lifetimes` does.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::bgnbd::BgNbd;
use super::optimize::nelder_mead;
use super::special::ln_gamma;
use super::Rfm;
use crate::error::{Error, Result};

/// The three Gamma-Gamma parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    /// Shape of a customer's purchase values.
    pub p: f64,
    /// Shape of the rate's gamma across customers.
    pub q: f64,
    /// Scale (γ; `v` in lifetimes) of the rate's gamma.
    pub gamma: f64,
}

/// A fit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GammaGammaFit {
    /// The maximum-likelihood parameters.
    pub params: GammaGamma,
    /// Mean log-likelihood per customer.
    pub mean_log_likelihood: f64,
    /// Customers fitted (those with a repeat purchase).
    pub customers: usize,
    /// Pearson correlation of frequency and mean value among them: the model
    /// assumes none (lifetimes' advice: worry above about 0.3).
    pub frequency_value_correlation: f64,
    /// Likelihood evaluations.
    pub evaluations: usize,
    /// Whether the optimiser converged.
    pub converged: bool,
}

const CHUNK: usize = 8192;

impl GammaGamma {
    /// Mean log-likelihood of customers `rows` of `d` (each with x > 0, m > 0).
    fn mean_log_likelihood(&self, d: &Rfm, rows: &[usize], ln_m: &[f64]) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let max_x = rows.iter().map(|&i| d.x[i]).max().unwrap_or(0) as usize;
        let by_x: Vec<f64> = (0..=max_x)
            .map(|x| {
                let px = p * x as f64;
                if x == 0 {
                    0.0
                } else {
                    ln_gamma(px + q) - ln_gamma(px) + px * (x as f64).ln()
                }
            })
            .collect();
        let common = -ln_gamma(q) + q * gamma.ln();
        let sums: Vec<f64> = rows
            .par_chunks(CHUNK)
            .zip(ln_m.par_chunks(CHUNK))
            .map(|(rs, lms)| {
                let mut s = 0.0;
                for (&i, &lm) in rs.iter().zip(lms) {
                    let x = f64::from(d.x[i]);
                    let px = p * x;
                    s += by_x[d.x[i] as usize] + common + (px - 1.0) * lm
                        - (px + q) * (x * d.monetary[i] + gamma).ln();
                }
                s
            })
            .collect();
        sums.iter().sum::<f64>() / rows.len() as f64
    }

    /// Fits on the customers of `d` with a repeat purchase and a positive mean value.
    pub fn fit(d: &Rfm) -> Result<GammaGammaFit> {
        d.check()?;
        let rows: Vec<usize> = (0..d.len())
            .filter(|&i| d.x[i] > 0 && d.monetary[i] > 0.0)
            .collect();
        if rows.len() < 2 {
            return Err(Error::param(
                "lifetime",
                "fewer than two customers with a repeat purchase of positive value (rule: Gamma-Gamma needs them)",
            ));
        }
        let ln_m: Vec<f64> = rows.iter().map(|&i| d.monetary[i].ln()).collect();
        let nll = |v: &[f64]| {
            let g = GammaGamma {
                p: v[0].exp(),
                q: v[1].exp(),
                gamma: v[2].exp(),
            };
            let ll = g.mean_log_likelihood(d, &rows, &ln_m);
            if ll.is_finite() {
                -ll
            } else {
                f64::INFINITY
            }
        };
        let m = nelder_mead(&nll, &[0.0; 3], 1e-12, 20_000);
        let q = m.x[1].exp();
        if q <= 1.0 {
            return Err(Error::param(
                "lifetime",
                format!("Gamma-Gamma fitted q = {q:.3}: the population's mean spend p γ / (q − 1) does not exist (rule: q > 1; the purchase values are too heavy-tailed for the model)"),
            ));
        }
        let xs: Vec<f64> = rows.iter().map(|&i| f64::from(d.x[i])).collect();
        let ms: Vec<f64> = rows.iter().map(|&i| d.monetary[i]).collect();
        Ok(GammaGammaFit {
            params: GammaGamma {
                p: m.x[0].exp(),
                q: m.x[1].exp(),
                gamma: m.x[2].exp(),
            },
            mean_log_likelihood: -m.f,
            customers: rows.len(),
            frequency_value_correlation: pearson(&xs, &ms),
            evaluations: m.evaluations,
            converged: m.converged,
        })
    }

    /// E[mean purchase value | x, m]: the population mean p γ / (q − 1) for x = 0,
    /// shrunk toward the customer's own mean m as x grows.
    pub fn expected_spend(&self, x: u32, m: f64) -> f64 {
        let GammaGamma { p, q, gamma } = *self;
        let xf = f64::from(x);
        let m = if x == 0 { 0.0 } else { m };
        p * (gamma + xf * m) / (p * xf + q - 1.0)
    }

    /// Customer lifetime value over `months`: each month's expected purchases
    /// (BG/NBD, the difference of the cumulative expectation) times the expected
    /// spend, discounted at `discount` per month; `unit_per_month` is the data's
    /// time units in a month (30 for days, 4.345 for weeks, as lifetimes counts).
    #[allow(clippy::too_many_arguments)]
    pub fn clv(
        &self,
        bg: &BgNbd,
        months: u32,
        discount: f64,
        unit_per_month: f64,
        x: u32,
        t_x: f64,
        t: f64,
        m: f64,
    ) -> f64 {
        let spend = self.expected_spend(x, m);
        let mut prev = 0.0;
        let mut total = 0.0;
        for i in 1..=months {
            let e = bg.expected_purchases(f64::from(i) * unit_per_month, x, t_x, t);
            total += spend * (e - prev) / (1.0 + discount).powi(i as i32);
            prev = e;
        }
        total
    }
}

/// Pearson correlation (NaN when either side is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}
