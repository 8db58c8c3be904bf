//! Top-level operations on a record's bytes, without building a jq value of the record.
//!
//! When every operation touches only top-level fields (rename, drop, keep, set with a program
//! that reads only named fields, default, cast, mask), the record is handled as a list of
//! (key, value) byte ranges: untouched values are copied as they were read, and a `--set`
//! program runs on an object holding only the fields it reads. Records this cannot handle
//! exactly (escaped or repeated keys) go to the full engine in `ops`.

use std::ops::Range;

use sluice_expr::reads::top_level_reads;
use sluice_expr::{json, Program, Val};
use sluice_stream::json::{write_compact, write_string};
use sluice_stream::scan::FieldSpan;

use crate::ops::{cast, mask, CastTo, Mask, Op, Settings};
use crate::value::key;

/// The operations, when all of them can work on bytes.
pub struct RawChain {
    steps: Vec<RawStep>,
    mask: Mask,
    time_format: Option<String>,
    record: Fields,
}

/// The record being worked on: its fields as pieces of the line or of a scratch buffer.
#[derive(Default)]
struct Fields {
    list: Vec<(Piece, Piece)>,
    scratch: Vec<u8>,
}

enum RawStep {
    /// (from, to, the error when the record already has `to`)
    Rename(Vec<(Vec<u8>, Vec<u8>, String)>),
    Drop(Vec<Vec<u8>>),
    Keep(Vec<Vec<u8>>),
    Set {
        name: Vec<u8>,
        program: Program,
        reads: Vec<(Vec<u8>, Val)>,
    },
    Default(Vec<u8>, Vec<u8>),
    Cast(Vec<u8>, CastTo),
    Mask(Vec<Vec<u8>>),
}

/// Bytes of the input line or of the scratch buffer.
#[derive(Clone)]
enum Piece {
    Line(Range<usize>),
    Scratch(Range<usize>),
}

