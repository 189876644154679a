//! `-c auto`: a concurrency limit that tunes itself while the run goes, and the counts of
//! overload answers (429, 503, timeouts) that `bench sweep` reports.
//!
//! The limit counts items at once, as `-c N` does (an item holds its slot through its retries
//! and their waits), and learns from every request ([`Sample`]). It is shared by all worker
//! threads: a [`Semaphore`] whose permits the algorithm adds, and forgets when it shrinks
//! (a permit given back while the limit is below the permits out is forgotten). With
//! `--per-host`, each host has a limit of its own.
//!
//! The algorithm ([`Algorithm`]) is written here rather than taken from a crate: the crates
//! found (congestion-limiter 0.1.0, tower-resilience-adaptive) update per sample and wrap a
//! tower `Service`, and neither met the targets against a rate-limited server in a simulation.
//! It is a small combination of published ones, each cited where it is used:
//!
//! - TCP slow start (RFC 5681, section 3.1): the limit doubles every round until queueing
//!   shows or the server refuses, so a large capacity is found in a few round trips.
//! - TCP Vegas (Brakmo and Peterson, "TCP Vegas: End to End Congestion Avoidance on a Global
//!   Internet", IEEE JSAC 13(8), 1995), as Netflix's concurrency-limits `VegasLimit` applies it
//!   to requests: once a round, the requests queued at the server are estimated as
//!   `limit × (1 − base latency / latency)`; below `alpha` the limit grows by one, above `beta`
//!   it shrinks. Like Netflix's `Gradient2Limit`, it shrinks halfway to the limit that would
//!   have no queue (`limit × base / latency`) plus `alpha`, rather than by one.
//! - Multiplicative decrease on overload (Chiu and Jain, "Analysis of the Increase and Decrease
//!   Algorithms for Congestion Avoidance in Computer Networks", 1989; the factor 0.9 and
//!   429/503 as back-pressure are those of Vector's adaptive request concurrency), at most
//!   once a round, as TCP reduces once per window.
//! - Little's law (in flight = throughput × latency): on overload the limit is also capped at
//!   the rate the server just granted times the base latency, the concurrency that rate needs.
//!   After an overload the limit grows past that cap by one at most every [`PROBE_EVERY`]: a
//!   rate limit does not show in latency, so the cap is what keeps the 429s rare.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use url::Url;

/// The default `--max-concurrency`: the most `-c auto` may reach.
pub const DEFAULT_MAX: usize = 512;

/// The limit a run starts at.
pub const INITIAL_LIMIT: usize = 4;

/// Samples a round needs before it decides (and at least one base latency of time).
const ROUND_SAMPLES: u32 = 8;

/// The factor an overload multiplies the limit by (Vector's `decrease_ratio`).
const OVERLOAD_DECREASE: f64 = 0.9;

/// After an overload, the limit grows past what was granted by one at most this often.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Changes of the limit kept for the summary and the trace, at most.
const HISTORY_CAP: usize = 100_000;

/// Vegas's lower queueing threshold for `limit`: fewer queued than this, and the limit grows.
fn alpha(limit: f64) -> f64 {
    (0.15 * limit).max(2.0)
}

/// Vegas's upper queueing threshold: more queued than this, and the limit shrinks.
fn beta(limit: f64) -> f64 {
    (0.3 * limit).max(4.0)
}

/// What one request told the limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    /// The server answered (any status but 429 and 503) after `latency`.
    Answered {
        /// When the request went out.
        sent: Instant,
        /// Sent to the end of the response.
        latency: Duration,
    },
    /// 429, 503 or a timeout: the server is overloaded or refuses more.
    Overload,
}

/// Why the limit changed (for `-v` and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Slow start doubled it.
    SlowStart,
    /// Little queueing, in use: one more.
    Grow,
    /// Queueing past `beta`: less.
    Queueing,
    /// 429, 503 or a timeout: less.
    Overload,
}

impl Change {
    fn as_str(self) -> &'static str {
        match self {
            Change::SlowStart => "slow start",
            Change::Grow => "no queueing",
            Change::Queueing => "queueing",
            Change::Overload => "overload",
        }
    }
}

/// The current round: requests sent since the last change.
#[derive(Debug, Clone, Copy)]
struct Round {
    start: Instant,
    count: u32,
    sum: Duration,
}

