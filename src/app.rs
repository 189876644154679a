//! Runs one parsed command: builds its config, runs it, prints the results, and says how it
//! ended. The exit codes are decided here, in [`Status::code`] and [`SETUP_ERROR`].

use std::io::{self, Write};

use tokio_util::sync::CancellationToken;

use crate::bench::{self, BenchError};
use crate::cli::{BenchArgs, BenchWorkload, Cli, Command, ConfigError, FetchArgs, ServeArgs};
use crate::fetch::{self, FetchError};
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
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted,
}

impl Status {
    /// The process exit code: 0, 1 or 130.
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::SomeFailed => 1,
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
    /// The server could not bind or serve.
    #[error("cannot serve on {addr}")]
    Serve {
        /// The address.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
}

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> Result<Status, AppError> {
    match cli.command {
        Command::Fetch(args) => run_fetch(args).await,
        Command::Serve(args) => run_serve(args).await,
        Command::Bench(args) => run_bench(args).await,
    }
}

async fn run_fetch(args: FetchArgs) -> Result<Status, AppError> {
    let (json, quiet) = (args.json, args.quiet);
    let config = args.into_config()?;
    let out = config.out.clone();
    let progress = Progress::new(config.len_hint(), quiet);
    let cancel = cancel_on_signal();
    let summary = fetch::fetch(config, &cancel, |record| progress.observe(record)).await?;
    progress.finish();
    if json {
        print(&format!("{:#}\n", report::summary_json(&summary, &out)));
    } else {
        print(&report::summary_text(&summary, &out));
    }
    Ok(if summary.interrupted {
        Status::Interrupted
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
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(serve_error)?;
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
    if let Some(BenchWorkload::Sleep(args)) = args.workload {
        let json = args.json;
        let result = bench::sleep::run(args.into_config()?).await;
        if json {
            print(&format!("{:#}\n", report::sleep_json(&result)));
        } else {
            print(&report::sleep_text(&result));
        }
        return Ok(Status::Success);
    }
    let json = args.json;
    let config = args.into_config()?;
    let cancel = cancel_on_signal();
    let result = bench::run(config, cancel).await?;
    if json {
        print(&format!("{:#}\n", report::bench_json(&result)));
    } else {
        print(&report::bench_table(&result));
    }
    Ok(if result.interrupted {
        Status::Interrupted
    } else if result.runs.iter().any(|run| run.summary.failed > 0) {
        Status::SomeFailed
    } else {
        Status::Success
    })
}

/// A token cancelled by the first Ctrl-C (or SIGTERM on Unix). A second one ends the process
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

/// Waits for Ctrl-C, or SIGTERM where there is one.
async fn interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
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
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        && e.kind() != io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(
            io::stderr(),
            "gather: cannot write the results to stdout: {e}"
        );
    }
}
