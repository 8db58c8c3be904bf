//! Interoperability with pyarrow and duckdb (skipped without them unless CI is set).

use serde_json::{json, Value};

use crate::util::*;

const READ_WITH_PYARROW: &str = r#"
import json, sys
import pyarrow.parquet as pq
import duckdb

path, avg_column = sys.argv[1], sys.argv[2]
table = pq.read_table(path)
first = table.slice(0, 1).to_pylist()[0]
def plain(v):
    # Floats as repr strings: the Rust side's serde_json may misparse the last digit.
    if isinstance(v, float):
        return "float:" + repr(v)
    return v.isoformat() if hasattr(v, "isoformat") else v
con = duckdb.connect()
count, avg, nonnull = con.execute(
    f"select count(*), avg({avg_column}), count({avg_column}) from read_parquet(?)", [path]
).fetchone()
print(json.dumps({
    "rows": table.num_rows,
    "names": table.column_names,
    "types": [str(f.type) for f in table.schema],
    "nullable": [f.nullable for f in table.schema],
    "first": {k: plain(v) for k, v in first.items()},
    "duckdb_count": count,
    "duckdb_avg": avg,
    "duckdb_nonnull": nonnull,
}))
"#;

/// The pyarrow type name of a schema-file type.
fn pyarrow_type(schema_type: &str) -> &'static str {
    match schema_type {
        "int64" => "int64",
        "float64" => "double",
        "string" => "string",
        "boolean" => "bool",
        "timestamp_tz" => "timestamp[us, tz=UTC]",
        "timestamp" => "timestamp[us]",
        "date" => "date32[day]",
        other => panic!("unexpected type {other}"),
    }
}

/// Mean and count of the non-null numbers of `column` in NDJSON records.
fn mean_of(ndjson: &[u8], column: &str) -> (f64, u64) {
    let (mut sum, mut n) = (0.0, 0u64);
    for record in parse_ndjson(ndjson) {
        if let Some(v) = record[column].as_f64() {
            sum += v;
            n += 1;
        }
    }
    (sum / n as f64, n)
}

