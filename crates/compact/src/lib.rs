//! `compact`: small input files into a lake of few large Parquet files, one folder per event-time
//! window, committed through a manifest log so that every record lands exactly once, whatever
//! crashes, reruns or overlapping runs happen. See `man compact`.

mod inputs;
mod intake;
mod key;
mod schema;
mod spill;
mod sweep;
mod topic;
mod window;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::Schema;
use clap::Parser;
use sluice_cli::{parse_duration_ms, parse_size, CommonArgs, LogDirArgs};
use sluice_lake::{
    Commit, DataFile, InputId, KeyLayout, Lake, Layout, Manifest, OffsetRange, META_DIR,
};
use sluice_load::{Codec, Format, WriterOptions};
use sluice_stream::progress::Progress;
use sluice_stream::{Error, OnError, Rejects, Result, Stats};

use crate::inputs::{AfterCommit, Input, Source};
use crate::intake::{Cut, Intake, Read, Taken};
use crate::key::{KeyCut, Latest};
use crate::spill::Spill;
use crate::sweep::SpillPlace;
use crate::topic::TopicSource;
pub use crate::window::EpochUnit;
use crate::window::TimeCut;
use crate::write::Stager;

const EXAMPLES: &str = "\
Examples:
  compact landing/ lake/events --time-field ts --window 5m
  compact 'drops/*.json.gz' lake/weather --time-field time_hour --window 1h --keep-inputs
  compact landing/ lake/events --time-field ts --window 1d --path-template 'year=%Y/month=%m/day=%d'
  compact --topic weather --group lake lake/weather --time-field time_hour --window 1h
  compact --topic customers lake/customers --key id            # the latest record per key
  compact 'changes/*.ndjson' lake/accounts --key account.id --order-by updated_at \\
      --delete-when '.op == \"delete\"'
  extract lake/events | filter '.level == \"error\"'      # reads what was committed
  duckdb -c \"select count(*) from read_parquet('lake/events/**/*.parquet', union_by_name=true)\"

From cron, every 5 minutes (an overlapping run exits with status 75 and changes nothing):
  */5 * * * * compact /data/landing /data/lake/events --time-field ts --window 5m --stats";

const LAKE_HELP: &str = "\
The lake: DEST holds Parquet files under one folder per window (by default dt=YYYY-MM-DD,
then hour=HH for windows under a day, minute=MM under an hour), named
part-VERSION-SEQ.parquet, and _sluice/, the manifest log. Each run is one commit: it lists
the inputs no earlier commit consumed (by path, size, modification time and a fingerprint),
reads them, writes the windows' files under hidden temporary names, syncs them, renames them
into place, then publishes manifest VERSION with a create-if-absent link(2). The manifest is
the truth: a file no manifest names is not in the lake, and is deleted by the next run. After
the commit, consumed inputs are moved to SOURCE/_done/ (or deleted, or kept), and files the
commit replaced are deleted; a run killed at any point is finished or undone by the next
one, so a reader globbing DEST/**/*.parquet between runs sees every record exactly once.
`extract DEST` reads only committed files.

Windows come from each record's --time-field (RFC 3339, YYYY-MM-DD, or a number of seconds
or milliseconds since the epoch; a time without an offset is read as UTC), never from file
times or the clock, so a rerun cuts the same windows. A record without a valid time goes
through --on-error. A record for a window that already has files adds a file there; a
window's small files (under an eighth of --target-file-size) are rewritten into one, with the
new records, whenever the window would otherwise hold two of them, and its smallest files
under half of --target-file-size, as many as fit in it, when it would hold more than
--max-files-per-window files. Files of half the target size or more stay as they are. With --max-lateness, records older than that before the newest
record already in the lake go through --on-error.

The schema is the union of every input's columns, widened as load widens (integers and
floats make floats; a string and another scalar make a string); a column that holds objects
or arrays in one input and scalars in another is an error naming the input and column,
never coerced. Memory stays within --memory however many windows a run touches: records are
spilled by window and written one window at a time.

Inputs: files below SOURCE (a directory or a quoted glob), skipping names that start with .
or _ (write inputs under a hidden name and rename them into place when complete). Every
format extract reads: NDJSON, JSON, CSV/TSV, Parquet, Arrow, compressed.

