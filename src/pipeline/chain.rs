//! The whole pipeline into a run folder: (generate →) features → clean → sweep
//! (when k is `auto`) → kmeans → profile → report, each stage reused when its
//! inputs and options are unchanged (see [`super::Run`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::clean::CleanOptions;
use super::features::FeaturesOptions;
use super::fit::{FitOptions, KmeansOptions, ReadOptions, DEFAULT_SURROGATE_DEPTH};
use super::flags::{self, Flags};
use super::generate::MallParams;
use super::lifetime::{LifetimeInputs, LifetimeOptions};
use super::profile::{ProfileInputs, ProfileOptions};
use super::run::{Run, RunManifest};
use super::sweep::{SweepOptions, SweepReport};
use super::{Observer, RunLayout};
use crate::artefact;
use crate::error::{Error, Result};

/// The number of segments: given, or the sweep's recommendation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KChoice {
    /// Sweep the k range and take the recommended k.
    Auto,
    /// This many segments.
    Fixed(usize),
}

impl std::fmt::Display for KChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KChoice::Auto => f.write_str("auto"),
            KChoice::Fixed(k) => write!(f, "{k}"),
        }
    }
}

impl std::str::FromStr for KChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<KChoice, String> {
        match s.trim() {
            "auto" => Ok(KChoice::Auto),
            k => k
                .parse::<usize>()
                .ok()
                .filter(|k| *k >= 1)
                .map(KChoice::Fixed)
                .ok_or_else(|| format!("`{k}` is not a k (rule: a number >= 1 or `auto`)")),
        }
    }
}

/// Where the raw sources come from.
#[derive(Clone, Debug, PartialEq)]
pub enum RunSource {
    /// A folder of raw tables, or one transactions file.
    Sources(PathBuf),
    /// A mall generated into the run's `sources/` (`demo`).
    Generate(MallParams),
}

/// Every option of every stage the pipeline chains.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineOptions {
    /// Features.
    pub features: FeaturesOptions,
    /// Cleaning.
    pub clean: CleanOptions,
    /// How sweep and kmeans read the clean table.
    pub read: ReadOptions,
    /// The number of segments.
    pub k: KChoice,
    /// The sweep (when k is auto).
    pub sweep: SweepOptions,
    /// K-means, sweep and fit alike.
    pub fit: FitOptions,
    /// Depth of the surrogate tree; 0: none.
    pub surrogate_depth: usize,
    /// Bootstrap resamples of the stability check; 0: none.
    pub stability_resamples: usize,
    /// Rows the stability check resamples.
    pub stability_sample: usize,
    /// Profile.
    pub profile: ProfileOptions,
    /// BG/NBD and Gamma-Gamma horizons (their budget is the run's, that of
    /// `features`).
    pub lifetime: LifetimeOptions,
    /// Seed of every random choice.
    pub seed: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            features: FeaturesOptions::default(),
            clean: CleanOptions::default(),
            read: ReadOptions::default(),
            k: KChoice::Auto,
            sweep: SweepOptions::default(),
            fit: FitOptions::default(),
            surrogate_depth: DEFAULT_SURROGATE_DEPTH,
            stability_resamples: crate::kmeans::stability::DEFAULT_RESAMPLES,
            stability_sample: crate::kmeans::stability::DEFAULT_SAMPLE,
            profile: ProfileOptions::default(),
            lifetime: LifetimeOptions::default(),
            seed: 0,
        }
    }
}

impl Flags for PipelineOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--k", self.k);
        self.sweep.flags(argv);
        self.features.flags(argv);
        self.clean.flags(argv);
        self.read.flags(argv);
        self.fit.flags(argv);
        flags::value(argv, "--surrogate-depth", self.surrogate_depth);
        flags::value(argv, "--stability-resamples", self.stability_resamples);
        flags::value(argv, "--stability-sample", self.stability_sample);
        self.profile.rule_flags(argv);
        self.lifetime.horizon_flags(argv);
        flags::value(argv, "--seed", self.seed);
    }
}

/// What a run did.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// `report.html`.
    pub report: PathBuf,
    /// `run.json`.
    pub manifest: PathBuf,
    /// Stages run.
    pub ran: usize,
    /// Stages reused.
    pub reused: usize,
    /// The k used.
    pub k: usize,
    /// The K-means backend.
    pub backend: String,
}

