//! Reading the raw sources: each file or folder is registered with DataFusion as
//! `raw_<table>`, and each canonical column gets its typed SQL expression (a source
//! column found by name, a `--map` expression, or NULL when absent). Split out of
//! `features/mod.rs` so that the stage's driver (`run_async`) reads on one screen.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use arrow::datatypes::DataType;
use datafusion::prelude::{CsvReadOptions, ParquetReadOptions, SessionContext};

use super::{df_err, one_line, quote, FeatureSpec};
use crate::error::{Error, Result};
use crate::schema::{Canonical, Kind, CANONICAL};

pub(super) struct Registered {
    pub(super) table: &'static Canonical,
    pub(super) path: PathBuf,
    pub(super) raw_cols: Vec<(String, DataType)>,
    pub(super) exprs: BTreeMap<&'static str, String>,
    pub(super) how: BTreeMap<String, String>,
    /// Timestamp columns parsed from text or integers (the only casts that can fail).
    pub(super) parsed: Vec<&'static str>,
    /// The customer id's expression before its cast (a column or a mapping).
    pub(super) id_expr: String,
}

/// The type customer ids are kept in, and why (recorded in `features.json`).
pub(super) struct IdType {
    /// `BIGINT` or `VARCHAR`.
    pub(super) sql: &'static str,
    /// Why, in words.
    pub(super) why: String,
}

/// The canonical spelling of an integer id: no sign, leading zero, exponent,
/// decimal point or inner space, at most 18 digits (so it fits in 64 bits).
pub(super) const CANONICAL_INT: &str = "^(0|[1-9][0-9]{0,17})$";

/// Registers every given source as `raw_<table>`, in `CANONICAL` order, and builds
/// the canonical expressions of its columns (step 1 of `run_async`); then checks
/// the timestamps held as text.
pub(super) async fn register_sources(
    ctx: &SessionContext,
    spec: &FeatureSpec,
    tmp: &Path,
) -> Result<Vec<Registered>> {
    let mut regs: Vec<Registered> = Vec::new();
    for t in CANONICAL {
        let Some(path) = spec.sources.get(t.name) else {
            continue;
        };
        let raw = format!("raw_{}", t.name);
        register(ctx, &raw, path, tmp, None).await?;
        let mut schema = raw_schema(ctx, &raw, path).await?;
        // A CSV's id column is read as text, so that `012` and `12` stay two
        // customers ([`customer_id_type`] decides afterwards whether every id is
        // the canonical spelling of an integer).
        if !is_parquet(path)? {
            let id_col = id_source_column(spec, t.name, &schema);
            let arrow_schema = schema.as_arrow();
            let numeric = id_col
                .and_then(|c| arrow_schema.index_of(&c).ok())
                .filter(|&i| arrow_schema.field(i).data_type() != &DataType::Utf8);
            if let Some(i) = numeric {
                let patched = crate::io::as_text(arrow_schema, i);
                ctx.deregister_table(raw.as_str())
                    .map_err(|e| df_err(path, e))?;
                register(ctx, &raw, path, tmp, Some(&patched)).await?;
                schema = raw_schema(ctx, &raw, path).await?;
            }
        }
        let raw_cols: Vec<(String, DataType)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone()))
            .collect();
        let names: Vec<String> = raw_cols.iter().map(|c| c.0.clone()).collect();
        let mut exprs = BTreeMap::new();
        let mut how = BTreeMap::new();
        let mut parsed = Vec::new();
        let mut id_expr = String::new();
        for &(col, kind, required) in t.columns {
            let mapped = spec
                .map
                .iter()
                .find(|m| m.table == t.name && m.column == col);
            let (expr, desc) = if let Some(m) = mapped {
                (
                    super::mapping::rewrite(&m.expr, &names, path, col)?,
                    format!("mapped: {}", m.expr),
                )
            } else if let Some(n) = names
                .iter()
                .find(|n| n.as_str() == col)
                .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(col)))
            {
                (quote(n), format!("column `{n}`"))
            } else if required {
                return Err(Error::MissingColumn {
                    path: path.clone(),
                    column: col.to_string(),
                    available: match Error::separator_hint(
                        &names.iter().map(String::as_str).collect::<Vec<_>>(),
                    ) {
                        Some(h) => format!("{}; {h}", names.join(", ")),
                        None => format!(
                            "{} (rule: {}.{col} is required; name it with --map {col}=EXPR)",
                            names.join(", "),
                            t.name
                        ),
                    },
                });
            } else {
                ("NULL".to_string(), "absent".to_string())
            };
            if kind == Kind::Id {
                id_expr = expr.clone();
            }
            let (typed, parses) =
                typed_expr(ctx, &raw, path, col, kind, &expr, spec.ts_format.as_deref()).await?;
            exprs.insert(col, typed);
            how.insert(col.to_string(), desc);
            if parses {
                parsed.push(col);
            }
        }
        regs.push(Registered {
            table: t,
            path: path.clone(),
            raw_cols,
            exprs,
            how,
            parsed,
            id_expr,
        });
    }

    // Timestamps held as text are checked up front, so a bad value is reported
    // with its file and column instead of failing deep inside the query.
    for r in &regs {
        for &col in &r.parsed {
            let q = format!("SELECT COUNT({}) FROM raw_{}", r.exprs[col], r.table.name);
            let res = async { ctx.sql(&q).await?.collect().await }.await;
            if let Err(e) = res {
                return Err(Error::Source {
                    path: r.path.clone(),
                    message: format!(
                        "column `{col}` ({}): a timestamp does not parse: {} (rule: timestamps are ISO 8601 (YYYY-MM-DD[ HH:MM:SS]) or match --ts-format)",
                        r.how[col],
                        first_sentence(&e.to_string())
                    ),
                });
            }
        }
    }
    Ok(regs)
}

