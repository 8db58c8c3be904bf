//! Reading inputs: each record's window from its event time, its schema learned, and the record
//! set aside in the spill; records without a usable time go to `--on-error`.

use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use arrow_schema::Schema;
use sluice_arrow::infer::SchemaInference;
use sluice_lake::Layout;
use sluice_stream::scan::{self, FieldSpan, Found};
use sluice_stream::{Error, Position, Rejects, Result};

use crate::spill::{Entry, Spill};
use crate::window::{event_time_ms, rfc3339, window_start, EpochUnit};

/// Takes records in, one input at a time.
pub struct Intake<'a> {
    layout: &'a Layout,
    time_path: Vec<Box<[u8]>>,
    unit: EpochUnit,
    spill: Spill,
    rejects: Rejects,
    /// With --max-lateness: records before this time are too late.
    oldest_allowed: Option<i64>,
    detect_time: bool,
    /// Windows that received records.
    pub touched: BTreeSet<i64>,
    current: Current,
    spans: Vec<FieldSpan>,
    pending: Vec<u8>,
    /// The first error met inside a `write` call (which can only return an I/O error).
    failed: Option<Error>,
}

/// What is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// New records: each is placed by its event time, and checked against --max-lateness.
    Input,
    /// A data file of the lake being rewritten: its records stay in its window, and any that
    /// cannot be taken stops the run (they are committed records, never to be dropped).
    Lake {
        /// The file's window.
        window: i64,
    },
}

/// The input being read.
struct Current {
    source: String,
    /// The record's row in a file, or its offset in a topic partition.
    at: Place,
    read: Read,
    inference: SchemaInference,
}

#[derive(Clone, Copy)]
enum Place {
    Row(u64),
    Offset(u64),
}

impl<'a> Intake<'a> {
    /// Spills records into `spill`, handing bad ones to `rejects`.
    pub fn new(
        layout: &'a Layout,
        unit: EpochUnit,
        spill: Spill,
        rejects: Rejects,
        oldest_allowed: Option<i64>,
        detect_time: bool,
    ) -> Self {
        Intake {
            layout,
            time_path: layout
                .time_field
                .split('.')
                .map(|part| part.as_bytes().into())
                .collect(),
            unit,
            spill,
            rejects,
            oldest_allowed,
            detect_time,
            touched: BTreeSet::new(),
            current: Current {
                source: String::new(),
                at: Place::Row(0),
                read: Read::Input,
                inference: SchemaInference::new(detect_time),
            },
            spans: Vec::new(),
            pending: Vec::new(),
            failed: None,
        }
    }

    /// Reads one input with extract's `options`. Returns the records extract read and
    /// rejected.
    pub fn read(&mut self, path: &Path, options: &[String], read: Read) -> Result<(u64, u64)> {
        let name = path.to_string_lossy().into_owned();
        self.start(&name, read);
        let mut out = BufWriter::with_capacity(256 * 1024, &mut *self);
        let read = sluice_extract::extract_file(&name, options, &mut out).and_then(|counts| {
            out.flush()
                .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
            Ok(counts)
        });
        drop(out);
        if let Some(error) = self.failed.take() {
            return Err(error);
        }
        let counts = read?;
        if !self.pending.is_empty() {
            let rest = std::mem::take(&mut self.pending);
            self.next_row(&rest)?;
        }
        Ok(counts)
    }

    /// Starts an input named `source` (its schema is learned afresh).
    pub fn start(&mut self, source: &str, read: Read) {
        self.current = Current {
            source: source.to_string(),
            at: Place::Row(0),
            read,
            inference: SchemaInference::new(self.detect_time),
        };
    }

    /// Takes the record at `offset` of a topic partition.
    pub fn record_at(&mut self, record: &[u8], offset: u64) -> Result<()> {
        self.current.at = Place::Offset(offset);
        self.record(record)
    }

    /// Hands the record at `offset` of a topic partition to --on-error.
    pub fn reject_at(&mut self, offset: u64, raw: &[u8], reason: &str) -> Result<()> {
        self.current.at = Place::Offset(offset);
        self.reject(raw, reason)
    }

