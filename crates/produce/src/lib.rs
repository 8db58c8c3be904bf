//! `produce`: NDJSON records from stdin into a topic of the embedded log, with Kafka's
//! partitioning (murmur2 of the key, the same partition numbers as the Java client).

use std::path::Path;

use clap::Parser;
use sluice_cli::{parse_duration_ms, parse_size, CommonArgs, LogDirArgs};
use sluice_log::envelope::{now_ms, read_envelope, timestamp_of, Envelope};
use sluice_log::murmur2::partition_for_key;
use sluice_log::record::{Header, HeaderView};
use sluice_log::{Batch, Cleanup, Topic, TopicConfig};
use std::ops::Range;

use sluice_stream::blocks::{self, oversize_reason, Block, Flow, Options};
use sluice_stream::scan::{self, FieldSpan, Found, Kind};
use sluice_stream::{Error, Rejects, Result, Stats};

const EXAMPLES: &str = "\
Examples:
  extract weather.csv | produce weather --key origin --partitions 3
  consume weather --envelope --until-end | produce --envelope weather-copy --partitions 3
  produce events --timestamp-field time --header source=cron < events.ndjson
  produce --create weather --partitions 3 --retention 7d
  produce --create customers --cleanup compact --delete-retention 1d
  extract customers.csv | produce customers --key id
  produce --delete-topic weather";

const ACKS_HELP: &str = "\
Acknowledgement (--acks) on local disk: 0 writes records in large batches without waiting for
the disk; 1 (default) writes each batch to the file system (the page cache) before going on,
so a killed produce loses nothing it wrote but a power cut may; all fsyncs each batch before
going on, so what produce has written survives a power cut. A batch is written when it is
full or when the input pauses, so records from a live pipe (consume --follow | produce) reach
the topic at once. produce exits 0 only when every record was written as --acks says.

Keys: --key FIELD (a dotted path) picks the key: strings as they are, other values as JSON
text. Keyed records go to murmur2(key) mod partitions, as Kafka's Java client does; records
without a key are spread evenly, round-robin. A record whose value is null in --envelope mode
is a tombstone.

Compacted topics (--cleanup compact, Kafka's cleanup.policy=compact): after each run, the log
cleaner keeps only the latest record of each key in the closed segments (every segment but
the active one, which a record rolls past --segment-bytes), at its offset: consumers see
gaps in offsets where older records were. It cleans once the segments not cleaned yet hold
half the closed segments' bytes. Tombstones stay --delete-retention (default 1d) after their
segment was written, so that consumers see the key deleted, then go. A cleaned segment
replaces the old one by a rename: a reader never sees half of one. Records of a compacted
topic must have keys (--key, or envelopes with a key); retention, if set, applies too.";

/// Write NDJSON records from stdin (or INPUT files) to a topic.
#[derive(Parser, Debug)]
#[command(name = "produce", version, after_long_help = format!("{EXAMPLES}\n\n{ACKS_HELP}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// The topic (created with --partitions if it does not exist).
    #[arg(value_name = "TOPIC")]
    pub topic: String,

    /// NDJSON inputs; `-` (the default) is stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    #[command(flatten)]
    pub log: LogDirArgs,

    /// Partitions of a new topic (an existing topic keeps its own; naming another number is an
    /// error).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub partitions: Option<u32>,

    /// The field (dotted path) that holds each record's key.
    #[arg(long, value_name = "FIELD", conflicts_with = "envelope")]
    pub key: Option<String>,

    /// Write every record to this partition, also over an envelope's own "partition" (keys are
    /// still stored, as with Kafka).
    #[arg(long, value_name = "N")]
    pub partition: Option<u32>,

    /// The field (dotted path) with each record's time: ms since the epoch or RFC 3339
    /// (default: now).
    #[arg(long, value_name = "FIELD", conflicts_with = "envelope")]
    pub timestamp_field: Option<String>,

    /// A header added to every record (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// A field copied into a header of the same name (repeatable).
    #[arg(
        long = "header-field",
        value_name = "FIELD",
        conflicts_with = "envelope"
    )]
    pub header_fields: Vec<String>,

    /// Each input line is an envelope {"key","value","headers","timestamp","partition"}, as
    /// `consume --envelope` writes; headers as an array of {"key","value"} objects, a flat
    /// array of names and values (kcat), or an object of names (earlier versions);
    /// "key_base64" and "value_base64" carry bytes that are not UTF-8.
    #[arg(long)]
    pub envelope: bool,

    /// How sure to be that a record is written before going on: 0, 1 or all (see below).
    #[arg(long, value_name = "ACKS", default_value = "1", value_parser = ["0", "1", "all"])]
    pub acks: String,

    /// Create (or update the retention or cleanup of) TOPIC, apply them, and write nothing.
    #[arg(long)]
    pub create: bool,

    /// Delete TOPIC with all its records and committed group offsets.
    #[arg(long, conflicts_with = "create")]
    pub delete_topic: bool,

    /// Retention by age for a new topic or with --create (e.g. 7d); old segments are deleted.
    #[arg(long, value_name = "AGE", value_parser = parse_duration_ms)]
    pub retention: Option<i64>,

    /// Retention by size per partition for a new topic or with --create (e.g. 10GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub retention_bytes: Option<u64>,

    /// For a new topic or with --create: delete (records stay until retention) or compact (the
    /// log cleaner keeps only the latest record of each key).
    #[arg(long, value_name = "POLICY", value_parser = ["delete", "compact"])]
    pub cleanup: Option<String>,

    /// For a new topic or with --create, with --cleanup compact: how long tombstones stay after
    /// their segment was written (default 1d).
    #[arg(long, value_name = "AGE", value_parser = parse_duration_ms)]
    pub delete_retention: Option<i64>,

    /// Segment size of a new topic: a segment rolls before a record that would take it past
    /// this size (at most 4GiB; default 1GiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_segment_size)]
    pub segment_bytes: Option<u64>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// A segment size: positions in a segment's indexes are 32-bit.
