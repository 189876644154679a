//! Binding the listening socket with an accept queue deep enough for a burst of connections,
//! and what an accepted connection may cost: how many are open at once, how long a client may
//! take to send a request, how long a connection may sit idle.
//!
//! No HTTP here: [`Tracked`] only notes when bytes last moved, and [`Watchdog::expired`] says
//! when a connection has had its time; the accept loop in `serve` acts on both.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, lookup_host};
use tokio::time::Instant;

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Longest wait for a request's head: from accept for the first request, and from the
    /// previous response for the next one on an HTTP/1.1 connection (hyper starts that clock
    /// when the connection is ready for a head, so it also bounds an idle HTTP/1.1
    /// keep-alive). A slowloris client dribbling header bytes is cut off after it.
    pub header_timeout: Duration,
    /// Longest a connection that has sent a request may go without a byte in either
    /// direction before it is shut down gracefully (an HTTP/2 GOAWAY; a response still being
    /// sent, even a stalled one, finishes first).
    pub idle_timeout: Duration,
    /// Connections open at once. Past it the server stops accepting and new connections wait
    /// in the kernel's queue; kept below the process's descriptor limit, which would otherwise
    /// make `accept` fail for everyone.
    pub max_connections: usize,
}

impl Default for ConnLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

impl ConnLimits {
    /// `max_connections`, lowered to leave 64 descriptors of the process's limit for files,
    /// the listener and the runtime.
    pub fn connection_cap(&self) -> usize {
        let descriptors = rlimit::getrlimit(rlimit::Resource::NOFILE)
            .map_or(u64::MAX, |(soft, _)| soft)
            .saturating_sub(64);
        let descriptors = usize::try_from(descriptors).unwrap_or(usize::MAX).max(1);
        self.max_connections.min(descriptors).max(1)
    }
}

/// When a connection last moved a byte and whether it has sent a request, shared between its
/// [`Tracked`] stream, its service and its [`Watchdog`].
#[derive(Debug)]
pub struct Activity {
    accepted: Instant,
    /// Milliseconds from `accepted` to the last read or write that moved bytes.
    last: AtomicU64,
    requested: AtomicBool,
}

impl Activity {
    /// A connection accepted now.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            accepted: Instant::now(),
            last: AtomicU64::new(0),
            requested: AtomicBool::new(false),
        })
    }

    /// Notes that a request's head arrived.
    pub fn requested(&self) {
        self.requested.store(true, Ordering::Relaxed);
    }

    fn touch(&self) {
        let millis = u64::try_from(self.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(millis, Ordering::Relaxed);
    }
}

/// Closes connections that had their time under [`ConnLimits`].
#[derive(Debug)]
pub struct Watchdog {
    activity: Arc<Activity>,
    limits: ConnLimits,
}

impl Watchdog {
    /// Watches the connection behind `activity`.
    pub fn new(activity: Arc<Activity>, limits: ConnLimits) -> Self {
        Self { activity, limits }
    }

    /// Completes once the connection should be shut down: no request within the header
    /// timeout of accept (a client that connects and sends nothing, or never finishes the
    /// HTTP/2 preface, which hyper's own header timer does not cover), or no byte moved for
    /// the idle timeout since.
    pub async fn expired(&self) {
        loop {
            let deadline = if self.activity.requested.load(Ordering::Relaxed) {
                let last = Duration::from_millis(self.activity.last.load(Ordering::Relaxed));
                self.activity.accepted + last + self.limits.idle_timeout
            } else {
                self.activity.accepted + self.limits.header_timeout
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// A stream that notes in its [`Activity`] each read or write that moves bytes.
#[derive(Debug)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connections the kernel queues before `accept` (capped by `net.core.somaxconn`). tokio's
/// `TcpListener::bind` asks for 128: a client opening 200 connections at once (W1) overflowed
/// it in a third of the runs, and each dropped handshake cost about 100 ms.
const BACKLOG: u32 = 4096;

/// Binds `addr` (`host:port`; port 0 for a free one) to the first address it resolves to.
pub async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut last_error = None;
    for addr in lookup_host(addr).await? {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        #[cfg(unix)]
        socket.set_reuseaddr(true)?;
        match socket.bind(addr) {
            Ok(()) => return socket.listen(BACKLOG),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "the address resolves to nothing",
        )
    }))
}

#[cfg(test)]
mod tests {
    use std::net::TcpStream;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_burst_of_connections_waits_in_the_queue_not_in_retries() {
        // The kernel caps the queue at net.core.somaxconn.
        let cap = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok())
            .unwrap_or(BACKLOG);
        let burst = cap.min(BACKLOG).min(1000);
        let listener = bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Nothing accepts: each handshake completes only if the queue has room for it.
        let connected: Vec<TcpStream> = (0..burst)
            .map(|i| {
                TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    .unwrap_or_else(|e| panic!("connection {i} of {burst} was not queued: {e}"))
            })
            .collect();
        assert_eq!(connected.len(), burst as usize);
    }
}
