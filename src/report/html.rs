//! The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched)
//! laid out as a presentation. The problem, the models (each with a small diagram), use
//! cases, this run's measurements as charts and tables, and conclusions computed from them.
//!
//! Every piece of text that comes from data is HTML-escaped; the charts come from
//! [`charts`]. Nothing here measures or fetches anything.

use std::fmt::Write as _;
use std::time::Duration;

use html_escape::encode_text;

use super::charts::{self, Bar, ChartError, Lane, Segment};
use super::human_duration;
use super::lab::{cell_columns, human_memory, lab_heading, python_line};
use crate::bench::lab::{LabReport, Model, Runtime, Workload};
use crate::bench::machine::Machine;
use crate::bench::{BenchReport, Mode};
use crate::timeline::{Timeline, percentile};

const STYLE: &str = r#"
:root { --ink: #222; --muted: #666; --accent: #3b6ea8; --card: #fff; --bg: #eef1f5; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 17px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.title { background: #1f3550; color: #fff; padding: 48px 8vw 40px; }
header.title h1 { margin: 0 0 8px; font-size: 2.3em; line-height: 1.15; }
header.title p { margin: 4px 0; color: #d5deea; }
nav { padding: 10px 8vw; background: #2b4665; }
nav a { color: #fff; margin-right: 18px; text-decoration: none; font-size: .95em; }
section.slide { background: var(--card); margin: 28px auto; max-width: 1120px; padding: 28px 40px;
                border-radius: 10px; box-shadow: 0 1px 4px rgba(0,0,0,.12); }
section.slide > h2 { margin-top: 0; color: var(--accent); font-size: 1.6em; }
section.slide > h2 .n { color: var(--muted); font-weight: normal; margin-right: .4em; }
h3 { margin: 1.4em 0 .4em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(320px, 1fr)); gap: 18px; }
.grid.wide { grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); }
.model { border: 1px solid #dde3ea; border-radius: 8px; padding: 12px 16px; }
.model h3 { margin-top: 0; }
figure.chart { margin: 12px 0; }
figure.chart svg { max-width: 100%; height: auto; display: block; }
figcaption { color: var(--muted); font-size: .9em; }
table { border-collapse: collapse; width: 100%; font-size: .88em; margin: 8px 0 16px; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e7ec; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
table.lab th:nth-child(-n+4), table.lab td:nth-child(-n+4) { text-align: left; }
tbody tr:hover { background: #f5f8fb; }
dl.machine { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; }
dl.machine dt { color: var(--muted); }
dl.machine dd { margin: 0; }
ul.conclusions li { margin: .5em 0; }
.key { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; }
code { background: #f1f3f6; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
footer { text-align: center; color: var(--muted); padding: 20px; font-size: .85em; }
"#;

/// Escapes text for HTML element content.
fn esc(text: &str) -> String {
    encode_text(text).into_owned()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A chart in a figure: `id` names it (the tests find charts by it), `caption` says what it
/// shows.
fn figure(id: &str, svg: &str, caption: &str) -> String {
    format!(
        "<figure class=\"chart\" id=\"chart-{}\">{svg}<figcaption>{}</figcaption></figure>\n",
        html_escape::encode_double_quoted_attribute(id),
        esc(caption)
    )
}

/// The whole report, from the fetch bench, the lab and the machine they ran on.
pub fn html_report(
    bench: &BenchReport,
    lab: &LabReport,
    machine: &Machine,
) -> Result<String, ChartError> {
    let mut page = String::with_capacity(256 * 1024);
    page.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <link rel=\"icon\" href=\"data:,\">\n\
         <title>What concurrency buys: measured by gather</title>\n<style>",
    );
    page.push_str(STYLE);
    page.push_str("</style></head><body>\n");
    let _ = writeln!(
        page,
        "<header class=\"title\"><h1>Waiting, computing, and what concurrency buys</h1>\
         <p>Python's asyncio and the GIL, threads and processes, Go and C++, measured on this \
         machine by gather.</p><p>{} · {} · {} cores</p></header>",
        esc(&machine.date),
        esc(&machine.os),
        machine.cores
    );
    page.push_str(
        "<nav><a href=\"#problem\">1 The problem</a><a href=\"#models\">2 The models</a>\
         <a href=\"#uses\">3 Use cases</a><a href=\"#measured\">4 Measured</a>\
         <a href=\"#conclusions\">5 Conclusions</a></nav>\n",
    );
    page.push_str(&problem());
    page.push_str(&models()?);
    page.push_str(&use_cases(bench));
    page.push_str(&measurements(bench, lab, machine)?);
    page.push_str(&conclusions_section(bench, lab));
    page.push_str(
        "<footer>Made by <code>gather bench --report</code>: one file, no scripts, nothing \
         loaded from the network.</footer>\n</body></html>\n",
    );
    Ok(page)
}

fn problem() -> String {
    "<section class=\"slide\" id=\"problem\"><h2><span class=\"n\">1</span>The problem</h2>\
     <div class=\"grid\">\
     <div><h3>Blocking I/O</h3><p>A program that asks a server for a page spends almost all of \
     that time waiting: the request travels, the server works, the answer travels back. Done \
     one after another, the waits add up: 200 comics at 100&nbsp;ms each are 20&nbsp;s of \
     mostly idle CPU. Nothing about the work requires the waits to be in a row.</p></div>\
     <div><h3>The GIL</h3><p>CPython's Global Interpreter Lock lets one thread at a time run \
     Python bytecode. A thread releases it while it blocks on I/O (and inside some C code), so \
     Python threads <em>can</em> overlap waiting, but they cannot compute in parallel: CPU-bound \
     Python code on 8 threads runs about as fast as on one. (Free-threaded CPython 3.13t \
     removes the lock, as an option.)</p></div>\
     <div><h3>Concurrency is not parallelism</h3><p><b>Concurrency</b>: several tasks in \
     progress at once, taking turns; it needs only one core, and pays off when tasks wait. \
     <b>Parallelism</b>: several tasks executing at the same instant on several cores; it pays \
     off when tasks compute. asyncio gives the first; threads in Go, Rust, C++ or Java, and \
     processes in Python, give both.</p></div></div></section>\n"
        .to_owned()
}

/// One schematic lane: `(label, [(start, end, waiting_until, color)])`.
type SketchLane<'a> = (&'a str, &'a [(f64, f64, f64, usize)]);

fn sketch(id: &str, title: &str, lanes: &[SketchLane<'_>]) -> Result<String, ChartError> {
    let lanes: Vec<Lane> = lanes
        .iter()
        .map(|(label, segments)| Lane {
            label: (*label).to_owned(),
            segments: segments
                .iter()
                .map(|&(start, end, mark, color)| Segment {
                    start,
                    end,
                    mark: Some(mark),
                    color,
                })
                .collect(),
        })
        .collect();
    let x_max = lanes
        .iter()
        .flat_map(|l| l.segments.iter().map(|s| s.end))
        .fold(0.0, f64::max);
    let height = 70 + 26 * lanes.len() as u32;
    let svg = charts::lanes(title, &lanes, x_max, "time", (520, height))?;
    Ok(figure(
        id,
        &svg,
        "Pale: waiting (on I/O, the GIL or a core). Solid: running. One color per task.",
    ))
}

fn models() -> Result<String, ChartError> {
    let mut html = String::from(
        "<section class=\"slide\" id=\"models\"><h2><span class=\"n\">2</span>The models</h2>\
         <div class=\"grid wide\">",
    );
    let event_loop = sketch(
        "model-event-loop",
        "one thread, an event loop",
        &[
            (
                "loop thread",
                &[
                    (0.0, 1.0, 0.0, 0),
                    (1.0, 2.0, 1.0, 1),
                    (2.0, 3.0, 2.0, 2),
                    (11.0, 12.0, 11.0, 0),
                    (12.0, 13.0, 12.0, 1),
                    (13.0, 14.0, 13.0, 2),
                ],
            ),
            ("task A", &[(0.0, 12.0, 11.0, 0)]),
            ("task B", &[(1.0, 13.0, 12.0, 1)]),
            ("task C", &[(2.0, 14.0, 13.0, 2)]),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>asyncio, and tokio on one thread</h3>{event_loop}<p>Coroutines \
         run on one thread until they <code>await</code> something that is not ready; the event \
         loop then runs another and wakes the first when its socket or timer is ready. Switching \
         is cooperative: a coroutine that computes without awaiting holds up every other. Rust's \
         <code>async</code>/<code>.await</code> is the same idea, compiled into state \
         machines; tokio's <code>current_thread</code> runtime is the asyncio analogue.</p></div>"
    );
    let gil = sketch(
        "model-python-threads",
        "Python threads: the GIL",
        &[
            (
                "thread 1",
                &[(0.0, 2.0, 0.0, 0), (2.0, 8.0, 6.0, 0), (8.0, 14.0, 12.0, 0)],
            ),
            ("thread 2", &[(0.0, 4.0, 2.0, 1), (4.0, 10.0, 8.0, 1)]),
            ("thread 3", &[(0.0, 6.0, 4.0, 2), (6.0, 12.0, 10.0, 2)]),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>Python threads</h3>{gil}<p>Real OS threads, scheduled by the \
         kernel, but each must hold the GIL to run bytecode, handed over every few milliseconds \
         (<code>sys.getswitchinterval()</code>, 5&nbsp;ms) or when a thread blocks on I/O. Good \
         for waiting (each blocked thread costs a stack, not CPU); no faster for computing. \
         <code>concurrent.futures.ThreadPoolExecutor</code> is the usual pool.</p></div>"
    );
    let threads = sketch(
        "model-os-threads",
        "OS threads on 2 cores",
        &[
            ("thread 1", &[(0.0, 8.0, 0.0, 0)]),
            ("thread 2", &[(0.0, 8.0, 0.0, 1)]),
            ("thread 3", &[(0.0, 16.0, 8.0, 2)]),
            ("thread 4", &[(0.0, 16.0, 8.0, 3)]),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>OS threads: C++, Rust, Java</h3>{threads}<p>One kernel thread \
         per thread (1:1), no global lock: as many run at once as there are cores. \
         <code>std::thread</code> in C++ and Rust; shared memory needs locks or atomics (in C++ \
         a data race is undefined behaviour; Rust refuses to compile one). Each thread costs a \
         stack (reserved, touched lazily: Rust's <code>std::thread</code> asks for 2&nbsp;MiB, \
         a C++ <code>std::thread</code> gets the Linux pthreads default of 8&nbsp;MiB) and a kernel \
         context switch; thousands are \
         fine, a million are not.</p></div>"
    );
    let processes = sketch(
        "model-processes",
        "processes: start-up, then parallel",
        &[
            ("process 1", &[(0.0, 10.0, 2.0, 0)]),
            ("process 2", &[(0.0, 10.5, 2.5, 1)]),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>Processes</h3>{processes}<p>Each process has its own memory \
         and, in Python, its own interpreter and GIL: <code>multiprocessing</code> and \
         <code>ProcessPoolExecutor</code> compute in parallel on every core. The price: start-up \
         (an interpreter per worker), memory per worker, and arguments and results pickled \
         across a pipe. gather's lab starts worker copies of itself, each given a share.</p></div>"
    );
    let goroutines = sketch(
        "model-goroutines",
        "goroutines: M:N onto threads",
        &[
            (
                "thread M1 (P1)",
                &[
                    (0.0, 2.0, 0.0, 0),
                    (2.0, 3.0, 2.0, 2),
                    (3.0, 5.0, 3.0, 4),
                    (5.0, 7.0, 5.0, 0),
                ],
            ),
            (
                "thread M2 (P2)",
                &[
                    (0.0, 1.0, 0.0, 1),
                    (1.0, 3.0, 1.0, 3),
                    (3.0, 4.0, 3.0, 5),
                    (4.0, 7.0, 4.0, 2),
                ],
            ),
            ("thread M3 (syscall)", &[(2.0, 6.0, 6.0, 5)]),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>Go: goroutines, M:N</h3>{goroutines}<p>The Go runtime \
         multiplexes many goroutines (G, a few KB of growable stack each) onto a few OS threads \
         (M), through <code>GOMAXPROCS</code> processors (P), one per core by default. Network \
         waits park the goroutine on the runtime's poller; a blocking system call hands its P to \
         another thread. Since Go 1.14 goroutines are also preempted. Code looks blocking, runs \
         concurrent and parallel. tokio's multi-threaded runtime is similar (work-stealing M:N) \
         but cooperative: tasks switch only at <code>.await</code>.</p></div>"
    );
    let coroutines = sketch(
        "model-cpp-coroutines",
        "C++20 coroutines on a thread pool",
        &[
            (
                "pool thread 1",
                &[(0.0, 1.0, 0.0, 0), (1.0, 2.0, 1.0, 1), (9.0, 10.0, 9.0, 0)],
            ),
            (
                "pool thread 2",
                &[
                    (0.0, 1.0, 0.0, 2),
                    (9.5, 10.5, 9.5, 1),
                    (10.5, 11.5, 10.5, 2),
                ],
            ),
        ],
    )?;
    let _ = write!(
        html,
        "<div class=\"model\"><h3>C++: threads and coroutines</h3>{coroutines}<p>C++11 gave \
         <code>std::thread</code>, <code>std::async</code> and futures: plain OS threads. C++20 \
         added stackless coroutines (<code>co_await</code>, <code>co_return</code>): the \
         language transforms the function, but ships no event loop. A library supplies the \
         scheduler and I/O (Asio, cppcoro, folly, and <code>std::execution</code> in C++26), \
         often a pool of threads, so C++ coroutines can be concurrent and parallel at once.</p>\
         </div>"
    );
    html.push_str("</div></section>\n");
    Ok(html)
}

fn use_cases(bench: &BenchReport) -> String {
    let measured = match (
        bench.runs.iter().find(|r| r.mode == Mode::Sequential),
        bench.runs.iter().find(|r| r.mode == Mode::Concurrent),
    ) {
        (Some(seq), Some(con)) => format!(
            " In this run: {} comics took {} one at a time and {} at once.",
            bench.count,
            human_duration(seq.summary.wall),
            human_duration(con.summary.wall)
        ),
        _ => String::new(),
    };
    format!(
        "<section class=\"slide\" id=\"uses\"><h2><span class=\"n\">3</span>Use cases</h2>\
         <div class=\"grid\">\
         <div><h3>Scraping an API</h3><p>xkcd's <code>/{{id}}/info.0.json</code> for 200 ids: \
         each request waits on the network, none depends on another. asyncio + aiohttp, or \
         threads, or <code>gather fetch -c 64</code>, turn the sum of the waits into roughly \
         the longest one.{}</p></div>\
         <div><h3>Web servers</h3><p>Thousands of connected clients, each mostly idle or waiting \
         on a database. An event loop (aiohttp, FastAPI on uvicorn, Node, tokio + axum as in \
         <code>gather serve</code>) holds them all on a few threads, where a thread per client \
         would cost a stack each.</p></div>\
         <div><h3>Database fan-out</h3><p>A page that needs five independent queries: issued \
         together (<code>asyncio.gather</code>, <code>tokio::join!</code>, goroutines with a \
         WaitGroup), the page waits for the slowest query, not for the sum.</p></div>\
         <div><h3>CPU crunching</h3><p>Image resizing, parsing, simulations, counting primes: \
         no waiting to overlap, only cores to use. Processes in Python (or native code that \
         releases the GIL, like NumPy); threads in Go, Rust, C++. Async alone gains nothing \
         here.</p></div></div></section>\n",
        esc(&measured)
    )
}

/// Requests as lanes, in order of start, times in ms.
fn waterfall_lanes(timeline: &Timeline, color: usize) -> Vec<Lane> {
    timeline
        .spans()
        .iter()
        .enumerate()
        .map(|(i, span)| Lane {
            label: format!("#{}", i + 1),
            segments: vec![Segment {
                start: ms(span.start),
                end: ms(span.end),
                mark: span.first_byte.map(ms),
                color,
            }],
        })
        .collect()
}

fn measurements(
    bench: &BenchReport,
    lab: &LabReport,
    machine: &Machine,
) -> Result<String, ChartError> {
    let mut html = String::from(
        "<section class=\"slide\" id=\"measured\"><h2><span class=\"n\">4</span>Measured on this \
         machine</h2>",
    );
    let latency = bench
        .latency
        .map_or("an external server".to_owned(), |l| format!("{l} latency"));
    let _ = write!(
        html,
        "<h3>The xkcd job: {} comics, one at a time and all at once</h3><p>From {} ({}). One bar \
         per request; pale until the response's headers arrived, solid while the body was \
         read.</p>",
        bench.count,
        esc(&bench.target),
        esc(&latency)
    );
    for (i, run) in bench.runs.iter().enumerate() {
        if run.timeline.is_empty() {
            continue;
        }
        let lanes = waterfall_lanes(&run.timeline, i);
        let height = (90 + 10 * lanes.len() as u32).clamp(200, 640);
        let title = format!(
            "{} (concurrency {}): {}",
            run.mode.as_str(),
            run.concurrency,
            human_duration(run.summary.wall)
        );
        let svg = charts::lanes(
            &title,
            &lanes,
            ms(run.timeline.end()),
            "ms since the start",
            (1000, height),
        )?;
        html.push_str(&figure(
            &format!("waterfall-{}", run.mode.as_str()),
            &svg,
            &format!(
                "Waterfall of the {} run: {} requests.",
                run.mode.as_str(),
                lanes.len()
            ),
        ));
    }
    if let Some(run) = bench
        .runs
        .iter()
        .find(|r| r.mode == Mode::Concurrent && !r.timeline.is_empty())
    {
        let points = run
            .timeline
            .in_flight()
            .into_iter()
            .map(|(t, n)| (ms(t), n))
            .collect();
        let svg = charts::in_flight(
            "requests in flight, concurrent run",
            &[("concurrent".to_owned(), points)],
            "ms since the start",
            (1000, 260),
        )?;
        html.push_str(&figure(
            "in-flight",
            &svg,
            "How many requests were in flight at each moment of the concurrent run.",
        ));
    }
    html.push_str(&bench_table(bench));
    html.push_str(&percentiles(bench)?);
    html.push_str(&lab_section(lab)?);
    html.push_str(&machine_list(machine, lab));
    html.push_str("</section>\n");
    Ok(html)
}

fn bench_table(bench: &BenchReport) -> String {
    let mut html = String::from(
        "<table><thead><tr><th>run</th><th>concurrency</th><th>wall</th>\
         <th>req/s</th><th>speedup</th><th>ideal</th><th>saved</th><th>failed</th></tr></thead>\
         <tbody>",
    );
    for run in &bench.runs {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            run.mode.as_str(),
            run.concurrency,
            human_duration(run.summary.wall),
            run.summary.requests_per_sec(),
            bench
                .speedup(run)
                .map_or("-".to_owned(), |s| format!("{s:.1}x")),
            run.ideal.map_or("-".to_owned(), human_duration),
            run.summary.ok,
            run.summary.failed
        );
    }
    html.push_str("</tbody></table>\n");
    html
}

fn percentiles(bench: &BenchReport) -> Result<String, ChartError> {
    let mut rows = Vec::new();
    let mut table = String::from(
        "<table><thead><tr><th>run</th><th>requests</th><th>p50</th>\
         <th>p90</th><th>p99</th><th>max</th></tr></thead><tbody>",
    );
    let floor = bench.latency.map(|l| ms(l.min()));
    for (i, run) in bench.runs.iter().enumerate() {
        let sorted = run.timeline.sorted_durations();
        if sorted.is_empty() {
            continue;
        }
        let points = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)];
        let values = points.map(|(_, p)| percentile(&sorted, p));
        for ((name, _), value) in points.iter().zip(values) {
            rows.push(Bar {
                label: format!("{} {name}", run.mode.as_str()),
                value: ms(value),
                ideal: floor,
                color: i,
            });
        }
        let _ = write!(
            table,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            run.mode.as_str(),
            sorted.len(),
            human_duration(values[0]),
            human_duration(values[1]),
            human_duration(values[2]),
            human_duration(values[3])
        );
    }
    table.push_str("</tbody></table>\n");
    if rows.is_empty() {
        return Ok(String::new());
    }
    let svg = charts::bars(
        "request latency percentiles",
        &rows,
        "ms from request to last byte",
        (1000, 70 + 26 * rows.len() as u32),
    )?;
    let mut html = String::from(
        "<h3>Latency percentiles</h3><p>How long each request took, from sending it to its last \
         byte. The outline is the server's shortest delay: the floor.</p>",
    );
    html.push_str(&figure("latency", &svg, "Latency percentiles per run."));
    html.push_str(&table);
    Ok(html)
}

fn model_color(model: Model) -> usize {
    match model {
        Model::Sequential => 5,
        Model::Async => 0,
        Model::AsyncMt => 4,
        Model::Threads => 1,
        Model::Processes => 2,
    }
}

/// The lab charts' legend: each model's key in its bar colour.
fn legend() -> String {
    [
        (Model::Async, "async (one thread)"),
        (Model::AsyncMt, "async-mt"),
        (Model::Threads, "threads"),
        (Model::Processes, "processes"),
    ]
    .iter()
    .map(|&(model, name)| {
        let c = charts::color(model_color(model));
        format!(
            "<span class=\"key\" style=\"background:#{:02x}{:02x}{:02x}\"></span> {name}",
            c.0, c.1, c.2
        )
    })
    .collect::<Vec<_>>()
    .join(" ")
}

fn lab_section(lab: &LabReport) -> Result<String, ChartError> {
    let mut html = format!(
        "<h3>The lab: three workloads under every model</h3><p>{}.<br>{}.</p><p>Each cell ran in \
         a fresh worker process. Bars: speedup over the same language's sequential run; \
         outlines: the ideal (zero overhead: for waiting work the longest chain of waits, for \
         CPU work the sequential run's parts packed onto the cores the model can use: one for a \
         single thread and for Python's threads under the GIL). Legend: {}.</p>",
        esc(&lab_heading(lab)),
        esc(&python_line(&lab.python, lab.config.python_primes_below)),
        legend()
    );
    for &workload in &lab.config.workloads {
        let rows: Vec<Bar> = lab
            .cells
            .iter()
            .filter(|c| c.workload == workload && c.model != Model::Sequential)
            .filter_map(|c| {
                Some(Bar {
                    label: format!("{} {}", c.runtime.as_str(), c.model.as_str()),
                    value: lab.speedup(c)?,
                    ideal: lab.ideal_speedup(c),
                    color: model_color(c.model),
                })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        let title = format!("{}: speedup over sequential", workload.as_str());
        let svg = charts::bars(
            &title,
            &rows,
            "x faster",
            (1000, 70 + 26 * rows.len() as u32),
        )?;
        html.push_str(&figure(
            &format!("speedup-{}", workload.as_str()),
            &svg,
            &format!(
                "The {} workload: measured speedup and ideal.",
                workload.as_str()
            ),
        ));
    }
    html.push_str(
        "<table class=\"lab\"><thead><tr><th>lang</th><th>workload</th><th>model</th><th>run by</th>\
         <th>wall</th><th>speedup</th><th>ideal</th><th>cpu</th><th>cores</th><th>mem</th>\
         </tr></thead><tbody>",
    );
    for cell in &lab.cells {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
            cell.runtime.as_str(),
            cell.workload.as_str(),
            cell.model.as_str(),
            esc(&cell.engine)
        );
        match cell_columns(lab, cell) {
            Ok(columns) => {
                for column in columns {
                    let _ = write!(html, "<td>{}</td>", esc(&column));
                }
                html.push_str("</tr>");
            }
            Err(error) => {
                let _ = write!(html, "<td colspan=\"6\">{}</td></tr>", esc(&error));
            }
        }
    }
    html.push_str("</tbody></table>\n");
    Ok(html)
}

fn machine_list(machine: &Machine, lab: &LabReport) -> String {
    let mut items = vec![
        ("cores", machine.cores.to_string()),
        (
            "CPU",
            machine.cpu.clone().unwrap_or_else(|| "unknown".to_owned()),
        ),
        ("OS", machine.os.clone()),
    ];
    if let Some(kernel) = &machine.kernel {
        items.push(("kernel", kernel.clone()));
    }
    items.push(("measured by", machine.gather.clone()));
    items.push((
        "Python",
        machine
            .python
            .clone()
            .unwrap_or_else(|| python_line(&lab.python, lab.config.python_primes_below)),
    ));
    items.push(("date", machine.date.clone()));
    let mut html = String::from("<h3>The machine</h3><dl class=\"machine\">");
    for (name, value) in items {
        let _ = write!(html, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(&value));
    }
    html.push_str("</dl>\n");
    html
}

fn conclusions_section(bench: &BenchReport, lab: &LabReport) -> String {
    let mut html = String::from(
        "<section class=\"slide\" id=\"conclusions\"><h2><span class=\"n\">5</span>What this run \
         shows</h2><ul class=\"conclusions\">",
    );
    for line in conclusions(bench, lab) {
        let _ = write!(html, "<li>{}</li>", esc(&line));
    }
    html.push_str("</ul></section>\n");
    html
}

/// Statements drawn from this run's numbers, each saying what was measured; where the numbers
/// do not show the expected lesson, the statement says so instead.
pub fn conclusions(bench: &BenchReport, lab: &LabReport) -> Vec<String> {
    let mut lines = Vec::new();
    if let (Some(seq), Some(con)) = (
        bench.runs.iter().find(|r| r.mode == Mode::Sequential),
        bench.runs.iter().find(|r| r.mode == Mode::Concurrent),
    ) && let Some(speedup) = bench.speedup(con)
    {
        lines.push(format!(
            "Fetching {} comics one at a time took {}; {} at once took {}: {speedup:.1}x faster{}.",
            bench.count,
            human_duration(seq.summary.wall),
            con.concurrency,
            human_duration(con.summary.wall),
            con.ideal
                .zip(seq.ideal)
                .map(|(ideal, seq_ideal)| format!(
                    ", against an ideal of {:.1}x",
                    seq_ideal.as_secs_f64() / ideal.as_secs_f64().max(f64::MIN_POSITIVE)
                ))
                .unwrap_or_default()
        ));
    }
    let speedup = |runtime, workload, model| {
        lab.cell(runtime, workload, model)
            .and_then(|c| lab.speedup(c))
    };
    let ideal = |runtime, workload, model| {
        lab.cell(runtime, workload, model)
            .and_then(|c| lab.ideal_speedup(c))
    };
    for workload in [Workload::Sleep, Workload::Http] {
        if let Some(a) = speedup(Runtime::Rust, workload, Model::Async) {
            let t = speedup(Runtime::Rust, workload, Model::Threads);
            let verdict = match ideal(Runtime::Rust, workload, Model::Async) {
                Some(ideal) if a >= 0.5 * ideal => {
                    format!("waiting overlaps on a single thread (ideal {ideal:.1}x)")
                }
                Some(ideal) => format!(
                    "less than half of the ideal {ideal:.1}x: overhead dominated at this size"
                ),
                None => "waiting overlaps on a single thread".to_owned(),
            };
            lines.push(format!(
                "{}: async on one thread was {a:.1}x faster than sequential with {} tasks{}; {verdict}.",
                workload.as_str(),
                lab.config.tasks,
                t.map(|t| format!(" (a thread per task: {t:.1}x)"))
                    .unwrap_or_default()
            ));
        }
    }
    let busy = |runtime| {
        lab.cell(runtime, Workload::Cpu, Model::Threads)
            .map(|c| c.cores_used())
    };
    if let (Some(a), Some(t), Some(rust_busy)) = (
        speedup(Runtime::Rust, Workload::Cpu, Model::Async),
        speedup(Runtime::Rust, Workload::Cpu, Model::Threads),
        busy(Runtime::Rust),
    ) {
        let p = speedup(Runtime::Rust, Workload::Cpu, Model::Processes);
        let one_thread = if a <= 1.2 {
            "one thread gained nothing by interleaving the parts"
        } else {
            "one thread came out faster than sequential, which is noise: it cannot compute faster"
        };
        let threads = if lab.cores < 2 {
            "with one core, nothing could run in parallel".to_owned()
        } else if t >= 1.5 {
            format!(
                "threads kept {rust_busy:.1} of the {} cores busy and finished {t:.1}x sooner",
                lab.cores
            )
        } else if rust_busy < 1.5 {
            format!(
                "threads kept only {rust_busy:.1} cores busy on average: other work on this machine \
                 held the rest, so parallelism could not show in this run"
            )
        } else {
            format!(
                "threads kept {rust_busy:.1} cores busy yet finished only {t:.1}x sooner: overhead"
            )
        };
        lines.push(format!(
            "cpu (Rust): async on one thread {a:.1}x, threads {t:.1}x{} on {} cores: {one_thread}; {threads}.",
            p.map(|p| format!(", processes {p:.1}x")).unwrap_or_default(),
            lab.cores
        ));
    }
    if let (Some(t), Some(p), Some(py_busy)) = (
        speedup(Runtime::Python, Workload::Cpu, Model::Threads),
        speedup(Runtime::Python, Workload::Cpu, Model::Processes),
        busy(Runtime::Python),
    ) {
        let rust_busy = busy(Runtime::Rust).unwrap_or(0.0);
        let verdict = if t < 1.3 && p >= 1.3 {
            "the GIL let one thread compute at a time, while each process had its own".to_owned()
        } else if t < 1.3 && rust_busy >= 1.5 && py_busy <= 1.2 {
            format!(
                "Rust threads kept {rust_busy:.1} cores busy on the same machine, Python threads \
                 {py_busy:.1}: the GIL"
            )
        } else if t >= 1.3 {
            "threads ran in parallel: this Python may be free-threaded".to_owned()
        } else {
            format!(
                "neither gained in this run, and Rust threads kept only {rust_busy:.1} cores busy \
                 either: the machine had no free core to show the GIL's cost with"
            )
        };
        lines.push(format!(
            "cpu (Python): threads {t:.1}x, processes {p:.1}x: {verdict}."
        ));
    }
    if let Some(a) = speedup(Runtime::Python, Workload::Sleep, Model::Async) {
        let verdict = match ideal(Runtime::Python, Workload::Sleep, Model::Async) {
            Some(ideal) if a < 0.5 * ideal => {
                format!("less than half of the ideal {ideal:.1}x: overhead dominated at this size")
            }
            Some(ideal) if a < 1.5 => {
                format!("against an ideal of {ideal:.1}x, the waits did not overlap in this run")
            }
            _ => "the GIL does not stop waiting from overlapping".to_owned(),
        };
        lines.push(format!(
            "sleep (Python): asyncio was {a:.1}x faster than sequential: {verdict}."
        ));
    }
    for runtime in [Runtime::Rust, Runtime::Python] {
        if let (Some(threads), Some(processes)) = (
            lab.cell(runtime, Workload::Sleep, Model::Threads),
            lab.cell(runtime, Workload::Sleep, Model::Processes),
        ) {
            lines.push(format!(
                "Memory ({}): {} used {}, {} used {}.",
                runtime.as_str(),
                threads.engine,
                human_memory(threads.peak_rss_kib),
                processes.engine,
                human_memory(processes.peak_rss_kib)
            ));
        }
    }
    if lines.is_empty() {
        lines.push("This run has too few cells to draw conclusions from.".to_owned());
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::lab::{LabCell, LabConfig, PythonStatus};

    fn cell(runtime: Runtime, model: Model, wall_ms: u64, cpu_ms: u64) -> LabCell {
        LabCell {
            runtime,
            workload: Workload::Cpu,
            model,
            engine: model.as_str().to_owned(),
            workers: 2,
            tasks: 8,
            wall: Duration::from_millis(wall_ms),
            cpu: Duration::from_millis(cpu_ms),
            peak_rss_kib: 20_000,
            ideal: Some(Duration::from_millis(wall_ms)),
            timeline: Timeline::default(),
            answer: None,
            error: None,
        }
    }

    fn lab(cells: Vec<LabCell>) -> LabReport {
        LabReport {
            config: LabConfig::default(),
            cores: 2,
            cells,
            python: PythonStatus::NotRequested,
            interrupted: false,
        }
    }

    fn bench() -> BenchReport {
        BenchReport {
            target: "http://127.0.0.1/{id}".to_owned(),
            builtin: true,
            latency: None,
            count: 0,
            runs: Vec::new(),
            interrupted: false,
            python: None,
        }
    }

    #[test]
    fn conclusions_follow_the_numbers() {
        let free = lab(vec![
            cell(Runtime::Rust, Model::Sequential, 400, 400),
            cell(Runtime::Rust, Model::Async, 400, 400),
            cell(Runtime::Rust, Model::Threads, 210, 400),
            cell(Runtime::Python, Model::Sequential, 400, 400),
            cell(Runtime::Python, Model::Threads, 410, 410),
            cell(Runtime::Python, Model::Processes, 220, 420),
        ]);
        let lines = conclusions(&bench(), &free).join("\n");
        assert!(
            lines.contains("kept 1.9 of the 2 cores busy and finished 1.9x sooner"),
            "{lines}"
        );
        assert!(
            lines.contains("the GIL let one thread compute at a time"),
            "{lines}"
        );

        let busy = lab(vec![
            cell(Runtime::Rust, Model::Sequential, 400, 400),
            cell(Runtime::Rust, Model::Async, 400, 400),
            cell(Runtime::Rust, Model::Threads, 380, 400),
            cell(Runtime::Python, Model::Sequential, 400, 400),
            cell(Runtime::Python, Model::Threads, 410, 410),
            cell(Runtime::Python, Model::Processes, 390, 420),
        ]);
        let lines = conclusions(&bench(), &busy).join("\n");
        assert!(
            lines.contains("parallelism could not show in this run"),
            "{lines}"
        );
        assert!(
            lines.contains("no free core to show the GIL's cost"),
            "{lines}"
        );
        assert!(!lines.contains("the GIL let one thread"), "{lines}");
    }

    /// A sleep cell of `runtime` and `model`: `wall_ms` measured against `ideal_ms`.
    fn sleep_cell(runtime: Runtime, model: Model, wall_ms: u64, ideal_ms: u64) -> LabCell {
        LabCell {
            workload: Workload::Sleep,
            ideal: Some(Duration::from_millis(ideal_ms)),
            ..cell(runtime, model, wall_ms, 1)
        }
    }

    #[test]
    fn waiting_is_judged_against_the_cells_ideal() {
        // 4 tasks of 100 ms, though the config says 10: the ideal is 4x, and 3x is most of it.
        let near = lab(vec![
            sleep_cell(Runtime::Rust, Model::Sequential, 400, 400),
            sleep_cell(Runtime::Rust, Model::Async, 133, 100),
            sleep_cell(Runtime::Python, Model::Sequential, 400, 400),
            sleep_cell(Runtime::Python, Model::Async, 133, 100),
        ]);
        let lines = conclusions(&bench(), &near).join("\n");
        assert!(
            lines.contains("waiting overlaps on a single thread (ideal 4.0x)"),
            "{lines}"
        );
        assert!(
            lines.contains("the GIL does not stop waiting from overlapping"),
            "{lines}"
        );
        // 1.2x against an ideal of 4x: overhead, whatever the task count.
        let far = lab(vec![
            sleep_cell(Runtime::Rust, Model::Sequential, 400, 400),
            sleep_cell(Runtime::Rust, Model::Async, 330, 100),
            sleep_cell(Runtime::Python, Model::Sequential, 400, 400),
            sleep_cell(Runtime::Python, Model::Async, 330, 100),
        ]);
        let lines = conclusions(&bench(), &far).join("\n");
        assert!(
            lines.contains("less than half of the ideal 4.0x"),
            "{lines}"
        );
        assert!(
            !lines.contains("waiting overlaps") && !lines.contains("does not stop waiting"),
            "{lines}"
        );
    }

    #[test]
    fn text_from_data_is_escaped() {
        assert_eq!(esc("<b>&\"</b>"), "&lt;b&gt;&amp;\"&lt;/b&gt;");
        let html = figure("x\"><script>", "<svg></svg>", "a < b");
        assert!(
            !html.contains("<script>") && html.contains("a &lt; b"),
            "{html}"
        );
    }
}
