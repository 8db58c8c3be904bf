//! Records set aside by window in bounded memory, then handed back one whole window at a time.
//!
//! Records go to one of [`BUCKETS`] spill files by a hash of their window (a few open files,
//! whatever the number of windows). A bucket then comes back window by window: streamed when it
//! holds one window, sorted in memory when it fits the budget, else split again by another hash
//! (grace hash partitioning). A year of hourly windows in one backfill never holds more than
//! the budget, nor opens more than [`BUCKETS`] files at once.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sluice_stream::error::IoContext;
use sluice_stream::{Error, Result};

/// Spill files per level.
pub const BUCKETS: usize = 64;
/// Levels of splitting before a bucket is sorted in memory whatever its size.
const MAX_DEPTH: u32 = 6;

/// A record as spilled: its window, its event time, what it is and its JSON text.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The start of its window (ms), or its bucket with key compaction.
    pub window: i64,
    /// Its event time (ms), or its --order-by value with key compaction.
    pub time: i64,
    /// What it is.
    pub kind: EntryKind,
    /// The record's JSON text, or a delete's key.
    pub record: &'a [u8],
}

/// What a spilled entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A new record.
    Record,
    /// A record of a lake file being rewritten.
    Lake,
    /// Key compaction: a record matching --delete-when (its key deleted, by its order).
    Delete,
    /// Key compaction: a topic record without a value (its key deleted).
    Tombstone,
}

impl EntryKind {
    fn from_byte(byte: u8) -> Option<Self> {
        [Self::Record, Self::Lake, Self::Delete, Self::Tombstone]
            .get(usize::from(byte))
            .copied()
    }
}

/// The bytes before each spilled record: window, time, kind and length.
const HEAD: usize = 21;

/// Hands over the records of one window, in the order they were spilled.
pub trait WindowRecords {
    /// The next record of the window, or `None` at its end.
    fn next_record(&mut self) -> Result<Option<Entry<'_>>>;
}

struct Bucket {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
    windows: BTreeSet<i64>,
}

/// Spill files of one level, in a directory that is removed when dropped.
pub struct Spill {
    dir: PathBuf,
    level: u32,
    buckets: Vec<Bucket>,
}

impl Spill {
    /// Starts spilling into the directory `dir` (which must exist; it is the caller's to remove).
    pub fn new(dir: &Path) -> Result<Self> {
        Spill::level(dir, 0)
    }

    fn level(dir: &Path, level: u32) -> Result<Self> {
        let mut buckets = Vec::with_capacity(BUCKETS);
        for n in 0..BUCKETS {
            let path = dir.join(format!("{level}-{n}-{}", unique()));
            let file =
                File::create(&path).context(|| format!("cannot create {}", path.display()))?;
            buckets.push(Bucket {
                path,
                out: BufWriter::with_capacity(64 * 1024, file),
                bytes: 0,
                windows: BTreeSet::new(),
            });
        }
        Ok(Spill {
            dir: dir.to_path_buf(),
            level,
            buckets,
        })
    }

    /// Sets a record aside.
    pub fn push(&mut self, entry: Entry<'_>) -> Result<()> {
        let bucket = &mut self.buckets[bucket_of(entry.window, self.level)];
        let len = u32::try_from(entry.record.len())
            .map_err(|_| Error::Other("a record of 4 GiB or more cannot be spilled".into()))?;
        let mut head = [0u8; HEAD];
        head[..8].copy_from_slice(&entry.window.to_le_bytes());
        head[8..16].copy_from_slice(&entry.time.to_le_bytes());
        head[16] = entry.kind as u8;
        head[17..].copy_from_slice(&len.to_le_bytes());
        bucket
            .out
            .write_all(&head)
            .and_then(|()| bucket.out.write_all(entry.record))
            .context(|| format!("cannot write spill file {}", bucket.path.display()))?;
        bucket.bytes += HEAD as u64 + u64::from(len);
        bucket.windows.insert(entry.window);
        Ok(())
    }

    /// Hands every window's records to `visit`, one whole window per call, using at most
    /// `budget` bytes of memory for sorting. Removes the spill files as it goes.
    pub fn drain(
        self,
        budget: u64,
        visit: &mut dyn FnMut(i64, &mut dyn WindowRecords) -> Result<()>,
    ) -> Result<()> {
        // Every file of this level is closed before any is read: a split opens a new level.
        let mut closed = Vec::with_capacity(self.buckets.len());
        for bucket in self.buckets {
            let path = bucket.path;
            bucket.out.into_inner().map_err(|e| {
                Error::io(
                    format!("cannot write spill file {}", path.display()),
                    e.into_error(),
                )
            })?;
            closed.push((path, bucket.bytes, bucket.windows));
        }
        for (path, bytes, windows) in closed {
            let drained =
                drain_bucket(&self.dir, self.level, &path, bytes, &windows, budget, visit);
            let _ = std::fs::remove_file(&path);
            drained?;
        }
        Ok(())
    }
}