impl RawChain {
    /// Compiles `ops` for byte-level work, or `None` when one of them needs the full engine.
    pub fn compile(ops: &[Op], settings: &Settings) -> Option<RawChain> {
        let top = |path: &crate::value::FieldPath| -> Option<Vec<u8>> {
            match &path.names[..] {
                [name] => Some(quoted(name)),
                _ => None,
            }
        };
        let tops =
            |paths: &[crate::value::FieldPath]| paths.iter().map(top).collect::<Option<Vec<_>>>();
        let steps = ops
            .iter()
            .map(|op| {
                Some(match op {
                    Op::Rename(pairs) => RawStep::Rename(
                        pairs
                            .iter()
                            .map(|(a, b)| Some((top(a)?, top(b)?, a.rename_collision(b))))
                            .collect::<Option<_>>()?,
                    ),
                    Op::Drop(paths) => RawStep::Drop(tops(paths)?),
                    Op::Keep(paths) => RawStep::Keep(tops(paths)?),
                    Op::Mask(paths) => RawStep::Mask(tops(paths)?),
                    Op::Set(path, code) => RawStep::Set {
                        name: top(path)?,
                        program: Program::compile(code).ok()?,
                        reads: top_level_reads(code)?
                            .iter()
                            .map(|n| (quoted(n), key(n)))
                            .collect(),
                    },
                    Op::Default(path, text) => {
                        let mut value = Vec::new();
                        write_compact(&mut value, text.as_bytes());
                        RawStep::Default(top(path)?, value)
                    }
                    Op::Cast(path, to) => RawStep::Cast(top(path)?, *to),
                    _ => return None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RawChain {
            steps,
            mask: settings.mask.clone(),
            time_format: settings.time_format.clone(),
            record: Fields::default(),
        })
    }

    /// Applies the operations to the valid object `line` (with top-level `spans`) and writes
    /// the result to `out`. `Ok(false)`: this record needs the full engine (nothing written).
    pub fn apply(
        &mut self,
        line: &[u8],
        spans: &[FieldSpan],
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        let rec = &mut self.record;
        rec.list.clear();
        rec.scratch.clear();
        for (i, span) in spans.iter().enumerate() {
            let k = &line[span.key.clone()];
            if k.contains(&b'\\') || spans[..i].iter().any(|s| line[s.key.clone()] == *k) {
                return Ok(false);
            }
            rec.list.push((
                Piece::Line(span.key.clone()),
                Piece::Line(span.value.clone()),
            ));
        }
        for step in &self.steps {
            match step {
                RawStep::Rename(pairs) => {
                    for (from, to, collision) in pairs {
                        if from == to || rec.find(line, from).is_none() {
                            continue;
                        }
                        if rec.find(line, to).is_some() {
                            return Err(collision.clone());
                        }
                        let i = rec.find(line, from).expect("still there");
                        rec.list[i].0 = rec.stash(to);
                    }
                }
                RawStep::Drop(names) => {
                    for name in names {
                        if let Some(i) = rec.find(line, name) {
                            rec.list.remove(i);
                        }
                    }
                }
                RawStep::Keep(names) => {
                    let mut kept = Vec::with_capacity(names.len());
                    for (n, name) in names.iter().enumerate() {
                        if names[..n].contains(name) {
                            continue;
                        }
                        if let Some(i) = rec.find(line, name) {
                            kept.push(rec.list[i].clone());
                        }
                    }
                    rec.list = kept;
                }
                RawStep::Set {
                    name,
                    program,
                    reads,
                } => {
                    let mut input = jaq_json::Map::default();
                    for (quoted_name, k) in reads {
                        if let Some(i) = rec.find(line, quoted_name) {
                            let raw = rec.bytes(line, &rec.list[i].1);
                            input.insert(k.clone(), json::parse_valid(raw)?);
                        }
                    }
                    let mut first = None;
                    program
                        .run(Val::obj(input), |v| {
                            first = Some(v);
                            false
                        })
                        .map_err(|e| format!("--set {}: {e}", unquoted(name)))?;
                    if let Some(value) = first {
                        let start = rec.scratch.len();
                        json::write(&mut rec.scratch, &value)?;
                        let value = Piece::Scratch(start..rec.scratch.len());
                        rec.put(line, name, value);
                    }
                }
                RawStep::Default(name, value) => {
                    let missing = match rec.find(line, name) {
                        None => true,
                        Some(i) => rec.bytes(line, &rec.list[i].1) == b"null",
                    };
                    if missing {
                        let value = rec.stash(value);
                        rec.put(line, name, value);
                    }
                }
                RawStep::Cast(name, to) => {
                    if let Some(i) = rec.find(line, name) {
                        let value = json::parse_valid(rec.bytes(line, &rec.list[i].1))?;
                        let cast = cast(&value, *to, self.time_format.as_deref())
                            .map_err(|e| format!("--cast {}: {e}", unquoted(name)))?;
                        let start = rec.scratch.len();
                        json::write(&mut rec.scratch, &cast)?;
                        rec.list[i].1 = Piece::Scratch(start..rec.scratch.len());
                    }
                }
                RawStep::Mask(names) => {
                    for name in names {
                        if let Some(i) = rec.find(line, name) {
                            let value = json::parse_valid(rec.bytes(line, &rec.list[i].1))?;
                            let masked = mask(&value, &self.mask)?;
                            let start = rec.scratch.len();
                            json::write(&mut rec.scratch, &masked)?;
                            rec.list[i].1 = Piece::Scratch(start..rec.scratch.len());
                        }
                    }
                }
            }
        }
        out.push(b'{');
        for (i, (k, v)) in rec.list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(rec.bytes(line, k));
            out.push(b':');
            out.extend_from_slice(rec.bytes(line, v));
        }
        out.push(b'}');
        Ok(true)
    }
}

impl Fields {
    fn bytes<'a>(&'a self, line: &'a [u8], piece: &Piece) -> &'a [u8] {
        match piece {
            Piece::Line(r) => &line[r.clone()],
            Piece::Scratch(r) => &self.scratch[r.clone()],
        }
    }

    fn find(&self, line: &[u8], quoted_name: &[u8]) -> Option<usize> {
        self.list
            .iter()
            .position(|(k, _)| self.bytes(line, k) == quoted_name)
    }

    fn stash(&mut self, bytes: &[u8]) -> Piece {
        let start = self.scratch.len();
        self.scratch.extend_from_slice(bytes);
        Piece::Scratch(start..self.scratch.len())
    }

    /// Sets field `name` (replacing its value in place, or adding it at the end).
    fn put(&mut self, line: &[u8], name: &[u8], value: Piece) {
        match self.find(line, name) {
            Some(i) => self.list[i].1 = value,
            None => {
                let k = self.stash(name);
                self.list.push((k, value));
            }
        }
    }
}

/// A field name as a JSON string.
fn quoted(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    write_string(&mut out, name.as_bytes());
    out
}

fn unquoted(name: &[u8]) -> String {
    String::from_utf8_lossy(&name[1..name.len() - 1]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{Chain, Outcome};
    use crate::value::FieldPath;

    fn settings() -> Settings {
        Settings {
            time_format: None,
            separator: ".".into(),
            mask: Mask::Token("***".into()),
        }
    }

    fn p(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    /// Both engines on one record, parsed back for comparison.
    fn both(
        ops: &[Op],
        record: &str,
    ) -> (
        Result<Option<serde_json::Value>, String>,
        Result<Vec<serde_json::Value>, String>,
    ) {
        let mut raw = RawChain::compile(ops, &settings()).expect("raw-capable");
        let mut spans = Vec::new();
        sluice_stream::scan::object_fields(record.as_bytes(), &mut spans).unwrap();
        let mut out = Vec::new();
        let fast = raw
            .apply(record.as_bytes(), &spans, &mut out)
            .map(|handled| handled.then(|| serde_json::from_slice(&out).unwrap()));
        let mut chain = Chain::new(ops, &settings(), &[]);
        let mut results = Vec::new();
        let full = match chain.apply(json::parse(record.as_bytes()).unwrap(), &mut results) {
            Outcome::Records => Ok(results
                .iter()
                .map(|v| serde_json::from_str(&json::to_text(v).unwrap()).unwrap())
                .collect()),
            Outcome::Rejected(reason) => Err(reason),
        };
        (fast, full)
    }

    #[test]
    fn agrees_with_the_full_engine() {
        let op_lists = vec![
            vec![
                Op::Rename(vec![(p("dep_delay"), p("delay"))]),
                Op::Set(p("total"), ".delay + .arr_delay".into()),
                Op::Drop(vec![p("year"), p("month")]),
            ],
            vec![Op::Rename(vec![(p("a"), p("b"))])],
            vec![Op::Keep(vec![p("b"), p("a"), p("zz"), p("a")])],
            vec![
                Op::Default(p("n"), "{ \"x\" : [1, 2] }".into()),
                Op::Default(p("a"), "5".into()),
            ],
            vec![
                Op::Cast(p("a"), CastTo::String),
                Op::Mask(vec![p("b"), p("n")]),
            ],
            vec![Op::Set(p("a"), "if .b then .b + 1 else empty end".into())],
            vec![Op::Set(p("s"), "\"\\(.a)-\\(.b)\"".into())],
        ];
        let records = [
            r#"{"year":2013,"month":1,"dep_delay":5,"arr_delay":-3,"a":1,"b":2,"n":null}"#,
            r#"{"a":"x","b":null,"dep_delay":null}"#,
            r#"{"b":{"c":[1,2]},"a":1.50}"#,
            r#"{}"#,
            r#"{"a":1,"b":2}"#,
        ];
        for ops in &op_lists {
            for record in records {
                let (fast, full) = both(ops, record);
                match (fast, full) {
                    (Ok(Some(f)), Ok(v)) => assert_eq!(vec![f], v, "{ops:?} on {record}"),
                    (Err(a), Err(b)) => assert_eq!(a, b),
                    (f, v) => panic!("{ops:?} on {record}: {f:?} vs {v:?}"),
                }
            }
        }
    }

    #[test]
    fn escaped_or_repeated_keys_go_to_the_full_engine() {
        let ops = vec![Op::Drop(vec![p("a")])];
        for record in [r#"{"\u0061":1}"#, r#"{"a":1,"a":2}"#] {
            let (fast, _) = both(&ops, record);
            assert_eq!(fast, Ok(None), "{record}");
        }
        assert!(RawChain::compile(&[Op::Drop(vec![p("a.b")])], &settings()).is_none());
        assert!(RawChain::compile(&[Op::Set(p("a"), "keys".into())], &settings()).is_none());
        assert!(RawChain::compile(&[Op::Flatten], &settings()).is_none());
    }
}