/// The limit's arithmetic, with time passed in: no clock, no locks (see the module docs).
#[derive(Debug, Clone)]
pub struct Algorithm {
    limit: f64,
    max: f64,
    slow_start: bool,
    /// The shortest latency seen.
    min_latency: Option<Duration>,
    /// The lowest round mean: the latency without queueing.
    base: Option<Duration>,
    round: Round,
    /// No second overload decrease before this.
    next_decrease: Instant,
    /// What the last overload left the limit at, and when it may be passed by one.
    ceiling: Option<(f64, Instant)>,
    /// When answers came, for the rate granted (Little's law on overload).
    answers: VecDeque<Instant>,
    started: Instant,
}

impl Algorithm {
    /// Starts at `initial` (at most `max`) at `now`.
    pub fn new(initial: usize, max: usize, now: Instant) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: (initial.max(1) as f64).min(max),
            max,
            slow_start: true,
            min_latency: None,
            base: None,
            round: Round {
                start: now,
                count: 0,
                sum: Duration::ZERO,
            },
            next_decrease: now,
            ceiling: None,
            answers: VecDeque::new(),
            started: now,
        }
    }

    /// The limit: requests at once.
    pub fn limit(&self) -> usize {
        (self.limit as usize).max(1)
    }

    /// Takes one sample at `now`; `busiest` is the most items that were at once in this round.
    /// Returns why the limit changed, if it did.
    pub fn sample(&mut self, now: Instant, sample: Sample, busiest: usize) -> Option<Change> {
        let change = match sample {
            Sample::Overload => Some(self.overload(now)),
            Sample::Answered { sent, latency } => self.answered(now, sent, latency, busiest),
        };
        self.limit = self.limit.clamp(1.0, self.max);
        if change.is_some() {
            self.round = Round {
                start: now,
                count: 0,
                sum: Duration::ZERO,
            };
        }
        change
    }

    fn overload(&mut self, now: Instant) -> Change {
        self.slow_start = false;
        let round_trip = self.min_latency.unwrap_or(Duration::from_millis(1));
        if now >= self.next_decrease {
            self.limit *= OVERLOAD_DECREASE;
            self.next_decrease = now + round_trip.max(Duration::from_millis(1));
        }
        if let Some(granted) = self.granted_rate(now) {
            // Little's law: the concurrency that the rate the server grants needs.
            self.limit = self
                .limit
                .min((granted * round_trip.as_secs_f64()).max(1.0));
        }
        self.ceiling = Some((self.limit, now + PROBE_EVERY));
        Change::Overload
    }

    /// Answers per second over the last `max(250 ms, 8 × latency)`, if any came.
    fn granted_rate(&mut self, now: Instant) -> Option<f64> {
        let min_latency = self.min_latency?;
        let window = (min_latency * 8).max(Duration::from_millis(250));
        while self
            .answers
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > window)
        {
            self.answers.pop_front();
        }
        let span = window.min(now.saturating_duration_since(self.started));
        (!span.is_zero()).then(|| self.answers.len() as f64 / span.as_secs_f64())
    }

    fn answered(
        &mut self,
        now: Instant,
        sent: Instant,
        latency: Duration,
        busiest: usize,
    ) -> Option<Change> {
        if self.answers.len() >= HISTORY_CAP {
            self.answers.pop_front();
        }
        self.answers.push_back(now);
        let min_latency = self.min_latency.map_or(latency, |m| m.min(latency));
        self.min_latency = Some(min_latency);
        // Sent before the last change: it tells about the old limit.
        if sent < self.round.start {
            return None;
        }
        self.round.count += 1;
        self.round.sum += latency;
        if self.round.count < ROUND_SAMPLES
            || now.saturating_duration_since(self.round.start) < min_latency
        {
            return None;
        }
        let latency = self.round.sum / self.round.count;
        let base = self.base.map_or(latency, |base| base.min(latency));
        self.base = Some(base);
        let ratio = base.as_secs_f64() / latency.as_secs_f64().max(1e-9);
        let limit = self.limit;
        let queued = limit * (1.0 - ratio);
        let in_use = busiest as f64 * 2.0 >= limit;
        if self.slow_start {
            if queued > alpha(limit) {
                self.slow_start = false;
                self.limit = limit * ratio + alpha(limit);
                return Some(Change::Queueing);
            }
            if in_use {
                self.limit = limit * 2.0;
                return Some(Change::SlowStart);
            }
            return self.next_round(now);
        }
        if queued > beta(limit) {
            // Halfway to the limit with no queue (Gradient2's smoothing of 0.5).
            self.limit = (limit + limit * ratio + alpha(limit)) / 2.0;
            return Some(Change::Queueing);
        }
        if queued < alpha(limit) && in_use {
            match self.ceiling {
                // Below what the last overload left it at: grow.
                Some((ceiling, _)) if limit + 1.0 <= ceiling => self.limit = limit + 1.0,
                // At it: one more once PROBE_EVERY has passed without an overload.
                Some((_, probe_at)) if now < probe_at => return self.next_round(now),
                Some(_) => {
                    self.limit = limit + 1.0;
                    self.ceiling = Some((self.limit, now + PROBE_EVERY));
                }
                None => self.limit = limit + 1.0,
            }
            return Some(Change::Grow);
        }
        self.next_round(now)
    }

    /// No change: a new round all the same.
    fn next_round(&mut self, now: Instant) -> Option<Change> {
        self.round = Round {
            start: now,
            count: 0,
            sum: Duration::ZERO,
        };
        None
    }
}

