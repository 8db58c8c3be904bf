//! The record stream shared by every sluice binary.
//!
//! Records are newline-delimited JSON objects. This crate opens inputs (files or `-` for stdin,
//! with gzip, Snappy-framed and zstd detected by their magic bytes), splits them into bounded
//! lines, applies the `--on-error` policy to bad records, writes outputs (stdout, or files that
//! appear atomically) and keeps the run's statistics and progress bar.

pub mod atomic;
pub mod blocks;
pub mod error;
pub mod input;
pub mod json;
pub mod lines;
pub mod output;
pub mod pipe;
pub mod policy;
pub mod progress;
pub mod scan;
pub mod stats;

pub use error::{Error, Position, Result};
pub use policy::{OnError, Rejects};
pub use stats::Stats;
