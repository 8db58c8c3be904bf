//! CSV and TSV (RFC 4180) to records, typed per value.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};
use sluice_stream::error::IoContext;
use sluice_stream::input::PeekRead;
use sluice_stream::json::write_string;
use sluice_stream::{Error, Position, Result};

use crate::emit::Emitter;
use crate::names::unique_names;
use crate::state::Resume;

/// How CSV values become JSON.
#[derive(Debug, Clone)]
pub struct CsvOptions {
    /// The field separator.
    pub delimiter: u8,
    /// The first row names the columns (else they are `column_1`, `column_2`, …).
    pub header: bool,
    /// The character that quotes fields; `None` when fields are never quoted.
    pub quote: Option<u8>,
    /// Values that mean null.
    pub nulls: Vec<Vec<u8>>,
    /// Turn numbers and booleans into JSON numbers and booleans.
    pub infer: bool,
    /// Only these columns, in this order.
    pub columns: Option<Vec<String>>,
    /// Largest record accepted.
    pub max_record_bytes: usize,
}

/// Reads CSV from `input` (positioned at `offset` bytes into the source; a resumed file has
/// its header given in `header`) and emits one record per row. Returns the offset just past
/// the last row read.
pub fn extract(
    input: &mut dyn PeekRead,
    source: &str,
    start: Resume,
    growing: bool,
    options: &CsvOptions,
    emitter: &mut Emitter<'_>,
) -> Result<Resume> {
    let mut rows = Rows::new(input, options, source, start.offset);
    rows.reader.set_line(start.lines + 1);
    let names = match start.header {
        Some(names) => names,
        None if options.header => match rows.next()? {
            Row::End => return Ok(rows.reached(None)),
            Row::Oversize { .. } => {
                return Err(Error::BadInput {
                    position: rows.position(),
                    reason: "the header row is longer than --max-record-bytes".into(),
                })
            }
            Row::Unterminated { .. } => {
                return Err(Error::BadInput {
                    position: rows.position(),
                    reason: UNTERMINATED.into(),
                })
            }
            Row::Fields => {
                header_names(rows.fields(), rows.ends(), source, emitter.source_field())?
            }
        },
        None => Vec::new(),
    };
    let mut layout = Layout::new(&names, options, source)?;
    let mut line = Vec::with_capacity(1024);
    let mut quoted_scratch = Vec::new();
    loop {
        emitter.flush_if_paused(rows.input)?;
        match rows.next()? {
            Row::End => break,
            Row::Oversize { len, cut } => {
                emitter.records_in += 1;
                let reason = format!(
                    "row of {len} bytes is longer than --max-record-bytes ({})",
                    options.max_record_bytes
                );
                let raw = rows.raw_row(options.delimiter, false);
                emitter.reject(&rows.position(), &reason, &raw, cut)?;
            }
            Row::Unterminated { .. } if growing => {
                // Most likely a quoted field with line breaks that is still being written.
                sluice_stream::progress::note(format_args!(
                    "extract: {}: a quoted field is still open at the end of the file; its row \
                     is left for the next run",
                    rows.position()
                ));
                return Ok(Resume {
                    offset: rows.row_start,
                    lines: rows.row_line - 1,
                    header: (!names.is_empty()).then_some(names),
                });
            }
            Row::Unterminated { truncated } => {
                emitter.records_in += 1;
                let raw = rows.raw_row(options.delimiter, !truncated);
                emitter.reject(&rows.position(), UNTERMINATED, &raw, truncated)?;
            }
            Row::Fields => {
                emitter.records_in += 1;
                if layout.width.is_none() {
                    let names =
                        unique_names(default_names(rows.ends().len()), emitter.source_field());
                    layout = Layout::new(&names, options, source)?;
                }
                let width = layout.width.unwrap_or(0);
                if rows.ends().len() != width {
                    let reason = format!(
                        "row has {} fields but the header has {width}",
                        rows.ends().len()
                    );
                    let raw = rows.raw_row(options.delimiter, false);
                    emitter.reject(&rows.position(), &reason, &raw, false)?;
                    continue;
                }
                if let Err(e) = std::str::from_utf8(rows.fields()) {
                    let column = rows
                        .ends()
                        .iter()
                        .position(|&end| end > e.valid_up_to())
                        .unwrap_or(0);
                    let reason = format!(
                        "invalid UTF-8 in column {:?}",
                        layout.names.get(column).map_or("?", String::as_str)
                    );
                    let raw = rows.raw_row(options.delimiter, false);
                    emitter.reject(&rows.position(), &reason, &raw, false)?;
                    continue;
                }
                line.clear();
                let quoted = QuotedFields::new(rows.raw(), options, &mut quoted_scratch);
                layout.write_record(rows.fields(), rows.ends(), quoted, options, &mut line);
                emitter.emit_object(&line)?;
            }
        }
    }
    Ok(rows.reached((!names.is_empty()).then_some(names)))
}

