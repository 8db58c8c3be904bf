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
//! | UUIDs (`arrow.uuid`, Parquet's UUID) | `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"` |
//! | JSON text (`arrow.json`, Parquet's JSON) | the JSON value itself |
//! | dates | `"YYYY-MM-DD"` |
//! | timestamps with a time zone | RFC 3339 in UTC: `"2013-01-01T10:00:00Z"` |
//! | timestamps without one (also Parquet INT96) | RFC 3339 without offset: `"2013-01-01T10:00:00"` |
//! | times | `"HH:MM:SS"` with a fraction when there is one; a value outside the day keeps its sign and hours (`"25:00:00"`) |
//! | durations | ISO 8601 durations in hours, minutes and seconds: `"PT1H0.5S"`, `"PT-5S"` |
//! | intervals | ISO 8601 durations: `"P1Y2M3DT4H5M6.5S"` (each part with its own sign) |
//! | unions | the chosen member's value |
//! | structs | objects |
//! | lists | arrays |
//! | maps | objects when the keys are strings, else arrays of `{"key","value"}` |
//! | dictionaries, run-end encoded | their values |

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, OffsetSizeTrait, RecordBatch};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType, IntervalUnit, TimeUnit};
use base64::Engine;

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

/// Builds the encoder for a field's array. Two canonical extension types change how a column
/// is written: `arrow.json` (Parquet's JSON logical type) holds JSON text, written as that JSON
/// when it is valid JSON; `arrow.uuid` (Parquet's UUID) is written in the canonical
/// `8-4-4-4-12` hexadecimal form.
pub fn make_field_encoder(
    field: &arrow_schema::Field,
    array: &dyn Array,
) -> Result<ValueEncoder, ArrowError> {
    let extension = field
        .metadata()
        .get("ARROW:extension:name")
        .map(String::as_str);
    let inner: Box<dyn Encode> = match (extension, array.data_type()) {
        (
            Some(crate::schema::JSON_EXTENSION),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View,
        ) => {
            let text = arrow_cast::cast(array, &DataType::Utf8)?;
            let a = text.as_string::<i32>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let text = a.value(i);
                if serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
                    sluice_stream::json::write_compact(out, text.as_bytes());
                } else {
                    json_string(out, text.as_bytes());
                }
            }))
        }
        (Some(UUID_EXTENSION), DataType::FixedSizeBinary(16)) => {
            let a = array.as_fixed_size_binary().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                uuid_string(out, a.value(i))
            }))
        }
        _ => return make_encoder(array),
    };
    Ok(ValueEncoder {
        nulls: array.logical_nulls(),
        inner,
    })
}

/// The Arrow extension type name of a UUID column (16 bytes a value).
const UUID_EXTENSION: &str = "arrow.uuid";

