//! Parquet and Arrow IPC inputs, read batch by batch (bounded memory).

use std::fs::File;
use std::io::Read;

use arrow_array::RecordBatch;
use std::sync::Arc;

use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::basic::Type as PhysicalType;
use sluice_arrow::encode::BatchEncoder;
use sluice_stream::{Error, Position, Result};

use crate::emit::Emitter;

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
    let mut metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(bad)?;
    if let Some(schema) = int96_as_micros(&metadata) {
        let options = ArrowReaderOptions::new().with_schema(schema);
        metadata =
            ArrowReaderMetadata::try_new(metadata.metadata().clone(), options).map_err(bad)?;
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, metadata);
    let indices = projection(builder.schema(), columns, source)?;
    let builder = match &indices {
        Some(indices) => {
            let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
            builder.with_projection(mask)
        }
        None => builder,
    };
    let reader = builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| bad_file(source, e))?;
    let batches = reader.map(|b| b.and_then(|batch| reorder(batch, &indices, columns)));
    emit_batches(batches, source, emitter)
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
    emit_batches(batches, source, emitter)
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
    emit_batches(batches, source, emitter)
}

fn project(batch: RecordBatch, indices: &Option<Vec<usize>>) -> Result<RecordBatch, ArrowError> {
    match indices {
        Some(indices) => batch.project(indices),
        None => Ok(batch),
    }
}

fn emit_batches(
    batches: impl Iterator<Item = Result<RecordBatch, ArrowError>>,
    source: &str,
    emitter: &mut Emitter<'_>,
) -> Result<()> {
    let member = emitter.source_member().to_vec();
    let mut encoder: Option<(BatchEncoder, std::sync::Arc<Schema>)> = None;
    let mut out = Vec::with_capacity(1 << 20);
    for batch in batches {
        let batch = batch.map_err(|e| bad_file(source, e))?;
        if encoder.as_ref().is_none_or(|(_, s)| *s != batch.schema()) {
            encoder = Some((BatchEncoder::new(&batch.schema()), batch.schema()));
        }
        let (enc, _) = encoder.as_ref().expect("set above");
        emitter.records_in += batch.num_rows() as u64;
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
    Ok(())
}
