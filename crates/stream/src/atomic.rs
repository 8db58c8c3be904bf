//! Files that appear under their final name only when complete.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// A file written under a hidden temporary name in its target's directory, then synced and
/// renamed into place by [`AtomicFile::commit`]. Dropped uncommitted, it removes itself; after a
/// `kill -9` only a hidden `.NAME.tmp-*` file can remain, never a partial file under NAME.
pub struct AtomicFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
    overwrite: bool,
}

impl AtomicFile {
    /// Starts writing `target`. Unless `overwrite`, an existing target is an error now and
    /// again at commit time (another writer may have won the race).
    pub fn create(target: &Path, overwrite: bool) -> Result<Self> {
        if !overwrite && target.exists() {
            return Err(Error::Other(format!(
                "{} exists (use --overwrite to replace it)",
                target.display()
            )));
        }
        let dir = parent_dir(target);
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| Error::Usage(format!("{} is not a file name", target.display())))?;
        // Like any new file: 0666 less the umask (tempfile's default is owner-only).
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}.tmp-"))
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(dir)
            .context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(AtomicFile {
            temp,
            target: target.to_path_buf(),
            overwrite,
        })
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    /// Syncs the data, renames the file into place and syncs the directory.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        self.temp
            .as_file()
            .sync_all()
            .context(|| format!("cannot sync {}", target.display()))?;
        let persisted = if self.overwrite {
            self.temp.persist(&target).map(|_| ())
        } else {
            self.temp.persist_noclobber(&target).map(|_| ())
        };
        persisted.map_err(|e| {
            if e.error.kind() == io::ErrorKind::AlreadyExists {
                Error::Other(format!(
                    "{} exists (use --overwrite to replace it)",
                    target.display()
                ))
            } else {
                Error::io(format!("cannot rename into {}", target.display()), e.error)
            }
        })?;
        sync_dir(parent_dir(&target))
    }
}

/// The directory a path lives in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Makes a rename in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .context(|| format!("cannot sync directory {}", dir.display()))
}

/// Writes a small file atomically in one go (state files, schemas).
pub fn write_file(target: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut file = AtomicFile::create(target, true)?;
    file.file()
        .write_all(bytes)
        .context(|| format!("cannot write {}", target.display()))?;
    file.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn nothing_stands_under_the_name_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let mut file = AtomicFile::create(&target, false).unwrap();
        file.file().write_all(b"a\n").unwrap();
        assert!(!target.exists());
        file.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"a\n");
        assert!(AtomicFile::create(&target, false).is_err());
    }

    #[test]
    fn dropped_files_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        drop(AtomicFile::create(&target, false).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
