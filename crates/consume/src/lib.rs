//! `consume`: records of topics in the embedded log to NDJSON on stdout, with offsets,
//! consumer groups, a two-step commit for whole pipelines, lag and group administration.

mod wake;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use sluice_cli::{parse_duration_ms, CommonArgs, LogDirArgs};
use sluice_log::envelope::{now_ms, parse_time, write_envelope};
use sluice_log::group::{self, Member};
use sluice_log::{Damaged, Partition, PartitionReader, Topic};
use sluice_stream::output::StdoutWriter;
use sluice_stream::pipe;
use sluice_stream::{Error, Position, Rejects, Result, Stats};

use crate::wake::Wake;

/// How often a group member rebalances: gives back partitions above its share to members that
/// joined, and takes over those of members that left.
const REBALANCE_EVERY: Duration = Duration::from_secs(1);
/// The longest one pass over the partitions reads before the output is flushed, offsets are
/// committed and the group is looked at again (a long backlog is read in such slices).
const READ_SLICE: Duration = Duration::from_millis(500);
/// How long a member that joined a busy group waits for the others to give back its share.
const JOIN_WAIT: Duration = Duration::from_secs(10);

const EXAMPLES: &str = "\
Examples:
  consume weather --group nightly --until-end | load weather-$(date +%F).parquet
  consume weather --group alerts --follow | filter '.wind_speed > 30' | produce alerts
  consume weather --from -1h --envelope
  consume --lag --group nightly weather
  consume --describe weather
  consume --reset earliest --group nightly weather

A pipeline that must not lose records when a later stage fails (two-step commit):
  set -o pipefail
  consume weather --group g --until-end --checkpoint cp.json | load out.parquet \\
    && consume --commit cp.json";

const DELIVERY_HELP: &str = "\
Where reading starts: with --group, at the group's committed offsets; where nothing is
committed (or without a group), at --from: earliest (the default), latest, an offset, -N (the
last N records of each partition), an RFC 3339 time, or a relative time such as -1h. A group
commits where it started, so a group that starts at latest reads what comes after it on its
next run. An offset outside a partition moves to its nearest end (also for --reset).

Damage: a record that fails its checksum, with whole records after it, goes through
--on-error: fail stops (exit 1); skip and dead-letter go on after it and name on stderr the
offsets that were lost. A value longer than --max-record-bytes goes the same way. A time given
to --from (or --reset) counts damaged records as at or after it when the next whole record is,
so reading starts at them and reports them; --lag shows the oldest whole record's time.

Delivery: offsets are committed only after the records were written and flushed to stdout
(at exit, and after each flush with --follow), so a crash replays rather than loses
(at-least-once). Because a later stage of a pipeline can still fail, --checkpoint FILE commits
nothing and writes the offsets reached to FILE; `consume --commit FILE` commits them once the
whole pipeline succeeded. --commit auto is the default behaviour, named.

Groups: members of one group in separate processes share a topic's partitions (each
partition is read by one live member); when a member exits or is killed, the others take
over its partitions.";

