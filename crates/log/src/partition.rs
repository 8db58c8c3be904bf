//! A partition: a directory of segment files, each `BASE.log` (records), `BASE.index` (offset
//! → position every few KiB) and `BASE.timeindex` (largest timestamp so far → position).
//!
//! Writers hold an exclusive lock on the partition while they append a batch, and first
//! recover the active segment: a torn tail left by a crash (bytes at the end that are not whole
//! records) is truncated away. Readers take no lock and stop at the first incomplete record, so
//! they never see a torn or partial record. Damage with whole records after it (a record that
//! fails its checksum) is skipped over by both: readers report it ([`Damaged`]), writers keep
//! what follows it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::record::{check_frame, framed_len, Batch, Record, RecordView, FRAME};

/// Write an index entry every this many bytes of records.
const INDEX_INTERVAL: u64 = 4096;
/// Bytes of one offset-index entry: relative offset u32, position u32.
const INDEX_ENTRY: usize = 8;
/// Bytes of one time-index entry: timestamp i64, relative offset u32, position u32.
const TIME_ENTRY: usize = 16;

/// When segments roll.
#[derive(Debug, Clone, Copy)]
pub struct Rolling {
    /// Start a new segment once the active one holds this many bytes.
    pub segment_bytes: u64,
    /// Start a new segment before a record whose timestamp is this much (ms) later than the
    /// active segment's first record's.
    pub segment_ms: i64,
}

/// One partition's directory.
#[derive(Debug)]
pub struct Partition {
    dir: PathBuf,
    /// The active segment's end after this process's last append: still right when the file
    /// has not grown since (no other writer appended), which saves a recovery scan per batch.
    tail: std::sync::Mutex<Option<Tail>>,
}

/// The state of the active segment's end, as recovered under the lock.
#[derive(Debug, Clone, Copy)]
struct Tail {
    base: u64,
    len: u64,
    next_offset: u64,
    last_index_pos: u64,
    max_timestamp: i64,
    first_timestamp: Option<i64>,
}

/// What `describe` tells about a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub start_offset: u64,
    pub end_offset: u64,
    pub bytes: u64,
    pub segments: usize,
    pub oldest_timestamp: Option<i64>,
    pub newest_timestamp: Option<i64>,
}

pub(crate) fn segment_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

