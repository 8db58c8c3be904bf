//! JSON records to Arrow record batches, with every bad record isolated and named.

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_json::reader::Decoder;
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use sluice_stream::json::is_blank;
use sluice_stream::{Error, Position, Rejects, Result};

use crate::fields::FieldDecoders;
use crate::flat::FlatDecoder;
use crate::infer::SchemaInference;

/// Where a queued record came from, for error messages.
#[derive(Debug, Clone)]
pub struct RecordPlace {
    /// The input's name.
    pub source: Arc<str>,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line.
    pub byte: u64,
}

/// Records queued for decoding: their bytes (each followed by `\n`), ends and places; or a
/// block of whole NDJSON lines whose places are worked out only if a record does not fit.
#[derive(Debug, Default)]
pub struct Chunk {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    places: Vec<RecordPlace>,
    /// For a block: its source, first line number and first byte offset.
    block: Option<(Arc<str>, u64, u64)>,
}

impl Chunk {
    /// Queues one record (a JSON object line without its newline).
    pub fn push(&mut self, record: &[u8], place: RecordPlace) {
        self.bytes.extend_from_slice(record);
        self.bytes.push(b'\n');
        self.ends.push(self.bytes.len());
        self.places.push(place);
    }

    /// Records queued.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.places.clear();
        self.block = None;
    }

    /// Splits a block into records with their places (blank lines left out).
    fn split_block(&mut self) {
        let Some((source, first_line, first_byte)) = self.block.take() else {
            return;
        };
        let bytes = std::mem::take(&mut self.bytes);
        let mut start = 0;
        let mut line = first_line;
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            let record = &bytes[start..end];
            let record = record.strip_suffix(b"\r").unwrap_or(record);
            if !is_blank(record) {
                let place = RecordPlace {
                    source: source.clone(),
                    line,
                    byte: first_byte + start as u64,
                };
                self.push(record, place);
            }
            start = end + 1;
            line += 1;
        }
    }
}

/// A record that did not fit the schema.
#[derive(Debug)]
pub struct Misfit {
    /// Where it came from.
    pub place: RecordPlace,
    /// Arrow's reason.
    pub reason: String,
    /// The record's bytes.
    pub raw: Vec<u8>,
}

impl Misfit {
    /// Hands the record to the `--on-error` policy.
    pub fn reject(&self, rejects: &mut Rejects) -> Result<()> {
        let position = Position {
            source: self.place.source.to_string(),
            line: Some(self.place.line),
            byte: Some(self.place.byte),
            row: None,
        };
        rejects.reject(&position, &self.reason, &self.raw, false)
    }
}

/// What decoding a chunk gives.
#[derive(Debug, Default)]
pub struct Decoded {
    /// The records that fit, in batches.
    pub batches: Vec<RecordBatch>,
    /// The records that did not fit.
    pub misfits: Vec<Misfit>,
    /// For a decoder of a sampled schema ([`RecordDecoder::sampled`]): the chunk has a record
    /// that would have changed the schema, or that is bad. Nothing of it was decoded.
    pub unfit: bool,
}

/// True when `schema` has only flat primitive columns, so that [`RecordDecoder::sampled`] can
/// check records against it as it decodes them.
pub fn decodes_flat(schema: &SchemaRef) -> bool {
    FlatDecoder::new(schema.clone(), 1, true, true).is_some()
}

/// Turns chunks of JSON object lines into record batches of a fixed schema. Records that do
/// not fit are isolated one by one and returned with Arrow's reason; the others are kept.
pub struct RecordDecoder {
    schema: SchemaRef,
    decoder: Decoder,
    /// The fast path for flat schemas (see [`crate::flat`]).
    flat: Option<FlatDecoder>,
    batch_size: usize,
    strict: bool,
    /// The inference the schema came from, when it saw only a sample of the input.
    sample: Option<SchemaInference>,
}

impl RecordDecoder {
    /// A decoder for `schema` producing batches of up to `batch_size` rows. With `strict`, a
    /// field the schema does not name is an error (never silently dropped).
    pub fn new(schema: SchemaRef, batch_size: usize, strict: bool) -> Result<Self> {
        let decoder = build(&schema, batch_size, strict)?;
        Ok(RecordDecoder {
            flat: FlatDecoder::new(schema.clone(), batch_size, strict, false),
            schema,
            decoder,
            batch_size,
            strict,
            sample: None,
        })
    }

