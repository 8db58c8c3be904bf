//! A validating JSON scanner (RFC 8259) that finds an object's fields without building values.
//!
//! `filter` and `transform` look at a few fields of each record and pass the rest through as
//! bytes; this is what lets them check a whole record and read `.a.b` in one cheap pass.

use std::ops::Range;

mod fast;
mod masks;
mod objects;
#[cfg(test)]
mod random;

/// Deepest nesting accepted (as serde_json does), so a hostile line cannot exhaust the stack.
const MAX_DEPTH: usize = 128;

/// One field of an object: where its key (quotes included) and its value are in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpan {
    /// The key, quotes included.
    pub key: Range<usize>,
    /// The value's text.
    pub value: Range<usize>,
}

/// The kind of a JSON value, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `null`
    Null,
    /// `false`
    False,
    /// `true`
    True,
    /// a number
    Number,
    /// a string
    String,
    /// an array
    Array,
    /// an object
    Object,
}

impl Kind {
    /// The kind of the (valid, trimmed) JSON value `raw`.
    pub fn of(raw: &[u8]) -> Kind {
        match raw.first() {
            Some(b'n') => Kind::Null,
            Some(b'f') => Kind::False,
            Some(b't') => Kind::True,
            Some(b'"') => Kind::String,
            Some(b'[') => Kind::Array,
            Some(b'{') => Kind::Object,
            _ => Kind::Number,
        }
    }
}

/// Checks that `line` is exactly one JSON object in valid UTF-8 and lists its top-level fields
/// into `fields` (cleared first), in their order.
pub fn object_fields(line: &[u8], fields: &mut Vec<FieldSpan>) -> Result<(), String> {
    fields.clear();
    check_object(line, Some(fields))
}

/// Checks that `line` is exactly one JSON object (RFC 8259) in valid UTF-8.
pub fn validate_object(line: &[u8]) -> Result<(), String> {
    check_object(line, None)
}

/// Checks `line` and lists its fields, when asked, into `fields` (which is empty).
fn check_object(line: &[u8], mut fields: Option<&mut Vec<FieldSpan>>) -> Result<(), String> {
    match fast_scan(line, fields.as_deref_mut()) {
        Some(true) => return Ok(()),
        Some(false) if std::str::from_utf8(line).is_ok() => return Ok(()),
        _ => {
            if let Some(fields) = fields.as_deref_mut() {
                fields.clear();
            }
        }
    }
    if let Err(e) = std::str::from_utf8(line) {
        return Err(format!(
            "invalid UTF-8 at byte {} of the record",
            e.valid_up_to()
        ));
    }
    scan_object_slowly(line, fields)
}

/// The fast paths' verdict on `line`: `Some(ascii)` when it is certainly one JSON object (its
/// fields listed, when asked); `None` when the scanner must decide. When the fields are not
/// wanted, a record whose arrays hold no arrays or objects is checked on bit masks alone; the
/// others are walked.
fn fast_scan(line: &[u8], fields: Option<&mut Vec<FieldSpan>>) -> Option<bool> {
    if fields.is_none() {
        if let Some(ascii) = objects::validate(line) {
            return Some(ascii);
        }
    }
    fast::scan_object(line, fields)
}

/// [`object_fields`] for text already known to be UTF-8.
pub fn object_fields_text(text: &str, fields: &mut Vec<FieldSpan>) -> Result<(), String> {
    fields.clear();
    scan_object(text.as_bytes(), Some(fields))
}

/// Checks that `text` is exactly one JSON object (RFC 8259).
pub fn validate_object_text(text: &str) -> Result<(), String> {
    scan_object(text.as_bytes(), None)
}

/// Scans one object (the text is valid UTF-8), listing its top-level fields into `fields`.
fn scan_object(line: &[u8], mut fields: Option<&mut Vec<FieldSpan>>) -> Result<(), String> {
    if fast_scan(line, fields.as_deref_mut()).is_some() {
        return Ok(());
    }
    if let Some(fields) = fields.as_deref_mut() {
        fields.clear();
    }
    scan_object_slowly(line, fields)
}

/// [`scan_object`] byte by byte: the scanner that decides, and explains errors.
fn scan_object_slowly(line: &[u8], fields: Option<&mut Vec<FieldSpan>>) -> Result<(), String> {
    let mut s = Scanner { text: line, at: 0 };
    s.skip_ws();
    match s.peek() {
        Some(b'{') => {}
        Some(_) => return Err(not_an_object(line)),
        None => return Err("empty record".to_string()),
    }
    s.object(0, fields).map_err(|e| s.describe(e))?;
    s.skip_ws();
    if s.at != line.len() {
        return Err(s.describe("trailing characters after the object"));
    }
    Ok(())
}

