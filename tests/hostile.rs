//! Hostile servers, hostile input and the limits of the machine: credentials never printed or
//! written, bombs and endless bodies cut short, stale keep-alive connections, certificate
//! errors, descriptor and file-size limits, signals.

mod common;

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{TestServer, files, gather, summary};

/// A password that must never leave the process.
const SECRET: &str = "s3cret-pw";

/// Asserts that `SECRET` is in none of `texts` (named for the message).
fn assert_no_secret<'a>(texts: impl IntoIterator<Item = (&'a str, String)>) {
    for (what, text) in texts {
        assert!(!text.contains(SECRET), "the password is in {what}: {text}");
    }
}

#[test]
fn credentials_in_urls_are_masked_everywhere_they_are_printed_or_written() {
    let server = TestServer::start(&[]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let with_password = server
        .url
        .replace("http://", &format!("http://user:{SECRET}@"));
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    fs::write(
        &list,
        format!(
            "{with_password}/1/info.0.json\n{with_password}/404/info.0.json\n\
             http://user:{SECRET}@127.0.0.1:{closed_port}/x\nftp://user:{SECRET}@host/x\n"
        ),
    )
    .unwrap();
    let (out, har) = (dir.path().join("out"), dir.path().join("run.har"));
    let run = gather()
        .args([
            "-vv",
            "fetch",
            "--json",
            "--retries",
            "1",
            "--retry-delay",
            "1ms",
        ])
        .arg("--input")
        .arg(&list)
        .arg("--har")
        .arg(&har)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(1);
    let output = run.get_output();
    let s = summary(&output.stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(3)),
        "{s}"
    );
    let masked = server.url.replace("http://", "http://user:***@");
    let failed: Vec<&str> = s["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["url"].as_str().unwrap())
        .collect();
    assert!(
        failed.contains(&format!("{masked}/404/info.0.json").as_str()),
        "{failed:?}"
    );
    let names = files(&out);
    assert_eq!(names.len(), 1);
    assert!(names[0].contains("user%3A%2A%2A%2A@"), "{names:?}");
    assert_no_secret([
        (
            "stdout",
            String::from_utf8_lossy(&output.stdout).into_owned(),
        ),
        (
            "stderr",
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ),
        ("the HAR", fs::read_to_string(&har).unwrap()),
        ("a file name", names.join(" ")),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("user:***@"),
        "failures are still named: {stderr}"
    );
}

#[test]
fn credentials_in_a_bad_template_are_masked_in_its_error() {
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &format!("ftp://user:{SECRET}@host/{{id}}"),
            "--ids",
            "1",
        ])
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(stderr.contains("ftp://user:***@host/{id}"), "{stderr}");
    assert_no_secret([("stderr", stderr)]);
}

/// An HTTP server on a free loopback port serving `/small` (2 bytes) and `/big` (1 MiB).
fn small_and_big_server() -> String {
    use axum::routing::get;
    common::spawn_app(
        axum::Router::new()
            .route("/small", get(|| async { "ok" }))
            .route("/big", get(|| async { vec![b'x'; 1 << 20] })),
    )
}

/// Sets resource limit `resource` (soft and hard) to `value` in the child `command` starts.
fn limit(command: &mut std::process::Command, resource: libc::__rlimit_resource_t, value: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; it runs in the child before exec.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[test]
fn a_file_size_limit_fails_the_item_that_passes_it_and_the_run_goes_on() {
    let url = small_and_big_server();
    let out = tempfile::tempdir().unwrap();
    let mut command = common::gather_std();
    command
        .args(["fetch", &format!("{url}/{{name}}"), "--values", "small,big"])
        .args(["--json", "-q", "--out"])
        .arg(out.path());
    limit(&mut command, libc::RLIMIT_FSIZE, 512 * 1024);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let s = summary(&output.stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(1)),
        "{s}"
    );
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("File too large"), "{reason}");
    assert_eq!(files(out.path()), vec!["small"]);
}

#[test]
fn a_low_open_file_limit_caps_the_concurrency_and_every_item_is_saved() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let mut command = common::gather_std();
    command
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-403,405-601",
            "-c",
            "1000",
        ])
        .args(["--json", "-q", "--out"])
        .arg(out.path());
    limit(&mut command, libc::RLIMIT_NOFILE, 64);
    let output = command.output().unwrap();
    let s = summary(&output.stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(600), Some(0)),
        "first failure: {}",
        s["failures"][0]
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(common::assert_complete_comics(out.path()), 600);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("open-file limit").count(),
        1,
        "said once: {stderr}"
    );
}

