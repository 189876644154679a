//! The seeds' lesson demos, timed on this machine for the deck: three sleeps awaited in turn
//! and gathered, `count()` with async and blocking sleeps, `create_task` ordering, `wait_for`
//! timing out, and three search pages fetched in turn and gathered, from the built-in server.
//!
//! Each demo runs in Rust (the code of the twins in `examples/`, on a single-threaded tokio
//! runtime, asyncio's analogue) and in Python (the seeds' code, `python/lessons.py`, compiled
//! into the binary), every wait multiplied by [`LessonConfig::scale`], each demo
//! [`LessonConfig::runs`] times. What comes back is every run's wall time and the lines the demo
//! printed, each with when. Nothing here prints or draws (see `report/`).

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::fetch::{ClientConfig, build_client};
use crate::serve::{Latency, ServeConfig, Server};

/// The bundled Python script.
const SCRIPT: &str = include_str!("../../python/lessons.py");

/// The default [`LessonConfig::scale`]: a second in the code takes 100 ms.
pub const DEFAULT_SCALE: f64 = 0.1;

/// How long one search page takes the built-in server, in the code's seconds (scaled like
/// every other wait).
pub const SEARCH_LATENCY: f64 = 1.0;

/// The names searched for, as in the seed.
pub const NAMES: [&str; 3] = ["Yash", "KOSS", "Your Name"];

/// A validated lessons run.
#[derive(Debug, Clone)]
pub struct LessonConfig {
    /// Every wait in the demos is multiplied by this (1 for the seeds' real seconds).
    pub scale: f64,
    /// Times each demo runs.
    pub runs: usize,
}

impl Default for LessonConfig {
    fn default() -> Self {
        Self {
            scale: DEFAULT_SCALE,
            runs: 3,
        }
    }
}

/// One demo, in the order the deck tells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Demo {
    /// `sleep_coro(1)`, `(2)`, `(3)` awaited one after another.
    SleepInTurn,
    /// The same three passed to `asyncio.gather` / `tokio::join!`.
    SleepGathered,
    /// Three `count()`s gathered: "one" ×3, a second, "two" ×3.
    CountAsync,
    /// Three blocking counts in a loop: "one two" ×3.
    CountBlocking,
    /// `create_task`, a print, then await the task: the task runs when main waits.
    TaskPrintFirst,
    /// `create_task`, then main sleeps: the task runs meanwhile.
    TaskSleepFirst,
    /// `wait_for` a 5 s task with a 3 s limit: timed out at 3 s.
    WaitForTimeout,
    /// `wait_for` a 1 s task with a 3 s limit: done at 1 s.
    WaitForInTime,
    /// Three search pages fetched one after another.
    SearchInTurn,
    /// Three search pages gathered.
    SearchGathered,
}

impl Demo {
    /// Every demo.
    pub const ALL: [Demo; 10] = [
        Demo::SleepInTurn,
        Demo::SleepGathered,
        Demo::CountAsync,
        Demo::CountBlocking,
        Demo::TaskPrintFirst,
        Demo::TaskSleepFirst,
        Demo::WaitForTimeout,
        Demo::WaitForInTime,
        Demo::SearchInTurn,
        Demo::SearchGathered,
    ];

    /// Its name in the Python script's output: `sleep.in_turn` and so on.
    pub fn key(self) -> &'static str {
        match self {
            Demo::SleepInTurn => "sleep.in_turn",
            Demo::SleepGathered => "sleep.gathered",
            Demo::CountAsync => "count.async",
            Demo::CountBlocking => "count.blocking",
            Demo::TaskPrintFirst => "task.print_first",
            Demo::TaskSleepFirst => "task.sleep_first",
            Demo::WaitForTimeout => "wait_for.timeout",
            Demo::WaitForInTime => "wait_for.in_time",
            Demo::SearchInTurn => "search.in_turn",
            Demo::SearchGathered => "search.gathered",
        }
    }
}

/// A line a demo printed, and when (since the demo started).
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// When it was printed.
    pub at: Duration,
    /// What.
    pub text: String,
}