#[test]
fn pyarrow_and_duckdb_read_load_parquet_weather() {
    if !python_ready("pyarrow_and_duckdb_read_load_parquet_weather") {
        return;
    }
    let dir = tmp();
    let parquet = dir.path().join("weather.parquet");
    let schema = dir.path().join("weather.schema.json");
    let extracted = extract(["--null", "NA", &data("weather.csv")], b"");
    extracted.expect_clean();
    load(
        ["--schema-out", &s(&schema), &s(&parquet)],
        &extracted.stdout,
    )
    .expect_clean();

    let out = python(READ_WITH_PYARROW, &[&s(&parquet), "temp"]);
    out.expect_code(0);
    let got: Value = serde_json::from_slice(&out.stdout).expect("python prints JSON");

    assert_eq!(got["rows"], json!(26_115));
    let schema: Value = serde_json::from_str(&read(&schema)).unwrap();
    let fields = schema["fields"].as_array().unwrap();
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "origin",
            "year",
            "month",
            "day",
            "hour",
            "temp",
            "dewp",
            "humid",
            "wind_dir",
            "wind_speed",
            "wind_gust",
            "precip",
            "pressure",
            "visib",
            "time_hour"
        ]
    );
    assert_eq!(got["names"], json!(names));
    let types: Vec<&str> = fields
        .iter()
        .map(|f| pyarrow_type(f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(got["types"], json!(types));
    let nullable: Vec<bool> = fields
        .iter()
        .map(|f| f["nullable"].as_bool().unwrap())
        .collect();
    assert_eq!(got["nullable"], json!(nullable));
    // The four kinds the brief names, explicitly.
    assert_eq!(got["types"][0], json!("string"));
    assert_eq!(got["types"][1], json!("int64"));
    assert_eq!(got["types"][5], json!("double"));
    assert_eq!(got["types"][14], json!("timestamp[us, tz=UTC]"));

    let first = &got["first"];
    assert_eq!(first["origin"], json!("EWR"));
    assert_eq!(first["year"], json!(2013));
    assert_eq!(first["hour"], json!(1));
    assert_eq!(first["temp"], json!("float:39.02"));
    assert_eq!(first["wind_speed"], json!("float:10.357019999999999"));
    assert_eq!(first["wind_gust"], Value::Null);
    assert_eq!(first["time_hour"], json!("2013-01-01T06:00:00+00:00"));

    assert_eq!(got["duckdb_count"], json!(26_115));
    let (mean, n) = mean_of(&extracted.stdout, "temp");
    assert_eq!(got["duckdb_nonnull"], json!(n));
    let avg = got["duckdb_avg"].as_f64().unwrap();
    assert!(
        (avg - mean).abs() < 1e-9 * mean.abs(),
        "duckdb avg {avg} vs {mean}"
    );
}

#[test]
fn pyarrow_and_duckdb_read_load_parquet_flights() {
    if !python_ready("pyarrow_and_duckdb_read_load_parquet_flights") {
        return;
    }
    let dir = tmp();
    let parquet = dir.path().join("flights.parquet");
    let expected = dir.path().join("flights.ndjson");
    let extracted = extract(["--null", "NA", &data("flights.csv.gz")], b"");
    extracted.expect_clean();
    std::fs::write(&expected, &extracted.stdout).unwrap();
    load([s(&parquet), s(&expected)], b"").expect_clean();

    let out = python(READ_WITH_PYARROW, &[&s(&parquet), "dep_delay"]);
    out.expect_code(0);
    let got: Value = serde_json::from_slice(&out.stdout).expect("python prints JSON");
    assert_eq!(got["rows"], json!(336_776));
    assert_eq!(got["duckdb_count"], json!(336_776));
    assert_eq!(
        got["names"],
        json!([
            "year",
            "month",
            "day",
            "dep_time",
            "sched_dep_time",
            "dep_delay",
            "arr_time",
            "sched_arr_time",
            "arr_delay",
            "carrier",
            "flight",
            "tailnum",
            "origin",
            "dest",
            "air_time",
            "distance",
            "hour",
            "minute",
            "time_hour"
        ])
    );
    let mut types = vec!["int64"; 19];
    types[9] = "string";
    types[11] = "string";
    types[12] = "string";
    types[13] = "string";
    types[18] = "timestamp[us, tz=UTC]";
    assert_eq!(got["types"], json!(types));
    let first = &got["first"];
    assert_eq!(first["carrier"], json!("UA"));
    assert_eq!(first["flight"], json!(1545));
    assert_eq!(first["tailnum"], json!("N14228"));
    assert_eq!(first["dep_delay"], json!(2));
    assert_eq!(first["time_hour"], json!("2013-01-01T10:00:00+00:00"));
    let (mean, n) = mean_of(&extracted.stdout, "dep_delay");
    assert_eq!(got["duckdb_nonnull"], json!(n));
    let avg = got["duckdb_avg"].as_f64().unwrap();
    assert!(
        (avg - mean).abs() < 1e-9 * mean.abs(),
        "duckdb avg {avg} vs {mean}"
    );
}

const WRITE_WITH_PYARROW: &str = r#"
import datetime, decimal, sys
import pyarrow as pa
import pyarrow.parquet as pq

utc = datetime.timezone.utc
table = pa.table({
    "id": pa.array([1, 2, 3], pa.int32()),
    "s": pa.array([{"a": 1, "b": "x"}, {"a": None, "b": 'y"z'}, None],
                  pa.struct([("a", pa.int32()), ("b", pa.string())])),
    "l": pa.array([[1, None, 3], [], None], pa.list_(pa.int64())),
    "m": pa.array([[("k", 7), ("j", -1)], [], None], pa.map_(pa.string(), pa.int32())),
    "mi": pa.array([[(1, "one"), (2, None)], [], None], pa.map_(pa.int32(), pa.string())),
    "dec": pa.array([decimal.Decimal("12345678.90"), decimal.Decimal("-0.05"), None],
                    pa.decimal128(10, 2)),
    "ts_utc_us": pa.array([datetime.datetime(2013, 1, 1, 10, 0, 0, 123456, tzinfo=utc),
                           datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=utc), None],
                          pa.timestamp("us", tz="UTC")),
    "ts_ny_ns": pa.array([1357034400123456789, 0, None],
                         pa.timestamp("ns", tz="America/New_York")),
    "ts_us": pa.array([datetime.datetime(2013, 1, 1, 10, 0, 0),
                       datetime.datetime(2013, 1, 1, 10, 0, 0, 500000), None],
                      pa.timestamp("us")),
    "ts_ns": pa.array([1357034400123456789, 1, None], pa.timestamp("ns")),
    "d": pa.array([datetime.date(2013, 1, 1), datetime.date(1969, 12, 31), None], pa.date32()),
    "bin": pa.array([b"\x00\xff", b"", None], pa.binary()),
    "f": pa.array([float("nan"), float("inf"), float("-inf")], pa.float64()),
    "f2": pa.array([1.5, 0.1, None], pa.float64()),
    "f32": pa.array([0.1, -2.5, None], pa.float32()),
    "b": pa.array([True, False, None]),
    "str": pa.array(["é", "", None]),
})
pq.write_table(table, sys.argv[1])

