//! jq expressions over records, run by jaq (a Rust implementation of jq's language).
//!
//! [`Program`] compiles a jq program once and runs it on records; [`Predicate`] answers simple
//! comparisons (`.a.b > 60 and .c == "x"`) straight from a record's bytes, falling back to the
//! program only where it cannot decide alone. [`json`] converts between record bytes and jaq
//! values without losing key order or the spelling of numbers.

mod base32;
mod condition;
mod delete;
pub mod json;
pub mod predicate;
pub mod reads;
mod regex;

use jaq_core::load::{self, Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};

pub use condition::Condition;
pub use jaq_json::Val;
pub use predicate::Predicate;

type Data = data::JustLut<Val>;

/// A compiled jq program.
pub struct Program {
    filter: jaq_core::Filter<Data>,
    /// `$ENV`: the environment as an object.
    env: Val,
}

/// Our definitions of jq builtins that jaq lacks or defines otherwise (see `defs.jq`).
fn sluice_defs() -> impl Iterator<Item = load::parse::Def<&'static str>> {
    load::parse(include_str!("defs.jq"), |p| p.defs())
        .expect("defs.jq parses")
        .into_iter()
}

/// The environment as a jq object, for `$ENV` (variables that are not UTF-8 are left out).
fn environment() -> Val {
    let mut text = b"{".to_vec();
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if text.len() > 1 {
            text.push(b',');
        }
        sluice_stream::json::write_string(&mut text, name.as_bytes());
        text.push(b':');
        sluice_stream::json::write_string(&mut text, value.as_bytes());
    }
    text.push(b'}');
    json::parse_valid(&text).expect("written as valid JSON")
}

impl Program {
    /// Compiles `code`. The error is a message for the user, with the program and a caret
    /// under the place where it went wrong.
    pub fn compile(code: &str) -> Result<Program, String> {
        let code = &*join_surrogate_pairs(code);
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs())
            .chain(sluice_defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs().filter(|(name, _, _)| !regex::replaces(name)))
            .chain(jaq_json::funs())
            .chain(regex::funs())
            .chain(delete::funs())
            .chain(base32::funs());
        let arena = Arena::default();
        let loader = Loader::new(defs);
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| load_error(code, errors))?;
        let filter = Compiler::default()
            .with_funs(funs)
            .with_global_vars(["$ENV"])
            .compile(modules)
            .map_err(|errors| {
                let (name, what) = errors
                    .into_iter()
                    .flat_map(|(_, errs)| errs)
                    .next()
                    .map(|(name, undefined)| (name, undefined.as_str()))
                    .unwrap_or(("", "name"));
                caret(code, name, &format!("undefined {what} {name}"))
            })?;
        Ok(Program {
            filter,
            env: environment(),
        })
    }

    /// Runs the program on `input`, calling `each` with every output until it returns false.
    /// An error (a type error, `error(...)`, `halt`) ends the run with its message.
    pub fn run(&self, input: Val, mut each: impl FnMut(Val) -> bool) -> Result<(), String> {
        let ctx = Ctx::<Data>::new(&self.filter.lut, Vars::new([self.env.clone()]));
        for output in self.filter.id.run((ctx, input)) {
            match output {
                Ok(value) => {
                    if !each(value) {
                        break;
                    }
                }
                Err(exn) => {
                    return Err(match exn.get_err() {
                        Ok(err) => err.to_string(),
                        Err(exn) => match exn.get_halt() {
                            Ok(code) => format!("the program halted with code {code}"),
                            Err(_) => "the program failed".to_string(),
                        },
                    })
                }
            }
        }
        Ok(())
    }
}

/// jq reads `"\uD83D\uDE00"` as one character (a UTF-16 surrogate pair, as in JSON); jaq's
/// lexer refuses each half, so pairs are joined into their character before it reads the
/// program. Every other escape is kept as written.
fn join_surrogate_pairs(code: &str) -> std::borrow::Cow<'_, str> {
    if !code.contains("\\u") {
        return code.into();
    }
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let escape = &rest[at..];
        let taken = match surrogate_pair(escape) {
            Some(c) => {
                out.push(c);
                12
            }
            None => {
                // The backslash and the character it escapes, which may be a backslash.
                let len = 1 + escape[1..].chars().next().map_or(0, char::len_utf8);
                out.push_str(&escape[..len]);
                len
            }
        };
        rest = &escape[taken..];
    }
    out.push_str(rest);
    out.into()
}

