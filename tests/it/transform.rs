//! `transform` in real pipes: operations, their order, windows, lookups and deduplication.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{json, Value};

use crate::util::*;

fn transform<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    run(TRANSFORM, args, stdin)
}

#[test]
fn rename_set_drop_on_weather_in_order() {
    let dir = tmp();
    let dead = dir.path().join("dead.ndjson");
    let input = records_of("weather.csv");
    let out = transform(
        [
            "--on-error",
            &format!("dead-letter={}", s(&dead)),
            "--rename",
            "temp=temp_f",
            "--set",
            "temp_c=(.temp_f-32)*5/9",
            "--drop",
            "dewp,humid",
        ],
        &input,
    );
    out.expect_code(0);
    // jq cannot subtract from null: records without a temperature are dead-lettered.
    let dead = json_lines(&read(&dead));
    let (before, missing): (Vec<Value>, Vec<Value>) = parse_ndjson(&input)
        .into_iter()
        .partition(|r| !r["temp"].is_null());
    assert_eq!(dead.len(), missing.len());
    assert!(
        dead[0]["reason"].as_str().unwrap().contains("--set temp_c"),
        "{}",
        dead[0]
    );
    let after = out.records();
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(
            keys[..6],
            ["origin", "year", "month", "day", "hour", "temp_f"]
        );
        assert_eq!(*keys.last().unwrap(), "temp_c");
        assert!(a.get("dewp").is_none() && a.get("humid").is_none());
        assert_eq!(a["temp_f"], b["temp"]);
        match b["temp"].as_f64() {
            Some(t) => {
                let c = a["temp_c"].as_f64().unwrap();
                assert!((c - (t - 32.0) * 5.0 / 9.0).abs() < 1e-9, "{a}");
            }
            None => panic!("weather temps are present: {b}"),
        }
    }
}

#[test]
fn operations_apply_in_command_line_order() {
    let input = b"{\"x\":0}\n";
    let out = transform(["--set", "y=1", "--rename", "y=z"], input);
    out.expect_clean();
    assert_eq!(out.text(), "{\"x\":0,\"z\":1}\n");
    let out = transform(["--rename", "y=z", "--set", "y=1"], input);
    out.expect_clean();
    assert_eq!(out.text(), "{\"x\":0,\"y\":1}\n");
    let out = transform(["--hoist", "v", "--flatten", "--rename", "v.x=w"], input);
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"v.x\":0}\n",
        "after --flatten, v.x is a nested path"
    );
    let out = transform(["--hoist", "v", "--flatten", "--rename", "v\\.x=w"], input);
    out.expect_clean();
    assert_eq!(out.text(), "{\"w\":0}\n");
}

#[test]
fn nested_fields_casts_defaults_keep_and_masks() {
    let input = br#"{"id":"7","user":{"name":"ann","ssn":"123-45-6789","age":"41.9"},"ok":"yes","t":1357034400,"n":null}
{"id":"8","user":{"name":"bob","ssn":"123-45-6789"},"ok":"no","t":"2013-01-01 05:00:00-05:00"}
"#;
    let out = run_with_env(
        TRANSFORM,
        [
            "--cast",
            "id:int,user.age:int,ok:bool,t:timestamp",
            "--default",
            "n={\"fallback\":true}",
            "--default",
            "user.age=0",
            "--mask-hash",
            "--mask",
            "user.ssn",
            "--keep",
            "id,user.age,user.ssn,ok,t,n",
        ],
        input,
        &[("SLUICE_MASK_SALT", "pepper")],
    );
    out.expect_clean();
    let r = out.records();
    assert_eq!(r[0]["id"], json!(7));
    assert_eq!(r[0]["user"]["age"], json!(41));
    assert_eq!(r[1]["user"]["age"], json!(0));
    assert_eq!(r[0]["ok"], json!(true));
    assert_eq!(r[1]["ok"], json!(false));
    assert_eq!(r[0]["t"], json!("2013-01-01T10:00:00Z"));
    assert_eq!(r[1]["t"], json!("2013-01-01T10:00:00Z"));
    assert_eq!(r[0]["n"], json!({"fallback": true}));
    let hash = r[0]["user"]["ssn"].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert_eq!(
        r[1]["user"]["ssn"], r[0]["user"]["ssn"],
        "equal values, equal hashes"
    );
    assert!(!out.text().contains("123-45"));
    assert!(r[0]["user"].get("name").is_none());

    let out = transform(["--mask-hash", "--mask", "id"], input);
    out.expect_code(2);
    assert!(out.stderr.contains("SLUICE_MASK_SALT"), "{}", out.stderr);

    let out = transform(["--cast", "user.name:float"], input);
    out.expect_code(1);
    assert!(out.stderr.contains("-:1"), "{}", out.stderr);
    assert!(
        out.stderr.contains("cannot cast \"ann\" to float"),
        "{}",
        out.stderr
    );
}

