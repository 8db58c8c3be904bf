//! produce and consume on the embedded log.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{bash, data, first_lines, parse_ndjson, run, s, tmp, Output};

const PRODUCE: &str = env!("CARGO_BIN_EXE_produce");
const CONSUME: &str = env!("CARGO_BIN_EXE_consume");

fn produce(log: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["--log-dir".to_string(), s(log)];
    all.extend(args.iter().map(|a| a.to_string()));
    run(PRODUCE, all, stdin)
}

fn consume(log: &Path, args: &[&str]) -> Output {
    let mut all = vec!["--log-dir".to_string(), s(log)];
    all.extend(args.iter().map(|a| a.to_string()));
    run(CONSUME, all, b"")
}

fn records(n: std::ops::Range<u64>) -> Vec<u8> {
    n.map(|i| format!("{{\"id\":{i},\"key\":\"k{}\"}}\n", i % 7))
        .collect::<String>()
        .into_bytes()
}

fn ids(out: &Output) -> Vec<u64> {
    out.records()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

#[test]
fn keyed_records_keep_their_order_in_one_partition() {
    let dir = tmp();
    let weather = std::fs::read(data("weather.csv")).unwrap();
    let extracted = run(
        env!("CARGO_BIN_EXE_extract"),
        ["--null", "NA", "-"],
        &weather,
    );
    extracted.expect_clean();
    produce(
        dir.path(),
        &["weather", "--key", "origin", "--partitions", "3"],
        &extracted.stdout,
    )
    .expect_clean();
    let out = consume(dir.path(), &["weather", "--envelope"]);
    out.expect_clean();
    let envelopes = out.records();
    assert_eq!(envelopes.len(), 26_115);
    let mut partition_of: BTreeMap<String, u64> = BTreeMap::new();
    let mut last: BTreeMap<String, (String, i64)> = BTreeMap::new();
    for e in &envelopes {
        let origin = e["key"].as_str().unwrap().to_string();
        let p = e["partition"].as_u64().unwrap();
        assert_eq!(
            *partition_of.entry(origin.clone()).or_insert(p),
            p,
            "{origin} in two partitions"
        );
        // Within a key, records come back in the order they were produced (the input is
        // sorted by origin, then time).
        let t = e["value"]["time_hour"].as_str().unwrap().to_string();
        let h = e["value"]["hour"].as_i64().unwrap();
        if let Some(prev) = last.get(&origin) {
            assert!(
                (prev.0.clone(), prev.1) <= (t.clone(), h) || prev.0 <= t,
                "{origin}: {prev:?} then {t}"
            );
        }
        last.insert(origin, (t, h));
    }
    // murmur2 as Kafka's Java client computes it (checked with confluent-kafka's
    // murmur2 partitioner): EWR -> 1, JFK -> 1, LGA -> 0 with 3 partitions.
    assert_eq!(
        partition_of,
        BTreeMap::from([("EWR".into(), 1), ("JFK".into(), 1), ("LGA".into(), 0)])
    );
    // The value is the record as produced.
    let first = &consume(dir.path(), &["weather", "--max", "1", "--partition", "0"]).records()[0];
    assert_eq!(first["origin"], "LGA");
    // --partition overrides the key's partition and keeps the key, as Kafka's clients do.
    produce(
        dir.path(),
        &["weather", "--key", "origin", "--partition", "2"],
        b"{\"origin\":\"EWR\"}\n",
    )
    .expect_clean();
    let moved = &consume(dir.path(), &["weather", "--partition", "2", "--envelope"]).records();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["key"], "EWR");
}

#[test]
fn partitions_match_librdkafkas_murmur2_partitioner() {
    if !crate::util::python_ready("partitions_match_librdkafkas_murmur2_partitioner") {
        return;
    }
    let ck = Command::new("python3")
        .args(["-c", "import confluent_kafka; confluent_kafka.murmur2"])
        .output()
        .unwrap();
    if !ck.status.success() {
        assert!(
            std::env::var_os("CI").is_none(),
            "confluent-kafka is missing: .ci/setup installs it"
        );
        eprintln!("skipped: confluent-kafka is not installed");
        return;
    }
    let dir = tmp();
    let keys: Vec<String> = (0..200)
        .map(|i| format!("key-{i}-{}", "é".repeat(i % 5)))
        .collect();
    let input: String = keys
        .iter()
        .map(|k| format!("{}\n", json!({"k": k})))
        .collect();
    produce(
        dir.path(),
        &["t", "--key", "k", "--partitions", "7"],
        input.as_bytes(),
    )
    .expect_clean();
    let ours: BTreeMap<String, u64> = consume(dir.path(), &["t", "--envelope"])
        .records()
        .iter()
        .map(|e| {
            (
                e["key"].as_str().unwrap().to_string(),
                e["partition"].as_u64().unwrap(),
            )
        })
        .collect();
    let script = "import sys, json, confluent_kafka\nfor k in json.load(sys.stdin): print(json.dumps([k, confluent_kafka.murmur2(k.encode(), 7)]))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(keys).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let theirs: BTreeMap<String, u64> = parse_ndjson(&out.stdout)
        .iter()
        .map(|v| (v[0].as_str().unwrap().to_string(), v[1].as_u64().unwrap()))
        .collect();
    assert_eq!(theirs.len(), 200);
    assert_eq!(ours, theirs);
}

