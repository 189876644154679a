//! `gather bench lab`: the concurrency lab. Three workloads (sleep, http, cpu) under the
//! execution models each language offers (sequential, an event loop on one thread, async on
//! many threads, a pool of OS threads, worker processes), in Rust, Python, Go, C++ and
//! JavaScript, and the spawn workload (many tasks at once: what a task costs in memory). Each
//! cell is timed in a fresh worker process, so its CPU time and peak memory are its own, and
//! repeated (`--repeat`): its wall time is the median, with the fastest and slowest run.
//!
//! The lab measures and returns numbers and timelines; it prints nothing (see `report/`).

pub mod cpu;
pub mod job;
pub mod lang;
mod python;
pub mod usage;
pub mod worker;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use job::{Job, JobOutput, Model, Task, TaskTimes, Workload};
pub use lang::{Lang, Runtime, Toolchain};
pub use python::{DEFAULT_PYTHON, PythonStatus};

use crate::serve::{Latency, MISSING_ID, ServeConfig, Server};
use crate::timeline::{Span, Timeline};

/// Cells faster than this run [`AUTO_REPEAT`] times unless `--repeat` says otherwise.
pub const AUTO_REPEAT_BELOW: Duration = Duration::from_secs(2);
/// How many times a fast cell runs by default.
pub const AUTO_REPEAT: usize = 3;
/// The most OS threads the spawn workload starts (a million tasks, yes; a million threads, no).
pub const SPAWN_MAX_THREADS: u64 = 10_000;
/// How long each task of the spawn workload sleeps by default.
pub const SPAWN_SLEEP: Duration = Duration::from_secs(1);

/// A validated lab run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The workloads to run, in order (sleep, http, cpu make cells; spawn makes spawn rows).
    pub workloads: Vec<Workload>,
    /// The languages to run; those whose toolchain is missing are skipped with a note.
    pub langs: Vec<Lang>,
    /// The Python interpreter.
    pub python: PathBuf,
    /// Tasks in the sleep and http workloads.
    pub tasks: usize,
    /// How long each sleep task waits (fixed, or uniform random per task).
    pub sleep: Latency,
    /// The built-in server's latency for the http workload.
    pub latency: Latency,
    /// The cpu workload counts the primes below this, in every language.
    pub primes_below: u64,
    /// Parts the cpu workload is split into: its tasks.
    pub parts: usize,
    /// Threads in the thread pool; default: one per task.
    pub threads: Option<usize>,
    /// Worker processes; default: one per core.
    pub processes: Option<usize>,
    /// Runs per cell; `None`: [`AUTO_REPEAT`] for cells under [`AUTO_REPEAT_BELOW`], else one.
    pub repeat: Option<usize>,
    /// Tasks started at once by the spawn workload (OS threads: at most [`SPAWN_MAX_THREADS`]).
    pub spawn: u64,
    /// How long each spawned task sleeps: long enough for the last to start before the first
    /// ends (a million goroutines take seconds to start).
    pub spawn_sleep: Duration,
    /// The gather binary, started as the Rust worker processes.
    pub exe: PathBuf,
    /// Where the built workers are kept (see [`lang::cache_dir`]).
    pub cache: PathBuf,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            workloads: vec![
                Workload::Sleep,
                Workload::Http,
                Workload::Cpu,
                Workload::Spawn,
            ],
            langs: Lang::ALL.to_vec(),
            python: PathBuf::from(DEFAULT_PYTHON),
            tasks: 10,
            sleep: Latency::Fixed(Duration::from_millis(50)),
            latency: Latency::Fixed(Duration::from_millis(50)),
            primes_below: 1_500_000,
            parts: 8,
            threads: None,
            processes: None,
            repeat: None,
            spawn: 5_000,
            spawn_sleep: SPAWN_SLEEP,
            exe: PathBuf::from("gather"),
            cache: lang::cache_dir(),
        }
    }
}

/// Why the lab could not run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The built-in server did not start or stop.
    #[error("cannot run the built-in server: {0}")]
    Server(std::io::Error),
    /// The runner thread was lost.
    #[error("the lab stopped unexpectedly")]
    Join(#[from] tokio::task::JoinError),
}

