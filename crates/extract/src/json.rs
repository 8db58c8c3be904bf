//! JSON inputs: NDJSON lines, a top-level array streamed element by element, or a stream of
//! (possibly pretty-printed) objects.

use sluice_stream::error::IoContext;
use sluice_stream::input::PeekRead;
use sluice_stream::json::{is_blank, validate_object, write_compact};
use sluice_stream::lines::LineReader;
use sluice_stream::{Error, Position, Result};

use crate::emit::Emitter;
use crate::state::Resume;

/// Reads NDJSON from `start`: every non-blank line must be one JSON object. Valid lines are
/// written as they are. Returns where reading stopped (after the last line read).
pub fn extract_lines(
    input: &mut dyn PeekRead,
    source: &str,
    start: Resume,
    max_record_bytes: usize,
    emitter: &mut Emitter<'_>,
) -> Result<Resume> {
    let mut lines = LineReader::new(input, max_record_bytes, start.offset).after_lines(start.lines);
    let mut buf = Vec::with_capacity(4096);
    loop {
        emitter.flush_if_paused(*lines.get_mut())?;
        let Some(info) = lines
            .next_line(&mut buf)
            .context(|| format!("cannot read {source}"))?
        else {
            break;
        };
        if !info.oversize && is_blank(&buf) {
            continue;
        }
        emitter.records_in += 1;
        let position = || Position {
            source: source.to_string(),
            line: Some(info.line),
            byte: Some(info.byte),
            row: None,
        };
        if info.oversize {
            let reason = format!(
                "record of {} bytes is longer than --max-record-bytes ({max_record_bytes})",
                info.len
            );
            emitter.reject(&position(), &reason, &buf, true)?;
            continue;
        }
        match validate_object(&buf) {
            Ok(()) => emitter.emit_json_object(trim(&buf))?,
            Err(reason) => emitter.reject(&position(), &reason, &buf, false)?,
        }
    }
    Ok(Resume {
        offset: lines.offset(),
        lines: lines.lines(),
        header: None,
    })
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end]
}

/// True when the input's first line that is not blank is a whole JSON object, so the input can
/// be read as NDJSON (which survives a bad line); false for pretty-printed JSON.
pub fn looks_like_ndjson(head: &[u8]) -> bool {
    let start = head.iter().position(|b| !b.is_ascii_whitespace());
    let text = &head[start.unwrap_or(head.len())..];
    let first = text.split(|&b| b == b'\n').next().unwrap_or(text);
    validate_object(first).is_ok()
}

/// Reads a top-level array of objects, or a sequence of JSON objects separated by whitespace,
/// one value at a time: memory holds one record, whatever the input's size.
pub fn extract_values(
    input: &mut dyn PeekRead,
    source: &str,
    max_record_bytes: usize,
    emitter: &mut Emitter<'_>,
) -> Result<()> {
    let mut values = ValueReader {
        input,
        source,
        line: 1,
        byte: 0,
        max: max_record_bytes,
    };
    let mut buf = Vec::new();
    let mut compact = Vec::new();
    let array = values.peek_skipping_space()? == Some(b'[');
    if array {
        values.advance(1);
    }
    let mut first = true;
    loop {
        values.flush_if_paused(emitter)?;
        let next = values.peek_skipping_space()?;
        match next {
            None if array => return Err(values.structure_error("the array is not closed")),
            None => return Ok(()),
            Some(b']') if array && first => {
                values.advance(1);
                break;
            }
            Some(b) if matches!(b, b']' | b'}' | b',' | b':') => {
                return Err(values.structure_error(&format!("unexpected '{}'", b.escape_ascii())))
            }
            Some(_) => {}
        }
        first = false;
        emitter.records_in += 1;
        let value = values.read_value(&mut buf)?;
        let position = Position {
            source: source.to_string(),
            line: Some(value.line),
            byte: Some(value.byte),
            row: None,
        };
        if value.oversize {
            let reason = format!(
                "record of {} bytes is longer than --max-record-bytes ({max_record_bytes})",
                value.len
            );
            emitter.reject(&position, &reason, &buf, true)?;
        } else if !value.complete {
            emitter.reject(&position, "the input ends inside this record", &buf, false)?;
            // An array cut short is a broken document, whatever happens to its last record.
            return match array {
                true => Err(values.structure_error("the array is not closed")),
                false => Ok(()),
            };
        } else {
            match validate_object(&buf) {
                Ok(()) if memchr::memchr2(b'\n', b'\r', &buf).is_some() => {
                    compact.clear();
                    write_compact(&mut compact, &buf);
                    emitter.emit_json_object(&compact)?;
                }
                Ok(()) => emitter.emit_json_object(&buf)?,
                Err(reason) => emitter.reject(&position, &reason, &buf, false)?,
            }
        }
        if array {
            values.flush_if_paused(emitter)?;
            match values.peek_skipping_space()? {
                Some(b',') => values.advance(1),
                Some(b']') => {
                    values.advance(1);
                    break;
                }
                None => return Err(values.structure_error("the array is not closed")),
                Some(b) => {
                    return Err(values.structure_error(&format!(
                        "expected ',' or ']' after an element, found '{}'",
                        b.escape_ascii()
                    )))
                }
            }
        }
    }
    match values.peek_skipping_space()? {
        None => Ok(()),
        Some(_) => Err(values.structure_error("data after the end of the array")),
    }
}

