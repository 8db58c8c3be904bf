//! `extract`: files to NDJSON records on stdout. See `man extract`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_extract::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("extract", metrics.as_deref(), || sluice_extract::run(args))
}