enum Row {
    Fields,
    /// A row of `len` bytes (line end excluded), longer than the limit. Its fields are kept,
    /// or only their first bytes when `cut`.
    Oversize {
        len: u64,
        cut: bool,
    },
    /// The input ended inside a quoted field: a stray quote took in the rest of the input.
    /// The row's fields are kept as for [`Row::Fields`], or, when `truncated` (it is longer
    /// than the limit), only its first bytes, as for [`Row::Oversize`].
    Unterminated {
        truncated: bool,
    },
    End,
}

/// Why a [`Row::Unterminated`] is rejected.
const UNTERMINATED: &str =
    "the input ends inside a quoted field that starts on this row (a stray or unclosed quote; \
     if the file never quotes fields, use --quote none)";

/// Pulls rows out of the input with csv-core, keeping one field buffer for all rows.
struct Rows<'a> {
    input: &'a mut dyn PeekRead,
    reader: Reader,
    /// The current row's field bytes are `fields[..len]`.
    fields: Vec<u8>,
    len: usize,
    /// The current row's field ends are `ends[..nends]`.
    ends: Vec<usize>,
    nends: usize,
    scratch: Vec<u8>,
    scratch_ends: Vec<usize>,
    /// The current row's bytes as read (with its line end), to tell quoted fields from
    /// unquoted ones; cut off at the limit.
    raw: Vec<u8>,
    max: usize,
    /// The last row ended at a `\r`, whose `\n` may not have been read yet.
    after_cr: bool,
    /// Line ends that csv-core does not count (it counts `\n`): lone `\r`s, and the blank
    /// lines skipped before a row.
    uncounted_lines: u64,
    /// The last byte consumed was a `\r`: a lone one unless a `\n` follows.
    pending_cr: bool,
    source: &'a str,
    offset: u64,
    row_start: u64,
    row_line: u64,
}

impl<'a> Rows<'a> {
    fn new(
        input: &'a mut dyn PeekRead,
        options: &CsvOptions,
        source: &'a str,
        offset: u64,
    ) -> Self {
        let reader = ReaderBuilder::new()
            .delimiter(options.delimiter)
            .quoting(options.quote.is_some())
            .quote(options.quote.unwrap_or(b'"'))
            .double_quote(true)
            .build();
        Rows {
            input,
            reader,
            fields: vec![0; 4096.min(options.max_record_bytes.max(1))],
            len: 0,
            ends: vec![0; 64],
            nends: 0,
            scratch: vec![0; 4096],
            scratch_ends: vec![0; 64],
            raw: Vec::with_capacity(4096),
            max: options.max_record_bytes,
            after_cr: false,
            uncounted_lines: 0,
            pending_cr: false,
            source,
            offset,
            row_start: offset,
            row_line: 1,
        }
    }

    fn position(&self) -> Position {
        Position {
            source: self.source.to_string(),
            line: Some(self.row_line),
            byte: Some(self.row_start),
            row: None,
        }
    }

    fn fields(&self) -> &[u8] {
        &self.fields[..self.len]
    }

    /// The current row as read (whole unless it is longer than the limit).
    fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Where reading stopped: after the last row read.
    fn reached(&self, header: Option<Vec<String>>) -> Resume {
        Resume {
            offset: self.offset,
            lines: self.line() - 1,
            header,
        }
    }