#[test]
fn programs_explode_arrays_extract_and_unflatten() {
    let input = br#"{"order":1,"items":[{"sku":"a","n":2},{"sku":"b","n":1}]}
{"order":2,"items":[]}
{"order":3,"items":[{"sku":"c","n":5}]}
"#;
    let out = transform(
        [
            "-e",
            ".order as $o | .items[] | {order: $o, line: .}",
            "--extract",
            "line",
        ],
        input,
    );
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"sku\":\"a\",\"n\":2}\n{\"sku\":\"b\",\"n\":1}\n{\"sku\":\"c\",\"n\":5}\n"
    );
    let out = transform(["--flatten", "--separator", "/", "--unflatten"], input);
    out.expect_clean();
    assert_eq!(out.stdout, input);
    let out = transform(
        ["--flatten", "--separator", "_"],
        br#"{"a":{"b":{"c":1}},"d":2}"#,
    );
    assert_eq!(out.text(), "{\"a_b_c\":1,\"d\":2}\n");
    let out = transform(["-e", ".items"], input);
    out.expect_code(1);
    assert!(out.stderr.contains("not an object"), "{}", out.stderr);
    let out = transform(["-e", "select(.order != 2)"], input);
    out.expect_clean();
    assert_eq!(out.records().len(), 2);
    let out = transform(["-e", "{"], input);
    out.expect_code(2);
    let dir = tmp();
    let program = write(
        dir.path(),
        "lines.jq",
        "# one record per item\n.items[] | {sku}\n",
    );
    let out = transform(["--expr-file", &program], input);
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"sku\":\"a\"}\n{\"sku\":\"b\"}\n{\"sku\":\"c\"}\n"
    );
}

/// Hourly aggregates per origin, computed here from the records as an independent check.
fn hourly(input: &[u8]) -> BTreeMap<(String, String), (u64, f64, u64, f64)> {
    let mut groups: BTreeMap<(String, String), (u64, f64, u64, f64)> = BTreeMap::new();
    for r in parse_ndjson(input) {
        let key = (
            r["origin"].as_str().unwrap().to_string(),
            r["time_hour"].as_str().unwrap().to_string(),
        );
        let g = groups.entry(key).or_insert((0, 0.0, 0, f64::MIN));
        g.0 += 1;
        if let Some(d) = r["dep_delay"].as_f64() {
            g.1 += d;
            g.2 += 1;
            g.3 = g.3.max(d);
        }
    }
    groups
}

#[test]
fn hourly_window_aggregates_match_an_independent_computation() {
    let input = records_of("flights.csv.gz");
    let out = transform(
        [
            "--window",
            "1h",
            "--time-field",
            "time_hour",
            // The file is not in time order (months are not sorted): a batch job lets every
            // window stay open.
            "--allowed-lateness",
            "366d",
            "--group-by",
            "origin",
            "--agg",
            "count",
            "--agg",
            "avg(dep_delay)",
            "--agg",
            "max(dep_delay)",
        ],
        &input,
    );
    out.expect_clean();
    let expected = hourly(&input);
    let got = out.records();
    assert_eq!(got.len(), expected.len());
    let mut last_end = String::new();
    for r in &got {
        let start = r["window_start"].as_str().unwrap().to_string();
        let end = r["window_end"].as_str().unwrap();
        assert!(end >= last_end.as_str(), "windows come out in time order");
        last_end = end.to_string();
        let e = expected[&(r["origin"].as_str().unwrap().to_string(), start)];
        assert_eq!(r["count"], json!(e.0), "{r}");
        if e.2 == 0 {
            assert_eq!(r["avg_dep_delay"], Value::Null);
        } else {
            let avg = r["avg_dep_delay"].as_f64().unwrap();
            assert!((avg - e.1 / e.2 as f64).abs() < 1e-9, "{r}");
            assert_eq!(r["max_dep_delay"].as_f64().unwrap(), e.3);
        }
    }
}

#[test]
fn hourly_aggregates_agree_with_duckdb() {
    if !python_ready("hourly_aggregates_agree_with_duckdb") {
        return;
    }
    let dir = tmp();
    let input = write(dir.path(), "flights.ndjson", records_of("flights.csv.gz"));
    let out = run(
        TRANSFORM,
        [
            "--group-by",
            "origin,carrier",
            "--agg",
            "n=count",
            "--agg",
            "total=sum(distance)",
            "--agg",
            "planes=count_distinct(tailnum)",
            &input,
        ],
        b"",
    );
    out.expect_clean();
    let ours: HashMap<String, Value> = out
        .records()
        .into_iter()
        .map(|r| (format!("{}/{}", r["origin"], r["carrier"]), r))
        .collect();
    let script = r#"
import duckdb, json, sys
rows = duckdb.sql(f"select origin, carrier, count(*), sum(distance), count(distinct tailnum) from read_json('{sys.argv[1]}') group by all").fetchall()
print(json.dumps(rows))
"#;
    let py = python(script, &[&input]);
    py.expect_code(0);
    let rows: Vec<(String, String, u64, u64, u64)> = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(rows.len(), ours.len());
    for (origin, carrier, n, total, planes) in rows {
        let r = &ours[&format!("\"{origin}\"/\"{carrier}\"")];
        assert_eq!(r["n"], json!(n));
        assert_eq!(r["total"], json!(total));
        assert_eq!(r["planes"], json!(planes));
    }
}

