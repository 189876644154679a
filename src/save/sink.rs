//! What the single-file sinks (`--jsonl`, `--warc`) share: the record head, the bitset of
//! items already recorded, the errors, and [`Sink`], which `OutputDir` routes commits to.
//!
//! Both keep the directory sink's contract: an item is recorded whole or not at all (whole
//! records appended under a lock, in one `write` unless WARC streams a large body), and a
//! re-run cuts the partial record a killed run left last, notes which items (`n`) are
//! recorded, and skips them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::lines::JsonLines;
use super::warc::Warc;

/// What a record says besides its body.
#[derive(Debug, Clone, Default)]
pub struct RecordHead {
    /// The URL, redacted.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// The HTTP version of the response, as `HTTP/1.1`.
    pub version: String,
    /// The request's method.
    pub method: String,
    /// Response headers: for `--jsonl` the selected ones (`content-type`, `etag`,
    /// `last-modified`), for `--warc` all of them, lower-case.
    pub headers: Vec<(String, String)>,
}

/// Why a single-file sink cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// It cannot be opened, read, cut or written.
    #[error("{flag} {}", .path.display())]
    Io {
        /// The option that named it: `--jsonl` or `--warc`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A complete record of it is not one gather wrote.
    #[error("{flag} {}, {at}: not a gather record ({reason})", .path.display())]
    NotARecord {
        /// The option that named it: `--jsonl` or `--warc`.
        flag: &'static str,
        /// The file.
        path: PathBuf,
        /// Where: `line 3`, `byte 1234`.
        at: String,
        /// What is wrong.
        reason: String,
    },
}

/// Opens `path` to be read, then appended to; created if missing.
///
/// It must be a regular file: a re-run reads it back and cuts it. A pipe (`/dev/stdout` in a
/// pipeline) would be read forever, waiting for what only this process could write, and a
/// device cannot be cut.
pub(super) fn open_append(flag: &'static str, path: &Path) -> Result<fs::File, SinkError> {
    let io_error = |source| SinkError::Io {
        flag,
        path: path.to_owned(),
        source,
    };
    let file = fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io_error)?;
    if !file.metadata().map_err(io_error)?.is_file() {
        return Err(io_error(io::Error::other(
            "not a regular file (a pipe or a device): a re-run reads the file back to resume",
        )));
    }
    Ok(file)
}

/// The items recorded already, by `n`: flat memory (125 KB per million items).
#[derive(Debug, Default)]
pub(super) struct Recorded(Vec<u64>);

impl Recorded {
    /// Notes item `n`.
    pub(super) fn mark(&mut self, n: u64) {
        let word = (n / 64) as usize;
        if self.0.len() <= word {
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (n % 64);
    }

    /// Whether item `n` is noted.
    pub(super) fn contains(&self, n: u64) -> bool {
        let (word, bit) = ((n / 64) as usize, n % 64);
        self.0.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }
}

/// A single-file sink: records go there instead of a file per item, keyed by `n`.
#[derive(Debug)]
pub enum Sink {
    /// `--jsonl`.
    Lines(JsonLines),
    /// `--warc`.
    Warc(Warc),
}

impl Sink {
    /// Whether item `n` is recorded already.
    pub fn contains(&self, n: u64) -> bool {
        match self {
            Sink::Lines(lines) => lines.contains(n),
            Sink::Warc(warc) => warc.contains(n),
        }
    }

    /// Appends item `n`'s record(s), whole, in one write.
    pub fn append(&self, n: u64, head: &RecordHead, body: &[u8]) -> io::Result<()> {
        match self {
            Sink::Lines(lines) => lines.append(n, head, body),
            Sink::Warc(warc) => warc.append(n, head, body),
        }
    }

    /// Appends item `n`'s record(s) for a body too large to hold in memory, read from `body`
    /// (a spilled temp file): WARC streams it; a JSON line holds it whole, as it must parse
    /// it.
    pub fn append_file(&self, n: u64, head: &RecordHead, mut body: fs::File) -> io::Result<()> {
        match self {
            Sink::Lines(lines) => {
                let mut bytes = Vec::new();
                io::Read::read_to_end(&mut body, &mut bytes)?;
                lines.append(n, head, &bytes)
            }
            Sink::Warc(warc) => warc.append_file(n, head, body),
        }
    }

    /// Whether records keep every response header (WARC), not only the selected ones.
    pub fn wants_all_headers(&self) -> bool {
        matches!(self, Sink::Warc(_))
    }
}

impl From<JsonLines> for Sink {
    fn from(lines: JsonLines) -> Self {
        Sink::Lines(lines)
    }
}

impl From<Warc> for Sink {
    fn from(warc: Warc) -> Self {
        Sink::Warc(warc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_notes_items_across_words() {
        let mut recorded = Recorded::default();
        recorded.mark(3);
        recorded.mark(70);
        assert!(recorded.contains(3) && recorded.contains(70));
        assert!(!recorded.contains(5) && !recorded.contains(1_000_000));
    }
}
