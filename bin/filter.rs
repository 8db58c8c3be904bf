//! `filter`: keep the NDJSON records for which a jq expression is true. See `man filter`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_filter::Args::parse();
    sluice_cli::main_with("filter", || sluice_filter::run(args))
}
