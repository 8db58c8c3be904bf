//! `load`: NDJSON on stdin to files.

use std::path::Path;

use serde_json::{json, Value};

use crate::util::*;

const MIXED: &str = "{\"b\":1,\"a\":\"x, y\"}\n\
                     {\"a\":\"q\\\"uote\",\"c\":{\"k\":[1, 2]},\"b\":null}\n\
                     {\"d\":true,\"a\":\"line\\nbreak\"}\n";

// ---------------------------------------------------------------- row formats

#[test]
fn ndjson_to_csv_header_in_first_seen_order() {
    let dir = tmp();
    let out_path = s(dir.path().join("out.csv"));
    let out = load([&out_path], MIXED.as_bytes());
    out.expect_clean();
    assert_eq!(out.stdout, b"");
    assert_eq!(
        read(&out_path),
        "b,a,c,d\n\
         1,\"x, y\",,\n\
         ,\"q\"\"uote\",\"{\"\"k\"\":[1,2]}\",\n\
         ,\"line\nbreak\",,true\n"
    );
}

#[test]
fn csv_columns_select_and_order() {
    let dir = tmp();
    let out_path = s(dir.path().join("out.csv"));
    let out = load(["--columns", "d,b,zz", &out_path], MIXED.as_bytes());
    out.expect_clean();
    assert_eq!(read(&out_path), "d,b,zz\n,1,\n,,\ntrue,,\n");
}

#[test]
fn ndjson_columns_select_and_order() {
    let out = load(["-", "--columns", "c,b,zz"], MIXED.as_bytes());
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"c\":null,\"b\":1,\"zz\":null}\n{\"c\":{\"k\":[1, 2]},\"b\":null,\"zz\":null}\n{\"c\":null,\"b\":null,\"zz\":null}\n"
    );
}

#[test]
fn csv_and_tsv_to_stdout() {
    let out = load(["-", "--format", "csv"], MIXED.as_bytes());
    out.expect_clean();
    assert_eq!(
        out.text(),
        "b,a,c,d\n1,\"x, y\",,\n,\"q\"\"uote\",\"{\"\"k\"\":[1,2]}\",\n,\"line\nbreak\",,true\n"
    );
    let out = load(
        ["-", "--format", "tsv"],
        b"{\"a\":1,\"b\":\"x y\"}\n{\"b\":\"t\\tab\"}\n",
    );
    out.expect_clean();
    assert_eq!(out.text(), "a\tb\n1\tx y\n\t\"t\tab\"\n");
}

/// CSV and TSV refuse what every other output refuses (a lone surrogate escape, nested or
/// not), rather than write its escape as text.
#[test]
fn csv_refuses_json_that_other_formats_refuse() {
    let input = b"{\"v\":\"\\ud800\"}\n{\"v\":[\"\\udc00\"]}\n{\"v\":\"\\ud83d\\ude00\"}\n";
    for format in ["csv", "tsv", "ndjson"] {
        let out = load(["-", "--format", format, "--on-error", "skip"], input);
        out.expect_code(0);
        assert_eq!(
            out.text().lines().last(),
            Some(if format == "ndjson" {
                "{\"v\":\"\\ud83d\\ude00\"}"
            } else {
                "😀"
            }),
            "{format}"
        );
        assert!(
            out.stderr.contains("skipped 2 bad record(s)"),
            "{format}: {}",
            out.stderr
        );
    }
}

#[test]
fn ndjson_to_stdout_is_the_default_and_passes_records_through() {
    let input = "{\"z\":1.50,\"a\":[1,2]}\n\n{\"b\":  \"x\" }\n";
    let out = load(["-"], input.as_bytes());
    out.expect_clean();
    assert_eq!(out.text(), "{\"z\":1.50,\"a\":[1,2]}\n{\"b\":  \"x\" }\n");
}

#[test]
fn ndjson_gz_readable_by_multigz_decoder() {
    let dir = tmp();
    let mut input = String::new();
    for i in 0..5000 {
        input.push_str(&format!("{{\"i\":{i},\"s\":\"row {i}\"}}\n"));
    }
    let path = dir.path().join("out.ndjson.gz");
    let out = load([s(&path)], input.as_bytes());
    out.expect_clean();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b], "gzip magic");
    assert_eq!(String::from_utf8(gunzip(&bytes)).unwrap(), input);
    // And extract reads it back.
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(back.text(), input);
}