    /// The line the next byte is on.
    fn line(&self) -> u64 {
        self.reader.line() + self.uncounted_lines
    }

    /// Consumes the blank lines before a row (csv-core would skip them unseen), counting them,
    /// so that the row's position is its own.
    fn skip_blank_lines(&mut self) -> Result<()> {
        loop {
            let source = self.source;
            let input = self
                .input
                .fill_buf()
                .context(|| format!("cannot read {source}"))?;
            let blank = input
                .iter()
                .take_while(|&&b| b == b'\n' || b == b'\r')
                .count();
            if blank == 0 {
                return Ok(());
            }
            let line_feeds = memchr::memchr_iter(b'\n', &input[..blank]).count() as u64;
            let whole = blank == input.len();
            self.uncounted_lines += line_feeds + lone_crs(&input[..blank], &mut self.pending_cr);
            if !whole && std::mem::take(&mut self.pending_cr) {
                // A `\r` right before the row: lone, since the row's first byte follows it.
                self.uncounted_lines += 1;
            }
            self.input.consume(blank);
            self.offset += blank as u64;
            if !whole {
                return Ok(());
            }
        }
    }

    fn ends(&self) -> &[usize] {
        &self.ends[..self.nends]
    }

    /// Reads the next row into the field buffer. A row longer than the limit is parsed to its
    /// end without being kept (only its first bytes are), so parsing stays in step.
    fn next(&mut self) -> Result<Row> {
        self.take_line_feed_after_cr(true)?;
        self.skip_blank_lines()?;
        self.row_start = self.offset;
        self.row_line = self.line();
        self.raw.clear();
        let (mut out, mut nends) = (0usize, 0usize);
        let mut oversize = false;
        let mut probed = false;
        loop {
            let input = self
                .input
                .fill_buf()
                .context(|| format!("cannot read {}", self.source))?;
            // At the end of the input inside a row, a line feed is offered first. Inside a
            // quoted field it is taken as data: the row never ended (a stray or unclosed quote
            // took in the rest of the input). Anywhere else it ends the row as the end would.
            let probing = input.is_empty() && self.offset > self.row_start && !probed;
            let input: &[u8] = if probing { b"\n" } else { input };
            let (result, nin, nout, nend) = if oversize {
                self.reader
                    .read_record(input, &mut self.scratch, &mut self.scratch_ends)
            } else {
                self.reader
                    .read_record(input, &mut self.fields[out..], &mut self.ends[nends..])
            };
            let ended_at_cr = nin > 0 && input[nin - 1] == b'\r';
            let ended_at_line_end = !probing && nin > 0 && matches!(input[nin - 1], b'\n' | b'\r');
            if probing {
                probed = nin > 0;
                if result == ReadRecordResult::InputEmpty && nout > 0 {
                    // Nothing follows: the next read is the end.
                    self.reader.reset();
                    self.len = out;
                    self.nends = nends;
                    return Ok(Row::Unterminated {
                        truncated: oversize,
                    });
                }
            } else {
                self.uncounted_lines += lone_crs(&input[..nin], &mut self.pending_cr);
                if !oversize && self.raw.len() <= self.max {
                    self.raw.extend_from_slice(&input[..nin]);
                }
                self.input.consume(nin);
                self.offset += nin as u64;
            }
            if !oversize {
                out += nout;
                nends += nend;
            }
            match result {
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull if oversize => {}
                ReadRecordResult::OutputFull => {
                    if self.fields.len() >= self.max {
                        oversize = true;
                    } else {
                        let grown = (self.fields.len() * 2).min(self.max);
                        self.fields.resize(grown, 0);
                    }
                }
                ReadRecordResult::OutputEndsFull if oversize => {}
                ReadRecordResult::OutputEndsFull => {
                    let grown = self.ends.len() * 2;
                    self.ends.resize(grown, 0);
                }
                ReadRecordResult::Record => {
                    let len = self.offset - self.row_start - u64::from(ended_at_line_end);
                    self.after_cr = ended_at_cr;
                    self.take_line_feed_after_cr(false)?;
                    self.len = out;
                    self.nends = nends;
                    return Ok(if oversize || len > self.max as u64 {
                        Row::Oversize { len, cut: oversize }
                    } else {
                        Row::Fields
                    });
                }
                ReadRecordResult::End => return Ok(Row::End),
            }
        }
    }

