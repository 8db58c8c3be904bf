//! Key compaction: each record goes to a bucket by a hash of its key, and every bucket that
//! received records is rewritten with the latest record of each of its keys; a key whose
//! latest record is a delete (a topic tombstone, or a record matching --delete-when) is gone.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use sluice_expr::Condition;
use sluice_lake::KeyLayout;
use sluice_log::murmur2::partition_for_key;
use sluice_stream::scan::{self, FieldSpan, Found, Kind};
use sluice_stream::{Error, Result};

use crate::intake::Placed;
use crate::spill::{Entry, EntryKind, WindowRecords};
use crate::window::parse_time;

/// How records are placed by key.
pub struct KeyCut {
    field: String,
    path: Vec<Box<[u8]>>,
    order: Option<(String, Vec<Box<[u8]>>)>,
    buckets: u32,
    delete_when: Option<Condition>,
}

/// The folder pattern of a key-compacted lake with `buckets` buckets, as its manifest shows it:
/// `bucket=` and an `N` for each digit.
pub fn template(buckets: u32) -> String {
    format!("bucket={}", "N".repeat(width(buckets)))
}

/// The folder of bucket `bucket`.
pub fn folder(layout: &KeyLayout, bucket: i64) -> String {
    format!("bucket={bucket:0width$}", width = width(layout.buckets))
}

fn width(buckets: u32) -> usize {
    buckets.saturating_sub(1).to_string().len().max(4)
}

fn path(field: &str) -> Vec<Box<[u8]>> {
    field
        .split('.')
        .map(|part| part.as_bytes().into())
        .collect()
}

impl KeyCut {
    /// Places records by `layout`, deleting keys whose record matches `delete_when`.
    pub fn new(layout: &KeyLayout, delete_when: Option<&str>) -> Result<Self> {
        let delete_when = delete_when
            .map(Condition::compile)
            .transpose()
            .map_err(|e| Error::Usage(format!("bad --delete-when expression: {e}")))?;
        Ok(KeyCut {
            field: layout.field.clone(),
            path: path(&layout.field),
            order: layout.order_by.as_ref().map(|f| (f.clone(), path(f))),
            buckets: layout.buckets,
            delete_when,
        })
    }

    /// The bucket of a key (murmur2, as Kafka partitions keys).
    pub fn bucket(&self, key: &[u8]) -> i64 {
        i64::from(partition_for_key(key, self.buckets))
    }

    /// The key path (for keeping the key column as written).
    pub fn path(&self) -> &[Box<[u8]>] {
        &self.path
    }

    /// The key of a topic record's key bytes: a number's canonical text, as a record's key
    /// field gives it.
    pub fn topic_key<'a>(&self, key: &'a [u8]) -> Cow<'a, [u8]> {
        match Kind::of(key) {
            Kind::Number => canonical_number(key),
            _ => Cow::Borrowed(key),
        }
    }

    /// Places the object `line` (top-level `fields`): a new record, or with `lake`, a record
    /// of the lake's file in that bucket. The error says why the record cannot be placed.
    pub fn place<'a>(
        &self,
        line: &'a [u8],
        fields: &[FieldSpan],
        lake: Option<i64>,
    ) -> Result<Placed<'a>, String> {
        let key = self.key(line, fields)?;
        let order = match &self.order {
            Some((name, path)) => order_value(lookup(line, fields, path, name)?)
                .map_err(|why| format!("the --order-by field {name} {why}"))?,
            None => 0,
        };
        let window = lake.unwrap_or_else(|| self.bucket(&key));
        let kind = match (lake, &self.delete_when) {
            (Some(_), _) => EntryKind::Lake,
            (None, Some(condition)) if condition.holds(line, fields)? => EntryKind::Delete,
            (None, _) => EntryKind::Record,
        };
        Ok(Placed {
            window,
            time: order,
            kind,
            key: Some(key),
        })
    }

    /// The key of `line` (top-level `fields`): a string's text, any other value's JSON text,
    /// as `produce --key` makes a topic record's key.
    fn key<'a>(&self, line: &'a [u8], fields: &[FieldSpan]) -> Result<Cow<'a, [u8]>, String> {
        let raw = lookup(line, fields, &self.path, &self.field)?
            .ok_or_else(|| format!("the record has no key field {}", self.field))?;
        identity(raw).ok_or_else(|| format!("the key field {} is null", self.field))
    }
}

fn lookup<'a>(
    line: &'a [u8],
    fields: &[FieldSpan],
    path: &[Box<[u8]>],
    name: &str,
) -> Result<Option<&'a [u8]>, String> {
    match scan::lookup(line, fields, path) {
        Found::Value(raw) => Ok(Some(raw)),
        Found::Missing => Ok(None),
        Found::NotObject => Err(format!("{name} runs into a value that is not an object")),
    }
}

