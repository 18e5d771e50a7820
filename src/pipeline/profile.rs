//! The profile stage: what each segment is — sizes, revenue shares, lifts, persona
//! names, the surrogate tree's rules, basket rules and SHOPPING x STREAMING.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::flags::{self, Flags};
use super::Observer;
use crate::error::{Error, Result};
use crate::io::{read_features, write_json, ReadSpec, Staged};
use crate::model::Model;
use crate::profile::basket::BasketParams;
use crate::profile::inputs::{
    basket_report, categorical_reports, find, read_labels, streaming_report, IdIndex,
};
use crate::profile::{
    name_segments, segment_stats, PersonaRules, Profile, SurrogateSummary, PROFILE_FORMAT,
    PROFILE_VERSION,
};

/// Default minimum support of a basket itemset.
pub const DEFAULT_MIN_SUPPORT: f64 = 0.01;
/// Default minimum confidence of a basket rule.
pub const DEFAULT_MIN_CONFIDENCE: f64 = 0.2;
/// Default minimum lift of a basket rule.
pub const DEFAULT_MIN_LIFT: f64 = 1.0;
/// Default largest basket itemset.
pub const DEFAULT_MAX_LEN: usize = 3;

/// How segments are explained.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileOptions {
    /// Persona rules (TOML) instead of the built-in ones.
    pub personas: Option<PathBuf>,
    /// Minimum support of a basket itemset (share of a segment's baskets).
    pub min_support: f64,
    /// Minimum confidence of a basket rule.
    pub min_confidence: f64,
    /// Minimum lift of a basket rule.
    pub min_lift: f64,
    /// Largest basket itemset (antecedent plus consequent).
    pub max_len: usize,
    /// The column whose values are the basket's items (None: `product` when the
    /// table has products, else `category`).
    pub basket_item: Option<String>,
    /// Memory budget, MiB: the purchase lines of as many segments as fit it are
    /// held at once for the basket rules (in a run, the run's `--memory-mib`).
    pub memory_mib: usize,
}

impl Default for ProfileOptions {
    fn default() -> Self {
        ProfileOptions {
            personas: None,
            min_support: DEFAULT_MIN_SUPPORT,
            min_confidence: DEFAULT_MIN_CONFIDENCE,
            min_lift: DEFAULT_MIN_LIFT,
            max_len: DEFAULT_MAX_LEN,
            basket_item: None,
            memory_mib: super::memory::default_memory_mib(),
        }
    }
}

impl Flags for ProfileOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        self.rule_flags(argv);
        flags::value(argv, "--memory-mib", self.memory_mib);
    }
}

impl ProfileOptions {
    /// The flags of the personas and the basket thresholds (a run records its one
    /// `--memory-mib` with the features stage's flags).
    pub(super) fn rule_flags(&self, argv: &mut Vec<String>) {
        flags::path(argv, "--personas", self.personas.as_deref());
        flags::value(argv, "--min-support", self.min_support);
        flags::value(argv, "--min-confidence", self.min_confidence);
        flags::value(argv, "--min-lift", self.min_lift);
        flags::value(argv, "--max-len", self.max_len);
        if let Some(c) = &self.basket_item {
            flags::value(argv, "--basket-item", c);
        }
    }

    /// Checks the thresholds and reads the persona rules.
    pub fn rules(&self) -> Result<PersonaRules> {
        super::memory::check_memory_mib(self.memory_mib)?;
        if !(self.min_support > 0.0 && self.min_support <= 1.0) {
            return Err(Error::param(
                "--min-support",
                format!("{} is not in (0, 1]", self.min_support),
            ));
        }
        if !(0.0..=1.0).contains(&self.min_confidence) {
            return Err(Error::param(
                "--min-confidence",
                format!("{} is not in [0, 1]", self.min_confidence),
            ));
        }
        if !(1..=8).contains(&self.max_len) {
            return Err(Error::param("--max-len", "must be 1..=8"));
        }
        if self.min_lift.is_nan() || self.min_lift < 0.0 {
            return Err(Error::param("--min-lift", "must be >= 0"));
        }
        match &self.personas {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
                PersonaRules::parse(&text, p)
            }
            None => Ok(PersonaRules::builtin()),
        }
    }
}

/// The files a profile reads.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileInputs {
    /// The feature table the segments were fitted on (e.g. clean.parquet).
    pub features: PathBuf,
    /// `assignments.parquet` of a fit.
    pub assignments: PathBuf,
    /// The fit's `model.json` (the surrogate tree).
    pub model: Option<PathBuf>,
    /// The features stage's kept canonical tables (`features/tables/`).
    pub tables: Option<PathBuf>,
    /// Id column.
    pub id_col: String,
    /// The lifetime stage's `lifetime.json` (per-segment outlook).
    pub lifetime: Option<PathBuf>,
    /// The migration stage's `migration.json` (`update`).
    pub migration: Option<PathBuf>,
    /// The previous run's `profile.json`: kept segments keep their persona name.
    pub previous_profile: Option<PathBuf>,
}

