//! Typed output (Parquet, Arrow) with a schema inferred from the input, for records written as
//! they come (no `--partition-by`, no `--columns`).
//!
//! One pass when it can: the schema is inferred from the input's first block, and as the rest
//! is decoded every record is checked to leave that schema as it is (for flat schemas, where
//! the check is part of decoding). Should one not, or should any record be bad, the pass is
//! abandoned before anything is published and two passes run instead: the schema is inferred
//! from the whole input on several threads, then the records are decoded and written. Either
//! way the file is the same. Inputs that cannot be read twice (stdin, compressed files) are
//! copied to a plain spill file as they are read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::Schema;
use indicatif::ProgressBar;
use sluice_arrow::decode::decodes_flat;
use sluice_arrow::infer::SchemaInference;
use sluice_stream::input::{self, is_stdin, Compression};
use sluice_stream::json::is_blank;
use sluice_stream::lines::BOM;
use sluice_stream::{Error, Rejects, Result};

use crate::parallel;
use crate::pipeline::{for_each_record, InputFile, Limits, Writers};
use crate::target::Target;
use crate::writer::WriterOptions;
use crate::DECODE_THREADS;

/// Bytes per read and per decoder chunk; the first block is the sample the schema comes from.
const BLOCK: usize = 2 << 20;

/// What loading needs besides the inputs and the output.
pub struct Job<'a> {
    /// Settings of the output files (the schema is filled in here).
    pub options: WriterOptions,
    /// When to roll files (the one pass runs only without limits).
    pub limits: Limits,
    /// Infer timestamps and dates from strings.
    pub detect_time: bool,
    /// `--max-record-bytes`.
    pub max_bytes: usize,
    pub spill_dir: Option<&'a Path>,
    pub bar: Option<&'a ProgressBar>,
    /// One output file (written even when there are no records).
    pub single_file: bool,
    /// Opens the output again after an abandoned pass (which leaves nothing behind).
    pub reopen: &'a dyn Fn() -> Result<Target>,
}

/// What was loaded.
pub struct Loaded {
    /// Records read (rejected ones included).
    pub records: u64,
    /// Rows and bytes written.
    pub rows: u64,
    pub bytes: u64,
    /// The schema inferred.
    pub schema: Schema,
}

/// An input as a plain (uncompressed, seekable) file, and the guard that removes it when it is
/// a spill copy. Line numbers and byte offsets in a copy are those of the input.
type Plain = (InputFile, Option<tempfile::TempPath>);

/// Loads `inputs` into `target`.
pub fn load(
    inputs: &[InputFile],
    target: Target,
    job: &Job,
    rejects: &mut Rejects,
) -> Result<Loaded> {
    let mut plain = Vec::new();
    let mut target = Some(target);
    if job.limits.rows.is_none() && job.limits.bytes.is_none() {
        if let Some(loaded) = one_pass(inputs, &mut target, job, &mut plain, rejects)? {
            return Ok(loaded);
        }
        if let Some(bar) = job.bar {
            bar.reset();
        }
    }
    let target = match target {
        Some(t) => t,
        None => (job.reopen)()?,
    };
    two_passes(inputs, target, job, plain, rejects)
}

