//! Field paths on jaq values, and the conversions `--cast` and the windows need.

use std::rc::Rc;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use sluice_expr::json::{short, to_text};
use sluice_expr::Val;

/// A dotted field path (`a.b.c`; `a\.b` names a key holding a dot), as keys ready to use.
#[derive(Debug, Clone)]
pub struct FieldPath {
    /// The path as the user wrote it, for messages.
    pub text: String,
    /// Each step's name.
    pub names: Vec<String>,
    keys: Vec<Val>,
}

impl FieldPath {
    /// Parses `a.b.c`; `\.` is a dot inside a name and `\\` a backslash.
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        let mut names = vec![String::new()];
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(next) => names.last_mut().expect("never empty").push(next),
                    None => return Err(format!("field {text:?} ends with a lone backslash")),
                },
                '.' => names.push(String::new()),
                c => names.last_mut().expect("never empty").push(c),
            }
        }
        if names.iter().any(String::is_empty) {
            return Err(format!("{text:?} is not a field name (a.b.c)"));
        }
        let keys = names.iter().map(|n| key(n)).collect();
        Ok(FieldPath {
            text: text.to_string(),
            names,
            keys,
        })
    }

    /// The names as byte strings, for [`sluice_stream::scan::lookup`].
    pub fn byte_names(&self) -> Vec<Box<[u8]>> {
        self.names.iter().map(|n| n.as_bytes().into()).collect()
    }

    /// The same path under `prefix` (for `--value-only`: `value.<path>`).
    pub fn under(&self, prefix: &str) -> FieldPath {
        let mut names = vec![prefix.to_string()];
        names.extend(self.names.iter().cloned());
        let keys = names.iter().map(|n| key(n)).collect();
        FieldPath {
            text: format!("{prefix}.{}", self.text),
            names,
            keys,
        }
    }

    /// The value at this path, if every step is there.
    pub fn get<'v>(&self, record: &'v Val) -> Option<&'v Val> {
        let mut at = record;
        for key in &self.keys {
            match at {
                Val::Obj(map) => at = map.get(key)?,
                _ => return None,
            }
        }
        Some(at)
    }

    /// Removes and returns the value at this path.
    pub fn remove(&self, record: &mut Val) -> Option<Val> {
        let (last, parents) = self.keys.split_last()?;
        let mut at = record;
        for key in parents {
            match at {
                Val::Obj(map) => at = Rc::make_mut(map).get_mut(key)?,
                _ => return None,
            }
        }
        match at {
            Val::Obj(map) => Rc::make_mut(map).shift_remove(last),
            _ => None,
        }
    }

    /// Takes the value at this path, leaving null in its place (the field keeps its position).
    pub fn take(&self, record: &mut Val) -> Option<Val> {
        let mut at = record;
        for key in &self.keys {
            match at {
                Val::Obj(map) => at = Rc::make_mut(map).get_mut(key)?,
                _ => return None,
            }
        }
        Some(std::mem::take(at))
    }

    /// Sets the value at this path, making missing (or null) parents objects. A parent that
    /// is some other value is an error.
    pub fn set(&self, record: &mut Val, value: Val) -> Result<(), String> {
        let (last, parents) = self.keys.split_last().expect("paths are not empty");
        let mut at = record;
        for (i, key) in parents.iter().enumerate() {
            let Val::Obj(map) = at else {
                return Err(self.not_object(i, at));
            };
            let slot = Rc::make_mut(map)
                .entry(key.clone())
                .or_insert_with(|| Val::obj(Default::default()));
            if matches!(slot, Val::Null) {
                *slot = Val::obj(Default::default());
            }
            at = slot;
        }
        match at {
            Val::Obj(map) => {
                Rc::make_mut(map).insert(last.clone(), value);
                Ok(())
            }
            other => Err(self.not_object(parents.len(), other)),
        }
    }

    /// Why a record that already has `to` cannot have this field renamed to it.
    pub fn rename_collision(&self, to: &FieldPath) -> String {
        format!(
            "cannot rename {} to {}: the record already has {} (drop it first to replace it)",
            self.text, to.text, to.text
        )
    }

    /// Renames the field at this path to `to`: in place when both share a parent object. A
    /// record that already has `to` is an error: renaming must not overwrite a field.
    pub fn rename(&self, record: &mut Val, to: &FieldPath) -> Result<(), String> {
        // Onto its own ancestor (`p.v` to `p`) a field replaces what held it: nothing else is
        // lost.
        let onto_ancestor = self.keys.starts_with(&to.keys);
        if !onto_ancestor && self.get(record).is_some() && to.get(record).is_some() {
            return Err(self.rename_collision(to));
        }
        let same_parent = self.keys.len() == to.keys.len()
            && self.keys[..self.keys.len() - 1] == to.keys[..to.keys.len() - 1];
        if !same_parent {
            return match self.remove(record) {
                Some(value) => to.set(record, value),
                None => Ok(()),
            };
        }
        let (last, parents) = self.keys.split_last().expect("paths are not empty");
        let new_key = to.keys.last().expect("paths are not empty");
        let mut at = record;
        for key in parents {
            match at {
                Val::Obj(map) => match Rc::make_mut(map).get_mut(key) {
                    Some(next) => at = next,
                    None => return Ok(()),
                },
                _ => return Ok(()),
            }
        }
        let Val::Obj(map) = at else { return Ok(()) };
        let map = Rc::make_mut(map);
        if last == new_key || !map.contains_key(last) {
            return Ok(());
        }
        map.shift_remove(new_key);
        let index = map.get_index_of(last).expect("checked above");
        let (_, value) = map.shift_remove_index(index).expect("index is in range");
        map.shift_insert(index, new_key.clone(), value);
        Ok(())
    }

    fn not_object(&self, depth: usize, found: &Val) -> String {
        let place = match depth {
            0 => "the record".to_string(),
            _ => self.names[..depth].join("."),
        };
        format!(
            "cannot set {}: {place} is {}, not an object",
            self.text,
            short(found)
        )
    }
}

