//! The schema file (`--schema`, `--schema-out`): a small, documented JSON form of an Arrow schema.
//!
//! ```json
//! {"fields": [
//!   {"name": "year", "type": "int64", "nullable": false},
//!   {"name": "time_hour", "type": "timestamp_tz"},
//!   {"name": "tags", "type": {"list": "string"}},
//!   {"name": "plane", "type": {"struct": [{"name": "seats", "type": "int32"}]}}
//! ]}
//! ```
//!
//! Types: `null`, `boolean`, `int8`, `int16`, `int32`, `int64`, `uint8`, `uint16`, `uint32`,
//! `uint64`, `float32`, `float64`, `string`, `json` (nested values kept as JSON text), `date`,
//! `timestamp` (no time zone) and `timestamp_tz` (UTC), both microseconds unless written
//! `timestamp(ns)`, `timestamp_tz(ms)` and so on, `decimal(P,S)` (P up to 76), `{"list": TYPE}` and
//! `{"struct": [FIELD, …]}`. `nullable` defaults to true.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use serde_json::{json, Map, Value};

/// The Arrow extension type name that marks a string column holding JSON text.
pub const JSON_EXTENSION: &str = "arrow.json";

/// A string field whose values are JSON text (nested values written as compact JSON).
pub fn json_field(name: &str, nullable: bool) -> Field {
    // The canonical extension's metadata is empty: with it, Parquet files mark the column with
    // the JSON logical type, so other readers know it too.
    Field::new(name, DataType::Utf8, nullable).with_metadata(HashMap::from([
        (
            "ARROW:extension:name".to_string(),
            JSON_EXTENSION.to_string(),
        ),
        ("ARROW:extension:metadata".to_string(), String::new()),
    ]))
}

/// True for a field made by [`json_field`].
pub fn is_json_field(field: &Field) -> bool {
    field
        .metadata()
        .get("ARROW:extension:name")
        .is_some_and(|n| n == JSON_EXTENSION)
}

/// Writes a schema in the documented JSON form.
pub fn to_json(schema: &Schema) -> Result<Value, String> {
    Ok(json!({ "fields": fields_to_json(schema.fields())? }))
}

fn fields_to_json(fields: &Fields) -> Result<Vec<Value>, String> {
    fields
        .iter()
        .map(|f| {
            let mut obj = Map::new();
            obj.insert("name".into(), Value::String(f.name().clone()));
            obj.insert("type".into(), type_to_json(f)?);
            obj.insert("nullable".into(), Value::Bool(f.is_nullable()));
            Ok(Value::Object(obj))
        })
        .collect()
}

fn type_to_json(field: &Field) -> Result<Value, String> {
    if is_json_field(field) {
        return Ok(Value::String("json".into()));
    }
    let unit = |u: &TimeUnit| match u {
        TimeUnit::Second => "(s)",
        TimeUnit::Millisecond => "(ms)",
        TimeUnit::Microsecond => "",
        TimeUnit::Nanosecond => "(ns)",
    };
    let name = match field.data_type() {
        DataType::Null => "null".to_string(),
        DataType::Boolean => "boolean".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::UInt64 => "uint64".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(u, None) => format!("timestamp{}", unit(u)),
        DataType::Timestamp(u, Some(_)) => format!("timestamp_tz{}", unit(u)),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("decimal({p},{s})"),
        DataType::List(item) | DataType::LargeList(item) => {
            return Ok(json!({ "list": type_to_json(item)? }))
        }
        DataType::Struct(fields) => return Ok(json!({ "struct": fields_to_json(fields)? })),
        other => return Err(format!("type {other} has no schema-file form")),
    };
    Ok(Value::String(name))
}

/// Reads a schema in the documented JSON form.
pub fn from_json(value: &Value) -> Result<Schema, String> {
    let fields = value
        .get("fields")
        .ok_or("a schema is an object with a \"fields\" array")?;
    Ok(Schema::new(fields_from_json(fields)?))
}

fn fields_from_json(value: &Value) -> Result<Fields, String> {
    let list = value.as_array().ok_or("\"fields\" must be an array")?;
    let mut seen = std::collections::HashSet::new();
    list.iter()
        .map(|f| {
            let name = f
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("a field needs a \"name\" string: {f}"))?;
            if !seen.insert(name) {
                return Err(format!("field {name:?} is named twice"));
            }
            let nullable = match f.get("nullable") {
                None => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(format!(
                        "\"nullable\" of {name:?} must be true or false, not {other}"
                    ))
                }
            };
            let ty = f
                .get("type")
                .ok_or_else(|| format!("field {name:?} needs a \"type\""))?;
            field_from_json(name, ty, nullable).map(Arc::new)
        })
        .collect()
}

