//! The command line: clap types, and their conversion into validated configs. Nothing deeper
//! than this module sees a clap type.

// The doc comments below are also the `--help` text, where URLs must stay plain.
#![allow(rustdoc::bare_urls)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::bench::lab::lang::cache_dir;
use crate::bench::lab::{DEFAULT_PYTHON, LabConfig, Lang, Workload};
use crate::bench::sleep::SleepConfig;
use crate::bench::sweep::SweepConfig;
use crate::bench::{BenchConfig, Mode};
use crate::duration::{self, DurationError};
use crate::fetch::{
    self, ClientConfig, FetchConfig, ItemPolicy, RequestArgs, RequestError, RequestSpec,
    RetryPolicy, Validate,
};
use crate::input::{
    IdSet, InputError, Keys, ListSource, Shard, ShardBy, ShardError, Source, UrlTemplate,
};
use crate::rate::RateError;
use crate::serve::{Capacity, ConnLimits, FaultError, Faults, Latency, LatencyError, ServeConfig};

/// `{n}` as clap's help shows it: clap turns a plain `{n}` into a line break everywhere in
/// help text, so a style reset (nothing on screen, stripped when not a terminal) sits inside.
macro_rules! n {
    () => {
        "{\x1b[0mn}"
    };
}

const EXIT_CODES: &str = "\
Exit codes:
  0    every item saved (or already there)
  1    some items failed; the others were saved (--fail-exit sets another code)
  2    usage or setup error (bad template, ids, output directory); nothing fetched
  130  interrupted (Ctrl-C, SIGTERM, SIGHUP); the summary covers what finished";

const TOP_HELP: &str = "\
Examples:
  gather bench                                    # the xkcd experiment, offline
  gather serve --port 8080 --latency 100ms        # a local xkcd-like API
  gather fetch 'http://127.0.0.1:8080/{id}/info.0.json' --ids 1-200 --out comics/

Run `gather help COMMAND` for each command's options and examples.";

const FETCH_HELP: &str = concat!(
    r#"Examples:
  # xkcd comics 1 to 200, 64 at a time, into comics/1.json ... comics/200.json
  gather fetch 'https://xkcd.com/{id}/info.0.json' --ids 1-200 --out comics/

  # the same one after another, to compare
  gather fetch 'https://xkcd.com/{id}/info.0.json' --ids 1-200 --out seq/ -c 1

  # search pages for a list of names, saved as pages/Yash.html ...
  gather fetch 'http://127.0.0.1:8080/search?q={name}' \
      --values Yash,KOSS,'Your Name' --name '{name}.html' --out pages/

  # let gather find the concurrency: it settles where latency starts to grow or 429s come
  gather fetch 'http://127.0.0.1:8080/{id}/info.0.json' --ids 1-5000 --out comics/ -c auto

  # a flaky API: 5 retries, at most 20 requests a second, JSON bodies only
  gather fetch 'http://127.0.0.1:8080/{id}/info.0.json' --ids 1-1000 --out comics/ \
      --retries 5 --rate 20/s --validate json

  # an API: a token, a header and a JSON body filled per item, POSTed
  gather fetch 'https://api.example.com/items/{id}' --ids 1-100 --out items/ \
      --oauth2-bearer TOKEN -H 'X-Request-Id: {id}' -d '{"id": {id}}' --json-body

  # later: fetch again only what changed (304 keeps a file, 200 replaces it)
  gather fetch 'https://api.example.com/items/{id}' --ids 1-100 --out items/ --update

  # a list of URLs, one per line, from a file or stdin; a JSON summary on stdout
  seq 1 500 | sed 's|.*|http://127.0.0.1:8080/&/info.0.json|' \
      | gather fetch --input - --name '"#,
    n!(),
    r#".json' --out comics/ --json

Files are saved atomically (temp file, then rename): a file under its final name is always
whole, even after kill -9. Existing files are skipped, so running the same command again
finishes an interrupted or killed job; --force fetches them again. A body is saved only if it
is as long as its Content-Length, within --max-size, and passes --validate.
Proxies are taken from HTTP_PROXY, HTTPS_PROXY and NO_PROXY. TLS is always verified: against
the system's roots, or only against --cacert's.
"#
);

const SERVE_HELP: &str = "\
Examples:
  gather serve                                   # http://127.0.0.1:8080, no latency
  gather serve --port 0 --latency 50ms..150ms    # a free port, printed on the first line
  curl http://127.0.0.1:8080/1/info.0.json
  curl 'http://127.0.0.1:8080/search?q=Your%20Name'

  # a backend with 32 workers at 50 ms each: at most 640 requests a second, then queueing
  gather serve --port 0 --latency 50ms --capacity 32

  # a flaky, throttled API: 10% 5xx, 5% resets, 2% stalls, 3% short bodies, 429 past 500/s
  gather serve --port 0 --fail-rate 0.1 --reset-rate 0.05 --stall-rate 0.02 \\
      --truncate-rate 0.03 --rate-limit 500/s --seed 1

Routes: /{id}/info.0.json (404 for 404 and ids above --max-id), /info.0.json (the latest),
/search?q=NAME (an HTML page). Stops on Ctrl-C.";

const BENCH_HELP: &str = "\
Examples:
  gather bench                                  # 200 comics at 100ms: sequential vs concurrent
  gather bench --count 1000 --latency 20ms -c 100
  gather bench --python                         # + the seeds' Python: a loop, asyncio.gather
  gather bench --only concurrent                # just the concurrent run
  gather bench --url 'https://xkcd.com/{id}/info.0.json' --count 50
  gather bench -n 50 --report report.html --python   # + the lab and the demos, as a deck of slides
  gather bench -n 50 --trace bench.json         # open in https://ui.perfetto.dev

Without --url, bench starts the built-in server in-process on a free loopback port, so it
needs no network. Files go to a temporary directory that is removed afterwards.";

/// gather: fetch many URLs at once, serve a local xkcd-like API, and measure what concurrency
/// buys.
#[derive(Debug, Parser)]
#[command(name = "gather", version, about, after_help = TOP_HELP)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // one value per process: boxing would save nothing
pub enum Command {
    /// Download many URLs concurrently, each into its own file.
    #[command(after_help = format!("{FETCH_HELP}\n{EXIT_CODES}"))]
    Fetch(FetchArgs),
    /// Run the local xkcd-like API.
    #[command(after_help = SERVE_HELP)]
    Serve(ServeArgs),
    /// Time the xkcd job sequentially and concurrently against the built-in server.
    #[command(after_help = BENCH_HELP)]
    Bench(BenchArgs),
    /// Work with `gather fetch --json` summaries: merge a sharded job's into one.
    #[command(subcommand)]
    Summary(SummaryCommand),
    /// Print a shell completion script, e.g. `gather completions bash > ~/.local/share/bash-completion/completions/gather`.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) of gather or of one command, e.g. `gather man fetch | man -l -`.
    Man(ManArgs),
    /// Run one lab job read as JSON from stdin (the lab's worker processes).
    #[command(name = "lab-worker", hide = true)]
    LabWorker,
}

