//! The walk: from the blocks' masks (see [`super::masks`]) it checks the grammar from one
//! structural byte to the next, skipping string contents and whitespace without looking at
//! them byte by byte. It lists an object's fields, and takes the records that the bit-mask
//! check ([`super::objects`]) leaves to it (arrays of arrays or objects, `{}`).
//!
//! It only ever says "valid" when the text certainly is one JSON object; for anything else (an
//! error, a `\u` escape of a UTF-16 surrogate, nesting deeper than allowed) it gives up and the
//! byte-by-byte scanner decides, so errors and their messages come from one place.

use super::masks::{Blocks, Plain, AVAILABLE, BLOCK};
use super::{FieldSpan, Scanner, MAX_DEPTH};

/// The structural bytes of a text in order: `{ } [ ] : ,`, the opening quote of each string
/// and the first byte of each number or literal. String contents and whitespace are skipped.
struct Tokens<'a> {
    blocks: Blocks<'a, Plain>,
    /// Tokens of the current block not yet taken, and the block's offset.
    pending: u64,
    base: usize,
    /// The current block's bytes of numbers and literals...
    scalar: u64,
    /// ...and its digits.
    digit: u64,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a [u8]) -> Self {
        Tokens {
            blocks: Blocks::new(text, Plain),
            pending: 0,
            base: 0,
            scalar: 0,
            digit: 0,
        }
    }

    /// The next token's position and byte.
    #[inline(always)]
    fn next(&mut self) -> Option<(usize, u8)> {
        while self.pending == 0 {
            if !self.classify_next_block() {
                return None;
            }
        }
        let at = self.base + self.pending.trailing_zeros() as usize;
        self.pending &= self.pending - 1;
        Some((at, self.blocks.text[at]))
    }

    /// Finds the tokens of the next block; false at the end of the text or when unsure.
    #[inline(never)]
    fn classify_next_block(&mut self) -> bool {
        let Some(block) = self.blocks.next() else {
            return false;
        };
        self.scalar = block.scalar;
        self.digit = block.digit;
        self.pending = block.operator | block.string_starts | block.scalar_starts;
        self.base = block.base;
        true
    }
}

impl Tokens<'_> {
    /// Whether the number or literal at `at` (a token of the current block), which starts
    /// with `first`, is an integer that ends before this block does: `-` or no sign, then `0` or
    /// digits that do not start with `0`. False leaves it to [`scalar_is_valid`].
    #[inline(always)]
    fn is_integer(&self, at: usize, first: u8) -> bool {
        let bit = at - self.base;
        // Its bytes run up to the next whitespace, structural byte or quote.
        let len = (!(self.scalar >> bit)).trailing_zeros() as usize;
        if bit + len >= BLOCK {
            return false;
        }
        let sign = usize::from(first == b'-');
        let digits = len - sign;
        let all = (1u64 << digits) - 1;
        digits > 0
            && (self.digit >> (bit + sign)) & all == all
            && (digits == 1 || self.blocks.text[at + sign] != b'0')
    }
}

/// Checks that `text` is exactly one JSON object, listing its top-level fields into `fields`
/// when given (appended; the caller clears it). `Some(ascii)` when it is valid (UTF-8 is not
/// checked here: `ascii` says whether all bytes are below 0x80); `None` when the byte-by-byte
/// scanner must decide.
pub(super) fn scan_object(text: &[u8], fields: Option<&mut Vec<FieldSpan>>) -> Option<bool> {
    if !AVAILABLE {
        return None;
    }
    let mut tokens = Tokens::new(text);
    if tokens.next()?.1 != b'{' {
        return None;
    }
    object(&mut tokens, 0, fields)?;
    let ended = tokens.next().is_none() && !tokens.blocks.unsure;
    ended.then_some(tokens.blocks.high == 0)
}

/// The rest of an object whose `{` was taken.
fn object(t: &mut Tokens, depth: usize, mut fields: Option<&mut Vec<FieldSpan>>) -> Option<()> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut token = t.next()?;
    if token.1 == b'}' {
        return Some(());
    }
    loop {
        let (key_start, b'"') = token else {
            return None;
        };
        let (colon, b':') = t.next()? else {
            return None;
        };
        let (value_start, first) = t.next()?;
        value(t, value_start, first, depth)?;
        let (end, after) = t.next()?;
        if let Some(fields) = fields.as_deref_mut() {
            fields.push(FieldSpan {
                key: key_start..trim_end(t.blocks.text, colon),
                value: value_start..trim_end(t.blocks.text, end),
            });
        }
        match after {
            b',' => token = t.next()?,
            b'}' => return Some(()),
            _ => return None,
        }
    }
}

/// The rest of an array whose `[` was taken.
fn array(t: &mut Tokens, depth: usize) -> Option<()> {
    if depth >= MAX_DEPTH {
        return None;
    }
    let mut token = t.next()?;
    if token.1 == b']' {
        return Some(());
    }
    loop {
        value(t, token.0, token.1, depth)?;
        match t.next()?.1 {
            b',' => token = t.next()?,
            b']' => return Some(()),
            _ => return None,
        }
    }
}