/// One cell of the matrix: a workload under a model, in one language.
#[derive(Debug, Clone)]
pub struct LabCell {
    /// The language.
    pub runtime: Runtime,
    /// The workload.
    pub workload: Workload,
    /// The model.
    pub model: Model,
    /// What ran it, e.g. `tokio current_thread` or `4 threads (GIL)`.
    pub engine: String,
    /// Threads or processes (or tasks at once, for async on one thread).
    pub workers: usize,
    /// Tasks in the job.
    pub tasks: usize,
    /// Wall time of the job: the median of its runs.
    pub wall: Duration,
    /// The fastest run's wall time.
    pub wall_min: Duration,
    /// The slowest run's wall time.
    pub wall_max: Duration,
    /// Every run's wall time, in the order they ran.
    pub walls: Vec<Duration>,
    /// CPU time (user + system) of the job's processes, in the run nearest the median.
    pub cpu: Duration,
    /// Peak resident memory of the job's processes, summed, in KiB (that same run).
    pub peak_rss_kib: u64,
    /// The best wall time the model allows: see [`LabCell::ideal`].
    pub ideal: Option<Duration>,
    /// Each task's span, in the run nearest the median.
    pub timeline: Timeline,
    /// The job's answer (primes counted, bytes fetched), when it ran.
    pub answer: Option<u64>,
    /// Why the cell has no numbers, if it has none.
    pub error: Option<String>,
}

impl LabCell {
    /// Whether the cell ran.
    pub fn ok(&self) -> bool {
        self.error.is_none()
    }

    /// CPU time over wall time: how many cores the job kept busy on average.
    pub fn cores_used(&self) -> f64 {
        self.cpu.as_secs_f64() / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Whether this cell's runs and `other`'s overlap: a difference between them is noise.
    pub fn within_noise_of(&self, other: &LabCell) -> bool {
        self.wall_min <= other.wall_max && other.wall_min <= self.wall_max
    }
}

/// One row of the spawn workload: many sleeping tasks at once in one language and model.
#[derive(Debug, Clone)]
pub struct SpawnRow {
    /// The language.
    pub runtime: Runtime,
    /// `async` (the language's lightweight task) or `threads` (OS threads).
    pub model: Model,
    /// What ran them: `goroutines`, `asyncio tasks`, …
    pub engine: String,
    /// Tasks started at once.
    pub tasks: u64,
    /// Wall time from the first start to the last end.
    pub wall: Duration,
    /// Resident memory just before the tasks started, in KiB.
    pub baseline_rss_kib: u64,
    /// Peak resident memory, in KiB.
    pub peak_rss_kib: u64,
    /// Why the row has no numbers, if it has none.
    pub error: Option<String>,
}

impl SpawnRow {
    /// What one task cost: (peak − baseline) / tasks, in bytes.
    pub fn bytes_per_task(&self) -> Option<f64> {
        (self.error.is_none() && self.tasks > 0).then(|| {
            self.peak_rss_kib.saturating_sub(self.baseline_rss_kib) as f64 * 1024.0
                / self.tasks as f64
        })
    }
}

/// A language of this run and where it stood.
#[derive(Debug, Clone)]
pub struct LangReport {
    /// The language (a free-threaded Python is a language of its own here).
    pub runtime: Runtime,
    /// Its version (`go1.19.8`, `CPython 3.11.7`), when known.
    pub version: Option<String>,
    /// The build command, for compiled workers.
    pub build: Option<String>,
    /// Why it did not run (missing toolchain, failed build), if it did not.
    pub skipped: Option<String>,
}

/// What the lab measured.
#[derive(Debug, Clone)]
pub struct LabReport {
    /// The configuration it ran with.
    pub config: LabConfig,
    /// Cores available to this process.
    pub cores: usize,
    /// Every cell, by language, then workload, then model.
    pub cells: Vec<LabCell>,
    /// The spawn workload's rows.
    pub spawn: Vec<SpawnRow>,
    /// Every language asked for, and how it went.
    pub langs: Vec<LangReport>,
    /// Whether and how the (GIL) Python ran.
    pub python: PythonStatus,
    /// Whether Ctrl-C cut the lab short.
    pub interrupted: bool,
}

impl LabReport {
    /// The sequential cell of the same runtime and workload as `cell`.
    pub fn baseline(&self, cell: &LabCell) -> Option<&LabCell> {
        self.cells.iter().find(|c| {
            c.runtime == cell.runtime
                && c.workload == cell.workload
                && c.model == Model::Sequential
                && c.ok()
        })
    }

