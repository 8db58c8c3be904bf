//! Opening inputs: files or `-` for stdin, decompressed by what their first bytes say.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use indicatif::ProgressBar;
use rustix::event::{PollFd, PollFlags, Timespec};

use crate::error::{IoContext, Result};

/// Size of the buffers inputs are read in.
const CHUNK: usize = 256 * 1024;
/// Reads at least this large skip [`PeekReader`]'s buffer when it is empty.
const DIRECT_READ: usize = 16 * 1024;
/// A pipe that stays quiet this long has paused: what was read so far is handed on rather than
/// held until more comes (`consume --follow | filter …`).
const PAUSE: Duration = Duration::from_millis(1);

/// A byte source that can tell whether more is coming without a pause.
pub trait Ready {
    /// Whether a read would return (bytes, the end or an error) within [`PAUSE`]; true when
    /// the source cannot tell.
    fn more_soon(&mut self) -> bool;
}

/// The pipe, terminal or socket an input comes through, which can be asked whether bytes wait.
#[derive(Clone)]
struct Pipe(Arc<OwnedFd>);

impl Pipe {
    /// The pipe behind `fd`; `None` for a regular file, which never makes a reader wait.
    fn of(fd: impl AsFd) -> Option<Pipe> {
        let file = File::from(fd.as_fd().try_clone_to_owned().ok()?);
        if file.metadata().ok()?.is_file() {
            return None;
        }
        Some(Pipe(Arc::new(file.into())))
    }

    fn more_soon(&self) -> bool {
        let mut fds = [PollFd::new(&*self.0, PollFlags::IN)];
        let pause = Timespec::try_from(PAUSE).ok();
        // An error (a signal, say) counts as ready: the read that follows waits or fails itself.
        !matches!(rustix::event::poll(&mut fds, pause.as_ref()), Ok(0))
    }
}

/// The bytes of a file or stdin before decompression, and the pipe they come through, if any.
struct Raw {
    reader: Box<dyn Read + Send>,
    pipe: Option<Pipe>,
}

impl Read for Raw {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.reader.read(out)
    }
}

impl Ready for Raw {
    fn more_soon(&mut self) -> bool {
        self.pipe.as_ref().is_none_or(Pipe::more_soon)
    }
}

/// A compression codec recognised on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    /// gzip, including several concatenated members.
    Gzip,
    /// Snappy's framing format (`.sz`, `.snappy`).
    Snappy,
    /// zstd, including several concatenated frames.
    Zstd,
}

/// The bytes that start a compressed stream, and its codec.
const MAGIC: [(&[u8], Compression); 3] = [
    (&[0x1f, 0x8b], Compression::Gzip),
    (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
    (b"\xff\x06\x00\x00sNaPpY", Compression::Snappy),
];

impl Compression {
    /// Recognises a codec by its magic bytes.
    pub fn sniff(head: &[u8]) -> Compression {
        MAGIC
            .iter()
            .find(|(magic, _)| head.starts_with(magic))
            .map_or(Compression::None, |&(_, codec)| codec)
    }

    /// Whether more bytes could still make `head` a codec's magic bytes.
    fn could_become_magic(head: &[u8]) -> bool {
        MAGIC
            .iter()
            .any(|(magic, _)| head.len() < magic.len() && magic.starts_with(head))
    }

    /// Recognises a codec by a file name's extension.
    pub fn from_name(name: &str) -> Compression {
        match extension(name).as_deref() {
            Some("gz" | "gzip") => Compression::Gzip,
            Some("zst" | "zstd") => Compression::Zstd,
            Some("sz" | "snappy") => Compression::Snappy,
            _ => Compression::None,
        }
    }

    /// The file name without its compression extension (`a.csv.gz` → `a.csv`).
    pub fn strip_extension(name: &str) -> &str {
        match Compression::from_name(name) {
            Compression::None => name,
            _ => name.rsplit_once('.').map_or(name, |(stem, _)| stem),
        }
    }
}

/// The lower-cased extension of a file name, if it has one.
pub fn extension(name: &str) -> Option<String> {
    let file = name.rsplit('/').next().unwrap_or(name);
    file.rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .filter(|ext| !ext.is_empty())
}

/// A buffered reader that can look ahead a guaranteed number of bytes.
pub struct PeekReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl<R: Read> PeekReader<R> {
    /// Wraps a reader with a buffer of the default size.
    pub fn new(inner: R) -> Self {
        PeekReader {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            end: 0,
        }
    }

    /// Returns at least `n` buffered bytes, or fewer only at the end of the input.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.end - self.pos < n {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            if self.buf.len() < n {
                // Doubling, so that peeking one byte more at a time still reads in large chunks.
                self.buf.resize(n.max(2 * self.buf.len()), 0);
            }
            while self.end < n {
                match self.inner.read(&mut self.buf[self.end..]) {
                    Ok(0) => break,
                    Ok(read) => self.end += read,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(&self.buf[self.pos..self.end])
    }
}

impl<R: Read> Read for PeekReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        // A large read with nothing buffered goes straight to the source: one copy, not two.
        if self.pos == self.end && out.len() >= DIRECT_READ {
            return self.inner.read(out);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: Ready> Ready for PeekReader<R> {
    fn more_soon(&mut self) -> bool {
        self.pos < self.end || self.inner.more_soon()
    }
}

impl<R: Read> BufRead for PeekReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.end {
            self.pos = 0;
            self.end = loop {
                match self.inner.read(&mut self.buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
        }
        Ok(&self.buf[self.pos..self.end])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.end);
    }
}

/// Reads from another thread, so decompression overlaps with parsing on a second core.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    /// What the thread sent next, received early to see whether it had come.
    waiting: Option<io::Result<Vec<u8>>>,
    done: bool,
    /// A read error to report once the bytes read before it are taken.
    error: Option<io::Error>,
}

