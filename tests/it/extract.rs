//! `extract`: files to NDJSON on stdout.

use serde_json::{json, Value};

use crate::util::*;

// ---------------------------------------------------------------- CSV typing and nulls

#[test]
fn csv_values_are_typed_and_numbers_kept_verbatim() {
    let dir = tmp();
    let csv = "int,neg,float,one,exp,t1,t2,f1,zero_pad,plus,big,i64max,i64min,i64over,text,nan,dot,huge\n\
               42,-7,10.357019999999999,1.0,-2.5E+3,true,True,FALSE,007,+1,92233720368547758070,9223372036854775807,-9223372036854775808,9223372036854775808,hello,NaN,.5,1e400\n";
    let path = write(dir.path(), "typed.csv", csv);
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"int\":42,\"neg\":-7,\"float\":10.357019999999999,\"one\":1.0,\"exp\":-2.5E+3,\
         \"t1\":true,\"t2\":true,\"f1\":false,\"zero_pad\":\"007\",\"plus\":\"+1\",\
         \"big\":\"92233720368547758070\",\"i64max\":9223372036854775807,\
         \"i64min\":-9223372036854775808,\"i64over\":\"9223372036854775808\",\
         \"text\":\"hello\",\"nan\":\"NaN\",\"dot\":\".5\",\"huge\":\"1e400\"}\n"
    );
}

#[test]
fn csv_empty_string_is_the_default_null() {
    let out = extract(["--format", "csv", "-"], b"a,b,c\n,x,\n1,,\"\"\n");
    out.expect_clean();
    // Only an unquoted empty field is null; `""` is an empty string (RFC 4180, PostgreSQL).
    assert_eq!(
        out.text(),
        "{\"a\":null,\"b\":\"x\",\"c\":null}\n{\"a\":1,\"b\":null,\"c\":\"\"}\n"
    );
}

#[test]
fn csv_quoted_fields_are_never_null_markers() {
    let csv = b"a,b,c,d\r\n\"\",,\"NA\",NA\r\n\"x\"\"\",\"\",\"multi\nline\",\"\"\n";
    let out = extract(["--format", "csv", "-"], csv);
    out.expect_clean();
    assert_eq!(
        out.records(),
        [
            json!({"a": "", "b": null, "c": "NA", "d": "NA"}),
            json!({"a": "x\"", "b": "", "c": "multi\nline", "d": ""}),
        ]
    );
    for infer in ["auto", "none"] {
        let out = extract(
            ["--format", "csv", "--null", "NA", "--infer", infer, "-"],
            csv,
        );
        out.expect_clean();
        assert_eq!(
            out.records()[0],
            json!({"a": "", "b": "", "c": "NA", "d": null}),
            "--infer {infer}"
        );
    }
}

#[test]
fn csv_null_markers_are_repeatable_and_replace_the_default() {
    let dir = tmp();
    let path = write(dir.path(), "n.csv", "a,b,c,d\nNA,-,,na\n5,NA,x,-\n");
    let out = extract(["--null", "NA", "--null", "-", &path], b"");
    out.expect_clean();
    // With --null given, the empty string is no longer null; `na` is not `NA`.
    assert_eq!(
        out.text(),
        "{\"a\":null,\"b\":null,\"c\":\"\",\"d\":\"na\"}\n{\"a\":5,\"b\":null,\"c\":\"x\",\"d\":null}\n"
    );
}

