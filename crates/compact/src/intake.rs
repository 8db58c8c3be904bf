//! Reading inputs: each record's window (from its event time) or bucket (from its key), its
//! schema learned, and the record set aside in the spill; records that cannot be placed go to
//! `--on-error`.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use arrow_schema::Schema;
use sluice_arrow::infer::SchemaInference;
use sluice_stream::scan::{self, FieldSpan};
use sluice_stream::{Error, Position, Rejects, Result};

use crate::key::KeyCut;
use crate::spill::{Entry, EntryKind, Spill};
use crate::window::TimeCut;

/// How records are placed: by event-time window, or by key.
pub enum Cut {
    /// By the window of each record's event time.
    Time(TimeCut),
    /// By a hash of each record's key.
    Key(KeyCut),
}

/// Where a record goes.
pub struct Placed<'a> {
    /// Its window or bucket.
    pub window: i64,
    /// Its event time or --order-by value.
    pub time: i64,
    /// What it is.
    pub kind: EntryKind,
    /// Its key, with key compaction.
    pub key: Option<Cow<'a, [u8]>>,
}

/// Takes records in, one input at a time.
pub struct Intake {
    cut: Cut,
    spill: Spill,
    rejects: Rejects,
    detect_time: bool,
    /// Windows that received records.
    pub touched: BTreeSet<i64>,
    current: Current,
    spans: Vec<FieldSpan>,
    pending: Vec<u8>,
    /// The first error met inside a `write` call (which can only return an I/O error).
    failed: Option<Error>,
}

/// What an intake took in.
pub struct Taken {
    /// The records, by window or bucket.
    pub spill: Spill,
    /// The --on-error policy, for records the writer rejects.
    pub rejects: Rejects,
    /// How many records the intake rejected.
    pub rejected: u64,
    /// How they were placed.
    pub cut: Cut,
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

impl Intake {
    /// Places records by `cut` into `spill`, handing bad ones to `rejects`.
    pub fn new(cut: Cut, spill: Spill, rejects: Rejects, detect_time: bool) -> Self {
        Intake {
            cut,
            spill,
            rejects,
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

    /// Takes the tombstone (a record without a value) at `offset` of a topic partition: with
    /// key compaction it deletes its key; otherwise, having no time, it goes to --on-error.
    pub fn tombstone_at(&mut self, key: Option<&[u8]>, offset: u64) -> Result<()> {
        self.current.at = Place::Offset(offset);
        let (Cut::Key(cut), Some(key)) = (&self.cut, key) else {
            let reason = match &self.cut {
                Cut::Key(_) => "a tombstone without a key deletes nothing",
                Cut::Time(_) => "a tombstone (no value) has no event time",
            };
            return self.reject(b"null", reason);
        };
        let key = cut.topic_key(key);
        let bucket = cut.bucket(&key);
        self.touched.insert(bucket);
        self.spill.push(Entry {
            window: bucket,
            time: i64::MIN,
            kind: EntryKind::Tombstone,
            record: &key,
        })
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

    /// With key compaction, the key's path (its column stays text).
    pub fn key_path(&self) -> Option<&[Box<[u8]>]> {
        match &self.cut {
            Cut::Key(cut) => Some(cut.path()),
            Cut::Time(_) => None,
        }
    }

    /// Ends the intake: what it took in, to be written.
    pub fn finish(self) -> Taken {
        Taken {
            rejected: self.rejects.count(),
            spill: self.spill,
            rejects: self.rejects,
            cut: self.cut,
        }
    }

    fn record(&mut self, line: &[u8]) -> Result<()> {
        if let Err(reason) = scan::object_fields(line, &mut self.spans) {
            return self.reject(line, &reason);
        }
        let lake = match self.current.read {
            Read::Lake { window } => Some(window),
            Read::Input => None,
        };
        let placed = match &self.cut {
            Cut::Time(cut) => cut.place(line, &self.spans, lake),
            Cut::Key(cut) => cut.place(line, &self.spans, lake),
        };
        let placed = match placed {
            Ok(placed) => placed,
            Err(reason) => return self.reject(line, &reason),
        };
        let record = match (placed.kind, &placed.key) {
            (EntryKind::Delete, Some(key)) => key.as_ref(),
            _ => {
                let text = std::str::from_utf8(line).map_err(|e| e.to_string());
                let learned = text.and_then(|t| self.current.inference.add(t));
                if let Err(reason) = learned {
                    return self.reject(line, &reason);
                }
                line
            }
        };
        self.touched.insert(placed.window);
        self.spill.push(Entry {
            window: placed.window,
            time: placed.time,
            kind: placed.kind,
            record,
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

impl Write for Intake {
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
