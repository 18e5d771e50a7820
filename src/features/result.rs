//! The feature SQL's result checked before anything is written: one row per
//! customer, `customer_id` first, each id once, every other column numeric.

use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};

use super::df_err;
use crate::error::{Error, Result};

/// The feature SQL's result must be one row per customer: `customer_id` first, each
/// id once, every other column numeric.
pub(super) fn check_result(
    sql_path: &Path,
    schema: &arrow::datatypes::SchemaRef,
    ids: &[arrow::array::ArrayRef],
) -> Result<()> {
    let bad = |message: String| Error::Source {
        path: sql_path.to_path_buf(),
        message,
    };
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names.first() != Some(&"customer_id") {
        return Err(bad(format!(
            "the feature SQL's first column is {}, not `customer_id` (rule: the result has one row per customer, customer_id first; columns are: {})",
            names.first().map_or("missing".to_string(), |n| format!("`{}`", n.escape_default())),
            names.join(", ").escape_default()
        )));
    }
    // Integer ids are checked as integers (8 bytes each), others as text.
    let mut ints = std::collections::HashSet::new();
    let mut texts = std::collections::HashSet::new();
    for col in ids {
        if col.null_count() > 0 {
            return Err(bad("the feature SQL returns a row with no customer_id (rule: one row per customer, each with its id)".into()));
        }
        let again = |id: String| {
            bad(format!(
                "the feature SQL returns customer_id {} more than once (rule: one row per customer; GROUP BY customer_id)",
                id.escape_default()
            ))
        };
        if col.data_type().is_integer() {
            let v = cast(col, &DataType::Int64).map_err(|e| df_err(sql_path, e))?;
            if let Some(id) = v
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .find(|v| !ints.insert(**v))
            {
                return Err(again(id.to_string()));
            }
        } else {
            let v = cast(col, &DataType::Utf8).map_err(|e| df_err(sql_path, e))?;
            if let Some(id) = v
                .as_string::<i32>()
                .iter()
                .flatten()
                .find(|v| !texts.insert(v.to_string()))
            {
                return Err(again(id.to_string()));
            }
        }
    }
    for f in schema.fields().iter().skip(1) {
        let t = f.data_type();
        if !(t.is_numeric() || t == &DataType::Null) {
            return Err(bad(format!(
                "the feature SQL's column `{}` is {t}, not a number (rule: every column after customer_id is numeric; CAST it or leave it out)",
                f.name().escape_default()
            )));
        }
    }
    Ok(())
}
