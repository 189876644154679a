//! The `gather` binary: parse the command line, run it on a tokio runtime, map the outcome to
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gather::app::{self, SETUP_ERROR};
use gather::cli::Cli;
use tracing_subscriber::EnvFilter;

// mimalloc instead of glibc's malloc: W3's user-space instructions per item 75.7k -> 66.0k
// (callgrind), with the same peak RSS for W4's million tasks. Its `no_thp` feature keeps
// transparent huge pages out of its arenas: W2's peak RSS is 14.1-14.7 MB with it, 20-22 MB
// without (glibc: 13.8-14.3 MB).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    // Each connection, and each file being saved, takes a descriptor: allow as many as the
    // system lets this process have.
    #[cfg(unix)]
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!("cannot raise the open-file limit: {e}");
    }
    // A file-size limit (`ulimit -f`) would otherwise kill the process with SIGXFSZ mid-run,
    // without a summary; ignored, the write fails with EFBIG ("File too large") and only
    // that item fails.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to SIG_IGN, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let result = app::runtime(&cli.command)
        .context("cannot start the async runtime")
        .and_then(|runtime| {
            let status = runtime.block_on(app::run(cli));
            // Don't wait forever on blocking work still running, such as a read of a
            // terminal's stdin after an interrupted `--input -`.
            runtime.shutdown_timeout(Duration::from_secs(5));
            Ok(status?)
        });
    match result {
        Ok(status) => ExitCode::from(status.code()),
        Err(error) => {
            eprintln!("gather: {error:#}");
            ExitCode::from(SETUP_ERROR)
        }
    }
}

fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // The platform verifier warns about each missing root store (gather falls back to bundled
    // roots then), and logs an error for each certificate it refuses, which the item's failure
    // already says: neither is worth a line. rustls warns of each alert it sends (a refused
    // certificate again).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},rustls_platform_verifier=off,rustls=error"))
    });
    // Colours only for a person at a terminal, and never under NO_COLOR (no-color.org: set and
    // not empty): log lines piped or saved to a file stay plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}
