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
    /// The URL, redacted: the one that answered, after any redirects.
    pub url: String,
    /// The item's own URL, redacted, when redirects led elsewhere (`url`): what a re-run
    /// compares to tell the item is recorded.
    pub item_url: Option<String>,
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

/// The items recorded already: for each `n`, a fingerprint of its item's URL (0: not recorded),
/// so that a file written by another job (other ids, another template) is not taken for this
/// one's. Flat memory: 4 MB per million items.
#[derive(Debug, Default)]
pub(super) struct Recorded(Vec<u32>);

impl Recorded {
    /// Notes item `n`, fetched from `url` (redacted, as recorded).
    pub(super) fn mark(&mut self, n: u64, url: &str) {
        let Ok(n) = usize::try_from(n) else { return };
        if self.0.len() <= n {
            self.0.resize(n + 1, 0);
        }
        self.0[n] = fingerprint(url);
    }

    /// Whether item `n`, fetched from `url` (redacted), is noted.
    pub(super) fn contains(&self, n: u64, url: &str) -> bool {
        usize::try_from(n)
            .ok()
            .and_then(|n| self.0.get(n))
            .is_some_and(|&seen| seen != 0 && seen == fingerprint(url))
    }

    /// Whether nothing is noted.
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A URL's fingerprint: 32 bits of a hash, never 0.
fn fingerprint(url: &str) -> u32 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    url.hash(&mut hasher);
    (hasher.finish() as u32) | 1
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
    /// Whether item `n`, fetched from `url` (redacted), is recorded already.
    pub fn contains(&self, n: u64, url: &str) -> bool {
        match self {
            Sink::Lines(lines) => lines.contains(n, url),
            Sink::Warc(warc) => warc.contains(n, url),
        }
    }

    /// Whether the file held no record when it was opened.
    pub fn is_empty(&self) -> bool {
        match self {
            Sink::Lines(lines) => lines.is_empty(),
            Sink::Warc(warc) => warc.is_empty(),
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
    fn recorded_notes_items_with_their_urls() {
        let mut recorded = Recorded::default();
        recorded.mark(3, "http://a/3");
        recorded.mark(70, "http://a/70");
        assert!(recorded.contains(3, "http://a/3") && recorded.contains(70, "http://a/70"));
        // Another job's item 3.
        assert!(!recorded.contains(3, "http://b/3"));
        assert!(!recorded.contains(5, "http://a/5") && !recorded.contains(1_000_000, "x"));
    }
}
