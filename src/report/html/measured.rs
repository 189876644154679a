//! The slides of what was measured: the opening, the xkcd fetch (waterfalls, requests in
//! flight, latency), and the models (the GIL, the event loop, processes, Go, C++, JavaScript,
//! memory, speedups per workload).

use std::time::Duration;

use askama::Template;

use super::decide::{self, Compare, Estimate, GilVerdict};
use super::{DeckError, DeckInput, Figure, Slides, Timed, time_axis};
use crate::bench::lab::{LabCell, LabReport, Model, Runtime, Workload};
use crate::bench::{BenchReport, BenchRun, Mode};
use crate::report::charts::{self, Bar, Frame, Lane, Segment};
use crate::report::human_duration;
use crate::report::lab::human_memory;
use crate::timeline::{Span, Timeline, percentile};

#[derive(Template)]
#[template(path = "title.html")]
struct TitleSlide<'a> {
    machine: String,
    date: &'a str,
    command: &'a str,
}

#[derive(Template)]
#[template(path = "question.html")]
struct QuestionSlide;

#[derive(Template)]
#[template(path = "waiting.html")]
struct WaitingSlide {
    /// `(tasks, each)` of the lab's sleep workload, for the example.
    sleep: Option<(usize, String)>,
}

/// The title, the question, and waiting vs computing.
pub(super) fn opening(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let m = input.machine;
    let machine = format!(
        "{} cores · {} · {}",
        m.cores,
        m.cpu.as_deref().unwrap_or("unknown CPU"),
        m.os
    );
    slides.push(
        "title",
        &TitleSlide {
            machine,
            date: &m.date,
            command: input.command,
        },
    )?;
    slides.push("question", &QuestionSlide)?;
    let c = &input.lab.config;
    slides.push(
        "waiting",
        &WaitingSlide {
            sleep: c
                .workloads
                .contains(&Workload::Sleep)
                .then(|| (c.tasks, c.sleep.to_string())),
        },
    )
}

/// The comic number in a comic URL, `#42`, or the URL's last part.
fn comic_label(url: &str) -> String {
    let mut parts = url.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some("info.0.json"), Some(id)) => format!("#{id}"),
        (Some(last), _) => last.to_owned(),
        _ => url.to_owned(),
    }
}

/// Requests as lanes, in order of start (the first at the top), times in `factor`s of a
/// second.
fn waterfall_lanes(timeline: &Timeline, color: usize, factor: f64) -> Vec<Lane> {
    let at = |d: Duration| d.as_secs_f64() * factor;
    timeline
        .spans()
        .iter()
        .map(|span| Lane {
            label: comic_label(&span.label),
            segments: vec![Segment {
                start: at(span.start),
                end: at(span.end),
                mark: span.first_byte.map(at),
                color,
                text: None,
            }],
        })
        .collect()
}

/// How the xkcd run is named on the slides.
fn run_name(run: &BenchRun) -> String {
    match run.mode {
        Mode::Sequential => "one at a time".to_owned(),
        Mode::Concurrent => format!("{} at once", run.concurrency),
    }
}

struct XkcdRun {
    name: String,
    wall: String,
    ideal: Option<String>,
    speedup: Option<String>,
    failed: u64,
}

#[derive(Template)]
#[template(path = "xkcd.html")]
struct XkcdSlide {
    count: u64,
    builtin: bool,
    latency: Option<String>,
    target: String,
    runs: Vec<XkcdRun>,
    figures: Vec<Figure>,
}

struct Percentiles {
    name: String,
    requests: usize,
    p50: String,
    p90: String,
    p99: String,
    max: String,
}

#[derive(Template)]
#[template(path = "flight.html")]
struct FlightSlide {
    flight: Option<Figure>,
    peak: usize,
    concurrency: usize,
    rows: Vec<Percentiles>,
    floor: Option<String>,
}

