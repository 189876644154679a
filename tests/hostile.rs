//! Hostile servers, hostile input and the limits of the machine: credentials never printed or
//! written, bombs and endless bodies cut short, stale keep-alive connections, certificate
//! errors, descriptor and file-size limits, signals.

mod common;

use std::fs;

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