/// One run of a demo.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its wall time.
    pub wall: Duration,
    /// What it printed.
    pub lines: Vec<Line>,
}

/// A demo's runs in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Which demo.
    pub demo: Demo,
    /// The wall time with zero overhead: the code's waits, scaled.
    pub expected: Option<Duration>,
    /// Every run that finished.
    pub runs: Vec<Run>,
    /// Why it did not run, if it did not.
    pub error: Option<String>,
}

impl Measured {
    /// The run with the median wall time (the lower middle one of an even count).
    pub fn median_run(&self) -> Option<&Run> {
        let mut runs: Vec<&Run> = self.runs.iter().collect();
        runs.sort_by_key(|r| r.wall);
        runs.get(runs.len().saturating_sub(1) / 2).copied()
    }

    /// The shortest and longest wall times.
    pub fn range(&self) -> Option<(Duration, Duration)> {
        let walls = self.runs.iter().map(|r| r.wall);
        Some((walls.clone().min()?, walls.max()?))
    }
}

/// The demos in one language.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonSide {
    /// `rust` or `python`.
    pub language: &'static str,
    /// What ran them, e.g. `("python", "3.11.7")`, `("aiohttp", "3.9.1")`, `("tokio", "1.47.1")`.
    pub versions: Vec<(String, String)>,
    /// Every demo it ran.
    pub demos: Vec<Measured>,
    /// Why this language did not run at all, if it did not.
    pub missing: Option<String>,
}

impl LessonSide {
    /// Its runs of `demo`, if it ran it.
    pub fn demo(&self, demo: Demo) -> Option<&Measured> {
        self.demos.iter().find(|m| m.demo == demo)
    }
}

/// What the lessons measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LessonReport {
    /// The scale every wait ran at.
    pub scale: f64,
    /// Runs per demo.
    pub runs: usize,
    /// The server's latency for one search page.
    pub search_latency: Duration,
    /// Python first (the seeds' language), then Rust.
    pub sides: Vec<LessonSide>,
    /// Whether Ctrl-C cut the lessons short.
    pub interrupted: bool,
}

/// Why the lessons could not run.
#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    /// The built-in server did not start or stop.
    #[error("cannot run the built-in server for the search demo: {0}")]
    Server(std::io::Error),
    /// A runner thread was lost.
    #[error("the lessons stopped unexpectedly")]
    Join(#[from] tokio::task::JoinError),
}

/// The version of dependency `name` this binary was built with, from its `Cargo.lock`.
pub fn locked_version(name: &str) -> Option<&'static str> {
    const LOCK: &str = include_str!("../../Cargo.lock");
    let entry = format!("name = \"{name}\"\nversion = \"");
    let start = LOCK.find(&entry)? + entry.len();
    LOCK[start..].split('"').next()
}

/// Runs every demo in Rust and, when `python3` is there, in Python.
pub async fn run(
    config: LessonConfig,
    cancel: CancellationToken,
) -> Result<LessonReport, LessonError> {
    let search_latency = secs(config.scale, SEARCH_LATENCY);
    let server = Server::start(ServeConfig {
        latency: Latency::Fixed(search_latency),
        ..ServeConfig::default()
    })
    .await
    .map_err(LessonError::Server)?;
    let search = format!("{}/search?q=", server.base_url());
    let rust = {
        let (config, search, cancel) = (config.clone(), search.clone(), cancel.clone());
        tokio::task::spawn_blocking(move || rust_side(&config, &search, &cancel)).await?
    };
    let python = {
        let (config, search, cancel) = (config.clone(), search.clone(), cancel.clone());
        tokio::task::spawn_blocking(move || python_side(&config, &search, &cancel)).await?
    };
    server.stop().await.map_err(LessonError::Server)?;
    let mut sides = vec![python, rust];
    for side in &mut sides {
        for measured in &mut side.demos {
            if matches!(measured.demo, Demo::SearchInTurn) {
                measured.expected = Some(search_latency * 3);
            } else if matches!(measured.demo, Demo::SearchGathered) {
                measured.expected = Some(search_latency);
            }
        }
    }
    Ok(LessonReport {
        scale: config.scale,
        runs: config.runs,
        search_latency,
        sides,
        interrupted: cancel.is_cancelled(),
    })
}

