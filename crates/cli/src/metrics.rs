//! `--metrics-file`: a run's outcome in Prometheus' text format, for node_exporter's textfile
//! collector, so that cron jobs can be watched and alerted on.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sluice_stream::stats::RunCounts;
use sluice_stream::Result;

/// The metric that carries the time of the last successful run from one file to the next.
const LAST_SUCCESS: &str = "sluice_last_success_timestamp_seconds";

/// Replaces the file at `path` (atomically) with the metrics of a run of `program` that ended
/// with `exit_code`. A failed run keeps the time of the last success that the file held.
pub fn write(path: &Path, program: &str, counts: RunCounts, exit_code: u8) -> Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let labels = labels(program, path);
    let last_success = match exit_code {
        0 => now,
        _ => previous_success(path, &labels).unwrap_or(0.0),
    };
    let text = render(&labels, counts, exit_code, now, last_success);
    sluice_stream::atomic::write_file(path, text.as_bytes())
}

/// `{program="extract",name="weather"}`: `name` is the file's name without `.prom`, so that
/// jobs writing different files never give the collector the same series twice.
fn labels(program: &str, path: &Path) -> String {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let name = file.strip_suffix(".prom").unwrap_or(&file);
    format!(
        "{{program=\"{}\",name=\"{}\"}}",
        escape(program),
        escape(name)
    )
}

/// A label value as the text format writes it.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn render(labels: &str, c: RunCounts, exit_code: u8, now: f64, last_success: f64) -> String {
    let metrics: [(&str, &str, f64); 9] = [
        (
            "sluice_run_records_in",
            "Records read by the last run.",
            c.records_in as f64,
        ),
        (
            "sluice_run_records_out",
            "Records written by the last run.",
            c.records_out as f64,
        ),
        (
            "sluice_run_records_rejected",
            "Records the last run handed to --on-error.",
            c.rejected as f64,
        ),
        (
            "sluice_run_bytes_in",
            "Bytes the last run read.",
            c.bytes_in as f64,
        ),
        (
            "sluice_run_bytes_out",
            "Bytes the last run wrote.",
            c.bytes_out as f64,
        ),
        (
            "sluice_run_duration_seconds",
            "How long the last run took.",
            c.seconds,
        ),
        (
            "sluice_run_exit_status",
            "The last run's exit status: 0 success, 1 failure, 2 usage error.",
            f64::from(exit_code),
        ),
        (
            "sluice_run_timestamp_seconds",
            "When the last run ended (Unix time).",
            now,
        ),
        (
            LAST_SUCCESS,
            "When the last successful run ended (Unix time; 0 if none has).",
            last_success,
        ),
    ];
    let mut text = String::new();
    for (name, help, value) in metrics {
        let _ = writeln!(
            text,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{labels} {value}"
        );
    }
    text
}

/// The last success time the file at `path` holds for these labels.
fn previous_success(path: &Path, labels: &str) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let prefix = format!("{LAST_SUCCESS}{labels} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_the_last_success_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nightly.prom");
        let counts = RunCounts {
            records_in: 10,
            records_out: 9,
            rejected: 1,
            ..RunCounts::default()
        };
        write(&path, "load", counts, 0).unwrap();
        let labels = "{program=\"load\",name=\"nightly\"}";
        let first = previous_success(&path, labels).unwrap();
        assert!(first > 1.7e9, "{first}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("sluice_run_records_rejected{program=\"load\",name=\"nightly\"} 1\n"));
        assert!(text.contains("# TYPE sluice_run_exit_status gauge\n"));

        write(&path, "load", RunCounts::default(), 1).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("sluice_run_exit_status{program=\"load\",name=\"nightly\"} 1\n"));
        assert_eq!(previous_success(&path, labels), Some(first));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(
            labels("extract", Path::new("/x/my \"job\".prom")),
            "{program=\"extract\",name=\"my \\\"job\\\"\"}"
        );
    }
}
