//! Runs one lab [`Job`] in this process, under the job's execution model, and measures it:
//! `gather lab-worker` (hidden) reads a job on stdin and prints this module's answer.
//!
//! Clients (a `reqwest` client for the async models, a blocking `ureq` agent for the others)
//! are built before the clock starts: the lab times the work, not the setup.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::cpu::count_primes;
use super::job::{Job, JobOutput, Model, Task, TaskTimes, Workload};
use super::usage;
use crate::fetch::{ClientConfig, build_client};

/// What one task did: its times and its answer (primes, or bytes).
type TaskResult = Result<(TaskTimes, u64), String>;

/// The name of the hidden subcommand that runs a job read from stdin.
pub const WORKER_COMMAND: &str = "lab-worker";

const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `job` and reports its times. Worker processes (for [`Model::Processes`]) are started
/// from `exe`, the gather binary.
pub fn run(job: &Job, exe: &Path) -> JobOutput {
    if job.workload == Workload::Spawn {
        return spawn(job);
    }
    let clients = Clients::new(job);
    let before = usage::now();
    let t0 = unix_now();
    let start = Instant::now();
    let outcome = match job.model {
        Model::Sequential => Ok(sequential(&job.tasks, &clients)),
        Model::Async => async_current_thread(&job.tasks, &clients),
        Model::AsyncMt => async_multi_thread(&job.tasks, job.workers, &clients),
        Model::Threads => Ok(threads(&job.tasks, job.workers, &clients)),
        Model::Processes => processes(job, exe),
    };
    let wall = start.elapsed().as_secs_f64();
    let after = usage::now();
    let mut output = JobOutput {
        t0,
        wall,
        cpu: after.cpu.saturating_sub(before.cpu).as_secs_f64(),
        peak_rss_kib: after.peak_rss_kib,
        engine: engine(job.model, job.workers).to_owned(),
        version: Some(version()),
        ..JobOutput::default()
    };
    match outcome {
        Ok(Finished {
            results,
            extra_rss_kib,
        }) => {
            output.peak_rss_kib += extra_rss_kib;
            for result in results {
                match result {
                    Ok((times, answer)) => {
                        output.tasks.push(times);
                        output.result += answer;
                    }
                    Err(e) => {
                        output.error.get_or_insert(e);
                    }
                }
            }
        }
        Err(e) => output.error = Some(e),
    }
    output
}

/// gather's version and the async runtime it runs on, for the lab's version list.
fn version() -> String {
    format!("gather {}, tokio 1", env!("CARGO_PKG_VERSION"))
}

/// The index of the thread this runs on among the threads of this process that ran a task,
/// from 0 in the order they first did: which lane a task ran in.
fn thread_index() -> u64 {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    INDEX.with(|i| *i as u64)
}

/// Counts the primes of a task, with the CPU time this thread spent on it.
fn primes(from: u64, to: u64) -> (u64, Option<f64>) {
    let before = usage::thread_cpu();
    let count = count_primes(from, to);
    let cpu = usage::thread_cpu()
        .zip(before)
        .map(|(after, before)| after.saturating_sub(before).as_secs_f64());
    (count, cpu)
}

/// What runs each model, for the table.
pub(crate) fn engine(model: Model, workers: usize) -> String {
    match model {
        Model::Sequential => "one thread, blocking calls".to_owned(),
        Model::Async => "tokio current_thread".to_owned(),
        Model::AsyncMt => format!("tokio multi_thread, {workers} workers"),
        Model::Threads => format!("{workers} OS threads"),
        Model::Processes => format!("{workers} processes"),
    }
}

/// The tasks' results in task order, and the peak memory of worker processes.
struct Finished {
    results: Vec<TaskResult>,
    extra_rss_kib: u64,
}

impl From<Vec<TaskResult>> for Finished {
    fn from(results: Vec<TaskResult>) -> Self {
        Self {
            results,
            extra_rss_kib: 0,
        }
    }
}

/// The HTTP clients a job needs, built before it is timed.
struct Clients {
    blocking: Option<ureq::Agent>,
    reqwest: Option<Result<reqwest::Client, String>>,
}

impl Clients {
    fn new(job: &Job) -> Self {
        if job.workload != Workload::Http {
            return Self {
                blocking: None,
                reqwest: None,
            };
        }
        let per_host = job.tasks.len().max(1);
        match job.model {
            Model::Async | Model::AsyncMt => Self {
                blocking: None,
                reqwest: Some(
                    build_client(&ClientConfig {
                        max_time: Some(HTTP_TIMEOUT),
                        pool_per_host: per_host,
                        ..ClientConfig::default()
                    })
                    .map_err(|e| format!("cannot build the HTTP client: {e}")),
                ),
            },
            _ => Self {
                blocking: Some(
                    ureq::Agent::config_builder()
                        .timeout_global(Some(HTTP_TIMEOUT))
                        .max_idle_connections_per_host(per_host)
                        .max_idle_connections(per_host)
                        .build()
                        .into(),
                ),
                reqwest: None,
            },
        }
    }