const COMPLETIONS_HELP: &str = "\
Examples:
  gather completions bash > ~/.local/share/bash-completion/completions/gather
  gather completions zsh > ~/.zfunc/_gather      # with fpath+=~/.zfunc before compinit
  gather completions fish > ~/.config/fish/completions/gather.fish
  gather completions powershell >> $PROFILE";

/// `gather completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// `gather man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The command whose page to print (fetch, serve, bench, ...); gather's own by default.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
}

/// `gather summary`.
#[derive(Debug, Subcommand)]
pub enum SummaryCommand {
    /// Add up the --json summaries of one job's shards: totals, failures, the wall span, and
    /// which shards were interrupted, given twice or missing.
    #[command(after_help = MERGE_HELP)]
    Merge(MergeArgs),
}

const MERGE_HELP: &str = "\
Examples:
  gather summary merge res_*.json
  gather summary merge --json res_*.json > job.json

Exit codes:
  0    every shard there once, none interrupted, no item failed
  1    some items failed, or shards are missing, repeated or interrupted
  2    a file is unreadable, not a summary, or of another job";

/// `gather summary merge`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The summaries: files written by `gather fetch --json` (one per shard).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Print the merged summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `gather fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// URL template with one placeholder, e.g. 'https://xkcd.com/{id}/info.0.json'.
    #[arg(value_name = "URL_TEMPLATE", required_unless_present = "input")]
    pub template: Option<String>,

    /// Ids to fill the placeholder with: numbers and ranges, e.g. 1-200,250,300-310.
    #[arg(long, value_name = "LIST", conflicts_with_all = ["values", "input"])]
    pub ids: Option<String>,

    /// Values to fill the placeholder with, comma-separated; URL-encoded in the URL.
    #[arg(
        long,
        value_name = "V1,V2,..",
        value_delimiter = ',',
        conflicts_with = "input"
    )]
    pub values: Option<Vec<String>>,

    /// Read URLs from FILE, one per line ('-' for stdin) instead of a template.
    #[arg(short, long, value_name = "FILE", conflicts_with = "template")]
    pub input: Option<PathBuf>,

    /// Output directory, created if missing. With --jsonl or --warc, only large bodies' temp files go
    /// there while they download (default: the --jsonl or --warc file's directory).
    #[arg(short, long, value_name = "DIR", required_unless_present_any = ["jsonl", "warc"])]
    pub out: Option<PathBuf>,

    /// Write one JSON object per item to FILE ('-' for stdout) instead of a file per item:
    /// n, url, status, content-type, etag, last-modified, and the body (as JSON when it is
    /// JSON, else a string, base64 with "encoding": "base64" when binary). A re-run appends
    /// the items not recorded yet, after cutting a record a killed run left partial.
    #[arg(long, value_name = "FILE", conflicts_with = "update")]
    pub jsonl: Option<PathBuf>,

    /// Write WARC/1.1 to FILE (FILE.warc.gz) instead of a file per item: a request and a
    /// response record per item, each its own gzip member, with digests, as web archives
    /// (wget --warc-file, warcio, pywb) read them. Bodies are stored decoded. A re-run
    /// appends the items not recorded yet, after cutting a record a killed run left partial.
    /// FILE is a regular file, not '-' or a pipe: the re-run reads it back.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["update", "jsonl"])]
    pub warc: Option<PathBuf>,

    /// `--name`: the file name template.
    #[arg(long, value_name = "TEMPLATE", help = concat!(
        "File name template: the placeholder ({id}, {name}; {url} for --input) and ", n!(),
        ", the item's position. Default: the placeholder plus the URL's extension (42.json); ",
        "{url} for --input"))]
    pub name: Option<String>,

    /// Downloads at once; 1 is the sequential run. `auto` tunes it while the run goes: it
    /// starts at 4, grows while latency stays near its minimum, and shrinks when latency grows
    /// (the server queues) and on 429, 503 and timeouts.
    #[arg(short, long, value_name = "N|auto", default_value = "64", value_parser = concurrency)]
    pub concurrency: ConcurrencyArg,

    /// With -c auto: the most downloads at once it may reach (per host with --per-host).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrency: Option<u32>,

    /// Worker threads, each running its share of the downloads on its own connections.
    /// Default: one per core (at most --concurrency).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Fetch only share K of N of the items (1-based), e.g. 2/8: N machines each run one shard
    /// into the same layout. `auto` reads K and N from a Slurm job array or a Kubernetes
    /// Indexed Job (see the README).
    #[arg(long, value_name = "K/N|auto")]
    pub shard: Option<String>,

    /// How items are dealt to shards: round-robin by position (even shares), or by a stable
    /// hash of each item's key (an item keeps its shard when the list grows).
    #[arg(long, value_name = "HOW", value_enum, default_value_t = ShardByArg::Position, requires = "shard")]
    pub shard_by: ShardByArg,

    /// With --shard auto: how many shards (a Kubernetes Indexed Job's completions; Slurm's
    /// arrays say it themselves). Also read from GATHER_SHARD_COUNT.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "shard")]
    pub shard_count: Option<u64>,

    /// The exit code when some items failed (default 1); 0 for job arrays where an expected
    /// 404 must not mark the task failed. Crashes, setup errors and interrupts keep theirs:
    /// CODE is 0, 1 or 3-125 (2 is a setup error's, 126 and up the shell's and signals').
    #[arg(long, value_name = "CODE", default_value_t = 1, value_parser = parse_fail_exit)]
    pub fail_exit: u8,

    /// Fetch items again even if their files exist.
    #[arg(short, long)]
    pub force: bool,

    /// For files that exist, ask the server whether they changed (If-None-Match with the ETag,
    /// If-Modified-Since with the Last-Modified saved with them): 304 keeps the file
    /// (counted unchanged), 200 replaces it atomically.
    #[arg(long, conflicts_with = "force")]
    pub update: bool,

    /// Fail a request when no byte of its response arrives for this long (headers, or the
    /// next part of the body); a slow download that keeps moving is never cut. 0 for none.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub read_timeout: String,

    /// Limit on each whole request (connect, headers, body), as curl's --max-time; none by
    /// default. --timeout is another name for it.
    #[arg(long, value_name = "DURATION", visible_alias = "timeout")]
    pub max_time: Option<String>,

    /// Limit on connecting; 0 for none.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub connect_timeout: String,

    /// Trust only the CA certificates in FILE (PEM) to verify servers, instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Redirects to follow before an item fails.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_redirects: usize,

    /// Retries of an item after a transient failure (connect error, timeout, reset, short
    /// body, 408, 429, 5xx); 0 for none.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        help_heading = "Retries and limits"
    )]
    pub retries: u32,

    /// Wait before the first retry; doubled, with jitter, for each next one.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "250ms",
        help_heading = "Retries and limits"
    )]
    pub retry_delay: String,

    /// Longest wait before a retry, a server's Retry-After included.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "30s",
        help_heading = "Retries and limits"
    )]
    pub retry_max_delay: String,

    /// Send at most this many requests per period, retries included (e.g. 50/s, 600/m).
    #[arg(long, value_name = "RATE", help_heading = "Retries and limits")]
    pub rate: Option<String>,

    /// Receive at most SIZE bytes of bodies a second, for the whole run (e.g. 500k, 1M; as
    /// curl's --limit-rate).
    #[arg(long, value_name = "SIZE", help_heading = "Retries and limits")]
    pub limit_rate: Option<String>,

    /// At most N requests in flight to any one host.
    #[arg(long, value_name = "N", help_heading = "Retries and limits",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub per_host: Option<u32>,

    /// Fail items whose body is larger than SIZE (e.g. 500k, 10MB, 1GiB); they are not saved.
    #[arg(long, value_name = "SIZE", help_heading = "Retries and limits")]
    pub max_size: Option<String>,

    /// Fail items whose compressed body decodes to more than N times the bytes received,
    /// once past 16 MiB decoded (decompression bombs); 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = fetch::DEFAULT_MAX_RATIO,
          help_heading = "Retries and limits")]
    pub max_ratio: u64,

    /// Fail items whose body is not in this format (e.g. an HTML error page with 200).
    #[arg(long, value_name = "FORMAT", help_heading = "Retries and limits")]
    pub validate: Option<ValidateArg>,

    /// `-H`: headers sent with every request.
    #[arg(
        help = concat!(
            "Send this header with every request, e.g. -H 'Accept: application/json'; ",
            "repeatable. The placeholder and ", n!(), " are filled in per item ",
            "(-H 'X-Id: {id}'). A later header of the same name replaces an earlier one"),
        short = 'H',
        long = "header",
        value_name = "'NAME: VALUE'",
        help_heading = "Requests"
    )]
    pub headers: Vec<String>,

    /// The User-Agent header (default: gather/VERSION).
    #[arg(short = 'A', long, value_name = "NAME", help_heading = "Requests")]
    pub user_agent: Option<String>,

    /// HTTP Basic credentials, sent with every request.
    #[arg(
        short,
        long,
        value_name = "USER:PASSWORD",
        help_heading = "Requests",
        conflicts_with = "oauth2_bearer"
    )]
    pub user: Option<String>,

    /// An OAuth 2 bearer token: Authorization: Bearer TOKEN.
    #[arg(long, value_name = "TOKEN", help_heading = "Requests")]
    pub oauth2_bearer: Option<String>,

    /// Basic credentials for each host from ~/.netrc (machine, login, password), unless the
    /// URL, -u or a header gives them.
    #[arg(long, help_heading = "Requests")]
    pub netrc: bool,

    /// As --netrc, from FILE.
    #[arg(
        long,
        value_name = "FILE",
        help_heading = "Requests",
        conflicts_with = "netrc"
    )]
    pub netrc_file: Option<PathBuf>,

    /// The method (default GET; POST with --data).
    #[arg(short = 'X', long, value_name = "METHOD", help_heading = "Requests")]
    pub request: Option<String>,

    /// `-d`: the body of every request, or `@FILE`.
    #[arg(short, long, value_name = "BODY|@FILE", help_heading = "Requests", help = concat!(
        "Send BODY (or the contents of FILE with @FILE) with every request; the placeholder ",
        "and ", n!(), " are filled in per item. Implies POST"))]
    pub data: Option<String>,

    /// Send cookies: 'NAME=VALUE; NAME2=VALUE2' as given, or FILE, a Netscape cookie file
    /// (as curl and wget write), whose cookies go where they match; cookies set by responses
    /// are then kept for the run.
    #[arg(short = 'b', long, value_name = "DATA|FILE", help_heading = "Requests")]
    pub cookie: Option<String>,

    /// Keep cookies set by responses for the run, and write them all to FILE at the end
    /// (Netscape format; curl's -c).
    #[arg(long, value_name = "FILE", help_heading = "Requests")]
    pub cookie_jar: Option<PathBuf>,

    /// Send Content-Type and Accept: application/json.
    #[arg(long, help_heading = "Requests")]
    pub json_body: bool,

    /// Retry requests that are not idempotent (POST, PATCH) after any transient failure, not
    /// only when they surely never reached the server (connect errors).
    #[arg(long, help_heading = "Retries and limits")]
    pub retry_all: bool,

    /// Print the summary, with every failure, as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no per-failure lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Also write the requests as a HAR 1.2 log to FILE (a waterfall in browser dev tools).
    #[arg(long, value_name = "FILE")]
    pub har: Option<PathBuf>,
}

