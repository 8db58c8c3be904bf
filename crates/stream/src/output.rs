//! Writing records to stdout: buffered in a pipe, flushed per record on a terminal.

use std::io::{self, IsTerminal, Write};

use crate::error::{IoContext, Result};

/// Where records go: NDJSON lines on stdout (or any writer, for tests and files).
pub struct RecordWriter<W: Write> {
    out: W,
    flush_each: bool,
    records: u64,
    bytes: u64,
}

/// A record writer on the process's stdout.
pub type StdoutWriter = RecordWriter<io::BufWriter<io::Stdout>>;

impl StdoutWriter {
    /// Opens stdout: block-buffered in a pipe or file, flushed per record on a terminal.
    pub fn stdout() -> Self {
        let stdout = io::stdout();
        crate::pipe::widen(&stdout);
        let flush_each = stdout.is_terminal();
        RecordWriter::new(io::BufWriter::with_capacity(256 * 1024, stdout), flush_each)
    }
}

impl<W: Write> RecordWriter<W> {
    /// Wraps a writer; `flush_each` flushes after every record (for interactive use and
    /// streams that must not hold records back).
    pub fn new(out: W, flush_each: bool) -> Self {
        RecordWriter {
            out,
            flush_each,
            records: 0,
            bytes: 0,
        }
    }

    /// Writes one record (a JSON object without its newline) and a newline.
    pub fn write_record(&mut self, record: &[u8]) -> Result<()> {
        self.write_raw_line(record)?;
        self.records += 1;
        Ok(())
    }

    /// Writes `count` whole records that end with `\n` already.
    pub fn write_chunk(&mut self, lines: &[u8], count: u64) -> Result<()> {
        self.out
            .write_all(lines)
            .context(|| "cannot write to stdout".into())?;
        self.bytes += lines.len() as u64;
        self.records += count;
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    fn write_raw_line(&mut self, line: &[u8]) -> Result<()> {
        self.out
            .write_all(line)
            .and_then(|()| self.out.write_all(b"\n"))
            .context(|| "cannot write to stdout".into())?;
        self.bytes += line.len() as u64 + 1;
        if self.flush_each {
            self.flush()?;
        }
        Ok(())
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context(|| "cannot write to stdout".into())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}
