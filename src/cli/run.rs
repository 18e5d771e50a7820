//! `segmenta run`, `segmenta demo` and `segmenta report`: the whole pipeline into a
//! run folder with a `run.json` manifest, reusing every stage whose inputs and
//! parameters are unchanged.
//!
//! Each stage is one of the subcommands, run with a fixed argument list; its
//! fingerprint hashes that list and the content of its input files. A stage is
//! reused when the manifest holds the same fingerprint and its recorded outputs are
//! still there with the same size and hash. Stages write through staged files, and
//! the manifest is rewritten (atomically) after each stage, so an interrupted run
//! leaves finished stages reusable and no half-written file behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use segmenta::io::{write_json, Staged};
use segmenta::report::{self, ReportData, RunLayout};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::common::{BackendArg, OutputArgs};

/// The value of `run.json`'s `format`.
const RUN_FORMAT: &str = "segmenta-run";

#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Segments: a number, or `auto` to sweep --k-range and take the recommended k.
    #[arg(long, default_value = "auto")]
    pub k: String,
    /// The k values an automatic choice considers.
    #[arg(long, default_value = "2..10")]
    pub k_range: String,
    /// K-means restarts (the lowest inertia wins).
    #[arg(long, default_value_t = 4)]
    pub n_init: usize,
    /// Rows the sweep's silhouette uses (a seeded sample above this).
    #[arg(long, default_value_t = 5000)]
    pub silhouette_sample: usize,
    /// K-means backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Redo every stage even when its inputs are unchanged.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Raw sources: a folder (transactions, customers, visits, … as in
    /// ARCHITECTURE.md) or one transactions file.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Run folder: every stage's output, run.json and report.html.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Column mapping for foreign sources (see `segmenta features --help`).
    #[arg(long)]
    pub map: Option<String>,
    /// Timestamp format of text timestamps (chrono syntax).
    #[arg(long)]
    pub ts_format: Option<String>,
    /// End of the history (YYYY-MM-DD) for recency.
    #[arg(long)]
    pub as_of: Option<String>,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Customers in the generated mall.
    #[arg(long, default_value_t = 200_000)]
    pub customers: usize,
    /// Months of history.
    #[arg(long, default_value_t = 6)]
    pub months: u32,
    /// Seed of the generated mall.
    #[arg(long, default_value_t = 42)]
    pub mall_seed: u64,
    /// Run folder (the mall goes into its `sources/`).
    #[arg(long, short = 'o', default_value = "demo-run")]
    pub out: PathBuf,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Html,
    Md,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// A run folder written by `segmenta run` or `segmenta demo`.
    #[arg(long)]
    pub run: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "html")]
    pub format: FormatArg,
    /// Output file [default: RUN/report.html, .md or .json].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

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
    /// The subcommand's arguments.
    pub argv: Vec<String>,
    /// Hash of the arguments and the inputs' hashes.
    pub fingerprint: String,
    /// Input files.
    pub inputs: Vec<FileRecord>,
    /// Output files.
    pub outputs: Vec<FileRecord>,
    /// Seconds the stage took when it ran (kept when it is reused).
    pub seconds: f64,
    /// Whether this invocation reused an earlier result.
    pub reused: bool,
}

fn hash_file(path: &Path) -> Result<FileRecord> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let mut h = twox_hash::XxHash64::with_seed(0);
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("{}: cannot read", path.display()))?;
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