    /// How many times faster than its sequential baseline `cell` ran (medians).
    pub fn speedup(&self, cell: &LabCell) -> Option<f64> {
        let base = self.baseline(cell)?;
        (cell.ok() && !cell.wall.is_zero())
            .then(|| base.wall.as_secs_f64() / cell.wall.as_secs_f64())
    }

    /// Whether `cell` and its sequential baseline are within noise of each other: their runs'
    /// ranges overlap, so the speedup is no finding.
    pub fn speedup_within_noise(&self, cell: &LabCell) -> bool {
        self.baseline(cell)
            .is_some_and(|base| base.model != cell.model && cell.within_noise_of(base))
    }

    /// The speedup the model would give with zero overhead: baseline over ideal.
    pub fn ideal_speedup(&self, cell: &LabCell) -> Option<f64> {
        let base = self.baseline(cell)?;
        let ideal = cell.ideal?;
        (!ideal.is_zero())
            .then(|| base.ideal.unwrap_or(base.wall).as_secs_f64() / ideal.as_secs_f64())
    }

    /// The cell of `runtime`, `workload` and `model`, if it ran.
    pub fn cell(&self, runtime: Runtime, workload: Workload, model: Model) -> Option<&LabCell> {
        self.cells
            .iter()
            .find(|c| c.runtime == runtime && c.workload == workload && c.model == model && c.ok())
    }

