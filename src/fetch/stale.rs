//! Stale keep-alive connections: a server may close an idle connection just as a request is
//! sent on it (tinyproxy closes each one after a response, without `Connection: close`). The
//! request then fails with no response ("connection closed before message completed"), though
//! the server never saw it, or dropped it unanswered; curl and browsers send it again at once on
//! a new connection, and so does gather, for its GETs, without counting a retry.
//!
//! hyper retries only requests that never left; for the rest, nothing says whether the
//! connection was new or reused. [`Reused`] keeps that: each connection by its local address,
//! from its connector (which also times the connect, for `--har`) to its first response. A
//! failure without a response on a connection that had answered before was on a reused one.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper_util::client::legacy::connect::{Connected, Connection, HttpInfo};

/// Resends of one request on a new connection after stale ones, at most: each stale idle
/// connection is dropped from the pool as it fails, so the next try takes another or dials.
pub(super) const MAX_STALE_RESENDS: u32 = 8;

/// The connections of one client, by local address: whether each has carried a response, and
/// how long it took to open.
#[derive(Debug, Default)]
pub(super) struct Reused(Mutex<HashMap<SocketAddr, Opened, BuildHasherDefault<AddrHasher>>>);

/// A hasher for local addresses, which no one outside picks: a multiply and a rotate per word
/// instead of SipHash (W3: 110 instructions per item).
#[derive(Debug, Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u64(u64::from(byte));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// What is known of one connection.
#[derive(Debug, Default)]
struct Opened {
    /// A response came on it.
    answered: bool,
    /// How long its connector took, until its first response takes it.
    connect: Option<Duration>,
}

impl Reused {
    /// A connector layer that notes each new connection (a closed one may have had its local
    /// address) and how long it took to open. Without it (a client that keeps no exchanges:
    /// the layer costs a boxed clone per request), a new connection is known at its first
    /// response, and one that took the address of a closed one that had answered is, if its
    /// first request fails unanswered, taken for reused: sent again once, no worse.
    pub(super) fn layer(self: &Arc<Self>) -> NoteNew {
        NoteNew(Arc::clone(self))
    }

    /// Notes that `response` came on its connection: a request failing there later is on a
    /// reused connection. Returns how long the connection took to open when this is its first
    /// response: the request that opened it, in effect.
    pub(super) fn answered(&self, response: &reqwest::Response) -> Option<Duration> {
        let info = response.extensions().get::<HttpInfo>()?;
        let mut connections = self.connections();
        let opened = connections.entry(info.local_addr()).or_default();
        let first = !opened.answered;
        opened.answered = true;
        first.then(|| opened.connect.take()).flatten()
    }

    /// Whether `error` is a request that got no response because its connection, a reused
    /// one, was closed: safe to send again at once on another.
    pub(super) fn is_stale(&self, error: &reqwest::Error) -> bool {
        if error.is_timeout() || error.is_connect() || error.status().is_some() {
            return false;
        }
        let mut closed = false;
        let mut connected = None;
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(cause) = source {
            if let Some(client) = cause.downcast_ref::<hyper_util::client::legacy::Error>() {
                connected = client.connect_info();
            }
            if let Some(hyper) = cause.downcast_ref::<hyper::Error>() {
                closed |= hyper.is_incomplete_message() || hyper.is_closed();
            }
            if let Some(io) = cause.downcast_ref::<std::io::Error>() {
                closed |= matches!(
                    io.kind(),
                    std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::BrokenPipe
                        | std::io::ErrorKind::UnexpectedEof
                );
            }
            source = cause.source();
        }
        // The connection is done with: forget it, so its address means nothing any more.
        closed
            && connected
                .and_then(local_addr)
                .and_then(|addr| self.connections().remove(&addr))
                .is_some_and(|opened| opened.answered)
    }

    fn connections(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Opened, BuildHasherDefault<AddrHasher>>>
    {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The local address of a connection, from what its connector said about it.
fn local_addr(connected: &Connected) -> Option<SocketAddr> {
    let mut extensions = http::Extensions::new();
    connected.get_extras(&mut extensions);
    extensions.get::<HttpInfo>().map(HttpInfo::local_addr)
}

/// The connector layer of [`Reused::layer`].
#[derive(Debug, Clone)]
pub(super) struct NoteNew(Arc<Reused>);

impl<S> tower::Layer<S> for NoteNew {
    type Service = NoteNewService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        NoteNewService {
            inner,
            reused: Arc::clone(&self.0),
        }
    }
}

/// A connector that notes each connection it makes, by local address.
#[derive(Debug, Clone)]
pub(super) struct NoteNewService<S> {
    inner: S,
    reused: Arc<Reused>,
}

impl<S, R> tower::Service<R> for NoteNewService<S>
where
    S: tower::Service<R>,
    S::Response: Connection,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        let connecting = self.inner.call(request);
        let reused = Arc::clone(&self.reused);
        Box::pin(async move {
            let start = Instant::now();
            let connection = connecting.await?;
            if let Some(addr) = local_addr(&connection.connected()) {
                let opened = Opened {
                    answered: false,
                    connect: Some(start.elapsed()),
                };
                reused.connections().insert(addr, opened);
            }
            Ok(connection)
        })
    }
}
