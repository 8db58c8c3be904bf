//! `load`: NDJSON records to files. See `man load`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_load::Args::parse();
    sluice_cli::main_with("load", || sluice_load::run(args))
}
