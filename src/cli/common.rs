//! Output flags, the terminal [`Observer`] (progress bar, warnings) and summary
//! printing shared by the subcommands.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use segmenta::pipeline::Observer;

/// Output verbosity shared by every subcommand.
#[derive(Args, Debug, Clone, Copy)]
#[command(next_help_heading = "Output")]
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

    /// The observer that reports a library call on this terminal.
    pub fn term(&self) -> Term {
        Term {
            out: *self,
            bar: Mutex::new(None),
        }
    }
}

/// Reports on stderr: steps and warnings unless quiet, details when verbose, and
/// a progress bar for work that lasts over a second when stderr is a terminal.
pub struct Term {
    out: OutputArgs,
    bar: Mutex<Option<(ProgressBar, Instant, bool)>>,
}

impl Observer for Term {
    fn step(&self, what: &str) {
        if !self.out.quiet {
            eprintln!("segmenta: {what}");
        }
    }

    fn progress(&self, what: &str, pos: u64, len: u64) {
        if self.out.quiet || !std::io::stderr().is_terminal() {
            return;
        }
        let Ok(mut guard) = self.bar.lock() else {
            return;
        };
        let (bar, start, shown) = guard.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}")
                    .expect("static template")
                    .progress_chars("=> "),
            );
            (bar, Instant::now(), false)
        });
        if !*shown && start.elapsed() > Duration::from_secs(1) {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            *shown = true;
        }
        bar.set_length(len);
        bar.set_position(pos);
        bar.set_message(what.to_string());
    }

    fn finish(&self) {
        if let Ok(mut guard) = self.bar.lock() {
            if let Some((bar, _, _)) = guard.take() {
                bar.finish_and_clear();
            }
        }
    }

    fn warn(&self, msg: &str) {
        self.out.warn(msg);
    }

    fn info(&self, msg: &str) {
        if self.out.verbose && !self.out.quiet {
            eprintln!("segmenta: {msg}");
        }
    }
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
