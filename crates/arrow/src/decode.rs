//! JSON records to Arrow record batches, with every bad record isolated and named.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_json::reader::{
    ArrayDecoder, Decoder, DecoderContext, DecoderFactory, Tape, TapeElement,
};
use arrow_json::ReaderBuilder;
use arrow_schema::{ArrowError, FieldRef, SchemaRef};
use sluice_stream::{Error, Position, Rejects, Result};

use crate::encode::write_f64;
use crate::json_string;
use crate::schema::is_json_field;

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

/// Turns JSON object lines into record batches of a fixed schema. Records that do not fit the
/// schema go to the `--on-error` policy with Arrow's reason, one by one; the others are kept.
pub struct RecordDecoder {
    schema: SchemaRef,
    decoder: Decoder,
    batch_size: usize,
    strict: bool,
    pending: Vec<u8>,
    ends: Vec<usize>,
    places: Vec<RecordPlace>,
}

impl RecordDecoder {
    /// A decoder for `schema` producing batches of up to `batch_size` rows. With `strict`, a
    /// field the schema does not name is an error (never silently dropped).
    pub fn new(schema: SchemaRef, batch_size: usize, strict: bool) -> Result<Self> {
        let decoder = build(&schema, batch_size, strict)?;
        Ok(RecordDecoder {
            schema,
            decoder,
            batch_size,
            strict,
            pending: Vec::new(),
            ends: Vec::new(),
            places: Vec::new(),
        })
    }

    /// The schema batches have.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Queues one record (a JSON object line without its newline).
    pub fn push(&mut self, record: &[u8], place: RecordPlace) {
        self.pending.extend_from_slice(record);
        self.pending.push(b'\n');
        self.ends.push(self.pending.len());
        self.places.push(place);
    }

    /// Records queued and not yet flushed.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// True when a full batch is queued.
    pub fn is_full(&self) -> bool {
        self.ends.len() >= self.batch_size
    }

    /// Decodes what is queued. Records that do not fit are handed to `rejects` (named by
    /// their source and line); the batch holds the rest.
    pub fn flush(&mut self, rejects: &mut Rejects) -> Result<Option<RecordBatch>> {
        if self.ends.is_empty() {
            return Ok(None);
        }
        let result = decode_all(&mut self.decoder, &self.pending);
        let batch = match result {
            Ok(batch) => batch,
            Err(_) => {
                self.decoder = build(&self.schema, self.batch_size, self.strict)?;
                self.isolate_bad_records(rejects)?
            }
        };
        self.pending.clear();
        self.ends.clear();
        self.places.clear();
        Ok(batch)
    }

