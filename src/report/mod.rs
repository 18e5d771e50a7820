//! The report of a run folder: one self-contained HTML file (inline SVG, inline CSS,
//! no script, no external asset), or Markdown, or one JSON document.
//!
//! It renders from the typed artefacts of the stages ([`ReportData`]), found in a
//! folder `segmenta run` wrote (`features/features.json`, `clean/clean.json`, …) or
//! in one that holds hand-run stage outputs, nested the same way or side by side.
//! Every section is optional except the profile, so a partial run still renders;
//! an artefact that is there but unreadable is an error, not a blank section.

mod html;
mod next;
mod pca;
pub mod svg;

use std::fmt::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::artefact::{self, Artefact};
use crate::clean::CleanReport;
use crate::error::{Error, Result};
use crate::features::FeaturesReport;
use crate::io::Staged;
use crate::model::Model;
use crate::pipeline::{RunManifest, SweepReport};
use crate::profile::Profile;
pub use html::html;
pub use pca::{pca2, pca_of_fit, Pca};

/// Customers on the report's map.
pub const PCA_SAMPLE: usize = 3000;

/// Output format of a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One self-contained HTML file.
    Html,
    /// Markdown (tables, no plots).
    Markdown,
    /// One JSON document holding every artefact.
    Json,
}

impl Format {
    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "md",
            Format::Json => "json",
        }
    }
}

/// Everything the report shows.
#[derive(Clone, Debug, Serialize)]
pub struct ReportData {
    /// The run folder.
    pub run: PathBuf,
    /// `run.json`, if present.
    pub manifest: Option<RunManifest>,
    /// `features.json`.
    pub features: Option<FeaturesReport>,
    /// `clean.json`.
    pub clean: Option<CleanReport>,
    /// `sweep.json`.
    pub sweep: Option<SweepReport>,
    /// `model.json`.
    pub model: Option<Model>,
    /// `profile.json` (required).
    pub profile: Profile,
    /// The scatter's data.
    pub pca: Option<Pca>,
    /// `lifetime.json`.
    pub lifetime: Option<crate::lifetime::LifetimeReport>,
}

/// The first of `candidates` that exists (after finishing an interrupted commit).
fn first(candidates: &[PathBuf]) -> Option<PathBuf> {
    for c in candidates {
        let _ = crate::io::commit::recover(c);
    }
    candidates.iter().find(|p| p.is_file()).cloned()
}

/// An artefact at `STAGE/FILE` or `FILE` under `root`.
fn find<T: Artefact>(root: &Path, stages: &[&str], file: &str) -> Result<Option<(T, PathBuf)>> {
    let mut c: Vec<PathBuf> = stages.iter().map(|s| root.join(s).join(file)).collect();
    c.push(root.join(file));
    match first(&c) {
        Some(p) => Ok(Some((artefact::read(&p)?, p))),
        None => Ok(None),
    }
}