    /// The languages that ran, in table order.
    pub fn runtimes(&self) -> Vec<Runtime> {
        self.langs
            .iter()
            .filter(|l| l.skipped.is_none())
            .map(|l| l.runtime)
            .collect()
    }
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Runs the lab: starts the built-in server when the http workload is in, then every cell, one
/// at a time, each in a fresh worker process.
pub async fn run(config: LabConfig, cancel: CancellationToken) -> Result<LabReport, LabError> {
    let server = if config.workloads.contains(&Workload::Http) {
        Some(
            Server::start(ServeConfig {
                latency: config.latency,
                max_id: (config.tasks as u64 + 1).max(ServeConfig::default().max_id),
                ..ServeConfig::default()
            })
            .await
            .map_err(LabError::Server)?,
        )
    } else {
        None
    };
    let base_url = server.as_ref().map(Server::base_url);
    let report =
        tokio::task::spawn_blocking(move || run_cells(config, base_url.as_deref(), &cancel))
            .await?;
    if let Some(server) = server {
        server.stop().await.map_err(LabError::Server)?;
    }
    Ok(report)
}

/// The tasks of `workload`, the same for every model and language.
fn tasks(config: &LabConfig, workload: Workload, base_url: Option<&str>) -> Vec<Task> {
    match workload {
        Workload::Sleep => (0..config.tasks)
            .map(|_| Task::Sleep(config.sleep.sample().as_secs_f64()))
            .collect(),
        Workload::Http => {
            let base = base_url.unwrap_or_default();
            (1..)
                .filter(|&id| id != MISSING_ID)
                .take(config.tasks)
                .map(|id| Task::Url(format!("{base}/{id}/info.0.json")))
                .collect()
        }
        Workload::Cpu => cpu::split(config.primes_below, config.parts)
            .into_iter()
            .map(|(from, to)| Task::Primes(from, to))
            .collect(),
        Workload::Spawn => vec![Task::Sleep(config.spawn_sleep.as_secs_f64())],
    }
}

/// Threads or processes a model uses for `tasks` tasks of `workload`. A pool of threads has
/// one per task for waiting work (a blocked thread waits for one task) and one per core for
/// computing (more threads than cores cannot compute more at once).
fn workers(
    config: &LabConfig,
    workload: Workload,
    model: Model,
    tasks: usize,
    cores: usize,
) -> usize {
    let pool = match workload {
        Workload::Cpu => cores.min(tasks),
        _ => tasks,
    };
    let n = match model {
        Model::Sequential => 1,
        Model::Async => tasks,
        Model::AsyncMt => cores,
        Model::Threads => config.threads.unwrap_or(pool).min(1024),
        Model::Processes => config.processes.unwrap_or(cores).min(tasks),
    };
    n.max(1)
}

/// Each language asked for, with its toolchain: found, built, or why not. Python's interpreter
/// runs as `python` with the GIL, or as `python-nogil` when it has none; a free-threaded
/// Python found on the PATH joins as `python-nogil` beside it.
fn toolchains(config: &LabConfig) -> (Vec<(Runtime, Toolchain)>, PythonStatus) {
    let mut found = Vec::new();
    let mut python_status = PythonStatus::NotRequested;
    for &lang in &config.langs {
        match lang {
            Lang::Rust => found.push((Runtime::Rust, lang::rust(&config.exe))),
            Lang::Go => found.push((Runtime::Go, lang::go(&config.cache))),
            Lang::Cpp => found.push((Runtime::Cpp, lang::cpp(&config.cache))),
            Lang::Js => found.push((Runtime::Js, lang::js(&config.cache))),
            Lang::Python => {
                let main = PythonStatus::probe_at(&config.python);
                let mut pythons = vec![main.clone()];
                if !main.free_threaded()
                    && let Some(free) = python::free_threaded_on_path()
                {
                    pythons.push(free);
                }
                for status in pythons {
                    let runtime = if status.free_threaded() {
                        Runtime::PythonNoGil
                    } else {
                        python_status = status.clone();
                        Runtime::Python
                    };
                    let toolchain = match &status {
                        PythonStatus::Ran { interpreter, .. } => lang::python(
                            &config.cache,
                            interpreter,
                            &status.version_line().unwrap_or_default(),
                        ),
                        PythonStatus::Missing(why) => Toolchain::Missing(format!(
                            "{why} (install Python 3, or name one with --python PATH)"
                        )),
                        PythonStatus::NotRequested => continue,
                    };
                    found.push((runtime, toolchain));
                }
            }
        }
    }
    (found, python_status)
}

fn run_cells(config: LabConfig, base_url: Option<&str>, cancel: &CancellationToken) -> LabReport {
    let cores = cores();
    let (toolchains, python) = toolchains(&config);
    let mut report = LabReport {
        config: config.clone(),
        cores,
        cells: Vec::new(),
        spawn: Vec::new(),
        langs: toolchains
            .iter()
            .map(|(runtime, toolchain)| LangReport {
                runtime: *runtime,
                version: toolchain.version().map(str::to_owned),
                build: match toolchain {
                    Toolchain::Ready { build, .. } => build.clone(),
                    Toolchain::BuildFailed { build, .. } => Some(build.clone()),
                    Toolchain::Missing(_) => None,
                },
                skipped: match toolchain {
                    Toolchain::Ready { .. } => None,
                    Toolchain::Missing(why) => Some(why.clone()),
                    Toolchain::BuildFailed { message, .. } => Some(message.clone()),
                },
            })
            .collect(),
        python,
        interrupted: false,
    };
    let ready: Vec<_> = toolchains
        .iter()
        .filter_map(|(runtime, toolchain)| Some((*runtime, toolchain.worker()?)))
        .collect();
    'all: for &(runtime, worker) in &ready {
        for &workload in &config.workloads {
            if workload == Workload::Spawn {
                continue;
            }
            let tasks = tasks(&config, workload, base_url);
            let durations = waits(&config, workload, &tasks);
            // The sequential cell's answer and each task's duration (for the cpu ideal).
            let mut sequential: Option<(u64, Vec<Duration>)> = None;
            for &model in runtime.models() {
                let job = Job {
                    workload,
                    model,
                    workers: workers(&config, workload, model, tasks.len(), cores),
                    tasks: tasks.clone(),
                    count: None,
                };
                let Some(mut cell) = measure(runtime, worker, &job, config.repeat, cancel) else {
                    report.interrupted = true;
                    break 'all;
                };
                if let (Some(answer), Some((expected, _))) = (cell.answer, &sequential)
                    && workload == Workload::Cpu
                    && answer != *expected
                    && cell.ok()
                {
                    cell.error = Some(format!(
                        "counted {answer} primes, but sequential counted {expected}"
                    ));
                }
                if model == Model::Sequential
                    && cell.ok()
                    && let Some(answer) = cell.answer
                {
                    let parts = cell.timeline.spans().iter().map(|s| s.duration()).collect();
                    sequential = Some((answer, parts));
                }
                let lanes = cpu_lanes(runtime, model, job.workers, cores);
                cell.ideal = match (&durations, &sequential) {
                    _ if !cell.ok() => None,
                    (Some(durations), _) => Some(ideal_wait(durations, model, job.workers)),
                    (None, Some((_, parts))) => {
                        Some(ideal_compute(parts, model, job.workers, lanes))
                    }
                    (None, None) => None,
                };
                report.cells.push(cell);
            }
        }
    }
    if config.workloads.contains(&Workload::Spawn) && !report.interrupted {
        'spawn: for &(runtime, worker) in &ready {
            for &model in runtime.spawn_models() {
                let count = match model {
                    Model::Threads => config.spawn.min(SPAWN_MAX_THREADS),
                    _ => config.spawn,
                };
                let job = Job {
                    workload: Workload::Spawn,
                    model,
                    workers: 1,
                    tasks: tasks(&config, Workload::Spawn, None),
                    count: Some(count),
                };
                match run_job(worker.command(), &job, cancel) {
                    Ok(None) => {
                        report.interrupted = true;
                        break 'spawn;
                    }
                    output => report.spawn.push(spawn_row(runtime, &job, output)),
                }
            }
        }
    }
    report
}

