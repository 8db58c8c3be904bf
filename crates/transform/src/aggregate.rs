//! Aggregates over event-time windows (tumbling or hopping) or the whole input, by group.
//!
//! A window `[start, end)` is emitted once the largest event time seen, minus the allowed
//! lateness, reaches its end; every window still open is emitted at the end of the input.
//! Memory holds only the open windows and their groups.

use std::collections::{BTreeMap, HashMap, HashSet};

use sluice_expr::json::write_float;
use sluice_stream::json::write_string;
use sluice_stream::scan::{unescape, Kind};

use crate::value::format_time;

/// An aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// Records (or, with a field, its non-null values).
    Count,
    /// Sum of the numbers (integers stay exact integers).
    Sum,
    /// Mean of the numbers.
    Avg,
    /// Smallest number.
    Min,
    /// Largest number.
    Max,
    /// The first value, in input order.
    First,
    /// The last value, in input order.
    Last,
    /// Distinct non-null values, counted exactly.
    CountDistinct,
}

/// One `--agg`: `count`, `func(field)` or `name=func(field)`.
#[derive(Debug, Clone)]
pub struct AggSpec {
    /// The output field.
    pub name: String,
    /// The function.
    pub func: Func,
    /// The input field (a dotted path), if any.
    pub field: Option<String>,
}

impl std::str::FromStr for AggSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, call) = match text.split_once('=') {
            Some((name, call)) => (Some(name.trim().to_string()), call.trim()),
            None => (None, text.trim()),
        };
        let (func_name, field) = match call.split_once('(') {
            Some((f, rest)) => {
                let field = rest
                    .strip_suffix(')')
                    .ok_or_else(|| format!("{text:?}: expected func(field)"))?
                    .trim();
                (f.trim(), (!field.is_empty()).then(|| field.to_string()))
            }
            None => (call, None),
        };
        let func = match func_name {
            "count" => Func::Count,
            "sum" => Func::Sum,
            "avg" | "mean" => Func::Avg,
            "min" => Func::Min,
            "max" => Func::Max,
            "first" => Func::First,
            "last" => Func::Last,
            "count_distinct" => Func::CountDistinct,
            other => {
                return Err(format!(
                    "{other:?} is not an aggregate: use count, sum, avg, min, max, first, last \
                     or count_distinct"
                ))
            }
        };
        if func != Func::Count && field.is_none() {
            return Err(format!(
                "{text:?}: {func_name} needs a field, as in {func_name}(price)"
            ));
        }
        let name = name.unwrap_or_else(|| match &field {
            Some(f) => format!("{func_name}_{}", f.replace('.', "_")),
            None => func_name.to_string(),
        });
        Ok(AggSpec { name, func, field })
    }
}

/// Window sizes in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Windows {
    /// Window length.
    pub size: i64,
    /// Distance between window starts (equal to `size` for tumbling windows).
    pub hop: i64,
    /// How far event time may go back before a record is late.
    pub lateness: i64,
}

/// What became of a record handed to the aggregator.
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    /// Counted in at least one window.
    Counted,
    /// Every window it belongs to was already emitted.
    Late,
}

/// The open windows and their groups.
pub struct Aggregator {
    specs: Vec<AggSpec>,
    group_names: Vec<Vec<u8>>,
    windows: Option<Windows>,
    open: BTreeMap<(i64, i64), Groups>,
    /// The largest event time seen.
    max_time: i64,
    key: Vec<u8>,
    numbers: Vec<Option<Number>>,
}

#[derive(Default)]
struct Groups {
    index: HashMap<Box<[u8]>, usize>,
    groups: Vec<(Box<[u8]>, Vec<Acc>)>,
}

#[derive(Clone, Copy)]
struct Number {
    value: f64,
    int: Option<i64>,
}