A topic (--topic NAME, from the embedded log): each run takes every partition's records from
the offsets the last commit recorded in the manifest up to the end as of the run's start;
the offsets are committed with the data, so a crash can neither lose nor repeat records.
With --group, the group's committed offsets follow the lake's (for consume --lag). A record
whose value is not a JSON object goes through --on-error, as does a record without a value
(a tombstone) unless it deletes a key (--key).

Key compaction (--key FIELD, instead of --time-field and --window): the lake holds the latest
record of each key, as a compacted Kafka topic does. Keys are spread over --buckets folders
(bucket=0000/ …) by murmur2 of the key (a string's text, any other value's JSON text, as
produce --key makes a topic record's key; whole numbers as integers); a run rewrites the
buckets that received records, and only those. The latest record of a key is the last to come
(topic offset order; input files in sorted path order, then line order) or, with --order-by,
the one with the greatest value of that field (integers, or RFC 3339 times, one kind per
lake; of equal values, the last to come). A key is deleted by a record that matches
--delete-when (which then wins or loses by --order-by as a record would) or by a topic record
without a value (a tombstone, which deletes whatever came before it); a deleted key leaves
nothing in the lake, so a later run's record for it comes back whatever its --order-by. A
record without its key, or with a null key, goes through --on-error. The key column is
stored as written (never as a time). A bucket's records must fit in memory (beyond
--memory): choose --buckets so that each bucket's file is about --target-file-size. --key,
--buckets and --order-by must be the same on every run of a lake.

Exit status 75: another run holds the lake's lock (or committed first); nothing was changed.";

/// Compact small files (or a topic) into a lake of large Parquet files, one folder per
/// event-time window or, with --key, the latest record per key; crash-safe and exactly once,
/// made to run from cron.
#[derive(Parser, Debug)]
#[command(
    name = "compact",
    version,
    override_usage = "compact [OPTIONS] --time-field FIELD --window DURATION SOURCE DEST\n       \
                      compact [OPTIONS] --time-field FIELD --window DURATION --topic NAME DEST\n       \
                      compact [OPTIONS] --key FIELD (SOURCE | --topic NAME) DEST",
    after_long_help = format!("{EXAMPLES}\n\n{LAKE_HELP}\n\n{}", sluice_cli::EXIT_STATUS)
)]
pub struct Args {
    /// SOURCE and DEST: the input files (a directory, every file below it, or a quoted glob)
    /// and the lake's directory (created if missing). With --topic, only DEST.
    #[arg(value_name = "PATH", num_args = 1..=2, required = true)]
    pub paths: Vec<String>,

    /// Compact the records of this topic of the embedded log instead of files: each run takes
    /// every partition's records up to the end as of its start, from where the last commit
    /// stopped (the offsets live in the lake's manifest).
    #[arg(long, value_name = "NAME")]
    pub topic: Option<String>,

    /// With --topic: the consumer group whose committed offsets are set to the lake's after
    /// each commit, so that `consume --lag --group NAME` reports what is not compacted yet.
    #[arg(long, value_name = "NAME", requires = "topic")]
    pub group: Option<String>,

    #[command(flatten)]
    pub log: LogDirArgs,

    /// The field holding each record's event time (a.b for a nested field).
    #[arg(long, value_name = "FIELD", required_unless_present = "key")]
    pub time_field: Option<String>,

    /// The window size: 5m, 1h, 1d, … (windows start at the Unix epoch, in UTC).
    #[arg(long, value_name = "DURATION", value_parser = parse_window, required_unless_present = "key")]
    pub window: Option<i64>,

    /// Key compaction: keep only the latest record of each value of FIELD (a.b for a nested
    /// field), instead of cutting records into time windows.
    #[arg(long, value_name = "FIELD", conflicts_with_all = ["time_field", "window", "path_template", "max_lateness"])]
    pub key: Option<String>,

    /// With --key: the field whose greatest value (an integer or an RFC 3339 time) makes a
    /// key's latest record, instead of the order records come in. The same on every run.
    #[arg(long, value_name = "FIELD", requires = "key")]
    pub order_by: Option<String>,

    /// With --key: a jq predicate; a record for which it is true deletes its key.
    #[arg(long, value_name = "EXPR", requires = "key")]
    pub delete_when: Option<String>,

    /// With --key: how many buckets (folders) keys are spread over, by a hash of the key.
    /// The same on every run.
    #[arg(long, value_name = "N", default_value_t = 16, requires = "key", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub buckets: u32,

