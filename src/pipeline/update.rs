//! `update`: next month's data re-segmented with stable segment ids.
//!
//! ```text
//! new sources ─► features (as of the new date, last run's window length)
//!             ─► clean (last run's imputation values and fences)
//!             ─► kmeans (warm start: last run's scaler and centroids; matched ids)
//!             ─► lifetime ─► migration (who moved where) ─► profile ─► report
//! ```
//!
//! The run folder has the layout of a `run` (so next month can update it in
//! turn), plus `migration/` and, in `run.json`, `previous`.

use std::path::{Path, PathBuf};

use super::chain::{
    finish, stage_clean, stage_features, stage_lifetime, stage_profile, KChoice, PipelineOptions,
    ProfileExtras, RunOutcome, RunSource,
};
use super::fit::KmeansOptions;
use super::flags::{self, Flags};
use super::run::{Run, RunManifest};
use super::warm::{Warm, WarmStart};
use super::{Observer, RunLayout};
use crate::artefact;
use crate::error::{Error, Result};
use crate::features::FeaturesReport;

/// Everything `update` takes.
#[derive(Clone, Debug, PartialEq)]
pub struct UpdateOptions {
    /// The stages' options, as `run` takes them. `k: Auto` keeps the previous
    /// number of segments.
    pub pipeline: PipelineOptions,
    /// Fit new imputation values and fences instead of last run's.
    pub refit_clean: bool,
    /// Fit a new scaler instead of last run's.
    pub refit_scaler: bool,
    /// The matching threshold (see [`crate::kmeans::matching`]).
    pub max_shift: f64,
    /// The share of the previous run's customers that must reappear in the new
    /// sources ([`DEFAULT_MIN_OVERLAP`]); 0 proceeds whatever the overlap.
    pub min_overlap: f64,
}

/// Below this share of the previous run's customers found again in the new
/// sources, `update` stops: the sources are most likely another mall's, or ids
/// were renumbered, and every customer would be "gone" or "new".
pub const DEFAULT_MIN_OVERLAP: f64 = 0.2;

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            pipeline: PipelineOptions::default(),
            refit_clean: false,
            refit_scaler: false,
            max_shift: crate::kmeans::matching::DEFAULT_MAX_SHIFT,
            min_overlap: DEFAULT_MIN_OVERLAP,
        }
    }
}

impl Flags for UpdateOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        self.pipeline.flags(argv);
        flags::switch(argv, "--refit-clean", self.refit_clean);
        flags::switch(argv, "--refit-scaler", self.refit_scaler);
        flags::value(argv, "--max-shift", self.max_shift);
        flags::value(argv, "--min-overlap", self.min_overlap);
    }
}

/// `segmenta migrate …`.
pub fn migrate_argv(previous: &Path, run: &Path, out: &Path) -> Vec<String> {
    let mut a = Vec::new();
    flags::value(&mut a, "--previous", previous.display());
    flags::value(&mut a, "--run", run.display());
    flags::value(&mut a, "--out", out.display());
    a
}

