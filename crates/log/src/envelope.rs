//! Records as JSON: the envelope `consume --envelope` writes and `produce --envelope` reads,
//! `{"topic","partition","offset","timestamp","key","headers","value"}`, and timestamps.

use base64::Engine;
use sluice_stream::json::write_string;
use sluice_stream::scan::{self, Kind};

use crate::record::{Record, RecordView};

/// Writes a record's envelope: `timestamp` in ms since the epoch; `key` as a string (null when
/// absent); `headers` as an array of `{"key","value"}` objects in the record's order, values
/// as strings or null (as rpk writes them: a name may repeat, and every JSON parser keeps
/// them all); `value` as the JSON it holds (a string when it is not JSON; null for a
/// tombstone). Bytes that are not UTF-8 (a key, a header value, a value) are written as
/// `key_base64`, `value_base64`, so that nothing is lost.
pub fn write_envelope(out: &mut Vec<u8>, topic: &str, partition: u32, record: &RecordView) {
    out.extend_from_slice(b"{\"topic\":");
    write_string(out, topic.as_bytes());
    out.extend_from_slice(
        format!(
            ",\"partition\":{partition},\"offset\":{},\"timestamp\":{}",
            record.offset, record.timestamp
        )
        .as_bytes(),
    );
    out.push(b',');
    write_bytes_field(out, "key", record.key);
    out.extend_from_slice(b",\"headers\":[");
    for (i, (name, value)) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        write_string(out, name.as_bytes());
        out.push(b',');
        write_bytes_field(out, "value", *value);
        out.push(b'}');
    }
    out.extend_from_slice(b"],");
    match record.value {
        Some(v) if scan::validate_value(v).is_ok() => {
            out.extend_from_slice(b"\"value\":");
            out.extend_from_slice(v);
        }
        value => write_bytes_field(out, "value", value),
    }
    out.push(b'}');
}

/// Writes `"NAME":` and the bytes as a string (null when absent), or `"NAME_base64":` and
/// their base64 when they are not UTF-8.
fn write_bytes_field(out: &mut Vec<u8>, name: &str, bytes: Option<&[u8]>) {
    let text = bytes.map(std::str::from_utf8);
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    match text {
        None => out.extend_from_slice(b"\":null"),
        Some(Ok(text)) => {
            out.extend_from_slice(b"\":");
            write_string(out, text.as_bytes());
        }
        Some(Err(_)) => {
            out.extend_from_slice(b"_base64\":\"");
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(bytes.unwrap_or_default());
            out.extend_from_slice(encoded.as_bytes());
            out.push(b'"');
        }
    }
}

/// The bytes of `NAME_base64` when the object has it (`fields` of `raw`), else of `NAME` as
/// [`text_of`] reads it; an error for base64 that does not decode.
fn bytes_field(
    raw: &[u8],
    fields: &[scan::FieldSpan],
    name: &str,
) -> Result<Option<Vec<u8>>, String> {
    let encoded_name = format!("{name}_base64");
    match scan::find(raw, fields, encoded_name.as_bytes()).map(<[u8]>::trim_ascii) {
        Some(encoded) if Kind::of(encoded) == Kind::String => {
            let text = scan::unescape(encoded).unwrap_or_default();
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map(Some)
                .map_err(|e| format!("\"{encoded_name}\" is not base64: {e}"))
        }
        Some(_) => Err(format!("\"{encoded_name}\" must be a base64 string")),
        None => Ok(scan::find(raw, fields, name.as_bytes()).and_then(text_of)),
    }
}

/// What an envelope line asks for: the record and, optionally, its partition.
#[derive(Debug)]
pub struct Envelope {
    pub record: Record,
    pub partition: Option<u32>,
}

