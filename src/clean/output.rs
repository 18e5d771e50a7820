//! The clean stage's outputs, written while the input streams by a second time:
//! the kept rows, with their changed cells, to `clean.parquet`, and the rejected
//! rows, unchanged, with their reason and rule, to `rejects.parquet`. The stage
//! holds the feature cells and a verdict a row, never the whole table.

use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray};
use arrow::compute::{concat_batches, filter, filter_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::reasons::Verdicts;
use super::stats::Cells;
use crate::error::{Error, Result};
use crate::io::{write_table, Source, Staged};

/// What the outputs are made of.
pub(super) struct Plan<'a> {
    /// The input's columns.
    pub(super) schema: &'a SchemaRef,
    /// The id column.
    pub(super) id_idx: usize,
    /// The feature columns (input positions) and their cells.
    pub(super) feat_idx: &'a [usize],
    pub(super) cols: &'a [Cells],
    /// Per feature: whether a cell was imputed or clipped (written from `cols`,
    /// as Float64, instead of passed through).
    pub(super) changed: &'a [bool],
    /// Per row, whether it is flagged, when the `outlier` column is written (it
    /// then replaces any input column of that name, last).
    pub(super) flagged: Option<&'a [bool]>,
    pub(super) verdicts: &'a Verdicts,
    /// A reason code in words (the `rule` column).
    pub(super) rule_text: &'a dyn Fn(&str) -> String,
}

/// What a column of `clean.parquet` is made of.
#[derive(Clone, Copy)]
enum Out {
    /// The input column, its kept rows.
    Input(usize),
    /// Feature `c`'s cells.
    Cells(usize),
    /// The outlier flag.
    Flag,
}

fn arrow_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Stages `clean.parquet` and `rejects.parquet` in `out`, reading `source` (the
/// stage's input) again.
pub(super) fn write(source: &Source, out: &Path, staged: &mut Staged, p: &Plan) -> Result<()> {
    let input = source.path();
    let n = p.verdicts.len();
    let all: Vec<usize> = (0..p.schema.fields().len()).collect();
    let feat_of = |i: usize| p.feat_idx.iter().position(|&j| j == i);

    // The columns of clean.parquet, and whether each may hold a null: the id and
    // the features never do in a kept row (a missing id or cell rejects the row
    // or is imputed); a column passed through does when a kept row's is null,
    // which takes a look at those columns first.
    let mut plan: Vec<(String, Out)> = Vec::new();
    for (i, f) in p.schema.fields().iter().enumerate() {
        if p.flagged.is_some() && f.name() == "outlier" {
            continue;
        }
        let o = match feat_of(i) {
            Some(c) if p.changed[c] => Out::Cells(c),
            _ => Out::Input(i),
        };
        plan.push((f.name().clone(), o));
    }
    if p.flagged.is_some() {
        plan.push(("outlier".into(), Out::Flag));
    }
    let passed: Vec<usize> = plan
        .iter()
        .filter_map(|(_, o)| match o {
            Out::Input(i) if *i != p.id_idx && feat_of(*i).is_none() => Some(*i),
            _ => None,
        })
        .collect();
    let mut has_null = vec![false; p.schema.fields().len()];
    if !passed.is_empty() {
        let mut row0 = 0;
        for b in source.batches(&all)? {
            let b = b?;
            let keep = kept_mask(p.verdicts, row0, b.num_rows());
            for &i in &passed {
                let a = filter(b.column(i), &keep).map_err(|e| arrow_err(input, e))?;
                has_null[i] |= a.null_count() > 0;
            }
            row0 += b.num_rows();
        }
    }
    let fields: Vec<Field> = plan
        .iter()
        .map(|(name, o)| match *o {
            Out::Input(i) => Field::new(name, p.schema.field(i).data_type().clone(), has_null[i]),
            Out::Cells(_) => Field::new(name, arrow::datatypes::DataType::Float64, false),
            Out::Flag => Field::new(name, arrow::datatypes::DataType::Boolean, false),
        })
        .collect();
    let clean_schema = Arc::new(Schema::new(fields));

    let clean_path = out.join("clean.parquet");
    let file = staged.create(&clean_path)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(BufWriter::new(file), clean_schema.clone(), Some(props))
        .map_err(|e| arrow_err(&clean_path, e))?;
    let mut rejected: Vec<RecordBatch> = Vec::new();
    let mut row0 = 0;
    for b in source.batches(&all)? {
        let b = b?;
        let m = b.num_rows();
        if row0 + m > n {
            return Err(arrow_err(
                input,
                format!(
                    "more than the {n} rows read before: the input changed while it was cleaned"
                ),
            ));
        }
        let keep = kept_mask(p.verdicts, row0, m);
        let rows = || (row0..row0 + m).filter(|&r| p.verdicts.kept(r));
        if keep.true_count() > 0 {
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(plan.len());
            for (_, o) in &plan {
                cols.push(match *o {
                    Out::Input(i) => filter(b.column(i), &keep).map_err(|e| arrow_err(input, e))?,
                    Out::Cells(c) => {
                        Arc::new(rows().map(|r| p.cols[c].get(r)).collect::<Float64Array>())
                    }
                    Out::Flag => {
                        let f = p.flagged.expect("planned with the flags");
                        Arc::new(rows().map(|r| Some(f[r])).collect::<BooleanArray>())
                    }
                });
            }
            let kept = RecordBatch::try_new(clean_schema.clone(), cols)
                .map_err(|e| arrow_err(&clean_path, e))?;
            w.write(&kept).map_err(|e| arrow_err(&clean_path, e))?;
        }
        if keep.true_count() < m {
            let drop = arrow::compute::not(&keep).map_err(|e| arrow_err(input, e))?;
            rejected.push(filter_record_batch(&b, &drop).map_err(|e| arrow_err(input, e))?);
        }
        row0 += m;
    }
    if row0 != n {
        return Err(arrow_err(
            input,
            format!(
                "{row0} rows where {n} were read before: the input changed while it was cleaned"
            ),
        ));
    }
    w.close().map_err(|e| arrow_err(&clean_path, e))?;

    // The rejected rows are few: written at once, as before.
    let rejected = concat_batches(p.schema, &rejected).map_err(|e| arrow_err(input, e))?;
    let codes: Vec<&str> = (0..n).filter_map(|r| p.verdicts.reason(r)).collect();
    let reasons: StringArray = codes.iter().map(|s| Some(*s)).collect();
    let rule_col: StringArray = codes.iter().map(|s| Some((p.rule_text)(s))).collect();
    let mut rej_cols: Vec<(String, ArrayRef)> = p
        .schema
        .fields()
        .iter()
        .zip(rejected.columns())
        .map(|(f, a)| (f.name().clone(), a.clone()))
        .collect();
    rej_cols.push(("reason".into(), Arc::new(reasons)));
    rej_cols.push(("rule".into(), Arc::new(rule_col)));
    write_table(
        staged,
        &out.join("rejects.parquet"),
        rej_cols
            .iter()
            .map(|(n, a)| (n.as_str(), a.clone()))
            .collect(),
    )
}

/// Which of rows `row0..row0 + m` are kept.
fn kept_mask(v: &Verdicts, row0: usize, m: usize) -> BooleanArray {
    (row0..row0 + m).map(|r| Some(v.kept(r))).collect()
}
