//! Topics: a directory per topic under the log directory, holding `topic.json` (its settings)
//! and one directory per partition.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::partition::{Partition, Rolling};

/// A topic's settings, stored with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfig {
    pub partitions: u32,
    /// Delete segments whose newest record is older than this (ms); none: keep forever.
    #[serde(default)]
    pub retention_ms: Option<i64>,
    /// Delete the oldest segments while a partition is larger than this; none: no limit.
    #[serde(default)]
    pub retention_bytes: Option<u64>,
    /// Roll segments at this size.
    pub segment_bytes: u64,
    /// Roll a segment once its records span this much time (ms), by their timestamps.
    pub segment_ms: i64,
    /// What becomes of old records besides retention: nothing, or with `compact`, only the
    /// latest record of each key is kept (the log cleaner).
    #[serde(default)]
    pub cleanup: Cleanup,
    /// With `compact`: how long tombstones stay after their segment was written (ms).
    #[serde(default = "default_delete_retention_ms")]
    pub delete_retention_ms: i64,
}

/// Kafka's `cleanup.policy`, besides retention (which applies to either).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cleanup {
    /// Records stay until retention deletes their segment.
    #[default]
    Delete,
    /// The log cleaner keeps only the latest record of each key in closed segments.
    Compact,
}

/// Kafka's `delete.retention.ms`: a day.
fn default_delete_retention_ms() -> i64 {
    24 * 3600 * 1000
}

impl TopicConfig {
    /// Kafka's defaults: 1 GiB or 7-day segments, kept forever.
    pub fn with_partitions(partitions: u32) -> Self {
        TopicConfig {
            partitions,
            retention_ms: None,
            retention_bytes: None,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            cleanup: Cleanup::Delete,
            delete_retention_ms: default_delete_retention_ms(),
        }
    }

    /// When segments roll.
    pub fn rolling(&self) -> Rolling {
        Rolling {
            segment_bytes: self.segment_bytes,
            segment_ms: self.segment_ms,
        }
    }
}

/// A topic in a log directory.
#[derive(Debug, Clone)]
pub struct Topic {
    pub name: String,
    pub dir: PathBuf,
    pub config: TopicConfig,
}

/// Topic names are what Kafka allows (letters, digits, `.`, `_`, `-`, at most 249 characters),
/// except a leading `.`: the log directory keeps its own entries (`.groups`) under such names.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 249
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid topic name (letters, digits, '.', '_', '-', not starting \
             with '.'; at most 249)"
        ))
    }
}

impl Topic {
    /// Opens an existing topic.
    pub fn open(log_dir: &Path, name: &str) -> io::Result<Option<Topic>> {
        check_name(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let dir = log_dir.join(name);
        match fs::read(dir.join("topic.json")) {
            Ok(bytes) => {
                let config = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", dir.join("topic.json").display()),
                    )
                })?;
                Ok(Some(Topic {
                    name: name.to_string(),
                    dir,
                    config,
                }))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a topic, or opens it when another process created it first. Returns the topic
    /// and whether this call created it.
    pub fn create(log_dir: &Path, name: &str, config: &TopicConfig) -> io::Result<(Topic, bool)> {
        check_name(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if config.partitions == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a topic needs at least 1 partition",
            ));
        }
        let dir = log_dir.join(name);
        fs::create_dir_all(&dir)?;
        for p in 0..config.partitions {
            fs::create_dir_all(dir.join(p.to_string()))?;
        }
        let mut temp = tempfile::NamedTempFile::new_in(&dir)?;
        io::Write::write_all(
            &mut temp,
            &serde_json::to_vec_pretty(config).expect("serializes"),
        )?;
        temp.as_file().sync_all()?;
        match temp.persist_noclobber(dir.join("topic.json")) {
            Ok(_) => {
                fs::File::open(&dir)?.sync_all()?;
                Ok((
                    Topic {
                        name: name.to_string(),
                        dir,
                        config: config.clone(),
                    },
                    true,
                ))
            }
            Err(e) if e.error.kind() == io::ErrorKind::AlreadyExists => {
                let topic = Topic::open(log_dir, name)?.expect("exists");
                Ok((topic, false))
            }
            Err(e) => Err(e.error),
        }
    }

    /// Names of all topics in a log directory, sorted.
    pub fn list(log_dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        match fs::read_dir(log_dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry?;
                    if entry.path().join("topic.json").is_file() {
                        names.push(entry.file_name().to_string_lossy().into_owned());
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        names.sort();
        Ok(names)
    }

    /// Deletes a topic and its committed group offsets.
    pub fn delete(self, log_dir: &Path) -> io::Result<()> {
        // Rename first so no reader or writer finds a half-deleted topic.
        let trash = log_dir.join(format!(".deleted-{}-{}", self.name, std::process::id()));
        fs::rename(&self.dir, &trash)?;
        fs::remove_dir_all(&trash)?;
        crate::group::forget_topic(log_dir, &self.name)
    }

    /// Saves changed settings (retention).
    pub fn save_config(&self) -> io::Result<()> {
        let bytes = serde_json::to_vec_pretty(&self.config).expect("serializes");
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        io::Write::write_all(&mut temp, &bytes)?;
        temp.as_file().sync_all()?;
        temp.persist(self.dir.join("topic.json"))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// One of the topic's partitions.
    pub fn partition(&self, p: u32) -> io::Result<Partition> {
        Partition::open(&self.dir.join(p.to_string()))
    }
}