#[test]
fn zstd_and_snappy_outputs_read_back() {
    let dir = tmp();
    let input = "{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n";
    for name in ["o.ndjson.zst", "o.ndjson.sz", "o.csv.zst"] {
        let path = dir.path().join(name);
        load([s(&path)], input.as_bytes()).expect_clean();
        let back = extract([s(&path)], b"");
        back.expect_clean();
        assert_eq!(
            back.records(),
            vec![json!({"a": 1, "b": null}), json!({"a": 2, "b": "x"})]
                .into_iter()
                .map(|mut v| {
                    if name.starts_with("o.ndjson") && v["b"].is_null() {
                        v.as_object_mut().unwrap().remove("b");
                    }
                    v
                })
                .collect::<Vec<_>>(),
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- typed formats

const TYPED: &str = "{\"id\":1,\"name\":\"a\\\"b\",\"score\":1.5,\"ok\":true,\"tags\":[\"x\",\"y\"],\"pos\":{\"lat\":40.5,\"lon\":-73.25},\"when\":\"2013-01-01T10:00:00Z\",\"day\":\"2013-01-01\"}\n\
                     {\"id\":2,\"name\":\"é\",\"score\":-0.25,\"ok\":false,\"tags\":[],\"pos\":{\"lat\":0.5,\"lon\":1.0},\"when\":\"2013-06-30T23:59:59.123456Z\",\"day\":\"2013-12-31\"}\n\
                     {\"id\":3,\"name\":null,\"score\":null,\"ok\":null,\"tags\":null,\"pos\":null,\"when\":null,\"day\":null}\n";

#[test]
fn parquet_written_then_read_back_by_extract() {
    let dir = tmp();
    let path = dir.path().join("t.parquet");
    load([s(&path)], TYPED.as_bytes()).expect_clean();
    assert_eq!(&std::fs::read(&path).unwrap()[..4], b"PAR1");
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(back.records(), parse_ndjson(TYPED.as_bytes()));
    // Exact spelling of the first record (floats shortest, timestamps as given).
    assert_eq!(
        back.text().lines().next().unwrap(),
        TYPED.lines().next().unwrap()
    );
}

#[test]
fn arrow_written_then_read_back_by_extract() {
    let dir = tmp();
    let path = dir.path().join("t.arrow");
    load([s(&path)], TYPED.as_bytes()).expect_clean();
    assert_eq!(&std::fs::read(&path).unwrap()[..6], b"ARROW1");
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(back.records(), parse_ndjson(TYPED.as_bytes()));
    // Compressed Arrow too.
    let zpath = dir.path().join("tz.arrow");
    load(["--compression", "zstd", &s(&zpath)], TYPED.as_bytes()).expect_clean();
    let back = extract([s(&zpath)], b"");
    back.expect_clean();
    assert_eq!(back.records(), parse_ndjson(TYPED.as_bytes()));
}

/// A schema file's fields: name, type and nullable.
type FieldList = Vec<(String, Value, bool)>;

fn schema_of(path: &Path) -> FieldList {
    let schema: Value = serde_json::from_str(&read(path)).unwrap();
    schema["fields"]
        .as_array()
        .expect("fields array")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["type"].clone(),
                f["nullable"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn schema_inference_widens_types() {
    let dir = tmp();
    let input = "{\"i\":1,\"f\":1,\"s\":1,\"m\":1,\"t\":\"2013-01-01T10:00:00Z\",\"n\":\"2013-01-01T10:00:00\",\"d\":\"2013-01-01\",\"b\":true}\n\
                 {\"i\":2,\"f\":2.5,\"s\":\"x\",\"t\":\"2013-01-02T11:30:00.5+02:00\",\"n\":\"2013-01-02T11:30:00.25\",\"d\":\"2013-01-02\",\"b\":false}\n";
    let path = dir.path().join("w.parquet");
    let schema_path = dir.path().join("w.schema.json");
    load(
        ["--schema-out", &s(&schema_path), &s(&path)],
        input.as_bytes(),
    )
    .expect_clean();
    assert_eq!(
        schema_of(&schema_path),
        vec![
            ("i".into(), json!("int64"), false),
            ("f".into(), json!("float64"), false),
            ("s".into(), json!("string"), false),
            ("m".into(), json!("int64"), true),
            ("t".into(), json!("timestamp_tz"), false),
            ("n".into(), json!("timestamp"), false),
            ("d".into(), json!("date"), false),
            ("b".into(), json!("boolean"), false),
        ]
    );
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"i\":1,\"f\":1.0,\"s\":\"1\",\"m\":1,\"t\":\"2013-01-01T10:00:00Z\",\"n\":\"2013-01-01T10:00:00\",\"d\":\"2013-01-01\",\"b\":true}\n\
         {\"i\":2,\"f\":2.5,\"s\":\"x\",\"m\":null,\"t\":\"2013-01-02T09:30:00.500Z\",\"n\":\"2013-01-02T11:30:00.250\",\"d\":\"2013-01-02\",\"b\":false}\n"
    );
}

#[test]
fn rfc3339_timestamps_render_back_identically() {
    let dir = tmp();
    let input = "{\"t\":\"2013-01-01T10:00:00Z\"}\n{\"t\":\"2013-12-31T23:59:59.123456Z\"}\n{\"t\":\"1969-07-20T20:17:40Z\"}\n";
    let path = dir.path().join("t.parquet");
    load([s(&path)], input.as_bytes()).expect_clean();
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(back.text(), input);
}

#[test]
fn keep_time_strings_keeps_strings() {
    let dir = tmp();
    let input = "{\"t\":\"2013-01-01T10:00:00+05:00\",\"d\":\"2013-01-01\"}\n";
    let path = dir.path().join("k.parquet");
    let schema_path = dir.path().join("k.schema.json");
    load(
        [
            "--keep-time-strings",
            "--schema-out",
            &s(&schema_path),
            &s(&path),
        ],
        input.as_bytes(),
    )
    .expect_clean();
    assert_eq!(
        schema_of(&schema_path),
        vec![
            ("t".into(), json!("string"), false),
            ("d".into(), json!("string"), false),
        ]
    );
    let back = extract([s(&path)], b"");
    back.expect_clean();
    assert_eq!(back.text(), input);
}

#[test]
fn schema_out_then_schema_reuse() {
    let dir = tmp();
    let first = "{\"id\":1,\"v\":1.5,\"name\":\"a\"}\n{\"id\":2,\"v\":2,\"name\":null}\n";
    // A second batch where v happens to be integral only: with --schema it stays float64.
    let second = "{\"id\":3,\"v\":7,\"name\":\"c\"}\n";
    let schema_path = dir.path().join("s.json");
    let a = dir.path().join("a.parquet");
    let b = dir.path().join("b.parquet");
    load(["--schema-out", &s(&schema_path), &s(&a)], first.as_bytes()).expect_clean();
    let schema_text = read(&schema_path);
    assert_eq!(
        schema_of(&schema_path),
        vec![
            ("id".into(), json!("int64"), false),
            ("v".into(), json!("float64"), false),
            ("name".into(), json!("string"), true),
        ]
    );
    let b_schema = dir.path().join("b.schema.json");
    load(
        [
            "--schema",
            &s(&schema_path),
            "--schema-out",
            &s(&b_schema),
            &s(&b),
        ],
        second.as_bytes(),
    )
    .expect_clean();
    assert_eq!(
        read(&b_schema),
        schema_text,
        "the given schema is saved as is"
    );
    let back = extract([s(&b)], b"");
    back.expect_clean();
    assert_eq!(back.text(), "{\"id\":3,\"v\":7.0,\"name\":\"c\"}\n");
}

const STRICT_SCHEMA: &str = "{\"fields\":[{\"name\":\"id\",\"type\":\"int64\",\"nullable\":false},{\"name\":\"dep_delay\",\"type\":\"int64\"}]}";
const MISFITS: &str = "{\"id\":1,\"dep_delay\":5}\n\
                       {\"id\":2,\"dep_delay\":\"late\"}\n\
                       {\"id\":3,\"dep_delay\":null}\n\
                       {\"id\":4,\"dep_delay\":1,\"extra_field\":true}\n\
                       {\"id\":5}\n";

#[test]
fn schema_mismatch_fails_under_fail() {
    let dir = tmp();
    let schema = write(dir.path(), "s.json", STRICT_SCHEMA);
    let out_path = dir.path().join("o.parquet");
    let out = load(["--schema", &schema, &s(&out_path)], MISFITS.as_bytes());
    out.expect_code(1);
    assert!(out.stderr.contains("-:2"), "stderr: {}", out.stderr);
    assert!(out.stderr.contains("dep_delay"), "stderr: {}", out.stderr);
    assert!(!out_path.exists(), "no output after a failed run");
    assert_eq!(tree(dir.path()), vec!["s.json".to_string()]);
}

#[test]
fn schema_mismatch_dead_lettered_with_the_field_named() {
    let dir = tmp();
    let schema = write(dir.path(), "s.json", STRICT_SCHEMA);
    let out_path = dir.path().join("o.parquet");
    let dl = s(dir.path().join("dl.ndjson"));
    let out = load(
        [
            "--schema",
            &schema,
            &format!("--on-error=dead-letter={dl}"),
            &s(&out_path),
        ],
        MISFITS.as_bytes(),
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("2 bad record(s) written to"),
        "{}",
        out.stderr
    );
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["program"], json!("load"));
    assert_eq!(entries[0]["source"], json!("-"));
    assert_eq!(entries[0]["line"], json!(2));
    assert_eq!(
        entries[0]["record"],
        json!("{\"id\":2,\"dep_delay\":\"late\"}")
    );
    let reason = entries[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("dep_delay"),
        "reason should name the field: {reason}"
    );
    // A field the schema does not name is refused, not dropped.
    assert_eq!(entries[1]["line"], json!(4));
    let reason = entries[1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("extra_field"),
        "reason should name the field: {reason}"
    );

    let back = extract([s(&out_path)], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"id\":1,\"dep_delay\":5}\n{\"id\":3,\"dep_delay\":null}\n{\"id\":5,\"dep_delay\":null}\n"
    );
}

#[test]
fn schema_with_non_nullable_field_rejects_null() {
    let dir = tmp();
    let schema = write(dir.path(), "s.json", STRICT_SCHEMA);
    let out_path = dir.path().join("o.parquet");
    let out = load(
        ["--schema", &schema, "--on-error", "skip", &s(&out_path)],
        b"{\"id\":1}\n{\"id\":null,\"dep_delay\":2}\n{\"dep_delay\":3}\n",
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("skipped 2 bad record(s)"),
        "{}",
        out.stderr
    );
    let back = extract([s(&out_path)], b"");
    assert_eq!(back.text(), "{\"id\":1,\"dep_delay\":null}\n");
}

#[test]
fn values_that_would_change_to_fit_the_schema_go_through_on_error() {
    let dir = tmp();
    let schema = write(
        dir.path(),
        "s.json",
        r#"{"fields":[{"name":"i","type":"int8"},{"name":"d","type":"decimal(5,2)"},
            {"name":"f","type":"float32"},{"name":"w","type":"decimal(60,9)"}]}"#,
    );
    let out_path = dir.path().join("o.parquet");
    let dl = s(dir.path().join("dl.ndjson"));
    let input = [
        r#"{"i":1e2,"d":1.1,"f":1.5,"w":123456789012345678901234567890.123456789}"#,
        r#"{"i":1.5,"d":1,"f":1,"w":1}"#,
        r#"{"i":1,"d":1.005,"f":1,"w":1}"#,
        r#"{"i":1,"d":1,"f":1e300,"w":1}"#,
        r#"{"i":300,"d":1,"f":1,"w":1}"#,
        r#"{"i":"-7","d":"2.50","f":"NaN","w":"-0.000000001"}"#,
    ]
    .join("\n");
    let out = load(
        [
            "--schema",
            &schema,
            &format!("--on-error=dead-letter={dl}"),
            &s(&out_path),
        ],
        input.as_bytes(),
    );
    out.expect_code(0);
    let reasons: Vec<(Value, String)> = json_lines(&read(&dl))
        .into_iter()
        .map(|e| (e["line"].clone(), e["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    for ((line, reason), want) in reasons.iter().zip([
        (2, "1.5 is not a whole number"),
        (3, "1.005 has more than 2 digits after the point"),
        (4, "1e300 is out of range for float32"),
        (5, "300 is out of range for int8"),
    ]) {
        assert_eq!(line, &json!(want.0));
        assert!(reason.contains(want.1), "{reason}");
    }
    let back = extract([s(&out_path)], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"i\":100,\"d\":1.10,\"f\":1.5,\"w\":123456789012345678901234567890.123456789}\n\
         {\"i\":-7,\"d\":2.50,\"f\":\"NaN\",\"w\":-0.000000001}\n"
    );
}

#[test]
fn bad_schema_file_is_a_usage_error() {
    let dir = tmp();
    let schema = write(
        dir.path(),
        "s.json",
        "{\"fields\":[{\"name\":\"a\",\"type\":\"int128\"}]}",
    );
    let out = load(
        ["--schema", &schema, &s(dir.path().join("o.parquet"))],
        b"{\"a\":1}\n",
    );
    out.expect_code(2);
    assert!(out.stderr.contains("unknown type"), "{}", out.stderr);
    assert!(!dir.path().join("o.parquet").exists());
}

// ---------------------------------------------------------------- directories

fn weather_ndjson(dir: &Path) -> String {
    let path = dir.join("weather.ndjson");
    let out = extract(["--null", "NA", &data("weather.csv")], b"");
    out.expect_clean();
    std::fs::write(&path, &out.stdout).unwrap();
    s(path)
}

#[test]
fn partition_by_origin_creates_hive_folders_without_the_column() {
    let dir = tmp();
    let input = weather_ndjson(dir.path());
    let records = parse_ndjson(&std::fs::read(&input).unwrap());
    assert_eq!(records.len(), 26_115);
    let lake = dir.path().join("lake");
    let out = load(["--partition-by", "origin", &s(&lake), &input], b"");
    out.expect_clean();
    let folders: Vec<String> = tree(&lake)
        .into_iter()
        .filter(|p| p.ends_with('/'))
        .collect();
    assert_eq!(folders, vec!["origin=EWR/", "origin=JFK/", "origin=LGA/"]);
    let mut total = 0;
    for origin in ["EWR", "JFK", "LGA"] {
        let part_dir = lake.join(format!("origin={origin}"));
        let parts = files(&part_dir);
        assert_eq!(parts.len(), 1, "{parts:?}");
        assert!(
            parts[0].starts_with("part-") && parts[0].ends_with(".parquet"),
            "{parts:?}"
        );
        let back = extract([s(&part_dir)], b"");
        back.expect_clean();
        let got = back.records();
        let expected: Vec<Value> = records
            .iter()
            .filter(|r| r["origin"] == json!(origin))
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("origin");
                r
            })
            .collect();
        assert_eq!(got.len(), expected.len(), "{origin}");
        for (g, e) in got.iter().zip(&expected) {
            assert!(
                g.get("origin").is_none(),
                "partition column left in the file"
            );
            assert!(same_json(g, e), "{origin}: got {g} expected {e}");
        }
        total += got.len();
    }
    assert_eq!(total, 26_115);
}

