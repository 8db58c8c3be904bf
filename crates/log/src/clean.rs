//! The log cleaner of compacted topics, as Kafka's (`cleanup.policy=compact`): in a
//! partition's closed segments only the latest record of each key is kept, at its offset (the
//! offsets of removed records become gaps); the active segment is never touched; tombstones
//! (records without a value) stay for a delete-retention period after their segment was
//! written, so that readers see them, and then go. Records without a key are kept.
//!
//! A cleaned segment is written under a temporary name, synced, and renamed over the old one,
//! so a reader opens the old segment or the new, never part of one (one that has the old one
//! open reads it to its end). A segment left with no record is deleted, as retention deletes.
//! Cleaning starts once the segments not cleaned yet hold half of the closed segments' bytes
//! (Kafka's `min.cleanable.dirty.ratio`), or when kept tombstones are due to go.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::partition::{list_segments, segment_path, IndexBuilder, Partition};
use crate::record::{check_frame, framed_len, RecordView, FRAME};

/// Where a partition's cleaner notes how far it got.
const CHECKPOINT: &str = ".cleaner.json";
/// Held by the one process cleaning a partition.
const LOCK: &str = ".cleaner.lock";
/// The suffix of a cleaned segment's files before they replace the segment's.
const TEMP: &str = "cleaned";
const EXTENSIONS: [&str; 3] = ["log", "index", "timeindex"];

#[derive(Debug, Default, Serialize, Deserialize)]
struct Checkpoint {
    /// Segments from this base offset on have not been cleaned.
    dirty_from: u64,
    /// The oldest modification time (ms since the epoch) of a segment with a tombstone kept:
    /// its tombstones go once it is older than the delete retention.
    tombstones_since_ms: Option<i64>,
}

/// What a cleaning did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cleaned {
    /// Segments rewritten without some of their records.
    pub rewritten: usize,
    /// Segments deleted, none of their records being kept.
    pub deleted: usize,
    /// Records removed.
    pub removed: u64,
    /// A closed segment that is damaged (base offset): the partition was left as it is.
    pub damaged: Option<u64>,
}

