//! The embedded topic log behind `produce` and `consume`: Kafka's model on local disk, with no
//! server. A log directory holds topics; a topic holds partitions; a partition holds
//! append-only segments with offset and time indexes; consumer groups keep committed offsets
//! and share partitions among processes.

pub mod clean;
pub mod envelope;
pub mod group;
pub mod murmur2;
pub mod partition;
pub mod record;
pub mod topic;

pub use clean::Cleaned;
pub use partition::{AppendError, Damaged, Partition, PartitionInfo, PartitionReader};
pub use record::{Batch, Record, RecordView};
pub use topic::{Cleanup, Topic, TopicConfig};
