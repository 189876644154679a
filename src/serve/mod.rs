//! `gather serve`: a local xkcd-like JSON API with configurable latency, for tests, benchmarks
//! and machines without internet.
//!
//! Routes: `GET /{id}/info.0.json` (a comic; 404 for id 0, 404 and ids above `max_id`),
//! `GET /info.0.json` (the latest comic), `GET /search?q=NAME` (an HTML page naming the query).
//! Latency is a non-blocking sleep before each response; [`Faults`] make a seeded share of
//! requests misbehave. The caller binds the listener and owns shutdown, so tests bind
//! `127.0.0.1:0`.

mod capacity;
mod comic;
mod faults;
mod latency;
mod listen;

pub use capacity::Capacity;
pub use comic::{Comic, MISSING_ID, comic_json, search_page};
pub use faults::{FaultError, Faults};
pub use latency::{Latency, LatencyError};
pub use listen::{ConnLimits, bind};

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot, watch};
use tower::ServiceExt;

/// How the server behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Delay before each response.
    pub latency: Latency,
    /// Highest comic id served; above it, 404.
    pub max_id: u64,
    /// Compress responses (gzip, brotli) for clients that accept it.
    pub compress: bool,
    /// Injected faults and the rate limit.
    pub faults: Faults,
    /// Requests worked on at once, and how many may wait (`--capacity`); `None`: no limit.
    pub capacity: Option<Capacity>,
    /// Timeouts and the cap on open connections.
    pub limits: ConnLimits,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            max_id: 3000,
            compress: false,
            faults: Faults::default(),
            capacity: None,
            limits: ConnLimits::default(),
        }
    }
}

/// How long in-flight requests may still run after shutdown (a stalled body could run for
/// minutes).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The router with every route, the latency layer and, when configured, the fault layer.
pub fn router(config: &ServeConfig) -> Router {
    let mut router = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{id}/info.0.json", get(comic))
        .route("/search", get(search))
        .fallback(not_found)
        .with_state(config.max_id);
    // Without latency the layer would still cost every request a boxed future.
    if config.latency != Latency::None {
        router = router.layer(middleware::from_fn_with_state(config.latency, delay));
    }
    // Outside the delay, which is the work a worker is held for; inside the faults.
    if let Some(capacity) = config.capacity {
        let backend = capacity::Backend::new(capacity);
        router = router.layer(middleware::from_fn_with_state(backend, capacity::limit));
    }
    if config.faults.any() {
        let injector = faults::Injector::new(config.faults.clone());
        router = router.layer(middleware::from_fn_with_state(injector, faults::inject));
    }
    if config.compress {
        router.layer(tower_http::compression::CompressionLayer::new())
    } else {
        router
    }
}

/// Serves on `listener` until `shutdown` completes, then gives in-flight requests up to
/// 5 seconds to finish.
///
/// HTTP/1.1 and HTTP/2 (prior knowledge) on each connection. A response marked by the fault
/// layer is not sent: its connection is closed instead, as a crashed backend would. Each
/// connection lives under [`ConnLimits`]: at most `max_connections` open (the rest wait in the
/// accept queue), a request head within `header_timeout`, and a graceful close after
/// `idle_timeout` without traffic.
pub async fn serve(
    listener: TcpListener,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let router = router(config);
    let limits = config.limits;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder.http2().timer(TokioTimer::new());
    let cap = limits.connection_cap();
    // A permit per open connection; shutdown waits until it holds them all again.
    let open = Arc::new(Semaphore::new(cap));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => permit.expect("never closed"),
            () = &mut shutdown => break,
        };
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of file descriptors or a connection reset while queued: keep serving.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let activity = listen::Activity::new();
        let router = router.clone();
        let requests = Arc::clone(&activity);
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            requests.requested();
            let router = router.clone();
            async move {
                let response = router
                    .oneshot(request.map(Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
                match response.extensions().get::<faults::CloseConnection>() {
                    Some(_) => Err(io::Error::other("connection closed by --reset-rate")),
                    None => Ok(response),
                }
            }
        });
        let io = TokioIo::new(listen::Tracked::new(tcp, Arc::clone(&activity)));
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let watchdog = listen::Watchdog::new(activity, limits);
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let _permit = permit;
            tokio::pin!(connection);
            let mut closing = false;
            let result = loop {
                tokio::select! {
                    result = connection.as_mut() => break result,
                    () = watchdog.expired(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    _ = stopping.wait_for(|stop| *stop), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            };
            if let Err(error) = result {
                tracing::trace!("connection ended: {error}");
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let all_closed = open.acquire_many(u32::try_from(cap).unwrap_or(u32::MAX));
    if tokio::time::timeout(SHUTDOWN_GRACE, all_closed)
        .await
        .is_err()
    {
        tracing::info!("requests still running after {SHUTDOWN_GRACE:?}; closing them");
    }
    Ok(())
}

/// A server running in this process on a free loopback port, on a thread of its own with
/// its own single-threaded runtime; stopped on drop.
///
/// Its own thread, not a task on the caller's runtime: a client in the same process (`gather
/// bench`) would otherwise share that runtime's workers with it, and whatever blocks or keeps
/// the caller's runtime busy would stall the server too. One thread serves what bench sends,
/// as `gather serve` does by default.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    /// Sent: stop gracefully. Dropped: stop at once.
    stop: Option<oneshot::Sender<()>>,
    done: Option<oneshot::Receiver<io::Result<()>>>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves on a new thread until stopped.
    pub async fn start(config: ServeConfig) -> io::Result<Self> {
        let (ready, bound) = oneshot::channel::<io::Result<SocketAddr>>();
        let (stop, stopped) = oneshot::channel::<()>();
        let (finished, done) = oneshot::channel();
        std::thread::Builder::new()
            .name("gather-serve".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = ready.send(Err(error));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match bind("127.0.0.1:0").await {
                        Ok(listener) => listener,
                        Err(error) => {
                            let _ = ready.send(Err(error));
                            return;
                        }
                    };
                    let _ = ready.send(listener.local_addr());
                    // A dropped `Server` drops the sender: stop at once, in-flight requests
                    // and all (the runtime's tasks end with it).
                    let (now, abort) = oneshot::channel::<()>();
                    let shutdown = async move {
                        if stopped.await.is_err() {
                            let _ = now.send(());
                        }
                    };
                    let result = tokio::select! {
                        biased;
                        _ = abort => Ok(()),
                        result = serve(listener, &config, shutdown) => result,
                    };
                    let _ = finished.send(result);
                });
            })?;
        let addr = bound
            .await
            .map_err(|_| io::Error::other("the server thread ended before binding"))??;
        Ok(Self {
            addr,
            stop: Some(stop),
            done: Some(done),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the server to end.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.done.take() {
            Some(done) => done
                .await
                .map_err(|_| io::Error::other("the server thread panicked"))?,
            None => Ok(()),
        }
    }
}

