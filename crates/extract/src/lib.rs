//! `extract`: files (CSV/TSV, JSON, NDJSON, Parquet, Arrow IPC; gzip, zstd, Snappy) to
//! newline-delimited JSON records on stdout.

mod columnar;
mod csv;
mod emit;
mod json;
mod names;
mod sources;
mod state;

use std::fs::File;
use std::io::{BufRead, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use clap::Parser;
use indicatif::ProgressBar;
use sluice_cli::CommonArgs;
use sluice_stream::input::{self, is_stdin, Compression, Input};
use sluice_stream::output::RecordWriter;
use sluice_stream::progress::Progress;
use sluice_stream::{Error, Rejects, Result, Stats};

pub use crate::csv::is_json_number;
use crate::csv::CsvOptions;
use crate::emit::{Emitter, Sink};
pub use crate::sources::Format;
use crate::state::{Plan, Resume, State};

const EXAMPLES: &str = "\
Examples:
  extract flights.csv.gz | load flights.parquet
  extract --null NA weather.csv | filter '.temp > 90'
  extract flights.parquet --columns carrier,dep_delay | head
  extract 'logs/*.ndjson.gz' --source-field file > all.ndjson
  cat data.json | extract --format json -

Incremental extraction from cron (emit only what is new since the last run, and remember it
only once the whole pipeline succeeded):
  set -o pipefail
  extract --state st.json --state-out st.json.next logs/ | load --append lake/ \\
    && mv st.json.next st.json";

/// The `--quote` character, or none.
#[derive(Debug, Clone, Copy)]
pub struct Quote(Option<u8>);

fn parse_quote(text: &str) -> std::result::Result<Quote, String> {
    match text.as_bytes() {
        b"none" => Ok(Quote(None)),
        [b'\n' | b'\r'] => Err(format!("{text:?} cannot quote fields (it ends rows)")),
        &[quote] if quote.is_ascii() => Ok(Quote(Some(quote))),
        _ => Err(format!("'{text}' is not one ASCII character or none")),
    }
}

/// Read files and write their records to stdout as newline-delimited JSON.
///
/// Formats come from --format, else the file extension, else the first bytes. Compression
/// (gzip, also concatenated members; zstd; Snappy framed) is detected by magic bytes.
///
/// Text formats stream from a live pipe: records are written as soon as the input pauses
/// after a whole record (`tail -n +1 -f log.csv | extract --format csv - | produce logs`).
///
/// CSV values are typed: JSON numbers (RFC 8259 grammar, integers within 64 bits) and
/// true/false become numbers and booleans, written exactly as in the file; null markers
/// (--null, default the empty string) become null; everything else is a string. Only an
/// unquoted field is a null marker (RFC 4180, as PostgreSQL's COPY reads CSV): `a,,b` holds a
/// null, `a,"",b` an empty string; this holds with --infer none too.
///
/// Parquet and Arrow map to JSON as: integers and decimals as numbers (decimals keep every
/// digit); floats as numbers, NaN and infinities as the strings "NaN", "Infinity",
/// "-Infinity"; dates as "YYYY-MM-DD"; timestamps as RFC 3339, in UTC with "Z" when the
/// column has a time zone and without offset when it has none (also Spark's INT96); binary as
/// base64; structs as objects; lists as arrays; maps as objects (arrays of {"key","value"}
/// when keys are not strings); nulls as null.
#[derive(Parser, Debug)]
#[command(name = "extract", version, after_long_help = format!("{EXAMPLES}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// Files, directories (read recursively, in path order, hidden files left out) or glob
    /// patterns; `-` is stdin.
    #[arg(value_name = "INPUT", default_value = "-")]
    pub inputs: Vec<String>,

    /// The input format, instead of guessing it from the name and first bytes.
    #[arg(long, value_enum)]
    pub format: Option<Format>,

    /// CSV field separator (one ASCII character; `\t` or `tab` for tabs).
    #[arg(short, long, value_name = "CHAR", value_parser = sluice_cli::parse_delimiter)]
    pub delimiter: Option<u8>,

    /// The character that quotes CSV/TSV fields (RFC 4180; doubled inside them), or `none`
    /// for files that never quote, such as TSV files in which a field may start with `"`.
    #[arg(long, value_name = "CHAR|none", value_parser = parse_quote)]
    pub quote: Option<Quote>,

    /// The CSV has no header row: columns are named column_1, column_2, …
    #[arg(long)]
    pub no_header: bool,

    /// An unquoted CSV value that means null (repeatable; a quoted one is always a string).
    /// Default: the empty string.
    #[arg(long = "null", value_name = "MARKER")]
    pub nulls: Vec<String>,

    /// `auto` types CSV numbers and booleans; `none` keeps every value a string.
    #[arg(long, value_enum, default_value = "auto")]
    pub infer: Infer,

    /// Only these columns (or top-level fields), in this order.
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub columns: Option<Vec<String>>,

    /// Add a field with this name holding each record's file name (`-` for stdin).
    #[arg(long, value_name = "NAME")]
    pub source_field: Option<String>,

    /// Remember what was extracted in FILE and emit only new data on the next run: new files,
    /// changed files, and what was appended to plain CSV/TSV/NDJSON files.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Write the updated state here instead of over --state (move it over --state once the
    /// whole pipeline succeeded).
    #[arg(long, value_name = "FILE", requires = "state")]
    pub state_out: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Whether CSV values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Infer {
    /// Numbers and booleans become JSON numbers and booleans.
    Auto,
    /// Every value stays a string.
    None,
}

/// Runs `extract`.
pub fn run(args: Args) -> Result<()> {
    let stdout = std::io::stdout();
    sluice_stream::pipe::widen(&stdout);
    let on_terminal = stdout.is_terminal();
    let out: Box<dyn Write> = Box::new(std::io::BufWriter::with_capacity(256 * 1024, stdout));
    extract_into(&args, RecordWriter::new(out, on_terminal)).map(drop)
}

/// Reads `path` as `extract path` would (format by name or content, typed CSV) and returns its
/// records as NDJSON lines; for lookup tables.
pub fn read_table(path: &str) -> Result<Vec<u8>> {
    let args = Args::try_parse_from(["extract", "--quiet", "--", path])
        .map_err(|e| Error::Usage(e.to_string()))?;
    let mut records = Vec::new();
    extract_into(&args, RecordWriter::new(Box::new(&mut records), false))?;
    Ok(records)
}

/// Reads `path` as `extract [OPTIONS] path` would, `options` being extract's own flags (such
/// as `--on-error skip`), and writes its records as NDJSON lines to `out`; for programs that
/// read inputs in-process (`compact`). Returns the records read and those handed to
/// `--on-error`.
pub fn extract_file(path: &str, options: &[String], out: &mut dyn Write) -> Result<(u64, u64)> {
    let argv = ["extract", "--quiet"]
        .into_iter()
        .map(String::from)
        .chain(options.iter().cloned())
        .chain(["--".to_string(), path.to_string()]);
    let args = Args::try_parse_from(argv).map_err(|e| Error::Usage(e.to_string()))?;
    extract_into(&args, RecordWriter::new(Box::new(out), false))
}

/// Extracts `args`' inputs into `out`; returns the records read and rejected.
fn extract_into(args: &Args, out: Sink<'_>) -> Result<(u64, u64)> {
    let mut stats = Stats::new("extract");
    let files = sources::expand(&args.inputs)?;
    let rejects = Rejects::new(args.common.on_error.clone(), "extract")?;
    let mut emitter = Emitter::new(
        out,
        rejects,
        args.source_field.clone(),
        args.columns.clone(),
    );
    let mut state = match &args.state {
        Some(path) => Some(State::load(path, args.state_out.as_ref().unwrap_or(path))?),
        None => None,
    };
    let sizes: Vec<Option<u64>> = files
        .iter()
        .map(|f| {
            (!is_stdin(f))
                .then(|| std::fs::metadata(f).map(|m| m.len()).ok())
                .flatten()
        })
        .collect();
    let progress = Progress::for_inputs(args.common.show_progress(), &files);
    let csv = CsvOptions {
        delimiter: b',',
        header: !args.no_header,
        nulls: if args.nulls.is_empty() {
            vec![Vec::new()]
        } else {
            args.nulls.iter().map(|n| n.as_bytes().to_vec()).collect()
        },
        quote: args.quote.map_or(Some(b'"'), |q| q.0),
        infer: args.infer == Infer::Auto,
        columns: args.columns.clone(),
        max_record_bytes: args.common.max_record_len(),
    };
    let reader = Reader {
        args,
        csv,
        bar: progress.bar(),
    };
    let extracted = files.iter().try_for_each(|name| {
        emitter.set_source(name);
        reader.extract_file(name, &mut emitter, state.as_mut())
    });
    // The policy finishes also when stdout was closed early (`| head`); the state is saved
    // only when every record was delivered.
    let finished = emitter.finish();
    if !Error::output_closed(extracted.and(finished))? {
        if let Some(state) = state {
            state.save()?;
        }
    }
    let (records_out, bytes_out, rejected) = emitter.counts();
    progress.clear();
    stats.records_in = emitter.records_in;
    stats.records_out = records_out;
    stats.bytes_out = bytes_out;
    stats.rejected = rejected;
    stats.bytes_in = sizes.iter().flatten().sum();
    if args.common.stats {
        eprintln!("{}", stats.to_json());
    }
    Ok((stats.records_in, stats.rejected))
}

struct Reader<'a> {
    args: &'a Args,
    csv: CsvOptions,
    bar: Option<&'a ProgressBar>,
}

