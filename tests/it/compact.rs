//! `compact`: small files into an hourly lake, exactly once, through crashes, reruns, late
//! files and overlapping runs; read back by extract, DuckDB and pyarrow.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;

use crate::util::*;

const COMPACT: &str = env!("CARGO_BIN_EXE_compact");
/// Input files made from the flights data, and the records spread over them.
const FILES: usize = 1000;
const RECORDS: usize = 60_000;

fn compact<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run(COMPACT, args, b"")
}

/// The first RECORDS flights as NDJSON lines (read once).
fn flight_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        let all = records_of("flights.csv.gz");
        let text = String::from_utf8(all).unwrap();
        text.lines().take(RECORDS).map(String::from).collect()
    })
}

/// Spreads `lines` over `files` NDJSON files in `dir`: line i goes to file (i * 7919) % files,
/// so each file holds records from all over the year and each hour's records come from many
/// files.
fn land(dir: &Path, lines: &[String], files: usize, prefix: &str) {
    let mut parts: Vec<String> = vec![String::new(); files];
    for (i, line) in lines.iter().enumerate() {
        let part = &mut parts[(i * 7919) % files];
        part.push_str(line);
        part.push('\n');
    }
    for (n, part) in parts.iter().enumerate() {
        write(dir, &format!("{prefix}{n:04}.ndjson"), part);
    }
}

/// Each record as canonical JSON text (numbers reparsed), sorted: two equal multisets of
/// records give equal lists.
fn canonical(records: impl IntoIterator<Item = Value>) -> Vec<String> {
    let mut out: Vec<String> = records
        .into_iter()
        .map(|r| numbers_as_floats(r).to_string())
        .collect();
    out.sort();
    out
}

/// Every number as a float (a column of integers and floats holds 0 as 0.0), no null fields (a
/// record read from a file of more columns has the others as null), keys in order.
fn numbers_as_floats(value: Value) -> Value {
    match value {
        Value::Number(n) => serde_json::json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers_as_floats).collect()),
        Value::Object(fields) => {
            let sorted: BTreeMap<String, Value> = fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, numbers_as_floats(v)))
                .collect();
            Value::Object(sorted.into_iter().collect())
        }
        other => other,
    }
}

fn expected(lines: &[String]) -> Vec<String> {
    canonical(
        lines
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()),
    )
}

/// The records of a lake as `extract DEST` reads them, canonical.
fn lake_records(lake: &Path) -> Vec<String> {
    let out = extract([s(lake)], b"");
    out.expect_code(0);
    canonical(out.records())
}

fn manifest(lake: &Path) -> Value {
    let dir = lake.join("_sluice/manifest");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
        .collect();
    names.sort();
    let latest = names.last().expect("a manifest");
    serde_json::from_str(&read(dir.join(latest))).unwrap()
}

/// The lake's Parquet files on disk (relative paths), sorted.
fn parquet_files(lake: &Path) -> Vec<String> {
    files(lake)
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .collect()
}

/// compact's arguments for hourly windows of flights, in folders dt=…/hr=… (the flights have
/// an hour field of their own, which the default dt=…/hour=… folders would clash with).
fn hourly(landing: &Path, lake: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = default_hourly(landing, lake, extra);
    args.extend(["--path-template".into(), "dt=%Y-%m-%d/hr=%H".into()]);
    args
}

