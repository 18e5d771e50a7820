//! The versioned JSON files a run writes (`features.json`, `clean.json`,
//! `sweep.json`, `model.json`, `profile.json`, `run.json`): one serde type each,
//! the same type writing and reading. Every file carries `format` and `version`;
//! [`read`] refuses a file of another format or version, and serde refuses one with
//! a missing or mistyped field, each with one line naming the file and the rule.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A JSON artefact with a fixed `format` name and a layout version.
pub trait Artefact: DeserializeOwned {
    /// The value of the file's `format` field, e.g. `segmenta-sweep`.
    const FORMAT: &'static str;
    /// The layout version this build writes and reads.
    const VERSION: u32;
    /// What the file is, in words: `model`, `sweep`, …
    const NOUN: &'static str;
}

/// Reads and checks an artefact file.
pub fn read<T: Artefact>(path: &Path) -> Result<T> {
    crate::io::commit::recover(path)?;
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

/// Reads an artefact when its file exists.
pub fn read_if_exists<T: Artefact>(path: &Path) -> Result<Option<T>> {
    // An interrupted commit may still hold the file's rename.
    crate::io::commit::recover(path)?;
    match path.is_file() {
        true => read(path).map(Some),
        false => Ok(None),
    }
}

/// Parses and checks an artefact's text (`path` names it in errors).
pub fn parse<T: Artefact>(text: &str, path: &Path) -> Result<T> {
    let bad = |message: String| Error::Model {
        path: path.to_path_buf(),
        message,
    };
    let head: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON ({e})")))?;
    let format = head.get("format").and_then(|v| v.as_str());
    if format != Some(T::FORMAT) {
        return Err(bad(format!(
            "not a segmenta {} (rule: `format` is \"{}\", found {})",
            T::NOUN,
            T::FORMAT,
            format.map_or("none".to_string(), |f| format!("\"{f}\""))
        )));
    }
    let version = match head.get("version") {
        Some(serde_json::Value::Number(n)) if n.as_u64().is_some() => n.as_u64().unwrap_or(0),
        other => {
            return Err(bad(format!(
                "{} `version` is {}, not a whole number (rule: this build reads version {}, written as a JSON number)",
                T::NOUN,
                other.map_or("missing".to_string(), |v| v.to_string()),
                T::VERSION
            )))
        }
    };
    if version != u64::from(T::VERSION) {
        return Err(bad(format!(
            "{} version {version} is not supported (rule: this build reads version {})",
            T::NOUN,
            T::VERSION
        )));
    }
    serde_json::from_value(head).map_err(|e| bad(format!("malformed {} ({e})", T::NOUN)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Thing {
        #[allow(dead_code)]
        n: u32,
    }
    impl Artefact for Thing {
        const FORMAT: &'static str = "segmenta-thing";
        const VERSION: u32 = 2;
        const NOUN: &'static str = "thing";
    }

    fn err(text: &str) -> String {
        parse::<Thing>(text, Path::new("t.json"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn another_format_is_refused() {
        let e = err(r#"{"format":"segmenta-other","version":2,"n":1}"#);
        assert!(
            e.contains("t.json") && e.contains("not a segmenta thing"),
            "{e}"
        );
    }

    #[test]
    fn another_version_is_refused() {
        let e = err(r#"{"format":"segmenta-thing","version":1,"n":1}"#);
        assert!(e.contains("version 1 is not supported"), "{e}");
    }

    #[test]
    fn a_missing_field_is_refused() {
        let e = err(r#"{"format":"segmenta-thing","version":2}"#);
        assert!(e.contains("missing field `n`"), "{e}");
    }

    #[test]
    fn a_good_file_reads() {
        let t: Thing = parse(
            r#"{"format":"segmenta-thing","version":2,"n":7}"#,
            Path::new("t.json"),
        )
        .unwrap();
        assert_eq!(t.n, 7);
    }
}
