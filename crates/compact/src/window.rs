//! Event time and windows: a record's time from its field, the window it falls in, and the
//! window's folder.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sluice_lake::Layout;
use sluice_stream::scan::{self, FieldSpan, Found, Kind};

use crate::intake::Placed;
use crate::spill::EntryKind;

/// How records are placed by event time.
pub struct TimeCut {
    field: String,
    path: Vec<Box<[u8]>>,
    unit: EpochUnit,
    window_ms: i64,
    /// With --max-lateness: records before this time are too late.
    oldest_allowed: Option<i64>,
}

impl TimeCut {
    /// Places records into the windows of `layout`, reading numbers as `unit`.
    pub fn new(layout: &Layout, unit: EpochUnit, oldest_allowed: Option<i64>) -> Self {
        TimeCut {
            field: layout.time_field.clone(),
            path: layout
                .time_field
                .split('.')
                .map(|part| part.as_bytes().into())
                .collect(),
            unit,
            window_ms: layout.window_ms,
            oldest_allowed,
        }
    }

    /// Places the object `line` (top-level `fields`): a new record by its event time, or
    /// with `lake`, a record of the lake's file in that window. The error says why the
    /// record cannot be placed.
    pub fn place<'a>(
        &self,
        line: &'a [u8],
        fields: &[FieldSpan],
        lake: Option<i64>,
    ) -> Result<Placed<'a>, String> {
        let raw = match scan::lookup(line, fields, &self.path) {
            Found::Value(raw) => Some(raw),
            Found::Missing => None,
            Found::NotObject => {
                return Err(format!(
                    "{} runs into a value that is not an object",
                    self.field
                ))
            }
        };
        let parsed = event_time_ms(raw, self.unit);
        let (window, time, kind) = match (lake, parsed) {
            (Some(window), time) => (window, time.unwrap_or(window), EntryKind::Lake),
            (None, Ok(time)) => (window_start(time, self.window_ms), time, EntryKind::Record),
            (None, Err(why)) => return Err(format!("the time field {} {why}", self.field)),
        };
        match self.oldest_allowed {
            Some(oldest) if lake.is_none() && time < oldest => Err(format!(
                "{} {} is older than --max-lateness allows (the lake takes times from {} on)",
                self.field,
                rfc3339(time),
                rfc3339(oldest)
            )),
            _ => Ok(Placed {
                window,
                time,
                kind,
                key: None,
            }),
        }
    }
}

/// How numbers in the time field count time since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EpochUnit {
    /// Seconds, or milliseconds when the number is 100,000,000,000 or more in size (which as
    /// seconds would be after the year 5000).
    Auto,
    /// Seconds (fractions kept to the millisecond).
    S,
    /// Milliseconds.
    Ms,
}

/// Reads an event time (ms since the Unix epoch) from a JSON value's text: an RFC 3339 string
/// (a time without an offset is read as written, as UTC), a `YYYY-MM-DD` date (its midnight),
/// or a number of seconds or milliseconds. The error says why the value is not a time.
pub fn event_time_ms(raw: Option<&[u8]>, unit: EpochUnit) -> Result<i64, String> {
    let Some(raw) = raw else {
        return Err("is missing".into());
    };
    match Kind::of(raw) {
        Kind::Null => Err("is null".into()),
        Kind::String => {
            let text = scan::unescape(raw).ok_or("is not a valid string")?;
            parse_time(&text)
                .map(|t| t.timestamp_millis())
                .ok_or_else(|| {
                    format!("{text:?} is not an RFC 3339 time (as 2013-01-01T05:00:00Z) or a date")
                })
        }
        Kind::Number => {
            let text = std::str::from_utf8(raw).map_err(|_| "is not a number")?;
            epoch_ms(text, unit).ok_or_else(|| format!("{text} is out of the range of times"))
        }
        _ => Err(format!(
            "{} is not a time (an RFC 3339 string or a number since the epoch)",
            String::from_utf8_lossy(&raw[..raw.len().min(40)])
        )),
    }
}

/// A time from text: RFC 3339, the same without an offset (read as UTC), or a date (its
/// midnight, UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(t.and_utc());
        }
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc())
}

fn epoch_ms(text: &str, unit: EpochUnit) -> Option<i64> {
    let value: f64 = text.parse().ok()?;
    let ms = match unit {
        EpochUnit::Ms => value,
        EpochUnit::S => value * 1000.0,
        EpochUnit::Auto if value.abs() >= 1e11 => value,
        EpochUnit::Auto => value * 1000.0,
    };
    // Integers are exact up to 2^53 ms; the years chrono can name end before that.
    let ms = (ms.is_finite() && ms.abs() < 9.0e15).then(|| ms.floor() as i64)?;
    DateTime::<Utc>::from_timestamp_millis(ms).map(|_| ms)
}