fn parse_segment_size(text: &str) -> std::result::Result<u64, String> {
    let size = parse_size(text)?;
    if size > 1 << 32 {
        return Err(format!("'{text}' is more than the 4GiB a segment may hold"));
    }
    Ok(size)
}

/// Records per write.
const BATCH: usize = 4096;

/// Runs `produce`.
pub fn run(args: Args) -> Result<()> {
    let log_dir = args.log.resolve()?;
    let io = |what: &str| {
        let what = what.to_string();
        move |e: std::io::Error| Error::io(what, e)
    };
    sluice_log::topic::check_name(&args.topic).map_err(Error::Usage)?;
    if args.delete_topic {
        let topic = Topic::open(&log_dir, &args.topic)
            .map_err(io("cannot open topic"))?
            .ok_or_else(|| Error::Other(format!("topic {} does not exist", args.topic)))?;
        return topic.delete(&log_dir).map_err(io("cannot delete topic"));
    }
    let topic = open_topic(&log_dir, &args)?;
    if args.create {
        // New settings take effect now.
        return maintain(&topic);
    }
    let compacted = topic.config.cleanup == Cleanup::Compact;
    if compacted && args.key.is_none() && !args.envelope {
        return Err(Error::Usage(format!(
            "topic {} is compacted, so its records need keys: name --key FIELD (or give \
             --envelope lines with keys)",
            args.topic
        )));
    }
    let mut stats = Stats::new("produce");
    let mut rejects = Rejects::new(args.common.on_error.clone(), "produce")?;
    let mut producer = Producer::new(&topic, &args);
    let options = Options::new(
        &args.inputs,
        args.common.max_record_len(),
        args.common.show_progress(),
    );
    let reading = Reading {
        envelope: args.envelope,
        key: args.key.as_deref().map(path_names),
        timestamp: args.timestamp_field.as_deref().map(path_names),
        header_fields: args
            .header_fields
            .iter()
            .map(|f| (f.clone(), path_names(f)))
            .collect(),
        headers: header_args(&args.headers)?,
        partition: args.partition,
        partitions: topic.config.partitions,
        compacted,
    };
    let reading = std::sync::Arc::new(reading);
    let result = blocks::process(
        &options,
        move || {
            let reading = std::sync::Arc::clone(&reading);
            let mut fields = Vec::new();
            move |block: &Block, prepared: &mut Prepared| {
                reading.prepare(block, prepared, &mut fields)
            }
        },
        |block, prepared: &Prepared| {
            stats.bytes_in += block.read;
            producer.add_block(block, prepared, &mut rejects)?;
            // The input paused: write what is gathered rather than hold it for more.
            if block.paused {
                producer.flush_all()?;
            }
            Ok(Flow::Continue)
        },
    );
    // What was read before a failure is still written: it was good.
    let flushed = producer.flush_all();
    let finished = result
        .and(flushed)
        .and_then(|()| maintain(&topic))
        .and_then(|()| rejects.finish());
    stats.records_in = producer.read;
    stats.records_out = producer.written;
    stats.bytes_out = producer.bytes_written;
    stats.rejected = rejects.count();
    // Also after a failure: what was written and what was not is what the user needs then.
    if args.common.stats {
        eprintln!("{}", stats.to_json());
    }
    finished
}

