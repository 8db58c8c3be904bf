//! A lake: Parquet files under window folders, and a log of manifests in `_sluice/manifest/`
//! that says which of them are in it.
//!
//! Each commit publishes manifest N+1, a whole snapshot (schema, live files, consumed inputs,
//! what the commit added and removed), by a create-if-absent step: the manifest is written and
//! synced under a temporary name, then hard-linked (`link(2)`) to its final name, which fails
//! if that version exists. Two writers can never both publish version N+1, and a reader never
//! sees half a manifest. A data file no manifest names is not in the lake. The protocol needs
//! only create-if-absent and whole-object reads, so it carries over to object stores (a
//! conditional put in place of the link).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sluice_stream::atomic::sync_dir;
use sluice_stream::error::IoContext;
use sluice_stream::{Error, Result};

/// The folder of a lake that holds its manifests and lock.
pub const META_DIR: &str = "_sluice";
const FORMAT: &str = "sluice-lake/1";

/// One version of the lake: everything a reader or the next commit needs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always `sluice-lake/1`.
    pub format: String,
    /// 1 for the first commit, then one more for each.
    pub version: u64,
    /// When it was committed (ms since the Unix epoch; for people, never for windows).
    pub committed_at_ms: i64,
    /// How records are cut into windows; every commit of a lake uses the same.
    pub layout: Layout,
    /// The lake's schema (`load --schema` form): the union of every commit's columns.
    pub schema: serde_json::Value,
    /// The data files in the lake, paths relative to its root.
    pub files: Vec<DataFile>,
    /// Inputs consumed by some commit that still stood in the source when this one was made
    /// (kept inputs, or ones not yet moved to `_done/`).
    pub consumed: Vec<InputId>,
    /// For a lake fed from a topic: per partition, the next offset to read (every record
    /// before it is in the lake).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub offsets: BTreeMap<u32, u64>,
    /// What this commit did.
    pub commit: Commit,
}

/// How records are placed: by event-time window (the time field and the window size), or with
/// key compaction, by a hash of their key into buckets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Layout {
    /// The field holding each record's event time (empty with key compaction).
    pub time_field: String,
    /// The window size in milliseconds (0 with key compaction).
    pub window_ms: i64,
    /// The folder of a window: a strftime pattern applied to the window's start (UTC); with
    /// key compaction, `bucket=` and a `N` for each digit of the bucket number.
    pub path_template: String,
    /// Key compaction: the lake holds the latest record of each key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyLayout>,
}

/// Key compaction: the latest record of each key, in buckets by a hash of the key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct KeyLayout {
    /// The field holding each record's key.
    pub field: String,
    /// How many buckets (folders) the keys are spread over.
    pub buckets: u32,
    /// The field that orders a key's records (the greatest wins); none: the order they came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
}

/// A data file of the lake.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the lake's root, `/`-separated.
    pub path: String,
    /// The start of the file's window (ms since the Unix epoch), or its bucket with key
    /// compaction.
    pub window_start_ms: i64,
    /// Records in the file.
    pub rows: u64,
    /// The file's size.
    pub bytes: u64,
    /// The earliest and latest event time in it (ms); with key compaction, the least and
    /// greatest --order-by value (0 without one).
    pub min_time_ms: i64,
    /// See `min_time_ms`.
    pub max_time_ms: i64,
}

/// An input file as it was consumed: two files with the same identity are the same input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InputId {
    /// Relative to the source directory, `/`-separated.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time (ns since the Unix epoch).
    pub modified_ns: i64,
    /// CRC-32 of its first and last 64 KiB, in hex.
    pub fingerprint: String,
}

/// Records `from..to` (offsets, `to` excluded) of a topic partition.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct OffsetRange {
    /// The partition.
    pub partition: u32,
    /// The first offset.
    pub from: u64,
    /// The offset after the last.
    pub to: u64,
}

/// What one commit changed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Commit {
    /// The source the inputs were read from, as given (`topic:NAME` for a topic).
    pub source: String,
    /// Inputs consumed (each by exactly this commit).
    pub inputs: Vec<InputId>,
    /// Topic records consumed (each range by exactly this commit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<OffsetRange>,
    /// Data files added (paths relative to the root).
    pub added: Vec<String>,
    /// Data files removed (rewritten into added ones), deleted after the commit.
    pub removed: Vec<String>,
    /// Records read from the inputs.
    pub records_in: u64,
    /// Records handed to `--on-error` instead.
    pub records_rejected: u64,
}

impl Manifest {
    /// The first manifest a lake with this layout would get.
    pub fn empty(layout: Layout) -> Self {
        Manifest {
            format: FORMAT.to_string(),
            version: 0,
            committed_at_ms: 0,
            layout,
            schema: serde_json::json!({"fields": []}),
            files: Vec::new(),
            consumed: Vec::new(),
            offsets: BTreeMap::new(),
            commit: Commit::default(),
        }
    }
}

/// A lake directory.
#[derive(Debug, Clone)]
pub struct Lake {
    root: PathBuf,
}

/// Held while a run works on a lake; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct LakeLock {
    _file: File,
}

