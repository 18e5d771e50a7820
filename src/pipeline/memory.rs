//! The memory budget (`--memory-mib`) and the process's use of memory.
//!
//! The default budget is a share of the machine's memory: [`MEMORY_SHARE`] of it
//! (the smaller of the physical memory and the cgroup's limit, where one is set),
//! between [`MIN_DEFAULT_MIB`] and [`MAX_DEFAULT_MIB`]. On a 24 GiB workstation
//! that is 1,536 MiB. The features stage splits the customers into buckets that fit
//! it; the lifetime stage holds the lines of a group of customers at a time, and the
//! basket rules the lines of a group of segments, so that each fits it.

/// The share of the machine's memory that `--memory-mib` defaults to: one in
/// this many bytes.
pub const MEMORY_SHARE: u64 = 16;
/// The smallest default budget, MiB.
pub const MIN_DEFAULT_MIB: usize = 512;
/// The largest default budget, MiB: past it, more memory buys little speed.
pub const MAX_DEFAULT_MIB: usize = 8192;
/// The budget when the machine's memory cannot be read, MiB.
pub const FALLBACK_MIB: usize = 1024;
/// The smallest budget a stage accepts, MiB.
pub const MIN_MEMORY_MIB: usize = 64;

/// Checks a `--memory-mib`: at least [`MIN_MEMORY_MIB`].
pub fn check_memory_mib(mib: usize) -> crate::error::Result<()> {
    if mib < MIN_MEMORY_MIB {
        return Err(crate::error::Error::param(
            "--memory-mib",
            format!("{mib} is below {MIN_MEMORY_MIB}, the least a stage works in"),
        ));
    }
    Ok(())
}

/// Checks that a stage whose working memory beyond the customer × feature matrix
/// is `need` bytes (for `what`, e.g. `2000000 rows x 24 features`) fits a budget
/// of `mib` MiB: else one line naming the stage, the need and the budget that
/// would fit, before the stage starts.
pub fn require(stage: &str, what: &str, need: u64, mib: usize) -> crate::error::Result<()> {
    let need_mib = need.div_ceil(1 << 20);
    if need_mib > mib as u64 {
        return Err(crate::error::Error::param(
            "--memory-mib",
            format!(
                "{mib} MiB is too little for the {stage} stage: {what} need about {need_mib} MiB beyond the feature matrix (rule: a stage's working memory fits the budget; give --memory-mib {need_mib} or more)"
            ),
        ));
    }
    Ok(())
}

/// The default `--memory-mib`: [`MEMORY_SHARE`] of [`machine_memory_bytes`],
/// clamped to [`MIN_DEFAULT_MIB`]..=[`MAX_DEFAULT_MIB`], or [`FALLBACK_MIB`].
pub fn default_memory_mib() -> usize {
    match machine_memory_bytes() {
        Some(b) => ((b / MEMORY_SHARE) >> 20).clamp(MIN_DEFAULT_MIB as u64, MAX_DEFAULT_MIB as u64)
            as usize,
        None => FALLBACK_MIB,
    }
}

/// The memory this process may use, bytes: the physical memory (`MemTotal` of
/// `/proc/meminfo`), or the cgroup's limit where it is smaller.
pub fn machine_memory_bytes() -> Option<u64> {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| meminfo_total(&s))?;
    let limit = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|s| s.trim().parse::<u64>().ok())
    .min();
    Some(limit.map_or(total, |l| l.min(total)))
}

/// `MemTotal` of a `/proc/meminfo` text, bytes.
fn meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process's peak resident memory so far, bytes (`getrusage`'s `ru_maxrss`,
/// KiB on Linux), or `None` where it cannot be read.
pub fn peak_rss_bytes() -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            return Some(u.ru_maxrss.max(0) as u64 * 1024);
        }
        None
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Hands the memory the allocator holds freed back to the system (glibc keeps
/// the freed pages of every thread's arena otherwise, so that a stage run after
/// a many-threaded one starts from the earlier one's high-water mark). Called
/// between the stages of a run; a no-op where the allocator is not glibc's.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's own heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stage_that_needs_more_than_the_budget_says_what_would_fit() {
        assert!(require("clean", "10 rows x 2 features", 64 << 20, 64).is_ok());
        let e = require("clean", "2000000 rows x 24 features", (392 << 20) + 1, 256)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--memory-mib"), "{e}");
        assert!(
            e.contains("256 MiB is too little for the clean stage"),
            "{e}"
        );
        assert!(
            e.contains("2000000 rows x 24 features need about 393 MiB"),
            "{e}"
        );
        assert!(e.contains("give --memory-mib 393 or more"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn meminfo_total_reads_kib() {
        let text = "MemTotal:       24568328 kB\nMemFree:        1 kB\n";
        assert_eq!(meminfo_total(text), Some(24568328 * 1024));
        assert_eq!(meminfo_total("MemFree: 1 kB\n"), None);
    }

    #[test]
    fn default_is_a_share_within_bounds() {
        let d = default_memory_mib();
        assert!((MIN_DEFAULT_MIB..=MAX_DEFAULT_MIB).contains(&d));
        if let Some(b) = machine_memory_bytes() {
            let share = ((b / MEMORY_SHARE) >> 20) as usize;
            assert_eq!(d, share.clamp(MIN_DEFAULT_MIB, MAX_DEFAULT_MIB));
        }
    }
}
