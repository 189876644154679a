//! `gather fetch` end to end: the real binary against `gather serve` on a free port.

mod common;

use std::fs;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{
    TestServer, assert_complete_comics, assert_whole_comics, comic, fetch_comics, files, frames,
    gather, gather_std, on_terminal, send_signal, summary, wait_until,
};

#[test]
fn fetches_comics_byte_identical_and_reports_the_404() {
    // Id 200 is past --max-id, so it is a 404 like a missing xkcd comic.
    let server = TestServer::start(&["--max-id", "199"]);
    let out = tempfile::tempdir().unwrap();
    let run = fetch_comics(&server, "1-200", &["--json"], out.path()).code(1);
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
    fetch_comics(&server, "403-405", &["-q"], out.path()).code(1);
    assert_eq!(files(out.path()), vec!["403.json", "405.json"]);
}

#[test]
fn concurrent_is_at_least_ten_times_faster_than_sequential() {
    let server = TestServer::start(&["--latency", "20ms"]);
    // The engine's own wall time (start-up excluded), from the JSON summary.
    let wall = |concurrency: &str| {
        let out = tempfile::tempdir().unwrap();
        let run = gather()
            .args(["fetch", &server.comics(), "--ids", "1-200", "-q", "--json"])
            .args(["-c", concurrency, "--out"])
            .arg(out.path())
            .assert()
            .success();
        assert_eq!(assert_complete_comics(out.path()), 200);
        summary(&run.get_output().stdout)["wall_secs"]
            .as_f64()
            .unwrap()
    };
    let sequential = wall("1");
    // All 200 at once, as the seeds' asyncio.gather does: about one latency in all. At -c 50
    // (four rounds) a loaded machine once made it 9.9x.
    let concurrent = wall("200");
    let ratio = sequential / concurrent;
    assert!(
        ratio >= 10.0,
        "sequential {sequential:.3} s vs concurrent {concurrent:.3} s: only {ratio:.1}x"
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
    send_signal(&child, signal);
    child.wait_with_output().unwrap()
}

/// Runs the interrupted fetch again: it must finish the set, and leave nothing but the 200
/// comics (temp files of a killed run are removed).
fn rerun_completes_the_job(server: &TestServer, out: &std::path::Path) {
    fetch_comics(server, "1-200", &["-c", "50", "-q"], out).success();
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
    assert!(assert_whole_comics(out.path()) < 200);
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
fn a_byte_order_mark_on_the_first_line_of_a_url_list_is_dropped() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let list = format!("\u{feff}{0}/1/info.0.json\n{0}/2/info.0.json\n", server.url);
    gather()
        .args(["fetch", "--input", "-", "-q", "--name", "{n}.json", "--out"])
        .arg(out.path())
        .write_stdin(list)
        .assert()
        .success();
    assert_eq!(assert_complete_comics(out.path()), 2);
}

#[test]
fn no_proxy_star_bypasses_every_proxy() {
    let server = TestServer::start(&[]);
    // A proxy that refuses every connection: only a direct request can succeed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for no_proxy in ["*", "example.org, *"] {
        let out = tempfile::tempdir().unwrap();
        gather()
            .args([
                "fetch",
                &server.comics(),
                "--ids",
                "1-2",
                "-q",
                "--retries",
                "0",
            ])
            .arg("--out")
            .arg(out.path())
            .env("HTTP_PROXY", &proxy)
            .env("http_proxy", &proxy)
            .env("NO_PROXY", no_proxy)
            .env_remove("no_proxy")
            .assert()
            .success();
        assert_eq!(assert_complete_comics(out.path()), 2, "NO_PROXY={no_proxy}");
    }
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
            format!("http%3A%2F%2F127.0.0.1%3A{port}%2F1%2Finfo.0.json"),
            format!("http%3A%2F%2F127.0.0.1%3A{port}%2F2%2Finfo.0.json"),
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
    let run = fetch_comics(&server, "1-40", &["-c", "20"], out.path()).success();
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

/// A fetch of 10 items, 3 at a time, from a server that accepts connections and never
/// answers; returns once the three requests are in flight.
fn stalled_fetch(out: &Path) -> std::process::Child {
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
        .arg(out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(10), "three stalled connections", || {
        accepted.load(std::sync::atomic::Ordering::SeqCst) == 3
    });
    child
}

#[test]
fn sigterm_and_sighup_drop_stalled_requests_after_the_grace_period_and_count_them() {
    // SIGTERM and SIGHUP (a closed terminal) are handled like Ctrl-C; both runs at once.
    let runs: Vec<_> = [libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .map(|signal| {
            let out = tempfile::tempdir().unwrap();
            let child = stalled_fetch(out.path());
            send_signal(&child, signal);
            (signal, out, child)
        })
        .collect();
    for (signal, out, child) in runs {
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(130), "signal {signal}");
        let s = summary(&output.stdout);
        assert_eq!(
            (s["ok"].as_u64(), s["abandoned"].as_u64()),
            (Some(0), Some(3)),
            "signal {signal}: {s}"
        );
        // The three requests in flight were sent, though none finished.
        assert_eq!(s["requests"].as_u64(), Some(3), "signal {signal}: {s}");
        assert!(files(out.path()).is_empty());
    }
}

/// A raw server whose first response sends half of a 1 MiB body and then stalls forever;
/// later responses send all of it. Returns its URL template.
fn half_then_whole_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for (i, stream) in listener.incoming().enumerate() {
            let mut stream = stream.unwrap();
            let mut request = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut request);
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\nConnection: close\r\n\r\n");
            let _ = std::io::Write::write_all(&mut stream, head.as_bytes());
            let body = vec![b'x'; if i == 0 { BIG / 2 } else { BIG }];
            let _ = std::io::Write::write_all(&mut stream, &body);
            held.push(stream);
        }
    });
    format!("http://{addr}/{{id}}")
}

