//! The fit stages: K-means (CPU or GPU, with the GPU→CPU fallback) and DBSCAN on a
//! feature table, each writing `assignments.parquet` and `model.json` together;
//! and prediction with a saved model.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float32Array, Int32Array};

use super::flags::{self, Flags};
use super::warm::{Warm, WarmStart};
use super::Observer;
use crate::error::Result;
use crate::gpu::GpuOptions;
use crate::io::{read_features, write_json, write_table_meta, FeatureTable, ReadSpec, Staged};
use crate::kmeans::{
    self, open_gpu, Algorithm, BackendChoice, CpuBackend, Event, GpuLloyd, Init, KMeansParams,
    LloydBackend,
};
use crate::matrix::Matrix;
use crate::model::{Fitted, KMeansModel, Model};
use crate::profile::tree::{Surrogate, TreeParams};
use crate::scale::{ScaleMethod, Scaler};
use crate::transform::TransformSpec;

/// Default K-means restarts with k-means++ (random initialisation takes 10).
pub const DEFAULT_N_INIT: usize = 4;
/// Default depth of the surrogate tree.
pub const DEFAULT_SURROGATE_DEPTH: usize = 6;
/// Rows the surrogate tree learns from (a seeded sample above this).
pub const SURROGATE_ROWS: usize = 200_000;

/// How a feature table is read into a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct ReadOptions {
    /// Id column.
    pub id_col: String,
    /// Feature columns (empty: every numeric column but the id).
    pub columns: Vec<String>,
    /// Columns to one-hot encode.
    pub categorical: Vec<String>,
    /// Column of non-negative sample weights.
    pub weight_col: Option<String>,
    /// A repeated id is an error instead of a warning.
    pub strict: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            id_col: "customer_id".into(),
            columns: Vec::new(),
            categorical: Vec::new(),
            weight_col: None,
            strict: false,
        }
    }
}

impl Flags for ReadOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--id-col", &self.id_col);
        flags::list(argv, "--columns", &self.columns);
        flags::list(argv, "--categorical", &self.categorical);
        flags::opt(argv, "--weight-col", self.weight_col.as_ref());
        flags::switch(argv, "--strict", self.strict);
    }
}

impl ReadOptions {
    /// The reader's spec.
    pub fn spec(&self) -> ReadSpec {
        ReadSpec {
            id_col: self.id_col.clone(),
            columns: (!self.columns.is_empty()).then(|| self.columns.clone()),
            categorical: self.categorical.clone(),
            weight_col: self.weight_col.clone(),
            strict_ids: self.strict,
            levels: None,
        }
    }

    /// Reads `path`, warning about repeated ids.
    pub fn read(&self, path: &Path, obs: &dyn Observer) -> Result<FeatureTable> {
        let t = read_features(path, &self.spec())?;
        warn_duplicates(&t, obs);
        if !t.text_columns.is_empty() {
            obs.warn(&format!(
                "{}: {} column(s) left out of the features as not numeric: {} (name them with --categorical, or --columns to choose)",
                t.path.display(),
                t.text_columns.len(),
                t.text_columns.join(", ")
            ));
        }
        Ok(t)
    }
}

/// Warns about repeated ids (an error under `strict` is raised by the reader).
pub fn warn_duplicates(t: &FeatureTable, obs: &dyn Observer) {
    if let Some(row) = t.first_duplicate {
        obs.warn(&format!(
            "{}: {} row(s) repeat an earlier id in `{}`, first at data row {} (id {}); use --strict to reject",
            t.path.display(),
            t.duplicate_ids,
            t.id_col,
            row + 1,
            t.ids.display(row)
        ));
    }
}

/// Which backend runs K-means.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendOptions {
    /// auto, cpu or gpu.
    pub backend: BackendChoice,
    /// The CPU iteration: auto, lloyd or hamerly.
    pub algorithm: Algorithm,
    /// The GPU adapter whose name contains this text.
    pub adapter: Option<String>,
}

impl Default for BackendOptions {
    fn default() -> Self {
        BackendOptions {
            backend: BackendChoice::Auto,
            algorithm: Algorithm::Auto,
            adapter: None,
        }
    }
}

/// The flag spelling of a CPU algorithm.
pub fn algorithm_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::Auto => "auto",
        Algorithm::Lloyd => "lloyd",
        Algorithm::Hamerly => "hamerly",
        Algorithm::Yinyang => "yinyang",
    }
}

