//! `segmenta profile`: what each segment is — sizes, revenue shares, lifts,
//! persona names, the surrogate tree's rules, basket rules and SHOPPING x STREAMING.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, ProfileInputs, ProfileOptions};

use super::args::ProfileArgs;
use super::common::{print_json, OutputArgs};

#[derive(Args, Debug, Clone)]
pub struct ProfileCmd {
    /// The feature table the segments were fitted on (e.g. clean/clean.parquet).
    #[arg(
        long,
        short = 'i',
        visible_alias = "features",
        required_unless_present = "print_personas"
    )]
    pub input: Option<PathBuf>,
    /// assignments.parquet from `segmenta kmeans` or `segmenta dbscan`.
    #[arg(long, short = 'a', required_unless_present = "print_personas")]
    pub assignments: Option<PathBuf>,
    /// model.json with the surrogate tree [default: model.json beside the assignments, if any].
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
    /// The kept canonical tables the features stage wrote (RUN/features/tables:
    /// transactions.parquet, streaming.parquet) for the basket rules and SHOPPING x
    /// STREAMING.
    #[arg(long)]
    pub tables: Option<PathBuf>,
    /// Id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// lifetime.json from `segmenta lifetime`: P(alive), churn risk and CLV per
    /// segment.
    #[arg(long)]
    pub lifetime: Option<PathBuf>,
    /// migration.json from `segmenta migrate`: what changed since the previous run.
    #[arg(long)]
    pub migration: Option<PathBuf>,
    /// The previous run's profile.json: segments that kept their id keep their
    /// persona name.
    #[arg(long)]
    pub previous_profile: Option<PathBuf>,
    /// Print the built-in persona rules and exit.
    #[arg(long)]
    pub print_personas: bool,
    /// Output folder: profile.json.
    #[arg(long, short = 'o', required_unless_present = "print_personas")]
    pub out: Option<PathBuf>,
    /// Memory budget, in MiB (default: a sixteenth of the machine's memory, 512 to
    /// 8192): the purchase lines of as many segments as fit it are held at once.
    #[arg(long, default_value_t = segmenta::pipeline::defaults::default_memory_mib())]
    pub memory_mib: usize,
    #[command(flatten)]
    pub profile: ProfileArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl ProfileCmd {
    pub fn options(&self) -> ProfileOptions {
        ProfileOptions {
            memory_mib: self.memory_mib,
            ..(&self.profile).into()
        }
    }

    pub fn inputs(&self) -> Option<ProfileInputs> {
        Some(ProfileInputs {
            features: self.input.clone()?,
            assignments: self.assignments.clone()?,
            model: self.model.clone(),
            tables: self.tables.clone(),
            id_col: self.id_col.clone(),
            lifetime: self.lifetime.clone(),
            migration: self.migration.clone(),
            previous_profile: self.previous_profile.clone(),
        })
    }
}

pub fn run(a: ProfileCmd) -> Result<ExitCode> {
    if a.print_personas {
        print!("{}", segmenta::profile::DEFAULT_PERSONAS);
        return Ok(ExitCode::SUCCESS);
    }
    let out = a.output;
    let inputs = a.inputs().expect("clap requires --input and --assignments");
    let dir = a.out.clone().expect("clap requires --out");
    let opts = a.options();
    let profile = pipeline::profile(&inputs, &opts, &dir, &out.term())?;
    if out.json {
        print_json(&profile)?;
    } else {
        print!("{profile}");
        println!("wrote {}", dir.join("profile.json").display());
    }
    Ok(ExitCode::SUCCESS)
}