    /// csv-core ends a row at its `\r`: the `\n` after it is taken before the next row
    /// starts, so that the row's position is its own first byte; right after the row when it is
    /// already buffered (`read` false), so that a pause after the row shows.
    fn take_line_feed_after_cr(&mut self, read: bool) -> Result<()> {
        if !self.after_cr {
            return Ok(());
        }
        let source = self.source;
        let buffered = if read {
            self.input.fill_buf()
        } else {
            self.input.peek(0)
        }
        .context(|| format!("cannot read {source}"))?;
        let line_feed = buffered.first() == Some(&b'\n');
        if read || !buffered.is_empty() {
            self.after_cr = false;
        }
        if !line_feed && !buffered.is_empty() && std::mem::take(&mut self.pending_cr) {
            // The row ended at a lone `\r`: a line end csv-core does not count.
            self.uncounted_lines += 1;
        }
        if line_feed {
            self.pending_cr = false;
            let (_, nin, _, _) =
                self.reader
                    .read_record(b"\n", &mut self.scratch, &mut self.scratch_ends);
            self.input.consume(nin);
            self.offset += nin as u64;
        }
        Ok(())
    }

    /// The current row re-encoded as a CSV line (for error reports).
    /// With `open_field`, the bytes after the last field end are the quoted field the input
    /// ended in ([`Row::Unterminated`]): they keep their opening quote and get no closing one.
    /// Without it, they are the first bytes of a field cut short, kept as they are.
    fn raw_row(&self, delimiter: u8, open_field: bool) -> Vec<u8> {
        let fields = self.fields();
        let mut out = Vec::with_capacity(fields.len() + self.nends * 3);
        let quoted = |out: &mut Vec<u8>, field: &[u8]| {
            out.push(b'"');
            for &b in field {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
        };
        let mut start = 0;
        for (i, &end) in self.ends().iter().enumerate() {
            if i > 0 {
                out.push(delimiter);
            }
            let field = &fields[start..end];
            if field
                .iter()
                .any(|&b| b == delimiter || b == b'"' || b == b'\n' || b == b'\r')
            {
                quoted(&mut out, field);
                out.push(b'"');
            } else {
                out.extend_from_slice(field);
            }
            start = end;
        }
        let rest = &fields[start..];
        if open_field || !rest.is_empty() {
            if !self.ends().is_empty() {
                out.push(delimiter);
            }
            if open_field {
                quoted(&mut out, rest);
            } else {
                // The first bytes of a field cut short (an oversize row).
                out.extend_from_slice(rest);
            }
        }
        out
    }
}

/// The lone `\r`s (line ends that csv-core does not count; it counts `\n`s) among bytes about
/// to be consumed. `pending_cr` carries a `\r` at the end of one read to the next.
fn lone_crs(bytes: &[u8], pending_cr: &mut bool) -> u64 {
    let Some(&first) = bytes.first() else {
        return 0;
    };
    let mut lone = u64::from(std::mem::take(pending_cr) && first != b'\n');
    for at in memchr::memchr_iter(b'\r', bytes) {
        match bytes.get(at + 1) {
            Some(b'\n') => {}
            Some(_) => lone += 1,
            None => *pending_cr = true,
        }
    }
    lone
}

/// Column names from a header row: empty names become `column_N`, and repeated ones (and one
/// named like `reserved`, the `--source-field`) get `_2`, `_3`, … (see [`unique_names`]).
fn header_names(
    fields: &[u8],
    ends: &[usize],
    source: &str,
    reserved: Option<&str>,
) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(ends.len());
    let mut start = 0;
    for (i, &end) in ends.iter().enumerate() {
        let raw = &fields[start..end];
        start = end;
        let name = std::str::from_utf8(raw).map_err(|_| Error::BadInput {
            position: Position {
                source: source.to_string(),
                line: Some(1),
                ..Position::default()
            },
            reason: format!("header column {} is not valid UTF-8", i + 1),
        })?;
        names.push(if name.is_empty() {
            format!("column_{}", i + 1)
        } else {
            name.to_string()
        });
    }
    Ok(unique_names(names, reserved))
}

