//! jq's regular expressions on fancy-regex: Unicode classes (`\w` matches `é`), look-around
//! and backreferences, as jq's Oniguruma has them (jaq's own engine is ASCII-only and has
//! neither). These natives replace jaq's `matches`, `split_matches` and `split_`, on which
//! the standard library builds `test`, `match`, `capture`, `scan`, `split`, `sub` and `gsub`.
//!
//! A match is an array: the whole match (`offset`, `length`, `string`, in characters as jq
//! counts them), then one object per group with its `name` (null when unnamed); a group that
//! took no part has offset -1 and string null, as in jq. Compiled expressions are kept per
//! thread, so a program that matches every record compiles its expression once.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use fancy_regex::{Regex, RegexBuilder};
use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::ValT as _;
use jaq_core::{Cv, DataT, Error, RunPtr, ValR};
use jaq_std::ValT as _;

use crate::Val;

/// The natives, under the names jaq's standard library calls.
pub fn funs<D: for<'a> DataT<V<'a> = Val>>() -> impl Iterator<Item = Fun<D>> {
    natives::<D>().into_vec().into_iter().map(run::<D>)
}

fn natives<D: for<'a> DataT<V<'a> = Val>>() -> Box<[Filter<RunPtr<D>>]> {
    Box::new([
        ("matches", v(2), |cv| bome(apply(cv, Parts::Matches))),
        ("split_matches", v(2), |cv| bome(apply(cv, Parts::Both))),
        ("split_", v(2), |cv| bome(apply(cv, Parts::Between))),
    ])
}

/// Whether `name` is one of the natives this module replaces.
pub fn replaces(name: &str) -> bool {
    matches!(name, "matches" | "split_matches" | "split_")
}

/// What an application of an expression gives.
#[derive(Clone, Copy, PartialEq)]
enum Parts {
    /// The matches.
    Matches,
    /// The text between the matches.
    Between,
    /// Both, in turn: text, match, text, ..., text.
    Both,
}

/// jq's modifiers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
struct Flags {
    global: bool,
    ignore_empty: bool,
    case_insensitive: bool,
    extended: bool,
    dot_all: bool,
}

impl Flags {
    /// Parses jq's modifier letters: `g` global, `i` case-insensitive, `x` extended, `n` no
    /// empty matches (they are left out; Oniguruma searches on for a longer one), `p` `.`
    /// matches newlines too, `s` single line (`^` and `$` at the ends of the text, as they are
    /// without it) and `l` longest (accepted; the leftmost match is taken, as Perl's engines
    /// do).
    fn parse(text: &str) -> Result<Flags, String> {
        let mut flags = Flags::default();
        for letter in text.chars() {
            match letter {
                'g' => flags.global = true,
                'n' => flags.ignore_empty = true,
                'i' => flags.case_insensitive = true,
                'x' => flags.extended = true,
                'p' => flags.dot_all = true,
                's' | 'l' => {}
                _ => return Err(format!("{text} is not a valid modifier string")),
            }
        }
        Ok(flags)
    }
}

thread_local! {
    /// Compiled expressions by flags and pattern (looked up without allocating).
    static COMPILED: RefCell<HashMap<Flags, HashMap<String, Rc<Regex>>>> = RefCell::default();
}

/// Expressions kept per thread before the cache starts over.
const CACHED: usize = 256;

fn compiled(pattern: &str, flags: Flags) -> Result<Rc<Regex>, String> {
    let cached = COMPILED.with(|c| c.borrow().get(&flags)?.get(pattern).cloned());
    if let Some(regex) = cached {
        return Ok(regex);
    }
    let regex = RegexBuilder::new(&end_anchors(pattern))
        .case_insensitive(flags.case_insensitive)
        .ignore_whitespace(flags.extended)
        .dot_matches_new_line(flags.dot_all)
        .build()
        .map_err(|e| format!("{pattern} is not a valid regex: {e}"))?;
    let regex = Rc::new(regex);
    COMPILED.with(|c| {
        let mut cache = c.borrow_mut();
        if cache.values().map(HashMap::len).sum::<usize>() >= CACHED {
            cache.clear();
        }
        let patterns = cache.entry(flags).or_default();
        patterns.insert(pattern.to_string(), Rc::clone(&regex));
    });
    Ok(regex)
}

