//! `transform`: reshapes records with single-record operations applied in command-line order,
//! then optionally deduplicates them and aggregates them over event-time windows.

mod aggregate;
mod dedupe;
mod lookup;
mod ops;
mod raw;
mod value;

use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use sluice_cli::{parse_duration_ms, CommonArgs};
use sluice_expr::{json, Program, Val};
use sluice_stream::atomic::AtomicFile;
use sluice_stream::blocks::{self, oversize_reason, Block, Delivery, Flow, Options, Output};
use sluice_stream::output::StdoutWriter;
use sluice_stream::scan::{self, FieldSpan, Found, Kind};
use sluice_stream::{Error, Rejects, Result, Stats};

use crate::aggregate::{AggSpec, Aggregator, Windows};
use crate::dedupe::Dedupe;
use crate::lookup::LookupSpec;
pub use crate::lookup::OnMiss;
use crate::ops::{CastTo, Chain, Mask, Op, Outcome, Settings};
use crate::raw::RawChain;
use crate::value::{epoch_to_ms, format_time, parse_time_text, FieldPath};

const EXAMPLES: &str = "\
Examples:
  consume weather --until-end | transform --rename temp=temp_f \\
      --set 'temp_c=(.temp_f-32)*5/9' --drop dewp | load weather.parquet
  extract --null NA flights.csv.gz | transform --window 1h --time-field time_hour \\
      --allowed-lateness 366d --group-by origin --agg count --agg 'avg(dep_delay)' | load hourly.csv
  extract flights.csv.gz | transform --lookup airports.csv --on dest=faa --prefix dest_
  transform -e '.items[] | {order: .id, sku: .sku}' orders.ndjson
  consume orders --envelope --until-end | transform --value-only --mask card \\
      | produce --envelope orders-masked
  transform --dedupe id --dedupe-capacity 1000000 events.ndjson

Single-record operations (--rename, --drop, --keep, --set, --default, --cast, --flatten,
--unflatten, --mask, --extract, --hoist, -e/--expr-file, --lookup) apply in the order given on
the command line. Fields are dotted paths (a.b.c; write a\\.b for a key holding a dot). Then
come --dedupe, then --agg (over --window windows, or the whole input).

--set FIELD=EXPR sets FIELD to the first value the jq expression yields on the record (left
unchanged when it yields none). -e EXPR runs a jq program that may yield zero, one or many
records (objects). --cast turns values into int (fractions cut toward zero), float, bool
(true/false, yes/no, 1/0), string (objects and arrays as JSON text) or timestamp (RFC 3339 in
UTC, from RFC 3339 text, `YYYY-MM-DD HH:MM:SS` read as UTC, --time-format, or epoch numbers:
seconds below 100000000000, else milliseconds); null stays null. --mask replaces values with
--mask-token, or with --mask-hash the hex SHA-256 of a secret salt (SLUICE_MASK_SALT or
--mask-salt-file) and the value. Records are written compactly; numbers keep their spelling.
When every operation names top-level fields only (and --set programs read named fields), values
no operation touches keep their bytes as read.

Windows: --window 5m makes tumbling windows, --hop 1m hopping ones, aligned to the epoch, over
the event time in --time-field (the same forms as --cast timestamp). Output records carry the
--group-by fields, window_start and window_end (RFC 3339) and one field per --agg: count,
count(f) (non-null values), sum(f), avg(f), min(f), max(f) (numbers; nulls are ignored),
first(f), last(f), count_distinct(f) (exact). Name one with name=func(f). A window is emitted
once the largest event time seen reaches its end plus --allowed-lateness, so it works on an
endless `consume --follow`; open windows are emitted at the end of the input. A record whose
windows were all emitted already is late: it goes to --late PATH, else through --on-error.
Without --window, aggregates cover the whole input.

--dedupe a,b leaves out records whose key fields were seen before: over the whole input by
default (memory grows with distinct keys), the last N keys with --dedupe-capacity N, or keys
seen within --dedupe-within DURATION of event time (with --time-field).

--lookup FILE (any file extract reads) --on FIELD=TABLE_FIELD adds the fields of the table's
first row whose TABLE_FIELD equals the record's FIELD, named with --prefix. --on-miss keep
(default), drop or reject decides about records without a match. Several lookups pair with
their --on, --prefix and --on-miss in order.";