fn default_names(width: usize) -> Vec<String> {
    (1..=width).map(|i| format!("column_{i}")).collect()
}

/// Which columns are written, in which order, under which keys.
struct Layout {
    names: Vec<String>,
    /// Number of fields every row must have; `None` until known (no header).
    width: Option<usize>,
    /// (field index, `"name":` with a leading comma after the first).
    output: Vec<(usize, Vec<u8>)>,
}

impl Layout {
    fn new(names: &[String], options: &CsvOptions, source: &str) -> Result<Self> {
        if names.is_empty() {
            return Ok(Layout {
                names: Vec::new(),
                width: None,
                output: Vec::new(),
            });
        }
        let picked: Vec<usize> = match &options.columns {
            None => (0..names.len()).collect(),
            Some(wanted) => wanted
                .iter()
                .map(|w| {
                    names.iter().position(|n| n == w).ok_or_else(|| {
                        Error::Usage(format!(
                            "{source} has no column {w:?} (it has: {})",
                            names.join(", ")
                        ))
                    })
                })
                .collect::<Result<_>>()?,
        };
        let output = picked
            .into_iter()
            .enumerate()
            .map(|(i, index)| {
                let mut key = Vec::new();
                if i > 0 {
                    key.push(b',');
                }
                write_string(&mut key, names[index].as_bytes());
                key.push(b':');
                (index, key)
            })
            .collect();
        Ok(Layout {
            names: names.to_vec(),
            width: Some(names.len()),
            output,
        })
    }

    /// Writes a row as a JSON object (without newline). The fields are valid UTF-8.
    fn write_record(
        &self,
        fields: &[u8],
        ends: &[usize],
        mut quoted: QuotedFields<'_>,
        options: &CsvOptions,
        out: &mut Vec<u8>,
    ) {
        out.push(b'{');
        for (index, key) in &self.output {
            let start = if *index == 0 { 0 } else { ends[index - 1] };
            let value = &fields[start..ends[*index]];
            out.extend_from_slice(key);
            let null = options.nulls.iter().any(|n| n == value) && !quoted.is_quoted(*index);
            match null {
                true => out.extend_from_slice(b"null"),
                false => write_value(value, options, out),
            }
        }
        out.push(b'}');
    }
}

/// Which fields of a row were quoted. Only an unquoted field can be a null marker (RFC 4180
/// and PostgreSQL's `COPY … CSV`): `""` is an empty string, `"NA"` the string NA. Worked out
/// from the row's bytes only when a field matches a marker and the row has a quote at all.
struct QuotedFields<'a> {
    raw: &'a [u8],
    delimiter: u8,
    quote: Option<u8>,
    /// Whether each field starts with a quote (a buffer reused from row to row).
    flags: &'a mut Vec<bool>,
    /// `flags` holds this row's answer.
    worked_out: bool,
}

impl<'a> QuotedFields<'a> {
    fn new(raw: &'a [u8], options: &CsvOptions, flags: &'a mut Vec<bool>) -> Self {
        QuotedFields {
            raw,
            delimiter: options.delimiter,
            quote: options.quote,
            flags,
            worked_out: false,
        }
    }

    fn is_quoted(&mut self, index: usize) -> bool {
        let Some(quote) = self.quote else {
            return false;
        };
        if !self.worked_out {
            self.worked_out = true;
            self.flags.clear();
            if memchr::memchr(quote, self.raw).is_some() {
                quoted_flags(self.raw, self.delimiter, quote, self.flags);
            }
        }
        self.flags.get(index).copied().unwrap_or(false)
    }
}

