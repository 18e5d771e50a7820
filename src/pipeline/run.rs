//! A run folder: its `run.json` manifest and the reuse of unchanged stages.
//!
//! A stage's fingerprint hashes exactly: the stage name, the segmenta version, the
//! rules embedded in the binary (the feature SQL, the category groups and the
//! persona rules: a build that changes them redoes the stages, whatever its
//! version says), the stage's flags (generated from its typed options, see
//! [`super::Flags`]) and the XXH64 of every input file. It does not hash timestamps, paths of outputs, the
//! thread count or the machine: none of those changes a stage's result. A stage is
//! reused when the previous manifest holds the same fingerprint and every output it
//! recorded is still there, byte for byte; a damaged output is redone, not trusted.
//! The manifest is rewritten atomically after each stage, so an interrupted run
//! leaves its finished stages reusable.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::memory::peak_rss_bytes;
use super::{Observer, RunLayout};
use crate::artefact::{self, Artefact};
use crate::error::{Error, Result};
use crate::io::{write_json, Staged};

/// A file and its content hash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FileRecord {
    /// Path.
    pub path: PathBuf,
    /// Size in bytes.
    pub bytes: u64,
    /// XXH64 of the content, hex.
    pub xxh64: String,
}

/// One stage of a run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageRecord {
    /// Stage name.
    pub name: String,
    /// The equivalent `segmenta <name> …` command line, without the program name.
    pub argv: Vec<String>,
    /// Hash of the name, version, flags and the inputs' hashes.
    pub fingerprint: String,
    /// Input files.
    pub inputs: Vec<FileRecord>,
    /// Output files.
    pub outputs: Vec<FileRecord>,
    /// Seconds the stage took when it ran (kept when it is reused).
    pub seconds: f64,
    /// Whether this invocation reused an earlier result.
    pub reused: bool,
    /// The process's peak resident memory (high-water mark) when the stage ended,
    /// bytes; `None` where the platform does not say (or in older manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_bytes: Option<u64>,
    /// How much the stage raised that high-water mark, bytes (0: it stayed under
    /// an earlier stage's peak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_growth_bytes: Option<u64>,
}

/// `run.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunManifest {
    /// Always `segmenta-run`.
    pub format: String,
    /// [`RunManifest::VERSION`].
    pub version: u32,
    /// The command line that made the run, as typed.
    pub command: String,
    /// The raw sources.
    pub input: PathBuf,
    /// The pipeline's options, every flag spelled out.
    pub params: Vec<String>,
    /// Versions of segmenta and of the engines it embeds.
    pub versions: std::collections::BTreeMap<String, String>,
    /// The generated mall, for `demo`.
    pub mall: Option<super::MallParams>,
    /// When the run started (UTC, ISO 8601).
    pub started: String,
    /// When the manifest was last written.
    pub finished: String,
    /// The K-means backend that ran, once known.
    pub backend: Option<String>,
    /// The k used, once known.
    pub k: Option<usize>,
    /// The stages, in order.
    pub stages: Vec<StageRecord>,
    /// The customer buckets the features stage ran in (its `features.json`
    /// `partitions`), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitions: Option<u64>,
    /// The run this one updates (`segmenta update --previous`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PathBuf>,
}

impl Artefact for RunManifest {
    const FORMAT: &'static str = "segmenta-run";
    const VERSION: u32 = 2;
    const NOUN: &'static str = "run manifest";
}

impl RunManifest {
    /// A manifest for a new run.
    pub fn new(command: String, input: PathBuf, params: Vec<String>) -> RunManifest {
        let versions = [
            ("segmenta", env!("CARGO_PKG_VERSION")),
            ("datafusion", "55.2"),
            ("arrow", "59.3"),
            ("wgpu", "30"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        RunManifest {
            format: Self::FORMAT.into(),
            version: Self::VERSION,
            command,
            input,
            params,
            versions,
            mall: None,
            started: now_utc(),
            finished: String::new(),
            backend: None,
            k: None,
            stages: Vec::new(),
            partitions: None,
            previous: None,
        }
    }
}

/// Hashes a file.
pub fn hash_file(path: &Path) -> Result<FileRecord> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = twox_hash::XxHash64::with_seed(0);
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        std::hash::Hasher::write(&mut h, &buf[..n]);
    }
    Ok(FileRecord {
        path: path.to_path_buf(),
        bytes,
        xxh64: format!("{:016x}", std::hash::Hasher::finish(&h)),
    })
}

