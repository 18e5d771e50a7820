//! Synthetic data: seeded Gaussian blobs with known components (tests, benches,
//! `segmenta bench`) and a whole synthetic mall with planted personas and dirt
//! (`segmenta generate`, `segmenta demo`).

mod blobs;
mod mall;

pub use blobs::{blobs, Blobs, BlobsSpec};
pub use mall::{
    generate_mall, personas, DirtCounts, MallManifest, MallSpec, Persona, TableRows, CATEGORIES,
    PACKAGES,
};
