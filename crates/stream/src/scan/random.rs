//! Random texts for the fast paths' tests: numbers that are the same on every run, and edits
//! that break a record (or, now and then, keep it valid).

/// xorshift: the same numbers on every run.
pub(super) fn numbers(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Makes up to `most` edits to `text`, each a byte of JSON's syntax (or a control character)
/// replaced, removed or inserted at a random place.
pub(super) fn mutate(text: &mut Vec<u8>, most: u64, next: &mut impl FnMut() -> u64) {
    const ALPHABET: &[u8] = b"{}[]:,\"\\ \t\n0123456789-+.eEtruefalsnlABCDFu\x01\x7f";
    for _ in 0..(next() % most + 1) {
        let at = (next() as usize) % (text.len() + 1);
        let byte = ALPHABET[(next() as usize) % ALPHABET.len()];
        match next() % 3 {
            0 if at < text.len() => text[at] = byte,
            1 if at < text.len() => {
                text.remove(at);
            }
            _ => text.insert(at, byte),
        }
    }
}

/// The record with the fields `body`, placed so that it meets the 64-byte blocks at every
/// alignment as `pad` runs on: after `pad` spaces inside it, around it, and after a string of
/// `pad` spaces.
pub(super) fn aligned(body: &str, pad: usize) -> [String; 3] {
    let spaces = " ".repeat(pad);
    [
        format!("{{{spaces}{body}}}"),
        format!("{spaces}{{{body}{spaces}}}{spaces}"),
        format!("{{\"p\":\"{spaces}\",{body}}}"),
    ]
}

/// One of `seeds` with up to `most` edits (see [`mutate`]), after up to 63 spaces.
pub(super) fn mutated(seeds: &[&str], most: u64, next: &mut impl FnMut() -> u64) -> String {
    let mut text = seeds[(next() % seeds.len() as u64) as usize]
        .as_bytes()
        .to_vec();
    mutate(&mut text, most, next);
    let spaces = " ".repeat((next() % 64) as usize);
    format!("{spaces}{}", String::from_utf8(text).expect("ASCII"))
}
