//! Nelder–Mead, the derivative-free minimiser the maximum-likelihood fits use (on
//! the logarithms of their parameters, so that every point is admissible).

/// The result of a minimisation.
#[derive(Clone, Debug)]
pub struct Minimum {
    /// The best point.
    pub x: Vec<f64>,
    /// Its value.
    pub f: f64,
    /// Function evaluations.
    pub evaluations: usize,
    /// Whether the simplex shrank below the tolerance before the cap.
    pub converged: bool,
}

/// Minimises `f` from `x0` with Nelder–Mead (the dimension-adaptive coefficients
/// of Gao & Han, 2012), restarting from the best point until a restart no longer
/// improves on it by more than `ftol` (a collapsed simplex is a common false stop).
pub fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], ftol: f64, max_eval: usize) -> Minimum {
    let mut best = x0.to_vec();
    let mut best_f = f(&best);
    let mut evaluations = 1;
    let mut converged = false;
    for _restart in 0..20 {
        let (x, fx, used, conv) = one_pass(f, &best, ftol, max_eval.saturating_sub(evaluations));
        evaluations += used;
        let improved = best_f - fx;
        if fx < best_f {
            best = x;
            best_f = fx;
        }
        converged = conv;
        if !conv || improved <= ftol || evaluations >= max_eval {
            break;
        }
    }
    Minimum {
        x: best,
        f: best_f,
        evaluations,
        converged,
    }
}

fn one_pass(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    ftol: f64,
    max_eval: usize,
) -> (Vec<f64>, f64, usize, bool) {
    let d = x0.len();
    let n = d as f64;
    let (alpha, gamma, rho, sigma) = (1.0, 1.0 + 2.0 / n, 0.75 - 1.0 / (2.0 * n), 1.0 - 1.0 / n);
    let mut simplex: Vec<Vec<f64>> = vec![x0.to_vec()];
    for i in 0..d {
        let mut p = x0.to_vec();
        p[i] += if p[i].abs() > 1e-3 {
            0.1 * p[i].abs().max(0.5)
        } else {
            0.25
        };
        simplex.push(p);
    }
    let mut fs: Vec<f64> = simplex.iter().map(|p| f(p)).collect();
    let mut used = d + 1;
    loop {
        let mut order: Vec<usize> = (0..=d).collect();
        order.sort_by(|&a, &b| fs[a].total_cmp(&fs[b]));
        simplex = order.iter().map(|&i| simplex[i].clone()).collect();
        fs = order.iter().map(|&i| fs[i]).collect();
        let spread = fs[d] - fs[0];
        let size = simplex[1..]
            .iter()
            .flat_map(|p| p.iter().zip(&simplex[0]).map(|(a, b)| (a - b).abs()))
            .fold(0.0f64, f64::max);
        if (spread.is_finite() && spread <= ftol && size <= 1e-9) || used >= max_eval {
            return (simplex[0].clone(), fs[0], used, used < max_eval);
        }
        let centroid: Vec<f64> = (0..d)
            .map(|j| simplex[..d].iter().map(|p| p[j]).sum::<f64>() / n)
            .collect();
        let along = |t: f64| -> Vec<f64> {
            (0..d)
                .map(|j| centroid[j] + t * (simplex[d][j] - centroid[j]))
                .collect()
        };
        let xr = along(-alpha);
        let fr = f(&xr);
        used += 1;
        if fr < fs[0] {
            let xe = along(-alpha * gamma);
            let fe = f(&xe);
            used += 1;
            if fe < fr {
                simplex[d] = xe;
                fs[d] = fe;
            } else {
                simplex[d] = xr;
                fs[d] = fr;
            }
            continue;
        }
        if fr < fs[d - 1] {
            simplex[d] = xr;
            fs[d] = fr;
            continue;
        }
        let (xc, fc) = if fr < fs[d] {
            let xc = along(-alpha * rho);
            let fc = f(&xc);
            (xc, fc)
        } else {
            let xc = along(rho);
            let fc = f(&xc);
            (xc, fc)
        };
        used += 1;
        if fc < fr.min(fs[d]) {
            simplex[d] = xc;
            fs[d] = fc;
            continue;
        }
        let best = simplex[0].clone();
        for (p, fp) in simplex.iter_mut().zip(fs.iter_mut()).skip(1) {
            for (v, b) in p.iter_mut().zip(&best) {
                *v = b + sigma * (*v - b);
            }
            *fp = f(p);
        }
        used += d;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_rosenbrock_minimum() {
        let rosen = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let m = nelder_mead(&rosen, &[-1.2, 1.0], 1e-14, 20_000);
        assert!(m.converged);
        assert!(
            (m.x[0] - 1.0).abs() < 1e-5 && (m.x[1] - 1.0).abs() < 1e-5,
            "{:?}",
            m.x
        );
    }
}
