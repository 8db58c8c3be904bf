//! Decoders for the field types arrow-json would decode too leniently: JSON text fields, and
//! numbers that must fit their column exactly. arrow-json truncates `1.5` into an integer
//! column, rounds `1.005` into `decimal(5,2)` and turns `1e300` into an infinite `float32`;
//! here each of those is an error naming the field, so the record goes through `--on-error`.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow_array::builder::{PrimitiveBuilder, StringBuilder};
use arrow_array::types::*;
use arrow_array::{ArrayRef, ArrowPrimitiveType};
use arrow_cast::parse::parse_decimal;
use arrow_json::reader::{ArrayDecoder, DecoderContext, DecoderFactory, Tape, TapeElement};
use arrow_schema::{ArrowError, DataType, FieldRef};

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
        Some(at) => match text[at + 1..].parse::<i64>() {
            Ok(e) => (&text[..at], e),
            Err(_) => return true,
        },
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
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

/// A float column's conversion from f64.
trait FromF64: ArrowPrimitiveType {
    fn from_f64(v: f64) -> Self::Native;
    fn is_infinite(v: Self::Native) -> bool;
}

impl FromF64 for Float32Type {
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn is_infinite(v: f32) -> bool {
        v.is_infinite()
    }
}

impl FromF64 for Float64Type {
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn is_infinite(v: f64) -> bool {
        v.is_infinite()
    }
}

impl<T: FromF64> ArrayDecoder for FloatDecoder<T> {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = PrimitiveBuilder::<T>::with_capacity(pos.len());
        for &p in pos {
            let Some(text) = number_text(tape, p)? else {
                builder.append_null();
                continue;
            };
            let ty = || T::DATA_TYPE.to_string().to_lowercase();
            let wide: f64 = text
                .trim_ascii()
                .parse()
                .map_err(|_| misfit(text, format!("is not a number ({})", ty())))?;
            let value = T::from_f64(wide);
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
                let why = match s {
                    0.. => format!("has more than {s} digits after the point"),
                    _ => format!(
                        "is not a multiple of 1{}",
                        "0".repeat(s.unsigned_abs().into())
                    ),
                };
                return Err(misfit(text, format!("{why} (decimal({p},{s}))")));
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
            (DataType::Decimal128(5, -2), "1200", "1200"),
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
            (DataType::Decimal128(5, -2), "1250", "not a multiple of 100"),
            (DataType::Decimal128(38, 0), "1e39", "does not fit"),
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
        for (ty, value) in [(DataType::Float32, "1e300"), (DataType::Float64, "1e400")] {
            let err = decode(ty.clone(), value).unwrap_err();
            assert!(err.contains("out of range"), "{ty} {value}: {err}");
        }
    }
}