/// `seconds` of the code's time at `scale`.
fn secs(scale: f64, seconds: f64) -> Duration {
    Duration::try_from_secs_f64(seconds * scale).unwrap_or_default()
}

/// What a Rust demo needs: the scale, and where its lines go.
#[derive(Clone)]
struct Lesson {
    scale: f64,
    start: Instant,
    lines: Arc<Mutex<Vec<Line>>>,
}

impl Lesson {
    fn new(scale: f64) -> Self {
        Self {
            scale,
            start: Instant::now(),
            lines: Arc::default(),
        }
    }

    /// `println!`, recorded with its time.
    fn say(&self, text: impl Into<String>) {
        let line = Line {
            at: self.start.elapsed(),
            text: text.into(),
        };
        self.lines
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line);
    }

    /// `seconds` of the code's time.
    fn secs(&self, seconds: f64) -> Duration {
        secs(self.scale, seconds)
    }

    /// `tokio::time::sleep` for `seconds` of the code's time.
    async fn sleep(&self, seconds: f64) {
        tokio::time::sleep(self.secs(seconds)).await;
    }

    fn finish(self) -> Run {
        let wall = self.start.elapsed();
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()));
        Run { wall, lines }
    }
}

// The demos below are examples/sleep_gather.rs, count.rs, spawn_order.rs, timeout.rs and
// search_pages.rs (the code the slides show), with `println!` recorded and every wait scaled.

async fn sleep_coro(l: &Lesson, seconds: f64) {
    l.sleep(seconds).await;
}

async fn count(l: &Lesson) {
    l.say("one");
    l.sleep(1.0).await;
    l.say("two");
}

async fn foo(l: Lesson, text: &'static str) {
    l.say(text);
    l.sleep(0.2).await;
}

async fn long_running_task(l: &Lesson, seconds: f64) -> &'static str {
    l.sleep(seconds).await;
    "Task completed"
}

async fn fetch(client: &reqwest::Client, search: &str, name: &str) -> Result<String, String> {
    let response = client
        .get(format!("{search}{name}"))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?;
    response.text().await.map_err(|e| e.to_string())
}

/// One run of `demo` in Rust, on `runtime`.
fn rust_demo(
    demo: Demo,
    scale: f64,
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    search: &str,
) -> Result<Run, String> {
    let l = Lesson::new(scale);
    runtime.block_on(async {
        match demo {
            Demo::SleepInTurn => {
                let (one, two, three) = (
                    sleep_coro(&l, 1.0),
                    sleep_coro(&l, 2.0),
                    sleep_coro(&l, 3.0),
                );
                one.await;
                two.await;
                three.await;
            }
            Demo::SleepGathered => {
                tokio::join!(
                    sleep_coro(&l, 1.0),
                    sleep_coro(&l, 2.0),
                    sleep_coro(&l, 3.0)
                );
            }
            Demo::CountAsync => {
                tokio::join!(count(&l), count(&l), count(&l));
            }
            Demo::CountBlocking => {
                for _ in 0..3 {
                    l.say("one");
                    std::thread::sleep(l.secs(1.0));
                    l.say("two");
                }
            }
            Demo::TaskPrintFirst => {
                l.say("I am Main");
                let task = tokio::spawn(foo(l.clone(), "I am foo"));
                l.say("finished");
                task.await.map_err(|e| e.to_string())?;
            }
            Demo::TaskSleepFirst => {
                l.say("I am Main");
                let task = tokio::spawn(foo(l.clone(), "I am foo"));
                l.sleep(0.5).await;
                l.say("finished");
                task.await.map_err(|e| e.to_string())?;
            }
            Demo::WaitForTimeout | Demo::WaitForInTime => {
                let seconds = if demo == Demo::WaitForTimeout {
                    5.0
                } else {
                    1.0
                };
                match tokio::time::timeout(l.secs(3.0), long_running_task(&l, seconds)).await {
                    Ok(result) => l.say(result),
                    Err(_) => l.say("Task timed out!"),
                }
            }
            Demo::SearchInTurn => {
                for name in NAMES {
                    fetch(client, search, name).await?;
                }
            }
            Demo::SearchGathered => {
                let pages =
                    futures::future::join_all(NAMES.map(|name| fetch(client, search, name))).await;
                pages.into_iter().collect::<Result<Vec<_>, _>>()?;
            }
        }
        Ok::<(), String>(())
    })?;
    Ok(l.finish())
}