/// `-c`: a number of downloads at once, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrencyArg {
    /// This many at once.
    Fixed(u32),
    /// Tuned while the run goes.
    Auto,
}

/// Parses `-c`: `auto`, or a whole number from 1 to 100,000.
fn concurrency(text: &str) -> Result<ConcurrencyArg, String> {
    if text.eq_ignore_ascii_case("auto") {
        return Ok(ConcurrencyArg::Auto);
    }
    match text.parse::<u32>() {
        Ok(n @ 1..=100_000) => Ok(ConcurrencyArg::Fixed(n)),
        _ => Err(format!(
            "{text:?} is neither `auto` nor a whole number from 1 to 100000"
        )),
    }
}

/// Formats `--validate` checks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ValidateArg {
    /// The body parses as JSON.
    Json,
}

/// `gather serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to bind; 0 picks a free one. The URL is printed on the first line of stdout.
    #[arg(short, long, default_value_t = 8080)]
    pub port: u16,

    /// Delay before each response: fixed (100ms) or uniform random (50ms..150ms).
    #[arg(short, long, value_name = "DURATION[..DURATION]", default_value = "0")]
    pub latency: String,

    /// Highest comic id; higher ids are 404.
    #[arg(long, value_name = "N", default_value_t = 3000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000_000))]
    pub max_id: u64,

    /// Compress responses (gzip, brotli) for clients that accept it.
    #[arg(long)]
    pub compress: bool,

    /// Threads serving requests. One serves ~130,000 small requests a second here, and leaves
    /// the other cores to the client that usually runs beside it; more suit --compress or a
    /// client on another machine.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,

    /// Work on at most N requests at once, like a backend with N workers; the rest wait in
    /// a queue (first come, first served), so throughput is capped at N / --latency.
    #[arg(long, value_name = "N", help_heading = "Capacity",
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub capacity: Option<u32>,

    /// With --capacity: answer 503 (with Retry-After) when M requests are already waiting.
    #[arg(long, value_name = "M", help_heading = "Capacity", requires = "capacity",
          value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub queue_limit: Option<u32>,
    /// Longest wait for a request's head, from accept or from the previous response on a
    /// keep-alive connection; a client slower than this (a slowloris) is disconnected.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub header_timeout: String,

    /// Close a connection that has moved no byte for this long (gracefully: HTTP/2 gets a
    /// GOAWAY, a response being sent finishes first).
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub idle_timeout: String,

    /// Connections open at once; further ones wait in the accept queue. Lowered to fit the
    /// process's file descriptor limit.
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub max_connections: u64,

    /// Fraction of requests answered with HTTP 500 or 503.
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.0,
        help_heading = "Faults"
    )]
    pub fail_rate: f64,

    /// Fraction of requests whose connection is closed before any response.
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.0,
        help_heading = "Faults"
    )]
    pub reset_rate: f64,

    /// Fraction of responses that send half their body, then wait --stall-for.
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.0,
        help_heading = "Faults"
    )]
    pub stall_rate: f64,

    /// How long a stalled body waits before it finishes.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "60s",
        help_heading = "Faults"
    )]
    pub stall_for: String,

    /// Fraction of responses cut off halfway through their Content-Length.
    #[arg(
        long,
        value_name = "FRACTION",
        default_value_t = 0.0,
        help_heading = "Faults"
    )]
    pub truncate_rate: f64,

    /// Answer 429 Too Many Requests, with Retry-After, past this rate (e.g. 50/s).
    #[arg(long, value_name = "RATE", help_heading = "Faults")]
    pub rate_limit: Option<String>,

    /// Seed for choosing which requests fail (default: random); the same seed and order of
    /// requests give the same faults.
    #[arg(long, value_name = "N", help_heading = "Faults")]
    pub seed: Option<u64>,
}