impl Flags for ProfileInputs {
    fn flags(&self, argv: &mut Vec<String>) {
        flags::value(argv, "--input", self.features.display());
        flags::value(argv, "--assignments", self.assignments.display());
        flags::path(argv, "--model", self.model.as_deref());
        flags::path(argv, "--tables", self.tables.as_deref());
        flags::value(argv, "--id-col", &self.id_col);
        flags::path(argv, "--lifetime", self.lifetime.as_deref());
        flags::path(argv, "--migration", self.migration.as_deref());
        flags::path(argv, "--previous-profile", self.previous_profile.as_deref());
    }
}

/// The model, the assignments and the feature table must come from one fit: the
/// model's columns are in the table, the segments are the model's, and the
/// assignments carry the model's fit id.
fn check_fit(
    m: &Model,
    model_path: &Path,
    table: &crate::io::FeatureTable,
    labels: &[i32],
    assignments: &Path,
) -> Result<()> {
    let bad = |message: String| Error::Model {
        path: model_path.to_path_buf(),
        message,
    };
    let lacking: Vec<&str> = m
        .numeric_features
        .iter()
        .filter(|f| !table.features.contains(f))
        .map(String::as_str)
        .collect();
    if !lacking.is_empty() {
        return Err(bad(format!(
            "the model was fitted on column(s) {} that {} lacks (rule: profile the table the model was fitted on, with its model)",
            lacking.join(", "),
            table.path.display()
        )));
    }
    let (lo, hi) = match &m.fitted {
        crate::model::Fitted::Kmeans { kmeans } => (0, kmeans.k as i32 - 1),
        crate::model::Fitted::Dbscan { dbscan } => (-1, dbscan.clusters as i32 - 1),
    };
    if let Some(l) = labels.iter().find(|&&l| l < lo || l > hi) {
        return Err(bad(format!(
            "{} holds segment {l}, which this model does not have (rule: segments {lo}..={hi}; give the assignments and the model of one fit)",
            assignments.display()
        )));
    }
    if !m.fit_id.is_empty() {
        if let Some(id) = crate::io::parquet_metadata(assignments, crate::model::FIT_ID_KEY)? {
            if id != m.fit_id {
                return Err(bad(format!(
                    "{} comes from fit {id}, this model from fit {} (rule: give the assignments and the model of one fit)",
                    assignments.display(),
                    m.fit_id
                )));
            }
        }
    }
    Ok(())
}

