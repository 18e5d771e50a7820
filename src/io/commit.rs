//! One writer per output folder, and outputs that appear together or not at all.
//!
//! - **The lock.** A writer holds an OS lock (`flock`) on `<dir>/.segmenta.lock`
//!   from the moment it stages its first output until it has committed ([`hold`]);
//!   a second process asking for the same folder is refused with a clear error. The
//!   kernel drops the lock when the process exits or dies, so a crash never leaves
//!   a folder locked. Within one process the lock is re-entrant (a run holds its
//!   folder while each stage stages into it).
//! - **The journal.** A command's outputs are written to temporaries first. To
//!   commit, the list of renames (temporary → final name) is written to
//!   `<dir>/.segmenta-journal.json` and synced, then the renames are done, then the
//!   journal is removed. A process killed between two renames leaves the journal:
//!   the next writer or reader of the folder finishes the renames ([`recover`]),
//!   as SQLite replays its journal, so no reader ever sees the new assignments
//!   beside the old model.
//! - **Leftovers.** Temporaries of a killed run that never reached its journal are
//!   removed when the next writer takes the folder.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name inside an output folder.
pub const LOCK_FILE: &str = ".segmenta.lock";
/// The journal's name inside an output folder.
pub const JOURNAL_FILE: &str = ".segmenta-journal.json";
/// Temporaries are named `.segmenta-XXXXXX.tmp`.
const TMP_PREFIX: &str = ".segmenta-";
const TMP_SUFFIX: &str = ".tmp";

/// The renames of one commit, relative to the folder holding the journal.
#[derive(Serialize, Deserialize)]
struct Journal {
    format: String,
    renames: Vec<(PathBuf, PathBuf)>,
}

struct Held {
    count: usize,
    _file: File,
}

/// This process's held folders (a poisoned lock still holds a valid map).
fn registry() -> MutexGuard<'static, HashMap<PathBuf, Held>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, Held>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashMap::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Whether this process holds `dir` (a canonical path).
fn mine(dir: &Path) -> bool {
    registry().contains_key(dir)
}

/// A held lock on an output folder; released when the last guard of this process
/// for the folder is dropped.
pub struct Lock {
    dir: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let mut held = registry();
        if let Some(h) = held.get_mut(&self.dir) {
            h.count -= 1;
            if h.count == 0 {
                held.remove(&self.dir);
            }
        }
    }
}

/// Whether another guard of this process than the caller's holds `dir`.
pub(crate) fn held_elsewhere(dir: &Path) -> bool {
    let Ok(k) = dir.canonicalize() else {
        return false;
    };
    registry().get(&k).is_some_and(|h| h.count > 1)
}

/// The folder's canonical name, so that `out` and `./out` are one lock.
fn key(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    dir.canonicalize().map_err(|e| Error::io(dir, e))
}

/// Tries the OS lock on `dir`'s lock file: `Ok(None)` when another process holds it.
fn try_flock(dir: &Path) -> Result<Option<File>> {
    let path = dir.join(LOCK_FILE);
    // flock needs no write access: an existing lock file is opened read-only, so
    // another user's folder lock can be tested too.
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?,
        Err(e) => return Err(Error::io(&path, e)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(None),
                _ => Err(Error::io(&path, e)),
            };
        }
    }
    Ok(Some(file))
}

/// Takes `dir` (created if missing) for writing: the OS lock, then the recovery of
/// an interrupted commit and the removal of a killed run's temporaries, in `dir` and
/// (finishing their commits first) in its subfolders.
pub fn hold(dir: &Path) -> Result<Lock> {
    hold_with(dir, 3)
}

/// [`hold`] for a folder that receives one output file beside unrelated ones (a
/// `predict -o FILE`): leftovers are removed in the folder itself only.
pub fn hold_shallow(dir: &Path) -> Result<Lock> {
    hold_with(dir, 0)
}

fn hold_with(dir: &Path, depth: usize) -> Result<Lock> {
    let dir = key(dir)?;
    let mut held = registry();
    if let Some(h) = held.get_mut(&dir) {
        h.count += 1;
        return Ok(Lock { dir });
    }
    let busy = |d: &Path| {
        Error::Source {
        path: d.to_path_buf(),
        message: "another segmenta process is writing to this folder (rule: one writer per output folder; wait for it to end, or choose another --out)".into(),
    }
    };
    // A run holds its folder while its stages write one level below.
    for up in dir.ancestors().skip(1).take(2) {
        // Another user's folder (EACCES) is not a writer of ours.
        if up.join(LOCK_FILE).exists()
            && !held.contains_key(up)
            && matches!(try_flock(up), Ok(None))
        {
            return Err(busy(up));
        }
    }
    let Some(file) = try_flock(&dir)? else {
        return Err(busy(&dir));
    };
    held.insert(
        dir.clone(),
        Held {
            count: 1,
            _file: file,
        },
    );
    drop(held);
    let lock = Lock { dir: dir.clone() };
    recover(&dir.join(LOCK_FILE))?;
    replay(&dir)?;
    remove_leftovers(&dir, 0, depth)?;
    Ok(lock)
}

