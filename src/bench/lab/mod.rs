//! `gather bench lab`: the concurrency lab. Three workloads (sleep, http, cpu) under five
//! execution models (sequential, async on one thread, async on many, a thread pool, worker
//! processes), and with `--python` the same jobs in Python (asyncio, threading,
//! multiprocessing). Each cell is timed in a fresh worker process, so its CPU time and peak
//! memory are its own.
//!
//! The lab measures and returns numbers and timelines; it prints nothing (see `report/`).

pub mod cpu;
pub mod job;
mod python;
pub mod usage;
pub mod worker;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use job::{Job, JobOutput, Model, Task, TaskTimes, Workload};
pub use python::PythonStatus;

use crate::serve::{Latency, MISSING_ID, ServeConfig, Server};
use crate::timeline::{Span, Timeline};

/// A validated lab run.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// The workloads to run, in order.
    pub workloads: Vec<Workload>,
    /// Tasks in the sleep and http workloads.
    pub tasks: usize,
    /// How long each sleep task waits (fixed, or uniform random per task).
    pub sleep: Latency,
    /// The built-in server's latency for the http workload.
    pub latency: Latency,
    /// The cpu workload counts the primes below this.
    pub primes_below: u64,
    /// The Python cpu workload's bound (Python is far slower at trial division).
    pub python_primes_below: u64,
    /// Parts the cpu workload is split into: its tasks.
    pub parts: usize,
    /// Threads in the thread pool; default: one per task.
    pub threads: Option<usize>,
    /// Worker processes; default: one per core.
    pub processes: Option<usize>,
    /// Also run the Python scripts.
    pub python: bool,
    /// The gather binary, started as the worker processes.
    pub exe: PathBuf,
}

impl Default for LabConfig {
    fn default() -> Self {
        Self {
            workloads: Workload::ALL.to_vec(),
            tasks: 10,
            sleep: Latency::Fixed(Duration::from_millis(100)),
            latency: Latency::Fixed(Duration::from_millis(100)),
            primes_below: 3_000_000,
            python_primes_below: 200_000,
            parts: 8,
            threads: None,
            processes: None,
            python: false,
            exe: PathBuf::from("gather"),
        }
    }
}

/// Why the lab could not run.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The built-in server did not start or stop.
    #[error("cannot run the built-in server: {0}")]
    Server(std::io::Error),
    /// A worker process could not be started or answered nonsense.
    #[error("lab worker for {workload} under {model}: {reason}")]
    Worker {
        /// The cell's workload.
        workload: &'static str,
        /// The cell's model.
        model: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The runner thread was lost.
    #[error("the lab stopped unexpectedly: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Which language ran a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// gather itself.
    Rust,
    /// The bundled Python script.
    Python,
}

impl Runtime {
    /// `rust` or `python`.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Rust => "rust",
            Runtime::Python => "python",
        }
    }
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
    /// Wall time of the job.
    pub wall: Duration,
    /// CPU time (user + system) of the job's processes.
    pub cpu: Duration,
    /// Peak resident memory of the job's processes, summed, in KiB.
    pub peak_rss_kib: u64,
    /// The best wall time the model allows: see [`LabCell::ideal`].
    pub ideal: Option<Duration>,
    /// Each task's span.
    pub timeline: Timeline,
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
}

/// What the lab measured.
#[derive(Debug, Clone)]
pub struct LabReport {
    /// The configuration it ran with.
    pub config: LabConfig,
    /// Cores available to this process.
    pub cores: usize,
    /// Every cell, Rust first, in workload then model order.
    pub cells: Vec<LabCell>,
    /// Whether and how Python ran.
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

