//! Processing NDJSON in blocks of lines on several threads, with results kept in input order.
//!
//! Worker threads take turns reading the inputs into blocks of whole lines and turn each block
//! into an output; the calling thread receives the outputs in input order. A block ends as soon
//! as the input pauses, so a record from an endless pipe (`consume --follow`) is processed when
//! it arrives, not when a block fills up.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;

use crate::error::{Error, Position, Result};
use crate::input;
use crate::json::is_blank;
use crate::lines::{BOM, OVERSIZE_PREFIX};
use crate::progress::{Progress, Show};

/// A block is handed on once it holds this many bytes...
const BLOCK_BYTES: usize = 512 * 1024;
/// ...or as soon as a read returns less than this (the input has nothing more ready).
const SHORT_READ: usize = 32 * 1024;
/// The least room offered to a read.
const MIN_READ: usize = 64 * 1024;

/// Whole lines of one input, in the buffer they were read into.
#[derive(Debug, Default)]
pub struct Block {
    /// The input's name, for messages.
    pub source: Arc<str>,
    /// The bytes read; past `filled` it keeps old bytes, so a reused buffer is not zeroed again.
    data: Vec<u8>,
    /// How many bytes of `data` are in use.
    filled: usize,
    /// The non-blank lines.
    pub lines: Vec<Line>,
    /// The input paused or ended after this block: nothing more was ready. Whoever gathers
    /// records from several blocks writes them out now.
    pub paused: bool,
    /// Bytes read from the (decompressed) input into this block, for `--stats`.
    pub read: u64,
}

/// Where one line is, in its block and in its input.
#[derive(Debug, Clone)]
pub struct Line {
    /// The line's bytes in its block (see [`Block::text`]; only its beginning when `oversize`).
    pub range: Range<usize>,
    /// 1-based line number.
    pub number: u64,
    /// 0-based byte offset in the (decompressed) input.
    pub byte: u64,
    /// The line's full length.
    pub len: u64,
    /// Longer than `--max-record-bytes`: only a prefix is kept.
    pub oversize: bool,
}

impl Block {
    /// The bytes of `line`.
    pub fn text(&self, line: &Line) -> &[u8] {
        &self.data[line.range.clone()]
    }

    /// The position of `line`, for messages and dead letters.
    pub fn position(&self, line: &Line) -> Position {
        Position {
            source: self.source.to_string(),
            line: Some(line.number),
            byte: Some(line.byte),
            row: None,
        }
    }

    fn clear(&mut self) {
        self.filled = 0;
        self.lines.clear();
        self.paused = false;
        self.read = 0;
    }

    /// Starts the empty block with the beginning of a line that an earlier block held.
    fn start_with(&mut self, carried: &[u8]) {
        if self.data.len() < carried.len() {
            self.data.resize(carried.len(), 0);
        }
        self.data[..carried.len()].copy_from_slice(carried);
        self.filled = carried.len();
    }
}

/// The reason to give for an oversize line.
pub fn oversize_reason(line: &Line) -> String {
    format!(
        "record of {} bytes is longer than --max-record-bytes",
        line.len
    )
}

/// Whether to go on after a block's output was handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop now (a limit was reached); the rest of the input is not processed.
    Stop,
}

/// How to read the inputs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Inputs in order; `-` is stdin.
    pub inputs: Vec<String>,
    /// The longest line kept whole.
    pub max_record: usize,
    /// Worker threads (at least one).
    pub workers: usize,
    /// When to show progress.
    pub progress: Show,
}

impl Options {
    /// Reads `inputs` (stdin when empty) with one worker per core.
    pub fn new(inputs: &[String], max_record: usize, progress: Show) -> Self {
        let inputs = if inputs.is_empty() {
            vec!["-".to_string()]
        } else {
            inputs.to_vec()
        };
        let workers = thread::available_parallelism().map_or(1, |n| n.get().min(8));
        Options {
            inputs,
            max_record,
            workers,
            progress,
        }
    }
}

