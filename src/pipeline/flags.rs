//! Option groups as command-line flags: the manifest records, for every stage, the
//! `segmenta <stage> …` command that reruns it by hand, generated from the typed
//! options (never the other way round: stages receive typed values).

use std::fmt::Display;
use std::path::Path;

/// An option group that can spell itself as the flags of the CLI.
pub trait Flags {
    /// Appends this group's flags (every value, defaults included, so that a
    /// recorded command does not depend on the defaults of a later build).
    fn flags(&self, argv: &mut Vec<String>);
}

/// `--name value`.
pub fn value(argv: &mut Vec<String>, name: &str, v: impl Display) {
    argv.push(name.to_string());
    argv.push(v.to_string());
}

/// `--name value` when there is a value.
pub fn opt(argv: &mut Vec<String>, name: &str, v: Option<impl Display>) {
    if let Some(v) = v {
        value(argv, name, v);
    }
}

/// `--name PATH` when there is a path.
pub fn path(argv: &mut Vec<String>, name: &str, v: Option<&Path>) {
    if let Some(v) = v {
        value(argv, name, v.display());
    }
}

/// `--name` when set.
pub fn switch(argv: &mut Vec<String>, name: &str, on: bool) {
    if on {
        argv.push(name.to_string());
    }
}

/// `--name a,b,c` when the list is not empty.
pub fn list(argv: &mut Vec<String>, name: &str, v: &[String]) {
    if !v.is_empty() {
        value(argv, name, v.join(","));
    }
}
