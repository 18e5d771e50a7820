//! K-means warm-started from a previous model (`update`, or `segmenta kmeans
//! --previous-model`): next month's table read with the previous model's columns,
//! scaled by the previous scaler (unless `--refit-scaler`), Lloyd from the
//! previous centroids, and the new segments matched to the previous ones so that a
//! segment keeps its id (see [`crate::kmeans::matching`]).
//!
//! The scaler is the previous one by default, so that "the same customer" means
//! the same point from one month to the next. The drift check fits a scaler of the
//! same method on the new data (after the previous transforms) and compares: a
//! column whose offset moved by more than [`DRIFT_SHIFT`] of the previous scale, or
//! whose scale changed by more than a factor [`DRIFT_RATIO`], is reported, with the
//! advice to refit the scaler (`--refit-scaler`, or a fresh `run`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::fit::{FitOptions, ReadOptions};
use super::flags::{self, Flags};
use super::Observer;
use crate::error::{Error, Result};
use crate::io::{FeatureTable, ReadSpec};
use crate::kmeans::matching::{match_centroids, SegmentMatch};
use crate::kmeans::{self, Init, KMeansParams};
use crate::matrix::Matrix;
use crate::model::{KMeansModel, Model};
use crate::rng::Rng;
use crate::scale::{ScaleMethod, Scaler};

/// A column drifts when its offset moves by more than this share of the previous
/// scale.
pub const DRIFT_SHIFT: f64 = 0.25;
/// … or when its scale changes by more than this factor, either way.
pub const DRIFT_RATIO: f64 = 1.25;

/// Where a warm start comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct WarmStart {
    /// The previous run's `model.json` (K-means).
    pub model: PathBuf,
    /// Fit a new scaler on the new data instead of keeping the previous one.
    pub refit_scaler: bool,
    /// The matching threshold (see [`crate::kmeans::matching`]).
    pub max_shift: f64,
}

impl Flags for WarmStart {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--previous-model", self.model.display());
        flags::switch(argv, "--refit-scaler", self.refit_scaler);
        flags::value(argv, "--max-shift", self.max_shift);
    }
}

/// One numeric column's drift against the previous scaler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ColumnDrift {
    /// Column.
    pub column: String,
    /// (new offset − previous offset) / previous scale.
    pub shift: f64,
    /// New scale / previous scale.
    pub ratio: f64,
    /// Beyond [`DRIFT_SHIFT`] or [`DRIFT_RATIO`].
    pub drifted: bool,
}

/// How a warm-started model came about (`model.json`, `warm_start`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarmStartInfo {
    /// The previous model.
    pub previous_model: String,
    /// Its fit id.
    pub previous_fit_id: String,
    /// `previous` or `refitted`.
    pub scaler: String,
    /// The matching threshold.
    pub max_shift: f64,
    /// Per numeric column, against the previous scaler.
    pub drift: Vec<ColumnDrift>,
    /// What became of every segment, previous and new.
    pub segments: Vec<SegmentMatch>,
}

/// A loaded previous model.
pub(super) struct Warm<'a> {
    pub(super) ws: &'a WarmStart,
    pub(super) model: Model,
}

/// The new fit's segments under their stable ids.
pub(super) struct Relabelled {
    /// Segment id per row.
    pub(super) labels: Vec<u32>,
    /// Ids, active and retired.
    pub(super) k: usize,
    /// Centroids per id, scaled units of the new model.
    pub(super) centroids: Vec<f32>,
    /// Retired ids.
    pub(super) retired: Vec<usize>,
    /// Id of each centroid of the fit (`None`: empty, dropped).
    pub(super) id_of: Vec<Option<usize>>,
    /// The record.
    pub(super) info: WarmStartInfo,
}