/// `gather bench`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Another workload instead of the xkcd fetch.
    #[command(subcommand)]
    pub workload: Option<BenchWorkload>,

    /// Comics to fetch in each run: ids from 1 on (comic 404, a 404 as on xkcd, is left out).
    #[arg(short = 'n', long, value_name = "COUNT", default_value_t = 200,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub count: u64,

    /// The built-in server's latency.
    #[arg(
        short,
        long,
        value_name = "DURATION[..DURATION]",
        default_value = "100ms"
    )]
    pub latency: String,

    /// Downloads at once in the concurrent run (default: all of them, up to 1000).
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub concurrency: Option<u32>,

    /// Fetch from this URL template instead of the built-in server.
    #[arg(long, value_name = "URL_TEMPLATE")]
    pub url: Option<String>,

    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Write both runs' requests as Chrome trace-event JSON to FILE (Perfetto, chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Also run the lab (default sizes) and the lessons' demos, and write everything as one
    /// HTML deck of slides to FILE.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// With --report: the lessons' demos run with every wait times this (1: their real seconds).
    #[arg(long, value_name = "FACTOR", default_value_t = crate::bench::lessons::DEFAULT_SCALE,
          value_parser = lesson_scale, requires = "report")]
    pub lesson_scale: f64,

    /// Also run the seeds' Python on the same comics: a loop of blocking requests, and
    /// asyncio.gather with aiohttp (python3; aiohttp for the concurrent run).
    #[arg(long)]
    pub python: bool,

    /// Time only this run (e.g. the concurrent one, without waiting for the sequential).
    #[arg(long, value_name = "RUN")]
    pub only: Option<BenchOnly>,

    /// No progress on stderr: neither how long the sequential run takes nor the runs' bars
    /// (drawn only on a terminal, and never with --json).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The run `gather bench --only` times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BenchOnly {
    /// One request at a time.
    Sequential,
    /// All at once (or `-c` at a time).
    Concurrent,
}

/// The workloads of `gather bench` besides the xkcd fetch.
#[derive(Debug, Subcommand)]
pub enum BenchWorkload {
    /// N tasks that each sleep, all at once: waiting at scale.
    #[command(
        after_help = "Examples:\n  gather bench sleep --tasks 1000000\n  gather bench sleep -n 3 --duration 2s --json"
    )]
    Sleep(SleepArgs),
    /// The concurrency lab: sleep, http and cpu work under sequential, async, threads and
    /// processes in Rust, Python, Go, C++ and JavaScript, with CPU time and memory.
    #[command(after_help = LAB_HELP)]
    Lab(LabArgs),
    /// The same fetch at concurrency 1, 2, 4, … against a server with a capacity: throughput
    /// and latency per level, the knee, and -c auto beside them.
    #[command(after_help = SWEEP_HELP)]
    Sweep(SweepArgs),
}

const SWEEP_HELP: &str = "\
Examples:
  gather bench sweep                                   # 1..256 against 32 workers at 50ms
  gather bench sweep --auto                            # and -c auto beside the fixed levels
  gather bench sweep --capacity 8 --latency 20ms --levels 1,2,4,8,16,32 --json
  gather bench sweep --capacity none --rate-limit 200/s --auto --chart sweep.svg
  gather bench sweep --url 'http://127.0.0.1:8080/{id}/info.0.json' --max 64

