//! `load`: NDJSON records to files. See `man load`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_load::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("load", metrics.as_deref(), || sluice_load::run(args))
}