impl ReadAhead {
    /// Starts a thread that reads `inner` in chunks; a chunk is sent early when `pipe`, where
    /// `inner`'s bytes come from, pauses.
    fn spawn(mut inner: Box<dyn Read + Send>, pipe: Option<Pipe>) -> ReadAhead {
        let (send, chunks) = sync_channel::<io::Result<Vec<u8>>>(4);
        let (recycle, spare) = sync_channel::<Vec<u8>>(6);
        thread::spawn(move || {
            let mut at_end = false;
            while !at_end {
                let mut chunk = spare.try_recv().unwrap_or_default();
                chunk.resize(CHUNK * 4, 0);
                let mut filled = 0;
                let result = loop {
                    match inner.read(&mut chunk[filled..]) {
                        Ok(0) => {
                            at_end = true;
                            break Ok(());
                        }
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len()
                                || pipe.as_ref().is_some_and(|p| !p.more_soon())
                            {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                chunk.truncate(filled);
                // What was read, then the error or (an empty chunk) the end.
                if filled > 0 && send.send(Ok(chunk)).is_err() {
                    return;
                }
                if let Err(e) = result {
                    let _ = send.send(Err(e));
                    return;
                }
            }
            let _ = send.send(Ok(Vec::new()));
        });
        ReadAhead::receiving(chunks, recycle)
    }

    /// Reads the chunks a thread sends, handing used buffers back through `recycle`.
    fn receiving(chunks: Receiver<io::Result<Vec<u8>>>, recycle: SyncSender<Vec<u8>>) -> ReadAhead {
        ReadAhead {
            chunks,
            recycle,
            current: Vec::new(),
            pos: 0,
            waiting: None,
            done: false,
            error: None,
        }
    }

    /// Makes the next chunk current, waiting for it when `wait`, else only if it is already
    /// here; false when there is none (yet, or at the end).
    fn next_chunk(&mut self, wait: bool) -> io::Result<bool> {
        let message = if let Some(message) = self.waiting.take() {
            Some(message)
        } else if wait {
            self.chunks.recv().ok()
        } else {
            match self.chunks.try_recv() {
                Ok(message) => Some(message),
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => None,
            }
        };
        match message {
            Some(Ok(chunk)) if !chunk.is_empty() => {
                let old = std::mem::replace(&mut self.current, chunk);
                let _ = self.recycle.try_send(old);
                self.pos = 0;
                Ok(true)
            }
            Some(Ok(_)) => {
                self.done = true;
                Ok(false)
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e)
            }
            None => {
                self.done = true;
                Err(io::Error::other(
                    "the input's reader thread stopped before the end (this is a bug)",
                ))
            }
        }
    }
}

impl Read for ReadAhead {
    /// Fills `out` from the chunks already decoded, so that the end of a chunk does not look
    /// like a pause in the input; waits only when nothing is ready.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut n = 0;
        loop {
            let available = &self.current[self.pos..];
            let take = available.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&available[..take]);
            self.pos += take;
            n += take;
            if n == out.len() || self.done {
                return Ok(n);
            }
            match self.next_chunk(n == 0) {
                Ok(true) => {}
                Ok(false) => return Ok(n),
                Err(e) if n == 0 => return Err(e),
                Err(e) => {
                    self.error = Some(e);
                    return Ok(n);
                }
            }
        }
    }
}