Each level fetches 10 times its concurrency (at least 40; --count sets one count for all)
from a fresh built-in server. Throughput is saved comics per second; latency is from an item's
start to its body (retries and their waits included). The model is Little's law: at the
unloaded latency L0 (the lowest level's median), c at once give c / L0 a second. The knee is
the lowest level within 10% of the best throughput, or the last before the median latency
passes 1.5 x L0 if that is lower: past it, concurrency only adds latency.";

/// `gather bench sweep`.
#[derive(Debug, Args)]
pub struct SweepArgs {
    /// Concurrency levels, comma-separated (e.g. 1,2,4,8,16,32,64).
    #[arg(long, value_name = "LIST", conflicts_with = "max")]
    pub levels: Option<String>,

    /// Sweep 1, 2, 4, … up to N (N included).
    #[arg(long, value_name = "N", default_value_t = crate::bench::sweep::DEFAULT_MAX_LEVEL as u32,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max: u32,

    /// Comics per level (default: 10 × the level, at least 40).
    #[arg(short = 'n', long, value_name = "COUNT",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub count: Option<u64>,

    /// The built-in server's latency.
    #[arg(
        short,
        long,
        value_name = "DURATION[..DURATION]",
        default_value = "50ms"
    )]
    pub latency: String,

    /// The built-in server's workers: requests worked on at once, the rest queue; `none` for
    /// no limit.
    #[arg(long, value_name = "N|none", default_value = "32", value_parser = capacity)]
    pub capacity: CapacityArg,

    /// The built-in server answers 503 when M requests already wait for a worker.
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    pub queue_limit: Option<u32>,

    /// The built-in server answers 429 past this rate (e.g. 200/s).
    #[arg(long, value_name = "RATE")]
    pub rate_limit: Option<String>,

    /// Seed of the built-in server's draws.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Fetch from this URL template instead of the built-in server.
    #[arg(long, value_name = "URL_TEMPLATE")]
    pub url: Option<String>,

    /// Also run -c auto (as many comics as the largest level, or --count).
    #[arg(long)]
    pub auto: bool,

    /// With --auto: the most at once it may reach.
    #[arg(long, value_name = "N", requires = "auto",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrency: Option<u32>,

    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Write the curve (throughput and latency per level) as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    pub chart: Option<PathBuf>,

    /// Write every level's requests as Chrome trace-event JSON to FILE, with -c auto's limit
    /// as a counter track.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// `--capacity`: a number of workers, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapacityArg(pub Option<u32>);

fn capacity(text: &str) -> Result<CapacityArg, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(CapacityArg(None));
    }
    match text.parse::<u32>() {
        Ok(n @ 1..=1_000_000) => Ok(CapacityArg(Some(n))),
        _ => Err(format!(
            "{text:?} is neither `none` nor a whole number from 1 to 1000000"
        )),
    }
}

/// `--levels`: whole numbers from 1 to 100,000, comma-separated; sorted, repeats dropped.
fn parse_levels(text: &str) -> Result<Vec<usize>, ConfigError> {
    let mut levels = Vec::new();
    for part in text.split(',') {
        match part.trim().parse::<usize>() {
            Ok(n @ 1..=100_000) => levels.push(n),
            _ => return Err(ConfigError::Levels(text.to_owned())),
        }
    }
    levels.sort_unstable();
    levels.dedup();
    Ok(levels)
}

/// 1, 2, 4, … up to `max`, and `max` itself.
fn doubling(max: usize) -> Vec<usize> {
    let mut levels: Vec<usize> = std::iter::successors(Some(1usize), |n| n.checked_mul(2))
        .take_while(|n| *n <= max)
        .collect();
    if levels.last() != Some(&max) {
        levels.push(max);
    }
    levels
}

impl SweepArgs {
    /// Checks the arguments and builds the sweep config.
    pub fn into_config(self) -> Result<SweepConfig, ConfigError> {
        let levels = match self.levels.as_deref() {
            Some(text) => parse_levels(text)?,
            None => doubling(self.max as usize),
        };
        Ok(SweepConfig {
            levels,
            count: self.count,
            latency: parse_delay("--latency", &self.latency)?,
            capacity: self.capacity.0.map(|workers| Capacity {
                workers: workers as usize,
                queue_limit: self.queue_limit.map(|m| m as usize),
            }),
            rate_limit: self.rate_limit.as_deref().map(str::parse).transpose()?,
            seed: self.seed,
            url: self.url.as_deref().map(UrlTemplate::parse).transpose()?,
            auto: self.auto.then(|| {
                self.max_concurrency
                    .map_or(fetch::DEFAULT_MAX_CONCURRENCY, |n| n as usize)
            }),
            timelines: self.trace.is_some(),
        })
    }
}

const LAB_HELP: &str = "\
Examples:
  gather bench lab                               # every language found, every model
  gather bench lab --langs rust,go --repeat 5    # two languages, five runs per cell
  gather bench lab --python /usr/bin/python3.14t # a free-threaded Python
  gather bench lab --workloads cpu --primes 20000000 --parts 16
  gather bench lab --workloads spawn --spawn 1000000 --spawn-sleep 10s # a million tasks
  gather bench lab -n 100 --sleep 50ms..150ms --latency 20ms --json
  gather bench lab --trace lab.json              # every task on its slot: ui.perfetto.dev
  gather bench lab --report deck.html            # the deck of slides, with this run's numbers

Languages: rust (gather itself), python (python3, or --python PATH; a free-threaded
python3.14t/3.13t on the PATH runs as python-nogil too), go (go build), cpp (g++ -O2
-std=c++20 -pthread, standalone asio), js (node). Go and C++ workers are built on first use
into ~/.cache/gather/lab (GATHER_CACHE_DIR to move it); a missing toolchain skips its rows.

Models: sequential (one after another), async (one thread's event loop: tokio current_thread,
asyncio, goroutines on GOMAXPROCS=1, asio coroutines, Promise.all), async-mt (the same on every
core: tokio multi_thread, goroutines on GOMAXPROCS=cores, asio on a thread pool), threads (a
pool of OS threads, blocking calls: std::thread, threading, worker_threads; one per task, one
per core for cpu), processes (worker processes, one round-robin share each).

Columns: wall is the median of the cell's runs, with the fastest and slowest (--repeat; by
default 3 runs for cells under 2 s, else 1); speedup is the sequential median over this median,
marked ~ when the two cells' ranges overlap (within noise); ideal is the zero-overhead time,
from the configuration for sleep and http and from the same language's sequential run for
cpu; cpu is user+system CPU time of the cell's processes; cores is cpu / wall; mem is the peak
resident memory of the cell's processes, summed (pages they share are counted once per
process). Spawn rows: N sleeps of 1 s at once, and bytes per task = (peak - baseline) / N.";