/// compact's arguments for hourly windows in the default folders.
fn default_hourly(landing: &Path, lake: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        s(landing),
        s(lake),
        "--time-field".into(),
        "time_hour".into(),
        "--window".into(),
        "1h".into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Every record lies in the window its folder names (dt=DAY/KEY=HOUR/).
fn check_windows(lake: &Path, key: &str) {
    let out = extract(["--source-field", "_file", &s(lake)], b"");
    out.expect_code(0);
    for record in out.records() {
        let file = record["_file"].as_str().unwrap();
        let time = record["time_hour"].as_str().unwrap();
        let folder = format!("dt={}/{key}={}/", &time[..10], &time[11..13]);
        assert!(file.contains(&folder), "{time} is in {file}");
    }
}

#[test]
fn small_files_become_hourly_windows_exactly_once() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = flight_lines();
    land(&landing, lines, FILES, "part-");
    let out = compact(default_hourly(&landing, &lake, &["--stats"]));
    out.expect_code(0);
    // The flights' own hour field and the hour=HH folders: said once, when the lake is made.
    assert!(
        out.stderr
            .contains("the records have a field hour, and the lake's folders are named hour="),
        "{}",
        out.stderr
    );
    let stats = out.stats();
    assert_eq!(stats["records_in"], RECORDS as u64);
    assert_eq!(stats["records_out"], RECORDS as u64);
    assert_eq!(stats["inputs"], FILES as u64);
    assert_eq!(lake_records(&lake), expected(lines));
    check_windows(&lake, "hour");

    // One file per hour, every consumed input moved to _done/.
    let manifest = manifest(&lake);
    let listed: Vec<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(parquet_files(&lake), listed);
    let hours: std::collections::BTreeSet<_> = listed
        .iter()
        .map(|p| p.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(hours.len(), listed.len(), "one file per window");
    assert_eq!(files(&landing).len(), FILES);
    assert!(files(&landing).iter().all(|f| f.starts_with("_done/")));
    let rows: u64 = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(rows, RECORDS as u64);

    // A rerun changes nothing.
    let before = (
        tree(&lake),
        read(lake.join("_sluice/manifest/00000000000000000001.json")),
    );
    compact(default_hourly(&landing, &lake, &[])).expect_clean();
    let after = (
        tree(&lake),
        read(lake.join("_sluice/manifest/00000000000000000001.json")),
    );
    assert_eq!(before, after);

    if python_ready("small_files_become_hourly_windows_exactly_once") {
        check_with_duckdb_and_pyarrow(&lake, lines);
    }
}

const READ_LAKE: &str = r#"
import json, sys
import duckdb
import pyarrow.dataset as ds
lake = sys.argv[1]
con = duckdb.connect()
con.execute("set TimeZone = 'UTC'")
count, delay, outside = con.execute(
    "select count(*), sum(dep_delay), "
    "count(*) filter (where strftime(time_hour, 'dt=%Y-%m-%d/hour=%H/') "
    "  <> regexp_extract(filename, 'dt=[0-9-]+/hour=[0-9]+/')) "
    "from read_parquet(? || '/**/*.parquet', union_by_name = true, filename = true)",
    [lake]).fetchone()
# The flights records have an hour field of their own: read the files without taking folder
# keys as columns.
table = ds.dataset(lake, format="parquet").to_table()
print(json.dumps({
    "duckdb_count": count, "duckdb_delay": int(delay), "outside": outside,
    "pyarrow_rows": table.num_rows,
    "types": {f.name: str(f.type) for f in table.schema},
}))
"#;

fn check_with_duckdb_and_pyarrow(lake: &Path, lines: &[String]) {
    let out = python(READ_LAKE, &[&s(lake)]);
    out.expect_code(0);
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    let delay: i64 = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["dep_delay"]
                .as_i64()
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(seen["duckdb_count"], RECORDS as u64);
    assert_eq!(seen["duckdb_delay"], delay);
    assert_eq!(seen["outside"], 0);
    assert_eq!(seen["pyarrow_rows"], RECORDS as u64);
    assert_eq!(seen["types"]["time_hour"], "timestamp[us, tz=UTC]");
    assert_eq!(seen["types"]["dep_delay"], "int64");
    assert_eq!(seen["types"]["carrier"], "string");
}

#[test]
fn late_files_join_their_window_and_small_files_are_packed() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = &flight_lines()[..2000];
    land(&landing, &lines[..1500], 10, "a-");
    compact(hourly(&landing, &lake, &[])).expect_clean();
    let first = manifest(&lake);
    // Late records: the rest, landing in hours that already have files.
    land(&landing, &lines[1500..], 5, "b-");
    let out = compact(hourly(&landing, &lake, &["--stats"]));
    out.expect_code(0);
    assert_eq!(lake_records(&lake), expected(lines));
    check_windows(&lake, "hr");
    let second = manifest(&lake);
    assert_eq!(second["version"], 2);
    let removed = second["commit"]["removed"].as_array().unwrap();
    assert!(
        !removed.is_empty(),
        "late records rewrote their windows' small files"
    );
    let first_paths: Vec<&Value> = first["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["path"])
        .collect();
    assert!(removed.iter().all(|r| first_paths.contains(&r)));
    // Still one file per hour, and the replaced files are gone from the disk.
    let on_disk = parquet_files(&lake);
    let hours: std::collections::BTreeSet<_> = on_disk
        .iter()
        .map(|p| p.rsplit_once('/').unwrap().0)
        .collect();
    assert_eq!(hours.len(), on_disk.len());
    assert_eq!(on_disk.len(), second["files"].as_array().unwrap().len());

    // Files at the target size are never rewritten (no run after run of rewriting the same
    // records), however many a window collects.
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let one_hour: Vec<String> = lines
        .iter()
        .filter(|l| l.contains("\"time_hour\":\"2013-01-01T10:00:00Z\""))
        .cloned()
        .collect();
    assert!(one_hour.len() > 5);
    let args = hourly(&landing, &lake, &["--target-file-size", "1K"]);
    for (n, record) in one_hour.iter().take(5).enumerate() {
        write(&landing, &format!("late-{n}.ndjson"), format!("{record}\n"));
        compact(&args).expect_clean();
        assert_eq!(parquet_files(&lake).len(), n + 1, "after file {n}");
    }
    let before = tree(&lake);
    compact(&args).expect_clean();
    assert_eq!(tree(&lake), before);
    assert_eq!(lake_records(&lake), expected(&one_hour[..5]));
}

#[test]
fn a_kill_at_any_point_loses_and_duplicates_nothing() {
    let lines = flight_lines();
    // How long a whole run takes here.
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    land(&landing, lines, FILES, "p-");
    let started = Instant::now();
    compact(hourly(&landing, &lake, &[])).expect_clean();
    let whole = started.elapsed();
    for step in 1..=6u32 {
        let dir = tmp();
        let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
        land(&landing, lines, FILES, "p-");
        let mut child = Command::new(COMPACT)
            .args(hourly(&landing, &lake, &[]))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * step / 6);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        // A rerun finishes or redoes the work: every record once, nothing left over.
        let out = compact(hourly(&landing, &lake, &[]));
        out.expect_code(0);
        assert_eq!(
            lake_records(&lake),
            expected(lines),
            "killed at step {step} ({status})"
        );
        let listed: Vec<String> = manifest(&lake)["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(parquet_files(&lake), listed, "step {step}: orphans left");
        let leftovers: Vec<String> = files(&lake)
            .into_iter()
            .filter(|f| f.contains(".tmp") || f.contains(".spill-"))
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
        assert!(files(&landing).iter().all(|f| f.starts_with("_done/")));
        assert_eq!(files(&landing).len(), FILES);
    }
}

#[test]
fn overlapping_runs_never_commit_twice() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = flight_lines();
    land(&landing, lines, 200, "o-");

    // A run that finds the lock taken does nothing, says why, and exits 75.
    std::fs::create_dir_all(lake.join("_sluice")).unwrap();
    std::fs::create_dir_all(lake.join("_sluice/manifest")).unwrap();
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(lake.join("_sluice/lock"))
        .unwrap();
    lock.lock().unwrap();
    let out = compact(hourly(&landing, &lake, &[]));
    out.expect_code(75);
    assert!(
        out.stderr.contains("is being compacted by another run"),
        "{}",
        out.stderr
    );
    assert_eq!(files(&landing).len(), 200);
    drop(lock);

    // Two runs started together: one commits, the other finds nothing new or the lock taken.
    let spawn = || {
        Command::new(COMPACT)
            .args(hourly(&landing, &lake, &[]))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let codes: Vec<i32> = [a, b]
        .into_iter()
        .map(|c| c.wait_with_output().unwrap().status.code().unwrap())
        .collect();
    assert!(codes.iter().all(|c| *c == 0 || *c == 75), "{codes:?}");
    assert!(codes.contains(&0));
    assert_eq!(manifest(&lake)["version"], 1);
    assert_eq!(lake_records(&lake), expected(lines));
}

#[test]
fn bad_times_and_late_records_go_through_on_error() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    write(
        &landing,
        "a.ndjson",
        "{\"ts\":\"2026-12-07T10:00:00Z\",\"v\":1}\n{\"v\":2}\n{\"ts\":\"soon\",\"v\":3}\n\
         {\"ts\":1796637600,\"v\":4}\n{\"ts\":null,\"v\":5}\n",
    );
    let args = |extra: &[&str]| {
        let mut args = vec![
            s(&landing),
            s(&lake),
            "--time-field".into(),
            "ts".into(),
            "--window".into(),
            "1h".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    // fail: the first bad record stops the run, nothing is committed.
    let out = compact(args(&[]));
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("a.ndjson (row 2): bad record: the time field ts is missing"),
        "{}",
        out.stderr
    );
    assert!(!lake
        .join("_sluice/manifest/00000000000000000001.json")
        .exists());
    assert_eq!(files(&landing), ["a.ndjson"]);

    let dead = dir.path().join("dead.ndjson");
    let policy = format!("dead-letter={}", s(&dead));
    let out = compact(args(&["--on-error", &policy, "--stats"]));
    out.expect_code(0);
    assert_eq!(out.stats()["rejected"], 3);
    let rejected = parse_ndjson(read(&dead).as_bytes());
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 3);
    assert!(reasons[0].contains("is missing"));
    assert!(reasons[1].contains("\"soon\" is not an RFC 3339 time"));
    assert!(reasons[2].contains("is null"));
    let kept: Vec<i64> = extract([s(&lake)], b"")
        .records()
        .iter()
        .map(|r| r["v"].as_i64().unwrap())
        .collect();
    assert_eq!(kept, [1, 4]);

    // --max-lateness: measured from the newest record in the lake (2026-12-07T10:00Z).
    write(
        &landing,
        "b.ndjson",
        "{\"ts\":\"2026-12-07T08:30:00Z\",\"v\":6}\n{\"ts\":\"2026-12-07T07:59:00Z\",\"v\":7}\n",
    );
    let out = compact(args(&["--max-lateness", "2h", "--on-error", &policy]));
    out.expect_code(0);
    let last = parse_ndjson(read(&dead).as_bytes()).pop().unwrap();
    let record: Value = serde_json::from_str(last["record"].as_str().unwrap()).unwrap();
    assert_eq!(record["v"], 7);
    assert!(
        last["reason"].as_str().unwrap().contains("--max-lateness"),
        "{last}"
    );
    let mut kept: Vec<i64> = extract([s(&lake)], b"")
        .records()
        .iter()
        .map(|r| r["v"].as_i64().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, [1, 4, 6]);
}

