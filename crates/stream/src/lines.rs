//! Splitting an input into lines, with a guard on their size.

use std::io::{self, BufRead};

/// Where a line was found and whether it was whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineInfo {
    /// 1-based line number.
    pub line: u64,
    /// 0-based byte offset of the line's first byte.
    pub byte: u64,
    /// The line's full length in bytes, without its terminator.
    pub len: u64,
    /// The line was longer than the limit; the buffer holds only its beginning.
    pub oversize: bool,
    /// The line ended with `\n` (false only for a last line without one).
    pub terminated: bool,
}

/// A UTF-8 byte order mark. At the very start of an input it is passed over, as RFC 8259 lets
/// a parser do (Windows tools write one); anywhere else it is part of the text.
pub const BOM: &[u8] = b"\xef\xbb\xbf";

/// How much of an oversize line is kept (for the error message and dead-letter file).
pub const OVERSIZE_PREFIX: usize = 64 * 1024;

/// Reads lines into a caller-owned buffer, so no line costs an allocation.
pub struct LineReader<R> {
    reader: R,
    max_bytes: usize,
    line: u64,
    offset: u64,
}

impl<R: BufRead> LineReader<R> {
    /// Reads `reader`, refusing to hold lines longer than `max_bytes`. `offset` is the byte
    /// position of the reader's first byte (non-zero when resuming a file).
    pub fn new(reader: R, max_bytes: usize, offset: u64) -> Self {
        LineReader {
            reader,
            max_bytes,
            line: 0,
            offset,
        }
    }

    /// The byte offset just after the last line returned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Numbers lines after `lines` earlier ones (when resuming a file mid-way).
    pub fn after_lines(mut self, lines: u64) -> Self {
        self.line = lines;
        self
    }

    /// Lines read so far, counting the earlier ones given to [`LineReader::after_lines`].
    pub fn lines(&self) -> u64 {
        self.line
    }

    /// The underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Gives back the underlying reader.
    pub fn into_inner(self) -> R {
        self.reader
    }

    /// Reads the next line into `buf` (cleared first), without `\n` or a trailing `\r`.
    /// Returns `None` at the end of the input.
    pub fn next_line(&mut self, buf: &mut Vec<u8>) -> io::Result<Option<LineInfo>> {
        buf.clear();
        let mut start = self.offset;
        let mut len: u64 = 0;
        let mut oversize = false;
        let mut terminated = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                break;
            }
            let (chunk, used) = match memchr::memchr(b'\n', available) {
                Some(i) => {
                    terminated = true;
                    (&available[..i], i + 1)
                }
                None => (available, available.len()),
            };
            len += chunk.len() as u64;
            if !oversize {
                // Room for a line at the limit plus its `\r`.
                if buf.len() + chunk.len() > self.max_bytes.saturating_add(1) {
                    oversize = true;
                    let keep = OVERSIZE_PREFIX
                        .min(self.max_bytes)
                        .saturating_sub(buf.len());
                    buf.extend_from_slice(&chunk[..keep.min(chunk.len())]);
                } else {
                    buf.extend_from_slice(chunk);
                }
            }
            self.reader.consume(used);
            self.offset += used as u64;
            if terminated {
                break;
            }
        }
        if !terminated && len == 0 {
            return Ok(None);
        }
        self.line += 1;
        if !oversize && buf.last() == Some(&b'\r') {
            buf.pop();
            len -= 1;
        }
        if start == 0 && buf.starts_with(BOM) {
            buf.drain(..BOM.len());
            start = BOM.len() as u64;
            len -= BOM.len() as u64;
        }
        if !oversize && buf.len() > self.max_bytes {
            oversize = true;
            buf.truncate(OVERSIZE_PREFIX.min(self.max_bytes));
        }
        Ok(Some(LineInfo {
            line: self.line,
            byte: start,
            len,
            oversize,
            terminated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(data: &[u8], max: usize) -> Vec<(Vec<u8>, LineInfo)> {
        let mut reader = LineReader::new(io::BufReader::with_capacity(3, data), max, 0);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(info) = reader.next_line(&mut buf).unwrap() {
            out.push((buf.clone(), info));
        }
        out
    }

    #[test]
    fn a_byte_order_mark_is_passed_over_only_at_the_start() {
        let got = lines(b"\xef\xbb\xbf{}\n\xef\xbb\xbf{}", 100);
        assert_eq!(got[0].0, b"{}");
        assert_eq!((got[0].1.byte, got[0].1.len), (3, 2));
        assert_eq!(got[1].0, b"\xef\xbb\xbf{}");
        assert_eq!(got[1].1.byte, 6);
    }

    #[test]
    fn splits_lines_across_buffer_refills() {
        let got = lines(b"abcdef\r\n\nxyz", 100);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].0, b"abcdef");
        assert_eq!(got[0].1.len, 6);
        assert_eq!(got[1].0, b"");
        assert_eq!(got[1].1.byte, 8);
        assert_eq!(got[2].0, b"xyz");
        assert!(!got[2].1.terminated);
        assert_eq!(got[2].1.line, 3);
    }

    #[test]
    fn a_line_at_the_limit_with_crlf_is_whole() {
        let got = lines(b"0123\r\n01234\r\nok\n", 4);
        assert_eq!(got[0].0, b"0123");
        assert!(!got[0].1.oversize);
        assert!(got[1].1.oversize);
        assert_eq!(got[2].0, b"ok");
    }

    #[test]
    fn oversize_lines_are_cut_and_flagged_and_the_next_line_is_whole() {
        let got = lines(b"0123456789\nok\n", 4);
        assert!(got[0].1.oversize);
        assert_eq!(got[0].1.len, 10);
        assert_eq!(got[0].0, b"0123");
        assert_eq!(got[1].0, b"ok");
        assert!(!got[1].1.oversize);
    }
}