/// `gather bench lab`.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// Workloads to run, comma-separated (spawn: many sleeping tasks at once, for memory).
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "sleep,http,cpu,spawn"
    )]
    pub workloads: Vec<LabWorkload>,

    /// Languages to run, comma-separated: rust, python, go, cpp, js (default: every one found).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub langs: Option<Vec<String>>,

    /// The Python interpreter to run (default: python3; `--python` with no PATH means the same).
    #[arg(long, value_name = "PATH", num_args = 0..=1, default_missing_value = DEFAULT_PYTHON)]
    pub python: Option<PathBuf>,

    /// Tasks in the sleep and http workloads.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tasks: u32,

    /// How long each sleep task waits: fixed (50ms) or uniform random (20ms..80ms).
    #[arg(long, value_name = "DURATION[..DURATION]", default_value = "50ms")]
    pub sleep: String,

    /// The built-in server's latency for the http workload.
    #[arg(
        short,
        long,
        value_name = "DURATION[..DURATION]",
        default_value = "50ms"
    )]
    pub latency: String,

    /// The cpu workload counts the primes below N by trial division, in every language.
    #[arg(long, value_name = "N", default_value_t = 1_500_000,
          value_parser = clap::value_parser!(u64).range(2..=1_000_000_000_000))]
    pub primes: u64,

    /// Parts the cpu workload is split into (its tasks).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub parts: u32,

    /// Threads in the thread pool (default: one per task; for cpu, one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: Option<u32>,

    /// Worker processes (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub processes: Option<u32>,

    /// Runs per cell: its wall is their median (default: 3 for cells under 2 s, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeat: Option<u32>,

    /// Tasks the spawn workload starts at once (OS threads: at most 10,000).
    #[arg(long, value_name = "N", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub spawn: u64,

    /// How long each spawned task sleeps: long enough for the last to start before the first
    /// ends (for a million tasks, 10s).
    #[arg(long, value_name = "DURATION", default_value = "1s")]
    pub spawn_sleep: String,

    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Write every task of every cell as Chrome trace-event JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Write an HTML deck of slides to FILE: the lessons' demos, the models, this run's charts
    /// and conclusions (it also times the lessons' demos, and 200 xkcd-like comics fetched
    /// sequentially and concurrently at --latency).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    /// With --report: the lessons' demos run with every wait times this (1: their real seconds).
    #[arg(long, value_name = "FACTOR", default_value_t = crate::bench::lessons::DEFAULT_SCALE,
          value_parser = lesson_scale, requires = "report")]
    pub lesson_scale: f64,
}

/// How `--shard` deals items, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShardByArg {
    /// Round-robin by position: K, K+N, K+2N, ...
    Position,
    /// By a stable hash of the id, value or URL.
    Key,
}

/// A lab workload, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LabWorkload {
    /// Tasks that wait.
    Sleep,
    /// Fetches from the built-in server.
    Http,
    /// Counting primes.
    Cpu,
    /// Many sleeping tasks at once: memory per task.
    Spawn,
}

impl LabArgs {
    /// Checks the arguments and builds the lab config. `exe` is the gather binary, started
    /// as the worker processes.
    pub fn into_config(self, exe: PathBuf) -> Result<LabConfig, ConfigError> {
        let mut workloads = Vec::new();
        for w in self.workloads {
            let w = match w {
                LabWorkload::Sleep => Workload::Sleep,
                LabWorkload::Http => Workload::Http,
                LabWorkload::Cpu => Workload::Cpu,
                LabWorkload::Spawn => Workload::Spawn,
            };
            if !workloads.contains(&w) {
                workloads.push(w);
            }
        }
        let langs = match self.langs {
            None => Lang::ALL.to_vec(),
            Some(names) => {
                let mut langs = Vec::new();
                for name in names {
                    match Lang::parse(name.trim()) {
                        Some(lang) if !langs.contains(&lang) => langs.push(lang),
                        Some(_) => {}
                        None => return Err(ConfigError::Lang(name)),
                    }
                }
                langs
            }
        };
        Ok(LabConfig {
            workloads,
            langs,
            python: self.python.unwrap_or_else(|| PathBuf::from(DEFAULT_PYTHON)),
            tasks: self.tasks as usize,
            sleep: lab_delay("--sleep", &self.sleep)?,
            latency: lab_delay("--latency", &self.latency)?,
            primes_below: self.primes,
            parts: self.parts as usize,
            threads: self.threads.map(|n| n as usize),
            processes: self.processes.map(|n| n as usize),
            repeat: self.repeat.map(|n| n as usize),
            spawn: self.spawn,
            spawn_sleep: match lab_delay("--spawn-sleep", &self.spawn_sleep)? {
                Latency::Fixed(d) if !d.is_zero() => d,
                _ => return Err(ConfigError::SpawnSleep(self.spawn_sleep)),
            },
            exe,
            cache: cache_dir(),
        })
    }
}

/// `gather bench sleep`.
#[derive(Debug, Args)]
pub struct SleepArgs {
    /// How many tasks.
    #[arg(short = 'n', long, default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub tasks: u64,

    /// How long each task sleeps.
    #[arg(short, long, value_name = "DURATION", default_value = "1s")]
    pub duration: String,

