//! `gather serve`: a local xkcd-like JSON API with configurable latency, for tests, benchmarks
//! and machines without internet.
//!
//! Routes: `GET /{id}/info.0.json` (a comic; 404 for id 0, 404 and ids above `max_id`),
//! `GET /info.0.json` (the latest comic), `GET /search?q=NAME` (an HTML page naming the query).
//! Latency is a non-blocking sleep before each response. The caller binds the listener and owns
//! shutdown, so tests bind `127.0.0.1:0`.

mod comic;
mod latency;

pub use comic::{Comic, MISSING_ID, comic_json, search_page};
pub use latency::{Latency, LatencyError};

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the server behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Delay before each response.
    pub latency: Latency,
    /// Highest comic id served; above it, 404.
    pub max_id: u64,
    /// Compress responses (gzip, brotli) for clients that accept it.
    pub compress: bool,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            latency: Latency::default(),
            max_id: 3000,
            compress: false,
        }
    }
}

/// The router with every route and the latency layer.
pub fn router(config: &ServeConfig) -> Router {
    let router = Router::new()
        .route("/info.0.json", get(latest))
        .route("/{id}/info.0.json", get(comic))
        .route("/search", get(search))
        .fallback(not_found)
        .with_state(config.max_id)
        .layer(middleware::from_fn_with_state(config.latency, delay));
    if config.compress {
        router.layer(tower_http::compression::CompressionLayer::new())
    } else {
        router
    }
}

/// Serves on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    config: &ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router(config))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in this process on a free loopback port; stopped on drop.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves in a background task.
    pub async fn start(config: ServeConfig) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, &config, async {
                let _ = stopped.await;
            })
            .await
        });
        Ok(Self {
            addr,
            stop: Some(stop),
            task: Some(task),
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
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn delay(State(latency): State<Latency>, request: Request, next: Next) -> Response {
    let wait = latency.sample();
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
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

async fn comic(State(max_id): State<u64>, Path(id): Path<String>) -> Response {
    match id.parse().ok().and_then(|id| comic_json(id, max_id)) {
        Some(body) => json(body),
        None => not_found().await,
    }
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
