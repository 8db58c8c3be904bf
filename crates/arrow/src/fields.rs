//! Decoders for the field types arrow-json would decode too leniently: JSON text fields, and
//! numbers that must fit their column exactly. arrow-json truncates `1.5` into an integer
//! column, rounds `1.005` into `decimal(5,2)` and turns `1e300` into an infinite `float32`;
//! here each of those is an error naming the field, so the record goes through `--on-error`.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow_array::builder::{PrimitiveBuilder, StringBuilder};
use arrow_array::timezone::Tz;
use arrow_array::types::*;
use arrow_array::{ArrayRef, ArrowPrimitiveType};
use arrow_cast::parse::{parse_decimal, string_to_datetime, Parser};
use arrow_json::reader::{ArrayDecoder, DecoderContext, DecoderFactory, Tape, TapeElement};
use arrow_schema::{ArrowError, DataType, FieldRef, TimeUnit};
use chrono::{NaiveTime, Utc};

use crate::encode::write_f64;
use crate::json_string;
use crate::schema::is_json_field;

/// The decoders arrow-json is given for the fields it would decode too leniently.
#[derive(Debug)]
pub struct FieldDecoders;

impl DecoderFactory for FieldDecoders {
    fn make_default_decoder(
        &self,
        _ctx: &DecoderContext,
        field: &FieldRef,
        _is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        if is_json_field(field) {
            return Ok(Some(Box::new(JsonTextDecoder::default())));
        }
        let decoder: Box<dyn ArrayDecoder> = match field.data_type() {
            DataType::Int8 => IntDecoder::<Int8Type>::boxed(),
            DataType::Int16 => IntDecoder::<Int16Type>::boxed(),
            DataType::Int32 => IntDecoder::<Int32Type>::boxed(),
            DataType::Int64 => IntDecoder::<Int64Type>::boxed(),
            DataType::UInt8 => IntDecoder::<UInt8Type>::boxed(),
            DataType::UInt16 => IntDecoder::<UInt16Type>::boxed(),
            DataType::UInt32 => IntDecoder::<UInt32Type>::boxed(),
            DataType::UInt64 => IntDecoder::<UInt64Type>::boxed(),
            DataType::Float32 => Box::new(FloatDecoder::<Float32Type>(PhantomData)),
            DataType::Float64 => Box::new(FloatDecoder::<Float64Type>(PhantomData)),
            DataType::Timestamp(unit, tz) => {
                let tz = match tz {
                    Some(tz) => Some(tz.parse::<Tz>()?),
                    None => None,
                };
                let ty = field.data_type().clone();
                match unit {
                    TimeUnit::Second => TimestampDecoder::<TimestampSecondType>::boxed(tz, ty),
                    TimeUnit::Millisecond => {
                        TimestampDecoder::<TimestampMillisecondType>::boxed(tz, ty)
                    }
                    TimeUnit::Microsecond => {
                        TimestampDecoder::<TimestampMicrosecondType>::boxed(tz, ty)
                    }
                    TimeUnit::Nanosecond => {
                        TimestampDecoder::<TimestampNanosecondType>::boxed(tz, ty)
                    }
                }
            }
            DataType::Date32 => Box::new(DateDecoder),
            DataType::Decimal128(p, s) => DecimalDecoder::<Decimal128Type>::boxed(*p, *s),
            DataType::Decimal256(p, s) => DecimalDecoder::<Decimal256Type>::boxed(*p, *s),
            _ => return Ok(None),
        };
        Ok(Some(decoder))
    }
}

/// The text of a number (or of a string, which may spell one) at `p`; `None` for null.
fn number_text<'t>(tape: &'t Tape<'_>, p: u32) -> Result<Option<&'t str>, ArrowError> {
    match tape.get(p) {
        TapeElement::Null => Ok(None),
        TapeElement::Number(idx) | TapeElement::String(idx) => Ok(Some(tape.get_string(idx))),
        _ => Err(tape.error(p, "a number")),
    }
}

/// arrow-json names the field in front of this.
fn misfit(text: &str, why: impl std::fmt::Display) -> ArrowError {
    ArrowError::JsonError(format!("{text} {why}"))
}

