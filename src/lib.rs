//! segmenta segments the customers of a shopping mall (or any retailer): it reads
//! one feature row per customer from Parquet or CSV, scales it, clusters it with
//! K-means on the CPU or on the GPU (wgpu), and writes labels and a reusable model.
//!
//! The library never reads argv or environment variables; the binary's `cli`
//! module translates flags into the validated parameters used here.
#![warn(missing_docs)]

pub mod artefact;
pub mod clean;
pub mod dates;
pub mod dbscan;
pub mod error;
pub mod features;
#[doc(hidden)]
pub mod fuzz;
pub mod generate;
pub mod gpu;
pub mod io;
pub mod kmeans;
pub mod lifetime;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod profile;
pub mod report;
pub mod rng;
pub mod scale;
pub mod schema;
pub mod select;
pub mod stats;
mod summary;
pub mod transform;

pub use error::{Error, Result};
pub use matrix::Matrix;
