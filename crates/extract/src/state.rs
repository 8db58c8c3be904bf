//! Incremental extraction: what earlier runs already emitted, so cron runs emit only new data.
//!
//! The state file maps each input file to its identity (device, inode, size, modification
//! time) and the byte offset reached. Plain (uncompressed) CSV, TSV and NDJSON files are
//! append-only logs: a later run starts at the offset reached, and only complete lines are
//! read (a last line without its newline waits for the next run, since a writer may still be
//! writing it). Other files are read whole, once per identity. A file whose inode changed, or
//! that shrank below the offset, was replaced or truncated and is read from the start; so is
//! one whose bytes before the offset changed (rewritten in place, told by checksums of their
//! first and last 4 KiB); a file that was renamed (same inode) resumes where it was.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_stream::atomic::write_file;
use sluice_stream::{Error, Result};

/// What is remembered of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub dev: u64,
    pub inode: u64,
    pub size: u64,
    pub mtime_ns: i64,
    /// Bytes already emitted (the whole size for files read whole).
    pub offset: u64,
    /// Read as an append-only log (resumable at `offset`).
    pub append_only: bool,
    /// The CSV column names, to resume a file past its header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<Vec<String>>,
    /// Lines before `offset` (0 in states written before it was kept).
    #[serde(default)]
    pub lines: u64,
    /// Checksums of the bytes before `offset` ([`fingerprint`]), to tell a file rewritten in
    /// place from one appended to (absent in states written before it was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
}

/// Where reading a file starts, or where it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The byte offset.
    pub offset: u64,
    /// Lines before `offset`, so that positions name the file's own line numbers.
    pub lines: u64,
    /// The CSV column names, read by an earlier run.
    pub header: Option<Vec<String>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StateFile {
    version: u32,
    files: BTreeMap<String, FileState>,
}

/// The state of all files, loaded from `--state` and saved to `--state-out` (or `--state`).
#[derive(Debug)]
pub struct State {
    files: BTreeMap<String, FileState>,
    out: PathBuf,
}

/// Where to read a file from, as the state decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Nothing new since the last run.
    Skip,
    /// Read from `start` up to byte `end` (exclusive; the end of the last complete line for
    /// append-only files).
    Read { start: Resume, end: u64 },
}

impl State {
    /// Loads `path` (a missing file is an empty state); saves go to `out`.
    pub fn load(path: &Path, out: &Path) -> Result<Self> {
        let files = match std::fs::read(path) {
            Ok(bytes) => {
                let parsed: StateFile = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::Other(format!("state file {} is not valid: {e}", path.display()))
                })?;
                parsed.files
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => {
                return Err(Error::io(
                    format!("cannot read state file {}", path.display()),
                    e,
                ))
            }
        };
        Ok(State {
            files,
            out: out.to_path_buf(),
        })
    }

    /// Decides how much of `name` to read. `append_only` says whether its format can resume
    /// mid-file.
    pub fn plan(&self, name: &str, file: &File, append_only: bool) -> Result<Plan> {
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("cannot stat {name}"), e))?;
        let known = self.files.get(name).or_else(|| {
            self.files
                .values()
                .find(|s| s.dev == meta.dev() && s.inode == meta.ino())
        });
        let same_file = known.filter(|s| s.dev == meta.dev() && s.inode == meta.ino());
        if !append_only {
            let unchanged = same_file.is_some_and(|s| {
                s.size == meta.size() && s.mtime_ns == mtime_ns(&meta) && s.offset == s.size
            });
            return Ok(if unchanged {
                Plan::Skip
            } else {
                Plan::Read {
                    start: Resume::default(),
                    end: meta.size(),
                }
            });
        }
        let start = match same_file {
            Some(s) if s.append_only && s.offset > 0 && s.offset <= meta.size() => {
                let seen = fingerprint(file, s.offset, name)?;
                if s.fingerprint.as_ref().is_some_and(|f| *f != seen) {
                    sluice_stream::progress::note(format_args!(
                        "extract: {name} was rewritten since the last run (its first {} bytes \
                         changed); it is read again from the start",
                        s.offset
                    ));
                    Resume::default()
                } else {
                    Resume {
                        offset: s.offset,
                        lines: s.lines,
                        header: s.header.clone(),
                    }
                }
            }
            _ => Resume::default(),
        };
        let end = end_of_last_line(file, meta.size(), name)?;
        Ok(if end <= start.offset {
            Plan::Skip
        } else {
            Plan::Read { start, end }
        })
    }

    /// Records that `name` was emitted up to where `reached` says (append-only files) or
    /// whole.
    pub fn record(
        &mut self,
        name: &str,
        file: &File,
        reached: Resume,
        append_only: bool,
    ) -> Result<()> {
        let meta = file
            .metadata()
            .map_err(|e| Error::io(format!("cannot stat {name}"), e))?;
        let fingerprint = match append_only && reached.offset > 0 {
            true => Some(fingerprint(file, reached.offset, name)?),
            false => None,
        };
        // Another path may have pointed at this inode before a rename.
        self.files
            .retain(|k, s| k == name || !(s.dev == meta.dev() && s.inode == meta.ino()));
        self.files.insert(
            name.to_string(),
            FileState {
                dev: meta.dev(),
                inode: meta.ino(),
                size: if append_only {
                    reached.offset
                } else {
                    meta.size()
                },
                mtime_ns: mtime_ns(&meta),
                offset: if append_only {
                    reached.offset
                } else {
                    meta.size()
                },
                append_only,
                header: reached.header,
                lines: reached.lines,
                fingerprint,
            },
        );
        Ok(())
    }

    /// Saves the state atomically, forgetting files that no longer exist. Call only after
    /// all output was written and flushed.
    pub fn save(mut self) -> Result<()> {
        self.files.retain(|name, _| Path::new(name).exists());
        let file = StateFile {
            version: 1,
            files: self.files,
        };
        let mut bytes = serde_json::to_vec_pretty(&file).expect("state serializes");
        bytes.push(b'\n');
        write_file(&self.out, &bytes)
    }
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime()
        .saturating_mul(1_000_000_000)
        .saturating_add(meta.mtime_nsec())
}