/// Reshape NDJSON records, aggregate them over windows, enrich and deduplicate them.
#[derive(Parser, Debug)]
#[command(name = "transform", version, after_long_help = format!("{EXAMPLES}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// NDJSON inputs (compressed ones too); `-` (the default) is stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Rename fields: OLD=NEW[,OLD=NEW…]. A record that already has NEW goes through
    /// --on-error (nothing is overwritten; --drop NEW first to replace it).
    #[arg(long, value_name = "OLD=NEW", help_heading = "Operations")]
    pub rename: Vec<String>,

    /// Remove fields: A[,B…].
    #[arg(long, value_name = "A,B", help_heading = "Operations")]
    pub drop: Vec<String>,

    /// Keep only these fields, in this order: A[,B…].
    #[arg(long, value_name = "A,B", help_heading = "Operations")]
    pub keep: Vec<String>,

    /// Set a field to the first value of a jq expression: FIELD=EXPR.
    #[arg(long, value_name = "FIELD=EXPR", help_heading = "Operations")]
    pub set: Vec<String>,

    /// Set a field that is missing or null: FIELD=JSON.
    #[arg(long, value_name = "FIELD=JSON", help_heading = "Operations")]
    pub default: Vec<String>,

    /// Convert fields: FIELD:TYPE[,FIELD:TYPE…] with TYPE int, float, bool, string or timestamp.
    #[arg(long, value_name = "FIELD:TYPE", help_heading = "Operations")]
    pub cast: Vec<String>,

    /// Nested objects become `a.b` keys (see --separator).
    #[arg(long, help_heading = "Operations")]
    pub flatten: bool,

    /// `a.b` keys become nested objects (see --separator).
    #[arg(long, help_heading = "Operations")]
    pub unflatten: bool,

    /// Replace values (see --mask-token, --mask-hash): A[,B…].
    #[arg(long, value_name = "A,B", help_heading = "Operations")]
    pub mask: Vec<String>,

    /// Replace the record with this nested object.
    #[arg(long, value_name = "FIELD", help_heading = "Operations")]
    pub extract: Vec<String>,

    /// Wrap the record in an object under this name.
    #[arg(long, value_name = "NAME", help_heading = "Operations")]
    pub hoist: Vec<String>,

    /// A jq program per record; it may yield zero, one or many records.
    #[arg(
        short = 'e',
        long = "expr",
        value_name = "EXPR",
        help_heading = "Operations"
    )]
    pub expr: Vec<String>,

    /// A jq program read from a file (as -e).
    #[arg(long, value_name = "FILE", help_heading = "Operations")]
    pub expr_file: Vec<PathBuf>,

    /// Enrich records from a table in FILE (see --on, --prefix, --on-miss).
    #[arg(long, value_name = "FILE", help_heading = "Lookups")]
    pub lookup: Vec<String>,

    /// The join of a --lookup: FIELD=TABLE_FIELD (or FIELD when both are named alike).
    #[arg(long, value_name = "FIELD=TABLE_FIELD", help_heading = "Lookups")]
    pub on: Vec<String>,

    /// A prefix for the fields a --lookup adds.
    #[arg(long, value_name = "PREFIX", help_heading = "Lookups")]
    pub prefix: Vec<String>,

    /// What a --lookup does with a record that has no match.
    #[arg(long, value_name = "WHAT", value_enum, help_heading = "Lookups")]
    pub on_miss: Vec<OnMiss>,

    /// The format of times for --cast timestamp and --time-field (strftime, e.g. %d/%m/%Y %H:%M).
    #[arg(long, value_name = "FORMAT", help_heading = "Settings")]
    pub time_format: Option<String>,

    /// The key separator for --flatten and --unflatten.
    #[arg(
        long,
        value_name = "SEP",
        default_value = ".",
        help_heading = "Settings"
    )]
    pub separator: String,

    /// The replacement for --mask.
    #[arg(
        long,
        value_name = "TOKEN",
        default_value = "***",
        help_heading = "Settings"
    )]
    pub mask_token: String,

    /// --mask writes a salted SHA-256 (hex) of each value instead of a token, so equal values
    /// stay equal; the salt comes from SLUICE_MASK_SALT or --mask-salt-file.
    #[arg(long, help_heading = "Settings")]
    pub mask_hash: bool,

    /// A file holding the salt for --mask-hash.
    #[arg(long, value_name = "FILE", help_heading = "Settings")]
    pub mask_salt_file: Option<PathBuf>,

    /// Records are envelopes from `consume --envelope`: operations apply to their `value`,
    /// and key, headers and timestamp travel along.
    #[arg(long, help_heading = "Settings")]
    pub value_only: bool,

    /// Leave out records whose key fields were seen before: A[,B…].
    #[arg(long, value_name = "A,B", help_heading = "Deduplication")]
    pub dedupe: Option<String>,

    /// Remember only the last N keys (bounded memory).
    #[arg(
        long,
        value_name = "N",
        requires = "dedupe",
        help_heading = "Deduplication"
    )]
    pub dedupe_capacity: Option<usize>,

    /// Remember keys for this long in event time (needs --time-field).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, requires_all = ["dedupe", "time_field"], help_heading = "Deduplication")]
    pub dedupe_within: Option<i64>,

    /// Tumbling (or with --hop, hopping) windows of this length, e.g. 5m, 1h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, requires_all = ["time_field", "agg"], help_heading = "Aggregation")]
    pub window: Option<i64>,

    /// Hopping windows start this often (less than --window).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, requires = "window", help_heading = "Aggregation")]
    pub hop: Option<i64>,

    /// The field with each record's event time.
    #[arg(long, value_name = "FIELD", help_heading = "Aggregation")]
    pub time_field: Option<String>,

    /// Group aggregates by these fields: A[,B…].
    #[arg(
        long,
        value_name = "A,B",
        requires = "agg",
        help_heading = "Aggregation"
    )]
    pub group_by: Option<String>,

    /// An aggregate: count, count(f), sum(f), avg(f), min(f), max(f), first(f), last(f),
    /// count_distinct(f), optionally named: name=func(f).
    #[arg(long, value_name = "AGG", help_heading = "Aggregation")]
    pub agg: Vec<AggSpec>,

    /// How far behind the largest event time a record may be and still count.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_ms, default_value = "0", requires = "window", help_heading = "Aggregation")]
    pub allowed_lateness: i64,

    /// Write late records here (NDJSON; it appears when transform succeeds) instead of
    /// handing them to --on-error.
    #[arg(
        long,
        value_name = "PATH",
        requires = "window",
        help_heading = "Aggregation"
    )]
    pub late: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,

    /// The operations in command-line order.
    #[arg(skip)]
    pub order: Vec<(Flag, String)>,
}