/// The flag spelling of a backend.
pub fn backend_name(b: BackendChoice) -> &'static str {
    match b {
        BackendChoice::Auto => "auto",
        BackendChoice::Gpu => "gpu",
        BackendChoice::Cpu => "cpu",
    }
}

impl Flags for BackendOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--backend", backend_name(self.backend));
        flags::value(argv, "--algorithm", algorithm_name(self.algorithm));
        flags::opt(argv, "--adapter", self.adapter.as_ref());
    }
}

/// Opens the backend `opts` asks for over `x` and hands it to `work`: the GPU when
/// one is open (under auto, the CPU when the data do not fit the GPU kernel), else
/// the CPU.
pub fn with_backend<R>(
    opts: &BackendOptions,
    x: &Matrix,
    w: Option<&[f32]>,
    obs: &dyn Observer,
    work: impl FnOnce(&mut dyn LloydBackend) -> Result<R>,
) -> Result<R> {
    let gpu = GpuOptions {
        adapter: opts.adapter.clone(),
        ..GpuOptions::default()
    };
    let (ctx, note) = open_gpu(opts.backend, &gpu)?;
    if let Some(n) = note {
        match opts.backend {
            BackendChoice::Auto => obs.info(&n),
            _ => obs.warn(&n),
        }
    }
    if let Some(ctx) = &ctx {
        match GpuLloyd::new(ctx, x, w) {
            Ok(mut g) => {
                if g.streaming() {
                    obs.info(&format!(
                        "the data does not fit in device memory: streaming {} rows from host memory in {} chunks every iteration",
                        x.n(),
                        g.chunks()
                    ));
                } else {
                    obs.info(&format!(
                        "uploaded {} rows in {} chunk(s) in {:.3} s",
                        x.n(),
                        g.chunks(),
                        g.upload_seconds()
                    ));
                }
                obs.step(&format!("backend: {}", g.name()));
                return work(&mut g);
            }
            Err(e) if opts.backend == BackendChoice::Auto => {
                obs.warn(&format!("{e}; using the CPU"));
            }
            Err(e) => return Err(e),
        }
    }
    let mut cpu = CpuBackend::new(x, w, opts.algorithm);
    obs.step(&format!("backend: {}", cpu.name()));
    work(&mut cpu)
}

/// Which rows K-means learns its centroids from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FitOn {
    /// Rows the clean stage did not flag as outliers (every row when the table
    /// has no `outlier` column); every row is then assigned.
    #[default]
    Inliers,
    /// Every row.
    All,
}

impl FitOn {
    /// The flag spelling.
    pub fn name(self) -> &'static str {
        match self {
            FitOn::Inliers => "inliers",
            FitOn::All => "all",
        }
    }
}

/// K-means settings shared by the sweep and the fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    /// Per-column transforms before scaling, fitted on the input and stored in
    /// the model.
    pub transform: TransformSpec,
    /// Feature scaling, fitted on the input and stored in the model.
    pub scale: ScaleMethod,
    /// Which rows the centroids are learnt from.
    pub fit_on: FitOn,
    /// k-means++ (`false`: k distinct random rows).
    pub init_random: bool,
    /// Restarts; the lowest inertia wins. `None`: [`DEFAULT_N_INIT`] for k-means++,
    /// 10 for random.
    pub n_init: Option<usize>,
    /// Iteration cap per restart.
    pub max_iter: usize,
    /// Stop when the squared centroid shift is below tol × mean feature variance.
    pub tol: f64,
    /// The backend.
    pub backend: BackendOptions,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            transform: TransformSpec::default(),
            scale: ScaleMethod::Standard,
            fit_on: FitOn::Inliers,
            init_random: false,
            n_init: None,
            max_iter: kmeans::params::DEFAULT_MAX_ITER,
            tol: kmeans::params::DEFAULT_TOL,
            backend: BackendOptions::default(),
        }
    }
}

/// The flag spelling of a scaling method.
pub fn scale_name(s: ScaleMethod) -> &'static str {
    match s {
        ScaleMethod::Standard => "standard",
        ScaleMethod::MinMax => "minmax",
        ScaleMethod::Robust => "robust",
        ScaleMethod::None => "none",
    }
}

impl Flags for FitOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--transform", &self.transform);
        flags::value(argv, "--scale", scale_name(self.scale));
        flags::value(argv, "--fit-on", self.fit_on.name());
        flags::value(
            argv,
            "--init",
            if self.init_random {
                "random"
            } else {
                "k-means++"
            },
        );
        flags::opt(argv, "--n-init", self.n_init);
        flags::value(argv, "--max-iter", self.max_iter);
        flags::value(argv, "--tol", self.tol);
        self.backend.flags(argv);
    }
}

