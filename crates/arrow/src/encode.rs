//! Arrow arrays to JSON records, with one documented mapping for every Arrow type.
//!
//! | Arrow | JSON |
//! |---|---|
//! | null values | `null` (fields are always written, never left out) |
//! | integers | numbers |
//! | floats | shortest round-tripping numbers; NaN and ±infinity as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` |
//! | decimals | numbers with exactly the stored digits (no binary rounding) |
//! | strings | strings |
//! | binary | base64 strings (RFC 4648, padded) |
//! | dates | `"YYYY-MM-DD"` |
//! | timestamps with a time zone | RFC 3339 in UTC: `"2013-01-01T10:00:00Z"` |
//! | timestamps without one (also Parquet INT96) | RFC 3339 without offset: `"2013-01-01T10:00:00"` |
//! | times | `"HH:MM:SS"` with a fraction when there is one |
//! | durations | integers in the column's unit |
//! | intervals and anything else | the string Arrow displays |
//! | structs | objects |
//! | lists | arrays |
//! | maps | objects when the keys are strings, else arrays of `{"key","value"}` |
//! | dictionaries, run-end encoded | their values |

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType, OffsetSizeTrait, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{ArrowError, DataType, TimeUnit};
use base64::Engine;
use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::json_string;

/// Writes each row of `batch` as one JSON object line into `out`, calling `row_done` after
/// each row with the output so far (so callers can flush or add fields).
pub struct BatchEncoder {
    keys: Vec<Vec<u8>>,
}

impl BatchEncoder {
    /// Prepares the `"name":` prefixes for a batch's schema.
    pub fn new(schema: &arrow_schema::Schema) -> Self {
        let keys = schema
            .fields()
            .iter()
            .map(|f| {
                let mut key = Vec::new();
                json_string(&mut key, f.name().as_bytes());
                key.push(b':');
                key
            })
            .collect();
        BatchEncoder { keys }
    }

    /// Encodes every row of `batch`; `extra` (already JSON, e.g. `,"file":"a.parquet"`) is
    /// appended inside each object. Each line ends with `\n`; `row_done` sees the buffer after
    /// each row and may drain it.
    pub fn encode(
        &self,
        batch: &RecordBatch,
        extra: &[u8],
        out: &mut Vec<u8>,
        mut row_done: impl FnMut(&mut Vec<u8>) -> sluice_stream::Result<()>,
    ) -> sluice_stream::Result<()> {
        let schema = batch.schema();
        let mut columns = batch
            .columns()
            .iter()
            .zip(schema.fields())
            .map(|(c, f)| make_field_encoder(f, c.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| sluice_stream::Error::Other(format!("cannot encode as JSON: {e}")))?;
        for row in 0..batch.num_rows() {
            out.push(b'{');
            for (i, (key, column)) in self.keys.iter().zip(columns.iter_mut()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(key);
                column.write(row, out);
            }
            if !extra.is_empty() {
                if !self.keys.is_empty() {
                    out.push(b',');
                }
                out.extend_from_slice(extra);
            }
            out.extend_from_slice(b"}\n");
            row_done(out)?;
        }
        Ok(())
    }
}

/// Writes one array element as JSON.
trait Encode {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>);
}

/// An element encoder that writes `null` for null slots.
pub struct ValueEncoder {
    nulls: Option<NullBuffer>,
    inner: Box<dyn Encode>,
}

impl ValueEncoder {
    /// Writes element `idx`.
    pub fn write(&mut self, idx: usize, out: &mut Vec<u8>) {
        match &self.nulls {
            Some(nulls) if nulls.is_null(idx) => out.extend_from_slice(b"null"),
            _ => self.inner.encode(idx, out),
        }
    }
}

/// Builds the encoder for a field's array: a string column of the `arrow.json` extension type
/// holds JSON text and is written as that JSON (when it is valid JSON).
pub fn make_field_encoder(
    field: &arrow_schema::Field,
    array: &dyn Array,
) -> Result<ValueEncoder, ArrowError> {
    if !crate::schema::is_json_field(field) || array.data_type() != &DataType::Utf8 {
        return make_encoder(array);
    }
    let a = array.as_string::<i32>().clone();
    Ok(ValueEncoder {
        nulls: array.logical_nulls(),
        inner: Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
            let text = a.value(i);
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                sluice_stream::json::write_compact(out, text.as_bytes());
            } else {
                json_string(out, text.as_bytes());
            }
        })),
    })
}

