//! One output file in one format: NDJSON, CSV/TSV, Parquet or Arrow IPC.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::Arc;

use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as ParquetCodec, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sluice_arrow::decode::{Decoded, ParallelDecoder, RecordDecoder, RecordPlace};
use sluice_arrow::infer::SchemaInference;
use sluice_stream::json::{field, scalar_text, Fields};
use sluice_stream::{Error, Rejects, Result};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Newline-delimited JSON.
    Ndjson,
    /// Comma-separated values with a header row (RFC 4180 quoting).
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC file format.
    Arrow,
}

impl Format {
    /// The format an output name's extension names (after any compression extension).
    pub fn from_name(name: &str) -> Option<Format> {
        let stem = sluice_stream::input::Compression::strip_extension(name);
        match sluice_stream::input::extension(stem).as_deref()? {
            "ndjson" | "jsonl" | "json" | "ldjson" => Some(Format::Ndjson),
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "feather" | "ipc" => Some(Format::Arrow),
            _ => None,
        }
    }

    /// The extension of files written in this format.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Ndjson => "ndjson",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Parquet => "parquet",
            Format::Arrow => "arrow",
        }
    }

    /// Parquet and Arrow need a schema; the row formats do not.
    pub fn is_typed(self) -> bool {
        matches!(self, Format::Parquet | Format::Arrow)
    }
}

/// A compression codec for output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Codec {
    /// No compression.
    None,
    /// Snappy (Parquet's default; framed `.sz` for row formats).
    Snappy,
    /// zstd.
    Zstd,
    /// gzip.
    Gzip,
    /// LZ4 (Parquet's LZ4_RAW, Arrow's LZ4 frame).
    Lz4,
}

impl Codec {
    /// The codec a row-format file name asks for by its extension.
    pub fn from_name(name: &str) -> Codec {
        match sluice_stream::input::Compression::from_name(name) {
            sluice_stream::input::Compression::Gzip => Codec::Gzip,
            sluice_stream::input::Compression::Zstd => Codec::Zstd,
            sluice_stream::input::Compression::Snappy => Codec::Snappy,
            sluice_stream::input::Compression::None => Codec::None,
        }
    }

    /// The extension added to row-format files with this codec.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Snappy => ".sz",
            Codec::Zstd => ".zst",
            Codec::Gzip => ".gz",
            Codec::Lz4 => ".lz4",
        }
    }
}

/// Settings every file of a run shares.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub format: Format,
    pub codec: Codec,
    pub delimiter: u8,
    /// CSV columns, in order.
    pub columns: Vec<String>,
    /// The schema of typed formats.
    pub schema: Option<SchemaRef>,
    /// Refuse fields the schema does not name.
    pub strict: bool,
    /// The inference `schema` came from, when it saw only the start of the input: every
    /// record is then checked to fit as it is decoded (see [`FileWriter::unfit`]).
    pub sample: Option<SchemaInference>,
    pub row_group_rows: usize,
    pub batch_rows: usize,
}

/// Counts the bytes that reach the file.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    // Forwarding `write` is how a `Write` wrapper is built; callers use `write_all`.
    #[allow(clippy::disallowed_methods)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A byte stream, compressed or not.
/// The bytes that leave the (compressing) encoder, counted as they enter the output buffer.
type Sink = Counted<BufWriter<Box<dyn Write + Send>>>;

enum Compressed {
    Plain(Sink),
    Gzip(flate2::write::GzEncoder<Sink>),
    Zstd(zstd::Encoder<'static, Sink>),
    Snappy(Box<snap::write::FrameEncoder<Sink>>),
}

impl Compressed {
    fn new(out: Box<dyn Write + Send>, codec: Codec) -> Result<Self> {
        let buffered = Counted {
            inner: BufWriter::with_capacity(256 * 1024, out),
            bytes: 0,
        };
        Ok(match codec {
            Codec::None => Compressed::Plain(buffered),
            Codec::Gzip => Compressed::Gzip(flate2::write::GzEncoder::new(
                buffered,
                flate2::Compression::default(),
            )),
            Codec::Zstd => Compressed::Zstd(
                zstd::Encoder::new(buffered, 3).map_err(|e| Error::io("cannot start zstd", e))?,
            ),
            Codec::Snappy => Compressed::Snappy(Box::new(snap::write::FrameEncoder::new(buffered))),
            Codec::Lz4 => {
                return Err(Error::Usage(
                    "lz4 is for Parquet and Arrow; row formats take gzip, zstd or snappy".into(),
                ))
            }
        })
    }

