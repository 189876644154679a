//! Fetching one item: attempts under the limits, checks on the body, retries with backoff, and
//! the save. Each attempt is one request; a body is saved only when it passed every check.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::borrow::Cow;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, HOST, HeaderMap, HeaderValue, LOCATION, USER_AGENT,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::body::Body;
use super::engine::{Outcome, Timing};
use super::exchange::Exchange;
use super::limits::Limits;
use super::retry::{self, RetryPolicy};
use super::stale::{MAX_STALE_RESENDS, Reused};
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
    /// The request failed: connect, timeout, reset, bad body.
    #[error("{}", request_error_text(.0))]
    Request(reqwest::Error),
    /// The server's TLS certificate was refused, or the TLS handshake failed for good: not
    /// retried.
    #[error("TLS: {0}")]
    Tls(String),
    /// The body was larger than `--max-size`.
    #[error("body larger than --max-size ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The body decoded to more than `--max-ratio` times its encoded size: a decompression
    /// bomb, or data more repetitive than the limit allows.
    #[error(
        "decoded body over --max-ratio {ratio} times its encoded size ({decoded} bytes from {received}); --max-ratio 0 turns the check off"
    )]
    Bomb {
        /// The limit.
        ratio: u64,
        /// Bytes decoded when it was stopped.
        decoded: u64,
        /// Bytes received by then.
        received: u64,
    },
    /// A redirect could not be followed: too many, or to nowhere gather can go.
    #[error("redirect {0}")]
    Redirect(String),
    /// The body could not be decoded by its Content-Encoding.
    #[error("cannot decode the {coding} body: {reason}")]
    Decode {
        /// The coding.
        coding: String,
        /// What the decoder said.
        reason: String,
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
    /// 408, 429, 5xx, and saves that found no free descriptor. Other 4xx, refused
    /// certificates, oversized or invalid bodies and other save errors would fail the same
    /// way again.
    pub fn is_transient(&self) -> bool {
        match self {
            ItemError::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
            }
            ItemError::Request(e) => !e.is_redirect() && !e.is_builder(),
            ItemError::Truncated { .. } => true,
            // Out of descriptors (EMFILE, ENFILE): others free up as downloads end.
            ItemError::Save(e) => e
                .raw_os_error()
                .is_some_and(|code| code == libc::EMFILE || code == libc::ENFILE),
            ItemError::Rejected(_)
            | ItemError::Tls(_)
            | ItemError::TooLarge { .. }
            | ItemError::Bomb { .. }
            | ItemError::Redirect(_)
            | ItemError::Decode { .. }
            | ItemError::Invalid { .. } => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ItemError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl From<reqwest::Error> for ItemError {
    /// A certificate or TLS protocol error is [`ItemError::Tls`], named by its cause alone;
    /// everything else is [`ItemError::Request`].
    fn from(error: reqwest::Error) -> Self {
        match tls_cause(&error) {
            Some(tls) => ItemError::Tls(match tls {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    format!(
                        "{tls} (the server's certificate is not trusted; --cacert FILE trusts a CA)"
                    )
                }
                other => other.to_string(),
            }),
            None => ItemError::Request(error),
        }
    }
}

/// The rustls error behind `error`, if a TLS handshake failed. It comes wrapped in
/// `io::Error`s (two, from reqwest's connector), whose `source` skips what they wrap: each
/// one is looked inside too.
fn tls_cause(error: &reqwest::Error) -> Option<&rustls::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(mut cause) = source {
        source = cause.source();
        loop {
            if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
                return Some(tls);
            }
            match cause
                .downcast_ref::<io::Error>()
                .and_then(io::Error::get_ref)
            {
                Some(inner) => cause = inner,
                None => break,
            }
        }
    }
    None
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

/// The default `--max-ratio`: a decoded body may be at most this many times its encoded size
/// once it is past [`RATIO_FREE`]. Text and JSON compress 3 to 20 times, rarely 100; a gzip
/// bomb expands about 1,000 times, brotli and zstd bombs far more.
pub const DEFAULT_MAX_RATIO: u64 = 100;

/// Decoded bytes never held against `--max-ratio`: a small body may be as repetitive as it
/// likes. Past it, a bomb stops within one read.
pub const RATIO_FREE: u64 = 16 * 1024 * 1024;

/// How each item is fetched, beyond the client's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Most decoded bytes per encoded byte received, past [`RATIO_FREE`]; `None` for no
    /// limit.
    pub max_ratio: Option<u64>,
    /// Redirects followed before an item fails.
    pub max_redirects: usize,
    /// Whether each request's [`Exchange`] is kept (for `--har`).
    pub exchanges: bool,
}

impl Default for ItemPolicy {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            rate: None,
            per_host: None,
            max_size: None,
            validate: None,
            max_ratio: Some(DEFAULT_MAX_RATIO),
            max_redirects: 10,
            exchanges: false,
        }
    }
}