/// `-c auto`'s settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSettings {
    /// The most items at once (`--max-concurrency`).
    pub max: usize,
    /// One limit per host (`--per-host`) rather than one for the run.
    pub per_host: bool,
}

/// How many answers of each kind came back (every request of the run).
#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    too_many: AtomicU64,
    unavailable: AtomicU64,
    timeouts: AtomicU64,
}

/// Counts of the run's requests by how they ended, as [`Control::counts`] gives them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResponseCounts {
    /// Requests that ended (answered or not).
    pub requests: u64,
    /// Answered 429 Too Many Requests.
    pub too_many: u64,
    /// Answered 503 Service Unavailable.
    pub unavailable: u64,
    /// Timed out.
    pub timeouts: u64,
}

impl ResponseCounts {
    /// The share of requests answered 429, from 0 to 1.
    pub fn too_many_share(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.too_many as f64 / self.requests as f64
        }
    }
}

/// What a run's requests report to: counts always, and the adaptive limit with `-c auto`.
/// Shared by every worker; read after the run.
#[derive(Debug, Default)]
pub struct Control {
    counts: Counts,
    auto: Option<Auto>,
}

#[derive(Debug)]
struct Auto {
    settings: AutoSettings,
    /// The run's one limit, without `--per-host`.
    one: Arc<AdaptiveLimit>,
    /// One per host, with `--per-host`.
    per_host: Mutex<HashMap<(String, u16), Arc<AdaptiveLimit>>>,
}

/// How a request ended, for the counts and the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// A response with this status.
    Status(u16),
    /// No response in time.
    TimedOut,
    /// No response: refused, reset, or a failure of ours.
    Failed,
}

impl Control {
    /// Counts only: the concurrency is fixed.
    pub fn counting() -> Self {
        Self::default()
    }

    /// Counts, and a limit tuned as the run goes.
    pub fn auto(settings: AutoSettings) -> Self {
        Self {
            counts: Counts::default(),
            auto: Some(Auto {
                settings,
                one: Arc::new(AdaptiveLimit::new(
                    String::new(),
                    INITIAL_LIMIT,
                    settings.max,
                )),
                per_host: Mutex::default(),
            }),
        }
    }

    /// Whether the limit is tuned (`-c auto`).
    pub fn is_auto(&self) -> bool {
        self.auto.is_some()
    }

    /// The requests so far, by how they ended.
    pub fn counts(&self) -> ResponseCounts {
        let c = &self.counts;
        ResponseCounts {
            requests: c.requests.load(Ordering::Relaxed),
            too_many: c.too_many.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
        }
    }

    /// The limit `url` is under, with `-c auto`.
    fn limit_for(&self, url: &Url) -> Option<Arc<AdaptiveLimit>> {
        let auto = self.auto.as_ref()?;
        if !auto.settings.per_host {
            return Some(Arc::clone(&auto.one));
        }
        let mut limits = lock(&auto.per_host);
        Some(Arc::clone(limits.entry(host_key(url)).or_insert_with_key(
            |(host, _)| {
                Arc::new(AdaptiveLimit::new(
                    host.clone(),
                    INITIAL_LIMIT,
                    auto.settings.max,
                ))
            },
        )))
    }

