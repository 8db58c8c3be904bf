//! Which top-level fields of its input a jq program can read.
//!
//! When a program only reaches its input through paths that start with a field name (`.a`,
//! `.a.b[0]`, `{a}`), running it on an object holding just those fields gives the same
//! results as running it on the whole record. `transform --set` uses this to avoid building a
//! jq value of every record. Anything that might look at the input as a whole (`.`, `keys`,
//! `..`, a call to a definition, `reduce`) makes the answer `None`.

use jaq_core::load::lex::StrPart;
use jaq_core::load::parse::{BinaryOp, Term};
use jaq_core::path::Part;

/// The top-level fields `code` reads from its input, or `None` when it may read more.
pub fn top_level_reads(code: &str) -> Option<Vec<String>> {
    let term = jaq_core::load::parse(code, |p| p.term())?;
    let mut names = Vec::new();
    reads(&term, &mut names)?;
    names.sort();
    names.dedup();
    Some(names)
}

/// Adds the fields `term`, run on the record, reads; `None` if it may read the whole record.
fn reads(term: &Term<&str>, names: &mut Vec<String>) -> Option<()> {
    match term {
        Term::Num(_) | Term::Var(_) | Term::Break(_) => Some(()),
        Term::Str(_, parts) => parts.iter().try_for_each(|part| match part {
            StrPart::Term(t) => reads(t, names),
            _ => Some(()),
        }),
        Term::Call(name, args) => {
            // Constants that ignore their input.
            (args.is_empty() && matches!(*name, "null" | "true" | "false" | "empty" | "now"))
                .then_some(())
        }
        Term::Neg(t) => reads(t, names),
        Term::Arr(t) => t.as_deref().map_or(Some(()), |t| reads(t, names)),
        Term::Obj(entries) => entries.iter().try_for_each(|(key, value)| match value {
            Some(v) => {
                reads(key, names)?;
                reads(v, names)
            }
            None => match key {
                Term::Var(_) => Some(()),
                key => {
                    names.push(plain(key)?.to_string());
                    Some(())
                }
            },
        }),
        Term::BinOp(l, op, r) => match op {
            // `l | r`: r reads what l yields, not the record.
            BinaryOp::Pipe(None) => reads(l, names),
            BinaryOp::Pipe(Some(_))
            | BinaryOp::Comma
            | BinaryOp::Alt
            | BinaryOp::Or
            | BinaryOp::And
            | BinaryOp::Math(_)
            | BinaryOp::Cmp(_) => {
                reads(l, names)?;
                reads(r, names)
            }
            _ => None,
        },
        Term::IfThenElse(branches, otherwise) => {
            for (cond, then) in branches {
                reads(cond, names)?;
                reads(then, names)?;
            }
            otherwise.as_deref().map_or(Some(()), |t| reads(t, names))
        }
        // The catch handler reads the error, not the record.
        Term::TryCatch(t, _) => reads(t, names),
        Term::Path(base, path) => {
            let mut parts = path.0.iter();
            match &**base {
                Term::Id => match parts.next() {
                    Some((Part::Index(key), _)) => names.push(plain(key)?.to_string()),
                    _ => return None,
                },
                other => reads(other, names)?,
            }
            // Index terms such as `.[.i]` run on the record too.
            parts.try_for_each(|(part, _)| match part {
                Part::Index(i) => reads(i, names),
                Part::Range(from, to) => {
                    from.as_ref().map_or(Some(()), |t| reads(t, names))?;
                    to.as_ref().map_or(Some(()), |t| reads(t, names))
                }
            })
        }
        _ => None,
    }
}

/// The text of a string literal without escapes or interpolation.
pub(crate) fn plain<'a>(term: &Term<&'a str>) -> Option<&'a str> {
    match term {
        Term::Str(None, parts) => match &parts[..] {
            [] => Some(""),
            [StrPart::Str(s)] => Some(s),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: &str) -> Option<Vec<String>> {
        top_level_reads(code)
    }

    #[test]
    fn finds_the_fields_a_program_reads() {
        assert_eq!(r(".a + .b * 2").unwrap(), ["a", "b"]);
        assert_eq!(r("(.temp_f - 32) * 5 / 9").unwrap(), ["temp_f"]);
        assert_eq!(r(".a.b[0] // \"x\"").unwrap(), ["a"]);
        assert_eq!(r("if .x > 1 then .y else null end").unwrap(), ["x", "y"]);
        assert_eq!(r(".s | ascii_downcase | length").unwrap(), ["s"]);
        assert_eq!(r("{a, b: .c, $__loc__}").unwrap(), ["a", "c"]);
        assert_eq!(r("\"\\(.first) \\(.last)\"").unwrap(), ["first", "last"]);
        assert_eq!(r(".a as $x | .b + $x").unwrap(), ["a", "b"]);
        assert_eq!(r("try (.a | tonumber) catch 0").unwrap(), ["a"]);
        assert_eq!(r("1 + 2").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn gives_up_on_whole_record_access() {
        for code in [
            ".",
            "keys",
            "length",
            ".[]",
            "..",
            "to_entries",
            "del(.a)",
            ".a + (. | length)",
            "reduce .xs[] as $x (0; . + $x)",
            "def f: .a; f",
            ".[\"a\" + \"b\"]",
            "tojson",
            "not",
        ] {
            assert_eq!(r(code), None, "{code}");
        }
    }
}