impl Partition {
    /// The partition stored in `dir`, made with its topic: one that is gone was deleted, and
    /// is not made again by writing to it.
    pub fn open(dir: &Path) -> io::Result<Self> {
        if !dir.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} does not exist: was the topic deleted?", dir.display()),
            ));
        }
        Ok(Partition {
            dir: dir.to_path_buf(),
            tail: std::sync::Mutex::new(None),
        })
    }

    /// The directory holding the partition's segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Base offsets of the segments, oldest first.
    pub fn segments(&self) -> io::Result<Vec<u64>> {
        list_segments(&self.dir)
    }

    /// Takes the partition's write lock (released when the file is dropped; also when the
    /// process dies).
    pub(crate) fn lock(&self) -> io::Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join(".lock"))?;
        file.lock()?;
        Ok(file)
    }

    /// Appends a batch of records, rolling to a new segment where the active one is full or
    /// spans more than `segment_ms` of record time (the new record's timestamp minus the
    /// segment's first, as Kafka rolls); with `sync`, fsyncs before returning. Returns the
    /// first offset written.
    ///
    /// When a write fails (a full disk), the log keeps the records that made it whole, which
    /// readers may already have seen, and cuts off the rest; the error tells how many were
    /// kept, so that nothing is written twice when the caller goes on.
    pub fn append(
        &self,
        batch: &mut Batch,
        rolling: Rolling,
        sync: bool,
    ) -> Result<u64, AppendError> {
        let failed = |written, source| AppendError { written, source };
        let _lock = self.lock().map_err(|e| failed(0, e))?;
        let cached = *self.tail.lock().unwrap_or_else(|e| e.into_inner());
        // Still the active segment (the cleaner rewrites only closed ones), of the same size.
        let still_valid = cached.filter(|t| {
            fs::metadata(segment_path(&self.dir, t.base, "log")).is_ok_and(|m| m.len() == t.len)
                && list_segments(&self.dir).is_ok_and(|s| s.last() == Some(&t.base))
        });
        let mut tail = match still_valid {
            Some(t) => t,
            None => self.recover_tail().map_err(|e| failed(0, e))?,
        };
        // Until the batch is written, the cached end is not to be trusted.
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let first = tail.next_offset;
        let mut done = 0;
        while done < batch.len() {
            let (start, end, timestamp) = batch.record(done);
            // As in Kafka, a segment rolls before a record that would take it past its size.
            if tail.len > 0
                && (tail.len + (end - start) as u64 > rolling.segment_bytes
                    || spans_too_long(&tail, timestamp, rolling))
            {
                tail = Tail {
                    base: tail.next_offset,
                    len: 0,
                    next_offset: tail.next_offset,
                    last_index_pos: 0,
                    max_timestamp: i64::MIN,
                    first_timestamp: None,
                };
            }
            done = self
                .append_run(&mut tail, batch, done, rolling, sync)
                .map_err(|(written, e)| failed(written, e))?;
        }
        *self.tail.lock().unwrap_or_else(|e| e.into_inner()) = Some(tail);
        Ok(first)
    }

    /// Writes records from `from` on to the active segment until it is full (at least one);
    /// returns the index of the first record not written. On failure, returns the index of
    /// the first record not in the log, having cut off any part of one.
    fn append_run(
        &self,
        tail: &mut Tail,
        batch: &mut Batch,
        from: usize,
        rolling: Rolling,
        sync: bool,
    ) -> Result<usize, (usize, io::Error)> {
        let before = *tail;
        let mut entries = IndexBuilder {
            base: tail.base,
            last_pos: tail.last_index_pos,
            max_timestamp: tail.max_timestamp,
            index: Vec::new(),
            time_index: Vec::new(),
        };
        let run_start = batch.record(from).0;
        let mut to = from;
        while to < batch.len() {
            let (start, end, timestamp) = batch.record(to);
            let position = tail.len + (start - run_start) as u64;
            let end = tail.len + (end - run_start) as u64;
            if to > from
                && (end > rolling.segment_bytes || spans_too_long(tail, timestamp, rolling))
            {
                break;
            }
            let offset = tail.next_offset;
            tail.first_timestamp.get_or_insert(timestamp);
            entries.add(offset, position, timestamp);
            tail.max_timestamp = entries.max_timestamp;
            tail.last_index_pos = entries.last_pos;
            batch.seal(to, offset);
            tail.next_offset += 1;
            to += 1;
        }
        let bytes = batch.bytes(from, to);
        let log_path = segment_path(&self.dir, tail.base, "log");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| (from, e))?;
        if let Err(e) = log.write_all(bytes) {
            // Under the lock nobody else appends: what the file grew by is what was written.
            // Should even that be unknown, the next writer's recovery cuts what is torn.
            let kept = match log.metadata() {
                Ok(m) => {
                    let grown = m.len().saturating_sub(before.len) as usize;
                    self.cut_run(&log, &before, batch, (from, to), grown, sync)
                }
                Err(_) => from,
            };
            return Err((kept, e));
        }
        tail.len += bytes.len() as u64;
        // The records are in the log from here on: a failure to index them loses nothing
        // (readers scan from an earlier entry), but is still reported.
        for (ext, data, entry) in [
            ("index", &entries.index, INDEX_ENTRY),
            ("timeindex", &entries.time_index, TIME_ENTRY),
        ] {
            append_entries(&segment_path(&self.dir, tail.base, ext), data, entry, sync)
                .map_err(|e| (to, e))?;
        }
        if sync {
            log.sync_data().map_err(|e| (to, e))?;
            if before.len == 0 {
                File::open(&self.dir)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| (to, e))?;
            }
        }
        Ok(to)
    }

    /// After a failed write of records `from..to` of which `written` bytes reached `log`:
    /// keeps the whole records among them and cuts off the rest. The file stays, even empty:
    /// a reader may have it open already, and the next writer goes on in it. Returns the index
    /// of the first record not kept.
    fn cut_run(
        &self,
        log: &File,
        before: &Tail,
        batch: &Batch,
        (from, to): (usize, usize),
        written: usize,
        sync: bool,
    ) -> usize {
        let run_start = batch.record(from).0;
        let kept = (from..to)
            .take_while(|&i| batch.record(i).1 - run_start <= written)
            .count();
        let keep_bytes = if kept == 0 {
            0
        } else {
            batch.record(from + kept - 1).1 - run_start
        };
        // Should cutting fail, the next writer's recovery cuts the torn record off; the
        // records kept are reported written, so they are made as durable as asked.
        let _ = log.set_len(before.len + keep_bytes as u64);
        if sync {
            let _ = log.sync_data();
        }
        from + kept
    }

    /// Finds the end of the active segment, truncating a torn tail (call under the lock).
    fn recover_tail(&self) -> io::Result<Tail> {
        let Some(&base) = self.segments()?.last() else {
            return Ok(Tail {
                base: 0,
                len: 0,
                next_offset: 0,
                last_index_pos: 0,
                max_timestamp: i64::MIN,
                first_timestamp: None,
            });
        };
        let scan = self.scan_tail(base)?;
        let log_path = segment_path(&self.dir, base, "log");
        let file_len = fs::metadata(&log_path)?.len();
        if scan.len < file_len {
            OpenOptions::new()
                .write(true)
                .open(&log_path)?
                .set_len(scan.len)?;
        }
        // Index entries past the valid end point at nothing: drop them.
        for (ext, size) in [("index", INDEX_ENTRY), ("timeindex", TIME_ENTRY)] {
            let path = segment_path(&self.dir, base, ext);
            let entries = read_entries(&path, size)?;
            let keep = entries
                .iter()
                .take_while(|e| {
                    u64::from(u32::from_le_bytes(e[size - 4..].try_into().expect("4")))
                        < scan.len.max(1)
                })
                .count();
            if keep < entries.len() {
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len((keep * size) as u64)?;
            }
        }
        Ok(scan)
    }

    /// Scans a segment from its last index entry to the last whole record.
    fn scan_tail(&self, base: u64) -> io::Result<Tail> {
        let index = read_entries(&segment_path(&self.dir, base, "index"), INDEX_ENTRY)?;
        let times = read_entries(&segment_path(&self.dir, base, "timeindex"), TIME_ENTRY)?;
        let log_path = segment_path(&self.dir, base, "log");
        let file_len = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0);
        let usable = index
            .iter()
            .rev()
            .map(|e| entry_u32(e, 0, 4) as u64)
            .zip(index.iter().rev().map(|e| entry_u32(e, 4, 8) as u64))
            .find(|&(_, pos)| pos < file_len);
        let (start_pos, last_index_pos) = usable.map_or((0, 0), |(_, pos)| (pos, pos));
        let mut file = File::open(&log_path)?;
        file.seek(SeekFrom::Start(start_pos))?;
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)?;
        let mut pos = 0usize;
        let mut next_offset = base + usable.map_or(0, |(rel, _)| rel);
        let mut max_timestamp = times.last().map_or(i64::MIN, |e| {
            i64::from_le_bytes(e[..8].try_into().expect("8"))
        });
        let mut first_timestamp = None;
        loop {
            let (record, used) = match Record::decode(&rest[pos..]) {
                Ok(Some(decoded)) => decoded,
                // Damage with whole records after it is kept, as readers skip it; only a torn
                // tail (no whole record after it) is cut off.
                _ => match next_whole_record(&rest[pos..], next_offset) {
                    Some((at, _)) => {
                        pos += at;
                        continue;
                    }
                    None => break,
                },
            };
            if start_pos == 0 && pos == 0 {
                first_timestamp = Some(record.timestamp);
            }
            max_timestamp = max_timestamp.max(record.timestamp);
            next_offset = record.offset + 1;
            pos += used;
        }
        if start_pos > 0 {
            first_timestamp = self.first_timestamp(base)?;
        }
        Ok(Tail {
            base,
            len: start_pos + pos as u64,
            next_offset,
            last_index_pos,
            max_timestamp,
            first_timestamp,
        })
    }

    fn first_timestamp(&self, base: u64) -> io::Result<Option<i64>> {
        let mut file = File::open(segment_path(&self.dir, base, "log"))?;
        let mut frame = [0u8; FRAME];
        if file.read_exact(&mut frame).is_err() {
            return Ok(None);
        }
        let len = framed_len(&frame);
        // A damaged length must not make us read (or allocate) past the file.
        if len as u64 > file.metadata()?.len() {
            return Ok(None);
        }
        let mut head = frame.to_vec();
        head.resize(len, 0);
        if file.read_exact(&mut head[FRAME..]).is_err() {
            return Ok(None);
        }
        Ok(Record::decode(&head)
            .ok()
            .flatten()
            .map(|(r, _)| r.timestamp))
    }

    /// The offset the next record will get (the log end offset).
    pub fn end_offset(&self) -> io::Result<u64> {
        match self.segments()?.last() {
            Some(&base) => Ok(self.scan_tail(base)?.next_offset),
            None => Ok(0),
        }
    }

    /// The first offset still stored (the log start offset).
    pub fn start_offset(&self) -> io::Result<u64> {
        let segments = self.segments()?;
        match segments.first() {
            Some(&base)
                if segments.len() > 1
                    || fs::metadata(segment_path(&self.dir, base, "log"))?.len() > 0 =>
            {
                Ok(base)
            }
            Some(_) | None => self.end_offset(),
        }
    }

    /// Reads from `offset` on (or from the log start, if that is later).
    pub fn reader(&self, offset: u64) -> io::Result<PartitionReader> {
        let start = self.start_offset()?;
        Ok(PartitionReader {
            dir: self.dir.clone(),
            next_offset: offset.max(start),
            current: None,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            buf_start: 0,
            skip: None,
            stay_in_segment: None,
            bytes_read: 0,
        })
    }

    /// The first offset whose record has a timestamp at or after `timestamp` (the end offset
    /// when there is none), found through the time indexes. Damaged records, whose times are
    /// unknown, count as at or after it when the next whole record is: a reader that starts
    /// there reports them rather than passing over them unseen.
    pub fn offset_for_time(&self, timestamp: i64) -> io::Result<u64> {
        let mut damage_at = None;
        for base in self.segments()? {
            let times = read_entries(&segment_path(&self.dir, base, "timeindex"), TIME_ENTRY)?;
            // Start at the last indexed point whose largest-so-far timestamp is still earlier.
            let from = times
                .iter()
                .take_while(|e| i64::from_le_bytes(e[..8].try_into().expect("8")) < timestamp)
                .last()
                .map_or(base, |e| base + u64::from(entry_u32(e, 8, 12)));
            let mut reader = self.reader(from)?;
            reader.stay_in_segment = Some(base);
            while let Some(record) = reader.next_intact(&mut damage_at)? {
                if record.timestamp >= timestamp {
                    return Ok(damage_at.unwrap_or(record.offset));
                }
                damage_at = None;
            }
        }
        match damage_at {
            Some(offset) => Ok(offset),
            None => self.end_offset(),
        }
    }

    /// Offsets, bytes and timestamps of the partition.
    pub fn describe(&self) -> io::Result<PartitionInfo> {
        // Retention may delete a segment while it is looked at: look again.
        let mut tries = 0;
        loop {
            tries += 1;
            match self.describe_once() {
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 100 => {}
                described => return described,
            }
        }
    }

    fn describe_once(&self) -> io::Result<PartitionInfo> {
        let segments = self.segments()?;
        let mut bytes = 0;
        for &base in &segments {
            bytes += fs::metadata(segment_path(&self.dir, base, "log")).map_or(0, |m| m.len());
        }
        let start_offset = self.start_offset()?;
        let end_offset = self.end_offset()?;
        let oldest_timestamp = match segments.first() {
            Some(&base) => self.first_timestamp(base)?,
            None => None,
        };
        // Timestamps need not grow with offsets: the newest is the largest of every segment's.
        let mut newest = i64::MIN;
        for &base in &segments {
            newest = newest.max(self.scan_tail(base)?.max_timestamp);
        }
        let newest_timestamp = Some(newest).filter(|&t| t != i64::MIN);
        Ok(PartitionInfo {
            start_offset,
            end_offset,
            bytes,
            segments: segments.len(),
            oldest_timestamp,
            newest_timestamp,
        })
    }

    /// Deletes whole old segments, as Kafka does: those whose newest record is older than
    /// `max_age_ms`, and the oldest ones while the partition is larger than `max_bytes`. The
    /// active (last) segment is never deleted. Readers that have a deleted segment open keep
    /// reading it. Returns how many segments were deleted.
    pub fn apply_retention(
        &self,
        now_ms: i64,
        max_age_ms: Option<i64>,
        max_bytes: Option<u64>,
    ) -> io::Result<usize> {
        let _lock = self.lock()?;
        let segments = self.segments()?;
        let mut sizes = Vec::new();
        for &base in &segments {
            sizes.push(fs::metadata(segment_path(&self.dir, base, "log"))?.len());
        }
        let mut total: u64 = sizes.iter().sum();
        let mut deleted = 0;
        for (i, &base) in segments
            .iter()
            .enumerate()
            .take(segments.len().saturating_sub(1))
        {
            let newest = self.scan_tail(base)?.max_timestamp;
            let too_old = max_age_ms
                .is_some_and(|age| newest != i64::MIN && now_ms.saturating_sub(newest) > age);
            let too_big = max_bytes.is_some_and(|max| total > max);
            if !(too_old || too_big) {
                break;
            }
            // The log file goes first: a segment without its log is not a segment.
            fs::remove_file(segment_path(&self.dir, base, "log"))?;
            for ext in ["index", "timeindex"] {
                let _ = fs::remove_file(segment_path(&self.dir, base, ext));
            }
            total -= sizes[i];
            deleted += 1;
        }
        Ok(deleted)
    }
}

