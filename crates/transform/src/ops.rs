//! Single-record operations, applied in command-line order (as Kafka Connect's single message
//! transforms are chained).

use std::rc::Rc;

use sha2::{Digest, Sha256};
use sluice_expr::json::{self, short};
use sluice_expr::{Program, Val};

use crate::lookup::{Lookup, LookupSpec, Miss};
use crate::value::{as_text, epoch_to_ms, format_time, key, parse_time_text, FieldPath};

/// One operation, as parsed from the command line.
#[derive(Debug, Clone)]
pub enum Op {
    /// `--rename a=b`
    Rename(Vec<(FieldPath, FieldPath)>),
    /// `--drop a,b`
    Drop(Vec<FieldPath>),
    /// `--keep a,b`
    Keep(Vec<FieldPath>),
    /// `--set field=EXPR`
    Set(FieldPath, String),
    /// `--default field=JSON`
    Default(FieldPath, String),
    /// `--cast field:type`
    Cast(FieldPath, CastTo),
    /// `--flatten`
    Flatten,
    /// `--unflatten`
    Unflatten,
    /// `--mask a,b`
    Mask(Vec<FieldPath>),
    /// `--extract field`
    Extract(FieldPath),
    /// `--hoist name`
    Hoist(String),
    /// `-e EXPR` or `--expr-file`
    Expr(String),
    /// `--lookup FILE` (its index among the lookups)
    Lookup(usize),
}

/// The target of `--cast`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CastTo {
    /// A JSON integer (fractions are cut toward zero).
    Int,
    /// A JSON number.
    Float,
    /// `true` or `false`.
    Bool,
    /// A string (objects and arrays as compact JSON).
    String,
    /// An RFC 3339 time in UTC.
    Timestamp,
}

impl std::str::FromStr for CastTo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "int" | "integer" => CastTo::Int,
            "float" | "number" | "double" => CastTo::Float,
            "bool" | "boolean" => CastTo::Bool,
            "string" | "str" => CastTo::String,
            "timestamp" | "time" => CastTo::Timestamp,
            _ => {
                return Err(format!(
                    "{s:?} is not a cast type: use int, float, bool, string or timestamp"
                ))
            }
        })
    }
}

/// How `--mask` hides a value.
#[derive(Debug, Clone)]
pub enum Mask {
    /// Replace with this string.
    Token(String),
    /// Replace with the hex SHA-256 of the salt and the value's JSON text.
    Hash(Vec<u8>),
}

/// Settings the operations share.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--time-format` for casts to timestamp.
    pub time_format: Option<String>,
    /// `--separator` for flatten and unflatten.
    pub separator: String,
    /// `--mask-token` / `--mask-hash`.
    pub mask: Mask,
}

/// The operations, compiled for one thread (jaq programs are not shared across threads).
pub struct Chain {
    steps: Vec<Step>,
    settings: Settings,
    scratch: Vec<Val>,
    lookup_drops: u64,
}

enum Step {
    Op(Op),
    Set(FieldPath, Program),
    Default(FieldPath, Val),
    Expr(Program),
    Lookup(Lookup),
}

/// What became of one record.
pub enum Outcome {
    /// These records go on (zero for a record a program or a lookup dropped).
    Records,
    /// The record is rejected for this reason.
    Rejected(String),
}

impl Chain {
    /// Compiles `ops` (programs were checked by the caller, so they compile).
    pub fn new(ops: &[Op], settings: &Settings, lookups: &[std::sync::Arc<LookupSpec>]) -> Chain {
        let steps = ops
            .iter()
            .map(|op| match op {
                Op::Set(path, code) => Step::Set(
                    path.clone(),
                    Program::compile(code).expect("checked at startup"),
                ),
                Op::Default(path, text) => Step::Default(
                    path.clone(),
                    json::parse_valid(text.as_bytes()).expect("checked at startup"),
                ),
                Op::Expr(code) => Step::Expr(Program::compile(code).expect("checked at startup")),
                Op::Lookup(i) => Step::Lookup(Lookup::new(std::sync::Arc::clone(&lookups[*i]))),
                op => Step::Op(op.clone()),
            })
            .collect();
        Chain {
            steps,
            settings: settings.clone(),
            scratch: Vec::new(),
            lookup_drops: 0,
        }
    }