    /// How numeric times count: seconds, milliseconds, or auto (milliseconds when the number
    /// is 100,000,000,000 or more).
    #[arg(long, value_enum, default_value = "auto")]
    pub epoch_unit: EpochUnit,

    /// The folder of a window, a strftime pattern of its start (UTC), such as
    /// 'year=%Y/month=%m/day=%d/hour=%H'. Fixed by the lake's first commit.
    #[arg(long, value_name = "PATTERN")]
    pub path_template: Option<String>,

    /// Delete consumed inputs instead of moving them to SOURCE/_done/.
    #[arg(long, conflicts_with = "keep_inputs")]
    pub delete_inputs: bool,

    /// Leave consumed inputs where they are (the manifest remembers them).
    #[arg(long)]
    pub keep_inputs: bool,

    /// Rewrite a window's smallest files into one (up to --target-file-size) once it would
    /// hold more files than this.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_files_per_window: u32,

    /// The size files are written up to (a window's file rolls over there); files under an
    /// eighth of it are small, and are rewritten together.
    #[arg(long, value_name = "SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub target_file_size: u64,

    /// Reject records older than this before the newest record in the lake (5m, 2h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms)]
    pub max_lateness: Option<i64>,

    /// Memory for sorting records into windows; beyond it records are split on disk.
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size)]
    pub memory: u64,

    /// Parquet compression.
    #[arg(long, value_enum, default_value = "snappy")]
    pub compression: Codec,

    /// The inputs' format, instead of their names or contents.
    #[arg(long, value_enum)]
    pub format: Option<sluice_extract::Format>,

    /// CSV inputs: a field equal to MARKER is null (repeatable), as extract --null.
    #[arg(long = "null", value_name = "MARKER")]
    pub nulls: Vec<String>,

    /// Keep RFC 3339 and YYYY-MM-DD strings as strings in the files (default: timestamps and
    /// dates).
    #[arg(long)]
    pub keep_time_strings: bool,

    /// Manifests kept in DEST/_sluice/manifest (older ones are deleted).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_manifests: u32,

    /// Where records wait between reading and writing (default: DEST/_sluice).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_window(text: &str) -> Result<i64, String> {
    match parse_duration_ms(text)? {
        ms if ms >= 1000 && ms % 1000 == 0 => Ok(ms),
        _ => Err(format!(
            "'{text}' is not a window: use whole seconds (30s, 5m, 1h, 1d)"
        )),
    }
}

/// What a run did, for the summary.
struct Outcome {
    version: Option<u64>,
    inputs: usize,
    added: usize,
    removed: usize,
}

/// Runs `compact`.
pub fn run(args: Args) -> Result<()> {
    let mut stats = Stats::new("compact");
    let outcome = compact(&args, &mut stats)?;
    if args.common.stats {
        let mut line = stats.to_json();
        if line.ends_with('}') {
            line.pop();
            let version = outcome.version.map_or("null".into(), |v| v.to_string());
            line.push_str(&format!(
                ",\"version\":{version},\"inputs\":{},\"files_added\":{},\"files_removed\":{}}}",
                outcome.inputs, outcome.added, outcome.removed
            ));
        }
        eprintln!("{line}");
    }
    Ok(())
}

/// The lake's layout as the command line asks for it.
fn layout_of(args: &Args) -> Result<Layout> {
    if let Some(field) = &args.key {
        return Ok(Layout {
            time_field: String::new(),
            window_ms: 0,
            path_template: key::template(args.buckets),
            key: Some(KeyLayout {
                field: field.clone(),
                buckets: args.buckets,
                order_by: args.order_by.clone(),
            }),
        });
    }
    let (Some(time_field), Some(window_ms)) = (&args.time_field, args.window) else {
        return Err(Error::Usage(
            "name --time-field and --window, or --key".into(),
        ));
    };
    let path_template = match &args.path_template {
        Some(template) => template.clone(),
        None => window::default_template(window_ms),
    };
    window::check_template(&path_template).map_err(Error::Usage)?;
    Ok(Layout {
        time_field: time_field.clone(),
        window_ms,
        path_template,
        key: None,
    })
}

