//! jq's `@base32` and `@base32d` (RFC 4648's alphabet, padded with `=`), which jaq lacks.

use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::{Cv, DataT, Error, RunPtr, ValR};
use jaq_std::ValT as _;

use crate::Val;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The natives behind `@base32` and `@base32d` (defined in `defs.jq`).
pub fn funs<D: for<'a> DataT<V<'a> = Val>>() -> impl Iterator<Item = Fun<D>> {
    let natives: [Filter<RunPtr<D>>; 2] = [
        ("_encode_base32", v(0), |cv: Cv<D>| {
            bome(cv.1.try_as_utf8_bytes().map(|b| Val::from(encode(b))))
        }),
        ("_decode_base32", v(0), |cv: Cv<D>| {
            bome(cv.1.try_as_utf8_bytes().and_then(decode))
        }),
    ];
    natives.into_iter().map(run::<D>)
}

fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut group = [0u8; 5];
        group[..chunk.len()].copy_from_slice(chunk);
        let bits = group.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        // Characters that carry input bits: 8 bits make 2, 16 make 4, 24 make 5, 32 make 7.
        let used = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            out.push(if i < used {
                ALPHABET[(bits >> (35 - 5 * i) & 31) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn decode(text: &[u8]) -> ValR<Val> {
    let text = text.strip_suffix(b"=").map_or(text, |_| {
        let end = text.iter().rposition(|&c| c != b'=').map_or(0, |i| i + 1);
        &text[..end]
    });
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut bits, mut held) = (0u64, 0u32);
    for &c in text {
        let value = ALPHABET.iter().position(|&a| a == c).ok_or_else(|| {
            Error::str(format_args!(
                "{} is not valid base32 data",
                String::from_utf8_lossy(text)
            ))
        })?;
        bits = bits << 5 | value as u64;
        held += 5;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Ok(Val::from_utf8_bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4648's test vectors.
    #[test]
    fn encodes_and_decodes_rfc_4648_vectors() {
        for (plain, coded) in [
            ("", ""),
            ("f", "MY======"),
            ("fo", "MZXQ===="),
            ("foo", "MZXW6==="),
            ("foob", "MZXW6YQ="),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI======"),
        ] {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(
                decode(coded.as_bytes()).unwrap(),
                Val::from(plain.to_string())
            );
        }
        assert!(decode(b"MZ1W").is_err());
    }
}
