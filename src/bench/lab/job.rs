//! The lab's worker protocol: a [`Job`] goes to a worker process as JSON on stdin, and its
//! [`JobOutput`] comes back as JSON on stdout. Rust workers (`gather lab-worker`) and the
//! bundled Python, Go, C++ and JavaScript workers speak the same protocol, so all fill the
//! same table.

use serde::{Deserialize, Serialize};

/// What the tasks of a job do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Each task waits: the seeds' `sleep_coro`.
    Sleep,
    /// Each task fetches a comic from the built-in server.
    Http,
    /// Each task counts the primes in a range by trial division.
    Cpu,
    /// [`Job::count`] copies of one sleep, all started at once: what a task costs in memory.
    Spawn,
}

impl Workload {
    /// Every workload, in table order.
    pub const ALL: [Workload; 3] = [Workload::Sleep, Workload::Http, Workload::Cpu];

    /// The workload's name: `sleep`, `http` or `cpu`.
    pub fn as_str(self) -> &'static str {
        match self {
            Workload::Sleep => "sleep",
            Workload::Http => "http",
            Workload::Cpu => "cpu",
            Workload::Spawn => "spawn",
        }
    }
}

/// How a job runs its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// One task after another, on one thread.
    Sequential,
    /// Tasks interleaved on one thread's event loop: tokio's current-thread runtime, asyncio.
    Async,
    /// Tasks on tokio's multi-threaded runtime, one worker thread per core (Rust only).
    AsyncMt,
    /// A pool of OS threads, each running one task at a time.
    Threads,
    /// Worker processes, each given a share of the tasks to run one after another.
    Processes,
}

impl Model {
    /// The models the Rust side runs, in table order.
    pub const RUST: [Model; 5] = [
        Model::Sequential,
        Model::Async,
        Model::AsyncMt,
        Model::Threads,
        Model::Processes,
    ];

    /// The models the Python side runs, in table order.
    pub const PYTHON: [Model; 4] = [
        Model::Sequential,
        Model::Async,
        Model::Threads,
        Model::Processes,
    ];

    /// The model's name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Model::Sequential => "sequential",
            Model::Async => "async",
            Model::AsyncMt => "async-mt",
            Model::Threads => "threads",
            Model::Processes => "processes",
        }
    }

    /// Whether the model can run tasks on several cores at once, the GIL aside.
    pub fn is_parallel(self) -> bool {
        matches!(self, Model::AsyncMt | Model::Threads | Model::Processes)
    }
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Wait this many seconds.
    Sleep(f64),
    /// GET this URL and read the body.
    Url(String),
    /// Count the primes in `from..to`.
    Primes(u64, u64),
}

impl Task {
    /// A short description, for timelines.
    pub fn label(&self) -> String {
        match self {
            Task::Sleep(secs) => format!("sleep {:.0} ms", secs * 1000.0),
            Task::Url(url) => url.clone(),
            Task::Primes(from, to) => format!("primes {from}..{to}"),
        }
    }
}

/// A job for a worker process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// What the tasks do.
    pub workload: Workload,
    /// How to run them.
    pub model: Model,
    /// Threads or processes to use (for `threads`, `processes` and `async-mt`).
    pub workers: usize,
    /// The tasks.
    pub tasks: Vec<Task>,
    /// For [`Workload::Spawn`]: how many copies of the one task to start at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// One task's times, in seconds since the Unix epoch (so that spans from several processes
/// share one clock).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TaskTimes {
    /// Started.
    pub start: f64,
    /// The response's headers arrived (HTTP only).
    #[serde(default)]
    pub first_byte: Option<f64>,
    /// Ended.
    pub end: f64,
    /// CPU time of the thread that ran the task, spent on it, in seconds (cpu tasks).
    #[serde(default)]
    pub cpu: Option<f64>,
    /// Which of the job's threads or processes ran the task, from 0 (when the worker knows).
    #[serde(default)]
    pub worker: Option<u64>,
}

/// What a worker reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JobOutput {
    /// When the job started, in seconds since the Unix epoch.
    pub t0: f64,
    /// Wall time of the job (monotonic clock), in seconds.
    pub wall: f64,
    /// CPU time (user + system) of the worker and the processes it waited for, in seconds.
    pub cpu: f64,
    /// Peak resident memory, in KiB, summed over the job's processes.
    pub peak_rss_kib: u64,
    /// Each task's times, in task order.
    pub tasks: Vec<TaskTimes>,
    /// The job's answer: primes counted, or bytes fetched.
    pub result: u64,
    /// Why the job could not run, if it could not (e.g. aiohttp missing).
    #[serde(default)]
    pub error: Option<String>,
    /// What ran it: `tokio current_thread`, `asyncio`, ...
    #[serde(default)]
    pub engine: String,
    /// Resident memory just before the timed work began, in KiB ([`Workload::Spawn`]).
    #[serde(default)]
    pub baseline_rss_kib: Option<u64>,
    /// The toolchain or runtime that ran it: `go1.19.8`, `CPython 3.11.7`, ...
    #[serde(default)]
    pub version: Option<String>,
    /// Python only: whether the interpreter ran with the GIL.
    #[serde(default)]
    pub gil: Option<bool>,
}
