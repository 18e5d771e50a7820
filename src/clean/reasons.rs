//! Reason codes in words: the `rule` column of `rejects.parquet`, and the count per
//! reason quoted when every row is rejected.

use std::collections::BTreeMap;

use super::{CleanConfig, OutlierMethod, Range, RuleCount};

/// The reason codes and rules (`rule` column of rejects.parquet).
pub(super) fn rule_text(reason: &str, ranges: &[Range], cfg: &CleanConfig) -> String {
    if let Some(r) = ranges.iter().find(|r| r.reason == reason) {
        let lo = r.min.map_or("-inf".to_string(), |v| v.to_string());
        let hi = r.max.map_or("+inf".to_string(), |v| v.to_string());
        return format!("value must lie in [{lo}, {hi}]");
    }
    match reason {
        "missing_id" => "the id must be present".into(),
        "duplicate_id" => "ids must be unique (first row kept)".into(),
        "missing_value" => "cells must be present and finite (policy: drop)".into(),
        "outlier_iqr" => match cfg.outliers {
            OutlierMethod::Iqr { k } => {
                format!("value must lie within Q1 - {k} IQR .. Q3 + {k} IQR")
            }
            _ => String::new(),
        },
        "outlier_zscore" => match cfg.outliers {
            OutlierMethod::Zscore { t } => format!("|z| must be <= {t}"),
            _ => String::new(),
        },
        "outlier_mad" => match cfg.outliers {
            OutlierMethod::Mad { t } => format!("|x - median| must be <= {t} * 1.4826 * MAD"),
            _ => String::new(),
        },
        "dbscan_noise" => "the row must belong to a DBSCAN cluster of the scaled features".into(),
        _ => String::new(),
    }
}

pub(super) fn summary_of(rules: &BTreeMap<String, RuleCount>) -> String {
    rules
        .iter()
        .filter(|(_, r)| r.rows_rejected > 0)
        .map(|(k, r)| format!("{k}: {}", r.rows_rejected))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each row's verdict, 4 bytes a row: kept, or the code of the first rule that
/// rejected it (the stage holds one a row of the table).
#[derive(Default)]
pub(super) struct Verdicts {
    /// 0: kept; k: rejected under `codes[k - 1]`.
    rows: Vec<u32>,
    codes: Vec<String>,
}

impl Verdicts {
    /// No rows yet, room for `n`.
    pub(super) fn with_capacity(n: usize) -> Verdicts {
        Verdicts {
            rows: Vec::with_capacity(n),
            codes: Vec::new(),
        }
    }

    /// Adds `n` kept rows.
    pub(super) fn push_kept(&mut self, n: usize) {
        self.rows.resize(self.rows.len() + n, 0);
    }

    /// Rows.
    pub(super) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether row `r` is still in.
    pub(super) fn kept(&self, r: usize) -> bool {
        self.rows[r] == 0
    }

    /// Rejects row `r` under `code`.
    pub(super) fn reject(&mut self, r: usize, code: &str) {
        let k = match self.codes.iter().position(|c| c == code) {
            Some(k) => k,
            None => {
                self.codes.push(code.to_string());
                self.codes.len() - 1
            }
        };
        self.rows[r] = u32::try_from(k + 1).expect("fewer than 2^32 reason codes");
    }

    /// Row `r`'s reason code, when rejected.
    pub(super) fn reason(&self, r: usize) -> Option<&str> {
        match self.rows[r] {
            0 => None,
            k => Some(&self.codes[k as usize - 1]),
        }
    }
}