/// True when writing `text` (a decimal number, perhaps with an exponent) with `scale` digits
/// after the point cuts off only zeros. Text that is not a number is left to the parser.
fn keeps_all_digits(text: &str, scale: i8) -> bool {
    let text = text.trim_ascii();
    let text = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => match saturating_exponent(&text[at + 1..]) {
            Some(e) => (&text[..at], e),
            None => return true,
        },
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|d| d.is_ascii_digit())
    {
        return true;
    }
    // A digit's place is the power of ten it stands for; places below `-scale` are cut.
    let lowest_kept = -i64::from(scale);
    let whole_cut = whole
        .bytes()
        .rev()
        .enumerate()
        .any(|(i, d)| d != b'0' && (i as i64).saturating_add(exponent) < lowest_kept);
    let fraction_cut = fraction
        .bytes()
        .enumerate()
        .any(|(i, d)| d != b'0' && exponent.saturating_sub(i as i64 + 1) < lowest_kept);
    !whole_cut && !fraction_cut
}

/// An exponent's value, held at the i64 limits when it has more digits than they allow
/// (`1e-99999999999999999999` cuts every digit); `None` when it is not an exponent.
fn saturating_exponent(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|d| d.is_ascii_digit()) {
        return None;
    }
    let magnitude = digits.parse::<i64>().unwrap_or(i64::MAX);
    Some(if negative { -magnitude } else { magnitude })
}

/// A whole number in i64 (for numbers counting a time unit); the error says why not.
fn whole_i64(text: &str, ty: &dyn std::fmt::Display) -> Result<i64, ArrowError> {
    if let Ok(v) = text.parse::<i64>() {
        return Ok(v);
    }
    if !keeps_all_digits(text, 0) {
        return Err(misfit(text, format!("is not a whole number ({ty})")));
    }
    parse_decimal::<Decimal128Type>(text, 38, 0)
        .ok()
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| misfit(text, format!("is out of range for {ty}")))
}

/// Timestamps: RFC 3339 and similar strings with no more precision than the unit keeps, or
/// whole numbers of the unit.
struct TimestampDecoder<T> {
    tz: Option<Tz>,
    /// The column's type, as the schema spells it.
    ty: DataType,
    unit: PhantomData<fn(T) -> T>,
}

impl<T: ArrowTimestampType> TimestampDecoder<T> {
    fn boxed(tz: Option<Tz>, ty: DataType) -> Box<dyn ArrayDecoder> {
        Box::new(TimestampDecoder::<T> {
            tz,
            ty,
            unit: PhantomData,
        })
    }

    /// The value of a date-time string, refused when it would lose digits or overflow.
    fn value_of(&self, text: &str) -> Result<i64, ArrowError> {
        let ty = &self.ty;
        let nanos_per_unit = match T::UNIT {
            TimeUnit::Second => 1_000_000_000,
            TimeUnit::Millisecond => 1_000_000,
            TimeUnit::Microsecond => 1_000,
            TimeUnit::Nanosecond => 1,
        };
        let not_a_time = || misfit(text, format!("is not a date-time ({ty})"));
        let (value, subsec) = match &self.tz {
            Some(tz) => {
                let t = string_to_datetime(tz, text).map_err(|_| not_a_time())?;
                (T::from_datetime(t), t.timestamp_subsec_nanos())
            }
            None => {
                let t = string_to_datetime(&Utc, text).map_err(|_| not_a_time())?;
                (T::from_datetime(t), t.timestamp_subsec_nanos())
            }
        };
        if subsec % nanos_per_unit != 0 || finer_than_nanos(text) {
            return Err(misfit(text, format!("is more precise than {ty} keeps")));
        }
        value.ok_or_else(|| misfit(text, format!("is out of range for {ty}")))
    }
}

