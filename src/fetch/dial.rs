//! One dial at a time to an HTTPS origin until it is known to speak HTTP/1.1 (hyperium/hyper
//! #1485): until ALPN has finished, hyper-util's pool cannot know the origin speaks HTTP/2,
//! so every request waiting for a connection dials its own, and all but one are dropped
//! unused. nginx counted 350 connections accepted for 11 used (10,000 files at -c 64, a
//! GOAWAY every 1,000 requests): 32 dials at the start and after each GOAWAY, per worker.
//!
//! [`OneDial`] wraps a client's connector (one per worker thread) and, per origin, lets one
//! dial run while the others wait for it. When it came out HTTP/2, the waiting dials are not
//! made: the pool hands its requests that connection. When HTTP/1.1, the origin is marked
//! and its dials run in parallel from then on, as HTTP/1.1 needs a connection per request in
//! flight. Plain-HTTP origins (never HTTP/2: gather sends no prior-knowledge preface) pass
//! straight through. This module knows nothing of requests, only of dials.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::Connection;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a dial that was not made waits before it reports so. The request it served has
/// by then had the HTTP/2 connection from the pool; the wait only matters when that
/// connection's handshake failed, and then the request fails as a connect error (retried).
const SKIPPED_DIAL_WAIT: Duration = Duration::from_secs(5);

/// The connector layer; one per client.
#[derive(Debug, Clone, Default)]
pub(super) struct OneDial(Arc<Mutex<HashMap<String, Arc<Origin>>>>);

/// What is known of one origin's dials.
#[derive(Debug, Default)]
struct Origin {
    /// Held while a dial runs, until its TLS handshake (and ALPN) is done.
    gate: tokio::sync::Mutex<()>,
    /// Dials finished; a waiter that sees it change knows another dial ran meanwhile.
    finished: AtomicU64,
    /// The last dial negotiated HTTP/2.
    h2: AtomicBool,
    /// A dial negotiated HTTP/1.1: no more gating.
    http1: AtomicBool,
}

impl OneDial {
    fn origin(&self, key: &str) -> Arc<Origin> {
        let mut origins = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(origins.entry(key.to_owned()).or_default())
    }
}

impl<S> tower::Layer<S> for OneDial {
    type Service = OneDialService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        OneDialService {
            inner,
            dials: self.clone(),
        }
    }
}

/// The connector of [`OneDial`].
#[derive(Debug, Clone)]
pub(super) struct OneDialService<S> {
    inner: S,
    dials: OneDial,
}

/// The origin a dial is for, `https://host:port`, or `None` for plain HTTP. reqwest hands
/// layers its destination URI in a type with no accessor, so it is read from its `Debug`
/// (`Unnameable(https://host:port/)`).
fn https_origin(destination: &impl Debug) -> Option<String> {
    let text = format!("{destination:?}");
    let start = text.find("https://")?;
    let rest = &text[start..];
    let end = rest[8..]
        .find(['/', ')', '"'])
        .map_or(rest.len(), |slash| slash + 8);
    Some(rest[..end].to_owned())
}

impl<S, R> tower::Service<R> for OneDialService<S>
where
    S: tower::Service<R, Error = BoxError> + Clone + Send + 'static,
    S::Response: Connection + Send,
    S::Future: Send + 'static,
    R: Debug + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, destination: R) -> Self::Future {
        let origin = https_origin(&destination)
            .map(|key| self.dials.origin(&key))
            .filter(|origin| !origin.http1.load(Ordering::Relaxed));
        let Some(origin) = origin else {
            return Box::pin(self.inner.call(destination));
        };
        // The ready one is taken; its clone stays for the next call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let seen = origin.finished.load(Ordering::Acquire);
            let _turn = origin.gate.lock().await;
            let another_ran = origin.finished.load(Ordering::Acquire) != seen;
            if another_ran && origin.h2.load(Ordering::Acquire) {
                drop(_turn);
                // Another dial to this origin speaks HTTP/2 and is in the pool by now.
                tokio::time::sleep(SKIPPED_DIAL_WAIT).await;
                return Err(
                    "not dialled: an HTTP/2 connection to this origin was just opened".into(),
                );
            }
            let result = inner.call(destination).await;
            if let Ok(connection) = &result {
                let h2 = connection.connected().is_negotiated_h2();
                origin.h2.store(h2, Ordering::Release);
                if !h2 {
                    origin.http1.store(true, Ordering::Relaxed);
                }
            }
            origin.finished.fetch_add(1, Ordering::AcqRel);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest's destination type, as its `Debug` shows it.
    #[derive(Debug)]
    struct Unnameable(#[expect(dead_code, reason = "read through Debug")] http::Uri);

    fn to(uri: &str) -> Unnameable {
        Unnameable(uri.parse().unwrap())
    }

    #[test]
    fn the_origin_is_read_from_the_destination() {
        assert_eq!(
            https_origin(&to("https://127.0.0.1:8443/")).as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(
            https_origin(&to("https://example.com")).as_deref(),
            Some("https://example.com")
        );
        assert_eq!(https_origin(&to("http://127.0.0.1:8080/")), None);
    }
}
