//! Counting a run's records into totals and a list of failures.

use std::time::Duration;

use serde::Serialize;

use super::engine::{Outcome, Record, RunEnd};

/// One failed item, as listed in the summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// Every failed item, in the order they finished.
    pub failures: Vec<Failure>,
}

impl Summary {
    /// Counts one record.
    pub fn add(&mut self, record: Record) {
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
            Outcome::Failed(error) => {
                self.failed += 1;
                self.failures.push(Failure {
                    n: record.n,
                    url: record.url,
                    status: error.status().map(|s| s.as_u16()),
                    attempts: record.attempts,
                    reason: error.to_string(),
                });
            }
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