/// Bytes checksummed at each end of what was read.
const FINGERPRINT_SPAN: u64 = 4096;

/// CRC-32s of the first and the last (up to) 4 KiB of `file`'s first `offset` bytes: a file
/// appended to keeps them; one rewritten in place (a regenerated export) almost never does.
fn fingerprint(file: &File, offset: u64, name: &str) -> Result<String> {
    use std::os::unix::fs::FileExt;
    let crc_of = |from: u64, to: u64| -> Result<u32> {
        let mut bytes = vec![0; (to - from) as usize];
        file.read_exact_at(&mut bytes, from)
            .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
        Ok(crc32fast::hash(&bytes))
    };
    let head = crc_of(0, offset.min(FINGERPRINT_SPAN))?;
    let tail = crc_of(offset.saturating_sub(FINGERPRINT_SPAN), offset)?;
    Ok(format!("{head:08x}{tail:08x}"))
}

/// The offset just past the last `\n` in the first `size` bytes of `file`.
fn end_of_last_line(file: &File, size: u64, name: &str) -> Result<u64> {
    let mut file = file;
    let mut end = size;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(chunk))
            .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
        if let Some(i) = memchr::memrchr(b'\n', chunk) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(offset: u64, end: u64) -> Plan {
        let start = Resume {
            offset,
            ..Resume::default()
        };
        Plan::Read { start, end }
    }

    #[test]
    fn append_only_files_resume_at_complete_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.ndjson");
        let name = log.to_string_lossy().into_owned();
        std::fs::write(&log, "{\"a\":1}\n{\"a\":2").unwrap();
        let state_path = dir.path().join("state.json");
        let mut state = State::load(&state_path, &state_path).unwrap();
        let file = File::open(&log).unwrap();
        assert_eq!(state.plan(&name, &file, true).unwrap(), read(0, 8));
        let reached = Resume {
            offset: 8,
            lines: 1,
            header: None,
        };
        state.record(&name, &file, reached, true).unwrap();
        state.save().unwrap();

        let state = State::load(&state_path, &state_path).unwrap();
        assert_eq!(state.plan(&name, &file, true).unwrap(), Plan::Skip);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(b"}\n")
            .unwrap();
        assert_eq!(
            state.plan(&name, &file, true).unwrap(),
            Plan::Read {
                start: Resume {
                    offset: 8,
                    lines: 1,
                    header: None
                },
                end: 16
            }
        );
        // Rewritten in place (same inode, longer): read from the start.
        std::fs::write(&log, "{\"x\":1}\n{\"x\":2}\n").unwrap();
        assert_eq!(state.plan(&name, &file, true).unwrap(), read(0, 16));
        // Replaced by a new file: read from the start.
        std::fs::remove_file(&log).unwrap();
        std::fs::write(&log, "{\"b\":1}\n").unwrap();
        let file = File::open(&log).unwrap();
        assert_eq!(state.plan(&name, &file, true).unwrap(), read(0, 8));
    }
}