/// A server of slow bodies: `/steady` sends 8 parts of 1 KiB, one every 100 ms; `/stall` sends
/// one part and then nothing; `/silent` never answers.
fn slow_server() -> String {
    use axum::body::Body;
    use axum::routing::get;
    use futures::stream;
    use std::time::Duration;
    let parts = |count: usize, then_stall: bool| {
        let parts = stream::unfold(0, move |sent| async move {
            if sent == count {
                if then_stall {
                    std::future::pending::<()>().await;
                }
                return None;
            }
            if sent > 0 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Some((Ok::<_, std::io::Error>(vec![b'x'; 1024]), sent + 1))
        });
        Body::from_stream(parts)
    };
    common::spawn_app(
        axum::Router::new()
            .route("/steady", get(move || async move { parts(8, false) }))
            .route("/stall", get(move || async move { parts(1, true) }))
            .route("/silent", get(std::future::pending::<String>)),
    )
}

#[test]
fn a_slow_moving_body_is_never_cut_and_a_stalled_one_is_by_the_read_timeout() {
    let url = slow_server();
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &format!("{url}/{{name}}"),
            "--values",
            "steady,stall,silent",
        ])
        .args([
            "--read-timeout",
            "300ms",
            "--retries",
            "0",
            "--json",
            "-q",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(2)),
        "{s}"
    );
    for failure in s["failures"].as_array().unwrap() {
        assert_eq!(failure["reason"], "timed out", "{failure}");
    }
    assert_eq!(fs::read(out.path().join("steady")).unwrap().len(), 8 * 1024);
    // The whole-request limit, opt-in, cuts the same slow body (--timeout is its other name).
    for option in ["--max-time", "--timeout"] {
        let run = gather()
            .args(["fetch", &format!("{url}/{{name}}"), "--values", "steady"])
            .args([option, "300ms", "--retries", "0", "--json", "-q", "--out"])
            .arg(out.path().join(option))
            .assert()
            .code(1);
        let s = summary(&run.get_output().stdout);
        assert_eq!(s["failures"][0]["reason"], "timed out", "{option}: {s}");
    }
}

/// `body` parts served as one response with `Content-Encoding: coding`.
fn encoded(
    coding: &'static str,
    parts: impl futures::Stream<Item = Vec<u8>> + Send + 'static,
) -> axum::response::Response {
    use futures::StreamExt;
    axum::response::Response::builder()
        .header("content-encoding", coding)
        .body(axum::body::Body::from_stream(
            parts.map(Ok::<_, std::io::Error>),
        ))
        .unwrap()
}

/// Text that compresses about 4 times, as JSON lines do: `len` bytes.
fn genuine_text(len: usize) -> Vec<u8> {
    use std::io::Write;
    let mut text = Vec::with_capacity(len + 64);
    let mut i = 0u64;
    while text.len() < len {
        let value = i.wrapping_mul(2_654_435_761) % 1_000_003;
        writeln!(text, "{{\"n\":{i},\"value\":{value}}}").unwrap();
        i += 1;
    }
    text
}

/// One gzip member of 16 MiB of zeros (16 KB).
fn gzip_zeros() -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![0u8; 16 << 20]).unwrap();
    encoder.finish().unwrap()
}

/// Decoded bytes at which an item failed `--max-ratio`, from its reason.
fn decoded_at_failure(reason: &str) -> u64 {
    let (_, after) = reason
        .split_once("size (")
        .unwrap_or_else(|| panic!("not a --max-ratio failure: {reason}"));
    after.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn decompression_bombs_fail_early_and_a_large_compressible_body_is_saved() {
    use futures::stream;
    let member = gzip_zeros();
    let text = genuine_text(24 << 20);
    let compressed = zstd::bulk::compress(&text, 1).unwrap();
    let zstd_zeros = zstd::bulk::compress(&vec![0u8; 64 << 20], 1).unwrap();
    let (gz, gz_endless) = (member.clone(), member);
    let url = common::spawn_app(
        axum::Router::new()
            // 1 GiB of zeros as 64 gzip members, 1 MB on the wire.
            .route(
                "/gzip-bomb",
                axum::routing::get(move || {
                    let gz = gz.clone();
                    async move { encoded("gzip", stream::iter(std::iter::repeat_n(gz, 64))) }
                }),
            )
            // 1 GiB of zeros as 16 zstd frames.
            .route(
                "/zstd-bomb",
                axum::routing::get(move || {
                    let frame = zstd_zeros.clone();
                    async move { encoded("zstd", stream::iter(std::iter::repeat_n(frame, 16))) }
                }),
            )
            // gzip members for ever, chunked.
            .route(
                "/endless",
                axum::routing::get(move || {
                    let gz = gz_endless.clone();
                    async move { encoded("gzip", stream::repeat(gz)) }
                }),
            )
            // 24 MiB of JSON lines, 4 times smaller compressed.
            .route(
                "/genuine",
                axum::routing::get(move || {
                    let body = compressed.clone();
                    async move { encoded("zstd", stream::iter([body])) }
                }),
            ),
    );
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args(["fetch", &format!("{url}/{{name}}")])
        .args(["--values", "gzip-bomb,zstd-bomb,endless,genuine"])
        .args(["--retries", "0", "--json", "-q", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(1), Some(3)),
        "{s}"
    );
    assert!(
        fs::read(out.path().join("genuine")).unwrap() == text,
        "saved whole"
    );
    assert_eq!(files(out.path()), vec!["genuine"]);
    // Each bomb stopped within a read of the 16 MiB that are never held against the ratio.
    for failure in s["failures"].as_array().unwrap() {
        let decoded = decoded_at_failure(failure["reason"].as_str().unwrap());
        assert!(
            decoded <= gather::fetch::RATIO_FREE + (1 << 20),
            "{decoded}: {failure}"
        );
    }
    // --max-ratio 0 lets a bomb through, up to --max-size.
    let run = gather()
        .args(["fetch", &format!("{url}/{{name}}"), "--values", "gzip-bomb"])
        .args([
            "--max-ratio",
            "0",
            "--max-size",
            "40MiB",
            "--json",
            "-q",
            "--out",
        ])
        .arg(out.path().join("off"))
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("--max-size"), "{reason}");
}

