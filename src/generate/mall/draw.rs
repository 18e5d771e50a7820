//! The random draws the mall is made of (normal, gamma, Poisson, a weighted pick,
//! a jittered probability), all from one customer's own `Rng` stream so that the
//! output does not depend on the thread count.

use crate::rng::Rng;

pub(super) fn normal(r: &mut Rng) -> f64 {
    let u = 1.0 - r.next_f64();
    let v = r.next_f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Gamma(shape, 1) by Marsaglia–Tsang (with the boost for shape < 1).
pub(super) fn gamma(r: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - r.next_f64();
        return gamma(r, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(r);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = 1.0 - r.next_f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Poisson(lambda): inversion for small means, a rounded normal above 40.
pub(super) fn poisson(r: &mut Rng, lambda: f64) -> u64 {
    if lambda <= 0.0 {
        return 0;
    }
    if lambda > 40.0 {
        return (lambda + lambda.sqrt() * normal(r)).round().max(0.0) as u64;
    }
    let l = (-lambda).exp();
    let mut k = 0u64;
    let mut p = 1.0;
    loop {
        p *= r.next_f64();
        if p <= l {
            return k;
        }
        k += 1;
    }
}

pub(super) fn pick(r: &mut Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = r.next_f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

pub(super) fn jitter_p(r: &mut Rng, p: f64, sd: f64) -> f64 {
    (p + sd * normal(r)).clamp(0.0, 1.0)
}
