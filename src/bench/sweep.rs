//! `gather bench sweep`: the same fetch at concurrency 1, 2, 4, … against the built-in server
//! (with a capacity, a rate limit, or neither) or a real one, with throughput and latency
//! percentiles per level, and `-c auto` beside them. The curve rises as Little's law says
//! (in flight = throughput × latency: at the unloaded latency, throughput grows with the
//! concurrency), until the server's capacity; past it throughput stays flat while latency
//! climbs. The knee is the answer to "how much concurrency?".
//!
//! Each level gets a fresh built-in server, so a rate limit's burst and a queue start full
//! and empty for every level alike. Measuring is all this does; `report::sweep` renders.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::BenchError;
use crate::fetch::{self, AutoSettings, Control, FetchError, LimitReport, ResponseCounts, Summary};
use crate::input::UrlTemplate;
use crate::rate::Rate;
use crate::serve::{Capacity, Faults, Latency, ServeConfig, Server};
use crate::timeline::{Span, Timeline, percentile};

/// Each level fetches this many times its concurrency, unless `--count` says otherwise.
pub const WAVES: u64 = 10;

/// And at least this many.
pub const MIN_LEVEL_COUNT: u64 = 40;

/// The levels swept by default: 1, 2, 4, … up to this.
pub const DEFAULT_MAX_LEVEL: usize = 256;

/// A validated sweep.
#[derive(Debug, Clone)]
pub struct SweepConfig {
    /// The concurrency levels, increasing.
    pub levels: Vec<usize>,
    /// Comics per level (and for `-c auto`); `None`: [`WAVES`] × the level, at least
    /// [`MIN_LEVEL_COUNT`] (`-c auto`: the largest level's count).
    pub count: Option<u64>,
    /// The built-in server's latency.
    pub latency: Latency,
    /// The built-in server's capacity.
    pub capacity: Option<Capacity>,
    /// The built-in server's rate limit (429 past it).
    pub rate_limit: Option<Rate>,
    /// Seed of the built-in server's draws.
    pub seed: u64,
    /// A real server's URL template instead of the built-in server.
    pub url: Option<UrlTemplate>,
    /// Also run `-c auto`, up to this many at once.
    pub auto: Option<usize>,
    /// Keep each request's span (for `--trace`).
    pub timelines: bool,
}

impl SweepConfig {
    /// The deck's sweep, a few seconds long: 1 to 64 against 16 workers at 20 ms, and
    /// `-c auto`.
    pub fn for_the_deck() -> Self {
        Self {
            levels: (0..7).map(|i| 1 << i).collect(),
            count: None,
            latency: Latency::Fixed(Duration::from_millis(20)),
            capacity: Some(Capacity {
                workers: 16,
                queue_limit: None,
            }),
            rate_limit: None,
            seed: 1,
            url: None,
            auto: Some(fetch::DEFAULT_MAX_CONCURRENCY),
            timelines: false,
        }
    }
}

/// The concurrency of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// `-c N`.
    Fixed(usize),
    /// `-c auto`, up to this many.
    Auto(usize),
}

/// Latency percentiles of a level's saved items (slot taken to body received, retries and
/// their waits included, as for `-c N`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Latencies {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Mean.
    pub mean: Duration,
}

/// One level's run.
#[derive(Debug, Clone)]
pub struct SweepRow {
    /// Its concurrency.
    pub level: Level,
    /// Comics it fetched.
    pub count: u64,
    /// What the fetch reported.
    pub summary: Summary,
    /// Its saved items' latencies.
    pub latencies: Latencies,
    /// Its requests by how they ended (429s, 503s, timeouts).
    pub responses: ResponseCounts,
    /// `-c auto`'s limit over the run (one per host at most).
    pub limits: Vec<LimitReport>,
    /// Each request's span, when [`SweepConfig::timelines`] asked for them.
    pub timeline: Timeline,
}

impl SweepRow {
    /// Saved items per second of wall time.
    pub fn throughput(&self) -> f64 {
        let secs = self.summary.wall.as_secs_f64();
        if secs > 0.0 {
            self.summary.ok as f64 / secs
        } else {
            0.0
        }
    }

    /// Little's law: items in flight on average = throughput × mean latency.
    pub fn in_flight(&self) -> f64 {
        self.throughput() * self.latencies.mean.as_secs_f64()
    }
}