/// Runs `job` on `worker` as many times as `repeat` says (see [`LabConfig::repeat`]) and makes
/// its cell: the median wall time with the fastest and slowest, the rest from the run nearest
/// the median. `None` when `cancel` stopped it.
fn measure(
    runtime: Runtime,
    worker: &lang::Worker,
    job: &Job,
    repeat: Option<usize>,
    cancel: &CancellationToken,
) -> Option<LabCell> {
    let mut runs: Vec<LabCell> = Vec::new();
    loop {
        if cancel.is_cancelled() {
            return None;
        }
        let cell = match run_job(worker.command(), job, cancel) {
            Ok(None) => return None,
            Ok(Some(output)) => cell(runtime, job, output),
            // One failed worker spoils its cell only: the others still run.
            Err(reason) => failed_cell(runtime, job, reason),
        };
        if !cell.ok() {
            return Some(cell);
        }
        if let Some(first) = runs.first()
            && first.answer != cell.answer
            && job.workload == Workload::Cpu
        {
            let mut cell = cell;
            cell.error = Some(format!(
                "runs disagree: {:?} then {:?}",
                first.answer, cell.answer
            ));
            return Some(cell);
        }
        runs.push(cell);
        let wanted = repeat.unwrap_or(if runs[0].wall < AUTO_REPEAT_BELOW {
            AUTO_REPEAT
        } else {
            1
        });
        if runs.len() >= wanted.max(1) {
            break;
        }
    }
    let walls: Vec<Duration> = runs.iter().map(|c| c.wall).collect();
    let median = median(&walls);
    let nearest = runs
        .iter()
        .enumerate()
        .min_by_key(|(_, c)| c.wall.abs_diff(median))
        .map_or(0, |(i, _)| i);
    let mut cell = runs.swap_remove(nearest);
    cell.wall_min = walls.iter().copied().min().unwrap_or_default();
    cell.wall_max = walls.iter().copied().max().unwrap_or_default();
    cell.wall = median;
    cell.walls = walls;
    Some(cell)
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    match sorted.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2,
    }
}

/// The spawn row of a job whose worker answered `output` (or failed).
fn spawn_row(runtime: Runtime, job: &Job, output: Result<Option<JobOutput>, String>) -> SpawnRow {
    let tasks = job.count.unwrap_or(0);
    let mut row = SpawnRow {
        runtime,
        model: job.model,
        engine: String::new(),
        tasks,
        wall: Duration::ZERO,
        baseline_rss_kib: 0,
        peak_rss_kib: 0,
        error: None,
    };
    match output {
        Ok(Some(output)) => {
            row.engine = output.engine;
            row.error = output.error.or_else(|| {
                (output.result != tasks)
                    .then(|| format!("{} of {tasks} tasks finished", output.result))
            });
            match (secs(output.wall), output.baseline_rss_kib) {
                (Ok(wall), Some(baseline)) => {
                    row.wall = wall;
                    row.baseline_rss_kib = baseline;
                    row.peak_rss_kib = output.peak_rss_kib;
                }
                (Err(e), _) => row.error = row.error.or(Some(e)),
                (_, None) => {
                    row.error = row
                        .error
                        .or(Some("it reported no baseline memory".to_owned()));
                }
            }
        }
        Ok(None) => row.error = Some("interrupted".to_owned()),
        Err(e) => row.error = Some(format!("the worker failed: {e}")),
    }
    row
}