impl Ready for ReadAhead {
    fn more_soon(&mut self) -> bool {
        if self.pos < self.current.len()
            || self.done
            || self.waiting.is_some()
            || self.error.is_some()
        {
            return true;
        }
        match self.chunks.recv_timeout(PAUSE) {
            Ok(message) => {
                self.waiting = Some(message);
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => true,
        }
    }
}

impl BufRead for ReadAhead {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        while self.pos == self.current.len() && !self.done {
            self.next_chunk(true)?;
        }
        Ok(&self.current[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.current.len());
    }
}

/// An opened input, decompressed, ready to be read.
pub struct Input {
    /// The name used in messages: the path, or `-` for stdin.
    pub name: String,
    /// The codec that was detected.
    pub compression: Compression,
    /// The size on disk, when known (for progress and state).
    pub size: Option<u64>,
    /// The decompressed bytes.
    pub reader: Box<dyn PeekRead>,
}

/// A buffered reader that can look ahead; what every input is read through.
pub trait PeekRead: BufRead + Ready + Send {
    /// Returns at least `n` buffered bytes, or fewer only at the end of the input.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]>;
}

impl<R: Read + Ready + Send> PeekRead for PeekReader<R> {
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        PeekReader::peek(self, n)
    }
}

/// Peeks only as many bytes as it takes to settle a question about the input's start: until
/// `settled` says so of the bytes so far, the input ends, or `max` bytes are buffered. On a
/// pipe, a short first record must not wait for the next one.
pub fn peek_until<R: PeekRead + ?Sized>(
    reader: &mut R,
    max: usize,
    mut settled: impl FnMut(&[u8]) -> bool,
) -> io::Result<&[u8]> {
    let mut want = 1;
    loop {
        let head = reader.peek(want)?;
        if head.len() < want || head.len() >= max || settled(head) {
            break;
        }
        want = head.len() + 1;
    }
    reader.peek(0)
}

/// True for the name that means standard input.
pub fn is_stdin(name: &str) -> bool {
    name == "-"
}

/// Opens `name` (a path, or `-` for stdin), detecting compression by magic bytes, then by the
/// extension. Bytes read from disk advance `progress` when one is given.
pub fn open(name: &str, progress: Option<&ProgressBar>) -> Result<Input> {
    let (reader, size, pipe): (Box<dyn Read + Send>, _, _) = if is_stdin(name) {
        let stdin = io::stdin();
        crate::pipe::widen(&stdin);
        let pipe = Pipe::of(&stdin);
        (Box::new(stdin), None, pipe)
    } else {
        let file = File::open(Path::new(name)).context(|| format!("cannot open {name}"))?;
        let size = file.metadata().ok().map(|m| m.len());
        crate::pipe::widen(&file);
        let pipe = Pipe::of(&file);
        (Box::new(file), size, pipe)
    };
    let reader = match progress {
        Some(bar) => Box::new(bar.wrap_read(reader)),
        None => reader,
    };
    from_raw(name, Raw { reader, pipe }, size)
}

/// Wraps an already opened byte source the way [`open`] does.
pub fn from_reader(name: &str, reader: Box<dyn Read + Send>, size: Option<u64>) -> Result<Input> {
    from_raw(name, Raw { reader, pipe: None }, size)
}