/// Re-segments the sources of `source` into the run folder `out`, continuing the
/// run folder `previous` (see the module docs). `command` is recorded in the
/// manifest; with `force` no stage is reused.
pub fn update(
    previous: &Path,
    source: &RunSource,
    out: &Path,
    opts: &UpdateOptions,
    command: String,
    force: bool,
    obs: &dyn Observer,
) -> Result<RunOutcome> {
    let RunSource::Sources(input) = source else {
        return Err(Error::param(
            "--input",
            "update reads next month's sources (rule: a folder of raw tables or a transactions file)",
        ));
    };
    let prev = RunLayout::new(previous);
    if std::fs::canonicalize(previous).ok() == std::fs::canonicalize(out).ok() && out.exists() {
        return Err(Error::param(
            "--out",
            "is the previous run folder (rule: write the update into a new folder, so last month's run stays as it was)",
        ));
    }
    for (p, what) in [
        (prev.model(), "its K-means model"),
        (prev.assignments(), "its assignments"),
        (prev.features_json(), "its features summary"),
    ] {
        if !p.exists() {
            return Err(Error::param(
                "--previous",
                format!(
                    "{} lacks {what}, {} (rule: --previous is a run folder written by `segmenta run`, `demo` or `update`)",
                    previous.display(),
                    p.display()
                ),
            ));
        }
    }
    let clean_json = prev.clean_json();
    if !opts.refit_clean && !clean_json.exists() {
        return Err(Error::param(
            "--previous",
            format!(
                "{} lacks {} to reapply (rule: a run folder with its clean stage, or --refit-clean)",
                previous.display(),
                clean_json.display()
            ),
        ));
    }
    if !input.exists() {
        return Err(Error::NotFound {
            path: input.clone(),
        });
    }
    let warm_start = WarmStart {
        model: prev.model(),
        refit_scaler: opts.refit_scaler,
        max_shift: opts.max_shift,
    };
    if !(0.0..=1.0).contains(&opts.min_overlap) {
        return Err(Error::param(
            "--min-overlap",
            format!(
                "{} is out of range (rule: a share from 0 to 1)",
                opts.min_overlap
            ),
        ));
    }
    // The previous run must be one lineage, the one its model continues.
    super::lineage::check(previous, super::lineage::Upto::All)?;
    let warm = Warm::load(&warm_start)?;
    let before: FeaturesReport = artefact::read(&prev.features_json())?;
    let prev_as_of = crate::dates::parse_date(&before.as_of, "previous as-of")?;

    // Features as of the new date over last run's window length, unless --since.
    let mut p = opts.pipeline.clone();
    // The previous model's columns, so that the outlier rule judges the columns
    // whose fences it reapplies, and K-means reads what it was fitted on.
    if p.read.columns.is_empty() {
        p.read.columns.clone_from(&warm.model.numeric_features);
    }
    if p.read.categorical.is_empty() {
        p.read.categorical = warm
            .model
            .categorical
            .iter()
            .map(|c| c.column.clone())
            .collect();
    }
    let spec = p.features.spec(input)?;
    same_kind_of_sources(&prev.features_json(), &before, &spec, input)?;
    if p.features.since.is_none() {
        let prev_since = before
            .since
            .as_deref()
            .map(|s| crate::dates::parse_date(s, "previous since"))
            .transpose()?;
        match (spec.as_of, prev_since) {
            (Some(a), Some(s)) => {
                p.features.since = Some(crate::dates::format_date(a - (prev_as_of - s)));
            }
            (None, Some(_)) => obs.warn(
                "the new as-of date is estimated from the data, so last run's window length cannot be kept: the features cover the whole history (rule: pass --as-of, or --since)",
            ),
            _ => {}
        }
    }
    if let Some(a) = spec.as_of {
        if a <= prev_as_of {
            return Err(Error::param(
                "--as-of",
                format!(
                    "{} is not after the previous run's as-of {} (rule: an update moves forward in time)",
                    crate::dates::format_date(a),
                    before.as_of
                ),
            ));
        }
    }
    p.clean.config(Some(&p.read.id_col), Some(p.seed))?;
    p.profile.rules()?;
    p.lifetime.check()?;
    let k = match p.k {
        KChoice::Fixed(k) => k,
        KChoice::Auto => warm.previous_k(),
    };

    let mut params = Vec::new();
    opts.flags(&mut params);
    let mut manifest = RunManifest::new(command, input.clone(), params);
    manifest.previous = Some(previous.to_path_buf());
    let mut run = Run::open(out, manifest, force)?;
    let lay = RunLayout::new(out);

    stage_features(&mut run, &lay, input, &p.features, obs)?;
    let after: FeaturesReport = artefact::read(&lay.features_json())?;
    if crate::dates::parse_date(&after.as_of, "as-of")? <= prev_as_of {
        return Err(Error::param(
            "--input",
            format!(
                "the new sources end at {} (as-of), not after the previous run's {} (rule: an update moves forward in time; pass --as-of)",
                after.as_of, before.as_of
            ),
        ));
    }
    if !before.id_type.is_empty() && !after.id_type.is_empty() && before.id_type != after.id_type {
        return Err(Error::Source {
            path: lay.features_json(),
            message: format!(
                "customer ids are {} ({}), but the previous run's ({}) are {} (rule: an update reads the same customers' ids, of the same type)",
                after.id_type,
                after.id_type_why,
                prev.features_json().display(),
                before.id_type
            ),
        });
    }
    overlap(
        &prev.assignments(),
        &lay.features_parquet(),
        opts.min_overlap,
    )?;
    let reuse = (!opts.refit_clean).then(|| clean_json.clone());
    stage_clean(&mut run, &lay, &p, reuse, obs)?;

    let clean = lay.clean_parquet();
    let kdir = lay.stage("kmeans");
    let kopts = KmeansOptions {
        k,
        fit: p.fit.clone(),
        surrogate_depth: p.surrogate_depth,
        stability_resamples: p.stability_resamples,
        stability_sample: p.stability_sample,
        previous: Some(warm_start.clone()),
    };
    run.stage(
        "kmeans",
        super::chain::kmeans_argv(&clean, &p.read, &kopts, p.seed, &kdir),
        &[clean.clone(), prev.model()],
        &kdir,
        obs,
        || super::fit::kmeans(&clean, &p.read, &kopts, p.seed, &kdir, obs).map(drop),
    )?;
    stage_lifetime(&mut run, &lay, &p, obs)?;

    let mdir = lay.stage("migration");
    let mut hashed: Vec<PathBuf> = vec![
        prev.assignments(),
        prev.model(),
        prev.features_json(),
        lay.assignments(),
        lay.model(),
        lay.features_json(),
        lay.stage("lifetime").join("customers.parquet"),
    ];
    hashed.extend(
        [prev.clean_parquet(), prev.profile_json(), clean.clone()]
            .into_iter()
            .filter(|p| p.exists()),
    );
    run.stage(
        "migration",
        migrate_argv(previous, out, &mdir),
        &hashed,
        &mdir,
        obs,
        || super::migrate::migrate(previous, out, &mdir, obs).map(drop),
    )?;
    let prev_profile = prev.profile_json();
    stage_profile(
        &mut run,
        &lay,
        &p,
        ProfileExtras {
            migration: Some(lay.migration_json()),
            previous_profile: prev_profile.exists().then_some(prev_profile),
        },
        obs,
    )?;
    let model = crate::model::Model::load(&lay.model())?;
    let k_active = model.kmeans().map_or(k, |m| m.active().len());
    let (report, backend) = finish(&mut run, &lay, k_active)?;
    Ok(RunOutcome {
        report,
        manifest: lay.manifest(),
        ran: run.ran(),
        reused: run.reused(),
        k: k_active,
        backend,
    })
}