impl Partition {
    /// Cleans the closed segments when enough of them are new or tombstones are due (see the
    /// module's comment). `delete_retention_ms` is how long tombstones are kept after their
    /// segment was written. Another process cleaning the partition makes this a no-op.
    pub fn clean(&self, now_ms: i64, delete_retention_ms: i64) -> io::Result<Cleaned> {
        let dir = self.dir();
        let Some(_cleaner) = try_lock(&dir.join(LOCK))? else {
            return Ok(Cleaned::default());
        };
        self.finish_swaps()?;
        let segments = list_segments(dir)?;
        let Some((&active, closed)) = segments.split_last() else {
            return Ok(Cleaned::default());
        };
        let checkpoint = read_checkpoint(dir);
        let horizon = now_ms.saturating_sub(delete_retention_ms);
        if !worth_cleaning(dir, closed, &checkpoint, horizon)? {
            return Ok(Cleaned::default());
        }
        // The latest offset of every key of the segments not cleaned yet: the cleaned ones
        // hold one record per key already.
        let mut latest: HashMap<Vec<u8>, u64> = HashMap::new();
        for &base in closed.iter().filter(|&&b| b >= checkpoint.dirty_from) {
            // Retention may delete a segment meanwhile: its records are gone either way.
            let mut frames = match Frames::open(dir, base) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                opened => opened?,
            };
            while let Some(frame) = frames.next_frame()? {
                let Frame::Whole(bytes) = frame else {
                    return Ok(damaged(base));
                };
                let view = parse(bytes)?;
                if let Some(key) = view.key {
                    match latest.get_mut(key) {
                        Some(offset) => *offset = view.offset,
                        None => {
                            latest.insert(key.to_vec(), view.offset);
                        }
                    }
                }
            }
        }
        let mut cleaned = Cleaned::default();
        let mut tombstones_since: Option<i64> = None;
        for &base in closed {
            let modified = match modified_ms(&segment_path(dir, base, "log")) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                modified => modified?,
            };
            let keep = Keep {
                latest: &latest,
                tombstones_expired: modified <= horizon,
            };
            let done = match self.clean_segment(base, &keep) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    remove_temps(dir, base)?;
                    continue;
                }
                done => done?,
            };
            let Some(done) = done else {
                return Ok(damaged(base));
            };
            cleaned.removed += done.removed;
            match (done.removed, done.kept) {
                (0, _) => {}
                (_, 0) => cleaned.deleted += 1,
                _ => cleaned.rewritten += 1,
            }
            if done.tombstones {
                tombstones_since = Some(tombstones_since.map_or(modified, |t| t.min(modified)));
            }
        }
        write_checkpoint(
            dir,
            &Checkpoint {
                dirty_from: active,
                tombstones_since_ms: tombstones_since,
            },
        )?;
        Ok(cleaned)
    }

    /// Cleans one closed segment by `keep`: nothing happens unless some record goes. `None`
    /// when the segment is damaged.
    fn clean_segment(&self, base: u64, keep: &Keep<'_>) -> io::Result<Option<SegmentCleaned>> {
        let dir = self.dir();
        let log = segment_path(dir, base, "log");
        let before = fs::metadata(&log)?;
        // A first pass decides, so that a segment with nothing to remove is not rewritten.
        let mut done = SegmentCleaned::default();
        let mut frames = Frames::open(dir, base)?;
        while let Some(frame) = frames.next_frame()? {
            let Frame::Whole(bytes) = frame else {
                return Ok(None);
            };
            let view = parse(bytes)?;
            match keep.keeps(&view) {
                true => {
                    done.kept += 1;
                    done.tombstones |= view.value.is_none();
                }
                false => done.removed += 1,
            }
        }
        if done.removed == 0 {
            return Ok(Some(done));
        }
        if done.kept > 0 {
            self.write_cleaned(base, keep, &before)?;
        }
        if !self.swap(base, &before, done.kept > 0)? {
            // Retention deleted or a writer changed the segment meanwhile: nothing was done.
            return Ok(Some(SegmentCleaned::default()));
        }
        Ok(Some(done))
    }

    /// Writes the records of segment `base` that `keep` keeps, with their indexes, under
    /// temporary names, synced, with the segment's modification time.
    fn write_cleaned(&self, base: u64, keep: &Keep<'_>, before: &fs::Metadata) -> io::Result<()> {
        let dir = self.dir();
        let create = |ext: &str| -> io::Result<BufWriter<File>> {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(temp_path(dir, base, ext))?;
            Ok(BufWriter::with_capacity(256 * 1024, file))
        };
        let mut log = create("log")?;
        let mut index = IndexBuilder::new(base);
        let mut position = 0u64;
        let mut frames = Frames::open(dir, base)?;
        while let Some(frame) = frames.next_frame()? {
            let Frame::Whole(bytes) = frame else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the segment changed while it was cleaned",
                ));
            };
            let view = parse(bytes)?;
            if keep.keeps(&view) {
                index.add(view.offset, position, view.timestamp);
                log.write_all(bytes)?;
                position += bytes.len() as u64;
            }
        }
        let log = log.into_inner().map_err(|e| e.into_error())?;
        log.set_modified(before.modified()?)?;
        log.sync_all()?;
        for (ext, bytes) in [("index", &index.index), ("timeindex", &index.time_index)] {
            let mut file = create(ext)?;
            file.write_all(bytes)?;
            file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        }
        Ok(())
    }

    /// Under the partition's lock, puts the cleaned files of segment `base` in place of its
    /// own (or, without records to keep, deletes the segment), if the segment is still the
    /// one that was read. False when it is not.
    fn swap(&self, base: u64, before: &fs::Metadata, has_records: bool) -> io::Result<bool> {
        let dir = self.dir();
        let _lock = self.lock()?;
        let log = segment_path(dir, base, "log");
        let same = fs::metadata(&log)
            .is_ok_and(|now| now.ino() == before.ino() && now.len() == before.len());
        if !same {
            remove_temps(dir, base)?;
            return Ok(false);
        }
        if !has_records {
            // The log goes first: a segment without its log is not a segment.
            fs::remove_file(&log)?;
            for ext in ["index", "timeindex"] {
                remove_if_present(&segment_path(dir, base, ext))?;
            }
            return sync_dir(dir).map(|()| true);
        }
        // The old indexes go first: a log without an index is read from its start, while a
        // log with another's index would be read from wrong places.
        for ext in ["index", "timeindex"] {
            remove_if_present(&segment_path(dir, base, ext))?;
        }
        for ext in EXTENSIONS {
            fs::rename(temp_path(dir, base, ext), segment_path(dir, base, ext))?;
        }
        sync_dir(dir).map(|()| true)
    }

    /// Finishes or undoes a swap that a crash interrupted: cleaned files beside a cleaned
    /// log were not swapped in (they are removed); cleaned indexes without one belong to a
    /// log that was (they are put in place).
    fn finish_swaps(&self) -> io::Result<()> {
        let dir = self.dir();
        let mut bases = Vec::new();
        let mut indexes = Vec::new();
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            let base = name
                .strip_suffix(&format!(".{TEMP}"))
                .and_then(|n| n.split_once('.'))
                .and_then(|(base, _)| base.parse::<u64>().ok());
            bases.extend(base);
            let index = [".index", ".timeindex"]
                .iter()
                .find_map(|ext| name.strip_suffix(ext)?.parse::<u64>().ok());
            indexes.extend(index);
        }
        bases.sort_unstable();
        bases.dedup();
        let _lock = self.lock()?;
        // The indexes of a segment whose log a crash deleted (by retention or cleaning).
        for base in indexes {
            if !segment_path(dir, base, "log").exists() && !temp_path(dir, base, "log").exists() {
                for ext in ["index", "timeindex"] {
                    remove_if_present(&segment_path(dir, base, ext))?;
                }
            }
        }
        for base in bases {
            if temp_path(dir, base, "log").exists() {
                remove_temps(dir, base)?;
                continue;
            }
            for ext in ["index", "timeindex"] {
                let temp = temp_path(dir, base, ext);
                if temp.exists() {
                    fs::rename(&temp, segment_path(dir, base, ext))?;
                }
            }
        }
        sync_dir(dir)
    }
}