/// Profiles the segments of `inputs` and writes `out/profile.json`.
pub fn profile(
    inputs: &ProfileInputs,
    opts: &ProfileOptions,
    out: &Path,
    obs: &dyn Observer,
) -> Result<Profile> {
    let rules = opts.rules()?;
    if let Some(root) = super::lineage::run_of(&inputs.assignments) {
        super::lineage::check(&root, super::lineage::Upto::Lifetime)?;
    }
    let table = read_features(&inputs.features, &ReadSpec::new(inputs.id_col.clone()))?;
    let index = IdIndex::new(&table.ids);
    let labels = read_labels(&index, &table, &inputs.assignments, &inputs.features)?;
    obs.info("segment statistics");
    let (population, mut segments) = segment_stats(&table.x, &table.features, &labels);
    name_segments(&mut segments, &rules);
    let mut notes = Vec::new();
    let migration: Option<crate::pipeline::MigrationReport> = inputs
        .migration
        .as_deref()
        .map(crate::artefact::read)
        .transpose()?;
    if let Some(p) = &inputs.previous_profile {
        let prev: Profile = crate::artefact::read(p)?;
        keep_names(&mut segments, &prev, migration.as_ref());
    }
    let lifetime: Option<crate::lifetime::LifetimeReport> = inputs
        .lifetime
        .as_deref()
        .map(crate::artefact::read)
        .transpose()?;

    let model_path = inputs.model.clone().or_else(|| {
        let p = inputs.assignments.with_file_name("model.json");
        p.exists().then_some(p)
    });
    let model = model_path.as_deref().map(Model::load).transpose()?;
    if let (Some(m), Some(mp)) = (&model, &model_path) {
        check_fit(m, mp, &table, &labels, &inputs.assignments)?;
    }
    let fit_id = model.as_ref().map(|m| m.fit_id.clone()).unwrap_or_default();
    if let Some(km) = model.as_ref().and_then(Model::kmeans) {
        for seg in segments.iter_mut() {
            if let Some(j) = usize::try_from(seg.segment)
                .ok()
                .and_then(|i| km.stability.get(i).copied().flatten())
                .as_ref()
            {
                seg.stability = Some(*j);
                seg.stability_verdict = Some(crate::kmeans::stability::verdict(*j).to_string());
            }
        }
    }
    let surrogate = model.and_then(|m| m.surrogate).map(|t| SurrogateSummary {
        fidelity: t.fidelity,
        train_rows: t.train_rows,
        test_rows: t.test_rows,
        max_depth: t.max_depth,
        rules: t.rules,
    });
    if surrogate.is_none() {
        notes.push("no surrogate tree: pass the K-means model.json with --model".into());
    }

    let seg_ids: Vec<i32> = segments.iter().map(|s| s.segment).collect();
    let seg_pos: HashMap<i32, usize> = seg_ids.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let (mut basket, mut streaming, mut categorical) = (None, None, Vec::new());
    match &inputs.tables {
        None => notes.push("no --tables: basket rules and streaming left out".into()),
        Some(dir) => {
            let params = BasketParams {
                min_support: opts.min_support,
                min_confidence: opts.min_confidence,
                min_lift: opts.min_lift,
                max_len: opts.max_len,
                memory: opts.memory_mib << 20,
                ..BasketParams::default()
            };
            obs.info("basket rules and categorical profiles");
            // The basket miner reads one table on one thread; the categorical
            // profiles read the others meanwhile.
            let (b, c) = rayon::join(
                || {
                    find(dir, "transactions").map(|p| {
                        basket_report(
                            &p,
                            &index,
                            &labels,
                            &seg_ids,
                            &seg_pos,
                            &params,
                            opts.basket_item.as_deref(),
                        )
                    })
                },
                || categorical_reports(dir, &index, &labels, &seg_ids, &seg_pos),
            );
            match b.transpose()? {
                Some(Ok(r)) => basket = Some(r),
                Some(Err(note)) => notes.push(note),
                None => notes.push(format!(
                    "{}: no transactions table: no basket rules",
                    dir.display()
                )),
            }
            categorical = c?;
            obs.info("SHOPPING x STREAMING");
            match find(dir, "streaming") {
                Some(p) => {
                    let age = table.features.iter().position(|f| f == "age");
                    let ages: Option<Vec<f32>> =
                        age.map(|j| (0..table.x.n()).map(|i| table.x.row(i)[j]).collect());
                    match streaming_report(
                        &p,
                        &index,
                        &labels,
                        &seg_ids,
                        &seg_pos,
                        ages.as_deref(),
                    )? {
                        Ok(r) => streaming = Some(r),
                        Err(note) => notes.push(note),
                    }
                }
                None => notes.push(format!(
                    "{}: no streaming table: no SHOPPING x STREAMING",
                    dir.display()
                )),
            }
        }
    }

    let profile = Profile {
        format: PROFILE_FORMAT.into(),
        version: PROFILE_VERSION,
        rows: table.x.n() as u64,
        personas_source: opts
            .personas
            .as_ref()
            .map_or("built-in".into(), |p| p.display().to_string()),
        population,
        segments,
        surrogate,
        categorical,
        basket,
        streaming,
        notes,
        fit_id,
        features_xxh64: inputs
            .tables
            .as_deref()
            .map(super::lineage::features_token)
            .unwrap_or_default(),
        lifetime: lifetime.map(|l| l.segments).unwrap_or_default(),
        changes: migration,
    };
    let mut staged = Staged::new(out)?;
    write_json(&mut staged, &out.join("profile.json"), &profile)?;
    staged.commit()?;
    Ok(profile)
}

/// Segments the update kept (same id as last run) keep last run's persona name
/// (`naming: kept`); a newly named segment whose name a kept one holds is
/// qualified with "(new)".
fn keep_names(
    segments: &mut [crate::profile::SegmentProfile],
    prev: &Profile,
    migration: Option<&crate::pipeline::MigrationReport>,
) {
    let kept = |id: i32| {
        migration.is_none_or(|m| {
            m.segments
                .iter()
                .any(|s| s.segment == id && s.status == "kept")
        })
    };
    let mut held = std::collections::HashSet::new();
    for s in segments.iter_mut() {
        if let Some(p) = prev.segments.iter().find(|p| p.segment == s.segment) {
            if kept(s.segment) && !p.persona.is_empty() {
                s.persona.clone_from(&p.persona);
                s.naming = "kept".into();
                held.insert(s.persona.clone());
            }
        }
    }
    for s in segments.iter_mut() {
        if s.naming != "kept" && held.contains(&s.persona) {
            s.persona = format!("{} (new)", s.persona);
        }
    }
}
