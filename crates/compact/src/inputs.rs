//! The source of a compaction: its input files, their identities, and where consumed ones go.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sluice_lake::InputId;
use sluice_stream::atomic::sync_dir;
use sluice_stream::error::IoContext;
use sluice_stream::{Error, Result};

/// The folder of the source where consumed inputs are moved.
pub const DONE_DIR: &str = "_done";
/// Bytes read from each end of a file for its fingerprint.
const FINGERPRINT_SPAN: u64 = 64 * 1024;

/// What happens to an input once a commit consumed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterCommit {
    /// Moved to `SOURCE/_done/` (same relative path).
    Move,
    /// Deleted.
    Delete,
    /// Left in place (the manifest remembers it).
    Keep,
}

/// A directory or glob of input files.
#[derive(Debug, Clone)]
pub struct Source {
    /// As given on the command line.
    pub spec: String,
    /// The directory inputs are named relative to (the glob's fixed part).
    pub base: PathBuf,
    pattern: Option<glob::Pattern>,
}

/// An input file found in the source.
#[derive(Debug, Clone)]
pub struct Input {
    /// Its path, to open.
    pub path: PathBuf,
    /// Its identity, as a manifest keeps it.
    pub id: InputId,
}

impl Source {
    /// A directory, or a pattern with `*`, `?` or `[` (its folders up to the first wildcard
    /// are the base).
    pub fn parse(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if path.is_dir() || !spec.contains(['*', '?', '[']) {
            return Ok(Source {
                spec: spec.to_string(),
                base: path.to_path_buf(),
                pattern: None,
            });
        }
        let pattern = glob::Pattern::new(spec)
            .map_err(|e| Error::Usage(format!("bad pattern {spec:?}: {e}")))?;
        let fixed: PathBuf = path
            .components()
            .take_while(|c| !c.as_os_str().to_string_lossy().contains(['*', '?', '[']))
            .collect();
        Ok(Source {
            spec: spec.to_string(),
            base: if fixed.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                fixed
            },
            pattern: Some(pattern),
        })
    }

    /// Every input file now in the source, sorted by path: regular files below the base (that
    /// match the pattern, if any), leaving out names starting with `.` (files being written,
    /// by convention) or `_` (`_done/`, `_SUCCESS`).
    pub fn list(&self) -> Result<Vec<PathBuf>> {
        if self.base.is_file() {
            return Err(Error::Usage(format!(
                "SOURCE {} is a file: name its folder, or a quoted glob such as 'dir/*.json'",
                self.base.display()
            )));
        }
        if !self.base.is_dir() {
            return Err(Error::Other(format!(
                "cannot read source {}: no such directory",
                self.base.display()
            )));
        }
        let mut found = Vec::new();
        walk(&self.base, &mut found)?;
        if let Some(pattern) = &self.pattern {
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            found.retain(|p| pattern.matches_path_with(p, options));
        }
        found.sort();
        Ok(found)
    }

    /// The identity of an input file now.
    pub fn identify(&self, path: &Path) -> Result<Input> {
        let meta = std::fs::metadata(path).context(|| format!("cannot read {}", path.display()))?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i64);
        let relative = path.strip_prefix(&self.base).unwrap_or(path);
        Ok(Input {
            path: path.to_path_buf(),
            id: InputId {
                path: relative.to_string_lossy().into_owned(),
                size: meta.len(),
                modified_ns,
                fingerprint: fingerprint(path, meta.len())?,
            },
        })
    }

    /// Where a consumed input is moved.
    fn done_path(&self, id: &InputId) -> PathBuf {
        self.base.join(DONE_DIR).join(&id.path)
    }

    /// Moves, deletes or keeps the consumed inputs that still stand in the source unchanged
    /// (a file since replaced by another under the same name is left alone). Safe to repeat.
    pub fn settle(&self, consumed: &[InputId], after: AfterCommit) -> Result<()> {
        if after == AfterCommit::Keep {
            return Ok(());
        }
        let mut dirs = HashSet::new();
        for id in consumed {
            let path = self.base.join(&id.path);
            if !self.still_there(&path, id)? {
                continue;
            }
            match after {
                AfterCommit::Delete => sluice_lake::remove_if_present(&path)?,
                _ => {
                    let to = free_name(self.done_path(id));
                    let dir = sluice_stream::atomic::parent_dir(&to).to_path_buf();
                    std::fs::create_dir_all(&dir)
                        .context(|| format!("cannot create {}", dir.display()))?;
                    std::fs::rename(&path, &to).context(|| {
                        format!("cannot move {} to {}", path.display(), to.display())
                    })?;
                    dirs.insert(dir);
                }
            }
            dirs.insert(sluice_stream::atomic::parent_dir(&path).to_path_buf());
        }
        dirs.iter().try_for_each(|dir| sync_dir(dir))
    }

    /// True when the input `id` stands at `path` with the same size and modification time.
    pub fn still_there(&self, path: &Path, id: &InputId) -> Result<bool> {
        Ok(match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() && meta.len() == id.size => self.identify(path)?.id == *id,
            _ => false,
        })
    }
}

/// `path`, or `path.1`, `path.2`, … when it is taken (an input of the same name was consumed
/// before).
fn free_name(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    (1..)
        .map(|n| PathBuf::from(format!("{}.{n}", path.display())))
        .find(|p| !p.exists())
        .unwrap_or(path)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("cannot list {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with(['.', '_']) {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

/// CRC-32 of a file's first and last 64 KiB, in hex.
fn fingerprint(path: &Path, size: u64) -> Result<String> {
    let read = || format!("cannot read {}", path.display());
    let mut file = File::open(path).context(read)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; FINGERPRINT_SPAN.min(size) as usize];
    file.read_exact(&mut buf).context(read)?;
    hasher.update(&buf);
    if size > FINGERPRINT_SPAN {
        let tail = FINGERPRINT_SPAN.min(size - FINGERPRINT_SPAN);
        buf.resize(tail as usize, 0);
        file.seek(SeekFrom::Start(size - tail))
            .and_then(|_| file.read_exact(&mut buf))
            .context(read)?;
        hasher.update(&buf);
    }
    Ok(format!("{:08x}", hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_listed_without_hidden_and_done_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["b.json", "a/c.json", ".part.tmp", "_done/x.json", "a/d.csv"] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}\n").unwrap();
        }
        let source = Source::parse(&root.to_string_lossy()).unwrap();
        let listed: Vec<_> = source.list().unwrap();
        let names: Vec<_> = listed
            .iter()
            .map(|p| p.strip_prefix(root).unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a/c.json", "a/d.csv", "b.json"]);

        let glob = Source::parse(&format!("{}/**/*.json", root.display())).unwrap();
        assert_eq!(glob.base, root);
        assert_eq!(glob.list().unwrap().len(), 2);

        let input = source.identify(&root.join("a/c.json")).unwrap();
        assert_eq!(input.id.path, "a/c.json");
        source
            .settle(std::slice::from_ref(&input.id), AfterCommit::Move)
            .unwrap();
        assert!(root.join("_done/a/c.json").is_file());
        assert!(!root.join("a/c.json").exists());
        // Settling again (a rerun finishing a commit) changes nothing.
        source.settle(&[input.id], AfterCommit::Move).unwrap();
        assert!(!root.join("_done/a/c.json.1").exists());
    }
}
