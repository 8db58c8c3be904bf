//! The scanner's fast path: classifies 64 bytes at a time with SIMD (simdjson's idea) and then
//! checks the grammar from one structural byte to the next, skipping string contents and
//! whitespace without looking at them byte by byte.
//!
//! It only ever says "valid" when the text certainly is one JSON object; for anything else
//! (an error, a `\u` escape of a UTF-16 surrogate, nesting deeper than allowed) it gives up and the byte-by-byte
//! scanner decides, so errors and their messages come from one place.

use super::{FieldSpan, Scanner, MAX_DEPTH};

/// Bytes classified at once.
const BLOCK: usize = 64;

/// The classes of one block's bytes, a bit per byte (bit `i` is byte `i`).
#[derive(Default)]
struct Classes {
    quote: u64,
    backslash: u64,
    /// `{ } [ ] : ,`
    operator: u64,
    /// space, tab, line feed, carriage return
    whitespace: u64,
    /// bytes below 0x20
    control: u64,
    /// bytes from 0x80 on
    high: u64,
    /// `0` to `9`
    digit: u64,
}

/// Classifies a block's bytes with SSE2, which every x86_64 processor has.
#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8; BLOCK]) -> Classes {
    use safe_arch::*;
    let splat = |b: u8| set_splat_i8_m128i(b as i8);
    let (quote, backslash, colon, comma) = (splat(b'"'), splat(b'\\'), splat(b':'), splat(b','));
    let (space, tab, lf, cr) = (splat(b' '), splat(b'\t'), splat(b'\n'), splat(b'\r'));
    // `{` and `[` differ only in bit 5, as do `}` and `]`.
    let (bit5, open, close, below_space) = (splat(0x20), splat(b'{'), splat(b'}'), splat(0x1f));
    let (zero, nine) = (splat(b'0'), splat(9));
    let mut classes = Classes::default();
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        let v = load_unaligned_m128i(chunk.try_into().expect("16 bytes"));
        let bits = |m: m128i| u64::from(move_mask_i8_m128i(m) as u16) << (16 * i);
        let eq = cmp_eq_mask_i8_m128i;
        let folded = bitor_m128i(v, bit5);
        classes.quote |= bits(eq(v, quote));
        classes.backslash |= bits(eq(v, backslash));
        classes.operator |= bits(bitor_m128i(
            bitor_m128i(eq(folded, open), eq(folded, close)),
            bitor_m128i(eq(v, colon), eq(v, comma)),
        ));
        classes.whitespace |= bits(bitor_m128i(
            bitor_m128i(eq(v, space), eq(v, tab)),
            bitor_m128i(eq(v, lf), eq(v, cr)),
        ));
        classes.control |= bits(eq(max_u8_m128i(v, below_space), below_space));
        classes.high |= bits(v);
        // Digits are the bytes that end up at most 9 (unsigned) once `0` is taken away.
        let from_zero = sub_i8_m128i(v, zero);
        classes.digit |= bits(eq(max_u8_m128i(from_zero, nine), nine));
    }
    classes
}

/// Without SIMD there is no fast path.
#[cfg(not(target_arch = "x86_64"))]
fn classify(_: &[u8; BLOCK]) -> Classes {
    unreachable!("the fast path is only taken on x86_64")
}

/// Whether this machine has the fast path.
const AVAILABLE: bool = cfg!(target_arch = "x86_64");

/// Each bit set where an odd number of set bits precede it or sit on it (inclusive prefix XOR):
/// for quotes, the bits inside strings, opening quote included and closing quote excluded.
fn prefix_xor(mut x: u64) -> u64 {
    for shift in [1, 2, 4, 8, 16, 32] {
        x ^= x << shift;
    }
    x
}

/// The bytes escaped by a backslash: the one after each backslash that is not itself escaped.
/// `carry` says whether the previous block's last byte escapes this block's first one.
fn escaped(backslash: u64, carry: &mut bool) -> u64 {
    let mut escaped = u64::from(*carry);
    let mut escapes = backslash & !escaped;
    *carry = false;
    while escapes != 0 {
        let at = escapes.trailing_zeros();
        if at == 63 {
            *carry = true;
        } else {
            escaped |= 1 << (at + 1);
        }
        escapes &= !(1 << at) & !escaped;
    }
    escaped
}

