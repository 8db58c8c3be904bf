//! Small JSON helpers for hot paths: escaping, validating and compacting without building values.

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// Checks that `line` is exactly one JSON object (RFC 8259), in valid UTF-8.
pub use crate::scan::validate_object;

/// True when the line holds only whitespace (blank lines are not records).
pub fn is_blank(line: &[u8]) -> bool {
    line.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Appends `s` as a JSON string literal, quotes included.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&s[start..i]);
        out.extend_from_slice(escape);
        start = i + 1;
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `raw` (valid JSON) without insignificant whitespace, bytes otherwise unchanged.
pub fn write_compact(out: &mut Vec<u8>, raw: &[u8]) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if !matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
            if b == b'"' {
                in_string = true;
            }
            out.push(b);
        }
    }
}

/// The top-level fields of a JSON object, borrowed from its text, in their order.
pub type Fields<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// Parses an object's top-level fields into `fields` (cleared first) without parsing the values.
pub fn object_fields<'a>(line: &'a str, fields: &mut Fields<'a>) -> Result<(), String> {
    fields.clear();
    let mut de = serde_json::Deserializer::from_str(line);
    de::Deserializer::deserialize_map(&mut de, FieldsVisitor(fields))
        .and_then(|()| de.end())
        .map_err(|e| format!("invalid JSON: {e}"))
}

struct FieldsVisitor<'v, 'a>(&'v mut Fields<'a>);

impl<'de, 'v> Visitor<'de> for FieldsVisitor<'v, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(CowStr)? {
            let value: &'de RawValue = map.next_value()?;
            self.0.push((key, value));
        }
        Ok(())
    }
}

/// Deserializes a string borrowed from the input when it has no escapes (serde's own
/// `Cow<str>` always allocates).
pub struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(CowStrVisitor)
    }
}

struct CowStrVisitor;

impl<'de> Visitor<'de> for CowStrVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// Looks a field up in parsed fields; the last occurrence wins, as in most JSON readers.
pub fn field<'a>(fields: &Fields<'a>, name: &str) -> Option<&'a RawValue> {
    fields
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| *v)
}

/// The text a JSON scalar stands for: strings unescaped, others as written; nested values as
/// compact JSON. `None` for null.
pub fn scalar_text(value: &RawValue) -> Option<Cow<'_, str>> {
    let raw = value.get();
    match raw.as_bytes()[0] {
        b'n' => None,
        b'"' => Some(match serde_json::from_str::<Cow<str>>(raw) {
            Ok(s) => s,
            Err(_) => Cow::Borrowed(&raw[1..raw.len() - 1]),
        }),
        b'{' | b'[' => {
            let mut out = Vec::with_capacity(raw.len());
            write_compact(&mut out, raw.as_bytes());
            Some(Cow::Owned(String::from_utf8(out).unwrap_or_default()))
        }
        _ => Some(Cow::Borrowed(raw)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_problem() {
        assert!(validate_object(br#"{"a":1}"#).is_ok());
        assert_eq!(
            validate_object(b"[1]").unwrap_err(),
            "an array, not a JSON object"
        );
        assert_eq!(
            validate_object(b"hello").unwrap_err(),
            "invalid JSON at byte 0: expected a value"
        );
        assert!(validate_object(br#"{"a":1} x"#)
            .unwrap_err()
            .contains("invalid JSON"));
        assert!(validate_object(b"{\"a\":\"\xff\"}")
            .unwrap_err()
            .contains("UTF-8"));
        assert!(validate_object(br#"{"a":NaN}"#).is_err());
    }

    #[test]
    fn strings_are_escaped_per_rfc_8259() {
        let mut out = Vec::new();
        write_string(&mut out, "a\"b\\c\n\u{1}é".as_bytes());
        assert_eq!(out, "\"a\\\"b\\\\c\\n\\u0001é\"".as_bytes());
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }

    #[test]
    fn compacting_keeps_strings_intact() {
        let mut out = Vec::new();
        write_compact(&mut out, b"{ \"a b\" : [1, 2],\n \"c\\\" d\": \"x \" }");
        assert_eq!(out, b"{\"a b\":[1,2],\"c\\\" d\":\"x \"}");
    }

    #[test]
    fn fields_are_borrowed_in_order() {
        let mut fields = Vec::new();
        object_fields(r#"{"b":{"x":1},"a\n":"s","b":2}"#, &mut fields).unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[1].0, "a\n");
        assert_eq!(field(&fields, "b").unwrap().get(), "2");
        assert_eq!(scalar_text(fields[0].1).unwrap(), r#"{"x":1}"#);
        assert_eq!(scalar_text(fields[1].1).unwrap(), "s");
    }
}
