//! `produce`: NDJSON records from stdin into a topic of the embedded log, with Kafka's
//! partitioning (murmur2 of the key, the same partition numbers as the Java client).

use std::collections::BTreeMap;
use std::path::Path;

use clap::Parser;
use sluice_cli::{parse_duration_ms, parse_size, CommonArgs, LogDirArgs};
use sluice_log::envelope::{now_ms, parse_time, read_envelope};
use sluice_log::murmur2::partition_for_key;
use sluice_log::record::Header;
use sluice_log::{Batch, Topic, TopicConfig};
use sluice_stream::input;
use sluice_stream::json::{field, is_blank, object_fields, scalar_text, validate_object, Fields};
use sluice_stream::lines::LineReader;
use sluice_stream::{Error, Position, Rejects, Result, Stats};

const EXAMPLES: &str = "\
Examples:
  extract weather.csv | produce weather --key origin --partitions 3
  consume weather --envelope --until-end | produce --envelope weather-copy
  produce events --timestamp-field time --header source=cron < events.ndjson
  produce --create weather --partitions 3 --retention 7d
  produce --delete-topic weather";

const ACKS_HELP: &str = "\
Acknowledgement (--acks) on local disk: 0 writes records in large batches without waiting for
the disk; 1 (default) writes each batch to the file system (the page cache) before going on,
so a killed produce loses nothing it wrote but a power cut may; all fsyncs each batch before
going on, so what produce has written survives a power cut. produce exits 0 only when every
record was written as --acks says.

Keys: --key FIELD (a dotted path) picks the key: strings as they are, other values as JSON
text. Keyed records go to murmur2(key) mod partitions, as Kafka's Java client does; records
without a key are spread evenly, round-robin. A record whose value is null in --envelope mode
is a tombstone.";

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
    #[arg(long, value_name = "FIELD")]
    pub key: Option<String>,

    /// Write every record to this partition.
    #[arg(long, value_name = "N", conflicts_with = "key")]
    pub partition: Option<u32>,

    /// The field (dotted path) with each record's time: ms since the epoch or RFC 3339
    /// (default: now).
    #[arg(long, value_name = "FIELD")]
    pub timestamp_field: Option<String>,

    /// A header added to every record (repeatable).
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// A field copied into a header of the same name (repeatable).
    #[arg(long = "header-field", value_name = "FIELD")]
    pub header_fields: Vec<String>,

    /// Each input line is an envelope {"key","value","headers","timestamp","partition"}, as
    /// `consume --envelope` writes.
    #[arg(long)]
    pub envelope: bool,

    /// How sure to be that a record is written before going on: 0, 1 or all (see below).
    #[arg(long, value_name = "ACKS", default_value = "1", value_parser = ["0", "1", "all"])]
    pub acks: String,

    /// Create (or update the retention of) TOPIC and write nothing.
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

    /// Roll segments at this size (new topics).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub segment_bytes: Option<u64>,

    #[command(flatten)]
    pub common: CommonArgs,
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
        return Ok(());
    }
    let mut stats = Stats::new("produce");
    let mut rejects = Rejects::new(args.common.on_error.clone(), "produce")?;
    let mut producer = Producer::new(&topic, &args)?;
    let inputs = if args.inputs.is_empty() {
        vec!["-".to_string()]
    } else {
        args.inputs.clone()
    };
    let result = (|| {
        let mut line = Vec::new();
        for name in &inputs {
            let input = input::open(name, None)?;
            let mut lines = LineReader::new(input.reader, args.common.max_record_len(), 0);
            while let Some(info) = lines
                .next_line(&mut line)
                .map_err(io(&format!("cannot read {name}")))?
            {
                if !info.oversize && is_blank(&line) {
                    continue;
                }
                stats.records_in += 1;
                let position = Position {
                    source: name.clone(),
                    line: Some(info.line),
                    byte: Some(info.byte),
                    row: None,
                };
                let added = if info.oversize {
                    Err(format!(
                        "record of {} bytes is longer than --max-record-bytes",
                        info.len
                    ))
                } else {
                    producer.add(&line)
                };
                match added {
                    Ok(Some(partition)) => producer.flush_if_full(partition)?,
                    Ok(None) => {}
                    Err(reason) => rejects.reject(&position, &reason, &line, info.oversize)?,
                }
            }
        }
        Ok(())
    })();
    // What was read before a failure is still written: it was good.
    let flushed = producer.flush_all();
    result?;
    flushed?;
    producer.apply_retention()?;
    rejects.finish()?;
    stats.records_out = producer.written;
    stats.rejected = rejects.count();
    if args.common.stats {
        eprintln!("{}", stats.to_json());
    }
    Ok(())
}

