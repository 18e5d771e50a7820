//! The sweep stage: K-means at every k of a range on the same scaled data (and,
//! on the GPU, the same uploaded buffers), scored by inertia, silhouette,
//! Davies–Bouldin and Calinski–Harabasz, with the elbow and a recommended k.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::fit::{scale_name, with_backend, FitOptions, ReadOptions};
use super::flags::{self, Flags};
use super::Observer;
use crate::artefact::Artefact;
use crate::error::{Error, Result};
use crate::io::{write_json, Staged};
use crate::kmeans::{self, Event};
use crate::select::{self, Recommendation, SweepPoint};

/// Default of [`SweepOptions::k_range`]: 2..=10.
pub const DEFAULT_K_RANGE: &str = "2..10";
/// Default of [`SweepOptions::silhouette_sample`].
pub const DEFAULT_SILHOUETTE_SAMPLE: usize = 5000;

/// Default of [`SweepOptions::rows`]: the fits of a larger table's sweep run on a
/// seeded sample of this many rows.
pub const DEFAULT_SWEEP_ROWS: usize = 500_000;
/// Mixed into the seed of the sweep's sample, so that it is not the silhouette's.
const SWEEP_SAMPLE_SALT: u64 = 0x7377_6565_7072_6f77;

/// The most k values one sweep takes.
pub const MAX_K_VALUES: usize = 1000;

/// A k range: `2..12` (both ends included) or a list `3,5,8`, of at most
/// [`MAX_K_VALUES`] values.
pub fn parse_k_range(s: &str) -> std::result::Result<Vec<usize>, String> {
    let bad = || {
        format!("`{s}` is not a k range (rule: `A..B` with 1 <= A <= B, or `3,5,8`; at most {MAX_K_VALUES} values)")
    };
    let ks: Vec<usize> = if let Some((a, b)) = s.split_once("..") {
        let a: usize = a.trim().parse().map_err(|_| bad())?;
        let b: usize = b
            .trim()
            .trim_start_matches('=')
            .parse()
            .map_err(|_| bad())?;
        if a == 0 || a > b || b - a > MAX_K_VALUES {
            return Err(bad());
        }
        (a..=b).collect()
    } else {
        let mut v = s
            .split(',')
            .map(|t| t.trim().parse::<usize>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| bad())?;
        v.sort_unstable();
        v.dedup();
        if v.len() > MAX_K_VALUES {
            return Err(bad());
        }
        v
    };
    if ks.is_empty() || ks[0] == 0 {
        return Err(bad());
    }
    Ok(ks)
}

/// The k range as flags spell it: `A..B` when contiguous, else a list.
pub fn k_range_text(ks: &[usize]) -> String {
    let contiguous = ks.len() > 1 && ks.windows(2).all(|w| w[1] == w[0] + 1);
    match contiguous {
        true => format!("{}..{}", ks[0], ks[ks.len() - 1]),
        false => ks
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// The sweep's own options.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepOptions {
    /// The k values considered.
    pub k_range: Vec<usize>,
    /// Silhouette on every row up to this many rows, else on a seeded sample of
    /// this size (the silhouette is quadratic in rows).
    pub silhouette_sample: usize,
    /// Each k is fitted and scored on every row up to this many rows (outliers
    /// left out), else on a seeded uniform sample of this size; the chosen k is
    /// then fitted on all rows by the kmeans stage.
    pub rows: usize,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            k_range: parse_k_range(DEFAULT_K_RANGE).expect("a valid default"),
            silhouette_sample: DEFAULT_SILHOUETTE_SAMPLE,
            rows: DEFAULT_SWEEP_ROWS,
        }
    }
}

impl Flags for SweepOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--k-range", k_range_text(&self.k_range));
        flags::value(argv, "--silhouette-sample", self.silhouette_sample);
        flags::value(argv, "--sweep-rows", self.rows);
    }
}

