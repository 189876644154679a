//! Fault injection: a seeded fraction of requests fails (500/503), has its connection closed
//! before a response, stalls mid-body, or is cut short of its Content-Length; past
//! `--rate-limit`, requests get 429 with `Retry-After`.
//!
//! Each request draws one number from a generator seeded with `seed` and its arrival number,
//! so a run with the same seed and the same arrival order injects the same faults.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, RateLimiter};
use rand::{Rng, SeedableRng};

use crate::rate::Rate;

/// Why a fault setting is invalid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultError {
    /// A rate outside 0..=1.
    #[error("{option} {value} is not a fraction between 0 and 1")]
    NotAFraction {
        /// The option.
        option: &'static str,
        /// Its value.
        value: f64,
    },
    /// The rates add up to more than every request.
    #[error("the fault rates add up to {0}, more than 1")]
    TooMany(f64),
}

/// Which faults to inject, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Fraction of requests answered with 500 or 503.
    pub fail_rate: f64,
    /// Fraction of requests whose connection is closed before any response.
    pub reset_rate: f64,
    /// Fraction of responses that send half their body, then wait `stall_for`.
    pub stall_rate: f64,
    /// Fraction of responses cut off halfway through their promised Content-Length.
    pub truncate_rate: f64,
    /// How long a stalled body waits before it finishes.
    pub stall_for: Duration,
    /// Requests beyond this rate get 429 with `Retry-After`.
    pub rate_limit: Option<Rate>,
    /// Seed of the draws.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            fail_rate: 0.0,
            reset_rate: 0.0,
            stall_rate: 0.0,
            truncate_rate: 0.0,
            stall_for: Duration::from_secs(60),
            rate_limit: None,
            seed: 0,
        }
    }
}

impl Faults {
    /// Checks that each rate is a fraction and that they add up to at most 1.
    pub fn validate(&self) -> Result<(), FaultError> {
        let rates = [
            ("--fail-rate", self.fail_rate),
            ("--reset-rate", self.reset_rate),
            ("--stall-rate", self.stall_rate),
            ("--truncate-rate", self.truncate_rate),
        ];
        for (option, value) in rates {
            if !(0.0..=1.0).contains(&value) {
                return Err(FaultError::NotAFraction { option, value });
            }
        }
        let total: f64 = rates.iter().map(|(_, rate)| rate).sum();
        if total > 1.0 + 1e-9 {
            return Err(FaultError::TooMany(total));
        }
        Ok(())
    }

    /// Whether any fault or limit is configured.
    pub fn any(&self) -> bool {
        self.fail_rate + self.reset_rate + self.stall_rate + self.truncate_rate > 0.0
            || self.rate_limit.is_some()
    }
}

/// Marks a response whose connection the server closes instead of answering.
#[derive(Debug, Clone, Copy)]
pub struct CloseConnection;

/// The faults' state shared by all requests: the draw counter and the rate limiter.
#[derive(Debug)]
pub struct Injector {
    faults: Faults,
    arrivals: AtomicU64,
    limiter: Option<DefaultDirectRateLimiter>,
}

enum Fault {
    Fail(StatusCode),
    Reset,
    Stall,
    Truncate,
}

impl Injector {
    /// The state for `faults`.
    pub fn new(faults: Faults) -> Arc<Self> {
        let limiter = faults
            .rate_limit
            .map(|rate| RateLimiter::direct(rate.quota(true)));
        Arc::new(Self {
            faults,
            arrivals: AtomicU64::new(0),
            limiter,
        })
    }