#[test]
fn a_column_that_cannot_widen_is_reported_not_coerced() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    write(
        &landing,
        "1.ndjson",
        "{\"ts\":\"2013-01-01T00:00:00Z\",\"a\":1,\"n\":1}\n",
    );
    let args = [
        s(&landing),
        s(&lake),
        "--time-field".into(),
        "ts".into(),
        "--window".into(),
        "1d".into(),
    ];
    compact(&args).expect_clean();
    // Widening is fine: an integer column takes floats, a new column appears.
    write(
        &landing,
        "2.ndjson",
        "{\"ts\":\"2013-01-01T01:00:00Z\",\"a\":1.5,\"b\":\"x\",\"n\":2}\n",
    );
    compact(&args).expect_clean();
    let fields = &manifest(&lake)["schema"]["fields"];
    assert_eq!(fields[1]["name"], "a");
    assert_eq!(fields[1]["type"], "float64");
    assert_eq!(fields[3]["name"], "b");
    // An object where the lake has numbers is an error naming the input and the column.
    write(
        &landing,
        "3.ndjson",
        "{\"ts\":\"2013-01-02T00:00:00Z\",\"a\":{\"x\":1},\"n\":3}\n",
    );
    let out = compact(&args);
    out.expect_code(1);
    assert!(
        out.stderr
            .contains("3.ndjson: column a holds objects here but Float64 values in the lake"),
        "{}",
        out.stderr
    );
    assert_eq!(manifest(&lake)["version"], 2);
    let mut seen: Vec<i64> = extract([s(&lake)], b"")
        .records()
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    seen.sort();
    assert_eq!(seen, [1, 2]);
}