#[test]
fn csv_infer_none_keeps_strings() {
    let dir = tmp();
    let path = write(dir.path(), "s.csv", "a,b,c,d\n1,2.5,true,\n");
    let out = extract(["--infer", "none", &path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":\"1\",\"b\":\"2.5\",\"c\":\"true\",\"d\":null}\n"
    );
}

#[test]
fn csv_columns_projects_in_the_given_order() {
    let dir = tmp();
    let path = write(dir.path(), "p.csv", "a,b,c\n1,2,3\n4,5,6\n");
    let out = extract(["--columns", "c,a", &path], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"c\":3,\"a\":1}\n{\"c\":6,\"a\":4}\n");
}

#[test]
fn csv_unknown_column_is_a_usage_error() {
    let dir = tmp();
    let path = write(dir.path(), "p.csv", "a,b,c\n1,2,3\n");
    let out = extract(["--columns", "a,zz", &path], b"");
    out.expect_code(2);
    assert!(out.stdout.is_empty(), "no output expected");
    assert!(
        out.stderr.contains("no column \"zz\"") && out.stderr.contains("a, b, c"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn json_columns_projects_with_missing_fields_as_null() {
    let out = extract(
        ["--format", "ndjson", "--columns", "c,a", "-"],
        b"{\"a\":1,\"b\":2,\"c\":{\"x\":[1, 2]}}\n{\"b\":3}\n",
    );
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"c\":{\"x\":[1, 2]},\"a\":1}\n{\"c\":null,\"a\":null}\n"
    );
}

#[test]
fn csv_no_header_names_columns() {
    let dir = tmp();
    let path = write(dir.path(), "h.csv", "1,x\n2,y\n");
    let out = extract(["--no-header", &path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"column_1\":1,\"column_2\":\"x\"}\n{\"column_1\":2,\"column_2\":\"y\"}\n"
    );
    // A column named like --source-field gives way to it, as with a header.
    let out = extract(["--no-header", "--source-field", "column_1", &path], b"");
    out.expect_clean();
    assert_eq!(
        out.text().lines().next(),
        Some(format!("{{\"column_1_2\":1,\"column_2\":\"x\",\"column_1\":{path:?}}}").as_str())
    );
}

#[test]
fn tsv_by_extension_and_custom_delimiter() {
    let dir = tmp();
    let tsv = write(dir.path(), "t.tsv", "a\tb\n1,5\tx y\n");
    let out = extract([&tsv], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":\"1,5\",\"b\":\"x y\"}\n");

    let semi = write(dir.path(), "semi.csv", "a;b\n1,5;2\n");
    let out = extract(["--delimiter", ";", &semi], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":\"1,5\",\"b\":2}\n");
}

/// Files that never quote (TSV exports whose titles start with `"`) are read with
/// `--quote none`; another quote character with `--quote C`.
#[test]
fn quoting_can_be_turned_off_or_changed() {
    let dir = tmp();
    let tsv = write(
        dir.path(),
        "titles.tsv",
        "title\tyear\n\"Weird Al\" Yankovic\t1990\n\"Hello\t2\nlast\t3\n",
    );
    let out = extract(["--quote", "none", &tsv], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"title\":\"\\\"Weird Al\\\" Yankovic\",\"year\":1990}\n\
         {\"title\":\"\\\"Hello\",\"year\":2}\n{\"title\":\"last\",\"year\":3}\n"
    );
    // With quoting on (the default), the stray quote is named, with the way out.
    let out = extract([&tsv], b"");
    out.expect_code(1);
    assert!(out.stderr.contains("--quote none"), "{}", out.stderr);

    let out = extract(
        ["--quote", "'", "--format", "csv", "-"],
        b"a,b\n'x,''y''',2\n",
    );
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":\"x,'y'\",\"b\":2}\n");
    extract(["--quote", ",", "--format", "csv", "-"], b"a\n1\n").expect_code(2);
    extract(["--quote", "ab", "-"], b"").expect_code(2);
}

#[test]
fn csv_rfc4180_quoting() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "q.csv",
        "a,b\r\n\"x, y\",\"line1\nline2\"\r\n\"say \"\"hi\"\"\",\"p\r\nq\"\r\n",
    );
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.records(),
        vec![
            json!({"a": "x, y", "b": "line1\nline2"}),
            json!({"a": "say \"hi\"", "b": "p\r\nq"}),
        ]
    );
}

#[test]
fn csv_utf8_bom_is_stripped() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "bom.csv",
        b"\xef\xbb\xbfid,name\n1,caf\xc3\xa9\n",
    );
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"id\":1,\"name\":\"café\"}\n");
}

#[test]
fn csv_duplicate_and_empty_header_names() {
    let dir = tmp();
    let path = write(dir.path(), "dup.csv", "a,a,,b,a\n1,2,3,4,5\n");
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":1,\"a_2\":2,\"column_3\":3,\"b\":4,\"a_3\":5}\n"
    );
}

#[test]
fn csv_ragged_row_fails_naming_file_and_line() {
    let dir = tmp();
    let path = write(dir.path(), "ragged.csv", "a,b\n1,2\n3\n4,5\n");
    let out = extract([&path], b"");
    out.expect_code(1);
    assert!(
        out.stderr.contains(&format!("{path}:3")),
        "stderr should name {path}:3: {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("row has 1 fields but the header has 2"),
        "stderr: {}",
        out.stderr
    );
    // The row after the bad one is never emitted.
    assert!(!out.text().contains("\"a\":4"), "stdout: {}", out.text());
}

