//! One progress display on a terminal for a whole pipeline.
//!
//! Every stage of `extract big.csv | transform … | load out.parquet` has the terminal as its
//! stderr. Only the stage that knows how much input there is (the head of the pipe, reading
//! files) draws a bar; stages reading a pipe stay quiet unless `--progress` asks for one. The
//! display is cleared when the run ends, on success or error, so nothing stale is left on screen.

use std::fs::File;
use std::io::{self, IsTerminal};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::input::is_stdin;

/// When to show progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Show {
    /// Never (`--quiet`).
    Never,
    /// When stderr is a terminal and the input's size is known (files, not pipes).
    Auto,
    /// When stderr is a terminal, also for input from a pipe (`--progress`).
    Always,
}

/// The progress display of one run: a bar of bytes read with rate and ETA when the input's
/// size is known, a spinner counting bytes otherwise, or nothing. Cleared when dropped.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// No display.
    pub fn none() -> Self {
        Progress { bar: None }
    }

    /// The display for reading `inputs` (`-` is stdin).
    pub fn for_inputs(show: Show, inputs: &[String]) -> Self {
        Self::new(show, total_size(inputs))
    }

    /// The display for reading `total` bytes (unknown for a pipe).
    pub fn new(show: Show, total: Option<u64>) -> Self {
        let wanted = match show {
            Show::Never => false,
            Show::Auto => total.is_some(),
            Show::Always => true,
        };
        if !wanted || !io::stderr().is_terminal() {
            return Self::none();
        }
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                "{bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{spinner} {binary_bytes} {binary_bytes_per_sec}",
            ),
        };
        let bar = bar.with_style(ProgressStyle::with_template(template).expect("valid template"));
        bar.enable_steady_tick(Duration::from_millis(200));
        if let Ok(mut shown) = SHOWN.lock() {
            *shown = Some(bar.clone());
        }
        Progress { bar: Some(bar) }
    }

    /// The bar to count bytes on, if one is shown.
    pub fn bar(&self) -> Option<&ProgressBar> {
        self.bar.as_ref()
    }

    /// Takes the display off the screen (the run's work is done).
    pub fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            if let Ok(mut shown) = SHOWN.lock() {
                *shown = None;
            }
        }
    }
}

/// The display on screen now, if any, for [`note`].
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Writes a line to stderr (a warning, a count of bad records) without breaking the progress
/// display: the display steps aside while the line is written, and is drawn again below it.
pub fn note(line: std::fmt::Arguments<'_>) {
    let shown = SHOWN.lock().ok().and_then(|shown| shown.clone());
    match shown {
        Some(bar) => bar.suspend(|| eprintln!("{line}")),
        None => eprintln!("{line}"),
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

/// The bytes `inputs` hold, when every one is a regular file (stdin too, as in `< file`).
pub fn total_size(inputs: &[String]) -> Option<u64> {
    inputs.iter().map(|name| input_size(name)).sum()
}

fn input_size(name: &str) -> Option<u64> {
    let metadata = if is_stdin(name) {
        stdin_metadata()
    } else {
        std::fs::metadata(name).ok()
    }?;
    metadata.is_file().then_some(metadata.len())
}

/// What stdin is: a regular file when redirected from one.
fn stdin_metadata() -> Option<std::fs::Metadata> {
    let stdin = io::stdin();
    let fd = std::os::fd::AsFd::as_fd(&stdin).try_clone_to_owned().ok()?;
    File::from(fd).metadata().ok()
}
