//! The source-level rules: the SQL that tags every raw row with the first rule it
//! breaks (`tagged_<table>`), and the single streamed pass that splits the tagged
//! rows into kept rows (canonical columns) and rejects (raw columns, `reason`,
//! `rule`), finding unknown customers (against the bucket's kept customers) and
//! duplicate lines (by hash) on the way, in that order, after the SQL's rules.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use super::partition::{PartWriter, ROW};
use super::register::Registered;
use super::{df_err, quote, ts_literal, FeatureSpec};
use crate::error::Result;

/// The reason codes and the rules they stand for.
pub const RULES: &[(&str, &str)] = &[
    ("missing_customer_id", "customer_id must be present"),
    ("missing_ts", "timestamps must be present"),
    ("missing_amount", "amount must be present"),
    (
        "absurd_amount",
        "amount must not exceed --max-amount (in either sign)",
    ),
    (
        "exit_before_entry",
        "an exit must not come before its entry",
    ),
    (
        "ts_out_of_window",
        "timestamps must lie in [--since, --as-of)",
    ),
    ("unknown_customer", "customer_id must exist in customers"),
    (
        "duplicate_customer",
        "customer_id must be unique in customers",
    ),
    (
        "duplicate_line",
        "a line must not repeat an earlier identical line",
    ),
];

fn rule_case() -> String {
    let mut s = String::from("CASE __reason");
    for (code, rule) in RULES {
        s.push_str(&format!(" WHEN '{code}' THEN '{rule}'"));
    }
    s.push_str(" END");
    s
}

pub(super) fn tagged_sql(
    r: &Registered,
    spec: &FeatureSpec,
    as_of: i32,
    since: Option<i32>,
    id_type: &str,
) -> String {
    let name = r.table.name;
    let e = |c: &str| quote(&format!("__c_{c}"));
    let mut inner: Vec<String> = vec!["r.*".into()];
    for (c, expr) in &r.exprs {
        let expr = match *c {
            "customer_id" => format!("CAST({expr} AS {id_type})"),
            // A return (a `C…` invoice, or a negative amount) is kept, with a
            // negative amount: the feature SQL nets it against the purchase it
            // cancels (features.sql, "Returns").
            "amount" if name == "transactions" => format!(
                "CASE WHEN {} LIKE 'C%' THEN -ABS({expr}) ELSE {expr} END",
                r.exprs["invoice"]
            ),
            _ => expr.clone(),
        };
        inner.push(format!("{expr} AS {}", e(c)));
    }
    let raw_cols: Vec<String> = r
        .raw_cols
        .iter()
        .map(|(c, _)| format!("r.{}", quote(c)))
        .collect();
    // Duplicate transaction lines are found by `split_rows` with a hash of each raw
    // line: a window function over every raw column cost three quarters of the
    // rules stage (BENCHMARKS.md).
    match name {
        "customers" => inner.push(format!(
            // Identical rows tie on the raw columns: the first in the source wins,
            // whatever the batches a bucket's rows arrive in.
            "ROW_NUMBER() OVER (PARTITION BY {} ORDER BY {}, r.{ROW}) AS __dup",
            r.exprs["customer_id"],
            raw_cols.join(", ")
        )),
        _ => inner.push("1 AS __dup".into()),
    }
    let l1 = format!("SELECT {} FROM raw_{name} r", inner.join(", "));
    let window = |c: &str| {
        let mut conds = vec![format!("{} >= {}", e(c), ts_literal(as_of))];
        if let Some(s) = since {
            conds.push(format!("{} < {}", e(c), ts_literal(s)));
        }
        conds.join(" OR ")
    };
    let mut whens = vec![format!(
        "WHEN {} IS NULL THEN 'missing_customer_id'",
        e("customer_id")
    )];
    match name {
        "transactions" => {
            whens.push(format!("WHEN {} IS NULL THEN 'missing_ts'", e("ts")));
            whens.push(format!(
                "WHEN {} IS NULL THEN 'missing_amount'",
                e("amount")
            ));
            whens.push(format!(
                "WHEN ABS({}) > {} THEN 'absurd_amount'",
                e("amount"),
                spec.max_amount
            ));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window("ts")));
        }
        "visits" | "wifi_sessions" => {
            let (a, b) = if name == "visits" {
                ("entered_at", "left_at")
            } else {
                ("started_at", "ended_at")
            };
            whens.push(format!(
                "WHEN {} IS NULL OR {} IS NULL THEN 'missing_ts'",
                e(a),
                e(b)
            ));
            whens.push(format!("WHEN {} < {} THEN 'exit_before_entry'", e(b), e(a)));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window(a)));
        }
        "app_events" => {
            whens.push(format!("WHEN {} IS NULL THEN 'missing_ts'", e("ts")));
            whens.push(format!("WHEN {} THEN 'ts_out_of_window'", window("ts")));
        }
        "customers" => whens.push("WHEN __dup > 1 THEN 'duplicate_customer'".into()),
        _ => {}
    }
    format!(
        "SELECT l1.*, CASE {} END AS __reason FROM ({l1}) l1",
        whens.join(" ")
    )
}

