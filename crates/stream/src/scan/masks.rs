//! The fast paths' first stage (simdjson's idea): the text is classified 64 bytes at a time with
//! SIMD into bit masks, one bit per byte, and strings are found from the quotes and backslashes
//! without looking at their bytes one by one.

/// Bytes classified at once.
pub(super) const BLOCK: usize = 64;

/// The classes of one block's bytes, a bit per byte (bit `i` is byte `i`).
#[derive(Default)]
pub(super) struct Classes {
    quote: u64,
    backslash: u64,
    /// `{ } [ ] : ,`
    operator: u64,
    /// space, tab, line feed, carriage return
    whitespace: u64,
    /// bytes below 0x20
    control: u64,
    /// bytes from 0x80 on ([`classify_in_detail`] only says whether there is one)
    high: u64,
    /// `0` to `9`
    digit: u64,
    /// The operators one by one, `-` and `0`: only from [`classify_in_detail`].
    detail: Detail,
}

/// The classes that only the bit-mask check ([`super::objects`]) needs.
#[derive(Default, Clone, Copy)]
pub(super) struct Detail {
    /// `{`
    pub open: u64,
    /// `}`
    pub close: u64,
    /// `[`
    pub open_bracket: u64,
    /// `]`
    pub close_bracket: u64,
    pub colon: u64,
    pub comma: u64,
    pub minus: u64,
    pub zero: u64,
}

#[cfg(target_arch = "x86_64")]
pub(super) mod avx2;

/// Classifies a block's bytes with SSE2, which every x86_64 processor has.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
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

/// [`classify`] and the [`Detail`] classes, in fewer steps for the common block that has no
/// backslash or control character: whitespace is then every byte up to a space. The operators
/// are told apart by two of their bits.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn classify_in_detail(block: &[u8; BLOCK]) -> Classes {
    use safe_arch::*;
    let splat = |b: u8| set_splat_i8_m128i(b as i8);
    let (quote, backslash, colon, comma) = (splat(b'"'), splat(b'\\'), splat(b':'), splat(b','));
    let (bit5, open, close) = (splat(0x20), splat(b'{'), splat(b'}'));
    let (space, below_space, zero, nine, minus) =
        (splat(b' '), splat(0x1f), splat(b'0'), splat(9), splat(b'-'));
    let mut c = Classes::default();
    let mut planes = Planes::default();
    let (mut rare, mut high) = (m128i::default(), m128i::default());
    for (i, chunk) in block.chunks_exact(16).enumerate() {
        let v = load_unaligned_m128i(chunk.try_into().expect("16 bytes"));
        let bits = |m: m128i| u64::from(move_mask_i8_m128i(m) as u16) << (16 * i);
        let eq = cmp_eq_mask_i8_m128i;
        let (opens, closes) = (eq(v, open), eq(v, close));
        let folded = bitor_m128i(v, bit5);
        let braces = bitor_m128i(eq(folded, open), eq(folded, close));
        planes.brackets |= bits(bitxor_m128i(braces, bitor_m128i(opens, closes)));
        c.quote |= bits(eq(v, quote));
        c.operator |= bits(bitor_m128i(braces, bitor_m128i(eq(v, colon), eq(v, comma))));
        planes.bit6 |= bits(shl_imm_u16_m128i::<1>(v));
        planes.bit1 |= bits(shl_imm_u16_m128i::<6>(v));
        c.whitespace |= bits(eq(max_u8_m128i(v, space), space));
        let from_zero = sub_i8_m128i(v, zero);
        c.digit |= bits(eq(max_u8_m128i(from_zero, nine), nine));
        planes.sign_or_zero |= bits(bitor_m128i(eq(v, minus), eq(v, zero)));
        let controls = eq(max_u8_m128i(v, below_space), below_space);
        rare = bitor_m128i(rare, bitor_m128i(eq(v, backslash), controls));
        high = bitor_m128i(high, v);
    }
    if move_mask_i8_m128i(rare) != 0 {
        c = classify(block);
    }
    c.high = u64::from(move_mask_i8_m128i(high) != 0);
    planes.detail(c)
}

