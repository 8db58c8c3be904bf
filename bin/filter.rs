//! `filter`: keep the NDJSON records for which a jq expression is true. See `man filter`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_filter::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("filter", metrics.as_deref(), || sluice_filter::run(args))
}
