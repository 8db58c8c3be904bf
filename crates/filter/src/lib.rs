//! `filter`: keeps the records for which a jq expression is true, writing each as its original
//! bytes, and can route the others to a second file so nothing is lost.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;
use sluice_cli::CommonArgs;
use sluice_expr::Condition;
use sluice_stream::atomic::AtomicFile;
use sluice_stream::blocks::{self, oversize_reason, Block, Delivery, Options, Output};
use sluice_stream::output::StdoutWriter;
use sluice_stream::scan;
use sluice_stream::{Error, Rejects, Result, Stats};

const EXAMPLES: &str = "\
Examples:
  extract weather.csv | filter '.temp > 90 and .origin == \"JFK\"' | load hot.csv
  filter '.dep_delay > 60' flights.ndjson --rejected on-time.ndjson > late.ndjson
  consume weather --follow | filter '.wind_speed > 30' | produce alerts
  filter --invert '.tags | index(\"test\")' events.ndjson
  filter --sample 0.01 --seed 7 true big.ndjson | head

A record passes when the expression yields a true value (anything but false and null) for it;
an expression that yields nothing, or only false and null, drops it. Passing records are
written exactly as they were read (key order, spacing and number spelling kept). A record on
which the expression fails (a type error, error(...)) goes through --on-error with the
expression's message. Simple comparisons of fields with literals are answered without parsing
the whole record; every other jq program runs on jaq.";

/// Keep the NDJSON records for which a jq expression is true.
#[derive(Parser, Debug)]
#[command(name = "filter", version, after_long_help = format!("{EXAMPLES}\n\n{}", sluice_cli::EXIT_STATUS))]
pub struct Args {
    /// The jq expression (for example '.temp > 90 and .origin == "JFK"').
    #[arg(value_name = "EXPR")]
    pub expr: String,

    /// NDJSON inputs (compressed ones too); `-` (the default) is stdin.
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Keep the records for which the expression is not true.
    #[arg(short = 'v', long)]
    pub invert: bool,

    /// Write the records that are not kept (not passing, or sampled out) to this file; it
    /// appears when filter succeeds.
    #[arg(long, value_name = "PATH")]
    pub rejected: Option<PathBuf>,

    /// Stop after writing N records (the rest of the input is not read).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Keep only this fraction (0 to 1) of the passing records, chosen by a hash of each
    /// record's source and line number: the same input and seed give the same sample.
    #[arg(long, value_name = "FRACTION", value_parser = parse_fraction)]
    pub sample: Option<f64>,

    /// Seed for --sample.
    #[arg(long, value_name = "N", default_value_t = 0, requires = "sample")]
    pub seed: u64,

    #[command(flatten)]
    pub common: CommonArgs,
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a fraction between 0 and 1")),
    }
}

/// Runs `filter`.
pub fn run(args: Args) -> Result<()> {
    Condition::compile(&args.expr).map_err(|e| Error::Usage(format!("bad expression: {e}")))?;
    let mut stats = Stats::new("filter");
    let mut rejects = Rejects::new(args.common.on_error.clone(), "filter")?;
    let mut routed = args
        .rejected
        .as_deref()
        .map(|path| AtomicFile::create(path, true))
        .transpose()?;
    let mut routed_writer = routed
        .as_mut()
        .map(|f| std::io::BufWriter::with_capacity(256 * 1024, f.file()));
    let mut out = StdoutWriter::stdout();
    let options = Options::new(
        &args.inputs,
        args.common.max_record_len(),
        args.common.show_progress(),
    );
    let rule = Arc::new(Rule {
        code: args.expr.clone(),
        invert: args.invert,
        route: args.rejected.is_some(),
        sample: args.sample.map(|f| (f, args.seed)),
    });
    let result = {
        let mut delivery = Delivery {
            out: &mut out,
            routed: routed_writer.as_mut().map(|w| w as &mut dyn Write),
            rejects: &mut rejects,
            limit: args.limit,
        };
        if args.limit == Some(0) {
            Ok(())
        } else {
            blocks::process(
                &options,
                move || Arc::clone(&rule).worker(),
                |block, output: &Output| {
                    stats.records_in += block.lines.len() as u64;
                    stats.bytes_in += block.read;
                    delivery.deliver(block, output)
                },
            )
        }
    };
    let flushed = out.flush();
    Error::output_closed(result.and(flushed))?;
    // Also when stdout was closed early: records read so far were routed or rejected.
    if let Some(writer) = routed_writer.as_mut() {
        writer
            .flush()
            .map_err(|e| Error::io("cannot write the --rejected file", e))?;
    }
    drop(routed_writer);
    if let Some(file) = routed {
        file.commit()?;
    }
    rejects.finish()?;
    stats.finish(&out, &rejects, args.common.stats);
    Ok(())
}

/// What decides a record's fate; shared by the worker threads.
struct Rule {
    code: String,
    invert: bool,
    route: bool,
    sample: Option<(f64, u64)>,
}

impl Rule {
    /// One worker: compiles the expression for its thread and judges blocks.
    fn worker(self: Arc<Self>) -> impl FnMut(&Block, &mut Output) {
        let condition = Condition::compile(&self.code).expect("the expression compiled before");
        let mut fields = Vec::new();
        move |block, output| {
            output.clear();
            for (index, line) in block.lines.iter().enumerate() {
                let text = block.text(line);
                if line.oversize {
                    output.reject(index, oversize_reason(line));
                    continue;
                }
                if let Err(reason) = scan::object_fields(text, &mut fields) {
                    output.reject(index, reason);
                    continue;
                }
                let keep = match condition.holds(text, &fields) {
                    Ok(verdict) => {
                        verdict != self.invert
                            && self.sample.is_none_or(|(fraction, seed)| {
                                sampled(fraction, seed, &block.source, line.number)
                            })
                    }
                    Err(reason) => {
                        output.reject(index, reason);
                        continue;
                    }
                };
                if keep {
                    output.push(text);
                } else if self.route {
                    output.route(text);
                }
            }
        }
    }
}

/// A stable choice of `fraction` of the records, by source and line number.
fn sampled(fraction: f64, seed: u64, source: &str, line: u64) -> bool {
    let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
    for b in source.bytes() {
        h = mix(h ^ u64::from(b));
    }
    h = mix(h ^ line);
    // The top 53 bits as a uniform number in [0, 1).
    ((h >> 11) as f64 / (1u64 << 53) as f64) < fraction
}

/// splitmix64's finaliser: a well-spread 64-bit hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_stable_and_near_the_fraction() {
        let kept = (1..=100_000)
            .filter(|&n| sampled(0.1, 7, "in.ndjson", n))
            .count();
        assert!((9_000..11_000).contains(&kept), "{kept}");
        let again = (1..=100_000)
            .filter(|&n| sampled(0.1, 7, "in.ndjson", n))
            .count();
        assert_eq!(kept, again);
        assert!(!sampled(0.0, 1, "x", 1));
        assert!(sampled(1.0, 1, "x", 1));
    }
}
