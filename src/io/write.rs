//! Writing outputs atomically. Every file goes to a temporary sibling first and is
//! renamed into place only when all of a command's outputs are complete
//! ([`Staged::commit`]), through the journal of [`super::commit`], so a failure or a
//! kill leaves the previous files or the new ones, never half of one and never a
//! mix of the two; the folder is locked against a second writer meanwhile.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use tempfile::TempPath;

use crate::error::{Error, Result};
use crate::io::Format;

/// Output files written to temporaries, renamed into place together on commit.
/// Dropping it uncommitted deletes the temporaries, and the folders it created for
/// them when they are left empty, so a failed command leaves nothing behind.
pub struct Staged {
    /// The temporaries (by path: no descriptor is held, so a stage may stage
    /// thousands of files) and their final names.
    files: Vec<(TempPath, PathBuf)>,
    /// Folders created for the temporaries, deepest first within each call.
    dirs: Vec<PathBuf>,
    /// The output folder: locked while staging, holds the commit journal.
    root: PathBuf,
    _lock: super::commit::Lock,
}

impl Drop for Staged {
    fn drop(&mut self) {
        // The temporaries go first (TempPath deletes on drop), then the
        // folders that held only them; a folder that is not empty stays.
        self.files.clear();
        // A root this set created holds only the lock file now, unless a stage
        // of this process is still using it.
        if self.dirs.contains(&self.root) && !super::commit::held_elsewhere(&self.root) {
            let _ = std::fs::remove_file(self.root.join(super::commit::LOCK_FILE));
        }
        // Deepest first across every `create`, so a parent goes after its children.
        self.dirs
            .sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }
}

impl Staged {
    /// An empty set of outputs under `root` (the command's output folder, created if
    /// missing), which is locked against other writers until this is committed or
    /// dropped.
    pub fn new(root: &Path) -> Result<Self> {
        Self::with_lock(root, super::commit::hold)
    }

    fn with_lock(root: &Path, hold: fn(&Path) -> Result<super::commit::Lock>) -> Result<Self> {
        // The folders the lock creates are removed again if nothing is committed.
        let missing: Vec<PathBuf> = root
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        let lock = hold(root)?;
        Ok(Staged {
            files: Vec::new(),
            dirs: missing,
            root: root.to_path_buf(),
            _lock: lock,
        })
    }

    /// A set for one output file: its folder is the root.
    pub fn for_file(path: &Path) -> Result<Self> {
        let root = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        Self::with_lock(root, super::commit::hold_shallow)
    }

    /// Writes `path`'s future content through `fill`.
    pub fn write(
        &mut self,
        path: &Path,
        fill: impl FnOnce(&mut BufWriter<&mut File>) -> Result<()>,
    ) -> Result<()> {
        let mut file = self.create(path)?;
        let mut w = BufWriter::new(&mut file);
        fill(&mut w)?;
        w.flush().map_err(|e| Error::io(path, e))?;
        Ok(())
    }

