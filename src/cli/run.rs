//! `segmenta run`, `segmenta demo` and `segmenta report`: the whole pipeline into a
//! run folder (every stage's options, grouped by stage in `--help`), and the
//! report of any folder of stage outputs.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, defaults, KChoice, PipelineOptions, RunOutcome, RunSource};
use segmenta::report::{self, Format};

use super::args::{
    CleanArgs, FeaturesArgs, FitArgs, LifetimeArgs, ProfileArgs, ReadArgs, StabilityArgs, SweepArgs,
};
use super::common::{print_json, OutputArgs};
use super::generate::MallArgs;

/// Every option of the stages `run` and `demo` chain.
#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Segments: a number, or `auto` to sweep --k-range and take the recommended k.
    // Parsed after clap, so that a bad k is a bad-input error (exit 1) naming it.
    #[arg(long, short = 'k', default_value = "auto")]
    pub k: String,
    /// Seed for every random choice.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Redo every stage even when its inputs are unchanged.
    #[arg(long)]
    pub force: bool,
    /// Depth of the surrogate decision tree stored in the model. 0: no tree.
    #[arg(long, default_value_t = defaults::DEFAULT_SURROGATE_DEPTH)]
    pub surrogate_depth: usize,
    #[command(flatten)]
    pub stability: StabilityArgs,
    #[command(flatten)]
    pub sweep: SweepArgs,
    #[command(flatten)]
    pub features: FeaturesArgs,
    #[command(flatten)]
    pub clean: CleanArgs,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub lifetime: LifetimeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl PipelineArgs {
    pub fn options(&self) -> Result<PipelineOptions> {
        let k: KChoice = self.k.parse().map_err(|_| {
            anyhow::anyhow!("invalid --k `{}` (rule: a number >= 1 or `auto`)", self.k)
        })?;
        let features: segmenta::pipeline::FeaturesOptions = (&self.features).into();
        Ok(PipelineOptions {
            // The run's one budget holds for the lifetime stage too.
            lifetime: pipeline::LifetimeOptions {
                memory_mib: features.memory_mib,
                ..(&self.lifetime).into()
            },
            features: features.clone(),
            clean: (&self.clean).into(),
            read: (&self.read).into(),
            k,
            sweep: (&self.sweep).into(),
            fit: (&self.fit).into(),
            surrogate_depth: self.surrogate_depth,
            stability_resamples: self.stability.stability_resamples,
            stability_sample: self.stability.stability_sample,
            profile: pipeline::ProfileOptions {
                memory_mib: features.memory_mib,
                ..(&self.profile).into()
            },
            seed: self.seed,
        })
    }
}

