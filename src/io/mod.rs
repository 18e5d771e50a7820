//! Reading and writing files: Parquet, CSV and CSV.gz into Arrow record batches and
//! into a [`FeatureTable`]; labels and tables back out; every output written
//! atomically through [`Staged`].

pub mod commit;
mod ids;
mod read;
mod table;
mod write;

pub use ids::{read_ids, Ids};
pub use read::{as_text, CsvCell, Format, Mixed, Source, MISSING_TOKENS};
pub use table::{read_features, CategoricalLevels, FeatureTable, ReadSpec};
pub use write::{parquet_metadata, write_json, write_table, write_table_meta, Staged};
