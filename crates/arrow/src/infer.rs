//! Inferring an Arrow schema from JSON records, one pass, without building values.
//!
//! Types widen where records disagree: integers and floats make floats; any scalar and a string
//! make a string; objects merge their fields; a field that holds both nested and scalar values
//! becomes a string of JSON text (the `arrow.json` extension type). A field missing from some
//! records, or null in some, is nullable. Strings that are RFC 3339 date-times become
//! timestamps (in UTC when they carry an offset, without a time zone when they do not), and
//! `YYYY-MM-DD` strings become dates, unless `detect_time` is off.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use sluice_stream::json::CowStr;

use crate::schema::json_field;

/// What the values seen at one place in the records have in common.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Only nulls so far.
    Null,
    Bool,
    Int,
    /// Integers beyond the signed 64-bit range (up to 2^64 - 1).
    BigInt,
    Float,
    /// The strings "NaN", "Infinity", "-Infinity": floats if numbers appear too.
    FloatWord,
    Date,
    Timestamp {
        offset: bool,
        nanos: bool,
        /// Some value lies outside the years nanoseconds reach (1678 to 2261 kept safe).
        beyond_nanos: bool,
    },
    String,
    /// Nested and scalar values mixed: kept as JSON text.
    Json,
    List(Box<Node>),
    Struct(Vec<(String, Node)>),
}

/// One place in the record tree: its kind, how often it was present and how often null.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: Kind,
    present: u64,
    nulls: u64,
    /// For structs: how many objects were seen here (fields present fewer times are nullable).
    objects: u64,
}

impl Node {
    fn new() -> Self {
        Node {
            kind: Kind::Null,
            present: 0,
            nulls: 0,
            objects: 0,
        }
    }

    fn merge_scalar(&mut self, kind: Kind) {
        self.present += 1;
        if self.kind == kind {
            return;
        }
        self.kind = widen(std::mem::replace(&mut self.kind, Kind::Null), kind);
    }
}

/// A timestamp kind; a string when it needs nanoseconds and some value lies beyond their
/// range, which no timestamp column could hold unchanged.
fn timestamp(offset: bool, nanos: bool, beyond_nanos: bool) -> Kind {
    if nanos && beyond_nanos {
        return Kind::String;
    }
    Kind::Timestamp {
        offset,
        nanos,
        beyond_nanos,
    }
}

fn widen(a: Kind, b: Kind) -> Kind {
    use Kind::*;
    match (a, b) {
        (Null, x) | (x, Null) => x,
        (Json, _) | (_, Json) => Json,
        (List(mut x), List(y)) => {
            x.merge_node(*y);
            List(x)
        }
        (Struct(mut x), Struct(y)) => {
            for (name, node) in y {
                match x.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, existing)) => existing.merge_node(node),
                    None => x.push((name, node)),
                }
            }
            Struct(x)
        }
        (List(_) | Struct(_), _) | (_, List(_) | Struct(_)) => Json,
        (a, b) if a == b => a,
        (Int, Float) | (Float, Int) => Float,
        (Int, BigInt) | (BigInt, Int) => BigInt,
        (BigInt, Float) | (Float, BigInt) => Float,
        (FloatWord, Int | BigInt | Float) | (Int | BigInt | Float, FloatWord) => Float,
        (
            Timestamp {
                offset: o1,
                nanos: n1,
                beyond_nanos: b1,
            },
            Timestamp {
                offset: o2,
                nanos: n2,
                beyond_nanos: b2,
            },
        ) if o1 == o2 => timestamp(o1, n1 || n2, b1 || b2),
        _ => String,
    }
}

impl Node {
    fn merge_node(&mut self, other: Node) {
        self.present += other.present;
        self.nulls += other.nulls;
        self.objects += other.objects;
        self.kind = widen(std::mem::replace(&mut self.kind, Kind::Null), other.kind);
    }
}

/// Learns a schema from records fed to it one at a time.
#[derive(Debug, Clone)]
pub struct SchemaInference {
    root: Node,
    detect_time: bool,
}

impl SchemaInference {
    /// Starts with no fields. `detect_time` turns RFC 3339 and date strings into timestamps
    /// and dates.
    pub fn new(detect_time: bool) -> Self {
        let mut root = Node::new();
        root.kind = Kind::Struct(Vec::new());
        SchemaInference { root, detect_time }
    }

    /// Adds one record (a JSON object's text) to what is known. A record that is not a valid
    /// JSON object is refused and changes nothing; so is one with a number beyond the range
    /// of a float (`1e400`), though fields before that number may have been counted.
    pub fn add(&mut self, record: &str) -> Result<(), String> {
        // Checked first, so that a bad record leaves nothing behind (serde_json reports an
        // error only where it meets it, after the fields before it were counted).
        sluice_stream::scan::validate_object_text(record)?;
        let mut de = serde_json::Deserializer::from_str(record);
        NodeSeed {
            node: &mut self.root,
            detect_time: self.detect_time,
        }
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| format!("invalid JSON: {e}"))
    }

    /// Merges what another inference (over other records) learned.
    pub fn merge(&mut self, other: SchemaInference) {
        self.root.merge_node(other.root);
    }

    /// The schema for everything seen so far, fields in first-seen order.
    pub fn schema(&self) -> Schema {
        match &self.root.kind {
            Kind::Struct(fields) => Schema::new(struct_fields(fields, self.root.objects)),
            _ => Schema::empty(),
        }
    }
}

