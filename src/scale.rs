//! Feature scaling, fitted on the data and stored in the model so that predictions
//! use the same transform and reports can map centroids back to original units.
//!
//! Every scaler is `z = (x - offset) / scale` per column; they differ only in how
//! `offset` and `scale` are fitted. A column with zero spread gets `scale = 1`, as
//! scikit-learn does, so it becomes constant instead of NaN. One-hot indicator
//! columns are left unscaled (`offset 0`, `scale 1`): their 0/1 values are already
//! comparable and scaling would make rare levels dominate the distance.

use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::matrix::Matrix;
use crate::transform::Transform;

/// How to scale features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleMethod {
    /// Zero mean, unit (population) standard deviation.
    Standard,
    /// Into [0, 1] by the column's min and max.
    MinMax,
    /// Median removed, divided by the interquartile range (numpy's linear quantiles).
    Robust,
    /// Unchanged.
    None,
}

impl FromStr for ScaleMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "standard" => Ok(ScaleMethod::Standard),
            "minmax" => Ok(ScaleMethod::MinMax),
            "robust" => Ok(ScaleMethod::Robust),
            "none" => Ok(ScaleMethod::None),
            other => Err(Error::param(
                "scale",
                format!("`{other}` is not one of standard, minmax, robust, none"),
            )),
        }
    }
}

/// A fitted scaler: per-column transforms ([`crate::transform`]), then
/// `(t(x) - offset) / scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    /// The method it was fitted with.
    pub method: ScaleMethod,
    /// Applied to each column before the offset and scale (empty: none).
    #[serde(default)]
    pub transforms: Vec<Transform>,
    /// Subtracted from each column.
    pub offset: Vec<f64>,
    /// Then divided into each column.
    pub scale: Vec<f64>,
}

impl Scaler {
    /// Fits `method` on the first `numeric` columns of `x`; later columns (one-hot
    /// indicators) get the identity.
    pub fn fit(method: ScaleMethod, x: &Matrix, numeric: usize) -> Scaler {
        let d = x.d();
        let mut offset = vec![0.0; d];
        let mut scale = vec![1.0; d];
        let cols: Vec<(f64, f64)> = (0..numeric)
            .into_par_iter()
            .map(|j| fit_column(method, x, j))
            .collect();
        for (j, (o, s)) in cols.into_iter().enumerate() {
            offset[j] = o;
            scale[j] = if s > 0.0 && s.is_finite() { s } else { 1.0 };
        }
        Scaler {
            method,
            transforms: Vec::new(),
            offset,
            scale,
        }
    }

    /// Applies `transforms` (fitted, one per numeric column) to `x` in place, fits
    /// `method` on the result and scales it, so that `x` ends as
    /// [`Scaler::transform`] leaves it, with one pass of each.
    pub fn fit_transform(
        method: ScaleMethod,
        transforms: Vec<Transform>,
        x: &mut Matrix,
        numeric: usize,
    ) -> Scaler {
        apply_transforms(&transforms, x);
        let mut s = Scaler::fit(method, x, numeric);
        s.scale_in_place(x);
        if transforms.iter().any(|t| *t != Transform::None) {
            s.transforms = transforms;
        }
        s
    }

    /// Transforms and scales `x` in place.
    pub fn transform(&self, x: &mut Matrix) {
        apply_transforms(&self.transforms, x);
        self.scale_in_place(x);
    }

    /// `(x - offset) / scale`, in place.
    fn scale_in_place(&self, x: &mut Matrix) {
        let d = x.d();
        x.data_mut().par_chunks_mut(d.max(1)).for_each(|row| {
            for (j, v) in row.iter_mut().enumerate() {
                *v = ((*v as f64 - self.offset[j]) / self.scale[j]) as f32;
            }
        });
    }

    /// One row of original units into scaled units (the transforms, then the
    /// scaling): the inverse of [`Scaler::inverse`].
    pub fn forward(&self, row: &[f64]) -> Vec<f32> {
        row.iter()
            .enumerate()
            .map(|(j, v)| {
                let t = self.transforms.get(j).map_or(*v, |t| t.apply(*v));
                ((t - self.offset[j]) / self.scale[j]) as f32
            })
            .collect()
    }

    /// Maps scaled rows (e.g. centroids) back to original units.
    pub fn inverse(&self, rows: &[f32]) -> Vec<f64> {
        let d = self.offset.len();
        rows.iter()
            .enumerate()
            .map(|(i, v)| {
                let y = *v as f64 * self.scale[i % d] + self.offset[i % d];
                self.transforms.get(i % d).map_or(y, |t| t.inverse(y))
            })
            .collect()
    }
}