/// A stage's command line: `--input IN`, the flags of `groups`, `--seed` when the
/// stage takes one, `--out OUT`.
fn stage_argv(
    input: Option<&Path>,
    groups: &[&dyn Flags],
    seed: Option<u64>,
    out: &Path,
) -> Vec<String> {
    let mut a = Vec::new();
    flags::path(&mut a, "--input", input);
    for g in groups {
        g.flags(&mut a);
    }
    flags::opt(&mut a, "--seed", seed);
    flags::value(&mut a, "--out", out.display());
    a
}

/// `segmenta generate …` for the mall.
pub fn generate_argv(mall: &MallParams, out: &Path) -> Vec<String> {
    stage_argv(None, &[mall], None, out)
}

/// `segmenta features …`.
pub fn features_argv(input: &Path, opts: &FeaturesOptions, out: &Path) -> Vec<String> {
    stage_argv(Some(input), &[opts], None, out)
}

/// The id column, as the flags of `clean` spell it.
struct IdCol<'a>(&'a str);

impl Flags for IdCol<'_> {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--id-col", self.0);
    }
}

/// `segmenta clean …`.
pub fn clean_argv(
    input: &Path,
    opts: &CleanOptions,
    id_col: &str,
    seed: u64,
    out: &Path,
) -> Vec<String> {
    stage_argv(Some(input), &[&IdCol(id_col), opts], Some(seed), out)
}

/// `segmenta sweep …`.
pub fn sweep_argv(
    input: &Path,
    read: &ReadOptions,
    opts: &SweepOptions,
    fit: &FitOptions,
    seed: u64,
    out: &Path,
) -> Vec<String> {
    stage_argv(Some(input), &[read, opts, fit], Some(seed), out)
}

/// `segmenta kmeans …`.
pub fn kmeans_argv(
    input: &Path,
    read: &ReadOptions,
    opts: &KmeansOptions,
    seed: u64,
    out: &Path,
) -> Vec<String> {
    stage_argv(Some(input), &[read, opts], Some(seed), out)
}

/// `segmenta profile …`.
pub fn profile_argv(inputs: &ProfileInputs, opts: &ProfileOptions, out: &Path) -> Vec<String> {
    stage_argv(None, &[inputs, opts], None, out)
}

