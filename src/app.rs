//! Runs one parsed command: builds its config, runs it, prints the results, and says how it
//! ended. The exit codes are decided here, in [`Status::code`] and [`SETUP_ERROR`].

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};

use tokio_util::sync::CancellationToken;

use crate::bench::lab::{self, LabConfig, LabError, LabReport};
use crate::bench::lessons::{self, LessonConfig, LessonError};
use crate::bench::{self, BenchConfig, BenchError, BenchReport};
use crate::cli::{
    BenchArgs, BenchWorkload, Cli, Command, ConfigError, FetchArgs, LabArgs, MergeArgs, ServeArgs,
    SummaryCommand, SweepArgs,
};
use crate::fetch::{self, FailureSpool, FetchError};
use crate::report::{self, Progress};
use crate::serve;

/// Exit code for usage and setup errors: nothing was fetched.
pub const SETUP_ERROR: u8 = 2;

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Everything done.
    Success,
    /// Some items failed.
    SomeFailed,
    /// Some items failed, and `--fail-exit` asked for this exit code.
    SomeFailedExit(u8),
    /// Stopped by Ctrl-C, SIGTERM or SIGHUP.
    Interrupted,
}

impl Status {
    /// The process exit code: 0, 1 (or `--fail-exit`'s) or 130.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::SomeFailed => 1,
            Status::SomeFailedExit(code) => code,
            Status::Interrupted => 130,
        }
    }
}