/// A failed append: the first `written` records of the batch are in the log, the rest not.
#[derive(Debug)]
pub struct AppendError {
    pub written: usize,
    pub source: io::Error,
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.source.fmt(f)
    }
}

impl std::error::Error for AppendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The index entries of records written one after another into a segment: one for the record
/// at its start and one every [`INDEX_INTERVAL`] bytes, each time entry with the largest
/// timestamp so far.
pub(crate) struct IndexBuilder {
    base: u64,
    last_pos: u64,
    /// The largest timestamp so far.
    pub max_timestamp: i64,
    /// Offset-index entries.
    pub index: Vec<u8>,
    /// Time-index entries.
    pub time_index: Vec<u8>,
}

impl IndexBuilder {
    /// Entries for a new segment of base offset `base`.
    pub fn new(base: u64) -> Self {
        IndexBuilder {
            base,
            last_pos: 0,
            max_timestamp: i64::MIN,
            index: Vec::new(),
            time_index: Vec::new(),
        }
    }

    /// Takes the record `offset` written at `position`.
    pub fn add(&mut self, offset: u64, position: u64, timestamp: i64) {
        self.max_timestamp = self.max_timestamp.max(timestamp);
        if position != 0 && position - self.last_pos < INDEX_INTERVAL {
            return;
        }
        let relative = ((offset - self.base) as u32).to_le_bytes();
        let position32 = (position as u32).to_le_bytes();
        self.index.extend_from_slice(&relative);
        self.index.extend_from_slice(&position32);
        self.time_index
            .extend_from_slice(&self.max_timestamp.to_le_bytes());
        self.time_index.extend_from_slice(&relative);
        self.time_index.extend_from_slice(&position32);
        self.last_pos = position;
    }
}