/// Read topics' records and write them to stdout as NDJSON.
#[derive(Parser, Debug)]
#[command(name = "consume", version, after_long_help = format!("{EXAMPLES}\n\n{DELIVERY_HELP}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// Topics to read (or to describe, reset, show lag for).
    #[arg(value_name = "TOPIC")]
    pub topics: Vec<String>,

    #[command(flatten)]
    pub log: LogDirArgs,

    /// The consumer group: its committed offsets decide where to start, and its members share
    /// partitions (rebalanced every second; one that joins a busy group waits up to 10 s for
    /// its share).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,

    /// Where to start without a committed offset: earliest, latest, OFFSET, -N, an RFC 3339
    /// time or -DURATION (e.g. -1h).
    #[arg(
        long,
        value_name = "WHERE",
        default_value = "earliest",
        allow_hyphen_values = true
    )]
    pub from: String,

    /// Only these partitions (repeatable). With --group they are read whatever the group's
    /// members read, and their offsets committed to the group (as Kafka's assign()).
    #[arg(long = "partition", value_name = "N")]
    pub partitions: Vec<u32>,

    /// Exit at the end of every partition as it was at start (the default).
    #[arg(long, conflicts_with = "follow")]
    pub until_end: bool,

    /// Wait for new records and go on until stdout's reader ends (`| head`): woken by inotify
    /// as soon as a producer appends, not by polling the partitions.
    #[arg(long)]
    pub follow: bool,

    /// Stop after N records.
    #[arg(long, value_name = "N")]
    pub max: Option<u64>,

    /// Stop each partition at the first record later than this RFC 3339 time or -DURATION
    /// (e.g. -1h: an hour ago); with --follow, also once it is read to its end after that
    /// time, and the run ends when every partition has stopped.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub until: Option<String>,

    /// Write each record as {"topic","partition","offset","timestamp","key","headers","value"};
    /// headers as an array of {"key","value"} objects, in order (a name may repeat). Bytes
    /// that are not UTF-8 are written as "key_base64" or "value_base64" instead.
    #[arg(long)]
    pub envelope: bool,

    /// Commit nothing; write the offsets reached to FILE for `consume --commit FILE`.
    #[arg(long, value_name = "FILE", requires = "group")]
    pub checkpoint: Option<PathBuf>,

    /// `auto` (commit after output is flushed, the default), or a checkpoint FILE to commit
    /// (then exit).
    #[arg(long, value_name = "auto|FILE")]
    pub commit: Option<String>,

    /// Show each partition's lag for --group: end offset minus committed offset (or minus the
    /// start offset, where retention deleted the committed one; or minus where --from starts,
    /// where nothing is committed yet or the committed one is past the end), and the age of the
    /// oldest unconsumed record.
    #[arg(long, requires = "group")]
    pub lag: bool,

    /// List the groups and the topics they committed offsets for (only TOPICs', if given).
    #[arg(long)]
    pub list_groups: bool,

    /// List the topics.
    #[arg(long)]
    pub list_topics: bool,

    /// Describe TOPICs: partitions, start and end offsets, bytes (as stored), the first kept
    /// record's timestamp (oldest_timestamp) and the largest timestamp (newest_timestamp).
    #[arg(long)]
    pub describe: bool,

    /// Set --group's committed offsets for TOPICs to earliest, latest, an offset or a time
    /// (refused while a member of the group reads them, as Kafka does).
    #[arg(
        long,
        value_name = "WHERE",
        requires = "group",
        allow_hyphen_values = true
    )]
    pub reset: Option<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |e| Error::io(what, e)
}