/// Whether each field of the CSV row `raw` starts with `quote`, following csv-core's reading
/// of quotes: a quote opens a quoted field only as the field's first byte, a doubled quote
/// inside one is a quote, and the field ends at the next delimiter or line end after its
/// closing quote.
fn quoted_flags(raw: &[u8], delimiter: u8, quote: u8, flags: &mut Vec<bool>) {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Start,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    flags.clear();
    flags.push(false);
    let mut state = State::Start;
    for &b in raw {
        let line_end = b == b'\n' || b == b'\r';
        state = match state {
            State::Quoted if b == quote => State::QuoteInQuoted,
            State::Quoted => State::Quoted,
            State::QuoteInQuoted if b == quote => State::Quoted,
            _ if line_end => break,
            _ if b == delimiter => {
                flags.push(false);
                State::Start
            }
            State::Start if b == quote => {
                *flags.last_mut().expect("one flag per field") = true;
                State::Quoted
            }
            _ => State::Unquoted,
        };
    }
}

/// Writes one CSV value that is not null as JSON: with inference, JSON numbers (as written, so
/// no digit is lost) and booleans as themselves; everything else as a string.
fn write_value(value: &[u8], options: &CsvOptions, out: &mut Vec<u8>) {
    if options.infer {
        if is_json_number(value) {
            out.extend_from_slice(value);
            return;
        }
        match value {
            b"true" | b"TRUE" | b"True" => return out.extend_from_slice(b"true"),
            b"false" | b"FALSE" | b"False" => return out.extend_from_slice(b"false"),
            _ => {}
        }
    }
    write_string(out, value);
}

/// True for text that is a JSON number (RFC 8259 grammar) a reader can hold without loss of
/// range: integers within 64 bits, floats that are finite as doubles. Leading zeros (`007`),
/// a leading `+` or `.`, and `NaN` stay strings.
pub fn is_json_number(b: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let int_digits = digits(&b[i..]);
    if int_digits == 0 || (int_digits > 1 && b[i] == b'0') {
        return false;
    }
    i += int_digits;
    if i == b.len() {
        // An integer: beyond 18 digits it may not fit 64 bits.
        return int_digits <= 18 || std::str::from_utf8(b).is_ok_and(|s| s.parse::<i64>().is_ok());
    }
    let mut exponent = false;
    if b[i] == b'.' {
        let frac = digits(&b[i + 1..]);
        if frac == 0 {
            return false;
        }
        i += 1 + frac;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let exp = digits(&b[i..]);
        if exp == 0 {
            return false;
        }
        i += exp;
        exponent = true;
    }
    i == b.len()
        && (!exponent
            || std::str::from_utf8(b)
                .ok()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(f64::is_finite))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_numbers_are_recognised_strictly() {
        for yes in [
            "0",
            "-0",
            "12",
            "-3.25",
            "1e5",
            "2.5E-3",
            "9223372036854775807",
        ] {
            assert!(is_json_number(yes.as_bytes()), "{yes}");
        }
        for no in [
            "",
            "-",
            "007",
            "+1",
            ".5",
            "5.",
            "1e",
            "NaN",
            "inf",
            "1,5",
            "1e400",
            "12a",
            "9223372036854775808",
            "0x10",
        ] {
            assert!(!is_json_number(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn quoted_fields_are_told_from_unquoted_ones() {
        let flags = |raw: &str| {
            let mut flags = Vec::new();
            quoted_flags(raw.as_bytes(), b',', b'"', &mut flags);
            flags
        };
        assert_eq!(
            flags("a,\"\",,\"x\"\"y\",\n"),
            [false, true, false, true, false]
        );
        assert_eq!(flags("\"a,b\",c\"d\r\n"), [true, false]);
        // A quote after the first byte is data; a quoted field goes on across line ends.
        assert_eq!(flags("x\"y,\"line\nbreak\",\"\""), [false, true, true]);
        assert_eq!(flags("\n"), [false]);
    }

    #[test]
    fn header_names_are_unique_and_never_empty() {
        let fields = b"aab";
        let names = header_names(fields, &[1, 2, 2, 3], "t", None).unwrap();
        assert_eq!(names, ["a", "a_2", "column_3", "b"]);
        // A column named like --source-field gives way to it.
        let names = header_names(fields, &[1, 2, 2, 3], "t", Some("b")).unwrap();
        assert_eq!(names, ["a", "a_2", "column_3", "b_2"]);
    }
}
