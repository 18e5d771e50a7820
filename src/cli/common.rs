//! Flags shared by several subcommands, the progress bar and summary printing.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use segmenta::gpu::{GpuContext, GpuOptions};
use segmenta::io::{FeatureTable, ReadSpec};
use segmenta::kmeans::{open_gpu, BackendChoice, CpuLloyd, GpuLloyd, LloydBackend};
use segmenta::Matrix;

/// How to read a customer feature table.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// Feature table: .parquet, .csv or .csv.gz, one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Id column (integer or string).
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// Feature columns, comma-separated [default: every numeric column but the id].
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// Columns to one-hot encode (comma-separated), e.g. gender.
    #[arg(long, value_delimiter = ',')]
    pub categorical: Vec<String>,
    /// Column of non-negative sample weights.
    #[arg(long)]
    pub weight_col: Option<String>,
    /// Make a repeated id an error instead of a warning.
    #[arg(long)]
    pub strict: bool,
}

impl InputArgs {
    pub fn spec(&self) -> ReadSpec {
        ReadSpec {
            id_col: self.id_col.clone(),
            columns: self.columns.clone(),
            categorical: self.categorical.clone(),
            weight_col: self.weight_col.clone(),
            strict_ids: self.strict,
            levels: None,
        }
    }
}

/// Output verbosity shared by every subcommand.
#[derive(Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// No progress bar and no warnings on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print a machine-readable JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Say more on stderr (backend details, timings).
    #[arg(long, short = 'v')]
    pub verbose: bool,
}

impl OutputArgs {
    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("segmenta: warning: {msg}");
        }
    }

    pub fn info(&self, msg: &str) {
        if self.verbose && !self.quiet {
            eprintln!("segmenta: {msg}");
        }
    }
}

/// Warns about repeated ids (an error under --strict is raised by the reader).
pub fn warn_duplicates(out: &OutputArgs, t: &FeatureTable) {
    if let Some(row) = t.first_duplicate {
        out.warn(&format!(
            "{}: {} row(s) repeat an earlier id in `{}`, first at data row {} (id {}); use --strict to reject",
            t.path.display(),
            t.duplicate_ids,
            t.id_col,
            row + 1,
            t.ids.display(row)
        ));
    }
}

/// Stages and commits a clustering command's two outputs together:
/// `DIR/assignments.parquet` (the id, `segment`, and one more column) and
/// `DIR/model.json`. Returns their paths.
pub fn write_run(
    dir: &std::path::Path,
    table: &segmenta::io::FeatureTable,
    segments: arrow::array::Int32Array,
    extra: (&str, arrow::array::ArrayRef),
    model: &segmenta::model::Model,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let assignments = dir.join("assignments.parquet");
    let model_path = dir.join("model.json");
    let mut staged = segmenta::io::Staged::new();
    segmenta::io::write_table(
        &mut staged,
        &assignments,
        vec![
            (table.id_col.as_str(), table.ids.to_arrow()),
            ("segment", std::sync::Arc::new(segments)),
            extra,
        ],
    )?;
    segmenta::io::write_json(&mut staged, &model_path, model)?;
    staged.commit()?;
    Ok((assignments, model_path))
}

/// Prints segment sizes and the files written (the text summary's tail).
pub fn print_sizes(sizes: &[u64], n: usize, written: &[&std::path::Path]) {
    for (c, s) in sizes.iter().enumerate() {
        println!(
            "  segment {c}: {s} rows ({:.1}%)",
            100.0 * *s as f64 / n as f64
        );
    }
    let names: Vec<String> = written.iter().map(|p| p.display().to_string()).collect();
    println!("wrote {}", names.join(" and "));
}

/// A progress bar on stderr that appears only for work that lasts over a second,
/// and never when quiet or when stderr is not a terminal.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    enabled: bool,
    shown: bool,
}

impl Progress {
    pub fn new(out: &OutputArgs, len: u64, what: &str) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        Progress {
            bar,
            start: Instant::now(),
            enabled: !out.quiet && std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    pub fn set(&mut self, pos: u64, len: u64, msg: impl Into<String>) {
        if self.enabled && !self.shown && self.start.elapsed() > Duration::from_secs(1) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_length(len);
        self.bar.set_position(pos);
        self.bar.set_message(msg.into());
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Backend flags shared by the clustering subcommands.
#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// auto: a hardware GPU if wgpu finds one, else the CPU; gpu: any GPU adapter,
    /// software (lavapipe) included, with a warning; cpu: the CPU.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Pick the GPU adapter whose name contains this text.
    #[arg(long, env = "SEGMENTA_ADAPTER")]
    pub adapter: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    Auto,
    Gpu,
    Cpu,
}

impl BackendArgs {
    pub fn choice(&self) -> BackendChoice {
        match self.backend {
            BackendArg::Auto => BackendChoice::Auto,
            BackendArg::Gpu => BackendChoice::Gpu,
            BackendArg::Cpu => BackendChoice::Cpu,
        }
    }

    pub fn gpu_options(&self) -> GpuOptions {
        GpuOptions {
            adapter: self.adapter.clone(),
            ..GpuOptions::default()
        }
    }

    /// Opens the GPU the flags ask for, telling the user what happened.
    pub fn open(&self, out: &OutputArgs) -> anyhow::Result<Option<GpuContext>> {
        let (ctx, note) = open_gpu(self.choice(), &self.gpu_options())?;
        if let Some(n) = note {
            if self.backend == BackendArg::Auto {
                out.info(&n);
            } else {
                out.warn(&n);
            }
        }
        Ok(ctx)
    }
}

/// The backend a command runs on, owning its per-run state.
pub enum Engine<'a> {
    Cpu(CpuLloyd<'a>),
    Gpu(Box<GpuLloyd<'a>>),
}

impl<'a> Engine<'a> {
    /// The GPU backend when a context is open (falling back to the CPU under auto
    /// when the data does not fit the GPU kernel), else the CPU backend.
    pub fn new(
        ctx: Option<&'a GpuContext>,
        args: &BackendArgs,
        out: &OutputArgs,
        x: &'a Matrix,
        w: Option<&'a [f32]>,
    ) -> anyhow::Result<Engine<'a>> {
        let engine = match ctx {
            Some(ctx) => match GpuLloyd::new(ctx, x, w) {
                Ok(g) => {
                    if g.streaming() {
                        out.info(&format!(
                            "the data does not fit in device memory: streaming {} rows from host memory in {} chunks every iteration",
                            x.n(),
                            g.chunks()
                        ));
                    } else {
                        out.info(&format!(
                            "uploaded {} rows in {} chunk(s) in {:.3} s",
                            x.n(),
                            g.chunks(),
                            g.upload_seconds()
                        ));
                    }
                    Engine::Gpu(Box::new(g))
                }
                Err(e) if args.backend == BackendArg::Auto => {
                    out.warn(&format!("{e}; using the CPU"));
                    Engine::Cpu(CpuLloyd::new(x, w))
                }
                Err(e) => return Err(e.into()),
            },
            None => Engine::Cpu(CpuLloyd::new(x, w)),
        };
        if !out.quiet {
            eprintln!("segmenta: backend: {}", engine.backend_ref().name());
        }
        Ok(engine)
    }

    fn backend_ref(&self) -> &dyn LloydBackend {
        match self {
            Engine::Cpu(b) => b,
            Engine::Gpu(b) => b.as_ref(),
        }
    }

    pub fn backend(&mut self) -> &mut dyn LloydBackend {
        match self {
            Engine::Cpu(b) => b,
            Engine::Gpu(b) => b.as_mut(),
        }
    }
}