#[test]
fn partition_values_stay_inside_the_output_directory() {
    let dir = tmp();
    let lake = dir.path().join("lake");
    let out = load(
        ["--partition-by", "p", "--format", "ndjson", &s(&lake)],
        b"{\"p\":\"../x\",\"v\":1}\n{\"p\":\"/etc/passwd\",\"v\":2}\n{\"p\":\"..\",\"v\":3}\n",
    );
    out.expect_clean();
    // Nothing outside the lake.
    let outside: Vec<String> = tree(dir.path())
        .into_iter()
        .filter(|p| !p.starts_with("lake/"))
        .collect();
    assert_eq!(outside, Vec::<String>::new());
    assert!(lake.is_dir());
    let folders: Vec<String> = tree(&lake)
        .into_iter()
        .filter(|p| p.ends_with('/'))
        .collect();
    assert_eq!(folders, vec!["p=%2Fetc%2Fpasswd/", "p=..%2Fx/", "p=../"]);
    let back = extract([s(lake.join("p=..%2Fx"))], b"");
    assert_eq!(back.text(), "{\"v\":1}\n");
}

#[test]
fn null_and_empty_partition_values_use_the_hive_default() {
    let dir = tmp();
    let lake = dir.path().join("lake");
    let out = load(
        ["--partition-by", "k", "--format", "ndjson", &s(&lake)],
        b"{\"k\":null,\"v\":1}\n{\"v\":2}\n{\"k\":\"\",\"v\":3}\n{\"k\":\"a\",\"v\":4}\n",
    );
    out.expect_clean();
    let folders: Vec<String> = tree(&lake)
        .into_iter()
        .filter(|p| p.ends_with('/'))
        .collect();
    assert_eq!(folders, vec!["k=__HIVE_DEFAULT_PARTITION__/", "k=a/"]);
    let back = extract([s(lake.join("k=__HIVE_DEFAULT_PARTITION__"))], b"");
    assert_eq!(back.text(), "{\"v\":1}\n{\"v\":2}\n{\"v\":3}\n");
}