/// The zero-overhead wall time of a Rust demo: the waits of its code, scaled. (The search
/// demos' depend on the server and are set by [`run`].)
fn rust_expected(demo: Demo, scale: f64) -> Option<Duration> {
    let seconds = match demo {
        Demo::SleepInTurn => 6.0,
        Demo::SleepGathered | Demo::CountBlocking | Demo::WaitForTimeout => 3.0,
        Demo::CountAsync | Demo::WaitForInTime => 1.0,
        Demo::TaskPrintFirst => 0.2,
        Demo::TaskSleepFirst => 0.5,
        Demo::SearchInTurn | Demo::SearchGathered => return None,
    };
    Some(secs(scale, seconds))
}

fn rust_side(config: &LessonConfig, search: &str, cancel: &CancellationToken) -> LessonSide {
    let mut side = LessonSide {
        language: "rust",
        versions: ["tokio", "reqwest"]
            .iter()
            .filter_map(|name| Some(((*name).to_owned(), locked_version(name)?.to_owned())))
            .collect(),
        demos: Vec::new(),
        missing: None,
    };
    // One thread, one event loop: asyncio's shape.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let client = build_client(&ClientConfig::default());
    let (runtime, client) = match (runtime, client) {
        (Ok(runtime), Ok(client)) => (runtime, client),
        (Err(e), _) => {
            side.missing = Some(format!("cannot start a tokio runtime: {e}"));
            return side;
        }
        (_, Err(e)) => {
            side.missing = Some(format!("cannot build the HTTP client: {e}"));
            return side;
        }
    };
    side.demos = Demo::ALL
        .iter()
        .map(|&demo| Measured {
            demo,
            expected: rust_expected(demo, config.scale),
            runs: Vec::new(),
            error: None,
        })
        .collect();
    // Runs interleaved: the first run of every demo, then the second, so that a slow moment
    // of the machine does not fall on one demo's runs alone.
    for _ in 0..config.runs {
        for measured in &mut side.demos {
            if cancel.is_cancelled() {
                return side;
            }
            match rust_demo(measured.demo, config.scale, &runtime, &client, search) {
                Ok(run) => measured.runs.push(run),
                Err(e) => measured.error = Some(e),
            }
        }
    }
    side
}

/// The Python script's answer.
#[derive(Debug, Deserialize)]
struct PythonOutput {
    versions: std::collections::BTreeMap<String, String>,
    demos: std::collections::BTreeMap<String, PythonDemo>,
}

#[derive(Debug, Deserialize)]
struct PythonDemo {
    expected: Option<f64>,
    runs: Vec<PythonRun>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PythonRun {
    wall: f64,
    lines: Vec<(f64, String)>,
}

fn python_side(config: &LessonConfig, search: &str, cancel: &CancellationToken) -> LessonSide {
    let mut side = LessonSide {
        language: "python",
        versions: Vec::new(),
        demos: Vec::new(),
        missing: None,
    };
    match run_python(config, search, cancel).and_then(|out| parse_python(&out, config.scale)) {
        Ok((versions, demos)) => {
            side.versions = versions;
            side.demos = demos;
        }
        Err(e) => side.missing = Some(e),
    }
    side
}

/// Runs the script with the job on stdin; its stdout, or why not. Killed on cancel.
fn run_python(
    config: &LessonConfig,
    search: &str,
    cancel: &CancellationToken,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    let job = serde_json::json!({"scale": config.scale, "runs": config.runs, "search": search});
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(job.to_string().as_bytes())
            .map_err(|e| format!("cannot send python3 the job: {e}"))?;
    }
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_end(&mut bytes);
        }
        bytes
    });
    let mut stderr = child.stderr.take();
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(err) = stderr.as_mut() {
            let _ = err.read_to_string(&mut text);
        }
        text
    });
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if cancel.is_cancelled() {
            let _ = child.kill();
            let _ = child.wait();
            return Err("interrupted".to_owned());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = reader.join().unwrap_or_default();
    let err = errors.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("python3 failed ({status}): {}", err.trim()));
    }
    Ok(out)
}

