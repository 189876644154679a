//! `gather fetch`: the HTTP client, the concurrent engine, and the summary of a run.

mod adaptive;
mod bandwidth;
mod body;
mod client;
mod cookies;
mod dial;
mod engine;
mod exchange;
mod item;
mod limits;
mod request;
mod retry;
mod stale;
mod summary;
mod workers;

pub use adaptive::{
    AutoSettings, Control, DEFAULT_MAX as DEFAULT_MAX_CONCURRENCY, INITIAL_LIMIT, LimitReport,
    PROBE_EVERY, ResponseCounts,
};
pub use bandwidth::Bandwidth;
pub use client::{ClientConfig, ClientError, Tls, TlsError, USER_AGENT, build as build_client};
pub use cookies::{CookieError, Cookies};
pub use engine::{DRAIN_GRACE, Observer, Outcome, Record, RunEnd, Timing, run};
pub use exchange::Exchange;
pub use item::{DEFAULT_MAX_RATIO, Fetcher, ItemError, ItemPolicy, RATIO_FREE, Validate};
pub use limits::descriptor_cap;
pub use request::{Netrc, Prepared, RequestArgs, RequestError, RequestSpec};
pub use retry::RetryPolicy;
pub use summary::{Failure, FailureSpool, Summary};

use std::collections::HashMap;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use futures::StreamExt;

use crate::input::{InputError, Shard, Source};
use crate::save::{JsonLines, NameError, Naming, OutputDir, SetupError, Warc};

/// A validated fetch job.
#[derive(Debug, Clone)]
pub struct FetchConfig {
    /// What to fetch.
    pub source: Source,
    /// The output directory.
    pub out: PathBuf,
    /// The `--name` template, if given.
    pub name: Option<String>,
    /// Refetch items whose files exist.
    pub force: bool,
    /// `--jsonl`: records into this file (`-` for stdout) instead of files in `out`.
    pub jsonl: Option<PathBuf>,
    /// `--warc`: WARC records into this file instead of files in `out`.
    pub warc: Option<PathBuf>,
    /// Ask whether existing files changed (If-None-Match, If-Modified-Since); replace those
    /// that did.
    pub update: bool,
    /// Downloads at once; with an adaptive `control` (`-c auto`), the most at once.
    pub concurrency: usize,
    /// Worker threads, each with its own runtime and client (capped to `concurrency`).
    pub threads: usize,
    /// Only this share of the input, if given.
    pub shard: Option<Shard>,
    /// Client settings.
    pub client: ClientConfig,
    /// Retries, limits and body checks.
    pub policy: ItemPolicy,
    /// Counts how requests end and, made with [`Control::auto`], tunes the concurrency
    /// (`-c auto`); read it after the run.
    pub control: Option<std::sync::Arc<Control>>,
}

impl FetchConfig {
    /// How many items this fetch will take (its shard's share), when known without reading
    /// the input.
    pub fn len_hint(&self) -> Option<u64> {
        let len = self.source.len_hint()?;
        match self.shard {
            Some(shard) => shard.share_of(len),
            None => Some(len),
        }
    }
}

/// The default number of worker threads: one per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// Why a fetch could not start. Item failures are not errors: they are in the [`Summary`].
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Bad input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// Bad `--name`.
    #[error(transparent)]
    Name(#[from] NameError),
    /// The output directory is unusable.
    #[error(transparent)]
    Output(#[from] SetupError),
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client")]
    Client(#[from] ClientError),
    /// The `--jsonl` or `--warc` file is unusable.
    #[error(transparent)]
    Sink(#[from] crate::save::SinkError),
    /// The cookie jar could not be written.
    #[error(transparent)]
    Cookies(#[from] CookieError),
    /// A worker thread or its runtime could not be started.
    #[error("cannot start the worker threads")]
    Workers(#[source] std::io::Error),
}

/// Runs a whole fetch: opens the input and output, runs the engine, and sums up.
/// Every record is shown to `observe` before it is counted. Cancelling `cancel` stops the
/// fetch as [`run`] describes.
///
/// The downloads run on worker threads of their own; the calling runtime collects their
/// records on a timer, so it needs tokio's time driver (`enable_time` or `enable_all`).
pub async fn fetch(
    config: FetchConfig,
    cancel: &CancellationToken,
    mut observe: impl FnMut(&Record),
) -> Result<Summary, FetchError> {
    let naming = Naming::new(
        config.name.as_deref(),
        config.source.key_name(),
        config.source.extension(),
    )?;
    // The input is opened first: a bad input starts nothing and creates nothing.
    let entries = config.source.open().await?;
    let entries = match config.shard {
        Some(shard) => entries
            .filter(move |entry| {
                let (n, key) = match entry {
                    Ok(item) => (item.n, item.key.as_str()),
                    Err(rejected) => (rejected.n, rejected.text.as_str()),
                };
                std::future::ready(shard.contains(n, key))
            })
            .boxed(),
        None => entries,
    };
    // Then the workers (threads, runtimes, clients), before the output directory is touched:
    // a client that cannot be built creates nothing either.
    let workers = workers::Workers::start(
        config.threads,
        config.concurrency,
        &ClientConfig {
            pool_per_host: config.policy.per_host.unwrap_or(usize::MAX),
            ..config.client
        },
        &config.policy,
        config.control.clone(),
        cancel,
    )
    .await?;
    let lines = config.jsonl.as_deref().map(JsonLines::open).transpose()?;
    // Records going to a pipe whose reader has gone stop the run there and then.
    let lines = lines.map(|lines| lines.stop_when_closed(cancel.clone()));
    let warc = config.warc.as_deref().map(Warc::open).transpose()?;
    let mut out = OutputDir::open_with(&config.out, naming, config.force, config.update)?;
    if let Some(lines) = lines {
        out = out.with_sink(lines);
    }
    if let Some(warc) = warc {
        out = out.with_sink(warc);
    }
    let cookies = config.policy.request.clone();
    let mut summary = Summary::default();
    let end = workers
        .run(entries, &out, cancel, |record| {
            observe(&record);
            summary.add(&record);
        })
        .await;
    summary.finish(end);
    if let Some(cookies) = cookies.cookies() {
        cookies.save()?;
    }
    Ok(summary)
}

/// Hosts (or origins) whose state a client keeps before it forgets the unused ones: a URL list
/// of a million hosts must not hold a million entries.
const MAX_HOSTS: usize = 1024;

/// The entry of `key` in `map`, made by `make` when missing; past [`MAX_HOSTS`] entries, the
/// ones nothing else holds are dropped first. Only for state that is as good as new when
/// nothing holds it (a semaphore with every permit back, a dial count at rest): forgetting it
/// costs at most a little of what it had learned.
fn per_host<K: Eq + Hash, V>(
    map: &mut HashMap<K, Arc<V>>,
    key: K,
    make: impl FnOnce() -> V,
) -> Arc<V> {
    if map.len() >= MAX_HOSTS && !map.contains_key(&key) {
        map.retain(|_, value| Arc::strong_count(value) > 1);
    }
    Arc::clone(map.entry(key).or_insert_with(|| Arc::new(make())))
}