/// The xkcd fetch: the waterfalls, then requests in flight and the latency percentiles.
pub(super) fn xkcd(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let bench = input.bench;
    let small = bench.runs.len() > 2;
    let size = if small { (580, 250) } else { (580, 440) };
    let mut figures = Vec::new();
    for (i, run) in bench.runs.iter().enumerate() {
        if run.timeline.is_empty() {
            continue;
        }
        let (factor, x_desc) = time_axis(run.timeline.end());
        let lanes = waterfall_lanes(&run.timeline, i, factor);
        let title = format!("{}: {}", run_name(run), human_duration(run.summary.wall));
        let desc = format!(
            "One bar per request, first request at the top: {} requests fetched {}, in {}.",
            lanes.len(),
            run_name(run),
            human_duration(run.summary.wall)
        );
        let svg = charts::lanes(
            &Frame {
                title: &title,
                desc: &desc,
                size,
            },
            &lanes,
            run.timeline.end().as_secs_f64() * factor,
            x_desc,
        )?;
        let starts = run.timeline.spans().iter().map(|s| s.start);
        let first_to_last =
            starts.clone().max().unwrap_or_default() - starts.min().unwrap_or_default();
        figures.push(Figure::new(
            format!("waterfall-{}", run.mode.as_str()),
            svg,
            format!(
                "Its own time axis. The last request was sent {} after the first.",
                human_duration(first_to_last)
            ),
        ));
    }
    let runs = bench
        .runs
        .iter()
        .map(|run| XkcdRun {
            name: run_name(run),
            wall: human_duration(run.summary.wall),
            ideal: run.ideal.map(human_duration),
            speedup: (run.mode != Mode::Sequential)
                .then(|| bench.speedup(run))
                .flatten()
                .map(|s| format!("{s:.0}x")),
            failed: run.summary.failed,
        })
        .collect();
    slides.push(
        "xkcd",
        &XkcdSlide {
            count: bench.count,
            builtin: bench.builtin,
            latency: bench.latency.map(|l| l.to_string()),
            target: bench.target.clone(),
            runs,
            figures,
        },
    )?;
    slides.push("xkcd-flight", &flight_slide(bench)?)
}

fn flight_slide(bench: &BenchReport) -> Result<FlightSlide, DeckError> {
    let concurrent = bench
        .runs
        .iter()
        .find(|r| r.mode == Mode::Concurrent && !r.timeline.is_empty());
    let mut flight = None;
    let mut peak = 0;
    let mut concurrency = 0;
    if let Some(run) = concurrent {
        let (factor, x_desc) = time_axis(run.timeline.end());
        let points: Vec<(f64, usize)> = run
            .timeline
            .in_flight()
            .into_iter()
            .map(|(t, n)| (t.as_secs_f64() * factor, n))
            .collect();
        peak = points.iter().map(|p| p.1).max().unwrap_or(0);
        concurrency = run.concurrency;
        let desc = format!(
            "Requests in flight over the concurrent run: up to {peak} at once, allowed {}.",
            run.concurrency
        );
        let svg = charts::in_flight(
            &Frame {
                title: "requests in flight",
                desc: &desc,
                size: (1180, 300),
            },
            &[(run_name(run), points)],
            x_desc,
        )?;
        flight = Some(Figure::new(
            "in-flight",
            svg,
            "A step up when a request is sent, down when its last byte arrives.",
        ));
    }
    let rows = bench
        .runs
        .iter()
        .filter(|r| !r.timeline.is_empty())
        .map(|run| {
            let sorted = run.timeline.sorted_durations();
            let p = |q| human_duration(percentile(&sorted, q));
            Percentiles {
                name: run_name(run),
                requests: sorted.len(),
                p50: p(50.0),
                p90: p(90.0),
                p99: p(99.0),
                max: p(100.0),
            }
        })
        .collect();
    Ok(FlightSlide {
        flight,
        peak,
        concurrency,
        rows,
        floor: bench.latency.map(|l| human_duration(l.min())),
    })
}

