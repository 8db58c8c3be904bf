#!/usr/bin/env bash
# A cron job: every run moves what is new in a folder of NDJSON logs into a new Parquet part
# of a data lake, exactly once. The state advances only when the whole pipeline succeeded.
# Usage: examples/cron-incremental.sh LOGDIR LAKEDIR STATEFILE
set -euo pipefail
logs=$1 lake=$2 state=$3
if [[ -z "${SLUICE_BIN:-}" ]]; then
    root=$(cd "$(dirname "$0")/.." && pwd)
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    SLUICE_BIN=$root/target/release
fi
export PATH="$SLUICE_BIN:$PATH"
mkdir -p "$lake"

# extract emits only data appended since the last successful run; load writes it as one new
# part (nothing at all if there was nothing new); only then does the new state replace the old.
extract --state "$state" --state-out "$state.next" "$logs" \
    | load --append --format parquet "$lake/"
mv "$state.next" "$state"