fn first_sentence(s: &str) -> String {
    let s = one_line(s);
    s.trim_start_matches("Arrow error: ")
        .trim_start_matches("Execution error: ")
        .to_string()
}

async fn raw_schema(
    ctx: &SessionContext,
    raw: &str,
    path: &Path,
) -> Result<datafusion::common::DFSchema> {
    Ok(ctx
        .table(raw)
        .await
        .map_err(|e| df_err(path, e))?
        .schema()
        .clone())
}

/// The raw column a table's customer ids come from: the column named
/// `customer_id` (any case), or the one a `--map customer_id=COLUMN` names; `None`
/// for a mapping that computes the id (its type is the mapping's).
fn id_source_column(
    spec: &FeatureSpec,
    table: &str,
    schema: &datafusion::common::DFSchema,
) -> Option<String> {
    let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let find = |want: &str| {
        names
            .iter()
            .find(|n| n.as_str() == want)
            .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(want)))
            .map(|n| n.to_string())
    };
    match spec
        .map
        .iter()
        .find(|m| m.table == table && m.column == "customer_id")
    {
        Some(m) => {
            let e = m.expr.trim();
            let bare = e
                .strip_prefix('"')
                .and_then(|x| x.strip_suffix('"'))
                .unwrap_or(e);
            names
                .iter()
                .find(|n| n.as_str() == bare)
                .map(|n| n.to_string())
        }
        None => find("customer_id"),
    }
}

/// Whether `path` (a file or a folder of partitions) is Parquet.
fn is_parquet(path: &Path) -> Result<bool> {
    match path.is_dir() {
        true => Ok(dir_extension(path)? == ".parquet"),
        false => Ok(path
            .to_string_lossy()
            .to_ascii_lowercase()
            .ends_with(".parquet")),
    }
}

/// The one format of a folder of partitions: `.parquet` or `.csv`.
fn dir_extension(path: &Path) -> Result<&'static str> {
    let mut exts = HashSet::new();
    for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
        let n = e
            .map_err(|e| Error::io(path, e))?
            .file_name()
            .to_string_lossy()
            .to_ascii_lowercase();
        if n.ends_with(".parquet") {
            exts.insert(".parquet");
        } else if n.ends_with(".csv") {
            exts.insert(".csv");
        }
    }
    match exts.len() {
        1 => Ok(exts.into_iter().next().expect("one element")),
        0 => Err(Error::Empty {
            path: path.to_path_buf(),
        }),
        _ => Err(Error::param(
            "--input",
            format!(
                "{} mixes Parquet and CSV partitions (rule: one format per folder)",
                path.display()
            ),
        )),
    }
}