/// Reads an envelope line. `value` may be any JSON, stored as it is spelled, or null (a
/// tombstone); `key` a string, other JSON (stored as its text) or null; `headers` as
/// [`read_headers`] takes them; `timestamp` ms since the epoch or RFC 3339; `partition` a
/// number. Where a field repeats, the last one counts.
pub fn read_envelope(line: &[u8]) -> Result<Envelope, String> {
    let mut fields = Vec::new();
    scan::object_fields(line, &mut fields)?;
    let field = |name: &str| scan::find(line, &fields, name.as_bytes());
    let value = match field("value_base64") {
        Some(_) => bytes_field(line, &fields, "value")?,
        None => {
            let raw = field("value")
                .ok_or("an envelope needs a \"value\" (null for a tombstone)")?
                .trim_ascii();
            (Kind::of(raw) != Kind::Null).then(|| raw.to_vec())
        }
    };
    let headers = match field("headers") {
        Some(raw) => read_headers(raw.trim_ascii())?,
        None => Vec::new(),
    };
    let timestamp = match field("timestamp").map(<[u8]>::trim_ascii) {
        None => None,
        Some(raw) if Kind::of(raw) == Kind::Null => None,
        Some(raw) => Some(timestamp_of(raw).ok_or_else(|| {
            format!(
                "\"timestamp\" {} is neither ms since the epoch nor RFC 3339 (from 1970 on, \
                 as in Kafka)",
                String::from_utf8_lossy(raw)
            )
        })?),
    };
    let partition = match field("partition").map(<[u8]>::trim_ascii) {
        None => None,
        Some(raw) if Kind::of(raw) == Kind::Null => None,
        Some(raw) => Some(
            std::str::from_utf8(raw)
                .ok()
                .and_then(|text| text.parse::<u32>().ok())
                .ok_or_else(|| {
                    format!(
                        "\"partition\" {} is not a partition number",
                        String::from_utf8_lossy(raw)
                    )
                })?,
        ),
    };
    Ok(Envelope {
        record: Record {
            offset: 0,
            timestamp: timestamp.unwrap_or_else(now_ms),
            key: bytes_field(line, &fields, "key")?,
            value,
            headers,
        },
        partition,
    })
}

/// A header: its name and value (absent for null).
type Header = (String, Option<Vec<u8>>);

/// Reads an envelope's `headers`, in order and with repeated names kept, from any of the forms
/// in use: an array of `{"key","value"}` objects (what `consume --envelope` writes, as rpk
/// does), a flat array of names and values (`["h","1","h","2"]`, as kcat writes them), an
/// object (`{"h":"1"}`, what earlier versions wrote; a name may repeat), or null. Values are
/// strings or null; other JSON is kept as its text.
fn read_headers(raw: &[u8]) -> Result<Vec<Header>, String> {
    match Kind::of(raw) {
        Kind::Null => Ok(Vec::new()),
        Kind::Object => headers_of_object(raw),
        Kind::Array => {
            let items: Vec<&serde_json::value::RawValue> =
                serde_json::from_slice(raw).map_err(|e| format!("\"headers\": {e}"))?;
            match items.first().map(|item| Kind::of(item.get().as_bytes())) {
                Some(Kind::Object) => items.iter().map(|h| header_object(h.get())).collect(),
                _ => headers_of_pairs(&items),
            }
        }
        _ => Err(HEADER_FORMS.into()),
    }
}

const HEADER_FORMS: &str =
    "\"headers\" must be an array of {\"key\",\"value\"} objects (or an object of names)";

/// `{"h":"1","h":"2"}`: the names and values in order.
fn headers_of_object(raw: &[u8]) -> Result<Vec<Header>, String> {
    let mut fields = Vec::new();
    scan::object_fields(raw, &mut fields)?;
    fields
        .iter()
        .map(|f| {
            Ok((
                header_name(&raw[f.key.clone()])?,
                text_of(&raw[f.value.clone()]),
            ))
        })
        .collect()
}

/// `{"key":"h","value":"1"}`: one header.
fn header_object(text: &str) -> Result<Header, String> {
    let raw = text.as_bytes().trim_ascii();
    if Kind::of(raw) != Kind::Object {
        return Err(HEADER_FORMS.into());
    }
    let mut fields = Vec::new();
    scan::object_fields(raw, &mut fields)?;
    let name = scan::find(raw, &fields, b"key").ok_or("a header has no \"key\"")?;
    let value = bytes_field(raw, &fields, "value")?;
    Ok((header_name(name.trim_ascii())?, value))
}