#[test]
fn two_level_partitions() {
    let dir = tmp();
    let lake = dir.path().join("lake");
    let out = load(
        ["--partition-by", "a,b", "--format", "csv", &s(&lake)],
        b"{\"a\":1,\"b\":\"x\",\"v\":1}\n{\"a\":1,\"b\":\"y\",\"v\":2}\n{\"a\":2,\"b\":\"x\",\"v\":3}\n{\"a\":1,\"b\":\"x\",\"v\":4}\n",
    );
    out.expect_clean();
    let folders: Vec<String> = tree(&lake)
        .into_iter()
        .filter(|p| p.ends_with('/'))
        .collect();
    assert_eq!(
        folders,
        vec!["a=1/", "a=1/b=x/", "a=1/b=y/", "a=2/", "a=2/b=x/"]
    );
    let part = files(&lake.join("a=1/b=x"));
    assert_eq!(part.len(), 1);
    assert_eq!(read(lake.join("a=1/b=x").join(&part[0])), "v\n1\n4\n");
}

#[test]
fn max_rows_per_file_rolls_parts() {
    let dir = tmp();
    let mut input = String::new();
    for i in 0..2500 {
        input.push_str(&format!("{{\"i\":{i}}}\n"));
    }
    for (format, ext) in [("ndjson", ".ndjson"), ("parquet", ".parquet")] {
        let out_dir = dir.path().join(format!("parts-{format}"));
        let out = load(
            [
                "--max-rows-per-file",
                "1000",
                "--format",
                format,
                &s(&out_dir),
            ],
            input.as_bytes(),
        );
        out.expect_clean();
        let parts = files(&out_dir);
        assert_eq!(parts.len(), 3, "ceil(2500/1000) parts: {parts:?}");
        assert!(
            parts
                .iter()
                .all(|p| p.starts_with("part-") && p.ends_with(ext)),
            "{parts:?}"
        );
        let mut counts = Vec::new();
        let mut all = Vec::new();
        for p in &parts {
            let back = extract([s(out_dir.join(p))], b"");
            back.expect_clean();
            let recs = back.records();
            counts.push(recs.len());
            all.extend(recs);
        }
        assert_eq!(counts, vec![1000, 1000, 500], "{format}");
        assert_eq!(all, parse_ndjson(input.as_bytes()), "{format}: order kept");
    }
}