int96 = pa.table({
    "ts96": pa.array([datetime.datetime(2013, 1, 1, 10, 0, 0, 123456),
                      datetime.datetime(1900, 1, 1), datetime.datetime(1, 1, 1),
                      datetime.datetime(3000, 1, 1), None], pa.timestamp("us")),
})
pq.write_table(int96, sys.argv[2], use_deprecated_int96_timestamps=True)
# As Spark writes it: INT96 and no Arrow schema in the metadata (years outside 1677-2262 do
# not fit nanoseconds); Brotli, which Spark, pyarrow and DuckDB can all write.
pq.write_table(int96, sys.argv[3], use_deprecated_int96_timestamps=True, store_schema=False,
               compression="brotli")

small = pa.table({"id": pa.array([1, 2], pa.int64()), "name": pa.array(["a", None])})
with pa.ipc.new_file(sys.argv[4], small.schema) as w:
    w.write_table(small)
with pa.ipc.new_stream(sys.argv[5], small.schema) as w:
    w.write_table(small)
"#;

#[test]
fn extract_reads_pyarrow_parquet_with_every_documented_mapping() {
    if !python_ready("extract_reads_pyarrow_parquet_with_every_documented_mapping") {
        return;
    }
    let dir = tmp();
    let all = dir.path().join("all.parquet");
    let int96 = dir.path().join("int96.parquet");
    let spark = dir.path().join("spark.parquet");
    let feather = dir.path().join("small.arrow");
    let stream = dir.path().join("small.arrows");
    let out = python(
        WRITE_WITH_PYARROW,
        &[&s(&all), &s(&int96), &s(&spark), &s(&feather), &s(&stream)],
    );
    out.expect_code(0);

    let back = extract([s(&all)], b"");
    back.expect_clean();
    let expected = [
        r#"{"id":1,"s":{"a":1,"b":"x"},"l":[1,null,3],"m":{"k":7,"j":-1},"mi":[{"key":1,"value":"one"},{"key":2,"value":null}],"dec":12345678.90,"ts_utc_us":"2013-01-01T10:00:00.123456Z","ts_ny_ns":"2013-01-01T10:00:00.123456789Z","ts_us":"2013-01-01T10:00:00","ts_ns":"2013-01-01T10:00:00.123456789","d":"2013-01-01","bin":"AP8=","f":"NaN","f2":1.5,"f32":0.1,"b":true,"str":"é"}"#,
        r#"{"id":2,"s":{"a":null,"b":"y\"z"},"l":[],"m":{},"mi":[],"dec":-0.05,"ts_utc_us":"1969-12-31T23:59:59Z","ts_ny_ns":"1970-01-01T00:00:00Z","ts_us":"2013-01-01T10:00:00.500","ts_ns":"1970-01-01T00:00:00.000000001","d":"1969-12-31","bin":"","f":"Infinity","f2":0.1,"f32":-2.5,"b":false,"str":""}"#,
        r#"{"id":3,"s":null,"l":null,"m":null,"mi":null,"dec":null,"ts_utc_us":null,"ts_ny_ns":null,"ts_us":null,"ts_ns":null,"d":null,"bin":null,"f":"-Infinity","f2":null,"f32":null,"b":null,"str":null}"#,
    ];
    let text = back.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (got, want) in lines.iter().zip(expected) {
        assert_eq!(*got, want);
    }

    for file in [&int96, &spark] {
        let back = extract([s(file)], b"");
        back.expect_clean();
        assert_eq!(
            back.text(),
            "{\"ts96\":\"2013-01-01T10:00:00.123456\"}\n{\"ts96\":\"1900-01-01T00:00:00\"}\n\
             {\"ts96\":\"0001-01-01T00:00:00\"}\n{\"ts96\":\"3000-01-01T00:00:00\"}\n{\"ts96\":null}\n",
            "{}",
            file.display()
        );
    }

    for file in [&feather, &stream] {
        let back = extract([s(file)], b"");
        back.expect_clean();
        assert_eq!(
            back.text(),
            "{\"id\":1,\"name\":\"a\"}\n{\"id\":2,\"name\":null}\n",
            "{}",
            file.display()
        );
    }

    // Projection picks and orders columns; nested columns come whole.
    let back = extract(["--columns", "str,s,id", &s(&all)], b"");
    back.expect_clean();
    assert_eq!(
        back.text().lines().next().unwrap(),
        r#"{"str":"é","s":{"a":1,"b":"x"},"id":1}"#
    );
    let out = extract(["--columns", "nope", &s(&all)], b"");
    out.expect_code(2);
    assert!(out.stderr.contains("no column \"nope\""), "{}", out.stderr);
}

