//! A fast decoder for flat schemas: JSON object lines straight into Arrow column builders.
//!
//! It reads each line with the validating scanner and parses each value for its column, the
//! way arrow-json would (the same timestamp and date parsers; escapes decoded in string
//! columns). Whenever a value is not plainly what the column holds (a number in a string
//! column, an escaped key or date, a duplicate field, a missing required field), it gives up
//! on the whole chunk, and the chunk goes through arrow-json, which decodes it or names the
//! records that do not fit. So it only ever returns what arrow-json would have returned.
//!
//! In exact mode (for a schema inferred from a sample of the input) it also gives up on any
//! value that schema inference would have typed differently (`-0` in an integer column, a
//! date-like string that is not a plain `YYYY-MM-DD`), so a chunk it decodes is one that would
//! not have changed the inferred schema.

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, TimestampNanosecondBuilder,
};
use arrow_array::timezone::Tz;
use arrow_array::types::Date32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_cast::parse::{string_to_datetime, Parser};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use sluice_stream::json::{is_blank, write_string};
use sluice_stream::scan::{self, FieldSpan, Kind};

use crate::infer;
use crate::schema::is_json_field;

/// Decodes chunks of NDJSON lines for a schema of flat primitive columns.
pub struct FlatDecoder {
    schema: SchemaRef,
    columns: Vec<Column>,
    batch_size: usize,
    strict: bool,
    exact: bool,
    spans: Vec<FieldSpan>,
    seen: Vec<bool>,
}

struct Column {
    /// The field name as a JSON string (quotes included).
    key: Vec<u8>,
    nullable: bool,
    kind: ColumnKind,
    builder: Box<dyn ArrayBuilder>,
}

#[derive(Clone)]
enum ColumnKind {
    Int,
    Float,
    Bool,
    Utf8,
    Date,
    Timestamp { nanos: bool, tz: Option<Tz> },
}

impl FlatDecoder {
    /// A decoder for `schema`, or `None` when a column is not a flat primitive it handles.
    /// `exact` makes it give up on values inference would not type as their column is typed.
    pub fn new(
        schema: SchemaRef,
        batch_size: usize,
        strict: bool,
        exact: bool,
    ) -> Option<FlatDecoder> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                if is_json_field(field) {
                    return None;
                }
                let kind = match field.data_type() {
                    DataType::Int64 => ColumnKind::Int,
                    DataType::Float64 => ColumnKind::Float,
                    DataType::Boolean => ColumnKind::Bool,
                    DataType::Utf8 => ColumnKind::Utf8,
                    DataType::Date32 => ColumnKind::Date,
                    DataType::Timestamp(unit, tz) => ColumnKind::Timestamp {
                        nanos: match unit {
                            TimeUnit::Microsecond => false,
                            TimeUnit::Nanosecond => true,
                            _ => return None,
                        },
                        tz: match tz {
                            Some(tz) => Some(tz.parse().ok()?),
                            None => None,
                        },
                    },
                    _ => return None,
                };
                let mut key = Vec::new();
                write_string(&mut key, field.name().as_bytes());
                Some(Column {
                    key,
                    nullable: field.is_nullable(),
                    builder: builder(&kind, field.data_type(), batch_size),
                    kind,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(FlatDecoder {
            seen: vec![false; columns.len()],
            schema,
            columns,
            batch_size,
            strict,
            exact,
            spans: Vec::new(),
        })
    }

    /// Decodes NDJSON `lines` into batches; `None` when arrow-json must decode them instead
    /// (nothing is kept from a chunk given up on).
    pub fn decode(&mut self, lines: &[u8]) -> Option<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        let mut rows = 0;
        let result = (|| {
            let mut start = 0;
            while start < lines.len() {
                let end = memchr::memchr(b'\n', &lines[start..]).map_or(lines.len(), |i| start + i);
                let line = &lines[start..end];
                start = end + 1;
                if is_blank(line) {
                    continue;
                }
                self.add(line)?;
                rows += 1;
                if rows == self.batch_size {
                    batches.push(self.finish()?);
                    rows = 0;
                }
            }
            if rows > 0 {
                batches.push(self.finish()?);
            }
            Some(())
        })();
        if result.is_none() {
            // Start the next chunk from empty builders.
            for column in &mut self.columns {
                column.builder.finish();
            }
            return None;
        }
        Some(batches)
    }

    fn finish(&mut self) -> Option<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| c.builder.finish())
            .collect();
        RecordBatch::try_new(self.schema.clone(), arrays).ok()
    }

    /// Appends one record to every column; `None` to give up.
    fn add(&mut self, line: &[u8]) -> Option<()> {
        // Checked once: every value below is a slice of it, cut at ASCII delimiters.
        let text = std::str::from_utf8(line).ok()?;
        scan::object_fields_text(text, &mut self.spans).ok()?;
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut hint = 0;
        for span in &self.spans {
            let key = &line[span.key.clone()];
            if key.contains(&b'\\') {
                return None;
            }
            // Fields usually come in schema order: try the next column first.
            let index = if self
                .columns
                .get(hint)
                .is_some_and(|c| same_bytes(&c.key, key))
            {
                hint
            } else {
                match self.columns.iter().position(|c| same_bytes(&c.key, key)) {
                    Some(i) => i,
                    None if self.strict => return None,
                    None => continue,
                }
            };
            if std::mem::replace(&mut self.seen[index], true) {
                return None;
            }
            hint = index + 1;
            append(
                &mut self.columns[index],
                &text[span.value.clone()],
                self.exact,
            )?;
        }
        for (column, seen) in self.columns.iter_mut().zip(&self.seen) {
            if !seen {
                if !column.nullable {
                    return None;
                }
                append_null(column);
            }
        }
        Some(())
    }
}

