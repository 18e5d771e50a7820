//! The features stage: raw sources → one row per customer, the kept canonical
//! tables and the rejects (see [`crate::features`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::flags::{self, Flags};
use super::Observer;
use crate::error::{Error, Result};
use crate::features::{check_map, parse_map, run_features, FeatureSpec, FeaturesReport};
use crate::schema::{table_names, CANONICAL};

/// Default of [`FeaturesOptions::max_amount`].
pub const DEFAULT_MAX_AMOUNT: f64 = 100_000.0;

/// How raw sources become features (everything but where they are).
#[derive(Clone, Debug, PartialEq)]
pub struct FeaturesOptions {
    /// Sources by table on top of the input folder, e.g. `customers=clients.csv`.
    pub sources: Vec<(String, PathBuf)>,
    /// Column mapping, `customer_id=CustomerID,ts=InvoiceDate,…`.
    pub map: Option<String>,
    /// First day after the history (YYYY-MM-DD).
    pub as_of: Option<String>,
    /// First day of the history (YYYY-MM-DD).
    pub since: Option<String>,
    /// chrono format of text timestamps.
    pub ts_format: Option<String>,
    /// Larger amounts are rejected as absurd.
    pub max_amount: f64,
    /// Keep transaction lines identical to an earlier one.
    pub keep_duplicate_lines: bool,
    /// The user's own feature SQL.
    pub sql: Option<PathBuf>,
    /// The user's own category groups (`${group:NAME}` of the SQL).
    pub category_groups: Option<PathBuf>,
    /// The stage's memory budget, MiB: the number of customer buckets follows
    /// from it, and DataFusion spills past it.
    pub memory_mib: usize,
    /// Buckets of customers (`None`: from the input sizes and the budget).
    pub partitions: Option<usize>,
    /// Files each kept table is written in (`None`: from the input sizes).
    pub table_parts: Option<usize>,
}

impl Default for FeaturesOptions {
    fn default() -> Self {
        FeaturesOptions {
            sources: Vec::new(),
            map: None,
            as_of: None,
            since: None,
            ts_format: None,
            max_amount: DEFAULT_MAX_AMOUNT,
            keep_duplicate_lines: false,
            sql: None,
            category_groups: None,
            memory_mib: super::memory::default_memory_mib(),
            partitions: None,
            table_parts: None,
        }
    }
}

impl Flags for FeaturesOptions {
    fn flags(&self, argv: &mut Vec<String>) {
        for (t, p) in &self.sources {
            flags::value(argv, "--source", format!("{t}={}", p.display()));
        }
        flags::opt(argv, "--map", self.map.as_ref());
        flags::opt(argv, "--as-of", self.as_of.as_ref());
        flags::opt(argv, "--since", self.since.as_ref());
        flags::opt(argv, "--ts-format", self.ts_format.as_ref());
        flags::value(argv, "--max-amount", self.max_amount);
        flags::switch(argv, "--keep-duplicate-lines", self.keep_duplicate_lines);
        flags::path(argv, "--sql", self.sql.as_deref());
        flags::path(argv, "--category-groups", self.category_groups.as_deref());
        flags::value(argv, "--memory-mib", self.memory_mib);
        flags::opt(argv, "--partitions", self.partitions.as_ref());
        flags::opt(argv, "--table-parts", self.table_parts.as_ref());
    }
}

impl FeaturesOptions {
    /// Checks every option that needs no source, as if every canonical table had
    /// one, before any work (`demo` generates its sources first).
    pub fn check(&self) -> Result<()> {
        let mut spec = FeatureSpec::new();
        for t in CANONICAL {
            spec.sources.insert(t.name.into(), PathBuf::new());
        }
        self.apply(&mut spec)
    }

    /// Checks every option and builds the spec for sources at `input` (a folder
    /// of raw tables, or one transactions file), before any data is read.
    pub fn spec(&self, input: &Path) -> Result<FeatureSpec> {
        let mut spec = if input.is_dir() {
            FeatureSpec::from_dir(input)?
        } else if input.is_file() {
            let mut s = FeatureSpec::new();
            s.sources.insert("transactions".into(), input.to_path_buf());
            s
        } else {
            return Err(Error::NotFound {
                path: input.to_path_buf(),
            });
        };
        for (table, path) in &self.sources {
            if !CANONICAL.iter().any(|t| t.name == table) {
                return Err(Error::param(
                    "--source",
                    format!(
                        "`{table}` is not a canonical table (rule: tables are {})",
                        table_names()
                    ),
                ));
            }
            if !path.exists() {
                return Err(Error::NotFound { path: path.clone() });
            }
            spec.sources.insert(table.clone(), path.clone());
        }
        self.apply(&mut spec)?;
        Ok(spec)
    }
}