/// `["h","1","h","2"]`: names and values taking turns.
fn headers_of_pairs(items: &[&serde_json::value::RawValue]) -> Result<Vec<Header>, String> {
    if !items.len().is_multiple_of(2) {
        return Err(format!(
            "{HEADER_FORMS}; a flat array needs a value for each name"
        ));
    }
    items
        .chunks(2)
        .map(|pair| {
            let name = header_name(pair[0].get().as_bytes())?;
            Ok((name, text_of(pair[1].get().as_bytes())))
        })
        .collect()
}

/// A header name: a JSON string.
fn header_name(raw: &[u8]) -> Result<String, String> {
    let raw = raw.trim_ascii();
    match Kind::of(raw) {
        Kind::String => {
            scan::unescape(raw).ok_or_else(|| "a header name is not a valid string".into())
        }
        _ => Err(format!(
            "a header name must be a string, not {}",
            String::from_utf8_lossy(raw)
        )),
    }
}

/// The bytes a JSON value stands for as a key or header value: a string's text, null's
/// absence, or any other value's own text.
fn text_of(raw: &[u8]) -> Option<Vec<u8>> {
    let raw = raw.trim_ascii();
    match Kind::of(raw) {
        Kind::Null => None,
        Kind::String => scan::unescape(raw).map(String::into_bytes),
        _ => Some(raw.to_vec()),
    }
}

/// A timestamp from a valid JSON value: a number of ms since the epoch, or an RFC 3339 string;
/// none before 1970, which Kafka refuses.
pub fn timestamp_of(raw: &[u8]) -> Option<i64> {
    let ms = match Kind::of(raw) {
        Kind::Number => {
            let text = std::str::from_utf8(raw).ok()?;
            text.parse::<i64>().ok().or_else(|| {
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite() && f.abs() < 9.2e18)
                    .map(|f| f as i64)
            })
        }
        Kind::String => parse_time(&scan::unescape(raw)?),
        _ => None,
    }?;
    (ms >= 0).then_some(ms)
}

