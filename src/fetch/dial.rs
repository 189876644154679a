//! Dials only when a request needs a connection, so that gather opens about one connection
//! per download slot and origin.
//!
//! hyper-util's pool dials for every request that finds no idle connection, and races the
//! dial against a connection coming back; when one comes back first, the new connection is
//! opened for nothing (hyperium/hyper#4134, closed without an option). Two cases made gather
//! open many more connections than it had slots:
//!
//! - **HTTP/2** (hyperium/hyper#1485): until ALPN has finished, the pool cannot know the
//!   origin speaks HTTP/2, so every request waiting for the first connection dials its own.
//!   nginx counted 350 connections accepted for 11 used (10,000 files at -c 64, a GOAWAY every
//!   1,000 requests). Per HTTPS origin, one dial runs while the others wait for it; when it
//!   came out HTTP/2 the waiting dials are not made, and the pool hands their requests that
//!   connection. When HTTP/1.1, the origin is marked and its dials run in parallel.
//! - **HTTP/1.1 at the start**: the slots' first dials (a TLS handshake each) take a while,
//!   and meanwhile the first downloads finish; their connections go to requests still waiting,
//!   and the next items' requests find no idle connection and dial again. nginx counted
//!   115-169 connections for 10,000 files at -c 64 over TLS, all dialled in the first few
//!   hundred requests. So a dial to an origin that already has a connection (or a dial under
//!   way) per slot waits until no other dial to it is under way, and then [`PATIENCE`]; if a
//!   connection came back meanwhile, hyper-util hands it the request and moves the dial to a
//!   task of its own, which the dial notices (its waker changed) and gives up.
//!
//! The connections an origin has are counted from the dials that succeeded, less the ones the
//! fetcher saw end ([`OneDial::closed`]: a `Connection: close`, an error after connecting).
//! A connection that ends unseen (an idle one the server closed) is still counted; it only
//! makes a dial wait [`PATIENCE`] before it runs. [`OneDial`] wraps a client's connector (one
//! per worker thread); it knows nothing of requests, only of dials.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use hyper_util::client::legacy::connect::Connection;
use tokio::sync::Notify;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a dial that was not made waits before it reports so. The request it served has
/// by then had the HTTP/2 connection from the pool; the wait only matters when that
/// connection's handshake failed, and then the request fails as a connect error (retried).
const SKIPPED_DIAL_WAIT: Duration = Duration::from_secs(5);

/// How long a request that found no idle connection, at an origin that has one per slot,
/// waits for one to come back before its dial runs.
pub(super) const PATIENCE: Duration = Duration::from_millis(2);

/// The connector layer; one per client.
#[derive(Debug, Clone)]
pub(super) struct OneDial {
    origins: Arc<Mutex<HashMap<String, Arc<Origin>>>>,
    /// Connections per origin the client's requests can use at once: its download slots.
    slots: usize,
}

/// What is known of one origin's dials.
#[derive(Debug, Default)]
struct Origin {
    /// Held while a dial runs, until its TLS handshake (and ALPN) is done.
    gate: tokio::sync::Mutex<()>,
    /// Dials finished; a waiter that sees it change knows another dial ran meanwhile.
    finished: AtomicU64,
    /// The last dial negotiated HTTP/2.
    h2: AtomicBool,
    /// A dial negotiated HTTP/1.1 (or the origin is plain HTTP): no more gating on ALPN.
    http1: AtomicBool,
    /// Connections opened and not seen to end.
    open: AtomicUsize,
    /// Dials under way.
    dialling: AtomicUsize,
    /// Told when a dial ends or a connection is seen to end.
    settled: Notify,
}

impl OneDial {
    /// A layer for a client with `slots` download slots.
    pub(super) fn new(slots: usize) -> Self {
        Self {
            origins: Arc::default(),
            slots: slots.max(1),
        }
    }

    fn origin(&self, key: &str) -> Arc<Origin> {
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        super::per_host(&mut origins, key.to_owned(), Origin::default)
    }

    /// Notes that a connection to `origin` (`scheme://host:port`, as [`url::Origin`] writes
    /// it) has ended or is about to: its response said `Connection: close`, or a request on it
    /// failed.
    pub(super) fn closed(&self, origin: &str) {
        let origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(origin) = origins.get(origin) {
            let _ = origin
                .open
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                    open.checked_sub(1)
                });
            origin.settled.notify_waiters();
        }
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