enum Acc {
    Count(u64),
    Sum {
        int: i128,
        float: f64,
        exact: bool,
        any: bool,
    },
    Avg {
        sum: f64,
        n: u64,
    },
    Min(Option<(f64, Box<[u8]>)>),
    Max(Option<(f64, Box<[u8]>)>),
    First(Option<Box<[u8]>>),
    Last(Option<Box<[u8]>>),
    Distinct(HashSet<Box<[u8]>>),
}

impl Aggregator {
    /// Aggregates `specs` per group of `group_by` fields, in `windows` or over everything.
    pub fn new(specs: Vec<AggSpec>, group_by: &[String], windows: Option<Windows>) -> Self {
        let group_names = group_by
            .iter()
            .map(|g| {
                let mut key = Vec::new();
                write_string(&mut key, g.as_bytes());
                key
            })
            .collect();
        Aggregator {
            specs,
            group_names,
            windows,
            open: BTreeMap::new(),
            max_time: i64::MIN,
            key: Vec::new(),
            numbers: Vec::new(),
        }
    }

    /// The fields each record must supply to [`Aggregator::add`], after the group fields.
    pub fn input_fields(&self) -> Vec<Option<String>> {
        self.specs.iter().map(|s| s.field.clone()).collect()
    }

    /// Checks a record's aggregate inputs (numbers where numbers are needed).
    pub fn check(&self, inputs: &[&[u8]]) -> Result<(), String> {
        for (spec, raw) in self.specs.iter().zip(inputs) {
            if matches!(spec.func, Func::Sum | Func::Avg | Func::Min | Func::Max) {
                number(raw).map_err(|e| {
                    format!(
                        "{}({}): {e}",
                        func_name(spec.func),
                        spec.field.as_deref().unwrap_or("")
                    )
                })?;
            }
        }
        Ok(())
    }

    /// Adds one record: its event time (when windowed), its group values and its aggregate
    /// inputs (JSON texts; `null` for missing). Windows that close are written to `emit`.
    pub fn add(
        &mut self,
        time: Option<i64>,
        group: &[&[u8]],
        inputs: &[&[u8]],
        emit: &mut impl FnMut(&[u8]),
    ) -> Result<Added, String> {
        self.numbers.clear();
        for (spec, raw) in self.specs.iter().zip(inputs) {
            let number = match spec.func {
                Func::Sum | Func::Avg | Func::Min | Func::Max => number(raw).map_err(|e| {
                    format!(
                        "{}({}): {e}",
                        func_name(spec.func),
                        spec.field.as_deref().unwrap_or("")
                    )
                })?,
                _ => None,
            };
            self.numbers.push(number);
        }
        self.key.clear();
        for value in group {
            self.key.extend_from_slice(value);
            self.key.push(0);
        }
        let mut counted = false;
        match self.windows {
            None => {
                self.update((i64::MAX, i64::MIN), inputs);
                counted = true;
            }
            Some(w) => {
                let t = time.expect("windowed records have a time");
                self.max_time = self.max_time.max(t);
                let closed = self.max_time.saturating_sub(w.lateness);
                let mut start = t.div_euclid(w.hop) * w.hop;
                while start.saturating_add(w.size) > t {
                    let end = start.saturating_add(w.size);
                    if end > closed {
                        self.update((end, start), inputs);
                        counted = true;
                    }
                    start -= w.hop;
                }
                self.emit_closed(closed, emit);
            }
        }
        Ok(if counted { Added::Counted } else { Added::Late })
    }

    fn update(&mut self, window: (i64, i64), inputs: &[&[u8]]) {
        let groups = self.open.entry(window).or_default();
        let index = match groups.index.get(self.key.as_slice()) {
            Some(&i) => i,
            None => {
                let accs = self.specs.iter().map(|s| Acc::new(s.func)).collect();
                groups.groups.push((self.key.as_slice().into(), accs));
                groups
                    .index
                    .insert(self.key.as_slice().into(), groups.groups.len() - 1);
                groups.groups.len() - 1
            }
        };
        let accs = &mut groups.groups[index].1;
        for ((acc, raw), number) in accs.iter_mut().zip(inputs).zip(&self.numbers) {
            acc.add(raw, *number);
        }
    }

