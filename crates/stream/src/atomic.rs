//! Files that appear under their final name only when complete.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

/// A file written under a hidden temporary name in its target's directory, then synced and
/// renamed into place by [`AtomicFile::commit`]. Dropped uncommitted, it removes itself; after a
/// `kill -9` only a hidden `.NAME.tmp-*` file can remain, never a partial file under NAME.
///
/// A target that is not a regular file (a device such as `/dev/null`, a FIFO, `/dev/stderr`, a
/// process substitution's `/dev/fd/N`) is written in place instead: renaming over it would
/// replace it. A symbolic link to a regular file is followed, so the link stays.
pub struct AtomicFile {
    inner: Inner,
    target: PathBuf,
}

enum Inner {
    Temp {
        temp: tempfile::NamedTempFile,
        overwrite: bool,
    },
    InPlace(File),
}

impl AtomicFile {
    /// Starts writing `target`. Unless `overwrite`, an existing target is an error now and
    /// again at commit time (another writer may have won the race).
    pub fn create(target: &Path, overwrite: bool) -> Result<Self> {
        if let Some(file) = open_in_place(target)? {
            return Ok(AtomicFile {
                inner: Inner::InPlace(file),
                target: target.to_path_buf(),
            });
        }
        if !overwrite && target.exists() {
            return Err(Error::Other(format!(
                "{} exists (use --overwrite to replace it)",
                target.display()
            )));
        }
        let linked = std::fs::symlink_metadata(target).is_ok_and(|m| m.file_type().is_symlink());
        let target = match linked {
            // A dangling link: its target is created (one level of link followed).
            true => std::fs::canonicalize(target).unwrap_or_else(|_| {
                std::fs::read_link(target)
                    .map(|to| parent_dir(target).join(to))
                    .unwrap_or_else(|_| target.to_path_buf())
            }),
            false => target.to_path_buf(),
        };
        let dir = parent_dir(&target);
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
            inner: Inner::Temp { temp, overwrite },
            target,
        })
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut File {
        match &mut self.inner {
            Inner::Temp { temp, .. } => temp.as_file_mut(),
            Inner::InPlace(file) => file,
        }
    }

    /// Syncs the data, renames the file into place and syncs the directory.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        let (temp, overwrite) = match self.inner {
            Inner::Temp { temp, overwrite } => (temp, overwrite),
            Inner::InPlace(_) => return Ok(()),
        };
        temp.as_file()
            .sync_all()
            .context(|| format!("cannot sync {}", target.display()))?;
        let persisted = if overwrite {
            temp.persist(&target).map(|_| ())
        } else {
            temp.persist_noclobber(&target).map(|_| ())
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

/// Opens `target` for writing in place when it is not a regular file (or a directory): this
/// process's own stdout or stderr by any of their names, or any other existing device, FIFO or
/// socket. `None` for a regular file or a path that does not exist yet.
fn open_in_place(target: &Path) -> Result<Option<File>> {
    use std::os::fd::AsFd;
    let context = || format!("cannot open {}", target.display());
    let own = match target.to_str() {
        Some("/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1") => {
            Some(io::stdout().as_fd().try_clone_to_owned())
        }
        Some("/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2") => {
            Some(io::stderr().as_fd().try_clone_to_owned())
        }
        _ => None,
    };
    if let Some(fd) = own {
        // The same open file as the stream's, sharing its offset: nothing is overwritten
        // when it is redirected to a regular file.
        return Ok(Some(File::from(fd.context(context)?)));
    }
    match std::fs::metadata(target) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => std::fs::OpenOptions::new()
            .append(true)
            .open(target)
            .map(Some)
            .context(context),
        _ => Ok(None),
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

/// Makes everything written to the filesystem that holds `dir` durable, with one syncfs(2):
/// in place of an fsync per file and folder when a run writes thousands of them.
pub fn sync_filesystem(dir: &Path) -> Result<()> {
    let context = || format!("cannot sync the filesystem of {}", dir.display());
    let handle = File::open(dir).context(context)?;
    rustix::fs::syncfs(&handle)
        .map_err(io::Error::from)
        .context(context)
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
    use std::os::unix::fs::FileTypeExt;

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
    fn devices_and_fifos_are_written_in_place_and_links_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let mut null = AtomicFile::create(Path::new("/dev/null"), false).unwrap();
        null.file().write_all(b"gone\n").unwrap();
        null.commit().unwrap();
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());

        let real = dir.path().join("real.csv");
        std::fs::write(&real, "old\n").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let mut file = AtomicFile::create(&link, true).unwrap();
        file.file().write_all(b"new\n").unwrap();
        file.commit().unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new\n");

        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        let reader = std::thread::spawn({
            let fifo = fifo.clone();
            move || std::fs::read(fifo).unwrap()
        });
        let mut file = AtomicFile::create(&fifo, false).unwrap();
        file.file().write_all(b"through\n").unwrap();
        file.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through\n");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }

    #[test]
    fn dropped_files_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        drop(AtomicFile::create(&target, false).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