#[test]
fn only_committed_files_are_in_the_lake() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    land(&landing, &flight_lines()[..300], 3, "c-");
    compact(hourly(&landing, &lake, &[])).expect_clean();
    let committed = lake_records(&lake);
    // A file a crashed run renamed into place but never committed is not in the lake…
    let first = parquet_files(&lake).remove(0);
    let stray = lake.join(first.replace("part-00000001", "part-00000002"));
    std::fs::copy(lake.join(&first), &stray).unwrap();
    assert_eq!(lake_records(&lake), committed);
    // … and the next run deletes it.
    compact(hourly(&landing, &lake, &[])).expect_clean();
    assert!(!stray.exists());

    // A folder of someone else's files is not taken for a lake; a lake keeps its windows.
    let other = dir.path().join("other");
    write(&other, "mine.txt", "keep me");
    compact(hourly(&landing, &other, &[])).expect_code(2);
    let out = compact([
        s(&landing),
        s(&lake),
        "--time-field".into(),
        "time_hour".into(),
        "--window".into(),
        "1d".into(),
    ]);
    out.expect_code(2);
    assert!(out.stderr.contains("into 1h windows"), "{}", out.stderr);
    let inside = compact(hourly(&landing, &landing.join("lake"), &[]));
    inside.expect_code(2);
}

