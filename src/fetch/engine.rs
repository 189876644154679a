//! The concurrent engine: pulls items from a stream, runs at most `concurrency` downloads at
//! once on one shared client, saves each through [`OutputDir`], and reports a [`Record`] per
//! item as it finishes.
//!
//! The engine draws nothing and prints nothing; callers observe records (progress bars,
//! timelines, summaries). The input is pulled lazily, so memory does not grow with the job.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::stream::{Stream, StreamExt};
use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::input::{Entry, Item};
use crate::save::OutputDir;

/// Why one item failed.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// The input line was not a fetchable URL.
    #[error("{0}")]
    Rejected(String),
    /// The server answered with a non-2xx status.
    #[error("HTTP {}", status_text(*.0))]
    Status(StatusCode),
    /// The request failed: connect, TLS, timeout, reset, bad body.
    #[error("{}", request_error_text(.0))]
    Request(#[from] reqwest::Error),
    /// Writing the file failed.
    #[error("saving failed: {0}")]
    Save(#[from] std::io::Error),
}

impl ItemError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ItemError::Status(status) => Some(*status),
            ItemError::Request(e) => e.status(),
            _ => None,
        }
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// reqwest's own message plus its causes, without the URL (the record carries it).
fn request_error_text(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "timed out".to_owned();
    }
    let mut text = error.to_string();
    if let Some(cut) = text.find(" for url (") {
        text.truncate(cut);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// How one item ended.
#[derive(Debug)]
pub enum Outcome {
    /// Saved under its file name.
    Saved {
        /// Body bytes written.
        bytes: u64,
    },
    /// Its file was already there.
    Skipped,
    /// Not saved.
    Failed(ItemError),
}

/// When an item's phases happened, as offsets from the start of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timing {
    /// The request was sent (a concurrency slot was taken).
    pub start: Duration,
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
    /// Its URL, or the rejected input text.
    pub url: String,
    /// Its file name, when it had one.
    pub file: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// When its phases happened.
    pub timing: Timing,
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
}

/// Bytes of a non-2xx body read (and thrown away) so that its connection can be reused.
const ERROR_BODY_DRAIN: usize = 64 * 1024;

/// How long in-flight items may still run after `cancel`, before they are dropped.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// Runs the engine over `entries` until they are done or `cancel` is cancelled.
///
/// On cancel, no new item starts; items in flight get [`DRAIN_GRACE`] to finish (and are
/// counted), then the rest are dropped: their temp files are deleted and nothing appears under
/// a final name.
pub async fn run<S>(
    entries: S,
    out: &OutputDir,
    client: &reqwest::Client,
    concurrency: usize,
    cancel: &CancellationToken,
    mut observe: impl FnMut(Record),
) -> RunEnd
where
    S: Stream<Item = Entry>,
{
    let t0 = Instant::now();
    let started = AtomicU64::new(0);
    let finished = AtomicU64::new(0);
    {
        let records = entries
            .take_until(cancel.cancelled())
            .map(|entry| {
                started.fetch_add(1, Ordering::Relaxed);
                fetch_entry(entry, out, client, t0)
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
                        observe(record);
                    }
                    None => break,
                },
            }
        }
        // `records` is dropped here: downloads still in flight end, and their temp files go.
    }
    let abandoned = started.load(Ordering::Relaxed) - finished.load(Ordering::Relaxed);
    RunEnd {
        wall: t0.elapsed(),
        interrupted: cancel.is_cancelled(),
        abandoned,
    }
}

async fn fetch_entry(
    entry: Entry,
    out: &OutputDir,
    client: &reqwest::Client,
    t0: Instant,
) -> Record {
    let item = match entry {
        Ok(item) => item,
        Err(rejected) => {
            return Record {
                n: rejected.n,
                url: rejected.text,
                file: None,
                outcome: Outcome::Failed(ItemError::Rejected(rejected.reason)),
                timing: Timing::at(t0.elapsed()),
            };
        }
    };
    let Item { n, ref url, .. } = item;
    let name = out.file_name(&item);
    let mut timing = Timing::at(t0.elapsed());
    let outcome = if out.should_skip(&name) {
        Outcome::Skipped
    } else {
        match download(url, out, client, t0, &mut timing, &name).await {
            Ok(bytes) => Outcome::Saved { bytes },
            Err(e) => {
                // A failed request took time too: until it failed.
                timing.body = t0.elapsed();
                Outcome::Failed(e)
            }
        }
    };
    timing.end = t0.elapsed();
    Record {
        n,
        url: item.url.into(),
        file: Some(name),
        outcome,
        timing,
    }
}

async fn download(
    url: &Url,
    out: &OutputDir,
    client: &reqwest::Client,
    t0: Instant,
    timing: &mut Timing,
    name: &str,
) -> Result<u64, ItemError> {
    let mut response = client.get(url.clone()).send().await?;
    timing.response = t0.elapsed();
    let status = response.status();
    if !status.is_success() {
        // Read a short error body to its end, so the connection goes back to the pool.
        let mut drained = 0;
        while drained < ERROR_BODY_DRAIN {
            match response.chunk().await {
                Ok(Some(chunk)) => drained += chunk.len(),
                _ => break,
            }
        }
        return Err(ItemError::Status(status));
    }
    let mut file = out.create();
    while let Some(chunk) = response.chunk().await? {
        file.write(&chunk).await?;
    }
    timing.body = t0.elapsed();
    Ok(file.commit(name).await?)
}