#[test]
fn csv_on_error_skip_counts_and_goes_on() {
    let dir = tmp();
    let path = write(dir.path(), "ragged.csv", "a,b\n1,2\n3\n4,5\n6,7,8\n");
    let out = extract(["--on-error", "skip", &path], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1,\"b\":2}\n{\"a\":4,\"b\":5}\n");
    assert!(
        out.stderr.contains("skipped 2 bad record(s)"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn a_stray_quote_that_runs_to_the_end_is_named_not_miscounted() {
    let dir = tmp();
    // The quote opened on line 3 is never closed: RFC 4180 makes the rest of the file its field.
    let csv = "a,b\r\n1,x\r\n2,\"oops\r\n3,y\r\n4,\"\"z\r\n";
    let path = write(dir.path(), "q.csv", csv);
    let out = extract([&path], b"");
    out.expect_code(1);
    assert_eq!(out.text(), "{\"a\":1,\"b\":\"x\"}\n");
    assert!(
        out.stderr.contains("q.csv:3 (byte 10)")
            && out.stderr.contains("the input ends inside a quoted field"),
        "{}",
        out.stderr
    );
    // Dead-lettered as it was written, field boundaries and quotes included.
    let dl = s(dir.path().join("dl.ndjson"));
    let out = extract([&format!("--on-error=dead-letter={dl}"), &path], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1,\"b\":\"x\"}\n");
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["record"], json!(&csv[10..]));
    // A last row without its line feed, and quotes inside unquoted fields, are not affected.
    let out = extract(["--format", "csv", "-"], b"a,b\n1,x\"y\n2,\"z\"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":1,\"b\":\"x\\\"y\"}\n{\"a\":2,\"b\":\"z\"}\n"
    );
}

#[test]
fn csv_dead_letter_records_source_line_reason_and_record() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "bad.csv",
        b"a,b\n1,2\n3\n\xff,1\n\"x,y\",5\n" as &[u8],
    );
    let dl = s(dir.path().join("dl.ndjson"));
    let out = extract([&format!("--on-error=dead-letter={dl}"), &path], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1,\"b\":2}\n{\"a\":\"x,y\",\"b\":5}\n");
    assert!(
        out.stderr.contains("2 bad record(s) written to"),
        "stderr: {}",
        out.stderr
    );
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["source"], json!(path));
    assert_eq!(entries[0]["line"], json!(3));
    assert_eq!(entries[0]["byte"], json!(8));
    assert_eq!(entries[0]["record"], json!("3"));
    assert!(entries[0]["reason"]
        .as_str()
        .unwrap()
        .contains("row has 1 fields but the header has 2"));
    // Invalid UTF-8: the raw bytes as base64, no "record".
    assert_eq!(entries[1]["line"], json!(4));
    assert_eq!(entries[1]["record_base64"], json!("/ywx"));
    assert!(entries[1].get("record").is_none());
    assert!(entries[1]["reason"].as_str().unwrap().contains("UTF-8"));
}

#[test]
fn empty_inputs_give_no_output() {
    let dir = tmp();
    for (name, bytes) in [
        ("empty.csv", &b""[..]),
        ("header_only.csv", b"a,b\n"),
        ("empty.ndjson", b""),
        ("blank.ndjson", b"\n\n"),
        ("empty.json", b"[]"),
    ] {
        let path = write(dir.path(), name, bytes);
        let out = extract([&path], b"");
        out.expect_clean();
        assert_eq!(out.stdout, b"", "{name}");
    }
    let out = extract(["-"], b"");
    out.expect_clean();
    assert_eq!(out.stdout, b"");
}

// ---------------------------------------------------------------- compression

#[test]
fn gzip_with_two_concatenated_members() {
    let dir = tmp();
    let mut bytes = gzip(b"a,b\n1,2\n");
    bytes.extend(gzip(b"3,4\n5,6\n"));
    let path = write(dir.path(), "two.csv.gz", &bytes);
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":1,\"b\":2}\n{\"a\":3,\"b\":4}\n{\"a\":5,\"b\":6}\n"
    );
    // Also from stdin, detected by magic bytes.
    let out = extract(["-"], &bytes);
    out.expect_clean();
    assert_eq!(out.records().len(), 3);
}

#[test]
fn zstd_detected_by_magic_bytes_without_extension() {
    let dir = tmp();
    let ndjson = "{\"a\":1,\"s\":\"zstd\"}\n{\"a\":2}\n";
    let path = write(dir.path(), "blob", zstd_raw_frame(ndjson.as_bytes()));
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(out.text(), ndjson);

    let csv_path = write(dir.path(), "blob2", zstd_raw_frame(b"x,y\n1,z\n"));
    let out = extract([&csv_path], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"x\":1,\"y\":\"z\"}\n");
}

#[test]
fn snappy_framed_detected_by_magic_bytes_without_extension() {
    let dir = tmp();
    let csv = "x,y\n1,snappy\n2,\n";
    let path = write(
        dir.path(),
        "blob",
        snappy_framed_uncompressed(csv.as_bytes()),
    );
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"x\":1,\"y\":\"snappy\"}\n{\"x\":2,\"y\":null}\n"
    );
}

// ---------------------------------------------------------------- JSON inputs

#[test]
fn ndjson_passes_through_byte_identical() {
    let dir = tmp();
    let input = "{\"z\":1.50,\"a\":[1,2.0e3],\"m\":{\"y\":null,\"x\":\"\\u00e9\"}}\n\
                 {\"b\":  -0 , \"a\":\"x\"}\n\
                 {\"big\":123456789012345678901234567890}\n";
    let path = write(dir.path(), "p.ndjson", input);
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(out.text(), input);
    // From stdin too (format sniffed).
    let out = extract(Vec::<&str>::new(), input.as_bytes());
    out.expect_clean();
    assert_eq!(out.text(), input);
}

#[test]
fn json_array_is_streamed_and_pretty_elements_compacted() {
    let dir = tmp();
    let input =
        "[\n  {\"a\": 1},\n  {\n    \"b\": [1, 2],\n    \"c\": \"x  y\"\n  },\n  {\"d\":null}\n]\n";
    let path = write(dir.path(), "arr.json", input);
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\": 1}\n{\"b\":[1,2],\"c\":\"x  y\"}\n{\"d\":null}\n"
    );
}