/// Registers `path` as `name`; a CSV with `schema` when given (else inferred).
async fn register(
    ctx: &SessionContext,
    name: &str,
    path: &Path,
    tmp: &Path,
    schema: Option<&arrow::datatypes::Schema>,
) -> Result<()> {
    let s = path.to_string_lossy().to_string();
    let lower = s.to_ascii_lowercase();
    let is_dir = path.is_dir();
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let res = if is_parquet(path)? {
        ctx.register_parquet(
            name,
            &s,
            ParquetReadOptions::default().file_extension(if is_dir { ".parquet" } else { "" }),
        )
        .await
    } else if is_dir || lower.ends_with(".csv") {
        if !is_dir
            && std::fs::metadata(path)
                .map_err(|e| Error::io(path, e))?
                .len()
                == 0
        {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        if is_dir {
            match schema {
                Some(schema) => {
                    ctx.register_csv(name, &s, csv_options(".csv").schema(schema))
                        .await
                }
                None => ctx.register_csv(name, &s, csv_options(".csv")).await,
            }
        } else {
            let schema = match schema {
                Some(schema) => schema.clone(),
                None => csv_schema(path)?,
            };
            ctx.register_csv(name, &s, csv_options("").schema(&schema))
                .await
        }
    } else if lower.ends_with(".csv.gz") {
        // Unpacked once into the run's temporary folder (DataFusion's own gzip
        // support would add xz and bzip2 C builds for one format).
        let unpacked = tmp.join(format!("{name}.csv"));
        if let Some(schema) = schema.filter(|_| unpacked.is_file()) {
            return ctx
                .register_csv(
                    name,
                    unpacked.to_string_lossy().as_ref(),
                    csv_options("").schema(schema),
                )
                .await
                .map_err(|e| df_err(path, e));
        }
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut gz = flate2::read::MultiGzDecoder::new(std::io::BufReader::new(f));
        let mut o = std::io::BufWriter::new(
            std::fs::File::create(&unpacked).map_err(|e| Error::io(&unpacked, e))?,
        );
        std::io::copy(&mut gz, &mut o).map_err(|e| Error::Source {
            path: path.to_path_buf(),
            message: format!("unreadable gzip ({e})"),
        })?;
        drop(o);
        if std::fs::metadata(&unpacked)
            .map_err(|e| Error::io(&unpacked, e))?
            .len()
            == 0
        {
            return Err(Error::Empty {
                path: path.to_path_buf(),
            });
        }
        let schema = match schema {
            Some(schema) => schema.clone(),
            None => csv_schema(&unpacked)?,
        };
        ctx.register_csv(
            name,
            unpacked.to_string_lossy().as_ref(),
            csv_options("").schema(&schema),
        )
        .await
    } else {
        return Err(Error::UnsupportedFormat {
            path: path.to_path_buf(),
        });
    };
    res.map_err(|e| df_err(path, e))
}

/// CSV sources: a header row, types inferred over a million rows, quoted fields
/// that may hold newlines. A numeric column with a missing token or a padded cell
/// infers as text; [`text_value`] reads it before the cast.
fn csv_options(ext: &str) -> CsvReadOptions<'_> {
    CsvReadOptions::new()
        .has_header(true)
        .file_extension(ext)
        .schema_infer_max_records(1_000_000)
        .newlines_in_values(true)
}

/// A CSV file's schema, inferred by `io::Source` over every cell (quoted newlines
/// included, which DataFusion's chunked inference splits; a mostly-numeric column
/// with a stray text cell is text here and is named when it is cast).
fn csv_schema(path: &Path) -> Result<arrow::datatypes::Schema> {
    Ok(crate::io::Source::open(path)?.verbatim_schema())
}