const BIG: usize = 1024 * 1024;

/// The sizes of the temp files `child` is writing in `dir`: named `.part` files, and on Linux
/// also unnamed (`O_TMPFILE`) ones, found among its open descriptors.
fn open_temp_files(child: &std::process::Child, dir: &Path) -> Vec<u64> {
    let named = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .filter_map(|e| e.metadata().ok());
    // An unnamed file's descriptor links to `DIR/#INODE (deleted)`.
    let unnamed = fs::read_dir(format!("/proc/{}/fd", child.id()))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|fd| {
            fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir) && target != dir)
        })
        .filter_map(|fd| fs::metadata(fd.path()).ok());
    named.chain(unnamed).map(|m| m.len()).collect()
}

#[test]
fn a_large_body_killed_midway_leaves_no_final_file_and_a_rerun_completes_it() {
    let url = half_then_whole_server();
    let out = tempfile::tempdir().unwrap();
    let child = gather_std()
        .args(["fetch", &url, "--ids", "1", "-q", "--out"])
        .arg(out.path())
        .spawn()
        .unwrap();
    // Half the body is past the 256 KiB kept in memory: it is being written to a temp file.
    wait_until(Duration::from_secs(10), "the spilled temp file", || {
        open_temp_files(&child, out.path())
            .iter()
            .any(|&len| len > 0)
    });
    send_signal(&child, libc::SIGKILL);
    let mut child = child;
    child.wait().unwrap();
    assert!(
        !out.path().join("1").exists(),
        "a partial body under its final name"
    );
    gather()
        .args(["fetch", &url, "--ids", "1", "-q", "--out"])
        .arg(out.path())
        .assert()
        .success();
    // The whole body, and the killed run's temp file is gone.
    assert_eq!(files(out.path()), vec!["1"]);
    assert_eq!(fs::read(out.path().join("1")).unwrap().len(), BIG);
}

#[test]
fn a_closed_stderr_does_not_stop_the_fetch() {
    let server = TestServer::start(&["--max-id", "5"]);
    let out = tempfile::tempdir().unwrap();
    let mut child = gather_std()
        .args(["fetch", &server.comics(), "--ids", "1-10", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Close the read end: each failure line now meets a broken pipe.
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "5 saved, 5 failed");
    assert_eq!(assert_complete_comics(out.path()), 5);
}

#[cfg(unix)]
#[test]
fn a_non_utf8_output_path_is_reported_in_json() {
    use std::os::unix::ffi::OsStrExt;
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(std::ffi::OsStr::from_bytes(b"out-\xff"));
    let run = fetch_comics(&server, "1-2", &["--json", "-q"], &out).success();
    let s = summary(&run.get_output().stdout);
    assert!(s["out"].as_str().unwrap().ends_with("out-\u{fffd}"), "{s}");
    assert_eq!(assert_complete_comics(&out), 2);
}

#[test]
fn shards_split_the_job_and_together_complete_it() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let run = fetch_comics(&server, "1-31", &["--shard", &shard, "--json"], out.path());
        let s = summary(&run.success().get_output().stdout);
        // 31 items dealt to 3 shards: 11, 10, 10.
        let expected = if k == 1 { 11 } else { 10 };
        assert_eq!(
            (s["ok"].as_u64(), s["skipped"].as_u64()),
            (Some(expected), Some(0)),
            "{shard}: {s}"
        );
    }
    assert_eq!(assert_complete_comics(out.path()), 31);
}

