//! `produce`: NDJSON records into a topic. See `man produce`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_produce::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("produce", metrics.as_deref(), || sluice_produce::run(args))
}
