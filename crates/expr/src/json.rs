//! Record bytes to jaq values and back, strictly as RFC 8259 JSON.
//!
//! jaq reads a superset of JSON (comments, `NaN`, byte strings) and may write values JSON
//! cannot hold; here input is checked by [`sluice_stream::scan`] first, and output refuses
//! what JSON cannot represent instead of writing invalid text.

use jaq_json::{Num, Val};
use sluice_stream::json::write_string;
use sluice_stream::scan;

/// Parses one record: a JSON object in valid UTF-8 (checked strictly).
pub fn parse(bytes: &[u8]) -> Result<Val, String> {
    scan::validate_object(bytes)?;
    parse_valid(bytes)
}

/// Parses text already known to be valid JSON.
pub fn parse_valid(bytes: &[u8]) -> Result<Val, String> {
    jaq_json::read::parse_single(bytes).map_err(|e| format!("invalid JSON: {e}"))
}

/// Appends `value` as compact JSON. Non-finite numbers become what jq writes for them (`null`
/// for NaN, the largest finite double for infinities); byte strings and non-string object keys
/// have no JSON form and are an error.
pub fn write(out: &mut Vec<u8>, value: &Val) -> Result<(), String> {
    match value {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Num(n) => write_num(out, n),
        Val::TStr(s) => write_text(out, s),
        Val::BStr(_) => return Err("a byte string has no JSON form".to_string()),
        Val::Arr(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item)?;
            }
            out.push(b']');
        }
        Val::Obj(map) => {
            out.push(b'{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match key {
                    Val::TStr(k) => write_text(out, k),
                    other => {
                        return Err(format!(
                            "an object key must be a string, not {}",
                            short(other)
                        ))
                    }
                }
                out.push(b':');
                write(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// A value as compact JSON text.
pub fn to_text(value: &Val) -> Result<String, String> {
    let mut out = Vec::new();
    write(&mut out, value)?;
    Ok(String::from_utf8(out).expect("JSON output is UTF-8"))
}

fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => write_string(out, text.as_bytes()),
        Err(_) => write_string(out, String::from_utf8_lossy(bytes).as_bytes()),
    }
}

/// Appends a number: integers and decimals as they were spelled, floats as jq does.
pub fn write_num(out: &mut Vec<u8>, n: &Num) {
    match n {
        Num::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Num::BigInt(i) => out.extend_from_slice(i.to_string().as_bytes()),
        // jaq keeps a decimal's text; text that is not JSON's number grammar (`+1.5` from
        // `tonumber`, a literal `01.5`) is written as the double it stands for.
        Num::Dec(text) if scan::is_number(text.as_bytes()) => {
            out.extend_from_slice(text.as_bytes())
        }
        Num::Dec(text) => write_float(out, text.parse().unwrap_or(f64::NAN)),
        Num::Float(f) => write_float(out, *f),
    }
}

/// Appends a double as JSON: integral values without a fraction (as jq), NaN as null and the
/// infinities as the largest finite doubles.
pub fn write_float(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"null");
    } else if f.is_infinite() {
        let max = if f > 0.0 { f64::MAX } else { f64::MIN };
        out.extend_from_slice(ryu::Buffer::new().format_finite(max).as_bytes());
    } else if f.fract() == 0.0 && f.abs() < 1e17 {
        out.extend_from_slice(itoa::Buffer::new().format(f as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    }
}

/// A short description of a value for messages.
pub fn short(value: &Val) -> String {
    let kind = match value {
        Val::Null => "null",
        Val::Bool(_) => "a boolean",
        Val::Num(_) => "a number",
        Val::TStr(_) => "a string",
        Val::BStr(_) => "a byte string",
        Val::Arr(_) => "an array",
        Val::Obj(_) => "an object",
    };
    kind.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut out = Vec::new();
        write(&mut out, &parse(text.as_bytes()).unwrap()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn keeps_key_order_and_number_spelling() {
        assert_eq!(
            round_trip(r#"{"z":1, "a":1.50, "m":1e3, "big":123456789012345678901234567890}"#),
            r#"{"z":1,"a":1.50,"m":1e3,"big":123456789012345678901234567890}"#
        );
        assert_eq!(
            round_trip(r#"{"s":"tab\t\u00e9\"\\","n":null,"b":[true,false,{}]}"#),
            "{\"s\":\"tab\\té\\\"\\\\\",\"n\":null,\"b\":[true,false,{}]}"
        );
    }

    #[test]
    fn refuses_jaq_extensions_on_input() {
        for bad in [
            r#"{"a":NaN}"#,
            "{\"a\":1 # comment\n}",
            r#"{"a":b"x"}"#,
            "[1]",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_are_written_as_jq_does() {
        let text = |f| {
            let mut out = Vec::new();
            write_float(&mut out, f);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(10.0), "10");
        assert_eq!(text(-0.5), "-0.5");
        assert_eq!(text(f64::NAN), "null");
        assert_eq!(text(f64::INFINITY), "1.7976931348623157e308");
        assert_eq!(text(1e20), "1e20");
        let mut out = Vec::new();
        write_num(&mut out, &Num::Dec(std::rc::Rc::new("+1.50".to_string())));
        assert_eq!(out, b"1.5");
    }
}
