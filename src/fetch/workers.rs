//! A run spread over worker threads, one per core: each has its own single-threaded tokio
//! runtime, its own HTTP client and connection pool, and runs [`engine::run`] over its share
//! of the items.
//!
//! Why: on one multi-threaded runtime an item and its connection's task (hyper's) ran on
//! different threads, so each request and each response was a cross-thread wake (a futex call,
//! a context switch). A worker owns the connections of its items, so an item stays on one
//! thread. W3 to tmpfs, interleaved, 3 rounds: 2.36-2.54 s on one multi-threaded runtime,
//! 1.86-2.15 s on two workers.
//!
//! The workers share the input stream behind a lock: a worker takes the next item when one of
//! its slots frees up, so none holds a queue while another has room (batches handed out by a
//! feeder did: W1 took 0.22 s instead of 0.12 s, a batch waiting behind full slots). Limits
//! (`--rate`, `--per-host`) are shared by all workers.
//!
//! Records go back to the caller in batches that it collects every [`COLLECT_EVERY`]: a worker
//! queues a batch without waking anyone, and only its end wakes the caller. Waking the caller
//! for each batch cost W3 a context switch every ~5 items on 2 cores.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use futures::stream::{self, BoxStream, Fuse, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::FetchError;
use super::adaptive::Control;
use super::client::{self, ClientConfig, ClientError, Tls};
use super::dial::OneDial;
use super::engine::{self, Observer, Record, RunEnd};
use super::item::{Fetcher, ItemPolicy};
use super::limits::Limits;
use crate::input::Entry;
use crate::save::OutputDir;

/// How often the caller collects the workers' records (for progress, summary, HAR).
pub(super) const COLLECT_EVERY: Duration = Duration::from_millis(50);

/// Records queued for the caller at most (1-2 MB); a worker that would queue more wakes the
/// caller and waits until it has taken them. Items that end at once (refused connections,
/// lines that are not URLs) can come faster than the caller takes them on its 50 ms schedule:
/// 1,000,000 such failures queued up to 88 MB. Counted in records, not batches: a batch holds
/// one record or 256, and a cap of 64 batches throttled 2,000,000 refused connections from 72 s
/// to 100 s.
const MAX_QUEUED: usize = 4096;

/// How many records are queued for the caller, shared by the workers and the caller.
#[derive(Debug, Default)]
struct Backlog {
    queued: std::sync::Mutex<usize>,
    taken: std::sync::Condvar,
    /// Wakes the caller before its next scheduled collection: the queue is full.
    full: tokio::sync::Notify,
}