/// A key's bytes from its JSON value: a string's text, a number's canonical text, any other
/// value's JSON text; none for null.
fn identity(raw: &[u8]) -> Option<Cow<'_, [u8]>> {
    match Kind::of(raw) {
        Kind::Null => None,
        Kind::String if !raw.contains(&b'\\') => Some(Cow::Borrowed(&raw[1..raw.len() - 1])),
        Kind::String => scan::unescape(raw).map(|text| Cow::Owned(text.into_bytes())),
        Kind::Number => Some(canonical_number(raw)),
        _ => Some(Cow::Borrowed(raw)),
    }
}

/// A whole number as an integer whatever its spelling (`1`, `1.0`, `1e0`): a key column that
/// the lake widened to floats reads back as `1.0`, and must still match `1`. Other numbers as
/// written.
fn canonical_number(raw: &[u8]) -> Cow<'_, [u8]> {
    if raw.iter().all(|b| b.is_ascii_digit() || *b == b'-') {
        return Cow::Borrowed(raw);
    }
    let parsed = std::str::from_utf8(raw)
        .ok()
        .and_then(|t| t.parse::<f64>().ok());
    match parsed {
        // Whole floats below 2^53 are exact integers.
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            Cow::Owned((f as i64).to_string().into_bytes())
        }
        _ => Cow::Borrowed(raw),
    }
}

