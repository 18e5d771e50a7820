//! BG/NBD (Fader, Hardie & Lee, 2005, "Counting your customers the easy way"):
//! while alive, a customer buys as a Poisson process of rate λ ~ Gamma(r, α); after
//! each purchase they drop out with probability p ~ Beta(a, b). Fitted by maximum
//! likelihood on (x, tₓ, T); the formulas are the paper's (equations 6, 10 and 11)
//! and the `lifetimes` package's.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::optimize::nelder_mead;
use super::special::{hyp2f1_series, hyp2f1_series_m1, ln_hyp2f1_pos};
use super::Rfm;
use crate::error::{Error, Result};

/// The four BG/NBD parameters.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    /// Shape of the purchase-rate gamma.
    pub r: f64,
    /// Scale of the purchase-rate gamma, in the data's time unit.
    pub alpha: f64,
    /// Beta's first shape (dropout).
    pub a: f64,
    /// Beta's second shape.
    pub b: f64,
}

/// A fit: the parameters and how the optimiser fared.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BgNbdFit {
    /// The maximum-likelihood parameters.
    pub params: BgNbd,
    /// Mean log-likelihood per customer at the parameters.
    pub mean_log_likelihood: f64,
    /// Customers fitted.
    pub customers: usize,
    /// Likelihood evaluations.
    pub evaluations: usize,
    /// Whether the optimiser's simplex converged.
    pub converged: bool,
}

/// Customers per parallel chunk of the likelihood (fixed, so the sum's order and
/// the fit do not depend on the thread count).
const CHUNK: usize = 8192;

impl BgNbd {
    /// Mean log-likelihood per customer of `d` (equation 6).
    pub fn mean_log_likelihood(&self, d: &Rfm) -> f64 {
        self.weighted_log_likelihood(d, None)
    }

    /// The same over distinct histories, each `w[i]` customers.
    fn weighted_log_likelihood(&self, d: &Rfm, w: Option<&[f64]>) -> f64 {
        let BgNbd { r, alpha, a, b } = *self;
        let max_x = d.x.iter().copied().max().unwrap_or(0) as usize;
        // Terms that depend on x only, for x = 0..=max_x, built incrementally:
        // ln Γ(r+x) − ln Γ(r) + r ln α and ln B(a, b+x) − ln B(a, b).
        let mut by_x = Vec::with_capacity(max_x + 1);
        let (mut g1, mut g2) = (r * alpha.ln(), 0.0);
        for x in 0..=max_x {
            by_x.push(g1 + g2);
            let xf = x as f64;
            g1 += (r + xf).ln();
            g2 += (b + xf).ln() - (a + b + xf).ln();
        }
        let ln_a = a.ln();
        let sums: Vec<f64> = (0..d.len())
            .collect::<Vec<_>>()
            .par_chunks(CHUNK)
            .map(|rows| {
                let mut s = 0.0;
                for &i in rows {
                    let x = d.x[i];
                    let xf = f64::from(x);
                    let a3 = -(r + xf) * (alpha + d.t[i]).ln();
                    let tail = if x > 0 {
                        let a4 = ln_a - (b + xf - 1.0).ln() - (r + xf) * (alpha + d.t_x[i]).ln();
                        let m = a3.max(a4);
                        m + ((a3 - m).exp() + (a4 - m).exp()).ln()
                    } else {
                        a3
                    };
                    s += (by_x[x as usize] + tail) * w.map_or(1.0, |w| w[i]);
                }
                s
            })
            .collect();
        let n = w.map_or(d.len() as f64, |w| w.iter().sum());
        sums.iter().sum::<f64>() / n
    }

