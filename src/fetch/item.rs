//! Fetching one item: attempts under the limits, checks on the body, retries with backoff, and
//! the save. Each attempt is one request; a body is saved only when it passed every check.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use std::borrow::Cow;

use reqwest::StatusCode;
use reqwest::header::{
    ACCEPT, ACCEPT_ENCODING, AUTHORIZATION, COOKIE, HOST, HeaderMap, HeaderValue, LOCATION,
    USER_AGENT,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::bandwidth::Bandwidth;
use super::body::Body;
use super::dial::OneDial;
use super::engine::{Outcome, Timing};
use super::exchange::Exchange;
use super::limits::Limits;
use super::request::{Prepared, RequestSpec};
use super::retry::{self, RetryPolicy};
use super::stale::{MAX_STALE_RESENDS, Reused};
use crate::input::Item;
use crate::rate::Rate;
use crate::save::{OutputDir, RecordHead, Validators};
use reqwest::header::{CONTENT_TYPE, ETAG, LAST_MODIFIED};

/// How an attempt ended well.
enum Done {
    /// Saved: bytes written and bytes received.
    Saved(u64, u64),
    /// A file appeared under the name meanwhile, and was kept.
    Kept,
    /// The server said the saved file is current (304, with `--update`).
    Unchanged,
}

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
    /// The connection to the proxy the URL goes through failed: named, since the error alone
    /// reads as if the server had refused.
    #[error("{} (through the proxy {proxy})", request_error_text(.error))]
    Proxy {
        /// The proxy, redacted.
        proxy: String,
        /// What failed.
        error: reqwest::Error,
    },
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
            ItemError::Proxy { .. } => true,
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

    /// Whether the request surely never reached the server: it failed to connect.
    fn is_connect(&self) -> bool {
        match self {
            ItemError::Request(e) => e.is_connect(),
            ItemError::Proxy { .. } => true,
            _ => false,
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
    /// The method, headers and body of every request.
    pub request: RequestSpec,
    /// `--limit-rate`: one budget of body bytes per second, shared by every clone.
    pub bandwidth: Option<Arc<Bandwidth>>,
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
            request: RequestSpec::default(),
            bandwidth: None,
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
    /// The client's dials, told of the connections seen to end.
    dials: Option<OneDial>,
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
        Self::with_limits(client, Arc::default(), None, policy, limits)
    }

    /// A fetcher under `limits` shared with other fetchers (one rate, one count per host for
    /// all of them).
    /// `reused` is the client's record of its connections, and `dials` its connector layer
    /// (see `client::build_with`).
    pub(super) fn with_limits(
        client: reqwest::Client,
        reused: Arc<Reused>,
        dials: Option<OneDial>,
        policy: ItemPolicy,
        limits: Arc<Limits>,
    ) -> Self {
        Self {
            client,
            reused,
            dials,
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

    /// Waits for an item's slot under `-c auto`'s limit (at once otherwise); the item holds
    /// it through its retries, as it holds its place under a fixed `-c`.
    pub async fn slot(&self, url: &Url) -> Option<super::adaptive::Slot> {
        self.limits.slot(url).await
    }

    /// Fetches `item` and saves it as `name`, retrying transient failures; returns how it
    /// ended and how many requests it took. Once `cancel` is cancelled no retry starts. A
    /// request that is not idempotent (POST, PATCH) is retried only after a connect error,
    /// unless `--retry-all`. With [`ItemPolicy::exchanges`], each request's [`Exchange`] is
    /// added to `exchanges`.
    #[allow(clippy::too_many_arguments)] // one item's whole context, passed through
    pub async fn fetch(
        &self,
        item: &Item,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
        cancel: &CancellationToken,
        exchanges: &mut Vec<Exchange>,
    ) -> (Outcome, u32) {
        let url = &item.url;
        let validators = out.validators(name).filter(|v| !v.is_empty());
        let mut prepared = match self.policy.request.is_plain() && validators.is_none() {
            true => None,
            false => match self.policy.request.prepare(item, url) {
                Ok(prepared) => Some(prepared),
                Err(reason) => return (Outcome::Failed(ItemError::Rejected(reason)), 0),
            },
        };
        if let (Some(validators), Some(prepared)) = (&validators, &mut prepared) {
            conditional(&mut prepared.headers, validators);
        }
        let repeatable = self.policy.request.may_repeat();
        let mut backoff = self.policy.retry.backoff();
        let mut attempts = 0;
        loop {
            attempts += 1;
            let pass = self.limits.pass(url).await;
            let result = self
                .attempt(url, prepared.as_ref(), out, name, t0, timing, exchanges)
                .await;
            pass.finish(&result);
            let error = match result {
                Ok(Done::Saved(bytes, received)) => {
                    return (Outcome::Saved { bytes, received }, attempts);
                }
                // Another item with the same name (a repeated URL) saved it meanwhile.
                Ok(Done::Kept) => return (Outcome::Skipped, attempts),
                Ok(Done::Unchanged) => return (Outcome::Unchanged, attempts),
                Err(error) => error,
            };
            // A failed request took time too: until it failed.
            timing.body = t0.elapsed();
            let Some(wait) = (error.is_transient() && (repeatable || error.is_connect()))
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

    /// One attempt, under a pass from the limits: a request, and one per redirect; the body's
    /// bytes saved and received. `Ok(None)`: the file appeared under `name` meanwhile and was
    /// kept.
    #[allow(clippy::too_many_arguments)] // one item's whole context, passed through
    async fn attempt(
        &self,
        url: &Url,
        prepared: Option<&Prepared>,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<Done, ItemError> {
        timing.sent = t0.elapsed();
        self.sent.fetch_add(1, Ordering::Relaxed);
        let asked = url;
        let mut url = Cow::Borrowed(url);
        let mut prepared = prepared.map(Cow::Borrowed);
        let mut redirects = 0;
        let response = loop {
            let mut response = self.send(&url, prepared.as_deref(), t0, exchanges).await?;
            let Some(next) = redirect(&response, &url) else {
                break response;
            };
            drain(&mut response).await;
            let next = next?;
            if let Some(request) = &mut prepared {
                follow(request, response.status(), &url, &next);
            }
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
        let result = self.receive(response, asked, out, name, t0, timing).await;
        if let Err(error) = &result
            && !matches!(error, ItemError::Status { .. } | ItemError::Invalid { .. })
        {
            // The body was cut short, or left unread: its connection is closed.
            self.connection_ended(&url);
        }
        if let Some(last) = self.kept(exchanges) {
            if let Ok(Done::Saved(size, received)) = &result {
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

    /// Sends `prepared` (a plain GET when `None`) to `url` and waits for the response's head.
    /// A request that fails with no response because its reused keep-alive connection was
    /// closed is sent again at once (see `stale.rs`), if it may be repeated.
    async fn send(
        &self,
        url: &Url,
        prepared: Option<&Prepared>,
        t0: Instant,
        exchanges: &mut Vec<Exchange>,
    ) -> Result<reqwest::Response, ItemError> {
        let mut resends = 0;
        loop {
            let mut request = match prepared {
                None => self.client.get(url.clone()),
                Some(prepared) => {
                    let builder = self
                        .client
                        .request(prepared.method.clone(), url.clone())
                        .headers(prepared.headers.clone());
                    match &prepared.body {
                        Some(body) => builder.body(body.clone()),
                        None => builder,
                    }
                }
            }
            .build()?;
            let cookies = self.policy.request.cookies();
            if let Some(jar) = cookies.and_then(|cookies| cookies.header(url)) {
                add_cookies(request.headers_mut(), jar);
            }
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
                    if closes(&response) {
                        self.connection_ended(url);
                    }
                    if let Some(cookies) = cookies {
                        cookies.store(response.headers(), url);
                    }
                    let connect = self.reused.answered(&response);
                    if let Some(exchange) = self.kept(exchanges) {
                        exchange.answered(&response, t0.elapsed(), connect);
                    }
                    return Ok(response);
                }
                Err(error) => {
                    if !error.is_connect() {
                        self.connection_ended(url);
                    }
                    error
                }
            };
            let stale = resends < MAX_STALE_RESENDS
                && self.policy.request.may_repeat()
                && self.reused.is_stale(&error);
            let error = through_proxy(ItemError::from(error), url);
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

    /// Tells the client's dials that a connection to `url`'s origin has ended, or will once
    /// its response is read.
    fn connection_ended(&self, url: &Url) {
        if let Some(dials) = &self.dials {
            dials.closed(&url.origin().ascii_serialization());
        }
    }

    /// Reads the body of `response` (to the request for `asked`, the item's URL) into a file
    /// saved as `name`, after every check passed; returns its bytes saved and received.
    async fn receive(
        &self,
        mut response: reqwest::Response,
        asked: &Url,
        out: &OutputDir,
        name: &str,
        t0: Instant,
        timing: &mut Timing,
    ) -> Result<Done, ItemError> {
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            drain(&mut response).await;
            return Ok(Done::Unchanged);
        }
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
        let validators = out.keeps_validators().then(|| {
            let header = |name| {
                let value = response.headers().get(name)?;
                value.to_str().ok().map(str::to_owned)
            };
            Validators {
                etag: header(reqwest::header::ETAG),
                last_modified: header(reqwest::header::LAST_MODIFIED),
            }
        });
        let head = out.wants_head().then(|| RecordHead {
            url: crate::redact::url(response.url().as_str()).into_owned(),
            item_url: (response.url() != asked)
                .then(|| crate::redact::url(asked.as_str()).into_owned()),
            status: status.as_u16(),
            version: format!("{:?}", response.version()),
            method: self.policy.request.method().as_str().to_owned(),
            headers: if out.wants_all_headers() {
                response
                    .headers()
                    .iter()
                    .filter_map(|(name, value)| {
                        Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
                    })
                    .collect()
            } else {
                [CONTENT_TYPE, ETAG, LAST_MODIFIED]
                    .into_iter()
                    .filter_map(|name| {
                        let value = response.headers().get(&name)?.to_str().ok()?;
                        Some((name.as_str().to_owned(), value.to_owned()))
                    })
                    .collect()
            },
        });
        let mut body = Body::new(response);
        let limit = self.policy.max_size.unwrap_or(u64::MAX);
        if !body.is_encoded() && expected.is_some_and(|len| len > limit) {
            return Err(ItemError::TooLarge { limit });
        }
        let mut file = out.create();
        if let Some(validators) = validators {
            file.set_validators(validators);
        }
        if let Some(head) = head {
            file.set_head(head);
        }
        while let Some(chunk) = body.chunk().await? {
            if let Some(bandwidth) = &self.policy.bandwidth {
                bandwidth.take(chunk.len()).await;
            }
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
            Ok(bytes) => Ok(Done::Saved(bytes, body.received())),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Done::Kept),
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

/// `request` made fit to follow a redirect with `status` from `from` to `to`: 301, 302 and
/// 303 turn a request other than GET or HEAD into a GET without a body (as curl and browsers
/// do), and credentials and cookies never go to another origin.
fn follow(request: &mut Cow<'_, Prepared>, status: StatusCode, from: &Url, to: &Url) {
    let method = &request.method;
    if matches!(status.as_u16(), 301..=303)
        && *method != reqwest::Method::GET
        && *method != reqwest::Method::HEAD
    {
        let request = request.to_mut();
        request.method = reqwest::Method::GET;
        request.body = None;
        request.headers.remove(reqwest::header::CONTENT_TYPE);
        request.headers.remove(reqwest::header::CONTENT_LENGTH);
    }
    if from.origin() != to.origin() {
        let headers = &request.headers;
        if headers.contains_key(AUTHORIZATION) || headers.contains_key(COOKIE) {
            let request = request.to_mut();
            request.headers.remove(AUTHORIZATION);
            request.headers.remove(COOKIE);
        }
    }
}

/// Makes a request conditional on the saved file's validators: `If-None-Match` with its
/// ETag, `If-Modified-Since` with its Last-Modified.
fn conditional(headers: &mut HeaderMap, validators: &Validators) {
    use reqwest::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH};
    for (name, value) in [
        (IF_NONE_MATCH, &validators.etag),
        (IF_MODIFIED_SINCE, &validators.last_modified),
    ] {
        if let Some(value) = value.as_deref().and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
}

/// Adds the jar's cookies to `headers`, after those of `-b NAME=VALUE` if any.
fn add_cookies(headers: &mut HeaderMap, jar: HeaderValue) {
    let value = match headers.get(COOKIE) {
        Some(given) => {
            let mut both = given.as_bytes().to_vec();
            both.extend_from_slice(b"; ");
            both.extend_from_slice(jar.as_bytes());
            HeaderValue::from_bytes(&both).unwrap_or(jar)
        }
        None => jar,
    };
    headers.insert(COOKIE, value);
}

/// `error`, naming the proxy `url` goes through when it is a failure to connect to it.
fn through_proxy(error: ItemError, url: &Url) -> ItemError {
    let ItemError::Request(request) = error else {
        return error;
    };
    match proxy_for(url).filter(|_| request.is_connect()) {
        Some(proxy) => ItemError::Proxy {
            proxy,
            error: request,
        },
        None => ItemError::Request(request),
    }
}

/// The proxy a request to `url` goes through, redacted: the client's rule (the environment's
/// proxies, `NO_PROXY`), read again here, as it is only asked after a failed connect.
fn proxy_for(url: &Url) -> Option<String> {
    if super::client::bypass_every_proxy() {
        return None;
    }
    let uri: http::Uri = url.as_str().parse().ok()?;
    let intercept = hyper_util::client::proxy::matcher::Matcher::from_system().intercept(&uri)?;
    Some(crate::redact::url(&intercept.uri().to_string()).into_owned())
}

/// Whether the connection that carried `response` ends with it: an HTTP/1.1 response with
/// `Connection: close`, or an HTTP/1.0 one without `Connection: keep-alive`.
fn closes(response: &reqwest::Response) -> bool {
    let says = |token: &str| {
        response
            .headers()
            .get_all(reqwest::header::CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|option| option.trim().eq_ignore_ascii_case(token))
    };
    match response.version() {
        reqwest::Version::HTTP_11 => says("close"),
        reqwest::Version::HTTP_10 | reqwest::Version::HTTP_09 => !says("keep-alive"),
        _ => false,
    }
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