/// What [`classify_in_detail`] gathers to tell the operators apart, besides [`Classes`]: bits
/// 6 and 1 of every byte (`{ } [ ]` have bit 6 and `: ,` not; `{ [ :` have bit 1 and `} ] ,`
/// not), the brackets among `{ } [ ]`, and `-` or `0`.
#[cfg(target_arch = "x86_64")]
#[derive(Default)]
struct Planes {
    bit6: u64,
    bit1: u64,
    brackets: u64,
    sign_or_zero: u64,
}

#[cfg(target_arch = "x86_64")]
impl Planes {
    /// `c` with its [`Detail`] classes.
    #[inline(always)]
    fn detail(self, mut c: Classes) -> Classes {
        let brackets = self.brackets;
        c.detail.open_bracket = brackets & self.bit1;
        c.detail.close_bracket = brackets & !self.bit1;
        let braces = c.operator & self.bit6 & !brackets;
        let separators = c.operator & !self.bit6;
        c.detail.open = braces & self.bit1;
        c.detail.close = braces & !self.bit1;
        c.detail.colon = separators & self.bit1;
        c.detail.comma = separators & !self.bit1;
        c.detail.minus = self.sign_or_zero & !c.digit;
        c.detail.zero = self.sign_or_zero & c.digit;
        c
    }
}

/// How blocks are classified: each kernel gives the [`Classes`] its users need.
pub(super) trait Kernel: Copy {
    fn classify(self, block: &[u8; BLOCK]) -> Classes;

    /// [`prefix_xor`], which a kernel may have a faster way to.
    #[inline(always)]
    fn prefix_xor(self, x: u64) -> u64 {
        prefix_xor(x)
    }
}

/// The classes without [`Detail`], with SSE2.
#[derive(Clone, Copy)]
pub(super) struct Plain;

impl Kernel for Plain {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Classes {
        classify(block)
    }
}

/// The classes with [`Detail`], with SSE2.
#[derive(Clone, Copy)]
pub(super) struct Detailed;

impl Kernel for Detailed {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Classes {
        classify_in_detail(block)
    }
}

/// Without SIMD there is no fast path.
#[cfg(not(target_arch = "x86_64"))]
fn classify(_: &[u8; BLOCK]) -> Classes {
    unreachable!("the fast path is only taken on x86_64")
}

/// Without SIMD there is no fast path.
#[cfg(not(target_arch = "x86_64"))]
fn classify_in_detail(_: &[u8; BLOCK]) -> Classes {
    unreachable!("the fast path is only taken on x86_64")
}

/// Whether this machine has the fast paths (AVX2 speeds them up where it is found).
pub(super) const AVAILABLE: bool = cfg!(target_arch = "x86_64");

/// Each bit set where an odd number of set bits precede it or sit on it (inclusive prefix XOR):
/// for quotes, the bits inside strings, opening quote included and closing quote excluded.
pub(super) fn prefix_xor(mut x: u64) -> u64 {
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

/// One block of the text, its strings found.
pub(super) struct Block {
    /// Where the block starts in the text.
    pub base: usize,
    /// `{ } [ ] : ,` outside strings.
    pub operator: u64,
    /// The opening quote of each string.
    pub string_starts: u64,
    /// The bytes of numbers and literals (and of anything else outside strings that is not
    /// JSON, which their check then rejects)...
    pub scalar: u64,
    /// ...and the first byte of each.
    pub scalar_starts: u64,
    /// `0` to `9`, anywhere.
    pub digit: u64,
    /// With `DETAIL`, the other classes, anywhere (mask them with `operator` or `scalar`).
    pub detail: Detail,
}

/// Reads a text block after block, carrying what a block tells the next (an open string, an
/// escape, a number going on).
pub(super) struct Blocks<'a, K: Kernel> {
    kernel: K,
    pub text: &'a [u8],
    next_block: usize,
    /// All ones while a string continues into the next block.
    in_string: u64,
    escape_carry: bool,
    /// 1 when the previous block ended inside a number or literal.
    scalar_carry: u64,
    /// Bytes from 0x80 on, seen so far.
    pub high: u64,
    /// Something the fast paths leave to the scanner was met (a control character in a
    /// string, a surrogate `\u` escape, an invalid escape).
    pub unsure: bool,
}