pub(super) struct Split {
    pub(super) kept: u64,
    pub(super) rejected: BTreeMap<String, u64>,
    /// Distinct customer ids among the rows (counted for `transactions` only).
    pub(super) ids_seen: u64,
    /// The kept rows (canonical columns, without `__row`), for the feature SQL.
    pub(super) kept_batches: Vec<RecordBatch>,
    /// Their schema.
    pub(super) kept_schema: SchemaRef,
    /// The schemas of the kept rows and the rejects as written, `__row` last.
    pub(super) part_schemas: (SchemaRef, SchemaRef),
}

fn split_query(r: &Registered) -> (String, usize, usize) {
    let name = r.table.name;
    let raw: Vec<String> = r.raw_cols.iter().map(|(c, _)| quote(c)).collect();
    let canon: Vec<String> = r
        .table
        .columns
        .iter()
        .map(|(c, _, _)| quote(&format!("__c_{c}")))
        .collect();
    // A projection of the scan keeps the source order; only the customers' window
    // (duplicate customers) moves rows, so only they are sorted back.
    let order = match name {
        "customers" => format!(" ORDER BY {ROW}"),
        _ => String::new(),
    };
    let q = format!(
        "SELECT {}, {}, __reason AS reason, {} AS rule, {ROW} FROM tagged_{name}{order}",
        raw.join(", "),
        canon.join(", "),
        rule_case()
    );
    (q, raw.len(), canon.len())
}

type Layouts = (SchemaRef, SchemaRef, Vec<usize>, Vec<usize>);

/// The kept rows' schema (canonical names, `__row`) and the rejects' (raw
/// columns, `reason`, `rule`, `__row`), and their columns in the split query.
fn layouts(r: &Registered, schema: &Schema, nr: usize, nc: usize) -> Result<Layouts> {
    let row = nr + nc + 2;
    let kept_idx: Vec<usize> = (nr..nr + nc).chain([row]).collect();
    let rej_idx: Vec<usize> = (0..nr).chain([nr + nc, nr + nc + 1, row]).collect();
    let mut kept_fields: Vec<Field> = kept_idx[..nc]
        .iter()
        .zip(r.table.columns)
        .map(|(&i, (c, _, _))| schema.field(i).clone().with_name(*c))
        .collect();
    kept_fields.push(schema.field(row).clone());
    let kept = Arc::new(Schema::new(kept_fields));
    let rej = Arc::new(schema.project(&rej_idx).map_err(|e| df_err(&r.path, e))?);
    Ok((kept, rej, kept_idx, rej_idx))
}