/// Cores a model can keep busy computing: one for a single thread (or Python's threads, which
/// the GIL serialises), else its workers up to the cores there are.
fn cpu_lanes(runtime: Runtime, model: Model, workers: usize, cores: usize) -> usize {
    match (runtime, model) {
        (_, Model::Sequential | Model::Async) | (Runtime::Python, Model::Threads) => 1,
        _ => workers.min(cores).max(1),
    }
}

/// How long each task of a waiting workload waits, for the ideal times; `None` for cpu.
///
/// The http workload's delays are drawn by the server, unknown here: for a fixed latency each
/// task waits it; for a uniform one in `[min, max]` the sequential ideal is `n` times the mean,
/// and all `n` at once wait for the longest of `n` draws, whose expected value is
/// `min + (max - min) · n / (n + 1)`. The tasks are given waits with those two sums: one the
/// expected longest, the others sharing the rest equally.
fn waits(config: &LabConfig, workload: Workload, tasks: &[Task]) -> Option<Vec<Duration>> {
    match workload {
        Workload::Cpu | Workload::Spawn => None,
        Workload::Http => Some(http_waits(config.latency, tasks.len())),
        Workload::Sleep => Some(
            tasks
                .iter()
                .map(|t| match t {
                    Task::Sleep(secs) => Duration::try_from_secs_f64(*secs).unwrap_or_default(),
                    _ => Duration::ZERO,
                })
                .collect(),
        ),
    }
}

/// `n` waits for a server latency: see [`waits`].
fn http_waits(latency: Latency, n: usize) -> Vec<Duration> {
    match latency {
        Latency::Uniform { min, max } if n > 1 => {
            let n32 = u32::try_from(n).unwrap_or(u32::MAX);
            let longest = min + (max - min).mul_f64(n as f64 / (n as f64 + 1.0));
            let total = latency.mean().saturating_mul(n32);
            let rest = total.saturating_sub(longest) / (n32 - 1);
            let mut waits = vec![rest; n];
            waits[0] = longest;
            waits
        }
        _ => vec![latency.mean(); n],
    }
}

/// The wall time of `durations` on `lanes` lanes with zero overhead, each next one going to the
/// lane that is free first (a pool's queue).
fn pack(durations: impl IntoIterator<Item = Duration>, lanes: usize) -> Duration {
    let mut busy = vec![Duration::ZERO; lanes.max(1)];
    for d in durations {
        if let Some(lane) = busy.iter_mut().min() {
            *lane += d;
        }
    }
    busy.into_iter().max().unwrap_or_default()
}

/// The round-robin shares of `durations` among `workers` processes, each share's total.
fn shares(durations: &[Duration], workers: usize) -> Vec<Duration> {
    let workers = workers.max(1);
    (0..workers)
        .map(|w| durations.iter().skip(w).step_by(workers).sum())
        .collect()
}

/// The wall time of waits with zero overhead: sequential sums them; async waits for all at
/// once; processes take round-robin shares; a pool hands the next wait to the first free thread.
pub fn ideal_wait(waits: &[Duration], model: Model, workers: usize) -> Duration {
    match model {
        Model::Sequential => pack(waits.iter().copied(), 1),
        Model::Async | Model::AsyncMt => pack(waits.iter().copied(), waits.len()),
        Model::Threads => pack(waits.iter().copied(), workers),
        Model::Processes => pack(shares(waits, workers), workers),
    }
}

/// The wall time of computing `parts` (each part's time alone, from the sequential cell) with
/// zero overhead on `lanes` cores (see `cpu_lanes`): a pool hands the next part to the first
/// free core; processes take round-robin shares, which then share the cores.
pub fn ideal_compute(parts: &[Duration], model: Model, workers: usize, lanes: usize) -> Duration {
    match model {
        Model::Processes => pack(shares(parts, workers), lanes),
        _ => pack(parts.iter().copied(), lanes),
    }
}