/// True when a record stamped `timestamp` would make the active segment span `segment_ms`
/// or more of record time.
fn spans_too_long(tail: &Tail, timestamp: i64, rolling: Rolling) -> bool {
    tail.first_timestamp
        .is_some_and(|first| timestamp.saturating_sub(first) >= rolling.segment_ms)
}

/// Appends whole entries to an index file; a failed write is cut back so that the entries
/// after it stay aligned.
fn append_entries(path: &Path, data: &[u8], entry: usize, sync: bool) -> io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut len = file.metadata()?.len();
    // An entry cut short (by a power cut) is dropped, so that the new ones stay aligned.
    let torn = len % entry as u64;
    if torn != 0 {
        len -= torn;
        file.set_len(len)?;
    }
    if let Err(e) = file.write_all(data) {
        let _ = file.set_len(len);
        return Err(e);
    }
    if sync {
        file.sync_data()?;
    }
    Ok(())
}

/// Base offsets of the segments in a partition directory, oldest first.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(base) = name
            .strip_suffix(".log")
            .and_then(|b| b.parse::<u64>().ok())
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Whether the record `offset` starts at `position` of a segment's log.
fn record_starts_at(log: &File, position: u64, offset: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut head = [0u8; FRAME + 8];
    log.read_exact_at(&mut head, position).is_ok() && head[FRAME..] == offset.to_le_bytes()
}

