//! A run folder is one lineage: every stage's artefact records what it was made
//! from, and [`check`] refuses a folder whose parts disagree, naming the two files.
//!
//! ```text
//! features.json  features_xxh64 ─┬─ = XXH64(features/features.parquet)
//! clean.json     input_xxh64 ────┘
//! model.json     input_xxh64 ──── = XXH64(clean/clean.parquet) (or features.parquet)
//! assignments    segmenta.fit_id ─┬─ = model.json fit_id
//! lifetime.json  fit_id, features_xxh64
//! profile.json   fit_id, features_xxh64
//! ```
//!
//! A folder assembled from two runs (`cp -r B/kmeans A/kmeans`), or left by a
//! `kill -9` between two stages of a rerun with other flags, fails one of these
//! links. Fields written empty by older builds are not checked.

use std::path::{Path, PathBuf};

use super::run::hash_file;
use super::RunLayout;
use crate::artefact;
use crate::clean::CleanReport;
use crate::error::{Error, Result};
use crate::features::FeaturesReport;
use crate::lifetime::LifetimeReport;
use crate::model::Model;
use crate::profile::Profile;

/// What [`check`] found: the artefacts present, all consistent.
#[derive(Debug, Default)]
pub struct Lineage {
    /// `features.json`'s `features_xxh64` (or the hash of `features.parquet`).
    pub features_xxh64: Option<String>,
    /// The model of the folder's fit, and its path.
    pub model: Option<(Model, PathBuf)>,
}

/// The `features_xxh64` of the features stage whose kept tables are in `tables`
/// (its `features.json` sits beside `tables/`); empty when there is none.
pub fn features_token(tables: &Path) -> String {
    let Some(dir) = tables.parent() else {
        return String::new();
    };
    artefact::read_if_exists::<FeaturesReport>(&dir.join("features.json"))
        .ok()
        .flatten()
        .map(|f| f.features_xxh64)
        .unwrap_or_default()
}

fn mismatch(a: &Path, what: &str, b: &Path, found: &str) -> Error {
    Error::Source {
        path: a.to_path_buf(),
        message: format!(
            "was made from {what}, but {} is {found} (rule: a run folder is one lineage, every stage made from the stage before it in the same folder; rerun `segmenta run` into it, or into a fresh folder)",
            b.display()
        ),
    }
}

/// How far down the chain [`check`] looks: a stage checks what it reads, not the
/// later stages a rerun is about to replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Upto {
    /// Features, clean, the model and its assignments (what `lifetime` reads).
    Fit,
    /// And `lifetime.json` (what `profile` reads).
    Lifetime,
    /// And `profile.json`: the whole folder (`report`, `update`, `migrate`).
    All,
}

/// The run folder a stage folder's file belongs to (`RUN/kmeans/assignments.parquet`
/// → `RUN`), when that folder holds a run's stages.
pub fn run_of(file: &Path) -> Option<PathBuf> {
    let root = file.parent()?.parent()?;
    let lay = RunLayout::new(root);
    (lay.features_json().is_file() || lay.clean_json().is_file()).then(|| root.to_path_buf())
}

/// Checks that the stages in the run folder `root`, down to `upto`, were made
/// from one another.
pub fn check(root: &Path, upto: Upto) -> Result<Lineage> {
    let lay = RunLayout::new(root);
    let mut out = Lineage::default();
    let fjson = lay.features_json();
    let fpq = lay.features_parquet();
    let feats = artefact::read_if_exists::<FeaturesReport>(&fjson)?;
    let fhash = match fpq.is_file() {
        true => Some(hash_file(&fpq)?.xxh64),
        false => None,
    };
    if let (Some(f), Some(h)) = (&feats, &fhash) {
        if !f.features_xxh64.is_empty() && &f.features_xxh64 != h {
            return Err(mismatch(
                &fjson,
                &format!("a features.parquet of XXH64 {}", f.features_xxh64),
                &fpq,
                &format!("XXH64 {h}"),
            ));
        }
    }
    out.features_xxh64 = fhash.clone().or_else(|| {
        feats
            .as_ref()
            .map(|f| f.features_xxh64.clone())
            .filter(|h| !h.is_empty())
    });
    let fref = out.features_xxh64.clone();
    let made_from_features = |path: &Path, recorded: &str| -> Result<()> {
        match &fref {
            Some(h) if !recorded.is_empty() && recorded != h => Err(mismatch(
                path,
                &format!("features of XXH64 {recorded}"),
                &fpq,
                &format!("XXH64 {h}"),
            )),
            _ => Ok(()),
        }
    };

    let cjson = lay.clean_json();
    if let Some(c) = artefact::read_if_exists::<CleanReport>(&cjson)? {
        made_from_features(&cjson, &c.input_xxh64)?;
    }

    let profile_path = lay.profile_json();
    let profile = match upto {
        Upto::All => artefact::read_if_exists::<Profile>(&profile_path)?,
        _ => None,
    };
    // The fit: K-means, or DBSCAN when the profile describes that one.
    let mut model = None;
    for dir in ["kmeans", "dbscan"] {
        let p = lay.stage(dir).join("model.json");
        if !p.is_file() {
            continue;
        }
        let m = Model::load(&p)?;
        let wanted = profile
            .as_ref()
            .is_none_or(|pr| pr.fit_id.is_empty() || pr.fit_id == m.fit_id);
        if model.is_none() || wanted {
            let done = wanted && profile.is_some();
            model = Some((m, p));
            if done {
                break;
            }
        }
    }
    if let Some((m, mpath)) = &model {
        let cpq = lay.clean_parquet();
        if cpq.is_file() && !m.input_xxh64.is_empty() {
            let h = hash_file(&cpq)?.xxh64;
            if h != m.input_xxh64 && fhash.as_deref() != Some(m.input_xxh64.as_str()) {
                return Err(mismatch(
                    mpath,
                    &format!("a table of XXH64 {}", m.input_xxh64),
                    &cpq,
                    &format!("XXH64 {h}"),
                ));
            }
        }
        let apath = mpath.with_file_name("assignments.parquet");
        if apath.is_file() && !m.fit_id.is_empty() {
            let id = crate::io::parquet_metadata(&apath, crate::model::FIT_ID_KEY)?;
            if let Some(id) = id.filter(|id| id != &m.fit_id) {
                return Err(mismatch(
                    &apath,
                    &format!("fit {id}"),
                    mpath,
                    &format!("fit {}", m.fit_id),
                ));
            }
        }
    }
    let fit_of = |path: &Path, fit: &str| -> Result<()> {
        match &model {
            Some((m, mpath)) if !fit.is_empty() && !m.fit_id.is_empty() && fit != m.fit_id => {
                Err(mismatch(
                    path,
                    &format!("fit {fit}"),
                    mpath,
                    &format!("fit {}", m.fit_id),
                ))
            }
            _ => Ok(()),
        }
    };
    let lpath = lay.lifetime_json();
    let lifetime = match upto {
        Upto::Fit => None,
        _ => artefact::read_if_exists::<LifetimeReport>(&lpath)?,
    };
    if let Some(l) = lifetime {
        fit_of(&lpath, &l.fit_id)?;
        made_from_features(&lpath, &l.features_xxh64)?;
    }
    if let Some(pr) = &profile {
        fit_of(&profile_path, &pr.fit_id)?;
        made_from_features(&profile_path, &pr.features_xxh64)?;
    }
    out.model = model;
    Ok(out)
}
