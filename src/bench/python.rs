//! `gather bench --python`: the seeds' own code, `python/xkcd.py` (compiled into the binary), on
//! the same comics from the same server as gather's runs: a loop of blocking requests, and
//! `asyncio.gather` with aiohttp. Each comic is saved to a file, as the seed does.
//!
//! Without `python3` or aiohttp the runs say why, and the bench goes on.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Mode;
use super::lab::PythonStatus;
use crate::timeline::{Span, Timeline};

/// The bundled script.
const SCRIPT: &str = include_str!("../../python/xkcd.py");

/// The interpreter, as [`PythonStatus::probe`] looks for it.
const PYTHON: &str = "python3";

/// Python's runs of the xkcd job, beside gather's.
#[derive(Debug, Clone)]
pub struct PythonRuns {
    /// The interpreter's version (e.g. `3.11.7`), when there is a usable `python3`.
    pub version: Option<String>,
    /// One per run gather made, in the same order.
    pub runs: Vec<PythonRun>,
}

/// One of Python's runs, or why it did not run.
#[derive(Debug, Clone)]
pub struct PythonRun {
    /// How it fetched: a loop of blocking requests, or `asyncio.gather`.
    pub mode: Mode,
    /// Downloads at once (aiohttp's connection limit in the concurrent run).
    pub concurrency: usize,
    /// The HTTP client: `requests 2.32.3`, `urllib.request` or `aiohttp 3.9.5`; empty when
    /// Python did not say.
    pub client: String,
    /// The wall time, when it ran.
    pub wall: Option<Duration>,
    /// Comics saved.
    pub ok: u64,
    /// Comics that failed.
    pub failed: u64,
    /// Why it did not run (no `python3`, no aiohttp), or its first failed comic.
    pub error: Option<String>,
    /// The wall time with zero overhead, when the latency is known.
    pub ideal: Option<Duration>,
    /// Each request's span, from its start to the end of its file.
    pub timeline: Timeline,
}

impl PythonRun {
    /// A run that did not happen, and why.
    fn not_run((mode, concurrency, ideal): (Mode, usize, Option<Duration>), reason: &str) -> Self {
        Self {
            mode,
            concurrency,
            client: String::new(),
            wall: None,
            ok: 0,
            failed: 0,
            error: Some(reason.to_owned()),
            ideal,
            timeline: Timeline::default(),
        }
    }

    /// Comics per second, when it ran.
    pub fn requests_per_sec(&self) -> Option<f64> {
        let wall = self.wall?.as_secs_f64();
        (wall > 0.0).then(|| (self.ok + self.failed) as f64 / wall)
    }
}

impl PythonRuns {
    /// How many times faster than Python's own sequential run `run` was.
    pub fn speedup(&self, run: &PythonRun) -> Option<f64> {
        let sequential = self.runs.iter().find(|r| r.mode == Mode::Sequential)?;
        let wall = run.wall?.as_secs_f64();
        (wall > 0.0).then(|| sequential.wall.map(|s| s.as_secs_f64() / wall))?
    }
}

/// What Python is asked to do.
pub(super) struct PythonJob<'a> {
    /// The comics: id and URL.
    pub comics: Vec<(u64, String)>,
    /// The runs, as gather made them: mode, concurrency and ideal.
    pub runs: Vec<(Mode, usize, Option<Duration>)>,
    /// A directory for the script and the files.
    pub dir: &'a Path,
}

/// The job as the script reads it.
#[derive(serde::Serialize)]
struct JobInput<'a> {
    comics: &'a [(u64, String)],
    out: &'a Path,
    runs: Vec<Mode>,
    concurrency: usize,
}

/// The script's answer.
#[derive(serde::Deserialize)]
struct Output {
    python: String,
    runs: Vec<RunOutput>,
}

#[derive(serde::Deserialize)]
struct RunOutput {
    #[serde(default)]
    client: String,
    #[serde(default)]
    t0: f64,
    wall: Option<f64>,
    #[serde(default)]
    ok: u64,
    #[serde(default)]
    failed: u64,
    error: Option<String>,
    first_error: Option<String>,
    /// `[comic id, start, end, ok]`, in unix seconds.
    #[serde(default)]
    requests: Vec<(u64, f64, f64, bool)>,
}

