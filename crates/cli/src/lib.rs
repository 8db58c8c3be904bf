//! What every sluice binary's command line shares: the common options, the `main` wrapper that
//! maps errors to exit codes and writes `--metrics-file`, and the man pages and shell
//! completions rendered from the clap definitions.

pub mod metrics;

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;
use sluice_stream::progress::Show;
use sluice_stream::{Error, OnError, Result};

/// Options every binary takes.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Common options")]
pub struct CommonArgs {
    /// What to do with a bad record: `fail` (stop, exit 1), `skip` (count it and go on) or
    /// `dead-letter=PATH` (append it to the NDJSON file PATH with its source, position and reason,
    /// and go on).
    #[arg(long, value_name = "POLICY", default_value = "fail")]
    pub on_error: OnError,

    /// Largest record accepted (bytes; K, M, G, KiB, MiB, GiB suffixes). Larger records go
    /// through --on-error without being held in memory.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_record_bytes: u64,

    /// Never show progress. On a terminal, a bar of bytes read (rate, ETA) is shown by the
    /// stage that reads files, the head of a pipeline; stages reading a pipe stay quiet.
    #[arg(short, long, conflicts_with = "progress")]
    pub quiet: bool,

    /// Show progress on a terminal even when reading a pipe (bytes and rate, no ETA).
    #[arg(long)]
    pub progress: bool,

    /// At the end, print a one-line JSON summary to stderr: records in, out, rejected, bytes
    /// and seconds.
    #[arg(long)]
    pub stats: bool,

    /// At the end, replace PATH (atomically) with the run's metrics in Prometheus' text format,
    /// for node_exporter's textfile collector: records in, out and rejected, bytes, seconds,
    /// exit status, and the time of the last successful run (kept across failed runs).
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
}

impl CommonArgs {
    /// When to show progress.
    pub fn show_progress(&self) -> Show {
        match (self.quiet, self.progress) {
            (true, _) => Show::Never,
            (false, true) => Show::Always,
            (false, false) => Show::Auto,
        }
    }

    /// The record size guard as a buffer length.
    pub fn max_record_len(&self) -> usize {
        usize::try_from(self.max_record_bytes).unwrap_or(usize::MAX)
    }
}

/// Where the embedded topic log lives (produce and consume).
#[derive(Args, Debug, Clone)]
pub struct LogDirArgs {
    /// The log directory holding the topics. Default: $SLUICE_LOG_DIR, else
    /// $XDG_STATE_HOME/sluice/log, else ~/.local/state/sluice/log (cron has HOME, so cron jobs
    /// and terminals share it).
    #[arg(long, value_name = "DIR", env = "SLUICE_LOG_DIR")]
    pub log_dir: Option<std::path::PathBuf>,
}

impl LogDirArgs {
    /// The directory to use.
    pub fn resolve(&self) -> Result<std::path::PathBuf> {
        if let Some(dir) = &self.log_dir {
            return Ok(dir.clone());
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .filter(|v| !v.is_empty())
            .map(std::path::PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".local/state"))
            });
        state
            .map(|s| s.join("sluice/log"))
            .ok_or_else(|| Error::Usage("no log directory: set --log-dir or SLUICE_LOG_DIR".into()))
    }
}

/// Parses a duration such as `90s`, `15m`, `1h`, `7d` or `500ms` into milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (e.g. 500ms, 90s, 15m, 1h, 7d)"))?;
    let factor = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return Err(format!("'{text}' has an unknown unit (ms, s, m, h, d, w)")),
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is out of range"))
}

/// Parses a field separator: one ASCII character, or `\t` / `tab` for a tab. A line break or
/// the quote character cannot separate fields.
pub fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        "\n" | "\r" | "\"" => Err(format!(
            "{text:?} cannot separate fields (it ends rows or quotes fields)"
        )),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err(format!("'{text}' is not one ASCII character")),
    }
}

/// Parses a byte size such as `16MiB`, `512K` or `1000`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 1000, 64K, 16MiB, 1G)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "'{text}' has an unknown unit (use K, M, G, KiB, MiB, GiB)"
            ))
        }
    };
    number
        .checked_mul(factor)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("'{text}' is out of range"))
}

/// Runs a binary's body and turns its result into the documented exit code: 0 on success (and
/// when stdout was closed early, as by `| head`), 1 on failure, 2 on a usage error. Only this
/// function prints the error. With `metrics_file` (`--metrics-file`), the run's metrics are
/// written there at the end, whatever the outcome.
pub fn main_with(
    program: &str,
    metrics_file: Option<&Path>,
    run: impl FnOnce() -> Result<()>,
) -> ExitCode {
    let code = match run() {
        Ok(()) => 0,
        Err(err) if err.is_broken_pipe() => 0,
        Err(err) => {
            eprintln!("{program}: {err}");
            if let Error::Usage(_) = err {
                eprintln!("Try '{program} --help' for more information.");
            }
            err.exit_code()
        }
    };
    let Some(path) = metrics_file else {
        return ExitCode::from(code);
    };
    let counts = sluice_stream::stats::last_run().unwrap_or_default();
    match metrics::write(path, program, counts, code) {
        Ok(()) => ExitCode::from(code),
        Err(err) => {
            eprintln!("{program}: {err}");
            ExitCode::from(code.max(1))
        }
    }
}

/// The exit status section every man page and `--help` shares.
pub const EXIT_STATUS: &str = "\
Exit status:
  0  success; also when stdout is closed early (as by `| head`; bad records met until then
     are still reported), and when bad records were handled by --on-error skip or
     dead-letter (they are counted on stderr and in --stats)
  1  failure: an input or output error, or a bad record under --on-error fail
  2  usage error: a bad option or argument";

/// Renders a man page (roff) from a clap command.
pub fn man_page(command: clap::Command) -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut out)
        .expect("rendering to memory cannot fail");
    out
}

/// The shells that completion scripts are made for.
pub const COMPLETION_SHELLS: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Where `program`'s completion script for `shell` goes under `completions/`, named as the
/// shell looks it up (`bash/extract`, `zsh/_extract`, `fish/extract.fish`).
pub fn completion_path(shell: Shell, program: &str) -> String {
    match shell {
        Shell::Zsh => format!("zsh/_{program}"),
        Shell::Fish => format!("fish/{program}.fish"),
        other => format!("{other}/{program}"),
    }
}

/// Renders `shell`'s completion script for a clap command.
pub fn completion(mut command: clap::Command, shell: Shell) -> Vec<u8> {
    let name = command.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, name, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration_ms("7d").unwrap(), 604_800_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("90").unwrap(), 90_000);
        assert!(parse_duration_ms("1y").is_err());
    }

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_size("16MiB").unwrap(), 16 << 20);
        assert_eq!(parse_size("64K").unwrap(), 64_000);
        assert_eq!(parse_size("10").unwrap(), 10);
        assert!(parse_size("0").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }
}
