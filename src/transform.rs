//! Per-column transforms of heavy-tailed features, applied before scaling, fitted on
//! the data and stored in the model (inside [`crate::scale::Scaler`]) so that
//! `predict` applies the same ones and reports can map centroids back.
//!
//! - `log1p`: ln(1 + x), for columns with no value ≤ −1;
//! - `yeo-johnson`: the power transform of Yeo and Johnson (2000), λ by maximum
//!   likelihood exactly as scikit-learn's `PowerTransformer` (which calls SciPy's
//!   `yeojohnson_normmax`: bounded Brent on the log-likelihood);
//! - `quantile`: the empirical CDF as scikit-learn's `QuantileTransformer`
//!   (`n_quantiles = min(1000, n)`, uniform output, no subsampling);
//! - `auto` (the default) picks `log1p` for a column with no negative value and a
//!   skewness g1 = m3 / m2^1.5 (population moments) above [`AUTO_SKEW`], and no
//!   transform otherwise.
//!
//! Checked against scikit-learn in `tests/suite/transform.rs`
//! (`tests/oracle/transform_oracle.py`).

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `auto` log-transforms a non-negative column whose skewness exceeds this.
pub const AUTO_SKEW: f64 = 1.0;
/// Quantiles a `quantile` transform keeps at most (scikit-learn's default).
pub const N_QUANTILES: usize = 1000;

/// What the user asks for, per column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransformKind {
    /// `log1p` for non-negative columns with skewness > [`AUTO_SKEW`], else none.
    Auto,
    /// Unchanged.
    None,
    /// ln(1 + x).
    Log1p,
    /// Yeo-Johnson, λ by maximum likelihood.
    YeoJohnson,
    /// Empirical CDF into [0, 1].
    Quantile,
}

impl TransformKind {
    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            TransformKind::Auto => "auto",
            TransformKind::None => "none",
            TransformKind::Log1p => "log1p",
            TransformKind::YeoJohnson => "yeo-johnson",
            TransformKind::Quantile => "quantile",
        }
    }
}

impl FromStr for TransformKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "auto" => TransformKind::Auto,
            "none" => TransformKind::None,
            "log1p" => TransformKind::Log1p,
            "yeo-johnson" => TransformKind::YeoJohnson,
            "quantile" => TransformKind::Quantile,
            other => {
                return Err(Error::param(
                    "--transform",
                    format!("`{other}` is not one of auto, none, log1p, yeo-johnson, quantile"),
                ))
            }
        })
    }
}

/// `--transform`: a default and per-column overrides, e.g.
/// `auto,monetary_total=quantile,age=none`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransformSpec {
    /// For columns not named.
    pub default: TransformKind,
    /// Per column.
    pub by_column: BTreeMap<String, TransformKind>,
}

impl Default for TransformSpec {
    fn default() -> Self {
        TransformSpec {
            default: TransformKind::Auto,
            by_column: BTreeMap::new(),
        }
    }
}

impl FromStr for TransformSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let mut spec = TransformSpec::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((col, kind)) => {
                    let col = col.trim();
                    if col.is_empty() {
                        return Err(Error::param(
                            "--transform",
                            format!("`{part}` names no column (rule: COLUMN=KIND)"),
                        ));
                    }
                    spec.by_column.insert(col.to_string(), kind.trim().parse()?);
                }
                None => spec.default = part.parse()?,
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for TransformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.default.name())?;
        for (c, k) in &self.by_column {
            write!(f, ",{c}={}", k.name())?;
        }
        Ok(())
    }
}

impl TransformSpec {
    /// Fits one transform per column of `names` (column-major `cols`), after
    /// checking that every column named exists.
    pub fn fit(&self, names: &[String], cols: &[Vec<f64>]) -> Result<Vec<Transform>> {
        for c in self.by_column.keys() {
            if !names.contains(c) {
                return Err(Error::param(
                    "--transform",
                    format!(
                        "column `{c}` is not a feature (rule: features are {})",
                        names.join(", ")
                    ),
                ));
            }
        }
        names
            .iter()
            .zip(cols)
            .map(|(n, col)| {
                let kind = self.by_column.get(n).copied().unwrap_or(self.default);
                Transform::fit(kind, n, col)
            })
            .collect()
    }
}