impl Backlog {
    /// Counts `n` more records queued; while more than [`MAX_QUEUED`] are, wakes the caller
    /// and blocks the worker.
    fn add(&self, n: usize) {
        let mut queued = self
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *queued += n;
        while *queued > MAX_QUEUED {
            self.full.notify_one();
            queued = self
                .taken
                .wait(queued)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Counts `n` records taken by the caller, and wakes the waiting workers.
    fn take(&self, n: usize) {
        let mut queued = self
            .queued
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *queued -= n;
        self.taken.notify_all();
    }
}

/// Worker threads, started and ready, waiting for their run.
pub(super) struct Workers {
    threads: Vec<thread::JoinHandle<()>>,
    starts: Vec<oneshot::Sender<Start>>,
}

/// The input, shared by the workers; fused, because each worker sees its end.
type SharedEntries = Arc<tokio::sync::Mutex<Fuse<BoxStream<'static, Entry>>>>;

/// What a worker needs to start its share of the run.
struct Start {
    entries: SharedEntries,
    out: OutputDir,
    t0: Instant,
    /// Batches of records, collected by the caller on its own schedule.
    records: mpsc::UnboundedSender<Vec<Record>>,
    /// How many records are queued.
    backlog: Arc<Backlog>,
    /// How the worker's run ended; the one message that wakes the caller.
    done: mpsc::UnboundedSender<RunEnd>,
}

impl Workers {
    /// Starts `count` workers sharing `concurrency` downloads at once (`count` is capped to
    /// it), each with a client built from `client` and holding a pool sized to its share. With
    /// `-c auto`, `concurrency` is the most at once and `control` holds the limit they share.
    /// Fails if a thread, a runtime or a client cannot be made.
    pub(super) async fn start(
        count: usize,
        concurrency: usize,
        client: &ClientConfig,
        policy: &ItemPolicy,
        control: Option<Arc<Control>>,
        cancel: &CancellationToken,
    ) -> Result<Self, FetchError> {
        let concurrency = concurrency.max(1);
        let count = count.clamp(1, concurrency);
        let limits = Arc::new(Limits::new(policy.rate, policy.per_host).with_control(control));
        let tls = Tls::new(client).map_err(ClientError::from)?;
        let mut workers = Self {
            threads: Vec::with_capacity(count),
            starts: Vec::with_capacity(count),
        };
        let mut readies = Vec::with_capacity(count);
        for index in 0..count {
            // The remainder goes to the first workers: 64 over 3 is 22, 21, 21.
            let share = concurrency / count + usize::from(index < concurrency % count);
            let client = ClientConfig {
                pool_per_host: share.min(client.pool_per_host),
                ..client.clone()
            };
            let worker = Worker {
                share,
                client,
                tls: tls.clone(),
                policy: policy.clone(),
                limits: Arc::clone(&limits),
                cancel: cancel.clone(),
            };
            let (ready, ready_rx) = oneshot::channel();
            let (start, start_rx) = oneshot::channel();
            let thread = thread::Builder::new()
                .name(format!("gather-worker-{index}"))
                .spawn(move || worker.run(ready, start_rx))
                .map_err(FetchError::Workers)?;
            workers.threads.push(thread);
            workers.starts.push(start);
            readies.push(ready_rx);
        }
        for ready in readies {
            match ready.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err(FetchError::Workers(std::io::Error::other("worker died"))),
            }
        }
        Ok(workers)
    }

    /// Runs `entries` on the workers, saving into `out`, until they are done or `cancel` is
    /// cancelled (as [`engine::run`] describes); shows each record to `observe`.
    pub(super) async fn run(
        self,
        entries: BoxStream<'static, Entry>,
        out: &OutputDir,
        cancel: &CancellationToken,
        mut observe: impl FnMut(Record),
    ) -> RunEnd {
        let t0 = Instant::now();
        let entries = Arc::new(tokio::sync::Mutex::new(entries.fuse()));
        let (records, mut records_rx) = mpsc::unbounded_channel::<Vec<Record>>();
        let backlog = Arc::new(Backlog::default());
        let (done, mut done_rx) = mpsc::unbounded_channel();
        for start in self.starts {
            let _ = start.send(Start {
                entries: Arc::clone(&entries),
                out: out.clone(),
                t0,
                records: records.clone(),
                backlog: Arc::clone(&backlog),
                done: done.clone(),
            });
        }
        drop((records, done));
        let mut collect = || {
            while let Ok(batch) = records_rx.try_recv() {
                backlog.take(batch.len());
                batch.into_iter().for_each(&mut observe);
            }
        };
        let mut tick = tokio::time::interval(COLLECT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut abandoned, mut abandoned_requests, mut resent) = (0, 0, 0);
        // Ends when every worker is done and has dropped its senders; a worker sends its last
        // batch before its end, so the last collection sees every record.
        loop {
            tokio::select! {
                _ = tick.tick() => collect(),
                () = backlog.full.notified() => collect(),
                end = done_rx.recv() => match end {
                    Some(end) => {
                        abandoned += end.abandoned;
                        abandoned_requests += end.abandoned_requests;
                        resent += end.resent;
                    }
                    None => break,
                },
            }
        }
        collect();
        let end = RunEnd {
            wall: t0.elapsed(),
            interrupted: cancel.is_cancelled(),
            abandoned,
            abandoned_requests,
            resent,
        };
        for thread in self.threads {
            // Each worker has sent its last message; a panic in one is a bug to surface.
            if let Ok(Err(panic)) = tokio::task::spawn_blocking(move || thread.join()).await {
                std::panic::resume_unwind(panic);
            }
        }
        end
    }
}

/// One worker's settings.
struct Worker {
    share: usize,
    client: ClientConfig,
    tls: Tls,
    policy: ItemPolicy,
    limits: Arc<Limits>,
    cancel: CancellationToken,
}

impl Worker {
    /// The worker thread: builds its runtime and client, says whether that worked, then runs
    /// its share when told to start.
    fn run(self, ready: oneshot::Sender<Result<(), FetchError>>, start: oneshot::Receiver<Start>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = ready.send(Err(FetchError::Workers(error)));
                return;
            }
        };
        runtime.block_on(async move {
            let reused = Arc::default();
            let dials = OneDial::new(self.client.pool_per_host);
            let time_connects = self.policy.exchanges;
            let built = client::build_with(&self.client, &self.tls, &reused, &dials, time_connects);
            let client = match built {
                Ok(client) => client,
                Err(error) => {
                    let _ = ready.send(Err(ClientError::from(error).into()));
                    return;
                }
            };
            let _ = ready.send(Ok(()));
            // No start: the run was called off before it began.
            let Ok(start) = start.await else { return };
            let fetcher =
                Fetcher::with_limits(client, reused, Some(dials), self.policy, self.limits);
            let entries = stream::unfold(start.entries, |shared| async move {
                let entry = shared.lock().await.next().await?;
                Some((entry, shared))
            });
            let mut batcher = Batcher {
                records: Vec::new(),
                batches: start.records,
                backlog: start.backlog,
            };
            let end = engine::run(
                entries,
                &start.out,
                &fetcher,
                self.share,
                &self.cancel,
                start.t0,
                &mut batcher,
            )
            .await;
            batcher.idle();
            let _ = start.done.send(end);
        });
        // Blocking saves still running were abandoned by the engine (after the grace period);
        // they end on their own, atomically.
        runtime.shutdown_timeout(Duration::ZERO);
    }
}

/// Collects a worker's records and queues them for the caller when the engine is about to wait;
/// blocks the worker while too many are queued (see [`MAX_QUEUED`]).
struct Batcher {
    records: Vec<Record>,
    batches: mpsc::UnboundedSender<Vec<Record>>,
    backlog: Arc<Backlog>,
}

impl Observer for Batcher {
    fn record(&mut self, record: Record) {
        self.records.push(record);
    }

    fn idle(&mut self) {
        if !self.records.is_empty() {
            let records = std::mem::take(&mut self.records);
            // Counted before it is sent, so the caller never takes more than was counted; the
            // wait that may follow needs only the others' records, already sent, to be taken.
            self.backlog.add(records.len());
            let _ = self.batches.send(records);
        }
    }
}
