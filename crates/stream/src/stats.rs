//! Counting a run, for `--stats` and the closing messages.

use std::sync::Mutex;
use std::time::Instant;

/// What a run did, printed by `--stats` as one JSON line on stderr.
#[derive(Debug, Clone)]
pub struct Stats {
    /// The program's name.
    pub program: &'static str,
    /// Records read.
    pub records_in: u64,
    /// Records written.
    pub records_out: u64,
    /// Records handed to the `--on-error` policy.
    pub rejected: u64,
    /// Bytes read from inputs (as stored, before decompression).
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    started: Instant,
}

impl Stats {
    /// Starts the clock.
    pub fn new(program: &'static str) -> Self {
        Stats {
            program,
            records_in: 0,
            records_out: 0,
            rejected: 0,
            bytes_in: 0,
            bytes_out: 0,
            started: Instant::now(),
        }
    }

    /// Takes the output and rejection counts, and prints the summary when `print` (--stats).
    pub fn finish<W: std::io::Write>(
        &mut self,
        out: &crate::output::RecordWriter<W>,
        rejects: &crate::Rejects,
        print: bool,
    ) {
        self.records_out = out.records();
        self.bytes_out = out.bytes();
        self.rejected = rejects.count();
        if print {
            eprintln!("{}", self.to_json());
        }
    }

    /// The counts as they stand now.
    pub fn counts(&self) -> RunCounts {
        RunCounts {
            records_in: self.records_in,
            records_out: self.records_out,
            rejected: self.rejected,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            seconds: self.started.elapsed().as_secs_f64(),
        }
    }

    /// The one-line JSON summary.
    pub fn to_json(&self) -> String {
        format!(
            "{{\"program\":\"{}\",\"records_in\":{},\"records_out\":{},\"rejected\":{},\"bytes_in\":{},\"bytes_out\":{},\"seconds\":{:.3}}}",
            self.program,
            self.records_in,
            self.records_out,
            self.rejected,
            self.bytes_in,
            self.bytes_out,
            self.started.elapsed().as_secs_f64()
        )
    }
}

/// Leaves the counts for [`last_run`]: the run's counts are those of its outermost `Stats`,
/// the last one dropped, however the run ended.
impl Drop for Stats {
    fn drop(&mut self) {
        let counts = self.counts();
        if let Ok(mut last) = LAST_RUN.lock() {
            *last = Some(counts);
        }
    }
}

/// What a finished run counted (for `--metrics-file`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunCounts {
    /// Records read.
    pub records_in: u64,
    /// Records written.
    pub records_out: u64,
    /// Records handed to the `--on-error` policy.
    pub rejected: u64,
    /// Bytes read.
    pub bytes_in: u64,
    /// Bytes written.
    pub bytes_out: u64,
    /// Seconds from start to finish.
    pub seconds: f64,
}

static LAST_RUN: Mutex<Option<RunCounts>> = Mutex::new(None);

/// The counts of the run that ended last in this process, if any ran.
pub fn last_run() -> Option<RunCounts> {
    LAST_RUN.lock().ok().and_then(|last| *last)
}
