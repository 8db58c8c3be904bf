//! `transform`: reshape, aggregate, enrich and deduplicate NDJSON records. See `man transform`.

use std::process::ExitCode;

/// jq values are many small allocations; mimalloc serves them much faster than glibc's malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = sluice_transform::Args::from_env();
    let metrics = args.common.metrics_file.clone();
    sluice_cli::main_with("transform", metrics.as_deref(), || {
        sluice_transform::run(args)
    })
}