/// The new sources must be the same kind as the previous run's: the same tables,
/// mapped the same way (`--map`).
fn same_kind_of_sources(
    prev_json: &Path,
    before: &FeaturesReport,
    spec: &crate::features::FeatureSpec,
    input: &Path,
) -> Result<()> {
    let had: std::collections::BTreeSet<&str> =
        before.sources.iter().map(|s| s.table.as_str()).collect();
    let has: std::collections::BTreeSet<&str> = spec.sources.keys().map(String::as_str).collect();
    if had != has {
        let list =
            |s: &std::collections::BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(", ");
        return Err(Error::param(
            "--input",
            format!(
                "{} holds the tables {}, but the previous run ({}) read {} (rule: an update reads the same kind of sources as the run it continues)",
                input.display(),
                list(&has),
                prev_json.display(),
                list(&had)
            ),
        ));
    }
    for s in &before.sources {
        for (col, how) in &s.columns {
            let was = how.strip_prefix("mapped: ");
            let now = spec
                .map
                .iter()
                .find(|m| m.table == s.table && &m.column == col)
                .map(|m| m.expr.as_str());
            if was != now {
                return Err(Error::param(
                    "--map",
                    format!(
                        "{}.{col} is {} now, but the previous run ({}) read it {} (rule: an update maps the sources as the run it continues did)",
                        s.table,
                        now.map_or("not mapped".to_string(), |e| format!("mapped to `{e}`")),
                        prev_json.display(),
                        was.map_or("unmapped".to_string(), |e| format!("mapped to `{e}`"))
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Stops when fewer than `min` of the previous run's customers are among the
/// new features' customers.
fn overlap(prev_assignments: &Path, features: &Path, min: f64) -> Result<()> {
    if min <= 0.0 {
        return Ok(());
    }
    let before = crate::io::read_ids(prev_assignments, "customer_id")?;
    let after = crate::io::read_ids(features, "customer_id")?;
    let index = crate::profile::inputs::IdIndex::new(&after);
    let found = index
        .rows(before.to_arrow().as_ref(), prev_assignments)?
        .iter()
        .filter(|r| r.is_some())
        .count();
    let share = found as f64 / before.len().max(1) as f64;
    if share < min {
        return Err(Error::param(
            "--min-overlap",
            format!(
                "only {found} of the previous run's {} customers ({:.1}%) are in the new sources, below {:.0}% (rule: an update continues the same customers; check that --previous is this mall's last run, or pass --min-overlap 0 to proceed)",
                before.len(),
                100.0 * share,
                100.0 * min
            ),
        ));
    }
    Ok(())
}