/// Every file under `path` (itself when a file), sorted.
fn files_under(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    let mut stack = vec![path.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries =
            std::fs::read_dir(&d).with_context(|| format!("{}: cannot list", d.display()))?;
        for e in entries {
            let p = e?.path();
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue; // staged temporaries
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
    for a in argv {
        feed(a);
    }
    for i in inputs {
        feed(&i.xxh64);
    }
    format!("{:016x}", std::hash::Hasher::finish(&h))
}

struct Runner {
    root: PathBuf,
    manifest: Value,
    previous: Vec<StageRecord>,
    stages: Vec<StageRecord>,
    force: bool,
    out: OutputArgs,
    /// Stages this invocation ran (rather than reused).
    ran: usize,
}

impl Runner {
    fn new(root: &Path, manifest: Value, force: bool, out: OutputArgs) -> Result<Runner> {
        std::fs::create_dir_all(root)
            .with_context(|| format!("{}: cannot create", root.display()))?;
        let path = RunLayout::new(root).manifest();
        let previous = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str::<Value>(&text)
                .ok()
                .filter(|v| v["format"] == RUN_FORMAT)
                .and_then(|v| serde_json::from_value(v["stages"].clone()).ok())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        };
        Ok(Runner {
            root: root.to_path_buf(),
            manifest,
            previous,
            stages: Vec::new(),
            force,
            out,
            ran: 0,
        })
    }

    fn save(&mut self) -> Result<()> {
        self.manifest["stages"] = serde_json::to_value(&self.stages)?;
        self.manifest["finished"] = json!(now_utc());
        let mut staged = Staged::new();
        write_json(
            &mut staged,
            &RunLayout::new(&self.root).manifest(),
            &self.manifest,
        )?;
        staged.commit()?;
        Ok(())
    }

    /// Runs (or reuses) one stage: `argv` for the subcommand, `inputs` the files it
    /// reads, `outputs` the folder or file it writes.
    fn stage(
        &mut self,
        name: &str,
        argv: Vec<String>,
        inputs: &[PathBuf],
        outputs: &Path,
    ) -> Result<()> {
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
            if !self.out.quiet {
                eprintln!("segmenta: {name}: inputs and parameters unchanged, reused");
            }
            // `seconds` stays the time the stage took when it ran.
            self.stages.push(StageRecord {
                reused: true,
                ..prev.clone()
            });
            return self.save();
        }
        if !self.out.quiet {
            eprintln!("segmenta: {name} …");
        }
        let t = Instant::now();
        let mut full = vec!["segmenta".to_string(), name.to_string()];
        full.extend(argv.iter().cloned());
        if self.out.quiet {
            full.push("--quiet".into());
        }
        let code = super::dispatch(&full).with_context(|| format!("stage `{name}` failed"))?;
        if code != ExitCode::SUCCESS {
            bail!("stage `{name}` failed");
        }
        let outs = files_under(outputs)?
            .iter()
            .map(|f| hash_file(f))
            .collect::<Result<Vec<_>>>()?;
        self.ran += 1;
        self.stages.push(StageRecord {
            name: name.into(),
            argv,
            fingerprint: fp,
            inputs: records,
            outputs: outs,
            seconds: t.elapsed().as_secs_f64(),
            reused: false,
        });
        self.save()
    }
}

fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (y, m, d) = segmenta::dates::civil_from_days((secs.div_euclid(86_400)) as i32);
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn backend_name(b: BackendArg) -> &'static str {
    match b {
        BackendArg::Auto => "auto",
        BackendArg::Gpu => "gpu",
        BackendArg::Cpu => "cpu",
    }
}

/// Checks the pipeline's parameters before any stage runs: the fixed k, if any.
fn check_k(a: &PipelineArgs) -> Result<Option<usize>> {
    match a.k.as_str() {
        "auto" => {
            super::sweep::parse_ks(&a.k_range)
                .map_err(|e| anyhow::anyhow!("invalid --k-range: {e}"))?;
            Ok(None)
        }
        k => Ok(Some(k.parse().ok().filter(|k| *k >= 1).ok_or_else(
            || anyhow::anyhow!("invalid --k `{k}` (rule: a number >= 1 or `auto`)"),
        )?)),
    }
}