/// Applies one transform per leading column of `x`, in place.
fn apply_transforms(transforms: &[Transform], x: &mut Matrix) {
    if transforms.iter().all(|t| *t == Transform::None) {
        return;
    }
    let d = x.d();
    x.data_mut().par_chunks_mut(d.max(1)).for_each(|row| {
        for (v, t) in row.iter_mut().zip(transforms) {
            if *t != Transform::None {
                *v = t.apply(*v as f64) as f32;
            }
        }
    });
}

/// The columns `0..numeric` of `x` as f64 vectors.
pub fn columns(x: &Matrix, numeric: usize) -> Vec<Vec<f64>> {
    (0..numeric).map(|j| column(x, j).collect()).collect()
}

fn column(x: &Matrix, j: usize) -> impl Iterator<Item = f64> + '_ {
    x.data().iter().skip(j).step_by(x.d()).map(|v| *v as f64)
}

fn fit_column(method: ScaleMethod, x: &Matrix, j: usize) -> (f64, f64) {
    let n = x.n() as f64;
    match method {
        ScaleMethod::None => (0.0, 1.0),
        ScaleMethod::Standard => {
            let mean = column(x, j).sum::<f64>() / n;
            let var = column(x, j).map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            (mean, var.sqrt())
        }
        ScaleMethod::MinMax => {
            let (lo, hi) = column(x, j).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                (a.min(v), b.max(v))
            });
            (lo, hi - lo)
        }
        ScaleMethod::Robust => {
            let mut v: Vec<f64> = column(x, j).collect();
            v.sort_unstable_by(f64::total_cmp);
            let q = |p: f64| crate::stats::quantile_sorted(&v, p);
            (q(0.5), q(0.75) - q(0.25))
        }
    }
}

/// Mean over columns of the (population) variance: scikit-learn's unit for `tol`.
pub fn mean_variance(x: &Matrix) -> f64 {
    if x.d() == 0 {
        return 0.0;
    }
    let total: f64 = (0..x.d())
        .into_par_iter()
        .map(|j| fit_column(ScaleMethod::Standard, x, j).1.powi(2))
        .sum();
    total / x.d() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Matrix {
        Matrix::new(4, 2, vec![1., 10., 2., 10., 3., 10., 4., 10.])
    }

    #[test]
    fn standard_gives_zero_mean_unit_variance_and_constant_columns_stay_finite() {
        let mut x = m();
        let s = Scaler::fit(ScaleMethod::Standard, &x, 2);
        s.transform(&mut x);
        let c0: Vec<f32> = x.data().iter().step_by(2).copied().collect();
        let mean: f32 = c0.iter().sum::<f32>() / 4.0;
        let var: f32 = c0.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        assert_eq!(s.scale[1], 1.0);
        assert!(x.data().iter().all(|v| v.is_finite()));
    }

    #[test]
    fn minmax_maps_to_unit_interval() {
        let mut x = m();
        Scaler::fit(ScaleMethod::MinMax, &x, 2).transform(&mut x);
        assert_eq!(x.row(0)[0], 0.0);
        assert_eq!(x.row(3)[0], 1.0);
    }

    #[test]
    fn robust_uses_numpy_linear_quantiles() {
        // numpy: median([1,2,3,4]) = 2.5, q75 - q25 = 3.25 - 1.75 = 1.5
        let s = Scaler::fit(ScaleMethod::Robust, &m(), 2);
        assert_eq!(s.offset[0], 2.5);
        assert_eq!(s.scale[0], 1.5);
    }

    #[test]
    fn inverse_undoes_transform() {
        let mut x = m();
        let s = Scaler::fit(ScaleMethod::Standard, &x, 2);
        s.transform(&mut x);
        let back = s.inverse(x.row(2));
        assert!((back[0] - 3.0).abs() < 1e-6 && (back[1] - 10.0).abs() < 1e-6);
    }

    #[test]
    fn one_hot_columns_are_left_alone() {
        let s = Scaler::fit(ScaleMethod::Standard, &m(), 1);
        assert_eq!((s.offset[1], s.scale[1]), (0.0, 1.0));
    }

    #[test]
    fn unknown_method_is_rejected_with_the_choices() {
        let e = "zscore".parse::<ScaleMethod>().unwrap_err().to_string();
        assert!(
            e.contains("scale") && e.contains("standard, minmax, robust, none"),
            "{e}"
        );
    }
}