fn drain_bucket(
    dir: &Path,
    level: u32,
    path: &Path,
    bytes: u64,
    windows: &BTreeSet<i64>,
    budget: u64,
    visit: &mut dyn FnMut(i64, &mut dyn WindowRecords) -> Result<()>,
) -> Result<()> {
    let open = || File::open(path).context(|| format!("cannot read spill file {}", path.display()));
    match windows.len() {
        0 => Ok(()),
        1 => {
            let mut records = Streamed {
                reader: BufReader::with_capacity(256 * 1024, open()?),
                buf: Vec::new(),
                path,
            };
            visit(windows.first().copied().unwrap_or_default(), &mut records)
        }
        _ if bytes <= budget || level >= MAX_DEPTH => sort_in_memory(open()?, path, visit),
        _ => {
            let mut split = Spill::level(dir, level + 1)?;
            let mut records = Streamed {
                reader: BufReader::with_capacity(256 * 1024, open()?),
                buf: Vec::new(),
                path,
            };
            while let Some(entry) = records.next_entry()? {
                split.push(entry)?;
            }
            split.drain(budget, visit)
        }
    }
}

fn sort_in_memory(
    mut file: File,
    path: &Path,
    visit: &mut dyn FnMut(i64, &mut dyn WindowRecords) -> Result<()>,
) -> Result<()> {
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .context(|| format!("cannot read spill file {}", path.display()))?;
    let mut index: Vec<(i64, usize)> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let (entry, next) = parse_entry(&bytes, at, path)?;
        index.push((entry.window, at));
        at = next;
    }
    // Stable: a window's records keep the order they came in.
    index.sort_by_key(|&(window, _)| window);
    let mut start = 0;
    while start < index.len() {
        let window = index[start].0;
        let end = start + index[start..].partition_point(|&(w, _)| w == window);
        let mut records = InMemory {
            bytes: &bytes,
            offsets: index[start..end].iter().map(|&(_, at)| at).collect(),
            next: 0,
            path,
        };
        visit(window, &mut records)?;
        start = end;
    }
    Ok(())
}

fn parse_entry<'a>(bytes: &'a [u8], at: usize, path: &Path) -> Result<(Entry<'a>, usize)> {
    let corrupt = || {
        Error::Other(format!(
            "spill file {} is cut short or damaged",
            path.display()
        ))
    };
    let head = bytes.get(at..at + HEAD).ok_or_else(corrupt)?;
    let window = i64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    let time = i64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    let kind = EntryKind::from_byte(head[16]).ok_or_else(corrupt)?;
    let len = u32::from_le_bytes(head[17..].try_into().unwrap_or_default()) as usize;
    let record = bytes.get(at + HEAD..at + HEAD + len).ok_or_else(corrupt)?;
    Ok((
        Entry {
            window,
            time,
            kind,
            record,
        },
        at + HEAD + len,
    ))
}

struct Streamed<'p> {
    reader: BufReader<File>,
    buf: Vec<u8>,
    path: &'p Path,
}

impl Streamed<'_> {
    fn next_entry(&mut self) -> Result<Option<Entry<'_>>> {
        let mut head = [0u8; HEAD];
        let path = self.path;
        let read = |e| Error::io(format!("cannot read spill file {}", path.display()), e);
        match self.reader.read_exact(&mut head[..1]) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            other => other.map_err(read)?,
        }
        self.reader.read_exact(&mut head[1..]).map_err(read)?;
        let len = u32::from_le_bytes(head[17..].try_into().unwrap_or_default()) as usize;
        self.buf.resize(HEAD + len, 0);
        self.buf[..HEAD].copy_from_slice(&head);
        self.reader
            .read_exact(&mut self.buf[HEAD..])
            .map_err(read)?;
        parse_entry(&self.buf, 0, path).map(|(entry, _)| Some(entry))
    }
}

impl WindowRecords for Streamed<'_> {
    fn next_record(&mut self) -> Result<Option<Entry<'_>>> {
        self.next_entry()
    }
}

struct InMemory<'a> {
    bytes: &'a [u8],
    offsets: Vec<usize>,
    next: usize,
    path: &'a Path,
}

impl WindowRecords for InMemory<'_> {
    fn next_record(&mut self) -> Result<Option<Entry<'_>>> {
        let Some(&at) = self.offsets.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        parse_entry(self.bytes, at, self.path).map(|(entry, _)| Some(entry))
    }
}

/// The bucket of a window at a level: a different hash at each level, so a bucket too big for
/// memory splits apart.
fn bucket_of(window: i64, level: u32) -> usize {
    let seed = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(u64::from(level) + 1);
    let mixed = (window as u64 ^ seed).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let mixed = (mixed ^ (mixed >> 31)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (mixed >> 58) as usize % BUCKETS
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spill_and_drain(budget: u64, windows: i64, per_window: i64) -> Vec<(i64, Vec<i64>)> {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::new(dir.path()).unwrap();
        for n in 0..windows * per_window {
            let record = format!("{{\"n\":{n}}}");
            spill
                .push(Entry {
                    window: n % windows,
                    time: n,
                    kind: EntryKind::Record,
                    record: record.as_bytes(),
                })
                .unwrap();
        }
        let mut seen = Vec::new();
        spill
            .drain(budget, &mut |window, records| {
                let mut times = Vec::new();
                while let Some(entry) = records.next_record()? {
                    assert_eq!(entry.record, format!("{{\"n\":{}}}", entry.time).as_bytes());
                    times.push(entry.time);
                }
                seen.push((window, times));
                Ok(())
            })
            .unwrap();
        seen.sort();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        seen
    }

    #[test]
    fn every_window_comes_back_whole_and_in_order() {
        for budget in [1 << 30, 200, 1] {
            let seen = spill_and_drain(budget, 500, 7);
            assert_eq!(seen.len(), 500);
            for (window, times) in seen {
                let expected: Vec<i64> = (0..7).map(|k| k * 500 + window).collect();
                assert_eq!(times, expected, "budget {budget}");
            }
        }
    }
}