/// Runs the pipeline from `source` into the run folder `out`. `command` is the
/// command line recorded in the manifest; with `force` no stage is reused.
pub fn run_pipeline(
    source: &RunSource,
    out: &Path,
    opts: &PipelineOptions,
    command: String,
    force: bool,
    obs: &dyn Observer,
) -> Result<RunOutcome> {
    let lay = RunLayout::new(out);
    let input = match source {
        RunSource::Sources(p) => p.clone(),
        RunSource::Generate(_) => lay.sources(),
    };
    // Every option is checked before the first stage does any work.
    if let RunSource::Sources(p) = source {
        if !p.exists() {
            return Err(Error::param(
                "--input",
                format!(
                    "{}: no such file or folder (rule: --input is a sources folder or a transactions file)",
                    p.display()
                ),
            ));
        }
        opts.features.spec(p)?;
    }
    if let RunSource::Generate(m) = source {
        m.spec()?;
        opts.features.check()?;
    }
    opts.clean
        .config(Some(&opts.read.id_col), Some(opts.seed))?;
    opts.sweep.check()?;
    opts.profile.rules()?;
    opts.lifetime.check()?;

    let mut params = Vec::new();
    opts.flags(&mut params);
    let mut manifest = RunManifest::new(command, input.clone(), params);
    if let RunSource::Generate(m) = source {
        manifest.mall = Some(m.clone());
    }
    let mut run = Run::open(out, manifest, force)?;

    if let RunSource::Generate(mall) = source {
        let dir = lay.sources();
        run.stage(
            "generate",
            generate_argv(mall, &dir),
            &[],
            &dir,
            obs,
            || super::generate::generate(mall, &dir, obs).map(drop),
        )?;
    }

    stage_features(&mut run, &lay, &input, &opts.features, obs)?;
    stage_clean(&mut run, &lay, opts, None, obs)?;
    let clean = lay.clean_parquet();

    let k = match opts.k {
        KChoice::Auto => {
            let sdir = lay.stage("sweep");
            run.stage(
                "sweep",
                sweep_argv(&clean, &opts.read, &opts.sweep, &opts.fit, opts.seed, &sdir),
                std::slice::from_ref(&clean),
                &sdir,
                obs,
                || {
                    super::sweep::sweep(
                        &clean,
                        &opts.read,
                        &opts.sweep,
                        &opts.fit,
                        opts.seed,
                        &sdir,
                        obs,
                    )
                    .map(drop)
                },
            )?;
            artefact::read::<SweepReport>(&lay.sweep_json())?
                .recommended
                .k
        }
        KChoice::Fixed(k) => {
            // A k given by hand makes an old sweep stale.
            let sweep = lay.stage("sweep");
            if sweep.exists() {
                std::fs::remove_dir_all(&sweep).map_err(|e| Error::io(&sweep, e))?;
            }
            k
        }
    };

    let kdir = lay.stage("kmeans");
    let kopts = KmeansOptions {
        k,
        fit: opts.fit.clone(),
        surrogate_depth: opts.surrogate_depth,
        stability_resamples: opts.stability_resamples,
        stability_sample: opts.stability_sample,
        previous: None,
    };
    run.stage(
        "kmeans",
        kmeans_argv(&clean, &opts.read, &kopts, opts.seed, &kdir),
        std::slice::from_ref(&clean),
        &kdir,
        obs,
        || super::fit::kmeans(&clean, &opts.read, &kopts, opts.seed, &kdir, obs).map(drop),
    )?;

    stage_lifetime(&mut run, &lay, opts, obs)?;
    stage_profile(&mut run, &lay, opts, ProfileExtras::default(), obs)?;

    let (report, backend) = finish(&mut run, &lay, k)?;
    Ok(RunOutcome {
        report,
        manifest: lay.manifest(),
        ran: run.ran(),
        reused: run.reused(),
        k,
        backend,
    })
}

/// The features stage of a run. Every file a stage reads is hashed: the sources,
/// and the SQL, cleaning config and persona rules given by path (their content
/// may change, not their path).
pub(super) fn stage_features(
    run: &mut Run,
    lay: &RunLayout,
    input: &Path,
    opts: &FeaturesOptions,
    obs: &dyn Observer,
) -> Result<()> {
    let fdir = lay.stage("features");
    let mut feature_inputs = vec![input.to_path_buf()];
    feature_inputs.extend(opts.sources.iter().map(|(_, p)| p.clone()));
    feature_inputs.extend(opts.sql.clone());
    feature_inputs.extend(opts.category_groups.clone());
    run.stage(
        "features",
        features_argv(input, opts, &fdir),
        &feature_inputs,
        &fdir,
        obs,
        || super::features::features(input, opts, &fdir, obs).map(drop),
    )?;
    let report: crate::features::FeaturesReport =
        crate::artefact::read(&fdir.join("features.json"))?;
    run.manifest.partitions = Some(report.partitions);
    run.save()
}

/// The clean stage of a run: outliers judged on the scale and the columns K-means
/// will see (`--columns`, unless the clean stage names its own); with `reuse`,
/// the previous run's fitted values (`update`).
pub(super) fn stage_clean(
    run: &mut Run,
    lay: &RunLayout,
    opts: &PipelineOptions,
    reuse: Option<PathBuf>,
    obs: &dyn Observer,
) -> Result<()> {
    let cdir = lay.stage("clean");
    let mut clean_opts = CleanOptions {
        transform: Some(opts.fit.transform.to_string()),
        reuse,
        ..opts.clean.clone()
    };
    if clean_opts.outlier_columns.is_empty() {
        clean_opts.outlier_columns.clone_from(&opts.read.columns);
    }
    let feat = lay.features_parquet();
    let id = opts.read.id_col.as_str();
    let mut clean_inputs = vec![feat.clone()];
    clean_inputs.extend(opts.clean.config.clone());
    clean_inputs.extend(clean_opts.reuse.clone());
    run.stage(
        "clean",
        clean_argv(&feat, &clean_opts, id, opts.seed, &cdir),
        &clean_inputs,
        &cdir,
        obs,
        || {
            // The run's one budget: the stage holds the table's cells (8 bytes
            // each) and a few bytes a row; checked before it reads anything.
            let (rows, features) = crate::clean::table_size(&feat, id)?;
            super::memory::require(
                "clean",
                &format!("{rows} rows x {features} features"),
                crate::clean::working_bytes(rows, features),
                opts.features.memory_mib,
            )?;
            super::clean::clean(&feat, &clean_opts, Some(id), Some(opts.seed), &cdir).map(drop)
        },
    )?;
    Ok(())
}