/// Builds the encoder for an array (cheap: arrays are reference counted, not copied).
pub fn make_encoder(array: &dyn Array) -> Result<ValueEncoder, ArrowError> {
    let nulls = array.logical_nulls();
    let inner: Box<dyn Encode> = match array.data_type() {
        DataType::Null => Box::new(NullEncoder),
        DataType::Boolean => Box::new(BoolEncoder(array.as_boolean().clone())),
        DataType::Int8 => int::<Int8Type>(array),
        DataType::Int16 => int::<Int16Type>(array),
        DataType::Int32 => int::<Int32Type>(array),
        DataType::Int64 => int::<Int64Type>(array),
        DataType::UInt8 => int::<UInt8Type>(array),
        DataType::UInt16 => int::<UInt16Type>(array),
        DataType::UInt32 => int::<UInt32Type>(array),
        DataType::UInt64 => int::<UInt64Type>(array),
        DataType::Duration(TimeUnit::Second) => int::<DurationSecondType>(array),
        DataType::Duration(TimeUnit::Millisecond) => int::<DurationMillisecondType>(array),
        DataType::Duration(TimeUnit::Microsecond) => int::<DurationMicrosecondType>(array),
        DataType::Duration(TimeUnit::Nanosecond) => int::<DurationNanosecondType>(array),
        DataType::Float16 => {
            let a = array.as_primitive::<Float16Type>().clone();
            Box::new(FloatEncoder(move |i| f64::from(a.value(i).to_f32())))
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>().clone();
            Box::new(Float32Encoder(a))
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>().clone();
            Box::new(FloatEncoder(move |i| a.value(i)))
        }
        DataType::Decimal32(_, s) => decimal::<Decimal32Type>(array, *s),
        DataType::Decimal64(_, s) => decimal::<Decimal64Type>(array, *s),
        DataType::Decimal128(_, s) => decimal::<Decimal128Type>(array, *s),
        DataType::Decimal256(_, s) => decimal::<Decimal256Type>(array, *s),
        DataType::Utf8 => {
            let a = array.as_string::<i32>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                json_string(out, a.value(i).as_bytes())
            }))
        }
        DataType::LargeUtf8 => {
            let a = array.as_string::<i64>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                json_string(out, a.value(i).as_bytes())
            }))
        }
        DataType::Utf8View => {
            let a = array.as_string_view().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                json_string(out, a.value(i).as_bytes())
            }))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                base64_string(out, a.value(i))
            }))
        }
        DataType::LargeBinary => {
            let a = array.as_binary::<i64>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                base64_string(out, a.value(i))
            }))
        }
        DataType::BinaryView => {
            let a = array.as_binary_view().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                base64_string(out, a.value(i))
            }))
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                base64_string(out, a.value(i))
            }))
        }
        DataType::Date32 => {
            let a = array.as_primitive::<Date32Type>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let days = i64::from(a.value(i));
                write_datetime(out, days * 86_400, 0, DateTimeForm::Date)
            }))
        }
        DataType::Date64 => {
            let a = array.as_primitive::<Date64Type>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let ms = a.value(i);
                write_datetime(out, ms.div_euclid(1000), 0, DateTimeForm::Date)
            }))
        }
        DataType::Timestamp(unit, tz) => {
            let form = if tz.is_some() {
                DateTimeForm::Utc
            } else {
                DateTimeForm::Local
            };
            match unit {
                TimeUnit::Second => timestamp::<TimestampSecondType>(array, 1, form),
                TimeUnit::Millisecond => timestamp::<TimestampMillisecondType>(array, 1_000, form),
                TimeUnit::Microsecond => {
                    timestamp::<TimestampMicrosecondType>(array, 1_000_000, form)
                }
                TimeUnit::Nanosecond => {
                    timestamp::<TimestampNanosecondType>(array, 1_000_000_000, form)
                }
            }
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            list_encoder(list.value_offsets(), list.values().as_ref())?
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            list_encoder(list.value_offsets(), list.values().as_ref())?
        }
        DataType::FixedSizeList(_, size) => {
            let list = array.as_fixed_size_list();
            let size = *size as usize;
            let mut values = make_encoder(list.values().as_ref())?;
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                out.push(b'[');
                for j in 0..size {
                    if j > 0 {
                        out.push(b',');
                    }
                    values.write(i * size + j, out);
                }
                out.push(b']');
            }))
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let keys: Vec<Vec<u8>> = fields.iter().map(|f| key_prefix(f.name())).collect();
            let mut columns = s
                .columns()
                .iter()
                .zip(fields)
                .map(|(c, f)| make_field_encoder(f, c.as_ref()))
                .collect::<Result<Vec<_>, _>>()?;
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                out.push(b'{');
                for (j, (key, column)) in keys.iter().zip(columns.iter_mut()).enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(key);
                    column.write(i, out);
                }
                out.push(b'}');
            }))
        }
        DataType::Map(_, _) => {
            let map = array.as_map();
            let string_keys = matches!(
                map.key_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            );
            let offsets = map.value_offsets().to_vec();
            let mut keys = make_encoder(map.keys().as_ref())?;
            let mut values = make_encoder(map.values().as_ref())?;
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                out.push(if string_keys { b'{' } else { b'[' });
                for j in start..end {
                    if j > start {
                        out.push(b',');
                    }
                    if string_keys {
                        keys.write(j, out);
                        out.push(b':');
                    } else {
                        out.extend_from_slice(b"{\"key\":");
                        keys.write(j, out);
                        out.extend_from_slice(b",\"value\":");
                    }
                    values.write(j, out);
                    if !string_keys {
                        out.push(b'}');
                    }
                }
                out.push(if string_keys { b'}' } else { b']' });
            }))
        }
        DataType::Dictionary(_, value_type) => {
            let plain = arrow_cast::cast(array, value_type)?;
            return make_encoder(plain.as_ref());
        }
        DataType::RunEndEncoded(_, values) => {
            let plain = arrow_cast::cast(array, values.data_type())?;
            return make_encoder(plain.as_ref());
        }
        DataType::Time32(_) | DataType::Time64(_) => display_encoder(array, true)?,
        _ => display_encoder(array, true)?,
    };
    Ok(ValueEncoder { nulls, inner })
}