async fn delay(State(latency): State<Latency>, request: Request, next: Next) -> Response {
    let wait = latency.sample();
    if !wait.is_zero() {
        // async-io's timer, not tokio's: tokio rounds each sleep up to its 1 ms wheel tick and
        // wakes late by up to another, so `--latency 20ms` took 21-23 ms; async-io's reactor
        // thread sleeps with sub-millisecond precision. W2 (10,000 requests at 20 ms, -c 100,
        // release, 3 interleaved rounds): 2.29/2.43/2.32 s -> 2.13/2.21/2.13 s; one at a time,
        // 46.2-46.8 -> 48.3-49.4 requests/s (the ideal is 50).
        async_io::Timer::after(wait).await;
    }
    next.run(request).await
}

fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn latest(State(max_id): State<u64>) -> Response {
    match comic_json(max_id, max_id) {
        Some(body) => json(body),
        None => not_found().await,
    }
}

async fn comic(
    State(max_id): State<u64>,
    Path(id): Path<String>,
    request: axum::http::HeaderMap,
) -> Response {
    let Some((id, body)) = id
        .parse()
        .ok()
        .and_then(|id| Some((id, comic_json(id, max_id)?)))
    else {
        return not_found().await;
    };
    let text = |name| {
        request
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
    };
    let validators = [
        (header::ETAG, comic::etag(id)),
        (header::LAST_MODIFIED, comic::LAST_MODIFIED.to_owned()),
    ];
    if comic::is_current(
        id,
        text(header::IF_NONE_MATCH),
        text(header::IF_MODIFIED_SINCE),
    ) {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    (
        [(header::CONTENT_TYPE, "application/json".to_owned())],
        validators,
        body,
    )
        .into_response()
}

async fn search(Query(params): Query<HashMap<String, String>>) -> Response {
    let query = params.get("q").map_or("", String::as_str);
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        search_page(query),
    )
        .into_response()
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 Not Found\n").into_response()
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::{Duration, Instant};

    use super::*;

    /// A blocking GET of comic 1: the status line.
    fn get_comic(addr: SocketAddr) -> io::Result<String> {
        let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
        tcp.set_read_timeout(Some(Duration::from_secs(2)))?;
        tcp.write_all(b"GET /1/info.0.json HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
        let mut response = String::new();
        tcp.read_to_string(&mut response)?;
        Ok(response.lines().next().unwrap_or_default().to_owned())
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_in_process_server_answers_while_the_callers_runtime_is_busy() {
        let server = Server::start(ServeConfig::default()).await.unwrap();
        // This blocks the caller's only runtime thread: a server running as a task on it
        // could not answer until the read timed out.
        let status = get_comic(server.addr()).expect("the server answered");
        assert_eq!(status, "HTTP/1.1 200 OK");
        server.stop().await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_server_stops_listening() {
        let server = Server::start(ServeConfig::default()).await.unwrap();
        let addr = server.addr();
        assert!(get_comic(addr).is_ok());
        drop(server);
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(addr).is_ok() {
            assert!(Instant::now() < deadline, "still listening after drop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