struct ValueInfo {
    line: u64,
    byte: u64,
    len: u64,
    oversize: bool,
    complete: bool,
}

struct ValueReader<'a> {
    input: &'a mut dyn PeekRead,
    source: &'a str,
    line: u64,
    byte: u64,
    max: usize,
}

impl ValueReader<'_> {
    fn structure_error(&self, reason: &str) -> Error {
        Error::BadInput {
            position: Position {
                source: self.source.to_string(),
                line: Some(self.line),
                byte: Some(self.byte),
                row: None,
            },
            reason: format!("invalid JSON: {reason}"),
        }
    }

    fn fill(&mut self) -> Result<&[u8]> {
        let source = self.source;
        self.input
            .fill_buf()
            .context(|| format!("cannot read {source}"))
    }

    fn advance(&mut self, n: usize) {
        self.input.consume(n);
        self.byte += n as u64;
    }

    fn peek_skipping_space(&mut self) -> Result<Option<u8>> {
        loop {
            if self.fill()?.is_empty() {
                return Ok(None);
            }
            if let Some(next) = self.skip_buffered_space()? {
                return Ok(Some(next));
            }
        }
    }

    /// Flushes what `emitter` wrote when the input has nothing more for now but whitespace.
    fn flush_if_paused(&mut self, emitter: &mut Emitter<'_>) -> Result<()> {
        self.skip_buffered_space()?;
        emitter.flush_if_paused(self.input)
    }

    /// Passes over the whitespace already buffered, without reading more. Returns the byte
    /// after it when that is buffered.
    fn skip_buffered_space(&mut self) -> Result<Option<u8>> {
        let source = self.source;
        let chunk = self
            .input
            .peek(0)
            .context(|| format!("cannot read {source}"))?;
        let skip = chunk
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'));
        let counted = skip.unwrap_or(chunk.len());
        let newlines = memchr::memchr_iter(b'\n', &chunk[..counted]).count() as u64;
        let next = skip.map(|i| chunk[i]);
        self.line += newlines;
        self.advance(counted);
        Ok(next)
    }

    /// Reads one value starting at the current (non-space) byte into `buf`.
    fn read_value(&mut self, buf: &mut Vec<u8>) -> Result<ValueInfo> {
        buf.clear();
        let (line, byte) = (self.line, self.byte);
        let (mut depth, mut in_string, mut escaped) = (0u32, false, false);
        let mut len = 0u64;
        let mut oversize = false;
        loop {
            let max = self.max;
            let chunk = self.fill()?;
            if chunk.is_empty() {
                let complete = depth == 0 && !in_string && len > 0 && !buf.starts_with(b"\"");
                return Ok(ValueInfo {
                    line,
                    byte,
                    len,
                    oversize,
                    complete,
                });
            }
            let mut end = None;
            for (i, &b) in chunk.iter().enumerate() {
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if b == b'\\' {
                        escaped = true;
                    } else if b == b'"' {
                        in_string = false;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            end = Some(i + 1);
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' | b'\n' | b',' if depth == 0 => {
                        end = Some(i);
                        break;
                    }
                    _ => {}
                }
            }
            let used = end.unwrap_or(chunk.len());
            let part = &chunk[..used];
            let newlines = memchr::memchr_iter(b'\n', part).count() as u64;
            if !oversize {
                if buf.len() + part.len() > max {
                    oversize = true;
                    let keep = sluice_stream::lines::OVERSIZE_PREFIX
                        .min(max)
                        .saturating_sub(buf.len());
                    buf.extend_from_slice(&part[..keep.min(part.len())]);
                } else {
                    buf.extend_from_slice(part);
                }
            }
            len += used as u64;
            self.line += newlines;
            self.advance(used);
            if end.is_some() {
                return Ok(ValueInfo {
                    line,
                    byte,
                    len,
                    oversize,
                    complete: true,
                });
            }
        }
    }
}