/// Streams `tagged_<table>` once in source order, writing kept rows (canonical
/// columns) to `kept` and rejected rows (raw columns, `reason`, `rule`) to
/// `rejects`, each with `__row`.
pub(super) async fn split_rows(
    ctx: &SessionContext,
    r: &Registered,
    kept: &mut super::kept::KeptWriter,
    rejects: &mut PartWriter,
    dedup: bool,
    known: Option<&Known>,
) -> Result<Split> {
    let name = r.table.name;
    let dedup = dedup && name == "transactions";
    let (q, nr, nc) = split_query(r);
    let df = ctx.sql(&q).await.map_err(|e| df_err(&r.path, e))?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let (kept_schema, rej_schema, kept_idx, rej_idx) = layouts(r, &schema, nr, nc)?;
    let canon_schema = Arc::new(Schema::new(kept_schema.fields()[..nc].to_vec()));
    let mut stream = df.execute_stream().await.map_err(|e| df_err(&r.path, e))?;
    let mut split = Split {
        kept: 0,
        rejected: BTreeMap::new(),
        ids_seen: 0,
        kept_batches: Vec::new(),
        kept_schema: canon_schema.clone(),
        part_schemas: (kept_schema.clone(), rej_schema.clone()),
    };
    let mut seen = Known::default();
    let mut lines = match dedup {
        true => Some(LineSet::new(&schema, nr).map_err(|e| df_err(&r.path, e))?),
        false => None,
    };
    let mut next_row = 0u64;
    while let Some(b) = stream.next().await {
        let mut b: RecordBatch = b.map_err(|e| df_err(&r.path, e))?;
        // The merge of the buckets relies on source order: checked, not assumed.
        let rows = b
            .column(nr + nc + 2)
            .as_primitive::<arrow::datatypes::UInt64Type>();
        for v in rows.values() {
            if *v < next_row {
                return Err(crate::error::Error::Source {
                    path: r.path.clone(),
                    message: "internal error: the source rules returned rows out of source order"
                        .into(),
                });
            }
            next_row = *v + 1;
        }
        if let Some(known) = known {
            let ids = b.column(nr).clone();
            b = retag(b, nr + nc, |i| {
                (!known.contains(&ids, i)).then_some("unknown_customer")
            })
            .map_err(|e| df_err(&r.path, e))?;
        }
        if let Some(lines) = lines.as_mut() {
            b = lines.tag(b, nr + nc).map_err(|e| df_err(&r.path, e))?;
        }
        if name == "transactions" {
            seen.add(b.column(nr));
        }
        let reason = cast(b.column(nr + nc), &DataType::Utf8).map_err(|e| df_err(&r.path, e))?;
        let reason = reason.as_string::<i32>();
        let keep_mask = arrow::compute::is_null(&reason).map_err(|e| df_err(&r.path, e))?;
        let rej_mask = arrow::compute::not(&keep_mask).map_err(|e| df_err(&r.path, e))?;
        let kb = arrow::compute::filter_record_batch(
            &b.project(&kept_idx).map_err(|e| df_err(&r.path, e))?,
            &keep_mask,
        )
        .map_err(|e| df_err(&r.path, e))?;
        let kb = RecordBatch::try_new(kept_schema.clone(), kb.columns().to_vec())
            .map_err(|e| df_err(&r.path, e))?;
        split.kept += kb.num_rows() as u64;
        // The customer id is the first canonical column.
        kept.write(&kb, 0)?;
        if kb.num_rows() > 0 {
            split.kept_batches.push(
                RecordBatch::try_new(canon_schema.clone(), kb.columns()[..nc].to_vec())
                    .map_err(|e| df_err(&r.path, e))?,
            );
        }
        if rej_mask.true_count() > 0 {
            for v in reason.iter().flatten() {
                *split.rejected.entry(v.to_string()).or_default() += 1;
            }
            let rb = arrow::compute::filter_record_batch(
                &b.project(&rej_idx).map_err(|e| df_err(&r.path, e))?,
                &rej_mask,
            )
            .map_err(|e| df_err(&r.path, e))?;
            let rb = RecordBatch::try_new(rej_schema.clone(), rb.columns().to_vec())
                .map_err(|e| df_err(&r.path, e))?;
            rejects.write(&rb)?;
        }
    }
    split.ids_seen = seen.len() as u64;
    Ok(split)
}

/// Raw lines seen so far and kept, as 128-bit hashes of their row encoding (two
/// seeded XXH64): a line identical to a kept one is a `duplicate_line`. The first of
/// identical lines is kept, as with `ROW_NUMBER() … = 1`; identical lines share every
/// other rule's verdict, so only rows otherwise kept are looked up.
struct LineSet {
    conv: arrow::row::RowConverter,
    raw: usize,
    seen: HashSet<u128, PassThrough>,
}

#[derive(Default, Clone, Copy)]
struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

/// The keys are already hashes: use their low bits.
struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

impl LineSet {
    fn new(schema: &arrow::datatypes::Schema, raw: usize) -> arrow::error::Result<LineSet> {
        let fields = (0..raw)
            .map(|i| arrow::row::SortField::new(schema.field(i).data_type().clone()))
            .collect();
        Ok(LineSet {
            conv: arrow::row::RowConverter::new(fields)?,
            raw,
            seen: HashSet::with_hasher(PassThrough),
        })
    }

