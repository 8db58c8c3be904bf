//! `consume`: a topic's records to NDJSON on stdout. See `man consume`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_consume::Args::parse();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("consume", metrics.as_deref(), || sluice_consume::run(args))
}
