//! Reading the feature SQL's `-- @feature` declarations, and summarising each output
//! feature (nulls, min, median, max) for `features.json`.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};

use super::FeatureSummary;
use crate::error::{Error, Result};

/// A declared feature: `-- @feature name | needs | definition`.
pub(super) struct Declared {
    pub(super) name: String,
    pub(super) needs: Vec<(String, String)>,
    pub(super) definition: String,
}

pub(super) fn declared(sql: &str) -> Vec<Declared> {
    sql.lines()
        .filter_map(|l| l.trim().strip_prefix("-- @feature "))
        .filter_map(|rest| {
            let mut parts = rest.splitn(3, '|').map(str::trim);
            let name = parts.next()?.to_string();
            let needs = parts
                .next()?
                .split_whitespace()
                .filter_map(|n| {
                    n.split_once('.')
                        .map(|(t, c)| (t.to_string(), c.to_string()))
                })
                .collect();
            let definition = parts.next().unwrap_or("").to_string();
            Some(Declared {
                name,
                needs,
                definition,
            })
        })
        .collect()
}

pub(super) fn summarise(
    name: &str,
    cols: &[ArrayRef],
    definition: &str,
    source: String,
) -> Result<FeatureSummary> {
    let mut v = Vec::new();
    let mut nulls = 0u64;
    for c in cols {
        let c = cast(c, &DataType::Float64)
            .map_err(|e| Error::param("--sql", format!("feature `{name}` is not numeric ({e})")))?;
        let c = c.as_primitive::<Float64Type>();
        nulls += c.null_count() as u64;
        v.extend(c.iter().flatten());
    }
    let (min, median, max) = if v.is_empty() {
        (None, None, None)
    } else {
        let mn = v.iter().copied().fold(f64::INFINITY, f64::min);
        let mx = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (Some(mn), crate::stats::median(&mut v), Some(mx))
    };
    Ok(FeatureSummary {
        name: name.to_string(),
        definition: definition.to_string(),
        source,
        nulls,
        min,
        median,
        max,
    })
}