/// The pipeline after the sources exist: features → clean → sweep → kmeans →
/// profile → report.
fn pipeline(
    runner: &mut Runner,
    sources: &Path,
    features_extra: Vec<String>,
    a: &PipelineArgs,
    fixed_k: Option<usize>,
) -> Result<PathBuf> {
    let lay = RunLayout::new(&runner.root);
    let seed = a.seed.to_string();
    let backend = backend_name(a.backend).to_string();
    let fdir = lay.stage("features");
    let mut argv = if sources.is_file() {
        vec!["--transactions".into(), p(sources)]
    } else {
        vec!["--input".into(), p(sources)]
    };
    argv.extend(features_extra);
    argv.extend(["--out".into(), p(&fdir)]);
    runner.stage("features", argv, &[sources.to_path_buf()], &fdir)?;

    let cdir = lay.stage("clean");
    let feat = fdir.join("features.parquet");
    runner.stage(
        "clean",
        vec![
            "--input".into(),
            p(&feat),
            "--out".into(),
            p(&cdir),
            "--seed".into(),
            seed.clone(),
        ],
        &[feat],
        &cdir,
    )?;
    let clean = lay.clean_parquet();

    let k: usize = match fixed_k {
        None => {
            let sdir = lay.stage("sweep");
            runner.stage(
                "sweep",
                vec![
                    "--input".into(),
                    p(&clean),
                    "--k".into(),
                    a.k_range.clone(),
                    "--n-init".into(),
                    a.n_init.to_string(),
                    "--silhouette-sample".into(),
                    a.silhouette_sample.to_string(),
                    "--backend".into(),
                    backend.clone(),
                    "--seed".into(),
                    seed.clone(),
                    "--out".into(),
                    p(&sdir),
                ],
                std::slice::from_ref(&clean),
                &sdir,
            )?;
            let text = std::fs::read_to_string(lay.sweep_json())?;
            let v: Value = serde_json::from_str(&text)?;
            v["recommended"]["k"]
                .as_u64()
                .context("sweep.json has no recommended k")? as usize
        }
        Some(k) => {
            // A k given by hand makes an old sweep stale.
            let _ = std::fs::remove_dir_all(lay.stage("sweep"));
            k
        }
    };

    let kdir = lay.stage("kmeans");
    runner.stage(
        "kmeans",
        vec![
            "--input".into(),
            p(&clean),
            "--k".into(),
            k.to_string(),
            "--n-init".into(),
            a.n_init.to_string(),
            "--backend".into(),
            backend.clone(),
            "--seed".into(),
            seed.clone(),
            "--out".into(),
            p(&kdir),
        ],
        std::slice::from_ref(&clean),
        &kdir,
    )?;

    let pdir = lay.stage("profile");
    let mut pargv = vec![
        "--features".into(),
        p(&clean),
        "--assignments".into(),
        p(&lay.assignments()),
        "--model".into(),
        p(&lay.model()),
        "--out".into(),
        p(&pdir),
    ];
    let mut pin = vec![clean.clone(), lay.assignments(), lay.model()];
    if sources.is_dir() {
        pargv.extend(["--sources".into(), p(sources)]);
        for t in ["transactions", "streaming"] {
            for e in ["parquet", "csv", "csv.gz"] {
                let f = sources.join(format!("{t}.{e}"));
                if f.exists() {
                    pin.push(f);
                }
            }
        }
    }
    runner.stage("profile", pargv, &pin, &pdir)?;

    // The report reads every stage; it is cheap, so it is always rendered.
    let t = Instant::now();
    let report_path = runner.root.join("report.html");
    runner.manifest["backend"] = std::fs::read_to_string(lay.model())
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .map_or(Value::Null, |m| m["kmeans"]["backend"].clone());
    runner.manifest["k"] = json!(k);
    runner.save()?;
    let data = ReportData::load(&runner.root)?;
    let mut staged = Staged::new();
    let mut f = staged.create(&report_path)?;
    std::io::Write::write_all(&mut f, report::html(&data).as_bytes())
        .with_context(|| format!("{}: cannot write", report_path.display()))?;
    drop(f);
    staged.commit()?;
    runner.stages.push(StageRecord {
        name: "report".into(),
        argv: vec![],
        fingerprint: String::new(),
        inputs: vec![],
        outputs: vec![hash_file(&report_path)?],
        seconds: t.elapsed().as_secs_f64(),
        reused: false,
    });
    runner.save()?;
    Ok(report_path)
}