/// jq's `$` (Oniguruma's, in single-line mode) matches at the end of the text and before a
/// newline that ends it; the regex crate's only at the very end. Outside classes and escapes,
/// `$` becomes a look-ahead for either, unless the pattern turns on multi-line mode itself.
fn end_anchors(pattern: &str) -> Cow<'_, str> {
    if !pattern.contains('$') || sets_multi_line(pattern) {
        return pattern.into();
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut classes = 0usize;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '[' => {
                classes += 1;
                out.push(c);
                // `]` first in a class (after an optional `^`) is itself a member.
                if chars.peek() == Some(&'^') {
                    out.extend(chars.next());
                }
                if chars.peek() == Some(&']') {
                    out.extend(chars.next());
                }
            }
            ']' if classes > 0 => {
                classes -= 1;
                out.push(c);
            }
            '$' if classes == 0 => out.push_str("(?=\\n?\\z)"),
            _ => out.push(c),
        }
    }
    out.into()
}

/// Whether an inline flag group (`(?m)`, `(?im:…)`) turns on multi-line mode.
fn sets_multi_line(pattern: &str) -> bool {
    pattern.match_indices("(?").any(|(at, _)| {
        pattern[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .any(|c| c == 'm')
    })
}

fn text_of<'a>(value: &'a Val, what: &str) -> Result<&'a str, Error<Val>> {
    value
        .as_utf8_bytes()
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| {
            Error::str(format_args!(
                "{value} cannot be matched, as it is not a string ({what})"
            ))
        })
}

fn apply<D: for<'a> DataT<V<'a> = Val>>(mut cv: Cv<D>, parts: Parts) -> ValR<Val> {
    let flags = cv.0.pop_var();
    let pattern = cv.0.pop_var();
    let flags = match flags {
        Val::Null => Flags::default(),
        ref f => Flags::parse(text_of(f, "the modifiers")?).map_err(Error::str)?,
    };
    let regex = compiled(text_of(&pattern, "the regex")?, flags).map_err(Error::str)?;
    let text = text_of(&cv.1, "the input")?;
    let mut chars = CharOffsets::default();
    let mut out = Vec::new();
    let mut last = 0;
    for captures in regex.captures_iter(text) {
        let captures = captures.map_err(|e| Error::str(format_args!("regex failed: {e}")))?;
        let whole = captures.get(0).expect("group 0 is the match");
        if flags.ignore_empty && whole.as_str().is_empty() {
            continue;
        }
        if parts != Parts::Matches {
            out.push(Val::from(text[last..whole.start()].to_string()));
            last = whole.end();
        }
        if parts != Parts::Between {
            let mut groups = vec![span(text, &mut chars, whole.start(), whole.end(), None)?];
            for (i, name) in regex.capture_names().enumerate().skip(1) {
                let name = Some(name.map_or(Val::Null, |n| Val::from(n.to_string())));
                groups.push(match captures.get(i) {
                    Some(m) => span(text, &mut chars, m.start(), m.end(), name)?,
                    None => unmatched(name)?,
                });
            }
            out.push(groups.into_iter().collect());
        }
        if !flags.global {
            break;
        }
    }
    if parts != Parts::Matches {
        out.push(Val::from(text[last..].to_string()));
    }
    Ok(out.into_iter().collect())
}

/// A match or group as jq describes it; `name` is given for groups only.
fn span(
    text: &str,
    chars: &mut CharOffsets,
    start: usize,
    end: usize,
    name: Option<Val>,
) -> ValR<Val> {
    let offset = chars.of(text, start);
    let length = text[start..end].chars().count();
    let fields = [
        ("offset", Val::from(offset as isize)),
        ("length", Val::from(length as isize)),
        ("string", Val::from(text[start..end].to_string())),
    ];
    object(fields.into_iter().chain(name.map(|n| ("name", n))))
}

/// A group that took no part in the match.
fn unmatched(name: Option<Val>) -> ValR<Val> {
    let fields = [
        ("offset", Val::from(-1isize)),
        ("length", Val::from(0isize)),
        ("string", Val::Null),
    ];
    object(fields.into_iter().chain(name.map(|n| ("name", n))))
}

fn object<'a>(fields: impl Iterator<Item = (&'a str, Val)>) -> ValR<Val> {
    Val::from_map(fields.map(|(k, v)| (Val::from(k.to_string()), v)))
}

/// Byte offsets to character offsets, counting on from the last one asked for.
#[derive(Default)]
struct CharOffsets {
    byte: usize,
    char: usize,
}

impl CharOffsets {
    fn of(&mut self, text: &str, byte: usize) -> usize {
        if byte < self.byte {
            *self = CharOffsets::default();
        }
        self.char += text[self.byte..byte].chars().count();
        self.byte = byte;
        self.char
    }
}