/// Why a command could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The arguments do not make a valid config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The fetch could not start.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The bench could not run.
    #[error(transparent)]
    Bench(#[from] BenchError),
    /// The lab could not run.
    #[error(transparent)]
    Lab(#[from] LabError),
    /// The lessons' demos could not run.
    #[error(transparent)]
    Lessons(#[from] LessonError),
    /// The deck could not be made.
    #[error(transparent)]
    Deck(#[from] report::html::DeckError),
    /// An output file (`--trace`, `--report`, `--har`) could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An input file (`summary merge`) could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Summaries that do not merge.
    #[error(transparent)]
    Merge(#[from] report::MergeError),
    /// `lab-worker` was given something that is not a job.
    #[error("lab-worker: stdin is not a lab job")]
    Job(#[source] serde_json::Error),
    /// Results could not be turned into JSON (for stdout, `--trace` or `--har`).
    #[error("cannot serialize the results as JSON")]
    Serialize(#[source] serde_json::Error),
    /// This program's own path, needed to start the lab's workers, is unknown.
    #[error("cannot find this program's own path to start the lab's workers")]
    Exe(#[source] io::Error),
    /// The server could not bind or serve.
    #[error("cannot serve on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
}

/// The tokio runtime to run `command` on.
///
/// `serve` runs on one thread unless `--threads` asks for more: a multi-thread runtime's
/// workers wake and steal from each other (futex calls, task switches) for a server whose
/// requests are short, while the client it serves usually shares the cores. W3 (100,000 comics,
/// -c 64, client on the same 2 cores, 3 interleaved rounds): server CPU 1.05-1.15 s -> 0.75-0.83 s
/// with this and the cheaper comic route together, and no fewer requests per second when the
/// server alone is the bottleneck (pipelined load: 137-155k -> 130-156k/s).
///
/// `fetch` runs on one thread too: its downloads run on worker threads of their own
/// (`fetch::workers`), and this thread only collects their records, signals and prints.
/// Everything else gets a worker per core.
pub fn runtime(command: &Command) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = match command {
        Command::Serve(args) if args.threads == 1 => tokio::runtime::Builder::new_current_thread(),
        Command::Fetch(_) => tokio::runtime::Builder::new_current_thread(),
        Command::Serve(args) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(args.threads as usize);
            builder
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> Result<Status, AppError> {
    match cli.command {
        Command::Fetch(args) => run_fetch(args).await,
        Command::Serve(args) => run_serve(args).await,
        Command::Bench(args) => run_bench(args).await,
        Command::Summary(SummaryCommand::Merge(args)) => run_merge(args),
        Command::Completions(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(args.shell, &mut command, "gather", &mut io::stdout());
            Ok(Status::Success)
        }
        Command::Man(args) => {
            let mut command = <Cli as clap::CommandFactory>::command();
            command.build();
            if let Some(name) = &args.command {
                let found = command.find_subcommand(name).cloned();
                command = found.ok_or_else(|| ConfigError::NoCommand(name.clone()))?;
                command = command.display_name(format!("gather-{name}"));
            }
            let mut page = Vec::new();
            clap_mangen::Man::new(command)
                .render(&mut page)
                .map_err(|source| AppError::Write {
                    path: PathBuf::from("-"),
                    source,
                })?;
            print_stdout(&page)
        }
        Command::LabWorker => run_lab_worker().await,
    }
}

/// Writes `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn print_stdout(bytes: &[u8]) -> Result<Status, AppError> {
    match io::stdout().lock().write_all(bytes) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(AppError::Write {
            path: PathBuf::from("-"),
            source: e,
        }),
        _ => Ok(Status::Success),
    }
}

/// Whether `record` failed because stdout, where `--jsonl -` writes, was closed.
fn is_broken_pipe(record: &fetch::Record) -> bool {
    matches!(
        &record.outcome,
        fetch::Outcome::Failed(fetch::ItemError::Save(e)) if e.kind() == io::ErrorKind::BrokenPipe
    )
}

/// `gather summary merge`: reads every summary, then adds them up.
fn run_merge(args: MergeArgs) -> Result<Status, AppError> {
    let mut summaries = Vec::with_capacity(args.files.len());
    for path in &args.files {
        let bytes = std::fs::read(path).map_err(|source| AppError::Read {
            path: path.clone(),
            source,
        })?;
        let value =
            serde_json::from_slice(&bytes).map_err(|e| report::MergeError::NotASummary {
                file: path.display().to_string(),
                what: format!("not JSON: {e}"),
            })?;
        summaries.push((path.display().to_string(), value));
    }
    let merged = report::merge(summaries)?;
    if args.json {
        print(&format!("{:#}\n", report::merged_json(&merged)));
    } else {
        print(&report::merged_text(&merged));
    }
    Ok(if merged.complete() {
        Status::Success
    } else {
        Status::SomeFailed
    })
}

async fn run_fetch(args: FetchArgs) -> Result<Status, AppError> {
    let (json, quiet, har_path, fail_exit) =
        (args.json, args.quiet, args.har.clone(), args.fail_exit);
    // `--jsonl -` owns stdout, and so does a `--jsonl`/`--warc` file stdout is redirected to
    // (`--jsonl /dev/stdout > out.jsonl`): the summary goes to stderr, not over the records.
    let records_on_stdout = args.records_on_stdout().is_some();
    let mut config = args.into_config()?;
    let control = config.control.clone();
    let shard = config.shard;
    config.policy.exchanges = har_path.is_some();
    if let Some(cap) = fetch::descriptor_cap(config.concurrency, config.threads) {
        eprintln!(
            "gather: the open-file limit (ulimit -n) allows {cap} downloads at once; running {cap} instead of {}",
            config.concurrency
        );
        config.concurrency = cap;
    }
    let out = config.out.clone();
    let progress = Progress::new(config.len_hint(), quiet);
    let cancel = cancel_on_signal();
    let har_out = har_path.as_deref().map(Output::create).transpose()?;
    let run_start = std::time::SystemTime::now();
    let mut har_entries = Vec::new();
    // Failures are kept for --json only, on disk: memory stays flat however many fail.
    let mut spool = json.then(FailureSpool::new);
    let mut stdout_closed = false;
    let summary = fetch::fetch(config, &cancel, |record| {
        if records_on_stdout && is_broken_pipe(record) {
            // `--jsonl - | head`: whoever read the records has gone. Stop as on Ctrl-C, with
            // one line rather than one per item still in flight.
            if !stdout_closed {
                stdout_closed = true;
                progress.note("gather: stdout was closed; stopping");
                cancel.cancel();
            }
            return;
        }
        progress.observe(record);
        if har_path.is_some() {
            har_entries.extend(report::HarEntry::from_record(record, run_start));
        }
        if let Some(spool) = spool.as_mut() {
            spool.add(record);
        }
    })
    .await?;
    progress.finish();
    if let Some(out) = har_out {
        write_json(out, &report::har(&har_entries))?;
    }
    if let Some(spool) = spool {
        let mut totals = report::summary_json(&summary, &out);
        // What `gather summary merge` needs to add up the shards of one job.
        totals["shard"] = shard.map(|s| s.to_string()).into();
        totals["started_at"] = humantime::format_rfc3339_millis(run_start)
            .to_string()
            .into();
        totals["finished_at"] = humantime::format_rfc3339_millis(std::time::SystemTime::now())
            .to_string()
            .into();
        if let Some(control) = control.as_deref().filter(|c| c.is_auto()) {
            totals["concurrency_auto"] = report::auto_json(control);
        }
        let (failures, error) = spool.read();
        if let Some(error) = error {
            eprintln!("gather: some failures could not be kept for --json: {error}");
        }
        print_with(|stdout| report::write_summary_json(stdout, &totals, failures));
    } else if records_on_stdout {
        eprint!("{}", report::summary_text(&summary, &out));
    } else {
        let mut text = report::summary_text(&summary, &out);
        if let Some(control) = control.as_deref().filter(|c| c.is_auto()) {
            text.push_str(&report::auto_text(control));
        }
        print(&text);
    }
    Ok(if summary.interrupted {
        Status::Interrupted
    } else if summary.failed > 0 && fail_exit != 1 {
        Status::SomeFailedExit(fail_exit)
    } else if summary.failed > 0 {
        Status::SomeFailed
    } else {
        Status::Success
    })
}

async fn run_serve(args: ServeArgs) -> Result<Status, AppError> {
    let addr = format!("{}:{}", args.host, args.port);
    let serve_error = |source| AppError::Serve {
        addr: addr.clone(),
        source,
    };
    let config = args.into_config()?;
    let listener = serve::bind(&addr).await.map_err(serve_error)?;
    let bound = listener.local_addr().map_err(serve_error)?;
    print(&format!("http://{bound}\n"));
    eprintln!(
        "gather serve: xkcd-like API on http://{bound} (latency {}, comics 1..={}); Ctrl-C stops",
        config.latency, config.max_id
    );
    let cancel = cancel_on_signal();
    serve::serve(listener, &config, cancel.cancelled_owned())
        .await
        .map_err(serve_error)?;
    Ok(Status::Success)
}

async fn run_bench(args: BenchArgs) -> Result<Status, AppError> {
    match args.workload {
        Some(BenchWorkload::Sleep(args)) => {
            let json = args.json;
            let result = bench::sleep::run(args.into_config()?).await;
            if json {
                print(&format!("{:#}\n", report::sleep_json(&result)));
            } else {
                print(&report::sleep_text(&result));
            }
            return Ok(Status::Success);
        }
        Some(BenchWorkload::Lab(args)) => return run_lab(args).await,
        Some(BenchWorkload::Sweep(args)) => return run_sweep(args).await,
        None => {}
    }
    let (json, quiet, trace, report_path, lesson_scale) = (
        args.json,
        args.quiet,
        args.trace.clone(),
        args.report.clone(),
        args.lesson_scale,
    );
    let config = args.into_config()?;
    let trace_out = trace.as_deref().map(Output::create).transpose()?;
    let report_out = report_path.as_deref().map(Output::create).transpose()?;
    // The sequential run is mostly waiting: say how long, on a terminal, before it starts.
    if config.url.is_none()
        && config.modes.contains(&bench::Mode::Sequential)
        && !quiet
        && io::stderr().is_terminal()
    {
        let wait = bench::ideal(config.count, 1, config.latency.mean());
        let python = if config.python {
            ", and as long again in Python"
        } else {
            ""
        };
        eprintln!(
            "gather bench: the sequential run takes about {} ({} comics one at a time){python}",
            report::human_duration(wait),
            config.count
        );
    }
    let cancel = cancel_on_signal();
    // --json is for scripts: no bar, even where stderr is a terminal.
    let result = bench::run(config, cancel.clone(), bench_progress(!quiet && !json)).await?;
    if json {
        print(&format!("{:#}\n", report::bench_json(&result)));
    } else {
        print(&report::bench_table(&result));
    }
    if let Some(out) = trace_out {
        let runs = result.runs.iter().map(|run| {
            let name = format!("{} (concurrency {})", run.mode.as_str(), run.concurrency);
            (name, "http", &run.timeline)
        });
        let python = result.python.iter().flat_map(|python| &python.runs);
        let python = python.filter(|run| run.wall.is_some()).map(|run| {
            let name = format!(
                "python {} ({}, concurrency {})",
                run.mode.as_str(),
                run.client,
                run.concurrency
            );
            (name, "http", &run.timeline)
        });
        write_json(out, &report::chrome_trace(runs.chain(python)))?;
    }
    let interrupted = match report_out {
        Some(out) if !result.interrupted => {
            eprintln!("gather bench: running the lab for the report ...");
            let lab = lab::run(
                LabConfig {
                    exe: worker_exe()?,
                    ..LabConfig::default()
                },
                cancel.clone(),
            )
            .await?;
            write_report(out, &result, &lab, lesson_scale, cancel).await?
        }
        Some(out) => not_written(&out),
        None => result.interrupted,
    };
    Ok(if interrupted {
        Status::Interrupted
    } else if result.runs.iter().any(|run| run.summary.failed > 0) {
        Status::SomeFailed
    } else {
        Status::Success
    })
}

/// A progress bar for each of a bench's runs while it runs, on a terminal when `show`.
fn bench_progress(show: bool) -> impl FnMut(bench::Event<'_>) {
    let mut bar = None;
    move |event| match event {
        bench::Event::Start { mode, items } => {
            bar = Some(Progress::bench_run(mode.as_str(), items, show));
        }
        bench::Event::Record(record) => {
            if let Some(bar) = &bar {
                bar.observe(record);
            }
        }
        bench::Event::End => {
            if let Some(bar) = bar.take() {
                bar.finish();
            }
        }
    }
}

/// `gather bench sweep`: the levels, then the table or JSON, the chart and the trace.
async fn run_sweep(args: SweepArgs) -> Result<Status, AppError> {
    let (json, chart, trace) = (args.json, args.chart.clone(), args.trace.clone());
    let config = args.into_config()?;
    let chart_out = chart.as_deref().map(Output::create).transpose()?;
    let trace_out = trace.as_deref().map(Output::create).transpose()?;
    let cancel = cancel_on_signal();
    let result = bench::sweep::run(config, cancel).await?;
    if json {
        print(&format!("{:#}\n", report::sweep_json(&result)));
    } else {
        print(&report::sweep_table(&result));
    }
    if let Some(out) = chart_out {
        let svg =
            report::sweep_chart(&result, (1200, 520)).map_err(report::html::DeckError::from)?;
        out.write(svg.as_bytes())?;
    }
    if let Some(out) = trace_out {
        let runs = result.rows.iter().map(|row| {
            let name = match row.level {
                bench::sweep::Level::Fixed(n) => format!("-c {n}"),
                bench::sweep::Level::Auto(max) => format!("-c auto (max {max})"),
            };
            (name, "http", &row.timeline)
        });
        let mut value = report::chrome_trace(runs);
        for (index, row) in result.rows.iter().enumerate() {
            for limit in &row.limits {
                let name = match limit.host.as_str() {
                    "" => "concurrency limit".to_owned(),
                    host => format!("concurrency limit ({host})"),
                };
                report::trace::add_counter(&mut value, index + 1, &name, &limit.history);
            }
        }
        write_json(out, &value)?;
    }
    // Items that failed at a level (429s past their retries) are a finding, in the table.
    Ok(if result.interrupted {
        Status::Interrupted
    } else {
        Status::Success
    })
}

async fn run_lab(args: LabArgs) -> Result<Status, AppError> {
    let (json, trace, report_path, lesson_scale) = (
        args.json,
        args.trace.clone(),
        args.report.clone(),
        args.lesson_scale,
    );
    let config = args.into_config(worker_exe()?)?;
    let trace_out = trace.as_deref().map(Output::create).transpose()?;
    let report_out = report_path.as_deref().map(Output::create).transpose()?;
    let cancel = cancel_on_signal();
    let latency = config.latency;
    let result = lab::run(config, cancel.clone()).await?;
    if json {
        print(&format!("{:#}\n", report::lab_json(&result)));
    } else {
        print(&report::lab_table(&result));
    }
    if let Some(out) = trace_out {
        let runs = result.cells.iter().map(|cell| {
            let name = format!(
                "{} · {} · {} ({})",
                cell.runtime.as_str(),
                cell.workload.as_str(),
                cell.model.as_str(),
                cell.engine
            );
            (name, cell.workload.as_str(), &cell.timeline)
        });
        write_json(out, &report::chrome_trace(runs))?;
    }
    let interrupted = match report_out {
        Some(out) if !result.interrupted => {
            eprintln!("gather bench lab: timing the xkcd fetch for the report ...");
            let bench = bench::run(
                BenchConfig {
                    count: REPORT_COMICS,
                    latency,
                    concurrency: None,
                    url: None,
                    timelines: true,
                    modes: vec![bench::Mode::Sequential, bench::Mode::Concurrent],
                    python: false,
                },
                cancel.clone(),
                bench_progress(!json),
            )
            .await?;
            write_report(out, &bench, &result, lesson_scale, cancel).await?
        }
        Some(out) => not_written(&out),
        None => result.interrupted,
    };
    Ok(if interrupted {
        Status::Interrupted
    } else {
        Status::Success
    })
}

/// The hidden `lab-worker`: one job from stdin, its measurements on stdout.
async fn run_lab_worker() -> Result<Status, AppError> {
    let job: lab::Job = serde_json::from_reader(io::stdin().lock()).map_err(AppError::Job)?;
    let exe = worker_exe()?;
    // The job starts its own runtimes and threads: run it off this runtime's workers.
    let output = tokio::task::spawn_blocking(move || lab::worker::run(&job, &exe))
        .await
        .map_err(LabError::from)?;
    print(&format!(
        "{}\n",
        serde_json::to_string(&output).map_err(AppError::Serialize)?
    ));
    Ok(Status::Success)
}

/// This binary, started again as the lab's worker processes.
fn worker_exe() -> Result<PathBuf, AppError> {
    std::env::current_exe().map_err(AppError::Exe)
}

/// An output file (`--har`, `--trace`, `--report`), created before the run so that an
/// unwritable path is an error at once, not after the work. Dropped unwritten (interrupted, or
/// an error on the way), it removes the empty file it created.
struct Output {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl Output {
    fn create(path: &Path) -> Result<Self, AppError> {
        let file = std::fs::File::create(path).map_err(|source| AppError::Write {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self {
            path: path.to_owned(),
            file: Some(file),
        })
    }

    /// Writes `bytes` as the whole file: kept from then on.
    fn write(mut self, bytes: &[u8]) -> Result<(), AppError> {
        let written = match self.file.as_mut() {
            Some(file) => file.write_all(bytes).and_then(|()| file.flush()),
            None => Ok(()),
        };
        written.map_err(|source| AppError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.file = None;
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Says that an interrupted run leaves no report (dropping `out` removes its empty file);
/// returns `true`, the run having been interrupted.
fn not_written(out: &Output) -> bool {
    eprintln!(
        "gather: interrupted: the report is not written to {}",
        out.path.display()
    );
    true
}

/// The comics of the xkcd fetch that `bench lab --report` times: the seeds' 1 to 200.
const REPORT_COMICS: u64 = 200;

/// This process's command line, quoted for a POSIX shell where needed.
fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_./:=@%+,-".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Times the lessons' demos, then writes the deck of everything, or nothing if any part was
/// interrupted; returns whether one was.
async fn write_report(
    out: Output,
    bench: &BenchReport,
    lab: &LabReport,
    lesson_scale: f64,
    cancel: CancellationToken,
) -> Result<bool, AppError> {
    if bench.interrupted || lab.interrupted {
        return Ok(not_written(&out));
    }
    eprintln!("gather: timing the lessons' demos for the report ...");
    let lessons = lessons::run(
        LessonConfig {
            scale: lesson_scale,
            ..LessonConfig::default()
        },
        cancel.clone(),
    )
    .await?;
    if lessons.interrupted {
        return Ok(not_written(&out));
    }
    eprintln!("gather: sweeping the concurrency for the report ...");
    let sweep = bench::sweep::run(bench::sweep::SweepConfig::for_the_deck(), cancel).await?;
    if sweep.interrupted {
        return Ok(not_written(&out));
    }
    let machine = bench::machine::Machine::detect(&lab.python);
    let command = command_line();
    let html = report::html_report(&report::html::DeckInput {
        bench,
        lab,
        lessons: Some(&lessons),
        sweep: Some(&sweep),
        machine: &machine,
        command: &command,
    })?;
    let path = out.path.clone();
    out.write(html.as_bytes())?;
    eprintln!("gather: wrote the report to {}", path.display());
    Ok(false)
}

fn write_json(out: Output, value: &serde_json::Value) -> Result<(), AppError> {
    let text = serde_json::to_vec(value).map_err(AppError::Serialize)?;
    out.write(&text)
}

/// A token cancelled by the first Ctrl-C (or SIGTERM or SIGHUP on Unix). A second one ends the process
/// at once with 130: temp files it leaves are removed by the next run.
fn cancel_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        interrupt().await;
        cancel.cancel();
        interrupt().await;
        eprintln!("gather: interrupted twice, stopping now");
        std::process::exit(i32::from(Status::Interrupted.code()));
    });
    token
}

/// Waits for Ctrl-C, or SIGTERM or SIGHUP (a closed terminal or ssh session) where there are
/// such signals.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
                _ = hangup.recv() => {}
            }
            return;
        }
    }
    // Without a handler, Ctrl-C keeps its default: ending the process.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Writes results to stdout. A closed pipe (`gather ... | head`) is not an error, and no other
/// write error changes how the command ended: it is reported on stderr.
fn print(text: &str) {
    print_with(|stdout| stdout.write_all(text.as_bytes()));
}

/// Writes results to stdout with `write`, buffered, as [`print`] does.
fn print_with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) {
    let mut stdout = io::BufWriter::new(io::stdout().lock());
    if let Err(e) = write(&mut stdout).and_then(|()| stdout.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(
            io::stderr(),
            "gather: cannot write the results to stdout: {e}"
        );
    }
}