/// The structural bytes of a text in order: `{ } [ ] : ,`, the opening quote of each string
/// and the first byte of each number or literal. String contents and whitespace are skipped.
struct Tokens<'a> {
    text: &'a [u8],
    /// The next block to classify.
    next_block: usize,
    /// Tokens of the current block not yet taken, and the block's offset.
    pending: u64,
    base: usize,
    /// All ones while a string continues into the next block.
    in_string: u64,
    escape_carry: bool,
    /// 1 when the previous block ended inside a number or literal.
    scalar_carry: u64,
    /// The current block's bytes of numbers and literals...
    scalar: u64,
    /// ...and its digits.
    digit: u64,
    /// Bytes from 0x80 on, seen so far.
    high: u64,
    /// Something the fast path leaves to the scanner (a control character in a string, a
    /// surrogate `\u` escape, an invalid escape).
    unsure: bool,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a [u8]) -> Self {
        Tokens {
            text,
            next_block: 0,
            pending: 0,
            base: 0,
            in_string: 0,
            escape_carry: false,
            scalar_carry: 0,
            scalar: 0,
            digit: 0,
            high: 0,
            unsure: false,
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
        Some((at, self.text[at]))
    }

    /// Finds the tokens of the next block; false at the end of the text or when unsure.
    #[inline(never)]
    fn classify_next_block(&mut self) -> bool {
        let base = self.next_block * BLOCK;
        if base >= self.text.len() || self.unsure {
            return false;
        }
        self.next_block += 1;
        let chunk = &self.text[base..self.text.len().min(base + BLOCK)];
        let mut padded = [b' '; BLOCK];
        let block: &[u8; BLOCK] = match chunk.try_into() {
            Ok(block) => block,
            Err(_) => {
                padded[..chunk.len()].copy_from_slice(chunk);
                &padded
            }
        };
        let c = classify(block);
        self.high |= c.high;
        let quotes = if c.backslash == 0 && !self.escape_carry {
            c.quote
        } else {
            let escaped = escaped(c.backslash, &mut self.escape_carry);
            let mut rest = escaped;
            while rest != 0 {
                let at = rest.trailing_zeros() as usize;
                let valid = match block[at] {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => true,
                    b'u' => is_plain_unicode_escape(self.text, base + at),
                    _ => false,
                };
                if !valid {
                    self.unsure = true;
                    return false;
                }
                rest &= rest - 1;
            }
            c.quote & !escaped
        };
        let strings = prefix_xor(quotes) ^ self.in_string;
        self.in_string = ((strings as i64) >> 63) as u64;
        if c.control & strings != 0 {
            self.unsure = true;
            return false;
        }
        let outside = !strings;
        // Numbers and literals (and anything that is not JSON, which they then reject).
        let scalar = outside & !(c.operator | c.whitespace | quotes);
        let scalar_starts = scalar & !((scalar << 1) | self.scalar_carry);
        self.scalar_carry = scalar >> 63;
        self.scalar = scalar;
        self.digit = c.digit;
        self.pending = (c.operator & outside) | (quotes & strings) | scalar_starts;
        self.base = base;
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
            && (digits == 1 || self.text[at + sign] != b'0')
    }
}

/// Whether the `u` at `at` starts four hex digits outside the UTF-16 surrogates (a surrogate
/// must pair with the next escape: that is left to the scanner).
fn is_plain_unicode_escape(text: &[u8], at: usize) -> bool {
    let Some(hex) = text.get(at + 1..at + 5) else {
        return false;
    };
    let digit = |b: u8| (b as char).to_digit(16);
    let unit = hex
        .iter()
        .try_fold(0, |unit, &b| Some(unit * 16 + digit(b)?));
    unit.is_some_and(|unit| !(0xd800..0xe000).contains(&unit))
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
    let ended = tokens.next().is_none() && !tokens.unsure;
    ended.then_some(tokens.high == 0)
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
                key: key_start..trim_end(t.text, colon),
                value: value_start..trim_end(t.text, end),
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
        _ => scalar_is_valid(t.text, at),
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
fn scalar_is_valid(text: &[u8], at: usize) -> Option<()> {
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
            let spaces = " ".repeat(pad);
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
                agrees(&format!("{{{spaces}{body}}}"));
                agrees(&format!("{spaces}{{{body}{spaces}}}{spaces}"));
                agrees(&format!("{{\"p\":\"{spaces}\",{body}}}"));
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
        let alphabet = b"{}[]:,\"\\ \t\n0123456789-+.eEtruefalsnlABCDFu\x01\x7f";
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let mut text = seeds[(next() % 3) as usize].as_bytes().to_vec();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % (text.len() + 1);
                let byte = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 if at < text.len() => text[at] = byte,
                    1 if at < text.len() => {
                        text.remove(at);
                    }
                    _ => text.insert(at, byte),
                }
            }
            let spaces = " ".repeat((next() % 64) as usize);
            let text = format!("{spaces}{}", String::from_utf8(text).expect("ASCII"));
            agrees(&text);
        }
    }
}