/// The character of `\uHHHH\uHHHH` at the start of `text` when the two are a surrogate pair.
fn surrogate_pair(text: &str) -> Option<char> {
    let unit = |text: &str| -> Option<u32> {
        let hex = text.strip_prefix("\\u")?.get(..4)?;
        hex.bytes()
            .all(|b| b.is_ascii_hexdigit())
            .then(|| u32::from_str_radix(hex, 16).ok())?
    };
    let high = unit(text)?;
    let low = unit(text.get(6..)?)?;
    if !(0xD800..0xDC00).contains(&high) || !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))
}

/// True for every value but `null` and `false`, as in jq.
pub fn truthy(value: &Val) -> bool {
    !matches!(value, Val::Null | Val::Bool(false))
}

fn load_error(code: &str, errors: load::Errors<&str, ()>) -> String {
    let Some((_, error)) = errors.into_iter().next() else {
        return "the program does not parse".to_string();
    };
    match error {
        load::Error::Io(errs) => match errs.first() {
            Some((path, why)) => format!("cannot load module {path}: {why}"),
            None => "cannot load a module".to_string(),
        },
        load::Error::Lex(errs) => match errs.first() {
            Some((expect, at)) => caret(code, at, &format!("expected {}", expect.as_str())),
            None => "the program does not parse".to_string(),
        },
        load::Error::Parse(errs) => match errs.first() {
            Some((expect, at)) => {
                let found = if at.is_empty() {
                    "the end of the program".to_string()
                } else {
                    format!("{:?}", at.chars().take(20).collect::<String>())
                };
                caret(
                    code,
                    at,
                    &format!("expected {}, found {found}", expect.as_str()),
                )
            }
            None => "the program does not parse".to_string(),
        },
    }
}