#[test]
fn shards_by_key_complete_the_job_and_keep_their_items_when_it_grows() {
    let server = TestServer::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let owned = |ids: &str, k: u64| -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let shard = format!("{k}/3");
        fetch_comics(
            &server,
            ids,
            &["--shard", &shard, "--shard-by", "key"],
            dir.path(),
        )
        .success();
        let mut ids: Vec<u64> = files(dir.path())
            .iter()
            .map(|name| name.trim_end_matches(".json").parse().unwrap())
            .collect();
        ids.sort_unstable();
        ids
    };
    let mut all = Vec::new();
    for k in 1..=3 {
        let before = owned("1-30", k);
        // The list grows at both ends: the shard keeps every item it had.
        let after = owned("100-120,1-30,31-40", k);
        assert!(
            before.iter().all(|id| after.contains(id)),
            "{k}: {before:?} {after:?}"
        );
        all.extend(before);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=30).collect::<Vec<u64>>(),
        "each item in one shard"
    );
    // A slurm array task, as --shard auto reads it.
    let run = gather()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-10",
            "--shard",
            "auto",
            "--json",
        ])
        .arg("--out")
        .arg(out.path())
        .env("SLURM_ARRAY_TASK_ID", "2")
        .env("SLURM_ARRAY_TASK_MIN", "1")
        .env("SLURM_ARRAY_TASK_COUNT", "5")
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["shard"].as_str(), s["ok"].as_u64()),
        (Some("2/5"), Some(2)),
        "{s}"
    );
}

#[test]
fn any_number_of_worker_threads_fetches_each_item_once() {
    let server = TestServer::start(&[]);
    // Fewer, as many and more threads than downloads at once (capped to them), on ids and on
    // a URL list, whose end every worker meets.
    let list = tempfile::NamedTempFile::new().unwrap();
    let urls: String = (1..=40)
        .map(|id| format!("{}/{id}/info.0.json\n", server.url))
        .collect();
    fs::write(list.path(), urls).unwrap();
    for threads in ["1", "3", "8"] {
        let ids_out = tempfile::tempdir().unwrap();
        let args = ["--threads", threads, "-c", "4", "--json"];
        let run = fetch_comics(&server, "1-40", &args, ids_out.path());
        let s = summary(&run.success().get_output().stdout);
        assert_eq!(
            (s["ok"].as_u64(), s["requests"].as_u64()),
            (Some(40), Some(40)),
            "{s}"
        );
        assert_eq!(assert_complete_comics(ids_out.path()), 40);

        let list_out = tempfile::tempdir().unwrap();
        let run = gather()
            .args(["fetch", "--input"])
            .arg(list.path())
            .args(args)
            .arg("--out")
            .arg(list_out.path())
            .assert();
        let s = summary(&run.success().get_output().stdout);
        assert_eq!(
            (s["ok"].as_u64(), s["requests"].as_u64()),
            (Some(40), Some(40)),
            "{s}"
        );
        assert_eq!(files(list_out.path()).len(), 40);
    }
}

/// On a terminal the bar shows a rate of whole items a second (not indicatif's `1.8116/s`) and
/// how many items failed so far.
#[test]
fn the_bar_on_a_terminal_shows_a_rate_and_the_failures() {
    let server = TestServer::start(&["--latency", "20ms", "--fail-rate", "0.3", "--seed", "7"]);
    let out = tempfile::tempdir().unwrap();
    let terminal = on_terminal(
        &[
            "fetch",
            &server.comics(),
            "--ids",
            "1-60",
            "-c",
            "2",
            "--retries",
            "0",
            "--fail-exit",
            "0",
            "--out",
            out.path().to_str().unwrap(),
        ],
        ">/dev/null",
    );
    let frames = frames(&terminal);
    let bars: Vec<_> = frames.iter().filter(|f| f.contains("/60 ")).collect();
    assert!(!bars.is_empty(), "no bar in {frames:#?}");
    for bar in &bars {
        let rate = bar.split(' ').find(|w| w.ends_with("/s")).unwrap();
        assert!(
            !rate.contains('.') || rate.len() <= "9.9/s".len(),
            "rate {rate} in {bar:?}"
        );
    }
    assert!(
        bars.iter().any(|f| f.ends_with(" failed")),
        "no failed count in {bars:#?}"
    );
    // Each failure also has its line, above the bar.
    assert!(
        frames.iter().any(|f| f.starts_with("failed: ")),
        "{frames:#?}"
    );
}