/// Parses RFC 3339 (`2013-01-01T10:00:00Z`) to ms since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Now, in ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        let record = Record {
            offset: 7,
            timestamp: 1_356_998_400_000,
            key: Some(b"JFK".to_vec()),
            value: Some(br#"{"temp":30.5}"#.to_vec()),
            headers: vec![("src".into(), Some(b"w".to_vec())), ("n".into(), None)],
        };
        let mut out = Vec::new();
        write_envelope(&mut out, "weather", 2, &record.view());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"topic":"weather","partition":2,"offset":7,"timestamp":1356998400000,"key":"JFK","headers":[{"key":"src","value":"w"},{"key":"n","value":null}],"value":{"temp":30.5}}"#
        );
        let back = read_envelope(text.as_bytes()).unwrap();
        assert_eq!(back.partition, Some(2));
        assert_eq!(
            back.record,
            Record {
                offset: 0,
                ..record
            }
        );
        let tomb = read_envelope(br#"{"key":"k","value":null,"timestamp":"2013-01-01T00:00:00Z"}"#)
            .unwrap();
        assert_eq!(tomb.record.value, None);
        assert_eq!(tomb.record.timestamp, 1_356_998_400_000);
    }

    #[test]
    fn envelopes_keep_values_as_spelled_and_repeated_headers() {
        let value = br#"{"x": -9223372036854775809, "f":0.1000000000000000055511151231257827,"n":-0,"e":1e400}"#;
        let record = Record {
            offset: 3,
            timestamp: 5,
            key: Some("k\u{e9}".as_bytes().to_vec()),
            value: Some(value.to_vec()),
            headers: vec![
                ("h".into(), Some(b"1".to_vec())),
                ("h".into(), Some(b"2".to_vec())),
                ("h".into(), None),
            ],
        };
        let mut out = Vec::new();
        write_envelope(&mut out, "t", 0, &record.view());
        let back = read_envelope(&out).unwrap();
        assert_eq!(
            back.record,
            Record {
                offset: 0,
                ..record
            }
        );
        let numbers = read_envelope(br#"{"value":{"a":1},"key":12.50,"timestamp":1e3}"#).unwrap();
        assert_eq!(numbers.record.key.as_deref(), Some(&b"12.50"[..]));
        assert_eq!(numbers.record.timestamp, 1000);
        for (line, reason) in [
            (&br#"{"key":"k"}"#[..], "needs a \"value\""),
            (
                br#"{"value":1,"headers":[1]}"#,
                "needs a value for each name",
            ),
            (br#"{"value":1,"headers":[1, "x"]}"#, "must be a string"),
            (
                br#"{"value":1,"headers":[{"value":"x"}]}"#,
                "has no \"key\"",
            ),
            (
                br#"{"value":1,"headers":[{"key":"a"}, "b"]}"#,
                "{\"key\",\"value\"} objects",
            ),
            (
                br#"{"value":1,"headers":"h"}"#,
                "{\"key\",\"value\"} objects",
            ),
            (br#"{"value":1,"partition":-1}"#, "not a partition number"),
            (br#"{"value":1,"timestamp":"yesterday"}"#, "neither ms"),
            (
                br#"{"value":1,"timestamp":"1969-12-31T23:59:59Z"}"#,
                "from 1970 on",
            ),
            (br#"{"value":1,"timestamp":-1}"#, "neither ms"),
            (br#"[1]"#, "not a JSON object"),
        ] {
            let error = read_envelope(line).unwrap_err();
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn headers_are_read_in_every_form_with_repeats_and_order_kept() {
        let expected: Vec<Header> = vec![
            ("h".into(), Some(b"1".to_vec())),
            ("h".into(), Some(b"2".to_vec())),
            ("n".into(), None),
            ("x".into(), Some(b"7.50".to_vec())),
        ];
        for headers in [
            r#"[{"key":"h","value":"1"},{"key":"h","value":"2"},{"key":"n","value":null},{"key":"x","value":7.50}]"#,
            r#"[{"value":"1","key":"h"},{"key":"h","value":"2"},{"key":"n"},{"key":"x","value":7.50}]"#,
            r#"["h","1","h","2","n",null,"x",7.50]"#,
            r#"{"h":"1","h":"2","n":null,"x":7.50}"#,
        ] {
            let line = format!(r#"{{"value":1,"headers":{headers}}}"#);
            let read = read_envelope(line.as_bytes()).unwrap();
            assert_eq!(read.record.headers, expected, "{headers}");
        }
        for empty in ["[]", "{}", "null"] {
            let line = format!(r#"{{"value":1,"headers":{empty}}}"#);
            assert!(read_envelope(line.as_bytes())
                .unwrap()
                .record
                .headers
                .is_empty());
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_travel_as_base64() {
        let record = Record {
            offset: 0,
            timestamp: 5,
            key: Some(vec![0xff, b'k']),
            value: Some(vec![0, 0xc3, 0x28]),
            headers: vec![
                ("bin".into(), Some(vec![0x80])),
                ("t".into(), Some(b"x".to_vec())),
            ],
        };
        let mut out = Vec::new();
        write_envelope(&mut out, "t", 0, &record.view());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(r#""key_base64":"/2s=""#), "{text}");
        assert!(
            text.contains(r#"{"key":"bin","value_base64":"gA=="}"#),
            "{text}"
        );
        assert!(text.ends_with(r#""value_base64":"AMMo"}"#), "{text}");
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
        assert_eq!(read_envelope(text.as_bytes()).unwrap().record, record);
        let error = read_envelope(br#"{"value_base64":"%%"}"#).unwrap_err();
        assert!(error.contains("is not base64"), "{error}");
    }
}
