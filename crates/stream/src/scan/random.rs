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