    fn bytes(&self) -> u64 {
        match self {
            Compressed::Plain(w) => w.bytes,
            Compressed::Gzip(w) => w.get_ref().bytes,
            Compressed::Zstd(w) => w.get_ref().bytes,
            Compressed::Snappy(w) => w.get_ref().bytes,
        }
    }

    /// Ends the stream (compression trailer included); returns the bytes written.
    fn finish(self) -> io::Result<u64> {
        let mut sink = match self {
            Compressed::Plain(w) => w,
            Compressed::Gzip(w) => w.finish()?,
            Compressed::Zstd(w) => w.finish()?,
            Compressed::Snappy(w) => w.into_inner().map_err(|e| e.into_error())?,
        };
        sink.flush()?;
        Ok(sink.bytes)
    }
}

impl Write for Compressed {
    // Forwarding `write` is how a `Write` wrapper is built; callers use `write_all`.
    #[allow(clippy::disallowed_methods)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressed::Plain(w) => w.write(buf),
            Compressed::Gzip(w) => w.write(buf),
            Compressed::Zstd(w) => w.write(buf),
            Compressed::Snappy(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressed::Plain(w) => w.flush(),
            Compressed::Gzip(w) => w.flush(),
            Compressed::Zstd(w) => w.flush(),
            Compressed::Snappy(w) => w.flush(),
        }
    }
}

/// Writes records to one file (or stdout) in one format.
pub struct FileWriter {
    name: String,
    kind: Kind,
    /// Columns of a CSV, Parquet or Arrow file (NDJSON has none).
    columns: Option<usize>,
    rows: u64,
    decoded: Vec<Decoded>,
    unfit: bool,
}

enum Kind {
    Ndjson(Compressed),
    Csv(Box<csv::Writer<Compressed>>, Vec<String>),
    Parquet(Box<ArrowWriter<Counted<File>>>, ParallelDecoder),
    Arrow(
        Box<arrow_ipc::writer::FileWriter<Counted<BufWriter<File>>>>,
        ParallelDecoder,
    ),
}

impl FileWriter {
    /// Starts a file. `out` is where the bytes go; typed formats need a real file.
    pub fn new(name: &str, out: Output, options: &WriterOptions) -> Result<Self> {
        let fail = |e: &dyn std::fmt::Display| Error::Other(format!("cannot write {name}: {e}"));
        let kind = match options.format {
            Format::Ndjson => Kind::Ndjson(Compressed::new(out.into_write(), options.codec)?),
            Format::Csv | Format::Tsv => {
                let delimiter = if options.format == Format::Tsv {
                    b'\t'
                } else {
                    options.delimiter
                };
                let mut writer = csv::WriterBuilder::new()
                    .delimiter(delimiter)
                    .from_writer(Compressed::new(out.into_write(), options.codec)?);
                // No columns (no records): an empty file, not a header of one empty field.
                if !options.columns.is_empty() {
                    writer
                        .write_record(&options.columns)
                        .map_err(|e| csv_error(name, e))?;
                }
                Kind::Csv(Box::new(writer), options.columns.clone())
            }
            Format::Parquet | Format::Arrow => {
                let Output::File(file) = out else {
                    return Err(Error::Usage(format!(
                        "{} cannot be written to stdout: name an output file",
                        options.format.extension()
                    )));
                };
                let schema = options.schema.clone().expect("typed formats have a schema");
                let batch = options.batch_rows;
                let decoder =
                    ParallelDecoder::new(crate::DECODE_THREADS, batch, || match &options.sample {
                        Some(sample) => RecordDecoder::sampled(sample, batch)?.ok_or_else(|| {
                            Error::Other("a sampled schema must have flat columns".into())
                        }),
                        None => RecordDecoder::new(schema.clone(), batch, options.strict),
                    })?;
                if options.format == Format::Parquet {
                    if schema.fields().is_empty() {
                        sluice_stream::progress::note(format_args!(
                            "load: no records, so {name} has no columns: some readers (DuckDB \
                             among them) refuse such a file; --schema FILE gives it columns"
                        ));
                    }
                    let props = parquet_properties(options)?;
                    let writer = ArrowWriter::try_new(
                        Counted {
                            inner: file,
                            bytes: 0,
                        },
                        schema,
                        Some(props),
                    )
                    .map_err(|e| fail(&e))?;
                    Kind::Parquet(Box::new(writer), decoder)
                } else {
                    let ipc_options = arrow_ipc::writer::IpcWriteOptions::default()
                        .try_with_compression(match options.codec {
                            Codec::None => None,
                            Codec::Zstd => Some(arrow_ipc::CompressionType::ZSTD),
                            Codec::Lz4 => Some(arrow_ipc::CompressionType::LZ4_FRAME),
                            other => {
                                return Err(Error::Usage(format!(
                                    "Arrow files take zstd, lz4 or none, not {other:?}"
                                )))
                            }
                        })
                        .map_err(|e| fail(&e))?;
                    let out = Counted {
                        inner: BufWriter::with_capacity(1 << 20, file),
                        bytes: 0,
                    };
                    let writer = arrow_ipc::writer::FileWriter::try_new_with_options(
                        out,
                        &schema,
                        ipc_options,
                    )
                    .map_err(|e| fail(&e))?;
                    Kind::Arrow(Box::new(writer), decoder)
                }
            }
        };
        let columns = match options.format {
            Format::Ndjson => None,
            Format::Csv | Format::Tsv => Some(options.columns.len()),
            Format::Parquet | Format::Arrow => options.schema.as_ref().map(|s| s.fields().len()),
        };
        Ok(FileWriter {
            name: name.to_string(),
            kind,
            columns,
            rows: 0,
            decoded: Vec::new(),
            unfit: false,
        })
    }

