//! `compact`: small files into a lake of large Parquet files by event-time window. See
//! `man compact`.

use std::process::ExitCode;

use clap::Parser;

/// Records pass through many small buffers (spill, schema inference, decoding); mimalloc
/// serves them faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = sluice_compact::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("compact", metrics.as_deref(), || sluice_compact::run(args))
}