/// `--header NAME=VALUE` arguments as headers.
fn header_args(args: &[String]) -> Result<Vec<Header>> {
    args.iter()
        .map(|h| {
            h.split_once('=')
                .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                .ok_or_else(|| Error::Usage(format!("--header {h:?} is not NAME=VALUE")))
        })
        .collect()
}

/// A dotted path as field names for [`scan::lookup`].
fn path_names(path: &str) -> Vec<Box<[u8]>> {
    path.split('.').map(|p| p.as_bytes().into()).collect()
}

/// What the worker threads read from each line, and what they add to each record.
struct Reading {
    envelope: bool,
    key: Option<Vec<Box<[u8]>>>,
    timestamp: Option<Vec<Box<[u8]>>>,
    /// `--header-field`: names and paths.
    header_fields: Vec<(String, Vec<Box<[u8]>>)>,
    /// `--header`, added to every record.
    headers: Vec<Header>,
    /// `--partition`.
    partition: Option<u32>,
    partitions: u32,
    /// The topic keeps the latest record per key: records need keys.
    compacted: bool,
}

/// A block's records, checked and encoded by a worker thread, in input order.
#[derive(Default)]
struct Prepared {
    items: Vec<Item>,
    /// The records, one for each [`Item::Record`], checksummed but without their offsets.
    records: Batch,
    /// Keys and header values of the record being read.
    bytes: Vec<u8>,
    header_values: Vec<Option<Range<usize>>>,
}

enum Item {
    /// The next record of [`Prepared::records`], and its partition unless it is to be spread.
    Record {
        partition: Option<u32>,
    },
    Rejected {
        line: usize,
        reason: String,
    },
}

impl Reading {
    fn prepare(&self, block: &Block, prepared: &mut Prepared, fields: &mut Vec<FieldSpan>) {
        prepared.items.clear();
        prepared.records.clear();
        let now = now_ms();
        for (index, line) in block.lines.iter().enumerate() {
            let read = if line.oversize {
                Err(oversize_reason(line))
            } else if self.envelope {
                read_envelope(block.text(line))
                    .and_then(|envelope| self.add_envelope(envelope, prepared))
            } else {
                self.add_line(block.text(line), now, prepared, fields)
            };
            prepared.items.push(match read {
                Ok(partition) => Item::Record { partition },
                Err(reason) => Item::Rejected {
                    line: index,
                    reason,
                },
            });
        }
    }

    /// Adds an envelope's record; its partition, unless it is to be spread.
    fn add_envelope(
        &self,
        envelope: Envelope,
        prepared: &mut Prepared,
    ) -> Result<Option<u32>, String> {
        let record = &envelope.record;
        if self.compacted && record.key.is_none() {
            return Err("the envelope has no key, and the topic is compacted (by key)".into());
        }
        let partition = match self.partition.or(envelope.partition) {
            Some(p) if p >= self.partitions => {
                return Err(format!(
                    "partition {p} does not exist (the topic has {}; create it with as many as \
                     the source: --partitions N)",
                    self.partitions
                ))
            }
            Some(p) => Some(p),
            None => record
                .key
                .as_deref()
                .map(|key| partition_for_key(key, self.partitions)),
        };
        prepared.records.push(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            record.header_views().chain(self.header_views()),
        )?;
        Ok(partition)
    }