const WRITE_LOGICAL_TYPES: &str = r#"
import sys, uuid
import duckdb
import pyarrow as pa, pyarrow.feather as feather, pyarrow.parquet as pq

duck, arrow, json_plain, dates = sys.argv[1:5]
duckdb.sql(f"""COPY (SELECT * FROM (VALUES
    (1, 'eeccb8c5-9943-b2bb-bb5e-222f4e14b687'::UUID, INTERVAL '1 year 2 months 3 days 04:05:06.789', '{{"a":[1,2]}}'::JSON),
    (2, NULL, INTERVAL '1 month', '[1]'::JSON),
    (3, '00000000-0000-0000-0000-000000000001'::UUID, NULL, NULL)
) t(n, u, iv, j)) TO '{duck}' (FORMAT parquet)""")
union = pa.UnionArray.from_sparse(
    pa.array([0, 1, 0], pa.int8()), [pa.array([1, 2, None]), pa.array(["a", "b", "c"])], ["i", "s"])
table = pa.table({
    "u": union,
    "lv": pa.array([[1, 2], [], None], pa.list_view(pa.int32())),
    "mdn": pa.array([pa.MonthDayNano([13, -1, 1500000000]), pa.MonthDayNano([0, 0, 0]), None],
                    pa.month_day_nano_interval()),
    "id": pa.array([uuid.UUID(int=255).bytes, None, uuid.UUID(int=0).bytes], pa.uuid()),
})
feather.write_feather(table, arrow)
pq.write_table(pa.table({"j": pa.array(['{"a":1}', 'not json', None], pa.json_())}), json_plain,
               store_schema=False)
pq.write_table(pa.table({
    "d": pa.array([2**31 - 1, -719529, 0], pa.date32()),
    "ts": pa.array([2**63 - 1, -62167219200000001, 0], pa.timestamp("us")),
}), dates)
"#;

