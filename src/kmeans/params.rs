//! K-means parameters and their validation. Algorithms accept only
//! [`ValidKMeansParams`], which can only be made by [`KMeansParams::check`], so every
//! rule is enforced in one place and has a test named after it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Default iteration cap (scikit-learn's).
pub const DEFAULT_MAX_ITER: usize = 300;
/// Default tolerance, relative to the mean feature variance (scikit-learn's).
pub const DEFAULT_TOL: f64 = 1e-4;
/// Restarts when `n_init` is left to "auto" with random initialisation.
pub const AUTO_N_INIT_RANDOM: usize = 10;

/// How initial centroids are chosen.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// Greedy k-means++ with `2 + ln k` local trials, as scikit-learn does.
    KMeansPlusPlus,
    /// `k` distinct rows drawn uniformly.
    Random,
    /// Given centroids, row-major `k × d`, in scaled units.
    Given(Vec<f32>),
}

/// K-means parameters as the user sets them.
#[derive(Clone, Debug)]
pub struct KMeansParams {
    k: usize,
    n_init: Option<usize>,
    max_iter: usize,
    tol: f64,
    seed: u64,
    init: Init,
}

impl KMeansParams {
    /// `k` clusters with defaults: k-means++, `n_init` auto (1 for k-means++, 10 for
    /// random, as scikit-learn), 300 iterations, tol 1e-4, seed 0.
    pub fn new(k: usize) -> Self {
        KMeansParams {
            k,
            n_init: None,
            max_iter: DEFAULT_MAX_ITER,
            tol: DEFAULT_TOL,
            seed: 0,
            init: Init::KMeansPlusPlus,
        }
    }

    /// Number of restarts; the best inertia wins.
    pub fn n_init(mut self, n: usize) -> Self {
        self.n_init = Some(n);
        self
    }

    /// Iteration cap per restart.
    pub fn max_iter(mut self, n: usize) -> Self {
        self.max_iter = n;
        self
    }

    /// Convergence tolerance on the total squared centroid shift, relative to the
    /// mean feature variance.
    pub fn tol(mut self, tol: f64) -> Self {
        self.tol = tol;
        self
    }

    /// The seed every random choice flows from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The initialisation.
    pub fn init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Checks every rule against data of `n` rows and `d` features.
    pub fn check(self, n: usize, d: usize) -> Result<ValidKMeansParams> {
        if self.k == 0 {
            return Err(Error::param("k", "k cannot be 0"));
        }
        if self.k > n {
            return Err(Error::param(
                "k",
                format!("k ({}) cannot exceed the number of rows ({n})", self.k),
            ));
        }
        if self.n_init == Some(0) {
            return Err(Error::param("n-init", "n_init cannot be 0"));
        }
        if self.max_iter == 0 {
            return Err(Error::param("max-iter", "max_iter cannot be 0"));
        }
        if !(self.tol.is_finite() && self.tol >= 0.0) {
            return Err(Error::param(
                "tol",
                format!("tol must be finite and >= 0, got {}", self.tol),
            ));
        }
        if let Init::Given(c) = &self.init {
            if c.len() != self.k * d {
                return Err(Error::param(
                    "init",
                    format!(
                        "given centroids must have k x d = {} x {d} values, got {}",
                        self.k,
                        c.len()
                    ),
                ));
            }
            if c.iter().any(|v| !v.is_finite()) {
                return Err(Error::param("init", "given centroids must be finite"));
            }
        }
        let n_init = match (&self.init, self.n_init) {
            (Init::Given(_), _) => 1,
            (_, Some(n)) => n,
            (Init::Random, None) => AUTO_N_INIT_RANDOM,
            (Init::KMeansPlusPlus, None) => 1,
        };
        Ok(ValidKMeansParams {
            k: self.k,
            n_init,
            max_iter: self.max_iter,
            tol: self.tol,
            seed: self.seed,
            init: self.init,
        })
    }
}

/// Checked parameters; see [`KMeansParams`] for their meaning.
#[derive(Clone, Debug, PartialEq)]
pub struct ValidKMeansParams {
    /// Number of clusters, 1..=n.
    pub k: usize,
    /// Restarts, >= 1 (always 1 with given centroids).
    pub n_init: usize,
    /// Iteration cap, >= 1.
    pub max_iter: usize,
    /// Relative tolerance, finite and >= 0.
    pub tol: f64,
    /// Seed.
    pub seed: u64,
    /// Initialisation.
    pub init: Init,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(p: KMeansParams, n: usize, d: usize) -> String {
        p.check(n, d).unwrap_err().to_string()
    }

    #[test]
    fn k_cannot_be_zero() {
        assert_eq!(
            rule(KMeansParams::new(0), 10, 2),
            "invalid k: k cannot be 0"
        );
    }

    #[test]
    fn k_cannot_exceed_rows() {
        assert_eq!(
            rule(KMeansParams::new(11), 10, 2),
            "invalid k: k (11) cannot exceed the number of rows (10)"
        );
    }

    #[test]
    fn n_init_cannot_be_zero() {
        assert!(rule(KMeansParams::new(2).n_init(0), 10, 2).contains("n_init cannot be 0"));
    }

    #[test]
    fn max_iter_cannot_be_zero() {
        assert!(rule(KMeansParams::new(2).max_iter(0), 10, 2).contains("max_iter cannot be 0"));
    }

    #[test]
    fn tol_must_be_finite_and_non_negative() {
        assert!(rule(KMeansParams::new(2).tol(-1.0), 10, 2).contains("tol must be finite"));
        assert!(rule(KMeansParams::new(2).tol(f64::NAN), 10, 2).contains("tol must be finite"));
    }

    #[test]
    fn given_centroids_must_have_k_times_d_values() {
        let p = KMeansParams::new(2).init(Init::Given(vec![0.0; 3]));
        assert!(rule(p, 10, 2).contains("k x d = 2 x 2 values, got 3"));
    }

    #[test]
    fn given_centroids_must_be_finite() {
        let p = KMeansParams::new(1).init(Init::Given(vec![0.0, f32::NAN]));
        assert!(rule(p, 10, 2).contains("finite"));
    }

    #[test]
    fn n_init_auto_follows_scikit_learn() {
        assert_eq!(KMeansParams::new(2).check(10, 2).unwrap().n_init, 1);
        let r = KMeansParams::new(2)
            .init(Init::Random)
            .check(10, 2)
            .unwrap();
        assert_eq!(r.n_init, AUTO_N_INIT_RANDOM);
        let g = KMeansParams::new(1)
            .n_init(5)
            .init(Init::Given(vec![0.0, 0.0]));
        assert_eq!(g.check(10, 2).unwrap().n_init, 1);
    }
}
