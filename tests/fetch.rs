//! `gather fetch` end to end: the real binary against `gather serve` on a free port.

mod common;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{
    TestServer, assert_complete_comics, comic, files, gather, gather_std, summary, wait_until,
};

#[test]
fn fetches_comics_byte_identical_and_reports_the_404() {
    // Id 200 is past --max-id, so it is a 404 like a missing xkcd comic.
    let server = TestServer::start(&["--max-id", "199"]);
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-200",
            "--json",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(199), Some(1))
    );
    assert_eq!(s["failures"][0]["status"], 404);
    assert_eq!(
        s["failures"][0]["url"],
        format!("{}/200/info.0.json", server.url)
    );
    assert_eq!(s["failures"][0]["reason"], "HTTP 404 Not Found");
    assert_eq!(assert_complete_comics(out.path()), 199);
    assert!(!out.path().join("200.json").exists());
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("/200/info.0.json: HTTP 404"), "{stderr}");
}

#[test]
fn the_real_404_comic_is_a_failure_too() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    gather()
        .args(["fetch", &server.comics(), "--ids", "403-405", "-q", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    assert_eq!(files(out.path()), vec!["403.json", "405.json"]);
}

#[test]
fn concurrent_is_at_least_ten_times_faster_than_sequential() {
    let server = TestServer::start(&["--latency", "20ms"]);
    let time = |concurrency: &str| {
        let out = tempfile::tempdir().unwrap();
        let start = Instant::now();
        gather()
            .args([
                "fetch",
                &server.comics(),
                "--ids",
                "1-200",
                "-q",
                "-c",
                concurrency,
                "--out",
            ])
            .arg(out.path())
            .assert()
            .success();
        let wall = start.elapsed();
        assert_eq!(assert_complete_comics(out.path()), 200);
        wall
    };
    let sequential = time("1");
    let concurrent = time("50");
    let ratio = sequential.as_secs_f64() / concurrent.as_secs_f64();
    assert!(
        ratio >= 10.0,
        "sequential {sequential:?} vs concurrent {concurrent:?}: only {ratio:.1}x"
    );
}

#[test]
fn rerun_skips_existing_files_and_force_refetches() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let fetch = |extra: &[&str]| {
        let run = gather()
            .args([
                "fetch",
                &server.comics(),
                "--ids",
                "1-20",
                "--json",
                "--out",
            ])
            .arg(out.path())
            .args(extra)
            .assert()
            .success();
        summary(&run.get_output().stdout)
    };
    assert_eq!(fetch(&[])["ok"], 20);
    // A file that exists is taken as complete and left alone...
    fs::write(out.path().join("7.json"), "kept").unwrap();
    let again = fetch(&[]);
    assert_eq!(
        (again["ok"].as_u64(), again["skipped"].as_u64()),
        (Some(0), Some(20))
    );
    assert_eq!(
        fs::read_to_string(out.path().join("7.json")).unwrap(),
        "kept"
    );
    // ...unless --force.
    let forced = fetch(&["--force"]);
    assert_eq!(
        (forced["ok"].as_u64(), forced["skipped"].as_u64()),
        (Some(20), Some(0))
    );
    assert_eq!(assert_complete_comics(out.path()), 20);
}

/// Starts a slow fetch of 200 comics, waits until some are saved, and sends `signal`.
fn interrupt_fetch(
    server: &TestServer,
    out: &std::path::Path,
    signal: i32,
) -> std::process::Output {
    let child = gather_std()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-200",
            "-c",
            "8",
            "--json",
            "-q",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(20), "the first saved files", || {
        files(out).iter().filter(|n| n.ends_with(".json")).count() >= 8
    });
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait_with_output().unwrap()
}

/// Runs the interrupted fetch again: it must finish the set, and leave nothing but the 200
/// comics (temp files of a killed run are removed).
fn rerun_completes_the_job(server: &TestServer, out: &std::path::Path) {
    gather()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-200",
            "-c",
            "50",
            "-q",
            "--out",
        ])
        .arg(out)
        .assert()
        .success();
    assert_eq!(assert_complete_comics(out), 200);
}

#[test]
fn ctrl_c_stops_cleanly_with_a_summary_and_no_partial_files() {
    let server = TestServer::start(&["--latency", "100ms"]);
    let out = tempfile::tempdir().unwrap();
    let output = interrupt_fetch(&server, out.path(), libc::SIGINT);
    assert_eq!(output.status.code(), Some(130));
    let s = summary(&output.stdout);
    assert_eq!(s["interrupted"], true);
    // In-flight requests were let finish (100 ms each, well within the grace period).
    assert_eq!(s["abandoned"], 0);
    let saved = assert_complete_comics(out.path());
    assert_eq!(
        s["ok"].as_u64(),
        Some(saved as u64),
        "the summary counts the files"
    );
    assert!(saved < 200, "the run was cut short");
    rerun_completes_the_job(&server, out.path());
}