/// A fitted transform of one column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Transform {
    /// Unchanged.
    #[default]
    None,
    /// ln(1 + x).
    Log1p,
    /// Yeo-Johnson with this λ.
    YeoJohnson {
        /// λ.
        lambda: f64,
    },
    /// The empirical CDF through these quantiles (at evenly spaced references).
    Quantile {
        /// The column's quantiles at `linspace(0, 1, len)`.
        quantiles: Vec<f64>,
    },
}

impl Transform {
    /// The flag spelling of its kind.
    pub fn name(&self) -> &'static str {
        match self {
            Transform::None => "none",
            Transform::Log1p => "log1p",
            Transform::YeoJohnson { .. } => "yeo-johnson",
            Transform::Quantile { .. } => "quantile",
        }
    }

    /// Fits `kind` on the finite values of `col` (named `name` in errors).
    pub fn fit(kind: TransformKind, name: &str, col: &[f64]) -> Result<Transform> {
        let x: Vec<f64> = col.iter().copied().filter(|v| v.is_finite()).collect();
        Ok(match kind {
            TransformKind::None => Transform::None,
            TransformKind::Auto => {
                if !x.is_empty() && x.iter().all(|v| *v >= 0.0) && skewness(&x) > AUTO_SKEW {
                    Transform::Log1p
                } else {
                    Transform::None
                }
            }
            TransformKind::Log1p => {
                if let Some(v) = x.iter().find(|v| **v <= -1.0) {
                    return Err(Error::param(
                        "--transform",
                        format!("column `{name}` holds {v}, and log1p needs values above -1 (rule: use yeo-johnson or quantile)"),
                    ));
                }
                Transform::Log1p
            }
            TransformKind::YeoJohnson => Transform::YeoJohnson {
                lambda: yeo_johnson_lambda(&x),
            },
            TransformKind::Quantile => Transform::Quantile {
                quantiles: quantiles(&x),
            },
        })
    }

    /// The transformed value.
    pub fn apply(&self, x: f64) -> f64 {
        match self {
            Transform::None => x,
            Transform::Log1p => x.ln_1p(),
            Transform::YeoJohnson { lambda } => yeo_johnson(x, *lambda),
            Transform::Quantile { quantiles } => quantile_forward(x, quantiles),
        }
    }

    /// The original value of a transformed one (for centroids in original units).
    pub fn inverse(&self, y: f64) -> f64 {
        match self {
            Transform::None => y,
            Transform::Log1p => y.exp_m1(),
            Transform::YeoJohnson { lambda } => yeo_johnson_inverse(y, *lambda),
            Transform::Quantile { quantiles } => {
                let n = quantiles.len();
                interp(y, n, |i| reference(i, n), |i| quantiles[i])
            }
        }
    }
}

/// numpy's pairwise summation (`np.add.reduce` on a contiguous float64 array), so
/// that λ matches scikit-learn's to the last digits.
pub fn pairwise_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut s = -0.0;
        for v in a {
            s += v;
        }
        s
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i + 8 <= n {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for v in &a[i..] {
            s += v;
        }
        s
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = pairwise_sum(x) / n;
    let d: Vec<f64> = x.iter().map(|v| (v - m) * (v - m)).collect();
    (m, pairwise_sum(&d) / n)
}

/// Skewness g1 = m3 / m2^1.5 with population moments (`scipy.stats.skew`'s
/// default); 0 for a constant column.
pub fn skewness(x: &[f64]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    let (m, m2) = mean_var(x);
    if m2 <= 0.0 {
        return 0.0;
    }
    let c: Vec<f64> = x.iter().map(|v| (v - m).powi(3)).collect();
    let m3 = pairwise_sum(&c) / x.len() as f64;
    m3 / m2.powf(1.5)
}