/// Every file under `path` (itself when a file; nothing when absent), sorted;
/// staged temporaries (dot files) are skipped.
pub fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    if !path.exists() {
        return Ok(out);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))? {
            let p = e.map_err(|e| Error::io(&d, e))?.path();
            let hidden = p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if hidden {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn fingerprint(name: &str, argv: &[String], inputs: &[FileRecord]) -> String {
    let mut h = twox_hash::XxHash64::with_seed(1);
    let mut feed = |s: &str| {
        std::hash::Hasher::write(&mut h, s.as_bytes());
        std::hash::Hasher::write(&mut h, &[0]);
    };
    feed(name);
    feed(env!("CARGO_PKG_VERSION"));
    feed(crate::features::DEFAULT_SQL);
    feed(crate::features::DEFAULT_CATEGORY_GROUPS);
    feed(crate::profile::DEFAULT_PERSONAS);
    // The layout of the features stage's kept tables (a folder of files a table).
    feed("tables/<table>/part-NNNN.parquet");
    for a in argv {
        feed(a);
    }
    for i in inputs {
        feed(&i.xxh64);
    }
    format!("{:016x}", std::hash::Hasher::finish(&h))
}

/// The current time, UTC, ISO 8601 to the second.
pub fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = crate::dates::civil_from_days((secs.div_euclid(86_400)) as i32);
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// A run folder being written.
pub struct Run {
    layout: RunLayout,
    /// The manifest as written so far.
    pub manifest: RunManifest,
    previous: Vec<StageRecord>,
    force: bool,
    ran: usize,
    /// The folder's lock, held for the whole run.
    _lock: crate::io::commit::Lock,
}

impl Run {
    /// Opens (creating) the run folder `root`; the stages of an earlier manifest
    /// there become candidates for reuse unless `force`.
    pub fn open(root: &Path, manifest: RunManifest, force: bool) -> Result<Run> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        let lock = crate::io::commit::hold(root)?;
        let layout = RunLayout::new(root);
        // An unreadable or older manifest only means nothing is reused.
        let previous = artefact::read::<RunManifest>(&layout.manifest())
            .map(|m| m.stages)
            .unwrap_or_default();
        Ok(Run {
            layout,
            manifest,
            previous,
            force,
            ran: 0,
            _lock: lock,
        })
    }

    /// The folder layout.
    pub fn layout(&self) -> &RunLayout {
        &self.layout
    }

    /// Stages this invocation ran (rather than reused).
    pub fn ran(&self) -> usize {
        self.ran
    }

    /// Stages this invocation reused.
    pub fn reused(&self) -> usize {
        self.manifest.stages.iter().filter(|s| s.reused).count()
    }

    /// Writes the manifest (atomically).
    pub fn save(&mut self) -> Result<()> {
        self.manifest.finished = now_utc();
        let mut staged = Staged::for_file(&self.layout.manifest())?;
        write_json(&mut staged, &self.layout.manifest(), &self.manifest)?;
        staged.commit()?;
        Ok(())
    }

    /// Runs `work` as stage `name` unless an earlier identical run of it can be
    /// reused. `argv` is the stage's equivalent command line, `inputs` the files
    /// or folders it reads, `outputs` the file or folder it writes. Returns whether
    /// the stage ran.
    pub fn stage(
        &mut self,
        name: &str,
        argv: Vec<String>,
        inputs: &[PathBuf],
        outputs: &Path,
        obs: &dyn Observer,
        work: impl FnOnce() -> Result<()>,
    ) -> Result<bool> {
        let mut records = Vec::new();
        for i in inputs {
            for f in files_under(i)? {
                records.push(hash_file(&f)?);
            }
        }
        let fp = fingerprint(name, &argv, &records);
        let reusable = self.previous.iter().find(|p| {
            !self.force
                && p.name == name
                && p.fingerprint == fp
                && !p.outputs.is_empty()
                && p.outputs
                    .iter()
                    .all(|o| hash_file(&o.path).is_ok_and(|h| h == *o))
        });
        if let Some(prev) = reusable {
            obs.step(&format!("{name}: inputs and parameters unchanged, reused"));
            self.manifest.stages.push(StageRecord {
                reused: true,
                ..prev.clone()
            });
            self.save()?;
            return Ok(false);
        }
        obs.step(&format!("{name} …"));
        let t = Instant::now();
        let peak_before = peak_rss_bytes();
        work()?;
        let peak = peak_rss_bytes();
        super::memory::release_freed();
        let outs = files_under(outputs)?
            .iter()
            .map(|f| hash_file(f))
            .collect::<Result<Vec<_>>>()?;
        self.ran += 1;
        self.manifest.stages.push(StageRecord {
            name: name.into(),
            argv,
            fingerprint: fp,
            inputs: records,
            outputs: outs,
            seconds: t.elapsed().as_secs_f64(),
            reused: false,
            peak_rss_bytes: peak,
            peak_rss_growth_bytes: peak.zip(peak_before).map(|(a, b)| a.saturating_sub(b)),
        });
        self.save()?;
        Ok(true)
    }

    /// Records a stage that is always redone (the report): its output and time.
    pub fn record(&mut self, name: &str, output: &Path, seconds: f64) -> Result<()> {
        self.manifest.stages.push(StageRecord {
            name: name.into(),
            argv: Vec::new(),
            fingerprint: String::new(),
            inputs: Vec::new(),
            outputs: vec![hash_file(output)?],
            seconds,
            reused: false,
            peak_rss_bytes: peak_rss_bytes(),
            peak_rss_growth_bytes: None,
        });
        self.save()
    }
}
