//! The migration stage: who moved where between two runs (`update`): per
//! customer, the previous segment, the new one and a state; the migration matrix
//! (counts and row shares); and per segment, its size and revenue then and now.
//!
//! States, one per customer:
//! - `new`: not in the previous run's segments (first seen);
//! - `gone`: in the previous run's segments, not in this run's (no activity left
//!   in this run's window, or rejected);
//! - `lapsed`: in both, but no purchase since the previous run's as-of (this
//!   run's `lifetime/customers.parquet`, `last_purchase`);
//! - `moved`: in both, active, another segment;
//! - `stayed`: in both, active, the same segment.
//!
//! Segment ids are comparable across the two runs because the update's K-means
//! keeps them (see [`crate::kmeans::matching`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringArray};
use arrow::compute::{cast, concat};
use arrow::datatypes::{DataType, Date32Type};
use serde::{Deserialize, Serialize};

use super::warm::ColumnDrift;
use super::{Observer, RunLayout};
use crate::error::{Error, Result};
use crate::features::FeaturesReport;
use crate::io::{read_features, write_json, write_table, FeatureTable, ReadSpec, Source, Staged};
use crate::kmeans::matching::SegmentMatch;
use crate::model::Model;
use crate::profile::inputs::IdIndex;
use crate::profile::Profile;

/// The value of [`MigrationReport::format`].
pub const MIGRATION_FORMAT: &str = "segmenta-migration";
/// The layout version written by this build.
pub const MIGRATION_VERSION: u32 = 1;
/// The largest flows between segments kept in the report.
pub const TOP_FLOWS: usize = 10;

/// `migration.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MigrationReport {
    /// Always [`MIGRATION_FORMAT`].
    pub format: String,
    /// [`MIGRATION_VERSION`].
    pub version: u32,
    /// The previous run folder.
    pub previous_run: String,
    /// Its fit id.
    pub previous_fit_id: String,
    /// This run's fit id.
    pub fit_id: String,
    /// The previous run's as-of.
    pub previous_as_of: String,
    /// This run's as-of.
    pub as_of: String,
    /// Customers segmented then.
    pub customers_before: u64,
    /// Customers segmented now.
    pub customers_after: u64,
    /// Customers per state (`stayed`, `moved`, `lapsed`, `new`, `gone`).
    pub states: BTreeMap<String, u64>,
    /// The migration matrix.
    pub matrix: MigrationMatrix,
    /// Per segment id, then and now.
    pub segments: Vec<SegmentChange>,
    /// The largest flows between two different segments.
    pub flows: Vec<Flow>,
    /// `previous` or `refitted`: the scaler of this run's K-means.
    pub scaler: String,
    /// Per numeric column, against the previous scaler.
    pub drift: Vec<ColumnDrift>,
    /// The matching threshold of the warm start (see `kmeans::matching`).
    #[serde(default)]
    pub max_shift: Option<f64>,
    /// Remarks (a part that could not be computed, and why).
    pub notes: Vec<String>,
}

impl crate::artefact::Artefact for MigrationReport {
    const FORMAT: &'static str = MIGRATION_FORMAT;
    const VERSION: u32 = MIGRATION_VERSION;
    const NOUN: &'static str = "migration summary";
}

/// Rows: previous segments then `new`; columns: this run's segments then `gone`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct MigrationMatrix {
    /// Row labels: previous segment ids, then `new`.
    pub from: Vec<String>,
    /// Column labels: this run's segment ids, then `gone`.
    pub to: Vec<String>,
    /// Customers per cell.
    pub counts: Vec<Vec<u64>>,
    /// Row shares (each row sums to 1; an empty row is all 0).
    pub shares: Vec<Vec<f64>>,
}