    /// Decodes each queued record alone to find those that fail, rejects them, and decodes
    /// the others together.
    fn isolate_bad_records(&mut self, rejects: &mut Rejects) -> Result<Option<RecordBatch>> {
        let mut good = Vec::with_capacity(self.pending.len());
        let mut start = 0;
        for (&end, place) in self.ends.iter().zip(&self.places) {
            let record = &self.pending[start..end];
            start = end;
            match decode_all(&mut self.decoder, record) {
                Ok(_) => good.extend_from_slice(record),
                Err(e) => {
                    self.decoder = build(&self.schema, self.batch_size, self.strict)?;
                    let position = Position {
                        source: place.source.to_string(),
                        line: Some(place.line),
                        byte: Some(place.byte),
                        row: None,
                    };
                    let raw = &record[..record.len() - 1];
                    rejects.reject(&position, &describe(&e), raw, false)?;
                }
            }
        }
        decode_all(&mut self.decoder, &good).map_err(|e| Error::Other(describe(&e)))
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
        .with_decoder_factory(Arc::new(JsonTextFactory))
        .build_decoder()
        .map_err(|e| Error::Other(format!("cannot decode records with this schema: {e}")))
}

fn decode_all(decoder: &mut Decoder, mut bytes: &[u8]) -> Result<Option<RecordBatch>, ArrowError> {
    let mut batch = None;
    while !bytes.is_empty() {
        let used = decoder.decode(bytes)?;
        bytes = &bytes[used..];
        if !bytes.is_empty() || decoder.len() > 0 && used == 0 {
            // The decoder stopped at its batch size: callers flush at that size, so this
            // only happens when records were pushed past it.
            let next = decoder.flush()?;
            batch = concat(batch, next)?;
        }
    }
    let last = decoder.flush()?;
    concat(batch, last)
}

fn concat(
    a: Option<RecordBatch>,
    b: Option<RecordBatch>,
) -> Result<Option<RecordBatch>, ArrowError> {
    match (a, b) {
        (Some(a), Some(b)) => arrow_select::concat::concat_batches(&a.schema(), [&a, &b]).map(Some),
        (a, b) => Ok(a.or(b)),
    }
}

/// Decodes `arrow.json` string fields: any JSON value, written back as compact JSON text.
#[derive(Debug)]
struct JsonTextFactory;

impl DecoderFactory for JsonTextFactory {
    fn make_default_decoder(
        &self,
        _ctx: &DecoderContext,
        field: &FieldRef,
        _is_nullable: bool,
    ) -> Result<Option<Box<dyn ArrayDecoder>>, ArrowError> {
        Ok(is_json_field(field).then(|| Box::new(JsonTextDecoder::default()) as _))
    }
}

#[derive(Default)]
struct JsonTextDecoder {
    text: Vec<u8>,
}

impl ArrayDecoder for JsonTextDecoder {
    fn decode(&mut self, tape: &Tape<'_>, pos: &[u32]) -> Result<ArrayRef, ArrowError> {
        let mut builder = StringBuilder::with_capacity(pos.len(), pos.len() * 16);
        for &p in pos {
            match tape.get(p) {
                TapeElement::Null => builder.append_null(),
                TapeElement::String(idx) => builder.append_value(tape.get_string(idx)),
                _ => {
                    self.text.clear();
                    write_tape(tape, p, &mut self.text)?;
                    builder.append_value(
                        std::str::from_utf8(&self.text)
                            .map_err(|e| ArrowError::JsonError(e.to_string()))?,
                    );
                }
            }
        }
        Ok(Arc::new(builder.finish()))
    }
}

/// Writes the value at `idx` as compact JSON; returns the index after it.
fn write_tape(tape: &Tape<'_>, idx: u32, out: &mut Vec<u8>) -> Result<u32, ArrowError> {
    Ok(match tape.get(idx) {
        TapeElement::StartObject(end) => {
            out.push(b'{');
            let mut cur = idx + 1;
            while cur < end {
                if cur > idx + 1 {
                    out.push(b',');
                }
                cur = write_tape(tape, cur, out)?;
                out.push(b':');
                cur = write_tape(tape, cur, out)?;
            }
            out.push(b'}');
            end + 1
        }
        TapeElement::StartList(end) => {
            out.push(b'[');
            let mut cur = idx + 1;
            while cur < end {
                if cur > idx + 1 {
                    out.push(b',');
                }
                cur = write_tape(tape, cur, out)?;
            }
            out.push(b']');
            end + 1
        }
        TapeElement::String(s) => {
            json_string(out, tape.get_string(s).as_bytes());
            idx + 1
        }
        TapeElement::Number(s) => {
            out.extend_from_slice(tape.get_string(s).as_bytes());
            idx + 1
        }
        TapeElement::True => {
            out.extend_from_slice(b"true");
            idx + 1
        }
        TapeElement::False => {
            out.extend_from_slice(b"false");
            idx + 1
        }
        TapeElement::Null => {
            out.extend_from_slice(b"null");
            idx + 1
        }
        TapeElement::I64(high) => {
            let TapeElement::I32(low) = tape.get(idx + 1) else {
                return Err(tape.error(idx, "a 64-bit integer"));
            };
            let v = (i64::from(high) << 32) | i64::from(low as u32);
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            idx + 2
        }
        TapeElement::I32(v) => {
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
            idx + 1
        }
        TapeElement::F64(high) => {
            let TapeElement::F32(low) = tape.get(idx + 1) else {
                return Err(tape.error(idx, "a 64-bit float"));
            };
            write_f64(
                out,
                f64::from_bits((u64::from(high) << 32) | u64::from(low)),
            );
            idx + 2
        }
        TapeElement::F32(v) => {
            write_f64(out, f64::from(f32::from_bits(v)));
            idx + 1
        }
        TapeElement::EndObject(_) | TapeElement::EndList(_) => {
            return Err(tape.error(idx, "a value"));
        }
        _ => return Err(tape.error(idx, "a JSON value")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infer::SchemaInference;
    use arrow_array::cast::AsArray;
    use sluice_stream::OnError;

    fn decode(records: &[&str], schema: SchemaRef) -> (Option<RecordBatch>, u64) {
        let mut decoder = RecordDecoder::new(schema, 1024, true).unwrap();
        for (i, r) in records.iter().enumerate() {
            decoder.push(
                r.as_bytes(),
                RecordPlace {
                    line: i as u64 + 1,
                    byte: 0,
                },
            );
        }
        let mut rejects = Rejects::new(OnError::Skip, "test").unwrap();
        let batch = decoder.flush(&mut rejects).unwrap();
        (batch, rejects.count())
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
        assert_eq!(m.value(2), "s");
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
}
