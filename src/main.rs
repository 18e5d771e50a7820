//! The `segmenta` binary: parse arguments, run, print the error chain once, exit.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, which turns `segmenta … | head` into a panic in
    // println!; restore the default so a closed pipe ends the process quietly, as
    // other command-line tools do.
    #[cfg(unix)]
    // SAFETY: called before any thread starts; setting a signal's disposition to its
    // default has no other effect.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("segmenta: error: {err:#}");
            cli::exit_code_for(&err)
        }
    }
}