    /// Sets `reason` (column `reason_at`) and `rule` (the next column) of repeated
    /// lines to `duplicate_line`.
    fn tag(&mut self, b: RecordBatch, reason_at: usize) -> arrow::error::Result<RecordBatch> {
        use twox_hash::XxHash64;
        let raw: Vec<ArrayRef> = (0..self.raw).map(|i| b.column(i).clone()).collect();
        let rows = self.conv.convert_columns(&raw)?;
        let seen = &mut self.seen;
        retag(b, reason_at, |i| {
            let bytes = rows.row(i);
            let bytes = bytes.as_ref();
            let h = (u128::from(XxHash64::oneshot(0x5e9, bytes)) << 64)
                | u128::from(XxHash64::oneshot(0x6d61_6c6c, bytes));
            (!seen.insert(h)).then_some("duplicate_line")
        })
    }
}

/// Sets `reason` (column `reason_at`) and `rule` (the next column) of the rows
/// that have none yet to `verdict(row)` where it gives a reason code.
fn retag(
    b: RecordBatch,
    reason_at: usize,
    mut verdict: impl FnMut(usize) -> Option<&'static str>,
) -> arrow::error::Result<RecordBatch> {
    use arrow::array::StringBuilder;
    let reason = cast(b.column(reason_at), &DataType::Utf8)?;
    let reason = reason.as_string::<i32>();
    let rule = cast(b.column(reason_at + 1), &DataType::Utf8)?;
    let rule = rule.as_string::<i32>();
    let mut any = false;
    let mut new_reason = StringBuilder::with_capacity(b.num_rows(), 0);
    let mut new_rule = StringBuilder::with_capacity(b.num_rows(), 0);
    for i in 0..b.num_rows() {
        if reason.is_valid(i) {
            new_reason.append_value(reason.value(i));
            new_rule.append_option(rule.is_valid(i).then(|| rule.value(i)));
            continue;
        }
        match verdict(i) {
            Some(code) => {
                any = true;
                let text = RULES
                    .iter()
                    .find(|(c, _)| *c == code)
                    .map_or(code, |(_, r)| *r);
                new_reason.append_value(code);
                new_rule.append_value(text);
            }
            None => {
                new_reason.append_null();
                new_rule.append_null();
            }
        }
    }
    if !any {
        return Ok(b);
    }
    let mut cols = b.columns().to_vec();
    let new_reason: ArrayRef = Arc::new(new_reason.finish());
    let new_rule: ArrayRef = Arc::new(new_rule.finish());
    cols[reason_at] = cast(&new_reason, b.column(reason_at).data_type())?;
    cols[reason_at + 1] = cast(&new_rule, b.column(reason_at + 1).data_type())?;
    RecordBatch::try_new(b.schema(), cols)
}

/// A set of customer ids, integer or text: the kept `customers` rows of a bucket
/// (the rows of other tables whose id is not among them are `unknown_customer`),
/// or the ids seen in a table.
#[derive(Default)]
pub(super) struct Known {
    ints: HashSet<i64>,
    texts: HashSet<String>,
}

impl Known {
    /// The ids of the first column of `batches` (the canonical customer id).
    pub(super) fn of(batches: &[RecordBatch]) -> Known {
        let mut k = Known::default();
        for b in batches {
            k.add(b.column(0));
        }
        k
    }

    /// Adds the ids of `ids` (missing ones are not ids).
    fn add(&mut self, ids: &ArrayRef) {
        if let Some(a) = ids.as_primitive_opt::<Int64Type>() {
            self.ints.extend(a.iter().flatten());
        } else if let Some(a) = ids.as_string_opt::<i32>() {
            self.texts.extend(a.iter().flatten().map(str::to_string));
        } else if let Some(a) = ids.as_string_view_opt() {
            self.texts.extend(a.iter().flatten().map(str::to_string));
        }
    }

    fn len(&self) -> usize {
        self.ints.len() + self.texts.len()
    }

    /// Whether row `i` of `ids` is in the set (a missing id is not).
    fn contains(&self, ids: &ArrayRef, i: usize) -> bool {
        if ids.is_null(i) {
            return false;
        }
        if let Some(a) = ids.as_primitive_opt::<Int64Type>() {
            self.ints.contains(&a.value(i))
        } else if let Some(a) = ids.as_string_opt::<i32>() {
            self.texts.contains(a.value(i))
        } else if let Some(a) = ids.as_string_view_opt() {
            self.texts.contains(a.value(i))
        } else {
            false
        }
    }
}