impl Lake {
    /// The lake rooted at `root` (which need not exist yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Lake { root: root.into() }
    }

    /// True when `dir` holds a lake's manifest log.
    pub fn is_lake(dir: &Path) -> bool {
        dir.join(META_DIR).join("manifest").is_dir()
    }

    /// The lake's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn manifest_dir(&self) -> PathBuf {
        self.root.join(META_DIR).join("manifest")
    }

    fn manifest_path(&self, version: u64) -> PathBuf {
        self.manifest_dir().join(format!("{version:020}.json"))
    }

    /// Takes the lake's lock (creating the lake's folders), or fails with [`Error::Busy`] when
    /// another run holds it. The lock is `flock(2)` on `_sluice/lock`: the kernel drops it when
    /// the holder exits, however it exits.
    pub fn lock(&self) -> Result<LakeLock> {
        let dir = self.manifest_dir();
        std::fs::create_dir_all(&dir).context(|| format!("cannot create {}", dir.display()))?;
        let path = self.root.join(META_DIR).join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .context(|| format!("cannot open {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(LakeLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(format!(
                "{} is being compacted by another run (it holds {}); this run did nothing",
                self.root.display(),
                path.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::io(format!("cannot lock {}", path.display()), e))
            }
        }
    }

    /// The versions published so far, in order.
    pub fn versions(&self) -> Result<Vec<u64>> {
        let dir = self.manifest_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
        };
        let mut versions = Vec::new();
        for entry in entries {
            let entry = entry.context(|| format!("cannot list {}", dir.display()))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if let Some(version) = name.strip_suffix(".json").and_then(|v| v.parse().ok()) {
                versions.push(version);
            }
        }
        versions.sort_unstable();
        Ok(versions)
    }

    /// The latest manifest, if any commit was made.
    pub fn latest(&self) -> Result<Option<Manifest>> {
        match self.versions()?.last() {
            Some(&version) => self.read(version).map(Some),
            None => Ok(None),
        }
    }

    fn read(&self, version: u64) -> Result<Manifest> {
        let path = self.manifest_path(version);
        let bytes = std::fs::read(&path).context(|| format!("cannot read {}", path.display()))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Other(format!("{} is not a lake manifest: {e}", path.display())))?;
        if manifest.format != FORMAT || manifest.version != version {
            return Err(Error::Other(format!(
                "{} is not version {version} of a {FORMAT} lake",
                path.display()
            )));
        }
        Ok(manifest)
    }

    /// Publishes `manifest` as its version, only if no manifest of that version exists: the
    /// commit point. Fails, changing nothing, when another writer published it first.
    pub fn publish(&self, manifest: &Manifest) -> Result<()> {
        let dir = self.manifest_dir();
        let target = self.manifest_path(manifest.version);
        let temp = dir.join(format!(
            ".{:020}.json.tmp-{}",
            manifest.version,
            std::process::id()
        ));
        let mut bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| Error::Other(format!("cannot encode a manifest: {e}")))?;
        bytes.push(b'\n');
        let written = write_synced(&temp, &bytes).and_then(|()| {
            std::fs::hard_link(&temp, &target).map_err(|e| match e.kind() {
                ErrorKind::AlreadyExists => Error::Busy(format!(
                    "another run committed version {} of {} first; this run's output was \
                     discarded",
                    manifest.version,
                    self.root.display()
                )),
                _ => Error::io(format!("cannot publish {}", target.display()), e),
            })
        });
        let _ = std::fs::remove_file(&temp);
        written?;
        sync_dir(&dir)
    }

    /// Deletes manifests older than the newest `keep` (at least one is always kept), and
    /// temporary manifests left by crashed runs.
    pub fn prune(&self, keep: usize) -> Result<()> {
        let versions = self.versions()?;
        let old = versions.len().saturating_sub(keep.max(1));
        for version in &versions[..old] {
            remove_if_present(&self.manifest_path(*version))?;
        }
        let dir = self.manifest_dir();
        for entry in std::fs::read_dir(&dir).context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry.context(|| format!("cannot list {}", dir.display()))?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }

    /// The data files of the lake at `dir` by its latest manifest (sorted by path), or `None`
    /// when `dir` is not a lake. For readers such as `extract DIR`.
    pub fn committed_files(dir: &Path) -> Result<Option<Vec<PathBuf>>> {
        if !Lake::is_lake(dir) {
            return Ok(None);
        }
        let lake = Lake::new(dir);
        let mut files: Vec<PathBuf> = match lake.latest()? {
            Some(manifest) => manifest.files.iter().map(|f| dir.join(&f.path)).collect(),
            None => Vec::new(),
        };
        files.sort();
        Ok(Some(files))
    }
}

/// Writes `bytes` to a new file at `path` and syncs it.
pub fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .context(|| format!("cannot write {}", path.display()))
}

/// Removes a file; one already gone is fine (a crashed run may have removed it).
pub fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => {
            Err(Error::io(format!("cannot delete {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            time_field: "ts".into(),
            window_ms: 3_600_000,
            path_template: "dt=%Y-%m-%d/hour=%H".into(),
            key: None,
        }
    }

    #[test]
    fn a_version_is_published_once() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let _lock = lake.lock().unwrap();
        assert_eq!(lake.latest().unwrap(), None);
        let mut manifest = Manifest::empty(layout());
        manifest.version = 1;
        lake.publish(&manifest).unwrap();
        assert_eq!(lake.latest().unwrap(), Some(manifest.clone()));
        manifest.committed_at_ms = 5;
        let again = lake.publish(&manifest).unwrap_err();
        assert!(matches!(again, Error::Busy(_)), "{again}");
        assert_eq!(lake.latest().unwrap().unwrap().committed_at_ms, 0);
        assert_eq!(Lake::committed_files(dir.path()).unwrap(), Some(vec![]));
    }

    #[test]
    fn the_lock_keeps_a_second_run_out() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let held = lake.lock().unwrap();
        assert!(matches!(lake.lock(), Err(Error::Busy(_))));
        drop(held);
        lake.lock().unwrap();
    }

    #[test]
    fn pruning_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::new(dir.path());
        let _lock = lake.lock().unwrap();
        for version in 1..=5 {
            let mut manifest = Manifest::empty(layout());
            manifest.version = version;
            lake.publish(&manifest).unwrap();
        }
        lake.prune(2).unwrap();
        assert_eq!(lake.versions().unwrap(), vec![4, 5]);
    }
}
