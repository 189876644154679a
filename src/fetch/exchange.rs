//! One request of an item and what came back, as sent and received: kept only for `--har`,
//! one per request (each redirect hop, each retry, each resend after a stale connection).
//! URLs and secret header values are masked ([`redact`]) as they are kept.

use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap};

use crate::redact;

/// One request and its response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exchange {
    /// The URL requested, password masked.
    pub url: String,
    /// When the request was sent (an offset from the start of the run).
    pub sent: Duration,
    /// How long opening its connection took (DNS, TCP and TLS together, as the connector does
    /// them), when this request opened one.
    pub connect: Option<Duration>,
    /// When the response's headers arrived, if they did.
    pub response: Option<Duration>,
    /// When the exchange ended: the body read, or the failure.
    pub end: Duration,
    /// The response's status; 0 when none came.
    pub status: u16,
    /// The HTTP version of the response (`HTTP/1.1`, `HTTP/2.0`), if one came.
    pub version: Option<String>,
    /// The request's headers as sent (secret values masked).
    pub request_headers: Vec<(String, String)>,
    /// The response's headers (secret values masked).
    pub response_headers: Vec<(String, String)>,
    /// The response's `Content-Type`, if it had one.
    pub mime_type: Option<String>,
    /// Where a redirect pointed, password masked.
    pub redirect_url: Option<String>,
    /// Body bytes received (encoded).
    pub received: u64,
    /// Body bytes decoded.
    pub size: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl Exchange {
    /// A request to `url` sent at `sent`, with `headers` as sent (the client's own defaults
    /// included by the caller).
    pub(super) fn sent(url: &url::Url, sent: Duration, headers: &HeaderMap) -> Self {
        Self {
            url: redact::url(url.as_str()).into_owned(),
            sent,
            end: sent,
            request_headers: pairs(headers),
            ..Self::default()
        }
    }

    /// Takes in the response's head, arrived at `at`.
    pub(super) fn answered(
        &mut self,
        response: &reqwest::Response,
        at: Duration,
        connect: Option<Duration>,
    ) {
        self.response = Some(at);
        self.end = at;
        self.connect = connect;
        self.status = response.status().as_u16();
        self.version = Some(format!("{:?}", response.version()));
        self.response_headers = pairs(response.headers());
        self.mime_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
    }

    /// Ends it at `at`, failed with `error` if it did.
    pub(super) fn end(&mut self, at: Duration, error: Option<String>) {
        self.end = at;
        self.error = error;
    }
}

/// Headers as name and value pairs, secret values masked; values that are not text are shown
/// lossily.
fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes());
            let value = redact::header(name.as_str(), &value).into_owned();
            (name.as_str().to_owned(), value)
        })
        .collect()
}