#[test]
fn existing_output_file_is_refused_without_overwrite() {
    let dir = tmp();
    let path = write(dir.path(), "o.csv", "old content\n");
    let out = load([&path], b"{\"a\":1}\n");
    out.expect_code(1);
    assert!(out.stderr.contains("exists"), "{}", out.stderr);
    assert!(out.stderr.contains("--overwrite"), "{}", out.stderr);
    assert_eq!(read(&path), "old content\n");
    assert_eq!(
        tree(dir.path()),
        vec!["o.csv".to_string()],
        "no temporary files left"
    );

    let out = load(["--overwrite", &path], b"{\"a\":1}\n");
    out.expect_clean();
    assert_eq!(read(&path), "a\n1\n");
}

#[test]
fn existing_directory_needs_append_or_overwrite() {
    let dir = tmp();
    let lake = dir.path().join("lake");
    load(
        ["--format", "ndjson", &format!("{}/", s(&lake))],
        b"{\"n\":1}\n",
    )
    .expect_clean();
    assert_eq!(files(&lake).len(), 1);

    let out = load(
        ["--format", "ndjson", &format!("{}/", s(&lake))],
        b"{\"n\":2}\n",
    );
    out.expect_code(1);
    assert!(out.stderr.contains("--append"), "{}", out.stderr);
    assert_eq!(files(&lake).len(), 1);

    let out = load(
        ["--append", "--format", "ndjson", &s(&lake)],
        b"{\"n\":2}\n{\"n\":3}\n",
    );
    out.expect_clean();
    let parts = files(&lake);
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(parts
        .iter()
        .all(|p| p.starts_with("part-") && p.ends_with(".ndjson")));
    let back = extract(["--columns", "n", &s(&lake)], b"");
    back.expect_clean();
    let mut ns: Vec<i64> = back
        .records()
        .iter()
        .map(|r| r["n"].as_i64().unwrap())
        .collect();
    ns.sort();
    assert_eq!(ns, vec![1, 2, 3]);

    let out = load(
        [
            "--overwrite",
            "--format",
            "ndjson",
            &format!("{}/", s(&lake)),
        ],
        b"{\"n\":9}\n",
    );
    out.expect_clean();
    let parts = files(&lake);
    assert_eq!(parts.len(), 1, "{parts:?}");
    assert_eq!(read(lake.join(&parts[0])), "{\"n\":9}\n");
    assert_eq!(
        tree(dir.path())
            .iter()
            .filter(|p| p.starts_with('.'))
            .count(),
        0,
        "{:?}",
        tree(dir.path())
    );
}

#[test]
fn append_into_partitioned_directory_adds_parts() {
    let dir = tmp();
    let lake = dir.path().join("lake");
    load(
        ["--partition-by", "k", &s(&lake)],
        b"{\"k\":\"a\",\"v\":1}\n",
    )
    .expect_clean();
    load(
        ["--partition-by", "k", "--append", &s(&lake)],
        b"{\"k\":\"a\",\"v\":2}\n{\"k\":\"b\",\"v\":3}\n",
    )
    .expect_clean();
    assert_eq!(files(&lake.join("k=a")).len(), 2);
    assert_eq!(files(&lake.join("k=b")).len(), 1);
    assert!(
        tree(&lake)
            .iter()
            .all(|p| !p.contains("/.") && !p.starts_with('.')),
        "{:?}",
        tree(&lake)
    );
}

#[test]
fn failed_runs_leave_nothing_behind() {
    let dir = tmp();
    let mut input = String::new();
    for i in 0..5000 {
        input.push_str(&format!("{{\"k\":{},\"i\":{i}}}\n", i % 3));
    }
    input.push_str("{\"k\":1,\"i\":\n");

    // A single file, typed and row formats.
    for name in ["o.parquet", "o.csv", "o.ndjson", "o.arrow", "o.ndjson.gz"] {
        let out = load([s(dir.path().join(name))], input.as_bytes());
        out.expect_code(1);
        assert!(out.stderr.contains("-:5001"), "{name}: {}", out.stderr);
    }
    // Directories: partitioned, rolled (parts already written when the bad record comes).
    let lake = dir.path().join("lake");
    let out = load(["--partition-by", "k", &s(&lake)], input.as_bytes());
    out.expect_code(1);
    let out = load(
        [
            "--max-rows-per-file",
            "1000",
            "--format",
            "ndjson",
            &s(&lake),
        ],
        input.as_bytes(),
    );
    out.expect_code(1);
    assert_eq!(
        tree(dir.path()),
        Vec::<String>::new(),
        "nothing under the final names, no staging"
    );

    // Appending to an existing directory: the old parts stay, no new (hidden) ones.
    load(
        ["--format", "ndjson", &format!("{}/", s(&lake))],
        b"{\"i\":0}\n",
    )
    .expect_clean();
    let before = tree(dir.path());
    let out = load(
        [
            "--append",
            "--max-rows-per-file",
            "1000",
            "--format",
            "ndjson",
            &s(&lake),
        ],
        input.as_bytes(),
    );
    out.expect_code(1);
    assert_eq!(tree(dir.path()), before);
}