/// An operation's flag, to keep their command-line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// `--rename`
    Rename,
    /// `--drop`
    Drop,
    /// `--keep`
    Keep,
    /// `--set`
    Set,
    /// `--default`
    Default,
    /// `--cast`
    Cast,
    /// `--flatten`
    Flatten,
    /// `--unflatten`
    Unflatten,
    /// `--mask`
    Mask,
    /// `--extract`
    Extract,
    /// `--hoist`
    Hoist,
    /// `-e`
    Expr,
    /// `--expr-file`
    ExprFile,
    /// `--lookup`
    Lookup,
}

const FLAGS: [(&str, Flag); 14] = [
    ("rename", Flag::Rename),
    ("drop", Flag::Drop),
    ("keep", Flag::Keep),
    ("set", Flag::Set),
    ("default", Flag::Default),
    ("cast", Flag::Cast),
    ("flatten", Flag::Flatten),
    ("unflatten", Flag::Unflatten),
    ("mask", Flag::Mask),
    ("extract", Flag::Extract),
    ("hoist", Flag::Hoist),
    ("expr", Flag::Expr),
    ("expr_file", Flag::ExprFile),
    ("lookup", Flag::Lookup),
];

impl Args {
    /// Parses the process's command line, keeping the order of the operations.
    pub fn from_env() -> Args {
        let matches = Args::command().get_matches();
        let mut args = Args::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        args.order = operation_order(&matches);
        args
    }
}

/// The operation flags with their values, in command-line order.
fn operation_order(matches: &ArgMatches) -> Vec<(Flag, String)> {
    let mut order = Vec::new();
    for (id, flag) in FLAGS {
        let Some(indices) = matches.indices_of(id) else {
            continue;
        };
        let values: Vec<String> = match flag {
            Flag::Flatten | Flag::Unflatten => {
                if !matches.get_flag(id) {
                    continue;
                }
                vec![String::new()]
            }
            Flag::ExprFile => matches
                .get_many::<PathBuf>(id)
                .into_iter()
                .flatten()
                .map(|p| p.display().to_string())
                .collect(),
            _ => matches
                .get_many::<String>(id)
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
        };
        order.extend(indices.zip(values).map(|(i, v)| (i, flag, v)));
    }
    order.sort_by_key(|(i, _, _)| *i);
    order.into_iter().map(|(_, f, v)| (f, v)).collect()
}

fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn paths(text: &str) -> Result<Vec<FieldPath>, String> {
    split_list(text).map(FieldPath::parse).collect()
}

fn pair<'a>(text: &'a str, sep: char, what: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once(sep)
        .map(|(a, b)| (a.trim(), b))
        .filter(|(a, _)| !a.is_empty())
        .ok_or_else(|| format!("{text:?} is not {what}"))
}

