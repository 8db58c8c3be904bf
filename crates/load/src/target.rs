//! Where output files go, and how they appear atomically: one file, stdout, or a directory of
//! parts (optionally Hive-partitioned, `key=value/part-….parquet`).

use std::fs;
use std::path::{Path, PathBuf};

use sluice_stream::atomic::{parent_dir, sync_dir, AtomicFile};
use sluice_stream::{Error, Result};

use crate::writer::Output;

/// What OUTPUT names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `-`: standard output.
    Stdout,
    /// One file.
    File(PathBuf),
    /// A directory of part files.
    Dir(PathBuf),
}

/// Hands out output files and makes them appear only when the whole run succeeded.
///
/// A single file is written under a hidden temporary name and renamed at the end. A new
/// directory (or one replaced with `--overwrite`) is written as a hidden staging directory
/// beside it and renamed into place at the end. With `--append` (or into an existing empty
/// directory) each new part is written under a hidden name and all are renamed at the end.
pub struct Target {
    layout: Layout,
    overwrite: bool,
    /// Where parts are written: a staging directory, or the directory itself.
    root: PathBuf,
    staged: bool,
    single: Option<AtomicFile>,
    /// Parts written under hidden names, to be renamed: (temporary, final).
    pending: Vec<(PathBuf, PathBuf)>,
    run_id: String,
    sequence: u64,
    committed: bool,
}

impl Target {
    /// Prepares the output. An existing file or non-empty directory is an error unless
    /// `overwrite` (replace it) or, for directories, `append` (add parts to it).
    pub fn open(layout: Layout, overwrite: bool, append: bool) -> Result<Self> {
        let mut target = Target {
            layout: layout.clone(),
            overwrite,
            root: PathBuf::new(),
            staged: false,
            single: None,
            pending: Vec::new(),
            run_id: run_id(),
            sequence: 0,
            committed: false,
        };
        match &layout {
            Layout::Stdout => {}
            Layout::File(path) => {
                if append {
                    return Err(Error::Usage("--append adds parts to a directory: name a directory (ending in /) or use --partition-by".into()));
                }
                if path.is_dir() {
                    return Err(Error::Usage(format!(
                        "{} is a directory: end it with / to write parts into it",
                        path.display()
                    )));
                }
                target.single = Some(AtomicFile::create(path, overwrite)?);
            }
            Layout::Dir(dir) => {
                let exists = dir.exists();
                if exists && !dir.is_dir() {
                    return Err(Error::Other(format!(
                        "{} exists and is not a directory",
                        dir.display()
                    )));
                }
                let empty = exists
                    && fs::read_dir(dir)
                        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?
                        .next()
                        .is_none();
                if exists && !empty && !append && !overwrite {
                    return Err(Error::Other(format!(
                        "{} exists (use --append to add to it, --overwrite to replace it)",
                        dir.display()
                    )));
                }
                if exists && (empty || append) {
                    target.root = dir.clone();
                } else {
                    let parent = parent_dir(dir);
                    fs::create_dir_all(parent)
                        .map_err(|e| Error::io(format!("cannot create {}", parent.display()), e))?;
                    let name = dir
                        .file_name()
                        .map_or("out".into(), |n| n.to_string_lossy().into_owned());
                    let staging = tempfile::Builder::new()
                        .prefix(&format!(".{name}.staging-"))
                        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o777))
                        .tempdir_in(parent)
                        .map_err(|e| {
                            Error::io(
                                format!(
                                    "cannot create a staging directory in {}",
                                    parent.display()
                                ),
                                e,
                            )
                        })?;
                    target.root = staging.keep();
                    target.staged = true;
                }
            }
        }
        Ok(target)
    }

    /// Starts the next file: for a directory, a new part in `partition` (a relative path such
    /// as `origin=JFK/month=1`, or empty). Returns its display name and where to write.
    pub fn next_file(&mut self, partition: &str, extension: &str) -> Result<(String, Output)> {
        match &self.layout {
            Layout::Stdout => Ok(("stdout".into(), Output::Stdout)),
            Layout::File(path) => {
                let file = self.single.as_mut().expect("opened").file();
                let clone = file
                    .try_clone()
                    .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
                Ok((path.display().to_string(), Output::File(clone)))
            }
            Layout::Dir(dir) => {
                let sub = self.root.join(partition);
                fs::create_dir_all(&sub)
                    .map_err(|e| Error::io(format!("cannot create {}", sub.display()), e))?;
                let name = format!("part-{}-{:05}.{extension}", self.run_id, self.sequence);
                self.sequence += 1;
                let display = dir.join(partition).join(&name).display().to_string();
                let path = if self.staged {
                    sub.join(&name)
                } else {
                    let hidden = sub.join(format!(".{name}.tmp"));
                    self.pending.push((hidden.clone(), sub.join(&name)));
                    hidden
                };
                let file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
                Ok((display, Output::File(file)))
            }
        }
    }

    /// Makes everything written visible: syncs and renames into place.
    pub fn commit(mut self) -> Result<()> {
        self.committed = true;
        match &self.layout {
            Layout::Stdout => Ok(()),
            Layout::File(_) => self.single.take().expect("opened").commit(),
            Layout::Dir(dir) => {
                sync_tree(&self.root)?;
                if self.staged {
                    if dir.exists() && self.overwrite {
                        let old = parent_dir(dir).join(format!(
                            ".{}.old-{}",
                            dir.file_name()
                                .map_or("out".into(), |n| n.to_string_lossy()),
                            self.run_id
                        ));
                        fs::rename(dir, &old).map_err(|e| {
                            Error::io(format!("cannot replace {}", dir.display()), e)
                        })?;
                        fs::rename(&self.root, dir).map_err(|e| {
                            Error::io(format!("cannot rename into {}", dir.display()), e)
                        })?;
                        fs::remove_dir_all(&old).map_err(|e| {
                            Error::io(format!("cannot remove {}", old.display()), e)
                        })?;
                    } else {
                        // rename(2) onto an existing non-empty directory fails: never clobbers.
                        fs::rename(&self.root, dir).map_err(|e| {
                            Error::io(format!("cannot rename into {}", dir.display()), e)
                        })?;
                    }
                    sync_dir(parent_dir(dir))
                } else {
                    for (hidden, final_path) in std::mem::take(&mut self.pending) {
                        fs::rename(&hidden, &final_path).map_err(|e| {
                            Error::io(format!("cannot rename into {}", final_path.display()), e)
                        })?;
                        sync_dir(parent_dir(&final_path))?;
                    }
                    Ok(())
                }
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        if self.staged {
            let _ = fs::remove_dir_all(&self.root);
        }
        for (hidden, _) in &self.pending {
            let _ = fs::remove_file(hidden);
        }
    }
}

/// Syncs every file and directory below `root`, so a rename publishes durable data.
fn sync_tree(root: &Path) -> Result<()> {
    for entry in
        fs::read_dir(root).map_err(|e| Error::io(format!("cannot list {}", root.display()), e))?
    {
        let path = entry
            .map_err(|e| Error::io(format!("cannot list {}", root.display()), e))?
            .path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            fs::File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(format!("cannot sync {}", path.display()), e))?;
        }
    }
    sync_dir(root)
}