#[test]
fn unknown_output_extension_is_a_usage_error() {
    let dir = tmp();
    let out = load([s(dir.path().join("x.unknown"))], b"{\"a\":1}\n");
    out.expect_code(2);
    assert!(out.stderr.contains("--format"), "{}", out.stderr);
    assert_eq!(tree(dir.path()), Vec::<String>::new());
}

#[test]
fn typed_formats_cannot_go_to_stdout() {
    for format in ["parquet", "arrow"] {
        let out = load(["-", "--format", format], b"{\"a\":1}\n");
        out.expect_code(2);
        assert!(out.stdout.is_empty());
        assert!(out.stderr.contains("stdout"), "{}", out.stderr);
    }
}

#[test]
fn invalid_json_line_fails_naming_the_line() {
    let input = b"{\"a\":1}\n{\"a\":2}\n{\"a\":\n{\"a\":4}\n";
    for format in ["ndjson", "csv"] {
        let out = load(["-", "--format", format], input);
        out.expect_code(1);
        assert!(
            out.stderr.contains("-:3") && out.stderr.contains("invalid JSON"),
            "{format}: {}",
            out.stderr
        );
    }
    let dir = tmp();
    let out = load([s(dir.path().join("o.parquet"))], input);
    out.expect_code(1);
    assert!(out.stderr.contains("-:3"), "parquet: {}", out.stderr);
    // Input files are named by their path.
    let path = write(dir.path(), "in.ndjson", input);
    let out = load([s(dir.path().join("o.csv")), path.clone()], b"");
    out.expect_code(1);
    assert!(out.stderr.contains(&format!("{path}:3")), "{}", out.stderr);
}

#[test]
fn on_error_skip_counts_bad_records() {
    let dir = tmp();
    let input = b"{\"a\":1}\nnot json\n[1,2]\n{\"a\":\n\n{\"a\":2}\n";
    for name in ["o.csv", "o.parquet", "o.ndjson"] {
        let path = dir.path().join(name);
        let out = load(["--on-error", "skip", "--stats", &s(&path)], input);
        out.expect_code(0);
        assert!(
            out.stderr.contains("load: skipped 3 bad record(s)"),
            "{name}: {}",
            out.stderr
        );
        let stats = out.stats();
        assert_eq!(stats["program"], json!("load"), "{name}");
        assert_eq!(stats["records_in"], json!(5), "{name}");
        assert_eq!(stats["records_out"], json!(2), "{name}");
        assert_eq!(stats["rejected"], json!(3), "{name}");
        let back = extract([s(&path)], b"");
        back.expect_clean();
        assert_eq!(back.text(), "{\"a\":1}\n{\"a\":2}\n", "{name}");
    }
}

#[test]
fn load_dead_letter_keeps_invalid_utf8_as_base64() {
    let dir = tmp();
    let dl = s(dir.path().join("dl.ndjson"));
    let out = load(
        [&format!("--on-error=dead-letter={dl}"), "-"],
        b"{\"a\":1}\n{\"a\":\"\xff\"}\n",
    );
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1}\n");
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["line"], json!(2));
    assert_eq!(entries[0]["record_base64"], json!("eyJhIjoi/yJ9"));
}

#[test]
fn empty_input_gives_empty_files() {
    let dir = tmp();
    let pq = dir.path().join("e.parquet");
    let out = load([s(&pq)], b"");
    out.expect_code(0);
    assert!(out.stderr.contains("has no columns"), "{}", out.stderr);
    let bytes = std::fs::read(&pq).unwrap();
    assert!(
        bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
        "valid Parquet"
    );
    let back = extract([s(&pq)], b"");
    back.expect_clean();
    assert_eq!(back.stdout, b"");

    let nd = dir.path().join("e.ndjson");
    load([s(&nd)], b"\n\n").expect_clean();
    assert_eq!(read(&nd), "");

    let csv = dir.path().join("e.csv");
    load([s(&csv)], b"").expect_clean();
    let back = extract([s(&csv)], b"");
    back.expect_clean();
    assert_eq!(back.stdout, b"");
    assert_eq!(read(&csv), "", "an empty CSV");

    // Records without fields have no column to keep them in: an error, not an empty file.
    for name in ["f.parquet", "f.csv", "f.arrow"] {
        let out = load([s(dir.path().join(name))], b"{}\n{}\n");
        out.expect_code(1);
        assert!(
            out.stderr.contains("2 record(s) have no fields"),
            "{}",
            out.stderr
        );
        assert!(!dir.path().join(name).exists());
    }
    let nd = dir.path().join("f.ndjson");
    load([s(&nd)], b"{}\n{}\n").expect_clean();
    assert_eq!(read(&nd), "{}\n{}\n");
}

#[test]
fn load_unknown_flags_exit_2() {
    let out = load(["--frobnicate", "-"], b"");
    out.expect_code(2);
    let out = load(Vec::<&str>::new(), b"");
    out.expect_code(2);
    let out = load(["--max-rows-per-file", "0", "x/"], b"");
    out.expect_code(2);
    let out = load(["--overwrite", "--append", "x/"], b"");
    out.expect_code(2);
    let out = load(["--partition-by", "k", "-"], b"{\"k\":1}\n");
    out.expect_code(2);
}