/// A text value trimmed, with the missing tokens (`io::MISSING_TOKENS`) as NULL: how
/// a text source column is read before it is cast (Parquet text columns too).
fn text_value(expr: &str) -> String {
    let tokens: Vec<String> = std::iter::once(String::new())
        .chain(crate::io::MISSING_TOKENS.iter().map(|t| t.to_string()))
        .map(|t| format!("'{t}'"))
        .collect();
    format!(
        "(CASE WHEN lower(trim(({expr}))) IN ({}) THEN NULL ELSE trim(({expr})) END)",
        tokens.join(", ")
    )
}

pub(super) fn sql_type(k: Kind) -> &'static str {
    match k {
        Kind::Id | Kind::Int => "BIGINT",
        Kind::Ts => "TIMESTAMP",
        Kind::Num => "DOUBLE",
        Kind::Text => "VARCHAR",
        Kind::Date => "DATE",
    }
}

/// The canonical, typed expression for one column, and whether it parses text or
/// integers into a timestamp (a cast that can fail on a bad value).
async fn typed_expr(
    ctx: &SessionContext,
    raw: &str,
    path: &Path,
    col: &str,
    kind: Kind,
    expr: &str,
    ts_format: Option<&str>,
) -> Result<(String, bool)> {
    if expr == "NULL" {
        return Ok((
            format!(
                "CAST(NULL AS {})",
                sql_type(if kind == Kind::Id { Kind::Int } else { kind })
            ),
            false,
        ));
    }
    let probe = format!("SELECT ({expr}) AS v FROM {raw} LIMIT 0");
    let df = ctx.sql(&probe).await.map_err(|e| Error::Source {
        path: path.to_path_buf(),
        message: format!(
            "mapping of `{col}` (`{expr}`) is not valid SQL here: {}",
            one_line(&e.to_string())
        ),
    })?;
    let dt = df.schema().field(0).data_type().clone();
    let text = matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let numeric = dt.is_numeric();
    let parses = kind == Kind::Ts && (text || numeric);
    let shown = expr;
    // Text feeding a number, a date or a timestamp: trimmed, missing tokens NULL;
    // ids and text are trimmed only ("NA" may be a region).
    let cleaned;
    let expr = if text && matches!(kind, Kind::Num | Kind::Int | Kind::Date | Kind::Ts) {
        cleaned = text_value(expr);
        cleaned.as_str()
    } else if text {
        cleaned = format!("NULLIF(trim(({expr})), '')");
        cleaned.as_str()
    } else {
        expr
    };
    let typed = match kind {
        Kind::Id if numeric => format!("CAST(({expr}) AS BIGINT)"),
        Kind::Id => format!("CAST(({expr}) AS VARCHAR)"),
        Kind::Ts => match (ts_format, text, numeric) {
            (Some(f), true, _) => format!("to_timestamp(({expr}), '{}')", f.replace('\'', "''")),
            (Some(f), _, true) => format!("to_timestamp(CAST(({expr}) AS VARCHAR), '{}')", f.replace('\'', "''")),
            (None, _, true) => {
                return Err(Error::Source {
                    path: path.to_path_buf(),
                    message: format!("column `{col}` (`{expr}`) is {dt}, not a timestamp (rule: give --ts-format, e.g. %Y%m%d for 20110131)"),
                })
            }
            _ => format!("CAST(({expr}) AS TIMESTAMP)"),
        },
        Kind::Num | Kind::Int if !(numeric || text || dt == DataType::Null) => {
            return Err(Error::NotNumeric {
                path: path.to_path_buf(),
                column: format!("{col} (`{expr}`)"),
                found: dt.to_string(),
            })
        }
        k => format!("CAST(({expr}) AS {})", sql_type(k)),
    };
    if text && matches!(kind, Kind::Num | Kind::Int | Kind::Date) {
        check_text_cast(ctx, raw, path, col, kind, expr, shown).await?;
    }
    Ok((typed, parses))
}