    /// Waits for a slot for an item fetching `url`: at once without `-c auto`.
    pub async fn slot(&self, url: &Url) -> Option<Slot> {
        let limit = self.limit_for(url)?;
        Some(limit.acquire().await)
    }

    /// Starts timing a request to `url`, sent now.
    pub fn request(&self, url: &Url) -> Request {
        Request {
            limit: self.limit_for(url),
            sent: Instant::now(),
        }
    }

    /// Takes in how a request ended.
    pub fn ended(&self, request: Request, ended: Ended) {
        let c = &self.counts;
        c.requests.fetch_add(1, Ordering::Relaxed);
        let sample = match ended {
            Ended::Status(429) => {
                c.too_many.fetch_add(1, Ordering::Relaxed);
                Some(Sample::Overload)
            }
            Ended::Status(503) => {
                c.unavailable.fetch_add(1, Ordering::Relaxed);
                Some(Sample::Overload)
            }
            Ended::TimedOut => {
                c.timeouts.fetch_add(1, Ordering::Relaxed);
                Some(Sample::Overload)
            }
            Ended::Status(_) => Some(Sample::Answered {
                sent: request.sent,
                latency: request.sent.elapsed(),
            }),
            Ended::Failed => None,
        };
        if let (Some(limit), Some(sample)) = (request.limit, sample) {
            limit.sample(sample);
        }
    }

    /// Each limit's course (one per host with `--per-host`), with `-c auto`.
    pub fn limits(&self) -> Vec<LimitReport> {
        let Some(auto) = &self.auto else {
            return Vec::new();
        };
        if !auto.settings.per_host {
            return vec![auto.one.report()];
        }
        let mut reports: Vec<LimitReport> =
            lock(&auto.per_host).values().map(|l| l.report()).collect();
        reports.sort_by(|a, b| a.host.cmp(&b.host));
        reports
    }
}

fn host_key(url: &Url) -> (String, u16) {
    (
        url.host_str().unwrap_or_default().to_owned(),
        url.port_or_known_default().unwrap_or(0),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A request on its way: when it went, and the limit it reports to.
#[derive(Debug)]
pub struct Request {
    limit: Option<Arc<AdaptiveLimit>>,
    sent: Instant,
}

/// One adaptive limit: the algorithm, the permits it stands for, and its course.
#[derive(Debug)]
pub struct AdaptiveLimit {
    host: String,
    permits: Arc<Semaphore>,
    /// Items holding a slot now, and the most at once since the last round began.
    held: AtomicUsize,
    busiest: AtomicUsize,
    /// Slots to forget as they are given back (the limit went below the slots out).
    debt: AtomicUsize,
    state: Mutex<LimitState>,
    started: Instant,
}

#[derive(Debug)]
struct LimitState {
    algorithm: Algorithm,
    /// Permits the semaphore stands for: the limit as applied.
    applied: usize,
    /// (time since start, limit) at each change.
    history: Vec<(Duration, usize)>,
}

/// An item's slot under an adaptive limit; given back (or forgotten, if the limit shrank
/// meanwhile) on drop.
#[derive(Debug)]
pub struct Slot {
    limit: Arc<AdaptiveLimit>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limit.held.fetch_sub(1, Ordering::Relaxed);
        let forget = self
            .limit
            .debt
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1))
            .is_ok();
        if let Some(permit) = self.permit.take()
            && forget
        {
            permit.forget();
        }
    }
}

impl AdaptiveLimit {
    fn new(host: String, initial: usize, max: usize) -> Self {
        let now = Instant::now();
        let algorithm = Algorithm::new(initial, max, now);
        let applied = algorithm.limit();
        Self {
            host,
            permits: Arc::new(Semaphore::new(applied)),
            held: AtomicUsize::new(0),
            busiest: AtomicUsize::new(0),
            debt: AtomicUsize::new(0),
            state: Mutex::new(LimitState {
                algorithm,
                applied,
                history: vec![(Duration::ZERO, applied)],
            }),
            started: now,
        }
    }