/// The origin a dial is for, `https://host:port` or `http://host:port`. reqwest hands layers
/// its destination URI in a type with no accessor, so it is read from its `Debug`
/// (`Unnameable(https://host:port/)`).
fn origin_of(destination: &impl Debug) -> Option<String> {
    let text = format!("{destination:?}");
    let start = text.find("://")?;
    let scheme_start = text[..start]
        .rfind(|c: char| !c.is_ascii_alphanumeric())
        .map_or(0, |before| before + 1);
    let rest = &text[start + 3..];
    let end = rest.find(['/', ')', '"']).unwrap_or(rest.len());
    Some(text[scheme_start..start + 3 + end].to_owned())
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
        let Some(key) = origin_of(&destination) else {
            return Box::pin(self.inner.call(destination));
        };
        let origin = self.dials.origin(&key);
        if key.starts_with("http://") {
            // gather sends no HTTP/2 prior-knowledge preface: plain HTTP is HTTP/1.1.
            origin.http1.store(true, Ordering::Release);
        }
        let slots = self.dials.slots;
        // The ready one is taken; its clone stays for the next call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            if !origin.http1.load(Ordering::Acquire) {
                let seen = origin.finished.load(Ordering::Acquire);
                let turn = origin.gate.lock().await;
                let another_ran = origin.finished.load(Ordering::Acquire) != seen;
                if another_ran && origin.h2.load(Ordering::Acquire) {
                    drop(turn);
                    // Another dial to this origin speaks HTTP/2 and is in the pool by now.
                    tokio::time::sleep(SKIPPED_DIAL_WAIT).await;
                    return Err(
                        "not dialled: an HTTP/2 connection to this origin was just opened".into(),
                    );
                }
                if !origin.http1.load(Ordering::Acquire) {
                    let result = origin.dial(&mut inner, destination).await;
                    if let Ok(connection) = &result {
                        let h2 = connection.connected().is_negotiated_h2();
                        origin.h2.store(h2, Ordering::Release);
                        origin.http1.store(!h2, Ordering::Release);
                    }
                    origin.finished.fetch_add(1, Ordering::AcqRel);
                    return result;
                }
                // The dial this one waited for found HTTP/1.1: no more turns.
            }
            if !origin.wait_for_need(slots).await {
                return Err("not dialled: a connection came back first".into());
            }
            origin.dial(&mut inner, destination).await
        })
    }
}

impl Origin {
    /// Runs one dial, counted while under way and, when it succeeds, as an open connection.
    async fn dial<S, R>(&self, inner: &mut S, destination: R) -> Result<S::Response, BoxError>
    where
        S: tower::Service<R, Error = BoxError>,
    {
        self.dialling.fetch_add(1, Ordering::AcqRel);
        let result = inner.call(destination).await;
        if result.is_ok() {
            self.open.fetch_add(1, Ordering::AcqRel);
        }
        self.dialling.fetch_sub(1, Ordering::AcqRel);
        self.settled.notify_waiters();
        result
    }

    /// Whether a dial should run: at once while the origin has fewer connections (open or
    /// being dialled) than `slots`; else after the other dials and [`PATIENCE`], unless a
    /// connection came back to the request first (`false`).
    async fn wait_for_need(&self, slots: usize) -> bool {
        let enough =
            || self.open.load(Ordering::Acquire) + self.dialling.load(Ordering::Acquire) >= slots;
        if !enough() {
            return true;
        }
        UnlessMoved::new(async {
            loop {
                let settled = self.settled.notified();
                tokio::pin!(settled);
                settled.as_mut().enable();
                if !enough() {
                    return;
                }
                if self.dialling.load(Ordering::Acquire) == 0 {
                    break;
                }
                settled.await;
            }
            tokio::time::sleep(PATIENCE).await;
        })
        .await
    }
}

/// Runs a future in the task that first polled it: `true` when it finished there, `false` as
/// soon as another task polls it. hyper-util moves a dial to a task of its own when a
/// connection came back to the request before the dial was done, so a dial that is moved is
/// no longer needed.
struct UnlessMoved<F> {
    wait: Pin<Box<F>>,
    first: Option<Waker>,
}

impl<F: Future<Output = ()>> UnlessMoved<F> {
    fn new(wait: F) -> Self {
        Self {
            wait: Box::pin(wait),
            first: None,
        }
    }
}

impl<F: Future<Output = ()>> Future for UnlessMoved<F> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        match &self.first {
            None => self.first = Some(cx.waker().clone()),
            Some(first) if !first.will_wake(cx.waker()) => return Poll::Ready(false),
            Some(_) => {}
        }
        self.wait.as_mut().poll(cx).map(|()| true)
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
            origin_of(&to("https://127.0.0.1:8443/")).as_deref(),
            Some("https://127.0.0.1:8443")
        );
        assert_eq!(
            origin_of(&to("https://example.com")).as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            origin_of(&to("http://127.0.0.1:8080/")).as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of(&"no scheme"), None);
    }

    #[test]
    fn origins_no_dial_uses_are_forgotten_past_the_limit() {
        let dials = OneDial::new(8);
        let in_use = dials.origin("http://busy:80");
        in_use.open.store(3, Ordering::Relaxed);
        for n in 0..3 * super::super::MAX_HOSTS {
            dials.origin(&format!("http://host-{n}:80"));
        }
        let origins = dials.origins.lock().unwrap();
        assert!(
            origins.len() <= super::super::MAX_HOSTS,
            "{} origins kept",
            origins.len()
        );
        // One a dial still holds is kept, and what it knows.
        assert_eq!(origins["http://busy:80"].open.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_wait_finished_in_its_own_task_says_so() {
        let wait = UnlessMoved::new(tokio::time::sleep(Duration::from_millis(1)));
        assert!(wait.await);
    }

    #[tokio::test]
    async fn a_wait_moved_to_another_task_gives_up() {
        let mut wait = Box::pin(UnlessMoved::new(std::future::pending::<()>()));
        // Polled here first, as a dial is while its request waits for it ...
        assert!(futures::poll!(wait.as_mut()).is_pending());
        // ... then moved to a task of its own, as hyper-util does when a connection came back.
        let moved = tokio::time::timeout(Duration::from_secs(5), tokio::spawn(wait));
        assert!(!moved.await.expect("it gave up at once").unwrap());
    }
}
