//! Synthetic data. For now: seeded Gaussian blobs with known components, used by
//! tests, benches and `segmenta bench`.

mod blobs;

pub use blobs::{blobs, Blobs, BlobsSpec};