/// Writes the journal of `renames` (absolute paths) into `dir`, does the renames and
/// removes the journal. The caller holds `dir`'s lock and has synced every temporary.
pub(crate) fn commit(dir: &Path, renames: &[(PathBuf, PathBuf)]) -> Result<()> {
    let dir = key(dir)?;
    // The parent resolved, never the file itself (it may be a link, or not exist
    // yet); relative to the root when under it, else absolute.
    let rel = |p: &Path| -> Result<PathBuf> {
        let parent = match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => q,
            _ => Path::new("."),
        };
        let parent = parent.canonicalize().map_err(|e| Error::io(parent, e))?;
        let name = p.file_name().ok_or_else(|| Error::Source {
            path: p.to_path_buf(),
            message: "an output path must name a file".into(),
        })?;
        let abs = parent.join(name);
        Ok(abs.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(abs))
    };
    let journal = Journal {
        format: "segmenta-journal".into(),
        renames: renames
            .iter()
            .map(|(t, f)| Ok((rel(t)?, rel(f)?)))
            .collect::<Result<_>>()?,
    };
    let path = dir.join(JOURNAL_FILE);
    let tmp = dir.join(format!("{JOURNAL_FILE}{TMP_SUFFIX}"));
    let bytes = serde_json::to_vec(&journal).map_err(|e| Error::io(&path, e.into()))?;
    {
        use std::io::Write;
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&bytes).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
    sync_dir(&dir);
    apply(&dir, &journal, true)?;
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    sync_dir(&dir);
    Ok(())
}

/// Finishes the renames of the journal in `dir`, if there is one.
fn replay(dir: &Path) -> Result<()> {
    let path = dir.join(JOURNAL_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let journal: Journal = serde_json::from_slice(&text).map_err(|e| Error::Source {
        path: path.clone(),
        message: format!("unreadable commit journal ({e}) (rule: remove it by hand only if you know the commit it records)"),
    })?;
    apply(dir, &journal, false)?;
    std::fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
    sync_dir(dir);
    Ok(())
}

/// Renames what is still to rename. In a live commit every temporary must be there;
/// in a replay, one already gone was renamed before the kill (its final file is).
fn apply(dir: &Path, journal: &Journal, live: bool) -> Result<()> {
    // Fault injection for the tests: die after this many renames, as a kill would.
    let die_after: Option<usize> = std::env::var("SEGMENTA_TEST_DIE_AFTER_RENAMES")
        .ok()
        .and_then(|v| v.parse().ok());
    for (i, (tmp, fin)) in journal.renames.iter().enumerate() {
        if die_after == Some(i) {
            std::process::abort();
        }
        let (tmp, fin) = (dir.join(tmp), dir.join(fin));
        if tmp.exists() {
            std::fs::rename(&tmp, &fin).map_err(|e| Error::Source {
                path: fin.clone(),
                message: format!(
                    "cannot rename {} into place ({e}) (rule: a commit's journal {} is finished before the folder is used; fix the cause and rerun, or remove the journal and the folder's outputs)",
                    tmp.display(),
                    dir.join(JOURNAL_FILE).display()
                ),
            })?;
        } else if live || !fin.exists() {
            return Err(Error::Source {
                path: fin.clone(),
                message: format!(
                    "the staged output {} is missing (rule: a commit renames every output it staged)",
                    tmp.display()
                ),
            });
        }
    }
    Ok(())
}

/// Before reading a file in `dir`: finishes an interrupted commit in `dir` or up to
/// three folders above it (stage outputs sit below the folder that journals them,
/// a kept table's files three levels below a run's folder), when
/// no writer holds the folder; refuses to read while one is committing there.
pub fn recover(file: &Path) -> Result<()> {
    for dir in file.ancestors().skip(1).take(4) {
        let d = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if !d.join(JOURNAL_FILE).exists() {
            continue;
        }
        let d = key(d)?;
        if mine(&d) {
            continue;
        }
        match try_flock(&d)? {
            Some(_file) => replay(&d)?,
            None => {
                return Err(Error::Source {
                    path: d,
                    message: "another segmenta process is committing its outputs here (rule: read a folder once its writer has ended)".into(),
                })
            }
        }
    }
    Ok(())
}

/// Removes `.segmenta-*.tmp` files under `dir`, down to `max` levels below it: in
/// each subfolder that has a lock file, only while holding that lock, and after
/// finishing the commit its journal records. Folders another process (or user)
/// holds are left alone.
fn remove_leftovers(dir: &Path, depth: usize, max: usize) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let Ok(t) = e.file_type() else { continue };
        if t.is_dir() && depth < max {
            // A locked or journaled subfolder is another writer's: taken first (and
            // its commit finished), or skipped while someone holds it.
            let _guard = if p.join(LOCK_FILE).exists() || p.join(JOURNAL_FILE).exists() {
                if key(&p).is_ok_and(|k| mine(&k)) {
                    continue;
                }
                match try_flock(&p) {
                    Ok(Some(f)) => Some(f),
                    _ => continue,
                }
            } else {
                None
            };
            replay(&p)?;
            remove_leftovers(&p, depth + 1, max)?;
        } else if t.is_file() && name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) {
            let _ = std::fs::remove_file(&p);
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
