//! One record as stored in a segment file, with its checksum.
//!
//! Layout (little-endian): `len u32` (bytes after the checksum, in the low 31 bits), `crc u32`,
//! `offset u64`, `timestamp i64` (ms since the epoch), `key_len i32` (-1 for none) and key,
//! `value_len i32` (-1 for null, a tombstone) and value, `header_count u32` and each header as
//! `name_len u32`, name, `value_len i32`, value.
//!
//! The checksum is CRC-32 of the bytes after the offset followed by the offset when the top bit
//! of `len` is set, as in every record written now: a record is then checksummed before its
//! offset is known (by produce's worker threads, while its bytes are in their cache), and the
//! log seals it with its offset at append by running the CRC on over 8 more bytes. Records
//! without the bit, written by earlier versions, have CRC-32 of all the bytes after `crc`.

use std::ops::Range;

/// A record: what a producer hands over and a consumer gets back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Position in its partition (set by the log on append).
    pub offset: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Bytes before a record's body: length and checksum.
pub const FRAME: usize = 8;

/// The flag in `len` of a record whose checksum covers its offset last.
const OFFSET_LAST: u32 = 1 << 31;

/// The most bytes a record may have after its length field (the field keeps its top bit for
/// the flag).
pub const MAX_LEN: usize = OFFSET_LAST as usize - 1;

impl Record {
    /// Appends the record, framed and checksummed, with the given offset; an error when it is
    /// longer than [`MAX_LEN`].
    pub fn encode(&self, offset: u64, out: &mut Vec<u8>) -> Result<(), String> {
        let start = out.len();
        encode_unsealed(
            out,
            self.timestamp,
            self.key.as_deref(),
            self.value.as_deref(),
            self.header_views(),
        )?;
        seal(&mut out[start..], offset);
        Ok(())
    }

    /// Decodes the record at the start of `bytes`. `Ok(None)` when the bytes end before the
    /// record does (not yet fully written); an error when the checksum or structure is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Option<(Record, usize)>, String> {
        Ok(match check_frame(bytes)? {
            Some(len) => Some((RecordView::parse(&bytes[..len])?.to_record(), len)),
            None => None,
        })
    }

    /// A borrowed view of the record.
    pub fn view(&self) -> RecordView<'_> {
        RecordView {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: self.header_views().collect(),
        }
    }

    /// The headers, borrowed.
    pub fn header_views(&self) -> impl Iterator<Item = HeaderView<'_>> + '_ {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }
}

#[cfg(test)]
impl Record {
    /// Appends the record as versions before the flag wrote it: the checksum over the offset
    /// first.
    pub(crate) fn encode_earlier(&self, offset: u64, out: &mut Vec<u8>) {
        let start = out.len();
        self.encode(offset, out).expect("a short record");
        let record = &mut out[start..];
        let len = u32::from_le_bytes(record[..4].try_into().expect("4 bytes")) & !OFFSET_LAST;
        record[..4].copy_from_slice(&len.to_le_bytes());
        let crc = crc32fast::hash(&record[FRAME..]);
        record[4..8].copy_from_slice(&crc.to_le_bytes());
    }
}

/// The length of a whole record, from its first [`FRAME`] bytes.
pub(crate) fn framed_len(frame: &[u8; FRAME]) -> usize {
    let len = u32::from_le_bytes(frame[0..4].try_into().expect("4 bytes"));
    FRAME + (len & !OFFSET_LAST) as usize
}

/// The length of the whole, checksummed record at the start of `bytes`: `Ok(None)` when the
/// bytes end before it does, an error when its length or checksum is wrong.
pub fn check_frame(bytes: &[u8]) -> Result<Option<usize>, String> {
    if bytes.len() < FRAME {
        return Ok(None);
    }
    let field = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes"));
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    let len = (field & !OFFSET_LAST) as usize;
    if len < 24 {
        return Err(format!("record length {len} is too small"));
    }
    let Some(body) = bytes.get(FRAME..FRAME + len) else {
        return Ok(None);
    };
    let sum = if field & OFFSET_LAST == 0 {
        crc32fast::hash(body)
    } else {
        offset_last(crc32fast::hash(&body[8..]), &body[..8])
    };
    if sum != crc {
        return Err("checksum mismatch".into());
    }
    Ok(Some(FRAME + len))
}

/// A record borrowed from a segment's bytes (no copy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub offset: u64,
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    pub headers: Vec<HeaderView<'a>>,
}

