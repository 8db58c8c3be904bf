//! Which files to read, and what format each is in.

use std::path::{Path, PathBuf};

use sluice_lake::Lake;
use sluice_stream::input::{extension, is_stdin, Compression};
use sluice_stream::{Error, Result};

/// An input format `extract` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values (RFC 4180), or any --delimiter.
    Csv,
    /// Tab-separated values.
    Tsv,
    /// A JSON array of objects, one object, or objects one after another (pretty or not).
    Json,
    /// Newline-delimited JSON: one object per line.
    Ndjson,
    /// Apache Parquet.
    Parquet,
    /// Arrow IPC, file or stream format (also Feather v2).
    Arrow,
}

impl Format {
    /// The format a file name's extension names (after any compression extension).
    pub fn from_name(name: &str) -> Option<Format> {
        match extension(Compression::strip_extension(name)).as_deref()? {
            "csv" => Some(Format::Csv),
            "tsv" | "tab" => Some(Format::Tsv),
            "json" => Some(Format::Json),
            "ndjson" | "jsonl" | "ldjson" => Some(Format::Ndjson),
            "parquet" | "pq" => Some(Format::Parquet),
            "arrow" | "arrows" | "feather" | "ipc" => Some(Format::Arrow),
            _ => None,
        }
    }

    /// Whether more bytes could change what [`Format::sniff`] says of `head`: it may be the
    /// start of a magic number or of a byte order mark, or it holds only whitespace so far.
    pub fn undecided(head: &[u8]) -> bool {
        const STARTS: [&[u8]; 4] = [b"PAR1", b"ARROW1", &[0xff; 4], b"\xef\xbb\xbf"];
        if STARTS
            .iter()
            .any(|start| head.len() < start.len() && start.starts_with(head))
        {
            return true;
        }
        let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        text.iter().all(u8::is_ascii_whitespace)
    }

    /// The format the first (decompressed) bytes show; CSV when nothing else fits.
    pub fn sniff(head: &[u8]) -> Format {
        if head.starts_with(b"PAR1") {
            return Format::Parquet;
        }
        if head.starts_with(b"ARROW1") || head.starts_with(&[0xff, 0xff, 0xff, 0xff]) {
            return Format::Arrow;
        }
        let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        match head.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Format::Ndjson,
            Some(b'[') => Format::Json,
            _ => Format::Csv,
        }
    }
}

/// Expands the command line's inputs: `-` is stdin; a directory stands for every file below it
/// (recursively, sorted by path, hidden files left out), except that a lake written by
/// `compact` stands for the files its latest manifest names; a pattern with `*`, `?` or `[` that
/// names no existing file is a glob (sorted).
pub fn expand(inputs: &[String]) -> Result<Vec<String>> {
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if is_stdin(input) || path.is_file() {
            files.push(input.clone());
        } else if let Some(committed) = Lake::committed_files(path)? {
            // A lake made by `compact`: only the files its latest manifest names.
            files.extend(committed.iter().map(|p| p.to_string_lossy().into_owned()));
        } else if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            files.extend(found.into_iter().map(|p| p.to_string_lossy().into_owned()));
        } else if input.contains(['*', '?', '[']) {
            // Like the shell: a leading dot must be matched literally.
            let options = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..glob::MatchOptions::new()
            };
            let mut matched: Vec<PathBuf> = glob::glob_with(input, options)
                .map_err(|e| Error::Usage(format!("bad pattern {input:?}: {e}")))?
                .filter_map(|entry| entry.ok())
                .filter(|p| p.is_file())
                .collect();
            if matched.is_empty() {
                return Err(Error::Other(format!("no file matches {input:?}")));
            }
            matched.sort();
            files.extend(
                matched
                    .into_iter()
                    .map(|p| p.to_string_lossy().into_owned()),
            );
        } else {
            return Err(Error::Other(format!(
                "cannot open {input}: no such file or directory"
            )));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found)?;
        } else if path.is_file() {
            found.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_names_then_bytes() {
        assert_eq!(Format::from_name("a/b.csv.gz"), Some(Format::Csv));
        assert_eq!(Format::from_name("x.JSONL"), Some(Format::Ndjson));
        assert_eq!(Format::from_name("x.log"), None);
        assert_eq!(Format::sniff(b"PAR1\x15"), Format::Parquet);
        assert_eq!(Format::sniff(b"\xef\xbb\xbf  {\"a\":1}"), Format::Ndjson);
        assert_eq!(Format::sniff(b"[{}]"), Format::Json);
        assert_eq!(Format::sniff(b"a,b\n"), Format::Csv);
        for (head, undecided) in [
            (&b""[..], true),
            (b"PA", true),
            (b"ARROW", true),
            (b"\xff\xff", true),
            (b"\xef\xbb", true),
            (b"\xef\xbb\xbf \n", true),
            (b"PAR1", false),
            (b"PAB", false),
            (b"{", false),
            (b" [", false),
            (b"\xef\xbb\xbfa", false),
            (b"\xff\xff\xff\xff", false),
        ] {
            assert_eq!(Format::undecided(head), undecided, "{head:?}");
        }
    }

    #[test]
    fn directories_expand_recursively_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for f in ["b.csv", "a.csv", "sub/c.csv", ".hidden.csv"] {
            std::fs::write(dir.path().join(f), "x\n").unwrap();
        }
        let files = expand(&[dir.path().to_string_lossy().into_owned()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                f.rsplit_once(&*dir.path().to_string_lossy())
                    .unwrap()
                    .1
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["/a.csv", "/b.csv", "/sub/c.csv"]);
        let pattern = format!("{}/*.csv", dir.path().display());
        assert_eq!(expand(&[pattern]).unwrap().len(), 2);
    }
}