impl Reader<'_> {
    fn extract_file(
        &self,
        name: &str,
        emitter: &mut Emitter<'_>,
        state: Option<&mut State>,
    ) -> Result<()> {
        let mut input = input::open(name, self.bar)?;
        let named = self.args.format.or_else(|| Format::from_name(name));
        let format = match named {
            Some(format) => format,
            None => Format::sniff(
                input::peek_until(&mut *input.reader, 64 * 1024, |head| {
                    !Format::undecided(head)
                })
                .map_err(|e| Error::io(format!("cannot read {name}"), e))?,
            ),
        };
        let state = state.filter(|_| !is_stdin(name));
        let Some(state) = state else {
            return self
                .extract_input(
                    input,
                    format,
                    named.is_some(),
                    Resume::default(),
                    false,
                    emitter,
                )
                .map(|_| ());
        };
        let append_only = input.compression == Compression::None
            && matches!(format, Format::Csv | Format::Tsv | Format::Ndjson);
        drop(input);
        let file = File::open(name).map_err(|e| Error::io(format!("cannot open {name}"), e))?;
        let Plan::Read { start, end } = state.plan(name, &file, append_only)? else {
            return Ok(());
        };
        let input = if append_only {
            let mut range =
                File::open(name).map_err(|e| Error::io(format!("cannot open {name}"), e))?;
            range
                .seek(SeekFrom::Start(start.offset))
                .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
            let len = end - start.offset;
            let raw: Box<dyn Read + Send> = match self.bar {
                Some(bar) => Box::new(bar.wrap_read(range.take(len))),
                None => Box::new(range.take(len)),
            };
            input::from_reader(name, raw, Some(len))?
        } else {
            input::open(name, self.bar)?
        };
        let reached = self.extract_input(input, format, true, start, append_only, emitter)?;
        // The state is saved only after all output is flushed (in run()).
        state.record(name, &file, reached, append_only)
    }

    /// Reads one opened input, which starts where `start` says in its file. `growing` says it
    /// is a range of a file that may still grow, so a CSV row left open at its end is left for
    /// the next run. Returns where reading stopped, for the state (append-only files).
    fn extract_input(
        &self,
        mut input: Input,
        format: Format,
        format_named: bool,
        mut start: Resume,
        growing: bool,
        emitter: &mut Emitter<'_>,
    ) -> Result<Resume> {
        let name = input.name.clone();
        let max = self.args.common.max_record_len();
        let columns = self.args.columns.as_deref();
        match format {
            Format::Csv | Format::Tsv => {
                let mut options = self.csv.clone();
                options.delimiter =
                    self.args
                        .delimiter
                        .unwrap_or(if format == Format::Tsv { b'\t' } else { b',' });
                if options.quote == Some(options.delimiter) {
                    return Err(Error::Usage(format!(
                        "{:?} cannot both quote and separate fields (--quote, --delimiter)",
                        options.delimiter as char
                    )));
                }
                start.offset = skip_bom(&mut input, start.offset)?;
                csv::extract(&mut *input.reader, &name, start, growing, &options, emitter)
            }
            Format::Json | Format::Ndjson => {
                start.offset = skip_bom(&mut input, start.offset)?;
                // Up to the first byte that is not space when that settles it, else to the end
                // of the first line that is not blank, which is all looks_like_ndjson() reads.
                let named_ndjson = format == Format::Ndjson && format_named;
                let mut searched = 0;
                let head = input::peek_until(&mut *input.reader, 1 << 20, |head| {
                    let Some(first) = head.iter().position(|b| !b.is_ascii_whitespace()) else {
                        return false;
                    };
                    searched = searched.max(first);
                    let line_ends = head[searched..].contains(&b'\n');
                    searched = head.len();
                    named_ndjson || head[first] == b'[' || line_ends
                })
                .map_err(|e| Error::io(format!("cannot read {name}"), e))?;
                let first = head.iter().find(|b| !b.is_ascii_whitespace()).copied();
                let lines = first != Some(b'[') && (named_ndjson || json::looks_like_ndjson(head));
                if lines {
                    json::extract_lines(&mut *input.reader, &name, start, max, emitter)
                } else {
                    json::extract_values(&mut *input.reader, &name, max, emitter)?;
                    Ok(Resume::default())
                }
            }
            Format::Parquet | Format::Arrow => {
                let is_stream = format == Format::Arrow
                    && !input.reader.peek(6).is_ok_and(|h| h.starts_with(b"ARROW1"));
                if is_stream {
                    columnar::extract_arrow_stream(
                        Box::new(input.reader),
                        &name,
                        columns,
                        emitter,
                    )?;
                    return Ok(Resume::default());
                }
                let file = if input.compression == Compression::None && !is_stdin(&name) {
                    File::open(&name).map_err(|e| Error::io(format!("cannot open {name}"), e))?
                } else {
                    spill(&mut input)?
                };
                if format == Format::Parquet {
                    columnar::extract_parquet(file, &name, columns, emitter)?;
                } else {
                    columnar::extract_arrow_file(file, &name, columns, emitter)?;
                }
                if let (Some(bar), Some(size)) = (self.bar, input.size) {
                    if input.compression == Compression::None && !is_stdin(&name) {
                        bar.inc(size);
                    }
                }
                Ok(Resume::default())
            }
        }
    }
}

/// Passes over a UTF-8 byte order mark at the start of a text input that starts at byte
/// `offset` of its file; returns the offset of the first byte after it.
fn skip_bom(input: &mut Input, offset: u64) -> Result<u64> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    if offset != 0 {
        return Ok(offset);
    }
    let head = input
        .reader
        .peek(BOM.len())
        .map_err(|e| Error::io(format!("cannot read {}", input.name), e))?;
    if !head.starts_with(BOM) {
        return Ok(offset);
    }
    input.reader.consume(BOM.len());
    Ok(BOM.len() as u64)
}

/// Copies a stream (stdin, or a compressed file) to an unnamed temporary file, for formats
/// that need random access.
fn spill(input: &mut Input) -> Result<File> {
    let mut file =
        tempfile::tempfile().map_err(|e| Error::io("cannot create a temporary file", e))?;
    std::io::copy(&mut input.reader, &mut file)
        .and_then(|_| file.seek(SeekFrom::Start(0)))
        .map_err(|e| Error::io(format!("cannot copy {} to a temporary file", input.name), e))?;
    Ok(file)
}
