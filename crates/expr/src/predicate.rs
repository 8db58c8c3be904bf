//! Simple predicates answered from a record's bytes, without building a jaq value.
//!
//! A program made only of field paths (`.a`, `.a.b`, `."x y"`), literals (numbers, strings,
//! `true`, `false`, `null`), comparisons, `and`, `or`, `not` and an outer `select(...)` is
//! compiled here as well. Evaluation follows jq's rules (missing fields are null; values of
//! different types order as null < false < true < numbers < strings < arrays < objects) and
//! answers `None` whenever jq would do something subtler (an error, comparing two arrays, an
//! escaped string), so the caller runs the full program for that record and the result is the
//! same either way.

use std::cmp::Ordering;

use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::ops::Cmp;
use jaq_core::path::{Opt, Part};
use sluice_stream::scan::{self, FieldSpan, Found, Kind};

use crate::reads::plain;

/// A compiled simple predicate.
#[derive(Debug, Clone)]
pub struct Predicate {
    root: Node,
}

#[derive(Debug, Clone)]
enum Node {
    Truthy(Operand),
    Compare(Operand, Cmp, Operand),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
}

#[derive(Debug, Clone)]
enum Operand {
    Path(Vec<Box<[u8]>>),
    Literal(Vec<u8>),
}

impl Predicate {
    /// Compiles `code` when it is simple enough; `None` otherwise (use the full program).
    pub fn compile(code: &str) -> Option<Predicate> {
        let term = jaq_core::load::parse(code, |p| p.term())?;
        let term = match &term {
            Term::Call("select", args) if args.len() == 1 => &args[0],
            t => t,
        };
        Some(Predicate { root: node(term)? })
    }

    /// Decides the predicate for the valid object `text` with top-level `fields`; `None` when
    /// only the full program can say.
    pub fn eval(&self, text: &[u8], fields: &[FieldSpan]) -> Option<bool> {
        eval(&self.root, text, fields)
    }
}

fn node(term: &Term<&str>) -> Option<Node> {
    Some(match term {
        Term::BinOp(l, BinaryOp::And, r) => Node::And(Box::new(node(l)?), Box::new(node(r)?)),
        Term::BinOp(l, BinaryOp::Or, r) => Node::Or(Box::new(node(l)?), Box::new(node(r)?)),
        Term::BinOp(l, BinaryOp::Cmp(op), r) => Node::Compare(operand(l)?, *op, operand(r)?),
        Term::BinOp(l, BinaryOp::Pipe(None), r) if matches!(&**r, Term::Call("not", a) if a.is_empty()) => {
            Node::Not(Box::new(node(l)?))
        }
        t => Node::Truthy(operand(t)?),
    })
}

fn operand(term: &Term<&str>) -> Option<Operand> {
    Some(match term {
        Term::Path(base, path) if matches!(**base, Term::Id) => {
            let mut names = Vec::new();
            for (part, opt) in &path.0 {
                match (part, opt) {
                    (Part::Index(key), Opt::Essential) => names.push(plain(key)?.as_bytes().into()),
                    _ => return None,
                }
            }
            Operand::Path(names)
        }
        Term::Num(n) => Operand::Literal(number_literal(n, false)?),
        Term::Neg(inner) => match &**inner {
            Term::Num(n) => Operand::Literal(number_literal(n, true)?),
            _ => return None,
        },
        Term::Str(None, _) => {
            let text = plain(term)?;
            let mut raw = Vec::new();
            sluice_stream::json::write_string(&mut raw, text.as_bytes());
            Operand::Literal(raw)
        }
        Term::Call(name @ ("null" | "true" | "false"), args) if args.is_empty() => {
            Operand::Literal(name.as_bytes().to_vec())
        }
        _ => return None,
    })
}

/// A jq number literal as JSON text that keeps whether it is an integer (compared exactly)
/// or a float (compared as a double, with a `.` or exponent kept in the text). Literals jq
/// would hold as something else (beyond 64 bits, not finite) are left to jq.
fn number_literal(text: &str, negative: bool) -> Option<Vec<u8>> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_string()
    };
    if text.bytes().all(|b| b.is_ascii_digit()) {
        let value: i64 = signed.parse().ok()?;
        return Some(value.to_string().into_bytes());
    }
    let value: f64 = signed.parse().ok()?;
    value.is_finite().then(|| format!("{value:?}").into_bytes())
}

fn eval(node: &Node, text: &[u8], fields: &[FieldSpan]) -> Option<bool> {
    match node {
        Node::Truthy(op) => {
            let v = value(op, text, fields)?;
            Some(!matches!(Kind::of(v), Kind::Null | Kind::False))
        }
        Node::Compare(l, op, r) => {
            let ordering = compare(value(l, text, fields)?, value(r, text, fields)?)?;
            Some(match op {
                Cmp::Lt => ordering == Ordering::Less,
                Cmp::Le => ordering != Ordering::Greater,
                Cmp::Gt => ordering == Ordering::Greater,
                Cmp::Ge => ordering != Ordering::Less,
                Cmp::Eq => ordering == Ordering::Equal,
                Cmp::Ne => ordering != Ordering::Equal,
            })
        }
        Node::And(l, r) => Some(eval(l, text, fields)? && eval(r, text, fields)?),
        Node::Or(l, r) => Some(eval(l, text, fields)? || eval(r, text, fields)?),
        Node::Not(inner) => Some(!eval(inner, text, fields)?),
    }
}

