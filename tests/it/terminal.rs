//! What a person or a monitor sees of a run: one progress display on a real terminal (tmux),
//! and `--metrics-file` for cron jobs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// The folder holding the binaries under test.
fn bin_dir() -> String {
    Path::new(EXTRACT).parent().unwrap().display().to_string()
}

/// A tmux server of the test's own, with one 200×50 pane running a bash script.
struct Pane {
    socket: String,
}

impl Pane {
    fn start(dir: &Path, script: &str) -> Pane {
        let path = dir.join("script.sh");
        std::fs::write(&path, script).unwrap();
        let pane = Pane {
            socket: dir.join("tmux.sock").display().to_string(),
        };
        let status = pane
            .tmux(&["new-session", "-d", "-x", "200", "-y", "50"])
            .arg(format!("bash {}", path.display()))
            .status()
            .expect("tmux is needed for the terminal tests (.ci/setup installs it)");
        assert!(status.success(), "tmux did not start");
        pane
    }

    fn tmux(&self, args: &[&str]) -> Command {
        let mut command = Command::new("tmux");
        command
            .args(["-S", &self.socket, "-f", "/dev/null"])
            .args(args);
        command
    }

    /// The screen's lines as a person sees them.
    fn screen(&self) -> Vec<String> {
        let out = self.tmux(&["capture-pane", "-p"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines().map(str::to_string).collect()
    }

    /// Waits (up to 60 s) until the screen satisfies `done`, and returns it.
    fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "waited in vain for {what}; the screen:\n{}",
                screen.join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Pane {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]).status();
    }
}

fn has(screen: &[String], text: &str) -> bool {
    screen.iter().any(|l| l.contains(text))
}

/// Progress lines: the bar and the spinner both show a rate.
fn progress_lines(screen: &[String]) -> usize {
    screen.iter().filter(|l| l.contains("B/s")).count()
}

#[test]
fn a_pipeline_on_a_terminal_shows_one_bar_and_leaves_nothing_stale() {
    let dir = tmp();
    let out = dir.path().join("out.parquet");
    // The pause in the middle holds the pipeline long enough to look at the screen while
    // extract's bar is up; transform and load read pipes, so they stay quiet.
    let script = format!(
        "export PATH='{bin}':$PATH\n\
         set -o pipefail\n\
         extract --null NA '{flights}' | {{ sleep 3; cat; }} | transform --drop year \
           | load '{out}'\n\
         echo \"pipeline exit=$?\"\n\
         sleep 60\n",
        bin = bin_dir(),
        flights = data("flights.csv.gz"),
        out = out.display(),
    );
    let pane = Pane::start(dir.path(), &script);
    let live = pane.wait_for("extract's bar", |s| {
        has(s, "ETA") || has(s, "pipeline exit")
    });
    assert!(
        has(&live, "ETA"),
        "no bar while the pipeline ran:\n{}",
        live.join("\n")
    );
    assert_eq!(
        progress_lines(&live),
        1,
        "one display only:\n{}",
        live.join("\n")
    );
    let end = pane.wait_for("the pipeline's end", |s| has(s, "pipeline exit"));
    assert!(has(&end, "pipeline exit=0"), "{}", end.join("\n"));
    assert_eq!(
        progress_lines(&end),
        0,
        "stale progress:\n{}",
        end.join("\n")
    );
    assert!(!has(&end, "ETA"), "stale progress:\n{}", end.join("\n"));
}

#[test]
fn a_stage_reading_a_pipe_shows_progress_only_when_asked() {
    let dir = tmp();
    let script = format!(
        "export PATH='{bin}':$PATH\n\
         echo quiet-stage\n\
         {{ sleep 2; echo '{{\"a\":1}}'; }} | load --overwrite '{dir}/quiet.ndjson'\n\
         echo asked-stage\n\
         {{ sleep 4; echo '{{\"a\":1}}'; }} | load --progress --overwrite '{dir}/asked.ndjson'\n\
         echo \"both done\"\n\
         sleep 60\n",
        bin = bin_dir(),
        dir = dir.path().display(),
    );
    let pane = Pane::start(dir.path(), &script);
    pane.wait_for("the quiet stage", |s| has(s, "quiet-stage"));
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        let screen = pane.screen();
        if has(&screen, "asked-stage") {
            break;
        }
        assert_eq!(progress_lines(&screen), 0, "{}", screen.join("\n"));
        std::thread::sleep(Duration::from_millis(100));
    }
    let asked = pane.wait_for("load --progress's spinner", |s| {
        progress_lines(s) == 1 || has(s, "both done")
    });
    assert_eq!(progress_lines(&asked), 1, "{}", asked.join("\n"));
    let end = pane.wait_for("the end", |s| has(s, "both done"));
    assert_eq!(
        progress_lines(&end),
        0,
        "stale progress:\n{}",
        end.join("\n")
    );
}