/// One segment id then and now.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SegmentChange {
    /// Segment id.
    pub segment: i32,
    /// `kept`, `new` or `vanished` (the K-means matching).
    pub status: String,
    /// The persona name in the previous run's profile.
    pub persona_before: Option<String>,
    /// Customers then.
    pub size_before: u64,
    /// Customers now.
    pub size_after: u64,
    /// Sum of `monetary_total` then, when the feature exists.
    pub revenue_before: Option<f64>,
    /// … and now.
    pub revenue_after: Option<f64>,
    /// Of its previous customers, those who stayed.
    pub stayed: u64,
    /// … lapsed (no purchase since the previous as-of).
    pub lapsed: u64,
    /// Distance its centre moved (previous scaled units), when kept.
    pub shift: Option<f64>,
}

/// Customers who went from one segment to another.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Flow {
    /// Previous segment id (or `new`).
    pub from: String,
    /// This run's segment id (or `gone`).
    pub to: String,
    /// Customers.
    pub customers: u64,
}

struct Side {
    table: FeatureTable,
    labels: Vec<i32>,
}

fn read_side(assignments: &Path, id_col: &str) -> Result<Side> {
    let mut spec = ReadSpec::new(id_col.to_string());
    spec.columns = Some(vec!["segment".into()]);
    let table = read_features(assignments, &spec)?;
    let labels = (0..table.x.n()).map(|i| table.x.row(i)[0] as i32).collect();
    Ok(Side { table, labels })
}

/// A numeric column of `path` per row of `index` (None where absent).
fn column_by_id(
    path: &Path,
    column: &str,
    index: &IdIndex,
    n: usize,
    id_col: &str,
) -> Result<Option<Vec<Option<f64>>>> {
    if !path.exists() {
        return Ok(None);
    }
    let src = Source::open(path)?;
    if src.schema().index_of(column).is_err() {
        return Ok(None);
    }
    let mut spec = ReadSpec::new(id_col.to_string());
    spec.columns = Some(vec![column.into()]);
    let t = read_features(path, &spec)?;
    let rows = index.rows(t.ids.to_arrow().as_ref(), path)?;
    let mut out = vec![None; n];
    for (i, r) in rows.iter().enumerate() {
        if let Some(r) = r {
            out[*r] = Some(f64::from(t.x.row(i)[0]));
        }
    }
    Ok(Some(out))
}

