//! `iuvs` core: least-squares dark-scaling fits, pixel exclusion, residual
//! statistics and histograms over read-only pixel views of any supported dtype,
//! byte order and memory layout.
//!
//! The core is pure Rust (no `PyO3`); the optional `python` feature adds the one
//! binding module that numpy arrays cross.

pub mod batch;
pub mod clip;
pub mod combine;
mod compact;
pub mod cpu;
pub mod error;
pub mod fit;
pub mod fitsread;
mod gather;
pub mod histogram;
pub mod hot;
pub mod mask;
pub mod median;
pub mod parallel;
pub(crate) mod prefetch;
pub(crate) mod scratch;
pub mod stats;
pub(crate) mod sum;
pub mod view;
pub mod weighted;

#[cfg(feature = "python")]
mod python;

pub use error::{CoreError, CoreResult};