#[test]
fn until_end_follow_max_and_timestamps() {
    let dir = tmp();
    let input: String = (0..100)
        .map(|i| format!("{{\"id\":{i},\"t\":\"2024-01-01T00:{:02}:00Z\"}}\n", i % 60))
        .collect();
    produce(
        dir.path(),
        &["t", "--timestamp-field", "t", "--partitions", "1"],
        input.as_bytes(),
    )
    .expect_clean();
    assert_eq!(ids(&consume(dir.path(), &["t", "--until-end"])).len(), 100);
    assert_eq!(
        ids(&consume(dir.path(), &["t", "--max", "5"])),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        ids(&consume(dir.path(), &["t", "--from", "-3"])),
        vec![97, 98, 99]
    );
    assert_eq!(
        ids(&consume(dir.path(), &["t", "--from", "95"])),
        vec![95, 96, 97, 98, 99]
    );
    // Seek by time: the first record at or after 00:59 is id 59.
    let from_time = ids(&consume(
        dir.path(),
        &["t", "--from", "2024-01-01T00:59:00Z"],
    ));
    assert_eq!(from_time[0], 59);
    assert_eq!(from_time.len(), 41);
    let until = ids(&consume(
        dir.path(),
        &["t", "--until", "2024-01-01T00:02:00Z"],
    ));
    assert_eq!(until, vec![0, 1, 2]);
    // --stats counts the bytes of the records handled: not the one read past --until.
    let bytes_in = |args: &[&str]| {
        let out = consume(dir.path(), args);
        let stats: Value = serde_json::from_str(out.stderr.lines().last().unwrap()).unwrap();
        stats["bytes_in"].as_u64().unwrap()
    };
    let ten = bytes_in(&["t", "--max", "10", "--stats"]);
    assert!(ten > 0);
    assert_eq!(
        bytes_in(&["t", "--until", "2024-01-01T00:02:00Z", "--stats"]) * 10,
        ten * 3,
        "ids 0 to 9 are records of one size"
    );
    let envelope = &consume(dir.path(), &["t", "--envelope", "--max", "1"]).records()[0];
    assert_eq!(envelope["timestamp"], json!(1_704_067_200_000i64));
    assert_eq!(envelope["offset"], json!(0));

    // --follow: a follower sees records produced after it started.
    let mut follower = Command::new(CONSUME)
        .args([
            "--log-dir",
            &s(dir.path()),
            "t",
            "--follow",
            "--from",
            "latest",
            "--max",
            "3",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    produce(dir.path(), &["t"], b"{\"id\":1000}\n{\"id\":1001}\n").expect_clean();
    std::thread::sleep(Duration::from_millis(100));
    produce(dir.path(), &["t"], b"{\"id\":1002}\n").expect_clean();
    let out = wait_with_timeout(follower, Duration::from_secs(10));
    assert_eq!(
        parse_ndjson(&out)
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![1000, 1001, 1002]
    );
    // --follow --until ends once every partition has passed the time: at a later record, or
    // at its end once the time has passed.
    for (until, expected) in [("2024-01-01T00:02:00Z", 3), ("-1h", 100), ("-0s", 103)] {
        let follower = Command::new(CONSUME)
            .args([
                "--log-dir",
                &s(dir.path()),
                "t",
                "--follow",
                "--until",
                until,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_with_timeout(follower, Duration::from_secs(10));
        assert_eq!(parse_ndjson(&out).len(), expected, "--until {until}");
    }
    follower = Command::new(CONSUME)
        .arg("--version")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    follower.wait().unwrap();
}

#[test]
fn a_follower_of_a_deleted_topic_says_so_and_fails() {
    let dir = tmp();
    produce(dir.path(), &["t"], &records(0..3)).expect_clean();
    let mut follower = Command::new(CONSUME)
        .args(["--log-dir", &s(dir.path()), "t", "--follow"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    produce(dir.path(), &["t", "--delete-topic"], b"").expect_clean();
    let start = Instant::now();
    while follower.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(10) {
            let _ = follower.kill();
            panic!("the follower went on");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = follower.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the topic was deleted while being read"),
        "{stderr}"
    );
}

/// A producer that outlives its topic's deletion fails rather than make the topic again
/// (or write to files nobody reads).
#[test]
fn a_producer_of_a_deleted_topic_fails() {
    let dir = tmp();
    let log = dir.path();
    // Keys by the partition (of 2) they go to.
    let keys: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    let probe: String = keys
        .iter()
        .map(|k| format!("{{\"k\":\"{k}\"}}\n"))
        .collect();
    produce(
        log,
        &["probe", "--key", "k", "--partitions", "2"],
        probe.as_bytes(),
    )
    .expect_clean();
    let in_partition = |p: u64| -> String {
        let envelopes = consume(log, &["probe", "--envelope", "--partition", &p.to_string()]);
        envelopes.records()[0]["key"].as_str().unwrap().to_string()
    };
    let (first, second) = (in_partition(0), in_partition(1));
    let mut producer = Command::new(PRODUCE)
        .args(["--log-dir", &s(log), "t", "--key", "k", "--partitions", "2"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = producer.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, format!("{{\"k\":\"{first}\"}}\n").as_bytes()).unwrap();
    let start = Instant::now();
    while consume(log, &["t"]).records().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(10), "not written");
        std::thread::sleep(Duration::from_millis(20));
    }
    produce(log, &["t", "--delete-topic"], b"").expect_clean();
    std::io::Write::write_all(&mut stdin, format!("{{\"k\":\"{second}\"}}\n").as_bytes()).unwrap();
    drop(stdin);
    let out = producer.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("was the topic deleted?"), "{stderr}");
    assert!(!log.join("t").exists());
}

/// `consume --follow | head`: the follower ends when head does, though no record comes to
/// find the pipe closed, what head took stays committed, and --stats still reports the run.
#[test]
fn a_follower_ends_as_soon_as_its_reader_does() {
    let dir = tmp();
    produce(&dir.path().join("log"), &["t"], &records(0..3)).expect_clean();
    let start = Instant::now();
    let out = bash(
        dir.path(),
        "set -o pipefail; timeout 20 \"$CONSUME\" --log-dir log t --follow --group g --stats \
         2>err.txt | head -n 2",
    );
    out.expect_clean();
    assert_eq!(ids(&out), [0, 1]);
    let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
    let stats: serde_json::Value = serde_json::from_str(err.trim()).expect(&err);
    assert_eq!(stats["records_out"], 3, "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    let lag = consume(&dir.path().join("log"), &["--lag", "--group", "g", "t"]).records();
    assert_eq!(
        lag[0]["lag"], 0,
        "every record was written to the pipe: {lag:?}"
    );
}

#[test]
fn a_burst_is_written_while_the_input_stays_open() {
    let dir = tmp();
    let mut producer = Command::new(PRODUCE)
        .args(["--log-dir", &s(dir.path()), "t", "--partitions", "1"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = producer.stdin.take().unwrap();
    // About 60 KiB in one write: more than a short read, less than a pipe holds.
    let burst = records(0..2500);
    std::io::Write::write_all(&mut stdin, &burst).unwrap();
    let start = Instant::now();
    loop {
        let out = consume(dir.path(), &["t", "--until-end"]);
        if out.code == 0 && ids(&out) == (0..2500).collect::<Vec<_>>() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "records held back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stdin);
    assert!(producer.wait().unwrap().success());
}

fn wait_with_timeout(mut child: std::process::Child, limit: Duration) -> Vec<u8> {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("process did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap().stdout
}

#[test]
fn two_step_commit_replays_after_a_failed_pipeline() {
    let dir = tmp();
    let log = s(dir.path());
    produce(dir.path(), &["t", "--partitions", "2"], &records(0..50)).expect_clean();
    // The downstream stage fails: nothing is committed, the next run sees everything again.
    let failed = bash(dir.path(), &format!(
        "set -o pipefail; $CONSUME --log-dir {log} t --group g --checkpoint cp.json | false && $CONSUME --log-dir {log} --commit cp.json"
    ));
    assert_ne!(failed.code, 0);
    let ok = bash(dir.path(), &format!(
        "set -o pipefail; $CONSUME --log-dir {log} t --group g --checkpoint cp.json > out.ndjson && $CONSUME --log-dir {log} --commit cp.json"
    ));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let mut got = parse_ndjson(&std::fs::read(dir.path().join("out.ndjson")).unwrap())
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect::<Vec<_>>();
    got.sort();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
    // Committed: the next run has nothing; new records come next.
    assert!(consume(dir.path(), &["t", "--group", "g"])
        .stdout
        .is_empty());
    produce(dir.path(), &["t"], &records(50..60)).expect_clean();
    let mut next = ids(&consume(dir.path(), &["t", "--group", "g"]));
    next.sort();
    assert_eq!(next, (50..60).collect::<Vec<_>>());
    // Default commit: after output was flushed.
    assert!(consume(dir.path(), &["t", "--group", "g"])
        .stdout
        .is_empty());
}

#[test]
fn lag_reset_describe_and_lists() {
    let dir = tmp();
    produce(dir.path(), &["t", "--partitions", "2"], &records(0..100)).expect_clean();
    consume(dir.path(), &["t", "--group", "g", "--max", "30"]).expect_clean();
    let lag = consume(dir.path(), &["--lag", "--group", "g", "t"]);
    lag.expect_clean();
    let rows = lag.records();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter().map(|r| r["lag"].as_u64().unwrap()).sum::<u64>(),
        70
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["end_offset"].as_u64().unwrap())
            .sum::<u64>(),
        100
    );
    assert!(rows
        .iter()
        .any(|r| r["oldest_unconsumed_timestamp"].is_string()));
    // A group with nothing committed lags by what it would read: from where --from says.
    let fresh = |from: &str| -> u64 {
        consume(
            dir.path(),
            &["--lag", "--group", "new", "--from", from, "t"],
        )
        .records()
        .iter()
        .map(|r| r["lag"].as_u64().unwrap())
        .sum()
    };
    assert_eq!(
        (fresh("earliest"), fresh("latest"), fresh("-5")),
        (100, 0, 10)
    );
    consume(dir.path(), &["--reset", "earliest", "--group", "g", "t"]).expect_clean();
    let lag = consume(dir.path(), &["--lag", "--group", "g", "t"]).records();
    assert_eq!(
        lag.iter().map(|r| r["lag"].as_u64().unwrap()).sum::<u64>(),
        100
    );
    consume(dir.path(), &["--reset", "latest", "--group", "g", "t"]).expect_clean();
    assert!(consume(dir.path(), &["t", "--group", "g"])
        .stdout
        .is_empty());
    let describe = consume(dir.path(), &["--describe", "t"]).records();
    assert_eq!(
        describe
            .iter()
            .map(|r| r["records"].as_u64().unwrap())
            .sum::<u64>(),
        100
    );
    assert_eq!(
        consume(dir.path(), &["--list-topics"]).records()[0]["partitions"],
        2
    );
    assert_eq!(
        consume(dir.path(), &["--list-groups"]).records()[0]["group"],
        "g"
    );
    // Groups of the topics named, only.
    produce(dir.path(), &["u"], &records(0..1)).expect_clean();
    consume(dir.path(), &["u", "--group", "h"]).expect_clean();
    let groups = |topics: &[&str]| {
        let out = consume(dir.path(), &[&["--list-groups"], topics].concat());
        out.records()
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["group"].as_str().unwrap(),
                    r["topic"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(&[]), ["g/t", "h/u"]);
    assert_eq!(groups(&["u"]), ["h/u"]);
    consume(dir.path(), &["nope"]).expect_code(1);
    produce(dir.path(), &["t", "--partitions", "5"], b"").expect_code(2);
    produce(dir.path(), &["--delete-topic", "t"], b"").expect_clean();
    let topics = consume(dir.path(), &["--list-topics"]).records();
    assert_eq!(topics.len(), 1);
    assert_eq!(topics[0]["topic"], "u");
}

#[test]
fn a_group_is_not_reset_while_a_member_reads() {
    let dir = tmp();
    produce(dir.path(), &["t"], &records(0..3)).expect_clean();
    let mut member = Command::new(CONSUME)
        .args(["--log-dir", &s(dir.path()), "t", "--group", "g", "--follow"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // It has joined once it has written what there is.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(member.stdout.take().unwrap()));
    for _ in 0..3 {
        lines.next().unwrap().unwrap();
    }
    let refused = consume(dir.path(), &["--reset", "earliest", "--group", "g", "t"]);
    refused.expect_code(1);
    assert!(
        refused.stderr.contains("1 member(s) reading t"),
        "{}",
        refused.stderr
    );
    member.kill().unwrap();
    member.wait().unwrap();
    consume(dir.path(), &["--reset", "earliest", "--group", "g", "t"]).expect_clean();
    assert_eq!(ids(&consume(dir.path(), &["t", "--group", "g"])), [0, 1, 2]);
}

#[test]
fn retention_deletes_old_segments_only() {
    let dir = tmp();
    produce(
        dir.path(),
        &["t", "--segment-bytes", "4096", "--retention-bytes", "20000"],
        &records(0..2000),
    )
    .expect_clean();
    let info = &consume(dir.path(), &["--describe", "t"]).records()[0];
    let start = info["start_offset"].as_u64().unwrap();
    assert!(start > 0, "{info}");
    assert_eq!(info["end_offset"], 2000);
    assert!(
        info["bytes"].as_u64().unwrap() <= 20000 + 4096 + 200,
        "{info}"
    );
    let got = ids(&consume(dir.path(), &["t"]));
    assert_eq!(got.first().copied(), Some(start));
    assert_eq!(got.len() as u64, 2000 - start);
    // A tighter setting takes effect when it is made.
    produce(
        dir.path(),
        &["t", "--create", "--retention-bytes", "8000"],
        b"",
    )
    .expect_clean();
    let info = &consume(dir.path(), &["--describe", "t"]).records()[0];
    assert!(info["start_offset"].as_u64().unwrap() > start, "{info}");
    assert!(
        info["bytes"].as_u64().unwrap() <= 8000 + 4096 + 200,
        "{info}"
    );
}

#[test]
fn repeated_headers_survive_a_copy_through_a_json_parser() {
    let dir = tmp();
    let input = br#"{"key":"k","value":{"x":1},"headers":[{"key":"h","value":"1"},{"key":"h","value":"2"},{"key":"n","value":null}]}"#;
    produce(dir.path(), &["src", "--envelope"], input).expect_clean();
    let copy = consume(dir.path(), &["src", "--envelope"]);
    // Python's json keeps only the last of repeated object keys; the array form loses nothing.
    let reparse = "import json, sys\nfor line in sys.stdin: print(json.dumps(json.loads(line)))";
    let parsed = run("python3", ["-c", reparse], &copy.stdout);
    parsed.expect_code(0);
    produce(dir.path(), &["dst", "--envelope"], &parsed.stdout).expect_clean();
    let dst = consume(dir.path(), &["dst", "--envelope"]).records();
    assert_eq!(
        dst[0]["headers"],
        json!([{"key": "h", "value": "1"}, {"key": "h", "value": "2"}, {"key": "n", "value": null}])
    );
    // The object form of earlier versions, and kcat's flat array, are still read.
    for (topic, headers) in [
        ("old", r#"{"h":"1","h":"2","n":null}"#),
        ("kcat", r#"["h","1","h","2","n",null]"#),
    ] {
        let line = format!(r#"{{"value":1,"headers":{headers}}}"#);
        produce(dir.path(), &[topic, "--envelope"], line.as_bytes()).expect_clean();
        let read = consume(dir.path(), &[topic, "--envelope"]).records();
        assert_eq!(read[0]["headers"], dst[0]["headers"], "{topic}");
    }
}

#[test]
fn binary_keys_headers_and_values_are_copied_exactly() {
    let dir = tmp();
    let input = br#"{"key_base64":"/2s=","value_base64":"AMMo","headers":[{"key":"b","value_base64":"gA=="},{"key":"t","value":"x"}]}"#;
    produce(dir.path(), &["src", "--envelope"], input).expect_clean();
    let copy = consume(dir.path(), &["src", "--envelope"]);
    produce(dir.path(), &["dst", "--envelope"], &copy.stdout).expect_clean();
    for topic in ["src", "dst"] {
        let record = &consume(dir.path(), &[topic, "--envelope"]).records()[0];
        assert_eq!(record["key_base64"], json!("/2s="), "{topic}: {record}");
        assert_eq!(record["value_base64"], json!("AMMo"), "{topic}: {record}");
        assert_eq!(
            record["headers"],
            json!([{"key": "b", "value_base64": "gA=="}, {"key": "t", "value": "x"}]),
            "{topic}"
        );
    }
    // Without --envelope the value's own bytes are written, as they are.
    let plain = consume(dir.path(), &["dst"]);
    assert_eq!(plain.stdout, [0, 0xc3, 0x28, b'\n']);
}

#[test]
fn envelopes_copy_a_topic_faithfully() {
    let dir = tmp();
    let input = concat!(
        r#"{"key":"a","value":{"x":1},"headers":{"h":"1"},"timestamp":5}"#,
        "\n",
        r#"{"key":"a","value":null}"#,
        "\n",
        r#"{"value":{"y":2},"partition":1}"#,
        "\n",
        r#"{"value":{"big":-9223372036854775809, "f":0.1000000000000000055511151231257827,"e":1e400,"z":-0},"headers":{"h":"1","h":"2","n":null},"key":7.50}"#,
        "\n"
    )
    .as_bytes();
    produce(
        dir.path(),
        &["src", "--envelope", "--partitions", "2"],
        input,
    )
    .expect_clean();
    let copy = consume(dir.path(), &["src", "--envelope"]);
    produce(
        dir.path(),
        &["dst", "--envelope", "--partitions", "2"],
        &copy.stdout,
    )
    .expect_clean();
    // Byte for byte, but for the topic's name: numbers as spelled, repeated header names.
    let src = consume(dir.path(), &["src", "--envelope"]).text();
    let dst = consume(dir.path(), &["dst", "--envelope"]).text();
    assert_eq!(src.replace(r#"{"topic":"src","#, r#"{"topic":"dst","#), dst);
    assert_eq!(dst.lines().count(), 4);
    assert!(
        dst.contains(r#""key":"7.50","headers":[{"key":"h","value":"1"},{"key":"h","value":"2"},{"key":"n","value":null}],"value":{"big":-9223372036854775809, "f":0.1000000000000000055511151231257827,"e":1e400,"z":-0}}"#),
        "{dst}"
    );
    assert!(dst.contains(
        r#""timestamp":5,"key":"a","headers":[{"key":"h","value":"1"}],"value":{"x":1}}"#
    ));
    assert!(dst.contains(r#""key":"a","headers":[],"value":null}"#));
    // --partition puts every record in one partition, whatever its envelope says.
    produce(
        dir.path(),
        &["one", "--envelope", "--partition", "0"],
        &copy.stdout,
    )
    .expect_clean();
    let one = consume(dir.path(), &["one", "--envelope"]).text();
    assert_eq!(one.lines().count(), 4);
    assert!(
        one.lines().all(|r| r.contains(r#""partition":0,"#)),
        "{one}"
    );
    // A tombstone has no value: not written without --envelope.
    assert_eq!(
        consume(dir.path(), &["src"])
            .stdout
            .split(|&b| b == b'\n')
            .count(),
        4
    );
}

#[test]
fn a_damaged_record_goes_through_on_error_and_reading_goes_on_after_it() {
    let dir = tmp();
    produce(dir.path(), &["t"], &records(0..100)).expect_clean();
    let segment = dir.path().join("t/0/00000000000000000000.log");
    let mut bytes = std::fs::read(&segment).unwrap();
    let at = bytes.windows(9).position(|w| w == b"{\"id\":40,").unwrap();
    bytes[at + 8] = b'9'; // {"id":49,… no longer matches its checksum
    std::fs::write(&segment, &bytes).unwrap();

    let failed = consume(dir.path(), &["t"]);
    failed.expect_code(1);
    assert_eq!(ids(&failed), (0..40).collect::<Vec<_>>());
    assert!(
        failed.stderr.contains("offset 40 cannot be read"),
        "{}",
        failed.stderr
    );
    // From a later offset, the damage is not in the way.
    assert_eq!(
        ids(consume(dir.path(), &["t", "--from", "50"]).expect_clean()),
        (50..100).collect::<Vec<_>>()
    );
    let letters = dir.path().join("dead.ndjson");
    let policy = format!("dead-letter={}", s(&letters));
    let skipped = consume(dir.path(), &["t", "--group", "g", "--on-error", &policy]);
    skipped.expect_code(0);
    let expected: Vec<u64> = (0..100).filter(|&i| i != 40).collect();
    assert_eq!(ids(&skipped), expected);
    let letter: Value = serde_json::from_str(&std::fs::read_to_string(&letters).unwrap()).unwrap();
    assert_eq!(letter["program"], "consume");
    assert!(
        letter["reason"].as_str().unwrap().contains("offset 40"),
        "{letter}"
    );
    let lag = consume(dir.path(), &["--lag", "--group", "g", "t"]).records();
    assert_eq!(lag[0]["committed"], 100);
    // A writer keeps the whole records after the damage too: offsets go on from 100.
    produce(dir.path(), &["t"], &records(100..101)).expect_clean();
    let next = consume(dir.path(), &["t", "--group", "g", "--on-error", "skip"]);
    assert_eq!(ids(&next), vec![100]);
}

#[test]
fn a_group_commits_where_it_starts_and_offsets_stay_inside_the_partition() {
    let dir = tmp();
    produce(dir.path(), &["t"], &records(0..5)).expect_clean();
    // A group that starts at latest reads, on its next run, what came in between.
    let first = consume(dir.path(), &["t", "--group", "cron", "--from", "latest"]);
    assert!(first.expect_clean().stdout.is_empty());
    produce(dir.path(), &["t"], &records(5..8)).expect_clean();
    let second = consume(dir.path(), &["t", "--group", "cron", "--from", "latest"]);
    assert_eq!(ids(second.expect_clean()), vec![5, 6, 7]);
    // A reset past the end stops at the end; records produced after it are read.
    let reset = consume(dir.path(), &["--reset", "100", "--group", "g", "t"]);
    assert_eq!(reset.expect_clean().records()[0]["offsets"]["0"], 8);
    produce(dir.path(), &["t"], &records(8..10)).expect_clean();
    assert_eq!(
        ids(&consume(dir.path(), &["t", "--group", "g"])),
        vec![8, 9]
    );
    // The log directory's own entries are not topic names.
    produce(dir.path(), &[".groups"], &records(0..1)).expect_code(2);
    assert_eq!(consume(dir.path(), &["--list-groups"]).records().len(), 2);
}

#[test]
fn bad_input_goes_through_on_error_and_good_records_before_it_are_kept() {
    let dir = tmp();
    let input = b"{\"id\":1}\nnot json\n{\"id\":2,\"key\":null}\n{\"id\":3}\n";
    let out = produce(dir.path(), &["t", "--stats"], input);
    out.expect_code(1);
    assert!(out.stderr.contains("-:2"), "{}", out.stderr);
    // Counted up to the record that stopped the run, not the lines read ahead.
    assert!(
        out.stderr
            .contains(r#""records_in":2,"records_out":1,"rejected":1"#),
        "{}",
        out.stderr
    );
    assert_eq!(ids(&consume(dir.path(), &["t"])), vec![1]);
    let out = produce(
        dir.path(),
        &["t", "--key", "key", "--on-error", "skip"],
        input,
    );
    out.expect_code(0);
    assert!(out.stderr.contains("skipped 3"), "{}", out.stderr);
    // A null key is an unkeyed record; a missing key field is a bad record.
    assert_eq!(ids(&consume(dir.path(), &["t"])), vec![1, 2]);
}

#[test]
fn concurrent_producers_lose_nothing() {
    let dir = tmp();
    produce(dir.path(), &["t", "--create", "--partitions", "3"], b"").expect_clean();
    let children: Vec<_> = (0..4u64)
        .map(|p| {
            let input = records(p * 100_000..(p + 1) * 100_000);
            let mut child = Command::new(PRODUCE)
                .args(["--log-dir", &s(dir.path()), "t"])
                .stdin(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                use std::io::Write;
                stdin.write_all(&input).unwrap();
            });
            child
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let got = ids(&consume(dir.path(), &["t"]));
    assert_eq!(got.len(), 400_000);
    let unique: BTreeSet<u64> = got.into_iter().collect();
    assert_eq!(unique.len(), 400_000);
}

#[test]
fn a_full_disk_keeps_whole_records_once_and_the_next_producer_appends_cleanly() {
    // A file size limit stands in for a full disk: a write past it fails part-way (EFBIG).
    let dir = tmp();
    std::fs::write(dir.path().join("in.ndjson"), records(0..50_000)).unwrap();
    let out = bash(
        dir.path(),
        "trap '' XFSZ; ulimit -f 512; \"$PRODUCE\" --log-dir log t --stats < in.ndjson",
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("cannot write to t partition 0"),
        "{}",
        out.stderr
    );
    let written = out.stats()["records_out"].as_u64().unwrap();
    assert!(written > 1000 && written < 50_000, "{written}");
    let log = dir.path().join("log");
    // What the failed run reported written is there once, in order, and nothing else is.
    assert_eq!(
        ids(&consume(&log, &["t"])),
        (0..written).collect::<Vec<_>>()
    );
    produce(&log, &["t"], &records(50_000..50_010)).expect_clean();
    let out = consume(&log, &["t", "--envelope"]);
    let envelopes = out.records();
    assert_eq!(envelopes.len() as u64, written + 10);
    for (i, e) in envelopes.iter().enumerate() {
        assert_eq!(e["offset"], json!(i as u64));
    }
    assert_eq!(envelopes.last().unwrap()["value"]["id"], json!(50_009));
}

#[test]
fn a_killed_producer_leaves_only_whole_records() {
    let dir = tmp();
    let big = records(0..2_000_000);
    for _ in 0..3 {
        let mut child = Command::new(PRODUCE)
            .args(["--log-dir", &s(dir.path()), "t"])
            .stdin(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let input = big.clone();
        let feeder = std::thread::spawn(move || {
            use std::io::Write;
            let _ = stdin.write_all(&input);
        });
        std::thread::sleep(Duration::from_millis(150));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let _ = feeder.join();
        // Every record a consumer sees is whole, and offsets have no gaps.
        let out = consume(dir.path(), &["t", "--envelope"]);
        out.expect_clean();
        let envelopes = out.records();
        for (i, e) in envelopes.iter().enumerate() {
            assert_eq!(e["offset"], json!(i as u64));
            assert!(e["value"]["id"].is_u64());
        }
    }
    let before = consume(dir.path(), &["t"]).records().len();
    produce(dir.path(), &["t"], &records(0..10)).expect_clean();
    assert_eq!(consume(dir.path(), &["t"]).records().len(), before + 10);
}

#[test]
fn group_members_share_partitions_and_take_over_from_a_killed_one() {
    let dir = tmp();
    produce(dir.path(), &["t", "--create", "--partitions", "4"], b"").expect_clean();
    let spawn = || {
        let mut child = Command::new(CONSUME)
            .args([
                "--log-dir",
                &s(dir.path()),
                "t",
                "--group",
                "g",
                "--follow",
                "--envelope",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Drain stdout as it comes, so the member never blocks on a full pipe.
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            use std::io::Read;
            let _ = stdout.read_to_end(&mut out);
            out
        });
        (child, reader)
    };
    let (mut a, a_reader) = spawn();
    let (mut b, b_reader) = spawn();
    // Let both join and rebalance (members rebalance every second).
    std::thread::sleep(Duration::from_millis(2500));
    produce(dir.path(), &["t"], &records(0..400)).expect_clean();
    std::thread::sleep(Duration::from_millis(1500));
    a.kill().unwrap(); // SIGKILL: its locks go with it
    a.wait().unwrap();
    let a_parts: BTreeSet<u64> = whole_lines(&a_reader.join().unwrap())
        .iter()
        .map(|e| e["partition"].as_u64().unwrap())
        .collect();
    // b takes over a's partitions: records produced now all reach b.
    std::thread::sleep(Duration::from_millis(2500));
    produce(dir.path(), &["t"], &records(400..800)).expect_clean();
    std::thread::sleep(Duration::from_millis(2000));
    b.kill().unwrap();
    b.wait().unwrap();
    let b_records = whole_lines(&b_reader.join().unwrap());
    let b_parts: BTreeSet<u64> = b_records
        .iter()
        .filter(|e| e["value"]["id"].as_u64().unwrap() < 400)
        .map(|e| e["partition"].as_u64().unwrap())
        .collect();
    assert!(
        !a_parts.is_empty() && !b_parts.is_empty(),
        "both members read: {a_parts:?} {b_parts:?}"
    );
    assert!(
        a_parts.is_disjoint(&b_parts),
        "no partition read by both: {a_parts:?} {b_parts:?}"
    );
    let late: BTreeSet<u64> = b_records
        .iter()
        .filter_map(|e| e["value"]["id"].as_u64())
        .filter(|&id| id >= 400)
        .collect();
    assert_eq!(late.len(), 400, "after the kill, b reads every partition");
}

/// `--partition` with `--group` reads the partitions named, whatever the members read, and
/// commits to the group (Kafka's assign()); the members still read every other partition.
#[test]
fn named_partitions_are_read_beside_the_groups_members() {
    let dir = tmp();
    let log = dir.path();
    produce(log, &["t", "--partitions", "3"], &records(0..30)).expect_clean();
    let mut follower = Command::new(CONSUME)
        .args([
            "--log-dir",
            &s(log),
            "t",
            "--group",
            "g",
            "--partition",
            "0",
            "--follow",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = first_lines(follower.stdout.take().unwrap(), 1).unwrap();
    assert_eq!(first.len(), 1);
    let in_zero = ids(&consume(log, &["t", "--partition", "0"]));
    let committed =
        || consume(log, &["--lag", "--group", "g", "t"]).records()[0]["committed"].clone();
    let start = Instant::now();
    while committed() != json!(in_zero.len()) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "partition 0 is not committed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A member of the group meanwhile reads what the follower has not committed.
    let member = consume(log, &["t", "--group", "g", "--until-end"]);
    member.expect_clean();
    let theirs = ids(&member);
    assert_eq!(theirs.len() + in_zero.len(), 30, "{theirs:?}");
    assert!(theirs.iter().all(|id| !in_zero.contains(id)), "{theirs:?}");
    follower.kill().unwrap();
    follower.wait().unwrap();
    let lag = consume(log, &["--lag", "--group", "g", "t"]).records();
    assert!(lag.iter().all(|l| l["lag"] == 0), "{lag:?}");
}

#[test]
fn a_member_that_joins_a_busy_bounded_group_gets_its_share() {
    let dir = tmp();
    produce(dir.path(), &["t", "--create", "--partitions", "6"], b"").expect_clean();
    let total = 300_000;
    produce(dir.path(), &["t"], &records(0..total)).expect_clean();
    // The first member writes to a slow reader, so it is still busy when the second joins.
    let mut first = Command::new(CONSUME)
        .args(["--log-dir", &s(dir.path()), "t", "--group", "g"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = first.stdout.take().unwrap();
    let slow_reader = std::thread::spawn(move || {
        use std::io::Read;
        let (mut out, mut chunk) = (Vec::new(), vec![0; 64 * 1024]);
        while let Ok(n @ 1..) = stdout.read(&mut chunk) {
            out.extend_from_slice(&chunk[..n]);
            std::thread::sleep(Duration::from_millis(20));
        }
        out
    });
    std::thread::sleep(Duration::from_millis(300));
    let second = ids(consume(dir.path(), &["t", "--group", "g"]).expect_clean());
    assert!(first.wait().unwrap().success());
    let first: Vec<u64> = whole_lines(&slow_reader.join().unwrap())
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert!(
        !first.is_empty() && second.len() > total as usize / 6,
        "both members read: {} and {}",
        first.len(),
        second.len()
    );
    let mut all = [first, second].concat();
    all.sort_unstable();
    assert_eq!(all, (0..total).collect::<Vec<_>>(), "every record once");
}

#[test]
fn conflicting_options_and_bad_checkpoints_are_refused() {
    let dir = tmp();
    produce(dir.path(), &["t"], &records(0..6)).expect_clean();
    // A topic named twice is read once.
    assert_eq!(
        ids(&consume(dir.path(), &["t", "t"])),
        (0..6).collect::<Vec<_>>()
    );
    consume(
        dir.path(),
        &["--reset", "latest", "--describe", "--group", "g", "t"],
    )
    .expect_code(2);
    consume(
        dir.path(),
        &["t", "--group", "g", "--follow", "--checkpoint", "cp.json"],
    )
    .expect_code(2);
    consume(dir.path(), &["--list-topics", "t"]).expect_code(2);
    // Options --envelope has no use for, and settings of an existing topic that differ from its
    // own (they change only with --create; the same ones are fine).
    produce(dir.path(), &["t", "--envelope", "--key", "id"], b"").expect_code(2);
    produce(dir.path(), &["t", "--segment-bytes", "1000"], b"").expect_code(2);
    produce(dir.path(), &["t", "--retention", "1d"], b"").expect_code(2);
    produce(dir.path(), &["t", "--create", "--retention", "1d"], b"").expect_clean();
    produce(dir.path(), &["t", "--retention", "1d"], b"").expect_clean();
    let commit = |checkpoint: &str| {
        let path = dir.path().join("cp.json");
        std::fs::write(&path, checkpoint).unwrap();
        consume(dir.path(), &["--commit", &s(&path)])
    };
    for bad in [
        r#"{"version":1,"group":"g","offsets":{"t":{"0":-5}}}"#,
        r#"{"version":1,"group":"g","offsets":{"t":{"x":1}}}"#,
        r#"{"version":1,"group":"g","offsets":{"t":{"0":1,"7":1}}}"#,
        r#"{"version":1,"group":"g","offsets":{"nope":{"0":1}}}"#,
        r#"{"version":2,"group":"g","offsets":{"t":{"0":1}}}"#,
    ] {
        commit(bad).expect_code(1);
    }
    assert!(
        consume(dir.path(), &["--list-groups"]).records().is_empty(),
        "nothing committed"
    );
    // A committed offset past the end: the next run reads from --from, and the lag says so.
    commit(r#"{"version":1,"group":"g","offsets":{"t":{"0":999}}}"#).expect_clean();
    let lag = consume(dir.path(), &["--lag", "--group", "g", "t"]).records();
    assert_eq!(
        (lag[0]["committed"].as_u64(), lag[0]["lag"].as_u64()),
        (Some(999), Some(6))
    );
}

/// The records of a killed process's output: its last line may be cut short.
fn whole_lines(out: &[u8]) -> Vec<Value> {
    let end = out.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    parse_ndjson(&out[..end])
}

/// produce passes over a byte order mark that starts its input, from a file or stdin.
#[test]
fn produce_passes_over_a_byte_order_mark_that_starts_the_input() {
    let dir = tmp();
    let log = dir.path().join("log");
    let plain = records(0..100);
    let marked = [b"\xef\xbb\xbf".as_slice(), &plain].concat();
    let file = crate::util::write(dir.path(), "marked.ndjson", &marked);
    produce(&log, &["t"], &marked).expect_clean();
    produce(&log, &["t", &file], b"").expect_clean();
    let out = consume(&log, &["t", "--until-end"]);
    out.expect_clean();
    assert!(out.stdout == [plain.clone(), plain].concat());
}

/// The base offsets of a partition's segments, from its files.
fn segment_bases(partition_dir: &Path) -> Vec<u64> {
    let mut bases: Vec<u64> = std::fs::read_dir(partition_dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    bases.sort_unstable();
    bases
}

#[test]
fn a_compacted_topic_keeps_the_latest_record_of_each_key() {
    let dir = tmp();
    let log = dir.path();
    let create = [
        "t",
        "--create",
        "--cleanup",
        "compact",
        "--segment-bytes",
        "4096",
    ];
    produce(log, &create, b"").expect_clean();
    // Records without keys have no place in a compacted topic.
    produce(log, &["t"], &records(0..1)).expect_code(2);
    let out = produce(log, &["t", "--envelope"], b"{\"value\":\"no key\"}\n");
    out.expect_code(1);
    assert!(out.stderr.contains("no key"), "{}", out.stderr);
    for run in 0..3 {
        produce(
            log,
            &["t", "--key", "key"],
            &records(run * 1000..(run + 1) * 1000),
        )
        .expect_clean();
    }
    // Offsets are kept (each record's offset is its id); in the closed segments only the
    // latest record of each key among them is left; the active segment is untouched.
    let active = *segment_bases(&log.join("t/0")).last().unwrap();
    let mut latest_closed = BTreeMap::new();
    for id in 0..active {
        latest_closed.insert(id % 7, id);
    }
    let expected: Vec<u64> = (0..3000)
        .filter(|&id| id >= active || latest_closed[&(id % 7)] == id)
        .collect();
    let got = consume(log, &["t", "--envelope"]);
    got.expect_clean();
    let envelopes = got.records();
    let offsets: Vec<u64> = envelopes
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    let values: Vec<u64> = envelopes
        .iter()
        .map(|e| e["value"]["id"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets, expected);
    assert_eq!(values, expected);
    assert!(expected.len() < 1000, "{} records left", expected.len());
    // Reading from a removed offset starts at the next record kept.
    let from_gap = consume(log, &["t", "--from", "1"]);
    assert_eq!(ids(&from_gap).first(), expected.iter().find(|&&id| id >= 1));

    // A tombstone deletes k3: it stays for the delete retention (a day), so consumers see it.
    let mut tail = String::from("{\"key\":\"k3\",\"value\":null}\n");
    for id in 3000..3400 {
        let key = if id % 7 == 3 {
            "k0".to_string()
        } else {
            format!("k{}", id % 7)
        };
        let value = json!({"id": id, "key": key});
        tail.push_str(&json!({"key": key, "value": value}).to_string());
        tail.push('\n');
    }
    produce(log, &["t", "--envelope"], tail.as_bytes()).expect_clean();
    let k3 = |log: &Path| -> Vec<Value> {
        consume(log, &["t", "--envelope"])
            .records()
            .into_iter()
            .filter(|e| e["key"] == "k3")
            .collect()
    };
    let seen = k3(log);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0]["value"].is_null());
    // With no delete retention, the tombstone goes too.
    produce(log, &["t", "--create", "--delete-retention", "0s"], b"").expect_clean();
    assert_eq!(k3(log), Vec::<Value>::new());
    let topics = consume(log, &["--list-topics"]).records();
    assert_eq!(topics[0]["cleanup"], "compact");
    assert_eq!(topics[0]["delete_retention_ms"], 0);
}