fn struct_fields(fields: &[(String, Node)], objects: u64) -> Fields {
    fields
        .iter()
        .map(|(name, node)| {
            let nullable = node.nulls > 0 || node.present < objects;
            Arc::new(to_field(name, node, nullable))
        })
        .collect()
}

fn to_field(name: &str, node: &Node, nullable: bool) -> Field {
    let data_type = match &node.kind {
        Kind::Null => DataType::Null,
        Kind::Bool => DataType::Boolean,
        Kind::Int => DataType::Int64,
        Kind::BigInt => DataType::Decimal128(20, 0),
        Kind::Float => DataType::Float64,
        Kind::FloatWord | Kind::String => DataType::Utf8,
        Kind::Date => DataType::Date32,
        Kind::Timestamp { offset, nanos, .. } => DataType::Timestamp(
            if *nanos {
                TimeUnit::Nanosecond
            } else {
                TimeUnit::Microsecond
            },
            offset.then(|| "UTC".into()),
        ),
        Kind::Json => return json_field(name, nullable),
        // Parquet cannot store a struct without fields: keep `{}` as JSON text.
        Kind::Struct(fields) if fields.is_empty() => return json_field(name, nullable),
        Kind::Struct(fields) => DataType::Struct(struct_fields(fields, node.objects)),
        Kind::List(item) => {
            let item_nullable = item.nulls > 0;
            DataType::List(Arc::new(to_field("item", item, item_nullable)))
        }
    };
    Field::new(name, data_type, nullable)
}

struct NodeSeed<'n> {
    node: &'n mut Node,
    detect_time: bool,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.node.merge_scalar(Kind::Bool);
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.node.merge_scalar(Kind::Int);
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.node.merge_scalar(if v > i64::MAX as u64 {
            Kind::BigInt
        } else {
            Kind::Int
        });
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.node.merge_scalar(Kind::Float);
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.node.merge_scalar(classify_string(v, self.detect_time));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.node.present += 1;
        self.node.nulls += 1;
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.node.present += 1;
        if !matches!(self.node.kind, Kind::List(_)) {
            self.node.kind = widen(
                std::mem::replace(&mut self.node.kind, Kind::Null),
                Kind::List(Box::new(Node::new())),
            );
        }
        match &mut self.node.kind {
            Kind::List(item) => {
                while seq
                    .next_element_seed(NodeSeed {
                        node: item,
                        detect_time: self.detect_time,
                    })?
                    .is_some()
                {}
            }
            _ => while seq.next_element::<de::IgnoredAny>()?.is_some() {},
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.node.present += 1;
        if !matches!(self.node.kind, Kind::Struct(_)) {
            self.node.kind = widen(
                std::mem::replace(&mut self.node.kind, Kind::Null),
                Kind::Struct(Vec::new()),
            );
        }
        let detect_time = self.detect_time;
        match &mut self.node.kind {
            Kind::Struct(fields) => {
                self.node.objects += 1;
                let mut hint = 0;
                while let Some(key) = map.next_key_seed(CowStr)? {
                    // Fields usually come in the same order: try the next one first.
                    let index = if hint < fields.len() && fields[hint].0 == key {
                        hint
                    } else if let Some(i) = fields.iter().position(|(n, _)| *n == key) {
                        i
                    } else {
                        fields.push((key.into_owned(), Node::new()));
                        fields.len() - 1
                    };
                    hint = index + 1;
                    map.next_value_seed(NodeSeed {
                        node: &mut fields[index].1,
                        detect_time,
                    })?;
                }
            }
            _ => {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
            }
        }
        Ok(())
    }
}