/// Sends `job` to a worker's stdin and reads its answer from stdout. `None` when `cancel`
/// stopped it: the worker is killed.
fn run_job(
    mut command: Command,
    job: &Job,
    cancel: &CancellationToken,
) -> Result<Option<JobOutput>, String> {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Its own process group, so that a cancel stops the worker and every process it started
    // (the `processes` model's workers, Python's multiprocessing pool) with one signal.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    worker::die_with_parent(&mut command);
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
    let mut child = Group {
        child,
        reaped: false,
    };
    let input = serde_json::to_vec(job).map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.child.stdin.take() {
        stdin
            .write_all(&input)
            .map_err(|e| format!("cannot send the job: {e}"))?;
    }
    // Read both pipes on their own threads, so that a long answer never blocks the worker
    // while this thread watches for a cancel.
    let stdout = drain(child.child.stdout.take());
    let stderr = drain(child.child.stderr.take());
    let status = loop {
        if let Some(status) = child.child.try_wait().map_err(|e| e.to_string())? {
            child.reaped = true;
            break status;
        }
        if cancel.is_cancelled() {
            // Dropping the group kills the worker and everything it started.
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        return Err(format!(
            "{status}: {}",
            String::from_utf8_lossy(&stderr).trim()
        ));
    }
    serde_json::from_slice(&stdout).map(Some).map_err(|e| {
        format!(
            "its answer is not a job output ({e}): {}",
            String::from_utf8_lossy(&stdout).trim()
        )
    })
}

/// A worker started in its own process group. Dropping it before the worker was reaped kills
/// the whole group and reaps the worker, so that no path out of [`run_job`] leaves processes
/// running. (Once reaped, its pid may be reused: the group is then left alone; the worker's own
/// children die with it, see [`worker::die_with_parent`].)
struct Group {
    child: std::process::Child,
    reaped: bool,
}

impl Drop for Group {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        #[cfg(unix)]
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill(2) on the process group this worker leads; the worker is not yet
            // reaped, so its pid (and so the group's id) is still its own.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Seconds from a worker as a duration: refused when negative, not a number or too large.
fn secs(value: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("it reported a time of {value} s"))
}

/// The cell of a job whose worker answered `output`. An answer that does not add up (a bad
/// time, a task missing) makes the cell an error, like a job that failed.
fn cell(runtime: Runtime, job: &Job, output: JobOutput) -> LabCell {
    let times = || -> Result<(Duration, Duration, Vec<Span>), String> {
        if output.tasks.len() != job.tasks.len() {
            return Err(format!(
                "it timed {} tasks of {}",
                output.tasks.len(),
                job.tasks.len()
            ));
        }
        let offset = |t: f64| secs((t - output.t0).max(0.0));
        let spans = output
            .tasks
            .iter()
            .zip(&job.tasks)
            .map(|(times, task)| {
                Ok(Span {
                    label: task.label(),
                    start: offset(times.start)?,
                    first_byte: times.first_byte.map(offset).transpose()?,
                    end: offset(times.end)?,
                    cpu: times.cpu.map(secs).transpose()?,
                    worker: times.worker.and_then(|w| u32::try_from(w).ok()),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok((secs(output.wall)?, secs(output.cpu)?, spans))
    };
    let (wall, cpu, spans, error) = match output.error {
        Some(error) => (Duration::ZERO, Duration::ZERO, Vec::new(), Some(error)),
        None => match times() {
            Ok((wall, cpu, spans)) => (wall, cpu, spans, None),
            Err(e) => (
                Duration::ZERO,
                Duration::ZERO,
                Vec::new(),
                Some(format!("bad answer from the worker: {e}")),
            ),
        },
    };
    LabCell {
        runtime,
        workload: job.workload,
        model: job.model,
        engine: output.engine,
        workers: job.workers,
        tasks: job.tasks.len(),
        wall,
        wall_min: wall,
        wall_max: wall,
        walls: vec![wall],
        cpu,
        peak_rss_kib: output.peak_rss_kib,
        ideal: None,
        timeline: Timeline::new(spans),
        answer: error.is_none().then_some(output.result),
        error,
    }
}

/// The cell of a job whose worker failed: `reason` says how.
fn failed_cell(runtime: Runtime, job: &Job, reason: String) -> LabCell {
    cell(
        runtime,
        job,
        JobOutput {
            engine: match runtime {
                Runtime::Rust => worker::engine(job.model, job.workers),
                other => other.as_str().to_owned(),
            },
            error: Some(format!("the worker failed: {reason}")),
            ..JobOutput::default()
        },
    )
}

/// Reads a child's pipe to its end on a thread of its own, so a full pipe never blocks it.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ideal_waits_follow_the_model() {
        let ms = Duration::from_millis;
        let waits = vec![ms(100); 10];
        assert_eq!(ideal_wait(&waits, Model::Sequential, 1), ms(1000));
        assert_eq!(ideal_wait(&waits, Model::Async, 10), ms(100));
        assert_eq!(ideal_wait(&waits, Model::Threads, 4), ms(300));
        assert_eq!(ideal_wait(&waits, Model::Processes, 2), ms(500));
    }

    #[test]
    fn the_cpu_ideal_packs_the_parts_onto_the_cores() {
        let ms = Duration::from_millis;
        // 3 equal parts on 2 cores: one core computes two of them, so 1.5x, not 2x.
        let parts = vec![ms(100); 3];
        let lanes = cpu_lanes(Runtime::Rust, Model::Threads, 3, 2);
        assert_eq!(lanes, 2);
        assert_eq!(ideal_compute(&parts, Model::Threads, 3, lanes), ms(200));
        assert_eq!(ideal_compute(&parts, Model::Sequential, 1, 1), ms(300));
        // Unequal parts: the pool hands the next part to the first free core.
        let parts = [ms(300), ms(100), ms(100), ms(100)];
        assert_eq!(ideal_compute(&parts, Model::AsyncMt, 2, 2), ms(300));
        // Processes keep their round-robin shares: 300+100 and 100+100.
        assert_eq!(ideal_compute(&parts, Model::Processes, 2, 2), ms(400));
        // Four processes on two cores: the shares share the cores.
        assert_eq!(ideal_compute(&parts, Model::Processes, 4, 2), ms(300));
        // One thread, and Python's threads under the GIL, compute one part at a time.
        assert_eq!(cpu_lanes(Runtime::Rust, Model::Async, 8, 4), 1);
        assert_eq!(cpu_lanes(Runtime::Python, Model::Threads, 8, 4), 1);
        assert_eq!(cpu_lanes(Runtime::Python, Model::Processes, 8, 4), 4);
        assert_eq!(cpu_lanes(Runtime::Rust, Model::Processes, 3, 4), 3);
    }

    #[test]
    fn uniform_http_latency_waits_for_the_expected_longest_at_once() {
        let ms = Duration::from_millis;
        let latency = Latency::Uniform {
            min: ms(100),
            max: ms(200),
        };
        let waits = http_waits(latency, 9);
        // Sequential: 9 times the mean.
        assert_eq!(ideal_wait(&waits, Model::Sequential, 1), ms(1350));
        // At once: the expected longest of 9 draws, 100 + 100 * 9/10.
        assert_eq!(ideal_wait(&waits, Model::Async, 9), ms(190));
        assert_eq!(
            http_waits(Latency::Fixed(ms(50)), 3),
            vec![ms(50); 3],
            "a fixed latency is every task's wait"
        );
    }

    #[test]
    fn a_bad_answer_from_a_worker_spoils_only_its_cell() {
        let job = Job {
            workload: Workload::Sleep,
            model: Model::Async,
            workers: 2,
            tasks: vec![Task::Sleep(0.1), Task::Sleep(0.1)],
            count: None,
        };
        let times = TaskTimes {
            start: 10.0,
            first_byte: None,
            end: 10.1,
            cpu: None,
            worker: Some(0),
        };
        let answer = |wall: f64, tasks: Vec<TaskTimes>| JobOutput {
            t0: 10.0,
            wall,
            tasks,
            ..JobOutput::default()
        };
        let good = cell(Runtime::Rust, &job, answer(0.1, vec![times; 2]));
        assert!(good.ok(), "{:?}", good.error);
        assert_eq!(good.timeline.spans().len(), 2);
        let short = cell(Runtime::Rust, &job, answer(0.1, vec![times]));
        assert!(short.error.unwrap().contains("timed 1 tasks of 2"));
        let huge = cell(Runtime::Rust, &job, answer(1e300, vec![times; 2]));
        assert!(huge.error.unwrap().contains("reported a time of"));
        let nan = cell(Runtime::Rust, &job, answer(f64::NAN, vec![times; 2]));
        assert!(!nan.ok());
    }
}
