//! Parquet files as older writers made them, built here field by field: repeated fields without
//! a LIST annotation (parquet-mr's, Thrift's and protobuf's one- and two-level lists) and a
//! dictionary page offset of 0 (parquet-mr 1.8). `extract` reads them as pyarrow does, and
//! never yields fewer rows than the footer counts.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use parquet::data_type::{ByteArray, ByteArrayType, Int32Type};
use parquet::file::metadata::{
    ParquetMetaData, ParquetMetaDataReader, ParquetMetaDataWriter, RowGroupMetaData,
    RowGroupMetaDataBuilder,
};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use serde_json::{json, Value};

use crate::util::*;

/// One leaf column's values with its definition and repetition levels (Dremel encoding).
struct Leaf {
    values: Values,
    def: Vec<i16>,
    rep: Vec<i16>,
}

enum Values {
    Int(Vec<i32>),
    Text(Vec<&'static str>),
}

fn leaf(values: Values, def: &[i16], rep: &[i16]) -> Leaf {
    Leaf {
        values,
        def: def.to_vec(),
        rep: rep.to_vec(),
    }
}

/// Writes one row group of `leaves`, in schema order, under the message type `schema`.
fn write_parquet(path: &Path, schema: &str, leaves: Vec<Leaf>) {
    let schema = Arc::new(parse_message_type(schema).unwrap());
    // No page indexes, as older writers made none.
    let props = WriterProperties::builder()
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .build();
    let props = Arc::new(props);
    let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let mut leaves = leaves.into_iter();
    while let Some(mut column) = group.next_column().unwrap() {
        let Leaf { values, def, rep } = leaves.next().expect("a leaf per column");
        let levels = |l: &[i16]| (!l.is_empty()).then(|| l.to_vec());
        let (def, rep) = (levels(&def), levels(&rep));
        match values {
            Values::Int(v) => {
                column
                    .typed::<Int32Type>()
                    .write_batch(&v, def.as_deref(), rep.as_deref())
                    .unwrap();
            }
            Values::Text(v) => {
                let v: Vec<ByteArray> = v.into_iter().map(ByteArray::from).collect();
                column
                    .typed::<ByteArrayType>()
                    .write_batch(&v, def.as_deref(), rep.as_deref())
                    .unwrap();
            }
        }
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

/// Copies the Parquet file `from` to `to` with each row group's metadata changed by `change`.
fn rewrite_footer(
    from: &Path,
    to: &Path,
    mut change: impl FnMut(RowGroupMetaData) -> RowGroupMetaDataBuilder,
) {
    let bytes = std::fs::read(from).unwrap();
    let metadata = ParquetMetaDataReader::new()
        .parse_and_finish(&File::open(from).unwrap())
        .unwrap();
    let tail: [u8; 4] = bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap();
    let data_end = bytes.len() - 8 - u32::from_le_bytes(tail) as usize;
    let groups = metadata
        .row_groups()
        .iter()
        .map(|g| change(g.clone()).build().unwrap())
        .collect();
    let changed = ParquetMetaData::new(metadata.file_metadata().clone(), groups);
    let mut out = bytes[..data_end].to_vec();
    ParquetMetaDataWriter::new(&mut out, &changed)
        .finish()
        .unwrap();
    std::fs::write(to, out).unwrap();
}

/// The records `extract` reads from `path`, checked against pyarrow's reading of the same file.
fn extract_as_pyarrow_reads(path: &Path, test: &str) -> Vec<Value> {
    let out = extract([path.to_str().unwrap()], b"");
    out.expect_clean();
    let records = out.records();
    if python_ready(test) {
        let script = "import json, sys, pyarrow.parquet as pq\n\
                      print(json.dumps(pq.read_table(sys.argv[1]).to_pylist()))";
        let read = python(script, &[path.to_str().unwrap()]);
        read.expect_code(0);
        let expected: Value = serde_json::from_slice(&read.stdout).unwrap();
        assert_eq!(
            Value::Array(records.clone()),
            expected,
            "{test}: pyarrow reads otherwise"
        );
    }
    // Each column alone gives the same values in as many rows.
    for column in records[0].as_object().unwrap().keys() {
        let out = extract([path.to_str().unwrap(), "--columns", column], b"");
        out.expect_clean();
        let alone: Vec<Value> = records.iter().map(|r| json!({column: r[column]})).collect();
        assert_eq!(out.records(), alone, "{test}: --columns {column}");
    }
    records
}

#[test]
fn one_level_repeated_fields_are_required_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-level.parquet");
    let schema = "message m {
        required int32 id;
        repeated int32 values;
        repeated binary names (UTF8);
    }";
    // Rows: [1, 2, 3] and ["a"]; [] and []; [4] and ["b", "c"].
    write_parquet(
        &path,
        schema,
        vec![
            leaf(Values::Int(vec![1, 2, 3]), &[], &[]),
            leaf(
                Values::Int(vec![1, 2, 3, 4]),
                &[1, 1, 1, 0, 1],
                &[0, 1, 1, 0, 0],
            ),
            leaf(
                Values::Text(vec!["a", "b", "c"]),
                &[1, 0, 1, 1],
                &[0, 0, 0, 1],
            ),
        ],
    );
    let records = extract_as_pyarrow_reads(&path, "one_level_repeated_fields_are_required_lists");
    assert_eq!(
        records,
        [
            json!({"id": 1, "values": [1, 2, 3], "names": ["a"]}),
            json!({"id": 2, "values": [], "names": []}),
            json!({"id": 3, "values": [4], "names": ["b", "c"]}),
        ]
    );
}

#[test]
fn two_level_lists_of_values_and_of_groups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two-level.parquet");
    // parquet-mr's two-level lists: a repeated primitive, a repeated group of several fields
    // (parquet-avro's `array`), a one-field group named `array` and one named `<list>_tuple`
    // (Thrift): the repeated field is the element.
    let schema = "message m {
        optional group values (LIST) { repeated int32 element; }
        optional group points (LIST) { repeated group array { required int32 x; required int32 y; } }
        optional group tags (LIST) { repeated group array { required binary str (UTF8); } }
        optional group codes (LIST) { repeated group codes_tuple { required int32 code; } }
    }";
    // Rows: values [1, 2] / null / [] ; points [{1,2},{3,4}] / [] / null;
    // tags [{a}] / null / [{b},{c}]; codes [] / [{7}] / null.
    write_parquet(
        &path,
        schema,
        vec![
            leaf(Values::Int(vec![1, 2]), &[2, 2, 0, 1], &[0, 1, 0, 0]),
            leaf(Values::Int(vec![1, 3]), &[2, 2, 1, 0], &[0, 1, 0, 0]),
            leaf(Values::Int(vec![2, 4]), &[2, 2, 1, 0], &[0, 1, 0, 0]),
            leaf(
                Values::Text(vec!["a", "b", "c"]),
                &[2, 0, 2, 2],
                &[0, 0, 0, 1],
            ),
            leaf(Values::Int(vec![7]), &[1, 2, 0], &[0, 0, 0]),
        ],
    );
    let records = extract_as_pyarrow_reads(&path, "two_level_lists_of_values_and_of_groups");
    assert_eq!(
        records,
        [
            json!({"values": [1, 2], "points": [{"x": 1, "y": 2}, {"x": 3, "y": 4}],
                   "tags": [{"str": "a"}], "codes": []}),
            json!({"values": null, "points": [], "tags": null, "codes": [{"code": 7}]}),
            json!({"values": [], "points": null, "tags": [{"str": "b"}, {"str": "c"}],
                   "codes": null}),
        ]
    );
}