impl FeaturesOptions {
    /// Checks the options that concern no particular source and sets them on `spec`.
    fn apply(&self, spec: &mut FeatureSpec) -> Result<()> {
        if let Some(m) = &self.map {
            spec.map = parse_map(m)?;
            check_map(&spec.map, &spec.sources)?;
        }
        if let Some(d) = &self.as_of {
            spec.as_of = Some(crate::dates::parse_date(d, "--as-of")?);
            spec.as_of_source = Some("--as-of".into());
        }
        if let Some(d) = &self.since {
            spec.since = Some(crate::dates::parse_date(d, "--since")?);
            spec.since_source = Some("--since".into());
        }
        if let (Some(a), Some(s)) = (spec.as_of, spec.since) {
            if s >= a {
                return Err(Error::param(
                    "--since",
                    "must be before --as-of (rule: the history is [since, as-of))",
                ));
            }
        }
        if let Some(f) = &self.ts_format {
            check_ts_format(f)?;
        }
        spec.ts_format.clone_from(&self.ts_format);
        if self.max_amount.is_nan() || self.max_amount <= 0.0 {
            return Err(Error::param("--max-amount", "must be > 0"));
        }
        spec.max_amount = self.max_amount;
        spec.dedup = !self.keep_duplicate_lines;
        super::memory::check_memory_mib(self.memory_mib)?;
        spec.memory_limit = self.memory_mib << 20;
        spec.partitions = self.partitions;
        spec.table_parts = self.table_parts;
        spec.check_counts()?;
        if let Some(p) = &self.sql {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            spec.sql = (text, p.display().to_string());
        }
        if let Some(p) = &self.category_groups {
            let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
            let source = p.display().to_string();
            spec.category_groups = (
                crate::features::parse_category_groups(&text, &source)?,
                source,
            );
        }
        Ok(())
    }
}

/// Runs the features stage on the sources at `input` into `out`: features.parquet,
/// features.json, tables/<table>/part-NNNN.parquet (the kept rows, canonical) and
/// rejects/<table>.parquet.
pub fn features(
    input: &Path,
    opts: &FeaturesOptions,
    out: &Path,
    obs: &dyn Observer,
) -> Result<FeaturesReport> {
    let spec = opts.spec(input)?;
    let t = Instant::now();
    let r = run_features(&spec, out, &|s, done, steps| {
        obs.progress(
            &format!("features: {s} ({:.1} s)", t.elapsed().as_secs_f64()),
            done,
            steps,
        );
    });
    obs.finish();
    r
}

/// A `--ts-format` must be a strftime pattern (chrono's fields): every `%` starts a
/// known field, and there is at least one (`yyyy-mm-dd` is a common slip).
pub fn check_ts_format(f: &str) -> Result<()> {
    const FIELDS: &str = "aAbBcCdDeFfgGhHIjklmMnpPrRsStTuUvVwWxXyYzZ+%";
    let bad = |what: String| {
        Error::param(
            "--ts-format",
            format!("{what} (rule: a strftime pattern such as %Y-%m-%d %H:%M:%S or %d/%m/%Y)"),
        )
    };
    let mut fields = 0;
    let mut it = f.char_indices().peekable();
    while let Some((at, c)) = it.next() {
        if c != '%' {
            continue;
        }
        // flags, width, fraction and colon modifiers, then the field letter
        while let Some(&(_, m)) = it.peek() {
            if "-_0^#.:123456789".contains(m) {
                it.next();
            } else {
                break;
            }
        }
        match it.next() {
            Some((end, l)) if FIELDS.contains(l) => {
                let _ = end;
                if l != '%' {
                    fields += 1;
                }
            }
            Some((end, l)) => {
                return Err(bad(format!(
                    "`{}` in \"{}\" is not a strftime field",
                    f[at..end + l.len_utf8()].escape_default(),
                    f.escape_default()
                )))
            }
            None => return Err(bad(format!("\"{}\" ends in a lone %", f.escape_default()))),
        }
    }
    if fields == 0 {
        return Err(bad(format!("\"{}\" holds no % field", f.escape_default())));
    }
    Ok(())
}