/// The start of the window of `window_ms` that holds `time_ms` (windows start at the epoch).
pub fn window_start(time_ms: i64, window_ms: i64) -> i64 {
    time_ms.div_euclid(window_ms) * window_ms
}

/// The folder pattern for a window size: `dt=%Y-%m-%d`, then `hour=%H` for windows shorter
/// than a day, `minute=%M` for ones shorter than an hour and `second=%S` below a minute.
pub fn default_template(window_ms: i64) -> String {
    let mut template = String::from("dt=%Y-%m-%d");
    for (unit, part) in [
        (86_400_000, "/hour=%H"),
        (3_600_000, "/minute=%M"),
        (60_000, "/second=%S"),
    ] {
        if window_ms % unit != 0 {
            template.push_str(part);
        }
    }
    template
}

/// Checks a `--path-template`: it must render, and name a relative folder.
pub fn check_template(template: &str) -> Result<(), String> {
    use std::fmt::Write;
    let mut out = String::new();
    let start = DateTime::<Utc>::UNIX_EPOCH;
    write!(out, "{}", start.format(template))
        .map_err(|_| format!("'{template}' is not a strftime pattern (as dt=%Y-%m-%d/hour=%H)"))?;
    let bad = out.is_empty()
        || out.starts_with('/')
        || out
            .split('/')
            .any(|part| part.is_empty() || part == ".." || part.starts_with(['.', '_']));
    match bad {
        true => Err(format!(
            "'{template}' must name relative folders, none empty, '..' or starting with . or _"
        )),
        false => Ok(()),
    }
}

/// The folder (relative to the lake's root) of a window (or with key compaction, a bucket).
pub fn folder_of(layout: &Layout, window: i64) -> String {
    match &layout.key {
        Some(key) => crate::key::folder(key, window),
        None => folder(&layout.path_template, window),
    }
}

/// The folder (relative to the lake's root) of the window starting at `start_ms`.
pub fn folder(template: &str, start_ms: i64) -> String {
    let start = DateTime::<Utc>::from_timestamp_millis(start_ms).unwrap_or_default();
    start.format(template).to_string()
}

/// A time as RFC 3339 in UTC, for messages.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(raw: &str) -> Result<i64, String> {
        event_time_ms(Some(raw.as_bytes()), EpochUnit::Auto)
    }

    #[test]
    fn times_are_read_from_strings_and_numbers() {
        assert_eq!(time(r#""2013-01-01T05:00:00Z""#), Ok(1_357_016_400_000));
        assert_eq!(
            time(r#""2013-01-01T06:00:00+01:00""#),
            Ok(1_357_016_400_000)
        );
        assert_eq!(time(r#""2013-01-01 05:00:00""#), Ok(1_357_016_400_000));
        assert_eq!(time(r#""2013-01-01""#), Ok(1_356_998_400_000));
        assert_eq!(time("1357016400"), Ok(1_357_016_400_000));
        assert_eq!(time("1357016400000"), Ok(1_357_016_400_000));
        assert_eq!(time("1357016400.5"), Ok(1_357_016_400_500));
        assert_eq!(
            event_time_ms(Some(b"1e13"), EpochUnit::S),
            Err("1e13 is out of the range of times".into())
        );
        assert_eq!(time("null"), Err("is null".into()));
        assert_eq!(
            event_time_ms(None, EpochUnit::Auto),
            Err("is missing".into())
        );
        assert!(time(r#""yesterday""#).unwrap_err().contains("RFC 3339"));
        assert!(time("{}").unwrap_err().contains("not a time"));
    }

    #[test]
    fn windows_start_at_the_epoch_also_before_it() {
        assert_eq!(
            window_start(1_357_016_401_000, 3_600_000),
            1_357_016_400_000
        );
        assert_eq!(window_start(-1, 60_000), -60_000);
    }

    #[test]
    fn folders_follow_the_window_size() {
        assert_eq!(default_template(86_400_000), "dt=%Y-%m-%d");
        assert_eq!(default_template(3_600_000), "dt=%Y-%m-%d/hour=%H");
        assert_eq!(default_template(300_000), "dt=%Y-%m-%d/hour=%H/minute=%M");
        assert_eq!(
            folder("dt=%Y-%m-%d/hour=%H", 1_357_016_400_000),
            "dt=2013-01-01/hour=05"
        );
        assert!(check_template("year=%Y/month=%m").is_ok());
        assert!(check_template("/abs/%Y").is_err());
        assert!(check_template("../%Y").is_err());
        assert!(check_template("%Y//x").is_err());
        assert!(check_template("%Q").is_err());
    }
}
