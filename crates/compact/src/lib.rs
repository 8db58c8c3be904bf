//! `compact`: small input files into a lake of few large Parquet files, one folder per event-time
//! window, committed through a manifest log so that every record lands exactly once, whatever
//! crashes, reruns or overlapping runs happen. See `man compact`.

mod inputs;
mod intake;
mod schema;
mod spill;
mod sweep;
mod window;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_schema::Schema;
use clap::Parser;
use sluice_cli::{parse_duration_ms, parse_size, CommonArgs};
use sluice_lake::{Commit, DataFile, InputId, Lake, Layout, Manifest, META_DIR};
use sluice_load::{Codec, Format, WriterOptions};
use sluice_stream::progress::Progress;
use sluice_stream::{Error, OnError, Rejects, Result, Stats};

use crate::inputs::{AfterCommit, Input, Source};
use crate::intake::Intake;
use crate::spill::Spill;
pub use crate::window::EpochUnit;
use crate::write::Stager;

const EXAMPLES: &str = "\
Examples:
  compact landing/ lake/events --time-field ts --window 5m
  compact 'drops/*.json.gz' lake/weather --time-field time_hour --window 1h --keep-inputs
  compact landing/ lake/events --time-field ts --window 1d --path-template 'year=%Y/month=%m/day=%d'
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
window's small files (under half of --target-file-size) are rewritten into one, with the new
records, whenever the window would otherwise hold two small files or more than
--max-files-per-window files. With --max-lateness, records older than that before the newest
record already in the lake go through --on-error.

The schema is the union of every input's columns, widened as load widens (integers and
floats make floats; a string and another scalar make a string); a column that holds objects
or arrays in one input and scalars in another is an error naming the input and column,
never coerced. Memory stays within --memory however many windows a run touches: records are
spilled by window and written one window at a time.

Inputs: files below SOURCE (a directory or a quoted glob), skipping names that start with .
or _ (write inputs under a hidden name and rename them into place when complete). Every
format extract reads: NDJSON, JSON, CSV/TSV, Parquet, Arrow, compressed.

Exit status 75: another run holds the lake's lock (or committed first); nothing was changed.";

/// Compact small files into a lake of large Parquet files, one folder per event-time window,
/// crash-safe and exactly once; made to run from cron.
#[derive(Parser, Debug)]
#[command(
    name = "compact",
    version,
    after_long_help = format!("{EXAMPLES}\n\n{LAKE_HELP}\n\n{}", sluice_cli::EXIT_STATUS)
)]
pub struct Args {
    /// The input files: a directory (every file below it) or a quoted glob.
    #[arg(value_name = "SOURCE")]
    pub source: String,

    /// The lake directory (created if missing).
    #[arg(value_name = "DEST")]
    pub dest: PathBuf,

    /// The field holding each record's event time (a.b for a nested field).
    #[arg(long, value_name = "FIELD")]
    pub time_field: String,

    /// The window size: 5m, 1h, 1d, … (windows start at the Unix epoch, in UTC).
    #[arg(long, value_name = "DURATION", value_parser = parse_window)]
    pub window: i64,

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

    /// Rewrite a window's small files once it holds more files than this.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_files_per_window: u32,

