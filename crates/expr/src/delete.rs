//! jq's `delpaths`, on which `del` builds: every path is read against the input as it was, so
//! `del(.[0,2])` of `[1,2,3,4]` is `[2,4]` (jaq deletes one path after the other, giving
//! `[2,3]`), and deleting under a missing field or null changes nothing (jaq: an error).
//!
//! As jq does it: the paths are sorted; the keys deleted from one array or object are all
//! removed at once, relative to it; deeper paths are followed into the values that hold them.

use std::rc::Rc;

use jaq_core::native::{bome, run, v, Filter, Fun};
use jaq_core::ValT as _;
use jaq_core::{Cv, DataT, Error, RunPtr, ValR};
use jaq_std::ValT as _;

use crate::Val;

/// The native, under a name that sluice's `delpaths` and `del` call.
pub fn funs<D: for<'a> DataT<V<'a> = Val>>() -> impl Iterator<Item = Fun<D>> {
    let natives: [Filter<RunPtr<D>>; 1] = [("_delpaths", v(1), |mut cv: Cv<D>| {
        let paths = cv.0.pop_var();
        bome(delpaths(cv.1, paths))
    })];
    natives.into_iter().map(run::<D>)
}

fn delpaths(value: Val, paths: Val) -> ValR<Val> {
    let Val::Arr(paths) = paths else {
        return Err(Error::str("Paths must be specified as an array"));
    };
    let mut paths: Vec<&[Val]> = paths
        .iter()
        .map(|path| match path {
            Val::Arr(path) => Ok(path.as_slice()),
            _ => Err(Error::str("Path must be specified as an array")),
        })
        .collect::<Result<_, _>>()?;
    paths.sort();
    match paths.first() {
        None => Ok(value),
        // The empty path is the whole value.
        Some([]) => Ok(Val::Null),
        Some(_) => delete_sorted(value, &paths, 0),
    }
}

/// Deletes `paths` (sorted, all longer than `depth`, all leading to `value`) from `value`.
fn delete_sorted(mut value: Val, paths: &[&[Val]], depth: usize) -> ValR<Val> {
    let mut keys = Vec::new();
    let mut rest = paths;
    while let Some(first) = rest.first() {
        let key = &first[depth];
        let same = rest.iter().take_while(|p| &p[depth] == key).count();
        let (group, after) = rest.split_at(same);
        rest = after;
        if first.len() == depth + 1 {
            // The whole value at `key` goes; deeper paths under it need no work.
            keys.push(key);
            continue;
        }
        let inner = get(&value, key)?;
        if inner == Val::Null {
            continue;
        }
        let inner = delete_sorted(inner, group, depth + 1)?;
        value = set(value, key, inner)?;
    }
    delete_keys(value, &keys)
}

/// The value at `key`: null when `value` is null or has nothing there.
fn get(value: &Val, key: &Val) -> ValR<Val> {
    match (value, key) {
        (Val::Arr(items), Val::Obj(_)) => {
            Ok(Val::Arr(Rc::new(items[slice(key, items.len())?].to_vec())))
        }
        _ => value.clone().index(key),
    }
}

/// `value` with `inner` at `key` (a key that indexed it).
fn set(value: Val, key: &Val, inner: Val) -> ValR<Val> {
    match (value, key) {
        (Val::Obj(mut map), key) => {
            Rc::make_mut(&mut map).insert(key.clone(), inner);
            Ok(Val::Obj(map))
        }
        (Val::Arr(mut items), Val::Obj(_)) => {
            let len = items.len();
            let range = slice(key, len)?;
            let Val::Arr(inner) = inner else {
                return Err(Error::str(
                    "A slice of an array can only be assigned an array",
                ));
            };
            Rc::make_mut(&mut items).splice(range, inner.iter().cloned());
            Ok(Val::Arr(items))
        }
        (Val::Arr(mut items), key) => {
            let len = items.len();
            let at = index(key, len).filter(|&at| at < len).ok_or_else(|| {
                Error::str(format_args!(
                    "cannot update index {key} of an array of {len}"
                ))
            })?;
            Rc::make_mut(&mut items)[at] = inner;
            Ok(Val::Arr(items))
        }
        (value, key) => Err(Error::str(format_args!(
            "cannot update {key} of {}",
            kind(&value)
        ))),
    }
}

/// `value` without `keys`, each relative to `value` as it is.
fn delete_keys(value: Val, keys: &[&Val]) -> ValR<Val> {
    if keys.is_empty() {
        return Ok(value);
    }
    match value {
        Val::Null => Ok(Val::Null),
        Val::Arr(mut items) => {
            let len = items.len();
            let mut gone = vec![false; len];
            for key in keys {
                match key {
                    Val::Num(_) => {
                        if let Some(at) = index(key, len).filter(|&at| at < len) {
                            gone[at] = true;
                        }
                    }
                    Val::Obj(_) => gone[slice(key, len)?].fill(true),
                    _ => {
                        return Err(Error::str(format_args!(
                            "Cannot delete {} element of array",
                            kind(key)
                        )))
                    }
                }
            }
            let mut at = 0;
            Rc::make_mut(&mut items).retain(|_| {
                at += 1;
                !gone[at - 1]
            });
            Ok(Val::Arr(items))
        }
        Val::Obj(mut map) => {
            let entries = Rc::make_mut(&mut map);
            for key in keys {
                if !matches!(key, Val::TStr(_) | Val::BStr(_)) {
                    return Err(Error::str(format_args!(
                        "Cannot delete field at object index of {}",
                        kind(key)
                    )));
                }
                entries.shift_remove(*key);
            }
            Ok(Val::Obj(map))
        }
        other => Err(Error::str(format_args!(
            "Cannot delete fields from {}",
            kind(&other)
        ))),
    }
}

/// An array index (counted from the end when negative, fractions cut as jq cuts them); `None`
/// before the start.
fn index(key: &Val, len: usize) -> Option<usize> {
    let at = key.as_f64()?.floor();
    let at = if at < 0.0 { at + len as f64 } else { at };
    (at >= 0.0).then_some(at.min(usize::MAX as f64) as usize)
}

/// The indexes of a slice key `{"start": …, "end": …}`, clamped to the array.
fn slice(key: &Val, len: usize) -> Result<std::ops::Range<usize>, Error<Val>> {
    let bound = |name: &str, default: f64| -> Result<f64, Error<Val>> {
        let value = key.clone().index(&Val::from(name.to_string()))?;
        match value {
            Val::Null => Ok(default),
            _ => value.as_f64().ok_or_else(|| {
                Error::str("Start and end indices of an array slice must be numbers")
            }),
        }
    };
    let len_f = len as f64;
    let clamp = |x: f64| {
        let x = if x < 0.0 { x + len_f } else { x };
        x.clamp(0.0, len_f)
    };
    let start = clamp(bound("start", 0.0)?).floor();
    let end = clamp(bound("end", len_f)?).ceil().max(start);
    Ok(start as usize..end as usize)
}

fn kind(value: &Val) -> &'static str {
    match value {
        Val::Null => "null",
        Val::Bool(_) => "boolean",
        Val::Num(_) => "number",
        Val::TStr(_) | Val::BStr(_) => "string",
        Val::Arr(_) => "array",
        Val::Obj(_) => "object",
    }
}
