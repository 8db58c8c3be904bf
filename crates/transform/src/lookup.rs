//! Lookup enrichment: a stream–table join against any file `extract` reads.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use sluice_expr::{json, Val};
use sluice_stream::scan;
use sluice_stream::{Error, Result};

use crate::value::{key, key_text, FieldPath};

/// What to do with a record whose key is not in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnMiss {
    /// Pass the record on unchanged.
    Keep,
    /// Leave the record out (counted in --stats and on stderr).
    Drop,
    /// Hand the record to --on-error.
    Reject,
}

/// One `--lookup`: the table, the join fields and what a miss does.
#[derive(Debug)]
pub struct LookupSpec {
    /// The record's field holding the key (a dotted path).
    pub on: String,
    /// Prefix for the added fields.
    pub prefix: String,
    /// What a miss does.
    pub miss: OnMiss,
    /// The table's file name, for messages.
    pub file: String,
    /// Table rows (NDJSON lines) by key text; the first row with a key wins.
    rows: HashMap<String, Box<[u8]>>,
}

impl LookupSpec {
    /// Loads `file` and indexes its rows by the field `table_key`.
    pub fn load(
        file: &str,
        on: String,
        table_key: &FieldPath,
        prefix: String,
        miss: OnMiss,
    ) -> Result<LookupSpec> {
        let records = sluice_extract::read_table(file)?;
        let names = table_key.byte_names();
        let mut rows = HashMap::new();
        let mut fields = Vec::new();
        for line in records.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            scan::object_fields(line, &mut fields)
                .map_err(|e| Error::Other(format!("lookup table {file}: {e}")))?;
            let scan::Found::Value(raw) = scan::lookup(line, &fields, &names) else {
                continue;
            };
            let value = json::parse_valid(raw).map_err(Error::Other)?;
            if matches!(value, Val::Null) {
                continue;
            }
            let text = key_text(&value).map_err(Error::Other)?;
            rows.entry(text).or_insert_with(|| line.into());
        }
        Ok(LookupSpec {
            on,
            prefix,
            miss,
            file: file.to_string(),
            rows,
        })
    }
}

/// The result of enriching one record.
pub enum Miss {
    /// The key was found and the fields added.
    Matched,
    /// No match; keep the record as it is.
    Keep,
    /// No match; leave the record out.
    Drop,
    /// No match; reject the record for this reason.
    Reject(String),
}

/// A lookup as one thread uses it: the shared table and the rows already parsed.
pub struct Lookup {
    spec: Arc<LookupSpec>,
    on: FieldPath,
    parsed: RefCell<HashMap<String, Vec<(Val, Val)>>>,
}

impl Lookup {
    /// Uses `spec` on this thread.
    pub fn new(spec: Arc<LookupSpec>) -> Lookup {
        Lookup {
            on: FieldPath::parse(&spec.on).expect("checked at startup"),
            spec,
            parsed: RefCell::new(HashMap::new()),
        }
    }

    /// Adds the matching row's fields (prefixed) to `record`.
    pub fn enrich(&self, record: &mut Val) -> Result<Miss, String> {
        let spec = &self.spec;
        let found = match self.on.get(record) {
            None | Some(Val::Null) => None,
            Some(value) => {
                let text = key_text(value)?;
                spec.rows.get(&text).map(|row| (text, row))
            }
        };
        let Some((text, row)) = found else {
            return Ok(match spec.miss {
                OnMiss::Keep => Miss::Keep,
                OnMiss::Drop => Miss::Drop,
                OnMiss::Reject => {
                    Miss::Reject(format!("no row of {} matches {}", spec.file, spec.on))
                }
            });
        };
        let mut parsed = self.parsed.borrow_mut();
        let fields = match parsed.get(&text) {
            Some(fields) => fields,
            None => {
                let Val::Obj(map) = json::parse_valid(row)? else {
                    return Err("a lookup row is not an object".to_string());
                };
                let fields = map
                    .iter()
                    .map(|(k, v)| {
                        let name = crate::value::as_text(k).unwrap_or_default();
                        (key(&format!("{}{name}", spec.prefix)), v.clone())
                    })
                    .collect();
                parsed.entry(text).or_insert(fields)
            }
        };
        let Val::Obj(map) = record else {
            return Err("the record is not an object".to_string());
        };
        let map = std::rc::Rc::make_mut(map);
        for (k, v) in fields {
            map.insert(k.clone(), v.clone());
        }
        Ok(Miss::Matched)
    }
}
