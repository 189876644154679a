//! `gather bench`: the seeds' xkcd experiment. The same fetch, once sequentially and once
//! concurrently, timed against the built-in server (or a real one), with the ideal times.
//! `bench sleep` ([`sleep`]) is the waiting-only workload at scale, `bench lab` ([`lab`]) the
//! models × workloads matrix, `bench sweep` ([`sweep`]) the concurrency levels against a server
//! with a capacity, and [`machine`] describes the computer the numbers come from.

pub mod lab;
pub mod lessons;
pub mod machine;
pub mod python;
pub mod sleep;
pub mod sweep;

pub use python::{PythonRun, PythonRuns};

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::fetch::{self, ClientConfig, FetchConfig, FetchError, ItemPolicy, Record, Summary};
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
    /// The runs to time, in this order (both, sequential first, unless `--only` says).
    pub modes: Vec<Mode>,
    /// Also run the seeds' Python (`python/xkcd.py`) on the same comics from the same server.
    pub python: bool,
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

/// What a bench tells its caller as it goes (a progress bar's input); the results are in the
/// [`BenchReport`].
#[derive(Debug)]
pub enum Event<'a> {
    /// A run starts: `items` requests, one at a time or many.
    Start {
        /// How it fetches.
        mode: Mode,
        /// Its items.
        items: u64,
    },
    /// One of the run's items finished.
    Record(&'a Record),
    /// The run ended (finished or interrupted).
    End,
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
    /// Python's runs of the same job (`--python`), after gather's.
    pub python: Option<PythonRuns>,
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

/// The fetch a bench run times: comics 1 to `count` of `template` (comic 404 left out, a 404
/// as on xkcd, so every request can succeed) into `out`, `concurrency` at a time, every file
/// fetched again, with `control` counting how requests end (`-c auto`, the sweep).
pub(crate) fn comics_fetch(
    template: UrlTemplate,
    count: u64,
    out: std::path::PathBuf,
    concurrency: usize,
    control: Option<std::sync::Arc<fetch::Control>>,
) -> FetchConfig {
    FetchConfig {
        source: Source::Template {
            template,
            keys: Keys::Ids(IdSet::first_except(count, MISSING_ID)),
        },
        out,
        name: None,
        force: true,
        update: false,
        jsonl: None,
        warc: None,
        concurrency,
        threads: fetch::default_threads(),
        shard: None,
        client: ClientConfig::default(),
        policy: ItemPolicy::default(),
        control,
    }
}

/// The ideal wall time of `count` requests of `latency`, `concurrency` at a time.
pub fn ideal(count: u64, concurrency: usize, latency: Duration) -> Duration {
    let waves = count.div_ceil(concurrency.max(1) as u64);
    latency.saturating_mul(u32::try_from(waves).unwrap_or(u32::MAX))
}

/// Grows this process's table of file descriptors to hold `fds` of them, before a run's clock
/// starts.
///
/// The kernel grows the table as descriptors are opened (64, 128, 256, 512), and in a process
/// with several threads each growth waits for an RCU grace period (`expand_files` ->
/// `synchronize_rcu`), while every other thread opening a descriptor waits behind it. The
/// concurrent run opens 200 client sockets and the built-in server accepts 200 more, so the
/// table grew in the middle of dialling: `perf record -e sched:sched_switch` showed the server
/// thread in `synchronize_rcu`, both client workers in `expand_files`, and both cores idle for
/// about 15 ms. The table never shrinks: growing it once before the clock pays that where a
/// long-running client would have paid it, at its start. 200 comics at 100 ms, `--only
/// concurrent`, 5 runs each, interleaved: 130-136 ms -> 112-122 ms.
#[cfg(target_os = "linux")]
fn reserve_fds(fds: usize) {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let Ok(null) = std::fs::File::open("/dev/null") else {
        return;
    };
    let highest = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map_or(1024, |(soft, _)| soft)
        .saturating_sub(1);
    let fd = libc::c_int::try_from((fds as u64).min(highest)).unwrap_or(libc::c_int::MAX);
    // SAFETY: F_DUPFD_CLOEXEC duplicates `null`, an open descriptor this function owns, onto
    // the lowest free number at or above `fd`; the new descriptor is owned (and closed) here.
    let duplicate = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, fd) };
    if duplicate >= 0 {
        // SAFETY: `duplicate` was just returned by fcntl and nothing else refers to it.
        drop(unsafe { OwnedFd::from_raw_fd(duplicate) });
    }
}

/// Elsewhere, growing the table is not known to stall.
#[cfg(not(target_os = "linux"))]
fn reserve_fds(_fds: usize) {}

/// A temporary directory for the files: in memory (`/dev/shm`) where there is one and `TMPDIR`
/// names no other place.
///
/// Creating a file is not what the bench compares, and on a disk it can cost more than the
/// request: on this VM's ext4 (no journal, so every new inode is checked against recently
/// deleted ones) an `O_TMPFILE` open took about 125 µs under load, and 200 of them on two
/// cores added 15-70 ms to the concurrent run, and varied with what else the disk had just
/// deleted. `TMPDIR=/tmp gather bench` measures with the disk.
fn files_dir() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix("gather-bench-");
    let shm = std::path::Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none()
        && shm.is_dir()
        && let Ok(dir) = builder.tempdir_in(shm)
    {
        return Ok(dir);
    }
    builder.tempdir()
}

/// Runs the experiment, telling `observe` of each run's start, items and end. The server (when
/// built in) and the files live only as long as this.
pub async fn run(
    config: BenchConfig,
    cancel: CancellationToken,
    mut observe: impl FnMut(Event<'_>),
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
    let dir = files_dir().map_err(BenchError::TempDir)?;
    let concurrent = config.concurrency.unwrap_or_else(|| {
        usize::try_from(config.count).map_or(MAX_DEFAULT_CONCURRENCY, |count| {
            count.min(MAX_DEFAULT_CONCURRENCY)
        })
    });
    let mut report = BenchReport {
        target: crate::redact::url(template.source()).into_owned(),
        builtin: server.is_some(),
        latency,
        count: config.count,
        runs: Vec::new(),
        interrupted: false,
        python: None,
    };
    for &mode in &config.modes {
        let concurrency = match mode {
            Mode::Sequential => 1,
            Mode::Concurrent => concurrent,
        };
        let fetch_config = comics_fetch(
            template.clone(),
            config.count,
            dir.path().join(mode.as_str()),
            concurrency,
            None,
        );
        // Client sockets, the built-in server's, and files being saved.
        reserve_fds(3 * concurrency + 64);
        let mut spans = Vec::new();
        observe(Event::Start {
            mode,
            items: fetch_config.len_hint().unwrap_or(config.count),
        });
        let summary = fetch::fetch(fetch_config, &cancel, |record| {
            observe(Event::Record(record));
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
        .await;
        observe(Event::End);
        let summary = summary?;
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
    if config.python && !report.interrupted {
        let job = python::PythonJob {
            // The URLs gather fetched (an id whose URL does not parse fails there unsent).
            comics: IdSet::first_except(config.count, MISSING_ID)
                .into_iter_ids()
                .filter_map(|id| Some((id, template.render(&id.to_string()).ok()?.into())))
                .collect(),
            runs: report
                .runs
                .iter()
                .map(|run| (run.mode, run.concurrency, run.ideal))
                .collect(),
            dir: dir.path(),
        };
        match python::run(job, &cancel).await {
            Some(runs) => report.python = Some(runs),
            None => report.interrupted = true,
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