#[test]
fn extract_writes_uuids_intervals_unions_json_and_far_dates_as_users_read_them() {
    if !python_ready("extract_writes_uuids_intervals_unions_json_and_far_dates_as_users_read_them")
    {
        return;
    }
    let dir = tmp();
    let [duck, arrow, json_plain, dates] = ["duck.parquet", "u.arrow", "json.parquet", "d.parquet"]
        .map(|name| s(dir.path().join(name)));
    python(WRITE_LOGICAL_TYPES, &[&duck, &arrow, &json_plain, &dates]).expect_code(0);

    // DuckDB's UUID, INTERVAL (all three parts, though Arrow's reader keeps two) and JSON.
    let back = extract([&duck], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"n\":1,\"u\":\"eeccb8c5-9943-b2bb-bb5e-222f4e14b687\",\"iv\":\"P1Y2M3DT4H5M6.789S\",\"j\":{\"a\":[1,2]}}\n\
         {\"n\":2,\"u\":null,\"iv\":\"P1M\",\"j\":[1]}\n\
         {\"n\":3,\"u\":\"00000000-0000-0000-0000-000000000001\",\"iv\":null,\"j\":null}\n"
    );
    // Only some of the columns, intervals among them, in the order asked for.
    let back = extract(["--columns", "iv,n", &duck], b"");
    back.expect_clean();
    assert_eq!(
        back.text().lines().next(),
        Some("{\"iv\":\"P1Y2M3DT4H5M6.789S\",\"n\":1}")
    );

    let back = extract([&arrow], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"u\":1,\"lv\":[1,2],\"mdn\":\"P1Y1M-1DT1.5S\",\"id\":\"00000000-0000-0000-0000-0000000000ff\"}\n\
         {\"u\":\"b\",\"lv\":[],\"mdn\":\"PT0S\",\"id\":null}\n\
         {\"u\":null,\"lv\":null,\"mdn\":null,\"id\":\"00000000-0000-0000-0000-000000000000\"}\n"
    );

    // The JSON logical type without an Arrow schema in the file; text that is not JSON stays
    // a string.
    let back = extract([&json_plain], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"j\":{\"a\":1}}\n{\"j\":\"not json\"}\n{\"j\":null}\n"
    );

    // Dates far from now keep their values (ISO 8601's expanded years), never null.
    let back = extract([&dates], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"d\":\"+5881580-07-11\",\"ts\":\"+294247-01-10T04:00:54.775807\"}\n\
         {\"d\":\"-0001-12-31\",\"ts\":\"-0001-12-31T23:59:59.999999\"}\n\
         {\"d\":\"1970-01-01\",\"ts\":\"1970-01-01T00:00:00\"}\n"
    );
}

/// Writes Parquet and Arrow files whose Arrow schema has dictionaries of booleans, decimals and
/// float16 (which Arrow's Parquet reader cannot build) and repeated column names.
const WRITE_DICTIONARIES_AND_REPEATED_NAMES: &str = r#"
import sys, struct, decimal
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.feather as feather
dicts, repeated_parquet, repeated_arrow = sys.argv[1:]
idx = pa.array([0, 1, None, 0], pa.int32())
half = pa.Array.from_buffers(pa.float16(), 2, [None, pa.py_buffer(struct.pack("<2e", 1.5, 2.5))])
D = decimal.Decimal
pq.write_table(pa.table({
    "b": pa.DictionaryArray.from_arrays(idx, pa.array([True, False])),
    "d": pa.DictionaryArray.from_arrays(idx, pa.array([D("1.5"), D("2.5")], pa.decimal128(5, 1))),
    "h": pa.DictionaryArray.from_arrays(idx, half),
    "l": pa.ListArray.from_arrays(
        pa.array([0, 1, 1, 1, 2], pa.int32()),
        pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int8()),
                                       pa.array([D("1.5"), D("2.5")], pa.decimal128(5, 1))),
        mask=pa.array([False, False, True, False])),
}), dicts)
table = pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], names=["a", "a", "a_2"])
pq.write_table(table, repeated_parquet)
feather.write_feather(table, repeated_arrow)
"#;

#[test]
fn extract_reads_dictionaries_of_any_type_and_renames_repeated_columns() {
    if !python_ready("extract_reads_dictionaries_of_any_type_and_renames_repeated_columns") {
        return;
    }
    let dir = tmp();
    let [dicts, repeated_parquet, repeated_arrow] =
        ["d.parquet", "r.parquet", "r.arrow"].map(|name| s(dir.path().join(name)));
    python(
        WRITE_DICTIONARIES_AND_REPEATED_NAMES,
        &[&dicts, &repeated_parquet, &repeated_arrow],
    )
    .expect_code(0);
    let back = extract([&dicts], b"");
    back.expect_clean();
    assert_eq!(
        back.text(),
        "{\"b\":true,\"d\":1.5,\"h\":1.5,\"l\":[1.5]}\n\
         {\"b\":false,\"d\":2.5,\"h\":2.5,\"l\":[]}\n\
         {\"b\":null,\"d\":null,\"h\":null,\"l\":null}\n\
         {\"b\":true,\"d\":1.5,\"h\":1.5,\"l\":[2.5]}\n"
    );
    // No key twice, so that load keeps every column.
    for file in [&repeated_parquet, &repeated_arrow] {
        let back = extract([file], b"");
        back.expect_clean();
        assert_eq!(back.text(), "{\"a\":1,\"a_2\":2,\"a_2_2\":3}\n", "{file}");
    }
}