/// Runs `work` (one instance per worker thread, made by `make_worker` on that thread) over every
/// block of the inputs and hands each block with its output to `sink`, in input order.
///
/// Each worker reads its own block (taking turns, so blocks are numbered in input order) and
/// then works on it while the others read: the bytes are still in its core's cache.
/// `work` fills an output that it is handed: outputs go back to the workers once the sink is
/// done with them, so their buffers are reused rather than allocated (and page-faulted) anew.
/// Threads are detached: when `sink` says [`Flow::Stop`] or fails, this returns at once even if
/// a worker is still waiting on a pipe.
pub fn process<O, W, M>(
    options: &Options,
    make_worker: M,
    mut sink: impl FnMut(&Block, &O) -> Result<Flow>,
) -> Result<()>
where
    O: Default + Send + 'static,
    W: FnMut(&Block, &mut O),
    M: Fn() -> W + Send + Sync + 'static,
{
    let inputs = Arc::new(Mutex::new(Inputs::new(options)));
    let (recycle, spare) = channel::<Block>();
    let spare = Arc::new(Mutex::new(spare));
    let (outputs_back, spare_outputs) = channel::<O>();
    let spare_outputs = Arc::new(Mutex::new(spare_outputs));
    let make_worker = Arc::new(make_worker);
    let (results_in, results) = sync_channel::<(u64, Result<(Block, O)>)>(options.workers * 2);
    for _ in 0..options.workers.max(1) {
        let inputs = Arc::clone(&inputs);
        let spare = Arc::clone(&spare);
        let spare_outputs = Arc::clone(&spare_outputs);
        let make_worker = Arc::clone(&make_worker);
        let results_in = results_in.clone();
        thread::spawn(move || {
            // A panic must not lose a block silently: it becomes this block's error.
            let mut work = panic::catch_unwind(AssertUnwindSafe(|| make_worker())).ok();
            loop {
                let block = spare
                    .lock()
                    .ok()
                    .and_then(|s| s.try_recv().ok())
                    .unwrap_or_default();
                let next = inputs.lock().ok().and_then(|mut i| i.next_block(block));
                let Some((seq, block)) = next else { return };
                let result = block.and_then(|block| {
                    let mut out = spare_outputs
                        .lock()
                        .ok()
                        .and_then(|s| s.try_recv().ok())
                        .unwrap_or_default();
                    let work = work.as_mut().ok_or_else(worker_failed)?;
                    panic::catch_unwind(AssertUnwindSafe(|| work(&block, &mut out)))
                        .map_err(|_| worker_failed())?;
                    Ok((block, out))
                });
                if result.is_err() {
                    work = None;
                }
                if results_in.send((seq, result)).is_err() {
                    return;
                }
            }
        });
    }
    drop(results_in);

    let mut pending = BTreeMap::new();
    let mut next = 0u64;
    for (seq, result) in results {
        pending.insert(seq, result);
        while let Some(result) = pending.remove(&next) {
            next += 1;
            let (block, out) = result?;
            let flow = sink(&block, &out)?;
            let _ = recycle.send(block);
            let _ = outputs_back.send(out);
            if flow == Flow::Stop {
                return Ok(());
            }
        }
    }
    // A block handed out that never came back means a worker died.
    let handed_out = inputs.lock().map_or(u64::MAX, |i| i.seq);
    if pending.is_empty() && handed_out == next {
        Ok(())
    } else {
        Err(worker_failed())
    }
}

fn worker_failed() -> Error {
    Error::Other("internal error: a worker thread failed (this is a bug; please report it)".into())
}

/// The inputs, read a block at a time by whichever worker is free.
struct Inputs {
    /// Inputs not yet opened, in order.
    names: std::collections::VecDeque<String>,
    max_record: usize,
    progress: Progress,
    /// The input being read, its name, and its lines.
    reader: Option<Box<dyn input::PeekRead>>,
    source: Arc<str>,
    lines: LineFinder,
    /// The start of a line that the next block continues.
    carried: Vec<u8>,
    /// An error to report after the block read before it.
    error: Option<Error>,
    /// Nothing more is to be read (the end, or an error).
    done: bool,
    /// Blocks handed out so far: the next block's number.
    seq: u64,
}

impl Inputs {
    fn new(options: &Options) -> Self {
        Inputs {
            names: options.inputs.iter().cloned().collect(),
            max_record: options.max_record,
            progress: Progress::for_inputs(options.progress, &options.inputs),
            reader: None,
            source: Arc::from(""),
            lines: LineFinder::new(options.max_record),
            carried: Vec::new(),
            error: None,
            done: false,
            seq: 0,
        }
    }

    /// Reads the next block into `block`, numbered; `None` when all is read.
    fn next_block(&mut self, mut block: Block) -> Option<(u64, Result<Block>)> {
        let result = self.read_block(&mut block)?.map(|()| block);
        let seq = self.seq;
        self.seq += 1;
        Some((seq, result))
    }