fn compact(args: &Args, stats: &mut Stats) -> Result<Outcome> {
    let layout = layout_of(args)?;
    let key_cut = match &layout.key {
        Some(key) => Some(KeyCut::new(key, args.delete_when.as_deref())?),
        None => None,
    };
    let (origin, dest) = Origin::from_args(args)?;
    check_dest(&dest)?;
    let lake = Lake::new(&dest);
    let _lock = lake.lock()?;
    if let Origin::Files(source) = &origin {
        check_apart(source, &dest)?;
    }
    let previous = lake.latest()?;
    let after = match (args.delete_inputs, args.keep_inputs) {
        (true, _) => AfterCommit::Delete,
        (_, true) => AfterCommit::Keep,
        _ => AfterCommit::Move,
    };
    if let Some(manifest) = &previous {
        check_layout(&dest, &manifest.layout, &layout)?;
        // A run killed after its commit left these steps undone.
        settle(&lake, manifest, after)?;
    }
    let spill = SpillPlace::new(&lake, args.spill_dir.as_deref());
    sweep::orphans(&spill, previous.as_ref())?;
    let base = previous.unwrap_or_else(|| Manifest::empty(layout.clone()));
    let plan = origin.plan(&base)?;
    stats.bytes_in = plan.fresh.iter().map(|i| i.id.size).sum();
    let (mut commit, mut intake) = Run::new(args, &lake, &base, &layout, key_cut)?;
    match &origin {
        Origin::Files(source) => commit.read_inputs(&mut intake, source, &plan.fresh, stats)?,
        Origin::Topic(topic) => {
            for range in &plan.ranges {
                stats.records_in += topic.read(range, &mut intake)?;
                commit.widen(&mut intake, &origin.spec())?;
            }
        }
    }
    let packed = commit.choose_packing(&intake.touched);
    commit.read_packed(&mut intake, &packed)?;
    if let (0, Some(schema)) = (base.version, &commit.schema) {
        warn_folder_clash(&layout, schema);
    }
    if plan.is_empty() && packed.is_empty() {
        if let Origin::Topic(topic) = &origin {
            topic.report(&base.offsets)?;
        }
        return Ok(Outcome {
            version: None,
            inputs: 0,
            added: 0,
            removed: 0,
        });
    }
    let manifest = commit.write_and_commit(intake, &origin.spec(), plan, packed, stats)?;
    settle(&lake, &manifest, after)?;
    if let Origin::Topic(topic) = &origin {
        topic.report(&manifest.offsets)?;
    }
    lake.prune(args.keep_manifests as usize)?;
    Ok(Outcome {
        version: Some(manifest.version),
        inputs: manifest.commit.inputs.len(),
        added: manifest.commit.added.len(),
        removed: manifest.commit.removed.len(),
    })
}

/// Where a run's records come from.
enum Origin {
    Files(Source),
    Topic(TopicSource),
}

impl Origin {
    /// The source and the lake's directory from the command line: SOURCE DEST, or DEST alone
    /// with --topic.
    fn from_args(args: &Args) -> Result<(Origin, PathBuf)> {
        match (&args.topic, args.paths.as_slice()) {
            (None, [source, dest]) => Ok((Origin::Files(Source::parse(source)?), dest.into())),
            (Some(topic), [dest]) => {
                let log_dir = args.log.resolve()?;
                let source = TopicSource::open(&log_dir, topic, args.group.clone())?;
                Ok((Origin::Topic(source), dest.into()))
            }
            (None, _) => Err(Error::Usage(
                "name SOURCE and DEST (or --topic NAME and DEST)".into(),
            )),
            (Some(_), _) => Err(Error::Usage("with --topic, name only DEST".into())),
        }
    }

    /// How a manifest names the source.
    fn spec(&self) -> String {
        match self {
            Origin::Files(source) => source.spec.clone(),
            Origin::Topic(topic) => topic.spec(),
        }
    }

    /// Freezes the run's inputs.
    fn plan(&self, base: &Manifest) -> Result<Plan> {
        match self {
            Origin::Files(source) => plan(source, base),
            Origin::Topic(topic) => Ok(Plan {
                fresh: Vec::new(),
                standing: Vec::new(),
                ranges: topic
                    .plan(&base.offsets)?
                    .into_iter()
                    .filter(|r| r.to > r.from)
                    .collect(),
            }),
        }
    }
}

