//! Entry points for the fuzz targets in `fuzz/` (`cargo fuzz run csv|parquet|model`)
//! and for the corpus regression test that replays `fuzz/corpus/` on stable Rust:
//! each takes arbitrary bytes, reads them as the file type, and must return an
//! error or a value, never panic.

use std::io::Write;

use crate::io::{read_features, ReadSpec, Source};

fn with_file(ext: &str, data: &[u8], f: impl FnOnce(&std::path::Path)) {
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join(format!("input.{ext}"));
    let Ok(mut file) = std::fs::File::create(&path) else {
        return;
    };
    if file.write_all(data).is_err() {
        return;
    }
    drop(file);
    f(&path);
}

/// Opens `path` as a table: the schema, every batch, and the feature table.
fn read_table(path: &std::path::Path) {
    if let Ok(s) = Source::open(path) {
        let all: Vec<usize> = (0..s.schema().fields().len()).collect();
        if let Ok(batches) = s.batches(&all) {
            batches.for_each(drop);
        }
    }
    let _ = read_features(path, &ReadSpec::new("customer_id"));
}

/// Reads `data` as a CSV.
pub fn csv(data: &[u8]) {
    with_file("csv", data, read_table);
}

/// Reads `data` as Parquet.
pub fn parquet(data: &[u8]) {
    with_file("parquet", data, read_table);
}

/// Loads `data` as a `model.json`.
pub fn model(data: &[u8]) {
    with_file("json", data, |p| {
        let _ = crate::model::Model::load(p);
    });
}