fn field_from_json(name: &str, ty: &Value, nullable: bool) -> Result<Field, String> {
    let data_type = match ty {
        Value::String(t) if t == "json" => return Ok(json_field(name, nullable)),
        Value::String(t) if t.trim().starts_with("decimal(") => {
            decimal_type(t.trim()).map_err(|why| format!("field {name:?} has type {t:?}: {why}"))?
        }
        Value::String(t) => parse_type_name(t).ok_or_else(|| {
            format!("field {name:?} has unknown type {t:?} (see the schema file documentation)")
        })?,
        Value::Object(o) if o.len() == 1 && o.contains_key("list") => {
            let item = field_from_json("item", &o["list"], true)?;
            DataType::List(Arc::new(item))
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("struct") => {
            DataType::Struct(fields_from_json(&o["struct"])?)
        }
        other => return Err(format!("field {name:?} has an invalid type {other}")),
    };
    Ok(Field::new(name, data_type, nullable))
}

fn parse_type_name(t: &str) -> Option<DataType> {
    let t = t.trim();
    let unit = |suffix: &str| match suffix {
        "" | "(us)" => Some(TimeUnit::Microsecond),
        "(s)" => Some(TimeUnit::Second),
        "(ms)" => Some(TimeUnit::Millisecond),
        "(ns)" => Some(TimeUnit::Nanosecond),
        _ => None,
    };
    Some(match t {
        "null" => DataType::Null,
        "boolean" | "bool" => DataType::Boolean,
        "int8" => DataType::Int8,
        "int16" => DataType::Int16,
        "int32" => DataType::Int32,
        "int64" | "int" => DataType::Int64,
        "uint8" => DataType::UInt8,
        "uint16" => DataType::UInt16,
        "uint32" => DataType::UInt32,
        "uint64" => DataType::UInt64,
        "float32" => DataType::Float32,
        "float64" | "float" | "double" => DataType::Float64,
        "string" => DataType::Utf8,
        "date" => DataType::Date32,
        _ => {
            if let Some(rest) = t.strip_prefix("timestamp_tz") {
                DataType::Timestamp(unit(rest)?, Some("UTC".into()))
            } else if let Some(rest) = t.strip_prefix("timestamp") {
                DataType::Timestamp(unit(rest)?, None)
            } else {
                return None;
            }
        }
    })
}

/// `decimal(P,S)`: precision 1 to 76 (above 38, a 256-bit decimal) and scale 0 to P (Parquet
/// has no negative scales).
fn decimal_type(t: &str) -> Result<DataType, String> {
    let form = "write it decimal(P,S), with P from 1 to 76 and S from 0 to P";
    let args = t
        .strip_prefix("decimal(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or(form)?;
    let (p, s) = args.split_once(',').ok_or(form)?;
    let (Ok(p), Ok(s)) = (p.trim().parse::<u8>(), s.trim().parse::<u8>()) else {
        return Err(form.into());
    };
    if !(1..=76).contains(&p) || s > p {
        return Err(form.into());
    }
    let s = s as i8;
    Ok(if p > 38 {
        DataType::Decimal256(p, s)
    } else {
        DataType::Decimal128(p, s)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_files_round_trip() {
        let text = r#"{"fields":[
            {"name":"a","type":"int64","nullable":false},
            {"name":"t","type":"timestamp_tz(ns)"},
            {"name":"d","type":"decimal(10,2)"},
            {"name":"w","type":"decimal(60,9)"},
            {"name":"j","type":"json"},
            {"name":"l","type":{"list":"string"}},
            {"name":"s","type":{"struct":[{"name":"x","type":"date"}]}}
        ]}"#;
        let schema = from_json(&serde_json::from_str(text).unwrap()).unwrap();
        assert!(!schema.field(0).is_nullable());
        assert_eq!(
            schema.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        assert!(is_json_field(schema.field(4)));
        let back = from_json(&to_json(&schema).unwrap()).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn bad_schemas_say_why() {
        let err =
            from_json(&serde_json::json!({"fields":[{"name":"a","type":"int128"}]})).unwrap_err();
        assert!(err.contains("unknown type"), "{err}");
        let err = from_json(
            &serde_json::json!({"fields":[{"name":"a","type":"int8"},{"name":"a","type":"int8"}]}),
        )
        .unwrap_err();
        assert!(err.contains("twice"), "{err}");
        for bad in [
            "decimal(0,0)",
            "decimal(77,0)",
            "decimal(5,6)",
            "decimal(5,-2)",
            "decimal(5)",
        ] {
            let err =
                from_json(&serde_json::json!({"fields":[{"name":"a","type":bad}]})).unwrap_err();
            assert!(err.contains("P from 1 to 76"), "{bad}: {err}");
        }
    }
}