    fn draw(&self) -> Option<Fault> {
        let f = &self.faults;
        let arrival = self.arrivals.fetch_add(1, Ordering::Relaxed);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(f.seed ^ arrival.rotate_left(32));
        let mut roll: f64 = rng.random();
        for (rate, fault) in [
            (f.fail_rate, 0),
            (f.reset_rate, 1),
            (f.stall_rate, 2),
            (f.truncate_rate, 3),
        ] {
            if roll < rate {
                return Some(match fault {
                    0 if rng.random() => Fault::Fail(StatusCode::INTERNAL_SERVER_ERROR),
                    0 => Fault::Fail(StatusCode::SERVICE_UNAVAILABLE),
                    1 => Fault::Reset,
                    2 => Fault::Stall,
                    _ => Fault::Truncate,
                });
            }
            roll -= rate;
        }
        None
    }

    /// How long until a request is allowed, if the rate limit refuses this one now.
    fn throttled(&self) -> Option<Duration> {
        let limiter = self.limiter.as_ref()?;
        limiter
            .check()
            .err()
            .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// Middleware: applies the rate limit and the drawn fault to each request.
pub async fn inject(
    State(injector): State<Arc<Injector>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(wait) = injector.throttled() {
        // Whole seconds, rounded up: the header has no finer unit.
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response =
            (StatusCode::TOO_MANY_REQUESTS, "429 Too Many Requests\n").into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    match injector.draw() {
        None => next.run(request).await,
        Some(Fault::Fail(status)) => (status, format!("{status}\n")).into_response(),
        Some(Fault::Reset) => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response.extensions_mut().insert(CloseConnection);
            response
        }
        Some(Fault::Stall) => {
            let stall_for = injector.faults.stall_for;
            mangle(next.run(request).await, move |rest| {
                futures::stream::once(async move {
                    tokio::time::sleep(stall_for).await;
                    Ok(rest)
                })
                .boxed()
            })
            .await
        }
        Some(Fault::Truncate) => {
            mangle(next.run(request).await, |_| {
                futures::stream::once(async {
                    // Pending once, so that the head and the first half go out before the
                    // connection is dropped.
                    tokio::task::yield_now().await;
                    Err(std::io::Error::other("cut short by --truncate-rate"))
                })
                .boxed()
            })
            .await
        }
    }
}

type Tail = futures::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// Sends the first half of the response's body with its full Content-Length, then `tail`
/// (given the second half) decides how the body goes on.
async fn mangle(response: Response, tail: impl FnOnce(Bytes) -> Tail) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let rest = body.slice(body.len() / 2..);
    let head = futures::stream::once(std::future::ready(Ok(body.slice(..body.len() / 2))));
    Response::from_parts(parts, Body::from_stream(head.chain(tail(rest))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(fail: f64, reset: f64, stall: f64, truncate: f64) -> Faults {
        Faults {
            fail_rate: fail,
            reset_rate: reset,
            stall_rate: stall,
            truncate_rate: truncate,
            seed: 7,
            ..Faults::default()
        }
    }

    #[test]
    fn validates_rates() {
        assert!(faults(0.1, 0.05, 0.02, 0.03).validate().is_ok());
        assert!(faults(1.5, 0.0, 0.0, 0.0).validate().is_err());
        assert!(faults(-0.1, 0.0, 0.0, 0.0).validate().is_err());
        assert!(faults(0.6, 0.6, 0.0, 0.0).validate().is_err());
    }

    #[test]
    fn draws_each_fault_about_as_often_as_asked_and_repeatably() {
        let counts = || {
            let injector = Injector::new(faults(0.1, 0.05, 0.02, 0.03));
            let mut counts = [0u32; 5];
            for _ in 0..100_000 {
                counts[match injector.draw() {
                    None => 0,
                    Some(Fault::Fail(_)) => 1,
                    Some(Fault::Reset) => 2,
                    Some(Fault::Stall) => 3,
                    Some(Fault::Truncate) => 4,
                }] += 1;
            }
            counts
        };
        let first = counts();
        assert_eq!(first, counts(), "the same seed draws the same faults");
        for (count, expected) in first.iter().zip([80_000, 10_000, 5_000, 2_000, 3_000]) {
            let slack = expected / 10;
            assert!(count.abs_diff(expected) < slack, "{first:?}");
        }
    }
}