fn from_raw(name: &str, raw: Raw, size: Option<u64>) -> Result<Input> {
    let pipe = raw.pipe.clone();
    let mut raw = PeekReader::new(raw);
    let head = peek_until(&mut raw, usize::MAX, |head| {
        !Compression::could_become_magic(head)
    })
    .context(|| format!("cannot read {name}"))?;
    let mut compression = Compression::sniff(head);
    if compression == Compression::None && !head.is_empty() {
        // An extension that promises a codec the bytes do not show is a corrupt file: let the
        // decoder say so rather than reading compressed bytes as text.
        compression = Compression::from_name(name);
    }
    let decoded: Box<dyn Read + Send> = match compression {
        Compression::None => {
            return Ok(Input {
                name: name.to_string(),
                compression,
                size,
                reader: Box::new(raw),
            })
        }
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Snappy => Box::new(snap::read::FrameDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .context(|| format!("cannot start zstd decoder for {name}"))?,
        ),
    };
    Ok(Input {
        name: name.to_string(),
        compression,
        size,
        reader: Box::new(PeekReader::new(ReadAhead::spawn(decoded, pipe))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn read_all(input: Input) -> Vec<u8> {
        let mut out = Vec::new();
        let mut reader = input.reader;
        reader.read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn concatenated_gzip_members_are_read_whole() {
        let mut data = Vec::new();
        for part in [&b"a\n"[..], b"b\n"] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part).unwrap();
            data.extend(enc.finish().unwrap());
        }
        let input = from_reader("x.gz", Box::new(io::Cursor::new(data)), None).unwrap();
        assert_eq!(input.compression, Compression::Gzip);
        assert_eq!(read_all(input), b"a\nb\n");
    }

    /// Gives its chunks one per read (an empty one is the end); notes a read past the last,
    /// where a pipe with nothing more to give would keep the reader waiting.
    struct Trickle(Vec<Vec<u8>>, Arc<AtomicBool>);

    impl Trickle {
        fn new(chunks: Vec<Vec<u8>>) -> (Box<Self>, Arc<AtomicBool>) {
            let overread = Arc::new(AtomicBool::new(false));
            (Box::new(Trickle(chunks, Arc::clone(&overread))), overread)
        }
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                self.1.store(true, Ordering::SeqCst);
                return Ok(0);
            }
            let chunk = self.0.remove(0);
            out[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn a_short_first_record_on_a_pipe_is_not_held_back() {
        let (pipe, overread) = Trickle::new(vec![b"{}\n".to_vec()]);
        let input = from_reader("-", pipe, None).unwrap();
        assert_eq!(input.compression, Compression::None);
        assert!(!overread.load(Ordering::SeqCst));
        // Magic bytes that arrive in pieces are still recognised, and the end is read once.
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(b"{}\n").unwrap();
        let sz = enc.into_inner().unwrap();
        let pieces = vec![
            sz[..1].to_vec(),
            sz[1..5].to_vec(),
            sz[5..].to_vec(),
            Vec::new(),
        ];
        let (pipe, overread) = Trickle::new(pieces);
        let input = from_reader("-", pipe, None).unwrap();
        assert_eq!(input.compression, Compression::Snappy);
        assert_eq!(read_all(input), b"{}\n");
        assert!(!overread.load(Ordering::SeqCst));
    }

    /// A read-ahead whose thread has already sent `messages` and stopped.
    fn read_ahead_of(messages: Vec<io::Result<Vec<u8>>>) -> ReadAhead {
        let (send, chunks) = sync_channel(messages.len());
        for message in messages {
            send.send(message).unwrap();
        }
        let (recycle, _) = sync_channel(1);
        ReadAhead::receiving(chunks, recycle)
    }

    #[test]
    fn read_ahead_joins_ready_chunks_and_gives_an_error_after_the_bytes_before_it() {
        let mut reader = read_ahead_of(vec![
            Ok(b"ab".to_vec()),
            Ok(b"c".to_vec()),
            Err(io::Error::other("disk on fire")),
        ]);
        let mut out = [0; 16];
        assert_eq!(reader.read(&mut out).unwrap(), 3);
        assert_eq!(&out[..3], b"abc");
        let error = reader.read(&mut out).unwrap_err();
        assert!(error.to_string().contains("on fire"));
        assert_eq!(reader.read(&mut out).unwrap(), 0);
        // A thread that stops without sending the end is an error, not the end.
        let mut reader = read_ahead_of(vec![Ok(b"ab".to_vec())]);
        let mut bytes = Vec::new();
        assert!(reader.read_to_end(&mut bytes).is_err());
        assert_eq!(bytes, b"ab");
        let mut reader = read_ahead_of(vec![Ok(b"ab".to_vec()), Ok(Vec::new())]);
        bytes.clear();
        reader.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, b"ab");
    }

    #[test]
    fn snappy_and_zstd_are_sniffed_without_extension() {
        let mut enc = snap::write::FrameEncoder::new(Vec::new());
        enc.write_all(b"{}\n").unwrap();
        let sz = enc.into_inner().unwrap();
        let input = from_reader("noext", Box::new(io::Cursor::new(sz)), None).unwrap();
        assert_eq!(input.compression, Compression::Snappy);
        assert_eq!(read_all(input), b"{}\n");

        let zst = zstd::encode_all(&b"{}\n"[..], 1).unwrap();
        let input = from_reader("noext", Box::new(io::Cursor::new(zst)), None).unwrap();
        assert_eq!(input.compression, Compression::Zstd);
        assert_eq!(read_all(input), b"{}\n");
    }

    #[test]
    fn peek_waits_for_short_reads() {
        struct OneByte(Vec<u8>, usize);
        impl Read for OneByte {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                if self.1 == self.0.len() || out.is_empty() {
                    return Ok(0);
                }
                out[0] = self.0[self.1];
                self.1 += 1;
                Ok(1)
            }
        }
        let mut r = PeekReader::new(OneByte(b"PAR1xyz".to_vec(), 0));
        assert_eq!(r.peek(4).unwrap(), b"PAR1");
        let mut rest = String::new();
        r.read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "PAR1xyz");
    }

    #[test]
    fn names_lose_their_compression_extension() {
        assert_eq!(Compression::strip_extension("a/b.csv.gz"), "a/b.csv");
        assert_eq!(Compression::strip_extension("b.csv"), "b.csv");
        assert_eq!(extension("dir.d/file"), None);
    }
}