/// Runs `consume`.
pub fn run(args: Args) -> Result<()> {
    let log_dir = args.log.resolve()?;
    if let Some(group) = &args.group {
        group::check_name(group).map_err(Error::Usage)?;
    }
    check_modes(&args)?;
    let mut out = StdoutWriter::stdout();
    match &args.commit {
        Some(c) if c != "auto" => {
            return commit_checkpoint(&log_dir, Path::new(c), args.group.as_deref())
        }
        _ => {}
    }
    if args.list_topics {
        for name in Topic::list(&log_dir).map_err(io_err("cannot list topics"))? {
            let topic = open(&log_dir, &name)?;
            let line = json!({"topic": name, "partitions": topic.config.partitions,
                "retention_ms": topic.config.retention_ms, "retention_bytes": topic.config.retention_bytes,
                "cleanup": topic.config.cleanup, "delete_retention_ms": topic.config.delete_retention_ms});
            out.write_record(line.to_string().as_bytes())?;
        }
        return out.flush();
    }
    if args.list_groups {
        for (group, topics) in group::list(&log_dir).map_err(io_err("cannot list groups"))? {
            for topic in topics {
                if !args.topics.is_empty() && !args.topics.contains(&topic) {
                    continue;
                }
                out.write_record(
                    json!({"group": group, "topic": topic})
                        .to_string()
                        .as_bytes(),
                )?;
            }
        }
        return out.flush();
    }
    if args.topics.is_empty() {
        return Err(Error::Usage("name at least one topic".into()));
    }
    // A topic named twice is read once, as in a Kafka subscription.
    let mut names: Vec<&String> = Vec::new();
    for name in &args.topics {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let topics = names
        .into_iter()
        .map(|t| open(&log_dir, t))
        .collect::<Result<Vec<_>>>()?;
    if args.describe {
        for topic in &topics {
            for p in partitions_of(topic, &args.partitions)? {
                let info = topic
                    .partition(p)
                    .and_then(|part| part.describe())
                    .map_err(io_err("cannot read partition"))?;
                let line = json!({"topic": topic.name, "partition": p, "start_offset": info.start_offset,
                    "end_offset": info.end_offset, "records": info.end_offset - info.start_offset, "bytes": info.bytes,
                    "segments": info.segments, "oldest_timestamp": info.oldest_timestamp.map(rfc3339),
                    "newest_timestamp": info.newest_timestamp.map(rfc3339)});
                out.write_record(line.to_string().as_bytes())?;
            }
        }
        return out.flush();
    }
    if args.lag {
        let group = args.group.as_deref().expect("required by clap");
        for topic in &topics {
            let committed = group::committed(&log_dir, group, &topic.name)
                .map_err(io_err("cannot read offsets"))?;
            for p in partitions_of(topic, &args.partitions)? {
                let part = topic
                    .partition(p)
                    .map_err(io_err("cannot open partition"))?;
                let end = part.end_offset().map_err(io_err("cannot read partition"))?;
                let start = part
                    .start_offset()
                    .map_err(io_err("cannot read partition"))?;
                // Where the group's next run starts: without a commit, or with one past the
                // end (a reset topic), where --from says, as consume does.
                let position = match committed.get(&p) {
                    Some(&o) if o <= end => o.max(start),
                    _ => StartSpec::parse(&args.from)?.resolve(&part)?,
                };
                // Damaged records' times are unknown: the oldest whole one after them.
                let oldest = if position < end {
                    part.reader(position)
                        .and_then(|mut r| r.next_intact(&mut None))
                        .map_err(io_err("cannot read partition"))?
                        .map(|r| r.timestamp)
                } else {
                    None
                };
                let line = json!({"group": group, "topic": topic.name, "partition": p,
                    "committed": committed.get(&p), "end_offset": end, "lag": end.saturating_sub(position),
                    "oldest_unconsumed_timestamp": oldest.map(rfc3339),
                    "oldest_unconsumed_age_ms": oldest.map(|t| (now_ms() - t).max(0))});
                out.write_record(line.to_string().as_bytes())?;
            }
        }
        return out.flush();
    }
    if let Some(spec) = &args.reset {
        let group = args.group.as_deref().expect("required by clap");
        let spec = StartSpec::parse(spec)?;
        // A member reading now would commit over the reset: Kafka refuses it too.
        for topic in &topics {
            let live = group::live_member_count(&log_dir, group, &topic.name)
                .map_err(io_err("cannot read the group's members"))?;
            if live > 0 {
                return Err(Error::Other(format!(
                    "group {group} has {live} member(s) reading {} now: stop them, then reset \
                     (nothing was reset)",
                    topic.name
                )));
            }
        }
        for topic in &topics {
            let mut offsets = BTreeMap::new();
            for p in partitions_of(topic, &args.partitions)? {
                let part = topic
                    .partition(p)
                    .map_err(io_err("cannot open partition"))?;
                offsets.insert(p, spec.resolve(&part)?);
            }
            group::commit(&log_dir, group, &topic.name, &offsets)
                .map_err(io_err("cannot commit offsets"))?;
            let text: BTreeMap<String, u64> =
                offsets.iter().map(|(p, o)| (p.to_string(), *o)).collect();
            out.write_record(
                json!({"group": group, "topic": topic.name, "offsets": text})
                    .to_string()
                    .as_bytes(),
            )?;
        }
        return out.flush();
    }
    let mut consumer = Consumer::new(&log_dir, &args, topics, out)?;
    consumer.run()
}

/// Refuses options that cannot go together: two administrative actions (one would be dropped),
/// or a checkpoint that a run without end would never write.
fn check_modes(args: &Args) -> Result<()> {
    let commit_file = args.commit.as_deref().filter(|c| *c != "auto");
    let modes = [
        ("--commit FILE", commit_file.is_some()),
        ("--list-topics", args.list_topics),
        ("--list-groups", args.list_groups),
        ("--describe", args.describe),
        ("--lag", args.lag),
        ("--reset", args.reset.is_some()),
    ];
    let chosen: Vec<&str> = modes.iter().filter(|m| m.1).map(|m| m.0).collect();
    if chosen.len() > 1 {
        return Err(Error::Usage(format!(
            "{} cannot be used together: run one at a time",
            chosen.join(" and ")
        )));
    }
    if args.list_topics && !args.topics.is_empty() {
        return Err(Error::Usage(
            "--list-topics lists them all: it takes no TOPIC (--describe TOPIC shows one)".into(),
        ));
    }
    if args.checkpoint.is_some() {
        if args.commit.is_some() {
            return Err(Error::Usage(
                "--checkpoint commits nothing: it cannot be used with --commit".into(),
            ));
        }
        if args.follow && args.max.is_none() && args.until.is_none() {
            return Err(Error::Usage(
                "--checkpoint is written when the run ends, and --follow never ends: add \
                 --max or --until, or use --until-end"
                    .into(),
            ));
        }
    }
    Ok(())
}

fn open(log_dir: &Path, name: &str) -> Result<Topic> {
    sluice_log::topic::check_name(name).map_err(Error::Usage)?;
    Topic::open(log_dir, name)
        .map_err(io_err(format!("cannot open topic {name}")))?
        .ok_or_else(|| {
            Error::Other(format!(
                "topic {name} does not exist in {}",
                log_dir.display()
            ))
        })
}

fn partitions_of(topic: &Topic, only: &[u32]) -> Result<Vec<u32>> {
    for &p in only {
        if p >= topic.config.partitions {
            return Err(Error::Usage(format!(
                "topic {} has no partition {p}",
                topic.name
            )));
        }
    }
    Ok((0..topic.config.partitions)
        .filter(|p| only.is_empty() || only.contains(p))
        .collect())
}

/// Formats ms since the epoch as RFC 3339 in UTC.
fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Where reading starts without a committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StartSpec {
    Earliest,
    Latest,
    Offset(u64),
    Last(u64),
    Time(i64),
}

impl StartSpec {
    fn parse(text: &str) -> Result<StartSpec> {
        let usage = || {
            Error::Usage(format!(
                "'{text}' is not earliest, latest, an offset, -N, an RFC 3339 time or -DURATION"
            ))
        };
        Ok(match text {
            "earliest" | "beginning" => StartSpec::Earliest,
            "latest" | "end" => StartSpec::Latest,
            _ if text.bytes().all(|b| b.is_ascii_digit()) => {
                StartSpec::Offset(text.parse().map_err(|_| usage())?)
            }
            _ if text.starts_with('-') && text[1..].bytes().all(|b| b.is_ascii_digit()) => {
                StartSpec::Last(text[1..].parse().map_err(|_| usage())?)
            }
            _ if text.starts_with('-') => {
                StartSpec::Time(now_ms() - parse_duration_ms(&text[1..]).map_err(|_| usage())?)
            }
            _ => StartSpec::Time(parse_time(text).ok_or_else(usage)?),
        })
    }

    fn resolve(&self, part: &Partition) -> Result<u64> {
        let err = || io_err("cannot read partition");
        let start = || part.start_offset().map_err(err());
        let end = || part.end_offset().map_err(err());
        Ok(match self {
            StartSpec::Earliest => start()?,
            StartSpec::Latest => end()?,
            // As Kafka's tools do, an offset outside the partition is moved to its nearest end.
            StartSpec::Offset(o) => (*o).min(end()?).max(start()?),
            StartSpec::Last(n) => end()?.saturating_sub(*n).max(start()?),
            StartSpec::Time(t) => part.offset_for_time(*t).map_err(err())?,
        })
    }
}

/// One partition being read.
struct Assigned {
    topic: usize,
    partition: u32,
    reader: PartitionReader,
    /// Stop before this offset (`--until-end`).
    end: Option<u64>,
    done: bool,
}

struct Consumer<'a> {
    log_dir: PathBuf,
    args: &'a Args,
    topics: Vec<Topic>,
    members: Vec<Option<Member>>,
    assigned: Vec<Assigned>,
    out: StdoutWriter,
    line: Vec<u8>,
    until: Option<i64>,
    start: StartSpec,
    written: u64,
    /// Bytes (as stored) of the records read from the log.
    bytes_in: u64,
    /// Offsets reached and not yet committed: (topic, partition) → next offset.
    reached: BTreeMap<(usize, u32), u64>,
    /// End offsets as of start, for `--until-end` with groups.
    ends: BTreeMap<(usize, u32), u64>,
    /// Damaged and oversize records go through --on-error.
    rejects: Rejects,
}

