//! `load`: newline-delimited JSON records to NDJSON, CSV/TSV, Parquet or Arrow files, one file,
//! stdout, or a directory of parts (Hive-partitioned with `--partition-by`).

mod inferred;
mod parallel;
mod pipeline;
mod target;
mod writer;

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use sluice_arrow::decode::RecordPlace;
use sluice_arrow::infer::SchemaInference;
use sluice_cli::{parse_size, CommonArgs};
use sluice_stream::input::is_stdin;
use sluice_stream::json::{object_fields, Fields};
use sluice_stream::lines::LineReader;
use sluice_stream::progress::{total_size, Progress};
use sluice_stream::{Error, Rejects, Result, Stats};

use crate::pipeline::{
    for_each_record, recycle, reshape_each, InputFile, Limits, Reshaper, Shape, Spill, Writers,
};
use crate::target::Target;
pub use crate::target::{partition_component, Layout};
pub use crate::writer::{Codec, FileWriter, Format, Output, WriterOptions};

const EXAMPLES: &str = "\
Examples:
  extract flights.csv.gz | load flights.parquet
  extract flights.parquet | load flights.csv
  extract weather.csv | load --partition-by origin,month lake/weather/
  consume weather --until-end | load --append --max-rows-per-file 1000000 lake/weather/
  load --schema flights.schema.json flights.parquet < flights.ndjson
  extract a.csv | load --schema-out a.schema.json a.parquet
  extract a.csv | load - --format csv | head";