    fn emit_closed(&mut self, closed: i64, emit: &mut impl FnMut(&[u8])) {
        while let Some(entry) = self.open.first_entry() {
            if entry.key().0 > closed {
                break;
            }
            let ((end, start), groups) = entry.remove_entry();
            self.write_window(Some((start, end)), groups, emit);
        }
    }

    /// Emits every open window (the end of the input).
    pub fn finish(&mut self, emit: &mut impl FnMut(&[u8])) {
        while let Some(((end, start), groups)) = self.open.pop_first() {
            let bounds = self.windows.map(|_| (start, end));
            self.write_window(bounds, groups, emit);
        }
    }

    fn write_window(
        &self,
        bounds: Option<(i64, i64)>,
        groups: Groups,
        emit: &mut impl FnMut(&[u8]),
    ) {
        let mut out = Vec::new();
        for (key, accs) in groups.groups {
            out.clear();
            out.push(b'{');
            let mut first = true;
            let mut sep = |out: &mut Vec<u8>| {
                if !std::mem::take(&mut first) {
                    out.push(b',');
                }
            };
            for (name, value) in self.group_names.iter().zip(key.split(|&b| b == 0)) {
                sep(&mut out);
                out.extend_from_slice(name);
                out.push(b':');
                out.extend_from_slice(value);
            }
            if let Some((start, end)) = bounds {
                for (name, t) in [("window_start", start), ("window_end", end)] {
                    sep(&mut out);
                    write_string(&mut out, name.as_bytes());
                    out.push(b':');
                    write_string(&mut out, format_time(t).as_bytes());
                }
            }
            for (spec, acc) in self.specs.iter().zip(&accs) {
                sep(&mut out);
                write_string(&mut out, spec.name.as_bytes());
                out.push(b':');
                acc.write(&mut out);
            }
            out.push(b'}');
            emit(&out);
        }
    }
}

fn func_name(func: Func) -> &'static str {
    match func {
        Func::Count => "count",
        Func::Sum => "sum",
        Func::Avg => "avg",
        Func::Min => "min",
        Func::Max => "max",
        Func::First => "first",
        Func::Last => "last",
        Func::CountDistinct => "count_distinct",
    }
}

/// A number from JSON text; `None` for null; an error for anything else.
fn number(raw: &[u8]) -> Result<Option<Number>, String> {
    match Kind::of(raw) {
        Kind::Null => Ok(None),
        Kind::Number => {
            let text = std::str::from_utf8(raw).unwrap_or_default();
            let value: f64 = text
                .parse()
                .map_err(|_| format!("{text} is not a number"))?;
            Ok(Some(Number {
                value,
                int: text.parse().ok(),
            }))
        }
        _ => {
            let shown = match Kind::of(raw) {
                Kind::String => {
                    unescape(raw).map_or_else(|| "a string".into(), |s| format!("{s:?}"))
                }
                _ => String::from_utf8_lossy(raw).chars().take(40).collect(),
            };
            Err(format!("{shown} is not a number"))
        }
    }
}

impl Acc {
    fn new(func: Func) -> Acc {
        match func {
            Func::Count => Acc::Count(0),
            Func::Sum => Acc::Sum {
                int: 0,
                float: 0.0,
                exact: true,
                any: false,
            },
            Func::Avg => Acc::Avg { sum: 0.0, n: 0 },
            Func::Min => Acc::Min(None),
            Func::Max => Acc::Max(None),
            Func::First => Acc::First(None),
            Func::Last => Acc::Last(None),
            Func::CountDistinct => Acc::Distinct(HashSet::new()),
        }
    }