impl SweepOptions {
    /// Checks the rules that need no data.
    pub fn check(&self) -> Result<()> {
        if self.silhouette_sample < 2 {
            return Err(Error::param(
                "--silhouette-sample",
                format!("{} is too small (rule: at least 2)", self.silhouette_sample),
            ));
        }
        if self.rows < 2 {
            return Err(Error::param(
                "--sweep-rows",
                format!("{} is too small (rule: at least 2)", self.rows),
            ));
        }
        if self.k_range.is_empty() || self.k_range[0] == 0 {
            return Err(Error::param("--k-range", "must hold k values >= 1"));
        }
        let kmax = self.k_range.iter().copied().max().unwrap_or(0);
        if self.rows < kmax {
            return Err(Error::param(
                "--sweep-rows",
                format!(
                    "{} is below the largest k of --k-range, {kmax} (rule: the sweep's sample holds at least one row a centroid)",
                    self.rows
                ),
            ));
        }
        Ok(())
    }
}

/// `sweep.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SweepReport {
    /// Always `segmenta-sweep`.
    pub format: String,
    /// [`SweepReport::VERSION`].
    pub version: u32,
    /// The feature table.
    pub input: PathBuf,
    /// Rows.
    pub rows: usize,
    /// Features.
    pub features: Vec<String>,
    /// Scaling.
    pub scale: String,
    /// Backend that ran the fits.
    pub backend: String,
    /// Restarts per k.
    pub n_init: usize,
    /// Seed.
    pub seed: u64,
    /// Rows every k was fitted and scored on.
    #[serde(default)]
    pub fit_rows: usize,
    /// How those rows were chosen, in words.
    #[serde(default)]
    pub fit_rows_note: String,
    /// Rows the silhouette used.
    pub silhouette_rows: usize,
    /// How the silhouette rows were chosen, in words.
    pub silhouette_note: String,
    /// How the elbow is found, in words.
    pub elbow_method: String,
    /// One entry per k.
    pub points: Vec<SweepPoint>,
    /// The recommended k and why.
    pub recommended: Recommendation,
    /// Seconds.
    pub total_s: f64,
}

impl Artefact for SweepReport {
    const FORMAT: &'static str = "segmenta-sweep";
    const VERSION: u32 = 1;
    const NOUN: &'static str = "sweep";
}