    async fn acquire(self: Arc<Self>) -> Slot {
        // The semaphore is never closed.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok();
        let held = self.held.fetch_add(1, Ordering::Relaxed) + 1;
        self.busiest.fetch_max(held, Ordering::Relaxed);
        Slot {
            limit: self,
            permit,
        }
    }

    fn sample(&self, sample: Sample) {
        let now = Instant::now();
        let mut state = lock(&self.state);
        let busiest = self.busiest.load(Ordering::Relaxed);
        let Some(change) = state.algorithm.sample(now, sample, busiest) else {
            return;
        };
        self.busiest
            .store(self.held.load(Ordering::Relaxed), Ordering::Relaxed);
        let (old, new) = (state.applied, state.algorithm.limit());
        if new == old {
            return;
        }
        self.resize(old, new);
        state.applied = new;
        if state.history.len() < HISTORY_CAP {
            state
                .history
                .push((now.saturating_duration_since(self.started), new));
        }
        let why = change.as_str();
        if self.host.is_empty() {
            tracing::info!("concurrency limit {old} -> {new} ({why})");
        } else {
            tracing::info!(host = %self.host, "concurrency limit {old} -> {new} ({why})");
        }
    }

    /// Makes the permits stand for `new` instead of `old`: new permits, or debts repaid, when
    /// it grows; available permits forgotten, and the rest owed by slots out, when it shrinks.
    fn resize(&self, old: usize, new: usize) {
        if new > old {
            let grow = new - old;
            let repaid = self
                .debt
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| {
                    Some(d.saturating_sub(grow))
                })
                .map_or(0, |debt| debt.min(grow));
            self.permits.add_permits(grow - repaid);
        } else {
            let forgotten = self.permits.forget_permits(old - new);
            self.debt.fetch_add(old - new - forgotten, Ordering::AcqRel);
        }
    }

    fn report(&self) -> LimitReport {
        let state = lock(&self.state);
        LimitReport::new(
            self.host.clone(),
            state.history.clone(),
            self.started.elapsed(),
        )
    }
}

/// One adaptive limit's course over a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitReport {
    /// The host it limited; empty when one limit served every host.
    pub host: String,
    /// Where it settled: the limit held longest over the second half of the run.
    pub settled: usize,
    /// The limit at the end.
    pub last: usize,
    /// The highest it reached.
    pub max: usize,
    /// Each change: (seconds since the limit started, the new limit).
    #[serde(serialize_with = "history_json")]
    pub history: Vec<(Duration, usize)>,
}