/// Writes 16 bytes as a quoted UUID: `"xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"`, lower case.
fn uuid_string(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 15)]);
    }
    out.push(b'"');
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
        DataType::Duration(TimeUnit::Second) => {
            duration_encoder::<DurationSecondType>(array, 1_000_000_000)
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            duration_encoder::<DurationMillisecondType>(array, 1_000_000)
        }
        DataType::Duration(TimeUnit::Microsecond) => {
            duration_encoder::<DurationMicrosecondType>(array, 1_000)
        }
        DataType::Duration(TimeUnit::Nanosecond) => {
            duration_encoder::<DurationNanosecondType>(array, 1)
        }
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
        DataType::List(item) => {
            let list = array.as_list::<i32>();
            list_encoder(list.value_offsets(), item, list.values().as_ref())?
        }
        DataType::LargeList(item) => {
            let list = array.as_list::<i64>();
            list_encoder(list.value_offsets(), item, list.values().as_ref())?
        }
        DataType::ListView(item) => list_view_encoder(array.as_list_view::<i32>(), item)?,
        DataType::LargeListView(item) => list_view_encoder(array.as_list_view::<i64>(), item)?,
        DataType::FixedSizeList(item, size) => {
            let list = array.as_fixed_size_list();
            let size = *size as usize;
            let mut values = make_field_encoder(item, list.values().as_ref())?;
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
        DataType::Union(fields, _) => {
            // A union's value is its chosen child's: children by type id.
            let union = array.as_union().clone();
            let mut children: Vec<Option<ValueEncoder>> = Vec::new();
            for (type_id, field) in fields.iter() {
                let at = type_id as u8 as usize;
                children.resize_with(children.len().max(at + 1), || None);
                children[at] = Some(make_field_encoder(field, union.child(type_id).as_ref())?);
            }
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let type_id = union.type_id(i);
                match children
                    .get_mut(type_id as u8 as usize)
                    .and_then(Option::as_mut)
                {
                    Some(child) => child.write(union.value_offset(i), out),
                    None => out.extend_from_slice(b"null"),
                }
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
        DataType::Interval(IntervalUnit::YearMonth) => {
            let a = array.as_primitive::<IntervalYearMonthType>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                write_interval(out, i64::from(a.value(i)), 0, 0)
            }))
        }
        DataType::Interval(IntervalUnit::DayTime) => {
            let a = array.as_primitive::<IntervalDayTimeType>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let v = a.value(i);
                let nanos = i64::from(v.milliseconds) * 1_000_000;
                write_interval(out, 0, i64::from(v.days), nanos.into())
            }))
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let a = array.as_primitive::<IntervalMonthDayNanoType>().clone();
            Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
                let v = a.value(i);
                write_interval(
                    out,
                    i64::from(v.months),
                    i64::from(v.days),
                    v.nanoseconds.into(),
                )
            }))
        }
        DataType::Time32(TimeUnit::Second) => {
            time_encoder::<Time32SecondType>(array, 1_000_000_000)
        }
        DataType::Time32(TimeUnit::Millisecond) => {
            time_encoder::<Time32MillisecondType>(array, 1_000_000)
        }
        DataType::Time64(TimeUnit::Microsecond) => {
            time_encoder::<Time64MicrosecondType>(array, 1_000)
        }
        DataType::Time64(TimeUnit::Nanosecond) => time_encoder::<Time64NanosecondType>(array, 1),
        DataType::Time32(unit) | DataType::Time64(unit) => {
            return Err(ArrowError::InvalidArgumentError(format!(
                "{:?} cannot hold times in {unit:?}",
                array.data_type()
            )))
        }
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
/// Every value has its date: years past 9999 or before 0 are written with a sign (ISO 8601's
/// expanded form, `"+275760-09-13"`), never left out.
pub fn write_datetime(out: &mut Vec<u8>, secs: i64, nanos: u32, form: DateTimeForm) {
    let (days, time) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    out.push(b'"');
    write_date(out, days);
    if form != DateTimeForm::Date {
        out.push(b'T');
        write_two(out, time / 3600);
        out.push(b':');
        write_two(out, time / 60 % 60);
        out.push(b':');
        write_two(out, time % 60);
        write_fraction(out, nanos);
        if form == DateTimeForm::Utc {
            out.push(b'Z');
        }
    }
    out.push(b'"');
}

/// Writes the proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, in 128-bit arithmetic so that no day number overflows).
fn write_date(out: &mut Vec<u8>, days: i64) {
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i128::from(month <= 2);
    if (0..=9999).contains(&year) {
        let y = year as u32;
        write_two(out, y / 100);
        write_two(out, y % 100);
    } else {
        out.extend_from_slice(format!("{year:+05}").as_bytes());
    }
    out.push(b'-');
    write_two(out, month);
    out.push(b'-');
    write_two(out, day);
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
    item: &arrow_schema::Field,
    values: &dyn Array,
) -> Result<Box<dyn Encode>, ArrowError> {
    let ranges = offsets
        .windows(2)
        .map(|w| w[0].as_usize()..w[1].as_usize())
        .collect();
    ranges_encoder(ranges, item, values)
}

/// A list view's elements are `sizes[i]` values from `offsets[i]`, in any order or overlap.
fn list_view_encoder<O: OffsetSizeTrait>(
    list: &arrow_array::GenericListViewArray<O>,
    item: &arrow_schema::Field,
) -> Result<Box<dyn Encode>, ArrowError> {
    let ranges = list
        .value_offsets()
        .iter()
        .zip(list.value_sizes())
        .map(|(o, n)| o.as_usize()..o.as_usize() + n.as_usize())
        .collect();
    ranges_encoder(ranges, item, list.values().as_ref())
}

/// Writes row `i` as a JSON array of the values in `ranges[i]`.
fn ranges_encoder(
    ranges: Vec<std::ops::Range<usize>>,
    item: &arrow_schema::Field,
    values: &dyn Array,
) -> Result<Box<dyn Encode>, ArrowError> {
    let mut values = make_field_encoder(item, values)?;
    Ok(Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        out.push(b'[');
        let range: &std::ops::Range<usize> = &ranges[i];
        for (n, j) in range.clone().enumerate() {
            if n > 0 {
                out.push(b',');
            }
            values.write(j, out);
        }
        out.push(b']');
    })))
}