    /// Creates `path`'s temporary and returns a handle to it, for outputs written
    /// piece by piece (e.g. Parquet row groups); the temporary is synced and renamed
    /// on [`Staged::commit`] like the others.
    pub fn create(&mut self, path: &Path) -> Result<File> {
        let io = |source| Error::Io {
            path: path.to_path_buf(),
            source,
        };
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut missing: Vec<PathBuf> = dir
            .ancestors()
            .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(&dir).map_err(io)?;
        self.dirs.append(&mut missing);
        let tmp = tempfile::Builder::new()
            .prefix(".segmenta-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(io)?;
        let handle = tmp.as_file().try_clone().map_err(io)?;
        self.files.push((tmp.into_temp_path(), path.to_path_buf()));
        Ok(handle)
    }

    /// Creates `path`'s temporary and returns the temporary's own path, for a writer
    /// that opens files by name (DataFusion); renamed into place on commit.
    pub fn create_path(&mut self, path: &Path) -> Result<PathBuf> {
        self.create(path)?;
        let (tmp, _) = self.files.last().expect("just pushed");
        Ok(tmp.to_path_buf())
    }

    /// The temporary behind `path`, once created (to hash what was written).
    pub fn temporary(&self, path: &Path) -> Option<PathBuf> {
        self.files
            .iter()
            .rev()
            .find(|(_, p)| p == path)
            .map(|(t, _)| t.to_path_buf())
    }

    /// Renames every temporary into place, as one journaled commit.
    pub fn commit(mut self) -> Result<Vec<PathBuf>> {
        for (tmp, path) in &self.files {
            File::open(tmp)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(path, e))?;
            // Temporaries are created private (0600); outputs are ordinary files.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o644));
            }
        }
        self.dirs.clear();
        let files = std::mem::take(&mut self.files);
        let mut renames = Vec::with_capacity(files.len());
        let mut done = Vec::with_capacity(files.len());
        for (tmp, path) in files {
            // From here the temporary is the journal's: a failure leaves it for the
            // next writer to finish or remove.
            let tmp = tmp.keep().map_err(|e| Error::Io {
                path: path.clone(),
                source: e.error,
            })?;
            renames.push((tmp, path.clone()));
            done.push(path);
        }
        super::commit::commit(&self.root, &renames)?;
        Ok(done)
    }
}

/// The value of `key` in a Parquet file's footer metadata; `None` for another format
/// or an absent key.
pub fn parquet_metadata(path: &Path, key: &str) -> Result<Option<String>> {
    if Format::of(path)? != Format::Parquet {
        return Ok(None);
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(file).map_err(|e| {
            Error::Parquet {
                path: path.to_path_buf(),
                message: e.to_string(),
            }
        })?;
    use parquet::file::reader::FileReader;
    Ok(reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == key))
        .and_then(|e| e.value.clone()))
}

/// Stages `value` as pretty JSON at `path`.
pub fn write_json(staged: &mut Staged, path: &Path, value: &impl Serialize) -> Result<()> {
    staged.write(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e.into(),
        })?;
        w.write_all(b"\n").map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Stages a table of named columns at `path`, as Parquet (zstd) or CSV by extension.
pub fn write_table(staged: &mut Staged, path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    write_table_meta(staged, path, columns, &[])
}

/// [`write_table`] with key-value metadata in a Parquet file's footer (ignored for CSV).
pub fn write_table_meta(
    staged: &mut Staged,
    path: &Path,
    columns: Vec<(&str, ArrayRef)>,
    meta: &[(&str, String)],
) -> Result<()> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, a)| Field::new(*name, a.data_type().clone(), a.null_count() > 0))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    let format = Format::of(path)?;
    let to_io = |e: String| Error::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    };
    staged.write(path, |w| match format {
        Format::Parquet => {
            let kv: Vec<parquet::file::metadata::KeyValue> = meta
                .iter()
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.to_string(), v.clone()))
                .collect();
            let props = WriterProperties::builder()
                .set_compression(Compression::ZSTD(ZstdLevel::default()))
                .set_key_value_metadata((!kv.is_empty()).then_some(kv))
                .build();
            let mut writer =
                ArrowWriter::try_new(w, schema, Some(props)).map_err(|e| to_io(e.to_string()))?;
            writer.write(&batch).map_err(|e| to_io(e.to_string()))?;
            writer.close().map_err(|e| to_io(e.to_string()))?;
            Ok(())
        }
        Format::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(w);
            writer.write(&batch).map_err(|e| to_io(e.to_string()))
        }
        Format::CsvGz => {
            let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(gz);
            writer.write(&batch).map_err(|e| to_io(e.to_string()))?;
            writer
                .into_inner()
                .finish()
                .map(|_| ())
                .map_err(|e| to_io(e.to_string()))
        }
    })
}