/// `reason`, then the program's line holding `at` (a slice of `code`) with a caret under it.
fn caret(code: &str, at: &str, reason: &str) -> String {
    let start = at.as_ptr() as usize;
    let base = code.as_ptr() as usize;
    let offset = if start >= base && start <= base + code.len() {
        start - base
    } else {
        return reason.to_string();
    };
    let line_start = code[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = code[offset..].find('\n').map_or(code.len(), |i| offset + i);
    let column = code[line_start..offset].chars().count();
    let line_no = code[..line_start].matches('\n').count() + 1;
    let place = if code.contains('\n') {
        format!(" (line {line_no}, column {})", column + 1)
    } else {
        format!(" (column {})", column + 1)
    };
    format!(
        "{reason}{place}\n  {}\n  {}^",
        &code[line_start..line_end],
        " ".repeat(column)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(code: &str, input: &str) -> Result<Vec<String>, String> {
        let program = Program::compile(code)?;
        let mut out = Vec::new();
        program.run(json::parse(input.as_bytes())?, |v| {
            let mut text = Vec::new();
            json::write(&mut text, &v).unwrap();
            out.push(String::from_utf8(text).unwrap());
            true
        })?;
        Ok(out)
    }

    #[test]
    fn runs_jq_programs() {
        assert_eq!(outputs(".a + 1", r#"{"a":2}"#).unwrap(), ["3"]);
        assert_eq!(
            outputs(".xs[] | {x: .}", r#"{"xs":[1,"b"]}"#).unwrap(),
            [r#"{"x":1}"#, r#"{"x":"b"}"#]
        );
        assert_eq!(
            outputs("select(.a > 1)", r#"{"a":1}"#).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(outputs(".a | length", r#"{"a":"héllo"}"#).unwrap(), ["5"]);
        assert_eq!(
            outputs("map_values(. * 2)", r#"{"b":1,"a":1.5}"#).unwrap(),
            [r#"{"b":2,"a":3}"#]
        );
    }

    #[test]
    fn jq_builtins_jaq_lacks_or_defines_otherwise() {
        let one = |code: &str, input: &str| outputs(code, input).unwrap().join(" ");
        let record = r#"{"a":1,"b":"x\"y","n":null,"t":true,"s":"t\tb\\"}"#;
        assert_eq!(one("[.a,.b,.n,.t]|@csv", record), r#""1,\"x\"\"y\",,true""#);
        assert_eq!(one("[.a,.s,.n]|@tsv", record), r#""1\tt\\tb\\\\\t""#);
        assert_eq!(one(r#"@csv "row: \([.a])""#, record), r#""row: 1""#);
        assert!(outputs("[{}]|@csv", "{}")
            .unwrap_err()
            .contains("not valid in a csv row"));
        assert_eq!(
            one("[1,null,\"a\",true]|join(\"-\")", "{}"),
            r#""1--a-true""#
        );
        assert!(outputs("[[1]]|join(\",\")", "{}").is_err());
        assert_eq!(one(".a|IN(2,1)", record), "true");
        assert_eq!(one("IN(.a,.b; 3)", record), "false");
        assert_eq!(
            one("[{k:1},{k:\"x\"}]|INDEX(.k)", "{}"),
            r#"{"1":{"k":1},"x":{"k":"x"}}"#
        );
        assert_eq!(one(".b|ltrimstr(\"x\")|rtrimstr(\"y\")", record), r#""\"""#);
        assert_eq!(
            one("[leaf_paths]", r#"{"a":{"b":1},"c":[2]}"#),
            r#"[["a","b"],["c",0]]"#
        );
        assert_eq!(
            one("fromstream(tostream)", r#"{"a":[1,{"b":2}]}"#),
            r#"{"a":[1,{"b":2}]}"#
        );
        assert_eq!(
            one("[range(0;3;0)], [range(5;0;-2)], [range(0;1;0.5)]", "{}"),
            "[] [5,3,1] [0,0.5]"
        );
        for division in ["1 / 0", "0 / 0", "1 / 0.0", "5 % 0", "5 % -0.0"] {
            let error = outputs(division, "{}").unwrap_err();
            assert!(error.contains("the divisor is zero"), "{division}: {error}");
        }
        assert_eq!(
            one(
                "[nan, infinite, 1, 0] | map(isnan), map(isinfinite), map(isnormal), (.[3] | logb)",
                "{}"
            ),
            "[true,false,false,false] [false,true,false,false] [false,false,true,false] -1.7976931348623157e308"
        );
        assert_eq!(one("7 / 2, 7 % 2, -7 % 2", "{}"), "3.5 1 -1");
        assert_eq!(
            one(
                "[nan, infinite, -infinite] | tojson, (.[0] | tostring)",
                "{}"
            ),
            r#""[null,1.7976931348623157e+308,-1.7976931348623157e+308]" "null""#
        );
        let path = std::env::var("PATH").unwrap_or_default();
        assert_eq!(
            one(r#"null[1:3], ("YQ" | @base64d), ("YWI=" | @base64d)"#, "{}"),
            r#"null "a" "ab""#
        );
        assert!(outputs("{} | .[0]", "{}").is_err());
        assert!(outputs(r#""1 2" | fromjson"#, "{}").is_err());
        assert!(outputs(r#""" | fromjson"#, "{}").is_err());
        assert_eq!(
            one(r#""[1, {\"a\": 2}]" | fromjson"#, "{}"),
            r#"[1,{"a":2}]"#
        );
        assert_eq!(
            one(
                r#"1425599621 | strftime("%c|%x|%X|%%c"), (gmtime | todate), (gmtime | strftime("%H")), date"#,
                "{}"
            ),
            r#""Thu Mar  5 23:53:41 2015|03/05/15|23:53:41|%c" "2015-03-05T23:53:41Z" "23" "2015-03-05T23:53:41Z""#
        );
        assert_eq!(
            one(r#""\ud83d\ude00\\ud83d\u00e9" | ., length"#, "{}"),
            "\"😀\\\\ud83dé\" 8"
        );
        assert_eq!(
            one(
                "pick(.a[1]), pick(.b.c, .x)",
                r#"{"a":[1,2,3],"b":{"c":1,"d":2}}"#
            ),
            r#"{"a":[null,2]} {"b":{"c":1},"x":null}"#
        );
        // Regular expressions as jq's Oniguruma reads them: Unicode classes, look-around,
        // backreferences, and groups that take no part in a match.
        assert_eq!(one(r#""é1" | test("^\\w\\d$")"#, "{}"), "true");
        assert_eq!(
            one(r#""price: 12€" | [match("\\d+(?=€)").string]"#, "{}"),
            r#"["12"]"#
        );
        assert_eq!(one(r#""abab" | test("^(ab)\\1$")"#, "{}"), "true");
        assert_eq!(
            one(r#""a" | capture("(?<x>a)|(?<y>b)")"#, "{}"),
            r#"{"x":"a","y":null}"#
        );
        assert_eq!(
            one(r#""xéa" | match("(a)|(b)")"#, "{}"),
            r#"{"offset":2,"length":1,"string":"a","captures":[{"offset":2,"length":1,"string":"a","name":null},{"offset":-1,"length":0,"string":null,"name":null}]}"#
        );
        assert_eq!(
            one(r#""a1b22c" | [scan("\\d+")], [scan("(\\d)(\\d)?")]"#, "{}"),
            r#"["1","22"] [["1",null],["2","2"]]"#
        );
        assert_eq!(
            one(
                r#""a1b22c" | split("\\d+"; null), sub("(?<d>\\d)"; "<\(.d)>"; "g")"#,
                "{}"
            ),
            r#"["a","b","c"] "a<1>b<2><2>c""#
        );
        assert_eq!(one(r#""ÀB" | test("àb"; "i")"#, "{}"), "true");
        // `$` also matches before a newline that ends the text, as Oniguruma's does.
        assert_eq!(
            one(
                r#""a\n" | test("a$"), sub("a$"; "X"), test("a[$]"), test("(?m)a$\\n")"#,
                "{}"
            ),
            r#"true "X\n" false true"#
        );
        assert_eq!(
            one(r#""a\nb" | test("a.b"), test("a.b"; "p")"#, "{}"),
            "false true"
        );
        assert!(outputs(r#""a" | test("a"; "q")"#, "{}")
            .unwrap_err()
            .contains("not a valid modifier"));
        assert!(outputs(r#""a" | test("(")"#, "{}")
            .unwrap_err()
            .contains("not a valid regex"));
        let mut want = Vec::new();
        sluice_stream::json::write_string(&mut want, path.as_bytes());
        assert_eq!(one("$ENV.PATH // \"\"", "{}").as_bytes(), want);
    }

    #[test]
    fn updates_make_what_is_missing_as_jq_does() {
        let one = |code: &str, input: &str| outputs(code, input).unwrap().join(" ");
        assert_eq!(
            one(".meta.source = \"x\"", r#"{"a":1}"#),
            r#"{"a":1,"meta":{"source":"x"}}"#
        );
        assert_eq!(one(".c.n += 1", "{}"), r#"{"c":{"n":1}}"#);
        assert_eq!(one(".l[2] = 1", "{}"), r#"{"l":[null,null,1]}"#);
        assert_eq!(one(".l[3] = 4", r#"{"l":[1]}"#), r#"{"l":[1,null,null,4]}"#);
        assert_eq!(one("del(.l[5])", r#"{"l":[1]}"#), r#"{"l":[1]}"#);
        assert!(outputs(".l[-3] = 1", r#"{"l":[1]}"#).is_err());
        // Deleting a key keeps the others in order.
        assert_eq!(one("del(.a)", r#"{"a":1,"b":2,"c":3}"#), r#"{"b":2,"c":3}"#);
        assert_eq!(
            one("del(.l[-2,-1])", r#"{"l":[1,2,3,4]}"#),
            r#"{"l":[1,2]}"#
        );
        assert!(outputs(".s|tonumber", r#"{"s":""}"#).is_err());
        assert!(outputs(".s|tonumber", r#"{"s":"1 2"}"#).is_err());
        assert_eq!(one(".s|tonumber", r#"{"s":" 1.5"}"#), "1.5");
        assert!(outputs(".l[1000000000] = 1", r#"{"l":[]}"#).is_err());
    }

    /// jq's `del` and `delpaths`: every path is read against the input as it was, and there
    /// is nothing to delete under null (the expected outputs are jq 1.6's and 1.7's).
    #[test]
    fn deletion_is_jqs() {
        let one = |code: &str, input: &str| outputs(code, input).unwrap().join(" ");
        let list = r#"{"l":[1,2,3,4],"m":{"k":1,"j":2}}"#;
        for (code, expected) in [
            ("del(.l[0,2])", r#"{"l":[2,4],"m":{"k":1,"j":2}}"#),
            ("del(.l[2,0])", r#"{"l":[2,4],"m":{"k":1,"j":2}}"#),
            ("del(.l[-4,1])", r#"{"l":[3,4],"m":{"k":1,"j":2}}"#),
            ("del(.l[1:3])", r#"{"l":[1,4],"m":{"k":1,"j":2}}"#),
            ("del(.l[:1],.l[-1:])", r#"{"l":[2,3],"m":{"k":1,"j":2}}"#),
            ("del(.l[0],.l[1:3])", r#"{"l":[4],"m":{"k":1,"j":2}}"#),
            ("del(.l[9])", list),
            ("del(.m.k,.m)", r#"{"l":[1,2,3,4]}"#),
            ("del(.l[],.m[])", r#"{"l":[],"m":{}}"#),
            ("del(.x.y)", list),
            ("del(.x[0].y)", list),
            (
                r#"delpaths([["l",0],["l",1]])"#,
                r#"{"l":[3,4],"m":{"k":1,"j":2}}"#,
            ),
            ("delpaths([])", list),
            ("delpaths([[]])", "null"),
            (".l |= del(.[1:][0])", r#"{"l":[1,3,4],"m":{"k":1,"j":2}}"#),
        ] {
            assert_eq!(one(code, list), expected, "{code}");
        }
        for (code, error) in [
            ("del(.m[0])", "cannot index"),
            (
                r#"delpaths([["m",0]])"#,
                "Cannot delete field at object index of number",
            ),
            (
                r#"delpaths([["l","a"]])"#,
                "Cannot delete string element of array",
            ),
            ("del(.l.a)", "cannot"),
            (
                r#"delpaths([["l",0,"a"]])"#,
                "Cannot delete fields from number",
            ),
            ("delpaths([1])", "Path must be specified as an array"),
        ] {
            let err = outputs(code, list).unwrap_err();
            assert!(err.contains(error), "{code}: {err}");
        }
    }

    #[test]
    fn numbers_keep_their_spelling_and_minus_zero_its_sign() {
        let one = |code: &str, input: &str| outputs(code, input).unwrap().join(" ");
        let record = r#"{"z":-0,"f":1.50,"l":[-0]}"#;
        assert_eq!(one(".", record), record);
        assert_eq!(
            one(".z + 1, (.z == 0), (.z | tostring)", record),
            r#"1 true "-0""#
        );
    }

    #[test]
    fn from_entries_takes_jqs_spellings_of_key_and_value() {
        let one = |code: &str| outputs(code, "{}").unwrap().join(" ");
        for (code, expected) in [
            (r#"[{"key":"a","value":1}] | from_entries"#, r#"{"a":1}"#),
            (
                r#"[{"name":"a","value":1},{"k":"b","v":2}] | from_entries"#,
                r#"{"a":1,"b":2}"#,
            ),
            (r#"[{"Key":"a","Value":1}] | from_entries"#, r#"{"a":null}"#),
            (
                r#"[{"key":1,"value":1},{"key":false}] | from_entries"#,
                r#"{"1":1,"false":null}"#,
            ),
            (
                r#"[{"key":null,"value":1}] | from_entries"#,
                r#"{"null":1}"#,
            ),
            (
                r#"{"a":1,"b":2} | with_entries(.value += 1)"#,
                r#"{"a":2,"b":3}"#,
            ),
            ("[] | from_entries", "{}"),
        ] {
            assert_eq!(one(code), expected, "{code}");
        }
    }

    #[test]
    fn trimming_leaves_what_is_not_a_string() {
        let one = |code: &str, input: &str| outputs(code, input).unwrap().join(" ");
        let record = r#"{"n":12,"s":"abc","l":["a"]}"#;
        assert_eq!(one(".n|ltrimstr(\"1\")", record), "12");
        assert_eq!(one(".l|rtrimstr(\"a\")", record), r#"["a"]"#);
        assert_eq!(one(".s|ltrimstr(1)", record), r#""abc""#);
        assert_eq!(one(".s|ltrimstr(\"a\")|rtrimstr(\"c\")", record), r#""b""#);
        assert_eq!(one(".s|trimstr(\"x\")", record), r#""abc""#);
    }

    #[test]
    fn type_errors_are_messages() {
        let err = outputs(".a + 1", r#"{"a":"x"}"#).unwrap_err();
        assert!(err.contains("cannot"), "{err}");
        assert!(outputs("halt", "{}").is_err());
        assert!(outputs("error(\"boom\")", "{}")
            .unwrap_err()
            .contains("boom"));
    }

    #[test]
    fn parse_errors_point_at_the_place() {
        let err = Program::compile(".a > ").err().unwrap();
        assert!(err.contains("expected"), "{err}");
        assert!(err.contains('^'), "{err}");
        let err = Program::compile(".a | nosuchfn(1)").err().unwrap();
        assert!(err.contains("undefined filter nosuchfn"), "{err}");
        assert!(err.ends_with("\n  .a | nosuchfn(1)\n       ^"), "{err}");
        let err = Program::compile("(.a").err().unwrap();
        assert!(err.contains('^'), "{err}");
    }
}
