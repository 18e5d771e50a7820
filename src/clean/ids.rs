//! Rules 1–2 on the id column, a batch at a time: a missing id, and an id that
//! repeats an earlier row's. Integer ids are remembered as integers (8 bytes,
//! where their text took a string each), others as text; two ids are the same
//! when their text is (for integers the two agree).

use std::collections::HashSet;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use arrow::error::ArrowError;

/// The ids seen so far.
pub(super) enum Seen {
    Int(HashSet<i64>),
    Text(HashSet<String>),
}

impl Seen {
    /// A set for ids of type `t` (`None`: no id column).
    pub(super) fn new(t: Option<&DataType>) -> Seen {
        use DataType::*;
        match t {
            Some(Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32) => {
                Seen::Int(HashSet::new())
            }
            _ => Seen::Text(HashSet::new()),
        }
    }

    /// The rule each id of `ids` breaks, in order: `missing_id` (null or empty),
    /// else `duplicate_id` (seen before, when `duplicates`), else none.
    pub(super) fn check(
        &mut self,
        ids: &ArrayRef,
        duplicates: bool,
    ) -> Result<Vec<Option<&'static str>>, ArrowError> {
        match self {
            Seen::Int(seen) => {
                let a = cast(ids, &DataType::Int64)?;
                Ok(a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| match v {
                        None => Some("missing_id"),
                        Some(v) if duplicates && !seen.insert(v) => Some("duplicate_id"),
                        Some(_) => None,
                    })
                    .collect())
            }
            Seen::Text(seen) => {
                let a = cast(ids, &DataType::Utf8)?;
                let a = a.as_string::<i32>();
                Ok((0..a.len())
                    .map(|r| {
                        if a.is_null(r) || a.value(r).is_empty() {
                            Some("missing_id")
                        } else if duplicates && !seen.insert(a.value(r).to_string()) {
                            Some("duplicate_id")
                        } else {
                            None
                        }
                    })
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int32Array, StringArray};

    use super::*;

    #[test]
    fn ids_repeat_across_batches_by_value_or_by_text() {
        let mut s = Seen::new(Some(&DataType::Int32));
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(7), None, Some(8)]));
        let b: ArrayRef = Arc::new(Int32Array::from(vec![Some(8), Some(9), Some(7)]));
        assert_eq!(
            s.check(&a, true).unwrap(),
            vec![None, Some("missing_id"), None]
        );
        assert_eq!(
            s.check(&b, true).unwrap(),
            vec![Some("duplicate_id"), None, Some("duplicate_id")]
        );
        // Text ids: `012` and `12` are two customers; an empty id is missing.
        let mut s = Seen::new(Some(&DataType::Utf8));
        let t: ArrayRef = Arc::new(StringArray::from(vec![
            Some("012"),
            Some("12"),
            Some(""),
            Some("012"),
        ]));
        assert_eq!(
            s.check(&t, true).unwrap(),
            vec![None, None, Some("missing_id"), Some("duplicate_id")]
        );
        // --keep-duplicates: only missing ids break a rule.
        let mut s = Seen::new(Some(&DataType::Int32));
        assert_eq!(s.check(&b, false).unwrap(), vec![None, None, None]);
    }
}