fn entry_u32(entry: &[u8], from: usize, to: usize) -> u32 {
    u32::from_le_bytes(entry[from..to].try_into().expect("4 bytes"))
}

/// The whole entries of an index file (an entry cut short by a crash is ignored).
struct Entries {
    bytes: Vec<u8>,
    size: usize,
}

impl Entries {
    fn iter(&self) -> std::slice::ChunksExact<'_, u8> {
        self.bytes.chunks_exact(self.size)
    }

    fn len(&self) -> usize {
        self.bytes.len() / self.size
    }

    fn last(&self) -> Option<&[u8]> {
        self.iter().next_back()
    }
}

fn read_entries(path: &Path, size: usize) -> io::Result<Entries> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(Entries { bytes, size })
}

/// Reads a partition's records in order. `next` returns `None` at the current end; calling it
/// again later returns records appended since.
pub struct PartitionReader {
    dir: PathBuf,
    next_offset: u64,
    current: Option<(u64, File)>,
    /// Bytes read from the segment: `buf[pos..end]` are not yet returned.
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Where `buf[0]` is in the segment file.
    buf_start: u64,
    /// Where reading goes on past damage reported by [`Damaged`]: a position in `buf` (or the
    /// next segment, for `None`) and the offset found there.
    skip: Option<(Option<usize>, u64)>,
    /// Stop at the end of this segment (for time lookups).
    stay_in_segment: Option<u64>,
    /// Bytes of the records returned so far.
    bytes_read: u64,
}

/// Damaged bytes in a segment (a record that fails its checksum, or a broken frame) with
/// whole records after them: the records in between cannot be read. A reader that returned
/// this error goes on after the damage once told to ([`PartitionReader::skip_damage`]).
#[derive(Debug)]
pub struct Damaged {
    /// The segment (its base offset) and the byte in its file where the damage starts.
    pub segment: u64,
    pub byte: u64,
    /// The first offset lost, and the offset of the next whole record.
    pub offset: u64,
    pub next: u64,
    /// How many bytes are damaged, and the first 64 KiB of them.
    pub len: u64,
    pub bytes: Vec<u8>,
}

impl std::fmt::Display for Damaged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "segment {} is damaged at byte {} (a record's checksum or length is wrong): ",
            self.segment, self.byte
        )?;
        match self.next.saturating_sub(self.offset) {
            0 | 1 => write!(f, "offset {} cannot be read", self.offset),
            _ => write!(
                f,
                "offsets {} to {} cannot be read",
                self.offset,
                self.next - 1
            ),
        }
    }
}

impl std::error::Error for Damaged {}

/// The first whole record in `bytes` (after its first byte, where the damage is) whose offset
/// is `from` or later: where it starts, and its offset.
fn next_whole_record(bytes: &[u8], from: u64) -> Option<(usize, u64)> {
    // Offsets grow by one per record of at least FRAME + 24 bytes: a bound that rules out
    // almost every position without a checksum.
    let most = from + (bytes.len() / (FRAME + 24)) as u64;
    (1..bytes.len().saturating_sub(FRAME + 8)).find_map(|at| {
        let field = &bytes[at + FRAME..at + FRAME + 8];
        let offset = u64::from_le_bytes(field.try_into().expect("8 bytes"));
        ((from..=most).contains(&offset) && matches!(check_frame(&bytes[at..]), Ok(Some(_))))
            .then_some((at, offset))
    })
}

impl PartitionReader {
    /// The offset of the next record to be returned.
    pub fn position(&self) -> u64 {
        self.next_offset
    }

    /// Bytes (as stored) of the records returned so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next record, or `None` when there is none yet.
    pub fn next_record(&mut self) -> io::Result<Option<Record>> {
        Ok(self.next_view()?.map(|view| view.to_record()))
    }