    /// Adds one input: `raw` is the field's JSON text (`None` field: `raw` is unused).
    fn add(&mut self, raw: &[u8], number: Option<Number>) {
        let null = Kind::of(raw) == Kind::Null;
        match self {
            Acc::Count(n) => *n += u64::from(!null),
            Acc::Sum {
                int,
                float,
                exact,
                any,
            } => {
                if let Some(x) = number {
                    *any = true;
                    *float += x.value;
                    match x.int {
                        Some(i) if *exact => match int.checked_add(i128::from(i)) {
                            Some(sum) => *int = sum,
                            None => *exact = false,
                        },
                        _ => *exact = false,
                    }
                }
            }
            Acc::Avg { sum, n } => {
                if let Some(x) = number {
                    *sum += x.value;
                    *n += 1;
                }
            }
            Acc::Min(best) => {
                if let Some(x) = number {
                    if best.as_ref().is_none_or(|(b, _)| x.value < *b) {
                        *best = Some((x.value, raw.into()));
                    }
                }
            }
            Acc::Max(best) => {
                if let Some(x) = number {
                    if best.as_ref().is_none_or(|(b, _)| x.value > *b) {
                        *best = Some((x.value, raw.into()));
                    }
                }
            }
            Acc::First(first) => {
                if first.is_none() {
                    *first = Some(raw.into());
                }
            }
            Acc::Last(last) => *last = Some(raw.into()),
            Acc::Distinct(seen) => {
                if !null && !seen.contains(raw) {
                    seen.insert(raw.into());
                }
            }
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        let mut int = |n: u64| out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        match self {
            Acc::Count(n) => int(*n),
            Acc::Distinct(seen) => int(seen.len() as u64),
            Acc::Sum { any: false, .. } | Acc::Avg { n: 0, .. } => out.extend_from_slice(b"null"),
            Acc::Sum {
                int, exact: true, ..
            } => out.extend_from_slice(itoa::Buffer::new().format(*int).as_bytes()),
            Acc::Sum { float, .. } => write_float(out, *float),
            Acc::Avg { sum, n } => write_float(out, sum / *n as f64),
            Acc::Min(v) | Acc::Max(v) => match v {
                Some((_, raw)) => out.extend_from_slice(raw),
                None => out.extend_from_slice(b"null"),
            },
            Acc::First(v) | Acc::Last(v) => match v {
                Some(raw) => out.extend_from_slice(raw),
                None => out.extend_from_slice(b"null"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(list: &[&str]) -> Vec<AggSpec> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    const H: i64 = 3_600_000;

    #[test]
    fn specs_parse_with_default_names() {
        let s = specs(&["count", "avg(dep_delay)", "worst=max(a.b)", "count(x)"]);
        assert_eq!(s[0].name, "count");
        assert_eq!(s[1].name, "avg_dep_delay");
        assert_eq!(s[2].name, "worst");
        assert_eq!(s[2].field.as_deref(), Some("a.b"));
        assert_eq!(s[3].name, "count_x");
        assert!("median(x)".parse::<AggSpec>().is_err());
        assert!("sum".parse::<AggSpec>().is_err());
    }

    #[test]
    fn tumbling_windows_close_as_time_passes() {
        let mut agg = Aggregator::new(
            specs(&[
                "count",
                "sum(v)",
                "avg(v)",
                "min(v)",
                "max(v)",
                "first(v)",
                "last(v)",
                "count_distinct(v)",
            ]),
            &["k".to_string()],
            Some(Windows {
                size: H,
                hop: H,
                lateness: 0,
            }),
        );
        let mut out = Vec::new();
        let mut emit = |r: &[u8]| out.push(String::from_utf8(r.to_vec()).unwrap());
        for (t, k, v) in [
            (0, "\"a\"", "1"),
            (10, "\"b\"", "null"),
            (20, "\"a\"", "2.5"),
            (H - 1, "\"a\"", "1"),
        ] {
            let v: &[u8] = v.as_bytes();
            assert_eq!(
                agg.add(
                    Some(t),
                    &[k.as_bytes()],
                    &[b"", v, v, v, v, v, v, v],
                    &mut emit
                )
                .unwrap(),
                Added::Counted
            );
        }
        agg.add(
            Some(H),
            &[b"\"a\""],
            &[b"", b"7", b"7", b"7", b"7", b"7", b"7", b"7"],
            &mut emit,
        )
        .unwrap();
        assert_eq!(
            agg.add(
                Some(5),
                &[b"\"a\""],
                &[b"", b"1", b"1", b"1", b"1", b"1", b"1", b"1"],
                &mut emit
            )
            .unwrap(),
            Added::Late
        );
        agg.finish(&mut emit);
        assert_eq!(
            out,
            [
                r#"{"k":"a","window_start":"1970-01-01T00:00:00Z","window_end":"1970-01-01T01:00:00Z","count":3,"sum_v":4.5,"avg_v":1.5,"min_v":1,"max_v":2.5,"first_v":1,"last_v":1,"count_distinct_v":2}"#,
                r#"{"k":"b","window_start":"1970-01-01T00:00:00Z","window_end":"1970-01-01T01:00:00Z","count":1,"sum_v":null,"avg_v":null,"min_v":null,"max_v":null,"first_v":null,"last_v":null,"count_distinct_v":0}"#,
                r#"{"k":"a","window_start":"1970-01-01T01:00:00Z","window_end":"1970-01-01T02:00:00Z","count":1,"sum_v":7,"avg_v":7,"min_v":7,"max_v":7,"first_v":7,"last_v":7,"count_distinct_v":1}"#,
            ]
        );
    }

    #[test]
    fn hopping_windows_overlap_and_lateness_waits() {
        let mut agg = Aggregator::new(
            specs(&["count"]),
            &[],
            Some(Windows {
                size: 2 * H,
                hop: H,
                lateness: H,
            }),
        );
        let out = std::cell::RefCell::new(Vec::new());
        let mut emit = |r: &[u8]| {
            out.borrow_mut()
                .push(String::from_utf8(r.to_vec()).unwrap())
        };
        agg.add(Some(H + 1), &[], &[b""], &mut emit).unwrap();
        agg.add(Some(3 * H - 1), &[], &[b""], &mut emit).unwrap();
        // Almost 3h behind, but within the allowed lateness: [0h,2h) is still open.
        assert_eq!(
            agg.add(Some(10), &[], &[b""], &mut emit).unwrap(),
            Added::Counted
        );
        assert_eq!(out.borrow().len(), 0);
        agg.add(Some(4 * H), &[], &[b""], &mut emit).unwrap();
        assert_eq!(out.borrow().len(), 2);
        assert_eq!(
            agg.add(Some(10), &[], &[b""], &mut emit).unwrap(),
            Added::Late
        );
        agg.finish(&mut emit);
        let out = out.into_inner();
        let counts: Vec<&str> = out
            .iter()
            .map(|r| &r[r.find("\"count\"").unwrap()..])
            .collect();
        assert_eq!(
            counts,
            [
                "\"count\":2}",
                "\"count\":2}",
                "\"count\":1}",
                "\"count\":1}",
                "\"count\":1}"
            ]
        );
    }

    #[test]
    fn non_numbers_are_errors_and_sums_stay_exact() {
        let mut agg = Aggregator::new(specs(&["sum(v)"]), &[], None);
        let mut emit = |_: &[u8]| {};
        let err = agg.add(None, &[], &[b"\"x\""], &mut emit).unwrap_err();
        assert_eq!(err, "sum(v): \"x\" is not a number");
        agg.add(None, &[], &[b"9007199254740993"], &mut emit)
            .unwrap();
        agg.add(None, &[], &[b"1"], &mut emit).unwrap();
        let mut out = Vec::new();
        agg.finish(&mut |r: &[u8]| out.push(String::from_utf8(r.to_vec()).unwrap()));
        assert_eq!(out, [r#"{"sum_v":9007199254740994}"#]);
    }
}