#[test]
fn a_backfill_of_many_windows_stays_within_its_memory() {
    // Every hour of the flights data in one run, with memory for a few windows only: records
    // are split on disk and written one window at a time.
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = flight_lines();
    land(&landing, lines, 20, "m-");
    let out = compact(hourly(
        &landing,
        &lake,
        &["--memory", "64KiB", "--keep-inputs"],
    ));
    out.expect_code(0);
    assert_eq!(lake_records(&lake), expected(lines));
    // Kept inputs stay, and the manifest remembers them: a rerun takes nothing twice.
    assert_eq!(files(&landing).len(), 20);
    compact(hourly(&landing, &lake, &["--keep-inputs"])).expect_clean();
    assert_eq!(manifest(&lake)["version"], 1);
    let per_window: BTreeMap<String, usize> =
        parquet_files(&lake)
            .into_iter()
            .fold(BTreeMap::new(), |mut m, f| {
                *m.entry(f.rsplit_once('/').unwrap().0.to_string())
                    .or_default() += 1;
                m
            });
    assert!(per_window.values().all(|&n| n == 1));
}

#[test]
fn a_topic_is_compacted_from_where_the_last_commit_stopped() {
    let dir = tmp();
    let log = dir.path().join("log");
    let lake = dir.path().join("lake");
    let log_dir = s(&log);
    let produce = |args: &[&str], input: &[u8]| {
        let mut all = vec!["weather", "--log-dir", &log_dir];
        all.extend_from_slice(args);
        run(env!("CARGO_BIN_EXE_produce"), all, input).expect_clean();
    };
    let weather = records_of("weather.csv");
    produce(&["--partitions", "3", "--key", "origin"], &weather);
    let args = |extra: &[&str]| {
        let mut args = vec![
            "--topic".to_string(),
            "weather".into(),
            "--group".into(),
            "lake".into(),
            "--log-dir".into(),
            log_dir.clone(),
            s(&lake),
            "--time-field".into(),
            "time_hour".into(),
            "--window".into(),
            "1d".into(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let out = compact(args(&["--stats"]));
    out.expect_code(0);
    assert_eq!(out.stats()["records_in"], 26115);
    let lines: Vec<String> = String::from_utf8(weather)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(lake_records(&lake), expected(&lines));
    let offsets = &manifest(&lake)["offsets"];
    let total: u64 = offsets
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 26115);
    // The group follows the lake: nothing is left to compact.
    let lag = run(
        env!("CARGO_BIN_EXE_consume"),
        ["weather", "--group", "lake", "--lag", "--log-dir", &log_dir],
        b"",
    );
    lag.expect_code(0);
    assert!(
        lag.records().iter().all(|p| p["lag"] == 0),
        "{}",
        lag.text()
    );

    // Nothing new: no commit. New records and a tombstone: only the new records, the tombstone
    // through --on-error.
    compact(args(&[])).expect_clean();
    assert_eq!(manifest(&lake)["version"], 1);
    let late = "{\"origin\":\"JFK\",\"time_hour\":\"2014-01-01T00:00:00Z\",\"temp\":20.5}\n\
                {\"origin\":\"EWR\",\"time_hour\":\"2013-06-01T00:00:00Z\",\"temp\":70.1}\n";
    produce(&["--key", "origin"], late.as_bytes());
    produce(&["--envelope"], b"{\"key\":\"JFK\",\"value\":null}\n");
    let out = compact(args(&["--on-error", "skip", "--stats"]));
    out.expect_code(0);
    assert_eq!(out.stats()["records_in"], 3);
    assert_eq!(out.stats()["rejected"], 1);
    let mut all = lines.clone();
    all.extend(late.lines().map(String::from));
    assert_eq!(lake_records(&lake), expected(&all));
    let taken: u64 = manifest(&lake)["commit"]["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["to"].as_u64().unwrap() - r["from"].as_u64().unwrap())
        .sum();
    assert_eq!(taken, 3);
}

/// The latest record of each key, computed plainly from records in the order they came:
/// a record replaces its key's when `newer` says so, a delete removes the key.
fn latest_by_key<'a>(
    records: impl IntoIterator<Item = &'a Value>,
    key: &str,
    deletes: impl Fn(&Value) -> bool,
    newer: impl Fn(&Value, &Value) -> bool,
    latest: &mut BTreeMap<String, Value>,
) {
    for record in records {
        let Some(id) = record[key].as_str() else {
            continue;
        };
        if deletes(record) {
            latest.remove(id);
        } else if latest.get(id).is_none_or(|old| newer(record, old)) {
            latest.insert(id.to_string(), record.clone());
        }
    }
}

const KEYED_LAKE: &str = r#"
import json, sys
import duckdb
import pyarrow.dataset as ds
lake = sys.argv[1]
rows, keys = duckdb.connect().execute(
    "select count(*), count(distinct tailnum) from read_parquet(? || '/**/*.parquet')", [lake]
).fetchone()
table = ds.dataset(lake, format="parquet", partitioning="hive").to_table()
print(json.dumps({"rows": rows, "keys": keys, "pyarrow_rows": table.num_rows,
                  "types": {f.name: str(f.type) for f in table.schema}}))
"#;

#[test]
fn key_compaction_keeps_the_latest_record_of_each_key() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let keyed = |extra: &[&str]| {
        let mut args = vec![s(&landing), s(&lake)];
        args.extend(
            [
                "--key",
                "tailnum",
                "--buckets",
                "8",
                "--delete-when",
                ".dep_time == null",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let records: Vec<Value> = flight_lines()[..30_000]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Three runs of ten files each: the order records come in is file name, then line order.
    let mut latest = BTreeMap::new();
    for (run, batch) in records.chunks(10_000).enumerate() {
        for (n, chunk) in batch.chunks(1000).enumerate() {
            let text: String = chunk.iter().map(|r| format!("{r}\n")).collect();
            write(&landing, &format!("part-{run}-{n:02}.ndjson"), text);
        }
        latest_by_key(
            batch,
            "tailnum",
            |r| r["dep_time"].is_null(),
            |_, _| true,
            &mut latest,
        );
        let dead = dir.path().join(format!("dead-{run}.ndjson"));
        let on_error = format!("dead-letter={}", s(&dead));
        let out = compact(keyed(&["--stats", "--on-error", &on_error]));
        out.expect_code(0);
        let without_key = batch.iter().filter(|r| r["tailnum"].is_null()).count();
        assert!(without_key > 0);
        assert_eq!(out.stats()["rejected"], without_key as u64);
        let letters = json_lines(&read(&dead));
        assert_eq!(letters.len(), without_key);
        assert!(letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("key field tailnum is null"));
        assert_eq!(lake_records(&lake), canonical(latest.values().cloned()));
    }
    let buckets: std::collections::BTreeSet<String> = parquet_files(&lake)
        .iter()
        .map(|f| f.split_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(buckets.len(), 8, "{buckets:?}");
    assert!(buckets.iter().all(|b| b.starts_with("bucket=000")));

    // One new record: its bucket is rewritten, and nothing else.
    let before = manifest(&lake)["files"].clone();
    let plane = latest
        .values()
        .find(|r| r["carrier"] == "UA")
        .unwrap()
        .clone();
    let mut update = plane.clone();
    update["dep_delay"] = serde_json::json!(999);
    write(&landing, "part-3-00.ndjson", format!("{update}\n"));
    compact(keyed(&[])).expect_clean();
    let commit = &manifest(&lake)["commit"];
    assert_eq!(commit["added"].as_array().unwrap().len(), 1);
    let bucket = commit["added"][0]
        .as_str()
        .unwrap()
        .split_once('/')
        .unwrap()
        .0;
    let rewritten: Vec<&Value> = before
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["path"].as_str().unwrap().starts_with(bucket))
        .collect();
    assert_eq!(commit["removed"].as_array().unwrap().len(), rewritten.len());
    latest.insert(plane["tailnum"].as_str().unwrap().into(), update);
    assert_eq!(lake_records(&lake), canonical(latest.values().cloned()));

    // A rerun changes nothing; the lake keeps its key and buckets.
    let tree_before = tree(&lake);
    compact(keyed(&[])).expect_clean();
    assert_eq!(tree(&lake), tree_before);
    let other = compact([
        s(&landing),
        s(&lake),
        "--key".into(),
        "tailnum".into(),
        "--buckets".into(),
        "4".into(),
    ]);
    other.expect_code(2);
    assert!(
        other.stderr.contains("by key tailnum in 8 buckets"),
        "{}",
        other.stderr
    );
    compact([
        s(&landing),
        s(&lake),
        "--key".into(),
        "id".into(),
        "--window".into(),
        "1h".into(),
    ])
    .expect_code(2);

    if python_ready("key_compaction_keeps_the_latest_record_of_each_key") {
        let out = python(KEYED_LAKE, &[&s(&lake)]);
        out.expect_code(0);
        let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(seen["rows"], latest.len() as u64);
        assert_eq!(seen["keys"], latest.len() as u64);
        assert_eq!(seen["pyarrow_rows"], latest.len() as u64);
        assert_eq!(seen["types"]["time_hour"], "timestamp[us, tz=UTC]");
        assert_eq!(seen["types"]["bucket"], "int32");
    }
}

#[test]
fn a_keyed_topic_follows_tombstones_and_order_by() {
    let dir = tmp();
    let (log, lake) = (dir.path().join("log"), dir.path().join("lake"));
    let log_dir = s(&log);
    let produce = |args: &[&str], input: &[u8]| {
        let mut all = vec!["weather", "--log-dir", &log_dir];
        all.extend_from_slice(args);
        run(env!("CARGO_BIN_EXE_produce"), all, input).expect_clean();
    };
    let args = |extra: &[&str]| {
        let mut args = vec!["--topic", "weather", "--log-dir", &log_dir];
        args.extend([
            "--key",
            "origin",
            "--order-by",
            "time_hour",
            "--buckets",
            "4",
        ]);
        args.extend_from_slice(extra);
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        args.push(s(&lake));
        args
    };
    let weather: Vec<Value> = json_lines(&String::from_utf8(records_of("weather.csv")).unwrap());
    // Shuffled, so that the latest time is not the last record of each key.
    let mut shuffled = weather.clone();
    shuffled.sort_by_key(|r| (r["temp"].as_f64().unwrap_or(0.0) * 100.0) as i64);
    let text: String = shuffled.iter().map(|r| format!("{r}\n")).collect();
    produce(&["--partitions", "3", "--key", "origin"], text.as_bytes());
    // Every time here is written YYYY-MM-DDTHH:MM:SSZ: as strings, they sort as times.
    let time = |r: &Value| r["time_hour"].as_str().unwrap().to_string();
    let newer = |new: &Value, old: &Value| time(new) >= time(old);
    let mut latest = BTreeMap::new();
    latest_by_key(&shuffled, "origin", |_| false, newer, &mut latest);
    let out = compact(args(&["--stats"]));
    out.expect_code(0);
    assert_eq!(out.stats()["records_in"], 26115);
    assert_eq!(out.stats()["records_out"], 3);
    assert_eq!(lake_records(&lake), canonical(latest.values().cloned()));

    // A tombstone deletes JFK; an older LGA record loses, a newer EWR one wins; a record
    // without a key goes through --on-error.
    produce(&["--envelope"], b"{\"key\":\"JFK\",\"value\":null}\n");
    let more = [
        r#"{"origin":"LGA","time_hour":"2012-06-01T00:00:00Z","temp":1.5}"#,
        r#"{"origin":"EWR","time_hour":"2014-06-01T00:00:00Z","temp":2.5}"#,
    ];
    produce(
        &["--key", "origin"],
        format!("{}\n", more.join("\n")).as_bytes(),
    );
    let keyless = r#"{"key":"LGA","value":{"time_hour":"2014-06-01T00:00:00Z","temp":3.5}}"#;
    produce(&["--envelope"], format!("{keyless}\n").as_bytes());
    let out = compact(args(&["--stats", "--on-error", "skip"]));
    out.expect_code(0);
    assert_eq!(out.stats()["rejected"], 1);
    latest.remove("JFK");
    let more: Vec<Value> = more
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    latest_by_key(&more, "origin", |_| false, newer, &mut latest);
    assert_eq!(latest.len(), 2);
    assert_eq!(lake_records(&lake), canonical(latest.values().cloned()));

    // After a tombstone, any record brings its key back, whatever its time.
    let old = r#"{"origin":"JFK","time_hour":"2000-01-01T00:00:00Z","temp":0.5}"#;
    produce(&["--key", "origin"], format!("{old}\n").as_bytes());
    compact(args(&[])).expect_clean();
    latest.insert("JFK".into(), serde_json::from_str(old).unwrap());
    assert_eq!(lake_records(&lake), canonical(latest.values().cloned()));
}

#[test]
fn a_kill_during_a_topic_run_loses_and_duplicates_nothing() {
    let dir = tmp();
    let log_dir = s(dir.path().join("log"));
    let lines = flight_lines();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    run(
        env!("CARGO_BIN_EXE_produce"),
        [
            "flights",
            "--log-dir",
            &log_dir,
            "--partitions",
            "3",
            "--key",
            "tailnum",
        ],
        text.as_bytes(),
    )
    .expect_clean();
    let args = |lake: &Path| {
        let mut args = vec![
            "--topic",
            "flights",
            "--group",
            "lake",
            "--log-dir",
            &log_dir,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(
            default_hourly(Path::new("unused"), lake, &[])
                .into_iter()
                .skip(1),
        );
        args.extend(["--path-template".into(), "dt=%Y-%m-%d/hr=%H".into()]);
        args
    };
    let started = Instant::now();
    compact(args(&dir.path().join("timed"))).expect_clean();
    let whole = started.elapsed();
    for step in 1..=5u32 {
        let lake = dir.path().join(format!("lake-{step}"));
        let mut child = Command::new(COMPACT)
            .args(args(&lake))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole * step / 5);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        compact(args(&lake)).expect_code(0);
        assert_eq!(
            lake_records(&lake),
            expected(lines),
            "killed at step {step} ({status})"
        );
        let offsets: u64 = manifest(&lake)["offsets"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(offsets, RECORDS as u64);
        let leftovers: Vec<String> = files(&lake)
            .into_iter()
            .filter(|f| f.contains(".tmp") || f.contains(".spill-"))
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
        // Nothing is left for the group, and a rerun commits nothing.
        compact(args(&lake)).expect_clean();
        let lag = run(
            env!("CARGO_BIN_EXE_consume"),
            ["flights", "--group", "lake", "--lag", "--log-dir", &log_dir],
            b"",
        );
        assert!(
            lag.records().iter().all(|p| p["lag"] == 0),
            "{}",
            lag.text()
        );
    }
}

#[test]
fn windows_sharing_a_folder_get_files_of_their_own() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = &flight_lines()[..5000];
    land(&landing, lines, 20, "c-");
    // Hourly windows in daily folders.
    let mut args = default_hourly(&landing, &lake, &[]);
    args.extend(["--path-template".into(), "date=%Y-%m-%d".into()]);
    compact(&args).expect_clean();
    assert_eq!(lake_records(&lake), expected(lines));
    let windows: std::collections::BTreeSet<i64> = manifest(&lake)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["window_start_ms"].as_i64().unwrap())
        .collect();
    let parquet = parquet_files(&lake);
    assert_eq!(
        parquet.len(),
        windows.len(),
        "one file per hour: {parquet:?}"
    );
    let days: std::collections::BTreeSet<&str> = parquet
        .iter()
        .map(|f| f.split_once('/').unwrap().0)
        .collect();
    assert!(days.len() < windows.len());
}

#[test]
fn inputs_that_cannot_be_moved_stay_until_the_next_run_and_are_not_read_twice() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let lines = &flight_lines()[..3000];
    land(&landing, lines, 10, "m-");
    // _done/ cannot be made: the commit stands, the inputs stay where they are.
    write(&landing, "_done", "not a folder");
    let out = compact(hourly(&landing, &lake, &[]));
    out.expect_code(0);
    assert!(
        out.stderr
            .contains("consumed inputs stay in the source for now"),
        "{}",
        out.stderr
    );
    assert_eq!(lake_records(&lake), expected(lines));
    assert_eq!(
        files(&landing)
            .iter()
            .filter(|f| f.starts_with("m-"))
            .count(),
        10
    );
    // The next run moves them, and reads none of them again.
    std::fs::remove_file(landing.join("_done")).unwrap();
    compact(hourly(&landing, &lake, &[])).expect_clean();
    assert_eq!(manifest(&lake)["version"], 1);
    assert_eq!(lake_records(&lake), expected(lines));
    assert!(files(&landing).iter().all(|f| f.starts_with("_done/")));
}

#[test]
fn keys_read_back_from_the_lake_still_match_new_records() {
    let dir = tmp();
    let (landing, lake) = (dir.path().join("landing"), dir.path().join("lake"));
    let keyed = |field: &str| {
        vec![
            s(&landing),
            s(&lake),
            "--key".into(),
            field.into(),
            "--buckets".into(),
            "2".into(),
        ]
    };
    // Whole-number keys stay one key after a float widens the column (1 reads back as 1.0).
    let runs = [
        "{\"id\":1,\"v\":1}\n{\"id\":2,\"v\":1}\n",
        "{\"id\":2.5,\"v\":2}\n",
        "{\"id\":1,\"v\":3}\n{\"id\":2.0,\"v\":3}\n",
    ];
    for (n, run) in runs.iter().enumerate() {
        write(&landing, &format!("{n}.ndjson"), run);
        compact(keyed("id")).expect_clean();
    }
    let got: Vec<(f64, i64)> = {
        let mut got: Vec<(f64, i64)> = extract([s(&lake)], b"")
            .records()
            .iter()
            .map(|r| (r["id"].as_f64().unwrap(), r["v"].as_i64().unwrap()))
            .collect();
        got.sort_by(|a, b| a.partial_cmp(b).unwrap());
        got
    };
    assert_eq!(got, [(1.0, 3), (2.0, 3), (2.5, 2)]);

    // A key that looks like a time is kept as written, and still matches.
    let (landing, lake) = (dir.path().join("landing2"), dir.path().join("lake2"));
    for v in 1..=2 {
        write(
            &landing,
            &format!("{v}.ndjson"),
            format!("{{\"k\":\"2013-01-01 10:00:00\",\"v\":{v}}}\n"),
        );
        compact([s(&landing), s(&lake), "--key".into(), "k".into()]).expect_clean();
    }
    let records = extract([s(&lake)], b"").records();
    assert_eq!(
        records,
        [serde_json::json!({"k": "2013-01-01 10:00:00", "v": 2})]
    );
}
