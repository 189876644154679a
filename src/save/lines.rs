//! `--jsonl FILE|-`: one JSON object per item, one line each, in one file (or on stdout).
//!
//! Same contract as the directory sink: an item is recorded whole or not at all, and a re-run
//! resumes. Each record is one `write` of a whole line to a file opened for appending, so a
//! crash can leave at most one partial line, the last; opening the file again cuts it off and
//! notes which items (`n`) are recorded, in a bitset (flat memory: 125 KB per million items).

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// What a record says besides its body.
#[derive(Debug, Clone, Default)]
pub struct RecordHead {
    /// The URL, redacted.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Selected response headers (`content-type`, `etag`, `last-modified`), lower-case.
    pub headers: Vec<(String, String)>,
}

/// Why the JSON Lines file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LinesError {
    /// It cannot be opened, read, cut or written.
    #[error("--jsonl {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A complete line of it is not a record gather wrote.
    #[error("--jsonl {}, line {line}: not a gather record ({reason})", .path.display())]
    NotARecord {
        /// The file.
        path: PathBuf,
        /// The line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The JSON Lines sink.
#[derive(Debug)]
pub struct JsonLines {
    out: Mutex<Out>,
    recorded: Vec<u64>,
}

#[derive(Debug)]
enum Out {
    File(fs::File),
    Stdout(io::Stdout),
}

impl Out {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        match self {
            Out::File(file) => file.write_all(line),
            Out::Stdout(stdout) => {
                let mut stdout = stdout.lock();
                stdout.write_all(line)?;
                stdout.flush()
            }
        }
    }
}

impl JsonLines {
    /// Opens `path` for appending (`-` for stdout): an existing file's partial last line is cut
    /// off and its records noted, so that they are skipped.
    pub fn open(path: &Path) -> Result<Self, LinesError> {
        if path.as_os_str() == "-" {
            return Ok(Self {
                out: Mutex::new(Out::Stdout(io::stdout())),
                recorded: Vec::new(),
            });
        }
        let io_error = |source| LinesError::Io {
            path: path.to_owned(),
            source,
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error)?;
        let mut recorded = Vec::new();
        let mut whole = 0u64;
        let mut reader = io::BufReader::new(&file);
        let mut line = Vec::new();
        let mut number = 0;
        loop {
            line.clear();
            let read = reader.read_until(b'\n', &mut line).map_err(io_error)?;
            if read == 0 || line.last() != Some(&b'\n') {
                break;
            }
            number += 1;
            let n = serde_json::from_slice::<Value>(&line)
                .map_err(|e| e.to_string())
                .and_then(|record| record["n"].as_u64().ok_or_else(|| "no `n`".to_owned()))
                .map_err(|reason| LinesError::NotARecord {
                    path: path.to_owned(),
                    line: number,
                    reason,
                })?;
            mark(&mut recorded, n);
            whole += read as u64;
        }
        // A line without its newline is the record a killed run was writing: cut off.
        file.set_len(whole).map_err(io_error)?;
        Ok(Self {
            out: Mutex::new(Out::File(file)),
            recorded,
        })
    }

    /// Whether item `n` is recorded already.
    pub fn contains(&self, n: u64) -> bool {
        let (word, bit) = ((n / 64) as usize, n % 64);
        self.recorded.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Appends item `n`'s record, in one write.
    pub fn append(&self, n: u64, head: &RecordHead, body: &[u8]) -> io::Result<()> {
        let mut line = serde_json::to_vec(&record(n, head, body)).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_line(&line)
    }
}

fn mark(bits: &mut Vec<u64>, n: u64) {
    let word = (n / 64) as usize;
    if bits.len() <= word {
        bits.resize(word + 1, 0);
    }
    bits[word] |= 1 << (n % 64);
}

/// One item's record: the body as JSON when it is JSON, else as a string, else base64.
fn record(n: u64, head: &RecordHead, body: &[u8]) -> Value {
    let headers: Map<String, Value> = head
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), Value::String(value.clone())))
        .collect();
    let mut record = json!({
        "n": n,
        "url": head.url,
        "status": head.status,
        "headers": headers,
    });
    let (body, encoding) = match serde_json::from_slice::<Value>(body) {
        Ok(value) => (value, None),
        Err(_) => match std::str::from_utf8(body) {
            Ok(text) => (Value::String(text.to_owned()), None),
            Err(_) => (
                Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
                Some("base64"),
            ),
        },
    };
    record["body"] = body;
    if let Some(encoding) = encoding {
        record["encoding"] = Value::String(encoding.to_owned());
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_json_text_or_base64() {
        let head = RecordHead::default();
        assert_eq!(record(1, &head, br#"{"a":1}"#)["body"]["a"], 1);
        assert_eq!(record(1, &head, b"<html>")["body"], "<html>");
        let binary = record(1, &head, &[0xff, 0x00]);
        assert_eq!(binary["body"], "/wA=");
        assert_eq!(binary["encoding"], "base64");
    }

    #[test]
    fn a_partial_last_line_is_cut_and_whole_records_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(
            &path,
            "{\"n\":3,\"body\":1}\n{\"n\":70,\"body\":2}\n{\"n\":5,\"bo",
        )
        .unwrap();
        let lines = JsonLines::open(&path).unwrap();
        assert!(lines.contains(3) && lines.contains(70) && !lines.contains(5));
        lines.append(5, &RecordHead::default(), b"[]").unwrap();
        drop(lines);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("{\"n\":70,\"body\":2}\n{\"body\":[],\"headers\":{},\"n\":5,\"status\":0,\"url\":\"\"}\n"), "{text}");
        fs::write(&path, "not json\n").unwrap();
        assert!(matches!(
            JsonLines::open(&path),
            Err(LinesError::NotARecord { line: 1, .. })
        ));
    }
}