/// A string value usable as an object key.
pub fn key(name: &str) -> Val {
    Val::utf8_str(name.as_bytes().to_vec())
}

/// The text of a string value, if it is one.
pub fn as_text(value: &Val) -> Option<&str> {
    match value {
        Val::TStr(bytes) => std::str::from_utf8(bytes).ok(),
        _ => None,
    }
}

/// A value's text for keys and joins: strings as they are (so the text "1" of a CSV table
/// joins the number 1), numbers by their value (`1`, `1.0` and `1e0` are one key, as they are
/// equal in jq), anything else as JSON.
pub fn key_text(value: &Val) -> Result<String, String> {
    if let Some(text) = as_text(value) {
        return Ok(text.to_string());
    }
    let float = match value {
        Val::Num(jaq_json::Num::Int(i)) => return Ok(i.to_string()),
        Val::Num(jaq_json::Num::Float(f)) => Some(*f),
        Val::Num(jaq_json::Num::Dec(text)) => text.parse::<f64>().ok(),
        _ => None,
    };
    match float {
        // An integral double's exact digits, as an integer of that value is written (-0 is 0).
        Some(f) if f.is_finite() && f.fract() == 0.0 => Ok(format!("{:.0}", f + 0.0)),
        Some(f) if f.is_finite() => Ok(ryu::Buffer::new().format_finite(f).to_string()),
        _ => to_text(value),
    }
}