#[test]
fn an_endless_plain_body_is_bounded_by_max_size() {
    use futures::stream;
    let url = common::spawn_app(axum::Router::new().route(
        "/endless",
        axum::routing::get(|| async {
            use futures::StreamExt;
            axum::body::Body::from_stream(
                stream::repeat(vec![b'x'; 64 * 1024]).map(Ok::<_, std::io::Error>),
            )
        }),
    ));
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args(["fetch", &format!("{url}/{{name}}"), "--values", "endless"])
        .args(["--max-size", "8MiB", "--json", "-q", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("--max-size"), "{reason}");
    assert!(files(out.path()).is_empty());
}

/// How a child ran: its exit code, its stdout, and its peak resident memory in bytes.
struct Measured {
    code: Option<i32>,
    stdout: Vec<u8>,
    peak_rss: u64,
}

/// Runs `command` (its program and arguments) to its end under GNU time, which reports its
/// peak resident memory.
///
/// Not wait4's rusage of a child of the test: a child spawned by vfork shares the test
/// process's memory until it execs, and its maximum RSS counts the test's.
fn measure(command: &mut std::process::Command) -> Measured {
    let report = tempfile::NamedTempFile::new().unwrap();
    let output = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(command.get_program())
        .args(command.get_args())
        .stderr(std::process::Stdio::null())
        .output()
        .expect("/usr/bin/time runs (Debian's time package; scripts/test installs it)");
    let kib: u64 = fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|line| line.trim().parse().ok())
        .expect("time reports the peak RSS in KiB");
    Measured {
        code: output.status.code(),
        stdout: output.stdout,
        peak_rss: kib * 1024,
    }
}

#[test]
fn a_zstd_window_over_8_mib_is_refused_so_memory_stays_bounded() {
    use std::io::Write;
    // 64 MiB of zeros in a zstd frame that declares a 128 MiB window.
    let mut encoder = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    encoder.window_log(27).unwrap();
    encoder.write_all(&vec![0u8; 64 << 20]).unwrap();
    let frame = encoder.finish().unwrap();
    let url = common::spawn_app(axum::Router::new().route(
        "/{n}",
        axum::routing::get(move || {
            let frame = frame.clone();
            async move { encoded("zstd", futures::stream::iter([frame])) }
        }),
    ));
    let out = tempfile::tempdir().unwrap();
    // Eight at once, with the ratio check off: only the window cap bounds their memory.
    let run = measure(
        common::gather_std()
            .args(["fetch", &format!("{url}/{{id}}"), "--ids", "1-8", "-c", "8"])
            .args([
                "--max-ratio",
                "0",
                "--retries",
                "0",
                "--json",
                "-q",
                "--out",
            ])
            .arg(out.path()),
    );
    assert_eq!(run.code, Some(1));
    let s = summary(&run.stdout);
    assert_eq!(s["failed"].as_u64(), Some(8), "{s}");
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("zstd windows over 8 MiB"), "{reason}");
    // Decoding them would have taken 8 × 64 MiB.
    assert!(
        run.peak_rss < 100 << 20,
        "peak RSS {} MiB",
        run.peak_rss >> 20
    );
}

/// A keep-alive server that answers the first request on each connection (200 `ok`, no
/// `Connection: close`) and closes the connection, unanswered, when a second one comes on it:
/// as a server does that dropped an idle connection just as it was reused. Returns its URL and
/// the number of requests it read.
fn one_request_per_connection_server() -> (String, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut request = Vec::new();
                for k in 0.. {
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    request.clear();
                    seen.fetch_add(1, Ordering::SeqCst);
                    if k > 0 {
                        return;
                    }
                    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
                }
            });
        }
    });
    (url, requests)
}