impl<'a> Warm<'a> {
    pub(super) fn load(ws: &'a WarmStart) -> Result<Warm<'a>> {
        if !(ws.max_shift > 0.0 && ws.max_shift.is_finite()) {
            return Err(Error::param("--max-shift", "must be a number > 0"));
        }
        let model = Model::load(&ws.model)?;
        if model.kmeans().is_none() {
            return Err(Error::Model {
                path: ws.model.clone(),
                message: "is a DBSCAN model (rule: a warm start continues a K-means model)".into(),
            });
        }
        Ok(Warm { ws, model })
    }

    fn km(&self) -> &KMeansModel {
        self.model.kmeans().expect("checked in load")
    }

    /// Active segments of the previous model.
    pub(super) fn previous_k(&self) -> usize {
        self.km().active().len()
    }

    /// The new table is read with the previous model's columns and levels.
    pub(super) fn read_spec(&self, read: &ReadOptions) -> Result<ReadSpec> {
        let m = &self.model;
        if !read.columns.is_empty() && read.columns != m.numeric_features {
            return Err(Error::param(
                "--columns",
                format!(
                    "differ from the previous model's ({}) (rule: a warm start reads the columns it was fitted on; fit afresh with `segmenta run` to change them)",
                    m.numeric_features.join(",")
                ),
            ));
        }
        Ok(ReadSpec {
            id_col: read.id_col.clone(),
            columns: Some(m.numeric_features.clone()),
            categorical: m.categorical.iter().map(|c| c.column.clone()).collect(),
            weight_col: read.weight_col.clone(),
            strict_ids: read.strict,
            levels: Some(m.categorical.clone()),
        })
    }

    /// Scales `table` (the previous scaler, or a new one) and measures drift.
    pub(super) fn scaler(
        &self,
        table: &mut FeatureTable,
        fit: &FitOptions,
        obs: &dyn Observer,
    ) -> Result<(Scaler, Vec<ColumnDrift>, Vec<String>)> {
        let prev = &self.model.scaler;
        let drift = drift(prev, table);
        let bad: Vec<&ColumnDrift> = drift.iter().filter(|c| c.drifted).collect();
        let mut warnings = Vec::new();
        if !bad.is_empty() && !self.ws.refit_scaler {
            let mut worst = bad.clone();
            worst.sort_by(|a, b| {
                (b.shift.abs() + b.ratio.ln().abs())
                    .total_cmp(&(a.shift.abs() + a.ratio.ln().abs()))
            });
            warnings.push(format!(
                "{} of {} columns drifted from the previous scaler ({}): the previous segments' scale may no longer fit the data (rule: refit it with --refit-scaler, or fit afresh with `segmenta run`)",
                bad.len(),
                drift.len(),
                worst
                    .iter()
                    .take(3)
                    .map(|c| format!("{} moved {:+.2} scale, spread x{:.2}", c.column, c.shift, c.ratio))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
        for w in &warnings {
            obs.warn(w);
        }
        if self.ws.refit_scaler {
            return Ok((fit.fit_scaler(table)?, drift, warnings));
        }
        prev.transform(&mut table.x);
        let d = table.x.d().max(1);
        if let Some(i) = table.x.data().iter().position(|v| !v.is_finite()) {
            return Err(Error::InvalidValue {
                path: table.path.clone(),
                column: self.model.features[i % d].clone(),
                row: i / d + 1,
                rule: "values in the domain of the previous model's transform of this column, or --refit-scaler".into(),
            });
        }
        Ok((prev.clone(), drift, warnings))
    }

    /// The previous active centroids in the new model's scaled units.
    fn previous_here(&self, scaler: &Scaler) -> Vec<(usize, Vec<f32>)> {
        let km = self.km();
        km.active()
            .into_iter()
            .map(|c| (c, self.to_here(&km.centroids_scaled[c], scaler)))
            .collect()
    }

    fn to_here(&self, c: &[f32], scaler: &Scaler) -> Vec<f32> {
        if self.ws.refit_scaler {
            scaler.forward(&self.model.scaler.inverse(c))
        } else {
            c.to_vec()
        }
    }

    /// K-means parameters: one run from the previous centroids; with a larger k
    /// the extra centroids by k-means++ given those; with a smaller k, the
    /// previous centroids that draw the most rows.
    pub(super) fn params(
        &self,
        x: &Matrix,
        scaler: &Scaler,
        k: usize,
        fit: &FitOptions,
        seed: u64,
    ) -> Result<KMeansParams> {
        let prev: Vec<Vec<f32>> = self
            .previous_here(scaler)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let init = warm_init(x, &prev, k, seed)?;
        Ok(KMeansParams::new(k)
            .n_init(1)
            .max_iter(fit.max_iter)
            .tol(fit.tol)
            .seed(seed)
            .init(Init::Given(init)))
    }

    /// Matches the fit's centroids (`centroids`, `k × d`, the new scaled units) to
    /// the previous segments and gives every row its stable id.
    pub(super) fn relabel(
        &self,
        labels: &[u32],
        centroids: &[f32],
        scaler: &Scaler,
        drift: Vec<ColumnDrift>,
    ) -> Relabelled {
        let km = self.km();
        let d = self.model.features.len();
        let k_fit = centroids.len() / d.max(1);
        let mut size = vec![0u64; k_fit];
        for &l in labels {
            size[l as usize] += 1;
        }
        // Matching is done in the previous model's scaled space.
        let prev_space: Vec<Vec<f32>> = centroids
            .chunks(d)
            .map(|c| {
                if self.ws.refit_scaler {
                    self.model.scaler.forward(&scaler.inverse(c))
                } else {
                    c.to_vec()
                }
            })
            .collect();
        let previous: Vec<(usize, Vec<f32>)> = km
            .active()
            .into_iter()
            .map(|c| (c, km.centroids_scaled[c].clone()))
            .collect();
        // Only centroids that drew rows compete for the previous ids.
        let live: Vec<usize> = (0..k_fit).filter(|&i| size[i] > 0).collect();
        let live_space: Vec<Vec<f32>> = live.iter().map(|&i| prev_space[i].clone()).collect();
        let mut matched = vec![(None, None, None); k_fit];
        for (m, &i) in match_centroids(&previous, &live_space, self.ws.max_shift)
            .into_iter()
            .zip(&live)
        {
            matched[i] = m;
        }
        let mut next = km.k;
        let mut id_of = vec![None; k_fit];
        let mut segments = Vec::new();
        for i in 0..k_fit {
            if size[i] == 0 {
                continue;
            }
            let (prev, dist, thr) = matched[i];
            let id = prev.unwrap_or_else(|| {
                next += 1;
                next - 1
            });
            id_of[i] = Some(id);
            segments.push(SegmentMatch {
                segment: id,
                previous: prev,
                distance: dist,
                threshold: thr,
                status: if prev.is_some() { "kept" } else { "new" }.into(),
            });
        }
        let k = next;
        let mut cents = vec![0f32; k * d];
        let mut live = vec![false; k];
        for i in 0..k_fit {
            if let Some(id) = id_of[i] {
                cents[id * d..(id + 1) * d].copy_from_slice(&centroids[i * d..(i + 1) * d]);
                live[id] = true;
            }
        }
        for c in 0..km.k {
            if !live[c] {
                let here = self.to_here(&km.centroids_scaled[c], scaler);
                cents[c * d..(c + 1) * d].copy_from_slice(&here);
                if !km.retired.contains(&c) {
                    segments.push(SegmentMatch {
                        segment: c,
                        previous: Some(c),
                        distance: None,
                        threshold: None,
                        status: "vanished".into(),
                    });
                }
            }
        }
        segments.sort_by_key(|s| s.segment);
        let retired: Vec<usize> = (0..k).filter(|&c| !live[c]).collect();
        Relabelled {
            labels: labels
                .iter()
                .map(|&l| id_of[l as usize].expect("a row's centroid has rows") as u32)
                .collect(),
            k,
            centroids: cents,
            retired,
            id_of,
            info: WarmStartInfo {
                previous_model: self.ws.model.display().to_string(),
                previous_fit_id: self.model.fit_id.clone(),
                scaler: if self.ws.refit_scaler {
                    "refitted"
                } else {
                    "previous"
                }
                .into(),
                max_shift: self.ws.max_shift,
                drift,
                segments,
            },
        }
    }
}

/// Each numeric column of `table` (original units) against the scaler `prev`.
fn drift(prev: &Scaler, table: &FeatureTable) -> Vec<ColumnDrift> {
    let numeric = table.numeric;
    let mut x = table.x.clone();
    let method = match prev.method {
        ScaleMethod::None => ScaleMethod::Standard,
        m => m,
    };
    let transforms = prev.transforms.clone();
    let fresh = Scaler::fit_transform(method, transforms, &mut x, numeric);
    // With no scaling before, compare against the columns' own previous spread
    // unknown: the offsets and scales of `none` are 0 and 1.
    (0..numeric)
        .map(|j| {
            let shift = (fresh.offset[j] - prev.offset[j]) / prev.scale[j];
            let ratio = fresh.scale[j] / prev.scale[j];
            ColumnDrift {
                column: table.features[j].clone(),
                shift,
                ratio,
                drifted: prev.method != ScaleMethod::None
                    && (shift.abs() > DRIFT_SHIFT
                        || !(1.0 / DRIFT_RATIO..=DRIFT_RATIO).contains(&ratio)),
            }
        })
        .collect()
}

/// Initial centroids for `k` from the previous ones.
fn warm_init(x: &Matrix, prev: &[Vec<f32>], k: usize, seed: u64) -> Result<Vec<f32>> {
    let mut cents: Vec<Vec<f32>> = prev.to_vec();
    if k < cents.len() {
        let flat: Vec<f32> = cents.concat();
        let (labels, _) = kmeans::assign(x, &flat)?;
        let mut size = vec![0usize; cents.len()];
        for l in labels {
            size[l as usize] += 1;
        }
        let mut order: Vec<usize> = (0..cents.len()).collect();
        order.sort_by(|&a, &b| size[b].cmp(&size[a]).then(a.cmp(&b)));
        let mut keep: Vec<usize> = order[..k].to_vec();
        keep.sort_unstable();
        return Ok(keep.iter().flat_map(|&c| cents[c].clone()).collect());
    }
    // More segments than before: k-means++ (greedy, 2 + ln k trials) given the
    // previous centroids, on a seeded sample of at most 100,000 rows.
    let rows: Vec<usize> = crate::select::silhouette_rows(x.n(), 100_000, seed)
        .unwrap_or_else(|| (0..x.n()).collect());
    let sq = |r: &[f32], c: &[f32]| -> f64 {
        r.iter().zip(c).map(|(a, b)| f64::from(a - b).powi(2)).sum()
    };
    let mut dmin: Vec<f64> = rows
        .iter()
        .map(|&i| {
            cents
                .iter()
                .map(|c| sq(x.row(i), c))
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let mut rng = Rng::new(seed ^ 0x3A2B_0000_0000_0007);
    let trials = 2 + (k as f64).ln() as usize;
    while cents.len() < k {
        let total: f64 = dmin.iter().sum();
        let mut best: Option<(f64, usize)> = None;
        for _ in 0..trials {
            let mut u = rng.next_f64() * total;
            let mut pick = rows.len() - 1;
            for (e, v) in dmin.iter().enumerate() {
                if u < *v {
                    pick = e;
                    break;
                }
                u -= v;
            }
            let cand = x.row(rows[pick]);
            let pot: f64 = rows
                .iter()
                .zip(&dmin)
                .map(|(&i, &m)| m.min(sq(x.row(i), cand)))
                .sum();
            if best.is_none_or(|(b, _)| pot < b) {
                best = Some((pot, pick));
            }
        }
        let pick = best.expect("at least two trials").1;
        let c = x.row(rows[pick]).to_vec();
        for (m, &i) in dmin.iter_mut().zip(&rows) {
            *m = m.min(sq(x.row(i), &c));
        }
        cents.push(c);
    }
    Ok(cents.concat())
}