#[test]
fn unannotated_repeated_groups_are_lists_of_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeated-group.parquet");
    let schema = "message m {
        required int32 id;
        repeated group pairs { required int32 a; optional binary b (UTF8); }
    }";
    // Rows: [{1,"x"},{2,null}]; []; [{3,"y"}].
    write_parquet(
        &path,
        schema,
        vec![
            leaf(Values::Int(vec![10, 20, 30]), &[], &[]),
            leaf(Values::Int(vec![1, 2, 3]), &[1, 1, 0, 1], &[0, 1, 0, 0]),
            leaf(Values::Text(vec!["x", "y"]), &[2, 1, 0, 2], &[0, 1, 0, 0]),
        ],
    );
    let records =
        extract_as_pyarrow_reads(&path, "unannotated_repeated_groups_are_lists_of_objects");
    assert_eq!(
        records,
        [
            json!({"id": 10, "pairs": [{"a": 1, "b": "x"}, {"a": 2, "b": null}]}),
            json!({"id": 20, "pairs": []}),
            json!({"id": 30, "pairs": [{"a": 3, "b": "y"}]}),
        ]
    );
}

#[test]
fn a_dictionary_page_offset_of_zero_is_read_from_the_data_page_offset() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.parquet");
    let schema = "message m { required binary carrier (UTF8); required int32 flight; }";
    let carriers = vec!["UA", "AA", "UA", "B6", "UA", "AA"];
    write_parquet(
        &plain,
        schema,
        vec![
            leaf(Values::Text(carriers.clone()), &[], &[]),
            leaf(Values::Int(vec![1, 2, 3, 4, 5, 6]), &[], &[]),
        ],
    );
    // As parquet-mr 1.8 wrote them: the chunk starts with its dictionary page at
    // data_page_offset, and dictionary_page_offset is 0.
    let path = dir.path().join("dict-page-offset-zero.parquet");
    let mut patched = 0;
    rewrite_footer(&plain, &path, |group| {
        let columns = group
            .columns()
            .iter()
            .map(|c| match c.dictionary_page_offset() {
                Some(start) => {
                    patched += 1;
                    c.clone()
                        .into_builder()
                        .set_data_page_offset(start)
                        .set_dictionary_page_offset(Some(0))
                        .build()
                        .unwrap()
                }
                None => c.clone(),
            })
            .collect();
        group.into_builder().set_column_metadata(columns)
    });
    assert!(patched > 0, "the writer made no dictionary pages");

    let records = extract_as_pyarrow_reads(
        &path,
        "a_dictionary_page_offset_of_zero_is_read_from_the_data_page_offset",
    );
    let read: Vec<&str> = records
        .iter()
        .map(|r| r["carrier"].as_str().unwrap())
        .collect();
    assert_eq!(read, carriers);
    assert_eq!(records[5], json!({"carrier": "AA", "flight": 6}));
}

