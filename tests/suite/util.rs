//! Helpers: run the binary, make temp dirs, write fixtures, find ../shared/datasets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};

/// The repository root: where the test binary was built, unless
/// SEGMENTA_TEST_ROOT points elsewhere (a prebuilt test binary run on another
/// machine, as scripts/gpu-check.sh does on a lent GPU).
pub fn root() -> PathBuf {
    std::env::var_os("SEGMENTA_TEST_ROOT")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// The segmenta binary under test (SEGMENTA_BIN overrides, as for the root).
pub fn bin() -> PathBuf {
    std::env::var_os("SEGMENTA_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_segmenta")),
        PathBuf::from,
    )
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("datasets").join(name)
}

/// A file of `../shared/datasets`, or `None` (with a loud skip message) when it is
/// absent outside CI. Under CI=true its absence fails the test.
pub fn shared(name: &str) -> Option<PathBuf> {
    let p = root().join("../shared/datasets").join(name);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing under CI=true", p.display());
    }
    eprintln!(
        "SKIPPED: {} not found (tests on real data need ../shared/datasets)",
        p.display()
    );
    None
}

pub fn segmenta(args: &[&str]) -> Output {
    segmenta_env(args, &[])
}

pub fn segmenta_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run segmenta")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

pub fn write_parquet(path: &Path, cols: Vec<(&str, ArrayRef)>) {
    let fields: Vec<Field> = cols
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        cols.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    let f = std::fs::File::create(path).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(f, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Every batch of a Parquet file.
pub fn read_batches(path: &Path) -> Vec<RecordBatch> {
    if path.is_dir() {
        // A kept table: its files in name order.
        let mut files: Vec<_> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
            .collect();
        files.sort();
        return files.iter().flat_map(|f| read_batches(f)).collect();
    }
    let f = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect()
}

/// Reads column `name` of a Parquet file as i64 (segment, ids) values.
pub fn read_i64(path: &Path, name: &str) -> Vec<i64> {
    use arrow::array::AsArray;
    let mut out = Vec::new();
    for b in read_batches(path) {
        let c = arrow::compute::cast(
            b.column_by_name(name).unwrap(),
            &arrow::datatypes::DataType::Int64,
        )
        .unwrap();
        out.extend_from_slice(c.as_primitive::<arrow::datatypes::Int64Type>().values());
    }
    out
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The strings of a JSON array (`pick` takes each element's string).
pub fn json_strs<'a>(
    v: &'a serde_json::Value,
    pick: impl Fn(&'a serde_json::Value) -> &'a serde_json::Value,
) -> Vec<&'a str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| pick(x).as_str().unwrap())
        .collect()
}

/// Files left in a folder (none if it does not exist), but for the writers' lock
/// file, which is the folder's and stays.
pub fn files_in(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != segmenta::io::commit::LOCK_FILE)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Checks `v` against a JSON Schema subset (type, required, properties, items,
/// const, enum, minimum, minItems, minLength, local `$ref`); returns the violations.
pub fn schema_errors(schema: &serde_json::Value, v: &serde_json::Value) -> Vec<String> {
    let mut errs = Vec::new();
    check_schema(schema, schema, v, "$", &mut errs);
    errs
}

fn check_schema(
    root: &serde_json::Value,
    s: &serde_json::Value,
    v: &serde_json::Value,
    at: &str,
    errs: &mut Vec<String>,
) {
    use serde_json::Value;
    if let Some(r) = s["$ref"].as_str() {
        let target = r
            .trim_start_matches("#/")
            .split('/')
            .fold(root, |node, key| &node[key]);
        return check_schema(root, target, v, at, errs);
    }
    let type_ok = |t: &str| match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => false,
    };
    match &s["type"] {
        Value::String(t) if !type_ok(t) => {
            errs.push(format!("{at}: not {t}: {v}"));
            return;
        }
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""))) => {
            errs.push(format!("{at}: none of {ts:?}"));
            return;
        }
        _ => {}
    }
    if v.is_null() {
        return;
    }
    if let Some(c) = s.get("const") {
        if c != v {
            errs.push(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = s["enum"].as_array() {
        if !e.contains(v) {
            errs.push(format!("{at}: {v} not in {e:?}"));
        }
    }
    if let (Some(m), Some(x)) = (s["minimum"].as_f64(), v.as_f64()) {
        if x < m {
            errs.push(format!("{at}: {x} < {m}"));
        }
    }
    if let (Some(m), Some(x)) = (s["minLength"].as_u64(), v.as_str()) {
        if (x.chars().count() as u64) < m {
            errs.push(format!("{at}: shorter than {m}"));
        }
    }
    if let Some(o) = v.as_object() {
        for r in s["required"].as_array().into_iter().flatten() {
            let k = r.as_str().unwrap();
            if !o.contains_key(k) {
                errs.push(format!("{at}: missing `{k}`"));
            }
        }
        for (k, sub) in s["properties"].as_object().into_iter().flatten() {
            if let Some(x) = o.get(k) {
                check_schema(root, sub, x, &format!("{at}.{k}"), errs);
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(m) = s["minItems"].as_u64() {
            if (a.len() as u64) < m {
                errs.push(format!("{at}: fewer than {m} items"));
            }
        }
        if let Some(items) = s.get("items") {
            for (i, x) in a.iter().enumerate() {
                check_schema(root, items, x, &format!("{at}[{i}]"), errs);
            }
        }
    }
}