    fn read_block(&mut self, block: &mut Block) -> Option<Result<()>> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        loop {
            if self.done {
                return None;
            }
            let reader = match &mut self.reader {
                Some(reader) => reader,
                None => {
                    let Some(name) = self.names.pop_front() else {
                        self.done = true;
                        self.progress.clear();
                        return None;
                    };
                    match input::open(&name, self.progress.bar()) {
                        Ok(input) => {
                            self.source = Arc::from(name.as_str());
                            self.lines = LineFinder::new(self.max_record);
                            self.carried.clear();
                            self.reader.insert(input.reader)
                        }
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
            };
            block.clear();
            block.source = Arc::clone(&self.source);
            block.start_with(&self.carried);
            loop {
                let read = self.lines.read(reader, block);
                if let Ok(n) = read {
                    block.read += n as u64;
                }
                match read {
                    Ok(0) => {
                        self.lines.finish(block);
                        self.reader = None;
                        block.paused = true;
                        if block.lines.is_empty() {
                            break;
                        }
                        return Some(Ok(()));
                    }
                    Ok(n) if !block.lines.is_empty() => {
                        // Handed on when full, or when the input pauses: a short read, or a
                        // long one after which the pipe stays quiet.
                        block.paused =
                            block.filled < BLOCK_BYTES && (n < SHORT_READ || !reader.more_soon());
                        if block.filled >= BLOCK_BYTES || block.paused {
                            self.lines.carry_out(block, &mut self.carried);
                            return Some(Ok(()));
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.done = true;
                        let name = &self.source;
                        let e = Error::io(format!("cannot read {name}"), e);
                        if block.lines.is_empty() {
                            return Some(Err(e));
                        }
                        block.paused = true;
                        self.error = Some(e);
                        return Some(Ok(()));
                    }
                }
            }
        }
    }
}

/// Reads an input straight into blocks and finds its lines where they lie, so a line is copied
/// only when it continues in the next block (or follows only blank lines); cuts oversize lines
/// down to a prefix.
struct LineFinder {
    max: usize,
    /// Lines seen so far.
    number: u64,
    /// Where the line not yet ended starts in the current block's data...
    start: usize,
    /// ...and in the input.
    start_byte: u64,
    /// Bytes of that line dropped because it is oversize (only its prefix is kept).
    dropped: u64,
}

impl LineFinder {
    fn new(max: usize) -> Self {
        LineFinder {
            max,
            number: 0,
            start: 0,
            start_byte: 0,
            dropped: 0,
        }
    }

    /// Reads once into `block` and adds the lines that ended; the bytes read (0 at the end).
    fn read(&mut self, reader: &mut impl Read, block: &mut Block) -> io::Result<usize> {
        if block.lines.is_empty() && self.start > 0 {
            // Only blank lines so far: drop them rather than let the block grow.
            block.data.copy_within(self.start..block.filled, 0);
            block.filled -= self.start;
            self.start = 0;
        }
        let want = BLOCK_BYTES.max(block.filled + MIN_READ);
        if block.data.len() < want {
            block.data.resize(want, 0);
        }
        let n = reader.read(&mut block.data[block.filled..want])?;
        let mut from = block.filled;
        block.filled += n;
        while let Some(i) = memchr::memchr(b'\n', &block.data[from..block.filled]) {
            self.end_line(block, from + i);
            from += i + 1;
        }
        // Room for a line at the limit plus its `\r`; beyond that only a prefix is kept.
        let kept = block.filled - self.start;
        if kept as u64 + self.dropped > self.max.saturating_add(1) as u64 {
            let prefix = OVERSIZE_PREFIX.min(self.max);
            if kept > prefix {
                self.dropped += (kept - prefix) as u64;
                block.filled = self.start + prefix;
            }
        }
        Ok(n)
    }

    /// Ends the input: its last line needs no terminator.
    fn finish(&mut self, block: &mut Block) {
        if block.filled > self.start || self.dropped > 0 {
            self.end_line(block, block.filled);
        }
    }

    /// Adds the line from `start` to the terminator at `end` (`len` counts dropped bytes).
    fn end_line(&mut self, block: &mut Block, end: usize) {
        self.number += 1;
        let mut len = (end - self.start) as u64 + self.dropped;
        let mut byte = self.start_byte;
        let mut start = self.start;
        self.start_byte += len + 1;
        self.start = end + 1;
        self.dropped = 0;
        if byte == 0 && block.data[start..end].starts_with(BOM) {
            start += BOM.len();
            byte += BOM.len() as u64;
            len -= BOM.len() as u64;
        }
        let mut text_end = end;
        // The kept bytes are the whole line unless it is longer than the limit plus a `\r`.
        let whole = len <= self.max.saturating_add(1) as u64;
        if whole && end > start && block.data[end - 1] == b'\r' {
            text_end -= 1;
            len -= 1;
        }
        let oversize = len > self.max as u64;
        if oversize {
            text_end = start + (text_end - start).min(OVERSIZE_PREFIX.min(self.max));
        } else if is_blank(&block.data[start..text_end]) {
            return;
        }
        block.lines.push(Line {
            range: start..text_end,
            number: self.number,
            byte,
            len,
            oversize,
        });
    }

    /// Moves the line not yet ended from the end of `full` to `carried`.
    fn carry_out(&mut self, full: &mut Block, carried: &mut Vec<u8>) {
        carried.clear();
        carried.extend_from_slice(&full.data[self.start..full.filled]);
        full.filled = self.start;
        self.start = 0;
    }
}

/// What a worker made of one block: records for stdout, records routed elsewhere, and the
/// records it rejected, each placed among the others so they are handled in input order.
#[derive(Debug, Default)]
pub struct Output {
    /// Records for stdout, each ending with `\n`.
    pub lines: Vec<u8>,
    /// How many records `lines` holds.
    pub records: u64,
    /// Records for the second output (`filter --rejected`), each ending with `\n`.
    pub routed: Vec<u8>,
    /// For each record in `lines`, the length of `routed` when it was added.
    pub routed_before: Vec<usize>,
    /// Rejected records, in order.
    pub rejected: Vec<Rejected>,
}

/// One rejected record and how much output came before it.
#[derive(Debug)]
pub struct Rejected {
    /// Index of the record in [`Block::lines`].
    pub line: usize,
    /// Length of [`Output::lines`] when it was rejected.
    pub lines_len: usize,
    /// Length of [`Output::routed`] when it was rejected.
    pub routed_len: usize,
    /// Why.
    pub reason: String,
}

impl Output {
    /// Empties the output, keeping its buffers.
    pub fn clear(&mut self) {
        self.lines.clear();
        self.records = 0;
        self.routed.clear();
        self.routed_before.clear();
        self.rejected.clear();
    }

    /// Adds a record (without its newline) for stdout.
    pub fn push(&mut self, record: &[u8]) {
        self.routed_before.push(self.routed.len());
        self.lines.extend_from_slice(record);
        self.lines.push(b'\n');
        self.records += 1;
    }

    /// Adds a record (without its newline) for the second output.
    pub fn route(&mut self, record: &[u8]) {
        self.routed.extend_from_slice(record);
        self.routed.push(b'\n');
    }

    /// Rejects the record at `line` of the block.
    pub fn reject(&mut self, line: usize, reason: String) {
        self.rejected.push(Rejected {
            line,
            lines_len: self.lines.len(),
            routed_len: self.routed.len(),
            reason,
        });
    }
}

/// Delivers [`Output`]s in order: records to stdout (up to a limit), routed records to a
/// second writer, rejected records to the `--on-error` policy.
pub struct Delivery<'a> {
    /// Where records go.
    pub out: &'a mut crate::output::StdoutWriter,
    /// Where routed records go, if anywhere.
    pub routed: Option<&'a mut dyn std::io::Write>,
    /// The policy for rejected records.
    pub rejects: &'a mut crate::Rejects,
    /// Stop after writing this many records.
    pub limit: Option<u64>,
}

impl Delivery<'_> {
    /// Handles one block's output and flushes stdout; [`Flow::Stop`] once the limit is reached
    /// (then nothing after the last record written is routed or rejected either).
    pub fn deliver(&mut self, block: &Block, output: &Output) -> Result<Flow> {
        let mut end = (output.lines.len(), output.routed.len());
        let mut flow = Flow::Continue;
        if let Some(limit) = self.limit {
            let room = limit.saturating_sub(self.out.records());
            if room == 0 {
                return Ok(Flow::Stop);
            }
            if output.records >= room {
                let last = room as usize - 1;
                let lines_end = memchr::memchr_iter(b'\n', &output.lines)
                    .nth(last)
                    .map_or(output.lines.len(), |i| i + 1);
                end = (lines_end, output.routed_before[last]);
                flow = Flow::Stop;
            }
        }
        let (mut lines_at, mut routed_at) = (0, 0);
        for rejected in &output.rejected {
            if flow == Flow::Stop && rejected.lines_len >= end.0 {
                break;
            }
            self.write(&output.lines[lines_at..rejected.lines_len])?;
            self.write_routed(&output.routed[routed_at..rejected.routed_len])?;
            (lines_at, routed_at) = (rejected.lines_len, rejected.routed_len);
            let line = &block.lines[rejected.line];
            self.rejects.reject(
                &block.position(line),
                &rejected.reason,
                block.text(line),
                line.oversize,
            )?;
        }
        self.write(&output.lines[lines_at..end.0])?;
        self.write_routed(&output.routed[routed_at..end.1.max(routed_at)])?;
        // A block ends where the input paused: pass its records on now, so a stream from
        // `consume --follow` is not held back in a buffer.
        self.out.flush()?;
        if block.paused {
            if let Some(routed) = self.routed.as_mut() {
                routed
                    .flush()
                    .map_err(|e| Error::io("cannot write the routed records", e))?;
            }
        }
        Ok(flow)
    }

