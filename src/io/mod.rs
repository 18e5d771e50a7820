//! Reading and writing files: Parquet, CSV and CSV.gz into Arrow record batches and
//! into a [`FeatureTable`]; labels and tables back out; every output written
//! atomically through [`Staged`].

mod read;
mod table;
mod write;

pub use read::{Format, Source};
pub use table::{read_features, CategoricalLevels, FeatureTable, Ids, ReadSpec};
pub use write::{write_json, write_table, Staged};