/// The Yeo-Johnson transform (SciPy's formulas).
pub fn yeo_johnson(x: f64, lambda: f64) -> f64 {
    let eps = f64::EPSILON;
    if x >= 0.0 {
        if lambda.abs() < eps {
            x.ln_1p()
        } else {
            (lambda * x.ln_1p()).exp_m1() / lambda
        }
    } else if (lambda - 2.0).abs() > eps {
        -((2.0 - lambda) * (-x).ln_1p()).exp_m1() / (2.0 - lambda)
    } else {
        -(-x).ln_1p()
    }
}

/// The inverse of [`yeo_johnson`].
pub fn yeo_johnson_inverse(y: f64, lambda: f64) -> f64 {
    let eps = f64::EPSILON;
    if y >= 0.0 {
        if lambda.abs() < eps {
            y.exp_m1()
        } else {
            ((lambda * y).ln_1p() / lambda).exp_m1()
        }
    } else if (lambda - 2.0).abs() > eps {
        -(((lambda - 2.0) * y).ln_1p() / (2.0 - lambda)).exp_m1()
    } else {
        -(-y).exp_m1()
    }
}

/// λ maximising the Yeo-Johnson log-likelihood, as SciPy's `yeojohnson_normmax`
/// (bounded Brent, `fminbound` with xtol 1.48e-8, on bounds that keep the
/// transform finite); 1 for a constant or all-zero column.
pub fn yeo_johnson_lambda(x: &[f64]) -> f64 {
    if x.is_empty() || x.iter().all(|v| *v == 0.0) {
        return 1.0;
    }
    let n = x.len() as f64;
    let (m, var) = mean_var(x);
    let eps = f64::EPSILON;
    if var <= n * eps * var + (n * m * eps).powi(2) {
        return 1.0;
    }
    let signed_log: Vec<f64> = x.iter().map(|v| v.signum() * v.abs().ln_1p()).collect();
    let sum_log = pairwise_sum(&signed_log);
    let neg_llf = |lambda: f64| {
        let y: Vec<f64> = x.iter().map(|v| yeo_johnson(*v, lambda)).collect();
        let (_, var) = mean_var(&y);
        let log_var = if var < f64::MIN_POSITIVE {
            f64::NEG_INFINITY
        } else {
            var.ln()
        };
        let llf = -n / 2.0 * log_var + (lambda - 1.0) * sum_log;
        if llf.is_finite() {
            -llf
        } else {
            f64::INFINITY
        }
    };
    let max_abs = x.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let l = (20.0 * max_abs).ln_1p();
    let (ln_tiny, ln_max, ln_eps) = (f64::MIN_POSITIVE.ln(), f64::MAX.ln(), eps.ln());
    let lb = (ln_tiny - ln_eps) / 2.0 / l;
    let ub = (ln_max + ln_eps) / 2.0 / l;
    let (lb, ub) = if x.iter().all(|v| *v < 0.0) {
        (2.0 - ub, 2.0 - lb)
    } else if x.iter().any(|v| *v < 0.0) {
        ((2.0 - ub).max(lb), (2.0 - lb).min(ub))
    } else {
        (lb, ub)
    };
    fminbound(neg_llf, lb, ub, 1.48e-8, 500)
}