/// Tries the one pass. `None` when it was abandoned; `plain` then holds the inputs read so far.
fn one_pass(
    inputs: &[InputFile],
    target: &mut Option<Target>,
    job: &Job,
    plain: &mut Vec<Plain>,
    rejects: &mut Rejects,
) -> Result<Option<Loaded>> {
    let rejected_before = rejects.count();
    let mut writers: Option<(Writers, Schema)> = None;
    let mut fits = true;
    for file in inputs {
        let name = &file.name;
        let read_err = |e| Error::io(format!("cannot read {name}"), e);
        let input = input::open(&file.path, job.bar)?;
        let mut copy = if !rereadable(&file.path, input.compression) {
            Some(spill_file(job.spill_dir)?)
        } else {
            None
        };
        let source: Arc<str> = Arc::from(name.as_str());
        let mut blocks = Blocks::new(input.reader, job.max_bytes);
        while let Some(block) = blocks.next().map_err(read_err)? {
            if let Some(copy) = copy.as_mut() {
                // The copy keeps the input's bytes, so that byte offsets in it are the input's.
                let bom = if block.after_bom { BOM } else { &[] };
                copy.write_all(bom)
                    .and_then(|()| copy.write_all(block.bytes))
                    .map_err(|e| Error::io(format!("cannot write a spill file for {name}"), e))?;
            }
            if !fits {
                if copy.is_none() {
                    break;
                }
                continue;
            }
            if block.longest > job.max_bytes {
                fits = false;
                continue;
            }
            if writers.is_none() {
                let Some(sample) = infer_sample(block.bytes, job.detect_time) else {
                    fits = false;
                    continue;
                };
                let schema = sample.schema();
                let mut options = job.options.clone();
                options.schema = Some(Arc::new(schema.clone()));
                options.sample = Some(sample);
                let target = target.take().expect("the output is opened once here");
                writers = Some((Writers::new(target, options, job.limits), schema));
            }
            let (w, _) = writers.as_mut().expect("started above");
            w.write_block(block.bytes, source.clone(), block.line, block.byte, rejects)?;
            fits = !w.unfit();
        }
        plain.push(match copy {
            Some(copy) => {
                let path = copy.into_temp_path();
                let file = InputFile {
                    name: name.clone(),
                    path: path.to_string_lossy().into_owned(),
                };
                (file, Some(path))
            }
            None => (file.clone(), None),
        });
        if !fits {
            return Ok(None);
        }
    }
    let Some((mut writers, schema)) = writers else {
        return Ok(None);
    };
    writers.drain(rejects)?;
    if writers.unfit() {
        return Ok(None);
    }
    let (rows, bytes) = writers.finish(rejects, job.single_file)?;
    debug_assert_eq!(
        rejects.count(),
        rejected_before,
        "a sampled pass rejects nothing"
    );
    Ok(Some(Loaded {
        records: rows,
        rows,
        bytes,
        schema,
    }))
}

