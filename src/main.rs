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
    // Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid" on every instance
    // when it is unset (headless servers, CI). segmenta never opens a window; give
    // the driver a directory so the first line a user sees is ours. Done before any
    // thread starts.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    // glibc gives each thread that allocates its own arena (up to 8 a core), and
    // memory freed in one is not reused by another: the bucket threads of the
    // features stage then hold their peaks side by side (at 500k customers with
    // 52 buckets, 1.10 GB peak RSS against 0.70 GB with two arenas, no slower;
    // BENCHMARKS.md). Two arenas, unless the user set MALLOC_ARENA_MAX.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called before any thread starts; mallopt only sets a tunable.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
    // The features stage keeps a file open per customer bucket while it
    // partitions a table (up to 1,024): the soft limit on open files is raised to
    // the hard one (at most 65,536), as a process may, where it is lower.
    #[cfg(unix)]
    // SAFETY: reads and sets this process's own limit; no memory is shared.
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max.min(65_536).max(r.rlim_cur);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
    match cli::run() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("segmenta: error: {err:#}");
            cli::exit_code_for(&err)
        }
    }
}