    /// A strict decoder for the schema `sample` inferred from the start of the input, checking
    /// that every later record would have left that schema as it is: a chunk with one that
    /// would not comes back [`Decoded::unfit`]. `None` unless the schema is flat (primitive
    /// columns only), where the check costs next to nothing.
    pub fn sampled(sample: &SchemaInference, batch_size: usize) -> Result<Option<Self>> {
        let schema = Arc::new(sample.schema());
        let Some(flat) = FlatDecoder::new(schema.clone(), batch_size, true, true) else {
            return Ok(None);
        };
        Ok(Some(RecordDecoder {
            decoder: build(&schema, batch_size, true)?,
            flat: Some(flat),
            schema,
            batch_size,
            strict: true,
            sample: Some(sample.clone()),
        }))
    }

    /// Decodes a chunk and empties it.
    pub fn decode(&mut self, chunk: &mut Chunk) -> Result<Decoded> {
        if chunk.is_empty() && chunk.block.is_none() {
            return Ok(Decoded::default());
        }
        if let Some(batches) = self.flat.as_mut().and_then(|f| f.decode(&chunk.bytes)) {
            chunk.clear();
            return Ok(Decoded {
                batches,
                ..Decoded::default()
            });
        }
        if let Some(sample) = &self.sample {
            chunk.split_block();
            if !keeps_schema(sample, &self.schema, chunk) {
                chunk.clear();
                return Ok(Decoded {
                    unfit: true,
                    ..Decoded::default()
                });
            }
        }
        let mut decoded = match decode_all(&mut self.decoder, &chunk.bytes) {
            Ok(batches) => Decoded {
                batches,
                ..Decoded::default()
            },
            Err(_) => {
                self.decoder = build(&self.schema, self.batch_size, self.strict)?;
                chunk.split_block();
                self.isolate_misfits(chunk)?
            }
        };
        chunk.clear();
        if self.sample.is_some() && !decoded.misfits.is_empty() {
            decoded = Decoded {
                unfit: true,
                ..Decoded::default()
            };
        }
        Ok(decoded)
    }

    /// Decodes each record alone to find those that fail, and decodes the others together.
    fn isolate_misfits(&mut self, chunk: &Chunk) -> Result<Decoded> {
        let mut good = Vec::with_capacity(chunk.bytes.len());
        let mut misfits = Vec::new();
        let mut start = 0;
        for (&end, place) in chunk.ends.iter().zip(&chunk.places) {
            let record = &chunk.bytes[start..end];
            start = end;
            match decode_all(&mut self.decoder, record) {
                Ok(_) => good.extend_from_slice(record),
                Err(e) => {
                    self.decoder = build(&self.schema, self.batch_size, self.strict)?;
                    misfits.push(Misfit {
                        place: place.clone(),
                        reason: describe(&e),
                        raw: record[..record.len() - 1].to_vec(),
                    });
                }
            }
        }
        let batches =
            decode_all(&mut self.decoder, &good).map_err(|e| Error::Other(describe(&e)))?;
        Ok(Decoded {
            batches,
            misfits,
            unfit: false,
        })
    }
}

/// True when every record of `chunk` (split into records) is sound and inferring it on top of
/// `sample` leaves `schema` as it is.
fn keeps_schema(sample: &SchemaInference, schema: &Schema, chunk: &Chunk) -> bool {
    let mut seeded = sample.clone();
    let mut start = 0;
    for &end in &chunk.ends {
        let record = &chunk.bytes[start..end - 1];
        start = end;
        let sound = std::str::from_utf8(record)
            .is_ok_and(|text| text.trim_start().starts_with('{') && seeded.add(text).is_ok());
        if !sound {
            return false;
        }
    }
    seeded.schema() == *schema
}

/// A decoder thread: where its chunks go, and where their results (and the emptied chunks,
/// for reuse) come back.
type Worker = (SyncSender<Chunk>, Receiver<Result<(Decoded, Chunk)>>);