fn open_topic(log_dir: &Path, args: &Args) -> Result<Topic> {
    let existing =
        Topic::open(log_dir, &args.topic).map_err(|e| Error::io("cannot open topic", e))?;
    let mut topic = match existing {
        Some(t) => t,
        None => {
            let mut config = TopicConfig::with_partitions(args.partitions.unwrap_or(1));
            config.retention_ms = args.retention;
            config.retention_bytes = args.retention_bytes;
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
    if args.create && (args.retention.is_some() || args.retention_bytes.is_some()) {
        topic.config.retention_ms = args.retention.or(topic.config.retention_ms);
        topic.config.retention_bytes = args.retention_bytes.or(topic.config.retention_bytes);
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

/// Turns lines into records and writes them in batches, per partition.
struct Producer<'a> {
    topic: &'a Topic,
    args: &'a Args,
    headers: Vec<Header>,
    /// Headers taken from fields of the current record.
    field_headers: Vec<Header>,
    batches: BTreeMap<u32, Batch>,
    partitions: BTreeMap<u32, sluice_log::Partition>,
    batch: usize,
    next_unkeyed: u32,
    written: u64,
    sync: bool,
}

impl<'a> Producer<'a> {
    fn new(topic: &'a Topic, args: &'a Args) -> Result<Self> {
        let headers = args
            .headers
            .iter()
            .map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.to_string(), Some(v.as_bytes().to_vec())))
                    .ok_or_else(|| Error::Usage(format!("--header {h:?} is not NAME=VALUE")))
            })
            .collect::<Result<_>>()?;
        Ok(Producer {
            topic,
            args,
            headers,
            field_headers: Vec::new(),
            batches: BTreeMap::new(),
            partitions: BTreeMap::new(),
            batch: if args.acks == "0" { BATCH * 4 } else { BATCH },
            next_unkeyed: (now_ms() as u32) % topic.config.partitions,
            written: 0,
            sync: args.acks == "all",
        })
    }

    /// Adds the record a line stands for to its partition's batch; returns the partition.
    fn add(&mut self, line: &[u8]) -> Result<Option<u32>, String> {
        let text = std::str::from_utf8(line)
            .map_err(|e| format!("invalid UTF-8 at byte {}", e.valid_up_to()))?;
        let partitions = self.topic.config.partitions;
        if self.args.envelope {
            let envelope = read_envelope(text)?;
            let record = envelope.record;
            let partition = match envelope.partition.or(self.args.partition) {
                Some(p) if p < partitions => p,
                Some(p) => {
                    return Err(format!(
                        "partition {p} does not exist (the topic has {partitions})"
                    ))
                }
                None => self.partition_for(record.key.as_deref()),
            };
            self.batches.entry(partition).or_default().push(
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
                &self.headers,
            );
            return Ok(Some(partition));
        }
        validate_object(line)?;
        let mut timestamp = None;
        let mut key = None;
        self.field_headers.clear();
        if let Some(path) = &self.args.key {
            key = lookup(text, path)
                .ok_or_else(|| format!("the record has no key field {path:?}"))?;
        }
        if let Some(path) = &self.args.timestamp_field {
            let raw = lookup_raw(text, path)
                .ok_or_else(|| format!("the record has no timestamp field {path:?}"))?;
            let value: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
            timestamp = Some(
                match &value {
                    serde_json::Value::String(s) => parse_time(s),
                    other => sluice_log::envelope::timestamp_of(other),
                }
                .ok_or_else(|| format!("timestamp field {path:?} holds {raw}, neither ms since the epoch nor RFC 3339"))?,
            );
        }
        for path in &self.args.header_fields {
            let value = lookup(text, path).unwrap_or(None);
            self.field_headers.push((path.clone(), value));
        }
        let partition = match self.args.partition {
            Some(p) => p,
            None => self.partition_for(key.as_deref()),
        };
        self.batches.entry(partition).or_default().push(
            timestamp.unwrap_or_else(now_ms),
            key.as_deref(),
            Some(line),
            &self.headers,
            &self.field_headers,
        );
        Ok(Some(partition))
    }

    fn partition_for(&mut self, key: Option<&[u8]>) -> u32 {
        let partitions = self.topic.config.partitions;
        match key {
            Some(key) => partition_for_key(key, partitions),
            None => {
                let p = self.next_unkeyed;
                self.next_unkeyed = (p + 1) % partitions;
                p
            }
        }
    }

    fn flush_if_full(&mut self, partition: u32) -> Result<()> {
        if self
            .batches
            .get(&partition)
            .is_some_and(|b| b.len() >= self.batch || b.byte_len() >= 4 << 20)
        {
            self.flush(partition)?;
        }
        Ok(())
    }

    fn flush(&mut self, partition: u32) -> Result<()> {
        let Some(batch) = self.batches.get_mut(&partition) else {
            return Ok(());
        };
        if batch.is_empty() {
            return Ok(());
        }
        if !self.partitions.contains_key(&partition) {
            let p = self
                .topic
                .partition(partition)
                .map_err(|e| Error::io(format!("cannot open partition {partition}"), e))?;
            self.partitions.insert(partition, p);
        }
        self.partitions[&partition]
            .append(batch, self.topic.config.rolling(), now_ms(), self.sync)
            .map_err(|e| {
                Error::io(
                    format!("cannot write to {} partition {partition}", self.topic.name),
                    e,
                )
            })?;
        self.written += batch.len() as u64;
        batch.clear();
        Ok(())
    }

    fn flush_all(&mut self) -> Result<()> {
        let partitions: Vec<u32> = self.batches.keys().copied().collect();
        for p in partitions {
            self.flush(p)?;
        }
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let config = &self.topic.config;
        if config.retention_ms.is_none() && config.retention_bytes.is_none() {
            return Ok(());
        }
        for p in 0..config.partitions {
            self.topic
                .partition(p)
                .and_then(|part| {
                    part.apply_retention(now_ms(), config.retention_ms, config.retention_bytes)
                })
                .map_err(|e| Error::io(format!("cannot apply retention to partition {p}"), e))?;
        }
        Ok(())
    }
}

/// The text of the value at a dotted path (strings unescaped, other values as JSON text);
/// `Some(None)` for null, `None` when missing.
fn lookup(text: &str, path: &str) -> Option<Option<Vec<u8>>> {
    let raw = lookup_raw(text, path)?;
    let value: &serde_json::value::RawValue = serde_json::from_str(&raw).ok()?;
    Some(scalar_text(value).map(|t| t.into_owned().into_bytes()))
}

/// The raw JSON at a dotted path.
fn lookup_raw(text: &str, path: &str) -> Option<String> {
    let mut current = text.to_string();
    for part in path.split('.') {
        let mut fields: Fields = Vec::new();
        object_fields(&current, &mut fields).ok()?;
        let next = field(&fields, part)?.get().to_string();
        current = next;
    }
    Some(current)
}
