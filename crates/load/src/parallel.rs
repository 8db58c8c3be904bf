//! The schema-inference pass over plain files, split across threads by byte range.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use sluice_arrow::infer::SchemaInference;
use sluice_stream::json::is_blank;
use sluice_stream::lines::LineReader;
use sluice_stream::{Error, Position, Rejects, Result};

/// A record the inference pass refused.
struct Bad {
    line: u64,
    byte: u64,
    reason: String,
    raw: Vec<u8>,
    oversize: bool,
}

/// What one byte range taught.
struct RangeResult {
    inference: SchemaInference,
    lines: u64,
    records: u64,
    bad: Vec<Bad>,
}

/// Infers the schema of a plain (uncompressed) NDJSON file on `threads` threads. Bad records
/// go to `rejects` in file order, named `name`; returns the records read and the rejected lines.
pub fn infer_file(
    path: &Path,
    name: &str,
    threads: usize,
    max_bytes: usize,
    detect_time: bool,
    inference: &mut SchemaInference,
    rejects: &mut Rejects,
) -> Result<(u64, Vec<u64>)> {
    let file = File::open(path).map_err(|e| Error::io(format!("cannot open {name}"), e))?;
    let size = file
        .metadata()
        .map_err(|e| Error::io(format!("cannot stat {name}"), e))?
        .len();
    let pieces = if size < (4 << 20) { 1 } else { threads.max(1) };
    let mut bounds = vec![0u64];
    for k in 1..pieces {
        let b = next_line_start(path, size * k as u64 / pieces as u64, size, name)?;
        bounds.push(b.max(*bounds.last().expect("non-empty")));
    }
    bounds.push(size);
    let results: Vec<Result<RangeResult>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (start, end) = (w[0], w[1]);
                scope.spawn(move || infer_range(path, name, start, end, max_bytes, detect_time))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Other("an inference thread panicked".into())))
            })
            .collect()
    });
    let mut records = 0;
    let mut rejected = Vec::new();
    let mut lines_before = 0;
    for result in results {
        let result = result?;
        records += result.records;
        for bad in result.bad {
            let line = lines_before + bad.line;
            rejected.push(line);
            let position = Position {
                source: name.to_string(),
                line: Some(line),
                byte: Some(bad.byte),
                row: None,
            };
            rejects.reject(&position, &bad.reason, &bad.raw, bad.oversize)?;
        }
        lines_before += result.lines;
        inference.merge(result.inference);
    }
    Ok((records, rejected))
}

/// The offset of the first line that starts at or after `at`.
fn next_line_start(path: &Path, at: u64, size: u64, name: &str) -> Result<u64> {
    if at == 0 {
        return Ok(0);
    }
    let mut file = File::open(path).map_err(|e| Error::io(format!("cannot open {name}"), e))?;
    file.seek(SeekFrom::Start(at - 1))
        .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
    let mut reader = BufReader::new(file.take(size - (at - 1)));
    let mut skipped = Vec::new();
    let n = std::io::BufRead::read_until(&mut reader, b'\n', &mut skipped)
        .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
    Ok(at - 1 + n as u64)
}

fn infer_range(
    path: &Path,
    name: &str,
    start: u64,
    end: u64,
    max_bytes: usize,
    detect_time: bool,
) -> Result<RangeResult> {
    let mut file = File::open(path).map_err(|e| Error::io(format!("cannot open {name}"), e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
    let reader = BufReader::with_capacity(1 << 20, file.take(end - start));
    let mut lines = LineReader::new(reader, max_bytes, start);
    let mut result = RangeResult {
        inference: SchemaInference::new(detect_time),
        lines: 0,
        records: 0,
        bad: Vec::new(),
    };
    let mut buf = Vec::with_capacity(4096);
    while let Some(info) = lines
        .next_line(&mut buf)
        .map_err(|e| Error::io(format!("cannot read {name}"), e))?
    {
        result.lines = info.line;
        if !info.oversize && is_blank(&buf) {
            continue;
        }
        result.records += 1;
        let problem = if info.oversize {
            Some(format!(
                "record of {} bytes is longer than --max-record-bytes ({max_bytes})",
                info.len
            ))
        } else {
            match std::str::from_utf8(&buf) {
                Err(e) => Some(format!(
                    "invalid UTF-8 at byte {} of the record",
                    e.valid_up_to()
                )),
                Ok(text) if !text.trim_start().starts_with('{') => {
                    Some(sluice_stream::scan::not_an_object(text.as_bytes()))
                }
                Ok(text) => result.inference.add(text).err(),
            }
        };
        if let Some(reason) = problem {
            result.bad.push(Bad {
                line: info.line,
                byte: info.byte,
                reason,
                raw: buf.clone(),
                oversize: info.oversize,
            });
        }
    }
    Ok(result)
}