/// Warns when records have a field that the lake's folders also name (`hour` and
/// `hour=05/`): readers that take folder keys as columns (Hive partitioning) would see two.
fn warn_folder_clash(layout: &Layout, schema: &Schema) {
    let keys = layout
        .path_template
        .split('/')
        .filter_map(|part| part.split_once('=').map(|(key, _)| key));
    for key in keys {
        if schema.field_with_name(key).is_ok() {
            let remedy = match layout.key {
                Some(_) => "rename the field (transform --rename)",
                None => "name the folders otherwise with --path-template",
            };
            sluice_stream::progress::note(format_args!(
                "compact: warning: the records have a field {key}, and the lake's folders are \
                 named {key}=…: readers that take folder names as columns (Hive partitioning in \
                 Spark, Athena, pyarrow) will see two; {remedy}"
            ));
        }
    }
}

/// A lake keeps the layout of its first commit.
fn check_layout(dest: &Path, lake: &Layout, asked: &Layout) -> Result<()> {
    if lake == asked {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "{} holds records {}; this run asks for records {}",
        dest.display(),
        describe(lake),
        describe(asked)
    )))
}

/// A layout in words, for messages.
fn describe(layout: &Layout) -> String {
    match &layout.key {
        Some(key) => format!(
            "by key {} in {} buckets, the latest by {}",
            key.field,
            key.buckets,
            key.order_by.as_deref().unwrap_or("arrival")
        ),
        None => format!(
            "cut by {} into {} windows under {}",
            layout.time_field,
            describe_ms(layout.window_ms),
            layout.path_template
        ),
    }
}

/// Bin packing: the files of each window to rewrite into one (with the window's new records,
/// when `touched` holds it). A window's small files (under an eighth of `target`) are packed
/// whenever it would hold two of them; when it would hold more than `max_files` files, its
/// smallest files under half of `target` are packed, as many as fit in `target`. Packing
/// happens only when it leaves the window fewer files, and files of half the target size or
/// more stay as they are, run after run.
fn packing(
    files: &[DataFile],
    touched: &BTreeSet<i64>,
    max_files: usize,
    target: u64,
) -> Vec<DataFile> {
    let mut windows: BTreeMap<i64, Vec<&DataFile>> = BTreeMap::new();
    for file in files {
        windows.entry(file.window_start_ms).or_default().push(file);
    }
    let mut packed = Vec::new();
    for (window, mut files) in windows {
        let new = usize::from(touched.contains(&window));
        let smalls = files.iter().filter(|f| f.bytes < target / 8).count();
        if smalls + new < 2 && files.len() + new <= max_files {
            continue;
        }
        // Only files under half the target: one that is nearly full would be rewritten, and
        // again, every time a few records arrive.
        files.retain(|f| f.bytes < target / 2);
        files.sort_by_key(|f| f.bytes);
        let mut total = 0;
        let fitting = files
            .iter()
            .take_while(|f| {
                total += f.bytes;
                total <= target
            })
            .count();
        if fitting + new >= 2 {
            packed.extend(files[..fitting].iter().map(|f| (*f).clone()));
        }
    }
    packed
}

/// DEST must be a lake, or a folder that holds nothing yet, so that no one's files are taken
/// for a lake's.
fn check_dest(dest: &Path) -> Result<()> {
    if Lake::is_lake(dest) || !dest.exists() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dest)
        .map_err(|e| Error::io(format!("cannot read {}", dest.display()), e))?
        .next()
        .is_none();
    match empty {
        true => Ok(()),
        false => Err(Error::Usage(format!(
            "{} holds files but is not a lake (it has no {META_DIR}/ folder): name a new or \
             empty folder",
            dest.display()
        ))),
    }
}

/// Neither of SOURCE and DEST may hold the other: the lake's files would be read as inputs, or
/// inputs taken for the lake's files.
fn check_apart(source: &Source, dest: &Path) -> Result<()> {
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (canonical(&source.base), canonical(dest));
    if from.starts_with(&to) || to.starts_with(&from) {
        return Err(Error::Usage(format!(
            "SOURCE {} and DEST {} must be apart: neither may be inside the other",
            source.spec,
            dest.display()
        )));
    }
    Ok(())
}

fn describe_ms(ms: i64) -> String {
    match ms {
        ms if ms % 86_400_000 == 0 => format!("{}d", ms / 86_400_000),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms => format!("{}s", ms / 1000),
    }
}