#[test]
fn a_note_written_while_the_bar_is_up_stands_on_a_line_of_its_own() {
    let dir = tmp();
    // A ragged last row: skipped, and counted on stderr while extract's bar is on screen.
    let script = format!(
        "export PATH='{bin}':$PATH\n\
         {{ zcat '{flights}'; echo 'a,b'; }} > '{dir}/big.csv'\n\
         extract --null NA --on-error skip '{dir}/big.csv' | {{ sleep 2; cat > /dev/null; }}\n\
         echo \"pipeline done\"\n\
         sleep 60\n",
        bin = bin_dir(),
        flights = data("flights.csv.gz"),
        dir = dir.path().display(),
    );
    let pane = Pane::start(dir.path(), &script);
    let live = pane.wait_for("extract's bar", |s| {
        has(s, "ETA") || has(s, "pipeline done")
    });
    assert!(
        has(&live, "ETA"),
        "no bar while extract ran:\n{}",
        live.join("\n")
    );
    let end = pane.wait_for("the end", |s| has(s, "pipeline done"));
    let note = end.iter().find(|l| l.contains("skipped 1 bad record(s)"));
    assert_eq!(
        note.map(String::as_str),
        Some("extract: skipped 1 bad record(s)"),
        "{}",
        end.join("\n")
    );
    assert_eq!(
        progress_lines(&end),
        0,
        "stale progress:\n{}",
        end.join("\n")
    );
}

/// The value of `metric` in a Prometheus text file.
fn metric(text: &str, metric: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{metric}{{")))
        .unwrap_or_else(|| panic!("no {metric} in:\n{text}"));
    line.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn metrics_files_report_each_run_and_keep_the_last_success() {
    let dir = tmp();
    let extract_prom = dir.path().join("flights_extract.prom");
    let load_prom = dir.path().join("flights_load.prom");
    let parquet = dir.path().join("flights.parquet");
    let (extracted, loaded) = pipeline(
        [
            "--null",
            "NA",
            &data("flights.csv.gz"),
            "--metrics-file",
            extract_prom.to_str().unwrap(),
        ],
        [
            "--metrics-file",
            load_prom.to_str().unwrap(),
            parquet.to_str().unwrap(),
        ],
    );
    extracted.expect_clean();
    loaded.expect_clean();
    let text = read(&extract_prom);
    assert!(
        text.contains(
            "sluice_run_records_out{program=\"extract\",name=\"flights_extract\"} 336776\n"
        ),
        "{text}"
    );
    for name in [
        "sluice_run_records_in",
        "sluice_run_records_rejected",
        "sluice_run_bytes_in",
        "sluice_run_duration_seconds",
        "sluice_last_success_timestamp_seconds",
    ] {
        assert!(text.contains(&format!("# TYPE {name} gauge\n")), "{text}");
    }
    assert_eq!(metric(&text, "sluice_run_exit_status"), 0.0);
    assert_eq!(metric(&text, "sluice_run_bytes_in"), 8_200_162.0);
    let succeeded = metric(&text, "sluice_last_success_timestamp_seconds");
    assert!(succeeded > 1.7e9, "{text}");
    let load_text = read(&load_prom);
    assert_eq!(metric(&load_text, "sluice_run_records_in"), 336_776.0);
    assert_eq!(metric(&load_text, "sluice_run_records_out"), 336_776.0);

    // A failed run: its exit status, and the last success as it was.
    std::thread::sleep(Duration::from_millis(20));
    let missing = dir.path().join("missing.csv");
    let failed = extract(
        [
            missing.to_str().unwrap(),
            "--metrics-file",
            extract_prom.to_str().unwrap(),
        ],
        b"",
    );
    failed.expect_code(1);
    let text = read(&extract_prom);
    assert_eq!(metric(&text, "sluice_run_exit_status"), 1.0);
    assert_eq!(
        metric(&text, "sluice_last_success_timestamp_seconds"),
        succeeded
    );
    assert!(metric(&text, "sluice_run_timestamp_seconds") > succeeded);

    // Bad records are counted as rejected; the run succeeds under skip.
    let skipped = run(
        FILTER,
        [
            ".a > 0",
            "--on-error",
            "skip",
            "--metrics-file",
            load_prom.to_str().unwrap(),
        ],
        b"{\"a\":1}\nnot json\n{\"a\":0}\n",
    );
    skipped.expect_code(0);
    let text = read(&load_prom);
    assert!(
        text.contains("{program=\"filter\",name=\"flights_load\"}"),
        "{text}"
    );
    assert_eq!(metric(&text, "sluice_run_records_rejected"), 1.0);
    assert_eq!(metric(&text, "sluice_run_records_out"), 1.0);
}