impl FitOptions {
    /// Fits the transforms and the scaler on every row of `table` (so that the
    /// transform is the one the clean stage's outlier rule used) and applies both
    /// to `table.x`.
    pub fn fit_scaler(&self, table: &mut FeatureTable) -> Result<Scaler> {
        let names = &table.features[..table.numeric];
        let cols = crate::scale::columns(&table.x, table.numeric);
        let transforms = self.transform.fit(names, &cols)?;
        Ok(Scaler::fit_transform(
            self.scale,
            transforms,
            &mut table.x,
            table.numeric,
        ))
    }

    /// The rows centroids are learnt from: `None` for every row.
    pub fn fit_rows(&self, table: &FeatureTable) -> Option<Vec<usize>> {
        match (self.fit_on, &table.outlier) {
            (FitOn::Inliers, Some(flags)) if flags.iter().any(|f| *f) => {
                let rows: Vec<usize> = (0..flags.len()).filter(|&i| !flags[i]).collect();
                (!rows.is_empty()).then_some(rows)
            }
            _ => None,
        }
    }

    /// Restarts after the default is applied.
    pub fn restarts(&self) -> usize {
        self.n_init.unwrap_or(match self.init_random {
            true => kmeans::params::AUTO_N_INIT_RANDOM,
            false => DEFAULT_N_INIT,
        })
    }

    /// The K-means parameters for `k` clusters.
    pub fn params(&self, k: usize, seed: u64) -> KMeansParams {
        KMeansParams::new(k)
            .n_init(self.restarts())
            .max_iter(self.max_iter)
            .tol(self.tol)
            .seed(seed)
            .init(match self.init_random {
                true => Init::Random,
                false => Init::KMeansPlusPlus,
            })
    }
}

/// The K-means stage's own options.
#[derive(Clone, Debug, PartialEq)]
pub struct KmeansOptions {
    /// Number of segments.
    pub k: usize,
    /// Shared fit settings.
    pub fit: FitOptions,
    /// Depth of the surrogate tree stored in the model; 0: none.
    pub surrogate_depth: usize,
    /// Bootstrap resamples of the stability check; 0: none.
    pub stability_resamples: usize,
    /// Rows the stability check resamples (a seeded sample above this).
    pub stability_sample: usize,
    /// Start from a previous model and keep its segment ids (`update`).
    pub previous: Option<WarmStart>,
}

impl Flags for KmeansOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--k", self.k);
        self.fit.flags(argv);
        flags::value(argv, "--surrogate-depth", self.surrogate_depth);
        flags::value(argv, "--stability-resamples", self.stability_resamples);
        flags::value(argv, "--stability-sample", self.stability_sample);
        if let Some(w) = &self.previous {
            w.flags(argv);
        }
    }
}

/// What the K-means stage wrote.
#[derive(Clone, Debug)]
pub struct KmeansOutput {
    /// The model written.
    pub model: Model,
    /// `assignments.parquet`.
    pub assignments: PathBuf,
    /// `model.json`.
    pub model_path: PathBuf,
    /// Rows whose id repeats.
    pub duplicate_ids: usize,
    /// Every restart.
    pub runs: Vec<kmeans::RunSummary>,
    /// Seconds to write the assignments and the model.
    pub write_s: f64,
}

impl KmeansOutput {
    /// The K-means part of the model.
    pub fn kmeans(&self) -> &KMeansModel {
        self.model
            .kmeans()
            .expect("the K-means stage writes a K-means model")
    }
}

/// Rows the surrogate tree learns from: all up to [`SURROGATE_ROWS`], else a
/// seeded sample.
fn surrogate_rows(n: usize, seed: u64) -> Vec<usize> {
    crate::select::silhouette_rows(n, SURROGATE_ROWS, seed).unwrap_or_else(|| (0..n).collect())
}