/// Turns the ordered flags into operations (programs are compiled later, per thread).
fn parse_ops(order: &[(Flag, String)]) -> Result<Vec<Op>, String> {
    let mut lookups = 0;
    order
        .iter()
        .map(|(flag, value)| {
            Ok(match flag {
                Flag::Rename => Op::Rename(
                    split_list(value)
                        .map(|p| {
                            let (from, to) = pair(p, '=', "OLD=NEW")?;
                            Ok((FieldPath::parse(from)?, FieldPath::parse(to.trim())?))
                        })
                        .collect::<Result<_, String>>()?,
                ),
                Flag::Drop => Op::Drop(paths(value)?),
                Flag::Keep => Op::Keep(paths(value)?),
                Flag::Mask => Op::Mask(paths(value)?),
                Flag::Set => {
                    let (field, expr) = pair(value, '=', "FIELD=EXPR")?;
                    Op::Set(FieldPath::parse(field)?, expr.to_string())
                }
                Flag::Default => {
                    let (field, text) = pair(value, '=', "FIELD=JSON")?;
                    scan::validate_value(text.as_bytes())
                        .map_err(|e| format!("--default {field}: {text:?} is not JSON ({e})"))?;
                    Op::Default(FieldPath::parse(field)?, text.trim().to_string())
                }
                Flag::Cast => {
                    let mut casts = Vec::new();
                    for part in split_list(value) {
                        let (field, to) = pair(part, ':', "FIELD:TYPE")?;
                        casts.push(Op::Cast(
                            FieldPath::parse(field)?,
                            to.trim().parse::<CastTo>()?,
                        ));
                    }
                    return Ok(casts);
                }
                Flag::Flatten => Op::Flatten,
                Flag::Unflatten => Op::Unflatten,
                Flag::Extract => Op::Extract(FieldPath::parse(value)?),
                Flag::Hoist => Op::Hoist(value.clone()),
                Flag::Expr | Flag::ExprFile => Op::Expr(value.clone()),
                Flag::Lookup => {
                    lookups += 1;
                    Op::Lookup(lookups - 1)
                }
            })
            .map(|op| vec![op])
        })
        .collect::<Result<Vec<Vec<Op>>, String>>()
        .map(|ops| ops.into_iter().flatten().collect())
}

/// Runs `transform`.
pub fn run(mut args: Args) -> Result<()> {
    let usage = |e: String| Error::Usage(e);
    // Programs from files are read once, here.
    for (flag, value) in &mut args.order {
        if *flag == Flag::ExprFile {
            *value = std::fs::read_to_string(&*value)
                .map_err(|e| Error::io(format!("cannot read {value}"), e))?;
        }
    }
    let ops = parse_ops(&args.order).map_err(usage)?;
    for op in &ops {
        if let Op::Set(_, code) | Op::Expr(code) = op {
            Program::compile(code).map_err(|e| usage(format!("bad expression: {e}")))?;
        }
    }
    let settings = Settings {
        time_format: args.time_format.clone(),
        separator: args.separator.clone(),
        mask: if args.mask_hash {
            Mask::Hash(mask_salt(&args)?)
        } else {
            Mask::Token(args.mask_token.clone())
        },
    };
    let lookups = load_lookups(&args)?;
    let stateful = Stateful::new(&args)?;
    let plan = Arc::new(Plan {
        order: args.order.clone(),
        settings,
        lookups,
        value_only: args.value_only,
        facts: stateful.as_ref().map(|s| s.fields.clone()),
        time_format: args.time_format.clone(),
    });
    let options = Options::new(
        &args.inputs,
        args.common.max_record_len(),
        args.common.show_progress(),
    );
    let mut stats = Stats::new("transform");
    let mut rejects = Rejects::new(args.common.on_error.clone(), "transform")?;
    let mut out = StdoutWriter::stdout();
    let mut dropped = 0u64;
    let result = match stateful {
        None => {
            let mut delivery = Delivery {
                out: &mut out,
                routed: None,
                rejects: &mut rejects,
                limit: None,
            };
            blocks::process(
                &options,
                move || Arc::clone(&plan).worker(),
                |block, work: &Work| {
                    stats.records_in += block.lines.len() as u64;
                    stats.bytes_in += block.read;
                    dropped += work.dropped;
                    delivery.deliver(block, &work.output)
                },
            )
        }
        Some(mut stateful) => {
            let result = blocks::process(
                &options,
                move || Arc::clone(&plan).worker(),
                |block, work: &Work| {
                    stats.records_in += block.lines.len() as u64;
                    stats.bytes_in += block.read;
                    dropped += work.dropped;
                    stateful.deliver(block, work, &mut out, &mut rejects)
                },
            );
            let finished = result.and_then(|()| stateful.finish(&mut out));
            if let Some(d) = &stateful.dedupe {
                if d.dropped > 0 {
                    sluice_stream::progress::note(format_args!(
                        "transform: left out {} duplicate record(s)",
                        d.dropped
                    ));
                }
            }
            finished
        }
    };
    let flushed = out.flush();
    // Also when stdout was closed early: records read so far were rejected or counted.
    Error::output_closed(result.and(flushed))?;
    rejects.finish()?;
    if dropped > 0 {
        sluice_stream::progress::note(format_args!(
            "transform: left out {dropped} record(s) without a lookup match (--on-miss drop)"
        ));
    }
    stats.finish(&out, &rejects, args.common.stats);
    Ok(())
}

