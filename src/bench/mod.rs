//! `gather bench`: the seeds' xkcd experiment. The same fetch, once sequentially and once
//! concurrently, timed against the built-in server (or a real one), with the ideal times.
//! `bench sleep` ([`sleep`]) is the waiting-only workload at scale, `bench lab` ([`lab`]) the
//! models × workloads matrix, `bench sweep` ([`sweep`]) the concurrency levels against a server
//! with a capacity, and [`machine`] describes the computer the numbers come from.

pub mod lab;
pub mod lessons;
pub mod machine;
pub mod sleep;
pub mod sweep;

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::fetch::{self, ClientConfig, FetchConfig, FetchError, ItemPolicy, Summary};
use crate::input::{IdSet, Keys, Source, UrlTemplate};
use crate::serve::{Latency, MISSING_ID, ServeConfig, Server};
use crate::timeline::{Span, Timeline};

/// A validated bench job.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Comics per run: ids from 1 on, leaving out the missing comic 404.
    pub count: u64,
    /// The built-in server's latency.
    pub latency: Latency,
    /// Downloads at once in the concurrent run; `None` means all of them.
    pub concurrency: Option<usize>,
    /// A real server's URL template instead of the built-in server.
    pub url: Option<UrlTemplate>,
    /// Keep each request's span (for `--trace` and `--report`); off, memory stays flat.
    pub timelines: bool,
}

/// Why a bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The built-in server did not start.
    #[error("cannot start the built-in server: {0}")]
    Server(std::io::Error),
    /// No temporary directory for the files.
    #[error("cannot create a temporary directory: {0}")]
    TempDir(std::io::Error),
    /// A fetch could not start.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// How a run fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One request at a time.
    Sequential,
    /// Many requests at once.
    Concurrent,
}

/// One timed run.
#[derive(Debug, Clone)]
pub struct BenchRun {
    /// How it fetched.
    pub mode: Mode,
    /// Downloads at once.
    pub concurrency: usize,
    /// What the fetch reported.
    pub summary: Summary,
    /// The wall time with zero overhead, when the latency is known.
    pub ideal: Option<Duration>,
    /// Each request's span, when [`BenchConfig::timelines`] asked for them.
    pub timeline: Timeline,
}

/// The result of a bench.
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The URL template fetched.
    pub target: String,
    /// Whether the built-in server was used.
    pub builtin: bool,
    /// The built-in server's latency (unknown for a real server).
    pub latency: Option<Latency>,
    /// Comics per run.
    pub count: u64,
    /// The runs, sequential first.
    pub runs: Vec<BenchRun>,
    /// Whether Ctrl-C cut the bench short.
    pub interrupted: bool,
}

impl Mode {
    /// The mode's name: `sequential` or `concurrent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Sequential => "sequential",
            Mode::Concurrent => "concurrent",
        }
    }
}

/// The default concurrency of the concurrent run: all at once, up to this many.
pub const MAX_DEFAULT_CONCURRENCY: usize = 1000;

impl BenchReport {
    /// How many times faster than the sequential run `run` was.
    pub fn speedup(&self, run: &BenchRun) -> Option<f64> {
        let sequential = self.runs.iter().find(|r| r.mode == Mode::Sequential)?;
        let wall = run.summary.wall.as_secs_f64();
        (wall > 0.0).then(|| sequential.summary.wall.as_secs_f64() / wall)
    }
}

/// The ideal wall time of `count` requests of `latency`, `concurrency` at a time.
pub fn ideal(count: u64, concurrency: usize, latency: Duration) -> Duration {
    let waves = count.div_ceil(concurrency.max(1) as u64);
    latency.saturating_mul(u32::try_from(waves).unwrap_or(u32::MAX))
}

/// Runs the experiment. The server (when built in) and the files live only as long as this.
pub async fn run(
    config: BenchConfig,
    cancel: CancellationToken,
) -> Result<BenchReport, BenchError> {
    let server = match config.url {
        Some(_) => None,
        None => Some(
            Server::start(ServeConfig {
                latency: config.latency,
                // One past `count`: the ids skip the missing comic 404.
                max_id: (config.count + 1).max(ServeConfig::default().max_id),
                ..ServeConfig::default()
            })
            .await
            .map_err(BenchError::Server)?,
        ),
    };
    let template = match (&config.url, &server) {
        (Some(url), _) => url.clone(),
        (None, Some(server)) => {
            UrlTemplate::parse(&format!("{}/{{id}}/info.0.json", server.base_url()))
                .map_err(FetchError::from)?
        }
        (None, None) => unreachable!("a server is started when no URL is given"),
    };
    let latency = server.as_ref().map(|_| config.latency);
    let dir = tempfile::Builder::new()
        .prefix("gather-bench-")
        .tempdir()
        .map_err(BenchError::TempDir)?;
    let concurrent = config.concurrency.unwrap_or_else(|| {
        usize::try_from(config.count).map_or(MAX_DEFAULT_CONCURRENCY, |count| {
            count.min(MAX_DEFAULT_CONCURRENCY)
        })
    });
    let mut report = BenchReport {
        target: template.source().to_owned(),
        builtin: server.is_some(),
        latency,
        count: config.count,
        runs: Vec::new(),
        interrupted: false,
    };
    for (mode, concurrency) in [(Mode::Sequential, 1), (Mode::Concurrent, concurrent)] {
        let fetch_config = FetchConfig {
            source: Source::Template {
                template: template.clone(),
                // Comic 404 is a 404, as on xkcd: leave it out, so every request can succeed.
                keys: Keys::Ids(IdSet::first_except(config.count, MISSING_ID)),
            },
            out: dir.path().join(mode.as_str()),
            name: None,
            force: true,
            concurrency,
            threads: fetch::default_threads(),
            shard: None,
            client: ClientConfig::default(),
            policy: ItemPolicy::default(),
            control: None,
        };
        let mut spans = Vec::new();
        let summary = fetch::fetch(fetch_config, &cancel, |record| {
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
        let interrupted = summary.interrupted;
        report.runs.push(BenchRun {
            mode,
            concurrency,
            summary,
            ideal: latency.map(|l| ideal(config.count, concurrency, l.mean())),
            timeline: Timeline::new(spans),
        });
        if interrupted {
            report.interrupted = true;
            break;
        }
    }
    if let Some(server) = server {
        server.stop().await.map_err(BenchError::Server)?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_counts_waves() {
        let ms = Duration::from_millis;
        assert_eq!(ideal(200, 1, ms(100)), ms(20_000));
        assert_eq!(ideal(200, 200, ms(100)), ms(100));
        assert_eq!(ideal(201, 100, ms(100)), ms(300));
    }
}