    /// Writes one record: `line` is its JSON text, `fields` its top-level fields (needed by
    /// CSV only; empty otherwise). Typed formats queue records and write whole batches.
    pub fn write(
        &mut self,
        line: &[u8],
        fields: &Fields,
        place: RecordPlace,
        rejects: &mut Rejects,
    ) -> Result<()> {
        let name = &self.name;
        let io_err = |e: io::Error| Error::io(format!("cannot write {name}"), e);
        match &mut self.kind {
            Kind::Ndjson(out) => {
                out.write_all(line)
                    .and_then(|()| out.write_all(b"\n"))
                    .map_err(io_err)?;
                self.rows += 1;
            }
            Kind::Csv(writer, columns) => {
                for column in columns.iter() {
                    let text = field(fields, column).and_then(scalar_text);
                    writer
                        .write_field(text.as_deref().unwrap_or(""))
                        .map_err(|e| csv_error(name, e))?;
                }
                writer
                    .write_record(None::<&[u8]>)
                    .map_err(|e| csv_error(name, e))?;
                self.rows += 1;
            }
            Kind::Parquet(_, decoder) | Kind::Arrow(_, decoder) => {
                decoder.push(line, place, &mut self.decoded)?;
                self.write_decoded(rejects)?;
            }
        }
        Ok(())
    }

    /// Writes a block of whole NDJSON lines (typed formats only; see
    /// [`ParallelDecoder::push_block`]).
    pub fn write_block(
        &mut self,
        block: &[u8],
        source: Arc<str>,
        line: u64,
        byte: u64,
        rejects: &mut Rejects,
    ) -> Result<()> {
        if let Kind::Parquet(_, decoder) | Kind::Arrow(_, decoder) = &mut self.kind {
            decoder.push_block(block, source, line, byte, &mut self.decoded)?;
        }
        self.write_decoded(rejects)
    }

    /// Decodes and writes everything queued, so that [`FileWriter::unfit`] is final.
    pub fn drain(&mut self, rejects: &mut Rejects) -> Result<()> {
        if let Kind::Parquet(_, decoder) | Kind::Arrow(_, decoder) = &mut self.kind {
            decoder.finish(&mut self.decoded)?;
        }
        self.write_decoded(rejects)
    }

    /// True when, with a sampled schema, a record turned up that does not fit it: the file
    /// is incomplete and must be abandoned.
    pub fn unfit(&self) -> bool {
        self.unfit
    }