fn versions() -> Value {
    json!({
        "segmenta": env!("CARGO_PKG_VERSION"),
        "datafusion": "55.2",
        "arrow": "59.3",
        "wgpu": "30",
    })
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn params(a: &PipelineArgs) -> Value {
    json!({
        "k": a.k, "k_range": a.k_range, "n_init": a.n_init,
        "silhouette_sample": a.silhouette_sample, "backend": backend_name(a.backend),
        "seed": a.seed, "force": a.force,
    })
}

fn finish(runner: &Runner, report_path: &Path, t: Instant) -> Result<ExitCode> {
    let reused = runner.stages.iter().filter(|s| s.reused).count();
    println!(
        "{} stage(s) run, {} reused, {:.1} s; manifest {}",
        runner.ran,
        reused,
        t.elapsed().as_secs_f64(),
        RunLayout::new(&runner.root).manifest().display()
    );
    println!("report: {}", report_path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run(a: RunArgs) -> Result<ExitCode> {
    let t = Instant::now();
    if !a.input.exists() {
        bail!(
            "{}: no such file or folder (rule: --input is a sources folder or a transactions file)",
            a.input.display()
        );
    }
    let manifest = json!({
        "format": RUN_FORMAT, "version": 1, "command": command_line(),
        "input": a.input, "params": params(&a.pipeline), "versions": versions(),
        "started": now_utc(),
    });
    let fixed_k = check_k(&a.pipeline)?;
    let mut runner = Runner::new(&a.out, manifest, a.pipeline.force, a.pipeline.output)?;
    let mut extra = Vec::new();
    if let Some(m) = &a.map {
        extra.extend(["--map".into(), m.clone()]);
    }
    if let Some(f) = &a.ts_format {
        extra.extend(["--ts-format".into(), f.clone()]);
    }
    if let Some(d) = &a.as_of {
        extra.extend(["--as-of".into(), d.clone()]);
    }
    let report_path = pipeline(&mut runner, &a.input, extra, &a.pipeline, fixed_k)?;
    finish(&runner, &report_path, t)
}

pub fn demo(a: DemoArgs) -> Result<ExitCode> {
    let t = Instant::now();
    let manifest = json!({
        "format": RUN_FORMAT, "version": 1, "command": command_line(),
        "input": a.out.join("sources"), "params": params(&a.pipeline), "versions": versions(),
        "mall": {"customers": a.customers, "months": a.months, "seed": a.mall_seed},
        "started": now_utc(),
    });
    let fixed_k = check_k(&a.pipeline)?;
    let mut runner = Runner::new(&a.out, manifest, a.pipeline.force, a.pipeline.output)?;
    let sources = a.out.join("sources");
    runner.stage(
        "generate",
        vec![
            "--customers".into(),
            a.customers.to_string(),
            "--months".into(),
            a.months.to_string(),
            "--seed".into(),
            a.mall_seed.to_string(),
            "--out".into(),
            p(&sources),
        ],
        &[],
        &sources,
    )?;
    let report_path = pipeline(&mut runner, &sources, Vec::new(), &a.pipeline, fixed_k)?;
    finish(&runner, &report_path, t)
}

pub fn report_cmd(a: ReportArgs) -> Result<ExitCode> {
    let data = ReportData::load(&a.run)?;
    let (text, ext) = match a.format {
        FormatArg::Html => (report::html(&data), "html"),
        FormatArg::Md => (report::markdown(&data), "md"),
        FormatArg::Json => (serde_json::to_string_pretty(&data.json())? + "\n", "json"),
    };
    let path = a.out.unwrap_or_else(|| a.run.join(format!("report.{ext}")));
    let mut staged = Staged::new();
    let mut f = staged.create(&path)?;
    std::io::Write::write_all(&mut f, text.as_bytes())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    drop(f);
    staged.commit()?;
    if !a.output.quiet {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
