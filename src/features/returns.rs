//! What the netting of returns did, for `features.json`: the same matching rule as
//! the feature SQL's "Returns", counted.

use std::path::Path;

use arrow::array::AsArray;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::{collect, df_err, scalar_u64};
use crate::error::Result;

/// Return lines of the kept transactions, and how they were netted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ReturnsSummary {
    /// Kept lines with a negative amount (a `C…` invoice, or a negative amount).
    pub lines: u64,
    /// Return lines matched to a purchase occasion at or before them (netted).
    pub matched: u64,
    /// Return lines with no purchase before them in the history (left out).
    pub unmatched: u64,
    /// Customers with at least one matched return.
    pub customers_netted: u64,
}

impl ReturnsSummary {
    /// The two buckets' counts together (their customers are disjoint).
    pub(super) fn add(
        a: Option<ReturnsSummary>,
        b: Option<ReturnsSummary>,
    ) -> Option<ReturnsSummary> {
        match (a, b) {
            (Some(a), Some(b)) => Some(ReturnsSummary {
                lines: a.lines + b.lines,
                matched: a.matched + b.matched,
                unmatched: a.unmatched + b.unmatched,
                customers_netted: a.customers_netted + b.customers_netted,
            }),
            (a, b) => a.or(b),
        }
    }
}

/// Counts the return lines of the kept `transactions` and how the feature SQL's
/// matching rule treats them; `None` when there is none.
pub(super) async fn returns_summary(
    ctx: &SessionContext,
    path: &Path,
) -> Result<Option<ReturnsSummary>> {
    let lines = scalar_u64(
        ctx,
        "SELECT COUNT(*) FROM transactions WHERE amount < 0",
        path,
    )
    .await?;
    if lines == 0 {
        return Ok(None);
    }
    let q = "WITH occ AS (SELECT customer_id, ts FROM transactions WHERE amount >= 0 AND ts IS NOT NULL), \
             ret AS (SELECT customer_id, ts, COUNT(*) AS n FROM transactions WHERE amount < 0 AND ts IS NOT NULL GROUP BY customer_id, ts), \
             m AS (SELECT r.customer_id, r.ts, r.n, MAX(o.ts) AS occ FROM ret r LEFT JOIN occ o ON o.customer_id = r.customer_id AND o.ts <= r.ts GROUP BY r.customer_id, r.ts, r.n) \
             SELECT CAST(COALESCE(SUM(CASE WHEN occ IS NOT NULL THEN n ELSE 0 END), 0) AS BIGINT), \
                    CAST(COUNT(DISTINCT CASE WHEN occ IS NOT NULL THEN customer_id END) AS BIGINT) FROM m";
    let batches = collect(ctx, q, path).await?;
    let v = |c: usize| -> Result<u64> {
        let a = cast(batches[0].column(c), &DataType::Int64).map_err(|e| df_err(path, e))?;
        Ok(a.as_primitive::<Int64Type>().value(0) as u64)
    };
    let (matched, customers_netted) = (v(0)?, v(1)?);
    Ok(Some(ReturnsSummary {
        lines,
        matched,
        unmatched: lines - matched,
        customers_netted,
    }))
}
