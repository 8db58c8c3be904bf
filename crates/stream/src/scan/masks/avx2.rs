//! The [`super::Detailed`] kernel with AVX2, for processors found to have it at run time: a
//! block is two 32-byte vectors rather than four 16-byte ones.
//!
//! The workspace's only unsafe code is here: calling functions compiled for instructions
//! beyond x86_64's baseline (AVX2 and the others [`Detailed::detect`] looks for), which is
//! sound once the processor is known to have them, and loading a vector from 32 bytes.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::{classify, Classes, Kernel, Planes, BLOCK};

/// The AVX2 kernel; a value is proof that the processor has the features [`Self::detect`]
/// looks for.
#[derive(Clone, Copy)]
pub(in crate::scan) struct Detailed(());

impl Detailed {
    /// The kernel, when this processor has AVX2 (and the bit instructions that came with it,
    /// which the check's mask arithmetic uses: `andn`, `tzcnt`, `popcnt`, and the carry-less
    /// multiplication that finds the bytes inside strings at once).
    pub fn detect() -> Option<Self> {
        let found = is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("bmi1")
            && is_x86_feature_detected!("bmi2")
            && is_x86_feature_detected!("lzcnt")
            && is_x86_feature_detected!("popcnt")
            && is_x86_feature_detected!("pclmulqdq");
        found.then_some(Detailed(()))
    }

    /// Runs `f` compiled for AVX2 and those instructions, so that the kernel is inlined into
    /// the loop that uses it.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce(Self) -> R) -> R {
        // SAFETY: a `Detailed` exists only where the processor has these features.
        unsafe { with_avx2(self, f) }
    }
}

#[target_feature(enable = "avx2,bmi1,bmi2,lzcnt,popcnt,pclmulqdq")]
fn with_avx2<R>(kernel: Detailed, f: impl FnOnce(Detailed) -> R) -> R {
    f(kernel)
}

impl Kernel for Detailed {
    #[inline(always)]
    fn classify(self, block: &[u8; BLOCK]) -> Classes {
        // SAFETY: a `Detailed` exists only where the processor has AVX2.
        unsafe { classify_in_detail(block) }
    }

    #[inline(always)]
    fn prefix_xor(self, x: u64) -> u64 {
        // SAFETY: a `Detailed` exists only where the processor has PCLMULQDQ.
        unsafe { prefix_xor(x) }
    }
}

/// [`super::prefix_xor`] as one carry-less multiplication by all ones.
#[target_feature(enable = "pclmulqdq")]
#[inline]
fn prefix_xor(x: u64) -> u64 {
    let product = _mm_clmulepi64_si128::<0>(_mm_set_epi64x(0, x as i64), _mm_set1_epi8(-1));
    _mm_cvtsi128_si64(product) as u64
}

/// [`super::classify_in_detail`], 32 bytes at a time.
#[target_feature(enable = "avx2")]
#[inline]
fn classify_in_detail(block: &[u8; BLOCK]) -> Classes {
    let (quote, backslash, colon, comma) = (splat(b'"'), splat(b'\\'), splat(b':'), splat(b','));
    let (bit5, open, close) = (splat(0x20), splat(b'{'), splat(b'}'));
    let (space, below_space, zero, nine, minus) =
        (splat(b' '), splat(0x1f), splat(b'0'), splat(9), splat(b'-'));
    let mut c = Classes::default();
    let mut planes = Planes::default();
    let (mut rare, mut high) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    for (half, chunk) in block.chunks_exact(32).enumerate() {
        // SAFETY: the chunk holds 32 bytes, and the load needs no alignment.
        let v = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
        let eq = |a, b| _mm256_cmpeq_epi8(a, b);
        let or = |a, b| _mm256_or_si256(a, b);
        let bits = |m| u64::from(_mm256_movemask_epi8(m) as u32) << (32 * half);
        let (opens, closes) = (eq(v, open), eq(v, close));
        let folded = or(v, bit5);
        let braces = or(eq(folded, open), eq(folded, close));
        planes.brackets |= bits(_mm256_xor_si256(braces, or(opens, closes)));
        c.quote |= bits(eq(v, quote));
        c.operator |= bits(or(braces, or(eq(v, colon), eq(v, comma))));
        planes.bit6 |= bits(_mm256_slli_epi16::<1>(v));
        planes.bit1 |= bits(_mm256_slli_epi16::<6>(v));
        c.whitespace |= bits(eq(_mm256_max_epu8(v, space), space));
        let from_zero = _mm256_sub_epi8(v, zero);
        c.digit |= bits(eq(_mm256_max_epu8(from_zero, nine), nine));
        planes.sign_or_zero |= bits(or(eq(v, minus), eq(v, zero)));
        let controls = eq(_mm256_max_epu8(v, below_space), below_space);
        rare = or(rare, or(eq(v, backslash), controls));
        high = or(high, v);
    }
    if _mm256_movemask_epi8(rare) != 0 {
        c = classify(block);
    }
    c.high = u64::from(_mm256_movemask_epi8(high) != 0);
    planes.detail(c)
}

#[target_feature(enable = "avx2")]
#[inline]
fn splat(byte: u8) -> __m256i {
    _mm256_set1_epi8(byte as i8)
}