impl<'a> Consumer<'a> {
    fn new(log_dir: &Path, args: &'a Args, topics: Vec<Topic>, out: StdoutWriter) -> Result<Self> {
        let until = match &args.until {
            Some(t) => {
                let time = match t.strip_prefix('-') {
                    Some(ago) => parse_duration_ms(ago).ok().map(|ms| now_ms() - ms),
                    None => parse_time(t),
                };
                Some(time.ok_or_else(|| {
                    Error::Usage(format!(
                        "--until {t:?} is neither an RFC 3339 time nor -DURATION (e.g. -1h)"
                    ))
                })?)
            }
            None => None,
        };
        let mut members = Vec::new();
        let mut ends = BTreeMap::new();
        for (i, topic) in topics.iter().enumerate() {
            // Partitions named with --partition are read without sharing them.
            members.push(
                match args.group.as_ref().filter(|_| args.partitions.is_empty()) {
                    Some(g) => Some(
                        Member::join(log_dir, g, &topic.name, topic.config.partitions)
                            .map_err(io_err("cannot join the group"))?,
                    ),
                    None => None,
                },
            );
            for p in partitions_of(topic, &args.partitions)? {
                let part = topic
                    .partition(p)
                    .map_err(io_err("cannot open partition"))?;
                ends.insert(
                    (i, p),
                    part.end_offset().map_err(io_err("cannot read partition"))?,
                );
            }
        }
        Ok(Consumer {
            log_dir: log_dir.to_path_buf(),
            args,
            topics,
            members,
            assigned: Vec::new(),
            out,
            line: Vec::new(),
            until,
            start: StartSpec::parse(&args.from)?,
            written: 0,
            bytes_in: 0,
            reached: BTreeMap::new(),
            ends,
            rejects: Rejects::new(args.common.on_error.clone(), "consume")?,
        })
    }

