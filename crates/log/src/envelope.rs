//! Records as JSON: the envelope `consume --envelope` writes and `produce --envelope` reads,
//! `{"topic","partition","offset","timestamp","key","headers","value"}`, and timestamps.

use serde_json::Value;
use sluice_stream::json::write_string;

use crate::record::{Record, RecordView};

/// Writes a record's envelope: `timestamp` in ms since the epoch; `key` and header values as
/// strings (null when absent); `value` as the JSON it holds (a string when it is not JSON;
/// null for a tombstone).
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
    out.extend_from_slice(b",\"key\":");
    write_bytes(out, record.key);
    out.extend_from_slice(b",\"headers\":{");
    for (i, (name, value)) in record.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name.as_bytes());
        out.push(b':');
        write_bytes(out, *value);
    }
    out.extend_from_slice(b"},\"value\":");
    match record.value {
        None => out.extend_from_slice(b"null"),
        Some(v) if serde_json::from_slice::<serde::de::IgnoredAny>(v).is_ok() => {
            out.extend_from_slice(v)
        }
        Some(v) => write_bytes(out, Some(v)),
    }
    out.push(b'}');
}

fn write_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.extend_from_slice(b"null"),
        Some(b) => write_string(out, String::from_utf8_lossy(b).as_bytes()),
    }
}

/// What an envelope line asks for: the record and, optionally, its partition.
#[derive(Debug)]
pub struct Envelope {
    pub record: Record,
    pub partition: Option<u32>,
}

/// Reads an envelope line. `value` may be any JSON (stored as its compact text) or null (a
/// tombstone); `key` a string, other JSON (stored as its text) or null; `headers` an object of
/// strings or nulls; `timestamp` ms since the epoch or RFC 3339; `partition` a number.
pub fn read_envelope(line: &str) -> Result<Envelope, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut obj) = value else {
        return Err("an envelope is a JSON object".into());
    };
    if !obj.contains_key("value") {
        return Err("an envelope needs a \"value\" (null for a tombstone)".into());
    }
    let text = |v: Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.into_bytes()),
        other => Some(other.to_string().into_bytes()),
    };
    let value = match obj.remove("value").expect("checked") {
        Value::Null => None,
        other => Some(other.to_string().into_bytes()),
    };
    let key = obj.remove("key").and_then(text);
    let mut headers = Vec::new();
    match obj.remove("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, v) in h {
                headers.push((name, text(v)));
            }
        }
        Some(_) => return Err("\"headers\" must be an object".into()),
    }
    let timestamp = match obj.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(timestamp_of(&v).ok_or_else(|| {
            format!("\"timestamp\" {v} is neither ms since the epoch nor RFC 3339")
        })?),
    };
    let partition = match obj.remove("partition") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| format!("\"partition\" {v} is not a partition number"))?,
        ),
    };
    Ok(Envelope {
        record: Record {
            offset: 0,
            timestamp: timestamp.unwrap_or_else(now_ms),
            key,
            value,
            headers,
        },
        partition,
    })
}

/// A timestamp from JSON: a number of ms since the epoch, or an RFC 3339 string.
pub fn timestamp_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => parse_time(s),
        _ => None,
    }
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
            r#"{"topic":"weather","partition":2,"offset":7,"timestamp":1356998400000,"key":"JFK","headers":{"src":"w","n":null},"value":{"temp":30.5}}"#
        );
        let back = read_envelope(&text).unwrap();
        assert_eq!(back.partition, Some(2));
        assert_eq!(
            back.record,
            Record {
                offset: 0,
                ..record
            }
        );
        let tomb = read_envelope(r#"{"key":"k","value":null,"timestamp":"2013-01-01T00:00:00Z"}"#)
            .unwrap();
        assert_eq!(tomb.record.value, None);
        assert_eq!(tomb.record.timestamp, 1_356_998_400_000);
    }
}