impl<'a> RecordView<'a> {
    /// Reads a whole record checked by [`check_frame`].
    pub fn parse(frame: &'a [u8]) -> Result<RecordView<'a>, String> {
        let body = &frame[FRAME..];
        let mut r = Reader {
            bytes: body,
            pos: 0,
        };
        let view = (|| {
            let offset = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let timestamp = i64::from_le_bytes(r.take(8)?.try_into().ok()?);
            let key = r.bytes_field()?;
            let value = r.bytes_field()?;
            let count = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
            let mut headers = Vec::with_capacity(count.min(1024) as usize);
            for _ in 0..count {
                let name_len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
                let name = std::str::from_utf8(r.take(name_len)?).ok()?;
                headers.push((name, r.bytes_field()?));
            }
            (r.pos == body.len()).then_some(RecordView {
                offset,
                timestamp,
                key,
                value,
                headers,
            })
        })();
        view.ok_or_else(|| "malformed record".to_string())
    }

    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record {
            offset: self.offset,
            timestamp: self.timestamp,
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            headers: self
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.map(<[u8]>::to_vec)))
                .collect(),
        }
    }
}

/// A header as stored: a name and an optional value.
pub type Header = (String, Option<Vec<u8>>);

/// A header, borrowed.
pub type HeaderView<'a> = (&'a str, Option<&'a [u8]>);

/// Appends a record without its offset, its checksum left to [`seal`]; appends nothing when
/// the record is longer than [`MAX_LEN`].
fn encode_unsealed<'h>(
    out: &mut Vec<u8>,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: impl Iterator<Item = HeaderView<'h>>,
) -> Result<(), String> {
    let start = out.len();
    out.extend_from_slice(&[0; FRAME + 8]);
    out.extend_from_slice(&timestamp.to_le_bytes());
    put_bytes(out, key);
    put_bytes(out, value);
    let count_at = out.len();
    out.extend_from_slice(&[0; 4]);
    let mut count = 0u32;
    for (name, value) in headers {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        put_bytes(out, value);
        count += 1;
    }
    out[count_at..count_at + 4].copy_from_slice(&count.to_le_bytes());
    let len = out.len() - start - FRAME;
    if len > MAX_LEN {
        out.truncate(start);
        return Err(format!(
            "the record is {len} bytes, more than the {MAX_LEN} a record of the log may hold"
        ));
    }
    out[start..start + 4].copy_from_slice(&(len as u32 | OFFSET_LAST).to_le_bytes());
    // The checksum so far: of the bytes after the offset.
    let partial = crc32fast::hash(&out[start + FRAME + 8..]);
    out[start + 4..start + 8].copy_from_slice(&partial.to_le_bytes());
    Ok(())
}

/// Writes an unsealed record's offset, and runs its checksum on over it.
fn seal(record: &mut [u8], offset: u64) {
    let offset = offset.to_le_bytes();
    record[FRAME..FRAME + 8].copy_from_slice(&offset);
    let partial = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
    record[4..8].copy_from_slice(&offset_last(partial, &offset).to_le_bytes());
}

/// The CRC-32 of some bytes followed by `offset`, from the CRC-32 of the bytes.
fn offset_last(partial: u32, offset: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new_with_initial(partial);
    crc.update(offset);
    crc.finalize()
}

/// Records encoded and checksummed before their offsets are known: one buffer for the whole
/// batch, so producing a record costs no allocation. The log seals each record with its offset
/// when it appends it.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    timestamps: Vec<i64>,
}