/// Reads a time: RFC 3339 text (also with a space for `T`, or without an offset, read as UTC),
/// a `YYYY-MM-DD` date, text in `format` (strftime) when given, or a number of seconds (under
/// 100 000 000 000) or else milliseconds since the epoch. Returns milliseconds since the epoch.
pub fn parse_time_text(text: &str, format: Option<&str>) -> Option<i64> {
    if let Some(format) = format {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
        return NaiveDate::parse_from_str(text, format).ok().map(|d| {
            d.and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_millis()
        });
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%d %H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(text, format) {
            return Some(t.timestamp_millis());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok().map(|d| {
        d.and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis()
    })
}

/// Epoch seconds or milliseconds to milliseconds (see [`parse_time_text`]).
pub fn epoch_to_ms(n: f64) -> Option<i64> {
    if !n.is_finite() {
        return None;
    }
    let ms = if n.abs() < 1e11 { n * 1000.0 } else { n };
    // Only times chrono can show (about ±262,000 years): others are not times.
    let ms = ms.round();
    (ms.abs() < 8.2e15).then_some(ms as i64)
}

/// Milliseconds since the epoch as RFC 3339 in UTC (`2013-01-01T10:00:00Z`, with a fraction
/// only when there is one).
pub fn format_time(ms: i64) -> String {
    match DateTime::<Utc>::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_expr::json;

    fn record(text: &str) -> Val {
        json::parse(text.as_bytes()).unwrap()
    }

    fn text(v: &Val) -> String {
        json::to_text(v).unwrap()
    }

    #[test]
    fn equal_numbers_are_one_key() {
        let keys = |t: &str| -> Vec<String> {
            let Val::Arr(items) = json::parse_valid(t.as_bytes()).unwrap() else {
                panic!("an array");
            };
            items.iter().map(|v| key_text(v).unwrap()).collect()
        };
        assert_eq!(
            keys(r#"[1, 1.0, 1e0, 10e-1, -0.0, 1.50, "1", 12345678901234567890, "x", null]"#),
            [
                "1",
                "1",
                "1",
                "1",
                "0",
                "1.5",
                "1",
                "12345678901234567890",
                "x",
                "null"
            ]
        );
    }

    #[test]
    fn paths_get_set_remove() {
        let mut r = record(r#"{"a":{"b":1},"c":2,"d":null}"#);
        let ab = FieldPath::parse("a.b").unwrap();
        assert_eq!(text(ab.get(&r).unwrap()), "1");
        FieldPath::parse("d.e")
            .unwrap()
            .set(&mut r, Val::Bool(true))
            .unwrap();
        FieldPath::parse("x.y")
            .unwrap()
            .set(&mut r, Val::Null)
            .unwrap();
        assert_eq!(text(&ab.remove(&mut r).unwrap()), "1");
        assert_eq!(text(&r), r#"{"a":{},"c":2,"d":{"e":true},"x":{"y":null}}"#);
        let err = FieldPath::parse("c.z").unwrap().set(&mut r, Val::Null);
        assert!(err.unwrap_err().contains("c is a number"));
        assert_eq!(FieldPath::parse(r"a\.b").unwrap().names, ["a.b"]);
        assert!(FieldPath::parse("a..b").is_err());
    }

    #[test]
    fn rename_keeps_the_field_in_place() {
        let mut r = record(r#"{"a":1,"b":2,"c":3}"#);
        let p = |s| FieldPath::parse(s).unwrap();
        p("b").rename(&mut r, &p("x")).unwrap();
        assert_eq!(text(&r), r#"{"a":1,"x":2,"c":3}"#);
        let error = p("x").rename(&mut r, &p("a")).unwrap_err();
        assert!(error.contains("already has a"), "{error}");
        assert_eq!(text(&r), r#"{"a":1,"x":2,"c":3}"#);
        p("c").rename(&mut r, &p("n.c")).unwrap();
        assert_eq!(text(&r), r#"{"a":1,"x":2,"n":{"c":3}}"#);
        p("missing").rename(&mut r, &p("z")).unwrap();
        assert_eq!(text(&r), r#"{"a":1,"x":2,"n":{"c":3}}"#);
        p("n.c").rename(&mut r, &p("n")).unwrap();
        assert_eq!(text(&r), r#"{"a":1,"x":2,"n":3}"#);
    }

    #[test]
    fn times_parse_in_common_forms() {
        let t = 1_357_034_400_000;
        for text in [
            "2013-01-01T10:00:00Z",
            "2013-01-01T05:00:00-05:00",
            "2013-01-01 10:00:00",
            "2013-01-01T10:00:00",
            "2013-01-01 10:00:00+00:00",
        ] {
            assert_eq!(parse_time_text(text, None), Some(t), "{text}");
        }
        assert_eq!(parse_time_text("2013-01-01", None), Some(t - 36_000_000));
        assert_eq!(parse_time_text("junk", Some("%m/%d/%Y")), None);
        assert_eq!(
            parse_time_text("01/01/2013 10:00", Some("%m/%d/%Y %H:%M")),
            Some(t)
        );
        assert_eq!(epoch_to_ms(1_357_034_400.0), Some(t));
        assert_eq!(epoch_to_ms(1_357_034_400_000.0), Some(t));
        assert_eq!(epoch_to_ms(-1e19), None);
        assert_eq!(format_time(t), "2013-01-01T10:00:00Z");
        assert_eq!(format_time(t + 5), "2013-01-01T10:00:00.005Z");
    }
}