    /// Fits the parameters to `d` by maximum likelihood (Nelder–Mead on their
    /// logarithms, from all ones).
    pub fn fit(d: &Rfm) -> Result<BgNbdFit> {
        d.check()?;
        if d.x.iter().all(|&x| x == 0) {
            return Err(Error::param(
                "lifetime",
                "no customer made a repeat purchase (rule: BG/NBD needs some customers with frequency > 0)",
            ));
        }
        // Customers with the same (x, tₓ, T) count once, with their number as weight
        // (whole days: a 200,000-customer mall has a few ten thousand histories).
        let (u, w) = distinct(d);
        let nll = |p: &[f64]| {
            let m = BgNbd {
                r: p[0].exp(),
                alpha: p[1].exp(),
                a: p[2].exp(),
                b: p[3].exp(),
            };
            let ll = m.weighted_log_likelihood(&u, Some(&w));
            if ll.is_finite() {
                -ll
            } else {
                f64::INFINITY
            }
        };
        let m = nelder_mead(&nll, &[0.0; 4], 1e-12, 20_000);
        let params = BgNbd {
            r: m.x[0].exp(),
            alpha: m.x[1].exp(),
            a: m.x[2].exp(),
            b: m.x[3].exp(),
        };
        Ok(BgNbdFit {
            params,
            mean_log_likelihood: -m.f,
            customers: d.len(),
            evaluations: m.evaluations,
            converged: m.converged,
        })
    }

    /// P(alive | x, tₓ, T) (equation 11 of the 2005 paper's technical note).
    pub fn p_alive(&self, x: u32, t_x: f64, t: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let xf = f64::from(x);
        let ln_odds = (self.a / (self.b + xf - 1.0)).ln()
            + (self.r + xf) * ((self.alpha + t) / (self.alpha + t_x)).ln();
        1.0 / (1.0 + ln_odds.exp())
    }

    /// E[purchases in (T, T + horizon] | x, tₓ, T] (equation 10).
    pub fn expected_purchases(&self, horizon: f64, x: u32, t_x: f64, t: f64) -> f64 {
        if horizon <= 0.0 {
            return 0.0;
        }
        let BgNbd { r, alpha, a, b } = *self;
        let xf = f64::from(x);
        let (ca, cb, cc) = (r + xf, b + xf, a + b + xf - 1.0);
        // (1 − z)^(r+x) ₂F₁(r+x, b+x; a+b+x−1; z) with z = h / (α + T + h):
        // by Pfaff's transformation ₂F₁(r+x, a−1; a+b+x−1; −h / (α+T)), whose
        // series converges fast while h ≤ (α+T)/2; else the series in z.
        // `one_minus` is 1 − that, summed without its leading 1 where it can be
        // (at a → 0, b → ∞ it is about 1e-8, and 1 − 0.99999999 loses half the digits).
        let w = -horizon / (alpha + t);
        let one_minus = if w >= -0.5 {
            -hyp2f1_series_m1(ca, a - 1.0, cc, w)
        } else {
            let z = horizon / (alpha + t + horizon);
            if cc > 0.0 {
                -(ca * (1.0 - z).ln() + ln_hyp2f1_pos(ca, cb, cc, z)).exp_m1()
            } else {
                // a + b < 1 and x = 0: the signed series, which converges for z < 1.
                1.0 - (1.0 - z).powf(ca) * hyp2f1_series(ca, cb, cc, z)
            }
        };
        let num = (a + b + xf - 1.0) / (a - 1.0) * one_minus;
        let den = if x > 0 {
            1.0 + a / (b + xf - 1.0) * ((alpha + t) / (alpha + t_x)).powf(r + xf)
        } else {
            1.0
        };
        num / den
    }
}

/// The distinct (x, tₓ, T) of `d`, in first-seen order, and how many customers
/// have each.
fn distinct(d: &Rfm) -> (Rfm, Vec<f64>) {
    let mut at: std::collections::HashMap<(u32, u64, u64), usize> = Default::default();
    let (mut u, mut w) = (Rfm::default(), Vec::new());
    for i in 0..d.len() {
        let key = (d.x[i], d.t_x[i].to_bits(), d.t[i].to_bits());
        match at.get(&key) {
            Some(&j) => w[j] += 1.0,
            None => {
                at.insert(key, u.len());
                u.push(d.x[i], d.t_x[i], d.t[i], 0.0);
                w.push(1.0);
            }
        }
    }
    (u, w)
}