#[test]
fn kill_9_never_leaves_a_partial_file_and_a_rerun_completes() {
    let server = TestServer::start(&["--latency", "100ms"]);
    let out = tempfile::tempdir().unwrap();
    interrupt_fetch(&server, out.path(), libc::SIGKILL);
    // Temp files of the killed run may remain; every final name is a whole file.
    let finals: Vec<String> = files(out.path())
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert!(finals.len() < 200);
    for name in &finals {
        let id: u64 = name.trim_end_matches(".json").parse().unwrap();
        assert_eq!(
            fs::read_to_string(out.path().join(name)).unwrap(),
            comic(id)
        );
    }
    rerun_completes_the_job(&server, out.path());
}

#[test]
fn reads_urls_from_stdin_and_reports_bad_lines() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let list = format!(
        "{0}/1/info.0.json\n\n# a comment\n{0}/2/info.0.json\nftp://example.invalid/x\n{0}/3/info.0.json\n",
        server.url
    );
    let run = gather()
        .args([
            "fetch", "--input", "-", "--json", "-q", "--name", "{n}.json", "--out",
        ])
        .arg(out.path())
        .write_stdin(list)
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!((s["ok"].as_u64(), s["failed"].as_u64()), (Some(3), Some(1)));
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("line 5") && reason.contains("unsupported scheme `ftp`"),
        "{reason}"
    );
    // {n} is the line number.
    assert_eq!(files(out.path()), vec!["1.json", "4.json", "6.json"]);
    assert_eq!(
        fs::read_to_string(out.path().join("6.json")).unwrap(),
        comic(3)
    );
}

#[test]
fn url_lists_from_a_file_get_distinct_default_names() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("urls.txt");
    fs::write(
        &list,
        format!("{0}/1/info.0.json\n{0}/2/info.0.json\n", server.url),
    )
    .unwrap();
    let out = dir.path().join("out");
    gather()
        .args(["fetch", "-q", "--input"])
        .arg(&list)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let port = server.url.rsplit(':').next().unwrap();
    assert_eq!(
        files(&out),
        vec![
            format!("127.0.0.1%3A{port}%2F1%2Finfo.0.json"),
            format!("127.0.0.1%3A{port}%2F2%2Finfo.0.json"),
        ]
    );
}

#[test]
fn values_fetch_search_pages() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    gather()
        .args(["fetch", &format!("{}/search?q={{name}}", server.url)])
        .args([
            "--values",
            "Yash,KOSS,Your Name,../../escape",
            "--name",
            "{name}.html",
            "-q",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(
        files(out.path()),
        // A leading dot is encoded too: no value makes a hidden file or `..`.
        vec![
            "%2E.%2F..%2Fescape.html",
            "KOSS.html",
            "Yash.html",
            "Your%20Name.html"
        ]
    );
    let page = fs::read_to_string(out.path().join("Your%20Name.html")).unwrap();
    assert!(page.contains("<h1>Results for Your Name</h1>"), "{page}");
}

#[test]
fn text_summary_reports_counts_and_effective_concurrency() {
    let server = TestServer::start(&["--latency", "20ms"]);
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-40",
            "-c",
            "20",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&run.get_output().stdout).into_owned();
    assert!(
        text.starts_with("40 saved, 0 failed, 0 skipped in "),
        "{text}"
    );
    let effective: f64 = text
        .split("concurrency  ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no effective concurrency in {text}"));
    assert!(
        effective > 2.0 && effective <= 20.5,
        "{effective} in {text}"
    );
}

#[test]
fn ctrl_c_drops_stalled_requests_after_the_grace_period() {
    // A server that accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(3) {
            held.push(stream.unwrap());
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    let out = tempfile::tempdir().unwrap();
    let child = gather_std()
        .args([
            "fetch",
            &format!("http://{addr}/{{id}}"),
            "--ids",
            "1-10",
            "-c",
            "3",
            "--json",
            "-q",
        ])
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "three stalled connections", || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) == 3
    });
    // SAFETY: plain kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let s = summary(&output.stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["abandoned"].as_u64()),
        (Some(0), Some(3)),
        "{s}"
    );
    assert!(files(out.path()).is_empty());
}