    /// `--header`, borrowed.
    fn header_views(&self) -> impl Iterator<Item = HeaderView<'_>> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_deref()))
    }

    /// Checks a line and adds it as a record; its partition, unless it is to be spread.
    fn add_line(
        &self,
        text: &[u8],
        now: i64,
        prepared: &mut Prepared,
        fields: &mut Vec<FieldSpan>,
    ) -> Result<Option<u32>, String> {
        if self.key.is_none() && self.timestamp.is_none() && self.header_fields.is_empty() {
            scan::validate_object(text)?;
            prepared
                .records
                .push(now, None, Some(text), self.header_views())?;
            return Ok(self.partition);
        }
        scan::object_fields(text, fields)?;
        let field_text =
            |path: &[Box<[u8]>], bytes: &mut Vec<u8>| -> Option<Option<Range<usize>>> {
                let raw = match scan::lookup(text, fields, path) {
                    Found::Value(raw) => raw,
                    Found::Missing | Found::NotObject => return None,
                };
                let start = bytes.len();
                match Kind::of(raw) {
                    Kind::Null => return Some(None),
                    Kind::String if raw.contains(&b'\\') => {
                        bytes.extend_from_slice(scan::unescape(raw)?.as_bytes())
                    }
                    Kind::String => bytes.extend_from_slice(&raw[1..raw.len() - 1]),
                    _ => bytes.extend_from_slice(raw),
                }
                Some(Some(start..bytes.len()))
            };
        prepared.bytes.clear();
        prepared.header_values.clear();
        let mut key = None;
        if let Some(path) = &self.key {
            key = field_text(path, &mut prepared.bytes)
                .ok_or_else(|| format!("the record has no key field {:?}", dotted(path)))?;
            if self.compacted && key.is_none() {
                return Err(format!(
                    "the key field {:?} is null, and the topic is compacted (by key)",
                    dotted(path)
                ));
            }
        }
        let mut timestamp = now;
        if let Some(path) = &self.timestamp {
            let raw = match scan::lookup(text, fields, path) {
                Found::Value(raw) => raw,
                _ => {
                    return Err(format!(
                        "the record has no timestamp field {:?}",
                        dotted(path)
                    ))
                }
            };
            timestamp = timestamp_of(raw).ok_or_else(|| {
                format!(
                    "timestamp field {:?} holds {}, neither ms since the epoch nor RFC 3339 \
                     (from 1970 on, as in Kafka)",
                    dotted(path),
                    String::from_utf8_lossy(raw)
                )
            })?;
        }
        for (_, path) in &self.header_fields {
            let value = field_text(path, &mut prepared.bytes).flatten();
            prepared.header_values.push(value);
        }
        let bytes = &prepared.bytes;
        let key = key.map(|k| &bytes[k]);
        let from_fields = self
            .header_fields
            .iter()
            .zip(&prepared.header_values)
            .map(|((name, _), value)| (name.as_str(), value.clone().map(|v| &bytes[v])));
        prepared.records.push(
            timestamp,
            key,
            Some(text),
            self.header_views().chain(from_fields),
        )?;
        Ok(self
            .partition
            .or_else(|| key.map(|key| partition_for_key(key, self.partitions))))
    }
}

