//! One error type for the record stream, carrying where in the input things went wrong.

use std::fmt;
use std::io;

/// A place in an input: the source name and whatever position the reader knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Position {
    /// The file name, or `-` for stdin.
    pub source: String,
    /// 1-based line number where the record starts.
    pub line: Option<u64>,
    /// 0-based byte offset where the record starts (in the decompressed stream).
    pub byte: Option<u64>,
    /// 1-based row (record) number, for row-oriented formats.
    pub row: Option<u64>,
}

impl Position {
    /// A position that only names the source.
    pub fn source(source: impl Into<String>) -> Self {
        Position {
            source: source.into(),
            ..Position::default()
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(row) = self.row {
            write!(f, " (row {row})")?;
        }
        if let Some(byte) = self.byte {
            write!(f, " (byte {byte})")?;
        }
        Ok(())
    }
}

/// Everything that can stop a sluice program.
#[derive(Debug)]
pub enum Error {
    /// The command line was wrong (exit code 2).
    Usage(String),
    /// An I/O operation failed; `context` says what was being done.
    Io { context: String, source: io::Error },
    /// A record was bad and the policy is `fail`.
    BadRecord { position: Position, reason: String },
    /// The input as a whole cannot be read (a corrupt file, a broken structure).
    BadInput { position: Position, reason: String },
    /// Anything else, already phrased for the user.
    Other(String),
    /// Another run holds what this one needs (a lake being compacted): try again later
    /// (exit code 75, EX_TEMPFAIL of sysexits.h).
    Busy(String),
}

/// Result with the stream's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// True when the error is a closed stdout (`| head`), which is not a failure.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }

    /// Sets a closed stdout apart from other outcomes: `Ok(true)` when stdout was closed early
    /// (`| head`), `Ok(false)` on success, and any other error as it is. A run whose reader
    /// left still finishes its --on-error policy and prints its --stats.
    pub fn output_closed(result: Result<()>) -> Result<bool> {
        match result {
            Err(e) if e.is_broken_pipe() => Ok(true),
            other => other.map(|()| false),
        }
    }

    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Busy(_) => 75,
            _ if self.is_broken_pipe() => 0,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Other(msg) | Error::Busy(msg) => f.write_str(msg),
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::BadRecord { position, reason } => write!(f, "{position}: bad record: {reason}"),
            Error::BadInput { position, reason } => write!(f, "{position}: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Adds context to I/O results.
pub trait IoContext<T> {
    /// Wraps the error with a description of what was being done.
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::io(what(), e))
    }
}
