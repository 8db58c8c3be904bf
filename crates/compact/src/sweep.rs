//! Clearing what crashed runs left in a lake: data files no manifest names, temporary files,
//! spill folders, empty window folders. Runs under the lake's lock, so nothing it deletes can
//! belong to a run in progress.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sluice_lake::{remove_if_present, Lake, Manifest, META_DIR};
use sluice_stream::error::IoContext;
use sluice_stream::{Error, Result};

/// Where a run's records wait: a folder in `_sluice/`, or in another folder (--spill-dir).
pub struct SpillPlace<'a> {
    /// The folder that holds the runs' spill folders.
    pub root: PathBuf,
    /// The name prefix of this lake's spill folders there.
    pub prefix: String,
    lake: &'a Lake,
}

impl<'a> SpillPlace<'a> {
    /// The spill folders of `lake`: in `elsewhere`, named after the lake (a folder several
    /// lakes share holds theirs too), else in its `_sluice/`.
    pub fn new(lake: &'a Lake, elsewhere: Option<&Path>) -> Self {
        match elsewhere {
            Some(root) => {
                let canonical = std::fs::canonicalize(lake.root())
                    .unwrap_or_else(|_| lake.root().to_path_buf());
                let id = crc32fast::hash(canonical.to_string_lossy().as_bytes());
                SpillPlace {
                    root: root.to_path_buf(),
                    prefix: format!(".sluice-spill-{id:08x}-"),
                    lake,
                }
            }
            None => SpillPlace {
                root: lake.root().join(META_DIR),
                prefix: ".spill-".into(),
                lake,
            },
        }
    }
}

/// Deletes data files of ours (`part-*.parquet`) that `manifest` does not name, hidden
/// temporary files of ours, and the lake's spill folders; other files are left alone.
pub fn orphans(spill: &SpillPlace<'_>, manifest: Option<&Manifest>) -> Result<()> {
    let live: HashSet<&str> = manifest
        .map(|m| m.files.iter().map(|f| f.path.as_str()).collect())
        .unwrap_or_default();
    let root = spill.lake.root();
    sweep_dir(root, "", &live)?;
    let listed = match std::fs::read_dir(&spill.root) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return empty_folders(root),
        listed => listed.context(|| format!("cannot list {}", spill.root.display()))?,
    };
    for entry in listed {
        let entry = entry.context(|| format!("cannot list {}", spill.root.display()))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(&spill.prefix)
        {
            let path = entry.path();
            std::fs::remove_dir_all(&path)
                .context(|| format!("cannot delete {}", path.display()))?;
        }
    }
    empty_folders(root)
}

fn sweep_dir(dir: &Path, relative: &str, live: &HashSet<&str>) -> Result<()> {
    for entry in std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let inner = match relative {
            "" => name.clone(),
            _ => format!("{relative}/{name}"),
        };
        let kind = entry
            .file_type()
            .context(|| format!("cannot read {}", path.display()))?;
        if kind.is_dir() {
            if !(relative.is_empty() && name == META_DIR) {
                sweep_dir(&path, &inner, live)?;
            }
        } else if is_ours_temporary(&name) || (is_ours(&name) && !live.contains(inner.as_str())) {
            remove_if_present(&path)?;
        }
    }
    Ok(())
}

/// `part-VERSION-RUN-SEQ.parquet`, as runs name data files.
fn is_ours(name: &str) -> bool {
    let Some(stem) = name
        .strip_prefix("part-")
        .and_then(|n| n.strip_suffix(".parquet"))
    else {
        return false;
    };
    let mut parts = stem.split('-');
    let mut next = |n: usize, hex: bool| {
        parts.next().is_some_and(|p| {
            let digit = |b: u8| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            };
            p.len() == n && p.bytes().all(digit)
        })
    };
    next(8, false) && next(8, true) && next(4, false) && parts.next().is_none()
}

/// `.part-VERSION-RUN-SEQ.parquet.tmp`, a data file being written.
fn is_ours_temporary(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_suffix(".tmp"))
        .is_some_and(is_ours)
}

/// Removes empty folders below `root` (not `root` itself, nor `_sluice/`).
pub fn empty_folders(root: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root).context(|| format!("cannot list {}", root.display()))? {
        let entry = entry.context(|| format!("cannot list {}", root.display()))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && entry.file_name() != META_DIR {
            remove_if_empty(&entry.path())?;
        }
    }
    Ok(())
}

/// Removes the empty folders of a tree, bottom up; true when `dir` itself was removed.
fn remove_if_empty(dir: &Path) -> Result<bool> {
    let mut empty = true;
    for entry in std::fs::read_dir(dir).context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry.context(|| format!("cannot list {}", dir.display()))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        empty &= is_dir && remove_if_empty(&entry.path())?;
    }
    if !empty {
        return Ok(false);
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(format!("cannot delete {}", dir.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_names_are_swept() {
        assert!(is_ours("part-00000012-0a1b2c3d-0003.parquet"));
        assert!(!is_ours("part-00000012-0003.parquet"));
        assert!(!is_ours("part-12-3.parquet"));
        assert!(!is_ours("data.parquet"));
        assert!(is_ours_temporary(
            ".part-00000012-0a1b2c3d-0003.parquet.tmp"
        ));
        assert!(!is_ours_temporary(".other.tmp"));
    }

    #[test]
    fn files_no_manifest_names_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let _lock = lake.lock().unwrap();
        let root = dir.path();
        for name in [
            "dt=2013-01-01/part-00000001-00000000-0000.parquet",
            "dt=2013-01-02/part-00000002-00000000-0000.parquet",
            "dt=2013-01-02/.part-00000002-00000000-0001.parquet.tmp",
            "dt=2013-01-03/notes.txt",
        ] {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "x").unwrap();
        }
        std::fs::create_dir_all(root.join("_sluice/.spill-x/y")).unwrap();
        let mut manifest = Manifest::empty(sluice_lake::Layout {
            time_field: "t".into(),
            window_ms: 86_400_000,
            path_template: "dt=%Y-%m-%d".into(),
            key: None,
        });
        manifest.files.push(sluice_lake::DataFile {
            path: "dt=2013-01-01/part-00000001-00000000-0000.parquet".into(),
            window_start_ms: 0,
            rows: 1,
            bytes: 1,
            min_time_ms: 0,
            max_time_ms: 0,
        });
        orphans(&SpillPlace::new(&lake, None), Some(&manifest)).unwrap();
        // Elsewhere: this lake's spill folders go, another lake's stay.
        let elsewhere = tempfile::tempdir().unwrap();
        let place = SpillPlace::new(&lake, Some(elsewhere.path()));
        let ours = elsewhere.path().join(format!("{}abc", place.prefix));
        let theirs = elsewhere.path().join(".sluice-spill-00000000-abc");
        std::fs::create_dir_all(&ours).unwrap();
        std::fs::create_dir_all(&theirs).unwrap();
        orphans(&place, Some(&manifest)).unwrap();
        assert!(!ours.exists() && theirs.exists());
        assert!(root
            .join("dt=2013-01-01/part-00000001-00000000-0000.parquet")
            .exists());
        assert!(!root.join("dt=2013-01-02").exists());
        assert!(root.join("dt=2013-01-03/notes.txt").exists());
        assert!(!root.join("_sluice/.spill-x").exists());
        assert!(root.join("_sluice/manifest").is_dir());
    }
}