/// Sweeps the feature table `input` over `opts.k_range` and writes
/// `out/sweep.json`.
pub fn sweep(
    input: &Path,
    read: &ReadOptions,
    opts: &SweepOptions,
    fit: &FitOptions,
    seed: u64,
    out: &Path,
    obs: &dyn Observer,
) -> Result<SweepReport> {
    let t_all = Instant::now();
    opts.check()?;
    let mut table = read.read(input, obs)?;
    let (n, d) = (table.x.n(), table.x.d());
    // A range beyond the rows is the range's fault, not a k the user never gave
    // (`run --k auto` sweeps the default range).
    let kmax = opts.k_range.iter().copied().max().unwrap_or(0);
    let too_few = |rows: usize, what: &str| -> Result<()> {
        match kmax > rows {
            true => Err(Error::param(
                "--k-range",
                format!(
                    "{} ends at k = {kmax}, but {} has {rows} {what} (rule: every k of the sweep is at most the number of customers; `--k auto` sweeps --k-range, {DEFAULT_K_RANGE} by default: give a smaller range, or --k)",
                    k_range_text(&opts.k_range),
                    input.display()
                ),
            )),
            false => Ok(()),
        }
    };
    too_few(n, "rows")?;
    // Every k is checked before any work is done.
    for &k in &opts.k_range {
        fit.params(k, seed).check(n, d)?;
    }
    fit.fit_scaler(&mut table)?;
    // Keeps `rows` of the table, checking every k against them.
    let keep = |table: &mut crate::io::FeatureTable, rows: &[usize], what: &str| {
        table.x = table.x.select(rows);
        table.weights = table
            .weights
            .as_ref()
            .map(|w| rows.iter().map(|&i| w[i]).collect());
        too_few(rows.len(), what)?;
        opts.k_range
            .iter()
            .try_for_each(|&k| fit.params(k, seed).check(rows.len(), d).map(drop))
    };
    // k is scored on the rows the fit learns its centroids from.
    if let Some(rows) = fit.fit_rows(&table) {
        keep(
            &mut table,
            &rows,
            "rows the fit learns from (outliers left out)",
        )?;
    }
    // A large table's sweep fits and scores each k on a seeded sample of its rows.
    let learn_n = table.x.n();
    if let Some(rows) = select::silhouette_rows(learn_n, opts.rows, seed ^ SWEEP_SAMPLE_SALT) {
        keep(&mut table, &rows, "rows the sweep samples (--sweep-rows)")?;
    }
    let n = table.x.n();
    let fit_rows_note = match n < learn_n {
        false => format!("all {n} rows the fit learns from"),
        true => format!(
            "a seeded uniform sample of {n} of the {learn_n} rows the fit learns from (--sweep-rows, drawn from seed {seed}); the chosen k is then fitted on all of them"
        ),
    };
    let sample = select::silhouette_rows(n, opts.silhouette_sample, seed);
    let sample_n = sample.as_ref().map_or(n, Vec::len);
    let x = &table.x;
    let w = table.weights.as_deref();
    let steps = opts.k_range.len() as u64;
    let (points, backend) = with_backend(&fit.backend, x, w, obs, |backend| {
        let mut points = Vec::with_capacity(opts.k_range.len());
        let mut name = String::new();
        for (step, &k) in opts.k_range.iter().enumerate() {
            obs.progress(&format!("sweep k={k}"), step as u64, steps);
            let params = fit.params(k, seed).check(n, d)?;
            let t = Instant::now();
            let f = kmeans::fit(x, w, &params, backend, &mut |_: &Event| {})?;
            let fit_s = t.elapsed().as_secs_f64();
            name.clone_from(&f.backend);
            let t = Instant::now();
            let mut sizes = vec![0u64; k];
            for &l in &f.labels {
                sizes[l as usize] += 1;
            }
            points.push(SweepPoint {
                k,
                inertia: f.inertia,
                silhouette: select::silhouette(x, &f.labels, sample.as_deref()),
                davies_bouldin: select::davies_bouldin(x, &f.labels),
                calinski_harabasz: select::calinski_harabasz(x, &f.labels),
                iterations: f.iterations,
                sizes,
                fit_s,
                score_s: t.elapsed().as_secs_f64(),
            });
        }
        Ok((points, name))
    })?;
    obs.finish();
    let recommended = select::recommend(&points).expect("at least one k");
    let silhouette_note = match &sample {
        None => format!("exact, on all {n} rows"),
        Some(_) => format!("on a seeded uniform sample of {sample_n} of {n} rows (seed {seed})"),
    };
    let report = SweepReport {
        format: SweepReport::FORMAT.into(),
        version: SweepReport::VERSION,
        input: input.to_path_buf(),
        rows: learn_n,
        features: table.features.clone(),
        scale: scale_name(fit.scale).into(),
        backend,
        n_init: fit.restarts(),
        seed,
        fit_rows: n,
        fit_rows_note,
        silhouette_rows: sample_n,
        silhouette_note,
        elbow_method: "kneedle: the k farthest below the chord of the inertia curve, both axes scaled to [0, 1]".into(),
        points,
        recommended,
        total_s: t_all.elapsed().as_secs_f64(),
    };
    let mut staged = Staged::new(out)?;
    write_json(&mut staged, &out.join("sweep.json"), &report)?;
    staged.commit()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_sample_holds_a_row_a_centroid() {
        let o = SweepOptions {
            rows: 9,
            ..Default::default()
        };
        let e = o.check().unwrap_err().to_string();
        assert!(
            e.contains("--sweep-rows") && e.contains("largest k of --k-range, 10"),
            "{e}"
        );
        assert!(SweepOptions { rows: 10, ..o }.check().is_ok());
    }
}