/// A text column mapped onto a numeric or date column must hold only values that
/// cast: the first that does not is reported with its file and column, before any
/// heavy work (a raw Arrow cast error deep in the query names neither).
async fn check_text_cast(
    ctx: &SessionContext,
    raw: &str,
    path: &Path,
    col: &str,
    kind: Kind,
    expr: &str,
    shown: &str,
) -> Result<()> {
    let ty = sql_type(kind);
    let q = format!(
        "SELECT CAST(({expr}) AS VARCHAR) AS v FROM {raw} WHERE ({expr}) IS NOT NULL AND TRY_CAST(({expr}) AS {ty}) IS NULL LIMIT 1"
    );
    let batches = async { ctx.sql(&q).await?.collect().await }
        .await
        .map_err(|e| df_err(path, e))?;
    let bad = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .map(|b| arrow::util::display::array_value_to_string(b.column(0), 0).unwrap_or_default());
    match bad {
        None => Ok(()),
        Some(v) => Err(Error::Source {
            path: path.to_path_buf(),
            message: format!(
                "column `{col}` (`{shown}`): the value \"{v}\" is not {} (rule: {col} holds {}; map it onto another column, or fix the value)",
                match kind {
                    Kind::Int => "an integer",
                    Kind::Date => "a date",
                    _ => "a number",
                },
                match kind {
                    Kind::Int => "integers",
                    Kind::Date => "dates (YYYY-MM-DD)",
                    _ => "numbers",
                }
            ),
        }),
    }
}

/// The type of every table's customer ids: `BIGINT` when every id in every table
/// is an integer (an integer column, a float column of whole numbers, or text whose
/// every value is the canonical spelling of one, [`CANONICAL_INT`]), else `VARCHAR`,
/// so that `012`, `0012` and `12`, or `1e1` and `10`, stay different customers.
/// A float id with a fraction is an error: no cast may merge `2.5` into `2`.
pub(super) async fn customer_id_type(ctx: &SessionContext, regs: &[Registered]) -> Result<IdType> {
    let mut texts = Vec::new();
    for r in regs {
        let name = r.table.name;
        let id = &r.id_expr;
        if id == "NULL" {
            continue;
        }
        let df = ctx
            .sql(&format!("SELECT ({id}) AS v FROM raw_{name} LIMIT 0"))
            .await
            .map_err(|e| df_err(&r.path, e))?;
        let dt = df.schema().field(0).data_type().clone();
        let first = |q: String| async move {
            let batches = async { ctx.sql(&q).await?.collect().await }
                .await
                .map_err(|e| df_err(&r.path, e))?;
            Ok::<_, Error>(batches.iter().find(|b| b.num_rows() > 0).map(|b| {
                arrow::util::display::array_value_to_string(b.column(0), 0).unwrap_or_default()
            }))
        };
        if matches!(
            dt,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            let v = format!("NULLIF(trim(({id})), '')");
            let q = format!(
                "SELECT {v} FROM raw_{name} WHERE {v} IS NOT NULL AND NOT regexp_like({v}, '{CANONICAL_INT}') LIMIT 1"
            );
            match first(q).await? {
                Some(bad) => texts.push(format!(
                    "{name}.customer_id holds \"{}\", not the canonical spelling of an integer",
                    bad.escape_default()
                )),
                None if is_parquet(&r.path)? => {
                    texts.push(format!("{name}.customer_id is text in its Parquet source"))
                }
                None => {}
            }
        } else if dt.is_floating() {
            let q = format!(
                "SELECT ({id}) FROM raw_{name} WHERE ({id}) IS NOT NULL AND (({id}) <> trunc(({id})) OR abs(({id})) > 9.0e15) LIMIT 1"
            );
            if let Some(bad) = first(q).await? {
                return Err(Error::Source {
                    path: r.path.clone(),
                    message: format!(
                        "column customer_id ({}): the id {bad} is not a whole number (rule: ids are integers or text; a float id must be whole, or store ids as text)",
                        r.how["customer_id"]
                    ),
                });
            }
        } else if !dt.is_numeric() {
            texts.push(format!("{name}.customer_id is {dt}"));
        }
    }
    Ok(match texts.is_empty() {
        true => IdType {
            sql: "BIGINT",
            why: "every customer id is an integer".into(),
        },
        false => IdType {
            sql: "VARCHAR",
            why: format!("{} (ids are kept as written)", texts.join("; ")),
        },
    })
}