impl<T: ArrowTimestampType> ArrayDecoder for TimestampDecoder<T> {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder =
            PrimitiveBuilder::<T>::with_capacity(pos.len()).with_data_type(self.ty.clone());
        for &p in pos {
            let value = match tape.get(p) {
                TapeElement::Null => {
                    builder.append_null();
                    continue;
                }
                TapeElement::String(idx) => self.value_of(tape.get_string(idx))?,
                TapeElement::Number(idx) => whole_i64(tape.get_string(idx), &self.ty)?,
                _ => return Err(tape.error(p, "a timestamp")),
            };
            builder.append_value(value);
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// True when a date-time's fraction of a second has non-zero digits past the ninth, which
/// arrow-cast's parser skips.
fn finer_than_nanos(text: &str) -> bool {
    let Some(dot) = text.find('.') else {
        return false;
    };
    let digits = text[dot + 1..].bytes().take_while(u8::is_ascii_digit);
    digits.skip(9).any(|d| d != b'0')
}

/// Dates: date strings, or date-times at midnight UTC, or whole numbers of days since 1970.
struct DateDecoder;

impl ArrayDecoder for DateDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = PrimitiveBuilder::<Date32Type>::with_capacity(pos.len());
        for &p in pos {
            let days = match tape.get(p) {
                TapeElement::Null => {
                    builder.append_null();
                    continue;
                }
                TapeElement::String(idx) => {
                    let text = tape.get_string(idx);
                    match string_to_datetime(&Utc, text) {
                        Ok(t) if t.time() != NaiveTime::MIN => {
                            return Err(misfit(text, "has a time of day (date)"));
                        }
                        Ok(t) => Date32Type::from_naive_date(t.date_naive()),
                        Err(_) => Date32Type::parse(text)
                            .ok_or_else(|| misfit(text, "is not a date (date)"))?,
                    }
                }
                TapeElement::Number(idx) => {
                    let text = tape.get_string(idx);
                    let days = whole_i64(text, &DataType::Date32)?;
                    i32::try_from(days).map_err(|_| misfit(text, "is out of range for date"))?
                }
                _ => return Err(tape.error(p, "a date")),
            };
            builder.append_value(days);
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// Integers: whole numbers in range only (`1.0` and `1e2` are whole; `1.5` is not).
struct IntDecoder<T>(PhantomData<fn(T) -> T>);

impl<T> IntDecoder<T>
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i128>,
{
    fn boxed() -> Box<dyn ArrayDecoder> {
        Box::new(IntDecoder::<T>(PhantomData))
    }
}

impl<T> ArrayDecoder for IntDecoder<T>
where
    T: ArrowPrimitiveType,
    T::Native: TryFrom<i128>,
{
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = PrimitiveBuilder::<T>::with_capacity(pos.len());
        let ty = T::DATA_TYPE.to_string().to_lowercase();
        for &p in pos {
            let Some(text) = number_text(tape, p)? else {
                builder.append_null();
                continue;
            };
            let wide = match text.parse::<i64>() {
                Ok(v) => i128::from(v),
                Err(_) if !keeps_all_digits(text, 0) => {
                    return Err(misfit(text, format!("is not a whole number ({ty})")))
                }
                Err(_) => parse_decimal::<Decimal128Type>(text, 38, 0)
                    .map_err(|_| misfit(text, format!("is not a number that fits {ty}")))?,
            };
            let value = T::Native::try_from(wide)
                .map_err(|_| misfit(text, format!("is out of range for {ty}")))?;
            builder.append_value(value);
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// Floats: finite numbers that stay finite in the column's width, and the words `NaN`,
/// `Infinity` and `-Infinity` (as strings, which is how JSON spells them).
struct FloatDecoder<T>(PhantomData<fn(T) -> T>);

/// A float column's type, parsed straight from the text (rounded once, correctly).
trait ParseFloat: ArrowPrimitiveType {
    fn parse(text: &str) -> Option<Self::Native>;
    fn is_infinite(v: Self::Native) -> bool;
}

impl ParseFloat for Float32Type {
    fn parse(text: &str) -> Option<f32> {
        text.parse().ok()
    }
    fn is_infinite(v: f32) -> bool {
        v.is_infinite()
    }
}

impl ParseFloat for Float64Type {
    fn parse(text: &str) -> Option<f64> {
        text.parse().ok()
    }
    fn is_infinite(v: f64) -> bool {
        v.is_infinite()
    }
}

impl<T: ParseFloat> ArrayDecoder for FloatDecoder<T> {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = PrimitiveBuilder::<T>::with_capacity(pos.len());
        for &p in pos {
            let Some(text) = number_text(tape, p)? else {
                builder.append_null();
                continue;
            };
            let ty = || T::DATA_TYPE.to_string().to_lowercase();
            let value = T::parse(text.trim_ascii())
                .ok_or_else(|| misfit(text, format!("is not a number ({})", ty())))?;
            if T::is_infinite(value) && !spells_infinity(text) {
                return Err(misfit(text, format!("is out of range for {}", ty())));
            }
            builder.append_value(value);
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// True for `inf`, `-Infinity` and the like, which parse as infinite floats on purpose.
fn spells_infinity(text: &str) -> bool {
    let word = text.trim_ascii().trim_start_matches(['+', '-']);
    word.get(..3).is_some_and(|w| w.eq_ignore_ascii_case("inf"))
}

/// Decimals: numbers with no more digits after the point than the scale keeps, and no more
/// digits in all than the precision allows.
struct DecimalDecoder<D> {
    precision: u8,
    scale: i8,
    ty: PhantomData<fn(D) -> D>,
}

impl<D: DecimalType> DecimalDecoder<D> {
    fn boxed(precision: u8, scale: i8) -> Box<dyn ArrayDecoder> {
        Box::new(DecimalDecoder::<D> {
            precision,
            scale,
            ty: PhantomData,
        })
    }
}

impl<D: DecimalType> ArrayDecoder for DecimalDecoder<D> {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = PrimitiveBuilder::<D>::with_capacity(pos.len());
        let (p, s) = (self.precision, self.scale);
        for &at in pos {
            let Some(text) = number_text(tape, at)? else {
                builder.append_null();
                continue;
            };
            if !keeps_all_digits(text, s) {
                let why = format!("has more than {s} digits after the point (decimal({p},{s}))");
                return Err(misfit(text, why));
            }
            let value = parse_decimal::<D>(text, p, s)
                .map_err(|_| misfit(text, format!("does not fit decimal({p},{s})")))?;
            builder.append_value(value);
        }
        Ok(Arc::new(builder.finish().with_precision_and_scale(p, s)?))
    }
}

#[derive(Default)]
struct JsonTextDecoder {
    text: Vec<u8>,
}

impl ArrayDecoder for JsonTextDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = StringBuilder::with_capacity(pos.len(), pos.len() * 16);
        for &p in pos {
            match tape.get(p) {
                TapeElement::Null => builder.append_null(),
                _ => {
                    self.text.clear();
                    write_tape(tape, p, &mut self.text)?;
                    builder.append_value(
                        std::str::from_utf8(&self.text)
                            .map_err(|e| ArrowError::JsonError(e.to_string()))?,
                    );
                }
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// Writes the value at `idx` as compact JSON; returns the index after it.
fn write_tape(tape: &Tape<'_>, idx: u32, out: &mut Vec<u8>) -> Result<u32, ArrowError> {
    Ok(match tape.get(idx) {
        TapeElement::StartObject(end) => {
            out.push(b'{');
            let mut cur = idx + 1;
            while cur < end {
                if cur > idx + 1 {
                    out.push(b',');
                }
                cur = write_tape(tape, cur, out)?;
                out.push(b':');
                cur = write_tape(tape, cur, out)?;
            }
            out.push(b'}');
            end + 1
        }
        TapeElement::StartList(end) => {
            out.push(b'[');
            let mut cur = idx + 1;
            while cur < end {
                if cur > idx + 1 {
                    out.push(b',');
                }
                cur = write_tape(tape, cur, out)?;
            }
            out.push(b']');
            end + 1
        }
        TapeElement::String(s) => {
            json_string(out, tape.get_string(s).as_bytes());
            idx + 1
        }
        TapeElement::Number(s) => {
            out.extend_from_slice(tape.get_string(s).as_bytes());
            idx + 1
        }
        TapeElement::True => {
            out.extend_from_slice(b"true");
            idx + 1
        }
        TapeElement::False => {
            out.extend_from_slice(b"false");
            idx + 1
        }
        TapeElement::Null => {
            out.extend_from_slice(b"null");
            idx + 1
        }
        TapeElement::I64(high) => {
            let TapeElement::I32(low) = tape.get(idx + 1) else {
                return Err(tape.error(idx, "a 64-bit integer"));
            };
            let v = (i64::from(high) << 32) | i64::from(low as u32);
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            idx + 2
        }
        TapeElement::I32(v) => {
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            idx + 1
        }
        TapeElement::F64(high) => {
            let TapeElement::F32(low) = tape.get(idx + 1) else {
                return Err(tape.error(idx, "a 64-bit float"));
            };
            write_f64(
                out,
                f64::from_bits((u64::from(high) << 32) | u64::from(low)),
            );
            idx + 2
        }
        TapeElement::F32(v) => {
            write_f64(out, f64::from(f32::from_bits(v)));
            idx + 1
        }
        TapeElement::EndObject(_) | TapeElement::EndList(_) => {
            return Err(tape.error(idx, "a value"));
        }
        _ => return Err(tape.error(idx, "a JSON value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_json::ReaderBuilder;
    use arrow_schema::{Field, Schema};

    /// Decodes `{"v": value}` into a column of `data_type`: the value as text, or the error.
    fn decode(data_type: DataType, value: &str) -> Result<String, String> {
        let schema = Arc::new(Schema::new(vec![Field::new("v", data_type, true)]));
        let mut decoder = ReaderBuilder::new(schema)
            .with_coerce_primitive(true)
            .with_decoder_factory(Arc::new(FieldDecoders))
            .build_decoder()
            .unwrap();
        let line = format!("{{\"v\":{value}}}\n");
        decoder.decode(line.as_bytes()).map_err(|e| e.to_string())?;
        let batch = decoder.flush().map_err(|e| e.to_string())?.unwrap();
        let column = batch.column(0);
        let options = arrow_cast::display::FormatOptions::default();
        let formatter = arrow_cast::display::ArrayFormatter::try_new(column, &options).unwrap();
        Ok(if column.is_null(0) {
            "null".into()
        } else {
            formatter.value(0).to_string()
        })
    }

    #[test]
    fn integers_take_whole_numbers_in_range_only() {
        for (ty, value, want) in [
            (DataType::Int8, "127", "127"),
            (DataType::Int8, "-128", "-128"),
            (DataType::Int8, "1.0", "1"),
            (DataType::Int8, "1e2", "100"),
            (DataType::Int8, "-0", "0"),
            (DataType::Int8, "\"12\"", "12"),
            (DataType::Int8, "null", "null"),
            (
                DataType::UInt64,
                "18446744073709551615",
                "18446744073709551615",
            ),
            (DataType::Int64, "12.50e1", "125"),
        ] {
            assert_eq!(
                decode(ty.clone(), value).as_deref(),
                Ok(want),
                "{ty} {value}"
            );
        }
        for (ty, value, why) in [
            (DataType::Int8, "1.5", "not a whole number"),
            (DataType::Int8, "128", "out of range"),
            (DataType::UInt8, "-1", "out of range"),
            (DataType::Int64, "9223372036854775808", "out of range"),
            (DataType::Int64, "1e-1", "not a whole number"),
            (
                DataType::Int8,
                "1e-99999999999999999999",
                "not a whole number",
            ),
            (
                DataType::Int8,
                "1e99999999999999999999",
                "not a number that fits",
            ),
            (DataType::Int32, "\"x\"", "not a number"),
            (DataType::Int32, "true", "number"),
        ] {
            let err = decode(ty.clone(), value).unwrap_err();
            assert!(err.contains(why), "{ty} {value}: {err}");
        }
        assert!(decode(DataType::Int8, "1.5")
            .unwrap_err()
            .contains("field 'v'"));
    }

    #[test]
    fn decimals_keep_every_digit_or_refuse() {
        for (ty, value, want) in [
            (DataType::Decimal128(5, 2), "1.1", "1.10"),
            (DataType::Decimal128(5, 2), "1.000", "1.00"),
            (DataType::Decimal128(5, 2), "-123.45", "-123.45"),
            (DataType::Decimal128(5, 2), "1.5e-2", "0.02"),
            (
                DataType::Decimal256(60, 0),
                "123456789012345678901234567890123456789012345678901234567890",
                "123456789012345678901234567890123456789012345678901234567890",
            ),
        ] {
            let got = decode(ty.clone(), value);
            if value == "1.5e-2" {
                // 0.015 needs three places.
                assert!(got.is_err(), "{ty} {value}: {got:?}");
                continue;
            }
            assert_eq!(got.as_deref(), Ok(want), "{ty} {value}");
        }
        for (ty, value, why) in [
            (DataType::Decimal128(5, 2), "1.005", "more than 2 digits"),
            (DataType::Decimal128(5, 2), "1234.5", "does not fit"),
            (DataType::Decimal128(5, 2), "\"1.2.3\"", "does not fit"),
            (DataType::Decimal128(38, 0), "1e39", "does not fit"),
            (
                DataType::Decimal128(5, 2),
                "-1.5e-99999999999999999999",
                "more than 2 digits",
            ),
        ] {
            let err = decode(ty.clone(), value).unwrap_err();
            assert!(err.contains(why), "{ty} {value}: {err}");
        }
    }

    #[test]
    fn times_keep_every_digit_or_refuse() {
        let s = || DataType::Timestamp(TimeUnit::Second, None);
        let us = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let ns = || DataType::Timestamp(TimeUnit::Nanosecond, None);
        for (ty, value, want) in [
            (s(), r#""2020-01-01T00:00:01.000Z""#, "2020-01-01T00:00:01"),
            (
                us(),
                r#""2020-01-01T00:00:00.123456000Z""#,
                "2020-01-01T00:00:00.123456Z",
            ),
            (
                us(),
                r#""2020-01-01T05:00:00+05:00""#,
                "2020-01-01T00:00:00Z",
            ),
            (s(), "1.0", "1970-01-01T00:00:01"),
            (
                ns(),
                r#""2262-04-11T23:47:16.854775807Z""#,
                "2262-04-11T23:47:16.854775807",
            ),
            (DataType::Date32, r#""2020-01-02""#, "2020-01-02"),
            (DataType::Date32, r#""2020-01-02T00:00:00Z""#, "2020-01-02"),
            (DataType::Date32, "18262", "2020-01-01"),
        ] {
            assert_eq!(
                decode(ty.clone(), value).as_deref(),
                Ok(want),
                "{ty} {value}"
            );
        }
        for (ty, value, why) in [
            (s(), r#""2020-01-01T00:00:00.5Z""#, "more precise than"),
            (
                us(),
                r#""2020-01-01T00:00:00.123456789Z""#,
                "more precise than",
            ),
            (ns(), r#""2262-04-11T23:47:16.854775808Z""#, "out of range"),
            (
                ns(),
                r#""2020-01-01T00:00:00.1234567891Z""#,
                "more precise than",
            ),
            (s(), "1.9", "not a whole number"),
            (s(), "1e30", "out of range"),
            (s(), r#""soon""#, "not a date-time"),
            (
                DataType::Date32,
                r#""2020-01-01T23:59:59-05:00""#,
                "time of day",
            ),
            (DataType::Date32, "18262.9", "not a whole number"),
            (DataType::Date32, "3000000000", "out of range"),
        ] {
            let err = decode(ty.clone(), value).unwrap_err();
            assert!(err.contains(why), "{ty} {value}: {err}");
        }
    }

    #[test]
    fn floats_refuse_numbers_too_large_for_them() {
        assert_eq!(decode(DataType::Float32, "1.5").as_deref(), Ok("1.5"));
        assert_eq!(decode(DataType::Float32, "\"NaN\"").as_deref(), Ok("NaN"));
        assert_eq!(
            decode(DataType::Float64, "\"-Infinity\"").as_deref(),
            Ok("-inf")
        );
        assert_eq!(decode(DataType::Float32, "1e-60").as_deref(), Ok("0.0"));
        // Rounded once, to the nearest float32 (not through a float64).
        assert_eq!(
            decode(DataType::Float32, "1.0000000596046448").as_deref(),
            Ok("1.0000001")
        );
        assert!(decode(DataType::Float32, "3.4028235677973366e38").is_ok());
        for (ty, value) in [(DataType::Float32, "1e300"), (DataType::Float64, "1e400")] {
            let err = decode(ty.clone(), value).unwrap_err();
            assert!(err.contains("out of range"), "{ty} {value}: {err}");
        }
    }
}