    /// Writes batches that finished decoding, and hands misfits to the policy, in order.
    fn write_decoded(&mut self, rejects: &mut Rejects) -> Result<()> {
        let name = &self.name;
        let fail = |e: &dyn std::fmt::Display| Error::Other(format!("cannot write {name}: {e}"));
        for decoded in self.decoded.drain(..) {
            self.unfit |= decoded.unfit;
            if self.unfit {
                continue;
            }
            for misfit in &decoded.misfits {
                misfit.reject(rejects)?;
            }
            for batch in decoded.batches {
                self.rows += batch.num_rows() as u64;
                match &mut self.kind {
                    Kind::Parquet(writer, _) => writer.write(&batch).map_err(|e| fail(&e))?,
                    Kind::Arrow(writer, _) => writer.write(&batch).map_err(|e| fail(&e))?,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Bytes written so far, with what a Parquet writer still buffers.
    pub fn bytes(&self) -> u64 {
        match &self.kind {
            Kind::Ndjson(out) => out.bytes(),
            Kind::Csv(writer, _) => writer.get_ref().bytes(),
            Kind::Parquet(writer, _) => (writer.bytes_written() + writer.in_progress_size()) as u64,
            Kind::Arrow(writer, _) => writer.get_ref().bytes,
        }
    }

    /// Writes what is queued and closes the format (footer, compression trailer).
    /// Returns the rows and bytes written.
    pub fn finish(mut self, rejects: &mut Rejects) -> Result<(u64, u64)> {
        self.drain(rejects)?;
        if self.unfit {
            return Err(Error::Other(format!(
                "cannot finish {}: records do not fit its sampled schema",
                self.name
            )));
        }
        let name = self.name.clone();
        // A file without columns would keep no trace of the records.
        if self.rows > 0 && self.columns == Some(0) {
            return Err(Error::Other(format!(
                "cannot write {name}: the {} record(s) have no fields, and a file of columns \
                 needs at least one (write NDJSON, or add a field with transform --set)",
                self.rows
            )));
        }
        let io_err = |e: io::Error| Error::io(format!("cannot write {name}"), e);
        let fail = |e: &dyn std::fmt::Display| Error::Other(format!("cannot write {name}: {e}"));
        let bytes = match self.kind {
            Kind::Ndjson(out) => out.finish().map_err(io_err)?,
            Kind::Csv(writer, _) => writer
                .into_inner()
                .map_err(|e| io_err(e.into_error()))?
                .finish()
                .map_err(io_err)?,
            Kind::Parquet(writer, _) => writer.into_inner().map_err(|e| fail(&e))?.bytes,
            Kind::Arrow(mut writer, _) => {
                writer.finish().map_err(|e| fail(&e))?;
                writer.get_mut().flush().map_err(io_err)?;
                writer.get_ref().bytes
            }
        };
        Ok((self.rows, bytes))
    }
}

/// A CSV writer's error, keeping an I/O error as one (so that a closed stdout is told apart).
fn csv_error(name: &str, e: csv::Error) -> Error {
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(e) => Error::io(format!("cannot write {name}"), e),
        _ => Error::Other(format!("cannot write {name}: {text}")),
    }
}

/// Where a file's bytes go.
pub enum Output {
    /// A file (the temporary file of an atomic output).
    File(File),
    /// Standard output.
    Stdout,
}

impl Output {
    fn into_write(self) -> Box<dyn Write + Send> {
        match self {
            Output::File(f) => Box::new(f),
            Output::Stdout => {
                let stdout = io::stdout();
                sluice_stream::pipe::widen(&stdout);
                Box::new(stdout)
            }
        }
    }
}

fn parquet_properties(options: &WriterOptions) -> Result<WriterProperties> {
    let codec = match options.codec {
        Codec::None => ParquetCodec::UNCOMPRESSED,
        Codec::Snappy => ParquetCodec::SNAPPY,
        Codec::Gzip => ParquetCodec::GZIP(GzipLevel::default()),
        Codec::Zstd => ParquetCodec::ZSTD(ZstdLevel::default()),
        Codec::Lz4 => ParquetCodec::LZ4_RAW,
    };
    Ok(WriterProperties::builder()
        .set_compression(codec)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .set_created_by(format!("sluice load {}", env!("CARGO_PKG_VERSION")))
        .build())
}