/// Writes an interval as a quoted ISO 8601 duration, as PostgreSQL's `iso_8601` style does:
/// months as years and months, then days, then the time as hours, minutes and seconds with a
/// fraction; each part keeps its own sign (`"P1Y2M-3DT4H5M6.5S"`), and nothing is `"PT0S"`.
/// Months and days are not turned into each other: their lengths vary.
fn write_interval(out: &mut Vec<u8>, months: i64, days: i64, nanos: i128) {
    use std::fmt::Write;
    let mut text = String::from("P");
    let (years, months) = (months / 12, months % 12);
    for (n, unit) in [(years, 'Y'), (months, 'M'), (days, 'D')] {
        if n != 0 {
            let _ = write!(text, "{n}{unit}");
        }
    }
    let (hours, rest) = (nanos / 3_600_000_000_000, nanos % 3_600_000_000_000);
    let (minutes, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    if hours != 0 || minutes != 0 || rest != 0 || text.len() == 1 {
        text.push('T');
        for (n, unit) in [(hours, 'H'), (minutes, 'M')] {
            if n != 0 {
                let _ = write!(text, "{n}{unit}");
            }
        }
        if rest != 0 || text.ends_with('T') {
            if rest < 0 {
                text.push('-');
            }
            let (secs, fraction) = (
                rest.unsigned_abs() / 1_000_000_000,
                rest.unsigned_abs() % 1_000_000_000,
            );
            let _ = write!(text, "{secs}");
            if fraction != 0 {
                let digits = format!(".{fraction:09}");
                text.push_str(digits.trim_end_matches('0'));
            }
            text.push('S');
        }
    }
    json_string(out, text.as_bytes());
}

/// Durations in `unit`s (`nanos_per_unit` nanoseconds each), as ISO 8601 durations without
/// days (a duration is an exact length; a day is not always 24 hours).
fn duration_encoder<T>(array: &dyn Array, nanos_per_unit: i64) -> Box<dyn Encode>
where
    T: ArrowPrimitiveType<Native = i64>,
{
    let durations = array.as_primitive::<T>().clone();
    Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        let nanos = i128::from(durations.value(i)) * i128::from(nanos_per_unit);
        write_interval(out, 0, 0, nanos);
    }))
}

/// Times of day in `unit`s (`nanos_per_unit` nanoseconds each).
fn time_encoder<T>(array: &dyn Array, nanos_per_unit: i64) -> Box<dyn Encode>
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let times = array.as_primitive::<T>().clone();
    Box::new(BytesEncoder(move |i, out: &mut Vec<u8>| {
        let value: i64 = times.value(i).into();
        write_time(out, i128::from(value) * i128::from(nanos_per_unit));
    }))
}

/// Writes a time of day as `"HH:MM:SS[.fff]"`. Parquet and Arrow do not forbid a value outside
/// the day: it keeps its sign and its hours past 23 (`"-00:00:01"`, `"25:00:00"`) rather than
/// being lost.
fn write_time(out: &mut Vec<u8>, nanos: i128) {
    out.push(b'"');
    if nanos < 0 {
        out.push(b'-');
    }
    let nanos = nanos.unsigned_abs();
    let secs = nanos / 1_000_000_000;
    let hours = secs / 3600;
    if hours < 10 {
        out.push(b'0');
    }
    out.extend_from_slice(hours.to_string().as_bytes());
    out.push(b':');
    write_two(out, ((secs / 60) % 60) as u32);
    out.push(b':');
    write_two(out, (secs % 60) as u32);
    write_fraction(out, (nanos % 1_000_000_000) as u32);
    out.push(b'"');
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
    fn times_keep_values_outside_the_day() {
        let micros = Time64MicrosecondArray::from(vec![3_600_000_000, 90_000_000_000, -5]);
        let seconds = Time32SecondArray::from(vec![59, 86_399, -3_600]);
        let out = encode(vec![("t", Arc::new(micros)), ("s", Arc::new(seconds))]);
        assert_eq!(
            out,
            "{\"t\":\"01:00:00\",\"s\":\"00:00:59\"}\n\
             {\"t\":\"25:00:00\",\"s\":\"23:59:59\"}\n\
             {\"t\":\"-00:00:00.000005\",\"s\":\"-01:00:00\"}\n"
        );
    }

    #[test]
    fn durations_carry_their_unit() {
        let seconds = DurationSecondArray::from(vec![5, 3_661, i64::MAX]);
        let nanos = DurationNanosecondArray::from(vec![5, -1_500_000_000, 0]);
        let out = encode(vec![("s", Arc::new(seconds)), ("n", Arc::new(nanos))]);
        assert_eq!(
            out,
            "{\"s\":\"PT5S\",\"n\":\"PT0.000000005S\"}\n\
             {\"s\":\"PT1H1M1S\",\"n\":\"PT-1.5S\"}\n\
             {\"s\":\"PT2562047788015215H30M7S\",\"n\":\"PT0S\"}\n"
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