/// SciPy's `_minimize_scalar_bounded` (Brent's method on an interval), line for line.
fn fminbound(f: impl Fn(f64) -> f64, x1: f64, x2: f64, xatol: f64, maxfun: usize) -> f64 {
    let sqrt_eps = 2.2e-16f64.sqrt();
    let golden_mean = 0.5 * (3.0 - 5.0f64.sqrt());
    let (mut a, mut b) = (x1, x2);
    let mut fulc = a + golden_mean * (b - a);
    let mut nfc = fulc;
    let mut xf = fulc;
    let (mut rat, mut e) = (0.0f64, 0.0f64);
    let mut fx = f(xf);
    let mut num = 1;
    let mut ffulc = fx;
    let mut fnfc = fx;
    let mut xm = 0.5 * (a + b);
    let mut tol1 = sqrt_eps * xf.abs() + xatol / 3.0;
    let mut tol2 = 2.0 * tol1;
    let sign = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    while (xf - xm).abs() > tol2 - 0.5 * (b - a) {
        let mut golden = true;
        if e.abs() > tol1 {
            golden = false;
            let mut r = (xf - nfc) * (fx - ffulc);
            let mut q = (xf - fulc) * (fx - fnfc);
            let mut p = (xf - fulc) * q - (xf - nfc) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                p = -p;
            }
            q = q.abs();
            r = e;
            e = rat;
            if p.abs() < (0.5 * q * r).abs() && p > q * (a - xf) && p < q * (b - xf) {
                rat = (p + 0.0) / q;
                let x = xf + rat;
                if (x - a) < tol2 || (b - x) < tol2 {
                    let si = sign(xm - xf) + if xm - xf == 0.0 { 1.0 } else { 0.0 };
                    rat = tol1 * si;
                }
            } else {
                golden = true;
            }
        }
        if golden {
            e = if xf >= xm { a - xf } else { b - xf };
            rat = golden_mean * e;
        }
        let si = sign(rat) + if rat == 0.0 { 1.0 } else { 0.0 };
        let x = xf + si * rat.abs().max(tol1);
        let fu = f(x);
        num += 1;
        if fu <= fx {
            if x >= xf {
                a = xf;
            } else {
                b = xf;
            }
            fulc = nfc;
            ffulc = fnfc;
            nfc = xf;
            fnfc = fx;
            xf = x;
            fx = fu;
        } else {
            if x < xf {
                a = x;
            } else {
                b = x;
            }
            if fu <= fnfc || nfc == xf {
                fulc = nfc;
                ffulc = fnfc;
                nfc = x;
                fnfc = fu;
            } else if fu <= ffulc || fulc == xf || fulc == nfc {
                fulc = x;
                ffulc = fu;
            }
        }
        xm = 0.5 * (a + b);
        tol1 = sqrt_eps * xf.abs() + xatol / 3.0;
        tol2 = 2.0 * tol1;
        if num >= maxfun {
            break;
        }
    }
    xf
}

/// Element `i` of `np.linspace(0, 1, n)`.
fn reference(i: usize, n: usize) -> f64 {
    if n == 1 {
        0.0
    } else if i == n - 1 {
        1.0
    } else {
        i as f64 * (1.0 / (n - 1) as f64)
    }
}

/// The column's quantiles at `references(min(1000, n))`, as
/// `np.nanpercentile(x, references * 100)` (linear method).
pub fn quantiles(x: &[f64]) -> Vec<f64> {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return vec![0.0];
    }
    let nq = N_QUANTILES.min(n).max(1);
    (0..nq)
        .map(|i| reference(i, nq))
        .map(|r| {
            let p = (r * 100.0) / 100.0;
            let v = (n - 1) as f64 * p;
            let lo = v.floor();
            let g = v - lo;
            let lo = lo as usize;
            let (a, b) = if lo + 1 >= n {
                (s[n - 1], s[n - 1])
            } else {
                (s[lo], s[lo + 1])
            };
            let d = b - a;
            if g < 0.5 {
                a + d * g
            } else {
                b - d * (1.0 - g)
            }
        })
        .collect()
}