/// Which records a cleaning keeps.
struct Keep<'a> {
    /// The latest offset of each key in the segments not cleaned before.
    latest: &'a HashMap<Vec<u8>, u64>,
    /// Whether the segment's tombstones have been kept long enough.
    tombstones_expired: bool,
}

impl Keep<'_> {
    /// A record stays unless a later record has its key, or it is a tombstone kept long
    /// enough. Records without a key stay.
    fn keeps(&self, record: &RecordView<'_>) -> bool {
        let Some(key) = record.key else {
            return true;
        };
        let superseded = self
            .latest
            .get(key)
            .is_some_and(|&latest| latest > record.offset);
        let expired_tombstone = record.value.is_none() && self.tombstones_expired;
        !(superseded || expired_tombstone)
    }
}

/// What cleaning one segment found.
#[derive(Debug, Default)]
struct SegmentCleaned {
    removed: u64,
    kept: u64,
    /// Whether a kept record is a tombstone.
    tombstones: bool,
}

/// One frame of a segment.
enum Frame<'a> {
    /// A whole record, checksum checked.
    Whole(&'a [u8]),
    /// Damage: a frame whose length or checksum is wrong, or one cut short.
    Damaged,
}

/// The frames of a closed segment, read in order with a buffer as large as the largest.
struct Frames {
    reader: BufReader<File>,
    buf: Vec<u8>,
}

impl Frames {
    fn open(dir: &Path, base: u64) -> io::Result<Self> {
        let file = File::open(segment_path(dir, base, "log"))?;
        Ok(Frames {
            reader: BufReader::with_capacity(1 << 20, file),
            buf: Vec::new(),
        })
    }

    fn next_frame(&mut self) -> io::Result<Option<Frame<'_>>> {
        let mut head = [0u8; FRAME];
        match self.reader.read_exact(&mut head[..1]) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
            read => read?,
        }
        if self.reader.read_exact(&mut head[1..]).is_err() {
            return Ok(Some(Frame::Damaged));
        }
        let len = framed_len(&head);
        self.buf.clear();
        self.buf.extend_from_slice(&head);
        let body = (&mut self.reader)
            .take((len - FRAME) as u64)
            .read_to_end(&mut self.buf)?;
        if body != len - FRAME {
            return Ok(Some(Frame::Damaged));
        }
        Ok(Some(match check_frame(&self.buf) {
            Ok(Some(whole)) if whole == len => Frame::Whole(&self.buf),
            _ => Frame::Damaged,
        }))
    }
}