/// Decodes chunks on worker threads, handing batches back in the order the chunks were given.
pub struct ParallelDecoder {
    workers: Vec<Worker>,
    /// Workers with a chunk in flight, oldest first.
    in_flight: VecDeque<usize>,
    next: usize,
    chunk: Chunk,
    spare: Vec<Chunk>,
    batch_size: usize,
}

impl ParallelDecoder {
    /// Starts `threads` decoder threads, each with a decoder from `make`, for records queued
    /// in chunks of `batch_size`.
    pub fn new(
        threads: usize,
        batch_size: usize,
        mut make: impl FnMut() -> Result<RecordDecoder>,
    ) -> Result<Self> {
        let mut workers = Vec::new();
        for _ in 0..threads.max(1) {
            let mut decoder = make()?;
            let (send_chunk, chunks) = sync_channel::<Chunk>(2);
            let (send_result, results) = sync_channel(2);
            std::thread::spawn(move || {
                for mut chunk in chunks {
                    let result = decoder.decode(&mut chunk).map(|d| (d, chunk));
                    if send_result.send(result).is_err() {
                        return;
                    }
                }
            });
            workers.push((send_chunk, results));
        }
        Ok(ParallelDecoder {
            workers,
            in_flight: VecDeque::new(),
            next: 0,
            chunk: Chunk::default(),
            spare: Vec::new(),
            batch_size,
        })
    }

    /// Queues a record; returns what finished decoding meanwhile (in order).
    pub fn push(
        &mut self,
        record: &[u8],
        place: RecordPlace,
        done: &mut Vec<Decoded>,
    ) -> Result<()> {
        self.chunk.push(record, place);
        if self.chunk.len() >= self.batch_size {
            self.send(done)?;
        }
        Ok(())
    }

    /// Queues a block of whole NDJSON lines (ending with `\n`), starting at `line` and `byte`
    /// of `source`; returns what finished decoding meanwhile (in order).
    pub fn push_block(
        &mut self,
        block: &[u8],
        source: Arc<str>,
        line: u64,
        byte: u64,
        done: &mut Vec<Decoded>,
    ) -> Result<()> {
        if !self.chunk.is_empty() {
            self.send(done)?;
        }
        self.chunk.bytes.extend_from_slice(block);
        self.chunk.block = Some((source, line, byte));
        self.send(done)
    }

    fn send(&mut self, done: &mut Vec<Decoded>) -> Result<()> {
        if self.in_flight.len() >= self.workers.len() * 2 {
            self.receive(done)?;
        }
        let chunk = std::mem::replace(&mut self.chunk, self.spare.pop().unwrap_or_default());
        let worker = self.next;
        self.next = (self.next + 1) % self.workers.len();
        self.workers[worker]
            .0
            .send(chunk)
            .map_err(|_| Error::Other("a decoder thread stopped".into()))?;
        self.in_flight.push_back(worker);
        Ok(())
    }

    fn receive(&mut self, done: &mut Vec<Decoded>) -> Result<()> {
        if let Some(worker) = self.in_flight.pop_front() {
            let (decoded, chunk) = self.workers[worker]
                .1
                .recv()
                .map_err(|_| Error::Other("a decoder thread stopped".into()))??;
            self.spare.push(chunk);
            done.push(decoded);
        }
        Ok(())
    }

    /// Decodes everything queued and returns it (in order).
    pub fn finish(&mut self, done: &mut Vec<Decoded>) -> Result<()> {
        if !self.chunk.is_empty() {
            self.send(done)?;
        }
        while !self.in_flight.is_empty() {
            self.receive(done)?;
        }
        Ok(())
    }
}

fn describe(e: &ArrowError) -> String {
    let text = e.to_string();
    let text = text.strip_prefix("Json error: ").unwrap_or(&text);
    format!("does not fit the schema: {text}")
}

fn build(schema: &SchemaRef, batch_size: usize, strict: bool) -> Result<Decoder> {
    ReaderBuilder::new(schema.clone())
        .with_batch_size(batch_size)
        .with_coerce_primitive(true)
        .with_strict_mode(strict)
        .with_decoder_factory(Arc::new(FieldDecoders))
        .build_decoder()
        .map_err(|e| Error::Other(format!("cannot decode records with this schema: {e}")))
}