    /// How many times faster than its sequential baseline `cell` ran.
    pub fn speedup(&self, cell: &LabCell) -> Option<f64> {
        let base = self.baseline(cell)?;
        (cell.ok() && !cell.wall.is_zero())
            .then(|| base.wall.as_secs_f64() / cell.wall.as_secs_f64())
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
            .await??;
    if let Some(server) = server {
        server.stop().await.map_err(LabError::Server)?;
    }
    Ok(report)
}

/// The tasks of `workload`, the same for every model and language (but the cpu bound).
fn tasks(
    config: &LabConfig,
    workload: Workload,
    base_url: Option<&str>,
    python: bool,
) -> Vec<Task> {
    match workload {
        Workload::Sleep => (0..config.tasks)
            .map(|_| Task::Sleep(config.sleep.sample().as_secs_f64()))
            .collect(),
        Workload::Http => {
            let base = base_url.unwrap_or("http://127.0.0.1:8080");
            (1..)
                .filter(|&id| id != MISSING_ID)
                .take(config.tasks)
                .map(|id| Task::Url(format!("{base}/{id}/info.0.json")))
                .collect()
        }
        Workload::Cpu => {
            let below = if python {
                config.python_primes_below
            } else {
                config.primes_below
            };
            cpu::split(below, config.parts)
                .into_iter()
                .map(|(from, to)| Task::Primes(from, to))
                .collect()
        }
    }
}

/// Threads or processes a model uses for `tasks` tasks.
fn workers(config: &LabConfig, model: Model, tasks: usize, cores: usize) -> usize {
    let n = match model {
        Model::Sequential => 1,
        Model::Async => tasks,
        Model::AsyncMt => cores,
        Model::Threads => config.threads.unwrap_or(tasks).min(1024),
        Model::Processes => config.processes.unwrap_or(cores).min(tasks),
    };
    n.max(1)
}

fn run_cells(
    config: LabConfig,
    base_url: Option<&str>,
    cancel: &CancellationToken,
) -> Result<LabReport, LabError> {
    let cores = cores();
    let python = if config.python {
        PythonStatus::probe()
    } else {
        PythonStatus::NotRequested
    };
    let mut report = LabReport {
        config: config.clone(),
        cores,
        cells: Vec::new(),
        python: python.clone(),
        interrupted: false,
    };
    let mut runtimes = vec![(Runtime::Rust, &Model::RUST[..])];
    let script = match &python {
        PythonStatus::Ran { .. } => {
            let script = python::Script::write().map_err(|e| LabError::Worker {
                workload: "python",
                model: "any",
                reason: format!("cannot write the Python script: {e}"),
            })?;
            runtimes.push((Runtime::Python, &Model::PYTHON[..]));
            Some(script)
        }
        _ => None,
    };
    'all: for (runtime, models) in runtimes {
        for &workload in &config.workloads {
            let tasks = tasks(&config, workload, base_url, runtime == Runtime::Python);
            let durations = waits(&config, workload, &tasks);
            let mut sequential_wall = None;
            for &model in models {
                if cancel.is_cancelled() {
                    report.interrupted = true;
                    break 'all;
                }
                let job = Job {
                    workload,
                    model,
                    workers: workers(&config, model, tasks.len(), cores),
                    tasks: tasks.clone(),
                };
                let command = match (runtime, &script) {
                    (Runtime::Python, Some(script)) => script.command(),
                    _ => {
                        let mut command = Command::new(&config.exe);
                        command.arg(worker::WORKER_COMMAND);
                        command
                    }
                };
                let output = match run_job(command, &job, cancel) {
                    Ok(Some(output)) => output,
                    Ok(None) => {
                        report.interrupted = true;
                        break 'all;
                    }
                    Err(reason) => {
                        // Ctrl-C reaches the workers too: a worker killed by it is an
                        // interruption, once the signal handler has had a moment to say so.
                        std::thread::sleep(Duration::from_millis(100));
                        if cancel.is_cancelled() {
                            report.interrupted = true;
                            break 'all;
                        }
                        return Err(LabError::Worker {
                            workload: workload.as_str(),
                            model: model.as_str(),
                            reason,
                        });
                    }
                };
                if cancel.is_cancelled() {
                    report.interrupted = true;
                    break 'all;
                }
                let wall = Duration::from_secs_f64(output.wall.max(0.0));
                if model == Model::Sequential && output.error.is_none() {
                    sequential_wall = Some(wall);
                }
                let ideal = match &durations {
                    Some(durations) => Some(ideal_wait(durations, model, job.workers)),
                    None => sequential_wall.map(|s| {
                        let lanes = if model.is_parallel() {
                            job.workers.min(cores).min(tasks.len()).max(1)
                        } else {
                            1
                        };
                        s / u32::try_from(lanes).unwrap_or(1)
                    }),
                };
                report.cells.push(cell(runtime, &job, output, ideal));
            }
        }
    }
    Ok(report)
}

/// How long each task of a waiting workload waits, for the ideal times; `None` for cpu.
fn waits(config: &LabConfig, workload: Workload, tasks: &[Task]) -> Option<Vec<Duration>> {
    match workload {
        Workload::Cpu => None,
        Workload::Http => Some(vec![config.latency.mean(); tasks.len()]),
        Workload::Sleep => Some(
            tasks
                .iter()
                .map(|t| match t {
                    Task::Sleep(secs) => Duration::from_secs_f64(*secs),
                    _ => Duration::ZERO,
                })
                .collect(),
        ),
    }
}

/// The wall time of waits with zero overhead: sequential sums them; processes take
/// round-robin shares; a pool hands the next wait to the first free thread.
pub fn ideal_wait(waits: &[Duration], model: Model, workers: usize) -> Duration {
    let lanes = match model {
        Model::Sequential => 1,
        Model::Async | Model::AsyncMt => waits.len(),
        Model::Threads | Model::Processes => workers,
    }
    .max(1);
    let mut busy = vec![Duration::ZERO; lanes];
    for (i, &wait) in waits.iter().enumerate() {
        let lane = if model == Model::Processes {
            i % lanes
        } else {
            (0..lanes).min_by_key(|&l| busy[l]).unwrap_or(0)
        };
        busy[lane] += wait;
    }
    busy.into_iter().max().unwrap_or_default()
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
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
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

fn cell(runtime: Runtime, job: &Job, output: JobOutput, ideal: Option<Duration>) -> LabCell {
    let offset = |t: f64| Duration::from_secs_f64((t - output.t0).max(0.0));
    let spans = output
        .tasks
        .iter()
        .zip(&job.tasks)
        .map(|(times, task)| Span {
            label: task.label(),
            start: offset(times.start),
            first_byte: times.first_byte.map(offset),
            end: offset(times.end),
        })
        .collect();
    LabCell {
        runtime,
        workload: job.workload,
        model: job.model,
        engine: output.engine,
        workers: job.workers,
        tasks: job.tasks.len(),
        wall: Duration::from_secs_f64(output.wall.max(0.0)),
        cpu: Duration::from_secs_f64(output.cpu.max(0.0)),
        peak_rss_kib: output.peak_rss_kib,
        ideal: ideal.filter(|_| output.error.is_none()),
        timeline: Timeline::new(spans),
        error: output.error,
    }
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
}