/// A name unique to this run, so parts appended by different runs never collide.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:05x}", nanos / 1000, std::process::id() & 0xfffff)
}

/// The value written for null or empty partition values (Hive's convention).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// One Hive-style path component, `key=value`. Characters that are special in paths or to
/// Hive (`/`, `\`, `=`, `%`, `:`, `*`, `?`, `"`, `'`, `#`, `[`, `]`, `{`, `^`, controls and
/// NUL) are percent-encoded, so no value can name a path outside the output directory. Very
/// long values are cut and given a hash of the whole value, keeping names unique and under
/// the file system's limit.
pub fn partition_component(key: &str, value: Option<&str>) -> String {
    let value = match value {
        None | Some("") => NULL_PARTITION.to_string(),
        Some(v) => escape(v),
    };
    let key = escape(key);
    const LIMIT: usize = 200;
    if key.len() + 1 + value.len() <= LIMIT {
        return format!("{key}={value}");
    }
    let hash = fnv1a(value.as_bytes());
    let room = LIMIT.saturating_sub(key.len() + 18).max(8);
    let mut cut = room.min(value.len());
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    // Never split a %XX escape.
    if let Some(p) = value[..cut].rfind('%') {
        if p + 3 > cut {
            cut = p;
        }
    }
    format!("{key}={}~{hash:016x}", &value[..cut])
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || "\"#%'*/:=?\\[]^{}".contains(c) || c == '\u{7f}' {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_cannot_escape_the_directory() {
        assert_eq!(partition_component("origin", Some("JFK")), "origin=JFK");
        assert_eq!(
            partition_component("p", Some("../../etc")),
            "p=..%2F..%2Fetc"
        );
        assert_eq!(partition_component("p", Some("a\0b")), "p=a%00b");
        assert_eq!(
            partition_component("p", None),
            "p=__HIVE_DEFAULT_PARTITION__"
        );
        assert_eq!(
            partition_component("p", Some("")),
            "p=__HIVE_DEFAULT_PARTITION__"
        );
        assert_eq!(partition_component("a=b", Some("x")), "a%3Db=x");
        let long = "é".repeat(500);
        let component = partition_component("p", Some(&long));
        assert!(component.len() <= 200, "{}", component.len());
        assert_ne!(component, partition_component("p", Some(&"é".repeat(501))));
        assert!(!component.contains('/'));
    }

    #[test]
    fn directories_appear_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lake");
        let mut target = Target::open(Layout::Dir(out.clone()), false, false).unwrap();
        let (_, file) = target.next_file("k=1", "ndjson").unwrap();
        drop(file);
        assert!(!out.exists());
        target.commit().unwrap();
        assert_eq!(fs::read_dir(out.join("k=1")).unwrap().count(), 1);
        // Existing and non-empty: refused without --append or --overwrite.
        assert!(Target::open(Layout::Dir(out.clone()), false, false).is_err());
        let mut target = Target::open(Layout::Dir(out.clone()), false, true).unwrap();
        target.next_file("k=1", "ndjson").unwrap();
        drop(target);
        assert_eq!(
            fs::read_dir(out.join("k=1")).unwrap().count(),
            1,
            "uncommitted parts are removed"
        );
    }
}
