//! The `segmenta` binary: parse arguments, run, print the error chain once, exit.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("segmenta: error: {err:#}");
            cli::exit_code_for(&err)
        }
    }
}