fn dotted(path: &[Box<[u8]>]) -> String {
    path.iter()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

fn open_topic(log_dir: &Path, args: &Args) -> Result<Topic> {
    let existing =
        Topic::open(log_dir, &args.topic).map_err(|e| Error::io("cannot open topic", e))?;
    let mut topic = match existing {
        Some(t) => t,
        None => {
            let partitions = args.partitions.unwrap_or(1);
            if let Some(p) = args.partition.filter(|&p| p >= partitions) {
                return Err(Error::Usage(format!(
                    "topic {} does not exist, and --partition {p} is not among the {partitions} \
                     partition(s) it would be created with (--partitions)",
                    args.topic
                )));
            }
            let mut config = TopicConfig::with_partitions(partitions);
            config.retention_ms = args.retention;
            config.retention_bytes = args.retention_bytes;
            if let Some(policy) = args.cleanup.as_deref() {
                config.cleanup = cleanup_of(policy);
            }
            if let Some(ms) = args.delete_retention {
                config.delete_retention_ms = ms;
            }
            if let Some(bytes) = args.segment_bytes {
                config.segment_bytes = bytes;
            }
            Topic::create(log_dir, &args.topic, &config)
                .map_err(|e| Error::io(format!("cannot create topic {}", args.topic), e))?
                .0
        }
    };
    if let Some(p) = args.partitions {
        if p != topic.config.partitions {
            return Err(Error::Usage(format!(
                "topic {} has {} partitions, not {p}",
                args.topic, topic.config.partitions
            )));
        }
    }
    // Settings of an existing topic change only as below; naming the ones it has is fine (a
    // script that creates its topic on first use names them every time).
    if let Some(bytes) = args
        .segment_bytes
        .filter(|&b| b != topic.config.segment_bytes)
    {
        return Err(Error::Usage(format!(
            "topic {} rolls segments at {} bytes, not {bytes}: --segment-bytes is set when a \
             topic is created",
            args.topic, topic.config.segment_bytes
        )));
    }
    let config = &topic.config;
    let retention_differs = args
        .retention
        .is_some_and(|r| config.retention_ms != Some(r))
        || args
            .retention_bytes
            .is_some_and(|r| config.retention_bytes != Some(r));
    if retention_differs && !args.create {
        return Err(Error::Usage(format!(
            "topic {} exists with another retention: change it with `produce --create {} \
             --retention AGE` (or --retention-bytes SIZE)",
            args.topic, args.topic
        )));
    }
    let cleanup_differs = args
        .cleanup
        .as_deref()
        .is_some_and(|c| cleanup_of(c) != config.cleanup)
        || args
            .delete_retention
            .is_some_and(|ms| ms != config.delete_retention_ms);
    if cleanup_differs && !args.create {
        return Err(Error::Usage(format!(
            "topic {} exists with another cleanup: change it with `produce --create {} \
             --cleanup POLICY` (or --delete-retention AGE)",
            args.topic, args.topic
        )));
    }
    if args.create && (retention_differs || cleanup_differs) {
        topic.config.retention_ms = args.retention.or(topic.config.retention_ms);
        topic.config.retention_bytes = args.retention_bytes.or(topic.config.retention_bytes);
        if let Some(policy) = args.cleanup.as_deref() {
            topic.config.cleanup = cleanup_of(policy);
        }
        topic.config.delete_retention_ms = args
            .delete_retention
            .unwrap_or(topic.config.delete_retention_ms);
        topic
            .save_config()
            .map_err(|e| Error::io("cannot save topic settings", e))?;
    }
    if let Some(p) = args.partition {
        if p >= topic.config.partitions {
            return Err(Error::Usage(format!(
                "topic {} has no partition {p} (it has {})",
                args.topic, topic.config.partitions
            )));
        }
    }
    Ok(topic)
}

/// Gathers the prepared records into batches, per partition, and writes them.
struct Producer<'a> {
    topic: &'a Topic,
    /// By partition number.
    batches: Vec<Batch>,
    partitions: Vec<Option<sluice_log::Partition>>,
    batch: usize,
    next_unkeyed: u32,
    /// Records taken from the input, good or bad (for `--stats`).
    read: u64,
    written: u64,
    /// Bytes of the records written, as stored (for `--stats`).
    bytes_written: u64,
    sync: bool,
}

impl<'a> Producer<'a> {
    fn new(topic: &'a Topic, args: &Args) -> Self {
        let partitions = topic.config.partitions;
        Producer {
            topic,
            batches: (0..partitions).map(|_| Batch::default()).collect(),
            partitions: (0..partitions).map(|_| None).collect(),
            batch: if args.acks == "0" { BATCH * 4 } else { BATCH },
            next_unkeyed: (now_ms() as u32) % partitions,
            read: 0,
            written: 0,
            bytes_written: 0,
            sync: args.acks == "all",
        }
    }

