//! `segmenta clean`: rules with reasons, nothing lost.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::Args;
use segmenta::pipeline::{self, CleanOptions};

use super::args::CleanArgs;
use super::common::{print_json, OutputArgs};

#[derive(Args, Debug)]
pub struct CleanCmd {
    /// Feature table (.parquet, .csv, .csv.gz), one row per customer.
    #[arg(long, short = 'i')]
    pub input: PathBuf,
    /// Output folder: clean.parquet, rejects.parquet, clean.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Id column [default: the config file's, else customer_id].
    #[arg(long)]
    pub id_col: Option<String>,
    /// Seed of DBSCAN's eps-auto sample [default: the config file's, else 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// The transforms outliers are judged on, as K-means's --transform (`run`
    /// passes its own) [default: the config file's, else auto].
    #[arg(long)]
    pub transform: Option<String>,
    /// A previous run's clean.json: apply its imputation values and outlier fences
    /// instead of fitting new ones on this table (`update` passes its previous run's).
    #[arg(long)]
    pub reuse_fitted: Option<PathBuf>,
    #[command(flatten)]
    pub clean: CleanArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

pub fn run(a: CleanCmd) -> Result<ExitCode> {
    let out = a.output;
    let t = Instant::now();
    let mut opts = CleanOptions::from(&a.clean);
    opts.transform.clone_from(&a.transform);
    opts.reuse.clone_from(&a.reuse_fitted);
    let r = pipeline::clean(&a.input, &opts, a.id_col.as_deref(), a.seed, &a.out)?;
    let secs = t.elapsed().as_secs_f64();
    if out.json {
        print_json(&r)?;
        return Ok(ExitCode::SUCCESS);
    }
    print!("{r}");
    println!("({secs:.2} s)");
    println!(
        "wrote {}, {} and {}",
        a.out.join("clean.parquet").display(),
        a.out.join("rejects.parquet").display(),
        a.out.join("clean.json").display()
    );
    Ok(ExitCode::SUCCESS)
}