fn parse(frame: &[u8]) -> io::Result<RecordView<'_>> {
    RecordView::parse(frame).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn damaged(base: u64) -> Cleaned {
    Cleaned {
        damaged: Some(base),
        ..Cleaned::default()
    }
}

/// Whether the segments not cleaned yet hold half the closed segments' bytes, or kept
/// tombstones are due to go (their segment was written before `horizon`).
fn worth_cleaning(
    dir: &Path,
    closed: &[u64],
    checkpoint: &Checkpoint,
    horizon: i64,
) -> io::Result<bool> {
    let (mut dirty, mut total) = (0u64, 0u64);
    for &base in closed {
        let len = fs::metadata(segment_path(dir, base, "log"))?.len();
        total += len;
        if base >= checkpoint.dirty_from {
            dirty += len;
        }
    }
    let due = checkpoint.tombstones_since_ms.is_some_and(|t| t <= horizon);
    Ok((dirty > 0 && dirty * 2 >= total) || due)
}

fn temp_path(dir: &Path, base: u64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}.{TEMP}"))
}

/// Removes a segment's cleaned files, the log's last: cleaned indexes without a cleaned log
/// mean that the log was swapped in ([`Partition::finish_swaps`]).
fn remove_temps(dir: &Path, base: u64) -> io::Result<()> {
    for ext in EXTENSIONS.iter().rev() {
        remove_if_present(&temp_path(dir, base, ext))?;
    }
    Ok(())
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn modified_ms(path: &Path) -> io::Result<i64> {
    let modified = fs::metadata(path)?.modified()?;
    let since = modified
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    Ok(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

/// Takes an exclusive lock on `path` if no one holds it.
fn try_lock(path: &Path) -> io::Result<Option<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e),
    }
}