/// The value whose first token, `first` at `at`, was taken.
#[inline(always)]
fn value(t: &mut Tokens, at: usize, first: u8, depth: usize) -> Option<()> {
    match first {
        b'"' => Some(()),
        b'{' => object(t, depth + 1, None),
        b'[' => array(t, depth + 1),
        _ if t.is_integer(at, first) => Some(()),
        _ => scalar_is_valid(t.blocks.text, at),
    }
}

/// `end` moved back over whitespace.
fn trim_end(text: &[u8], mut end: usize) -> usize {
    while end > 0 && matches!(text[end - 1], b' ' | b'\t' | b'\n' | b'\r') {
        end -= 1;
    }
    end
}

/// Checks the number or literal at `at`: valid, and followed by whitespace, a structural
/// byte, a quote or the end (anything else would be part of it).
pub(super) fn scalar_is_valid(text: &[u8], at: usize) -> Option<()> {
    let end = match text[at] {
        b'-' | b'0'..=b'9' => match integer_end(text, at) {
            Some(end) if ends_value(text, end) => return Some(()),
            _ => {
                let mut s = Scanner { text, at };
                s.number().ok()?;
                s.at
            }
        },
        b't' if text[at..].starts_with(b"true") => at + 4,
        b'f' if text[at..].starts_with(b"false") => at + 5,
        b'n' if text[at..].starts_with(b"null") => at + 4,
        _ => return None,
    };
    ends_value(text, end).then_some(())
}

/// Whether a number or literal may end before `end`: at the end of the text, whitespace, a
/// structural byte or a quote.
fn ends_value(text: &[u8], end: usize) -> bool {
    const ENDS: u128 = {
        let mut set = 0u128;
        let bytes = b" \t\n\r,:{}[]\"";
        let mut i = 0;
        while i < bytes.len() {
            set |= 1 << bytes[i];
            i += 1;
        }
        set
    };
    text.get(end)
        .is_none_or(|&b| b < 128 && (ENDS >> b) & 1 == 1)
}