    /// Records left out by `--on-miss drop` since the last call.
    pub fn take_lookup_drops(&mut self) -> u64 {
        std::mem::take(&mut self.lookup_drops)
    }

    /// True when there is nothing to apply.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Applies every step to `record`; the records that result are left in `out`.
    pub fn apply(&mut self, record: Val, out: &mut Vec<Val>) -> Outcome {
        out.clear();
        out.push(record);
        for step in &self.steps {
            let mut next = std::mem::take(&mut self.scratch);
            next.clear();
            for record in out.drain(..) {
                if let Err(reason) = apply_step(
                    step,
                    &self.settings,
                    record,
                    &mut next,
                    &mut self.lookup_drops,
                ) {
                    return Outcome::Rejected(reason);
                }
            }
            self.scratch = std::mem::replace(out, next);
            if out.is_empty() {
                break;
            }
        }
        Outcome::Records
    }
}

fn apply_step(
    step: &Step,
    settings: &Settings,
    mut record: Val,
    out: &mut Vec<Val>,
    lookup_drops: &mut u64,
) -> Result<(), String> {
    match step {
        Step::Op(op) => apply_op(op, settings, &mut record)?,
        Step::Set(path, program) => {
            let mut first = None;
            program
                .run(record.clone(), |v| {
                    first = Some(v);
                    false
                })
                .map_err(|e| format!("--set {}: {e}", path.text))?;
            if let Some(value) = first {
                path.set(&mut record, value)?;
            }
        }
        Step::Default(path, value) => {
            if matches!(path.get(&record), None | Some(Val::Null)) {
                path.set(&mut record, value.clone())?;
            }
        }
        Step::Expr(program) => {
            let mut failure = None;
            program
                .run(record, |v| {
                    if matches!(v, Val::Obj(_)) {
                        out.push(v);
                        true
                    } else {
                        failure = Some(format!("the program yielded {}, not an object", short(&v)));
                        false
                    }
                })
                .map_err(|e| format!("-e: {e}"))?;
            return match failure {
                Some(reason) => Err(reason),
                None => Ok(()),
            };
        }
        Step::Lookup(lookup) => match lookup.enrich(&mut record)? {
            Miss::Matched | Miss::Keep => {}
            Miss::Drop => {
                *lookup_drops += 1;
                return Ok(());
            }
            Miss::Reject(reason) => return Err(reason),
        },
    }
    out.push(record);
    Ok(())
}

fn apply_op(op: &Op, settings: &Settings, record: &mut Val) -> Result<(), String> {
    match op {
        Op::Rename(pairs) => {
            for (from, to) in pairs {
                from.rename(record, to)?;
            }
        }
        Op::Drop(paths) => {
            for path in paths {
                path.remove(record);
            }
        }
        Op::Keep(paths) => {
            let mut kept = Val::obj(Default::default());
            for path in paths {
                if let Some(value) = path.get(record) {
                    path.set(&mut kept, value.clone())?;
                }
            }
            *record = kept;
        }
        Op::Cast(path, to) => {
            if let Some(value) = path.get(record) {
                let cast = cast(value, *to, settings.time_format.as_deref())
                    .map_err(|e| format!("--cast {}: {e}", path.text))?;
                path.set(record, cast)?;
            }
        }
        Op::Flatten => {
            if let Val::Obj(map) = record {
                let mut flat = jaq_json::Map::default();
                flatten_into(&mut flat, None, map, &settings.separator)?;
                *record = Val::obj(flat);
            }
        }
        Op::Unflatten => {
            let Val::Obj(map) = record else { return Ok(()) };
            let mut nested = Val::obj(Default::default());
            for (k, v) in map.iter() {
                let name = as_text(k).unwrap_or_default();
                let names: Vec<&str> = name.split(settings.separator.as_str()).collect();
                set_names(&mut nested, &names, v.clone())
                    .map_err(|e| format!("--unflatten: {e}"))?;
            }
            *record = nested;
        }
        Op::Mask(paths) => {
            for path in paths {
                if let Some(value) = path.get(record) {
                    let masked = mask(value, &settings.mask)?;
                    path.set(record, masked)?;
                }
            }
        }
        Op::Extract(path) => match path.get(record) {
            Some(inner @ Val::Obj(_)) => *record = inner.clone(),
            Some(other) => {
                return Err(format!(
                    "--extract {}: the field is {}, not an object",
                    path.text,
                    short(other)
                ))
            }
            None => return Err(format!("--extract {}: no such field", path.text)),
        },
        Op::Hoist(name) => {
            let mut map = jaq_json::Map::default();
            map.insert(key(name), std::mem::take(record));
            *record = Val::obj(map);
        }
        Op::Set(..) | Op::Default(..) | Op::Expr(_) | Op::Lookup(_) => {
            unreachable!("compiled into their own steps")
        }
    }
    Ok(())
}