/// `segmenta lifetime …`.
pub fn lifetime_argv(inputs: &LifetimeInputs, opts: &LifetimeOptions, out: &Path) -> Vec<String> {
    stage_argv(None, &[inputs, opts], None, out)
}

/// The lifetime stage of a run: BG/NBD and Gamma-Gamma on the kept transactions,
/// as of the features' as-of.
pub(super) fn stage_lifetime(
    run: &mut Run,
    lay: &RunLayout,
    opts: &PipelineOptions,
    obs: &dyn Observer,
) -> Result<()> {
    let ldir = lay.stage("lifetime");
    let as_of = artefact::read::<crate::features::FeaturesReport>(&lay.features_json())?.as_of;
    let inputs = LifetimeInputs {
        assignments: lay.assignments(),
        tables: lay.tables(),
        as_of,
        id_col: opts.read.id_col.clone(),
    };
    // The run's one budget.
    let lopts = LifetimeOptions {
        memory_mib: opts.features.memory_mib,
        ..opts.lifetime.clone()
    };
    run.stage(
        "lifetime",
        lifetime_argv(&inputs, &lopts, &ldir),
        &[lay.assignments(), lay.tables().join("transactions")],
        &ldir,
        obs,
        || super::lifetime::lifetime(&inputs, &lopts, &ldir, obs).map(drop),
    )?;
    Ok(())
}

/// What an `update` adds to the profile's inputs.
#[derive(Default)]
pub(super) struct ProfileExtras {
    pub(super) migration: Option<PathBuf>,
    pub(super) previous_profile: Option<PathBuf>,
}

/// The profile stage of a run.
pub(super) fn stage_profile(
    run: &mut Run,
    lay: &RunLayout,
    opts: &PipelineOptions,
    extras: ProfileExtras,
    obs: &dyn Observer,
) -> Result<()> {
    let pdir = lay.stage("profile");
    let clean = lay.clean_parquet();
    let lifetime = lay.lifetime_json();
    let pin = ProfileInputs {
        features: clean.clone(),
        assignments: lay.assignments(),
        model: Some(lay.model()),
        tables: Some(lay.tables()),
        id_col: opts.read.id_col.clone(),
        lifetime: lifetime.exists().then_some(lifetime),
        migration: extras.migration,
        previous_profile: extras.previous_profile,
    };
    let mut hashed = vec![clean, lay.assignments(), lay.model(), lay.tables()];
    hashed.extend(opts.profile.personas.clone());
    hashed.extend(pin.lifetime.clone());
    hashed.extend(pin.migration.clone());
    hashed.extend(pin.previous_profile.clone());
    // The run's one budget.
    let popts = ProfileOptions {
        memory_mib: opts.features.memory_mib,
        ..opts.profile.clone()
    };
    run.stage(
        "profile",
        profile_argv(&pin, &popts, &pdir),
        &hashed,
        &pdir,
        obs,
        || super::profile::profile(&pin, &popts, &pdir, obs).map(drop),
    )?;
    Ok(())
}

/// Records the backend and k in the manifest and renders the report (cheap, so it
/// is always rendered). Returns the report and the backend.
pub(super) fn finish(run: &mut Run, lay: &RunLayout, k: usize) -> Result<(PathBuf, String)> {
    let t = Instant::now();
    let model = crate::model::Model::load(&lay.model())?;
    let backend = model.kmeans().map_or(String::new(), |k| k.backend.clone());
    run.manifest.backend = Some(backend.clone());
    run.manifest.k = Some(k);
    run.save()?;
    let report = crate::report::write(&lay.root, crate::report::Format::Html, &lay.report())?;
    run.record("report", &report, t.elapsed().as_secs_f64())?;
    Ok((report, backend))
}
