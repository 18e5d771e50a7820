//! The pipeline: one typed function per stage, and [`Run`], the run folder that
//! chains them with a manifest and stage reuse.
//!
//! ```text
//! features → clean → sweep (k auto) → kmeans | dbscan → profile → report
//! ```
//!
//! Every front calls these functions: `segmenta run`/`demo`, the one-stage
//! subcommands, and any program linking the library. A stage takes its options
//! (plain, validated structs; no command line), reads and writes files a person can
//! open, and returns its typed artefact. Each option group can print itself as the
//! flags of the equivalent `segmenta <stage>` command ([`Flags`]), which the
//! manifest records so that a stage can be rerun by hand.

mod bench;
mod chain;
mod clean;
mod dbscan;
mod export;
mod features;
mod fit;
pub mod flags;
mod generate;
mod lifetime;
pub mod lineage;
pub mod memory;
mod migrate;
mod predict;
mod profile;
mod run;
mod sweep;
pub mod update;
mod warm;

use std::path::{Path, PathBuf};

pub use bench::{bench, Agreement, BenchReport, BenchSpec, Outcome};
pub use chain::{
    clean_argv, features_argv, generate_argv, kmeans_argv, profile_argv, run_pipeline, sweep_argv,
    KChoice, PipelineOptions, RunOutcome, RunSource,
};
pub use clean::{action_name, clean, CleanOptions};
pub use dbscan::{dbscan, DbscanOptions, DbscanOutput};
pub use export::{export, ExportOptions, ExportSummary, COMPARABLE, COMPARED};
pub use features::{features, FeaturesOptions};
pub use fit::{
    backend_name, kmeans, scale_name, warn_duplicates, with_backend, BackendOptions, FitOn,
    FitOptions, KmeansOptions, KmeansOutput, ReadOptions,
};
pub use flags::Flags;
pub use generate::{generate, MallParams};
pub use lifetime::{lifetime, LifetimeInputs, LifetimeOptions};
pub use migrate::{migrate, Flow, MigrationMatrix, MigrationReport, SegmentChange};
pub use predict::{predict, PredictOutput};
pub use profile::{profile, ProfileInputs, ProfileOptions};
pub use run::{hash_file, FileRecord, Run, RunManifest, StageRecord};
pub use sweep::{k_range_text, parse_k_range, sweep, SweepOptions, SweepReport};
pub use update::{update, UpdateOptions};
pub use warm::{ColumnDrift, WarmStart, WarmStartInfo, DRIFT_RATIO, DRIFT_SHIFT};

/// The documented defaults, one place each.
pub mod defaults {
    pub use super::clean::DEFAULT_OUTLIER_MIN_SAMPLES;
    pub use super::dbscan::DEFAULT_MIN_SAMPLES;
    pub use super::features::DEFAULT_MAX_AMOUNT;
    pub use super::fit::{DEFAULT_N_INIT, DEFAULT_SURROGATE_DEPTH};
    pub use super::generate::{DEFAULT_CUSTOMERS, DEFAULT_DIRT, DEFAULT_MALL_SEED, DEFAULT_START};
    pub use super::lifetime::{DEFAULT_CLV_MONTHS, DEFAULT_DISCOUNT_RATE, DEFAULT_HORIZON_DAYS};
    pub use super::memory::default_memory_mib;
    pub use super::profile::{
        DEFAULT_MAX_LEN, DEFAULT_MIN_CONFIDENCE, DEFAULT_MIN_LIFT, DEFAULT_MIN_SUPPORT,
    };
    pub use super::sweep::{DEFAULT_K_RANGE, DEFAULT_SILHOUETTE_SAMPLE, DEFAULT_SWEEP_ROWS};
}

/// Where each stage writes inside a run folder.
#[derive(Clone, Debug)]
pub struct RunLayout {
    /// The run folder.
    pub root: PathBuf,
}

impl RunLayout {
    /// The layout of `root`.
    pub fn new(root: &Path) -> RunLayout {
        RunLayout {
            root: root.to_path_buf(),
        }
    }
    /// `run.json`.
    pub fn manifest(&self) -> PathBuf {
        self.root.join("run.json")
    }
    /// Folder of a stage.
    pub fn stage(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// `sources/`, where `demo` generates its mall.
    pub fn sources(&self) -> PathBuf {
        self.stage("sources")
    }
    /// `features/features.parquet`.
    pub fn features_parquet(&self) -> PathBuf {
        self.stage("features").join("features.parquet")
    }
    /// `features/features.json`.
    pub fn features_json(&self) -> PathBuf {
        self.stage("features").join("features.json")
    }
    /// `features/tables/`: the kept canonical tables.
    pub fn tables(&self) -> PathBuf {
        self.stage("features").join("tables")
    }
    /// `clean/clean.parquet`.
    pub fn clean_parquet(&self) -> PathBuf {
        self.stage("clean").join("clean.parquet")
    }
    /// `clean/clean.json`.
    pub fn clean_json(&self) -> PathBuf {
        self.stage("clean").join("clean.json")
    }
    /// `sweep/sweep.json`.
    pub fn sweep_json(&self) -> PathBuf {
        self.stage("sweep").join("sweep.json")
    }
    /// `kmeans/model.json`.
    pub fn model(&self) -> PathBuf {
        self.stage("kmeans").join("model.json")
    }
    /// `kmeans/assignments.parquet`.
    pub fn assignments(&self) -> PathBuf {
        self.stage("kmeans").join("assignments.parquet")
    }
    /// `profile/profile.json`.
    pub fn profile_json(&self) -> PathBuf {
        self.stage("profile").join("profile.json")
    }
    /// `lifetime/`: BG/NBD and Gamma-Gamma per customer and segment.
    pub fn lifetime_json(&self) -> PathBuf {
        self.stage("lifetime").join("lifetime.json")
    }
    /// `migration/migration.json` (`update` runs).
    pub fn migration_json(&self) -> PathBuf {
        self.stage("migration").join("migration.json")
    }
    /// `report.html`.
    pub fn report(&self) -> PathBuf {
        self.root.join("report.html")
    }
}

/// What a stage tells the person waiting for it. Every method has a silent
/// default, so a program embedding the library implements only what it shows.
pub trait Observer: Sync {
    /// A step of a stage begins ("reading sources", "k=4").
    fn step(&self, _what: &str) {}
    /// Progress of a long step: `pos` of `len`.
    fn progress(&self, _what: &str, _pos: u64, _len: u64) {}
    /// A long step ended (clear any progress bar).
    fn finish(&self) {}
    /// Something the user should know; the result is still right.
    fn warn(&self, _msg: &str) {}
    /// Detail for the curious (backend choice, upload times).
    fn info(&self, _msg: &str) {}
}

/// An observer that says nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}