/// A sweep's results.
#[derive(Debug, Clone)]
pub struct SweepReport {
    /// The URL template fetched.
    pub target: String,
    /// Whether the built-in server was used.
    pub builtin: bool,
    /// The built-in server's settings (unknown for a real server).
    pub server: Option<ServeConfig>,
    /// One row per level, in order, then `-c auto`'s.
    pub rows: Vec<SweepRow>,
    /// Whether Ctrl-C cut the sweep short.
    pub interrupted: bool,
}

impl SweepReport {
    /// The fixed levels' rows.
    pub fn fixed(&self) -> impl Iterator<Item = &SweepRow> {
        self.rows
            .iter()
            .filter(|row| matches!(row.level, Level::Fixed(_)))
    }

    /// `-c auto`'s row, if it ran.
    pub fn auto(&self) -> Option<&SweepRow> {
        self.rows
            .iter()
            .find(|row| matches!(row.level, Level::Auto(_)))
    }

    /// The fixed level with the highest throughput.
    pub fn best(&self) -> Option<&SweepRow> {
        self.fixed()
            .max_by(|a, b| a.throughput().total_cmp(&b.throughput()))
    }

    /// The knee: the lowest fixed level within 10% of the best throughput, or, if lower, the
    /// last level before the median latency passes 1.5 × the unloaded latency (queueing).
    /// More concurrency buys little past it but latency.
    pub fn knee(&self) -> Option<&SweepRow> {
        let best = self.best()?.throughput();
        let unloaded = self.unloaded()?.as_secs_f64();
        let near_best = self.fixed().find(|row| row.throughput() >= 0.9 * best);
        let unqueued = self
            .fixed()
            .take_while(|row| row.latencies.p50.as_secs_f64() <= 1.5 * unloaded)
            .last();
        match (near_best, unqueued) {
            (Some(a), Some(b)) => Some(if b.level < a.level { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// The unloaded latency: the lowest level's median.
    pub fn unloaded(&self) -> Option<Duration> {
        self.fixed().next().map(|row| row.latencies.p50)
    }

    /// Little's law's line: the throughput of `concurrency` at the unloaded latency.
    pub fn model(&self, concurrency: usize) -> Option<f64> {
        let unloaded = self.unloaded()?.as_secs_f64();
        (unloaded > 0.0).then(|| concurrency as f64 / unloaded)
    }
}

/// Comics a level fetches.
pub fn level_count(config: &SweepConfig, level: Level) -> u64 {
    let per_level = |n: usize| (n as u64 * WAVES).max(MIN_LEVEL_COUNT);
    config.count.unwrap_or_else(|| match level {
        Level::Fixed(n) => per_level(n),
        Level::Auto(_) => per_level(config.levels.last().copied().unwrap_or(1)),
    })
}

/// Runs the sweep: every level in turn, then `-c auto`.
pub async fn run(
    config: SweepConfig,
    cancel: CancellationToken,
) -> Result<SweepReport, BenchError> {
    let mut levels: Vec<Level> = config.levels.iter().map(|&n| Level::Fixed(n)).collect();
    levels.extend(config.auto.map(Level::Auto));
    let server_config = config.url.is_none().then(|| ServeConfig {
        latency: config.latency,
        max_id: ServeConfig::default().max_id,
        capacity: config.capacity,
        faults: Faults {
            rate_limit: config.rate_limit,
            seed: config.seed,
            ..Faults::default()
        },
        ..ServeConfig::default()
    });
    let dir = tempfile::Builder::new()
        .prefix("gather-sweep-")
        .tempdir()
        .map_err(BenchError::TempDir)?;
    let mut report = SweepReport {
        target: String::new(),
        builtin: server_config.is_some(),
        server: server_config.clone(),
        rows: Vec::new(),
        interrupted: false,
    };
    for (index, level) in levels.into_iter().enumerate() {
        let count = level_count(&config, level);
        let server = match &server_config {
            Some(serve) => Some(
                Server::start(ServeConfig {
                    // One past `count`: the ids skip the missing comic 404.
                    max_id: (count + 1).max(serve.max_id),
                    ..serve.clone()
                })
                .await
                .map_err(BenchError::Server)?,
            ),
            None => None,
        };
        let template = match (&config.url, &server) {
            (Some(url), _) => url.clone(),
            (None, Some(server)) => {
                UrlTemplate::parse(&format!("{}/{{id}}/info.0.json", server.base_url()))
                    .map_err(FetchError::from)?
            }
            (None, None) => unreachable!("a server is started when no URL is given"),
        };
        report.target = template.source().to_owned();
        let row = run_level(&config, level, count, template, &dir, index, &cancel).await?;
        if let Some(server) = server {
            server.stop().await.map_err(BenchError::Server)?;
        }
        let interrupted = row.summary.interrupted;
        report.rows.push(row);
        if interrupted {
            report.interrupted = true;
            break;
        }
    }
    Ok(report)
}

async fn run_level(
    config: &SweepConfig,
    level: Level,
    count: u64,
    template: UrlTemplate,
    dir: &tempfile::TempDir,
    index: usize,
    cancel: &CancellationToken,
) -> Result<SweepRow, BenchError> {
    let (concurrency, control) = match level {
        Level::Fixed(n) => (n, Control::counting()),
        Level::Auto(max) => (
            max,
            Control::auto(AutoSettings {
                max,
                per_host: false,
            }),
        ),
    };
    let control = Arc::new(control);
    let fetch_config = super::comics_fetch(
        template,
        count,
        dir.path().join(index.to_string()),
        concurrency,
        Some(Arc::clone(&control)),
    );
    let mut latencies = Vec::new();
    let mut spans = Vec::new();
    let summary = fetch::fetch(fetch_config, cancel, |record| {
        if matches!(record.outcome, fetch::Outcome::Saved { .. }) {
            latencies.push(record.timing.latency());
        }
        if config.timelines {
            spans.push(Span {
                label: record.url.clone(),
                start: record.timing.start,
                first_byte: Some(record.timing.response),
                end: record.timing.body,
                ..Span::default()
            });
        }
    })
    .await?;
    latencies.sort();
    let mean = if latencies.is_empty() {
        Duration::ZERO
    } else {
        latencies.iter().sum::<Duration>() / u32::try_from(latencies.len()).unwrap_or(u32::MAX)
    };
    Ok(SweepRow {
        level,
        count,
        summary,
        latencies: Latencies {
            p50: percentile(&latencies, 50.0),
            p90: percentile(&latencies, 90.0),
            p99: percentile(&latencies, 99.0),
            mean,
        },
        responses: control.counts(),
        limits: control.limits(),
        timeline: Timeline::new(spans),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(level: Level, ok: u64, wall_ms: u64, p50_ms: u64) -> SweepRow {
        SweepRow {
            level,
            count: ok,
            summary: Summary {
                ok,
                wall: Duration::from_millis(wall_ms),
                ..Summary::default()
            },
            latencies: Latencies {
                p50: Duration::from_millis(p50_ms),
                ..Latencies::default()
            },
            responses: ResponseCounts::default(),
            limits: Vec::new(),
            timeline: Timeline::default(),
        }
    }

    #[test]
    fn the_knee_is_the_lowest_level_near_the_best() {
        let report = SweepReport {
            target: String::new(),
            builtin: true,
            server: None,
            rows: vec![
                row(Level::Fixed(1), 10, 500, 50),
                row(Level::Fixed(2), 20, 500, 50),
                row(Level::Fixed(4), 37, 500, 54),
                row(Level::Fixed(8), 40, 500, 100),
                row(Level::Auto(64), 39, 500, 55),
            ],
            interrupted: false,
        };
        assert_eq!(report.best().unwrap().level, Level::Fixed(8));
        assert_eq!(report.knee().unwrap().level, Level::Fixed(4));
        // Latency that doubles at 4 puts the knee at 2, though 4 had more throughput.
        let mut queued = report.clone();
        queued.rows[2].latencies.p50 = Duration::from_millis(100);
        assert_eq!(queued.knee().unwrap().level, Level::Fixed(2));
        assert_eq!(report.auto().unwrap().level, Level::Auto(64));
        // 4 at 50 ms: 80 a second.
        assert_eq!(report.model(4), Some(80.0));
    }

    #[test]
    fn levels_fetch_ten_waves_at_least_forty() {
        let config = SweepConfig {
            levels: vec![1, 2, 64],
            count: None,
            latency: Latency::None,
            capacity: None,
            rate_limit: None,
            seed: 0,
            url: None,
            auto: Some(512),
            timelines: false,
        };
        assert_eq!(level_count(&config, Level::Fixed(1)), 40);
        assert_eq!(level_count(&config, Level::Fixed(64)), 640);
        assert_eq!(level_count(&config, Level::Auto(512)), 640);
    }
}