    /// Takes the partitions this process should read now (all of them without a group).
    fn rebalance(&mut self) -> Result<()> {
        for t in 0..self.topics.len() {
            let wanted: Vec<u32> = match &mut self.members[t] {
                None => partitions_of(&self.topics[t], &self.args.partitions)?,
                Some(member) => {
                    let (owned, released) = member
                        .rebalance()
                        .map_err(io_err("cannot rebalance the group"))?;
                    if !released.is_empty() {
                        // Commit what was read from them before another member takes over;
                        // with --checkpoint their new owner reads them again from the group's
                        // offsets and commits them, so this run's checkpoint leaves them out.
                        if self.args.checkpoint.is_some() {
                            self.reached
                                .retain(|(tt, p), _| !(*tt == t && released.contains(p)));
                        }
                        self.commit_reached()?;
                        self.assigned
                            .retain(|a| !(a.topic == t && released.contains(&a.partition)));
                        if let Some(member) = &mut self.members[t] {
                            member.release(&released);
                        }
                    }
                    owned
                }
            };
            for p in wanted {
                if self
                    .assigned
                    .iter()
                    .any(|a| a.topic == t && a.partition == p)
                {
                    continue;
                }
                let part = self.topics[t]
                    .partition(p)
                    .map_err(io_err("cannot open partition"))?;
                let committed = match &self.args.group {
                    Some(g) => group::committed(&self.log_dir, g, &self.topics[t].name)
                        .map_err(io_err("cannot read offsets"))?
                        .get(&p)
                        .copied(),
                    None => None,
                };
                let end_now = part.end_offset().map_err(io_err("cannot read partition"))?;
                let from = match committed {
                    Some(o) if o <= end_now => o,
                    _ => {
                        if let Some(o) = committed {
                            eprintln!(
                                "consume: {} partition {p}: the committed offset {o} is past \
                                 the end ({end_now}); starting from --from {}",
                                self.topics[t].name, self.args.from
                            );
                        }
                        let from = self.start.resolve(&part)?;
                        // Kafka's consumers commit the position they start from, so that a
                        // group that starts at `latest` reads what comes after it next time.
                        if self.args.group.is_some() {
                            self.reached.insert((t, p), from);
                        }
                        from
                    }
                };
                let end = (!self.args.follow).then(|| self.ends.get(&(t, p)).copied().unwrap_or(0));
                let reader = part.reader(from).map_err(io_err("cannot read partition"))?;
                let done = end.is_some_and(|e| reader.position() >= e);
                self.assigned.push(Assigned {
                    topic: t,
                    partition: p,
                    reader,
                    end,
                    done,
                });
            }
        }
        Ok(())
    }