/// Compares the run folder `run` with the previous run folder `previous` and
/// writes `out/migration.parquet` and `out/migration.json`.
pub fn migrate(
    previous: &Path,
    run: &Path,
    out: &Path,
    obs: &dyn Observer,
) -> Result<MigrationReport> {
    let (pl, nl) = (RunLayout::new(previous), RunLayout::new(run));
    super::lineage::check(previous, super::lineage::Upto::All)?;
    super::lineage::check(run, super::lineage::Upto::Lifetime)?;
    let prev_model = Model::load(&pl.model())?;
    let model = Model::load(&nl.model())?;
    for (m, path) in [(&prev_model, pl.model()), (&model, nl.model())] {
        if m.kmeans().is_none() {
            return Err(Error::Model {
                path,
                message: "is not a K-means model (rule: migration compares two K-means runs, the later warm-started from the earlier)".into(),
            });
        }
    }
    // The later run must continue the earlier: its model warm-started from it.
    let link = model
        .kmeans()
        .and_then(|k| k.warm_start.as_ref())
        .map(|w| w.previous_fit_id.as_str());
    if link != Some(prev_model.fit_id.as_str()) {
        return Err(Error::Model {
            path: nl.model(),
            message: format!(
                "{} (rule: migration compares a run with the one it updates; run `segmenta update --previous {} -o …` and compare those)",
                match link {
                    Some(l) => format!(
                        "continues fit {l}, not {}'s fit {}",
                        pl.model().display(),
                        prev_model.fit_id
                    ),
                    None => format!(
                        "is a fresh fit, not an update of {}",
                        pl.model().display()
                    ),
                },
                previous.display()
            ),
        });
    }
    let id_col = model.id_col.clone();
    let before = read_side(&pl.assignments(), &prev_model.id_col)?;
    let after = read_side(&nl.assignments(), &model.id_col)?;
    let kind = |ids: &crate::io::Ids| matches!(ids, crate::io::Ids::Int(_));
    if kind(&before.table.ids) != kind(&after.table.ids) {
        let name = |k: bool| if k { "integers" } else { "text" };
        return Err(Error::Source {
            path: pl.assignments(),
            message: format!(
                "its customer ids are {}, this run's ({}) are {} (rule: both runs read the same id column, of the same type)",
                name(kind(&before.table.ids)),
                nl.assignments().display(),
                name(kind(&after.table.ids))
            ),
        });
    }
    let prev_as_of = crate::artefact::read::<FeaturesReport>(&pl.features_json())?.as_of;
    let as_of = crate::artefact::read::<FeaturesReport>(&nl.features_json())?.as_of;
    let prev_day = crate::dates::parse_date(&prev_as_of, "previous as-of")?;
    let mut notes = Vec::new();
    if crate::dates::parse_date(&as_of, "as-of")? <= prev_day {
        return Err(Error::Source {
            path: nl.features_json(),
            message: format!(
                "this run's as-of ({as_of}) is not after the previous run's ({prev_as_of}, {}) (rule: --previous is the earlier run, --run the later)",
                pl.features_json().display()
            ),
        });
    }

    let index = IdIndex::new(&after.table.ids);
    let n = after.table.x.n();
    let prev_rows = index.rows(before.table.ids.to_arrow().as_ref(), &pl.assignments())?;
    // previous label per new row, and the previous rows with no new row
    let mut prev_of = vec![None; n];
    let mut gone = Vec::new();
    for (i, r) in prev_rows.iter().enumerate() {
        match r {
            Some(r) => prev_of[*r] = Some(before.labels[i]),
            None => gone.push(i),
        }
    }
    // Last purchase, from this run's lifetime stage.
    let last = nl.stage("lifetime").join("customers.parquet");
    let last_purchase: Option<Vec<Option<i32>>> = if last.exists() {
        let src = Source::open(&last)?;
        let schema = src.schema().clone();
        let col = |c: &str| {
            schema
                .index_of(c)
                .map_err(|_| Error::missing_column(&last, c, &schema))
        };
        let cols = [col(&id_col)?, col("last_purchase")?];
        let mut v = vec![None; n];
        for b in src.batches(&cols)? {
            let b = b?;
            let rows = index.rows(b.column(0).as_ref(), &last)?;
            let d = cast(b.column(1), &DataType::Date32).map_err(|e| Error::Source {
                path: last.clone(),
                message: e.to_string(),
            })?;
            let d = d.as_primitive::<Date32Type>();
            for (i, r) in rows.iter().enumerate() {
                if let (Some(r), true) = (r, d.is_valid(i)) {
                    v[*r] = Some(d.value(i));
                }
            }
        }
        Some(v)
    } else {
        notes.push(format!(
            "{}: absent: no customer is marked lapsed",
            last.display()
        ));
        None
    };

    let mut states = BTreeMap::new();
    for s in ["stayed", "moved", "lapsed", "new", "gone"] {
        states.insert(s.to_string(), 0u64);
    }
    let mut state: Vec<&'static str> = Vec::with_capacity(n + gone.len());
    for r in 0..n {
        let s = match prev_of[r] {
            None => "new",
            Some(_)
                if last_purchase
                    .as_ref()
                    .is_some_and(|l| l[r].is_none_or(|d| d < prev_day)) =>
            {
                "lapsed"
            }
            Some(p) if p == after.labels[r] => "stayed",
            Some(_) => "moved",
        };
        state.push(s);
    }
    state.extend(std::iter::repeat_n("gone", gone.len()));
    for s in &state {
        *states.get_mut(*s).expect("a state") += 1;
    }

    // The matrix.
    let ids_of = |m: &Model| m.kmeans().map(|k| k.active()).unwrap_or_default();
    let from_ids: Vec<i32> = ids_of(&prev_model).iter().map(|&c| c as i32).collect();
    let to_ids: Vec<i32> = ids_of(&model).iter().map(|&c| c as i32).collect();
    let fpos = |l: Option<i32>| match l {
        Some(l) => from_ids
            .iter()
            .position(|&c| c == l)
            .unwrap_or(from_ids.len()),
        None => from_ids.len(),
    };
    let tpos = |l: Option<i32>| match l {
        Some(l) => to_ids.iter().position(|&c| c == l).unwrap_or(to_ids.len()),
        None => to_ids.len(),
    };
    let mut counts = vec![vec![0u64; to_ids.len() + 1]; from_ids.len() + 1];
    for r in 0..n {
        counts[fpos(prev_of[r])][tpos(Some(after.labels[r]))] += 1;
    }
    for &i in &gone {
        counts[fpos(Some(before.labels[i]))][to_ids.len()] += 1;
    }
    let shares: Vec<Vec<f64>> = counts
        .iter()
        .map(|row| {
            let t: u64 = row.iter().sum();
            row.iter()
                .map(|&c| if t == 0 { 0.0 } else { c as f64 / t as f64 })
                .collect()
        })
        .collect();
    let mut from: Vec<String> = from_ids.iter().map(|c| c.to_string()).collect();
    from.push("new".into());
    let mut to: Vec<String> = to_ids.iter().map(|c| c.to_string()).collect();
    to.push("gone".into());
    let mut flows: Vec<Flow> = Vec::new();
    for (i, row) in counts.iter().enumerate() {
        for (j, &c) in row.iter().enumerate() {
            if c > 0 && from[i] != to[j] {
                flows.push(Flow {
                    from: from[i].clone(),
                    to: to[j].clone(),
                    customers: c,
                });
            }
        }
    }
    flows.sort_by(|a, b| b.customers.cmp(&a.customers).then(a.from.cmp(&b.from)));
    flows.truncate(TOP_FLOWS);

    // Per segment: sizes and revenue then and now.
    let prev_index = IdIndex::new(&before.table.ids);
    let rev_before = column_by_id(
        &pl.clean_parquet(),
        "monetary_total",
        &prev_index,
        before.table.x.n(),
        &prev_model.id_col,
    )?;
    let rev_after = column_by_id(&nl.clean_parquet(), "monetary_total", &index, n, &id_col)?;
    let personas: BTreeMap<i32, String> =
        crate::artefact::read_if_exists::<Profile>(&pl.profile_json())?
            .map(|p| {
                p.segments
                    .into_iter()
                    .map(|s| (s.segment, s.persona))
                    .collect()
            })
            .unwrap_or_default();
    let warm = model.kmeans().and_then(|k| k.warm_start.clone());
    if warm.is_none() {
        notes.push("this run's K-means was not warm-started from the previous model: its segment ids need not match the previous ones".into());
    }
    let matches: Vec<SegmentMatch> = warm
        .as_ref()
        .map(|w| w.segments.clone())
        .unwrap_or_default();
    let mut all: Vec<i32> = from_ids.iter().chain(&to_ids).copied().collect();
    all.sort_unstable();
    all.dedup();
    let sum = |labels: &[i32], rev: &Option<Vec<Option<f64>>>, s: i32| -> Option<f64> {
        rev.as_ref().map(|r| {
            labels
                .iter()
                .zip(r)
                .filter(|(l, _)| **l == s)
                .filter_map(|(_, v)| *v)
                .sum::<f64>()
                + 0.0
        })
    };
    let segments = all
        .iter()
        .map(|&s| {
            let m = matches.iter().find(|m| m.segment as i32 == s);
            let of_prev = |want: &str| {
                (0..n)
                    .filter(|&r| prev_of[r] == Some(s) && state[r] == want)
                    .count() as u64
            };
            SegmentChange {
                segment: s,
                status: m.map_or_else(
                    || {
                        if to_ids.contains(&s) {
                            "kept"
                        } else {
                            "vanished"
                        }
                        .to_string()
                    },
                    |m| m.status.clone(),
                ),
                persona_before: personas.get(&s).cloned(),
                size_before: before.labels.iter().filter(|&&l| l == s).count() as u64,
                size_after: after.labels.iter().filter(|&&l| l == s).count() as u64,
                revenue_before: sum(&before.labels, &rev_before, s),
                revenue_after: sum(&after.labels, &rev_after, s),
                stayed: of_prev("stayed"),
                lapsed: of_prev("lapsed"),
                shift: m.and_then(|m| (m.status == "kept").then_some(m.distance).flatten()),
            }
        })
        .collect();

    // Per customer.
    let gone_ids = {
        let all = before.table.ids.to_arrow();
        let idx =
            arrow::array::UInt32Array::from(gone.iter().map(|&i| i as u32).collect::<Vec<_>>());
        let picked = arrow::compute::take(all.as_ref(), &idx, None).map_err(|e| Error::Source {
            path: pl.assignments(),
            message: e.to_string(),
        })?;
        cast(&picked, after.table.ids.to_arrow().data_type()).map_err(|e| Error::Source {
            path: pl.assignments(),
            message: format!("its ids do not convert to this run's id type: {e}"),
        })?
    };
    let ids: ArrayRef =
        concat(&[after.table.ids.to_arrow().as_ref(), gone_ids.as_ref()]).map_err(|e| {
            Error::Source {
                path: nl.assignments(),
                message: e.to_string(),
            }
        })?;
    let prev_col: Int32Array = prev_of
        .iter()
        .copied()
        .chain(gone.iter().map(|&i| Some(before.labels[i])))
        .collect();
    let new_col: Int32Array = after
        .labels
        .iter()
        .map(|&l| Some(l))
        .chain(gone.iter().map(|_| None))
        .collect();
    // Moved: in both runs, in another segment (lapsed or not).
    let moved: BooleanArray = (0..n)
        .map(|r| Some(prev_of[r].is_some_and(|p| p != after.labels[r])))
        .chain(gone.iter().map(|_| Some(false)))
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        (id_col.as_str(), ids),
        ("previous_segment", Arc::new(prev_col)),
        ("segment", Arc::new(new_col)),
        ("state", Arc::new(StringArray::from(state.clone()))),
        ("moved", Arc::new(moved)),
    ];
    let report = MigrationReport {
        format: MIGRATION_FORMAT.into(),
        version: MIGRATION_VERSION,
        previous_run: previous.display().to_string(),
        previous_fit_id: prev_model.fit_id.clone(),
        fit_id: model.fit_id.clone(),
        previous_as_of: prev_as_of,
        as_of,
        customers_before: before.table.x.n() as u64,
        customers_after: n as u64,
        states,
        matrix: MigrationMatrix {
            from,
            to,
            counts,
            shares,
        },
        segments,
        flows,
        scaler: warm.as_ref().map_or("fitted".into(), |w| w.scaler.clone()),
        drift: warm.as_ref().map(|w| w.drift.clone()).unwrap_or_default(),
        max_shift: warm.as_ref().map(|w| w.max_shift),
        notes,
    };
    obs.info(&format!(
        "migration: {} stayed, {} moved, {} lapsed, {} new, {} gone",
        report.states["stayed"],
        report.states["moved"],
        report.states["lapsed"],
        report.states["new"],
        report.states["gone"]
    ));
    let mut staged = Staged::new(out)?;
    write_table(&mut staged, &out.join("migration.parquet"), cols)?;
    write_json(&mut staged, &out.join("migration.json"), &report)?;
    staged.commit()?;
    Ok(report)
}