/// `np.interp(x, xp, fp)` for `n` points, `xp` increasing; the points are given by
/// index so that a reversed or negated table needs no copy (this runs per cell).
fn interp(x: f64, n: usize, xp: impl Fn(usize) -> f64, fp: impl Fn(usize) -> f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x < xp(0) {
        return fp(0);
    }
    if x > xp(n - 1) {
        return fp(n - 1);
    }
    // The last j with xp[j] <= x (xp[0] <= x holds here).
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if xp(mid) <= x {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let j = lo;
    if j == n - 1 || xp(j) == x {
        return fp(j);
    }
    let slope = (fp(j + 1) - fp(j)) / (xp(j + 1) - xp(j));
    slope * (x - xp(j)) + fp(j)
}

/// scikit-learn's `QuantileTransformer._transform_col` (uniform output): the mean
/// of interpolating forwards and backwards, so that a value on a run of equal
/// quantiles gets the middle of their references.
fn quantile_forward(x: f64, q: &[f64]) -> f64 {
    if x.is_nan() {
        return x;
    }
    let n = q.len();
    let refs = |i: usize| reference(i, n);
    let forward = interp(x, n, |i| q[i], refs);
    let backward = interp(-x, n, |i| -q[n - 1 - i], |i| -refs(n - 1 - i));
    let mut y = 0.5 * (forward - backward);
    if x == q[q.len() - 1] {
        y = 1.0;
    }
    if x == q[0] {
        y = 0.0;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parses_default_and_overrides() {
        let s: TransformSpec = "log1p, age=none,monetary_total=quantile".parse().unwrap();
        assert_eq!(s.default, TransformKind::Log1p);
        assert_eq!(s.by_column["age"], TransformKind::None);
        assert_eq!(s.to_string(), "log1p,age=none,monetary_total=quantile");
        let only: TransformSpec = "recency_days=yeo-johnson".parse().unwrap();
        assert_eq!(only.default, TransformKind::Auto);
        let e = "box-cox".parse::<TransformSpec>().unwrap_err().to_string();
        assert!(e.contains("--transform") && e.contains("box-cox"), "{e}");
        let e = TransformSpec::default()
            .fit(&["a".into()], &[vec![1.0]])
            .and_then(|_| {
                "b=log1p"
                    .parse::<TransformSpec>()?
                    .fit(&["a".into()], &[vec![1.0]])
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("`b`"), "{e}");
    }

    #[test]
    fn auto_logs_only_skewed_non_negative_columns() {
        let skewed: Vec<f64> = (0..100).map(|i| if i < 95 { 1.0 } else { 100.0 }).collect();
        let symmetric: Vec<f64> = (0..100).map(|i| i as f64).collect();
        let negative: Vec<f64> = skewed.iter().map(|v| v - 2.0).collect();
        let f = |c: &[f64]| Transform::fit(TransformKind::Auto, "c", c).unwrap();
        assert_eq!(f(&skewed), Transform::Log1p);
        assert_eq!(f(&symmetric), Transform::None);
        assert_eq!(f(&negative), Transform::None);
        assert!(Transform::fit(TransformKind::Log1p, "c", &negative)
            .unwrap_err()
            .to_string()
            .contains("column `c`"));
    }

    #[test]
    fn inverses_invert() {
        let x: Vec<f64> = (0..500)
            .map(|i| (i as f64 * 0.37).sin() * 40.0 + 10.0)
            .collect();
        for t in [
            Transform::Log1p,
            Transform::YeoJohnson { lambda: 0.3 },
            Transform::YeoJohnson { lambda: 2.0 },
            Transform::YeoJohnson { lambda: 0.0 },
            Transform::fit(TransformKind::Quantile, "x", &x).unwrap(),
        ] {
            for &v in x.iter().filter(|v| **v > -1.0).take(50) {
                let back = t.inverse(t.apply(v));
                assert!(
                    (back - v).abs() < 1e-6 * v.abs().max(1.0),
                    "{t:?}: {v} → {back}"
                );
            }
        }
    }

    #[test]
    fn pairwise_sum_is_numpys_order() {
        let a: Vec<f64> = (0..1000).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let s = pairwise_sum(&a);
        let plain: f64 = a.iter().sum();
        assert!((s - plain).abs() < 1e-12);
    }
}