#[test]
fn single_pretty_printed_object() {
    let dir = tmp();
    let input = "{\n  \"a\": 1,\n  \"b\": {\"c\": [true, false]},\n  \"s\": \"two  spaces\"\n}\n";
    let path = write(dir.path(), "one.json", input);
    let out = extract([&path], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":1,\"b\":{\"c\":[true,false]},\"s\":\"two  spaces\"}\n"
    );
}

#[test]
fn truncated_json_at_end_is_rejected_under_skip() {
    let dir = tmp();
    // The record is skipped, but an array cut short is a broken file: exit 1, as when the
    // cut falls between two records.
    let arr = write(dir.path(), "t.json", "[{\"a\":1},{\"b\":");
    let out = extract(["--on-error", "skip", &arr], b"");
    out.expect_code(1);
    assert_eq!(out.text(), "{\"a\":1}\n");
    assert!(
        out.stderr
            .contains("t.json:1 (byte 14): invalid JSON: the array is not closed"),
        "stderr: {}",
        out.stderr
    );

    let pretty = write(
        dir.path(),
        "t2.json",
        "{\n  \"a\": 1\n}\n{\n  \"b\": \"unfinished",
    );
    let out = extract(["--on-error", "skip", &pretty], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1}\n");
    assert!(
        out.stderr.contains("skipped 1 bad record(s)"),
        "stderr: {}",
        out.stderr
    );

    // Under the default policy the truncation is an error.
    let out = extract([&pretty], b"");
    out.expect_code(1);
    assert!(
        out.stderr.contains("ends inside this record"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn ndjson_bad_line_fails_with_position() {
    let out = extract(["--format", "ndjson", "-"], b"{\"a\":1}\n{\"a\":\n[1]\n");
    out.expect_code(1);
    assert!(out.stderr.contains("-:2"), "stderr: {}", out.stderr);
    assert!(
        out.stderr.contains("invalid JSON"),
        "stderr: {}",
        out.stderr
    );
}

#[test]
fn max_record_bytes_rejects_a_long_line_and_reads_the_next() {
    let dir = tmp();
    let long = format!("{{\"long\":\"{}\"}}", "x".repeat(300));
    let input = format!("{{\"n\":1}}\n{long}\n{{\"n\":3}}\n");
    let path = write(dir.path(), "l.ndjson", &input);
    let dl = s(dir.path().join("dl.ndjson"));
    let out = extract(
        [
            "--max-record-bytes",
            "100",
            &format!("--on-error=dead-letter={dl}"),
            &path,
        ],
        b"",
    );
    out.expect_code(0);
    assert_eq!(out.text(), "{\"n\":1}\n{\"n\":3}\n");
    let entries = json_lines(&read(&dl));
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["line"], json!(2));
    assert_eq!(entries[0]["truncated"], json!(true));
    let reason = entries[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("longer than --max-record-bytes (100)"),
        "{reason}"
    );
    // The CSV reader too.
    let csv = format!("a\n1\n{}\n3\n", "y".repeat(300));
    let path = write(dir.path(), "l.csv", &csv);
    let out = extract(
        ["--max-record-bytes", "100", "--on-error", "skip", &path],
        b"",
    );
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1}\n{\"a\":3}\n");
    assert!(
        out.stderr.contains("skipped 1 bad record(s)"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------- streaming from a pipe

#[test]
fn records_from_a_pipe_that_pauses_go_out_at_once() {
    // (arguments, bytes written before the input falls quiet, records expected from them)
    let cases: [(&[&str], &[u8], &[&str]); 7] = [
        (
            &["-"],
            b"{\"n\":1}\n{\"n\":2}\n",
            &[r#"{"n":1}"#, r#"{"n":2}"#],
        ),
        (
            &["--format", "ndjson", "-"],
            b"\n{\"n\":1}\n\n",
            &[r#"{"n":1}"#],
        ),
        (
            &["-"],
            b"a,b\r\n1,x\r\n2,y\r\n",
            &[r#"{"a":1,"b":"x"}"#, r#"{"a":2,"b":"y"}"#],
        ),
        (
            &["--format", "tsv", "-"],
            b"a\tb\n1\tx\n",
            &[r#"{"a":1,"b":"x"}"#],
        ),
        (&["-"], b"a,b\r\n1,x\r", &[r#"{"a":1,"b":"x"}"#]),
        (
            &["-"],
            b"[{\"n\":1},\n {\"n\":2},",
            &[r#"{"n":1}"#, r#"{"n":2}"#],
        ),
        (&["-"], b"{\n \"n\": 1\n}\n", &[r#"{"n":1}"#]),
    ];
    for compressed in [false, true] {
        for (args, written, expected) in cases {
            let mut child = std::process::Command::new(EXTRACT)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            let stdin = child.stdin.take().unwrap();
            let mut writer: Box<dyn std::io::Write> = if compressed {
                Box::new(flate2::write::GzEncoder::new(
                    stdin,
                    flate2::Compression::fast(),
                ))
            } else {
                Box::new(stdin)
            };
            // Written and flushed (a gzip sync flush); the input then stays open and quiet.
            writer.write_all(written).unwrap();
            writer.flush().unwrap();
            let got = first_lines(child.stdout.take().unwrap(), expected.len());
            let what = format!(
                "{args:?} {:?} compressed: {compressed}",
                String::from_utf8_lossy(written)
            );
            assert_eq!(
                got.as_deref(),
                Some(&expected.iter().map(|l| l.to_string()).collect::<Vec<_>>()[..]),
                "{what}"
            );
            drop(writer);
            child.wait().unwrap();
        }
    }
}

// ---------------------------------------------------------------- sources

#[test]
fn source_field_names_each_records_file() {
    let dir = tmp();
    let a = write(dir.path(), "a.csv", "x\n1\n");
    let b = write(dir.path(), "b.ndjson", "{\"x\":2}\n{}\n");
    let out = extract(["--source-field", "file", &a, &b, "-"], b"{\"x\":3}\n");
    out.expect_clean();
    assert_eq!(
        out.records(),
        vec![
            json!({"x": 1, "file": a}),
            json!({"x": 2, "file": b}),
            json!({"file": b}),
            json!({"x": 3, "file": "-"}),
        ]
    );
    // The field goes last in the object.
    let first = out.text().lines().next().unwrap().to_string();
    assert!(first.ends_with(&format!("\"file\":\"{a}\"}}")), "{first}");
}

#[test]
fn directory_input_is_recursive_sorted_and_skips_hidden_files() {
    let dir = tmp();
    let root = dir.path().join("in");
    write(&root, "b.ndjson", "{\"f\":\"b\"}\n");
    write(&root, "a.ndjson", "{\"f\":\"a\"}\n");
    write(&root, "sub/c.csv", "f\nc\n");
    write(&root, "a0/z.ndjson", "{\"f\":\"a0/z\"}\n");
    write(&root, ".hidden.ndjson", "{\"f\":\"hidden\"}\n");
    write(&root, ".git/x.ndjson", "{\"f\":\"git\"}\n");
    let out = extract([s(&root)], b"");
    out.expect_clean();
    let order: Vec<Value> = out.records().into_iter().map(|r| r["f"].clone()).collect();
    assert_eq!(
        order,
        vec![json!("a"), json!("a0/z"), json!("b"), json!("c")]
    );
}

#[test]
fn glob_input_is_expanded_and_sorted() {
    let dir = tmp();
    write(dir.path(), "logs/2.ndjson", "{\"n\":2}\n");
    write(dir.path(), "logs/1.ndjson", "{\"n\":1}\n");
    write(dir.path(), "logs/10.ndjson", "{\"n\":10}\n");
    write(dir.path(), "logs/x.csv", "n\n99\n");
    write(dir.path(), "logs/sub/3.ndjson", "{\"n\":3}\n");
    let pattern = format!("{}/logs/*.ndjson", dir.path().display());
    let out = extract([&pattern], b"");
    out.expect_clean();
    // Sorted by path: 1, 10, 2.
    assert_eq!(
        out.records(),
        vec![json!({"n": 1}), json!({"n": 10}), json!({"n": 2})]
    );
    let none = format!("{}/logs/*.parquet", dir.path().display());
    let out = extract([&none], b"");
    out.expect_code(1);
    assert!(out.stderr.contains("no file matches"), "{}", out.stderr);
}

#[test]
fn missing_input_file_fails() {
    let dir = tmp();
    let out = extract([s(dir.path().join("nope.csv"))], b"");
    out.expect_code(1);
    assert!(out.stderr.contains("nope.csv"), "{}", out.stderr);
}

#[test]
fn closing_the_pipe_early_is_success() {
    let dir = tmp();
    let mut csv = String::from("id,name,value\n");
    for i in 0..300_000 {
        csv.push_str(&format!("{i},name_{i},{i}.5\n"));
    }
    write(dir.path(), "big.csv", &csv);
    let out = bash(
        dir.path(),
        "set -o pipefail; \"$EXTRACT\" big.csv 2>err.txt | head -1 >first.txt; \
         echo \"${PIPESTATUS[0]} ${PIPESTATUS[1]}\"",
    );
    assert_eq!(out.text(), "0 0\n", "bash stderr: {}", out.stderr);
    assert_eq!(read(dir.path().join("err.txt")), "", "extract's stderr");
    assert_eq!(
        read(dir.path().join("first.txt")),
        "{\"id\":0,\"name\":\"name_0\",\"value\":0.5}\n"
    );
    // The same through gzip (decompression on a reader thread).
    std::fs::write(dir.path().join("big.csv.gz"), gzip(csv.as_bytes())).unwrap();
    let out = bash(
        dir.path(),
        "set -o pipefail; \"$EXTRACT\" big.csv.gz 2>err.txt | head -1 >first.txt; \
         echo \"${PIPESTATUS[0]} ${PIPESTATUS[1]}\"",
    );
    assert_eq!(out.text(), "0 0\n", "bash stderr: {}", out.stderr);
    assert_eq!(read(dir.path().join("err.txt")), "", "extract's stderr");
}

/// Bad rows skipped before `| head` closed the pipe are still reported, with --stats.
#[test]
fn a_closed_stdout_still_reports_skipped_rows() {
    let dir = tmp();
    let mut csv = String::from("id,name\n1,2,3\n");
    for i in 0..300_000 {
        csv.push_str(&format!("{i},name_{i}\n"));
    }
    write(dir.path(), "big.csv", &csv);
    let out = bash(
        dir.path(),
        "set -o pipefail; \"$EXTRACT\" --on-error skip --stats big.csv 2>err.txt | head -1; \
         echo \"${PIPESTATUS[0]} ${PIPESTATUS[1]}\"",
    );
    assert_eq!(
        out.text(),
        "{\"id\":0,\"name\":\"name_0\"}\n0 0\n",
        "{}",
        out.stderr
    );
    let err = read(dir.path().join("err.txt"));
    assert!(err.contains("skipped 1 bad record(s)"), "{err}");
    let stats: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(stats["rejected"], 1, "{err}");
}

// ---------------------------------------------------------------- incremental state

fn append(path: &str, text: &str) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
}

#[test]
fn state_emits_only_new_complete_lines() {
    let dir = tmp();
    let log = write(dir.path(), "log.ndjson", "{\"n\":1}\n{\"n\":2}\n");
    let state = s(dir.path().join("state.json"));

    let out = extract(["--state", &state, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":1}\n{\"n\":2}\n");
    assert!(std::path::Path::new(&state).exists());

    // Nothing new: nothing emitted.
    let out = extract(["--state", &state, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "");

    // One complete line and one still being written.
    append(&log, "{\"n\":3}\n{\"n\":4");
    let out = extract(["--state", &state, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":3}\n");

    // The held-back line, once completed.
    append(&log, ",\"done\":true}\n");
    let out = extract(["--state", &state, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":4,\"done\":true}\n");
}

#[test]
fn state_resumes_csv_past_its_header() {
    let dir = tmp();
    let csv = write(dir.path(), "log.csv", "a,b\n1,x\n");
    let state = s(dir.path().join("state.json"));
    let out = extract(["--state", &state, &csv], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":1,\"b\":\"x\"}\n");
    append(&csv, "2,y\n3,z\n");
    let out = extract(["--state", &state, &csv], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":2,\"b\":\"y\"}\n{\"a\":3,\"b\":\"z\"}\n");
}

#[test]
fn state_reads_a_file_rewritten_in_place_again_with_its_new_header() {
    let dir = tmp();
    let csv = write(dir.path(), "export.csv", "a,b\n1,2\n");
    let state = s(dir.path().join("state.json"));
    extract(["--state", &state, &csv], b"").expect_clean();
    // Regenerated in place (`>` keeps the inode): longer, and then the same size.
    std::fs::write(&csv, "x,y\n9,9\n10,10\n").unwrap();
    let out = extract(["--state", &state, &csv], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "{\"x\":9,\"y\":9}\n{\"x\":10,\"y\":10}\n");
    assert!(out.stderr.contains("was rewritten"), "{}", out.stderr);
    std::fs::write(&csv, "x,y\n8,8\n11,11\n").unwrap();
    let out = extract(["--state", &state, &csv], b"");
    assert_eq!(out.text(), "{\"x\":8,\"y\":8}\n{\"x\":11,\"y\":11}\n");
    // Appended to: only the new rows.
    append(&csv, "12,12\n");
    let out = extract(["--state", &state, &csv], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"x\":12,\"y\":12}\n");
}

#[test]
fn state_counts_a_byte_order_mark_and_waits_for_an_open_quoted_field() {
    let dir = tmp();
    let csv = write(dir.path(), "bom.csv", b"\xef\xbb\xbfa,b\n1,2\n" as &[u8]);
    let state = s(dir.path().join("state.json"));
    extract(["--state", &state, &csv], b"").expect_clean();
    let out = extract(["--state", &state, &csv], b"");
    out.expect_clean();
    assert_eq!(out.text(), "", "an unchanged file emits nothing");
    // A row whose quoted field spans lines, caught half written, is left for the next run.
    append(&csv, "3,\"multi\n");
    let out = extract(["--state", &state, &csv], b"");
    out.expect_code(0);
    assert_eq!(out.text(), "");
    assert!(
        out.stderr
            .contains("bom.csv:3 (byte 11): a quoted field is still open"),
        "{}",
        out.stderr
    );
    append(&csv, "line\"\n4,x\n");
    let out = extract(["--state", &state, &csv], b"");
    out.expect_clean();
    assert_eq!(
        out.text(),
        "{\"a\":3,\"b\":\"multi\\nline\"}\n{\"a\":4,\"b\":\"x\"}\n"
    );
}

#[test]
fn state_out_writes_elsewhere_and_leaves_state_untouched() {
    let dir = tmp();
    let log = write(dir.path(), "log.ndjson", "{\"n\":1}\n");
    let state = s(dir.path().join("state.json"));
    let next = s(dir.path().join("state.json.next"));
    extract(["--state", &state, &log], b"").expect_clean();
    let before = std::fs::read(&state).unwrap();

    append(&log, "{\"n\":2}\n");
    let out = extract(["--state", &state, "--state-out", &next, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":2}\n");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "--state was modified"
    );
    assert!(std::path::Path::new(&next).exists());

    // The old state was not advanced: the same line comes again.
    let out = extract(["--state", &state, "--state-out", &next, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":2}\n");
    // The new state was: nothing comes.
    let out = extract(["--state", &next, &log], b"");
    out.expect_clean();
    assert_eq!(out.text(), "");
}

#[test]
fn state_out_requires_state() {
    let dir = tmp();
    let log = write(dir.path(), "log.ndjson", "{\"n\":1}\n");
    let out = extract(["--state-out", "x.json", &log], b"");
    out.expect_code(2);
}

// ---------------------------------------------------------------- stats and usage

#[test]
fn stats_line_counts_records() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "s.ndjson",
        "{\"a\":1}\nnot json\n{\"a\":2}\n\n{\"a\":3}\n",
    );
    let out = extract(["--stats", "--on-error", "skip", &path], b"");
    out.expect_code(0);
    assert_eq!(out.records().len(), 3);
    let stats = out.stats();
    assert_eq!(stats["program"], json!("extract"));
    assert_eq!(stats["records_in"], json!(4));
    assert_eq!(stats["records_out"], json!(3));
    assert_eq!(stats["rejected"], json!(1));
    assert_eq!(stats["bytes_out"], json!(out.stdout.len()));
    assert_eq!(
        stats["bytes_in"],
        json!(std::fs::metadata(&path).unwrap().len())
    );
}

#[test]
fn unknown_flags_and_bad_values_exit_2() {
    let out = extract(["--no-such-flag"], b"");
    out.expect_code(2);
    assert!(out.stderr.contains("--no-such-flag"), "{}", out.stderr);
    let out = extract(["--on-error", "ignore", "-"], b"");
    out.expect_code(2);
    for delimiter in ["ab", "\n", "\r", "\""] {
        let out = extract(["--delimiter", delimiter, "-"], b"a\n1\n");
        out.expect_code(2);
        assert!(out.stdout.is_empty());
    }
    let out = load(["--format", "csv", "-d", "\n", "-"], b"{\"a\":1}\n");
    out.expect_code(2);
    let out = extract(["--max-record-bytes", "12 parsecs", "-"], b"");
    out.expect_code(2);
    let out = extract(["--infer", "sometimes", "-"], b"");
    out.expect_code(2);
}

#[test]
fn help_and_version_succeed() {
    let out = extract(["--help"], b"");
    out.expect_code(0);
    assert!(out.text().contains("Usage: extract"), "{}", out.text());
    assert!(out.text().contains("Exit status:"), "{}", out.text());
    let out = extract(["--version"], b"");
    out.expect_code(0);
    assert_eq!(
        out.text(),
        format!("extract {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ---------------------------------------------------------------- more edges

#[test]
fn utf8_bom_is_stripped_from_json_inputs() {
    let dir = tmp();
    let nd = write(
        dir.path(),
        "bom.ndjson",
        b"\xef\xbb\xbf{\"a\":1}\n{\"a\":2}\n" as &[u8],
    );
    let out = extract([&nd], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":1}\n{\"a\":2}\n");
    let arr = write(
        dir.path(),
        "bom.json",
        b"\xef\xbb\xbf[{\"a\":1},\n{\"a\":2}]" as &[u8],
    );
    let out = extract([&arr], b"");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":1}\n{\"a\":2}\n");
}

#[test]
fn large_json_array_streams_across_buffer_boundaries() {
    let dir = tmp();
    // Strings full of structural characters and escapes, pretty-printed: ~3 MB.
    let records: Vec<Value> = (0..20_000)
        .map(|i| {
            json!({
                "i": i,
                "s": format!("}}]\\\"{{[,{}", "x".repeat(i % 50)),
                "n": {"a": [i, {"b": null}], "e": []},
            })
        })
        .collect();
    let path = write(
        dir.path(),
        "big.json",
        serde_json::to_string_pretty(&Value::Array(records.clone())).unwrap(),
    );
    let out = extract([&path], b"");
    out.expect_clean();
    let expected: String = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect();
    assert!(out.text() == expected, "compacted elements differ");
}

#[test]
fn state_is_not_saved_when_the_run_fails() {
    let dir = tmp();
    let log = write(dir.path(), "log.ndjson", "{\"n\":1}\nnot json\n");
    let state = dir.path().join("state.json");
    let out = extract(["--state", &s(&state), &log], b"");
    out.expect_code(1);
    assert!(!state.exists(), "state written by a failed run");
}

#[test]
fn last_line_without_newline_is_read_without_state() {
    let out = extract(["--format", "ndjson", "-"], b"{\"n\":1}\n{\"n\":2}");
    out.expect_clean();
    assert_eq!(out.text(), "{\"n\":1}\n{\"n\":2}\n");
    let out = extract(["--format", "csv", "-"], b"a\n1\n2");
    out.expect_clean();
    assert_eq!(out.text(), "{\"a\":1}\n{\"a\":2}\n");
}

#[test]
fn columnar_inputs_from_stdin_compressed_and_with_source_field() {
    let dir = tmp();
    let input = "{\"a\":1,\"t\":\"2013-01-01T10:00:00Z\"}\n{\"a\":2,\"t\":null}\n";
    let pq = dir.path().join("s.parquet");
    let arrow = dir.path().join("s.arrow");
    load([s(&pq)], input.as_bytes()).expect_clean();
    load([s(&arrow)], input.as_bytes()).expect_clean();
    for file in [&pq, &arrow] {
        let bytes = std::fs::read(file).unwrap();
        // From stdin (sniffed by magic bytes).
        let out = extract(["-"], &bytes);
        out.expect_clean();
        assert_eq!(out.text(), input, "{} via stdin", file.display());
        // gzip-compressed.
        let gz = format!("{}.gz", s(file));
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        let out = extract([&gz], b"");
        out.expect_clean();
        assert_eq!(out.text(), input, "{gz}");
    }
    let out = extract(["--source-field", "f", &s(&pq)], b"");
    out.expect_clean();
    let name = s(&pq);
    assert_eq!(
        out.records(),
        vec![
            json!({"a": 1, "t": "2013-01-01T10:00:00Z", "f": name}),
            json!({"a": 2, "t": null, "f": name}),
        ]
    );
    // A column named like the source field gives way to it, in every format.
    let csv = dir.path().join("s.csv");
    load([s(&csv)], input.as_bytes()).expect_clean();
    for file in [&pq, &arrow, &csv] {
        let out = extract(["--source-field", "a", &s(file)], b"");
        out.expect_clean();
        let first = out.text().lines().next().unwrap().to_string();
        assert!(
            first.starts_with(r#"{"a_2":1,"t":"2013-01-01T10:00:00Z","a":"#),
            "{first}"
        );
    }
}

#[test]
fn control_bytes_from_the_input_are_escaped_in_messages() {
    let out = extract(["--format", "json", "-"], b"[{\"a\":1}\x1b]");
    out.expect_code(1);
    assert!(out.stderr.contains("found '\\x1b'"), "{}", out.stderr);
    assert!(!out.stderr.contains('\x1b'));
}

#[test]
fn csv_errors_name_the_rows_own_line_after_blank_lines_and_any_line_ends() {
    let dir = tmp();
    for (name, text, line, byte) in [
        ("lf.csv", "a,b\n1,2\n\n\n\n\n3,4,5\n", 7, 12),
        ("crlf.csv", "a,b\r\n1,2\r\n\r\n\r\n3,4,5\r\n6,7\r\n", 5, 14),
        ("cr.csv", "a,b\r1,2\r3,4,5\r", 3, 8),
        ("cr-blank.csv", "a,b\r\r1,2\r\r\r3,4,5\r", 6, 11),
        ("quoted.csv", "a,b\n\"1\r\n\n2\",x\n\n3,4,5\n", 6, 15),
    ] {
        let path = write(dir.path(), name, text);
        let out = extract([&path], b"");
        out.expect_code(1);
        let at = format!("{name}:{line} (byte {byte})");
        assert!(out.stderr.contains(&at), "{at}: {}", out.stderr);
        assert_eq!(out.records().len(), 1, "{name}");
    }
}

#[test]
fn an_oversize_csv_row_is_dead_lettered_with_its_delimiters() {
    let dir = tmp();
    let path = write(
        dir.path(),
        "wide.csv",
        "a,b,c\n1,2,3\n1,abcdefghijklmnop,3\n\"q,\"\"r\",abcdefghijklmnop,3\nab,cd,ef,\n",
    );
    let letters = dir.path().join("dead.ndjson");
    let policy = format!("dead-letter={}", s(&letters));
    let out = extract(
        ["--max-record-bytes", "12", "--on-error", &policy, &path],
        b"",
    );
    out.expect_code(0);
    assert_eq!(out.text(), "{\"a\":1,\"b\":2,\"c\":3}\n");
    let letters = json_lines(&read(&letters));
    let records: Vec<&str> = letters
        .iter()
        .map(|l| l["record"].as_str().unwrap())
        .collect();
    // Cut at 12 bytes of field data; a row whose fields fit but whose text does not is whole.
    assert_eq!(
        records,
        ["1,abcdefghijk", "\"q,\"\"r\",abcdefgh", "ab,cd,ef,"]
    );
    assert_eq!(letters[0]["truncated"], true);
    assert!(letters[2].get("truncated").is_none(), "{}", letters[2]);
    assert!(letters[0]["reason"]
        .as_str()
        .unwrap()
        .contains("row of 20 bytes"));
}