/// Why `line`, which does not start with `{`, is not a record: another kind of JSON value, or
/// not JSON at all.
pub fn not_an_object(line: &[u8]) -> String {
    if let Err(e) = validate_value(line) {
        return e;
    }
    let kind = match Kind::of(line.trim_ascii()) {
        Kind::Null => "null",
        Kind::False | Kind::True => "a boolean",
        Kind::Number => "a number",
        Kind::String => "a string",
        Kind::Array => "an array",
        Kind::Object => "an object",
    };
    format!("{kind}, not a JSON object")
}

/// Checks that `text` is exactly one JSON value (RFC 8259).
pub fn validate_value(text: &[u8]) -> Result<(), String> {
    if let Err(e) = std::str::from_utf8(text) {
        return Err(format!("invalid UTF-8 at byte {}", e.valid_up_to()));
    }
    let mut s = Scanner { text, at: 0 };
    s.skip_ws();
    s.value(0).map_err(|e| s.describe(e))?;
    s.skip_ws();
    if s.at != text.len() {
        return Err(s.describe("trailing characters after the value"));
    }
    Ok(())
}

/// True when `text` is one JSON number (RFC 8259 grammar), nothing around it.
pub fn is_number(text: &[u8]) -> bool {
    let mut s = Scanner { text, at: 0 };
    s.number().is_ok() && s.at == text.len()
}

/// Appends the canonical text of the valid JSON value `raw`, so that values jq finds equal
/// compare equal as bytes: numbers as jq writes them (`1.0` and `1e0` as `1`), strings with
/// their escapes decoded and re-escaped minimally, arrays and objects without whitespace.
pub fn canonical(raw: &[u8], out: &mut Vec<u8>) {
    match Kind::of(raw) {
        Kind::String if raw.contains(&b'\\') => match unescape(raw) {
            Some(text) => crate::json::write_string(out, text.as_bytes()),
            None => out.extend_from_slice(raw),
        },
        Kind::Number => {
            let text = std::str::from_utf8(raw).unwrap_or_default();
            let integer = !raw.iter().any(|b| matches!(b, b'.' | b'e' | b'E'));
            if let Ok(i) = text.parse::<i64>() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if integer {
                out.extend_from_slice(raw);
            } else {
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e17 => {
                        out.extend_from_slice((f as i64).to_string().as_bytes())
                    }
                    Ok(f) if f.is_finite() => out.extend_from_slice(f.to_string().as_bytes()),
                    _ => out.extend_from_slice(raw),
                }
            }
        }
        Kind::Array | Kind::Object => crate::json::write_compact(out, raw),
        _ => out.extend_from_slice(raw),
    }
}

/// The value of field `name` among `fields` of `text` (the last one if a key repeats, as JSON
/// parsers keep it). Keys with escapes are compared by their decoded text.
pub fn find<'a>(text: &'a [u8], fields: &[FieldSpan], name: &[u8]) -> Option<&'a [u8]> {
    fields
        .iter()
        .rev()
        .find(|f| key_is(&text[f.key.clone()], name))
        .map(|f| &text[f.value.clone()])
}

/// What a dotted path leads to in a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found<'a> {
    /// The value's text.
    Value(&'a [u8]),
    /// The path ends early at a missing field or a null (jq reads this as null).
    Missing,
    /// The path runs into a value that is neither an object nor null (jq: an error).
    NotObject,
}

/// Follows `path` (field names) from the top-level `fields` of the valid object `text`.
pub fn lookup<'a>(text: &'a [u8], fields: &[FieldSpan], path: &[Box<[u8]>]) -> Found<'a> {
    let Some((first, rest)) = path.split_first() else {
        return Found::Value(text);
    };
    let Some(mut value) = find(text, fields, first) else {
        return Found::Missing;
    };
    let mut nested = Vec::new();
    for name in rest {
        match Kind::of(value) {
            Kind::Object => {}
            Kind::Null => return Found::Missing,
            _ => return Found::NotObject,
        }
        let mut s = Scanner { text: value, at: 0 };
        nested.clear();
        if s.object(0, Some(&mut nested)).is_err() {
            return Found::NotObject;
        }
        match find(value, &nested, name) {
            Some(v) => value = v,
            None => return Found::Missing,
        }
    }
    Found::Value(value)
}

/// True when the JSON string `raw` (quotes included) spells `name`.
pub fn key_is(raw: &[u8], name: &[u8]) -> bool {
    let inner = &raw[1..raw.len() - 1];
    // An escape always takes more bytes than what it stands for: a key with one is longer
    // than its text.
    match inner.len().cmp(&name.len()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => inner == name && !inner.contains(&b'\\'),
        std::cmp::Ordering::Greater => {
            inner.contains(&b'\\') && unescape(raw).is_some_and(|s| s.as_bytes() == name)
        }
    }
}