/// What a string value looks like.
fn classify_string(s: &str, detect_time: bool) -> Kind {
    match s {
        "NaN" | "Infinity" | "-Infinity" => return Kind::FloatWord,
        _ => {}
    }
    if !detect_time || s.len() < 10 || !s.as_bytes()[0].is_ascii_digit() {
        return Kind::String;
    }
    if s.len() == 10 {
        return if is_date(s.as_bytes()) {
            Kind::Date
        } else {
            Kind::String
        };
    }
    match parse_datetime(s) {
        Some(t) => timestamp(t.offset, t.nanos, t.beyond_nanos),
        None => Kind::String,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// True for a valid `YYYY-MM-DD` date: what inference types as a date.
pub(crate) fn is_date(b: &[u8]) -> bool {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    match (digits(&b[0..4]), digits(&b[5..7]), digits(&b[8..10])) {
        (Some(y), Some(m), Some(d)) => chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some(),
        _ => false,
    }
}

/// What [`parse_datetime`] tells of a date-time string.
pub(crate) struct DateTimeShape {
    /// It ends with `Z` or an offset.
    pub offset: bool,
    /// Its fraction has more than 6 digits.
    pub nanos: bool,
    /// Its year is outside 1678 to 2261, where nanoseconds since 1970 (in 64 bits) surely
    /// reach, whatever its offset.
    pub beyond_nanos: bool,
}

/// Recognises `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (`T`, `t` or a space).
pub(crate) fn parse_datetime(s: &str) -> Option<DateTimeShape> {
    let b = s.as_bytes();
    if b.len() < 19 || !is_date(&b[..10]) || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (h, m, sec) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if b[13] != b':' || b[16] != b':' || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let mut rest = &b[19..];
    let mut fraction = 0;
    if let Some((b'.', tail)) = rest.split_first() {
        fraction = tail.iter().take_while(|c| c.is_ascii_digit()).count();
        // Past nanoseconds no timestamp holds every digit: the text stays a string.
        if fraction == 0 || fraction > 9 {
            return None;
        }
        rest = &tail[fraction..];
    }
    let offset = match rest {
        [] => false,
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            let oh = digits(&[*h1, *h2])?;
            let om = digits(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            true
        }
        _ => return None,
    };
    let year = digits(&b[..4])?;
    Some(DateTimeShape {
        offset,
        nanos: fraction > 6,
        beyond_nanos: !(1678..=2261).contains(&year),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(records: &[&str]) -> Schema {
        let mut inference = SchemaInference::new(true);
        for r in records {
            inference.add(r).unwrap();
        }
        inference.schema()
    }

    fn types(schema: &Schema) -> Vec<(String, DataType, bool)> {
        schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect()
    }

    #[test]
    fn widens_and_tracks_nulls() {
        let s = infer(&[
            r#"{"i":1,"f":1,"s":1,"b":true,"n":null}"#,
            r#"{"i":2,"f":1.5,"s":"x","b":false,"n":null,"late":"2013-01-01"}"#,
        ]);
        assert_eq!(
            types(&s),
            vec![
                ("i".into(), DataType::Int64, false),
                ("f".into(), DataType::Float64, false),
                ("s".into(), DataType::Utf8, false),
                ("b".into(), DataType::Boolean, false),
                ("n".into(), DataType::Null, true),
                ("late".into(), DataType::Date32, true),
            ]
        );
    }

    #[test]
    fn time_strings_become_timestamps() {
        let s = infer(&[
            r#"{"z":"2013-01-01T10:00:00Z","l":"2013-01-01T10:00:00","ns":"2013-01-01 10:00:00.123456789+01:00","bad":"2013-02-30T00:00:00Z"}"#,
        ]);
        assert_eq!(
            s.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(
            s.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, None)
        );
        assert_eq!(
            s.field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        assert_eq!(s.field(3).data_type(), &DataType::Utf8);
    }

    #[test]
    fn nanoseconds_beyond_their_years_keep_the_text() {
        let s = infer(&[
            r#"{"late":"2262-04-12T00:00:00.123456789Z","mixed":"2013-01-01T00:00:00.123456789Z","micros":"9999-12-31T23:59:59.5Z"}"#,
            r#"{"late":"2262-04-12T00:00:00Z","mixed":"2500-01-01T00:00:00Z","micros":"0001-01-01T00:00:00Z"}"#,
        ]);
        let finer = infer(&[r#"{"t":"2020-01-01T00:00:00.1234567891Z"}"#]);
        assert_eq!(finer.field(0).data_type(), &DataType::Utf8);
        assert_eq!(s.field(0).data_type(), &DataType::Utf8);
        assert_eq!(s.field(1).data_type(), &DataType::Utf8);
        assert_eq!(
            s.field(2).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
    }

    #[test]
    fn nested_values_merge_and_mixed_ones_become_json() {
        let s = infer(&[
            r#"{"o":{"a":1},"l":[1,2],"m":{"x":1},"e":{}}"#,
            r#"{"o":{"b":"x"},"l":[2.5,null],"m":3,"e":{}}"#,
        ]);
        let DataType::Struct(o) = s.field(0).data_type() else {
            panic!("{s:?}")
        };
        assert_eq!(o.len(), 2);
        assert!(o[0].is_nullable() && o[1].is_nullable());
        let DataType::List(item) = s.field(1).data_type() else {
            panic!()
        };
        assert_eq!(item.data_type(), &DataType::Float64);
        assert!(item.is_nullable());
        assert!(crate::schema::is_json_field(s.field(2)));
        assert!(crate::schema::is_json_field(s.field(3)));
    }

    #[test]
    fn nan_words_join_floats_and_big_integers_stay_exact() {
        let s = infer(&[
            r#"{"f":1.5,"w":"NaN","u":18446744073709551615}"#,
            r#"{"f":"NaN","w":"x","u":1}"#,
        ]);
        assert_eq!(s.field(0).data_type(), &DataType::Float64);
        assert_eq!(s.field(1).data_type(), &DataType::Utf8);
        assert_eq!(s.field(2).data_type(), &DataType::Decimal128(20, 0));
    }
}