fn flatten_into(
    flat: &mut jaq_json::Map,
    prefix: Option<&str>,
    map: &jaq_json::Map,
    sep: &str,
) -> Result<(), String> {
    for (k, v) in map.iter() {
        // An empty key is a name too: `{"":{"b":1}}` flattens to `{".b":1}`.
        let name = match (as_text(k), prefix) {
            (Some(name), None) => name.to_string(),
            (Some(name), Some(prefix)) => format!("{prefix}{sep}{name}"),
            (None, _) => continue,
        };
        match v {
            Val::Obj(inner) if !inner.is_empty() => flatten_into(flat, Some(&name), inner, sep)?,
            _ => {
                if flat.insert(key(&name), v.clone()).is_some() {
                    return Err(format!("--flatten: two fields flatten to {name:?}"));
                }
            }
        }
    }
    Ok(())
}

fn set_names(record: &mut Val, names: &[&str], value: Val) -> Result<(), String> {
    let clash = |upto: usize| format!("{} is both a value and an object", names[..upto].join("."));
    let (last, parents) = names.split_last().expect("split yields a name");
    let mut at = record;
    for (i, name) in parents.iter().enumerate() {
        let Val::Obj(map) = at else {
            return Err(clash(i));
        };
        at = Rc::make_mut(map)
            .entry(key(name))
            .or_insert_with(|| Val::obj(Default::default()));
        if !matches!(at, Val::Obj(_)) {
            return Err(clash(i + 1));
        }
    }
    let Val::Obj(map) = at else {
        return Err(clash(parents.len()));
    };
    let map = Rc::make_mut(map);
    let last = key(last);
    if map.contains_key(&last) {
        return Err(clash(names.len()));
    }
    map.insert(last, value);
    Ok(())
}

/// Masks `value` for `--mask`; null stays null.
pub fn mask(value: &Val, how: &Mask) -> Result<Val, String> {
    if matches!(value, Val::Null) {
        return Ok(Val::Null);
    }
    Ok(match how {
        Mask::Token(token) => key(token),
        Mask::Hash(salt) => {
            let mut hasher = Sha256::new();
            hasher.update(salt);
            match as_text(value) {
                Some(text) => hasher.update(text.as_bytes()),
                None => hasher.update(json::to_text(value)?.as_bytes()),
            }
            let digest = hasher.finalize();
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            key(&hex)
        }
    })
}