/// A cell's tasks as lanes, times in `factor`s of a second. When every task names the worker
/// (thread or process) that ran it and no worker ran two at once, one lane per worker, in
/// order of first start; else one lane per task. Each bar runs from the task's start to its end: lighter until its first byte
/// for http; for computing tasks that measured their CPU time, solid for as long as that time,
/// lighter for the rest (the time it spent waiting for the lock or a core).
fn task_lanes(cell: &LabCell, color: usize, factor: f64, task_word: &str) -> Vec<Lane> {
    let at = |d: Duration| d.as_secs_f64() * factor;
    let spans = cell.timeline.spans();
    let segment = |i: usize, span: &Span| Segment {
        start: at(span.start),
        end: at(span.end),
        mark: match (span.first_byte, span.cpu) {
            (Some(first_byte), _) => Some(at(first_byte)),
            (None, Some(cpu)) => Some(at(span.end.saturating_sub(cpu).max(span.start))),
            (None, None) => None,
        },
        color,
        text: Some(format!("{task_word} {}", i + 1)),
    };
    // A worker that ran tasks at once (an event loop) gets no lane of its own: its tasks would
    // hide each other.
    let mut by_worker: std::collections::BTreeMap<u32, Vec<&Span>> = Default::default();
    for span in spans {
        if let Some(worker) = span.worker {
            by_worker.entry(worker).or_default().push(span);
        }
    }
    let one_at_a_time = by_worker.values_mut().all(|mine| {
        mine.sort_by_key(|s| s.start);
        mine.windows(2).all(|w| w[1].start >= w[0].end)
    });
    if spans.is_empty() || spans.iter().any(|s| s.worker.is_none()) || !one_at_a_time {
        return spans
            .iter()
            .enumerate()
            .map(|(i, span)| Lane {
                label: format!("{task_word} {}", i + 1),
                segments: vec![Segment {
                    text: None,
                    ..segment(i, span)
                }],
            })
            .collect();
    }
    let worker_word = match cell.model {
        Model::Processes => "process",
        Model::Threads => "thread",
        _ => "worker",
    };
    let mut workers: Vec<u32> = Vec::new();
    for span in spans {
        if let Some(worker) = span.worker
            && !workers.contains(&worker)
        {
            workers.push(worker);
        }
    }
    workers
        .iter()
        .enumerate()
        .map(|(k, worker)| Lane {
            label: format!("{worker_word} {}", k + 1),
            segments: spans
                .iter()
                .enumerate()
                .filter(|(_, span)| span.worker == Some(*worker))
                .map(|(i, span)| segment(i, span))
                .collect(),
        })
        .collect()
}