#[test]
fn max_bytes_per_file_rolls_parts() {
    let dir = tmp();
    let mut input = String::new();
    for i in 0..3000 {
        input.push_str(&format!("{{\"s\":\"{i:05}\"}}\n"));
    }
    // Every line is 14 bytes: a 1000-byte limit means parts of about 1000 bytes (a part is
    // closed once it reached the limit: at most one record beyond it).
    let out_dir = dir.path().join("parts");
    let out = load(
        [
            "--max-bytes-per-file",
            "1000",
            "--format",
            "ndjson",
            &s(&out_dir),
        ],
        input.as_bytes(),
    );
    out.expect_clean();
    let parts = files(&out_dir);
    let sizes: Vec<u64> = parts
        .iter()
        .map(|p| std::fs::metadata(out_dir.join(p)).unwrap().len())
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= 1014),
        "parts larger than --max-bytes-per-file 1000 (+ one record): {sizes:?}"
    );
    assert!(
        (40..=43).contains(&parts.len()),
        "42000 bytes in parts of about 1000 bytes: {} parts, {sizes:?}",
        parts.len()
    );
    let all: String = parts.iter().map(|p| read(out_dir.join(p))).collect();
    assert_eq!(all, input);
}

#[test]
fn max_bytes_per_file_rolls_parquet_parts() {
    let dir = tmp();
    let mut input = String::new();
    for i in 0..100_000 {
        input.push_str(&format!(
            "{{\"i\":{i},\"s\":\"value number {i}\",\"f\":{i}.25}}\n"
        ));
    }
    let out_dir = dir.path().join("parts");
    let out = load(
        [
            "--max-bytes-per-file",
            "256KiB",
            "--row-group-size",
            "10000",
            &s(&out_dir),
        ],
        input.as_bytes(),
    );
    out.expect_clean();
    let parts = files(&out_dir);
    assert!(parts.len() >= 3, "{parts:?}");
    for p in &parts {
        let size = std::fs::metadata(out_dir.join(p)).unwrap().len();
        assert!(size <= 2 * 256 * 1024, "{p} is {size} bytes");
    }
    let back = extract([s(&out_dir)], b"");
    back.expect_clean();
    assert_eq!(back.records(), parse_ndjson(input.as_bytes()));
}

#[test]
fn stats_report_bytes_written() {
    let dir = tmp();
    let input = "{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n";
    let path = dir.path().join("o.ndjson");
    let out = load(["--stats", &s(&path)], input.as_bytes());
    out.expect_code(0);
    let stats = out.stats();
    assert_eq!(stats["records_in"], json!(2));
    assert_eq!(stats["records_out"], json!(2));
    assert_eq!(
        stats["bytes_out"],
        json!(std::fs::metadata(&path).unwrap().len()),
        "bytes_out should be the bytes written: {stats}"
    );
    let out = load(["--stats", "-"], input.as_bytes());
    out.expect_code(0);
    assert_eq!(out.stats()["bytes_out"], json!(out.stdout.len()));
}

#[test]
fn load_max_record_bytes_rejects_long_lines() {
    let dir = tmp();
    let long = format!("{{\"long\":\"{}\"}}", "x".repeat(500));
    let input = format!("{{\"n\":1}}\n{long}\n{{\"n\":3}}\n");
    let dl = s(dir.path().join("dl.ndjson"));
    for name in ["o.ndjson", "o.parquet"] {
        let path = dir.path().join(name);
        let out = load(
            [
                "--max-record-bytes",
                "100",
                &format!("--on-error=dead-letter={dl}"),
                &s(&path),
            ],
            input.as_bytes(),
        );
        out.expect_code(0);
        let back = extract([s(&path)], b"");
        assert_eq!(back.text(), "{\"n\":1}\n{\"n\":3}\n", "{name}");
    }
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 2);
    for e in &entries {
        assert_eq!(e["line"], json!(2));
        assert_eq!(e["truncated"], json!(true));
        assert!(
            e["reason"]
                .as_str()
                .unwrap()
                .contains("--max-record-bytes (100)"),
            "{e}"
        );
    }
    let out = load(["--max-record-bytes", "100", "-"], input.as_bytes());
    out.expect_code(1);
    assert!(out.stderr.contains("-:2"), "{}", out.stderr);
}

/// The schema `load` writes for `input` given as a file, on stdin and gzipped, the same in all
/// three; with the stats of the file run.
fn inferred_schema(dir: &Path, input: &[u8], extra: &[&str]) -> (FieldList, Value) {
    let file = write(dir, "in.ndjson", input);
    let gz = write(dir, "in.ndjson.gz", gzip(input));
    let mut found: Vec<(FieldList, Value)> = Vec::new();
    for (name, stdin) in [
        (file.as_str(), &[][..]),
        ("-", input),
        (gz.as_str(), &[][..]),
    ] {
        let out = dir.join("o.parquet");
        let schema = dir.join("o.schema.json");
        let mut args = vec!["--overwrite", "--stats", "--schema-out"];
        let (out_s, schema_s) = (s(&out), s(&schema));
        args.extend([schema_s.as_str(), out_s.as_str(), name]);
        args.extend(extra);
        let run = load(&args, stdin);
        run.expect_code(0);
        let rows = extract([&out_s], b"").records().len() as u64;
        assert_eq!(json!(rows), run.stats()["records_out"], "{name}");
        found.push((schema_of(&schema), run.stats()));
    }
    assert!(found.windows(2).all(|w| w[0].0 == w[1].0), "{found:?}");
    found.swap_remove(0)
}