fn history_json<S: serde::Serializer>(
    history: &[(Duration, usize)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(
        history
            .iter()
            .map(|(t, limit)| ((t.as_secs_f64() * 1e3).round() / 1e3, *limit)),
    )
}

impl LimitReport {
    /// The course `history` (changes since the start) of a limit that ran for `span`.
    pub fn new(host: String, history: Vec<(Duration, usize)>, span: Duration) -> Self {
        let last = history.last().map_or(0, |(_, limit)| *limit);
        let max = history.iter().map(|(_, limit)| *limit).max().unwrap_or(0);
        // Time at each limit over the second half of the run.
        let half = span / 2;
        let mut held: HashMap<usize, Duration> = HashMap::new();
        for (i, (at, limit)) in history.iter().enumerate() {
            let until = history.get(i + 1).map_or(span, |(next, _)| *next);
            let from = (*at).max(half);
            if until > from {
                *held.entry(*limit).or_default() += until - from;
            }
        }
        let settled = held
            .into_iter()
            .max_by_key(|(limit, time)| (*time, *limit))
            .map_or(last, |(limit, _)| limit);
        Self {
            host,
            settled,
            last,
            max,
            history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A server of `capacity` workers at `latency` each, fed by the algorithm for `rounds`
    /// latencies: every request in flight sees `latency × max(1, limit / capacity)`.
    fn settle(capacity: usize, latency: Duration, rounds: u32) -> Algorithm {
        let t0 = Instant::now();
        let mut algorithm = Algorithm::new(INITIAL_LIMIT, DEFAULT_MAX, t0);
        let mut now = t0;
        for _ in 0..rounds {
            let limit = algorithm.limit();
            let took = latency.mul_f64((limit as f64 / capacity as f64).max(1.0));
            let sent = now;
            now += took;
            for _ in 0..limit {
                let sample = Sample::Answered {
                    sent,
                    latency: took,
                };
                algorithm.sample(now, sample, limit);
            }
        }
        algorithm
    }

    #[test]
    fn settles_near_the_capacity_of_a_queueing_server() {
        for capacity in [8, 32, 128] {
            let limit = settle(capacity, 50 * MS, 200).limit();
            assert!(
                limit >= capacity && limit <= capacity * 3 / 2,
                "capacity {capacity}: settled at {limit}"
            );
        }
    }

    #[test]
    fn slow_start_doubles_each_round_while_nothing_queues() {
        // A round needs 8 answers: two latencies at 4, then one each: 4 -> 8 -> 16 -> 32 -> 64.
        let algorithm = settle(10_000, 50 * MS, 5);
        assert_eq!(algorithm.limit(), 64);
    }

    #[test]
    fn an_idle_limit_does_not_grow() {
        let t0 = Instant::now();
        let mut algorithm = Algorithm::new(INITIAL_LIMIT, DEFAULT_MAX, t0);
        for i in 1..100u32 {
            let sample = Sample::Answered {
                sent: t0 + (i - 1) * 50 * MS,
                latency: 50 * MS,
            };
            // One item at a time: the limit of 4 is not in use.
            algorithm.sample(t0 + i * 50 * MS, sample, 1);
        }
        assert_eq!(algorithm.limit(), INITIAL_LIMIT);
    }

    #[test]
    fn overload_cuts_to_the_granted_rate_and_probes_slowly() {
        let t0 = Instant::now();
        let mut algorithm = Algorithm::new(40, DEFAULT_MAX, t0);
        algorithm.slow_start = false;
        let mut now = t0;
        // 200 answers a second at 50 ms for one second: Little's law says 10 at once.
        for _ in 0..200 {
            now += 5 * MS;
            let sample = Sample::Answered {
                sent: now - 50 * MS,
                latency: 50 * MS,
            };
            algorithm.sample(now, sample, 40);
        }
        let before = algorithm.limit();
        assert_eq!(
            algorithm.sample(now, Sample::Overload, 40),
            Some(Change::Overload)
        );
        let after = algorithm.limit();
        assert!(
            after < before && (9..=11).contains(&after),
            "{before} -> {after}"
        );
        // A second overload in the same round does not cut again.
        algorithm.sample(now + MS, Sample::Overload, 40);
        assert_eq!(algorithm.limit(), after);
        // No queueing for a second: at most one more (the probe waits PROBE_EVERY).
        for _ in 0..200 {
            now += 5 * MS;
            let sample = Sample::Answered {
                sent: now - 50 * MS,
                latency: 50 * MS,
            };
            algorithm.sample(now, sample, after);
        }
        assert!(algorithm.limit() <= after + 1, "{}", algorithm.limit());
    }

    #[test]
    fn settled_is_the_limit_held_longest_in_the_second_half() {
        let s = Duration::from_secs;
        let report = LimitReport::new(
            String::new(),
            vec![(s(0), 4), (s(1), 64), (s(2), 36), (s(9), 40), (s(10), 36)],
            s(12),
        );
        assert_eq!(
            (report.settled, report.last, report.max),
            (36, 36, 64),
            "{report:?}"
        );
    }

    #[tokio::test]
    async fn a_shrinking_limit_forgets_the_slots_given_back() {
        let limit = Arc::new(AdaptiveLimit::new(String::new(), 4, 100));
        let mut slots = Vec::new();
        for _ in 0..4 {
            slots.push(Arc::clone(&limit).acquire().await);
        }
        // Shrink to 2 while all 4 are out: two slots given back are forgotten.
        limit.resize(4, 2);
        slots.truncate(1);
        assert_eq!(
            limit.permits.available_permits(),
            1,
            "4 out, 3 back, 2 forgotten"
        );
        drop(slots);
        assert_eq!(limit.permits.available_permits(), 2);
        // Growing repays a debt before it adds permits.
        let slots = [
            Arc::clone(&limit).acquire().await,
            Arc::clone(&limit).acquire().await,
        ];
        limit.resize(2, 1);
        limit.resize(1, 3);
        drop(slots);
        assert_eq!(limit.permits.available_permits(), 3);
    }
}