#[test]
fn late_records_are_routed_or_rejected_and_open_windows_flush_at_the_end() {
    let dir = tmp();
    let input = br#"{"t":"2024-01-01T00:00:10Z","k":"a","v":1}
{"t":"2024-01-01T00:04:00Z","k":"a","v":2}
{"t":"2024-01-01T00:06:00Z","k":"b","v":3}
{"t":"2024-01-01T00:01:00Z","k":"a","v":4}
{"t":"2024-01-01T00:11:00Z","k":"a","v":5}
"#;
    let late = dir.path().join("late.ndjson");
    let args = |extra: &[&str]| {
        let mut a = vec![
            "--window",
            "5m",
            "--time-field",
            "t",
            "--group-by",
            "k",
            "--agg",
            "sum(v)",
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let out = transform(args(&["--late", &s(&late)]), input);
    out.expect_clean();
    assert_eq!(
        out.text(),
        concat!(
            "{\"k\":\"a\",\"window_start\":\"2024-01-01T00:00:00Z\",\"window_end\":\"2024-01-01T00:05:00Z\",\"sum_v\":3}\n",
            "{\"k\":\"b\",\"window_start\":\"2024-01-01T00:05:00Z\",\"window_end\":\"2024-01-01T00:10:00Z\",\"sum_v\":3}\n",
            "{\"k\":\"a\",\"window_start\":\"2024-01-01T00:10:00Z\",\"window_end\":\"2024-01-01T00:15:00Z\",\"sum_v\":5}\n",
        )
    );
    assert_eq!(
        read(&late),
        "{\"t\":\"2024-01-01T00:01:00Z\",\"k\":\"a\",\"v\":4}\n"
    );

    let out = transform(args(&[]), input);
    out.expect_code(1);
    assert!(
        out.stderr.contains("-:4")
            && out.stderr.contains("late record")
            && out
                .stderr
                .contains("raise --allowed-lateness, sort the input by time"),
        "{}",
        out.stderr
    );

    let out = transform(args(&["--allowed-lateness", "2m"]), input);
    out.expect_clean();
    assert!(out.text().contains("\"sum_v\":7}"), "{}", out.text());

    let out = transform(args(&["--hop", "1m", "--on-error", "skip"]), input);
    out.expect_code(0);
    let windows = out.records();
    // Each record counts in five overlapping windows.
    let total: i64 = windows.iter().map(|w| w["sum_v"].as_i64().unwrap()).sum();
    // The record with v=4 is late for all five of its windows (skipped).
    assert_eq!(total, 5 * (1 + 2 + 3 + 5), "{}", out.text());
}

#[test]
fn records_without_a_time_are_rejected_not_dropped() {
    let input = b"{\"t\":null}\n{\"x\":1}\n{\"t\":\"soon\"}\n{\"t\":0}\n";
    let out = transform(
        [
            "--window",
            "1m",
            "--time-field",
            "t",
            "--agg",
            "count",
            "--on-error",
            "skip",
            "--stats",
        ],
        input,
    );
    out.expect_code(0);
    assert_eq!(out.stats()["rejected"], json!(3));
    assert_eq!(out.records()[0]["count"], json!(1));
}

#[test]
fn aggregates_never_write_a_key_twice() {
    let input = b"{\"g\":\"x\",\"a\":1}\n";
    for args in [
        &["--agg", "sum(a)", "--agg", "sum(a)"][..],
        &["--group-by", "g", "--agg", "g=sum(a)"],
        &[
            "--window",
            "1m",
            "--time-field",
            "a",
            "--agg",
            "window_end=count",
        ],
    ] {
        let out = transform(args, input);
        out.expect_code(2);
        assert!(out.stderr.contains("named twice"), "{}", out.stderr);
    }
    let out = transform(["--agg", "sum(a)", "--agg", "total=sum(a)"], input);
    assert_eq!(out.records(), vec![json!({"sum_a": 1, "total": 1})]);
}

#[test]
fn lookups_enrich_flights_with_airports() {
    let input = records_of("flights.csv.gz");
    let airports = data("airports.csv");
    let out = transform(
        [
            "--lookup", &airports, "--on", "dest=faa", "--prefix", "dest_", "--stats",
        ],
        &input,
    );
    out.expect_code(0);
    let records = out.records();
    assert_eq!(records.len(), 336_776);
    let lax = records.iter().find(|r| r["dest"] == "LAX").unwrap();
    assert_eq!(lax["dest_name"], json!("Los Angeles Intl"));
    assert_eq!(lax["dest_faa"], json!("LAX"));
    let unmatched: HashSet<&str> = records
        .iter()
        .filter(|r| r.get("dest_name").is_none())
        .map(|r| r["dest"].as_str().unwrap())
        .collect();
    assert!(
        unmatched.contains("BQN") && unmatched.len() < 10,
        "{unmatched:?}"
    );

    let out = transform(
        [
            "--lookup",
            &airports,
            "--on",
            "dest=faa",
            "--on-miss",
            "drop",
            "--keep",
            "dest",
        ],
        &input,
    );
    out.expect_code(0);
    let kept = out.records().len();
    assert!(
        out.stderr
            .contains(&format!("left out {} record(s)", 336_776 - kept)),
        "{}",
        out.stderr
    );

    let out = transform(
        [
            "--lookup",
            &airports,
            "--on",
            "dest=faa",
            "--on-miss",
            "reject",
        ],
        &input,
    );
    out.expect_code(1);
    assert!(out.stderr.contains("no row of"), "{}", out.stderr);
}

#[test]
fn dedupe_over_the_whole_input_and_bounded() {
    let weather = records_of("weather.csv");
    let mut twice = weather.clone();
    twice.extend_from_slice(&weather);
    let out = transform(["--dedupe", "origin,time_hour", "--stats"], &twice);
    out.expect_code(0);
    assert_eq!(out.stdout, weather, "first copies, in order, byte for byte");
    assert!(
        out.stderr.contains("left out 26115 duplicate"),
        "{}",
        out.stderr
    );
    let out = transform(
        ["--dedupe", "origin,time_hour", "--dedupe-capacity", "10"],
        &twice,
    );
    out.expect_code(0);
    assert_eq!(out.records().len(), 2 * 26_115, "too far apart for 10 keys");
}

#[test]
fn value_only_keeps_the_envelope() {
    let input = br#"{"topic":"t","partition":0,"offset":5,"timestamp":1,"key":"k1","headers":{"h":"v"},"value":{"temp":50,"secret":"x"}}
{"topic":"t","partition":0,"offset":6,"timestamp":2,"key":"k2","headers":{},"value":null}
"#;
    let out = transform(
        [
            "--value-only",
            "--set",
            "temp_c=(.temp-32)*5/9",
            "--mask",
            "secret",
        ],
        input,
    );
    out.expect_clean();
    assert_eq!(
        out.text(),
        concat!(
            "{\"topic\":\"t\",\"partition\":0,\"offset\":5,\"timestamp\":1,\"key\":\"k1\",\"headers\":{\"h\":\"v\"},\"value\":{\"temp\":50,\"secret\":\"***\",\"temp_c\":10}}\n",
            "{\"topic\":\"t\",\"partition\":0,\"offset\":6,\"timestamp\":2,\"key\":\"k2\",\"headers\":{},\"value\":null}\n",
        )
    );
}

#[test]
fn consume_transform_produce_keeps_keys_and_headers() {
    let dir = tmp();
    let out = bash(
        dir.path(),
        r#"set -euo pipefail
export SLUICE_LOG_DIR=$PWD/log
printf '{"id":"a","temp":50}\n{"id":"b","temp":212}\n' | $PRODUCE raw --key id --header src=test
$CONSUME raw --envelope | $TRANSFORM --value-only --set 'c=(.temp-32)*5/9' | $PRODUCE --envelope cooked
$CONSUME cooked --envelope"#,
    );
    out.expect_code(0);
    let r = out.records();
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["key"], json!("a"));
    assert_eq!(r[0]["headers"], json!([{"key": "src", "value": "test"}]));
    assert_eq!(r[1]["value"]["c"], json!(100));
}

#[test]
fn a_rename_onto_an_existing_field_is_rejected_not_overwritten() {
    let input = b"{\"a\":1,\"b\":2}\n{\"a\":3}\n";
    for extra in [&[][..], &["--set", "c=.a"][..]] {
        let mut args = vec!["--rename", "a=b"];
        args.extend_from_slice(extra);
        let out = transform(args, input);
        out.expect_code(1);
        assert!(
            out.stderr
                .contains("cannot rename a to b: the record already has b"),
            "{}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
    let out = transform(["--drop", "b", "--rename", "a=b"], input);
    out.expect_clean();
    assert_eq!(out.text(), "{\"b\":1}\n{\"b\":3}\n");
}
