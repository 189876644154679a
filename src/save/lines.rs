//! `--jsonl FILE|-`: one JSON object per item, one line each, in one file (or on stdout).
//!
//! The contract of every single-file sink (`sink.rs`): each record is one `write` of a whole
//! line to a file opened for appending, so a crash can leave at most one partial line, the
//! last; opening the file again cuts it off and notes which items (`n`) are recorded.

use std::fs;
use std::io::{self, BufRead, Write};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use tokio_util::sync::CancellationToken;

use super::sink::{RecordHead, Recorded, SinkError, open_append};

const FLAG: &str = "--jsonl";

/// The JSON Lines sink.
#[derive(Debug)]
pub struct JsonLines {
    out: Mutex<Out>,
    recorded: Recorded,
    /// Cancelled when stdout's reader has gone (`--jsonl - | head`), so that the run stops
    /// at once rather than when its records come back to the caller.
    stop: Option<CancellationToken>,
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
    pub fn open(path: &Path) -> Result<Self, SinkError> {
        if path.as_os_str() == "-" {
            return Ok(Self {
                out: Mutex::new(Out::Stdout(io::stdout())),
                recorded: Recorded::default(),
                stop: None,
            });
        }
        let io_error = |source| SinkError::Io {
            flag: FLAG,
            path: path.to_owned(),
            source,
        };
        let file = open_append(FLAG, path)?;
        let mut recorded = Recorded::default();
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
            let record = serde_json::from_slice::<Value>(&line).map_err(|e| e.to_string());
            let item = record.and_then(|record| {
                let n = record["n"].as_u64().ok_or("no `n`")?;
                // The item's own URL: `item_url` when redirects led elsewhere, else `url`.
                let url = record["item_url"]
                    .as_str()
                    .or_else(|| record["url"].as_str());
                Ok((n, url.unwrap_or_default().to_owned()))
            });
            let (n, url) = item.map_err(|reason: String| SinkError::NotARecord {
                flag: FLAG,
                path: path.to_owned(),
                at: format!("line {number}"),
                reason,
            })?;
            recorded.mark(n, &url);
            whole += read as u64;
        }
        // A line without its newline is the record a killed run was writing: cut off.
        file.set_len(whole).map_err(io_error)?;
        Ok(Self {
            out: Mutex::new(Out::File(file)),
            recorded,
            stop: None,
        })
    }

    /// These lines, cancelling `stop` when they cannot be written because the reader of the
    /// pipe they go to has gone.
    pub fn stop_when_closed(self, stop: CancellationToken) -> Self {
        Self {
            stop: Some(stop),
            ..self
        }
    }

    /// Whether item `n`, fetched from `url` (redacted), is recorded already.
    pub fn contains(&self, n: u64, url: &str) -> bool {
        self.recorded.contains(n, url)
    }

    /// Whether the file held no record when it was opened.
    pub fn is_empty(&self) -> bool {
        self.recorded.is_empty()
    }

    /// Appends item `n`'s record, in one write.
    pub fn append(&self, n: u64, head: &RecordHead, body: &[u8]) -> io::Result<()> {
        let mut line = serde_json::to_vec(&record(n, head, body)).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let written = out.write_line(&line);
        if let (Err(e), Some(stop)) = (&written, &self.stop)
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            stop.cancel();
        }
        written
    }
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
    if let Some(item_url) = &head.item_url {
        record["item_url"] = Value::String(item_url.clone());
    }
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
        // Records without a URL are noted under none; another URL is another item.
        assert!(lines.contains(3, "") && lines.contains(70, "") && !lines.contains(5, ""));
        assert!(!lines.contains(3, "http://elsewhere/3"));
        lines.append(5, &RecordHead::default(), b"[]").unwrap();
        drop(lines);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("{\"n\":70,\"body\":2}\n{\"body\":[],\"headers\":{},\"n\":5,\"status\":0,\"url\":\"\"}\n"), "{text}");
        fs::write(&path, "not json\n").unwrap();
        assert!(matches!(
            JsonLines::open(&path),
            Err(SinkError::NotARecord { at, .. }) if at == "line 1"
        ));
    }
}