/// Bytes of a non-2xx body read (and thrown away) so that its connection can be reused.
const ERROR_BODY_DRAIN: usize = 64 * 1024;

/// Fetches items: one client, the limits and the policy, shared by every item of a run (or of
/// one worker's share of it).
#[derive(Debug)]
pub struct Fetcher {
    client: reqwest::Client,
    /// Which of the client's connections have carried a response.
    reused: Arc<Reused>,
    limits: Arc<Limits>,
    policy: ItemPolicy,
    /// Requests sent so far, by every item: those of items dropped in flight count too.
    sent: AtomicU64,
    /// Requests sent again at once after a stale keep-alive connection.
    resent: AtomicU64,
}

impl Fetcher {
    /// A fetcher sending through `client` under `policy`.
    pub fn new(client: reqwest::Client, policy: ItemPolicy) -> Self {
        let limits = Arc::new(Limits::new(policy.rate, policy.per_host));
        Self::with_limits(client, Arc::default(), policy, limits)
    }

    /// A fetcher under `limits` shared with other fetchers (one rate, one count per host for
    /// all of them).
    /// `reused` is the client's record of its connections (see `client::build_with`).
    pub(super) fn with_limits(
        client: reqwest::Client,
        reused: Arc<Reused>,
        policy: ItemPolicy,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            client,
            reused,
            limits,
            policy,
            sent: AtomicU64::new(0),
            resent: AtomicU64::new(0),
        }
    }

    /// Requests sent again at once after a stale keep-alive connection, so far.
    pub fn resent(&self) -> u64 {
        self.resent.load(Ordering::Relaxed)
    }

    /// Requests sent so far (retries included), finished or not.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Fetches `url` and saves it as `name`, retrying transient failures; returns how it
    /// ended and how many requests it took. Once `cancel` is cancelled no retry starts. With
    /// [`ItemPolicy::exchanges`], each request's [`Exchange`] is added to `exchanges`.
    #[allow(clippy::too_many_arguments)] // one item's whole context, passed through
    pub async fn fetch(
        &self,
        url: &Url,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
        cancel: &CancellationToken,
        exchanges: &mut Vec<Exchange>,
    ) -> (Outcome, u32) {
        let mut backoff = self.policy.retry.backoff();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let error = match self.attempt(url, out, name, t0, timing, exchanges).await {
                Ok(Some((bytes, received))) => {
                    return (Outcome::Saved { bytes, received }, attempts);
                }
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
            let shown = crate::redact::url(url.as_str());
            tracing::debug!(url = %shown, attempts, ?wait, "retrying after: {error}");
            tokio::select! {
                () = cancel.cancelled() => return (Outcome::Failed(error), attempts),
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One attempt: a request, and one per redirect; the body's bytes saved and received.
    /// `Ok(None)`: the file appeared under `name` meanwhile and was kept.
    async fn attempt(
        &self,
        url: &Url,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<Option<(u64, u64)>, ItemError> {
        let _pass = self.limits.pass(url).await;
        timing.sent = t0.elapsed();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let mut url = Cow::Borrowed(url);
        let mut redirects = 0;
        let response = loop {
            let mut response = self.send(&url, t0, exchanges).await?;
            let Some(next) = redirect(&response, &url) else {
                break response;
            };
            drain(&mut response).await;
            let next = next?;
            if let Some(hop) = self.kept(exchanges) {
                hop.redirect_url = Some(crate::redact::url(next.as_str()).into_owned());
                hop.end(t0.elapsed(), None);
            }
            redirects += 1;
            if redirects > self.policy.max_redirects {
                let limit = self.policy.max_redirects;
                return Err(ItemError::Redirect(format!(
                    "more than --max-redirects {limit}"
                )));
            }
            url = Cow::Owned(next);
        };
        timing.response = t0.elapsed();
        let result = self.receive(response, out, name, t0, timing).await;
        if let Some(last) = self.kept(exchanges) {
            if let Ok(Some((size, received))) = &result {
                (last.size, last.received) = (*size, *received);
            }
            last.end(t0.elapsed(), result.as_ref().err().map(ToString::to_string));
        }
        result
    }

    /// The exchange being written, when exchanges are kept.
    fn kept<'a>(&self, exchanges: &'a mut [Exchange]) -> Option<&'a mut Exchange> {
        if self.policy.exchanges {
            exchanges.last_mut()
        } else {
            None
        }
    }

    /// Sends a GET for `url` and waits for the response's head. A request that fails with no
    /// response because its reused keep-alive connection was closed is sent again at once (see
    /// `stale.rs`).
    async fn send(
        &self,
        url: &Url,
        t0: Instant,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<reqwest::Response, ItemError> {
        let mut resends = 0;
        loop {
            let request = self.client.get(url.clone()).build()?;
            if self.policy.exchanges {
                exchanges.push(Exchange::sent(url, t0.elapsed(), &sent_headers(&request)));
            }
            // The connection that carried this item's previous response goes back to the pool
            // from a task of its own, woken as that response ended; let it run first. Sent at
            // once, the request found no idle connection, and hyper-util dialled a new one
            // while it waited (to be kept idle, or dropped past the pool's limit): over TLS
            // with gzip from nginx, 10,000 files at -c 64 opened 568-999 connections; with
            // this and the pool below, 64-72.
            tokio::task::yield_now().await;
            let error = match self.client.execute(request).await {
                Ok(response) => {
                    let connect = self.reused.answered(&response);
                    if let Some(exchange) = self.kept(exchanges) {
                        exchange.answered(&response, t0.elapsed(), connect);
                    }
                    return Ok(response);
                }
                Err(error) => error,
            };
            let stale = resends < MAX_STALE_RESENDS && self.reused.is_stale(&error);
            let error = ItemError::from(error);
            if let Some(exchange) = self.kept(exchanges) {
                let resent = if stale {
                    " (sent again on a new connection)"
                } else {
                    ""
                };
                exchange.end(t0.elapsed(), Some(format!("{error}{resent}")));
            }
            if !stale {
                return Err(error);
            }
            resends += 1;
            self.resent.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                url = %crate::redact::url(url.as_str()),
                "resending on a new connection: {error}"
            );
        }
    }

    /// Reads the body of `response` into a file saved as `name`, after every check passed;
    /// returns its bytes saved and received.
    async fn receive(
        &self,
        mut response: reqwest::Response,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
    ) -> Result<Option<(u64, u64)>, ItemError> {
        let status = response.status();
        if !status.is_success() {
            let retry_after = retry::retry_after(response.headers());
            drain(&mut response).await;
            return Err(ItemError::Status {
                status,
                retry_after,
            });
        }
        // The length of the body as sent: encoded, when it is.
        let expected = response.content_length();
        let mut body = Body::new(response);
        let limit = self.policy.max_size.unwrap_or(u64::MAX);
        if !body.is_encoded() && expected.is_some_and(|len| len > limit) {
            return Err(ItemError::TooLarge { limit });
        }
        let mut file = out.create();
        while let Some(chunk) = body.chunk().await? {
            let decoded = file.len() + chunk.len() as u64;
            if decoded > limit {
                return Err(ItemError::TooLarge { limit });
            }
            if let Some(ratio) = self.policy.max_ratio
                && decoded > RATIO_FREE
                && decoded / ratio > body.received()
            {
                return Err(ItemError::Bomb {
                    ratio,
                    decoded,
                    received: body.received(),
                });
            }
            file.write(&chunk).await?;
        }
        if let Some(expected) = expected
            && body.received() != expected
        {
            return Err(ItemError::Truncated {
                expected,
                got: body.received(),
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
            Ok(bytes) => Ok(Some((bytes, body.received()))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Reads a short body (an error page, a redirect's) to its end, so that its connection goes
/// back to the pool.
async fn drain(response: &mut reqwest::Response) {
    let mut drained = 0;
    while drained < ERROR_BODY_DRAIN {
        match response.chunk().await {
            Ok(Some(chunk)) => drained += chunk.len(),
            _ => break,
        }
    }
}

/// Where `response` redirects to, if it is a redirect with a `Location`: resolved against
/// `from`, and keeping `from`'s credentials while it stays on the same origin (as reqwest
/// did: a password never follows a redirect to another host).
fn redirect(response: &reqwest::Response, from: &Url) -> Option<Result<Url, ItemError>> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(LOCATION)?;
    let bad = |reason: String| Some(Err(ItemError::Redirect(reason)));
    let Ok(location) = location.to_str() else {
        return bad("a Location that is not text".to_owned());
    };
    let mut next = match from.join(location) {
        Ok(next) => next,
        Err(e) => return bad(format!("a Location that is not a URL: {e}")),
    };
    if !matches!(next.scheme(), "http" | "https") {
        return bad(format!("to unsupported scheme `{}`", next.scheme()));
    }
    if next.username().is_empty()
        && next.password().is_none()
        && next.origin() == from.origin()
        && (!from.username().is_empty() || from.password().is_some())
    {
        // Only fails for URLs that cannot have credentials, which http(s) URLs can.
        let _ = next.set_username(from.username());
        let _ = next.set_password(from.password());
    }
    Some(Ok(next))
}

/// The headers `request` goes out with: its own, and the client's defaults as reqwest adds
/// them (`client::build_with`), with `Host` first, as on the wire.
fn sent_headers(request: &reqwest::Request) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let url = request.url();
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => String::new(),
    };
    if let Ok(host) = HeaderValue::from_str(&host) {
        headers.insert(HOST, host);
    }
    headers.extend(request.headers().clone());
    for (name, value) in [
        (USER_AGENT, HeaderValue::from_static(super::USER_AGENT)),
        (ACCEPT, HeaderValue::from_static("*/*")),
        (ACCEPT_ENCODING, super::body::ACCEPTED),
    ] {
        headers.entry(name).or_insert(value);
    }
    headers
}