fn mask_salt(args: &Args) -> Result<Vec<u8>> {
    if let Some(path) = &args.mask_salt_file {
        let salt = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        return Ok(salt.trim_ascii_end().to_vec());
    }
    match std::env::var_os("SLUICE_MASK_SALT") {
        Some(salt) if !salt.is_empty() => Ok(salt.into_encoded_bytes()),
        _ => Err(Error::Usage(
            "--mask-hash needs a salt: set SLUICE_MASK_SALT or --mask-salt-file".into(),
        )),
    }
}

fn load_lookups(args: &Args) -> Result<Vec<Arc<LookupSpec>>> {
    if args.on.len() != args.lookup.len() {
        return Err(Error::Usage(format!(
            "each --lookup needs its --on FIELD=TABLE_FIELD ({} --lookup, {} --on)",
            args.lookup.len(),
            args.on.len()
        )));
    }
    args.lookup
        .iter()
        .enumerate()
        .map(|(i, file)| {
            let (field, table_field) = match args.on[i].split_once('=') {
                Some((f, t)) => (f.trim(), t.trim()),
                None => (args.on[i].trim(), args.on[i].trim()),
            };
            FieldPath::parse(field).map_err(Error::Usage)?;
            let table_key = FieldPath::parse(table_field).map_err(Error::Usage)?;
            let spec = LookupSpec::load(
                file,
                field.to_string(),
                &table_key,
                args.prefix.get(i).cloned().unwrap_or_default(),
                args.on_miss.get(i).copied().unwrap_or(OnMiss::Keep),
            )?;
            Ok(Arc::new(spec))
        })
        .collect()
}

/// Everything a worker thread needs to build its own operations (jaq values and programs stay
/// on the thread that made them).
struct Plan {
    order: Vec<(Flag, String)>,
    settings: Settings,
    lookups: Vec<Arc<LookupSpec>>,
    value_only: bool,
    facts: Option<FactFields>,
    time_format: Option<String>,
}

/// The fields the stateful stages read from each record, in this order: dedupe keys, group
/// fields, aggregate inputs (`None` for `count`), plus the event time.
#[derive(Clone, Debug, Default)]
struct FactFields {
    fields: Vec<Option<String>>,
    time: Option<String>,
}

/// A worker's result for one block.
#[derive(Default)]
struct Work {
    output: Output,
    facts: Facts,
    /// Records left out by `--on-miss drop`.
    dropped: u64,
}

impl Work {
    fn clear(&mut self) {
        self.output.clear();
        self.facts.records.clear();
        self.facts.values.clear();
        self.facts.texts.clear();
        self.dropped = 0;
    }
}

/// What the stateful stages need of each output record.
#[derive(Default)]
struct Facts {
    records: Vec<Fact>,
    values: Vec<Range<usize>>,
    texts: Vec<u8>,
}

struct Fact {
    /// The record's index in the block.
    line: usize,
    /// The record's bytes in the output (newline included).
    span: Range<usize>,
    time: Option<i64>,
}

