#!/usr/bin/env bash
# A micro-batch job for cron (e.g. every 5 minutes): move what is new in a topic into one new
# Parquet part in OUTDIR (none when nothing is new). Offsets are committed only once the part
# is written, so a failed run is simply repeated by the next one: every record lands in
# exactly one file. Usage: examples/cron-micro-batch.sh TOPIC OUTDIR   (uses $SLUICE_LOG_DIR)
set -euo pipefail
topic=$1 out=$2
if [[ -z "${SLUICE_BIN:-}" ]]; then
    root=$(cd "$(dirname "$0")/.." && pwd)
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    SLUICE_BIN=$root/target/release
fi
export PATH="$SLUICE_BIN:$PATH"
mkdir -p "$out"
checkpoint=$(mktemp)
trap 'rm -f "$checkpoint"' EXIT

consume "$topic" --group "cron-$topic" --until-end --checkpoint "$checkpoint" \
    | load --append --format parquet "$out/" \
    && consume --commit "$checkpoint"