#[test]
fn files_of_repeated_columns_only_keep_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repeated-only.parquet");
    // Every column repeated, also inside a required group: rows come from repetition levels
    // alone.
    let schema = "message m {
        repeated int32 ints;
        required group inner { repeated binary texts (UTF8); }
    }";
    // Rows: ints [1, 2] texts []; ints [] texts ["a"]; ints [3] texts ["b", "c"].
    write_parquet(
        &path,
        schema,
        vec![
            leaf(Values::Int(vec![1, 2, 3]), &[1, 1, 0, 1], &[0, 1, 0, 0]),
            leaf(
                Values::Text(vec!["a", "b", "c"]),
                &[0, 1, 1, 1],
                &[0, 0, 0, 1],
            ),
        ],
    );
    let records = extract_as_pyarrow_reads(&path, "files_of_repeated_columns_only_keep_every_row");
    assert_eq!(
        records,
        [
            json!({"ints": [1, 2], "inner": {"texts": []}}),
            json!({"ints": [], "inner": {"texts": ["a"]}}),
            json!({"ints": [3], "inner": {"texts": ["b", "c"]}}),
        ]
    );
}

#[test]
fn groups_without_annotation_hold_repeated_groups_and_nested_legacy_lists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-legacy.parquet");
    // An optional group with no annotation holding a repeated group (parquet-mr's phone book),
    // and a two-level list of two-level lists (parquet-mr's old list structure).
    let schema = "message m {
        required int32 id;
        optional group phones { repeated group phone { required int32 number; optional binary kind (UTF8); } }
        required group matrix (LIST) { repeated group array (LIST) { repeated int32 array; } }
    }";
    // Rows: id 1, phones null, matrix [[1, 2], [3]]; id 2, phones {phone: []}, matrix [];
    // id 3, phones {phone: [{5, "home"}, {6, null}]}, matrix [[], [4]].
    write_parquet(
        &path,
        schema,
        vec![
            leaf(Values::Int(vec![1, 2, 3]), &[], &[]),
            leaf(Values::Int(vec![5, 6]), &[0, 1, 2, 2], &[0, 0, 0, 1]),
            leaf(Values::Text(vec!["home"]), &[0, 1, 3, 2], &[0, 0, 0, 1]),
            leaf(
                Values::Int(vec![1, 2, 3, 4]),
                &[2, 2, 2, 0, 1, 2],
                &[0, 2, 1, 0, 0, 1],
            ),
        ],
    );
    let records = extract_as_pyarrow_reads(
        &path,
        "groups_without_annotation_hold_repeated_groups_and_nested_legacy_lists",
    );
    assert_eq!(
        records,
        [
            json!({"id": 1, "phones": null, "matrix": [[1, 2], [3]]}),
            json!({"id": 2, "phones": {"phone": []}, "matrix": []}),
            json!({"id": 3, "phones": {"phone": [{"number": 5, "kind": "home"}, {"number": 6, "kind": null}]},
                   "matrix": [[], [4]]}),
        ]
    );
}

#[test]
fn a_file_that_yields_fewer_rows_than_its_footer_counts_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.parquet");
    write_parquet(
        &plain,
        "message m { required int32 n; }",
        vec![leaf(Values::Int(vec![1, 2, 3]), &[], &[])],
    );
    let path = dir.path().join("short.parquet");
    rewrite_footer(&plain, &path, |group| {
        let columns = group.columns().to_vec();
        RowGroupMetaData::builder(group.schema_descr_ptr())
            .set_num_rows(5)
            .set_total_byte_size(group.total_byte_size())
            .set_column_metadata(columns)
    });
    let out = extract([path.to_str().unwrap()], b"");
    out.expect_code(1);
    assert!(
        out.stderr.contains("short.parquet") && out.stderr.contains("hold 5 rows, but only 3"),
        "{}",
        out.stderr
    );
}