const SCHEMA_HELP: &str = "\
Schemas (Parquet and Arrow): unless --schema is given, the schema is inferred from the whole
input. Types widen where records disagree (integers and floats make float64; any scalar and a
string make string); a field missing or null in some records is nullable; objects become
structs and arrays lists; RFC 3339 strings become timestamps (timestamp_tz when they carry an
offset, stored in UTC; timestamp when they do not) and YYYY-MM-DD strings dates, unless
--keep-time-strings; a field holding both nested and scalar values keeps them as JSON text.
Inference covers the whole input in bounded memory (one batch of records and one Parquet
row group, whatever the input's size). For flat records (no nested values) going to one
file, the schema is inferred from the first 2 MiB, and every later record is checked, as it
is written, to fit it unchanged: a single pass. Otherwise, or should a record not fit, the
input is read twice: once to infer the schema, once to write. A regular file is simply read again;
stdin and compressed inputs are copied to a temporary file (--spill-dir) as they are read.

The schema file (--schema, --schema-out) is JSON:
  {\"fields\": [{\"name\": \"year\", \"type\": \"int64\", \"nullable\": false},
              {\"name\": \"time_hour\", \"type\": \"timestamp_tz\"},
              {\"name\": \"tags\", \"type\": {\"list\": \"string\"}},
              {\"name\": \"plane\", \"type\": {\"struct\": [{\"name\": \"seats\", \"type\": \"int32\"}]}}]}
Types: null, boolean, int8..int64, uint8..uint64, float32, float64, string, json, date,
timestamp and timestamp_tz (microseconds; timestamp(ns), timestamp_tz(ms), … for other units),
decimal(P,S) (P up to 76), {\"list\": TYPE}, {\"struct\": [FIELD, …]}. nullable defaults to
true. With --schema, a record with a field the schema does not name, or a value that does not
fit (1.5 in an integer, 1.005 in decimal(5,2), 1e300 in float32), goes through --on-error with
the reason.";

/// Write newline-delimited JSON records from stdin (or INPUT files) to a file, stdout, or a
/// directory of parts.
///
/// The format comes from --format, else OUTPUT's extension (.ndjson/.jsonl/.json, .csv, .tsv,
/// .parquet, .arrow, with .gz/.zst/.sz for compressed row formats). Files appear atomically:
/// written under a hidden temporary name, synced, renamed when complete, so a failure, Ctrl-C
/// or kill -9 never leaves a partial file under the final name.
///
/// OUTPUT is a directory when it ends with /, already is one, or with --partition-by,
/// --max-rows-per-file or --max-bytes-per-file; parts are named part-RUN-SEQ.EXT, and
/// partitions are key=value folders (values percent-encoded, null and empty as
/// __HIVE_DEFAULT_PARTITION__; the partition fields leave the records, as Hive does).
#[derive(Parser, Debug)]
#[command(name = "load", version, after_long_help = format!("{EXAMPLES}\n\n{SCHEMA_HELP}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// Output file, directory (see above), or `-` for stdout (row formats).
    #[arg(value_name = "OUTPUT")]
    pub output: String,

    /// NDJSON inputs; `-` (the default) is stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// The output format, instead of OUTPUT's extension (default for directories: parquet;
    /// for stdout: ndjson).
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// Compression: Parquet defaults to snappy (also zstd, gzip, lz4, none); Arrow to none
    /// (zstd, lz4); row formats follow OUTPUT's extension (gzip, zstd, snappy, none).
    #[arg(long, value_enum)]
    pub compression: Option<Codec>,

    /// Only these fields, in this order (missing ones are null). For CSV, the columns.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,

    /// CSV field separator (one ASCII character).
    #[arg(short, long, value_name = "CHAR", default_value = ",", value_parser = sluice_cli::parse_delimiter)]
    pub delimiter: u8,

    /// Read the schema from this file instead of inferring it (Parquet, Arrow).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,

    /// Save the schema used (inferred or given) to this file.
    #[arg(long, value_name = "FILE")]
    pub schema_out: Option<PathBuf>,

    /// Keep RFC 3339 and YYYY-MM-DD strings as strings when inferring a schema.
    #[arg(long)]
    pub keep_time_strings: bool,

    /// Write a Hive-style directory: one folder level per field (top-level fields).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub partition_by: Vec<String>,

    /// Start a new part after this many records.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows_per_file: Option<u64>,

    /// Start a new part once a part reaches about this size (e.g. 256MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_bytes_per_file: Option<u64>,

    /// Parquet row group size in rows.
    #[arg(long, value_name = "ROWS", default_value_t = 1 << 20, value_parser = parse_rows)]
    pub row_group_size: usize,

    /// Replace an existing output file or directory.
    #[arg(long, conflicts_with = "append")]
    pub overwrite: bool,

    /// Add new parts (with unique names) to an existing directory.
    #[arg(long)]
    pub append: bool,

    /// Where to keep records between the two passes of schema inference or partitioning
    /// (default: $TMPDIR or /tmp).
    #[arg(long, value_name = "DIR")]
    pub spill_dir: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_rows(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{text}' is not a positive number of rows")),
    }
}

/// Threads decoding and inferring in parallel.
const DECODE_THREADS: usize = 2;

/// Rows decoded into one Arrow batch.
const BATCH_ROWS: usize = 8192;

/// Runs `load`.
pub fn run(args: Args) -> Result<()> {
    let mut stats = Stats::new("load");
    let names: Vec<String> = if args.inputs.is_empty() {
        vec!["-".into()]
    } else {
        args.inputs.clone()
    };
    let inputs: Vec<InputFile> = names
        .iter()
        .map(|n| InputFile {
            name: n.clone(),
            path: n.clone(),
        })
        .collect();
    let layout = layout(&args)?;
    let format = match (&layout, args.format) {
        (_, Some(format)) => format,
        (Layout::File(path), None) => {
            Format::from_name(&path.to_string_lossy()).ok_or_else(|| {
                Error::Usage(format!(
                    "cannot tell the format of {} from its name: use --format",
                    path.display()
                ))
            })?
        }
        (Layout::Dir(_), None) => Format::Parquet,
        (Layout::Stdout, None) => Format::Ndjson,
    };
    if format.is_typed() && layout == Layout::Stdout {
        return Err(Error::Usage(format!(
            "{} cannot be written to stdout: name an output file",
            format.extension()
        )));
    }
    let codec = match (args.compression, format, &layout) {
        (Some(codec), _, _) => codec,
        (None, Format::Parquet, _) => Codec::Snappy,
        (None, Format::Arrow, _) => Codec::None,
        (None, _, Layout::File(path)) => Codec::from_name(&path.to_string_lossy()),
        (None, _, _) => Codec::None,
    };
    let shape = Shape {
        columns: args.columns.clone(),
        partition_by: args.partition_by.clone(),
    };
    let mut schema = match &args.schema {
        Some(path) => Some(read_schema(path, &args.partition_by)?),
        None => None,
    };
    let csv = matches!(format, Format::Csv | Format::Tsv);
    let inference = (format.is_typed() && schema.is_none())
        .then(|| SchemaInference::new(!args.keep_time_strings));
    let learn_keys = csv && args.columns.is_none();
    let partitioned = !args.partition_by.is_empty();
    let two_pass = inference.is_some() || learn_keys || partitioned;

    let mut rejects = Rejects::new(args.common.on_error.clone(), "load")?;
    let single_file = !matches!(layout, Layout::Dir(_));
    let target = Target::open(layout.clone(), args.overwrite, args.append)?;
    let sizes = total_size(&names);
    let progress = Progress::new(args.common.show_progress(), sizes);
    let limits = Limits {
        rows: args.max_rows_per_file,
        bytes: args.max_bytes_per_file,
    };
    let mut options = WriterOptions {
        format,
        codec,
        delimiter: args.delimiter,
        columns: args
            .columns
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !args.partition_by.contains(c))
            .collect(),
        schema: schema.clone().map(Arc::new),
        strict: true,
        sample: None,
        row_group_rows: args.row_group_size,
        // Rolling by size counts what is written: keep fewer rows in flight so parts end
        // close to the limit.
        batch_rows: BATCH_ROWS
            .min(args.max_rows_per_file.map_or(usize::MAX, |n| n as usize))
            .min(if args.max_bytes_per_file.is_some() {
                1024
            } else {
                usize::MAX
            }),
    };
    let max = args.common.max_record_len();
    let mut storage: Fields<'static> = Vec::new();

    let loaded = (|| -> Result<(u64, u64, u64)> {
        Ok(if !two_pass {
            let mut writers = Writers::new(target, options, limits);
            let mut reshaper = Reshaper::new(shape, None, false, csv, format.is_typed());
            let (records, _) = reshape_each(
                &inputs,
                max,
                &mut rejects,
                progress.bar(),
                &mut reshaper,
                |out, partition, fields, place, rejects| {
                    writers.write(partition, out, fields, place, rejects)
                },
            )?;
            let (rows, bytes) = writers.finish(&mut rejects, single_file)?;
            (records, rows, bytes)
        } else if inference.is_some() && !partitioned && !shape.rewrites_records() {
            let reopen = || Target::open(layout.clone(), args.overwrite, args.append);
            let job = inferred::Job {
                options,
                limits,
                detect_time: !args.keep_time_strings,
                max_bytes: max,
                spill_dir: args.spill_dir.as_deref(),
                bar: progress.bar(),
                single_file,
                reopen: &reopen,
            };
            let loaded = inferred::load(&inputs, target, &job, &mut rejects)?;
            schema = Some(loaded.schema);
            (loaded.records, loaded.rows, loaded.bytes)
        } else {
            // Pass 1: validate, reshape, learn the schema or columns, spill if needed.
            let spill_needed =
                partitioned || shape.rewrites_records() || names.iter().any(|i| is_stdin(i));
            let mut spill = if spill_needed {
                Some(Spill::new(args.spill_dir.as_deref())?)
            } else {
                None
            };
            let mut reshaper = Reshaper::new(shape, inference, learn_keys, false, false);
            let (records, rejected) = reshape_each(
                &inputs,
                max,
                &mut rejects,
                progress.bar(),
                &mut reshaper,
                |out, partition, _, _, _| match spill.as_mut() {
                    Some(spill) => spill.write(partition, out),
                    None => Ok(()),
                },
            )?;
            if let Some(inference) = &reshaper.inference {
                schema = Some(inference.schema());
                options.schema = schema.clone().map(Arc::new);
            }
            if let Some(order) = reshaper.key_order.take() {
                options.columns = order;
            }
            // Pass 2: write.
            let mut writers = Writers::new(target, options, limits);
            match spill {
                Some(spill) => {
                    let (_guard, parts) = spill.finish()?;
                    for (partition, path) in parts {
                        write_spilled(&path, &partition, csv, &mut writers, &mut rejects, max)?;
                    }
                }
                None => {
                    for_each_record(
                        &inputs,
                        max,
                        &mut rejects,
                        None,
                        Some(&rejected),
                        |text, place, rejects| {
                            let mut fields = recycle(std::mem::take(&mut storage));
                            if csv {
                                object_fields(text, &mut fields).map_err(Error::Other)?;
                            }
                            writers.write("", text.as_bytes(), &fields, place, rejects)?;
                            storage = recycle(fields);
                            Ok(true)
                        },
                    )?;
                }
            }
            let (rows, bytes) = writers.finish(&mut rejects, single_file)?;
            (records, rows, bytes)
        })
    })();
    // Rejected records are reported also when stdout was closed early (`| head`).
    let finished = rejects.finish();
    let (records_in, rows, bytes_out) = loaded?;
    finished?;
    if let (Some(path), Some(schema)) = (&args.schema_out, &schema) {
        let json = sluice_arrow::schema::to_json(schema).map_err(Error::Other)?;
        let mut text = serde_json::to_vec_pretty(&json).expect("schema serializes");
        text.push(b'\n');
        sluice_stream::atomic::write_file(path, &text)?;
    }
    progress.clear();
    stats.records_in = records_in;
    stats.records_out = rows;
    stats.bytes_out = bytes_out;
    stats.rejected = rejects.count();
    stats.bytes_in = sizes.unwrap_or(0);
    if args.common.stats {
        eprintln!("{}", stats.to_json());
    }
    Ok(())
}

/// Writes the records of one spill file (already validated and reshaped).
fn write_spilled(
    path: &Path,
    partition: &str,
    csv: bool,
    writers: &mut Writers,
    rejects: &mut Rejects,
    max: usize,
) -> Result<()> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot read spill file {}", path.display()), e))?;
    let mut lines = LineReader::new(
        BufReader::with_capacity(1 << 20, file),
        max.saturating_add(1 << 20),
        0,
    );
    let source: Arc<str> = Arc::from("spilled input");
    let mut line = Vec::new();
    let mut storage: Fields<'static> = Vec::new();
    while let Some(info) = lines
        .next_line(&mut line)
        .map_err(|e| Error::io(format!("cannot read spill file {}", path.display()), e))?
    {
        let text = std::str::from_utf8(&line)
            .map_err(|e| Error::Other(format!("spill file corrupt: {e}")))?;
        let mut fields = recycle(std::mem::take(&mut storage));
        if csv {
            object_fields(text, &mut fields).map_err(Error::Other)?;
        }
        let place = RecordPlace {
            source: source.clone(),
            line: info.line,
            byte: info.byte,
        };
        writers.write(partition, text.as_bytes(), &fields, place, rejects)?;
        storage = recycle(fields);
    }
    Ok(())
}

/// Decides what OUTPUT names.
fn layout(args: &Args) -> Result<Layout> {
    let wants_dir = !args.partition_by.is_empty()
        || args.max_rows_per_file.is_some()
        || args.max_bytes_per_file.is_some()
        || args.append;
    if is_stdin(&args.output) {
        if wants_dir {
            return Err(Error::Usage(
                "--partition-by, --max-rows-per-file, --max-bytes-per-file and --append write a directory, not stdout".into(),
            ));
        }
        return Ok(Layout::Stdout);
    }
    let path = PathBuf::from(&args.output);
    if wants_dir || args.output.ends_with('/') || path.is_dir() {
        Ok(Layout::Dir(path))
    } else {
        Ok(Layout::File(path))
    }
}

fn read_schema(path: &Path, partition_by: &[String]) -> Result<arrow_schema::Schema> {
    let text = std::fs::read(path)
        .map_err(|e| Error::io(format!("cannot read schema {}", path.display()), e))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| Error::Usage(format!("schema {} is not JSON: {e}", path.display())))?;
    let schema = sluice_arrow::schema::from_json(&value)
        .map_err(|e| Error::Usage(format!("schema {}: {e}", path.display())))?;
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .filter(|f| !partition_by.contains(f.name()))
        .cloned()
        .collect();
    Ok(arrow_schema::Schema::new(fields))
}
