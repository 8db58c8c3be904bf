//! What happens to a bad record: `--on-error fail|skip|dead-letter=PATH`.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use base64::Engine;

use crate::error::{Error, IoContext, Position, Result};
use crate::json::write_string;

/// The policy for records that cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OnError {
    /// Stop at the first bad record with exit code 1.
    #[default]
    Fail,
    /// Count bad records, report the count at the end, and go on.
    Skip,
    /// Append each bad record, with its position and reason, to this NDJSON file and go on.
    DeadLetter(PathBuf),
}

impl FromStr for OnError {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fail" => Ok(OnError::Fail),
            "skip" => Ok(OnError::Skip),
            _ => match s.strip_prefix("dead-letter=") {
                Some("") | None => Err(format!(
                    "'{s}' is not a policy: use fail, skip or dead-letter=PATH"
                )),
                Some(path) => Ok(OnError::DeadLetter(PathBuf::from(path))),
            },
        }
    }
}

/// Applies the [`OnError`] policy and counts every record it is handed.
pub struct Rejects {
    policy: OnError,
    program: &'static str,
    count: u64,
    dead_letter: Option<File>,
    line: Vec<u8>,
}

impl Rejects {
    /// Prepares the policy; a dead-letter file is opened for appending now, so a bad path
    /// fails before any work is done.
    pub fn new(policy: OnError, program: &'static str) -> Result<Self> {
        let dead_letter = match &policy {
            OnError::DeadLetter(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .context(|| format!("cannot open dead-letter file {}", path.display()))?,
            ),
            _ => None,
        };
        Ok(Rejects {
            policy,
            program,
            count: 0,
            dead_letter,
            line: Vec::new(),
        })
    }

    /// How many records were rejected so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Handles one bad record: an error under `fail`, counted under `skip`, written under
    /// `dead-letter`. `raw` is the record's original bytes; `truncated` says it is only their
    /// beginning (an oversize record).
    pub fn reject(
        &mut self,
        position: &Position,
        reason: &str,
        raw: &[u8],
        truncated: bool,
    ) -> Result<()> {
        self.count += 1;
        match &self.policy {
            OnError::Fail => Err(Error::BadRecord {
                position: position.clone(),
                reason: reason.to_string(),
            }),
            OnError::Skip => Ok(()),
            OnError::DeadLetter(path) => {
                let entry = dead_letter_entry(
                    &mut self.line,
                    self.program,
                    position,
                    reason,
                    raw,
                    truncated,
                );
                // One write per entry on an O_APPEND file: entries from several programs
                // sharing the file do not interleave.
                let file = self.dead_letter.as_mut().expect("opened in new()");
                file.write_all(entry)
                    .context(|| format!("cannot write dead-letter file {}", path.display()))
            }
        }
    }

    /// Makes dead-lettered records durable and reports skipped ones on stderr.
    pub fn finish(&mut self) -> Result<()> {
        if let (Some(file), OnError::DeadLetter(path)) = (&self.dead_letter, &self.policy) {
            // Only a regular file can be synced (not /dev/null or /dev/stderr, say).
            if file.metadata().is_ok_and(|m| m.is_file()) {
                file.sync_all()
                    .context(|| format!("cannot sync dead-letter file {}", path.display()))?;
            }
            if self.count > 0 {
                crate::progress::note(format_args!(
                    "{}: {} bad record(s) written to {}",
                    self.program,
                    self.count,
                    path.display()
                ));
            }
        }
        if self.policy == OnError::Skip && self.count > 0 {
            crate::progress::note(format_args!(
                "{}: skipped {} bad record(s)",
                self.program, self.count
            ));
        }
        Ok(())
    }
}

/// Formats one dead-letter line: `{"program","source","line","byte","row","reason","record"}`,
/// with `record_base64` instead of `record` when the bytes are not valid UTF-8.
fn dead_letter_entry<'b>(
    out: &'b mut Vec<u8>,
    program: &str,
    position: &Position,
    reason: &str,
    raw: &[u8],
    truncated: bool,
) -> &'b [u8] {
    out.clear();
    out.extend_from_slice(b"{\"program\":");
    write_string(out, program.as_bytes());
    out.extend_from_slice(b",\"source\":");
    write_string(out, position.source.as_bytes());
    for (name, value) in [
        ("line", position.line),
        ("byte", position.byte),
        ("row", position.row),
    ] {
        if let Some(v) = value {
            out.extend_from_slice(format!(",\"{name}\":{v}").as_bytes());
        }
    }
    out.extend_from_slice(b",\"reason\":");
    write_string(out, reason.as_bytes());
    match std::str::from_utf8(raw) {
        Ok(text) => {
            out.extend_from_slice(b",\"record\":");
            write_string(out, text.as_bytes());
        }
        Err(_) => {
            out.extend_from_slice(b",\"record_base64\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(raw)
                    .as_bytes(),
            );
            out.push(b'"');
        }
    }
    if truncated {
        out.extend_from_slice(b",\"truncated\":true");
    }
    out.extend_from_slice(b"}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse() {
        assert_eq!("skip".parse::<OnError>().unwrap(), OnError::Skip);
        assert_eq!(
            "dead-letter=x.ndjson".parse::<OnError>().unwrap(),
            OnError::DeadLetter("x.ndjson".into())
        );
        assert!("dead-letter=".parse::<OnError>().is_err());
        assert!("ignore".parse::<OnError>().is_err());
    }

    #[test]
    fn dead_letter_entries_are_lossless() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dlq.ndjson");
        let mut rejects = Rejects::new(OnError::DeadLetter(path.clone()), "test").unwrap();
        let pos = Position {
            source: "in.csv".into(),
            line: Some(3),
            byte: Some(10),
            row: None,
        };
        rejects.reject(&pos, "bad", b"a,\xff", false).unwrap();
        rejects.reject(&pos, "bad", b"{\"x\"", false).unwrap();
        rejects.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["record_base64"], "YSz/");
        assert_eq!(lines[0]["line"], 3);
        assert_eq!(lines[1]["record"], "{\"x\"");
        assert_eq!(rejects.count(), 2);
    }

    #[test]
    fn fail_names_the_position() {
        let mut rejects = Rejects::new(OnError::Fail, "test").unwrap();
        let pos = Position {
            source: "in.ndjson".into(),
            line: Some(7),
            ..Position::default()
        };
        let err = rejects
            .reject(&pos, "not a JSON object", b"[]", false)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "in.ndjson:7: bad record: not a JSON object"
        );
    }
}
