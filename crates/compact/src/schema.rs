//! The lake's schema across inputs and commits: the union of columns, widened as `load`
//! widens within one input, with changes that cannot widen reported instead of coerced.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use sluice_arrow::schema::{is_json_field, json_field};

/// The union of `lake` and `new`: columns of both (the lake's first, in order), each of a type
/// that holds the values of both. A column one side lacks becomes nullable. Integers and floats
/// make floats; a string and another scalar make a string; structs merge their fields, lists
/// their items; a JSON-text column takes anything. A nested value where the other side has a
/// scalar, or a list where it has a struct, cannot widen: the error names the column (dotted
/// path) and both types.
pub fn union(lake: &Schema, new: &Schema) -> Result<Schema, String> {
    let fields = union_fields(lake.fields(), new.fields(), "")?;
    Ok(Schema::new(fields))
}

/// `schema` with the column at `path` (nested through structs) stored as text where it was
/// taken for a time or a date: a key must read back as it was written, to match the next
/// record of the same key.
pub fn key_as_text(schema: &Schema, path: &[Box<[u8]>]) -> Schema {
    Schema::new(fields_with_text_key(schema.fields(), path))
}

fn fields_with_text_key(fields: &Fields, path: &[Box<[u8]>]) -> Fields {
    let Some((first, rest)) = path.split_first() else {
        return fields.clone();
    };
    fields
        .iter()
        .map(|field| {
            if field.name().as_bytes() != first.as_ref() {
                return field.clone();
            }
            let data_type = match (field.data_type(), rest.is_empty()) {
                (DataType::Struct(inner), false) => {
                    DataType::Struct(fields_with_text_key(inner, rest))
                }
                (
                    DataType::Timestamp(..)
                    | DataType::Date32
                    | DataType::Date64
                    | DataType::Time32(_)
                    | DataType::Time64(_),
                    true,
                ) => DataType::Utf8,
                (other, _) => other.clone(),
            };
            Arc::new(field.as_ref().clone().with_data_type(data_type))
        })
        .collect()
}

fn union_fields(lake: &Fields, new: &Fields, prefix: &str) -> Result<Fields, String> {
    let mut out: Vec<Field> = Vec::with_capacity(lake.len().max(new.len()));
    for field in lake.iter() {
        match new.find(field.name()) {
            Some((_, other)) => out.push(union_field(field, other, prefix)?),
            None => out.push(field.as_ref().clone().with_nullable(true)),
        }
    }
    for field in new.iter() {
        if lake.find(field.name()).is_none() {
            out.push(field.as_ref().clone().with_nullable(true));
        }
    }
    Ok(out.into_iter().map(Arc::new).collect())
}

fn union_field(lake: &Field, new: &Field, prefix: &str) -> Result<Field, String> {
    let name = lake.name();
    let path = format!("{prefix}{name}");
    let nullable = lake.is_nullable() || new.is_nullable();
    if is_json_field(lake) || is_json_field(new) {
        return Ok(json_field(name, nullable));
    }
    let data_type = union_type(lake.data_type(), new.data_type(), &path)?;
    Ok(Field::new(name, data_type, nullable))
}

fn union_type(lake: &DataType, new: &DataType, path: &str) -> Result<DataType, String> {
    use DataType::*;
    Ok(match (lake, new) {
        (a, b) if a == b => a.clone(),
        (Null, x) | (x, Null) => x.clone(),
        (Struct(a), Struct(b)) => Struct(union_fields(a, b, &format!("{path}."))?),
        (List(a), List(b)) => {
            let item = union_field(a, b, &format!("{path}[]."))?;
            List(Arc::new(item))
        }
        (a, b) if is_nested(a) || is_nested(b) => {
            return Err(format!(
                "column {path} holds {} here but {} in the lake: it cannot widen to hold both",
                describe(b),
                describe(a)
            ))
        }
        (Int64, Decimal128(..)) | (Decimal128(..), Int64) => Decimal128(20, 0),
        (Int64 | Decimal128(..) | Float64, Int64 | Decimal128(..) | Float64) => Float64,
        (Timestamp(u1, z1), Timestamp(u2, z2)) if z1.is_some() == z2.is_some() => {
            let unit = match (u1, u2) {
                (TimeUnit::Nanosecond, _) | (_, TimeUnit::Nanosecond) => TimeUnit::Nanosecond,
                _ => TimeUnit::Microsecond,
            };
            Timestamp(unit, z1.clone())
        }
        _ => Utf8,
    })
}

fn is_nested(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Struct(_) | DataType::List(_))
}

fn describe(data_type: &DataType) -> String {
    match data_type {
        DataType::Struct(_) => "objects".into(),
        DataType::List(_) => "arrays".into(),
        other => format!("{other} values"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: Vec<Field>) -> Schema {
        Schema::new(fields)
    }

    #[test]
    fn columns_unite_and_widen() {
        let lake = schema(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Utf8, false),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]);
        let new = schema(vec![
            Field::new("c", DataType::Boolean, false),
            Field::new("a", DataType::Float64, false),
            Field::new(
                "t",
                DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                true,
            ),
        ]);
        let united = union(&lake, &new).unwrap();
        let got: Vec<(String, DataType, bool)> = united
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".into(), DataType::Float64, false),
                ("b".into(), DataType::Utf8, true),
                (
                    "t".into(),
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    true
                ),
                ("c".into(), DataType::Boolean, true),
            ]
        );
    }

    #[test]
    fn nested_and_scalar_do_not_widen() {
        let inner = Fields::from(vec![Field::new("x", DataType::Int64, true)]);
        let lake = schema(vec![Field::new("p", DataType::Struct(inner.clone()), true)]);
        let new = schema(vec![Field::new(
            "p",
            DataType::Struct(Fields::from(vec![Field::new(
                "x",
                DataType::Struct(inner),
                true,
            )])),
            true,
        )]);
        let err = union(&lake, &new).unwrap_err();
        assert_eq!(
            err,
            "column p.x holds objects here but Int64 values in the lake: it cannot widen to hold both"
        );
        let json = schema(vec![json_field("p", true)]);
        assert!(is_json_field(&union(&json, &new).unwrap().fields()[0]));
    }
}