fn value<'a>(op: &'a Operand, text: &'a [u8], fields: &[FieldSpan]) -> Option<&'a [u8]> {
    match op {
        Operand::Literal(raw) => Some(raw),
        Operand::Path(path) => match scan::lookup(text, fields, path) {
            Found::Value(v) => Some(v),
            Found::Missing => Some(b"null"),
            Found::NotObject => None,
        },
    }
}

/// jq's order of two JSON values given as text; `None` for pairs left to jq.
fn compare(a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (ka, kb) = (Kind::of(a), Kind::of(b));
    if ka != kb {
        return Some(ka.cmp(&kb));
    }
    match ka {
        Kind::Null | Kind::False | Kind::True => Some(Ordering::Equal),
        Kind::Number => compare_numbers(a, b),
        Kind::String => {
            if a.contains(&b'\\') || b.contains(&b'\\') {
                None
            } else {
                Some(a[1..a.len() - 1].cmp(&b[1..b.len() - 1]))
            }
        }
        Kind::Array | Kind::Object => None,
    }
}

fn compare_numbers(a: &[u8], b: &[u8]) -> Option<Ordering> {
    let (a, b) = (std::str::from_utf8(a).ok()?, std::str::from_utf8(b).ok()?);
    // Integers compare exactly, as jaq compares them (also just past the 64-bit range).
    if let (Ok(x), Ok(y)) = (a.parse::<i128>(), b.parse::<i128>()) {
        return Some(x.cmp(&y));
    }
    let (x, y) = (a.parse::<f64>().ok()?, b.parse::<f64>().ok()?);
    if x == 0.0 && y == 0.0 {
        return Some(Ordering::Equal);
    }
    x.partial_cmp(&y)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{json, truthy, Program};

    const RECORDS: &[&str] = &[
        r#"{"a":1,"b":{"c":"x"},"s":"abc","t":true,"n":null}"#,
        r#"{"a":61,"b":{"c":"y"},"s":"abd","t":false}"#,
        r#"{"a":-2.5,"b":null,"s":"","arr":[1]}"#,
        r#"{"a":"61","b":{"c":1},"s":"é"}"#,
        r#"{"a":1e2,"b":{},"s":"a\"b","big":12345678901234567890}"#,
        r#"{"a":9007199254740993,"big":18446744073709551614}"#,
        r#"{"a":1e400}"#,
        r#"{"a":9223372036854775808,"big":-9223372036854775809}"#,
        r#"{"b":5}"#,
        r#"{"a":[1,2],"b":{"c":null}}"#,
    ];

    const PROGRAMS: &[&str] = &[
        ".a > 60",
        "select(.a > 60)",
        ".a >= 1 and .s != \"abc\"",
        ".a < 0 or .b.c == \"y\"",
        ".b.c == null",
        "(.a == 1) | not",
        ".t",
        ".n == null and .missing == null",
        ".s < \"abd\"",
        ".a == 100",
        ".a == 1.0",
        ".a > -3",
        ".big > 1",
        "\"\" < .s",
        ".a > .b",
        ".b.c.d == 1",
        "false or .t",
        ".a <= 61 and .a != \"61\"",
        ".a == 9007199254740993.0",
        ".a == 9007199254740993",
        ".big == 18446744073709551615",
        ".a == 1e400",
        ".a > 1e2",
        ".a == 100.0",
        ".a == 9223372036854775807",
        ".a > 9223372036854775806",
        ".big == -9223372036854775808",
        ".big >= -9223372036854775808",
    ];

    #[test]
    fn agrees_with_jq_or_defers() {
        for code in PROGRAMS {
            // Literals jq holds differently (beyond 64 bits) are left to jq entirely.
            let Some(predicate) = Predicate::compile(code) else {
                assert!(
                    code.contains("18446744073709551615") || code.contains("1e400"),
                    "{code}"
                );
                continue;
            };
            let program = Program::compile(code).unwrap();
            for record in RECORDS {
                let mut fields = Vec::new();
                scan::object_fields(record.as_bytes(), &mut fields).unwrap();
                let Some(fast) = predicate.eval(record.as_bytes(), &fields) else {
                    continue;
                };
                let mut slow = false;
                let ran = program.run(json::parse(record.as_bytes()).unwrap(), |v| {
                    slow = truthy(&v);
                    !slow
                });
                assert!(
                    ran.is_ok(),
                    "{code} on {record}: jq fails, fast path said {fast}"
                );
                assert_eq!(fast, slow, "{code} on {record}");
            }
        }
    }

    #[test]
    fn defers_what_it_cannot_decide() {
        let p = Predicate::compile(".a.b > 1").unwrap();
        let text = br#"{"a":3}"#;
        let mut fields = Vec::new();
        scan::object_fields(text, &mut fields).unwrap();
        assert_eq!(p.eval(text, &fields), None);
        assert!(Predicate::compile(".a | length > 1").is_none());
        assert!(Predicate::compile(".[0] > 1").is_none());
        assert!(Predicate::compile(".a? > 1").is_none());
    }
}