/// The `"name":` prefix of a field.
pub fn key_prefix(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 3);
    json_string(&mut key, name.as_bytes());
    key.push(b':');
    key
}

struct NullEncoder;

impl Encode for NullEncoder {
    fn encode(&mut self, _idx: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"null");
    }
}

struct BoolEncoder(arrow_array::BooleanArray);

impl Encode for BoolEncoder {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.0.value(idx) { b"true" } else { b"false" });
    }
}

/// Any encoder written as a closure over an owned (reference counted) array.
struct BytesEncoder<F>(F);

impl<F: FnMut(usize, &mut Vec<u8>)> Encode for BytesEncoder<F> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        (self.0)(idx, out)
    }
}

fn int<T>(array: &dyn Array) -> Box<dyn Encode>
where
    T: ArrowPrimitiveType,
    T::Native: itoa::Integer,
{
    let a = array.as_primitive::<T>().clone();
    let mut buf = itoa::Buffer::new();
    Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        out.extend_from_slice(buf.format(a.value(i)).as_bytes())
    }))
}

struct FloatEncoder<F>(F);

impl<F: FnMut(usize) -> f64> Encode for FloatEncoder<F> {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        write_f64(out, (self.0)(idx));
    }
}

struct Float32Encoder(arrow_array::Float32Array);

impl Encode for Float32Encoder {
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.0.value(idx);
        if v.is_finite() {
            out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
        } else {
            write_f64(out, f64::from(v));
        }
    }
}

/// Writes a float as the shortest number that reads back the same; NaN and infinities as
/// strings, since JSON has no literal for them.
pub fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
    } else if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