type Parsed = (Vec<(String, String)>, Vec<Measured>);

fn parse_python(out: &[u8], scale: f64) -> Result<Parsed, String> {
    let output: PythonOutput = serde_json::from_slice(out)
        .map_err(|e| format!("the lessons script answered nonsense: {e}"))?;
    let time =
        |s: f64| Duration::try_from_secs_f64(s).map_err(|_| format!("the script reported {s} s"));
    let demos = Demo::ALL
        .iter()
        .map(|&demo| {
            let Some(found) = output.demos.get(demo.key()) else {
                return Ok(Measured {
                    demo,
                    expected: None,
                    runs: Vec::new(),
                    error: Some("the script did not run it".to_owned()),
                });
            };
            let runs = found
                .runs
                .iter()
                .map(|run| {
                    Ok(Run {
                        wall: time(run.wall)?,
                        lines: run
                            .lines
                            .iter()
                            .map(|(at, text)| {
                                Ok(Line {
                                    at: time(*at)?,
                                    text: text.clone(),
                                })
                            })
                            .collect::<Result<_, String>>()?,
                    })
                })
                .collect::<Result<_, String>>()?;
            Ok(Measured {
                demo,
                expected: found.expected.map(|s| secs(scale, s)),
                runs,
                error: found.error.clone(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok((output.versions.into_iter().collect(), demos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_names_tokio() {
        let version = locked_version("tokio").expect("tokio is locked");
        assert!(version.starts_with("1."), "{version}");
        assert_eq!(locked_version("no-such-crate"), None);
    }

    #[test]
    fn a_median_is_a_run_that_happened() {
        let run = |ms| Run {
            wall: Duration::from_millis(ms),
            lines: Vec::new(),
        };
        let measured = Measured {
            demo: Demo::CountAsync,
            expected: None,
            runs: vec![run(30), run(10), run(20), run(40)],
            error: None,
        };
        assert_eq!(
            measured.median_run().unwrap().wall,
            Duration::from_millis(20)
        );
        assert_eq!(
            measured.range(),
            Some((Duration::from_millis(10), Duration::from_millis(40)))
        );
    }

    #[test]
    fn rust_demos_print_in_the_seeds_order() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = build_client(&ClientConfig::default()).unwrap();
        let lines = |demo| -> Vec<String> {
            rust_demo(
                demo,
                0.01,
                &runtime,
                &client,
                "http://127.0.0.1:9/search?q=",
            )
            .unwrap()
            .lines
            .into_iter()
            .map(|l| l.text)
            .collect()
        };
        assert_eq!(
            lines(Demo::CountAsync),
            ["one", "one", "one", "two", "two", "two"]
        );
        assert_eq!(
            lines(Demo::CountBlocking),
            ["one", "two", "one", "two", "one", "two"]
        );
        assert_eq!(
            lines(Demo::TaskPrintFirst),
            ["I am Main", "finished", "I am foo"]
        );
        assert_eq!(
            lines(Demo::TaskSleepFirst),
            ["I am Main", "I am foo", "finished"]
        );
        assert_eq!(lines(Demo::WaitForTimeout), ["Task timed out!"]);
        assert_eq!(lines(Demo::WaitForInTime), ["Task completed"]);
        let in_turn = rust_demo(Demo::SleepInTurn, 0.01, &runtime, &client, "")
            .unwrap()
            .wall;
        assert!(
            in_turn >= Duration::from_millis(60),
            "awaited in turn, the sleeps add up: {in_turn:?}"
        );
    }
}