/// An --order-by value: an integer as it is (also written as a string, as a column of
/// integers and times reads back), a time (RFC 3339, or a date) as microseconds since the
/// epoch.
fn order_value(raw: Option<&[u8]>) -> Result<i64, String> {
    let raw = raw.ok_or("is missing")?;
    let text = std::str::from_utf8(raw).map_err(|_| "is not UTF-8")?;
    let bad = || format!("{text} is not an integer or an RFC 3339 time");
    match Kind::of(raw) {
        Kind::Null => Err("is null".into()),
        Kind::Number => text.parse::<i64>().map_err(|_| bad()),
        Kind::String => scan::unescape(raw)
            .and_then(|t| {
                t.parse::<i64>()
                    .ok()
                    .or_else(|| Some(parse_time(&t)?.timestamp_micros()))
            })
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// The latest record of each key of one bucket, in key order.
pub struct Latest {
    bucket: i64,
    arena: Vec<u8>,
    live: Vec<(i64, Range<usize>)>,
    next: usize,
}

/// What a key holds while a bucket is resolved.
struct Slot {
    order: i64,
    /// The record (its place in the arena), none when deleted.
    record: Option<usize>,
}

impl Latest {
    /// Resolves a bucket's records: the lake's first, then the new ones in the order they
    /// came. A record replaces its key's when its --order-by value is at least as great (all
    /// are equal without --order-by, so the later wins); a delete does the same but leaves no
    /// record, and a tombstone deletes whatever came before it.
    pub fn resolve(bucket: i64, records: &mut dyn WindowRecords, cut: &KeyCut) -> Result<Self> {
        let mut arena = Vec::new();
        let mut held: Vec<(EntryKind, i64, Range<usize>)> = Vec::new();
        while let Some(entry) = records.next_record()? {
            let start = arena.len();
            arena.extend_from_slice(entry.record);
            held.push((entry.kind, entry.time, start..arena.len()));
        }
        let mut slots: HashMap<Box<[u8]>, Slot> = HashMap::new();
        let mut fields = Vec::new();
        let lake_first = held
            .iter()
            .enumerate()
            .filter(|(_, h)| h.0 == EntryKind::Lake)
            .chain(
                held.iter()
                    .enumerate()
                    .filter(|(_, h)| h.0 != EntryKind::Lake),
            );
        for (index, (kind, order, range)) in lake_first {
            let bytes = &arena[range.clone()];
            let key = match kind {
                EntryKind::Delete | EntryKind::Tombstone => Cow::Borrowed(bytes),
                EntryKind::Record | EntryKind::Lake => {
                    scan::object_fields(bytes, &mut fields).map_err(Error::Other)?;
                    cut.key(bytes, &fields).map_err(Error::Other)?
                }
            };
            let offered = Slot {
                order: match kind {
                    EntryKind::Tombstone => i64::MIN,
                    _ => *order,
                },
                record: matches!(kind, EntryKind::Record | EntryKind::Lake).then_some(index),
            };
            match slots.get_mut(key.as_ref()) {
                Some(slot) if *kind == EntryKind::Tombstone || offered.order >= slot.order => {
                    *slot = offered;
                }
                Some(_) => {}
                None => {
                    slots.insert(key.into_owned().into_boxed_slice(), offered);
                }
            }
        }
        let mut live: Vec<(&[u8], usize)> = slots
            .iter()
            .filter_map(|(key, slot)| slot.record.map(|index| (key.as_ref(), index)))
            .collect();
        live.sort_unstable();
        let live = live
            .into_iter()
            .map(|(_, index)| (held[index].1, held[index].2.clone()))
            .collect();
        Ok(Latest {
            bucket,
            arena,
            live,
            next: 0,
        })
    }
}

impl WindowRecords for Latest {
    fn next_record(&mut self) -> Result<Option<Entry<'_>>> {
        let Some((order, range)) = self.live.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        Ok(Some(Entry {
            window: self.bucket,
            time: *order,
            kind: EntryKind::Record,
            record: &self.arena[range.clone()],
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Listed(Vec<(EntryKind, i64, Vec<u8>)>, usize);

    impl WindowRecords for Listed {
        fn next_record(&mut self) -> Result<Option<Entry<'_>>> {
            self.1 += 1;
            Ok(self.0.get(self.1 - 1).map(|(kind, time, record)| Entry {
                window: 0,
                time: *time,
                kind: *kind,
                record,
            }))
        }
    }

    fn resolve(order_by: Option<&str>, entries: &[(EntryKind, i64, &str)]) -> Vec<String> {
        let layout = KeyLayout {
            field: "id".into(),
            buckets: 1,
            order_by: order_by.map(String::from),
        };
        let cut = KeyCut::new(&layout, None).unwrap();
        let entries = entries
            .iter()
            .map(|(k, t, r)| (*k, *t, r.as_bytes().to_vec()))
            .collect();
        let mut latest = Latest::resolve(0, &mut Listed(entries, 0), &cut).unwrap();
        let mut out = Vec::new();
        while let Some(entry) = latest.next_record().unwrap() {
            out.push(String::from_utf8(entry.record.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn the_latest_record_of_each_key_survives() {
        use EntryKind::*;
        let records = [
            (Record, 0, r#"{"id":"b","v":1}"#),
            (Lake, 0, r#"{"id":"a","v":0}"#),
            (Record, 0, r#"{"id":"a","v":2}"#),
            (Record, 0, r#"{"id":"b","v":3}"#),
            (Lake, 0, r#"{"id":"c","v":0}"#),
        ];
        assert_eq!(
            resolve(None, &records),
            [
                r#"{"id":"a","v":2}"#,
                r#"{"id":"b","v":3}"#,
                r#"{"id":"c","v":0}"#
            ]
        );
        // Deletes and tombstones; a record after a tombstone brings the key back.
        let deletes = [
            (Lake, 0, r#"{"id":"a","v":0}"#),
            (Lake, 0, r#"{"id":"b","v":0}"#),
            (Delete, 0, "a"),
            (Tombstone, 0, "b"),
            (Record, 0, r#"{"id":"b","v":9}"#),
            (Tombstone, 0, "zz"),
        ];
        assert_eq!(resolve(None, &deletes), [r#"{"id":"b","v":9}"#]);
    }

    #[test]
    fn order_by_beats_arrival_and_ties_go_to_the_later() {
        use EntryKind::*;
        let records = [
            (Lake, 5, r#"{"id":1,"v":"lake"}"#),
            (Record, 4, r#"{"id":1,"v":"older"}"#),
            (Record, 7, r#"{"id":2,"v":"first"}"#),
            (Record, 7, r#"{"id":2,"v":"tie"}"#),
            (Record, 3, r#"{"id":3,"v":"kept"}"#),
            (Delete, 2, "3"),
        ];
        assert_eq!(
            resolve(Some("t"), &records),
            [
                r#"{"id":1,"v":"lake"}"#,
                r#"{"id":2,"v":"tie"}"#,
                r#"{"id":3,"v":"kept"}"#
            ]
        );
    }

    #[test]
    fn keys_and_orders_are_read_as_produce_and_times_read_them() {
        assert_eq!(identity(br#""JFK""#).unwrap().as_ref(), b"JFK");
        assert_eq!(identity(br#""a\"b""#).unwrap().as_ref(), b"a\"b");
        assert_eq!(identity(b"42").unwrap().as_ref(), b"42");
        assert_eq!(identity(b"42.0").unwrap().as_ref(), b"42");
        assert_eq!(identity(b"4.2e1").unwrap().as_ref(), b"42");
        assert_eq!(identity(b"2.5").unwrap().as_ref(), b"2.5");
        assert_eq!(order_value(Some(br#""17""#)), Ok(17));
        assert!(identity(b"null").is_none());
        assert_eq!(order_value(Some(b"-7")), Ok(-7));
        assert_eq!(
            order_value(Some(br#""2013-01-01T00:00:00.000001Z""#)),
            Ok(1_356_998_400_000_001)
        );
        assert!(order_value(Some(b"1.5")).unwrap_err().contains("integer"));
        assert_eq!(order_value(None), Err("is missing".into()));
        assert_eq!(
            folder(
                &KeyLayout {
                    field: "k".into(),
                    buckets: 16,
                    order_by: None
                },
                7
            ),
            "bucket=0007"
        );
        assert_eq!(template(100_000), "bucket=NNNNN");
    }
}