    fn write(&mut self, lines: &[u8]) -> Result<()> {
        let count = memchr::memchr_iter(b'\n', lines).count() as u64;
        self.out.write_chunk(lines, count)
    }

    fn write_routed(&mut self, lines: &[u8]) -> Result<()> {
        match self.routed.as_mut() {
            Some(w) => w
                .write_all(lines)
                .map_err(|e| Error::io("cannot write the routed records", e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives one chunk per read.
    struct Chunks<'a>(Vec<&'a [u8]>);

    impl Read for Chunks<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let Some(chunk) = self.0.first_mut() else {
                return Ok(0);
            };
            let n = chunk.len().min(out.len());
            out[..n].copy_from_slice(&chunk[..n]);
            *chunk = &chunk[n..];
            if chunk.is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    /// The lines found in `chunks`, read one per read; the same whether or not a new block
    /// starts after every read.
    fn split(chunks: &[&[u8]], max: usize) -> Vec<(String, Line)> {
        let mut results = Vec::new();
        for new_blocks in [false, true] {
            let mut finder = LineFinder::new(max);
            let mut reader = Chunks(chunks.to_vec());
            let mut block = Block::default();
            let mut found = Vec::new();
            let mut take = |block: &Block| {
                found.extend(block.lines.iter().map(|l| {
                    (
                        String::from_utf8_lossy(block.text(l)).into_owned(),
                        l.clone(),
                    )
                }))
            };
            while finder.read(&mut reader, &mut block).unwrap() > 0 {
                if new_blocks {
                    let mut carried = Vec::new();
                    finder.carry_out(&mut block, &mut carried);
                    take(&block);
                    block.clear();
                    block.start_with(&carried);
                }
            }
            finder.finish(&mut block);
            take(&block);
            results.push(found);
        }
        let (whole, in_blocks) = (&results[0], &results[1]);
        assert_eq!(whole.len(), in_blocks.len());
        for (a, b) in whole.iter().zip(in_blocks) {
            assert_eq!(
                (&a.0, a.1.number, a.1.byte, a.1.len),
                (&b.0, b.1.number, b.1.byte, b.1.len)
            );
            assert_eq!(a.1.oversize, b.1.oversize);
        }
        results.swap_remove(0)
    }

    #[test]
    fn lines_span_chunks_and_blank_lines_are_skipped() {
        let got = split(&[b"{\"a\"", b":1}\r\n\n  \n{}", b"\n{\"b\":2}"], 100);
        let texts: Vec<&str> = got.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["{\"a\":1}", "{}", "{\"b\":2}"]);
        assert_eq!(got[0].1.number, 1);
        assert_eq!(got[1].1.number, 4);
        assert_eq!(got[1].1.byte, 13);
        assert_eq!(got[2].1.number, 5);
        assert_eq!(got[2].1.byte, 16);
    }

    #[test]
    fn a_byte_order_mark_is_passed_over_only_at_the_start() {
        let got = split(&[b"\xef\xbb", b"\xbf{}\r\n\xef\xbb\xbf{}\n"], 100);
        assert_eq!(got[0].0, "{}");
        assert_eq!((got[0].1.byte, got[0].1.len), (3, 2));
        assert_eq!(got[1].0, "\u{feff}{}");
        assert_eq!(got[1].1.byte, 7);
        let blank = split(&[b"\xef\xbb\xbf\n{}"], 100);
        assert_eq!(blank.len(), 1);
        assert_eq!(blank[0].1.number, 2);
    }

    #[test]
    fn oversize_lines_keep_a_prefix_and_their_length() {
        let got = split(&[b"0123", b"456789\nok\n"], 4);
        assert!(got[0].1.oversize);
        assert_eq!(got[0].1.len, 10);
        assert_eq!(got[0].0, "0123");
        assert_eq!(got[1].0, "ok");
        assert!(!got[1].1.oversize);
    }

    #[test]
    fn a_line_at_the_limit_with_crlf_is_whole() {
        for chunks in [
            &[&b"0123456789\r\nab\r\n"[..]][..],
            &[b"01234", b"56789\r", b"\nab\r\n"],
        ] {
            let got = split(chunks, 10);
            assert_eq!(got[0].0, "0123456789");
            assert!(!got[0].1.oversize);
            assert_eq!(got[1].0, "ab");
        }
        let got = split(&[b"0123456789x\r\n"], 10);
        assert!(got[0].1.oversize);
    }

    #[test]
    fn long_lines_span_reads_and_blocks() {
        let long = vec![b'x'; 700_000];
        let text = [&b"{}\n"[..], &long, b"\n", &long, b"\r\n{}"].concat();
        let chunks: Vec<&[u8]> = text.chunks(50_000).collect();
        let shape = |max| -> Vec<(usize, u64, bool, u64, u64)> {
            split(&chunks, max)
                .iter()
                .map(|(t, l)| (t.len(), l.len, l.oversize, l.number, l.byte))
                .collect()
        };
        assert_eq!(
            shape(700_000),
            [
                (2, 2, false, 1, 0),
                (700_000, 700_000, false, 2, 3),
                (700_000, 700_000, false, 3, 700_004),
                (2, 2, false, 4, 1_400_006)
            ]
        );
        assert_eq!(
            shape(600_000),
            [
                (2, 2, false, 1, 0),
                (OVERSIZE_PREFIX, 700_000, true, 2, 3),
                (OVERSIZE_PREFIX, 700_001, true, 3, 700_004),
                (2, 2, false, 4, 1_400_006)
            ]
        );
    }

    #[test]
    fn a_run_of_blank_lines_does_not_grow_the_block() {
        let text = [vec![b'\n'; 3_000_000], b" \r\n{}\n".to_vec()].concat();
        let mut finder = LineFinder::new(1 << 20);
        let mut reader = &text[..];
        let mut block = Block::default();
        while finder.read(&mut reader, &mut block).unwrap() > 0 {}
        finder.finish(&mut block);
        let line = &block.lines[..];
        assert_eq!(line.len(), 1);
        assert_eq!((line[0].number, line[0].byte), (3_000_002, 3_000_003));
        assert_eq!(block.text(&line[0]), b"{}");
        assert!(
            block.data.len() <= BLOCK_BYTES + MIN_READ,
            "{}",
            block.data.len()
        );
    }

    #[test]
    fn inputs_follow_one_another_and_a_missing_one_fails_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.ndjson");
        let b = dir.path().join("b.ndjson");
        std::fs::write(&a, "{\"a\":1}\n{\"a\":2}").unwrap();
        std::fs::write(&b, "\n{\"b\":1}\n").unwrap();
        let names: Vec<String> = [&a, &b, &dir.path().join("missing")]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let mut seen = Vec::new();
        let result = process(
            &Options::new(&names, 1 << 20, Show::Never),
            || {
                |block: &Block, lines: &mut Vec<(String, u64)>| {
                    lines.clear();
                    lines.extend(block.lines.iter().map(|l| {
                        (
                            String::from_utf8_lossy(block.text(l)).into_owned(),
                            l.number,
                        )
                    }));
                }
            },
            |_, lines| {
                seen.extend_from_slice(lines);
                Ok(Flow::Continue)
            },
        );
        let seen: Vec<(&str, u64)> = seen.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        assert_eq!(seen, [("{\"a\":1}", 1), ("{\"a\":2}", 2), ("{\"b\":1}", 2)]);
        assert!(result.unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn outputs_arrive_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.ndjson");
        let text: String = (0..50_000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let mut options = Options::new(&[path.display().to_string()], 1 << 20, Show::Never);
        options.workers = 3;
        let mut seen = Vec::new();
        process(
            &options,
            || {
                |block: &Block, numbers: &mut Vec<u64>| {
                    numbers.clear();
                    numbers.extend(block.lines.iter().map(|l| l.number));
                }
            },
            |_, numbers| {
                seen.extend_from_slice(numbers);
                Ok(Flow::Continue)
            },
        )
        .unwrap();
        assert_eq!(seen, (1..=50_000).collect::<Vec<u64>>());
    }
}
