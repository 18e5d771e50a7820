//! The category groups behind the `*_spend_share` features: the file
//! (`category_groups.toml`, or `--category-groups FILE`) and the expansion of
//! `${group:NAME}` in the feature SQL.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Parses a category groups file: `group = ["category", …]` per line.
pub fn parse_category_groups(text: &str, source: &str) -> Result<BTreeMap<String, Vec<String>>> {
    toml::from_str(text).map_err(|e| Error::Source {
        path: PathBuf::from(source),
        message: format!(
            "bad category groups: {} (rule: one key per group, a list of category names)",
            e.message()
        ),
    })
}

/// Replaces each `${group:NAME}` of `sql` (outside `--` comment lines) by the
/// quoted categories of group NAME. A group the file lacks is an error, unless
/// `absent_ok` (the embedded SQL with a user's file written for fewer groups): then
/// it holds no category, and its name is returned with the SQL.
pub(super) fn expand_groups(
    sql: &str,
    groups: &BTreeMap<String, Vec<String>>,
    source: &str,
    absent_ok: bool,
) -> Result<(String, Vec<String>)> {
    let mut out = String::with_capacity(sql.len());
    let mut absent = Vec::new();
    for line in sql.split_inclusive('\n') {
        if line.trim_start().starts_with("--") {
            out.push_str(line);
        } else {
            out.push_str(&expand_line(
                line,
                groups,
                source,
                absent_ok.then_some(&mut absent),
            )?);
        }
    }
    Ok((out, absent))
}

fn expand_line(
    sql: &str,
    groups: &BTreeMap<String, Vec<String>>,
    source: &str,
    mut absent: Option<&mut Vec<String>>,
) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(i) = rest.find("${group:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 8..];
        let Some(j) = after.find('}') else {
            out.push_str(&rest[i..]);
            rest = "";
            break;
        };
        let name = &after[..j];
        let none = Vec::new();
        let cats = match (groups.get(name), absent.as_deref_mut()) {
            (Some(c), _) => c,
            (None, Some(absent)) => {
                if !absent.iter().any(|a| a == name) {
                    absent.push(name.to_string());
                }
                &none
            }
            (None, None) => {
                return Err(Error::Source {
                    path: PathBuf::from(source),
                    message: format!(
                        "the feature SQL names category group `{name}`, which is not in the file (rule: groups are {})",
                        groups.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                })
            }
        };
        if cats.is_empty() {
            out.push_str("NULL");
        } else {
            let q: Vec<String> = cats
                .iter()
                .map(|c| format!("'{}'", c.replace('\'', "''")))
                .collect();
            out.push_str(&q.join(", "));
        }
        rest = &after[j + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_expand_outside_comments_only() {
        let g = parse_category_groups("luxury = [\"a\", \"b'c\"]\nempty = []", "g").unwrap();
        let sql = "-- ${group:nope}\nx IN (${group:luxury}) OR y IN (${group:empty})";
        assert_eq!(
            expand_groups(sql, &g, "g", false).unwrap(),
            (
                "-- ${group:nope}\nx IN ('a', 'b''c') OR y IN (NULL)".to_string(),
                vec![]
            )
        );
        let e = expand_groups("${group:other}", &g, "g", false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`other`") && e.contains("empty, luxury"), "{e}");
    }

    #[test]
    fn the_default_sql_takes_a_file_with_fewer_groups() {
        let g = parse_category_groups("luxury = [\"a\"]", "g").unwrap();
        let sql = "x IN (${group:luxury}) OR y IN (${group:kids}) OR z IN (${group:kids})";
        assert_eq!(
            expand_groups(sql, &g, "g", true).unwrap(),
            (
                "x IN ('a') OR y IN (NULL) OR z IN (NULL)".to_string(),
                vec!["kids".to_string()]
            )
        );
    }
}
