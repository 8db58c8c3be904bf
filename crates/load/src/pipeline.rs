//! Reading records and writing them: one pass when the output's shape is known up front, two
//! passes (through a spill file, or re-reading the input files) when it must be learned from
//! the whole input first.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indicatif::ProgressBar;
use sluice_arrow::decode::RecordPlace;
use sluice_arrow::infer::SchemaInference;
use sluice_stream::input;
use sluice_stream::json::{
    field, object_fields, scalar_text, validate_object, write_string, Fields,
};
use sluice_stream::lines::LineReader;
use sluice_stream::{Error, Position, Rejects, Result};

use crate::target::{partition_component, Target};
use crate::writer::{FileWriter, WriterOptions};

/// How records are reshaped on the way in.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    /// `--columns`: keep these fields, in this order (missing ones as null).
    pub columns: Option<Vec<String>>,
    /// `--partition-by`: these fields name the directory and leave the record.
    pub partition_by: Vec<String>,
}

impl Shape {
    /// True when records are rewritten (not passed through as they are).
    pub fn rewrites_records(&self) -> bool {
        self.columns.is_some() || !self.partition_by.is_empty()
    }
}

/// When to start a new file.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub rows: Option<u64>,
    pub bytes: Option<u64>,
}

/// An input: the name used in messages, and the path to read (a spill copy, for stdin).
#[derive(Debug, Clone)]
pub struct InputFile {
    pub name: String,
    pub path: String,
}

/// Calls `f` for every record of every input: blank lines are passed over; oversize lines,
/// invalid UTF-8 and lines that are not objects go to `rejects`. `f` returns false when it
/// rejected the record itself. Returns, per input, the lines that were rejected.
pub fn for_each_record(
    inputs: &[InputFile],
    max_bytes: usize,
    rejects: &mut Rejects,
    bar: Option<&ProgressBar>,
    skip: Option<&[Vec<u64>]>,
    mut f: impl FnMut(&str, RecordPlace, &mut Rejects) -> Result<bool>,
) -> Result<(u64, Vec<Vec<u64>>)> {
    let mut records = 0u64;
    let mut rejected = Vec::with_capacity(inputs.len());
    let mut line = Vec::with_capacity(4096);
    for (index, file) in inputs.iter().enumerate() {
        let name = &file.name;
        let source: Arc<str> = Arc::from(name.as_str());
        let input = input::open(&file.path, bar)?;
        let mut reader = LineReader::new(input.reader, max_bytes, 0);
        let mut rejected_here = Vec::new();
        let mut skipped = skip.map(|s| s[index].iter().peekable());
        while let Some(info) = reader
            .next_line(&mut line)
            .map_err(|e| Error::io(format!("cannot read {name}"), e))?
        {
            if let Some(skipped) = skipped.as_mut() {
                if skipped.peek() == Some(&&info.line) {
                    skipped.next();
                    continue;
                }
            }
            if !info.oversize && sluice_stream::json::is_blank(&line) {
                continue;
            }
            records += 1;
            let position = || Position {
                source: name.clone(),
                line: Some(info.line),
                byte: Some(info.byte),
                row: None,
            };
            let problem = if info.oversize {
                Some(format!(
                    "record of {} bytes is longer than --max-record-bytes ({max_bytes})",
                    info.len
                ))
            } else {
                match std::str::from_utf8(&line) {
                    Err(e) => Some(format!(
                        "invalid UTF-8 at byte {} of the record",
                        e.valid_up_to()
                    )),
                    Ok(text) if text.trim_start().starts_with('{') => {
                        let place = RecordPlace {
                            source: source.clone(),
                            line: info.line,
                            byte: info.byte,
                        };
                        if !f(text, place, rejects)? {
                            rejected_here.push(info.line);
                        }
                        None
                    }
                    Ok(text) => Some(sluice_stream::scan::not_an_object(text.as_bytes())),
                }
            };
            if let Some(reason) = problem {
                rejected_here.push(info.line);
                rejects.reject(&position(), &reason, &line, info.oversize)?;
            }
        }
        rejected.push(rejected_here);
    }
    Ok((records, rejected))
}

