//! `--capacity N`: a backend with N workers. At most N requests are worked on at once (their
//! latency is the work); the rest wait in a first-come, first-served queue, so past N more
//! concurrency only adds queueing delay, and throughput is capped at N / latency. With
//! `--queue-limit M`, a request that finds M already waiting is answered 503 at once.
//!
//! The layer sits outside the latency layer (a worker is held for the whole delay) and inside
//! the fault layer (a rate limiter's 429s, like a gateway's, never reach the queue). It draws
//! nothing at random: the same arrivals are served in the same order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

/// How many requests are worked on at once, and how many may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Requests worked on at once (at least 1).
    pub workers: usize,
    /// Requests that may wait for a worker; one more is answered 503. `None`: no limit.
    pub queue_limit: Option<usize>,
}

/// The workers and the queue, shared by every request.
#[derive(Debug)]
pub struct Backend {
    workers: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue_limit: Option<usize>,
}

impl Backend {
    /// A backend of `capacity`.
    pub fn new(capacity: Capacity) -> Arc<Self> {
        Arc::new(Self {
            workers: Arc::new(Semaphore::new(capacity.workers.max(1))),
            waiting: AtomicUsize::new(0),
            queue_limit: capacity.queue_limit,
        })
    }
}

/// Counts a request as waiting for as long as it is alive.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Middleware: waits for a worker (tokio's semaphore is fair: first come, first served), or
/// answers 503 when the queue is full.
pub async fn limit(State(backend): State<Arc<Backend>>, request: Request, next: Next) -> Response {
    let permit = match Arc::clone(&backend.workers).try_acquire_owned() {
        Ok(permit) => permit,
        Err(_) => {
            let queued = backend.waiting.fetch_add(1, Ordering::Relaxed);
            let waiting = Waiting(&backend.waiting);
            if backend.queue_limit.is_some_and(|limit| queued >= limit) {
                drop(waiting);
                return queue_full();
            }
            // The semaphore is never closed.
            let Ok(permit) = Arc::clone(&backend.workers).acquire_owned().await else {
                return queue_full();
            };
            drop(waiting);
            permit
        }
    };
    let response = next.run(request).await;
    drop(permit);
    response
}

fn queue_full() -> Response {
    let mut response = (
        StatusCode::SERVICE_UNAVAILABLE,
        "503 Service Unavailable: the queue is full\n",
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::Instant;

    use axum::Router;
    use axum::body::Body;
    use axum::middleware;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn app(capacity: Capacity) -> Router {
        Router::new()
            .route(
                "/",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    "ok"
                }),
            )
            .layer(middleware::from_fn_with_state(
                Backend::new(capacity),
                limit,
            ))
    }

    async fn statuses(app: Router, n: usize) -> (Vec<StatusCode>, Duration) {
        let start = Instant::now();
        let requests = (0..n).map(|_| {
            let app = app.clone();
            async move {
                let request = axum::http::Request::new(Body::empty());
                app.oneshot(request).await.unwrap().status()
            }
        });
        let statuses = futures::future::join_all(requests).await;
        (statuses, start.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn past_capacity_requests_queue() {
        let capacity = Capacity {
            workers: 2,
            queue_limit: None,
        };
        let (statuses, took) = statuses(app(capacity), 6).await;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK));
        // Three rounds of two: 300 ms, not 100.
        assert_eq!(took.as_millis() / 100, 3, "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_answers_503() {
        let capacity = Capacity {
            workers: 2,
            queue_limit: Some(1),
        };
        let (statuses, _) = statuses(app(capacity), 6).await;
        let full = statuses
            .iter()
            .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
            .count();
        // Two at work, one waiting, three turned away.
        assert_eq!(full, 3, "{statuses:?}");
    }
}
