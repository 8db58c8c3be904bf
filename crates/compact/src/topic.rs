//! A topic of the embedded log as the source: each run takes every partition's records from
//! where the lake's manifest says the last commit stopped up to the end as of the run's start.
//! The offsets live in the manifest, committed with the data; the consumer group's offsets are
//! only updated afterwards, for lag reporting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sluice_lake::OffsetRange;
use sluice_log::Topic;
use sluice_stream::{Error, Result};

use crate::intake::{Intake, Read};

/// A topic to compact, and the group that reports its lag.
pub struct TopicSource {
    log_dir: PathBuf,
    topic: Topic,
    group: Option<String>,
}

impl TopicSource {
    /// Opens topic `name` of the log at `log_dir`.
    pub fn open(log_dir: &Path, name: &str, group: Option<String>) -> Result<Self> {
        if let Some(group) = &group {
            sluice_log::group::check_name(group).map_err(Error::Usage)?;
        }
        let topic = Topic::open(log_dir, name)
            .map_err(|e| Error::io(format!("cannot open topic {name}"), e))?
            .ok_or_else(|| {
                Error::Other(format!(
                    "topic {name} does not exist in {}",
                    log_dir.display()
                ))
            })?;
        Ok(TopicSource {
            log_dir: log_dir.to_path_buf(),
            topic,
            group,
        })
    }

    /// How a manifest names this source.
    pub fn spec(&self) -> String {
        format!("topic:{}", self.topic.name)
    }

    /// Freezes this run's records: per partition, from the lake's offset (or the log start)
    /// to the end now. Records that retention deleted before any run took them are reported.
    pub fn plan(&self, lake_offsets: &BTreeMap<u32, u64>) -> Result<Vec<OffsetRange>> {
        let mut ranges = Vec::new();
        for partition in 0..self.topic.config.partitions {
            let log = self.partition_log(partition)?;
            let fail = |e| Error::io(format!("cannot read {}", self.name(partition)), e);
            let start = log.start_offset().map_err(fail)?;
            let end = log.end_offset().map_err(fail)?;
            let from = lake_offsets.get(&partition).copied().unwrap_or(start);
            if from > end {
                return Err(Error::Other(format!(
                    "{} ends at offset {end}, but the lake holds its records up to offset {from}: \
                     was the topic deleted and created again? Compact it into a new lake",
                    self.name(partition)
                )));
            }
            if from < start {
                sluice_stream::progress::note(format_args!(
                    "compact: {}: offsets {from} to {} were deleted (by retention or the log \
                     cleaner) before any run compacted them",
                    self.name(partition),
                    start - 1
                ));
            }
            ranges.push(OffsetRange {
                partition,
                from: from.max(start),
                to: end,
            });
        }
        Ok(ranges)
    }

    /// Hands the records of `range` to the intake, tombstones (records without a value) too.
    /// Returns the records read.
    pub fn read(&self, range: &OffsetRange, intake: &mut Intake) -> Result<u64> {
        let name = self.name(range.partition);
        let fail = |e| Error::io(format!("cannot read {name}"), e);
        let mut reader = self
            .partition_log(range.partition)?
            .reader(range.from)
            .map_err(fail)?;
        intake.start(&name, Read::Input);
        let mut records = 0;
        while let Some(view) = reader.next_view().map_err(fail)? {
            if view.offset >= range.to {
                break;
            }
            records += 1;
            match view.value {
                Some(value) => intake.record_at(value, view.offset)?,
                None => intake.tombstone_at(view.key, view.offset)?,
            }
        }
        Ok(records)
    }

    /// Commits the lake's offsets to the group, if there is one (for `consume --lag`).
    pub fn report(&self, offsets: &BTreeMap<u32, u64>) -> Result<()> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        sluice_log::group::commit(&self.log_dir, group, &self.topic.name, offsets)
            .map_err(|e| Error::io(format!("cannot commit the offsets of group {group}"), e))
    }

    fn partition_log(&self, partition: u32) -> Result<sluice_log::Partition> {
        self.topic
            .partition(partition)
            .map_err(|e| Error::io(format!("cannot open {}", self.name(partition)), e))
    }

    fn name(&self, partition: u32) -> String {
        format!("topic {} partition {partition}", self.topic.name)
    }
}