impl Plan {
    fn worker(self: Arc<Self>) -> impl FnMut(&Block, &mut Work) {
        let ops = parse_ops(&self.order).expect("checked at startup");
        let mut chain = Chain::new(&ops, &self.settings, &self.lookups);
        let mut raw = (!self.value_only)
            .then(|| RawChain::compile(&ops, &self.settings))
            .flatten();
        let prefix = |p: &str| {
            let path = FieldPath::parse(p).expect("checked at startup");
            if self.value_only {
                path.under("value").byte_names()
            } else {
                path.byte_names()
            }
        };
        let fact_paths: Vec<Option<Vec<Box<[u8]>>>> = self
            .facts
            .iter()
            .flat_map(|f| &f.fields)
            .map(|f| f.as_deref().map(prefix))
            .collect();
        let time_path = self
            .facts
            .as_ref()
            .and_then(|f| f.time.as_deref())
            .map(prefix);
        let value_path = FieldPath::parse("value").expect("a valid path");
        let mut fields: Vec<FieldSpan> = Vec::new();
        let mut results = Vec::new();
        let mut text_buf = Vec::new();
        move |block, work| {
            work.clear();
            for (index, line) in block.lines.iter().enumerate() {
                let text = block.text(line);
                if line.oversize {
                    work.output.reject(index, oversize_reason(line));
                    continue;
                }
                if chain.is_empty() {
                    if let Err(reason) = scan::object_fields(text, &mut fields) {
                        work.output.reject(index, reason);
                        continue;
                    }
                    self.emit(
                        work,
                        index,
                        text,
                        &fields,
                        &fact_paths,
                        time_path.as_deref(),
                    );
                    continue;
                }
                if let Some(raw) = raw.as_mut() {
                    if let Err(reason) = scan::object_fields(text, &mut fields) {
                        work.output.reject(index, reason);
                        continue;
                    }
                    text_buf.clear();
                    match raw.apply(text, &fields, &mut text_buf) {
                        Ok(true) => {
                            if self.facts.is_some() {
                                if let Err(reason) = scan::object_fields(&text_buf, &mut fields) {
                                    work.output.reject(index, reason);
                                    continue;
                                }
                            }
                            self.emit(
                                work,
                                index,
                                &text_buf,
                                &fields,
                                &fact_paths,
                                time_path.as_deref(),
                            );
                            continue;
                        }
                        // Escaped or repeated keys: the full engine below.
                        Ok(false) => {}
                        Err(reason) => {
                            work.output.reject(index, reason);
                            continue;
                        }
                    }
                }
                let record = match json::parse(text) {
                    Ok(record) => record,
                    Err(reason) => {
                        work.output.reject(index, reason);
                        continue;
                    }
                };
                let applied = if self.value_only {
                    apply_to_value(&mut chain, &value_path, record, &mut results)
                } else {
                    match chain.apply(record, &mut results) {
                        Outcome::Records => Ok(()),
                        Outcome::Rejected(reason) => Err(reason),
                    }
                };
                if let Err(reason) = applied {
                    work.output.reject(index, reason);
                    continue;
                }
                for result in results.drain(..) {
                    text_buf.clear();
                    if let Err(reason) = json::write(&mut text_buf, &result) {
                        work.output.reject(index, reason);
                        continue;
                    }
                    if self.facts.is_some() {
                        if let Err(reason) = scan::object_fields(&text_buf, &mut fields) {
                            work.output.reject(index, reason);
                            continue;
                        }
                    }
                    self.emit(
                        work,
                        index,
                        &text_buf,
                        &fields,
                        &fact_paths,
                        time_path.as_deref(),
                    );
                }
            }
            work.dropped = chain.take_lookup_drops();
        }
    }

    /// Adds one output record, with its facts when stateful stages follow.
    fn emit(
        &self,
        work: &mut Work,
        index: usize,
        record: &[u8],
        fields: &[FieldSpan],
        fact_paths: &[Option<Vec<Box<[u8]>>>],
        time_path: Option<&[Box<[u8]>]>,
    ) {
        if self.facts.is_none() {
            work.output.push(record);
            return;
        }
        let time = match time_path.map(|p| self.event_time(record, fields, p)) {
            Some(Ok(t)) => Some(t),
            Some(Err(reason)) => {
                work.output.reject(index, reason);
                return;
            }
            None => None,
        };
        let facts = &mut work.facts;
        for path in fact_paths {
            let start = facts.texts.len();
            if let Some(path) = path {
                let raw = match scan::lookup(record, fields, path) {
                    Found::Value(raw) => raw,
                    Found::Missing | Found::NotObject => b"null",
                };
                // Equal values (as jq sees them) must make equal keys: 1.0 and 1, "\u0061"
                // and "a".
                scan::canonical(raw, &mut facts.texts);
            }
            facts.values.push(start..facts.texts.len());
        }
        let start = work.output.lines.len();
        work.output.push(record);
        facts.records.push(Fact {
            line: index,
            span: start..work.output.lines.len(),
            time,
        });
    }

