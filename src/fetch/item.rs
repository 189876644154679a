//! Fetching one item: attempts under the limits, checks on the body, retries with backoff, and
//! the save. Each attempt is one request; a body is saved only when it passed every check.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::engine::{Outcome, Timing};
use super::limits::Limits;
use super::retry::{self, RetryPolicy};
use crate::rate::Rate;
use crate::save::OutputDir;

/// Why one item failed.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// The input line was not a fetchable URL.
    #[error("{0}")]
    Rejected(String),
    /// The server answered with a non-2xx status.
    #[error("HTTP {}", status_text(*.status))]
    Status {
        /// The status.
        status: StatusCode,
        /// How long the server asked to wait before trying again (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The request failed: connect, TLS, timeout, reset, bad body.
    #[error("{}", request_error_text(.0))]
    Request(#[from] reqwest::Error),
    /// The body was larger than `--max-size`.
    #[error("body larger than --max-size ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body was shorter than its Content-Length.
    #[error("body cut short: {got} of {expected} bytes")]
    Truncated {
        /// Content-Length.
        expected: u64,
        /// Bytes received.
        got: u64,
    },
    /// The body failed `--validate`.
    #[error("not valid {format}: {reason}")]
    Invalid {
        /// The expected format.
        format: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Writing the file failed.
    #[error("saving failed: {0}")]
    Save(#[from] io::Error),
}

impl ItemError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ItemError::Status { status, .. } => Some(*status),
            ItemError::Request(e) => e.status(),
            _ => None,
        }
    }

    /// Whether another attempt may succeed: connect errors, timeouts, resets, short bodies,
    /// 408, 429 and 5xx. Other 4xx, oversized or invalid bodies and save errors would fail
    /// the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            ItemError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ItemError::Request(e) => !e.is_redirect() && !e.is_builder(),
            ItemError::Truncated { .. } => true,
            ItemError::Rejected(_)
            | ItemError::TooLarge { .. }
            | ItemError::Invalid { .. }
            | ItemError::Save(_) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ItemError::Status { retry_after, .. } => *retry_after,
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

/// A check a body must pass to be saved (`--validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validate {
    /// The body parses as JSON.
    Json,
}

impl Validate {
    fn name(self) -> &'static str {
        match self {
            Validate::Json => "JSON",
        }
    }

    fn checker(self) -> fn(&mut dyn io::Read) -> Result<(), String> {
        match self {
            Validate::Json => |body| {
                serde_json::from_reader::<_, serde::de::IgnoredAny>(body)
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        }
    }
}

/// How each item is fetched, beyond the client's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemPolicy {
    /// Retries and their backoff.
    pub retry: RetryPolicy,
    /// Requests per period, for the whole run.
    pub rate: Option<Rate>,
    /// Requests in flight to one host at most.
    pub per_host: Option<usize>,
    /// Bodies larger than this many bytes fail, unsaved.
    pub max_size: Option<u64>,
    /// A check each body must pass.
    pub validate: Option<Validate>,
}

/// Bytes of a non-2xx body read (and thrown away) so that its connection can be reused.
const ERROR_BODY_DRAIN: usize = 64 * 1024;

/// Fetches items: one client, the limits and the policy, shared by every item of a run (or of
/// one worker's share of it).
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    limits: Arc<Limits>,
    policy: ItemPolicy,
}

impl Fetcher {
    /// A fetcher sending through `client` under `policy`.
    pub fn new(client: reqwest::Client, policy: ItemPolicy) -> Self {
        let limits = Arc::new(Limits::new(policy.rate, policy.per_host));
        Self::with_limits(client, policy, limits)
    }

    /// A fetcher under `limits` shared with other fetchers (one rate, one count per host for
    /// all of them).
    pub(super) fn with_limits(
        client: reqwest::Client,
        policy: ItemPolicy,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            client,
            limits,
            policy,
        }
    }

    /// Waits for an item's slot under `-c auto`'s limit (at once otherwise); the item holds
    /// it through its retries, as it holds its place under a fixed `-c`.
    pub async fn slot(&self, url: &Url) -> Option<super::adaptive::Slot> {
        self.limits.slot(url).await
    }

    /// Fetches `url` and saves it as `name`, retrying transient failures; returns how it
    /// ended and how many requests it took. Once `cancel` is cancelled no retry starts.
    pub async fn fetch(
        &self,
        url: &Url,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
        cancel: &CancellationToken,
    ) -> (Outcome, u32) {
        let mut backoff = self.policy.retry.backoff();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let pass = self.limits.pass(url).await;
            let result = self.attempt(url, out, name, t0, timing).await;
            pass.finish(&result);
            let error = match result {
                Ok(Some(bytes)) => return (Outcome::Saved { bytes }, attempts),
                // Another item with the same name (a repeated URL) saved it meanwhile.
                Ok(None) => return (Outcome::Skipped, attempts),
                Err(error) => error,
            };
            // A failed request took time too: until it failed.
            timing.body = t0.elapsed();
            let Some(wait) = error
                .is_transient()
                .then(|| backoff.next())
                .flatten()
                .map(|backoff| self.policy.retry.wait(error.retry_after(), backoff))
            else {
                return (Outcome::Failed(error), attempts);
            };
            tracing::debug!(%url, attempts, ?wait, "retrying after: {error}");
            tokio::select! {
                () = cancel.cancelled() => return (Outcome::Failed(error), attempts),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One request, under a pass from the limits. `Ok(None)`: the file appeared under `name`
    /// meanwhile and was kept.
    async fn attempt(
        &self,
        url: &Url,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
    ) -> Result<Option<u64>, ItemError> {
        timing.sent = t0.elapsed();
        let mut response = self.client.get(url.clone()).send().await?;
        timing.response = t0.elapsed();
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(response.headers());
            // Read a short error body to its end, so the connection goes back to the pool.
            let mut drained = 0;
            while drained < ERROR_BODY_DRAIN {
                match response.chunk().await {
                    Ok(Some(chunk)) => drained += chunk.len(),
                    _ => break,
                }
            }
            return Err(ItemError::Status {
                status,
                retry_after,
            });
        }
        // Known only when the body is not being decompressed.
        let expected = response.content_length();
        let limit = self.policy.max_size.unwrap_or(u64::MAX);
        if expected.is_some_and(|len| len > limit) {
            return Err(ItemError::TooLarge { limit });
        }
        let mut file = out.create();
        while let Some(chunk) = response.chunk().await? {
            if file.len() + chunk.len() as u64 > limit {
                return Err(ItemError::TooLarge { limit });
            }
            file.write(&chunk).await?;
        }
        if let Some(expected) = expected
            && file.len() != expected
        {
            return Err(ItemError::Truncated {
                expected,
                got: file.len(),
            });
        }
        if let Some(validate) = self.policy.validate {
            file.check(validate.checker())
                .await?
                .map_err(|reason| ItemError::Invalid {
                    format: validate.name(),
                    reason,
                })?;
        }
        timing.body = t0.elapsed();
        match file.commit(name).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