fn decimal<T: DecimalType>(array: &dyn Array, scale: i8) -> Box<dyn Encode> {
    let a = array.as_primitive::<T>().clone();
    Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        out.extend_from_slice(T::format_decimal(a.value(i), T::MAX_PRECISION, scale).as_bytes())
    }))
}

fn base64_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    out.resize(
        start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
        0,
    );
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
    out.push(b'"');
}

fn timestamp<T: ArrowPrimitiveType<Native = i64>>(
    array: &dyn Array,
    per_second: i64,
    form: DateTimeForm,
) -> Box<dyn Encode> {
    let a = array.as_primitive::<T>().clone();
    Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        let v = a.value(i);
        let secs = v.div_euclid(per_second);
        let nanos = (v.rem_euclid(per_second) * (1_000_000_000 / per_second)) as u32;
        write_datetime(out, secs, nanos, form)
    }))
}

/// How a point in time is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateTimeForm {
    /// `YYYY-MM-DD`
    Date,
    /// RFC 3339 without offset (a timestamp with no time zone).
    Local,
    /// RFC 3339 in UTC with `Z`.
    Utc,
}

/// Writes seconds (and nanoseconds) since the Unix epoch as a quoted date or RFC 3339 string.
pub fn write_datetime(out: &mut Vec<u8>, secs: i64, nanos: u32, form: DateTimeForm) {
    let Some(dt) = chrono::DateTime::from_timestamp(secs, nanos).map(|d| d.naive_utc()) else {
        out.extend_from_slice(b"null");
        return;
    };
    out.push(b'"');
    write_date(out, &dt);
    if form != DateTimeForm::Date {
        out.push(b'T');
        write_two(out, dt.hour());
        out.push(b':');
        write_two(out, dt.minute());
        out.push(b':');
        write_two(out, dt.second());
        write_fraction(out, dt.nanosecond());
        if form == DateTimeForm::Utc {
            out.push(b'Z');
        }
    }
    out.push(b'"');
}

fn write_date(out: &mut Vec<u8>, dt: &NaiveDateTime) {
    let year = dt.year();
    if (0..=9999).contains(&year) {
        let y = year as u32;
        write_two(out, y / 100);
        write_two(out, y % 100);
    } else {
        out.extend_from_slice(format!("{year:+}").as_bytes());
    }
    out.push(b'-');
    write_two(out, dt.month());
    out.push(b'-');
    write_two(out, dt.day());
}

fn write_two(out: &mut Vec<u8>, v: u32) {
    out.push(b'0' + (v / 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Writes `.fff`, `.ffffff` or `.fffffffff`, the shortest that is exact; nothing for zero.
fn write_fraction(out: &mut Vec<u8>, nanos: u32) {
    if nanos == 0 {
        return;
    }
    let (value, digits) = if nanos.is_multiple_of(1_000_000) {
        (nanos / 1_000_000, 3)
    } else if nanos.is_multiple_of(1_000) {
        (nanos / 1_000, 6)
    } else {
        (nanos, 9)
    };
    out.push(b'.');
    let text = format!("{value:0digits$}");
    out.extend_from_slice(text.as_bytes());
}

fn list_encoder<O: OffsetSizeTrait>(
    offsets: &[O],
    values: &dyn Array,
) -> Result<Box<dyn Encode>, ArrowError> {
    let offsets: Vec<usize> = offsets.iter().map(|o| o.as_usize()).collect();
    let mut values = make_encoder(values)?;
    Ok(Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        out.push(b'[');
        for j in offsets[i]..offsets[i + 1] {
            if j > offsets[i] {
                out.push(b',');
            }
            values.write(j, out);
        }
        out.push(b']');
    })))
}