/// Finishes a commit: its inputs leave the source, the files it replaced are deleted. Every
/// step may already be done (this runs again after a crash).
fn settle(lake: &Lake, manifest: &Manifest, after: AfterCommit) -> Result<()> {
    // Replaced files first: until they are gone, a reader globbing the folder sees their
    // records twice.
    for path in &manifest.commit.removed {
        sluice_lake::remove_if_present(&lake.root().join(path))?;
    }
    sweep::empty_folders(lake.root())?;
    if manifest.commit.inputs.is_empty() {
        return Ok(());
    }
    // The manifest remembers consumed inputs, so one left in the source is never read twice;
    // a failed move is retried by the next run rather than stopping this one.
    let moved = Source::parse(&manifest.commit.source)
        .and_then(|source| source.settle(&manifest.commit.inputs, after));
    if let Err(e) = moved {
        sluice_stream::progress::note(format_args!(
            "compact: warning: consumed inputs stay in the source for now: {e}"
        ));
    }
    Ok(())
}

/// The inputs of a run, frozen at its start.
struct Plan {
    /// Inputs no commit consumed, in path order.
    fresh: Vec<Input>,
    /// Consumed inputs that still stand in the source.
    standing: Vec<InputId>,
    /// Topic records no commit consumed.
    ranges: Vec<OffsetRange>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.fresh.is_empty() && self.ranges.is_empty()
    }
}

fn plan(source: &Source, base: &Manifest) -> Result<Plan> {
    let consumed: HashSet<&InputId> = base.consumed.iter().collect();
    let consumed_paths: HashSet<&str> = base.consumed.iter().map(|i| i.path.as_str()).collect();
    let mut plan = Plan {
        fresh: Vec::new(),
        standing: Vec::new(),
        ranges: Vec::new(),
    };
    for path in source.list()? {
        let input = source.identify(&path)?;
        if consumed.contains(&input.id) {
            plan.standing.push(input.id);
            continue;
        }
        if consumed_paths.contains(input.id.path.as_str()) {
            sluice_stream::progress::note(format_args!(
                "compact: {} changed since a commit consumed it; it is read again as a new input \
                 (write inputs under a new name, or a hidden one renamed when complete)",
                input.path.display()
            ));
        }
        plan.fresh.push(input);
    }
    Ok(plan)
}

/// One run's work between planning and the commit.
struct Run<'a> {
    args: &'a Args,
    lake: &'a Lake,
    base: &'a Manifest,
    layout: &'a Layout,
    /// The lake's schema united with every input read so far (none before the first).
    schema: Option<Schema>,
    _spill_dir: tempfile::TempDir,
}

impl<'a> Run<'a> {
    /// Starts a run, and the intake its records go through.
    fn new(
        args: &'a Args,
        lake: &'a Lake,
        base: &'a Manifest,
        layout: &'a Layout,
        key_cut: Option<KeyCut>,
    ) -> Result<(Self, Intake)> {
        let schema = match base.version {
            0 => None,
            _ => Some(
                sluice_arrow::schema::from_json(&base.schema)
                    .map_err(|e| Error::Other(format!("the lake's schema is broken: {e}")))?,
            ),
        };
        let place = SpillPlace::new(lake, args.spill_dir.as_deref());
        let spill_dir = tempfile::Builder::new()
            .prefix(&place.prefix)
            .tempdir_in(&place.root)
            .map_err(|e| {
                Error::io(
                    format!("cannot create a folder in {}", place.root.display()),
                    e,
                )
            })?;
        let cut = match key_cut {
            Some(cut) => Cut::Key(cut),
            None => {
                let newest = base.files.iter().map(|f| f.max_time_ms).max();
                let oldest_allowed = args
                    .max_lateness
                    .zip(newest)
                    .map(|(late, newest)| newest - late);
                Cut::Time(TimeCut::new(layout, args.epoch_unit, oldest_allowed))
            }
        };
        let rejects = Rejects::new(args.common.on_error.clone(), "compact")?;
        let intake = Intake::new(
            cut,
            Spill::new(spill_dir.path())?,
            rejects,
            !args.keep_time_strings,
        );
        let run = Run {
            args,
            lake,
            base,
            layout,
            schema,
            _spill_dir: spill_dir,
        };
        Ok((run, intake))
    }