/// Reads every record of the inputs, reshapes it, and hands what goes out (its text,
/// partition and top-level fields) to `sink`. Returns what [`for_each_record`] returns.
pub fn reshape_each(
    inputs: &[InputFile],
    max_bytes: usize,
    rejects: &mut Rejects,
    bar: Option<&ProgressBar>,
    reshaper: &mut Reshaper,
    mut sink: impl FnMut(&[u8], &str, &Fields, RecordPlace, &mut Rejects) -> Result<()>,
) -> Result<(u64, Vec<Vec<u64>>)> {
    let mut storage: Fields<'static> = Vec::new();
    for_each_record(
        inputs,
        max_bytes,
        rejects,
        bar,
        None,
        |text, place, rejects| {
            let mut fields = recycle(std::mem::take(&mut storage));
            let accepted = match reshaper.apply(text, &mut fields, &place, rejects)? {
                Some((out, partition)) => {
                    sink(out, partition, &fields, place, rejects)?;
                    true
                }
                None => false,
            };
            storage = recycle(fields);
            Ok(accepted)
        },
    )
}

/// Reuses a field vector's allocation for records with another lifetime (no element survives;
/// `filter_map` is what lets the element type change, and std collects it in place).
#[allow(clippy::unnecessary_filter_map)]
pub fn recycle<'b>(fields: Fields<'_>) -> Fields<'b> {
    fields.into_iter().filter_map(|_| None).collect()
}

/// Writes records into files in order, one open file at a time, rolling by the limits and
/// starting a new file when the partition changes.
pub struct Writers {
    target: Target,
    options: WriterOptions,
    limits: Limits,
    current: Option<(String, FileWriter, u64)>,
    files: u64,
    rows: u64,
    bytes: u64,
}

impl Writers {
    /// Writes into `target`.
    pub fn new(target: Target, options: WriterOptions, limits: Limits) -> Self {
        Writers {
            target,
            options,
            limits,
            current: None,
            files: 0,
            rows: 0,
            bytes: 0,
        }
    }

    /// Writes one record into `partition` (empty when not partitioned).
    pub fn write(
        &mut self,
        partition: &str,
        line: &[u8],
        fields: &Fields,
        place: RecordPlace,
        rejects: &mut Rejects,
    ) -> Result<()> {
        let full = self.current.as_ref().is_some_and(|(p, writer, fed)| {
            p != partition
                || self.limits.rows.is_some_and(|max| *fed >= max)
                || self.limits.bytes.is_some_and(|max| writer.bytes() >= max)
        });
        if full {
            self.close_current(rejects)?;
        }
        if self.current.is_none() {
            self.open(partition)?;
        }
        let (_, writer, fed) = self.current.as_mut().expect("opened above");
        *fed += 1;
        writer.write(line, fields, place, rejects)
    }

    /// Writes a block of whole NDJSON lines that were already checked (typed formats, no
    /// partitions or limits).
    pub fn write_block(
        &mut self,
        block: &[u8],
        source: Arc<str>,
        line: u64,
        byte: u64,
        rejects: &mut Rejects,
    ) -> Result<()> {
        if self.current.is_none() {
            self.open("")?;
        }
        let (_, writer, _) = self.current.as_mut().expect("opened above");
        writer.write_block(block, source, line, byte, rejects)
    }

    /// Decodes and writes everything queued for the open file (see [`FileWriter::drain`]).
    pub fn drain(&mut self, rejects: &mut Rejects) -> Result<()> {
        match self.current.as_mut() {
            Some((_, writer, _)) => writer.drain(rejects),
            None => Ok(()),
        }
    }

    /// True when records turned up that do not fit the sampled schema (see
    /// [`FileWriter::unfit`]): what was written must be abandoned.
    pub fn unfit(&self) -> bool {
        self.current.as_ref().is_some_and(|(_, w, _)| w.unfit())
    }

    fn open(&mut self, partition: &str) -> Result<()> {
        let extension = format!(
            "{}{}",
            self.options.format.extension(),
            if self.options.format.is_typed() {
                ""
            } else {
                self.options.codec.extension()
            }
        );
        let (name, out) = self.target.next_file(partition, &extension)?;
        let writer = FileWriter::new(&name, out, &self.options)?;
        self.files += 1;
        self.current = Some((partition.to_string(), writer, 0));
        Ok(())
    }

