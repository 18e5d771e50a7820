//! `--map col=EXPR,...`: foreign columns onto the canonical schema. An expression is
//! SQL over the source's own columns (`amount=Quantity*UnitPrice`); a key may name its
//! table (`visits.entered_at=EntryTime`), else it maps a `transactions` column.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::schema::{table_names, CANONICAL};

/// One mapping: `table.column = expr`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapEntry {
    /// Canonical table.
    pub table: String,
    /// Canonical column.
    pub column: String,
    /// SQL expression over the source's columns, as written.
    pub expr: String,
}

/// Splits on `sep` outside quotes and parentheses.
fn split_top(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut depth, mut quote) = (0i32, None::<char>);
    for ch in s.chars() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(ch),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, c) if c == sep && depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    out.push(cur);
    out
}

/// Parses `customer_id=CustomerID,ts=InvoiceDate,amount=Quantity*UnitPrice`.
pub fn parse_map(s: &str) -> Result<Vec<MapEntry>> {
    let mut out = Vec::new();
    for part in split_top(s, ',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((key, expr)) = part.split_once('=') else {
            return Err(Error::param(
                "--map",
                format!("`{part}` has no `=` (rule: col=EXPR, comma-separated)"),
            ));
        };
        let (key, expr) = (key.trim(), expr.trim());
        if expr.is_empty() {
            return Err(Error::param(
                "--map",
                format!("`{part}` maps to nothing (rule: col=EXPR)"),
            ));
        }
        let (table, column) = key.split_once('.').unwrap_or(("transactions", key));
        out.push(MapEntry {
            table: table.to_string(),
            column: column.to_string(),
            expr: expr.to_string(),
        });
    }
    Ok(out)
}

/// Every mapping names a canonical table that has a source, and a column of that
/// table, once.
pub fn check_map(map: &[MapEntry], sources: &BTreeMap<String, PathBuf>) -> Result<()> {
    let mut seen = HashSet::new();
    for e in map {
        let Some(t) = CANONICAL.iter().find(|t| t.name == e.table) else {
            return Err(Error::param(
                "--map",
                format!(
                    "`{}.{}`: `{}` is not a canonical table (rule: tables are {})",
                    e.table,
                    e.column,
                    e.table,
                    table_names()
                ),
            ));
        };
        if !t.columns.iter().any(|c| c.0 == e.column) {
            let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
            return Err(Error::param(
                "--map",
                format!(
                    "`{}` is not a column of {} (rule: its columns are {})",
                    e.column,
                    e.table,
                    cols.join(", ")
                ),
            ));
        }
        if !seen.insert((e.table.clone(), e.column.clone())) {
            return Err(Error::param(
                "--map",
                format!(
                    "`{}.{}` is mapped twice (rule: one mapping per column)",
                    e.table, e.column
                ),
            ));
        }
        if !sources.contains_key(&e.table) {
            return Err(Error::param(
                "--map",
                format!(
                    "maps `{}.{}` but no {} source was given",
                    e.table, e.column, e.table
                ),
            ));
        }
    }
    Ok(())
}

const WORDS: &[&str] = &[
    "as",
    "cast",
    "case",
    "when",
    "then",
    "else",
    "end",
    "and",
    "or",
    "not",
    "null",
    "true",
    "false",
    "is",
    "in",
    "like",
    "between",
    "interval",
    "double",
    "bigint",
    "varchar",
    "timestamp",
    "date",
    "int",
    "integer",
    "float",
    "real",
    "decimal",
    "text",
    "string",
    "boolean",
    "day",
    "days",
    "hour",
    "minute",
    "second",
    "month",
    "year",
];

/// Quotes the source's column names in `expr` (DataFusion folds unquoted names to
/// lower case) and rejects a name the source does not have.
pub fn rewrite(expr: &str, columns: &[String], path: &Path, target: &str) -> Result<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' || c == '"' {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += 1;
            }
            i = (i + 1).min(chars.len());
            let lit: String = chars[start..i].iter().collect();
            out.push_str(&lit);
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let is_call = j < chars.len() && chars[j] == '(';
            if let Some(col) = columns
                .iter()
                .find(|n| **n == word)
                .or_else(|| columns.iter().find(|n| n.eq_ignore_ascii_case(&word)))
            {
                out.push_str(&format!("\"{col}\""));
            } else if is_call || WORDS.contains(&word.to_ascii_lowercase().as_str()) {
                out.push_str(&word);
            } else {
                return Err(Error::MissingColumn {
                    path: path.to_path_buf(),
                    column: word,
                    available: format!(
                        "{} (rule: --map {target}=EXPR names the source's columns)",
                        columns.join(", ")
                    ),
                });
            }
            continue;
        }
        if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_quotes() {
        let m = parse_map("customer_id=CustomerID, ts=to_timestamp(InvoiceDate, '%d/%m/%Y %H:%M'),amount=Quantity*UnitPrice,visits.entered_at=In").unwrap();
        assert_eq!(m.len(), 4);
        assert_eq!(m[1].expr, "to_timestamp(InvoiceDate, '%d/%m/%Y %H:%M')");
        assert_eq!(m[3].table, "visits");
        let cols: Vec<String> = ["CustomerID", "Quantity", "UnitPrice", "InvoiceDate"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = Path::new("x.csv");
        assert_eq!(
            rewrite("Quantity*UnitPrice", &cols, p, "amount").unwrap(),
            "\"Quantity\"*\"UnitPrice\""
        );
        assert_eq!(
            rewrite("to_timestamp(InvoiceDate, '%d/%m/%Y')", &cols, p, "ts").unwrap(),
            "to_timestamp(\"InvoiceDate\", '%d/%m/%Y')"
        );
        let e = rewrite("Quantity*Price", &cols, p, "amount")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.csv") && e.contains("`Price`"), "{e}");
        assert!(parse_map("amount").is_err());
    }
}