    /// extract's options for reading inputs.
    fn extract_options(&self) -> Vec<String> {
        let mut options = vec![
            "--on-error".to_string(),
            match &self.args.common.on_error {
                OnError::Fail => "fail".into(),
                OnError::Skip => "skip".into(),
                OnError::DeadLetter(path) => format!("dead-letter={}", path.display()),
            },
            format!("--max-record-bytes={}", self.args.common.max_record_bytes),
        ];
        if let Some(format) = self.args.format {
            use clap::ValueEnum;
            if let Some(value) = format.to_possible_value() {
                options.push(format!("--format={}", value.get_name()));
            }
        }
        for null in &self.args.nulls {
            options.push(format!("--null={null}"));
        }
        options
    }

    fn read_inputs(
        &mut self,
        intake: &mut Intake,
        source: &Source,
        inputs: &[Input],
        stats: &mut Stats,
    ) -> Result<()> {
        let options = self.extract_options();
        let progress = Progress::new(
            self.args.common.show_progress(),
            Some(inputs.iter().map(|i| i.id.size).sum()),
        );
        for input in inputs {
            let (records, rejected) = intake.read(&input.path, &options, Read::Input)?;
            if !source.still_there(&input.path, &input.id)? {
                return Err(Error::Other(format!(
                    "{} changed while it was read; write inputs under a hidden name (.NAME) and \
                     rename them into place when complete",
                    input.path.display()
                )));
            }
            stats.records_in += records;
            stats.rejected += rejected;
            self.widen(intake, &input.path.to_string_lossy())?;
            if let Some(bar) = progress.bar() {
                bar.inc(input.id.size);
            }
        }
        progress.clear();
        Ok(())
    }

    /// Unites the schema of the input just read with the lake's.
    fn widen(&mut self, intake: &mut Intake, input: &str) -> Result<()> {
        let inferred = intake.take_schema();
        let united = match &self.schema {
            Some(lake) => {
                schema::union(lake, &inferred).map_err(|e| Error::Other(format!("{input}: {e}")))?
            }
            None => inferred,
        };
        self.schema = Some(match intake.key_path() {
            Some(path) => schema::key_as_text(&united, path),
            None => united,
        });
        Ok(())
    }

    /// The lake's files to rewrite in this commit: with key compaction, every file of the
    /// buckets that received records; otherwise see [`packing`].
    fn choose_packing(&self, touched: &BTreeSet<i64>) -> Vec<DataFile> {
        if self.layout.key.is_some() {
            return (self.base.files.iter())
                .filter(|f| touched.contains(&f.window_start_ms))
                .cloned()
                .collect();
        }
        packing(
            &self.base.files,
            touched,
            self.args.max_files_per_window as usize,
            self.args.target_file_size,
        )
    }

    fn read_packed(&mut self, intake: &mut Intake, packed: &[DataFile]) -> Result<()> {
        let options = vec!["--on-error".to_string(), "fail".to_string()];
        for file in packed {
            let path = self.lake.root().join(&file.path);
            let lake_file = Read::Lake {
                window: file.window_start_ms,
            };
            intake.read(&path, &options, lake_file)?;
            self.widen(intake, &path.to_string_lossy())?;
        }
        Ok(())
    }

    fn write_and_commit(
        self,
        intake: Intake,
        source: &str,
        plan: Plan,
        packed: Vec<DataFile>,
        stats: &mut Stats,
    ) -> Result<Manifest> {
        let version = self.base.version + 1;
        let options = WriterOptions {
            format: Format::Parquet,
            codec: self.args.compression,
            delimiter: b',',
            columns: Vec::new(),
            schema: Some(Arc::new(self.schema.clone().unwrap_or_else(Schema::empty))),
            strict: false,
            sample: None,
            // Row groups of at most 128 Ki rows: the writer holds one while it is built.
            row_group_rows: 1 << 17,
            batch_rows: 8192,
        };
        let root = self.lake.root();
        let mut stager = Stager::new(
            root,
            self.layout,
            version,
            options,
            self.args.target_file_size,
        );
        let Taken {
            spill,
            mut rejects,
            rejected,
            cut,
        } = intake.finish();
        spill.drain(self.args.memory, &mut |window, records| match &cut {
            Cut::Key(cut) => {
                let mut latest = Latest::resolve(window, records, cut)?;
                stager.write_window(window, &mut latest, &mut rejects)
            }
            Cut::Time(_) => stager.write_window(window, records, &mut rejects),
        })?;
        rejects.finish()?;
        stats.rejected += rejected;
        stats.records_out = stager.staged.iter().map(|s| s.file.rows).sum();
        stats.bytes_out = stager.staged.iter().map(|s| s.file.bytes).sum();
        let placed = write::place(root, &stager.staged);
        let manifest = placed.and_then(|()| {
            let manifest = self.manifest(source, plan, packed, &stager, stats)?;
            self.lake.publish(&manifest).map(|()| manifest)
        });
        // Another writer won this version (the lock keeps that from happening on one machine):
        // this run's files, named by its run id, are not in the lake. After any other error
        // the manifest may have been published, so nothing is touched: the next run, under the
        // lock, sweeps whatever no manifest names.
        if let Err(Error::Busy(_)) = &manifest {
            for staged in &stager.staged {
                let _ = std::fs::remove_file(&staged.temp);
                let _ = std::fs::remove_file(root.join(&staged.file.path));
            }
        }
        manifest
    }