    /// The size files are written up to (a window's file rolls over there); files under half
    /// of it are small, and are rewritten together.
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

fn compact(args: &Args, stats: &mut Stats) -> Result<Outcome> {
    let layout = Layout {
        time_field: args.time_field.clone(),
        window_ms: args.window,
        path_template: match &args.path_template {
            Some(template) => template.clone(),
            None => window::default_template(args.window),
        },
    };
    window::check_template(&layout.path_template).map_err(Error::Usage)?;
    let source = Source::parse(&args.source)?;
    check_dest(&args.dest)?;
    let lake = Lake::new(&args.dest);
    let _lock = lake.lock()?;
    check_apart(&source, &args.dest)?;
    let previous = lake.latest()?;
    let after = match (args.delete_inputs, args.keep_inputs) {
        (true, _) => AfterCommit::Delete,
        (_, true) => AfterCommit::Keep,
        _ => AfterCommit::Move,
    };
    if let Some(manifest) = &previous {
        if manifest.layout != layout {
            return Err(Error::Usage(format!(
                "{} is cut by {} into {} windows under {}; this run asks for {} into {} windows \
                 under {}",
                args.dest.display(),
                manifest.layout.time_field,
                describe_ms(manifest.layout.window_ms),
                manifest.layout.path_template,
                layout.time_field,
                describe_ms(layout.window_ms),
                layout.path_template
            )));
        }
        // A run killed after its commit left these steps undone.
        settle(&lake, manifest, after)?;
    }
    sweep::orphans(&lake, previous.as_ref())?;
    let base = previous.unwrap_or_else(|| Manifest::empty(layout.clone()));
    let plan = plan(&source, &base)?;
    stats.bytes_in = plan.fresh.iter().map(|i| i.id.size).sum();
    let (mut commit, mut intake) = Run::new(args, &lake, &base, &layout)?;
    commit.read_inputs(&mut intake, &plan.fresh, stats)?;
    let packed = commit.choose_packing(&intake.touched);
    commit.read_packed(&mut intake, &packed)?;
    if plan.fresh.is_empty() && packed.is_empty() {
        return Ok(Outcome {
            version: None,
            inputs: 0,
            added: 0,
            removed: 0,
        });
    }
    let manifest = commit.write_and_commit(intake, &source, plan, packed, stats)?;
    settle(&lake, &manifest, after)?;
    lake.prune(args.keep_manifests as usize)?;
    Ok(Outcome {
        version: Some(manifest.version),
        inputs: manifest.commit.inputs.len(),
        added: manifest.commit.added.len(),
        removed: manifest.commit.removed.len(),
    })
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
    if !manifest.commit.source.is_empty() {
        Source::parse(&manifest.commit.source)?.settle(&manifest.commit.inputs, after)?;
    }
    for path in &manifest.commit.removed {
        sluice_lake::remove_if_present(&lake.root().join(path))?;
    }
    sweep::empty_folders(lake.root())
}

/// The inputs of a run, frozen at its start.
struct Plan {
    /// Inputs no commit consumed, in path order.
    fresh: Vec<Input>,
    /// Consumed inputs that still stand in the source.
    standing: Vec<InputId>,
}

fn plan(source: &Source, base: &Manifest) -> Result<Plan> {
    let consumed: HashSet<&InputId> = base.consumed.iter().collect();
    let mut plan = Plan {
        fresh: Vec::new(),
        standing: Vec::new(),
    };
    for path in source.list()? {
        let input = source.identify(&path)?;
        match consumed.contains(&input.id) {
            true => plan.standing.push(input.id),
            false => plan.fresh.push(input),
        }
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
    ) -> Result<(Self, Intake<'a>)> {
        let schema = match base.version {
            0 => None,
            _ => Some(
                sluice_arrow::schema::from_json(&base.schema)
                    .map_err(|e| Error::Other(format!("the lake's schema is broken: {e}")))?,
            ),
        };
        let spill_root = args
            .spill_dir
            .clone()
            .unwrap_or_else(|| lake.root().join(META_DIR));
        let spill_dir = tempfile::Builder::new()
            .prefix(sweep::SPILL_PREFIX)
            .tempdir_in(&spill_root)
            .map_err(|e| {
                Error::io(
                    format!("cannot create a folder in {}", spill_root.display()),
                    e,
                )
            })?;
        let newest = base.files.iter().map(|f| f.max_time_ms).max();
        let oldest_allowed = args
            .max_lateness
            .zip(newest)
            .map(|(late, newest)| newest - late);
        let rejects = Rejects::new(args.common.on_error.clone(), "compact")?;
        let intake = Intake::new(
            layout,
            args.epoch_unit,
            Spill::new(spill_dir.path())?,
            rejects,
            oldest_allowed,
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
        intake: &mut Intake<'_>,
        inputs: &[Input],
        stats: &mut Stats,
    ) -> Result<()> {
        let options = self.extract_options();
        let progress = Progress::new(
            self.args.common.show_progress(),
            Some(inputs.iter().map(|i| i.id.size).sum()),
        );
        for input in inputs {
            let (records, rejected) = intake.read(&input.path, &options, true)?;
            stats.records_in += records;
            stats.rejected += rejected;
            self.widen(intake, &input.path)?;
            if let Some(bar) = progress.bar() {
                bar.inc(input.id.size);
            }
        }
        progress.clear();
        Ok(())
    }

    /// Unites the schema of the input just read with the lake's.
    fn widen(&mut self, intake: &mut Intake<'_>, input: &Path) -> Result<()> {
        let inferred = intake.take_schema();
        let united = match &self.schema {
            Some(lake) => schema::union(lake, &inferred)
                .map_err(|e| Error::Other(format!("{}: {e}", input.display())))?,
            None => inferred,
        };
        self.schema = Some(united);
        Ok(())
    }

    /// The lake's files to rewrite in this commit: the small files of each window that would
    /// otherwise hold two small files or more than --max-files-per-window files.
    fn choose_packing(&self, touched: &BTreeSet<i64>) -> Vec<DataFile> {
        let small = self.args.target_file_size / 2;
        let max_files = self.args.max_files_per_window as usize;
        let mut windows: BTreeMap<i64, Vec<&DataFile>> = BTreeMap::new();
        for file in &self.base.files {
            windows.entry(file.window_start_ms).or_default().push(file);
        }
        let mut packed = Vec::new();
        for (window, files) in windows {
            let new = usize::from(touched.contains(&window));
            let smalls: Vec<&DataFile> =
                files.iter().copied().filter(|f| f.bytes < small).collect();
            if files.len() + new <= max_files && smalls.len() + new < 2 {
                continue;
            }
            let large = files.len() - smalls.len();
            match large + 1 > max_files {
                true => packed.extend(files.into_iter().cloned()),
                false => packed.extend(smalls.into_iter().cloned()),
            }
        }
        packed
    }

    fn read_packed(&mut self, intake: &mut Intake<'_>, packed: &[DataFile]) -> Result<()> {
        let options = vec!["--on-error".to_string(), "fail".to_string()];
        for file in packed {
            let path = self.lake.root().join(&file.path);
            intake.read(&path, &options, false)?;
            self.widen(intake, &path)?;
        }
        Ok(())
    }

    fn write_and_commit(
        self,
        intake: Intake<'_>,
        source: &Source,
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
            row_group_rows: 1 << 20,
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
        let (spill, mut rejects, records_rejected) = intake.finish();
        spill.drain(self.args.memory, &mut |window, records| {
            stager.write_window(window, records, &mut rejects)
        })?;
        rejects.finish()?;
        stats.rejected += records_rejected;
        stats.records_out = stager.staged.iter().map(|s| s.file.rows).sum();
        stats.bytes_out = stager.staged.iter().map(|s| s.file.bytes).sum();
        let placed = write::place(root, &stager.staged);
        let manifest = placed.and_then(|()| {
            let manifest = self.manifest(source, plan, packed, &stager, stats)?;
            self.lake.publish(&manifest).map(|()| manifest)
        });
        if manifest.is_err() {
            for staged in &stager.staged {
                let _ = std::fs::remove_file(&staged.temp);
                let _ = std::fs::remove_file(root.join(&staged.file.path));
            }
        }
        manifest
    }

    fn manifest(
        &self,
        source: &Source,
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
            commit: Commit {
                source: source.spec.clone(),
                inputs,
                added: stager.staged.iter().map(|s| s.file.path.clone()).collect(),
                removed: removed.into_iter().collect(),
                records_in: stats.records_in,
                records_rejected: stats.rejected,
            },
        })
    }
}
