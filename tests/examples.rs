//! The scripts in examples/ run as documented.

use std::path::Path;
use std::process::Command;

fn bin_dir() -> String {
    Path::new(env!("CARGO_BIN_EXE_extract"))
        .parent()
        .unwrap()
        .display()
        .to_string()
}

fn example(name: &str) -> Command {
    let mut command = Command::new("bash");
    command
        .arg(format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR")))
        .env("SLUICE_BIN", bin_dir());
    command
}

#[test]
fn quickstart_pipeline_runs_on_the_real_data() {
    let out = tempfile::tempdir().unwrap();
    let stdout = quickstart_output(example("quickstart.sh").arg(out.path()));
    assert!(stdout.contains("delays.csv:      336776 rows"), "{stdout}");
    assert!(
        stdout.contains("origin=EWR origin=JFK origin=LGA"),
        "{stdout}"
    );
}

#[test]
fn cron_job_moves_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    let lake = dir.path().join("lake");
    let state = dir.path().join("state.json");
    std::fs::create_dir(&logs).unwrap();
    let append = |file: &str, from: u32, to: u32| {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(logs.join(file))
            .unwrap();
        for i in from..to {
            writeln!(f, "{{\"id\":{i},\"file\":\"{file}\"}}").unwrap();
        }
    };
    let run = || {
        let result = example("cron-incremental.sh")
            .args([&logs, &lake, &state])
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    };
    append("a.ndjson", 0, 100);
    run();
    append("a.ndjson", 100, 150);
    append("b.ndjson", 150, 200);
    run();
    run(); // nothing new: no new part, nothing repeated
    let parts: Vec<_> = std::fs::read_dir(&lake)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    let output = Command::new(env!("CARGO_BIN_EXE_extract"))
        .arg(&lake)
        .output()
        .unwrap();
    let mut ids: Vec<u64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..200).collect::<Vec<_>>());
}

#[test]
fn micro_batch_job_delivers_every_record_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let out = dir.path().join("out");
    let produce = |from: u32, to: u32| {
        let input: String = (from..to).map(|i| format!("{{\"id\":{i}}}\n")).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_produce"))
            .args(["weather", "--partitions", "3"])
            .env("SLUICE_LOG_DIR", &log)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    let run = || {
        let result = example("cron-micro-batch.sh")
            .args(["weather".as_ref(), out.as_os_str()])
            .env("SLUICE_LOG_DIR", &log)
            .output()
            .unwrap();
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    };
    produce(0, 1000);
    run();
    produce(1000, 1500);
    run();
    let parts: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(parts.len(), 2, "one file per run: {parts:?}");
    let output = Command::new(env!("CARGO_BIN_EXE_extract"))
        .arg(&out)
        .output()
        .unwrap();
    let mut ids: Vec<u64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, (0..1500).collect::<Vec<_>>());
}

#[test]
fn cron_compact_example_lands_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = example("cron-compact.sh")
        .args([dir.path().as_os_str(), "40".as_ref()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("records: 26115 landed, 26115 in the lake"),
        "{stdout}"
    );
    // One file per day: late records were packed into their windows' files.
    assert!(
        stdout.contains("lake: 364 Parquet files in 364 daily windows, 9 runs"),
        "{stdout}"
    );
}

#[test]
fn delays_example_filters_transforms_and_aggregates() {
    let out = tempfile::tempdir().unwrap();
    let result = example("delays.sh").arg(out.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    for line in [
        "hot.csv:        51 hot JFK hours",
        "late.parquet:   26581 late flights",
        "on-time.ndjson: 310195 other flights",
        "hourly.csv:     19486 origin-hours",
        "late to LAX:    {\"dest_name\":\"Los Angeles Intl\"}",
    ] {
        assert!(stdout.contains(line), "{stdout}");
    }
}

/// README's first command on a fresh clone: the repository alone (no sibling folders), run
/// from another working directory, into an OUTDIR that does not exist yet.
#[test]
fn quickstart_runs_on_a_fresh_clone_with_nothing_beside_it() {
    let root = env!("CARGO_MANIFEST_DIR");
    assert!(
        Path::new(root).join(".git").exists(),
        "this test clones the repository: run it from a git checkout"
    );
    let empty = tempfile::tempdir().unwrap();
    let clone = empty.path().join("sluice");
    git(
        empty.path(),
        &["clone", "--quiet", "--no-hardlinks", root, "sluice"],
    );
    // Spelled in two pieces so that this file does not match itself.
    let sibling = concat!("..", "/shared");
    let referring = git(&clone, &["grep", "-l", "-F", "-e", sibling]);
    assert!(
        referring.is_empty(),
        "files that refer to {sibling}, which a clone does not have:\n{referring}"
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let out = elsewhere.path().join("not/made/yet");
    let mut quickstart = Command::new("bash");
    quickstart
        .arg(clone.join("examples/quickstart.sh"))
        .arg(&out)
        .current_dir(elsewhere.path())
        .env("SLUICE_BIN", bin_dir())
        .env_remove("SLUICE_DATA");
    quickstart_output(&mut quickstart);
    assert!(out.join("flights.parquet").is_file());
}

/// Runs the quickstart; its stdout, once it succeeded and counted every flight.
fn quickstart_output(quickstart: &mut Command) -> String {
    let result = quickstart.output().unwrap();
    let stdout = String::from_utf8_lossy(&result.stdout).into_owned();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        stdout.contains("flights.parquet: 336776 records"),
        "{stdout}"
    );
    stdout
}

/// Runs git in `dir`; its stdout. `git grep` finding nothing (exit 1) is an empty answer.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let nothing_found = args[0] == "grep" && out.status.code() == Some(1);
    assert!(
        out.status.success() || nothing_found,
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