fn read_checkpoint(dir: &Path) -> Checkpoint {
    fs::read(dir.join(CHECKPOINT))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Saves the checkpoint by a rename: a crash leaves the old one or the new (or, should the
/// file be lost, the next cleaning takes every segment as new, which is only slower).
fn write_checkpoint(dir: &Path, checkpoint: &Checkpoint) -> io::Result<()> {
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(&mut temp, checkpoint)?;
    temp.as_file().sync_all()?;
    temp.persist(dir.join(CHECKPOINT)).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::Rolling;
    use crate::{Batch, Record};

    const SMALL: Rolling = Rolling {
        segment_bytes: 200,
        segment_ms: i64::MAX,
    };

    fn append(p: &Partition, records: &[(&str, Option<&str>)]) {
        for (key, value) in records {
            let mut batch = Batch::default();
            let record = Record {
                timestamp: 1,
                key: Some(key.as_bytes().to_vec()),
                value: value.map(|v| v.as_bytes().to_vec()),
                ..Record::default()
            };
            batch.push_record(&record).unwrap();
            p.append(&mut batch, SMALL, false).unwrap();
        }
    }

    fn read_all(p: &Partition) -> Vec<(u64, String, Option<String>)> {
        let mut reader = p.reader(0).unwrap();
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
            out.push((r.offset, text(r.key.unwrap()), r.value.map(text)));
        }
        out
    }

    #[test]
    fn closed_segments_keep_the_latest_record_of_each_key_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let keys = ["a", "b", "c"];
        let values: Vec<String> = (0..30).map(|n| format!("value-{n}")).collect();
        let records: Vec<(&str, Option<&str>)> = (0..30)
            .map(|n| (keys[n % 3], Some(values[n].as_str())))
            .collect();
        append(&p, &records);
        let before = read_all(&p);
        let segments = p.segments().unwrap();
        assert!(segments.len() > 4, "{segments:?}");
        let active = *segments.last().unwrap();

        // A reader in the middle of the first segment while it is cleaned.
        let mut early = p.reader(0).unwrap();
        let first = early.next_record().unwrap().unwrap().offset;

        let cleaned = p.clean(1_000, 0).unwrap();
        assert!(
            cleaned.removed > 0 && cleaned.damaged.is_none(),
            "{cleaned:?}"
        );
        // It reads on in the segment it has open, then the cleaned ones, never going back.
        let mut offsets = vec![first];
        while let Some(r) = early.next_record().unwrap() {
            assert!(
                r.offset > *offsets.last().unwrap(),
                "{offsets:?} then {}",
                r.offset
            );
            offsets.push(r.offset);
        }
        assert_eq!(offsets.last(), Some(&29));
        let after = read_all(&p);
        // Offsets kept; in closed segments only each key's latest record among them (as in
        // Kafka, the active segment is left out); the active segment as it was.
        let latest: HashMap<&str, u64> = before
            .iter()
            .filter(|(offset, _, _)| *offset < active)
            .map(|(offset, key, _)| (key.as_str(), *offset))
            .collect();
        let expected: Vec<_> = before
            .iter()
            .filter(|(offset, key, _)| *offset >= active || latest[key.as_str()] == *offset)
            .cloned()
            .collect();
        assert_eq!(after, expected);
        assert!(after.len() < before.len());
        // Reading from an offset that was removed starts at the next record kept.
        let removed = (0..active)
            .find(|o| !after.iter().any(|r| r.0 == *o))
            .unwrap();
        let mut reader = p.reader(removed).unwrap();
        let next = reader.next_record().unwrap().unwrap();
        assert_eq!(next.offset, after.iter().find(|r| r.0 > removed).unwrap().0);
        // Nothing new: nothing to do. Appends go on at the end.
        assert_eq!(p.clean(1_000, 0).unwrap(), Cleaned::default());
        append(&p, &[("a", Some("last"))]);
        assert_eq!(read_all(&p).last().unwrap().0, 30);
        assert!(fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(TEMP)));
    }

    #[test]
    fn tombstones_stay_for_the_delete_retention_then_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let filler: Vec<(&str, Option<&str>)> =
            (0..12).map(|_| ("x", Some("filler-filler"))).collect();
        append(&p, &[("a", Some("1")), ("b", Some("2")), ("a", None)]);
        append(&p, &filler);
        let day = 86_400_000;
        let now = modified_ms(&segment_path(dir.path(), 0, "log")).unwrap();
        p.clean(now, day).unwrap();
        let keys: Vec<(String, Option<String>)> =
            read_all(&p).into_iter().map(|(_, k, v)| (k, v)).collect();
        assert!(keys.contains(&("a".into(), None)), "{keys:?}");
        assert!(!keys.contains(&("a".into(), Some("1".into()))));
        // A day later the tombstone is due: it goes, without new segments.
        let cleaned = p.clean(now + day + 1, day).unwrap();
        assert_eq!(cleaned.removed, 1, "{cleaned:?}");
        let keys: Vec<String> = read_all(&p).into_iter().map(|(_, k, _)| k).collect();
        assert!(!keys.contains(&"a".to_string()));
        assert!(keys.contains(&"b".to_string()));
    }

    #[test]
    fn a_swap_cut_short_by_a_crash_is_undone_or_finished() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path()).unwrap();
        let records: Vec<(&str, Option<&str>)> = (0..20)
            .map(|n| (["a", "b"][n % 2], Some("some value")))
            .collect();
        append(&p, &records);
        let before = read_all(&p);
        // A crash before the swap: temporary files that are removed, the segment unchanged.
        fs::write(temp_path(dir.path(), 0, "log"), b"half").unwrap();
        fs::write(temp_path(dir.path(), 0, "index"), b"").unwrap();
        p.finish_swaps().unwrap();
        assert!(!temp_path(dir.path(), 0, "log").exists());
        assert!(!temp_path(dir.path(), 0, "index").exists());
        assert_eq!(read_all(&p), before);
        // A crash after the log was swapped: its indexes are put in place.
        fs::write(temp_path(dir.path(), 0, "timeindex"), b"").unwrap();
        p.finish_swaps().unwrap();
        assert!(segment_path(dir.path(), 0, "timeindex").exists());
        assert_eq!(read_all(&p), before);
    }
}
