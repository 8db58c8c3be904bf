//! `extract`: files to NDJSON records on stdout. See `man extract`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_extract::Args::parse();
    sluice_cli::main_with("extract", || sluice_extract::run(args))
}