    /// The next whole record, going on past damage; `damage_at` is set to the first offset
    /// lost since it was last cleared, for callers that look at records without delivering
    /// them (time lookups, lag).
    pub fn next_intact(&mut self, damage_at: &mut Option<u64>) -> io::Result<Option<Record>> {
        loop {
            match self.next_record() {
                Err(e) if e.get_ref().is_some_and(|e| e.is::<Damaged>()) => {
                    damage_at.get_or_insert(self.position());
                    self.skip_damage();
                }
                read => return read,
            }
        }
    }

    /// The next record borrowed from the reader's buffer (no copy), or `None` when there is
    /// none yet.
    pub fn next_view(&mut self) -> io::Result<Option<RecordView<'_>>> {
        let mut reread = false;
        let len = loop {
            if self.current.is_none() && !self.open_segment()? {
                return Ok(None);
            }
            let rest = &self.buf[self.pos..self.end];
            match check_frame(rest) {
                Ok(Some(len)) => {
                    let offset =
                        u64::from_le_bytes(rest[FRAME..FRAME + 8].try_into().expect("8 bytes"));
                    if offset < self.next_offset {
                        self.pos += len;
                        continue;
                    }
                    break len;
                }
                Ok(None) | Err(_) => {
                    // Need more bytes: read on; at the segment's end move to the next one.
                    if self.fill()? > 0 {
                        continue;
                    }
                    let (base, _) = self.current.as_ref().expect("open");
                    let base = *base;
                    // A time lookup looks at no newer segment (but at damage in this one).
                    let newer = match self.stay_in_segment {
                        Some(stay) if stay == base => None,
                        _ => list_segments(&self.dir)?.into_iter().find(|&b| b > base),
                    };
                    if let Some(next) = newer {
                        // A writer rolls a new segment only once this one is whole: what it
                        // finished writing after the last read is read first.
                        if self.fill()? > 0 {
                            continue;
                        }
                        if self.pos == self.end {
                            // Offsets between this segment's last record and the next
                            // segment's base were removed by the log cleaner.
                            self.next_offset = self.next_offset.max(next);
                            self.current = None;
                            continue;
                        }
                    }
                    // What is buffered may be stale: a torn tail that a writer has since cut
                    // off and written over. It is read again from the file before it is judged.
                    if !reread && self.pos < self.end {
                        reread = true;
                        self.read_again()?;
                        continue;
                    }
                    // Bytes that are not a whole record are the end while a writer is still
                    // writing them (or a crash left them, for the next writer to cut off);
                    // with whole records after them, or a newer segment, they are damage.
                    let rest = &self.buf[self.pos..self.end];
                    let skip = match next_whole_record(rest, self.next_offset) {
                        Some((at, offset)) => (Some(self.pos + at), offset),
                        None => match newer {
                            Some(next) => (None, next),
                            None => return Ok(None),
                        },
                    };
                    if skip.1 == self.next_offset {
                        // Only records before the ones wanted are damaged.
                        self.skip = Some(skip);
                        self.skip_damage();
                        continue;
                    }
                    self.skip = Some(skip);
                    let damage = skip.0.map_or(rest.len(), |at| at - self.pos);
                    let damaged = Damaged {
                        segment: base,
                        byte: self.buf_start + self.pos as u64,
                        offset: self.next_offset,
                        next: skip.1,
                        len: damage as u64,
                        bytes: rest[..damage.min(64 << 10)].to_vec(),
                    };
                    return Err(io::Error::new(io::ErrorKind::InvalidData, damaged));
                }
            }
        };
        let start = self.pos;
        self.pos += len;
        self.bytes_read += len as u64;
        let view = RecordView::parse(&self.buf[start..start + len]).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {e}", self.dir.display()),
            )
        })?;
        self.next_offset = view.offset + 1;
        Ok(Some(view))
    }

    /// Drops what is buffered from `pos` on, to read it from the file again.
    fn read_again(&mut self) -> io::Result<()> {
        let at = self.buf_start + self.pos as u64;
        let (_, file) = self.current.as_mut().expect("open");
        file.seek(SeekFrom::Start(at))?;
        self.buf_start = at;
        self.pos = 0;
        self.end = 0;
        Ok(())
    }

    /// Goes on after the damage the last [`Damaged`] error reported: its records are lost.
    pub fn skip_damage(&mut self) {
        match self.skip.take() {
            Some((Some(at), offset)) => {
                self.pos = at;
                self.next_offset = offset;
            }
            Some((None, offset)) => {
                self.current = None;
                self.next_offset = offset;
            }
            None => {}
        }
    }

    /// Reads more of the segment after what is buffered (moving that to the front first);
    /// the buffer grows only for a record larger than it.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.buf_start += self.pos as u64;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            let size = (self.buf.len() * 2).max(1 << 20);
            self.buf.resize(size, 0);
        }
        let (_, file) = self.current.as_mut().expect("open");
        let n = file.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    /// Opens the segment holding `next_offset`, positioned by its index.
    fn open_segment(&mut self) -> io::Result<bool> {
        // Retention may delete the segment between listing and opening it: list again, and
        // go on from the oldest segment left.
        let mut tries = 0;
        let (base, mut file) = loop {
            tries += 1;
            let segments = list_segments(&self.dir)?;
            let Some(&base) = segments
                .iter()
                .rev()
                .find(|&&b| b <= self.next_offset)
                .or(segments.first())
            else {
                return Ok(false);
            };
            match File::open(segment_path(&self.dir, base, "log")) {
                Ok(f) => break (base, f),
                Err(e) if e.kind() == io::ErrorKind::NotFound && tries < 100 => continue,
                Err(e) => return Err(e),
            }
        };
        let index = read_entries(&segment_path(&self.dir, base, "index"), INDEX_ENTRY)?;
        let indexed = index
            .iter()
            .take_while(|e| base + u64::from(entry_u32(e, 0, 4)) <= self.next_offset)
            .last()
            .map(|e| {
                (
                    u64::from(entry_u32(e, 4, 8)),
                    base + u64::from(entry_u32(e, 0, 4)),
                )
            });
        // The log cleaner may have swapped the segment between opening the log and reading
        // the index: an entry that does not point at its record is not used.
        let position = match indexed {
            Some((position, offset)) if record_starts_at(&file, position, offset) => position,
            _ => 0,
        };
        file.seek(SeekFrom::Start(position))?;
        if self.next_offset < base {
            self.next_offset = base;
        }
        self.current = Some((base, file));
        self.pos = 0;
        self.end = 0;
        self.buf_start = position;
        self.skip = None;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLL: Rolling = Rolling {
        segment_bytes: 1 << 30,
        segment_ms: i64::MAX,
    };

    fn record(ts: i64, value: &str) -> Record {
        Record {
            timestamp: ts,
            value: Some(value.as_bytes().to_vec()),
            ..Record::default()
        }
    }

    fn batch(records: &[Record]) -> Batch {
        let mut batch = Batch::default();
        for r in records {
            batch.push_record(r).unwrap();
        }
        batch
    }

    #[test]
    fn an_index_entry_cut_short_is_dropped_before_the_next_ones() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let big = "x".repeat(5000);
        let append = |from: i64| {
            let records: Vec<_> = (from..from + 3).map(|i| record(i, &big)).collect();
            p.append(&mut batch(&records), ROLL, false).unwrap();
        };
        append(0);
        // A power cut left half an entry in each index.
        for (ext, entry) in [("index", INDEX_ENTRY), ("timeindex", TIME_ENTRY)] {
            let path = segment_path(dir.path(), 0, ext);
            let mut bytes = fs::read(&path).unwrap();
            bytes.extend(vec![0xab; entry / 2]);
            fs::write(&path, bytes).unwrap();
        }
        append(3);
        for (ext, entry) in [("index", INDEX_ENTRY), ("timeindex", TIME_ENTRY)] {
            let len = fs::metadata(segment_path(dir.path(), 0, ext))
                .unwrap()
                .len();
            assert_eq!(len, 6 * entry as u64, "{ext}");
        }
        assert_eq!(read_all(&p, 4)[0].0, 4);
        assert_eq!(p.offset_for_time(5).unwrap(), 5);
    }

    fn read_all(p: &Partition, from: u64) -> Vec<(u64, String)> {
        let mut reader = p.reader(from).unwrap();
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            out.push((r.offset, String::from_utf8(r.value.unwrap()).unwrap()));
        }
        out
    }

    #[test]
    fn appends_are_read_back_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let small = Rolling {
            segment_bytes: 10_000,
            segment_ms: i64::MAX,
        };
        for n in 0..50 {
            let records: Vec<_> = (0..20)
                .map(|i| record(n * 20 + i, &format!("v{}", n * 20 + i)))
                .collect();
            p.append(&mut batch(&records), small, false).unwrap();
        }
        assert!(p.segments().unwrap().len() > 3);
        // As in Kafka, no segment grows past its size: it rolls before the record that would.
        let segments = p.segments().unwrap();
        for &base in &segments[..segments.len() - 1] {
            let len = fs::metadata(segment_path(dir.path(), base, "log"))
                .unwrap()
                .len();
            assert!(
                (9_900..=10_000).contains(&len),
                "segment {base}: {len} bytes"
            );
        }
        assert_eq!(p.end_offset().unwrap(), 1000);
        let all = read_all(&p, 0);
        assert_eq!(all.len(), 1000);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, (o, v))| *o == i as u64 && *v == format!("v{i}")));
        assert_eq!(read_all(&p, 777)[0], (777, "v777".to_string()));
        assert_eq!(p.offset_for_time(555).unwrap(), 555);
        assert_eq!(p.offset_for_time(5_000).unwrap(), 1000);
        // Retention by size keeps the newest segments and never the active one.
        let before = p.segments().unwrap().len();
        assert!(p.apply_retention(0, None, Some(25_000)).unwrap() > 0);
        assert!(p.segments().unwrap().len() < before);
        let start = p.start_offset().unwrap();
        assert_eq!(read_all(&p, 0)[0].0, start);
        assert_eq!(p.end_offset().unwrap(), 1000);
    }

    #[test]
    fn segments_roll_on_record_time_and_describe_sees_every_segments_newest() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let weekly = Rolling {
            segment_bytes: 1 << 30,
            segment_ms: 1000,
        };
        // Old timestamps (as a --timestamp-field gives) roll by record time, not by the clock.
        let stamps = [5000, 5500, 5999, 6000, 5200, 7100, 7000];
        let records: Vec<_> = stamps.iter().map(|&t| record(t, "v")).collect();
        p.append(&mut batch(&records), weekly, false).unwrap();
        p.append(&mut batch(&[record(7050, "w")]), weekly, false)
            .unwrap();
        assert_eq!(p.segments().unwrap(), vec![0, 3, 5]);
        let info = p.describe().unwrap();
        assert_eq!(
            (info.oldest_timestamp, info.newest_timestamp),
            (Some(5000), Some(7100))
        );
        assert_eq!(p.offset_for_time(6500).unwrap(), 5);
    }

    #[test]
    fn time_lookups_start_at_damage_that_may_hold_the_time_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let records: Vec<_> = (0..6).map(|i| record(100 * i, &format!("v{i}"))).collect();
        p.append(&mut batch(&records), ROLL, false).unwrap();
        // Damage record 2's value: its time can no longer be trusted.
        let log = segment_path(dir.path(), 0, "log");
        let mut bytes = fs::read(&log).unwrap();
        let at = bytes.windows(2).position(|w| w == b"v2").unwrap();
        bytes[at + 1] = b'X';
        fs::write(&log, bytes).unwrap();
        // Record 3 (time 300) is the first whole one at or after 150, 200 or 300: a reader
        // starts at the damage before it, and so reports it.
        for time in [150, 200, 300] {
            assert_eq!(p.offset_for_time(time).unwrap(), 2, "{time}");
        }
        assert_eq!(p.offset_for_time(50).unwrap(), 1);
        assert_eq!(p.offset_for_time(400).unwrap(), 4);
        let mut reader = p.reader(1).unwrap();
        let mut damage_at = None;
        let found: Vec<u64> = std::iter::from_fn(|| reader.next_intact(&mut damage_at).unwrap())
            .map(|r| r.offset)
            .collect();
        assert_eq!((found, damage_at), (vec![1, 3, 4, 5], Some(2)));
    }

    #[test]
    fn a_torn_tail_is_invisible_to_readers_and_truncated_by_the_next_writer() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        p.append(&mut batch(&[record(1, "a"), record(2, "b")]), ROLL, true)
            .unwrap();
        let log = segment_path(dir.path(), 0, "log");
        let whole = fs::metadata(&log).unwrap().len();
        // A crash mid-write: half a record at the end.
        let mut half = Vec::new();
        record(3, "torn").encode(2, &mut half).unwrap();
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&half[..half.len() / 2]).unwrap();
        assert_eq!(read_all(&p, 0).len(), 2);
        assert_eq!(p.end_offset().unwrap(), 2);
        p.append(&mut batch(&[record(4, "c")]), ROLL, true).unwrap();
        let mut c = Vec::new();
        record(4, "c").encode(2, &mut c).unwrap();
        assert_eq!(fs::metadata(&log).unwrap().len(), whole + c.len() as u64);
        let all = read_all(&p, 0);
        assert_eq!(all, vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]);
    }

    #[test]
    fn segments_written_by_earlier_versions_are_read_and_appended_to() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let mut earlier = Vec::new();
        record(1, "a").encode_earlier(0, &mut earlier);
        record(2, "b").encode_earlier(1, &mut earlier);
        fs::write(segment_path(dir.path(), 0, "log"), &earlier).unwrap();
        assert_eq!(p.end_offset().unwrap(), 2);
        p.append(&mut batch(&[record(3, "c")]), ROLL, false)
            .unwrap();
        let all = read_all(&p, 0);
        assert_eq!(all, vec![(0, "a".into()), (1, "b".into()), (2, "c".into())]);
        assert_eq!(p.offset_for_time(2).unwrap(), 1);
    }

    #[test]
    fn concurrent_writers_never_interleave_or_lose_records() {
        let dir = tempfile::tempdir().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let path = dir.path().to_path_buf();
                std::thread::spawn(move || {
                    let p = Partition::open(&path).unwrap();
                    for b in 0..50 {
                        let records: Vec<_> = (0..10)
                            .map(|i| record(0, &format!("{t}-{b}-{i}")))
                            .collect();
                        p.append(&mut batch(&records), ROLL, false).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let p = Partition::open(dir.path()).unwrap();
        let all = read_all(&p, 0);
        assert_eq!(all.len(), 2000);
        let mut values: Vec<_> = all.iter().map(|(_, v)| v.clone()).collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 2000);
        // Each batch of 10 is contiguous.
        for chunk in all.chunks(10) {
            let prefix = chunk[0].1.rsplit_once('-').unwrap().0.to_string();
            assert!(chunk.iter().all(|(_, v)| v.starts_with(&prefix)));
        }
    }
}