    fn run(&mut self) -> Result<()> {
        let mut stats = Stats::new("consume");
        let read = self.read_all();
        // Dead letters are made durable before the offsets past them are committed, and are
        // reported also when stdout was closed early (`| head`); then nothing more is
        // committed, as the records last written may not have been read.
        let finished = self.rejects.finish();
        if !Error::output_closed(read.and(finished))? {
            match &self.args.checkpoint {
                Some(path) => self.write_checkpoint(path)?,
                None => self.commit_reached()?,
            }
        }
        stats.rejected = self.rejects.count();
        stats.records_out = self.written;
        stats.records_in = self.written + stats.rejected;
        stats.bytes_out = self.out.bytes();
        stats.bytes_in = self.bytes_in;
        if self.args.common.stats {
            eprintln!("{}", stats.to_json());
        }
        Ok(())
    }

    /// Writes records until the run's end (--until-end, --until, --max) and flushes them.
    fn read_all(&mut self) -> Result<()> {
        self.rebalance()?;
        let mut wake = if self.args.follow {
            let dirs = self.partition_dirs()?;
            Some(Wake::watch(dirs.iter().map(PathBuf::as_path)))
        } else {
            None
        };
        let mut last_rebalance = Instant::now();
        let joined = Instant::now();
        loop {
            let read = self.read_available()?;
            if read > 0 {
                self.out.flush()?;
                if self.args.checkpoint.is_none() {
                    self.commit_reached()?;
                }
            }
            let limit_hit = self.args.max.is_some_and(|m| self.written >= m);
            if limit_hit {
                break;
            }
            if self.args.group.is_some() && last_rebalance.elapsed() > REBALANCE_EVERY {
                self.rebalance()?;
                last_rebalance = Instant::now();
            }
            if !self.args.follow {
                if self.assigned.iter().all(|a| a.done) {
                    // Partitions of members that left may still be unread: take them over.
                    let before = self.assigned.len();
                    self.rebalance()?;
                    last_rebalance = Instant::now();
                    if self.assigned.len() == before || self.assigned.iter().all(|a| a.done) {
                        if !self.is_short() {
                            break;
                        }
                        // Joined while others held every partition: they give this member its
                        // share at their next rebalance (within about a second).
                        if joined.elapsed() > JOIN_WAIT {
                            eprintln!(
                                "consume: other members of group {} still hold this member's \
                                 share of the partitions after {}s; ending with what it got",
                                self.args.group.as_deref().unwrap_or_default(),
                                JOIN_WAIT.as_secs()
                            );
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
                continue;
            }
            if self.passed_until() {
                // The run ends, after taking over what members that left had not read.
                self.rebalance()?;
                last_rebalance = Instant::now();
                if self.passed_until() {
                    break;
                }
                continue;
            }
            if let Some(wake) = wake.as_mut() {
                if read == 0 {
                    wake.wait(Duration::from_secs(1));
                    // What was written is flushed and committed: end as a failed write would.
                    if pipe::reader_gone(std::io::stdout()) {
                        return Err(Error::io(
                            "cannot write to stdout",
                            std::io::ErrorKind::BrokenPipe.into(),
                        ));
                    }
                } else {
                    wake.reset();
                }
            }
        }
        self.out.flush()
    }

    /// Whether this process is a group member still short of its share of some topic.
    fn is_short(&self) -> bool {
        self.members.iter().flatten().any(Member::is_short)
    }

    /// With --until: every partition read has passed it (a member with none, once the time
    /// has).
    fn passed_until(&self) -> bool {
        match self.until {
            None => false,
            Some(until) if self.assigned.is_empty() => now_ms() > until,
            Some(_) => self.assigned.iter().all(|a| a.done),
        }
    }

    /// The directories of every partition of the topics read (any may be assigned later).
    fn partition_dirs(&self) -> Result<Vec<PathBuf>> {
        let mut dirs = Vec::new();
        for topic in &self.topics {
            for p in 0..topic.config.partitions {
                let part = topic
                    .partition(p)
                    .map_err(io_err("cannot open partition"))?;
                dirs.push(part.dir().to_path_buf());
            }
        }
        Ok(dirs)
    }

    /// Reads what is available from every assigned partition, for up to [`READ_SLICE`];
    /// returns records written.
    fn read_available(&mut self) -> Result<u64> {
        let mut total = 0;
        let started = Instant::now();
        let mut records_read = 0u32;
        for a in self.assigned.iter_mut().filter(|a| !a.done) {
            let mut delivered = None;
            // Bytes of the records handled (not of one read past --until).
            let bytes_before = a.reader.bytes_read();
            let mut bytes_handled;
            let topic = &self.topics[a.topic].name;
            loop {
                // Everything read so far was handled: the loop leaves early only for a record
                // read past --until.
                bytes_handled = a.reader.bytes_read();
                if self.args.max.is_some_and(|m| self.written >= m) {
                    break;
                }
                records_read = records_read.wrapping_add(1);
                if records_read.is_multiple_of(1024) && started.elapsed() > READ_SLICE {
                    break;
                }
                if a.end.is_some_and(|e| a.reader.position() >= e) {
                    a.done = true;
                    break;
                }
                let next = match a.reader.next_view() {
                    Ok(next) => next,
                    Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<Damaged>()) {
                        Some(damaged) => {
                            let position =
                                Position::source(format!("{topic} partition {}", a.partition));
                            self.rejects.reject(
                                &position,
                                &damaged.to_string(),
                                &damaged.bytes,
                                damaged.len > damaged.bytes.len() as u64,
                            )?;
                            eprintln!("consume: {position}: {damaged}; going on after them");
                            a.reader.skip_damage();
                            delivered = Some(a.reader.position());
                            continue;
                        }
                        None if e.kind() == std::io::ErrorKind::NotFound => {
                            return Err(Error::Other(format!(
                                "{topic} partition {}: the partition's files are gone (the \
                                 topic was deleted while being read)",
                                a.partition
                            )))
                        }
                        None => {
                            return Err(Error::io(
                                format!("cannot read {topic} partition {}", a.partition),
                                e,
                            ))
                        }
                    },
                };
                let Some(record) = next else {
                    // Following up to --until: a partition read to its end once that time
                    // has passed is finished too, else a quiet partition would hold the run.
                    if self.until.is_some_and(|u| now_ms() > u) {
                        a.done = true;
                    }
                    if a.end.is_some() {
                        // The end known at start is not reachable (retention removed it, or a
                        // reset moved past it): nothing more to read.
                        a.done = a.reader.position() >= a.end.unwrap_or(0) || !self.args.follow;
                    }
                    break;
                };
                if self.until.is_some_and(|u| record.timestamp > u) {
                    a.done = true;
                    break;
                }
                delivered = Some(record.offset + 1);
                let size = record.value.map_or(0, <[u8]>::len);
                if size > self.args.common.max_record_len() {
                    let position = Position::source(format!(
                        "{topic} partition {} offset {}",
                        a.partition, record.offset
                    ));
                    let reason = format!(
                        "a value of {size} bytes is longer than --max-record-bytes ({})",
                        self.args.common.max_record_bytes
                    );
                    let value = record.value.unwrap_or_default();
                    let kept = &value[..value.len().min(self.args.common.max_record_len())];
                    self.rejects.reject(&position, &reason, kept, true)?;
                    continue;
                }
                if self.args.envelope {
                    self.line.clear();
                    write_envelope(&mut self.line, topic, a.partition, &record);
                    self.out.write_record(&self.line)?;
                } else if let Some(value) = record.value {
                    self.out.write_record(value)?;
                } else {
                    // A tombstone has no value to write without --envelope.
                    continue;
                }
                self.written += 1;
                total += 1;
            }
            self.bytes_in += bytes_handled - bytes_before;
            // Only records written count as reached (not one read past --until).
            if let Some(next) = delivered {
                self.reached.insert((a.topic, a.partition), next);
            }
        }
        Ok(total)
    }

    /// Commits the offsets reached (after the records were flushed); with --checkpoint they
    /// are kept for the checkpoint file instead.
    fn commit_reached(&mut self) -> Result<()> {
        let Some(g) = &self.args.group else {
            return Ok(());
        };
        if self.args.checkpoint.is_some() {
            return Ok(());
        }
        for (t, topic) in self.topics.iter().enumerate() {
            let offsets: BTreeMap<u32, u64> = self
                .reached
                .iter()
                .filter(|((tt, _), _)| *tt == t)
                .map(|((_, p), o)| (*p, *o))
                .collect();
            if !offsets.is_empty() {
                group::commit(&self.log_dir, g, &topic.name, &offsets)
                    .map_err(io_err("cannot commit offsets"))?;
            }
        }
        self.reached.clear();
        Ok(())
    }

    fn write_checkpoint(&self, path: &Path) -> Result<()> {
        let mut offsets = serde_json::Map::new();
        for (t, topic) in self.topics.iter().enumerate() {
            let parts: serde_json::Map<String, Value> = self
                .reached
                .iter()
                .filter(|((tt, _), _)| *tt == t)
                .map(|((_, p), o)| (p.to_string(), json!(o)))
                .collect();
            offsets.insert(topic.name.clone(), Value::Object(parts));
        }
        let checkpoint = json!({"version": 1, "group": self.args.group, "offsets": offsets});
        let mut text = serde_json::to_vec_pretty(&checkpoint).expect("serializes");
        text.push(b'\n');
        sluice_stream::atomic::write_file(path, &text)
    }
}

/// Commits the offsets of a checkpoint file written by `--checkpoint`.
fn commit_checkpoint(log_dir: &Path, path: &Path, group: Option<&str>) -> Result<()> {
    let bytes = std::fs::read(path)
        .map_err(io_err(format!("cannot read checkpoint {}", path.display())))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::Other(format!("checkpoint {} is not valid: {e}", path.display())))?;
    let file_group = value["group"]
        .as_str()
        .ok_or_else(|| Error::Other(format!("checkpoint {} names no group", path.display())))?;
    if let Some(g) = group {
        if g != file_group {
            return Err(Error::Usage(format!(
                "checkpoint {} is for group {file_group}, not {g}",
                path.display()
            )));
        }
    }
    let invalid = |why: String| Error::Other(format!("checkpoint {}: {why}", path.display()));
    if value["version"] != json!(1) {
        return Err(invalid(format!(
            "version {} is not 1 (written by another sluice?)",
            value["version"]
        )));
    }
    let Some(topics) = value["offsets"].as_object() else {
        return Err(invalid("no offsets".into()));
    };
    // Everything is checked before anything is committed.
    let mut commits = Vec::new();
    for (name, parts) in topics {
        let topic = open(log_dir, name)?;
        let parts = parts
            .as_object()
            .ok_or_else(|| invalid(format!("the offsets of {name} are not an object")))?;
        let mut offsets = BTreeMap::new();
        for (p, o) in parts {
            let partition = p
                .parse::<u32>()
                .ok()
                .filter(|&p| p < topic.config.partitions)
                .ok_or_else(|| invalid(format!("{name} has no partition {p:?}")))?;
            let offset = o.as_u64().ok_or_else(|| {
                invalid(format!(
                    "offset {o} of {name} partition {p} is not an offset"
                ))
            })?;
            offsets.insert(partition, offset);
        }
        commits.push((name, offsets));
    }
    for (topic, offsets) in commits.iter().filter(|(_, o)| !o.is_empty()) {
        group::commit(log_dir, file_group, topic, offsets)
            .map_err(io_err("cannot commit offsets"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_specs_parse() {
        assert_eq!(StartSpec::parse("earliest").unwrap(), StartSpec::Earliest);
        assert_eq!(StartSpec::parse("42").unwrap(), StartSpec::Offset(42));
        assert_eq!(StartSpec::parse("-10").unwrap(), StartSpec::Last(10));
        assert_eq!(
            StartSpec::parse("2013-01-01T00:00:00Z").unwrap(),
            StartSpec::Time(1_356_998_400_000)
        );
        assert!(matches!(
            StartSpec::parse("-1h").unwrap(),
            StartSpec::Time(_)
        ));
        assert!(StartSpec::parse("soon").is_err());
    }

    #[test]
    fn timestamps_format_as_rfc_3339() {
        assert_eq!(rfc3339(1_356_998_400_000), "2013-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }
}
