//! `iuvs` core: least-squares dark-scaling fits, pixel exclusion, residual
//! statistics and histograms over read-only pixel views of any supported dtype,
//! byte order and memory layout.
//!
//! The core is pure Rust (no `PyO3`); the optional `python` feature adds the one
//! binding module that numpy arrays cross.

pub mod batch;
pub mod clip;
mod compress;
pub mod error;
pub mod fit;
pub mod fitsread;
pub mod histogram;
pub mod hot;
pub mod mask;
pub mod parallel;
pub mod prefetch;
pub mod scratch;
pub mod stats;
pub mod sum;
pub mod view;
pub mod weighted;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, CoreResult};