/// Decodes the valid JSON string `raw` (quotes included).
pub fn unescape(raw: &[u8]) -> Option<String> {
    serde_json::from_slice::<String>(raw).ok()
}

/// The first `"`, `\` or control character in `bytes`, looking at eight bytes at a time.
fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero (or, for `x - ONES * n`, below n) exactly where this has its high
    // bit set, when the byte itself is below 0x80 (`!word` rules out the others).
    let special = |word: u64| {
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
        zero(quote) | zero(backslash) | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS)
    };
    // The lowest flagged byte is exact: a borrow only flags bytes above a special one.
    let first = |word: u64| (special(word).trailing_zeros() / 8) as usize;
    let mut chunks = bytes.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let i = first(u64::from_le_bytes(chunk.try_into().expect("eight bytes")));
        if i < 8 {
            return Some(at + i);
        }
        at += 8;
    }
    // The tail, padded with zeros (control characters, so flagged past the end).
    let tail = chunks.remainder();
    let mut padded = [0u8; 8];
    padded[..tail.len()].copy_from_slice(tail);
    let i = first(u64::from_le_bytes(padded));
    (i < tail.len()).then_some(at + i)
}

struct Scanner<'a> {
    text: &'a [u8],
    at: usize,
}

type Step = Result<(), &'static str>;

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn describe(&self, what: &str) -> String {
        format!("invalid JSON at byte {}: {what}", self.at)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Step {
        match self.peek() {
            Some(b'{') => self.object(depth, None),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(),
            Some(b't') => self.literal(b"true"),
            Some(b'f') => self.literal(b"false"),
            Some(b'n') => self.literal(b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err("expected a value"),
            None => Err("unexpected end of the record"),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Step {
        if self.text[self.at..].starts_with(word) {
            self.at += word.len();
            Ok(())
        } else {
            Err("expected a value")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        self.at - start
    }

    fn number(&mut self) -> Step {
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err("expected a digit"),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if self.digits() == 0 {
                return Err("expected a digit after the decimal point");
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if self.digits() == 0 {
                return Err("expected a digit in the exponent");
            }
        }
        Ok(())
    }

    fn string(&mut self) -> Step {
        self.at += 1;
        loop {
            let rest = &self.text[self.at..];
            let Some(i) = string_end(rest) else {
                self.at = self.text.len();
                return Err("unterminated string");
            };
            self.at += i;
            match rest[i] {
                b'"' => {
                    self.at += 1;
                    return Ok(());
                }
                b'\\' => {
                    self.at += 1;
                    match self.peek() {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                            self.at += 1
                        }
                        Some(b'u') => {
                            let unit = self.hex4(self.at + 1)?;
                            self.at += 5;
                            // UTF-16 surrogates must come in pairs (as serde_json and jaq
                            // require): a high one followed by an escaped low one.
                            if (0xDC00..0xE000).contains(&unit) {
                                return Err("lone low surrogate in a \\u escape");
                            }
                            if (0xD800..0xDC00).contains(&unit) {
                                let low = match self.text.get(self.at..self.at + 2) {
                                    Some(b"\\u") => self.hex4(self.at + 2)?,
                                    _ => return Err("lone high surrogate in a \\u escape"),
                                };
                                if !(0xDC00..0xE000).contains(&low) {
                                    return Err("lone high surrogate in a \\u escape");
                                }
                                self.at += 6;
                            }
                        }
                        _ => return Err("invalid escape in a string"),
                    }
                }
                _ => return Err("control character in a string (it must be escaped)"),
            }
        }
    }

    /// The four hex digits at `at`, as a number.
    fn hex4(&self, at: usize) -> Result<u32, &'static str> {
        let hex = self.text.get(at..at + 4).unwrap_or_default();
        let text = std::str::from_utf8(hex).unwrap_or_default();
        if hex.len() != 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err("expected four hex digits after \\u");
        }
        u32::from_str_radix(text, 16).map_err(|_| "expected four hex digits after \\u")
    }

    fn array(&mut self, depth: usize) -> Step {
        if depth >= MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            self.value(depth + 1)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err("expected ',' or ']' in an array"),
            }
        }
    }

    fn object(&mut self, depth: usize, mut fields: Option<&mut Vec<FieldSpan>>) -> Step {
        if depth >= MAX_DEPTH {
            return Err("nested too deeply");
        }
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(());
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err("expected a string key");
            }
            let key_start = self.at;
            self.string()?;
            let key = key_start..self.at;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err("expected ':' after a key");
            }
            self.at += 1;
            self.skip_ws();
            let value_start = self.at;
            self.value(depth + 1)?;
            if let Some(fields) = fields.as_deref_mut() {
                fields.push(FieldSpan {
                    key,
                    value: value_start..self.at,
                });
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(());
                }
                _ => return Err("expected ',' or '}' in an object"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Vec<Box<[u8]>> {
        p.split('.').map(|s| s.as_bytes().into()).collect()
    }

    #[test]
    fn keys_match_their_decoded_text() {
        assert!(key_is(br#""dep_delay""#, b"dep_delay"));
        assert!(!key_is(br#""dep""#, b"dep_delay"));
        assert!(!key_is(br#""dep_delay""#, b"dep"));
        assert!(key_is(br#""a\"b""#, b"a\"b"));
        assert!(key_is(br#""\u0041\ud83d\ude00""#, "A\u{1f600}".as_bytes()));
        // The same bytes, but the key's backslash is an escape.
        assert!(!key_is(br#""a\nb""#, br"a\nb"));
        assert!(key_is(br#""a\\b""#, br"a\b"));
    }

    #[test]
    fn string_end_finds_the_first_special_byte_at_any_position() {
        for len in 0..20 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| b"a\x7f\xc3\xa9 ~!#"[i % 8]).collect();
                    if at < len {
                        bytes[at] = special;
                        // A second special byte after the first must not be reported.
                        if at + 1 < len {
                            bytes[at + 1] = b'"';
                        }
                    }
                    let expected = (at < len).then_some(at);
                    assert_eq!(string_end(&bytes), expected, "{bytes:?}");
                }
            }
        }
    }

    #[test]
    fn accepts_what_rfc_8259_accepts() {
        for ok in [
            r#"{}"#,
            r#" { "a" : [1, -0.5e+3, 0, true, false, null, "x\"\\\/\b\f\n\r\tA\u00e9"] } "#,
            r#"{"a":{"b":{"c":[]}},"":-0}"#,
            "{\"é\":\"日本\"}",
            r#"{"emoji":"\ud83d\ude00"}"#,
        ] {
            assert_eq!(validate_object(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_what_rfc_8259_rejects() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":+1}"#,
            r#"{"a":1e}"#,
            r#"{"a":NaN}"#,
            r#"{"a":Infinity}"#,
            r#"{"a":'x'}"#,
            r#"{a:1}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"tab\there\"}",
            r#"{"a":1} {}"#,
            r#"{"a":tru}"#,
            r#"{"a":1}x"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\udc00x"}"#,
            r#"{"a":"\ud800\u0041"}"#,
        ] {
            assert!(validate_object(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(validate_object(b"{\"a\":\"\xff\"}")
            .unwrap_err()
            .contains("UTF-8"));
        let deep = "[".repeat(200);
        assert!(validate_object(format!("{{\"a\":{deep}}}").as_bytes()).is_err());
    }

    #[test]
    fn canonical_forms_make_equal_values_equal() {
        let c = |raw: &str| {
            let mut out = Vec::new();
            canonical(raw.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(c("1.0"), "1");
        assert_eq!(c("1e0"), "1");
        assert_eq!(c("-0"), "0");
        assert_eq!(c("2.50"), "2.5");
        assert_eq!(c("123456789012345678901234"), "123456789012345678901234");
        assert_eq!(c(r#""\u0061""#), r#""a""#);
        assert_eq!(c("[1, {\"a\" : 2}]"), r#"[1,{"a":2}]"#);
        assert!(is_number(b"-1.5e3") && !is_number(b"+1") && !is_number(b"01"));
        assert!(validate_value(b" [1] ").is_ok() && validate_value(b"1,\"w\":2").is_err());
    }

    #[test]
    fn string_ends_are_found_at_every_offset() {
        for len in 0..40 {
            for special in [b'"', b'\\', b'\n', 0x1f, 0] {
                let mut bytes = vec![b'a'; len];
                bytes.extend_from_slice("é€\x7f".as_bytes());
                let at = bytes.len();
                bytes.push(special);
                bytes.extend_from_slice(b"xyz\"");
                assert_eq!(string_end(&bytes), Some(at), "{len} {special}");
            }
            assert_eq!(string_end(&vec![b' '; len]), None);
        }
    }

    #[test]
    fn finds_nested_fields() {
        let text = br#"{"a":1,"b":{"c":{"d":"x"},"n":null},"k\u0065y":2,"a":3}"#;
        let mut fields = Vec::new();
        object_fields(text, &mut fields).unwrap();
        assert_eq!(fields.len(), 4);
        assert_eq!(lookup(text, &fields, &path("a")), Found::Value(b"3"));
        assert_eq!(lookup(text, &fields, &path("key")), Found::Value(b"2"));
        assert_eq!(
            lookup(text, &fields, &path("b.c.d")),
            Found::Value(b"\"x\"")
        );
        assert_eq!(lookup(text, &fields, &path("b.n.z")), Found::Missing);
        assert_eq!(lookup(text, &fields, &path("zz.y")), Found::Missing);
        assert_eq!(lookup(text, &fields, &path("a.y")), Found::NotObject);
    }
}
