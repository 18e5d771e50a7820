//! The report's map: customers projected on the first two principal components of
//! the scaled features, coloured by segment.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::io::{read_features, ReadSpec};
use crate::matrix::Matrix;
use crate::model::Model;

/// A 2-D PCA projection of a sample of customers.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pca {
    /// (pc1, pc2, segment) per sampled customer.
    pub points: Vec<(f64, f64, i32)>,
    /// Share of variance on each component.
    pub explained: [f64; 2],
    /// Customers sampled.
    pub sample: usize,
}

/// The top two principal components of `x` (rows already scaled), by power
/// iteration with deflation on the covariance matrix.
pub fn pca2(x: &Matrix) -> ([Vec<f64>; 2], [f64; 2]) {
    let (n, d) = (x.n(), x.d());
    let mut mean = vec![0f64; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(x.row(i)) {
            *m += f64::from(*v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![vec![0f64; d]; d];
    for i in 0..n {
        let r: Vec<f64> = x
            .row(i)
            .iter()
            .zip(&mean)
            .map(|(v, m)| f64::from(*v) - m)
            .collect();
        for a in 0..d {
            for b in a..d {
                cov[a][b] += r[a] * r[b];
            }
        }
    }
    let denom = n.max(2) as f64 - 1.0;
    let upper = cov.clone();
    for (a, row) in cov.iter_mut().enumerate() {
        for (b, c) in row.iter_mut().enumerate() {
            *c = if b >= a { upper[a][b] } else { upper[b][a] } / denom;
        }
    }
    let total: f64 = (0..d).map(|a| cov[a][a]).sum::<f64>().max(1e-300);
    let mut comps: [Vec<f64>; 2] = [vec![0.0; d], vec![0.0; d]];
    let mut vals = [0.0; 2];
    for (c, comp) in comps.iter_mut().enumerate() {
        let mut v: Vec<f64> = (0..d).map(|i| 1.0 + (i + c) as f64 * 0.01).collect();
        let mut lambda = 0.0;
        for _ in 0..500 {
            let mut w: Vec<f64> = (0..d)
                .map(|a| (0..d).map(|b| cov[a][b] * v[b]).sum())
                .collect();
            let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm == 0.0 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            let diff: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
            v = w;
            lambda = norm;
            if diff < 1e-12 {
                break;
            }
        }
        for a in 0..d {
            for b in 0..d {
                cov[a][b] -= lambda * v[a] * v[b];
            }
        }
        vals[c] = lambda / total;
        *comp = v;
    }
    (comps, vals)
}

/// The PCA map of a fit: the table it was fitted on, its assignments and its
/// model, on a seeded sample of `sample` customers.
pub fn pca_of_fit(
    clean: &Path,
    assign: &Path,
    model: &Model,
    sample: usize,
    seed: u64,
) -> Result<Option<Pca>> {
    if !clean.exists() || !assign.exists() {
        return Ok(None);
    }
    let (clean, assign) = (clean.to_path_buf(), assign.to_path_buf());
    let spec = ReadSpec {
        id_col: model.id_col.clone(),
        columns: Some(model.numeric_features.clone()),
        categorical: model.categorical.iter().map(|c| c.column.clone()).collect(),
        weight_col: None,
        strict_ids: false,
        levels: Some(model.categorical.clone()),
    };
    let mut t = read_features(&clean, &spec)?;
    model.scaler.transform(&mut t.x);
    let mut aspec = ReadSpec::new(model.id_col.clone());
    aspec.columns = Some(vec!["segment".into()]);
    let a = read_features(&assign, &aspec)?;
    if a.ids != t.ids {
        return Err(Error::Source {
            path: assign,
            message: format!(
                "ids differ from {} (rule: assignments list the clustered rows in order)",
                clean.display()
            ),
        });
    }
    let n = t.x.n();
    let rows = crate::select::silhouette_rows(n, sample, seed).unwrap_or_else(|| (0..n).collect());
    let d = t.x.d();
    let data: Vec<f32> = rows.iter().flat_map(|&i| t.x.row(i).to_vec()).collect();
    let xs = Matrix::new(rows.len(), d, data);
    let (comps, explained) = pca2(&xs);
    let points = rows
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let r = xs.row(k);
            let p = |c: &Vec<f64>| r.iter().zip(c).map(|(v, w)| f64::from(*v) * w).sum::<f64>();
            (p(&comps[0]), p(&comps[1]), a.x.row(i)[0] as i32)
        })
        .collect();
    Ok(Some(Pca {
        points,
        explained,
        sample: rows.len(),
    }))
}