/// Falls back to Arrow's own display of a value, as a JSON string.
fn display_encoder(array: &dyn Array, quoted: bool) -> Result<Box<dyn Encode>, ArrowError> {
    let owned: ArrayRef = arrow_array::make_array(array.to_data());
    let mut text = String::new();
    // Validate that the type can be displayed before the first row.
    ArrayFormatter::try_new(owned.as_ref(), &FormatOptions::default())?;
    Ok(Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        use std::fmt::Write;
        let formatter = ArrayFormatter::try_new(owned.as_ref(), &FormatOptions::default())
            .expect("checked above");
        text.clear();
        let _ = write!(text, "{}", formatter.value(i));
        if quoted {
            json_string(out, text.as_bytes());
        } else {
            out.extend_from_slice(text.as_bytes());
        }
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::builder::*;
    use arrow_array::*;
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    fn encode(columns: Vec<(&str, ArrayRef)>) -> String {
        let fields: Vec<Field> = columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns.into_iter().map(|(_, a)| a).collect(),
        )
        .unwrap();
        let mut out = Vec::new();
        BatchEncoder::new(&batch.schema())
            .encode(&batch, b"", &mut out, |_| Ok(()))
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_never_produce_invalid_json() {
        let out = encode(vec![(
            "f",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(f64::NAN),
                Some(f64::NEG_INFINITY),
                None,
                Some(1e300),
            ])),
        )]);
        assert_eq!(
            out,
            "{\"f\":1.5}\n{\"f\":\"NaN\"}\n{\"f\":\"-Infinity\"}\n{\"f\":null}\n{\"f\":1e300}\n"
        );
    }

    #[test]
    fn decimals_keep_their_digits() {
        let a = Decimal128Array::from(vec![Some(12345678901234567890123i128), Some(-5), None])
            .with_precision_and_scale(38, 4)
            .unwrap();
        let out = encode(vec![("d", Arc::new(a))]);
        assert_eq!(
            out,
            "{\"d\":1234567890123456789.0123}\n{\"d\":-0.0005}\n{\"d\":null}\n"
        );
    }

    #[test]
    fn timestamps_are_rfc_3339() {
        let utc = TimestampMicrosecondArray::from(vec![1_356_998_400_000_000, -1])
            .with_timezone("America/New_York");
        let naive = TimestampNanosecondArray::from(vec![1_356_998_400_123_456_789, 0]);
        let date = Date32Array::from(vec![15706, -1]);
        let out = encode(vec![
            ("u", Arc::new(utc)),
            ("n", Arc::new(naive)),
            ("d", Arc::new(date)),
        ]);
        assert_eq!(
            out,
            "{\"u\":\"2013-01-01T00:00:00Z\",\"n\":\"2013-01-01T00:00:00.123456789\",\"d\":\"2013-01-01\"}\n\
             {\"u\":\"1969-12-31T23:59:59.999999Z\",\"n\":\"1970-01-01T00:00:00\",\"d\":\"1969-12-31\"}\n"
        );
    }

    #[test]
    fn nested_values_become_objects_and_arrays() {
        let mut list = ListBuilder::new(Int32Builder::new());
        list.values().append_value(1);
        list.values().append_null();
        list.append(true);
        list.append(false);
        let list = Arc::new(list.finish()) as ArrayRef;
        let strukt = StructArray::from(vec![(
            Arc::new(Field::new("s", DataType::Utf8, true)),
            Arc::new(StringArray::from(vec![Some("a\"b"), None])) as ArrayRef,
        )]);
        let mut map = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
        map.keys().append_value("k");
        map.values().append_value(7);
        map.append(true).unwrap();
        map.append(true).unwrap();
        let bin = BinaryArray::from(vec![Some(&b"\x00\xff"[..]), Some(b"")]);
        let out = encode(vec![
            ("l", list),
            ("s", Arc::new(strukt)),
            ("m", Arc::new(map.finish())),
            ("b", Arc::new(bin)),
        ]);
        assert_eq!(
            out,
            "{\"l\":[1,null],\"s\":{\"s\":\"a\\\"b\"},\"m\":{\"k\":7},\"b\":\"AP8=\"}\n\
             {\"l\":null,\"s\":{\"s\":null},\"m\":{},\"b\":\"\"}\n"
        );
    }

    #[test]
    fn dictionaries_write_their_values() {
        let dict: DictionaryArray<Int8Type> = vec!["x", "y", "x"].into_iter().collect();
        let out = encode(vec![("d", Arc::new(dict))]);
        assert_eq!(out, "{\"d\":\"x\"}\n{\"d\":\"y\"}\n{\"d\":\"x\"}\n");
    }
}