    /// Print the result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

impl SleepArgs {
    /// Checks the arguments and builds the sleep config.
    pub fn into_config(self) -> Result<SleepConfig, ConfigError> {
        Ok(SleepConfig {
            tasks: self.tasks,
            duration: parse_duration("--duration", &self.duration)?,
        })
    }
}

/// Why the command line does not make a valid config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Bad template, ids or values.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A template but nothing to fill it with.
    #[error("URL template `{0}` needs --ids or --values to fill {{{1}}}")]
    NoKeys(String, String),
    /// Bad duration.
    #[error("{option}")]
    Duration {
        /// The option.
        option: &'static str,
        /// What is wrong.
        source: DurationError,
    },
    /// Bad latency.
    #[error(transparent)]
    Latency(#[from] LatencyError),
    /// `--spawn-sleep` is not one positive duration.
    #[error("--spawn-sleep `{0}`: give one duration above zero, e.g. 10s")]
    SpawnSleep(String),
    /// `--json` and records on stdout (`--jsonl -`, or a `--jsonl`/`--warc` file that is
    /// where stdout goes) would both write to stdout.
    #[error(
        "--json and {flag} {} would both write to stdout: give {flag} a file other than stdout",
        path.display()
    )]
    TwoOnStdout {
        /// `--jsonl` or `--warc`.
        flag: &'static str,
        /// Its value.
        path: PathBuf,
    },
    /// `--warc -`: WARC goes to a file, which a re-run can read back.
    #[error(
        "--warc -: WARC is written to a file (a re-run reads it back to resume, readers seek \
         in it by offset): give --warc a file name"
    )]
    WarcToStdout,
    /// `--langs` names a language the lab does not have.
    #[error("--langs: unknown language `{0}` (the lab has rust, python, go, cpp, js)")]
    Lang(String),
    /// A lab delay beyond [`MAX_LAB_DELAY`].
    #[error("{option} `{text}`: a lab task waits at most 1h")]
    TooLong {
        /// The option.
        option: &'static str,
        /// Its value.
        text: String,
    },
    /// Bad `--shard`.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// Bad `--rate` or `--rate-limit`.
    #[error(transparent)]
    Rate(#[from] RateError),
    /// Bad fault rates.
    #[error(transparent)]
    Faults(#[from] FaultError),
    /// `--levels` that are not whole numbers from 1 on.
    #[error(
        "--levels `{0}`: write concurrency levels from 1 to 100000, comma-separated (e.g. 1,2,4,8)"
    )]
    Levels(String),
    /// `--max-concurrency` without `-c auto`.
    #[error("--max-concurrency needs -c auto (a fixed -c is its own maximum)")]
    MaxConcurrency,
    /// Bad request options (-H, -X, -u, -d, --netrc).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// `gather man COMMAND` for a command gather does not have.
    #[error("gather has no command `{0}` (see gather --help)")]
    NoCommand(String),
    /// Bad `--limit-rate`.
    #[error("--limit-rate `{0}` is not a positive size per second (write e.g. 500k or 1M)")]
    LimitRate(String),
    /// Bad `--max-size`.
    #[error("--max-size `{0}` is not a size (write e.g. 500k, 10MB or 1GiB)")]
    Size(String, #[source] parse_size::Error),
    /// `--cacert` could not be read.
    #[error("cannot read --cacert {path}")]
    CaCert {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// `--lesson-scale`: a factor above 0, at most 10.
fn lesson_scale(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f <= 10.0 => Ok(f),
        _ => Err(format!("{text:?} is not a factor above 0 and at most 10")),
    }
}

/// Whether `path` is stdout: `-`, or the file fd 1 is open on (same device and inode).
fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    if path.as_os_str() == "-" {
        return true;
    }
    let stdout = std::io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|fd| std::fs::File::from(fd).metadata());
    match (std::fs::metadata(path), stdout) {
        (Ok(path), Ok(stdout)) => (path.dev(), path.ino()) == (stdout.dev(), stdout.ino()),
        _ => false,
    }
}

/// `--fail-exit`'s code: one that no other ending of the run has (see the exit codes).
fn parse_fail_exit(text: &str) -> Result<u8, String> {
    match text.parse::<u8>() {
        Ok(code @ (0 | 1 | 3..=125)) => Ok(code),
        _ => Err(format!(
            "`{text}` is not a code of its own: give 0, 1 or 3-125 (2 is a setup error's, 126 \
             and up the shell's and signals', 130 an interrupt's)"
        )),
    }
}

fn parse_duration(option: &'static str, text: &str) -> Result<Duration, ConfigError> {
    duration::parse(text).map_err(|source| ConfigError::Duration { option, source })
}

/// A fixed or uniform-random delay (`100ms`, `50ms..150ms`); a bad end is named by `option`.
fn parse_delay(option: &'static str, text: &str) -> Result<Latency, ConfigError> {
    for end in text.split("..") {
        parse_duration(option, end)?;
    }
    Ok(text.parse::<Latency>()?)
}

/// The longest wait a lab task may be given: an hour.
pub const MAX_LAB_DELAY: Duration = Duration::from_secs(3600);

/// A lab task's delay (`--sleep`, `--latency`): as [`parse_delay`], at most [`MAX_LAB_DELAY`].
fn lab_delay(option: &'static str, text: &str) -> Result<Latency, ConfigError> {
    let delay = parse_delay(option, text)?;
    let longest = match delay {
        Latency::None => Duration::ZERO,
        Latency::Fixed(d) => d,
        Latency::Uniform { max, .. } => max,
    };
    if longest > MAX_LAB_DELAY {
        return Err(ConfigError::TooLong {
            option,
            text: text.to_owned(),
        });
    }
    Ok(delay)
}

impl FetchArgs {
    /// The `--jsonl` or `--warc` file that is stdout, if either is: `--jsonl -`, or a path to
    /// the very file stdout writes to (`--jsonl /dev/stdout > out.jsonl`). Records then own
    /// stdout, and the summary must go elsewhere: printed on stdout, it would overwrite them.
    pub fn records_on_stdout(&self) -> Option<(&'static str, &Path)> {
        [("--jsonl", &self.jsonl), ("--warc", &self.warc)]
            .into_iter()
            .find_map(|(flag, path)| Some((flag, path.as_deref()?)))
            .filter(|(_, path)| is_stdout(path))
    }