/// Converts `value` for `--cast`; null stays null.
pub fn cast(value: &Val, to: CastTo, time_format: Option<&str>) -> Result<Val, String> {
    if matches!(value, Val::Null) {
        return Ok(Val::Null);
    }
    let number = |v: &Val| -> Option<f64> {
        match v {
            Val::Num(_) => json::to_text(v).ok()?.parse().ok(),
            Val::TStr(_) => as_text(v)?.trim().parse().ok(),
            Val::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        }
    };
    let fail = || format!("cannot cast {} to {to:?}", describe(value)).to_lowercase();
    Ok(match to {
        CastTo::Int => {
            if let Val::Num(n) = value {
                if let Some(i) = n.as_isize() {
                    return Ok(Val::Num(jaq_json::Num::Int(i)));
                }
            }
            if let Some(i) = as_text(value).and_then(|t| t.trim().parse::<i64>().ok()) {
                return Ok(Val::Num(jaq_json::Num::from_integral(i)));
            }
            let f = number(value).filter(|f| f.is_finite()).ok_or_else(fail)?;
            if f.abs() >= 9.2e18 {
                return Err(fail());
            }
            Val::Num(jaq_json::Num::from_integral(f.trunc() as i64))
        }
        CastTo::Float => {
            if let Val::Num(_) = value {
                return Ok(value.clone());
            }
            let f = number(value).filter(|f| f.is_finite()).ok_or_else(fail)?;
            Val::Num(jaq_json::Num::Float(f))
        }
        CastTo::Bool => match value {
            Val::Bool(_) => value.clone(),
            Val::Num(_) => Val::Bool(number(value).ok_or_else(fail)? != 0.0),
            Val::TStr(_) => match as_text(value)
                .map(|t| t.trim().to_ascii_lowercase())
                .as_deref()
            {
                Some("true" | "t" | "yes" | "y" | "1") => Val::Bool(true),
                Some("false" | "f" | "no" | "n" | "0") => Val::Bool(false),
                _ => return Err(fail()),
            },
            _ => return Err(fail()),
        },
        CastTo::String => match value {
            Val::TStr(_) => value.clone(),
            other => key(&json::to_text(other)?),
        },
        CastTo::Timestamp => {
            let ms = match value {
                Val::Num(_) => number(value).and_then(epoch_to_ms),
                Val::TStr(_) => {
                    let text = as_text(value).unwrap_or_default();
                    parse_time_text(text, time_format)
                        .or_else(|| text.trim().parse().ok().and_then(epoch_to_ms))
                }
                _ => None,
            };
            key(&format_time(ms.ok_or_else(fail)?))
        }
    })
}