#[derive(Args, Debug, Clone)]
pub struct RunCmd {
    /// Raw sources: a folder (transactions, customers, visits, … as in
    /// docs/architecture.md) or one transactions file.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Run folder: every stage's output, run.json and report.html.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug, Clone)]
pub struct DemoCmd {
    /// Run folder (the mall goes into its `sources/`).
    #[arg(long, short = 'o', default_value = "demo-run")]
    pub out: PathBuf,
    /// Months of history (a shorter history than `generate`'s 12 keeps the demo
    /// quick).
    #[arg(long, default_value_t = 6)]
    pub months: u32,
    /// Seed of the generated mall (--seed seeds the pipeline).
    #[arg(long, default_value_t = defaults::DEFAULT_MALL_SEED)]
    pub mall_seed: u64,
    #[command(flatten)]
    pub mall: MallArgs,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

#[derive(Args, Debug, Clone)]
pub struct UpdateCmd {
    /// Last month's run folder (from `run`, `demo` or `update`): its model, scaler,
    /// cleaning values, segment ids and persona names are carried forward.
    #[arg(long)]
    pub previous: PathBuf,
    /// This month's raw sources: a folder or one transactions file.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// The new run folder.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Fit new imputation values and outlier fences instead of last run's.
    #[arg(long)]
    pub refit_clean: bool,
    /// Fit a new scaler instead of last run's (the drift check says when).
    #[arg(long)]
    pub refit_scaler: bool,
    /// A new segment continues the previous one it is paired with when their
    /// centres are closer than this share of the distance from that previous
    /// centre to its nearest neighbour; otherwise it is new.
    #[arg(long, default_value_t = segmenta::kmeans::matching::DEFAULT_MAX_SHIFT)]
    pub max_shift: f64,
    /// Stop when fewer than this share of the previous run's customers are in
    /// the new sources (another mall's data, or renumbered ids); 0 proceeds.
    #[arg(long, default_value_t = segmenta::pipeline::update::DEFAULT_MIN_OVERLAP)]
    pub min_overlap: f64,
    /// Every option of `run`; --k auto (the default) keeps last run's number of
    /// segments, and without --since the features cover last run's window length.
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

pub fn update(a: UpdateCmd) -> Result<ExitCode> {
    let t = Instant::now();
    let out = a.pipeline.output;
    let opts = pipeline::UpdateOptions {
        pipeline: a.pipeline.options()?,
        refit_clean: a.refit_clean,
        refit_scaler: a.refit_scaler,
        max_shift: a.max_shift,
        min_overlap: a.min_overlap,
    };
    let r = pipeline::update(
        &a.previous,
        &RunSource::Sources(a.input.clone()),
        &a.out,
        &opts,
        command_line(),
        a.pipeline.force,
        &out.term(),
    )?;
    if !out.json && !out.quiet {
        if let Ok(m) = segmenta::artefact::read::<pipeline::MigrationReport>(
            &pipeline::RunLayout::new(&a.out).migration_json(),
        ) {
            let s = &m.states;
            println!(
                "{} -> {}: {} stayed, {} moved, {} lapsed, {} new, {} gone",
                m.previous_as_of,
                m.as_of,
                s["stayed"],
                s["moved"],
                s["lapsed"],
                s["new"],
                s["gone"]
            );
            for c in m.segments.iter().filter(|c| c.status != "kept") {
                println!("  segment {} is {}", c.segment, c.status);
            }
        }
    }
    finish(&r, out, t)
}

#[derive(Args, Debug, Clone)]
pub struct LifetimeCmd {
    /// assignments.parquet of a fit: the customers and their segments.
    #[arg(long, short = 'a')]
    pub assignments: PathBuf,
    /// The features stage's kept tables (RUN/features/tables); transactions is read.
    #[arg(long)]
    pub tables: PathBuf,
    /// The end of the calibration period (YYYY-MM-DD): the features' as-of.
    #[arg(long)]
    pub as_of: String,
    /// Id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// Output folder: customers.parquet and lifetime.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Memory budget, in MiB (default: a sixteenth of the machine's memory, 512 to
    /// 8192): the transaction lines of as many customers as fit it are held at once.
    #[arg(long, default_value_t = segmenta::pipeline::defaults::default_memory_mib())]
    pub memory_mib: usize,
    #[command(flatten)]
    pub lifetime: LifetimeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl LifetimeCmd {
    pub fn inputs(&self) -> pipeline::LifetimeInputs {
        pipeline::LifetimeInputs {
            assignments: self.assignments.clone(),
            tables: self.tables.clone(),
            as_of: self.as_of.clone(),
            id_col: self.id_col.clone(),
        }
    }
}

pub fn lifetime(a: LifetimeCmd) -> Result<ExitCode> {
    let out = a.output;
    let opts = pipeline::LifetimeOptions {
        memory_mib: a.memory_mib,
        ..(&a.lifetime).into()
    };
    let r = pipeline::lifetime(&a.inputs(), &opts, &a.out, &out.term())?;
    if out.json {
        return print_json(&r).map(|_| ExitCode::SUCCESS);
    }
    if let Some(b) = &r.bgnbd {
        let p = b.params;
        println!(
            "BG/NBD on {} customers: r {:.4}, alpha {:.4} days, a {:.4}, b {:.4}",
            b.customers, p.r, p.alpha, p.a, p.b
        );
    }
    if let Some(g) = &r.gamma_gamma {
        let p = g.params;
        println!(
            "Gamma-Gamma on {} repeat customers: p {:.4}, q {:.4}, gamma {:.4}",
            g.customers, p.p, p.q, p.gamma
        );
    }
    for s in &r.segments {
        println!(
            "  segment {:>3}: {:>8} customers, P(alive) {}, churn risk {}, expected purchases in {} days {:.0}",
            s.segment,
            s.customers,
            s.mean_p_alive.map_or("-".into(), |v| format!("{v:.3}")),
            s.churn_risk.map_or("-".into(), |v| format!("{:.1}%", 100.0 * v)),
            r.horizon_days,
            s.expected_purchases
        );
    }
    for n in &r.notes {
        println!("note: {n}");
    }
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(Args, Debug, Clone)]
pub struct MigrateCmd {
    /// The earlier run folder.
    #[arg(long)]
    pub previous: PathBuf,
    /// The later run folder (its K-means warm-started from the earlier one).
    #[arg(long)]
    pub run: PathBuf,
    /// Output folder: migration.parquet and migration.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn migrate(a: MigrateCmd) -> Result<ExitCode> {
    let out = a.output;
    let r = pipeline::migrate(&a.previous, &a.run, &a.out, &out.term())?;
    if out.json {
        return print_json(&r).map(|_| ExitCode::SUCCESS);
    }
    let s = &r.states;
    println!(
        "{} -> {}: {} stayed, {} moved, {} lapsed, {} new, {} gone",
        r.previous_as_of, r.as_of, s["stayed"], s["moved"], s["lapsed"], s["new"], s["gone"]
    );
    println!("wrote {}", a.out.display());
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Html,
    Md,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct ReportCmd {
    /// A run folder, or any folder holding stage outputs (profile.json at least),
    /// each in its stage folder (profile/, kmeans/, …) or side by side.
    #[arg(long, short = 'i', visible_alias = "run")]
    pub input: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "html")]
    pub format: FormatArg,
    /// Output file [default: INPUT/report.html, .md or .json].
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn finish(r: &RunOutcome, out: OutputArgs, t: Instant) -> Result<ExitCode> {
    if out.json {
        return print_json(&serde_json::json!({
            "command": "run", "ran": r.ran, "reused": r.reused, "k": r.k,
            "backend": r.backend, "manifest": r.manifest, "report": r.report,
            "seconds": t.elapsed().as_secs_f64(),
        }))
        .map(|_| ExitCode::SUCCESS);
    }
    println!(
        "{} stage(s) run, {} reused, {:.1} s; manifest {}",
        r.ran,
        r.reused,
        t.elapsed().as_secs_f64(),
        r.manifest.display()
    );
    println!("report: {}", r.report.display());
    Ok(ExitCode::SUCCESS)
}

fn chain(source: RunSource, out_dir: &std::path::Path, p: &PipelineArgs) -> Result<ExitCode> {
    let t = Instant::now();
    let out = p.output;
    let opts = p.options()?;
    let r = pipeline::run_pipeline(
        &source,
        out_dir,
        &opts,
        command_line(),
        p.force,
        &out.term(),
    )?;
    finish(&r, out, t)
}

pub fn run(a: RunCmd) -> Result<ExitCode> {
    chain(RunSource::Sources(a.input.clone()), &a.out, &a.pipeline)
}

pub fn demo(a: DemoCmd) -> Result<ExitCode> {
    let mall = a.mall.params(a.months, a.mall_seed);
    chain(RunSource::Generate(mall), &a.out, &a.pipeline)
}

pub fn report(a: ReportCmd) -> Result<ExitCode> {
    let format = match a.format {
        FormatArg::Html => Format::Html,
        FormatArg::Md => Format::Markdown,
        FormatArg::Json => Format::Json,
    };
    let path = a
        .out
        .unwrap_or_else(|| a.input.join(format!("report.{}", format.extension())));
    report::write(&a.input, format, &path)?;
    if !a.output.quiet {
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
