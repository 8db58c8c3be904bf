//! Counting a run, for `--stats` and the closing messages.

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