    /// Adds a block's prepared records to their partitions' batches, in order (a run of
    /// records for one partition in one copy), and hands its bad records to the policy.
    fn add_block(
        &mut self,
        block: &Block,
        prepared: &Prepared,
        rejects: &mut Rejects,
    ) -> Result<()> {
        // The run of records gathered for one partition: its partition and first record.
        let mut run: Option<(u32, usize)> = None;
        let mut next = 0;
        for item in &prepared.items {
            self.read += 1;
            match item {
                Item::Rejected { line, reason } => {
                    self.add_run(&mut run, prepared, next)?;
                    let line = &block.lines[*line];
                    rejects.reject(
                        &block.position(line),
                        reason,
                        block.text(line),
                        line.oversize,
                    )?;
                }
                Item::Record { partition } => {
                    let partition = partition.unwrap_or_else(|| self.spread());
                    if run.is_some_and(|(p, _)| p != partition) {
                        self.add_run(&mut run, prepared, next)?;
                    }
                    run.get_or_insert((partition, next));
                    next += 1;
                }
            }
        }
        self.add_run(&mut run, prepared, next)
    }

    /// Adds the records of `run` up to `end` to its partition's batch.
    fn add_run(
        &mut self,
        run: &mut Option<(u32, usize)>,
        prepared: &Prepared,
        end: usize,
    ) -> Result<()> {
        let Some((partition, start)) = run.take() else {
            return Ok(());
        };
        let batch = &mut self.batches[partition as usize];
        batch.extend_from(&prepared.records, start..end);
        if batch.len() >= self.batch || batch.byte_len() >= 4 << 20 {
            self.flush(partition)?;
        }
        Ok(())
    }

    /// The partition of a record without key or partition: each in turn.
    fn spread(&mut self) -> u32 {
        let p = self.next_unkeyed;
        self.next_unkeyed = (p + 1) % self.topic.config.partitions;
        p
    }

    fn flush(&mut self, partition: u32) -> Result<()> {
        let batch = &mut self.batches[partition as usize];
        if batch.is_empty() {
            return Ok(());
        }
        let slot = &mut self.partitions[partition as usize];
        if slot.is_none() {
            let opened = self
                .topic
                .partition(partition)
                .map_err(|e| Error::io(format!("cannot open partition {partition}"), e))?;
            *slot = Some(opened);
        }
        let appended =
            slot.as_ref()
                .expect("opened")
                .append(batch, self.topic.config.rolling(), self.sync);
        let written = appended
            .as_ref()
            .map_or_else(|e| e.written, |_| batch.len());
        self.written += written as u64;
        self.bytes_written += batch.byte_len_of(written) as u64;
        // A batch that failed is not tried again: the log keeps what of it was written whole.
        batch.clear();
        appended.map(drop).map_err(|e| {
            Error::io(
                format!(
                    "cannot write to {} partition {partition} ({written} record(s) of the \
                     batch written)",
                    self.topic.name
                ),
                e.source,
            )
        })
    }

    /// Writes every partition's batch, also after one fails; returns the first failure.
    fn flush_all(&mut self) -> Result<()> {
        let mut first_failure = Ok(());
        for p in 0..self.topic.config.partitions {
            let flushed = self.flush(p);
            first_failure = first_failure.and(flushed);
        }
        first_failure
    }
}

fn cleanup_of(policy: &str) -> Cleanup {
    match policy {
        "compact" => Cleanup::Compact,
        _ => Cleanup::Delete,
    }
}

/// Deletes the segments that the topic's retention no longer keeps, and on a compacted topic
/// runs the log cleaner.
fn maintain(topic: &Topic) -> Result<()> {
    let config = &topic.config;
    let retention = config.retention_ms.is_some() || config.retention_bytes.is_some();
    for p in 0..config.partitions {
        let failed = |what: &str| {
            let what = format!("cannot {what} partition {p} of topic {}", topic.name);
            move |e| Error::io(what, e)
        };
        let partition = topic.partition(p).map_err(failed("open"))?;
        if retention {
            partition
                .apply_retention(now_ms(), config.retention_ms, config.retention_bytes)
                .map_err(failed("apply retention to"))?;
        }
        if config.cleanup == Cleanup::Compact {
            // The records are written: a cleaning that cannot be done is done by a later run.
            let why = match partition.clean(now_ms(), config.delete_retention_ms) {
                Ok(cleaned) => cleaned.damaged.map(|base| {
                    format!("its segment {base} is damaged (consume reports the records lost)")
                }),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = why {
                sluice_stream::progress::note(format_args!(
                    "produce: warning: partition {p} of topic {} is not compacted: {why}",
                    topic.name
                ));
            }
        }
    }
    Ok(())
}