#[test]
fn a_late_record_types_the_schema_as_if_it_came_first() {
    // Well past the first blocks that a schema may be sampled from.
    let flights = records_of("flights.csv.gz");
    let head: Vec<u8> = flights
        .split_inclusive(|&b| b == b'\n')
        .take(30_000)
        .flatten()
        .copied()
        .collect();
    let dir = tmp();
    let late = |record: &str| [&head[..], record.as_bytes(), b"\n"].concat();
    let early = |record: &str| [record.as_bytes(), b"\n", &head[..]].concat();
    let base = r#""year":2013,"month":1,"day":1,"dep_time":517,"sched_dep_time":515,"dep_delay":2,"arr_time":830,"sched_arr_time":819,"arr_delay":11,"carrier":"UA","flight":1545,"tailnum":"N14228","origin":"EWR","dest":"IAH","air_time":227"#;
    let rest = r#""hour":5,"minute":15,"time_hour":"2013-01-01T10:00:00Z""#;
    let (plain, _) = inferred_schema(dir.path(), &head, &[]);
    let field = |schema: &FieldList, name: &str| {
        schema
            .iter()
            .find(|f| f.0 == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        field(&plain, "distance"),
        ("distance".into(), json!("int64"), false)
    );
    for (record, name, expected) in [
        (
            format!("{{{base},\"distance\":1400.5,{rest}}}"),
            "distance",
            (json!("float64"), false),
        ),
        (
            format!("{{{base},\"distance\":null,{rest}}}"),
            "distance",
            (json!("int64"), true),
        ),
        (
            format!("{{{base},{rest}}}"),
            "distance",
            (json!("int64"), true),
        ),
        (
            format!("{{{base},\"distance\":-0,{rest}}}"),
            "distance",
            (json!("float64"), false),
        ),
        (
            format!("{{{base},\"distance\":1400,\"hour\":5,\"minute\":15,\"time_hour\":\"late\"}}"),
            "time_hour",
            (json!("string"), false),
        ),
    ] {
        let (schema, _) = inferred_schema(dir.path(), &late(&record), &[]);
        if record.contains("distance") {
            // (Fields are in first-seen order.)
            let (reference, _) = inferred_schema(dir.path(), &early(&record), &[]);
            assert_eq!(schema, reference, "{record}");
        }
        let got = field(&schema, name);
        assert_eq!((got.1, got.2), expected, "{record}");
    }
    // A field first seen late joins the schema at the end, nullable.
    let record = format!("{{{base},\"distance\":1400,{rest},\"extra\":true}}");
    let (schema, _) = inferred_schema(dir.path(), &late(&record), &[]);
    assert_eq!(
        schema.last(),
        Some(&("extra".into(), json!("boolean"), true))
    );
    assert_eq!(schema.len(), plain.len() + 1);
    // A pipe named as an input (process substitution) cannot be read twice: it is copied.
    write(dir.path(), "late.ndjson", late(&record));
    let out = bash(
        dir.path(),
        "$LOAD --stats --schema-out p.json p.parquet <(cat late.ndjson)",
    );
    out.expect_code(0);
    assert_eq!(out.stats()["records_out"], json!(30_001));
    assert_eq!(schema_of(&dir.path().join("p.json")), schema);
    // A late bad record is counted once, whatever pass found it.
    let (schema, stats) =
        inferred_schema(dir.path(), &late("{\"broken\":"), &["--on-error", "skip"]);
    assert_eq!(schema, plain);
    assert_eq!(stats["rejected"], json!(1));
    assert_eq!(stats["records_in"], json!(30_001));
    assert_eq!(stats["records_out"], json!(30_000));
    // A form feed is not JSON whitespace: the line is a bad record, not a blank one.
    let (_, stats) = inferred_schema(dir.path(), &late("\u{c}"), &["--on-error", "skip"]);
    assert_eq!(stats["rejected"], json!(1));
}

#[test]
fn row_formats_to_a_closed_stdout_end_quietly() {
    let dir = tmp();
    let flights = data("flights.csv.gz");
    for format in ["csv", "tsv --compression gzip", "ndjson"] {
        let out = bash(
            dir.path(),
            &format!(
                "set -o pipefail; $EXTRACT --null NA {flights} | $LOAD - --format {format} \
                 | head -c 100 | wc -c"
            ),
        );
        out.expect_code(0);
        assert_eq!(out.stderr, "", "{format}");
        assert_eq!(out.text().trim(), "100", "{format}");
        // Bad records skipped before the pipe closed are still reported.
        let out = bash(
            dir.path(),
            &format!(
                "set -o pipefail; {{ echo 'not json'; $EXTRACT --null NA {flights}; }} \
                 | $LOAD - --format {format} --on-error skip | head -c 100 | wc -c"
            ),
        );
        out.expect_code(0);
        assert!(
            out.stderr.contains("skipped 1 bad record(s)"),
            "{format}: {}",
            out.stderr
        );
    }
}

#[test]
fn devices_fifos_and_links_named_as_outputs_stay_what_they_are() {
    let dir = tmp();
    let out = bash(
        dir.path(),
        "set -e; mkfifo fifo; cat fifo > from-fifo & \
         touch real.csv; ln -s real.csv link.csv; \
         printf '{\"a\":1}\\n{\"a\":2}\\n' > in.ndjson; \
         $FILTER '.a == 1' in.ndjson --rejected fifo --on-error dead-letter=/dev/null; wait; \
         $LOAD --format csv --overwrite link.csv in.ndjson; \
         $FILTER '.a == 1' in.ndjson --rejected >(cat > substituted) > kept; sleep 0.2; \
         test -p fifo && test -L link.csv && test -c /dev/null; \
         cat from-fifo real.csv substituted kept",
    );
    out.expect_clean();
    // The first filter's kept record, then the fifo's, the link target's, the substitution's
    // and the second filter's.
    assert_eq!(
        out.text(),
        "{\"a\":1}\n{\"a\":2}\na\n1\n2\n{\"a\":2}\n{\"a\":1}\n"
    );
}
