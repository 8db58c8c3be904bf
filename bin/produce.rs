//! `produce`: NDJSON records into a topic. See `man produce`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = sluice_produce::Args::parse();
    sluice_cli::main_with("produce", || sluice_produce::run(args))
}