    fn event_time(
        &self,
        record: &[u8],
        fields: &[FieldSpan],
        path: &[Box<[u8]>],
    ) -> Result<i64, String> {
        let field = self
            .facts
            .as_ref()
            .and_then(|f| f.time.as_deref())
            .unwrap_or_default();
        let raw = match scan::lookup(record, fields, path) {
            Found::Value(raw) => raw,
            _ => b"null",
        };
        let time = match Kind::of(raw) {
            Kind::String => scan::unescape(raw)
                .and_then(|text| parse_time_text(&text, self.time_format.as_deref())),
            Kind::Number => std::str::from_utf8(raw)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .and_then(epoch_to_ms),
            Kind::Null => return Err(format!("no event time: {field} is missing or null")),
            _ => None,
        };
        time.ok_or_else(|| {
            format!(
                "{field}: {} is not a time",
                String::from_utf8_lossy(&raw[..raw.len().min(60)])
            )
        })
    }
}

/// Applies the chain to an envelope's `value`, keeping the rest of the envelope (and its
/// field order). A tombstone (null value) passes through untouched.
fn apply_to_value(
    chain: &mut Chain,
    value_path: &FieldPath,
    mut envelope: Val,
    out: &mut Vec<Val>,
) -> Result<(), String> {
    out.clear();
    let value = match value_path.take(&mut envelope) {
        None | Some(Val::Null) => {
            out.push(envelope);
            return Ok(());
        }
        Some(v @ Val::Obj(_)) => v,
        Some(other) => {
            return Err(format!(
                "the envelope's value is {}, not an object",
                json::short(&other)
            ))
        }
    };
    let mut values = Vec::new();
    if let Outcome::Rejected(reason) = chain.apply(value, &mut values) {
        return Err(reason);
    }
    for v in values {
        let mut copy = envelope.clone();
        value_path.set(&mut copy, v)?;
        out.push(copy);
    }
    Ok(())
}

/// Deduplication and aggregation, on the calling thread, in input order.
struct Stateful {
    fields: FactFields,
    dedupe: Option<Dedupe>,
    dedupe_width: usize,
    group_width: usize,
    aggregator: Option<Aggregator>,
    late: Option<(AtomicFile, std::io::BufWriter<std::fs::File>)>,
    lateness: i64,
    key: Vec<u8>,
    emitted: Vec<u8>,
    emitted_count: u64,
}

impl Stateful {
    fn new(args: &Args) -> Result<Option<Stateful>> {
        let dedupe_fields: Vec<String> = args
            .dedupe
            .as_deref()
            .map(|d| split_list(d).map(String::from).collect())
            .unwrap_or_default();
        let group: Vec<String> = args
            .group_by
            .as_deref()
            .map(|g| split_list(g).map(String::from).collect())
            .unwrap_or_default();
        if dedupe_fields.is_empty() && args.agg.is_empty() {
            return Ok(None);
        }
        let windows = match args.window {
            Some(size) => {
                let hop = args.hop.unwrap_or(size);
                if size <= 0 || hop <= 0 || hop > size {
                    return Err(Error::Usage(
                        "--window must be positive and --hop between 0 and --window".into(),
                    ));
                }
                if size / hop > 10_000 {
                    return Err(Error::Usage(
                        "--hop is too small: a record would fall in more than 10000 windows".into(),
                    ));
                }
                Some(Windows {
                    size,
                    hop,
                    lateness: args.allowed_lateness,
                })
            }
            None => None,
        };
        // Each output field once: a repeated name would write a key twice.
        let mut names: Vec<&str> = group.iter().map(String::as_str).collect();
        if windows.is_some() {
            names.extend(["window_start", "window_end"]);
        }
        for spec in &args.agg {
            if names.contains(&spec.name.as_str()) {
                return Err(Error::Usage(format!(
                    "--agg: the output field {:?} is named twice (name it: --agg NAME=FUNC(FIELD))",
                    spec.name
                )));
            }
            names.push(&spec.name);
        }
        let aggregator =
            (!args.agg.is_empty()).then(|| Aggregator::new(args.agg.clone(), &group, windows));
        let mut fields: Vec<Option<String>> = dedupe_fields.iter().cloned().map(Some).collect();
        fields.extend(group.iter().cloned().map(Some));
        if let Some(agg) = &aggregator {
            fields.extend(agg.input_fields());
        }
        for field in fields.iter().flatten().chain(&args.time_field) {
            FieldPath::parse(field).map_err(Error::Usage)?;
        }
        let late = match &args.late {
            Some(path) => {
                let mut file = AtomicFile::create(path, true)?;
                let writer = std::io::BufWriter::new(
                    file.file()
                        .try_clone()
                        .map_err(|e| Error::io("cannot open the --late file", e))?,
                );
                Some((file, writer))
            }
            None => None,
        };
        let needs_time = windows.is_some() || args.dedupe_within.is_some();
        Ok(Some(Stateful {
            fields: FactFields {
                fields,
                time: args.time_field.clone().filter(|_| needs_time),
            },
            dedupe: (!dedupe_fields.is_empty())
                .then(|| Dedupe::new(args.dedupe_capacity, args.dedupe_within)),
            dedupe_width: dedupe_fields.len(),
            group_width: group.len(),
            aggregator,
            late,
            lateness: args.allowed_lateness,
            key: Vec::new(),
            emitted: Vec::new(),
            emitted_count: 0,
        }))
    }

