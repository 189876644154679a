//! Counting a run's records into totals, and keeping its failures where memory does not
//! grow with their number ([`FailureSpool`]).

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Seek, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::engine::{Outcome, Record, RunEnd};

/// One failed item, as listed in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// 1-based position in the input.
    pub n: u64,
    /// The URL (or the rejected input line).
    pub url: String,
    /// The HTTP status, when the server answered.
    pub status: Option<u16>,
    /// Requests sent for it (1 plus its retries).
    pub attempts: u32,
    /// Why it failed (on its last attempt).
    pub reason: String,
}

/// Totals of a fetch run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Items saved.
    pub ok: u64,
    /// Items that failed.
    pub failed: u64,
    /// Items skipped because their files existed.
    pub skipped: u64,
    /// Items whose files the server said had not changed (`--update`, 304).
    pub unchanged: u64,
    /// Requests sent, retries included, and those of items dropped in flight.
    pub requests: u64,
    /// Requests that were retries of an earlier failed one.
    pub retries: u64,
    /// Requests sent again at once on a new connection because their keep-alive connection
    /// had been closed by the server; not in `requests`.
    pub resent: u64,
    /// Items dropped in flight by an interruption.
    pub abandoned: u64,
    /// Body bytes saved.
    pub bytes: u64,
    /// Body bytes received for the items saved: less than `bytes` when bodies came
    /// compressed.
    pub received: u64,
    /// Wall time of the run.
    pub wall: Duration,
    /// Sum of the requests' latencies (request sent to body done).
    pub latency_sum: Duration,
    /// Whether the run was interrupted.
    pub interrupted: bool,
}

impl Summary {
    /// Counts one record. Failures are counted, not kept: see [`FailureSpool`].
    pub fn add(&mut self, record: &Record) {
        self.requests += u64::from(record.attempts);
        self.retries += u64::from(record.attempts.saturating_sub(1));
        if record.attempts > 0 {
            self.latency_sum += record.timing.latency();
        }
        match record.outcome {
            Outcome::Saved { bytes, received } => {
                self.ok += 1;
                self.bytes += bytes;
                self.received += received;
            }
            Outcome::Skipped => self.skipped += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    /// Takes in how the run ended.
    pub fn finish(&mut self, end: RunEnd) {
        self.wall = end.wall;
        self.interrupted = end.interrupted;
        self.abandoned = end.abandoned;
        // Requests of items dropped in flight were sent too.
        self.requests += end.abandoned_requests;
        self.resent = end.resent;
    }

    /// Requests per second of wall time.
    pub fn requests_per_sec(&self) -> f64 {
        per_sec(self.requests as f64, self.wall)
    }

    /// Sum of latencies over wall time: how many requests were in flight on average.
    pub fn effective_concurrency(&self) -> f64 {
        per_sec(self.latency_sum.as_secs_f64(), self.wall)
    }
}

fn per_sec(amount: f64, wall: Duration) -> f64 {
    let secs = wall.as_secs_f64();
    if secs > 0.0 { amount / secs } else { 0.0 }
}

impl Failure {
    /// The failure `record` tells of, if it failed.
    pub fn of(record: &Record) -> Option<Self> {
        let Outcome::Failed(error) = &record.outcome else {
            return None;
        };
        Some(Self {
            n: record.n,
            url: record.url.clone(),
            status: error.status().map(|s| s.as_u16()),
            attempts: record.attempts,
            reason: error.to_string(),
        })
    }
}

/// Failures' JSON lines kept in memory before they go to the spool's file.
const SPILL_AT: usize = 256 * 1024;

/// A run's failures as JSON lines, read back once, at the end: in memory up to 256 KiB (a
/// run with few failures writes nothing), then in an unnamed temp file, so memory stays flat
/// whatever their number (2,000,000 failures took 392 MB kept as a list). Nothing is left on
/// disk, even after kill -9.
#[derive(Debug, Default)]
pub struct FailureSpool {
    buffer: Vec<u8>,
    file: Option<BufWriter<File>>,
    /// The first error; failures after it are not kept.
    error: Option<io::Error>,
}

impl FailureSpool {
    /// An empty spool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the failure of `record`, if it failed.
    pub fn add(&mut self, record: &Record) {
        let Some(failure) = Failure::of(record) else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        if let Err(error) = self.keep(&failure) {
            self.error = Some(error);
        }
    }

    fn keep(&mut self, failure: &Failure) -> io::Result<()> {
        serde_json::to_writer(&mut self.buffer, failure)?;
        self.buffer.push(b'\n');
        if self.buffer.len() >= SPILL_AT {
            let file = match &mut self.file {
                Some(file) => file,
                None => self.file.insert(BufWriter::new(tempfile::tempfile()?)),
            };
            file.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// The failures kept, in the order they came, read back one at a time; and the first
    /// error that kept some out, if one did.
    pub fn read(mut self) -> (impl Iterator<Item = Failure>, Option<io::Error>) {
        let spilled = match self.file.take().map(spilled) {
            Some(Ok(file)) => Some(file),
            Some(Err(error)) => {
                self.error.get_or_insert(error);
                None
            }
            None => None,
        };
        let memory = BufReader::new(io::Cursor::new(std::mem::take(&mut self.buffer)));
        let lines = spilled
            .into_iter()
            .flat_map(|file| BufReader::new(file).lines())
            .chain(memory.lines());
        let failures = lines.map_while(|line| serde_json::from_str::<Failure>(&line.ok()?).ok());
        (failures, self.error)
    }
}

/// A spool's file, written out and rewound for reading.
fn spilled(file: BufWriter<File>) -> io::Result<File> {
    let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.rewind()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::{ItemError, Timing};

    fn failed(n: u64) -> Record {
        Record {
            n,
            url: format!("line {n}"),
            file: None,
            outcome: Outcome::Failed(ItemError::Rejected(format!("not a URL: {n}"))),
            attempts: 0,
            timing: Timing::default(),
            exchanges: Vec::new(),
        }
    }

    #[test]
    fn the_spool_gives_back_every_failure_in_order_from_memory_and_from_its_file() {
        for count in [0, 3, 10_000] {
            let mut spool = FailureSpool::new();
            for n in 1..=count {
                spool.add(&failed(n));
            }
            assert_eq!(
                spool.file.is_some(),
                count == 10_000,
                "spilled past 256 KiB"
            );
            let (failures, error) = spool.read();
            assert!(error.is_none());
            let failures: Vec<Failure> = failures.collect();
            assert_eq!(failures.len() as u64, count);
            for (i, failure) in failures.iter().enumerate() {
                assert_eq!(failure.n, i as u64 + 1);
                assert_eq!(failure.reason, format!("not a URL: {}", i + 1));
            }
        }
    }
}