impl ReportData {
    /// Reads a run folder: one `segmenta run` wrote, or one holding hand-run
    /// stages (each in its stage folder or all side by side).
    pub fn load(run: &Path) -> Result<ReportData> {
        crate::pipeline::lineage::check(run, crate::pipeline::lineage::Upto::All)?;
        let Some((profile, _)) = find::<Profile>(run, &["profile"], "profile.json")? else {
            return Err(Error::Source {
                path: run.join("profile").join("profile.json"),
                message: "no profile (rule: a report needs at least the profile stage's profile.json, in RUN/profile/ or RUN/; run `segmenta run` or `segmenta profile -o RUN/profile` first)".into(),
            });
        };
        // The model of the profile's fit, when a K-means and a DBSCAN fit sit side by side.
        let mut model = find::<Model>(run, &["kmeans", "dbscan"], "model.json")?;
        if let Some((m, _)) = &model {
            if !profile.fit_id.is_empty() && m.fit_id != profile.fit_id {
                if let Some(other) = find::<Model>(run, &["dbscan"], "model.json")? {
                    if other.0.fit_id == profile.fit_id {
                        model = Some(other);
                    }
                }
            }
        }
        if let Some((m, path)) = &model {
            if !profile.fit_id.is_empty() && !m.fit_id.is_empty() && profile.fit_id != m.fit_id {
                return Err(Error::Source {
                    path: path.clone(),
                    message: format!(
                        "this model is fit {}, but the profile describes fit {} (rule: the report's stages come from one fit; rerun `segmenta profile` after refitting)",
                        m.fit_id, profile.fit_id
                    ),
                });
            }
        }
        let pca = match &model {
            Some((m, path)) => {
                let assign = path.with_file_name("assignments.parquet");
                let fitted_on = first(&[
                    run.join("clean").join("clean.parquet"),
                    run.join("clean.parquet"),
                    PathBuf::from(&m.input),
                ]);
                match fitted_on {
                    Some(t) => pca_of_fit(&t, &assign, m, PCA_SAMPLE, 0)?,
                    None => None,
                }
            }
            None => None,
        };
        Ok(ReportData {
            run: run.to_path_buf(),
            manifest: artefact::read_if_exists(&run.join("run.json"))?,
            features: find(run, &["features"], "features.json")?.map(|x| x.0),
            clean: find(run, &["clean"], "clean.json")?.map(|x| x.0),
            sweep: find(run, &["sweep"], "sweep.json")?.map(|x| x.0),
            model: model.map(|x| x.0),
            profile,
            pca,
            lifetime: find(run, &["lifetime"], "lifetime.json")?.map(|x| x.0),
        })
    }

    /// (segment id, persona) of every segment.
    fn names(&self) -> Vec<(i32, String)> {
        self.profile
            .segments
            .iter()
            .map(|s| (s.segment, s.persona.clone()))
            .collect()
    }

    /// The whole report as one JSON document.
    pub fn json(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Doc<'a> {
            format: &'static str,
            version: u32,
            #[serde(flatten)]
            data: &'a ReportData,
        }
        let doc = Doc {
            format: "segmenta-report",
            version: 2,
            data: self,
        };
        serde_json::to_string_pretty(&doc)
            .map(|s| s + "\n")
            .map_err(|e| Error::Source {
                path: self.run.clone(),
                message: format!("cannot serialise the report ({e})"),
            })
    }
}

/// Renders the report of the run folder `run` as `format` into `out`, atomically.
pub fn write(run: &Path, format: Format, out: &Path) -> Result<PathBuf> {
    let data = ReportData::load(run)?;
    let text = match format {
        Format::Html => html(&data),
        Format::Markdown => markdown(&data),
        Format::Json => data.json()?,
    };
    let mut staged = Staged::for_file(out)?;
    staged.write(out, |w| {
        std::io::Write::write_all(w, text.as_bytes()).map_err(|e| Error::io(out, e))
    })?;
    staged.commit()?;
    Ok(out.to_path_buf())
}

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

/// Renders the Markdown report (no plots; the same tables).
pub fn markdown(r: &ReportData) -> String {
    let p = &r.profile;
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# Customer segments\n\n{} customers in {} segments.\n",
        p.rows,
        p.segments.len()
    );
    if let Some(s) = &r.sweep {
        let _ = writeln!(
            m,
            "Recommended k = {}: {}.\n",
            crate::profile::tree::fmt_num(s.recommended.k as f64),
            s.recommended.reason
        );
    }
    let _ = writeln!(
        m,
        "| segment | persona | customers | share | revenue share |\n|---|---|---:|---:|---:|"
    );
    for s in &p.segments {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} |",
            s.segment,
            s.persona,
            s.size,
            pct(s.share),
            s.revenue_share.map_or("-".into(), pct)
        );
    }
    m.push('\n');
    next::markdown(r, &mut m);
    for s in &p.segments {
        let _ = writeln!(
            m,
            "\n## {}\n\n{}\n\nStands out by: {}.",
            s.persona,
            s.description,
            s.traits.join(", ")
        );
    }
    m
}