impl<'a, K: Kernel> Blocks<'a, K> {
    #[inline(always)]
    pub fn new(text: &'a [u8], kernel: K) -> Self {
        Blocks {
            kernel,
            text,
            next_block: 0,
            in_string: 0,
            escape_carry: false,
            scalar_carry: 0,
            high: 0,
            unsure: false,
        }
    }

    /// The next block; `None` at the end of the text or when unsure.
    #[inline(always)]
    pub fn next(&mut self) -> Option<Block> {
        let base = self.next_block * BLOCK;
        if base >= self.text.len() || self.unsure {
            return None;
        }
        self.next_block += 1;
        let chunk = &self.text[base..self.text.len().min(base + BLOCK)];
        let padded;
        let block: &[u8; BLOCK] = match chunk.try_into() {
            Ok(block) => block,
            Err(_) => {
                let mut spaces = [b' '; BLOCK];
                spaces[..chunk.len()].copy_from_slice(chunk);
                padded = spaces;
                &padded
            }
        };
        let c = self.kernel.classify(block);
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
                    return None;
                }
                rest &= rest - 1;
            }
            c.quote & !escaped
        };
        let strings = self.kernel.prefix_xor(quotes) ^ self.in_string;
        self.in_string = ((strings as i64) >> 63) as u64;
        if c.control & strings != 0 {
            self.unsure = true;
            return None;
        }
        let outside = !strings;
        let scalar = outside & !(c.operator | c.whitespace | quotes);
        let scalar_starts = scalar & !((scalar << 1) | self.scalar_carry);
        self.scalar_carry = scalar >> 63;
        Some(Block {
            base,
            operator: c.operator & outside,
            string_starts: quotes & strings,
            scalar,
            scalar_starts,
            digit: c.digit,
            detail: c.detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_tells_the_operators_apart() {
        let text = br#"{"a":[1,-20],"b":{}}"#;
        let mut kernels = vec![Blocks::new(text, Detailed).next().expect("a block")];
        #[cfg(target_arch = "x86_64")]
        if let Some(avx2) = avx2::Detailed::detect() {
            kernels.push(Blocks::new(text, avx2).next().expect("a block"));
        }
        for block in kernels {
            tells_the_operators_apart(text, block);
        }
    }

    #[test]
    fn kernels_agree_on_the_bytes_inside_strings() {
        let mut next = crate::scan::random::numbers(7);
        let xs: Vec<u64> = [0, 1, 1 << 63, u64::MAX]
            .into_iter()
            .chain((0..10_000).map(|_| next()))
            .collect();
        for &x in &xs {
            assert_eq!(Detailed.prefix_xor(x), prefix_xor(x));
            #[cfg(target_arch = "x86_64")]
            if let Some(avx2) = avx2::Detailed::detect() {
                assert_eq!(avx2.prefix_xor(x), prefix_xor(x), "{x:#x}");
            }
        }
        // Quotes at bytes 1, 4 and 7: inside from 1 up to 4, and from 7 on.
        assert_eq!(prefix_xor(0b1001_0010), (u64::MAX << 7) | 0b1110);
    }

    fn tells_the_operators_apart(text: &[u8], block: Block) {
        let d = block.detail;
        let at =
            |mask: u64| -> Vec<usize> { (0..text.len()).filter(|&i| mask >> i & 1 == 1).collect() };
        assert_eq!(at(d.open & block.operator), [0, 17]);
        assert_eq!(at(d.close & block.operator), [18, 19]);
        assert_eq!(at(d.open_bracket & block.operator), [5]);
        assert_eq!(at(d.close_bracket & block.operator), [11]);
        assert_eq!(at(d.colon & block.operator), [4, 16]);
        assert_eq!(at(d.comma & block.operator), [7, 12]);
        assert_eq!(at(d.minus & block.scalar), [8]);
        assert_eq!(at(d.zero & block.scalar), [10]);
        assert_eq!(at(block.string_starts), [1, 13]);
        assert_eq!(at(block.scalar_starts), [6, 8]);
    }
}