    fn close_current(&mut self, rejects: &mut Rejects) -> Result<()> {
        if let Some((_, writer, _)) = self.current.take() {
            let (rows, bytes) = writer.finish(rejects)?;
            self.rows += rows;
            self.bytes += bytes;
        }
        Ok(())
    }

    /// Finishes the last file and publishes everything. A single-file output is written even
    /// when there were no records (an empty CSV, a Parquet file with the schema and no rows).
    /// Returns the rows and bytes written.
    pub fn finish(mut self, rejects: &mut Rejects, single_file: bool) -> Result<(u64, u64)> {
        if self.files == 0 && single_file {
            self.open("")?;
        }
        self.close_current(rejects)?;
        let written = (self.rows, self.bytes);
        self.target.commit()?;
        Ok(written)
    }
}

/// Records set aside between the passes, one file per partition.
pub struct Spill {
    dir: tempfile::TempDir,
    files: BTreeMap<String, (PathBuf, Option<BufWriter<File>>)>,
    open: usize,
}

/// At most this many spill files are kept open at once.
const MAX_OPEN_SPILLS: usize = 256;

impl Spill {
    /// Spills into a new temporary directory inside `dir` (or the system's).
    pub fn new(dir: Option<&Path>) -> Result<Self> {
        let builder = tempfile::Builder::new().prefix(".sluice-spill-").clone();
        let dir = match dir {
            Some(d) => builder.tempdir_in(d),
            None => builder.tempdir(),
        }
        .map_err(|e| Error::io("cannot create a spill directory (see --spill-dir)", e))?;
        Ok(Spill {
            dir,
            files: BTreeMap::new(),
            open: 0,
        })
    }

    /// Appends a record to its partition's spill file.
    pub fn write(&mut self, partition: &str, line: &[u8]) -> Result<()> {
        if !self.files.contains_key(partition) {
            let path = self.dir.path().join(format!("{}.ndjson", self.files.len()));
            self.files.insert(partition.to_string(), (path, None));
        }
        if self.files[partition].1.is_none() {
            if self.open >= MAX_OPEN_SPILLS {
                self.close_all()?;
            }
            let path = &self.files[partition].0;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::io(format!("cannot write spill file {}", path.display()), e))?;
            let capacity = if self.files.len() > 1 {
                16 * 1024
            } else {
                1 << 20
            };
            self.files.get_mut(partition).expect("inserted").1 =
                Some(BufWriter::with_capacity(capacity, file));
            self.open += 1;
        }
        let (path, writer) = self.files.get_mut(partition).expect("inserted");
        let writer = writer.as_mut().expect("opened");
        writer
            .write_all(line)
            .and_then(|()| writer.write_all(b"\n"))
            .map_err(|e| Error::io(format!("cannot write spill file {}", path.display()), e))
    }

    fn close_all(&mut self) -> Result<()> {
        for (path, writer) in self.files.values_mut() {
            if let Some(mut w) = writer.take() {
                w.flush().map_err(|e| {
                    Error::io(format!("cannot write spill file {}", path.display()), e)
                })?;
            }
        }
        self.open = 0;
        Ok(())
    }

    /// Flushes everything and lists the partitions in order with their spill files. The
    /// returned directory guard removes the files when dropped.
    pub fn finish(mut self) -> Result<(tempfile::TempDir, Vec<(String, PathBuf)>)> {
        self.close_all()?;
        let files = self
            .files
            .into_iter()
            .map(|(p, (path, _))| (p, path))
            .collect();
        Ok((self.dir, files))
    }
}

/// Reshapes records (projection, partition fields) and learns the output's schema or columns.
pub struct Reshaper {
    shape: Shape,
    /// `"name":` prefixes of `--columns`.
    column_keys: Vec<Vec<u8>>,
    /// Learns the schema, for typed formats without `--schema`.
    pub inference: Option<SchemaInference>,
    /// Learns CSV columns in first-seen order, when not given.
    pub key_order: Option<Vec<String>>,
    needs_fields: bool,
    /// The writer's decoder checks records itself (typed formats): no separate validation.
    decoder_validates: bool,
    scratch: Vec<u8>,
    partition: String,
}