/// Infers a schema from the sample block: `None` unless every record in it is sound and the
/// schema is flat (so that decoding can check the rest against it).
fn infer_sample(block: &[u8], detect_time: bool) -> Option<SchemaInference> {
    let mut inference = SchemaInference::new(detect_time);
    let mut records = 0;
    for line in block.split(|&b| b == b'\n') {
        if is_blank(line) {
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = std::str::from_utf8(line).ok()?;
        if !text.trim_start().starts_with('{') {
            return None;
        }
        inference.add(text).ok()?;
        records += 1;
    }
    let flat = decodes_flat(&Arc::new(inference.schema()));
    (records > 0 && flat).then_some(inference)
}

/// Infers the schema from all of the input on several threads, then writes.
fn two_passes(
    inputs: &[InputFile],
    target: Target,
    job: &Job,
    mut plain: Vec<Plain>,
    rejects: &mut Rejects,
) -> Result<Loaded> {
    for file in &inputs[plain.len()..] {
        plain.push(plain_copy(file, job.spill_dir)?);
    }
    let mut inference = SchemaInference::new(job.detect_time);
    let mut records = 0;
    let mut rejected = Vec::new();
    for (file, _) in &plain {
        let (n, lines) = parallel::infer_file(
            Path::new(&file.path),
            &file.name,
            DECODE_THREADS,
            job.max_bytes,
            job.detect_time,
            &mut inference,
            rejects,
        )?;
        records += n;
        rejected.push(lines);
    }
    let schema = inference.schema();
    let mut options = job.options.clone();
    options.schema = Some(Arc::new(schema.clone()));
    let mut writers = Writers::new(target, options, job.limits);
    let unlimited = job.limits.rows.is_none() && job.limits.bytes.is_none();
    for ((file, _), skip) in plain.iter().zip(&rejected) {
        if skip.is_empty() && unlimited {
            write_blocks(file, job.max_bytes, &mut writers, rejects)?;
            continue;
        }
        for_each_record(
            std::slice::from_ref(file),
            job.max_bytes,
            rejects,
            None,
            Some(std::slice::from_ref(skip)),
            |text, place, rejects| {
                writers.write("", text.as_bytes(), &Vec::new(), place, rejects)?;
                Ok(true)
            },
        )?;
    }
    let (rows, bytes) = writers.finish(rejects, job.single_file)?;
    Ok(Loaded {
        records,
        rows,
        bytes,
        schema,
    })
}

/// Hands a plain NDJSON file to the writers in blocks of whole lines, so decoder threads do
/// the line splitting; used when the inference pass found every record sound.
fn write_blocks(
    file: &InputFile,
    max_bytes: usize,
    writers: &mut Writers,
    rejects: &mut Rejects,
) -> Result<()> {
    let source: Arc<str> = Arc::from(file.name.as_str());
    let reader =
        File::open(&file.path).map_err(|e| Error::io(format!("cannot open {}", file.name), e))?;
    let mut blocks = Blocks::new(reader, max_bytes);
    while let Some(block) = blocks
        .next()
        .map_err(|e| Error::io(format!("cannot read {}", file.name), e))?
    {
        writers.write_block(block.bytes, source.clone(), block.line, block.byte, rejects)?;
    }
    Ok(())
}

/// True for a regular uncompressed file (not stdin, a pipe or `<(…)`): one that reads the
/// same a second time.
fn rereadable(path: &str, compression: Compression) -> bool {
    !is_stdin(path)
        && compression == Compression::None
        && std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// A new spill file in `dir` (or the system's temporary directory).
fn spill_file(dir: Option<&Path>) -> Result<tempfile::NamedTempFile> {
    let builder = tempfile::Builder::new().prefix(".sluice-spill-").clone();
    match dir {
        Some(dir) => builder.tempfile_in(dir),
        None => builder.tempfile(),
    }
    .map_err(|e| Error::io("cannot create a spill file (see --spill-dir)", e))
}

/// The input as a plain file: itself when it is one, else a spill copy.
fn plain_copy(file: &InputFile, spill_dir: Option<&Path>) -> Result<Plain> {
    let mut input = input::open(&file.path, None)?;
    if rereadable(&file.path, input.compression) {
        return Ok((file.clone(), None));
    }
    let mut copy = spill_file(spill_dir)?;
    io::copy(&mut input.reader, copy.as_file_mut())
        .map_err(|e| Error::io(format!("cannot copy {} to a spill file", file.name), e))?;
    let path = copy.into_temp_path();
    let plain = InputFile {
        name: file.name.clone(),
        path: PathBuf::from(&path).to_string_lossy().into_owned(),
    };
    Ok((plain, Some(path)))
}

/// Reads an input in blocks of whole lines.
struct Blocks<R> {
    reader: R,
    buf: Vec<u8>,
    filled: usize,
    /// Length of the block last handed out (dropped from `buf` on the next call).
    handed: usize,
    /// Line number and byte offset where the next block starts.
    line: u64,
    byte: u64,
    /// Lines longer than this end a block early, unsplit (see [`Block::longest`]).
    max_bytes: usize,
    at_end: bool,
}

/// Whole lines of an input (the last line of the input may lack its `\n`).
struct Block<'a> {
    bytes: &'a [u8],
    /// Line number of the first line (1-based) and its byte offset.
    line: u64,
    byte: u64,
    /// The longest line's length without its `\n`: more than the reader's `max_bytes` when a
    /// line too long to read whole was cut.
    longest: usize,
    /// The input's byte order mark was passed over just before this block.
    after_bom: bool,
}

impl<R: Read> Blocks<R> {
    fn new(reader: R, max_bytes: usize) -> Self {
        Blocks {
            reader,
            buf: vec![0; BLOCK],
            filled: 0,
            handed: 0,
            line: 1,
            byte: 0,
            max_bytes,
            at_end: false,
        }
    }

    fn next(&mut self) -> io::Result<Option<Block<'_>>> {
        self.buf.copy_within(self.handed..self.filled, 0);
        self.filled -= self.handed;
        self.handed = 0;
        let cut = loop {
            while !self.at_end && self.filled < self.buf.len() {
                match self.reader.read(&mut self.buf[self.filled..]) {
                    Ok(0) => self.at_end = true,
                    Ok(n) => self.filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.at_end {
                break self.filled;
            }
            match memchr::memrchr(b'\n', &self.buf[..self.filled]) {
                Some(i) => break i + 1,
                // One line fills the buffer: grow it while the line may still be read whole
                // (with room for `\r\n`).
                None if self.buf.len() < self.max_bytes.saturating_add(2) => {
                    let grown = (self.buf.len() * 2).min(self.max_bytes.saturating_add(2));
                    self.buf.resize(grown, 0);
                }
                None => break self.filled,
            }
        };
        if cut == 0 {
            return Ok(None);
        }
        // A byte order mark that starts the input is not part of its first line.
        let skip = if self.byte == 0 && self.buf[..cut].starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        let bytes = &self.buf[skip..cut];
        let cut = cut - skip;
        self.byte += skip as u64;
        self.handed = skip;
        let (mut lines, mut longest, mut start) = (0, 0, 0);
        for end in memchr::memchr_iter(b'\n', bytes) {
            longest = longest.max(end - start);
            start = end + 1;
            lines += 1;
        }
        longest = longest.max(cut - start);
        let block = Block {
            bytes,
            line: self.line,
            byte: self.byte,
            longest,
            after_bom: skip > 0,
        };
        self.line += lines;
        self.byte += cut as u64;
        self.handed += cut;
        Ok(Some(block))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(input: &[u8], buffer: usize, max_bytes: usize) -> Vec<(String, u64, u64, usize)> {
        let mut blocks = Blocks::new(input, max_bytes);
        blocks.buf = vec![0; buffer];
        let mut got = Vec::new();
        while let Some(b) = blocks.next().unwrap() {
            let text = String::from_utf8(b.bytes.to_vec()).unwrap();
            got.push((text, b.line, b.byte, b.longest));
        }
        got
    }

    #[test]
    fn blocks_hold_whole_lines_and_know_where_they_start() {
        let got = blocks(b"ab\ncd\nefgh\nij\nklmnopq\n", 8, 100);
        assert_eq!(
            got,
            [
                ("ab\ncd\n".to_string(), 1, 0, 2),
                ("efgh\nij\n".to_string(), 3, 6, 4),
                ("klmnopq\n".to_string(), 5, 14, 7),
            ]
        );
        assert_eq!(blocks(b"ab\ncd", 8, 100), [("ab\ncd".to_string(), 1, 0, 2)]);
    }

    #[test]
    fn a_byte_order_mark_that_starts_the_input_is_passed_over() {
        let got = blocks(b"\xef\xbb\xbf{}\n{}\n", 16, 100);
        assert_eq!(got, [("{}\n{}\n".to_string(), 1, 3, 2)]);
        let got = blocks(b"{}\n\xef\xbb\xbf{}\n", 4, 100);
        assert_eq!(got[1], ("\u{feff}{}\n".to_string(), 2, 3, 5));
    }

    #[test]
    fn a_long_line_grows_the_buffer_up_to_the_limit() {
        let got = blocks(b"abcdefghij\nk\n", 4, 100);
        assert_eq!(got, [("abcdefghij\nk\n".to_string(), 1, 0, 10)]);
        let got = blocks(b"abcdefghij\nk\n", 4, 5);
        assert!(got[0].3 > 5, "{got:?}");
        let all: String = got.iter().map(|b| b.0.as_str()).collect();
        assert_eq!(all, "abcdefghij\nk\n");
    }
}
