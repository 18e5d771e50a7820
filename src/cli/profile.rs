//! `segmenta profile`: what each segment is — sizes, revenue shares, lifts,
//! persona names, the surrogate tree's rules, basket rules and SHOPPING x STREAMING.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Result};
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use clap::Args;
use segmenta::dates::DAY_US;
use segmenta::io::{read_features, write_json, Ids, ReadSpec, Source, Staged};
use segmenta::model::Model;
use segmenta::profile::basket::{self, BasketParams, BasketReport, SegmentRules};
use segmenta::profile::streaming::{self, StreamingReport};
use segmenta::profile::{
    age_band, name_segments, segment_stats, PersonaRules, Profile, SurrogateSummary, AGE_BANDS,
    PROFILE_FORMAT, PROFILE_VERSION,
};
use segmenta::Error;

use super::common::OutputArgs;

#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// The feature table the segments were fitted on (e.g. clean.parquet).
    #[arg(long, short = 'i')]
    pub features: PathBuf,
    /// assignments.parquet from `segmenta kmeans` or `segmenta dbscan`.
    #[arg(long, short = 'a')]
    pub assignments: PathBuf,
    /// model.json with the surrogate tree [default: model.json beside the assignments, if any].
    #[arg(long, short = 'm')]
    pub model: Option<PathBuf>,
    /// Raw sources folder (transactions.parquet, streaming.parquet) for the basket
    /// rules and SHOPPING x STREAMING.
    #[arg(long)]
    pub sources: Option<PathBuf>,
    /// Id column.
    #[arg(long, default_value = "customer_id")]
    pub id_col: String,
    /// Persona rules (TOML) instead of the built-in ones (`--print-personas` shows them).
    #[arg(long)]
    pub personas: Option<PathBuf>,
    /// Print the built-in persona rules and exit.
    #[arg(long)]
    pub print_personas: bool,
    /// Minimum support of a basket itemset (share of a segment's baskets).
    #[arg(long, default_value_t = 0.01)]
    pub min_support: f64,
    /// Minimum confidence of a basket rule.
    #[arg(long, default_value_t = 0.2)]
    pub min_confidence: f64,
    /// Minimum lift of a basket rule (1: bought together more often than by chance).
    #[arg(long, default_value_t = 1.0)]
    pub min_lift: f64,
    /// Output folder: profile.json.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Customer id → row of the feature table.
enum IdIndex {
    Int(HashMap<i64, usize>),
    Str(HashMap<String, usize>),
}

impl IdIndex {
    fn new(ids: &Ids) -> IdIndex {
        match ids {
            Ids::Int(v) => IdIndex::Int(v.iter().enumerate().map(|(i, x)| (*x, i)).collect()),
            Ids::Str(v) => {
                IdIndex::Str(v.iter().enumerate().map(|(i, x)| (x.clone(), i)).collect())
            }
        }
    }

    /// Rows of each id in `col` (None: unknown or null).
    fn rows(&self, col: &dyn Array, path: &Path) -> Result<Vec<Option<usize>>> {
        let err = |e: arrow::error::ArrowError| Error::Source {
            path: path.to_path_buf(),
            message: format!("customer_id: {e}"),
        };
        Ok(match self {
            IdIndex::Int(m) => {
                let a = cast(col, &DataType::Int64).map_err(err)?;
                a.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.and_then(|v| m.get(&v).copied()))
                    .collect()
            }
            IdIndex::Str(m) => {
                let a = cast(col, &DataType::Utf8).map_err(err)?;
                a.as_string::<i32>()
                    .iter()
                    .map(|v| v.and_then(|v| m.get(v).copied()))
                    .collect()
            }
        })
    }
}

fn column<'a>(b: &'a arrow::array::RecordBatch, name: &str) -> Option<&'a arrow::array::ArrayRef> {
    b.schema().index_of(name).ok().map(|i| b.column(i))
}