impl Batch {
    /// Adds a record; an error, adding nothing, when it is longer than [`MAX_LEN`].
    pub fn push<'h>(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: impl Iterator<Item = HeaderView<'h>>,
    ) -> Result<(), String> {
        let start = self.bytes.len();
        encode_unsealed(&mut self.bytes, timestamp, key, value, headers)?;
        self.starts.push(start);
        self.timestamps.push(timestamp);
        Ok(())
    }

    /// Adds a record (see [`Batch::push`]).
    pub fn push_record(&mut self, record: &Record) -> Result<(), String> {
        self.push(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            record.header_views(),
        )
    }

    /// Adds records `records` of `other`, in one copy.
    pub fn extend_from(&mut self, other: &Batch, records: Range<usize>) {
        if records.is_empty() {
            return;
        }
        let from = other.starts[records.start];
        let shift = self.bytes.len() as isize - from as isize;
        self.bytes
            .extend_from_slice(&other.bytes[from..other.byte_len_of(records.end)]);
        self.starts.extend(
            other.starts[records.clone()]
                .iter()
                .map(|&start| start.wrapping_add_signed(shift)),
        );
        self.timestamps
            .extend_from_slice(&other.timestamps[records]);
    }

    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Bytes of the encoded records.
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Bytes of the first `n` encoded records.
    pub fn byte_len_of(&self, n: usize) -> usize {
        self.starts.get(n).copied().unwrap_or(self.bytes.len())
    }

    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.timestamps.clear();
    }

    /// Record `i`'s start, end and timestamp.
    pub(crate) fn record(&self, i: usize) -> (usize, usize, i64) {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.bytes.len());
        (self.starts[i], end, self.timestamps[i])
    }

    /// Seals record `i` with its offset.
    pub(crate) fn seal(&mut self, i: usize, offset: u64) {
        let (start, end, _) = self.record(i);
        seal(&mut self.bytes[start..end], offset);
    }

    /// The bytes of records `from..to`.
    pub(crate) fn bytes(&self, from: usize, to: usize) -> &[u8] {
        let start = self.starts[from];
        let end = self.starts.get(to).copied().unwrap_or(self.bytes.len());
        &self.bytes[start..end]
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.extend_from_slice(&(-1i32).to_le_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as i32).to_le_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(slice)
    }

    fn bytes_field(&mut self) -> Option<Option<&'a [u8]>> {
        let len = i32::from_le_bytes(self.take(4)?.try_into().ok()?);
        if len < 0 {
            return Some(None);
        }
        Some(Some(self.take(len as usize)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_torn_ones_are_detected() {
        let record = Record {
            offset: 0,
            timestamp: 1_700_000_000_000,
            key: Some(b"JFK".to_vec()),
            value: None,
            headers: vec![("source".into(), Some(b"x".to_vec())), ("n".into(), None)],
        };
        let mut bytes = Vec::new();
        record.encode(42, &mut bytes).unwrap();
        let (back, used) = Record::decode(&bytes).unwrap().unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(
            back,
            Record {
                offset: 42,
                ..record.clone()
            }
        );
        // Cut short: not yet complete.
        assert_eq!(Record::decode(&bytes[..bytes.len() - 1]).unwrap(), None);
        // Flipped bit: corrupt, in the value or in the offset.
        for at in [bytes.len() - 1, FRAME] {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1;
            assert!(Record::decode(&flipped).is_err(), "{at}");
        }
    }

    #[test]
    fn records_of_earlier_versions_are_read() {
        let record = Record {
            offset: 0,
            timestamp: 7,
            key: None,
            value: Some(b"{}".to_vec()),
            headers: vec![],
        };
        let mut bytes = Vec::new();
        record.encode_earlier(9, &mut bytes);
        let (back, _) = Record::decode(&bytes).unwrap().unwrap();
        assert_eq!(
            back,
            Record {
                offset: 9,
                ..record
            }
        );
        bytes[FRAME] ^= 1;
        assert!(Record::decode(&bytes).is_err());
    }

    #[test]
    fn records_copied_between_batches_keep_their_bounds() {
        let mut source = Batch::default();
        for (time, value) in [(1, "a"), (2, "bb"), (3, "ccc")] {
            source
                .push(
                    time,
                    None,
                    Some(value.as_bytes()),
                    [("h", None)].into_iter(),
                )
                .unwrap();
        }
        let mut batch = Batch::default();
        batch.push(0, Some(b"k"), None, std::iter::empty()).unwrap();
        batch.extend_from(&source, 1..3);
        assert_eq!(batch.len(), 3);
        assert_eq!(
            batch.byte_len(),
            batch.byte_len_of(1) + source.bytes(1, 3).len()
        );
        let mut decoded = Vec::new();
        for i in 0..batch.len() {
            batch.seal(i, 100 + i as u64);
            let (start, end, time) = batch.record(i);
            let (record, used) = Record::decode(&batch.bytes[start..end]).unwrap().unwrap();
            assert_eq!((used, record.timestamp), (end - start, time));
            decoded.push((record.offset, record.value));
        }
        assert_eq!(
            decoded,
            [
                (100, None),
                (101, Some(b"bb".to_vec())),
                (102, Some(b"ccc".to_vec()))
            ]
        );
    }
}