    /// Takes the next row of a file.
    fn next_row(&mut self, line: &[u8]) -> Result<()> {
        if let Place::Row(row) = &mut self.current.at {
            *row += 1;
        }
        self.record(line)
    }

    /// The schema of the input just read.
    pub fn take_schema(&mut self) -> Schema {
        let inference = std::mem::replace(
            &mut self.current.inference,
            SchemaInference::new(self.detect_time),
        );
        inference.schema()
    }

    /// Ends the intake: the spill to write, the policy, and how many records it rejected.
    pub fn finish(self) -> (Spill, Rejects, u64) {
        let rejected = self.rejects.count();
        (self.spill, self.rejects, rejected)
    }

    fn record(&mut self, line: &[u8]) -> Result<()> {
        if let Err(reason) = scan::object_fields(line, &mut self.spans) {
            return self.reject(line, &reason);
        }
        let raw = match scan::lookup(line, &self.spans, &self.time_path) {
            Found::Value(raw) => Some(raw),
            Found::Missing => None,
            Found::NotObject => {
                let reason = format!(
                    "{} runs into a value that is not an object",
                    self.layout.time_field
                );
                return self.reject(line, &reason);
            }
        };
        let parsed = event_time_ms(raw, self.unit);
        let (window, time) = match (self.current.read, parsed) {
            (Read::Lake { window }, time) => (window, time.unwrap_or(window)),
            (Read::Input, Ok(time)) => (window_start(time, self.layout.window_ms), time),
            (Read::Input, Err(why)) => {
                let reason = format!("the time field {} {why}", self.layout.time_field);
                return self.reject(line, &reason);
            }
        };
        if let Some(oldest) = self
            .oldest_allowed
            .filter(|_| self.current.read == Read::Input)
        {
            if time < oldest {
                let reason = format!(
                    "{} {} is older than --max-lateness allows (the lake takes times from {} on)",
                    self.layout.time_field,
                    rfc3339(time),
                    rfc3339(oldest)
                );
                return self.reject(line, &reason);
            }
        }
        let text = std::str::from_utf8(line).map_err(|e| Error::Other(e.to_string()));
        if let Err(reason) = text.and_then(|t| self.current.inference.add(t).map_err(Error::Other))
        {
            return self.reject(line, &reason.to_string());
        }
        self.touched.insert(window);
        self.spill.push(Entry {
            window,
            time,
            record: line,
        })
    }

    fn reject(&mut self, line: &[u8], reason: &str) -> Result<()> {
        let position = self.position();
        if let Read::Lake { .. } = self.current.read {
            return Err(Error::Other(format!(
                "{position}: a record of the lake cannot be rewritten: {reason}"
            )));
        }
        self.rejects.reject(&position, reason, line, false)
    }

    fn position(&self) -> Position {
        match self.current.at {
            Place::Row(row) => Position {
                source: self.current.source.clone(),
                row: Some(row),
                ..Position::default()
            },
            Place::Offset(offset) => {
                Position::source(format!("{} offset {offset}", self.current.source))
            }
        }
    }

    /// Takes the whole lines of `buf` (after what is pending).
    fn take_lines(&mut self, buf: &[u8]) -> Result<()> {
        let mut rest = buf;
        if !self.pending.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                self.pending.extend_from_slice(rest);
                return Ok(());
            };
            let mut line = std::mem::take(&mut self.pending);
            line.extend_from_slice(&rest[..end]);
            self.next_row(&line)?;
            line.clear();
            self.pending = line;
            rest = &rest[end + 1..];
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            self.next_row(&rest[..end])?;
            rest = &rest[end + 1..];
        }
        self.pending.extend_from_slice(rest);
        Ok(())
    }
}

impl Write for Intake<'_> {
    // A `Write` sink is built by implementing `write`; extract calls `write_all`.
    #[allow(clippy::disallowed_methods)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed.is_some() {
            return Err(io::Error::other("compaction stopped"));
        }
        match self.take_lines(buf) {
            Ok(()) => Ok(buf.len()),
            Err(error) => {
                self.failed = Some(error);
                Err(io::Error::other("compaction stopped"))
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
