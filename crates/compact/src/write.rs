//! Writing one window's records as Parquet files under hidden temporary names, ready to be
//! synced and renamed into place when the whole run has been written.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_arrow::decode::RecordPlace;
use sluice_lake::{DataFile, Layout};
use sluice_load::{FileWriter, Output, WriterOptions};
use sluice_stream::atomic::sync_filesystem;
use sluice_stream::error::IoContext;
use sluice_stream::{Rejects, Result};

use crate::spill::WindowRecords;
use crate::window::folder_of;

/// A data file written under a temporary name, waiting for the commit.
#[derive(Debug)]
pub struct Staged {
    /// Where it was written.
    pub temp: PathBuf,
    /// What the manifest will say of it (its final path among them).
    pub file: DataFile,
}

/// Writes windows of one run.
pub struct Stager<'a> {
    root: &'a Path,
    layout: &'a Layout,
    version: u64,
    options: WriterOptions,
    target_bytes: u64,
    /// This run's id in file names (8 hex digits), so that no two runs' files share a name.
    run: String,
    /// Files written so far.
    pub staged: Vec<Staged>,
}

impl<'a> Stager<'a> {
    /// Writes files for commit `version` of the lake at `root`, rolling a window's file when
    /// it reaches `target_bytes`.
    pub fn new(
        root: &'a Path,
        layout: &'a Layout,
        version: u64,
        options: WriterOptions,
        target_bytes: u64,
    ) -> Self {
        Stager {
            root,
            layout,
            version,
            options,
            target_bytes,
            run: run_id(),
            staged: Vec::new(),
        }
    }

    /// Writes every record of the window starting at `window` (ms).
    pub fn write_window(
        &mut self,
        window: i64,
        records: &mut dyn WindowRecords,
        rejects: &mut Rejects,
    ) -> Result<()> {
        let dir = folder_of(self.layout, window);
        let mut open: Option<Open> = None;
        let source: Arc<str> = Arc::from(format!("window {dir}"));
        let mut row = 0;
        while let Some(entry) = records.next_record()? {
            let current = match &mut open {
                Some(current) => current,
                None => open.insert(self.open(&dir, window)?),
            };
            row += 1;
            let place = RecordPlace {
                source: source.clone(),
                line: row,
                byte: 0,
            };
            current
                .writer
                .write(entry.record, &Vec::new(), place, rejects)?;
            current.file.min_time_ms = current.file.min_time_ms.min(entry.time);
            current.file.max_time_ms = current.file.max_time_ms.max(entry.time);
            if current.writer.bytes() >= self.target_bytes {
                let full = open.take().expect("a file is open");
                self.finish(full, rejects)?;
            }
        }
        if let Some(last) = open {
            self.finish(last, rejects)?;
        }
        Ok(())
    }

    fn open(&self, dir: &str, window: i64) -> Result<Open> {
        // Numbered within the folder: a template coarser than the window puts several
        // windows' files in one folder.
        let prefix = format!("{dir}/");
        let seq = self
            .staged
            .iter()
            .filter(|s| s.file.path.starts_with(&prefix))
            .count();
        let name = format!("part-{:08}-{}-{seq:04}.parquet", self.version, self.run);
        let path = format!("{dir}/{name}");
        let folder = self.root.join(dir);
        std::fs::create_dir_all(&folder)
            .context(|| format!("cannot create {}", folder.display()))?;
        let temp = folder.join(format!(".{name}.tmp"));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .context(|| format!("cannot create {}", temp.display()))?;
        let shown = self.root.join(&path).to_string_lossy().into_owned();
        Ok(Open {
            writer: FileWriter::new(&shown, Output::File(file), &self.options)?,
            temp,
            file: DataFile {
                path,
                window_start_ms: window,
                rows: 0,
                bytes: 0,
                min_time_ms: i64::MAX,
                max_time_ms: i64::MIN,
            },
        })
    }

    fn finish(&mut self, open: Open, rejects: &mut Rejects) -> Result<()> {
        let Open {
            writer,
            temp,
            mut file,
        } = open;
        let (rows, bytes) = writer.finish(rejects)?;
        file.rows = rows;
        file.bytes = bytes;
        self.staged.push(Staged { temp, file });
        Ok(())
    }
}

/// A random id for a run.
fn run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:08x}", hasher.finish() as u32)
}

struct Open {
    writer: FileWriter,
    temp: PathBuf,
    file: DataFile,
}

/// Makes the staged files durable, renames them to their final names and makes the renames
/// durable. Both syncs are one syncfs(2) each, not an fsync per file and folder.
pub fn place(root: &Path, staged: &[Staged]) -> Result<()> {
    if staged.is_empty() {
        return Ok(());
    }
    sync_filesystem(root)?;
    for file in staged {
        let target = root.join(&file.file.path);
        std::fs::rename(&file.temp, &target).context(|| {
            format!(
                "cannot rename {} to {}",
                file.temp.display(),
                target.display()
            )
        })?;
    }
    sync_filesystem(root)
}
