//! Parquet and Arrow IPC inputs, read batch by batch (bounded memory).

use std::fs::File;
use std::io::Read;

use arrow_array::cast::AsArray;
use arrow_array::types::{IntervalDayTimeType, IntervalMonthDayNano, IntervalYearMonthType};
use arrow_array::{ArrayRef, IntervalMonthDayNanoArray, RecordBatch};
use std::sync::Arc;

use arrow_schema::{ArrowError, DataType, Field, IntervalUnit, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::basic::Type as PhysicalType;
use parquet::file::metadata::{ColumnChunkMetaData, ParquetMetaData};
use sluice_arrow::encode::BatchEncoder;
use sluice_stream::{Error, Position, Result};

use crate::emit::Emitter;
use crate::names::unique_names;

/// Rows per batch read from columnar files.
const BATCH_ROWS: usize = 8192;

fn bad_file(source: &str, e: impl std::fmt::Display) -> Error {
    Error::BadInput {
        position: Position::source(source),
        reason: e.to_string(),
    }
}

/// The indices of `columns` in `schema`, or a usage error naming the ones that are missing.
fn projection(
    schema: &Schema,
    columns: Option<&[String]>,
    source: &str,
) -> Result<Option<Vec<usize>>> {
    let Some(columns) = columns else {
        return Ok(None);
    };
    columns
        .iter()
        .map(|c| {
            schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                Error::Usage(format!(
                    "{source} has no column {c:?} (it has: {})",
                    names.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Reads a Parquet file row group by row group; only the named columns are decoded.
pub fn extract_parquet(
    file: File,
    source: &str,
    columns: Option<&[String]>,
    emitter: &mut Emitter<'_>,
) -> Result<()> {
    let bad = |e| bad_file(source, e);
    let loaded = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(bad)?;
    let loaded = match with_dictionary_offsets_fixed(loaded.metadata()) {
        Some(fixed) => {
            ArrowReaderMetadata::try_new(Arc::new(fixed), ArrowReaderOptions::new()).map_err(bad)?
        }
        None => loaded,
    };
    let footer_rows: i64 = loaded
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .sum();
    let schema = int96_as_micros(&loaded).unwrap_or_else(|| loaded.schema().clone());
    let mut schema = without_dictionaries(&schema);
    let indices = projection(&schema, columns, source)?;
    let intervals: Vec<usize> = (0..schema.fields().len())
        .filter(|i| indices.as_ref().is_none_or(|wanted| wanted.contains(i)))
        .filter(|&i| matches!(schema.field(i).data_type(), DataType::Interval(_)))
        .collect();
    let mut months = None;
    if !intervals.is_empty() {
        let reader = reader_with(
            &loaded,
            file.try_clone().map_err(|e| Error::io(source, e))?,
            with_interval_unit(&schema, &intervals, IntervalUnit::YearMonth),
            Some(&intervals),
        )
        .map_err(bad)?;
        months = Some(reader);
        schema = with_interval_unit(&schema, &intervals, IntervalUnit::DayTime);
    }
    let reader = reader_with(&loaded, file, schema, indices.as_deref()).map_err(bad)?;
    let batches = reader.map(|b| {
        let batch = match months.as_mut() {
            Some(months) => b.and_then(|b| join_months(b, months.next())),
            None => b,
        };
        batch.and_then(|batch| reorder(batch, &indices, columns))
    });
    let rows = emit_batches(batches, source, emitter)?;
    if i64::try_from(rows).ok() != Some(footer_rows) {
        return Err(bad_file(
            source,
            format!(
                "its row groups hold {footer_rows} rows, but only {rows} could be read (a \
                 damaged file, or an encoding this reader gets wrong)"
            ),
        ));
    }
    Ok(())
}

/// Older parquet-mr versions wrote a column chunk's dictionary page offset as 0, with the
/// dictionary page at the data page offset, where the chunk starts. A dictionary page offset
/// that is not before the data page offset is passed over, as pyarrow and parquet-mr do (the
/// reader would otherwise start the chunk at byte 0). `None` when every offset is sound.
fn with_dictionary_offsets_fixed(metadata: &ParquetMetaData) -> Option<ParquetMetaData> {
    let unsound = |c: &ColumnChunkMetaData| {
        c.dictionary_page_offset()
            .is_some_and(|d| d <= 0 || d >= c.data_page_offset())
    };
    let any = metadata
        .row_groups()
        .iter()
        .any(|g| g.columns().iter().any(unsound));
    if !any {
        return None;
    }
    let groups = metadata.row_groups().iter().map(|group| {
        let columns = group.columns().iter().map(|c| match unsound(c) {
            true => c
                .clone()
                .into_builder()
                .set_dictionary_page_offset(None)
                .build(),
            false => Ok(c.clone()),
        });
        let columns = columns.collect::<Result<Vec<_>, _>>()?;
        group
            .clone()
            .into_builder()
            .set_column_metadata(columns)
            .build()
    });
    let groups = groups.collect::<Result<Vec<_>, _>>().ok()?;
    Some(ParquetMetaData::new(
        metadata.file_metadata().clone(),
        groups,
    ))
}

/// A batch reader of `file` with the columns at `indices` (all when `None`) read as `schema`
/// says.
fn reader_with(
    loaded: &ArrowReaderMetadata,
    file: File,
    schema: SchemaRef,
    indices: Option<&[usize]>,
) -> Result<ParquetRecordBatchReader, parquet::errors::ParquetError> {
    let options = ArrowReaderOptions::new().with_schema(schema);
    let metadata = ArrowReaderMetadata::try_new(loaded.metadata().clone(), options)?;
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
    let builder = match indices {
        Some(indices) => {
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
            builder.with_projection(mask)
        }
        None => builder,
    };
    builder.with_batch_size(BATCH_ROWS).build()
}

/// `schema` with the fields at `indices` read as intervals of `unit`.
fn with_interval_unit(schema: &Schema, indices: &[usize], unit: IntervalUnit) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| match indices.contains(&i) {
            true => f.as_ref().clone().with_data_type(DataType::Interval(unit)),
            false => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Parquet's INTERVAL holds months, days and milliseconds, but Arrow's Parquet reader gives
/// either days and milliseconds or months alone. The file is read both ways in step (the same
/// row groups and batch size give the same batches) and each interval column is joined from
/// the two into months, days and nanoseconds.
fn join_months(
    batch: RecordBatch,
    months: Option<Result<RecordBatch, ArrowError>>,
) -> Result<RecordBatch, ArrowError> {
    let months = months.unwrap_or_else(|| {
        Err(ArrowError::ParquetError(
            "the interval columns ended before the others".into(),
        ))
    })?;
    if months.num_rows() != batch.num_rows() {
        return Err(ArrowError::ParquetError(
            "the interval columns were read in other batches than the rest".into(),
        ));
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let joined = match (column.data_type(), months.column_by_name(field.name())) {
            (DataType::Interval(IntervalUnit::DayTime), Some(month_column)) => {
                let day_time = column.as_primitive::<IntervalDayTimeType>();
                let month_values = month_column.as_primitive::<IntervalYearMonthType>();
                let values: IntervalMonthDayNanoArray = day_time
                    .iter()
                    .zip(month_values.values())
                    .map(|(v, &months)| {
                        v.map(|v| {
                            IntervalMonthDayNano::new(
                                months,
                                v.days,
                                i64::from(v.milliseconds) * 1_000_000,
                            )
                        })
                    })
                    .collect();
                Some(Arc::new(values) as ArrayRef)
            }
            _ => None,
        };
        match joined {
            Some(joined) => {
                fields.push(
                    field
                        .as_ref()
                        .clone()
                        .with_data_type(joined.data_type().clone()),
                );
                columns.push(joined);
            }
            None => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    let schema = Schema::new_with_metadata(fields, batch.schema().metadata().clone());
    RecordBatch::try_new(Arc::new(schema), columns)
}

/// Spark, Hive and Impala write timestamps as INT96, which Arrow reads as nanoseconds unless
/// the file's Arrow schema says otherwise: years outside 1677–2262 would wrap around. Such
/// top-level columns are read as microseconds instead (as DuckDB reads them), when the file
/// has no Arrow schema.
fn int96_as_micros(metadata: &ArrowReaderMetadata) -> Option<SchemaRef> {
    let file = metadata.metadata().file_metadata();
    let kv = file.key_value_metadata();
    if kv.is_some_and(|kv| kv.iter().any(|entry| entry.key == "ARROW:schema")) {
        return None;
    }
    let int96: Vec<&str> = file
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .filter(|f| f.is_primitive() && f.get_physical_type() == PhysicalType::INT96)
        .map(|f| f.name())
        .collect();
    if int96.is_empty() {
        return None;
    }
    let schema = metadata.schema();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, tz) if int96.contains(&f.name().as_str()) => {
                f.as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Some(Arc::new(Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    )))
}

/// `schema` with dictionary types (an Arrow writer's, kept in the file's `ARROW:schema`) read
/// as their values. The Parquet reader builds dictionaries only of strings and binaries, and
/// fails on others (booleans, decimals, float16); the values are what is written out anyway.
fn without_dictionaries(schema: &SchemaRef) -> SchemaRef {
    fn plain(data_type: &DataType) -> DataType {
        let field =
            |f: &Arc<Field>| Arc::new(f.as_ref().clone().with_data_type(plain(f.data_type())));
        match data_type {
            DataType::Dictionary(_, values) => plain(values),
            DataType::List(f) => DataType::List(field(f)),
            DataType::LargeList(f) => DataType::LargeList(field(f)),
            DataType::FixedSizeList(f, n) => DataType::FixedSizeList(field(f), *n),
            DataType::Map(f, sorted) => DataType::Map(field(f), *sorted),
            DataType::Struct(fields) => DataType::Struct(fields.iter().map(field).collect()),
            other => other.clone(),
        }
    }
    if !schema
        .fields()
        .iter()
        .any(|f| has_dictionary(f.data_type()))
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_data_type(plain(f.data_type())))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn has_dictionary(data_type: &DataType) -> bool {
    match data_type {
        DataType::Dictionary(..) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => has_dictionary(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| has_dictionary(f.data_type())),
        _ => false,
    }
}

/// Puts projected columns in the order `--columns` named them (Parquet returns file order).
fn reorder(
    batch: RecordBatch,
    indices: &Option<Vec<usize>>,
    columns: Option<&[String]>,
) -> Result<RecordBatch, ArrowError> {
    match (indices, columns) {
        (Some(_), Some(columns)) => {
            let order = columns
                .iter()
                .map(|c| batch.schema().index_of(c))
                .collect::<Result<Vec<_>, _>>()?;
            batch.project(&order)
        }
        _ => Ok(batch),
    }
}

/// Reads an Arrow IPC file (random access format).
pub fn extract_arrow_file(
    file: File,
    source: &str,
    columns: Option<&[String]>,
    emitter: &mut Emitter<'_>,
) -> Result<()> {
    let reader =
        arrow_ipc::reader::FileReader::try_new(file, None).map_err(|e| bad_file(source, e))?;
    let indices = projection(&reader.schema(), columns, source)?;
    let batches = reader.map(|b| b.and_then(|batch| project(batch, &indices)));
    emit_batches(batches, source, emitter).map(drop)
}

/// Reads an Arrow IPC stream.
pub fn extract_arrow_stream(
    input: Box<dyn Read + Send>,
    source: &str,
    columns: Option<&[String]>,
    emitter: &mut Emitter<'_>,
) -> Result<()> {
    let reader =
        arrow_ipc::reader::StreamReader::try_new(input, None).map_err(|e| bad_file(source, e))?;
    let indices = projection(&reader.schema(), columns, source)?;
    let batches = reader.map(|b| b.and_then(|batch| project(batch, &indices)));
    emit_batches(batches, source, emitter).map(drop)
}

fn project(batch: RecordBatch, indices: &Option<Vec<usize>>) -> Result<RecordBatch, ArrowError> {
    match indices {
        Some(indices) => batch.project(indices),
        None => Ok(batch),
    }
}

/// Writes the batches' rows as records; returns how many there were.
fn emit_batches(
    batches: impl Iterator<Item = Result<RecordBatch, ArrowError>>,
    source: &str,
    emitter: &mut Emitter<'_>,
) -> Result<u64> {
    let mut total = 0u64;
    let member = emitter.source_member().to_vec();
    let mut encoder: Option<(BatchEncoder, std::sync::Arc<Schema>)> = None;
    let mut out = Vec::with_capacity(1 << 20);
    for batch in batches {
        let batch = batch.map_err(|e| bad_file(source, e))?;
        if encoder.as_ref().is_none_or(|(_, s)| *s != batch.schema()) {
            let keys = give_way(&batch.schema(), emitter.source_field());
            encoder = Some((BatchEncoder::new(&keys), batch.schema()));
        }
        let (enc, _) = encoder.as_ref().expect("set above");
        emitter.records_in += batch.num_rows() as u64;
        total += batch.num_rows() as u64;
        let mut rows = 0u64;
        enc.encode(&batch, &member, &mut out, |out| {
            rows += 1;
            if out.len() >= 1 << 18 {
                emitter.emit_lines(out, rows)?;
                out.clear();
                rows = 0;
            }
            Ok(())
        })?;
        emitter.emit_lines(&out, rows)?;
        out.clear();
    }
    Ok(total)
}

/// The schema whose names become the records' keys: a repeated column name (Parquet and Arrow
/// allow them) or one named like the `--source-field` (`reserved`) gets `_2`, `_3`, … as a
/// repeated CSV header does, so that no record has a key twice.
fn give_way(schema: &Schema, reserved: Option<&str>) -> Schema {
    let names = unique_names(schema.fields().iter().map(|f| f.name().as_str()), reserved);
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(f, name)| f.as_ref().clone().with_name(name))
        .collect();
    Schema::new(fields)
}