    /// Checks the arguments and builds the fetch config.
    pub fn into_config(self) -> Result<FetchConfig, ConfigError> {
        let records_on_stdout = self
            .records_on_stdout()
            .map(|(flag, path)| (flag, path.to_owned()));
        let source = match (self.input, self.template) {
            (Some(path), _) if path.as_os_str() == "-" => Source::List(ListSource::Stdin),
            (Some(path), _) => Source::List(ListSource::File(path)),
            (None, template) => {
                let template = UrlTemplate::parse(template.as_deref().unwrap_or_default())?;
                let keys = match (self.ids, self.values) {
                    (Some(ids), _) => Keys::Ids(IdSet::parse(&ids).map_err(InputError::from)?),
                    (None, Some(values)) => Keys::values(values)?,
                    (None, None) => {
                        return Err(ConfigError::NoKeys(
                            crate::redact::url(template.source()).into_owned(),
                            template.key().to_owned(),
                        ));
                    }
                };
                Source::Template { template, keys }
            }
        };
        let netrc = match (self.netrc_file, self.netrc) {
            (Some(file), _) => Some(file),
            (None, true) => Some(std::env::home_dir().unwrap_or_default().join(".netrc")),
            (None, false) => None,
        };
        let request = RequestSpec::new(
            RequestArgs {
                method: self.request,
                headers: self.headers,
                user_agent: self.user_agent,
                user: self.user,
                bearer: self.oauth2_bearer,
                netrc,
                data: self.data,
                json_body: self.json_body,
                retry_all: self.retry_all,
                cookie: self.cookie,
                cookie_jar: self.cookie_jar,
            },
            source.key_name(),
        )?;
        let limit =
            |option, text: &str| parse_duration(option, text).map(|d| (!d.is_zero()).then_some(d));
        let per_host = self.per_host.map(|n| n as usize);
        let (concurrency, control) = match (self.concurrency, self.max_concurrency) {
            (ConcurrencyArg::Fixed(_), Some(_)) => return Err(ConfigError::MaxConcurrency),
            (ConcurrencyArg::Fixed(n), None) => (n as usize, None),
            (ConcurrencyArg::Auto, max) => {
                let max = max.map_or(fetch::DEFAULT_MAX_CONCURRENCY, |n| n as usize);
                let control = fetch::Control::auto(fetch::AutoSettings {
                    max,
                    per_host: per_host.is_some(),
                });
                (max, Some(std::sync::Arc::new(control)))
            }
        };
        if self.warc.as_deref() == Some(Path::new("-")) {
            return Err(ConfigError::WarcToStdout);
        }
        if let Some((flag, path)) = records_on_stdout.clone().filter(|_| self.json) {
            return Err(ConfigError::TwoOnStdout { flag, path });
        }
        let out = match (self.out, self.jsonl.as_ref().or(self.warc.as_ref())) {
            (Some(out), _) => out,
            // Not `/dev` for `--jsonl /dev/stdout`: large bodies' temp files go to the temp dir.
            (None, Some(sink)) if records_on_stdout.is_none() => sink
                .parent()
                .filter(|dir| !dir.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_owned),
            (None, _) => std::env::temp_dir(),
        };
        Ok(FetchConfig {
            source,
            out,
            jsonl: self.jsonl,
            warc: self.warc,
            name: self.name,
            force: self.force,
            update: self.update,
            concurrency,
            threads: self
                .threads
                .map_or_else(fetch::default_threads, |threads| threads as usize),
            shard: match self.shard.as_deref() {
                None => None,
                Some("auto") => Some(Shard::from_env(
                    |name| std::env::var(name).ok(),
                    self.shard_count,
                )?),
                Some(text) => Some(text.parse::<Shard>()?),
            }
            .map(|shard| {
                shard.by(match self.shard_by {
                    ShardByArg::Position => ShardBy::Position,
                    ShardByArg::Key => ShardBy::Key,
                })
            }),
            client: ClientConfig {
                max_time: self
                    .max_time
                    .as_deref()
                    .map(|text| limit("--max-time", text))
                    .transpose()?
                    .flatten(),
                read_timeout: limit("--read-timeout", &self.read_timeout)?,
                connect_timeout: limit("--connect-timeout", &self.connect_timeout)?,
                ca_certs_pem: self
                    .cacert
                    .map(|path| {
                        std::fs::read(&path).map_err(|source| ConfigError::CaCert { path, source })
                    })
                    .transpose()?,
                ..ClientConfig::default()
            },
            policy: ItemPolicy {
                retry: RetryPolicy {
                    retries: self.retries,
                    delay: parse_duration("--retry-delay", &self.retry_delay)?,
                    max_delay: parse_duration("--retry-max-delay", &self.retry_max_delay)?,
                },
                rate: self.rate.as_deref().map(str::parse).transpose()?,
                per_host,
                max_size: self
                    .max_size
                    .map(|text| {
                        parse_size::parse_size(&text).map_err(|e| ConfigError::Size(text, e))
                    })
                    .transpose()?,
                validate: self.validate.map(|format| match format {
                    ValidateArg::Json => Validate::Json,
                }),
                max_ratio: (self.max_ratio > 0).then_some(self.max_ratio),
                max_redirects: self.max_redirects,
                exchanges: false,
                request,
                bandwidth: self
                    .limit_rate
                    .map(|text| match parse_size::parse_size(&text) {
                        Ok(0) | Err(_) => Err(ConfigError::LimitRate(text)),
                        Ok(rate) => Ok(std::sync::Arc::new(fetch::Bandwidth::new(rate))),
                    })
                    .transpose()?,
            },
            control,
        })
    }
}

impl ServeArgs {
    /// Checks the arguments and builds the server config.
    pub fn into_config(self) -> Result<ServeConfig, ConfigError> {
        let faults = Faults {
            fail_rate: self.fail_rate,
            reset_rate: self.reset_rate,
            stall_rate: self.stall_rate,
            truncate_rate: self.truncate_rate,
            stall_for: parse_duration("--stall-for", &self.stall_for)?,
            rate_limit: self.rate_limit.as_deref().map(str::parse).transpose()?,
            seed: self.seed.unwrap_or_else(rand::random),
        };
        faults.validate()?;
        Ok(ServeConfig {
            latency: self.latency.parse::<Latency>()?,
            max_id: self.max_id,
            compress: self.compress,
            faults,
            capacity: self.capacity.map(|workers| Capacity {
                workers: workers as usize,
                queue_limit: self.queue_limit.map(|m| m as usize),
            }),
            limits: ConnLimits {
                header_timeout: parse_duration("--header-timeout", &self.header_timeout)?,
                idle_timeout: parse_duration("--idle-timeout", &self.idle_timeout)?,
                max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            },
        })
    }
}

impl BenchArgs {
    /// Checks the arguments and builds the bench config.
    pub fn into_config(self) -> Result<BenchConfig, ConfigError> {
        let url = self.url.as_deref().map(UrlTemplate::parse).transpose()?;
        Ok(BenchConfig {
            count: self.count,
            latency: self.latency.parse::<Latency>()?,
            concurrency: self.concurrency.map(|c| c as usize),
            url,
            timelines: self.trace.is_some() || self.report.is_some(),
            modes: match self.only {
                None => vec![Mode::Sequential, Mode::Concurrent],
                Some(BenchOnly::Sequential) => vec![Mode::Sequential],
                Some(BenchOnly::Concurrent) => vec![Mode::Concurrent],
            },
            python: self.python,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn levels_parse_sorted_and_refuse_garbage() {
        assert_eq!(parse_levels("4,1,2,2").unwrap(), vec![1, 2, 4]);
        for bad in ["0", "1,x", "", "1,,2", "-1", "100001"] {
            assert!(parse_levels(bad).is_err(), "{bad:?}");
        }
        assert_eq!(doubling(1), vec![1]);
        assert_eq!(doubling(48), vec![1, 2, 4, 8, 16, 32, 48]);
    }

    #[test]
    fn fetch_needs_keys_for_a_template() {
        let cli = Cli::parse_from(["gather", "fetch", "http://h/{id}", "--out", "x"]);
        let Command::Fetch(args) = cli.command else {
            panic!("not fetch")
        };
        assert!(matches!(args.into_config(), Err(ConfigError::NoKeys(..))));
    }
}