/// The end of the integer at `at` (`-`, then `0` or digits not starting with `0`) when eight
/// bytes from its first digit hold it; `None` when the full grammar must decide. For integers
/// that [`Tokens::is_integer`] cannot settle: those that reach the end of a block.
fn integer_end(text: &[u8], at: usize) -> Option<usize> {
    let start = at + usize::from(text[at] == b'-');
    let word = u64::from_le_bytes(text.get(start..start + 8)?.try_into().ok()?);
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Per byte, on its low seven bits (no carries between bytes): at least `0`, above `9`.
    let low = word & LOW7;
    let at_least_0 = low.wrapping_add(0x5050_5050_5050_5050);
    let above_9 = low.wrapping_add(0x4646_4646_4646_4646);
    let digits = at_least_0 & !above_9 & !word & HIGH;
    let len = (!digits & HIGH).trailing_zeros() as usize / 8;
    ((1..8).contains(&len) && (len == 1 || text[start] != b'0')).then_some(start + len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::random::{aligned, mutated, numbers};

    fn fast(text: &str) -> Option<Vec<FieldSpan>> {
        let mut fields = Vec::new();
        scan_object(text.as_bytes(), Some(&mut fields)).map(|_| fields)
    }

    fn slow(text: &str) -> Option<Vec<FieldSpan>> {
        let mut fields = Vec::new();
        let mut s = Scanner {
            text: text.as_bytes(),
            at: 0,
        };
        s.skip_ws();
        if s.peek() != Some(b'{') {
            return None;
        }
        s.object(0, Some(&mut fields)).ok()?;
        s.skip_ws();
        (s.at == text.len()).then_some(fields)
    }

    /// The fast path accepts exactly what the scanner accepts (but for surrogate escapes,
    /// which it leaves to the scanner), and finds the same fields.
    fn agrees(text: &str) {
        match fast(text) {
            Some(fields) => assert_eq!(Some(fields), slow(text), "{text:?}"),
            None if text.to_ascii_lowercase().contains("\\ud") => {}
            None => assert_eq!(slow(text), None, "{text:?}"),
        }
    }

    #[test]
    fn takes_common_records_and_agrees_with_the_scanner() {
        for text in [
            r#"{"year":2013,"carrier":"UA","dep_delay":-2.5e1,"tailnum":null,"ok":true}"#,
            r#" { "a" : [ 1 , { "b" : [ ] } , "x\"y\\" ] , "c" : { } , "d" : false } "#,
            r#"{}"#,
            r#"{"q":"a \\\" b \/ \n\t\r\b\f","":""}"#,
            r#"{"caf\u00e9":"\u0041\uFFFF\ud7ff\ue000"}"#,
            "{\"é\":\"日本\",\"z\":[[[]]]}",
        ] {
            assert!(fast(text).is_some(), "{text}");
            agrees(text);
        }
        assert_eq!(scan_object(b"{\"a\":1}", None), Some(true));
        assert_eq!(scan_object("{\"a\":\"é\"}".as_bytes(), None), Some(false));
    }

    #[test]
    fn integers_are_checked_from_the_block_masks() {
        let verdicts = |text: &[u8]| {
            let mut tokens = Tokens::new(text);
            let mut verdicts = Vec::new();
            while let Some((at, byte)) = tokens.next() {
                if !b"{}[]:,\"".contains(&byte) {
                    verdicts.push(tokens.is_integer(at, byte));
                }
            }
            verdicts
        };
        let text = br#"{"a":0,"b":-12,"c":012,"d":-,"e":1.5,"f":true,"g":-0,"h":9}"#;
        assert_eq!(
            verdicts(text),
            [true, true, false, false, false, false, true, true]
        );
        // One that may go on in the next block is left to the scanner.
        let straddling = format!("{{\"a\":{}12345}}", " ".repeat(57));
        assert_eq!(verdicts(straddling.as_bytes()), [false]);
    }

    #[test]
    fn integers_end_where_their_digits_do() {
        let end = |text: &str| integer_end(text.as_bytes(), 0);
        assert_eq!(end("12345,\"x\":1}"), Some(5));
        assert_eq!(end("-0}       "), Some(2));
        assert_eq!(end("0}        "), Some(1));
        assert_eq!(end("01}       "), None);
        assert_eq!(end("-}        "), None);
        assert_eq!(end("1.5}      "), Some(1));
        assert_eq!(end("12345678901"), None);
        assert_eq!(end("9\u{b9}       "), Some(1));
        assert_eq!(end("1"), None);
    }

    #[test]
    fn gives_up_on_anything_invalid() {
        for text in [
            "",
            " ",
            "[]",
            "{",
            "}",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":1x}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":nul}"#,
            r#"{"a":"x"1}"#,
            r#"{"a":"x""y"}"#,
            r#"{"a":1}}"#,
            r#"{"a":1} {}"#,
            r#"{"a":1}x"#,
            r#"{"a":[}"#,
            r#"{"a":{]}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u004"}"#,
            r#"{"a":"\u00g1"}"#,
            r#"{"a":"\ud83d\ude00"}"#,
            r#"{"a":"\udc00"}"#,
            "{\"a\":\"tab\there\"}",
            "{\"a\":1}\x0c",
            "\x0c{}",
            r#"{"a":"unterminated}"#,
            r#"{"a":'x'}"#,
            r#"{a:1}"#,
            r#"{"a"::1}"#,
            r#"{"a":1:2}"#,
            r#"{"a" 1}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a\":1}"#,
            "{\"a\":\\}",
        ] {
            assert_eq!(fast(text), None, "{text}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(fast(&deep).is_some());
        let deeper = format!("{{\"a\":{}{}}}", "[".repeat(128), "]".repeat(128));
        assert_eq!(fast(&deeper), None);
    }

    #[test]
    fn agrees_at_every_alignment_and_with_backslash_runs() {
        for pad in 0..130 {
            for body in [
                r#""k":"v""#,
                r#""k":"\u00e9\\u0041\u20AC""#,
                r#""k":"\\""#,
                r#""k":"\\\"""#,
                r#""k":"a\\\\\\\"b""#,
                r#""k\\":[12345,-0.5e-7,"x"]"#,
                r#""k":"\""#,
                r#""k":"\\\""#,
                r#""k":12 34"#,
                r#""k":"a"  ,  "b":{"c":"}"}"#,
                r#""k":[0,-0,7,-7,10,-10,1234567890123456789012,-1]"#,
                r#""k":[01]"#,
                r#""k":-01"#,
                r#""k":-"#,
                r#""k":[-,1]"#,
                r#""k":--1"#,
                r#""k":1-"#,
                r#""k":12a"#,
                r#""k":2."#,
                r#""k":00"#,
                r#""k":9"x""#,
            ] {
                for text in aligned(body, pad) {
                    agrees(&text);
                }
            }
        }
    }

    #[test]
    fn agrees_on_random_mutations() {
        let seeds = [
            r#"{"a":[1,{"b":"c\"d"},true,null],"e":-1.5e3,"f":{"g":[]},"h":"\\"}"#,
            r#"{"year":2013,"month":1,"carrier":"UA","tailnum":"N14228","time":"2013-01-01T10:00:00Z"}"#,
            r#"{"caf\u00e9":"\u00E9t\u00e9 \ud83d\ude00","n":[-0.5,1e-3]}"#,
        ];
        let mut next = numbers(0x9e37_79b9_7f4a_7c15);
        for _ in 0..200_000 {
            let text = mutated(&seeds, 4, &mut next);
            agrees(&text);
        }
    }
}