/// Lane charts of `cells`, side by side on one time axis so that their widths compare.
fn lane_figures(
    cells: &[(&LabCell, String, usize)],
    task_word: &str,
    size: (u32, u32),
) -> Result<Vec<Figure>, DeckError> {
    let end = cells
        .iter()
        .map(|(c, _, _)| c.timeline.end())
        .max()
        .unwrap_or_default();
    let (factor, x_desc) = time_axis(end);
    cells
        .iter()
        .map(|(cell, title, color)| {
            let lanes = task_lanes(cell, *color, factor, task_word);
            let desc = format!(
                "{} {task_word}s of the {} workload under {} ({}): {} in all.",
                lanes.len(),
                cell.workload.as_str(),
                cell.model.as_str(),
                cell.engine,
                human_duration(cell.wall)
            );
            let svg = charts::lanes(
                &Frame {
                    title,
                    desc: &desc,
                    size,
                },
                &lanes,
                end.as_secs_f64() * factor,
                x_desc,
            )?;
            Ok(Figure::new(
                format!(
                    "lanes-{}-{}-{}",
                    cell.runtime.as_str(),
                    cell.workload.as_str(),
                    cell.model.as_str()
                ),
                svg,
                format!("{}: {}", cell.engine, human_duration(cell.wall)),
            ))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "gil.html")]
struct GilSlide {
    figures: Vec<Figure>,
    /// Whether Python ran in this lab.
    python: bool,
    parts: usize,
    /// One part's median time alone (the sequential run).
    part_alone: Option<String>,
    /// One part's median time under threads.
    part_threads: Option<String>,
    threads_wall: Option<String>,
    processes_wall: Option<String>,
    threads_cores: Option<String>,
    verdict: Option<Compare>,
    gil: decide::GilVerdict,
    cores: usize,
}

#[derive(Template)]
#[template(path = "gil_how.html")]
struct GilHowSlide;

#[derive(Template)]
#[template(path = "event_loop.html")]
struct EventLoopSlide {
    figures: Vec<Figure>,
    tasks: usize,
    workload: &'static str,
    /// Per language: name, sequential wall, async wall, start spread.
    rows: Vec<(String, String, String, String)>,
}

struct ProcessRow {
    language: String,
    workload: &'static str,
    wall: Timed,
    ideal: String,
    overhead: String,
    mem: String,
    threads_mem: String,
}

#[derive(Template)]
#[template(path = "processes.html")]
struct ProcessesSlide {
    rows: Vec<ProcessRow>,
}

/// A language the lab may run besides Rust and Python.
struct Language {
    key: &'static str,
    name: &'static str,
}

const OTHER_LANGUAGES: [Language; 3] = [
    Language {
        key: "go",
        name: "Go",
    },
    Language {
        key: "cpp",
        name: "C++",
    },
    Language {
        key: "js",
        name: "JavaScript",
    },
];

#[derive(Template)]
#[template(path = "language.html")]
struct LanguageSlide {
    key: &'static str,
    name: &'static str,
    /// This run's bars for the language, when the lab ran it.
    measured: Vec<Figure>,
    /// A sketch of the model, when nothing was measured.
    sketch: Option<Figure>,
}

#[derive(Template)]
#[template(path = "memory.html")]
struct MemorySlide {
    tasks: usize,
    /// Whether the chart is the spawn workload's bytes per task (else the sleep job's peaks).
    spawn: bool,
    chart: Option<Figure>,
}

#[derive(Template)]
#[template(path = "speedups.html")]
struct SpeedupSlide {
    waiting: bool,
    figures: Vec<Figure>,
    runs: usize,
}

/// The models, measured: the GIL, the event loop, processes, Go, C++, JavaScript, memory, and
/// the speedups of every workload.
pub(super) fn models(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let lab = input.lab;
    slides.push("gil", &gil_slide(lab)?)?;
    slides.push("gil-how", &GilHowSlide)?;
    slides.push("event-loop", &event_loop_slide(lab)?)?;
    slides.push("processes", &processes_slide(lab))?;
    for language in &OTHER_LANGUAGES {
        slides.push(language.key, &language_slide(lab, language)?)?;
    }
    slides.push("memory", &memory_slide(lab)?)?;
    let waiting: Vec<Workload> = lab
        .config
        .workloads
        .iter()
        .copied()
        .filter(|w| *w != Workload::Cpu)
        .collect();
    if !waiting.is_empty() {
        slides.push("speedups-waiting", &speedup_slide(lab, &waiting, true)?)?;
    }
    if lab.config.workloads.contains(&Workload::Cpu) {
        slides.push(
            "speedups-cpu",
            &speedup_slide(lab, &[Workload::Cpu], false)?,
        )?;
    }
    Ok(())
}

fn gil_slide(lab: &LabReport) -> Result<GilSlide, DeckError> {
    let cell = |model| lab.cell(Runtime::Python, Workload::Cpu, model);
    let (threads, processes, sequential) = (
        cell(Model::Threads),
        cell(Model::Processes),
        cell(Model::Sequential),
    );
    let mut shown = Vec::new();
    if let Some(t) = threads {
        shown.push((t, format!("Python threads: {}", human_duration(t.wall)), 3));
    }
    if let Some(p) = processes {
        shown.push((
            p,
            format!("Python processes: {}", human_duration(p.wall)),
            2,
        ));
    }
    if let Some(free) = lab.cell(Runtime::PythonNoGil, Workload::Cpu, Model::Threads) {
        shown.push((
            free,
            format!("free-threaded, threads: {}", human_duration(free.wall)),
            5,
        ));
    }
    let size = if shown.len() > 2 {
        (380, 400)
    } else {
        (580, 400)
    };
    let figures = lane_figures(&shown, "part", size)?;
    let median_part = |c: &LabCell| {
        let sorted = c.timeline.sorted_durations();
        (!sorted.is_empty()).then(|| human_duration(percentile(&sorted, 50.0)))
    };
    let verdict = threads
        .zip(processes)
        .map(|(t, p)| decide::compare(Estimate::of(t), Estimate::of(p)));
    Ok(GilSlide {
        figures,
        python: lab.cells.iter().any(|c| c.runtime == Runtime::Python),
        parts: threads.map_or(lab.config.parts, |t| t.tasks),
        part_alone: sequential.and_then(median_part),
        part_threads: threads.and_then(median_part),
        threads_wall: threads.map(|t| human_duration(t.wall)),
        processes_wall: processes.map(|p| human_duration(p.wall)),
        threads_cores: threads.map(|t| format!("{:.1}", t.cores_used())),
        verdict,
        gil: decide::gil_verdict(lab),
        cores: lab.cores,
    })
}

fn event_loop_slide(lab: &LabReport) -> Result<EventLoopSlide, DeckError> {
    // The http workload when it ran (real sockets), else sleep.
    let workload = [Workload::Http, Workload::Sleep]
        .into_iter()
        .find(|w| lab.cells.iter().any(|c| c.workload == *w && c.ok()))
        .unwrap_or(Workload::Sleep);
    let mut shown = Vec::new();
    let mut rows = Vec::new();
    for (i, runtime) in lab.runtimes().into_iter().enumerate() {
        let Some(cell) = lab.cell(runtime, workload, Model::Async) else {
            continue;
        };
        let starts: Vec<Duration> = cell.timeline.spans().iter().map(|s| s.start).collect();
        let spread = starts.iter().max().copied().unwrap_or_default()
            - starts.iter().min().copied().unwrap_or_default();
        rows.push((
            runtime.as_str().to_owned(),
            lab.baseline(cell)
                .map_or("-".to_owned(), |b| human_duration(b.wall)),
            human_duration(cell.wall),
            human_duration(spread),
        ));
        if shown.len() < 2 {
            shown.push((
                cell,
                format!("{}: {}", cell.engine, human_duration(cell.wall)),
                i,
            ));
        }
    }
    let word = if workload == Workload::Http {
        "request"
    } else {
        "sleep"
    };
    Ok(EventLoopSlide {
        figures: lane_figures(&shown, word, (580, 270))?,
        tasks: lab.config.tasks,
        workload: workload.as_str(),
        rows,
    })
}

fn processes_slide(lab: &LabReport) -> ProcessesSlide {
    let rows = lab
        .cells
        .iter()
        .filter(|c| c.model == Model::Processes && c.ok())
        .map(|cell| {
            let estimate = Estimate::of(cell);
            let threads_mem = lab
                .cell(cell.runtime, cell.workload, Model::Threads)
                .map_or("-".to_owned(), |t| human_memory(t.peak_rss_kib));
            ProcessRow {
                language: cell.runtime.as_str().to_owned(),
                workload: cell.workload.as_str(),
                wall: estimate.timed(),
                ideal: cell.ideal.map_or("-".to_owned(), human_duration),
                overhead: cell.ideal.map_or("-".to_owned(), |i| {
                    human_duration(cell.wall.saturating_sub(i))
                }),
                mem: human_memory(cell.peak_rss_kib),
                threads_mem,
            }
        })
        .collect();
    ProcessesSlide { rows }
}

/// The corrected sketches of models this run did not measure.
fn sketch(key: &str) -> Result<Option<Figure>, DeckError> {
    // Each segment: (lane, start, end, colour, word on the bar).
    type Part = (usize, f64, f64, usize, &'static str);
    let (title, desc, lane_names, parts, caption): (&str, &str, &[&str], &[Part], &str) = match key
    {
        "go" => (
            "sketch: goroutines on GOMAXPROCS=2",
            "A sketch, not a measurement: goroutines G1 to G5 on two processors P1 and P2. \
                 G1 blocks in a system call on thread M1; P1 is handed to thread M3, which runs \
                 G3 and G5; when the call returns, G1 waits for a free P and runs on M2.",
            &["thread M1", "thread M2", "thread M3"],
            &[
                (0, 0.0, 2.0, 0, "G1 on P1"),
                (0, 2.0, 6.0, 7, "G1 in syscall, no P"),
                (1, 0.0, 3.0, 1, "G2 on P2"),
                (1, 3.0, 6.0, 1, "G4 on P2"),
                (1, 6.0, 8.0, 1, "G1 on P2"),
                (2, 2.0, 5.0, 0, "G3 on P1"),
                (2, 5.0, 8.0, 0, "G5 on P1"),
            ],
            "Colour is the processor (P): P1's work moves from M1 to M3 at the system call.",
        ),
        "cpp" => (
            "sketch: C++20 coroutines on a pool of two threads",
            "A sketch, not a measurement: coroutines A, B and C start on pool threads, \
                 suspend at co_await while their I/O is pending (no thread is held), and resume \
                 on whichever pool thread is free.",
            &["pool thread 1", "pool thread 2"],
            &[
                (0, 0.0, 1.0, 0, "A"),
                (0, 1.0, 2.0, 1, "B"),
                (1, 0.0, 1.0, 2, "C"),
                (0, 6.0, 7.0, 2, "C"),
                (1, 5.0, 6.0, 0, "A"),
                (1, 6.5, 7.5, 1, "B"),
            ],
            "A coroutine may resume on another thread than the one it started on.",
        ),
        "js" => (
            "sketch: Node.js, one event loop and helpers",
            "A sketch, not a measurement: the event loop thread runs callbacks A, B and C \
                 one at a time; a file read waits on libuv's thread pool; a worker thread \
                 computes in parallel with its own event loop.",
            &["event loop", "libuv pool thread", "worker thread"],
            &[
                (0, 0.0, 1.0, 0, "A"),
                (0, 1.0, 2.0, 1, "B"),
                (0, 2.0, 3.0, 2, "C"),
                (0, 5.0, 6.0, 0, "A again"),
                (1, 1.0, 5.0, 0, "fs.readFile"),
                (2, 0.5, 7.5, 4, "compute"),
            ],
            "Network sockets need no pool thread: the loop waits on them with epoll.",
        ),
        _ => return Ok(None),
    };
    let lanes: Vec<Lane> = lane_names
        .iter()
        .enumerate()
        .map(|(i, name)| Lane {
            label: (*name).to_owned(),
            segments: parts
                .iter()
                .filter(|p| p.0 == i)
                .map(|&(_, start, end, color, text)| Segment {
                    start,
                    end,
                    mark: None,
                    color,
                    text: Some(text.to_owned()),
                })
                .collect(),
        })
        .collect();
    let svg = charts::lanes(
        &Frame {
            title,
            desc,
            size: (580, 100 + 76 * lanes.len() as u32),
        },
        &lanes,
        8.0,
        "time (a sketch: no unit)",
    )?;
    Ok(Some(Figure::new(format!("sketch-{key}"), svg, caption)))
}

fn language_slide(lab: &LabReport, language: &Language) -> Result<LanguageSlide, DeckError> {
    let ran: Vec<&LabCell> = lab
        .cells
        .iter()
        .filter(|c| c.runtime.as_str() == language.key)
        .collect();
    // One chart: every workload and model of the language.
    let mut rows = Vec::new();
    for &workload in &lab.config.workloads {
        for mut bar in speedup_bars(lab, ran.iter().copied(), workload) {
            let model = bar.label.rsplit(' ').next().unwrap_or_default().to_owned();
            bar.label = format!("{} {model}", workload.as_str());
            rows.push(bar);
        }
    }
    let mut measured = Vec::new();
    if !rows.is_empty() {
        let title = format!("{}: speedup over sequential", language.name);
        let desc = format!(
            "{}'s models on each workload: median speedup over its sequential run, the ideal \
             as an outline.",
            language.name
        );
        measured.push(Figure::new(
            format!("speedup-{}", language.key),
            charts::bars(
                &Frame {
                    title: &title,
                    desc: &desc,
                    size: (580, (90 + 34 * rows.len() as u32).clamp(300, 540)),
                },
                &rows,
                "times faster than sequential",
            )?,
            "Bar: median; whisker: the runs' range; outline: the ideal.",
        ));
    }
    Ok(LanguageSlide {
        key: language.key,
        name: language.name,
        sketch: if measured.is_empty() {
            sketch(language.key)?
        } else {
            None
        },
        measured,
    })
}

fn memory_slide(lab: &LabReport) -> Result<MemorySlide, DeckError> {
    // The spawn workload when it ran: N tasks at once per language, bytes per task.
    let spawn: Vec<Bar> = lab
        .spawn
        .iter()
        .filter_map(|row| {
            let bytes = row.bytes_per_task()?;
            Some(Bar {
                label: format!("{} {}", row.runtime.as_str(), row.engine),
                value: bytes / 1024.0,
                spread: None,
                ideal: None,
                text: format!("{:.1} KiB", bytes / 1024.0),
                color: model_color(row.model),
            })
        })
        .collect();
    let (bars, spawned, title, x_desc, caption) = if spawn.is_empty() {
        let rows = lab
            .cells
            .iter()
            .filter(|c| c.workload == Workload::Sleep && c.ok())
            .map(|c| Bar {
                label: format!("{} {}", c.runtime.as_str(), c.model.as_str()),
                value: c.peak_rss_kib as f64 * 1024.0 / 1e6,
                spread: None,
                ideal: None,
                text: human_memory(c.peak_rss_kib),
                color: model_color(c.model),
            })
            .collect();
        (
            rows,
            false,
            "peak memory of the sleep job",
            "MB, peak resident",
            "Summed over the job's processes.",
        )
    } else {
        (
            spawn,
            true,
            "what one waiting task costs",
            "KiB per task: (peak − baseline) / tasks",
            "Tasks started at once, each sleeping 1 s; threads are OS threads.",
        )
    };
    let tasks = if spawned {
        lab.spawn.iter().map(|r| r.tasks).max().unwrap_or(0)
    } else {
        lab.config.tasks as u64
    };
    let chart = if bars.is_empty() {
        None
    } else {
        let desc = format!(
            "{title}: {tasks} tasks that only wait, per language and model{}.",
            if spawned {
                ", the peak resident memory over the baseline divided by the tasks"
            } else {
                ", summed over the job's processes"
            }
        );
        let svg = charts::bars(
            &Frame {
                title,
                desc: &desc,
                size: (690, (90 + 34 * bars.len() as u32).clamp(300, 560)),
            },
            &bars,
            x_desc,
        )?;
        Some(Figure::new("memory", svg, caption))
    };
    Ok(MemorySlide {
        tasks: usize::try_from(tasks).unwrap_or(usize::MAX),
        spawn: spawned,
        chart,
    })
}

/// The colour of a model's bars, the same on every chart.
pub(super) fn model_color(model: Model) -> usize {
    match model {
        Model::Sequential => 7,
        Model::Async => 0,
        Model::AsyncMt => 5,
        Model::Threads => 1,
        Model::Processes => 2,
    }
}

/// Speedup bars of `cells` on `workload`, sequential left out.
fn speedup_bars<'a>(
    lab: &LabReport,
    cells: impl Iterator<Item = &'a LabCell>,
    workload: Workload,
) -> Vec<Bar> {
    cells
        .filter(|c| c.workload == workload && c.model != Model::Sequential)
        .filter_map(|c| {
            let speedup = lab.speedup(c)?;
            let spread = decide::speedup_range(lab, c);
            Some(Bar {
                label: format!("{} {}", c.runtime.as_str(), c.model.as_str()),
                value: speedup,
                spread: spread.filter(|(lo, hi)| hi > lo),
                ideal: lab.ideal_speedup(c),
                text: format!("{speedup:.1}x"),
                color: model_color(c.model),
            })
        })
        .collect()
}

fn speedup_slide(
    lab: &LabReport,
    workloads: &[Workload],
    waiting: bool,
) -> Result<SpeedupSlide, DeckError> {
    let mut figures = Vec::new();
    let width = if workloads.len() > 1 { 580 } else { 1180 };
    for &workload in workloads {
        let rows = speedup_bars(lab, lab.cells.iter(), workload);
        if rows.is_empty() {
            continue;
        }
        let title = format!("{}: times faster than sequential", workload.as_str());
        let desc = format!(
            "Every language and model on the {} workload: median speedup over the same \
             language's sequential run, the ideal as an outline.",
            workload.as_str()
        );
        let height = (90 + 34 * rows.len() as u32).clamp(440, 540);
        figures.push(Figure::new(
            format!("speedup-{}", workload.as_str()),
            charts::bars(
                &Frame {
                    title: &title,
                    desc: &desc,
                    size: (width, height),
                },
                &rows,
                "times faster than sequential",
            )?,
            "Bar: median; whisker: the runs' range; outline: the ideal (zero overhead).",
        ));
    }
    Ok(SpeedupSlide {
        waiting,
        figures,
        runs: decide::runs_per_cell(lab),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comics_are_named_by_number() {
        assert_eq!(comic_label("http://127.0.0.1:1/42/info.0.json"), "#42");
        assert_eq!(comic_label("http://h/x"), "x");
    }

    #[test]
    fn every_sketch_draws() {
        for language in &OTHER_LANGUAGES {
            let figure = sketch(language.key).unwrap().expect("a sketch");
            assert!(figure.svg.contains("sketch"), "{}", figure.svg);
        }
        let go = sketch("go").unwrap().unwrap().svg;
        // The hand-off: P1's work moves from M1 to M3, and G1 never runs on two threads at
        // once.
        assert!(go.contains("G1 in syscall, no P") && go.contains("G3 on P1"));
    }
}