fn builder(kind: &ColumnKind, data_type: &DataType, capacity: usize) -> Box<dyn ArrayBuilder> {
    match kind {
        ColumnKind::Int => Box::new(Int64Builder::with_capacity(capacity)),
        ColumnKind::Float => Box::new(Float64Builder::with_capacity(capacity)),
        ColumnKind::Bool => Box::new(BooleanBuilder::with_capacity(capacity)),
        ColumnKind::Utf8 => Box::new(StringBuilder::with_capacity(capacity, capacity * 8)),
        ColumnKind::Date => Box::new(Date32Builder::with_capacity(capacity)),
        ColumnKind::Timestamp { nanos: false, .. } => Box::new(
            TimestampMicrosecondBuilder::with_capacity(capacity).with_data_type(data_type.clone()),
        ),
        ColumnKind::Timestamp { nanos: true, .. } => Box::new(
            TimestampNanosecondBuilder::with_capacity(capacity).with_data_type(data_type.clone()),
        ),
    }
}

fn downcast<B: 'static>(column: &mut Column) -> &mut B {
    column
        .builder
        .as_any_mut()
        .downcast_mut::<B>()
        .expect("the builder matches its column kind")
}

fn append_null(column: &mut Column) {
    match column.kind {
        ColumnKind::Int => downcast::<Int64Builder>(column).append_null(),
        ColumnKind::Float => downcast::<Float64Builder>(column).append_null(),
        ColumnKind::Bool => downcast::<BooleanBuilder>(column).append_null(),
        ColumnKind::Utf8 => downcast::<StringBuilder>(column).append_null(),
        ColumnKind::Date => downcast::<Date32Builder>(column).append_null(),
        ColumnKind::Timestamp { nanos: false, .. } => {
            downcast::<TimestampMicrosecondBuilder>(column).append_null()
        }
        ColumnKind::Timestamp { nanos: true, .. } => {
            downcast::<TimestampNanosecondBuilder>(column).append_null()
        }
    }
}

/// The text of a JSON string without escapes; `None` for anything else.
fn plain_text(raw: &str) -> Option<&str> {
    let bytes = raw.as_bytes();
    if Kind::of(bytes) != Kind::String || bytes.contains(&b'\\') {
        return None;
    }
    Some(&raw[1..raw.len() - 1])
}

/// Byte equality for short keys, inlined (a call into libc's memcmp costs more than the
/// comparison).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().expect("8 bytes"));
    if !(&mut x).zip(&mut y).all(|(p, q)| word(p) == word(q)) {
        return false;
    }
    x.remainder()
        .iter()
        .zip(y.remainder())
        .fold(true, |same, (p, q)| same & (p == q))
}

/// Appends one value (valid JSON text) to its column; `None` to give up. With `exact`, also
/// gives up on values that inference would type otherwise.
fn append(column: &mut Column, raw: &str, exact: bool) -> Option<()> {
    if raw == "null" {
        if !column.nullable {
            return None;
        }
        append_null(column);
        return Some(());
    }
    let number = || (Kind::of(raw.as_bytes()) == Kind::Number).then_some(raw);
    match column.kind.clone() {
        ColumnKind::Int => {
            // Inference reads `-0` as a float (serde_json keeps its sign).
            if exact && raw == "-0" {
                return None;
            }
            let value: i64 = number()?.parse().ok()?;
            downcast::<Int64Builder>(column).append_value(value);
        }
        ColumnKind::Float => {
            let value: f64 = number()?.parse().ok()?;
            // A number too large for a float is refused by arrow-json's path. Inference
            // (serde_json) rounds otherwise than `parse` near the largest float: in exact
            // mode leave those to inference.
            if value.is_infinite() || (exact && value.abs() >= 1e308) {
                return None;
            }
            downcast::<Float64Builder>(column).append_value(value);
        }
        ColumnKind::Bool => {
            let value = match raw {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            downcast::<BooleanBuilder>(column).append_value(value);
        }
        ColumnKind::Utf8 => match plain_text(raw) {
            Some(text) => downcast::<StringBuilder>(column).append_value(text),
            None if Kind::of(raw.as_bytes()) == Kind::String => {
                let text = scan::unescape(raw.as_bytes())?;
                downcast::<StringBuilder>(column).append_value(text);
            }
            None => return None,
        },
        ColumnKind::Date => {
            // Anything but a plain date (a date-time, a number) is judged by arrow-json's path.
            let text = plain_text(raw)?;
            if !infer::is_date(text.as_bytes()) {
                return None;
            }
            let days = Date32Type::parse(text)?;
            downcast::<Date32Builder>(column).append_value(days);
        }
        ColumnKind::Timestamp { nanos, tz } => {
            // A fraction finer than the column keeps is judged by arrow-json's path.
            let text = plain_text(raw)?;
            let shape = infer::parse_datetime(text)?;
            if !nanos && shape.nanos {
                return None;
            }
            if exact && (shape.offset != tz.is_some() || (nanos && shape.beyond_nanos)) {
                return None;
            }
            let (micros, ns) = match &tz {
                Some(tz) => {
                    let t = string_to_datetime(tz, text).ok()?;
                    (t.timestamp_micros(), t.timestamp_nanos_opt())
                }
                None => {
                    let t = string_to_datetime(&chrono::Utc, text).ok()?;
                    (t.timestamp_micros(), t.timestamp_nanos_opt())
                }
            };
            if nanos {
                downcast::<TimestampNanosecondBuilder>(column).append_value(ns?);
            } else {
                downcast::<TimestampMicrosecondBuilder>(column).append_value(micros);
            }
        }
    }
    Some(())
}