fn describe(value: &Val) -> String {
    match json::to_text(value) {
        Ok(text) if text.len() <= 40 => text,
        _ => short(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(ops: Vec<Op>, input: &str) -> Result<Vec<String>, String> {
        let settings = Settings {
            time_format: None,
            separator: ".".into(),
            mask: Mask::Token("***".into()),
        };
        let mut chain = Chain::new(&ops, &settings, &[]);
        let mut out = Vec::new();
        match chain.apply(json::parse(input.as_bytes()).unwrap(), &mut out) {
            Outcome::Records => Ok(out.iter().map(|v| json::to_text(v).unwrap()).collect()),
            Outcome::Rejected(reason) => Err(reason),
        }
    }

    fn path(s: &str) -> FieldPath {
        FieldPath::parse(s).unwrap()
    }

    #[test]
    fn operations_apply_in_order() {
        let ops = vec![
            Op::Rename(vec![(path("temp"), path("temp_f"))]),
            Op::Set(path("temp_c"), "(.temp_f - 32) * 5 / 9".into()),
            Op::Drop(vec![path("dewp")]),
        ];
        assert_eq!(
            run(ops, r#"{"temp":50,"dewp":1,"id":"a"}"#).unwrap(),
            [r#"{"temp_f":50,"id":"a","temp_c":10}"#]
        );
    }

    #[test]
    fn casts_convert_or_reject() {
        let c = |v: &str, to| {
            let value = json::parse_valid(v.as_bytes()).unwrap();
            cast(&value, to, None).map(|v| json::to_text(&v).unwrap())
        };
        assert_eq!(c("\"42\"", CastTo::Int).unwrap(), "42");
        assert_eq!(c("-4.7", CastTo::Int).unwrap(), "-4");
        assert_eq!(
            c("\"x\"", CastTo::Int).unwrap_err(),
            "cannot cast \"x\" to int"
        );
        assert_eq!(c("\"2.5\"", CastTo::Float).unwrap(), "2.5");
        assert_eq!(c("\"Yes\"", CastTo::Bool).unwrap(), "true");
        assert_eq!(c("0", CastTo::Bool).unwrap(), "false");
        assert_eq!(c("{\"a\":1}", CastTo::String).unwrap(), r#""{\"a\":1}""#);
        assert_eq!(c("12.50", CastTo::String).unwrap(), r#""12.50""#);
        assert_eq!(c("null", CastTo::Int).unwrap(), "null");
        assert_eq!(
            c("1357034400", CastTo::Timestamp).unwrap(),
            r#""2013-01-01T10:00:00Z""#
        );
        assert_eq!(
            c("1357034400000", CastTo::Timestamp).unwrap(),
            r#""2013-01-01T10:00:00Z""#
        );
        assert_eq!(
            c("\"2013-01-01 05:00:00-05:00\"", CastTo::Timestamp).unwrap(),
            r#""2013-01-01T10:00:00Z""#
        );
    }

    #[test]
    fn flatten_and_unflatten_are_inverse() {
        let flat = run(vec![Op::Flatten], r#"{"a":{"b":1,"c":{"d":[1]}},"e":{}}"#).unwrap();
        assert_eq!(flat, [r#"{"a.b":1,"a.c.d":[1],"e":{}}"#]);
        let back = run(vec![Op::Unflatten], &flat[0]).unwrap();
        assert_eq!(back, [r#"{"a":{"b":1,"c":{"d":[1]}},"e":{}}"#]);
    }

    #[test]
    fn flatten_and_unflatten_refuse_to_lose_fields() {
        let err = run(vec![Op::Unflatten], r#"{"a.b":1,"a":2}"#).unwrap_err();
        assert!(err.contains("a is both a value and an object"), "{err}");
        let err = run(vec![Op::Unflatten], r#"{"a":2,"a.b":1}"#).unwrap_err();
        assert!(err.contains("a is both a value and an object"), "{err}");
        assert!(run(vec![Op::Flatten], r#"{"a":{"b":1},"a.b":2}"#).is_err());
        assert_eq!(
            run(vec![Op::Flatten], r#"{"":{"b":1},"c":{"":2}}"#).unwrap(),
            [r#"{".b":1,"c.":2}"#]
        );
        assert!(run(vec![Op::Cast(path("x"), CastTo::Float)], r#"{"x":"nan"}"#).is_err());
    }

    #[test]
    fn programs_explode_and_drop_records() {
        let ops = vec![Op::Expr(".xs[] | {x: .}".into()), Op::Hoist("v".into())];
        assert_eq!(
            run(ops, r#"{"xs":[1,2]}"#).unwrap(),
            [r#"{"v":{"x":1}}"#, r#"{"v":{"x":2}}"#]
        );
        assert!(run(vec![Op::Expr("empty".into())], "{}")
            .unwrap()
            .is_empty());
        assert!(run(vec![Op::Expr(".a".into())], r#"{"a":1}"#)
            .unwrap_err()
            .contains("not an object"));
    }

    #[test]
    fn keep_extract_mask() {
        let ops = vec![Op::Keep(vec![path("b.c"), path("a")])];
        assert_eq!(
            run(ops, r#"{"a":1,"b":{"c":2,"d":3},"z":0}"#).unwrap(),
            [r#"{"b":{"c":2},"a":1}"#]
        );
        let ops = vec![Op::Extract(path("v"))];
        assert_eq!(
            run(ops.clone(), r#"{"v":{"x":1}}"#).unwrap(),
            [r#"{"x":1}"#]
        );
        assert!(run(ops, r#"{"v":3}"#).is_err());
        let ops = vec![Op::Mask(vec![path("ssn"), path("none")])];
        assert_eq!(
            run(ops, r#"{"ssn":"123","n":null}"#).unwrap(),
            [r#"{"ssn":"***","n":null}"#]
        );
    }
}