/// Fits K-means on the feature table `input` and writes `out/assignments.parquet`
/// (id, segment, distance) and `out/model.json`.
pub fn kmeans(
    input: &Path,
    read: &ReadOptions,
    opts: &KmeansOptions,
    seed: u64,
    out: &Path,
    obs: &dyn Observer,
) -> Result<KmeansOutput> {
    let warm = opts.previous.as_ref().map(Warm::load).transpose()?;
    let t = Instant::now();
    let mut table = match &warm {
        Some(w) => {
            let t = read_features(input, &w.read_spec(read)?)?;
            warn_duplicates(&t, obs);
            t
        }
        None => read.read(input, obs)?,
    };
    let read_s = t.elapsed().as_secs_f64();
    let (n, d) = (table.x.n(), table.x.d());
    // Checked on every row now (a clear error before any work), and again on the
    // rows the centroids are learnt from below.
    opts.fit.params(opts.k, seed).check(n, d)?;

    // The surrogate tree learns from original units: keep a seeded sample of rows
    // before scaling (none when no tree is wanted).
    let want_tree = opts.surrogate_depth > 0 && opts.k > 1;
    let tree_rows = match want_tree {
        true => surrogate_rows(n, seed),
        false => Vec::new(),
    };
    let tree_cols: Vec<Vec<f32>> = (0..d)
        .map(|j| tree_rows.iter().map(|&i| table.x.row(i)[j]).collect())
        .collect();

    let t = Instant::now();
    let (scaler, drift, drift_warnings) = match &warm {
        Some(w) => w.scaler(&mut table, &opts.fit, obs)?,
        None => (opts.fit.fit_scaler(&mut table)?, Vec::new(), Vec::new()),
    };
    let scale_s = t.elapsed().as_secs_f64();

    // Centroids from the inliers (by default), then every row assigned.
    let fit_rows = opts.fit.fit_rows(&table);
    let subset = fit_rows.as_ref().map(|rows| {
        (
            table.x.select(rows),
            table
                .weights
                .as_ref()
                .map(|w| rows.iter().map(|&i| w[i]).collect::<Vec<f32>>()),
        )
    });
    let (x_fit, w_fit) = match &subset {
        Some((x, w)) => (x, w.as_deref()),
        None => (&table.x, table.weights.as_deref()),
    };
    let params = match &warm {
        Some(w) => w.params(x_fit, &scaler, opts.k, &opts.fit, seed)?,
        None => opts.fit.params(opts.k, seed),
    };
    let params = params.check(x_fit.n(), d)?;
    let max_iter = params.max_iter as u64;
    let n_init = params.n_init;
    let mut fit = with_backend(&opts.fit.backend, x_fit, w_fit, obs, |backend| {
        kmeans::fit(x_fit, w_fit, &params, backend, &mut |e| match e {
            Event::Run { run, of } => {
                obs.progress(&format!("k-means restart {}/{of}", run + 1), 0, max_iter)
            }
            Event::Iteration {
                run, iter, inertia, ..
            } => obs.progress(
                &format!("k-means restart {}/{n_init} inertia {inertia:.6e}", run + 1),
                *iter as u64,
                max_iter,
            ),
        })
    })?;
    obs.finish();
    if subset.is_some() {
        let (labels, sq) = kmeans::assign(&table.x, &fit.centroids)?;
        fit.labels = labels;
        fit.sq_distances = sq;
    }
    // Stability of the procedure that ran: resamples of the rows the centroids
    // were learnt from.
    let t_stability = Instant::now();
    let stability = match opts.stability_resamples {
        0 => Vec::new(),
        b => {
            obs.step(&format!("stability: {b} bootstrap resamples"));
            let fit_labels: Vec<u32> = match &fit_rows {
                Some(rows) => rows.iter().map(|&i| fit.labels[i]).collect(),
                None => fit.labels.clone(),
            };
            crate::kmeans::stability::clusterboot(
                x_fit,
                &fit_labels,
                &params,
                b,
                opts.stability_sample,
                seed,
            )?
        }
    };

    let stability_s = t_stability.elapsed().as_secs_f64();

    // Under a warm start, the segments take their stable ids: matched ones the
    // previous id, new ones the next free ids, vanished ones are retired.
    let relabelled = warm
        .as_ref()
        .map(|w| w.relabel(&fit.labels, &fit.centroids, &scaler, drift));
    let (k, retired, stability) = match &relabelled {
        Some(r) => {
            fit.labels.clone_from(&r.labels);
            fit.centroids.clone_from(&r.centroids);
            let mut st = vec![None; r.k];
            for (i, id) in r.id_of.iter().enumerate() {
                if let (Some(id), Some(s)) = (id, stability.get(i)) {
                    st[*id] = *s;
                }
            }
            let st = if stability.is_empty() { Vec::new() } else { st };
            (r.k, r.retired.clone(), st)
        }
        None => (params.k, Vec::new(), stability),
    };
    let mut sizes = vec![0u64; k];
    for l in &fit.labels {
        sizes[*l as usize] += 1;
    }
    let empty: Vec<usize> = (0..k)
        .filter(|&c| sizes[c] == 0 && !retired.contains(&c))
        .collect();
    let centroids_scaled: Vec<Vec<f32>> = fit.centroids.chunks(d).map(|c| c.to_vec()).collect();
    let original = scaler.inverse(&fit.centroids);
    let centroids: Vec<Vec<f64>> = original.chunks(d).map(|c| c.to_vec()).collect();
    let segments: Int32Array = fit.labels.iter().map(|l| *l as i32).collect();
    let distance: Float32Array = fit.sq_distances.iter().map(|v| v.sqrt()).collect();

    let mut timings = std::collections::BTreeMap::new();
    timings.insert("read_s".to_string(), read_s);
    timings.insert("scale_s".to_string(), scale_s);
    timings.insert("init_s".to_string(), fit.timings.init_s);
    timings.insert("lloyd_s".to_string(), fit.timings.lloyd_s);
    timings.insert("per_iteration_s".to_string(), fit.timings.per_iteration_s);
    timings.insert("stability_s".to_string(), stability_s);
    let t_tree = Instant::now();
    let surrogate = want_tree.then(|| {
        let y: Vec<u32> = tree_rows.iter().map(|&i| fit.labels[i]).collect();
        let params = TreeParams {
            max_depth: opts.surrogate_depth,
            min_leaf: (tree_rows.len() / 500).max(5),
            seed,
            ..TreeParams::default()
        };
        Surrogate::fit(&table.features, &tree_cols, &y, k, params)
    });
    timings.insert("surrogate_s".to_string(), t_tree.elapsed().as_secs_f64());
    let kmeans = KMeansModel {
        k,
        centroids_scaled,
        centroids,
        sizes,
        inertia: fit.inertia,
        iterations: fit.iterations,
        converged: fit.converged,
        init: match (&warm, opts.fit.init_random) {
            (Some(_), _) => "previous",
            (None, true) => "random",
            (None, false) => "k-means++",
        }
        .into(),
        n_init: params.n_init,
        best_run: fit.best_run,
        max_iter: params.max_iter,
        tol: params.tol,
        seed: params.seed,
        backend: fit.backend.clone(),
        timings,
        fit_on: match subset {
            Some(_) => FitOn::Inliers.name(),
            None => FitOn::All.name(),
        }
        .into(),
        fit_rows: x_fit.n() as u64,
        stability,
        retired,
        warm_start: relabelled.map(|r| Box::new(r.info)),
    };
    let mut model = Model::for_table(
        &table,
        scaler,
        read.weight_col.clone(),
        Fitted::Kmeans { kmeans },
    );
    model.surrogate = surrogate;
    model.warnings.extend(drift_warnings);
    if !empty.is_empty() {
        let w = format!(
            "{} of the {k} segments ended empty (segment(s) {}): the data hold fewer distinct groups than k (rule: choose a smaller k, or see `segmenta sweep`)",
            empty.len(),
            empty.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
        );
        obs.warn(&w);
        model.warnings.push(w);
    }
    let t_write = Instant::now();
    let (assignments, model_path) = write_fit(
        out,
        &table,
        segments,
        ("distance", Arc::new(distance)),
        &mut model,
    )?;
    Ok(KmeansOutput {
        model,
        assignments,
        model_path,
        duplicate_ids: table.duplicate_ids,
        runs: fit.runs,
        write_s: t_write.elapsed().as_secs_f64(),
    })
}

/// Stages and commits a fit's two outputs together: `DIR/assignments.parquet`
/// (the id, `segment`, and one more column) and `DIR/model.json`.
pub(super) fn write_fit(
    dir: &Path,
    table: &FeatureTable,
    segments: Int32Array,
    extra: (&str, ArrayRef),
    model: &mut Model,
) -> Result<(PathBuf, PathBuf)> {
    let assignments = dir.join("assignments.parquet");
    let model_path = dir.join("model.json");
    model.input_xxh64 = super::run::hash_file(&table.path)?.xxh64;
    model.fit_id = crate::model::fit_id(&model.input_xxh64, &model.features, segments.values());
    let mut staged = Staged::new(dir)?;
    write_table_meta(
        &mut staged,
        &assignments,
        vec![
            (table.id_col.as_str(), table.ids.to_arrow()),
            ("segment", Arc::new(segments)),
            extra,
        ],
        &[(crate::model::FIT_ID_KEY, model.fit_id.clone())],
    )?;
    write_json(&mut staged, &model_path, model)?;
    staged.commit()?;
    Ok((assignments, model_path))
}