    fn deliver(
        &mut self,
        block: &Block,
        work: &Work,
        out: &mut StdoutWriter,
        rejects: &mut Rejects,
    ) -> Result<Flow> {
        let width = self.fields.fields.len();
        let rejected = &work.output.rejected;
        let mut next_reject = 0;
        let mut values: Vec<&[u8]> = Vec::with_capacity(width);
        for (i, fact) in work.facts.records.iter().enumerate() {
            while next_reject < rejected.len() && rejected[next_reject].lines_len <= fact.span.start
            {
                let r = &rejected[next_reject];
                let line = &block.lines[r.line];
                rejects.reject(
                    &block.position(line),
                    &r.reason,
                    block.text(line),
                    line.oversize,
                )?;
                next_reject += 1;
            }
            values.clear();
            values.extend(
                work.facts.values[i * width..(i + 1) * width]
                    .iter()
                    .map(|r| &work.facts.texts[r.clone()]),
            );
            let (group, inputs) = values[self.dedupe_width..].split_at(self.group_width);
            let line = &block.lines[fact.line];
            if let Some(aggregator) = &self.aggregator {
                // A record the aggregates reject must not count as seen for --dedupe.
                if let Err(reason) = aggregator.check(inputs) {
                    rejects.reject(&block.position(line), &reason, block.text(line), false)?;
                    continue;
                }
            }
            if let Some(dedupe) = &mut self.dedupe {
                self.key.clear();
                for v in &values[..self.dedupe_width] {
                    self.key.extend_from_slice(v);
                    self.key.push(0);
                }
                if !dedupe.first_time(&self.key, fact.time) {
                    continue;
                }
            }
            let record = &work.output.lines[fact.span.clone()];
            let Some(aggregator) = &mut self.aggregator else {
                out.write_chunk(record, 1)?;
                continue;
            };
            let emitted = &mut self.emitted;
            let count = &mut self.emitted_count;
            let added = aggregator.add(fact.time, group, inputs, &mut |r: &[u8]| {
                emitted.extend_from_slice(r);
                emitted.push(b'\n');
                *count += 1;
            });
            match added {
                Ok(aggregate::Added::Counted) => {}
                Ok(aggregate::Added::Late) => match &mut self.late {
                    Some((_, writer)) => writer
                        .write_all(&work.output.lines[fact.span.clone()])
                        .map_err(|e| Error::io("cannot write the --late file", e))?,
                    None => rejects.reject(
                        &block.position(line),
                        &format!(
                            "late record: event time {} is before every open window (allowed \
                             lateness {} ms); raise --allowed-lateness, sort the input by time, or \
                             keep late records with --late PATH",
                            format_time(fact.time.unwrap_or_default()),
                            self.lateness
                        ),
                        block.text(line),
                        false,
                    )?,
                },
                Err(reason) => {
                    rejects.reject(&block.position(line), &reason, block.text(line), false)?
                }
            }
            self.write_emitted(out)?;
        }
        for r in &rejected[next_reject..] {
            let line = &block.lines[r.line];
            rejects.reject(
                &block.position(line),
                &r.reason,
                block.text(line),
                line.oversize,
            )?;
        }
        out.flush()?;
        Ok(Flow::Continue)
    }

    fn write_emitted(&mut self, out: &mut StdoutWriter) -> Result<()> {
        if self.emitted_count > 0 {
            out.write_chunk(&self.emitted, self.emitted_count)?;
            self.emitted.clear();
            self.emitted_count = 0;
        }
        Ok(())
    }

    /// Emits the open windows and makes the late file appear.
    fn finish(&mut self, out: &mut StdoutWriter) -> Result<()> {
        if let Some(aggregator) = &mut self.aggregator {
            let emitted = &mut self.emitted;
            let count = &mut self.emitted_count;
            aggregator.finish(&mut |r: &[u8]| {
                emitted.extend_from_slice(r);
                emitted.push(b'\n');
                *count += 1;
            });
        }
        self.write_emitted(out)?;
        if let Some((file, mut writer)) = self.late.take() {
            writer
                .flush()
                .map_err(|e| Error::io("cannot write the --late file", e))?;
            drop(writer);
            file.commit()?;
        }
        Ok(())
    }
}
