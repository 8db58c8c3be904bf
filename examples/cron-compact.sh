#!/usr/bin/env bash
# The cron compaction job, in compressed time. A generator drops a small NDJSON file of weather
# observations every "minute" (written under a hidden name, renamed when complete); every
# "5 minutes" compact turns what is new into daily Parquet windows of a lake, as cron would run
#   */5 * * * * compact /data/landing /data/lake --time-field time_hour --window 1d
# A window that gets more records in a later run has its small files rewritten into one.
# Ends by checking that the lake holds every record exactly once.
# Usage: examples/cron-compact.sh WORKDIR [MINUTES]   (default: 60 minutes)
set -euo pipefail
work=$1 minutes=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
if [[ -z "${SLUICE_BIN:-}" ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    SLUICE_BIN=$root/target/release
fi
export PATH="$SLUICE_BIN:$PATH"
landing=$work/landing lake=$work/lake records=$work/weather.ndjson
mkdir -p "$landing"

extract --null NA "$root/examples/data/weather.csv" > "$records"
total=$(wc -l < "$records")
per_file=$(( (total + minutes - 1) / minutes ))

run_compact() {
    compact "$landing" "$lake" --time-field time_hour --window 1d --stats 2>> "$work/compact.log"
}

for (( minute = 0; minute < minutes; minute++ )); do
    name=$(printf 'obs-%05d.ndjson' "$minute")
    sed -n "$(( minute * per_file + 1 )),$(( (minute + 1) * per_file ))p" "$records" \
        > "$landing/.$name"
    mv "$landing/.$name" "$landing/$name"
    if (( minute % 5 == 4 )); then
        run_compact
    fi
done
run_compact

in_lake=$(extract "$lake" | wc -l)
files=$(find "$lake" -name '*.parquet' | wc -l)
windows=$(find "$lake" -mindepth 1 -maxdepth 1 -name 'dt=*' | wc -l)
echo "records: $total landed, $in_lake in the lake"
echo "lake: $files Parquet files in $windows daily windows, $(grep -c '"version"' "$work/compact.log") runs"
[[ $in_lake -eq $total ]]
