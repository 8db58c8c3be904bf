//! The fastest check, for records whose arrays hold only strings, numbers and literals (most
//! records): the grammar is checked on whole blocks of bit masks, with no walk from token to
//! token.
//!
//! In such records every token's class decides which class may follow it: a string after `{`
//! or an object's `,` is a key and only `:` may follow it; after `:` comes a value (a string,
//! number, literal, `{` or `[`); after a value's end (a string or scalar after `:`, `}` or
//! `]`) only `,` or `}`; inside an array, values and `,` alternate up to `]`. "The tokens that
//! follow a class" is one addition over a block's masks: a bit added just past each of the
//! class's tokens carries through the gap (whitespace, string or number bytes) up to the next
//! token. Arrays are found like strings, from their brackets; nesting of objects is checked
//! by counting braces at each `}`.
//!
//! Like the walk, it only ever says "valid" when the text certainly is one JSON object; for
//! anything else it gives up and leaves the text to the walk and the scanner.

use super::fast::scalar_is_valid;
#[cfg(target_arch = "x86_64")]
use super::masks::avx2;
use super::masks::{prefix_xor, Block, Blocks, Detailed, Kernel, AVAILABLE};
use super::MAX_DEPTH;

/// Checks that `text` is exactly one JSON object whose arrays hold no arrays or objects.
/// `Some(ascii)` when it is valid (UTF-8 is not checked here: `ascii` says whether all bytes
/// are below 0x80); `None` when it is not, or has such arrays, or else needs a closer look.
pub(super) fn validate(text: &[u8]) -> Option<bool> {
    if !AVAILABLE {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(kernel) = avx2::Detailed::detect() {
        return kernel.run(|kernel| validate_with(text, kernel));
    }
    validate_with(text, Detailed)
}

/// [`validate`] with the blocks classified by `kernel`.
#[inline(always)]
fn validate_with(text: &[u8], kernel: impl Kernel) -> Option<bool> {
    let mut blocks = Blocks::new(text, kernel);
    let mut check = Check::default();
    while let Some(block) = blocks.next() {
        check.block(text, &block)?;
    }
    (!blocks.unsure && check.finished()).then_some(blocks.high == 0)
}

/// The tokens that follow a class's tokens in one block, carrying into the next block when a
/// gap reaches its end. `gaps` has a bit set for every byte that is not a token.
#[inline(always)]
fn follows(gaps: u64, class: u64, carry: &mut u64) -> u64 {
    let (sum, over) = gaps.overflowing_add(class << 1);
    let (sum, over_again) = sum.overflowing_add(*carry);
    *carry = u64::from(over | over_again) | (class >> 63);
    sum & !gaps
}

/// What one block tells the next.
struct Check {
    /// Carries of [`follows`]: the start of the text (its first token must be `{`), `{` and
    /// an object's `,` (a key comes next), keys, `:` and value ends; `[`, an array's `,` and
    /// the values in arrays.
    start: u64,
    key_before: u64,
    key: u64,
    colon: u64,
    value_end: u64,
    array_start: u64,
    array_comma: u64,
    array_value: u64,
    /// All ones while an array continues into the next block.
    in_array: u64,
    /// A number's `-` or leading `0` was the block's last byte.
    minus_carry: u64,
    zero_carry: u64,
    /// Where the number or literal that the last block ended in starts.
    scalar_start: usize,
    /// Open objects after the blocks so far, and `{` seen in all.
    depth: u32,
    opened: u32,
    /// The outermost object was closed: nothing may follow.
    closed: bool,
}

impl Default for Check {
    fn default() -> Self {
        Check {
            start: 1,
            key_before: 0,
            key: 0,
            colon: 0,
            value_end: 0,
            array_start: 0,
            array_comma: 0,
            array_value: 0,
            in_array: 0,
            minus_carry: 0,
            zero_carry: 0,
            scalar_start: 0,
            depth: 0,
            opened: 0,
            closed: false,
        }
    }
}

impl Check {
    /// Checks one block; `None` when it breaks the grammar or needs a closer look.
    #[inline(always)]
    fn block(&mut self, text: &[u8], block: &Block) -> Option<()> {
        let d = &block.detail;
        let operator = block.operator;
        let (open, close) = (d.open & operator, d.close & operator);
        let (open_bracket, close_bracket) = (d.open_bracket & operator, d.close_bracket & operator);
        let (colon, comma) = (d.colon & operator, d.comma & operator);
        let (strings, scalars) = (block.string_starts, block.scalar_starts);
        let tokens = operator | strings | scalars;
        let gaps = !tokens;
        if self.closed && tokens != 0 {
            return None;
        }
        // From each `[` up to its `]`. The grammar below lets a `[` follow only a key's `:`, so
        // brackets that pass it alternate, and arrays hold no arrays or objects.
        let brackets = open_bracket | close_bracket;
        let in_array = if brackets == 0 {
            self.in_array
        } else {
            prefix_xor(brackets) ^ self.in_array
        };
        self.in_array = ((in_array as i64) >> 63) as u64;
        let array_comma = comma & in_array;
        let comma = comma & !in_array;

        // Once the first token is met, nothing more follows the start.
        let mut wrong = 0;
        if self.start != 0 {
            wrong = follows(gaps, 0, &mut self.start) & !open;
        }
        let after_key_before = follows(gaps, open | comma, &mut self.key_before);
        wrong |= after_key_before & !strings;
        let keys = strings & after_key_before;
        wrong |= follows(gaps, keys, &mut self.key) & !colon;
        let after_colon = follows(gaps, colon, &mut self.colon);
        wrong |= after_colon & !(strings | scalars | open | open_bracket);
        let value_ends = ((strings | scalars) & after_colon) | close | close_bracket;
        wrong |= follows(gaps, value_ends, &mut self.value_end) & !(comma | close);
        if in_array | self.array_start | self.array_comma | self.array_value != 0 {
            let values = strings | scalars;
            let after_start = follows(gaps, open_bracket, &mut self.array_start);
            wrong |= after_start & !(values | close_bracket);
            let after_comma = follows(gaps, array_comma, &mut self.array_comma);
            wrong |= after_comma & !values;
            let array_values = values & (after_start | after_comma);
            wrong |=
                follows(gaps, array_values, &mut self.array_value) & !(array_comma | close_bracket);
        }
        if wrong != 0 {
            return None;
        }

        self.numbers(text, block)?;
        self.nesting(open, close, tokens)
    }

    /// Checks the block's numbers and literals: integers from the masks alone, anything else
    /// (fractions, exponents, `true`, a leading zero) one by one.
    #[inline(always)]
    fn numbers(&mut self, text: &[u8], block: &Block) -> Option<()> {
        let d = &block.detail;
        let (scalar, starts, digit) = (block.scalar, block.scalar_starts, block.digit);
        let minus = starts & d.minus;
        // Marks carried from the previous block belong to the number it ended in.
        let inherited = self.minus_carry | self.zero_carry;
        let first_digits = (starts & !d.minus) | (minus << 1) | self.minus_carry;
        self.minus_carry = minus >> 63;
        let leading_zeros = first_digits & d.zero;
        let after_zero = (leading_zeros << 1) | self.zero_carry;
        self.zero_carry = leading_zeros >> 63;
        // Integers: digits, one `-` before them, no `0` before other digits.
        let odd = (scalar & !digit & !minus) | (first_digits & !digit) | (after_zero & digit);
        // The bytes of a number or literal that the previous block ended in.
        let continued = if starts & 1 == 1 {
            0
        } else {
            scalar & !scalar.wrapping_add(1)
        };
        let carried = self.scalar_start;
        if scalar >> 63 == 1 {
            let run = (!scalar).leading_zeros() as usize;
            if run < 64 || continued == 0 {
                self.scalar_start = block.base + 64 - run;
            }
        }
        if odd == 0 {
            return Some(());
        }
        if odd & (continued | inherited) != 0 {
            scalar_is_valid(text, carried)?;
        }
        let mut rest = starts;
        while rest != 0 {
            scalar_is_valid(text, block.base + rest.trailing_zeros() as usize)?;
            rest &= rest - 1;
        }
        Some(())
    }

    /// Counts nesting at each brace: the outermost object must close at the last token.
    #[inline(always)]
    fn nesting(&mut self, open: u64, close: u64, tokens: u64) -> Option<()> {
        if open | close == 0 {
            return Some(());
        }
        self.opened += open.count_ones();
        if self.opened as usize > MAX_DEPTH {
            return None;
        }
        let mut closes = close;
        while closes != 0 {
            let at = closes.trailing_zeros();
            let upto = u64::MAX >> (63 - at);
            let depth = self.depth + (open & upto).count_ones() - (close & upto).count_ones();
            if depth == 0 {
                if tokens >> at != 1 {
                    return None;
                }
                self.closed = true;
            }
            closes &= closes - 1;
        }
        self.depth = (self.depth + open.count_ones()).checked_sub(close.count_ones())?;
        Some(())
    }

    /// Whether the text ended with its outermost object closed.
    fn finished(&self) -> bool {
        self.closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::fast::scan_object;
    use crate::scan::random::{aligned, mutate, mutated, numbers};
    use crate::scan::scan_object_slowly;

    /// [`super::validate`] with every kernel this processor has, which must agree.
    fn validate(text: &[u8]) -> Option<bool> {
        let sse2 = validate_with(text, Detailed);
        #[cfg(target_arch = "x86_64")]
        if let Some(kernel) = avx2::Detailed::detect() {
            let avx2 = kernel.run(|kernel| validate_with(text, kernel));
            assert_eq!(avx2, sse2, "{:?}", String::from_utf8_lossy(text));
        }
        sse2
    }

    /// The check accepts only what the walk and the byte-by-byte scanner accept.
    fn agrees(text: &str) {
        let bitwise = validate(text.as_bytes());
        if bitwise.is_some() {
            assert_eq!(bitwise, scan_object(text.as_bytes(), None), "{text:?}");
            assert!(
                scan_object_slowly(text.as_bytes(), None).is_ok(),
                "{text:?}"
            );
            assert_eq!(bitwise, Some(text.is_ascii()), "{text:?}");
        }
    }

    /// A random JSON value, mostly of the kinds the check takes, in random whitespace.
    fn random_value(next: &mut impl FnMut() -> u64, depth: u32, out: &mut String) {
        const SCALARS: [&str; 16] = [
            "0",
            "-0",
            "7",
            "-12",
            "2013",
            "1234567890123",
            "0.5",
            "-1.5e3",
            "1E+2",
            "6.02e-23",
            "true",
            "false",
            "null",
            "10",
            "-999",
            "3.0",
        ];
        const STRINGS: [&str; 10] = [
            "",
            "UA",
            "a b",
            r#"x\"y"#,
            r#"caf\u00e9"#,
            "é日本",
            "[]{}:,",
            r#"\\"#,
            r#"\/\n\t"#,
            "0",
        ];
        fn space(next: &mut impl FnMut() -> u64) -> &'static str {
            [" ", "", "", "", "\t", "\r\n", "  "][(next() % 7) as usize]
        }
        match next() % 8 {
            0 | 1 if depth < 4 => {
                out.push('{');
                for i in 0..next() % 5 + 1 {
                    if i > 0 {
                        out.push_str(space(next));
                        out.push(',');
                    }
                    out.push_str(space(next));
                    out.push_str(&format!("\"{}\"", STRINGS[(next() % 10) as usize]));
                    out.push_str(space(next));
                    out.push(':');
                    out.push_str(space(next));
                    random_value(next, depth + 1, out);
                }
                out.push_str(space(next));
                out.push('}');
            }
            2 if depth < 4 => {
                out.push('[');
                for i in 0..next() % 4 {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(space(next));
                    // Now and then a container in the array, which the check leaves to the walk.
                    let inner = if next().is_multiple_of(8) {
                        depth + 1
                    } else {
                        9
                    };
                    random_value(next, inner, out);
                    out.push_str(space(next));
                }
                out.push(']');
            }
            3 | 4 => out.push_str(&format!("\"{}\"", STRINGS[(next() % 10) as usize])),
            _ => out.push_str(SCALARS[(next() % 16) as usize]),
        }
    }

    #[test]
    fn agrees_on_random_records_and_their_mutations() {
        let mut next = numbers(0x2545_f491_4f6c_dd1d);
        let (mut valid, mut taken) = (0, 0);
        for _ in 0..100_000 {
            let mut text = String::from("{\"k\":");
            random_value(&mut next, 1, &mut text);
            text.push('}');
            if scan_object_slowly(text.as_bytes(), None).is_ok() {
                valid += 1;
                taken += usize::from(validate(text.as_bytes()).is_some());
            }
            agrees(&text);
            let mut bytes = text.into_bytes();
            mutate(&mut bytes, 3, &mut next);
            if let Ok(text) = String::from_utf8(bytes) {
                agrees(&text);
            }
        }
        // The generator's records are valid, and most are taken.
        assert_eq!(valid, 100_000);
        assert!(taken > 80_000, "{taken}");
    }

    #[test]
    fn takes_records_whose_arrays_hold_scalars() {
        for text in [
            r#"{"year":2013,"carrier":"UA","dep_delay":-2.5e1,"tailnum":null,"ok":true}"#,
            r#" { "a" : 1 , "b" : { "c" : { "d" : "x\"y\\" } } , "e" : -0 } "#,
            r#"{"q":"a \\\" b \/ \n\t\r\b\f","":""}"#,
            r#"{"caf\u00e9":"\u0041\uFFFF\ud7ff\ue000"}"#,
            "{\"é\":\"日本\",\"z\":{\"y\":{\"x\":0}}}",
            "\t{\"a\"\r\n:\n1}\n",
            r#"{"a":[1,-2.5,"x",true,null,"[]{}"],"b":[],"c":{"d":[ ]},"e":[0]}"#,
        ] {
            assert!(validate(text.as_bytes()).is_some(), "{text}");
            agrees(text);
        }
        assert_eq!(validate(b"{\"a\":1}"), Some(true));
        assert_eq!(validate("{\"a\":\"é\"}".as_bytes()), Some(false));
    }

    #[test]
    fn rejects_what_is_not_one_object() {
        for text in [
            "",
            " ",
            "{",
            "}",
            "1",
            "\"a\"",
            "[]",
            r#"{"a"}"#,
            r#"{"a":}"#,
            r#"{"a":1,}"#,
            r#"{,}"#,
            r#"{"a":1 "b":2}"#,
            r#"{"a":01}"#,
            r#"{"a":-01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":--1}"#,
            r#"{"a":1-}"#,
            r#"{"a":1x}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":"x"1}"#,
            r#"{"a":"x""y"}"#,
            r#"{"a":1}}"#,
            r#"{"a":1} {}"#,
            r#"{"a":1},{"b":2}"#,
            r#"{"a":1}x"#,
            r#"{"a":{"b":1}"#,
            r#"{"a":{"b":1}}}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":'x'}"#,
            r#"{a:1}"#,
            r#"{"a"::1}"#,
            r#"{"a":1:2}"#,
            r#"{"a" 1}"#,
            r#"{"a":1,"b"}"#,
            r#"{"a":{}"#,
            r#"{"a":1}{"b":2}"#,
            r#"{"a":"b":1}"#,
            r#"{"a",1}"#,
            "{\"a\":1}\x0c",
            "\x0c{}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":1\u{b9}}",
            "{\"a\":\"unterminated}",
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{"a":[1 2]}"#,
            r#"{"a":[1}"#,
            r#"{"a":[1"#,
            r#"{"a":]}"#,
            r#"{"a":1]}"#,
            r#"{"a":["b":1]}"#,
            r#"{"a":[[1]]}"#,
            r#"{"a":[{"b":1}]}"#,
            r#"{"a":[1],}"#,
            r#"{"a":[1]"b":2}"#,
            r#"{"a":[1]]}"#,
            r#"{"a":[1],"b"}"#,
            r#"{["a"]:1}"#,
            r#"{"a":[01]}"#,
            r#"{"a":[1,"x""y"]}"#,
        ] {
            assert_eq!(validate(text.as_bytes()), None, "{text}");
        }
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(128),
            "1".to_owned() + &"}".repeat(128)
        );
        assert!(validate(deep.as_bytes()).is_some());
        let deeper = format!(
            "{}{}",
            "{\"a\":".repeat(129),
            "1".to_owned() + &"}".repeat(129)
        );
        assert_eq!(validate(deeper.as_bytes()), None);
    }

    #[test]
    fn agrees_at_every_alignment() {
        for pad in 0..130 {
            let spaces = " ".repeat(pad);
            for body in [
                r#""k":"v""#,
                r#""k":"\u00e9\\u0041\u20AC""#,
                r#""k":"\\\"""#,
                r#""k\\":{"x":12345,"y":-0.5e-7,"z":"x"}"#,
                r#""k":12 34"#,
                r#""k":"a"  ,  "b":{"c":"}"}"#,
                r#""k":1234567890123456789012"#,
                r#""k":-1234567890123456789012"#,
                r#""k":01"#,
                r#""k":-01"#,
                r#""k":-"#,
                r#""k":--1"#,
                r#""k":1-"#,
                r#""k":12a"#,
                r#""k":2."#,
                r#""k":00"#,
                r#""k":9"x""#,
                r#""k":true,"l":false,"m":null"#,
                r#""k":{"l":{}},"m":0"#,
                r#""k":[1,22,333,-4444,"55555",true,false,null,"]",6.5e-7],"l":[]"#,
                r#""k":[01]"#,
                r#""k":[1,]"#,
                r#""k":[[1]]"#,
                r#""k":[{"l":1}]"#,
                r#""k":[ 1 , "a" ] , "l" : [ ]"#,
            ] {
                for text in aligned(body, pad) {
                    agrees(&text);
                }
                agrees(&format!("{{\"p\":{pad},{body},\"q\":\"{spaces}\"}}"));
            }
        }
    }

    #[test]
    fn agrees_on_random_mutations() {
        let seeds = [
            r#"{"a":{"b":"c\"d","x":{"y":true}},"n":null,"e":-1.5e3,"f":{"g":0},"h":"\\"}"#,
            r#"{"year":2013,"month":1,"carrier":"UA","tailnum":"N14228","delay":-20,"ok":false}"#,
            r#"{"caf\u00e9":"\u00E9t\u00e9","n":-0.5,"m":[1e-3,"a",2],"z":10}"#,
        ];
        let mut next = numbers(0x9e37_79b9_7f4a_7c15);
        let mut taken = 0;
        for _ in 0..300_000 {
            let text = mutated(&seeds, 3, &mut next);
            taken += usize::from(validate(text.as_bytes()).is_some());
            agrees(&text);
        }
        // Mutations that keep the record valid are taken, not left to the walk.
        assert!(taken > 10_000, "{taken}");
    }
}