pub fn run(a: ProfileArgs) -> Result<ExitCode> {
    if a.print_personas {
        print!("{}", segmenta::profile::DEFAULT_PERSONAS);
        return Ok(ExitCode::SUCCESS);
    }
    let out = a.output;
    if !(0.0..=1.0).contains(&a.min_support) || !(0.0..=1.0).contains(&a.min_confidence) {
        bail!("--min-support and --min-confidence must lie in [0, 1]");
    }
    let rules = match &a.personas {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            PersonaRules::parse(&text, p)?
        }
        None => PersonaRules::builtin(),
    };
    let table = read_features(&a.features, &ReadSpec::new(a.id_col.clone()))?;
    let mut aspec = ReadSpec::new(a.id_col.clone());
    aspec.columns = Some(vec!["segment".into()]);
    let assigned = read_features(&a.assignments, &aspec)?;
    let index = IdIndex::new(&table.ids);
    let mut labels = vec![i32::MIN; table.x.n()];
    let seg_arr: Vec<i32> = (0..assigned.x.n())
        .map(|i| assigned.x.row(i)[0] as i32)
        .collect();
    let rows = index.rows(assigned.ids.to_arrow().as_ref(), &a.assignments)?;
    for (r, s) in rows.iter().zip(&seg_arr) {
        if let Some(r) = r {
            labels[*r] = *s;
        }
    }
    let missing = labels.iter().filter(|l| **l == i32::MIN).count();
    if missing > 0 {
        bail!(
            "{}: {missing} of {} customers in {} have no segment (rule: profile the table the segments were fitted on)",
            a.assignments.display(),
            table.x.n(),
            a.features.display()
        );
    }
    let (population, mut segments) = segment_stats(&table.x, &table.features, &labels);
    name_segments(&mut segments, &rules);
    let mut notes = Vec::new();

    let model_path = a.model.clone().or_else(|| {
        let p = a.assignments.with_file_name("model.json");
        p.exists().then_some(p)
    });
    let surrogate = match &model_path {
        Some(p) => Model::load(p)?.surrogate.map(|t| SurrogateSummary {
            fidelity: t.fidelity,
            train_rows: t.train_rows,
            test_rows: t.test_rows,
            max_depth: t.max_depth,
            rules: t.rules,
        }),
        None => None,
    };
    if surrogate.is_none() {
        notes.push("no surrogate tree: pass the K-means model.json with --model".into());
    }

    let seg_ids: Vec<i32> = segments.iter().map(|s| s.segment).collect();
    let seg_pos: HashMap<i32, usize> = seg_ids.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let (mut basket, mut streaming) = (None, None);
    match &a.sources {
        None => notes.push("no --sources: basket rules and streaming left out".into()),
        Some(dir) => {
            let params = BasketParams {
                min_support: a.min_support,
                min_confidence: a.min_confidence,
                min_lift: a.min_lift,
                ..BasketParams::default()
            };
            match find(dir, "transactions") {
                Some(p) => match basket_report(&p, &index, &labels, &seg_ids, &seg_pos, &params)? {
                    Ok(r) => basket = Some(r),
                    Err(note) => notes.push(note),
                },
                None => notes.push(format!(
                    "{}: no transactions table: no basket rules",
                    dir.display()
                )),
            }
            match find(dir, "streaming") {
                Some(p) => {
                    let age = table.features.iter().position(|f| f == "age");
                    let ages: Option<Vec<f32>> =
                        age.map(|j| (0..table.x.n()).map(|i| table.x.row(i)[j]).collect());
                    match streaming_report(
                        &p,
                        &index,
                        &labels,
                        &seg_ids,
                        &seg_pos,
                        ages.as_deref(),
                    )? {
                        Ok(r) => streaming = Some(r),
                        Err(note) => notes.push(note),
                    }
                }
                None => notes.push(format!(
                    "{}: no streaming table: no SHOPPING x STREAMING",
                    dir.display()
                )),
            }
        }
    }

    let profile = Profile {
        format: PROFILE_FORMAT.into(),
        version: PROFILE_VERSION,
        rows: table.x.n() as u64,
        personas_source: a
            .personas
            .as_ref()
            .map_or("built-in".into(), |p| p.display().to_string()),
        population,
        segments,
        surrogate,
        basket,
        streaming,
        notes,
    };
    let path = a.out.join("profile.json");
    let mut staged = Staged::new();
    write_json(&mut staged, &path, &profile)?;
    staged.commit()?;
    if out.json {
        println!("{}", serde_json::to_string_pretty(&profile)?);
    } else {
        print_profile(&profile);
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn find(dir: &Path, table: &str) -> Option<PathBuf> {
    ["parquet", "csv", "csv.gz"]
        .iter()
        .map(|e| dir.join(format!("{table}.{e}")))
        .find(|p| p.exists())
}

/// Names in first-seen order → (sorted names, new position of each old index).
fn sorted_names(names: &[String]) -> (Vec<String>, Vec<usize>) {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut newpos = vec![0usize; names.len()];
    for (new, &old) in order.iter().enumerate() {
        newpos[old] = new;
    }
    (order.iter().map(|&o| names[o].clone()).collect(), newpos)
}

type Report<T> = Result<std::result::Result<T, String>>;

fn basket_report(
    path: &Path,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
    params: &BasketParams,
) -> Report<BasketReport> {
    let src = Source::open(path)?;
    let schema = src.schema().clone();
    let need = ["customer_id", "ts", "category"];
    if let Some(c) = need.iter().find(|c| schema.index_of(c).is_err()) {
        return Ok(Err(format!(
            "{}: no `{c}` column: no basket rules (they need customer_id, ts, category)",
            path.display()
        )));
    }
    let mut idx: Vec<usize> = need
        .iter()
        .map(|c| schema.index_of(c).expect("checked"))
        .collect();
    let amount = schema.index_of("amount").ok();
    idx.extend(amount);
    let mut cats: HashMap<String, usize> = HashMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut baskets: HashMap<(usize, i64), u64> = HashMap::new();
    let mut counts: HashMap<(usize, usize), f64> = HashMap::new();
    let mut lines = 0u64;
    let err = |e: arrow::error::ArrowError| Error::Source {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    for b in src.batches(&idx)? {
        let b = b?;
        let rows = index.rows(column(&b, "customer_id").expect("projected").as_ref(), path)?;
        let ts = column(&b, "ts").expect("projected");
        let day: Vec<Option<i64>> = match ts.data_type() {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
                let us = cast(
                    ts,
                    &DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                )
                .map_err(err)?;
                let us = cast(&us, &DataType::Int64).map_err(err)?;
                us.as_primitive::<Int64Type>()
                    .iter()
                    .map(|v| v.map(|v| v.div_euclid(DAY_US)))
                    .collect()
            }
            _ => {
                let s = cast(ts, &DataType::Utf8).map_err(err)?;
                // Text timestamps: the date part is the basket key.
                let mut keys: HashMap<String, i64> = HashMap::new();
                s.as_string::<i32>()
                    .iter()
                    .map(|v| {
                        v.map(|v| {
                            let d = v.split([' ', 'T']).next().unwrap_or(v).to_string();
                            let n = keys.len() as i64;
                            *keys.entry(d).or_insert(n)
                        })
                    })
                    .collect()
            }
        };
        let cat = cast(column(&b, "category").expect("projected"), &DataType::Utf8).map_err(err)?;
        let cat = cat.as_string::<i32>();
        let amt = match column(&b, "amount") {
            Some(a) => Some(cast(a, &DataType::Float64).map_err(err)?),
            None => None,
        };
        let amt = amt.as_ref().map(|a| a.as_primitive::<Float64Type>());
        for i in 0..b.num_rows() {
            let (Some(r), Some(d)) = (rows[i], day[i]) else {
                continue;
            };
            if !cat.is_valid(i) {
                continue;
            }
            let v = amt.map_or(Some(1.0), |a| a.is_valid(i).then(|| a.value(i)));
            // Lines with a zero, negative or missing amount are not purchases.
            if !v.is_some_and(|v| v > 0.0) {
                continue;
            }
            let c = cat.value(i);
            let ci = match cats.get(c) {
                Some(&ci) => ci,
                None => {
                    if names.len() == 64 {
                        return Ok(Err(format!(
                            "{}: more than 64 categories: no basket rules",
                            path.display()
                        )));
                    }
                    names.push(c.to_string());
                    cats.insert(c.to_string(), names.len() - 1);
                    names.len() - 1
                }
            };
            lines += 1;
            *baskets.entry((r, d)).or_default() |= 1 << ci;
            // Cosine similarity over purchase counts: spend would let a few huge
            // tickets decide it.
            *counts.entry((r, ci)).or_default() += 1.0;
        }
    }
    if lines == 0 {
        return Ok(Err(format!(
            "{}: no purchase line of a profiled customer: no basket rules",
            path.display()
        )));
    }
    // Categories sorted by name, bits remapped.
    let (sorted, newpos) = sorted_names(&names);
    let remap = |m: u64| -> u64 {
        (0..names.len())
            .filter(|&o| m >> o & 1 == 1)
            .fold(0u64, |acc, o| acc | 1 << newpos[o])
    };
    let mut per_seg: Vec<Vec<u64>> = vec![Vec::new(); seg_ids.len()];
    let mut keys: Vec<(&(usize, i64), &u64)> = baskets.iter().collect();
    keys.sort_unstable_by_key(|(k, _)| **k);
    for ((r, _), m) in keys {
        per_seg[seg_pos[&labels[*r]]].push(remap(*m));
    }
    let segments = seg_ids
        .iter()
        .zip(&per_seg)
        .map(|(s, b)| {
            let mut rules = basket::rules(b, &sorted, params);
            rules.truncate(params.top);
            SegmentRules {
                segment: *s,
                baskets: b.len() as u64,
                rules,
            }
        })
        .collect();
    let mut per_customer: HashMap<usize, Vec<f64>> = HashMap::new();
    for ((r, c), v) in &counts {
        per_customer
            .entry(*r)
            .or_insert_with(|| vec![0.0; sorted.len()])[newpos[*c]] += v;
    }
    let matrix: Vec<Vec<f64>> = per_customer.into_values().collect();
    Ok(Ok(BasketReport {
        basket: "the categories one customer bought on one day".into(),
        min_support: params.min_support,
        min_confidence: params.min_confidence,
        min_lift: params.min_lift,
        recommendations: basket::cosine_recommendations(&matrix, &sorted, 3),
        categories: sorted,
        lines,
        segments,
    }))
}

fn streaming_report(
    path: &Path,
    index: &IdIndex,
    labels: &[i32],
    seg_ids: &[i32],
    seg_pos: &HashMap<i32, usize>,
    ages: Option<&[f32]>,
) -> Report<StreamingReport> {
    let src = Source::open(path)?;
    let schema = src.schema().clone();
    for c in ["customer_id", "package"] {
        if schema.index_of(c).is_err() {
            return Ok(Err(format!(
                "{}: no `{c}` column: no SHOPPING x STREAMING",
                path.display()
            )));
        }
    }
    let idx = [
        schema.index_of("customer_id").expect("checked"),
        schema.index_of("package").expect("checked"),
    ];
    let mut pk: HashMap<String, usize> = HashMap::new();
    let mut packages: Vec<String> = Vec::new();
    let mut subs: Vec<(usize, usize)> = Vec::new();
    for b in src.batches(&idx)? {
        let b = b?;
        let rows = index.rows(column(&b, "customer_id").expect("projected").as_ref(), path)?;
        let p = cast(column(&b, "package").expect("projected"), &DataType::Utf8).map_err(|e| {
            Error::Source {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
        let p = p.as_string::<i32>();
        for (i, r) in rows.iter().enumerate() {
            let Some(r) = r else { continue };
            if !p.is_valid(i) {
                continue;
            }
            let name = p.value(i);
            let j = match pk.get(name) {
                Some(&j) => j,
                None => {
                    packages.push(name.to_string());
                    pk.insert(name.to_string(), packages.len() - 1);
                    packages.len() - 1
                }
            };
            subs.push((*r, j));
        }
    }
    if subs.is_empty() {
        return Ok(Err(format!(
            "{}: no subscription of a profiled customer: no SHOPPING x STREAMING",
            path.display()
        )));
    }
    let (sorted, newpos) = sorted_names(&packages);
    let m = sorted.len();
    let mut by_seg = vec![vec![0u64; m]; seg_ids.len()];
    let mut by_age = vec![vec![0u64; m]; AGE_BANDS.len()];
    let mut seg_people: Vec<std::collections::HashSet<usize>> =
        vec![Default::default(); seg_ids.len()];
    let mut age_people: Vec<std::collections::HashSet<usize>> =
        vec![Default::default(); AGE_BANDS.len()];
    for &(r, j) in &subs {
        let s = seg_pos[&labels[r]];
        by_seg[s][newpos[j]] += 1;
        seg_people[s].insert(r);
        if let Some(ages) = ages {
            let band = AGE_BANDS
                .iter()
                .position(|b| *b == age_band(f64::from(ages[r])))
                .expect("a band");
            by_age[band][newpos[j]] += 1;
            age_people[band].insert(r);
        }
    }
    let seg_names: Vec<String> = seg_ids.iter().map(|s| s.to_string()).collect();
    let seg_counts: Vec<u64> = seg_people.iter().map(|s| s.len() as u64).collect();
    let age_names: Vec<String> = AGE_BANDS.iter().map(|s| s.to_string()).collect();
    let age_counts: Vec<u64> = age_people.iter().map(|s| s.len() as u64).collect();
    Ok(Ok(StreamingReport {
        subscriptions: subs.len() as u64,
        by_segment: streaming::shares(&seg_names, &by_seg, &seg_counts),
        by_age_band: if ages.is_some() {
            streaming::shares(&age_names, &by_age, &age_counts)
        } else {
            Vec::new()
        },
        chi_square: streaming::chi_square(&by_seg),
        packages: sorted,
    }))
}

fn print_profile(p: &Profile) {
    println!("{} customers in {} segments", p.rows, p.segments.len());
    for s in &p.segments {
        println!(
            "\nsegment {} — {} ({} customers, {:.1}%{})",
            s.segment,
            s.persona,
            s.size,
            100.0 * s.share,
            s.revenue_share
                .map_or(String::new(), |r| format!(", {:.1}% of revenue", 100.0 * r))
        );
        println!("  {}", s.description);
        println!("  traits: {}", s.traits.join(", "));
        if let Some(t) = &p.surrogate {
            for r in t
                .rules
                .iter()
                .filter(|r| r.segment as i32 == s.segment)
                .take(1)
            {
                println!(
                    "  rule: {} (covers {:.0}%, precision {:.0}%)",
                    r.text,
                    100.0 * r.coverage,
                    100.0 * r.precision
                );
            }
        }
        if let Some(b) = &p.basket {
            if let Some(r) = b
                .segments
                .iter()
                .find(|x| x.segment == s.segment)
                .and_then(|x| x.rules.first())
            {
                println!(
                    "  basket: {} → {} (support {:.3}, confidence {:.2}, lift {:.2})",
                    r.antecedent.join(" + "),
                    r.consequent,
                    r.support,
                    r.confidence,
                    r.lift
                );
            }
        }
    }
    if let Some(t) = &p.surrogate {
        println!(
            "\nsurrogate tree: fidelity {:.3} on {} held-out rows (depth ≤ {})",
            t.fidelity, t.test_rows, t.max_depth
        );
    }
    if let Some(s) = &p.streaming {
        if let Some(c) = &s.chi_square {
            println!(
                "streaming: {} subscriptions; segment x package chi-square {:.1} (dof {}), {}, Cramér's V {:.3}",
                s.subscriptions,
                c.statistic,
                c.dof,
                segmenta::profile::streaming::p_text(c.p_value),
                c.cramers_v
            );
        }
    }
    for n in &p.notes {
        println!("note: {n}");
    }
}