fn decode_all(decoder: &mut Decoder, mut bytes: &[u8]) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut batches = Vec::new();
    while !bytes.is_empty() {
        let used = decoder.decode(bytes)?;
        bytes = &bytes[used..];
        if !bytes.is_empty() {
            // The decoder stopped at its batch size.
            batches.extend(decoder.flush()?);
        }
    }
    batches.extend(decoder.flush()?);
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::SchemaInference;
    use arrow_array::cast::AsArray;
    use sluice_stream::OnError;

    fn decode(records: &[&str], schema: SchemaRef) -> (Option<RecordBatch>, u64) {
        let mut decoder =
            ParallelDecoder::new(2, 2, || RecordDecoder::new(schema.clone(), 2, true)).unwrap();
        let mut done = Vec::new();
        for (i, r) in records.iter().enumerate() {
            let place = RecordPlace {
                source: "t".into(),
                line: i as u64 + 1,
                byte: 0,
            };
            decoder.push(r.as_bytes(), place, &mut done).unwrap();
        }
        decoder.finish(&mut done).unwrap();
        let mut rejects = Rejects::new(OnError::Skip, "test").unwrap();
        let mut batches = Vec::new();
        for decoded in done {
            batches.extend(decoded.batches);
            for m in decoded.misfits {
                m.reject(&mut rejects).unwrap();
            }
        }
        let batch = (!batches.is_empty())
            .then(|| arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap());
        (batch, rejects.count())
    }

    #[test]
    fn the_flat_fast_path_decodes_as_arrow_json_does() {
        let records = [
            r#"{"i":1,"f":2,"s":"a","b":true,"t":"2013-01-01T10:00:00Z","n":"2013-01-01 10:00:00.5","d":"2013-01-02"}"#,
            r#"{"f":2.5e3,"i":-7,"s":"tab\\tx é \"\u00e9\ud83d\ude00","b":false,"t":"2013-01-01T05:00:00-05:00","d":null}"#,
            r#"{"i":null,"f":null,"s":null,"b":null,"t":null,"n":"2020-02-29T23:59:59.123456","d":"1969-12-31"}"#,
        ];
        let mut inference = crate::infer::SchemaInference::new(true);
        for r in records {
            inference.add(r).unwrap();
        }
        let schema = Arc::new(inference.schema());
        let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
        let mut plain: String = records[..1]
            .iter()
            .chain(&records[2..])
            .map(|r| format!("{r}\n"))
            .collect();
        plain.push_str("\n{\"i\":3,\"extra\":[1],\"s\":\"x\"}\r\n");
        let mut flat = FlatDecoder::new(schema.clone(), 2, false, false).expect("a flat schema");
        for text in [&lines, &plain] {
            let fast = flat.decode(text.as_bytes()).expect("flat records");
            let mut decoder = build(&schema, 2, false).unwrap();
            let slow = decode_all(&mut decoder, text.as_bytes()).unwrap();
            assert_eq!(fast, slow);
        }
        // An escaped date is left to arrow-json.
        assert!(flat.decode(br#"{"d":"2013-01-0\u0032"}"#).is_none());
        let mut strict = FlatDecoder::new(schema, 2, true, false).unwrap();
        assert!(
            strict.decode(plain.as_bytes()).is_none(),
            "extra is not in the schema"
        );
    }

    #[test]
    fn blocks_find_their_misfits_by_line() {
        let schema = Arc::new(
            crate::schema::from_json(&serde_json::json!({"fields":[{"name":"a","type":"int64"}]}))
                .unwrap(),
        );
        let mut decoder =
            ParallelDecoder::new(2, 4, || RecordDecoder::new(schema.clone(), 4, true)).unwrap();
        let mut done = Vec::new();
        let block = b"{\"a\":1}\n\n{\"a\":\"x\"}\r\n{\"a\":3}\n";
        decoder
            .push_block(block, "f".into(), 10, 100, &mut done)
            .unwrap();
        decoder.finish(&mut done).unwrap();
        let rows: usize = done
            .iter()
            .flat_map(|d| &d.batches)
            .map(|b| b.num_rows())
            .sum();
        let misfits: Vec<_> = done.iter().flat_map(|d| &d.misfits).collect();
        assert_eq!(rows, 2);
        assert_eq!(misfits.len(), 1);
        assert_eq!(misfits[0].place.line, 12);
        assert_eq!(misfits[0].place.byte, 109);
        assert_eq!(misfits[0].raw, b"{\"a\":\"x\"}");
    }

    #[test]
    fn mixed_fields_are_kept_as_json_text() {
        let records = [
            r#"{"m":{"b":[1,"x"],"a":null}}"#,
            r#"{"m":3}"#,
            r#"{"m":"s"}"#,
        ];
        let mut inference = SchemaInference::new(true);
        for r in records {
            inference.add(r).unwrap();
        }
        let (batch, rejected) = decode(&records, Arc::new(inference.schema()));
        let batch = batch.unwrap();
        assert_eq!(rejected, 0);
        let m = batch.column(0).as_string::<i32>();
        assert_eq!(m.value(0), r#"{"b":[1,"x"],"a":null}"#);
        assert_eq!(m.value(1), "3");
        assert_eq!(m.value(2), "\"s\"");
    }

    #[test]
    fn records_that_do_not_fit_are_rejected_alone() {
        let schema = Arc::new(
            crate::schema::from_json(&serde_json::json!({"fields":[
            {"name":"a","type":"int64","nullable":false}]}))
            .unwrap(),
        );
        let (batch, rejected) = decode(
            &[
                r#"{"a":1}"#,
                r#"{"a":"x"}"#,
                r#"{"b":2,"a":3}"#,
                r#"{}"#,
                r#"{"a":4}"#,
            ],
            schema,
        );
        assert_eq!(rejected, 3);
        let batch = batch.unwrap();
        assert_eq!(batch.num_rows(), 2);
    }

    /// Decodes `block` with a decoder sampled from `sample`; `None` when it comes back unfit.
    fn sampled(sample: &[&str], block: &str) -> Option<Vec<RecordBatch>> {
        let mut inference = SchemaInference::new(true);
        for r in sample {
            inference.add(r).unwrap();
        }
        let mut decoder = RecordDecoder::sampled(&inference, 8)
            .unwrap()
            .expect("flat");
        let mut chunk = Chunk {
            bytes: block.as_bytes().to_vec(),
            block: Some(("t".into(), 1, 0)),
            ..Chunk::default()
        };
        let decoded = decoder.decode(&mut chunk).unwrap();
        assert!(decoded.misfits.is_empty());
        (!decoded.unfit).then_some(decoded.batches)
    }

    #[test]
    fn a_sampled_schema_takes_only_records_that_keep_it() {
        let sample = [
            r#"{"i":1,"f":1.5,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z","n":null}"#,
            r#"{"i":2,"f":2,"s":"b","d":"2013-01-03","t":"2013-01-01T11:00:00Z","n":"x"}"#,
        ];
        let fits = [
            r#"{"i":3,"f":7,"s":"c","d":"2013-01-04","t":"2013-01-01T12:00:00.5Z","n":null}"#,
            // An escaped string, and a float written as an integer.
            r#"{"i":4,"f":-0,"s":"tab\tx","d":"2013-01-04","t":"2013-01-01T12:00:00+01:00"}"#,
            // A number in a string column is a string, as inference over everything would say.
            r#"{"i":5,"f":1,"s":5,"d":"2013-01-04","t":"2013-01-01T12:00:00Z"}"#,
        ];
        let block: String = fits.iter().map(|r| format!("{r}\n")).collect();
        let batches = sampled(&sample, &block).expect("these fit");
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
        let widening = [
            r#"{"i":1.5,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":-0,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":null,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":1,"f":1,"s":"a","d":"2013-01-02T00:00:00","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":1,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00"}"#,
            r#"{"i":1,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00.123456789Z"}"#,
            r#"{"i":1,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01 10:00Z"}"#,
            r#"{"i":1,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z","new":1}"#,
            r#"{"i":1,"f":1e400,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":1,"f":1.7976931348623158e308,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"{"i":9223372036854775808,"f":1,"s":"a","d":"2013-01-02","t":"2013-01-01T10:00:00Z"}"#,
            r#"["not an object"]"#,
        ];
        for record in widening {
            assert!(
                sampled(&sample, &format!("{}\n{record}\n", fits[0])).is_none(),
                "{record} was taken"
            );
        }
    }
}