#[test]
fn a_request_on_a_stale_keep_alive_connection_is_resent_at_once_and_not_retried() {
    let (url, requests) = one_request_per_connection_server();
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &format!("{url}/{{id}}"),
            "--ids",
            "1-20",
            "-c",
            "2",
        ])
        .args(["--retries", "0", "--json", "-q", "--out"])
        .arg(out.path())
        .assert();
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(20), Some(0)),
        "{s}"
    );
    assert_eq!(
        (s["requests"].as_u64(), s["retries"].as_u64()),
        (Some(20), Some(0)),
        "{s}"
    );
    let resent = s["resent"].as_u64().unwrap();
    assert!(resent > 0, "stale connections were met: {s}");
    assert_eq!(requests.load(Ordering::SeqCst) as u64, 20 + resent, "{s}");
}

/// A fetch of a URL list of `count` lines that are not URLs (each a failed item, with no
/// network I/O), with `--json`: its peak RSS and its stdout.
fn failing_list_run(dir: &std::path::Path, count: usize) -> Measured {
    use std::io::Write;
    let list = dir.join(format!("bad-{count}.txt"));
    let mut file = std::io::BufWriter::new(fs::File::create(&list).unwrap());
    for n in 0..count {
        writeln!(file, "not a url, line {n} of a list that fails whole").unwrap();
    }
    file.into_inner().unwrap();
    let run = measure(
        common::gather_std()
            .args(["fetch", "-q", "--json", "--input"])
            .arg(&list)
            .arg("--out")
            .arg(dir.join(format!("out-{count}"))),
    );
    assert_eq!(run.code, Some(1));
    run
}

#[test]
fn memory_stays_flat_in_the_number_of_failures() {
    let dir = tempfile::tempdir().unwrap();
    let small = failing_list_run(dir.path(), 1_000);
    let large = failing_list_run(dir.path(), 100_000);
    // Kept in memory, 100,000 failures took about 25 MB more than 1,000.
    assert!(
        large.peak_rss < small.peak_rss + (8 << 20),
        "peak RSS {} MiB for 100,000 failures, {} MiB for 1,000",
        large.peak_rss >> 20,
        small.peak_rss >> 20
    );
    // Every failure is still listed with --json.
    let s = summary(&small.stdout);
    let failures = s["failures"].as_array().unwrap();
    assert_eq!((s["failed"].as_u64(), failures.len()), (Some(1_000), 1_000));
    let mut lines: Vec<u64> = failures.iter().map(|f| f["n"].as_u64().unwrap()).collect();
    lines.sort_unstable();
    assert_eq!(lines, (1..=1_000).collect::<Vec<_>>());
    assert!(
        failures[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not a valid URL")
    );
    let text = String::from_utf8_lossy(&large.stdout);
    assert_eq!(text.matches("\"reason\": ").count(), 100_000);
    assert!(text.ends_with("  ]\n}\n"), "whole JSON");
}

#[test]
fn log_lines_carry_no_colour_into_a_pipe() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "-vv",
            "fetch",
            &server.comics(),
            "--ids",
            "1-2",
            "-q",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("DEBUG"), "-vv logs: {stderr}");
    assert!(!stderr.contains('\x1b'), "no escape sequence: {stderr:?}");
}

#[test]
fn a_password_follows_a_redirect_on_its_origin_only() {
    use axum::http::HeaderMap;
    use axum::response::Redirect;
    use axum::routing::get;
    let auth = |headers: HeaderMap| async move {
        headers
            .get("authorization")
            .map_or("none".to_owned(), |v| v.to_str().unwrap().to_owned())
    };
    let other = common::spawn_app(axum::Router::new().route("/auth", get(auth)));
    let elsewhere = format!("{other}/auth");
    let url = common::spawn_app(
        axum::Router::new()
            .route("/auth", get(auth))
            // An absolute Location on the same origin (a relative one keeps the userinfo by
            // the URL standard alone).
            .route(
                "/here",
                get(|headers: HeaderMap| async move {
                    let host = headers["host"].to_str().unwrap().to_owned();
                    Redirect::temporary(&format!("http://{host}/auth"))
                }),
            )
            .route(
                "/away",
                get(move || async move { Redirect::temporary(&elsewhere) }),
            ),
    );
    let with_password = url.replace("http://", &format!("http://user:{SECRET}@"));
    let out = tempfile::tempdir().unwrap();
    gather()
        .args([
            "fetch",
            &format!("{with_password}/{{page}}"),
            "--values",
            "here,away",
        ])
        .args(["-q", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let here = fs::read_to_string(out.path().join("here")).unwrap();
    assert!(here.starts_with("Basic "), "same origin keeps it: {here}");
    assert_eq!(fs::read_to_string(out.path().join("away")).unwrap(), "none");
}
