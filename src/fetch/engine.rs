//! The concurrent engine: pulls items from a stream, runs at most `concurrency` downloads at
//! once on one shared client, saves each through [`OutputDir`], and reports a [`Record`] per
//! item as it finishes.
//!
//! The engine draws nothing and prints nothing; callers observe records (progress bars,
//! timelines, summaries). The input is pulled lazily, so memory does not grow with the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::exchange::Exchange;
use super::item::{Fetcher, ItemError};
use crate::input::Entry;
use crate::redact;
use crate::save::OutputDir;

/// How one item ended.
#[derive(Debug)]
pub enum Outcome {
    /// Saved under its file name.
    Saved {
        /// Body bytes written (decoded).
        bytes: u64,
        /// Body bytes received (encoded, as the server sent them).
        received: u64,
    },
    /// Its file was already there.
    Skipped,
    /// Its file was there, and the server said it had not changed (`--update`, 304).
    Unchanged,
    /// Not saved.
    Failed(ItemError),
}

/// When an item's phases happened, as offsets from the start of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// The item started: a concurrency slot was taken.
    pub start: Duration,
    /// The last attempt's request went out: after throttling, backoff and earlier attempts.
    pub sent: Duration,
    /// Response headers arrived (equal to `start` for items that sent no request).
    pub response: Duration,
    /// The body was complete.
    pub body: Duration,
    /// The item finished: saved, failed, or skipped.
    pub end: Duration,
}

impl Timing {
    /// Every phase at the same instant: for items that sent no request (yet).
    pub fn at(now: Duration) -> Self {
        Self {
            start: now,
            sent: now,
            response: now,
            body: now,
            end: now,
        }
    }

    /// Time from sending the request to the end of the body: the request's latency.
    pub fn latency(&self) -> Duration {
        self.body.saturating_sub(self.start)
    }
}

/// What happened to one item; handed to the observer as each item finishes.
#[derive(Debug)]
pub struct Record {
    /// The item's 1-based position in the input.
    pub n: u64,
    /// Its URL, or the rejected input text, with any password masked ([`redact::url`]).
    pub url: String,
    /// Its file name, when it had one.
    pub file: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Requests sent for it: 1 plus its retries; 0 if it was skipped or rejected.
    pub attempts: u32,
    /// When its phases happened.
    pub timing: Timing,
    /// Each request it sent and what came back, when the policy keeps them (`--har`).
    pub exchanges: Vec<Exchange>,
}

/// Receives each item's record as it finishes.
pub trait Observer {
    /// One finished item.
    fn record(&mut self, record: Record);

    /// Every record finished so far has been handed over; the engine is about to wait.
    fn idle(&mut self) {}
}

impl<F: FnMut(Record)> Observer for F {
    fn record(&mut self, record: Record) {
        self(record);
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEnd {
    /// Wall time of the run.
    pub wall: Duration,
    /// Whether the run was cancelled.
    pub interrupted: bool,
    /// Items still in flight when the grace period after a cancel ran out, dropped unsaved.
    pub abandoned: u64,
    /// Requests those dropped items had sent.
    pub abandoned_requests: u64,
    /// Requests sent again at once because their keep-alive connection had been closed
    /// (neither attempts nor retries).
    pub resent: u64,
}

/// Records handed to an observer between two [`Observer::idle`] calls, at most.
const MAX_BATCH: usize = 256;

/// How long in-flight items may still run after `cancel`, before they are dropped.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Runs the engine over `entries` until they are done or `cancel` is cancelled. Record times
/// are offsets from `t0`.
///
/// On cancel, no new item starts and no failed item is retried; items in flight get
/// [`DRAIN_GRACE`] to finish (and are counted), then the rest are dropped: their temp files are
/// deleted and nothing appears under a final name.
pub async fn run<S>(
    entries: S,
    out: &OutputDir,
    fetcher: &Fetcher,
    concurrency: usize,
    cancel: &CancellationToken,
    t0: Instant,
    observer: &mut impl Observer,
) -> RunEnd
where
    S: Stream<Item = Entry>,
{
    let started = AtomicU64::new(0);
    let finished = AtomicU64::new(0);
    // Requests of the records handed over, to tell those of the items dropped in flight.
    let (sent_before, resent_before) = (fetcher.requests_sent(), fetcher.resent());
    let mut recorded_requests = 0;
    {
        let records = entries
            .take_until(cancel.cancelled())
            .map(|entry| {
                started.fetch_add(1, Ordering::Relaxed);
                fetch_entry(entry, out, fetcher, t0, cancel)
            })
            .buffer_unordered(concurrency.max(1));
        tokio::pin!(records);
        let grace_over = async {
            cancel.cancelled().await;
            tokio::time::sleep(DRAIN_GRACE).await;
        };
        tokio::pin!(grace_over);
        loop {
            tokio::select! {
                biased;
                () = &mut grace_over => break,
                record = records.next() => match record {
                    Some(record) => {
                        finished.fetch_add(1, Ordering::Relaxed);
                        recorded_requests += u64::from(record.attempts);
                        observer.record(record);
                        // The records that finished meanwhile, then one idle: observers that
                        // pass records on to another thread do it once per batch.
                        for _ in 1..MAX_BATCH {
                            let Some(Some(record)) = records.next().now_or_never() else {
                                break;
                            };
                            finished.fetch_add(1, Ordering::Relaxed);
                            recorded_requests += u64::from(record.attempts);
                            observer.record(record);
                        }
                        observer.idle();
                    }
                    None => break,
                },
            }
        }
        // `records` is dropped here: downloads still in flight end, and their temp files go.
    }
    let abandoned = started.load(Ordering::Relaxed) - finished.load(Ordering::Relaxed);
    let sent = fetcher.requests_sent() - sent_before;
    RunEnd {
        wall: t0.elapsed(),
        interrupted: cancel.is_cancelled(),
        abandoned,
        abandoned_requests: sent.saturating_sub(recorded_requests),
        resent: fetcher.resent() - resent_before,
    }
}

async fn fetch_entry(
    entry: Entry,
    out: &OutputDir,
    fetcher: &Fetcher,
    t0: Instant,
    cancel: &CancellationToken,
) -> Record {
    let item = match entry {
        Ok(item) => item,
        Err(rejected) => {
            return Record {
                n: rejected.n,
                url: redact::url_owned(rejected.text),
                file: None,
                outcome: Outcome::Failed(ItemError::Rejected(rejected.reason)),
                attempts: 0,
                timing: Timing::at(t0.elapsed()),
                exchanges: Vec::new(),
            };
        }
    };
    let name = out.file_name(&item);
    let mut timing = Timing::at(t0.elapsed());
    let mut exchanges = Vec::new();
    let (outcome, attempts) = if out.should_skip(&name, &item.url) {
        (Outcome::Skipped, 0)
    } else {
        // Under `-c auto`, the item starts when the adaptive limit gives it a slot.
        let _slot = fetcher.slot(&item.url).await;
        timing = Timing::at(t0.elapsed());
        fetcher
            .fetch(&item, out, &name, t0, &mut timing, cancel, &mut exchanges)
            .await
    };
    timing.end = t0.elapsed();
    Record {
        n: item.n,
        url: redact::url_owned(item.url.into()),
        file: Some(name),
        outcome,
        attempts,
        timing,
        exchanges,
    }
}