impl Reshaper {
    /// Prepares the reshaping; `needs_fields` is set when the writer needs top-level fields,
    /// `decoder_validates` when the writer's decoder checks records itself.
    pub fn new(
        shape: Shape,
        inference: Option<SchemaInference>,
        learn_keys: bool,
        needs_fields: bool,
        decoder_validates: bool,
    ) -> Self {
        let column_keys = shape
            .columns
            .iter()
            .flatten()
            .map(|c| {
                let mut key = Vec::new();
                write_string(&mut key, c.as_bytes());
                key.push(b':');
                key
            })
            .collect();
        let needs_fields = needs_fields || shape.rewrites_records() || learn_keys;
        Reshaper {
            shape,
            column_keys,
            inference,
            key_order: learn_keys.then(Vec::new),
            needs_fields,
            decoder_validates,
            scratch: Vec::new(),
            partition: String::new(),
        }
    }

    /// Validates and reshapes one record. Returns the record's text as it goes out and its
    /// partition path, or `None` after rejecting it.
    pub fn apply<'r>(
        &'r mut self,
        text: &'r str,
        fields: &mut Fields<'r>,
        place: &RecordPlace,
        rejects: &mut Rejects,
    ) -> Result<Option<(&'r [u8], &'r str)>> {
        fields.clear();
        let reject = |reason: String, rejects: &mut Rejects| {
            let position = Position {
                source: place.source.to_string(),
                line: Some(place.line),
                byte: Some(place.byte),
                row: None,
            };
            rejects.reject(&position, &reason, text.as_bytes(), false)
        };
        // serde_json, which finds the fields, lets some bad JSON through (a lone surrogate
        // escape, nesting of any depth): the records are checked as every other path does.
        if self.inference.is_none() && !self.decoder_validates {
            if let Err(reason) = validate_object(text.as_bytes()) {
                reject(reason, rejects)?;
                return Ok(None);
            }
        }
        if self.needs_fields {
            if let Err(reason) = object_fields(text, fields) {
                reject(reason, rejects)?;
                return Ok(None);
            }
        }
        self.partition.clear();
        for key in &self.shape.partition_by {
            if !self.partition.is_empty() {
                self.partition.push('/');
            }
            let value = field(fields, key).and_then(scalar_text);
            self.partition
                .push_str(&partition_component(key, value.as_deref()));
        }
        let out: &[u8] = if self.shape.rewrites_records() {
            self.scratch.clear();
            self.scratch.push(b'{');
            let mut first = true;
            match &self.shape.columns {
                Some(columns) => {
                    for (column, key) in columns.iter().zip(&self.column_keys) {
                        if self.shape.partition_by.contains(column) {
                            continue;
                        }
                        if !first {
                            self.scratch.push(b',');
                        }
                        first = false;
                        self.scratch.extend_from_slice(key);
                        let value = field(fields, column).map_or("null", |v| v.get());
                        self.scratch.extend_from_slice(value.as_bytes());
                    }
                }
                None => {
                    for (name, value) in fields.iter() {
                        if self.shape.partition_by.iter().any(|p| p == name) {
                            continue;
                        }
                        if !first {
                            self.scratch.push(b',');
                        }
                        first = false;
                        write_string(&mut self.scratch, name.as_bytes());
                        self.scratch.push(b':');
                        self.scratch.extend_from_slice(value.get().as_bytes());
                    }
                }
            }
            self.scratch.push(b'}');
            &self.scratch
        } else {
            text.as_bytes()
        };
        if let Some(inference) = &mut self.inference {
            let out_text = std::str::from_utf8(out).expect("built from UTF-8");
            if let Err(reason) = inference.add(out_text) {
                reject(reason, rejects)?;
                return Ok(None);
            }
        }
        if let Some(order) = &mut self.key_order {
            if let Some(columns) = &self.shape.columns {
                if order.is_empty() {
                    order.extend(
                        columns
                            .iter()
                            .filter(|c| !self.shape.partition_by.contains(c))
                            .cloned(),
                    );
                }
            } else {
                for (name, _) in fields.iter() {
                    if !self.shape.partition_by.iter().any(|p| p == name)
                        && !order.iter().any(|o| o == name)
                    {
                        order.push(name.to_string());
                    }
                }
            }
        }
        Ok(Some((out, &self.partition)))
    }
}