/// Runs the script on `job`. `None` when `cancel` stopped it (the interpreter is killed).
pub(super) async fn run(job: PythonJob<'_>, cancel: &CancellationToken) -> Option<PythonRuns> {
    let not_run = |reason: &str, version: Option<String>| PythonRuns {
        version,
        runs: job
            .runs
            .iter()
            .map(|&run| PythonRun::not_run(run, reason))
            .collect(),
    };
    let version = match tokio::task::spawn_blocking(PythonStatus::probe).await {
        Ok(PythonStatus::Ran { version, .. }) => version,
        Ok(PythonStatus::Missing(reason)) => return Some(not_run(&reason, None)),
        Ok(PythonStatus::NotRequested) | Err(_) => {
            return Some(not_run("cannot probe python3", None));
        }
    };
    let concurrency = job
        .runs
        .iter()
        .find(|r| r.0 == Mode::Concurrent)
        .map_or(1, |r| r.1);
    let input = JobInput {
        comics: &job.comics,
        out: &job.dir.join("python"),
        runs: job.runs.iter().map(|r| r.0).collect(),
        concurrency,
    };
    let input = match serde_json::to_vec(&input) {
        Ok(input) => input,
        Err(e) => return Some(not_run(&e.to_string(), Some(version))),
    };
    let script = job.dir.join("xkcd.py");
    if let Err(e) = std::fs::write(&script, SCRIPT) {
        let reason = format!("cannot write {}: {e}", script.display());
        return Some(not_run(&reason, Some(version)));
    }
    let watch = cancel.clone();
    let answer = match tokio::task::spawn_blocking(move || interpret(&script, &input, &watch)).await
    {
        Ok(answer) => answer?,
        Err(e) => Err(e.to_string()),
    };
    let output = match answer {
        Ok(output) => output,
        Err(reason) => return Some(not_run(&reason, Some(version))),
    };
    let urls: HashMap<u64, &str> = job
        .comics
        .iter()
        .map(|(id, url)| (*id, url.as_str()))
        .collect();
    let mut runs = Vec::with_capacity(job.runs.len());
    for (i, &(mode, concurrency, ideal)) in job.runs.iter().enumerate() {
        let Some(out) = output.runs.get(i) else {
            let reason = "the script did not report this run";
            runs.push(PythonRun::not_run((mode, concurrency, ideal), reason));
            continue;
        };
        let offset = |t: f64| Duration::try_from_secs_f64(t - out.t0).unwrap_or_default();
        let spans = out
            .requests
            .iter()
            .map(|&(id, start, end, _)| Span {
                label: urls
                    .get(&id)
                    .map_or_else(|| id.to_string(), |u| (*u).to_owned()),
                start: offset(start),
                first_byte: None,
                end: offset(end),
                ..Span::default()
            })
            .collect();
        runs.push(PythonRun {
            mode,
            concurrency,
            client: out.client.clone(),
            wall: out.wall.and_then(|w| Duration::try_from_secs_f64(w).ok()),
            ok: out.ok,
            failed: out.failed,
            error: out.error.clone().or_else(|| out.first_error.clone()),
            ideal,
            timeline: Timeline::new(spans),
        });
    }
    Some(PythonRuns {
        version: Some(output.python),
        runs,
    })
}

/// Runs `python3 script` with `input` on stdin and reads its answer. `None` when `cancel`
/// stopped it: the interpreter is killed.
fn interpret(
    script: &Path,
    input: &[u8],
    cancel: &CancellationToken,
) -> Option<Result<Output, String>> {
    let mut child = match Command::new(PYTHON)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => return Some(Err(format!("cannot run {PYTHON}: {e}"))),
    };
    // Read both pipes on threads of their own, so that a long answer never blocks Python while
    // this thread watches for a cancel.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows as Python's own error below.
        let _ = stdin.write_all(input);
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if cancel.is_cancelled() => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Some(Err(format!("cannot wait for {PYTHON}: {e}"))),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let last = stderr.trim().lines().last().unwrap_or_default();
        return Some(Err(format!("{PYTHON} failed ({status}): {last}")));
    }
    Some(serde_json::from_slice(&stdout).map_err(|e| {
        format!(
            "{PYTHON}'s answer is not the script's ({e}): {}",
            String::from_utf8_lossy(&stdout).trim()
        )
    }))
}
