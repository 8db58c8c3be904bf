//! Where extracted records go: stdout, with the optional source field, and the error policy.

use sluice_stream::input::Ready;
use sluice_stream::json::{field, object_fields, write_string, Fields};
use sluice_stream::output::RecordWriter;
use sluice_stream::{Position, Rejects, Result};

/// Where records are written: stdout, or memory for a lookup table.
pub type Sink<'a> = RecordWriter<Box<dyn std::io::Write + 'a>>;

/// Writes records to a sink and hands bad ones to the `--on-error` policy.
pub struct Emitter<'a> {
    out: Sink<'a>,
    rejects: Rejects,
    source_field: Option<String>,
    /// `"NAME":"file"` for the current source, when `--source-field` is set.
    source_suffix: Vec<u8>,
    /// `--columns` for JSON inputs: (name, `"name":` prefix).
    columns: Option<Vec<(String, Vec<u8>)>>,
    scratch: Vec<u8>,
    projected: Vec<u8>,
    /// Records read (good and bad).
    pub records_in: u64,
}

impl<'a> Emitter<'a> {
    /// Writes to `out`; `source_field` names the field that carries each record's file.
    pub fn new(
        out: Sink<'a>,
        rejects: Rejects,
        source_field: Option<String>,
        columns: Option<Vec<String>>,
    ) -> Self {
        let columns = columns.map(|cols| {
            cols.into_iter()
                .map(|c| {
                    let mut key = Vec::new();
                    write_string(&mut key, c.as_bytes());
                    key.push(b':');
                    (c, key)
                })
                .collect()
        });
        Emitter {
            columns,
            projected: Vec::new(),
            out,
            rejects,
            source_field,
            source_suffix: Vec::new(),
            scratch: Vec::new(),
            records_in: 0,
        }
    }

    /// Sets the file the next records come from.
    pub fn set_source(&mut self, name: &str) {
        self.source_suffix.clear();
        if let Some(field) = &self.source_field {
            write_string(&mut self.source_suffix, field.as_bytes());
            self.source_suffix.push(b':');
            write_string(&mut self.source_suffix, name.as_bytes());
        }
    }

    /// The name of the field that carries each record's file (`--source-field`).
    pub fn source_field(&self) -> Option<&str> {
        self.source_field.as_deref()
    }

    /// The `"NAME":"file"` member to add inside each object (empty without `--source-field`).
    pub fn source_member(&self) -> &[u8] {
        &self.source_suffix
    }

    /// Writes a JSON object (one line, no newline), adding the source field if asked. The
    /// field goes last, so it wins over a field of the same name in the record.
    pub fn emit_object(&mut self, object: &[u8]) -> Result<()> {
        if self.source_suffix.is_empty() {
            return self.out.write_record(object);
        }
        let Some(close) = object.iter().rposition(|&b| b == b'}') else {
            return self.out.write_record(object);
        };
        let body = &object[..close];
        let empty = body
            .iter()
            .rev()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|&b| b == b'{');
        self.scratch.clear();
        self.scratch.extend_from_slice(body);
        if !empty {
            self.scratch.push(b',');
        }
        self.scratch.extend_from_slice(&self.source_suffix);
        self.scratch.push(b'}');
        self.out.write_record(&self.scratch)
    }

    /// Writes a JSON object read from a JSON input: projected to `--columns` (missing fields
    /// are null) when given, then as [`Emitter::emit_object`].
    pub fn emit_json_object(&mut self, object: &[u8]) -> Result<()> {
        let Some(columns) = &self.columns else {
            return self.emit_object(object);
        };
        let text = std::str::from_utf8(object).expect("validated as UTF-8");
        let mut fields: Fields = Vec::new();
        object_fields(text, &mut fields).expect("validated as a JSON object");
        let mut out = std::mem::take(&mut self.projected);
        out.clear();
        out.push(b'{');
        for (i, (name, key)) in columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            match field(&fields, name) {
                Some(value) => out.extend_from_slice(value.get().as_bytes()),
                None => out.extend_from_slice(b"null"),
            }
        }
        out.push(b'}');
        let result = self.emit_object(&out);
        self.projected = out;
        result
    }

    /// Writes lines that are complete records ending in `\n` (already holding any source field).
    pub fn emit_lines(&mut self, lines: &[u8], count: u64) -> Result<()> {
        self.out.write_chunk(lines, count)
    }

    /// Flushes stdout when `input` has nothing more for now, so that records read from a pipe
    /// that pauses (`tail -f x.csv | extract -`) go on at once instead of waiting in a buffer.
    pub fn flush_if_paused(&mut self, input: &mut dyn Ready) -> Result<()> {
        if input.more_soon() {
            return Ok(());
        }
        self.out.flush()
    }

    /// Hands a bad record to the policy.
    pub fn reject(
        &mut self,
        position: &Position,
        reason: &str,
        raw: &[u8],
        truncated: bool,
    ) -> Result<()> {
        self.rejects.reject(position, reason, raw, truncated)
    }

    /// Flushes stdout and finishes the policy (also when the flush fails).
    pub fn finish(&mut self) -> Result<()> {
        let flushed = self.out.flush();
        self.rejects.finish()?;
        flushed
    }

    /// (records written, bytes written, rejected).
    pub fn counts(&self) -> (u64, u64, u64) {
        (self.out.records(), self.out.bytes(), self.rejects.count())
    }
}