    fn async_client(&self) -> Result<Option<reqwest::Client>, String> {
        self.reqwest.clone().transpose()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// A sleep task's wait: refused when negative, not a number or beyond a `Duration`.
fn sleep_time(secs: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs).map_err(|_| format!("cannot sleep {secs} s"))
}

/// Runs one task, blocking the thread while it waits.
fn blocking_task(task: &Task, agent: Option<&ureq::Agent>) -> TaskResult {
    let start = unix_now();
    let mut cpu = None;
    let (first_byte, answer) = match task {
        Task::Sleep(secs) => {
            std::thread::sleep(sleep_time(*secs)?);
            (None, 0)
        }
        Task::Primes(from, to) => {
            let (count, used) = primes(*from, *to);
            cpu = used;
            (None, count)
        }
        Task::Url(url) => {
            let agent = agent.ok_or("no HTTP client for an HTTP task")?;
            let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
            let first_byte = unix_now();
            let body = response
                .body_mut()
                .read_to_vec()
                .map_err(|e| format!("{url}: {e}"))?;
            (Some(first_byte), body.len() as u64)
        }
    };
    let times = TaskTimes {
        start,
        first_byte,
        end: unix_now(),
        cpu,
        worker: Some(thread_index()),
    };
    Ok((times, answer))
}

/// Runs one task as a future. CPU work runs inline: it never yields, as in a coroutine.
async fn async_task(task: Task, client: Option<reqwest::Client>) -> TaskResult {
    let start = unix_now();
    let mut cpu = None;
    let (first_byte, answer) = match &task {
        Task::Sleep(secs) => {
            tokio::time::sleep(sleep_time(*secs)?).await;
            (None, 0)
        }
        Task::Primes(from, to) => {
            let (count, used) = primes(*from, *to);
            cpu = used;
            (None, count)
        }
        Task::Url(url) => {
            let client = client.ok_or("no HTTP client for an HTTP task")?;
            let fail = |e: reqwest::Error| format!("{url}: {e}");
            let response = client
                .get(url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(fail)?;
            let first_byte = unix_now();
            let body = response.bytes().await.map_err(fail)?;
            (Some(first_byte), body.len() as u64)
        }
    };
    let times = TaskTimes {
        start,
        first_byte,
        end: unix_now(),
        cpu,
        worker: Some(thread_index()),
    };
    Ok((times, answer))
}

fn sequential(tasks: &[Task], clients: &Clients) -> Finished {
    tasks
        .iter()
        .map(|task| blocking_task(task, clients.blocking.as_ref()))
        .collect::<Vec<_>>()
        .into()
}

fn async_current_thread(tasks: &[Task], clients: &Clients) -> Result<Finished, String> {
    let client = clients.async_client()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    // Like asyncio.gather: one task drives every future, on one thread.
    let futures = tasks.iter().map(|t| async_task(t.clone(), client.clone()));
    Ok(runtime.block_on(futures::future::join_all(futures)).into())
}

fn async_multi_thread(
    tasks: &[Task],
    workers: usize,
    clients: &Clients,
) -> Result<Finished, String> {
    let client = clients.async_client()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let results = runtime.block_on(async {
        // Spawned, so that the scheduler may run them on any worker thread.
        let handles: Vec<_> = tasks
            .iter()
            .map(|t| tokio::spawn(async_task(t.clone(), client.clone())))
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for handle in handles {
            results.push(
                handle
                    .await
                    .unwrap_or_else(|e| Err(format!("task failed: {e}"))),
            );
        }
        results
    });
    Ok(results.into())
}

fn threads(tasks: &[Task], workers: usize, clients: &Clients) -> Finished {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<TaskResult>>> = Mutex::new(vec![None; tasks.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, tasks.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(task) = tasks.get(i) else { break };
                    let result = blocking_task(task, clients.blocking.as_ref());
                    if let Ok(mut results) = results.lock() {
                        results[i] = Some(result);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("a thread ended without a result".to_owned())))
        .collect::<Vec<_>>()
        .into()
}

/// Makes a child started by the lab die with the thread that started it (Linux:
/// `PR_SET_PDEATHSIG`), so that a lab killed outright leaves no workers behind. The lab's own
/// cancel path kills and reaps its children; this covers the paths it cannot (SIGKILL).
pub(crate) fn die_with_parent(command: &mut Command) {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
        // SAFETY: the closure runs between fork and exec and calls only prctl(2) and
        // getppid(2), which are async-signal-safe; it touches no memory of the parent.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The parent may have died before the prctl: then nothing would signal us.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other(
                        "the lab ended before its worker started",
                    ));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

/// The worker processes of one `processes` job. Dropping it kills and reaps every child still
/// held, so that an early return (a worker that failed, a pipe that broke) leaves none running.
struct Children(Vec<Option<Child>>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in self.0.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Splits the tasks round-robin into `workers` shares, runs each share sequentially in its own
/// `gather lab-worker` process, and puts the results back in task order.
fn processes(job: &Job, exe: &Path) -> Result<Finished, String> {
    let workers = job.workers.clamp(1, job.tasks.len().max(1));
    let mut children = Children(Vec::with_capacity(workers));
    for w in 0..workers {
        let share = Job {
            workload: job.workload,
            model: Model::Sequential,
            workers: 1,
            tasks: job.tasks.iter().skip(w).step_by(workers).cloned().collect(),
            count: None,
        };
        let mut command = Command::new(exe);
        command
            .arg(WORKER_COMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = child.stdin.take();
        children.0.push(Some(child));
        let input = serde_json::to_vec(&share).map_err(|e| e.to_string())?;
        if let Some(mut stdin) = stdin {
            stdin
                .write_all(&input)
                .map_err(|e| format!("cannot send a worker its job: {e}"))?;
        }
    }
    let mut results: Vec<TaskResult> = vec![Err("no result".to_owned()); job.tasks.len()];
    let mut extra_rss_kib = 0;
    for w in 0..workers {
        let Some(child) = children.0.get_mut(w).and_then(Option::take) else {
            continue;
        };
        let output = child
            .wait_with_output()
            .map_err(|e| format!("worker {w}: {e}"))?;
        if !output.status.success() {
            return Err(format!("worker {w} failed: {}", output.status));
        }
        let answer: JobOutput = serde_json::from_slice(&output.stdout)
            .map_err(|e| format!("worker {w} answered badly: {e}"))?;
        if let Some(error) = answer.error {
            return Err(error);
        }
        let share_len = job.tasks.iter().skip(w).step_by(workers).count();
        if answer.tasks.len() != share_len {
            return Err(format!(
                "worker {w} timed {} tasks of its {share_len}",
                answer.tasks.len()
            ));
        }
        extra_rss_kib += answer.peak_rss_kib;
        // The share's tasks were w, w + workers, ...; its answer per task is not split, so the
        // whole answer goes to its first task.
        let mut answer_left = answer.result;
        for (k, mut times) in answer.tasks.into_iter().enumerate() {
            times.worker = Some(w as u64);
            if let Some(slot) = results.get_mut(w + k * workers) {
                *slot = Ok((times, std::mem::take(&mut answer_left)));
            }
        }
    }
    Ok(Finished {
        results,
        extra_rss_kib,
    })
}

/// The spawn workload: `count` sleeps started at once, as tokio tasks (async) or OS threads,
/// with the resident memory before and at the peak.
fn spawn(job: &Job) -> JobOutput {
    let count = job.count.unwrap_or(0);
    let sleep = match job.tasks.first() {
        Some(Task::Sleep(secs)) => sleep_time(*secs),
        _ => Err("the spawn workload takes one sleep task".to_owned()),
    };
    let mut output = JobOutput {
        engine: match job.model {
            Model::Threads => "OS threads (std::thread)".to_owned(),
            _ => "tokio tasks, current_thread".to_owned(),
        },
        version: Some(version()),
        ..JobOutput::default()
    };
    let sleep = match sleep {
        Ok(sleep) => sleep,
        Err(e) => {
            output.error = Some(e);
            return output;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            output.error = Some(format!("cannot start the runtime: {e}"));
            return output;
        }
    };
    output.baseline_rss_kib = usage::rss_now_kib();
    output.t0 = unix_now();
    let start = Instant::now();
    let done = match job.model {
        Model::Threads => {
            let handles: Vec<_> = (0..count)
                .map_while(|_| {
                    std::thread::Builder::new()
                        .spawn(move || std::thread::sleep(sleep))
                        .ok()
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).count() as u64
        }
        _ => runtime.block_on(async {
            // Each task only sleeps and counts itself done: no handle is kept per task.
            let left = std::sync::Arc::new(AtomicUsize::new(count as usize));
            let all_done = std::sync::Arc::new(tokio::sync::Notify::new());
            for _ in 0..count {
                let (left, all_done) = (left.clone(), all_done.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(sleep).await;
                    if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                        all_done.notify_one();
                    }
                });
            }
            if count > 0 {
                all_done.notified().await;
            }
            count
        }),
    };
    output.wall = start.elapsed().as_secs_f64();
    output.peak_rss_kib = usage::now().peak_rss_kib;
    output.result = done;
    output
}