    fn manifest(
        &self,
        source: &str,
        plan: Plan,
        packed: Vec<DataFile>,
        stager: &Stager<'_>,
        stats: &Stats,
    ) -> Result<Manifest> {
        let removed: BTreeSet<String> = packed.into_iter().map(|f| f.path).collect();
        let mut files: Vec<DataFile> = self
            .base
            .files
            .iter()
            .filter(|f| !removed.contains(&f.path))
            .cloned()
            .chain(stager.staged.iter().map(|s| s.file.clone()))
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let inputs: Vec<InputId> = plan.fresh.into_iter().map(|i| i.id).collect();
        let mut consumed = plan.standing;
        consumed.extend(inputs.iter().cloned());
        consumed.sort();
        let mut offsets = self.base.offsets.clone();
        offsets.extend(plan.ranges.iter().map(|r| (r.partition, r.to)));
        let schema =
            sluice_arrow::schema::to_json(self.schema.as_ref().unwrap_or(&Schema::empty()))
                .map_err(|e| Error::Other(format!("cannot record the lake's schema: {e}")))?;
        Ok(Manifest {
            format: self.base.format.clone(),
            version: self.base.version + 1,
            committed_at_ms: chrono::Utc::now().timestamp_millis(),
            layout: self.layout.clone(),
            schema,
            files,
            consumed,
            offsets,
            commit: Commit {
                source: source.to_string(),
                inputs,
                ranges: plan.ranges,
                added: stager.staged.iter().map(|s| s.file.path.clone()).collect(),
                removed: removed.into_iter().collect(),
                records_in: stats.records_in,
                records_rejected: stats.rejected,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(window: i64, bytes: u64) -> DataFile {
        DataFile {
            path: format!("w{window}/{bytes}"),
            window_start_ms: window,
            rows: 1,
            bytes,
            min_time_ms: window,
            max_time_ms: window,
        }
    }

    fn packed(files: &[DataFile], touched: &[i64]) -> Vec<String> {
        let touched: BTreeSet<i64> = touched.iter().copied().collect();
        packing(files, &touched, 4, 800)
            .into_iter()
            .map(|f| f.path)
            .collect()
    }

    #[test]
    fn windows_are_packed_only_when_that_leaves_fewer_files() {
        // One small file and new records: packed together. Two small files: packed.
        assert_eq!(packed(&[file(1, 50)], &[1]), ["w1/50"]);
        assert_eq!(packed(&[file(1, 50)], &[]), Vec::<String>::new());
        assert_eq!(packed(&[file(1, 50), file(1, 60)], &[]), ["w1/50", "w1/60"]);
        // More than 4 files of medium size: the smallest that fit in the target.
        let medium: Vec<DataFile> = [300, 200, 250, 350].map(|b| file(2, b)).to_vec();
        assert_eq!(packed(&medium, &[]), Vec::<String>::new());
        assert_eq!(packed(&medium, &[2]), ["w2/200", "w2/250", "w2/300"]);
        // Files at the target size are never rewritten, however many.
        let full: Vec<DataFile> = (0..9).map(|_| file(3, 800)).collect();
        assert_eq!(packed(&full, &[3]), Vec::<String>::new());
        // Windows are independent.
        assert_eq!(packed(&[file(4, 50), file(5, 50)], &[4]), ["w4/50"]);
    }
}
