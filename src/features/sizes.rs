//! How much memory the raw sources take once read: the estimate the number of
//! buckets and of kept-table files is planned from.

use std::path::Path;

use super::df_err;
use crate::error::{Error, Result};

/// Estimated bytes of a source's rows in memory: the uncompressed size of a
/// Parquet file's row groups, a CSV file's size (`unpacked`: where a `.csv.gz` was
/// unpacked), summed over a folder's files.
pub(super) fn raw_bytes(path: &Path, unpacked: &Path) -> Result<u64> {
    if path.is_dir() {
        let mut total = 0;
        for e in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let p = e.map_err(|e| Error::io(path, e))?.path();
            if p.is_file() {
                total += raw_bytes(&p, unpacked)?;
            }
        }
        return Ok(total);
    }
    let lower = path.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".parquet") {
        let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let r = parquet::file::reader::SerializedFileReader::new(f).map_err(|e| df_err(path, e))?;
        use parquet::file::reader::FileReader;
        return Ok(r.metadata().row_groups().iter().map(group_bytes).sum());
    }
    let p = if lower.ends_with(".csv.gz") && unpacked.is_file() {
        unpacked
    } else {
        path
    };
    // Short fields become 8-byte numbers and 16-byte text views in memory.
    Ok(4 * std::fs::metadata(p).map_err(|e| Error::io(p, e))?.len())
}

/// A Parquet row group's rows in memory: the width of each fixed-size column, and
/// for text at least a 16-byte view a value (DataFusion reads text as views), more
/// when the text itself is longer; plus `__row`. The pages' own sizes say little:
/// dictionary and delta encodings shrink ids, times and categories tenfold.
fn group_bytes(g: &parquet::file::metadata::RowGroupMetaData) -> u64 {
    use parquet::basic::Type;
    let rows = g.num_rows().max(0) as u64;
    let cols: u64 = g
        .columns()
        .iter()
        .map(|c| match c.column_type() {
            Type::BOOLEAN => rows.div_ceil(8),
            Type::INT32 | Type::FLOAT => 4 * rows,
            Type::INT64 | Type::DOUBLE => 8 * rows,
            Type::INT96 => 12 * rows,
            Type::FIXED_LEN_BYTE_ARRAY => rows * c.column_descr().type_length().max(1) as u64,
            Type::BYTE_ARRAY => (c.uncompressed_size().max(0) as u64).max(16 * rows),
        })
        .sum();
    cols + 8 * rows
}
