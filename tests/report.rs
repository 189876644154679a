//! The exporters end to end: HAR from `fetch --har`, Chrome trace from `bench --trace`, and the
//! HTML report opened in a real headless Chromium: no console messages, every chart drawn, a
//! screenshot saved (`target/tmp/test-report/report.png`; with `UPDATE_SCREENSHOT=1` also
//! `docs/report.png`, the README's picture).
//!
//! Chromium is required: `scripts/test` installs it. Without it the report test fails.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{TestServer, fetch_comics, gather, gather_std, send_signal};
use gather::report::charts::PALETTE;
use serde_json::Value;

const CHROMIUM: &str = "/usr/bin/chromium";

fn json_file(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[test]
fn har_entries_are_each_request_with_its_headers_version_and_type() {
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::get;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let flaky = std::sync::Arc::new(AtomicUsize::new(0));
    let url = common::spawn_app(
        axum::Router::new()
            .route("/hop", get(|| async { Redirect::temporary("/json") }))
            .route(
                "/json",
                get(|| async {
                    let headers = [
                        ("content-type", "application/json"),
                        ("set-cookie", "sid=s3cret"),
                    ];
                    (headers, "{}")
                }),
            )
            .route(
                "/flaky",
                get(move || async move {
                    match flaky.fetch_add(1, Ordering::SeqCst) {
                        0 => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                        _ => "ok".into_response(),
                    }
                }),
            ),
    );
    let with_password = url.replace("http://", "http://user:s3cret@");
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("fetch.har");
    gather()
        .args([
            "fetch",
            &format!("{with_password}/{{page}}"),
            "--values",
            "hop,flaky",
        ])
        .args(["--retry-delay", "1ms", "-q", "--har"])
        .arg(&har_path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&har_path).unwrap();
    // Neither the password nor the basic-auth header made of it ("user:s3cret").
    assert!(
        !text.contains("s3cret") && !text.contains("dXNlcjpzM2NyZXQ="),
        "{text}"
    );
    let har: Value = serde_json::from_str(&text).unwrap();
    let entries = har["log"]["entries"].as_array().unwrap();
    let seen: Vec<(String, u64)> = entries
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap();
            let path = url.rsplit('/').next().unwrap().to_owned();
            (path, e["response"]["status"].as_u64().unwrap())
        })
        .collect();
    // The redirect hop and its target; the failed try and its retry.
    for request in [("hop", 307), ("json", 200), ("flaky", 503), ("flaky", 200)] {
        assert!(
            seen.contains(&(request.0.to_owned(), request.1)),
            "{seen:?}"
        );
    }
    assert_eq!(entries.len(), 4, "{seen:?}");
    let header = |entry: &Value, side: &str, name: &str| -> Option<String> {
        entry[side]["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"].as_str().unwrap().eq_ignore_ascii_case(name))
            .map(|h| h["value"].as_str().unwrap().to_owned())
    };
    for entry in entries {
        assert_eq!(entry["response"]["httpVersion"], "HTTP/1.1", "{entry}");
        assert_eq!(
            header(entry, "request", "authorization").as_deref(),
            Some("Basic ***")
        );
        let agent = header(entry, "request", "user-agent").unwrap();
        assert!(agent.starts_with("gather/"), "{agent}");
    }
    let hop = entries
        .iter()
        .find(|e| e["response"]["status"] == 307)
        .unwrap();
    let target = hop["response"]["redirectURL"].as_str().unwrap();
    assert!(
        target.ends_with("/json") && target.contains("user:***@"),
        "{hop}"
    );
    let json = entries
        .iter()
        .find(|e| e["request"]["url"].as_str().unwrap().ends_with("/json"))
        .unwrap();
    assert_eq!(json["response"]["content"]["mimeType"], "application/json");
    assert_eq!(
        header(json, "response", "set-cookie").as_deref(),
        Some("***")
    );
    let retried = entries
        .iter()
        .find(|e| e["response"]["status"] == 503)
        .unwrap();
    assert!(
        retried["comment"].as_str().unwrap().contains("503"),
        "{retried}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["timings"]["connect"].as_f64().unwrap() >= 0.0),
        "the request that opened a connection says how long that took"
    );
}

#[test]
fn fetch_writes_a_har_log_with_one_entry_per_request() {
    let server = TestServer::start(&["--latency", "20ms"]);
    let dir = tempfile::tempdir().unwrap();
    let har_path = dir.path().join("fetch.har");
    let har_arg = har_path.to_str().unwrap();
    fetch_comics(
        &server,
        "1-12,404",
        // One request at a time to the host: the other slots' items wait, and that shows
        // as `blocked`, not as the server's `wait`.
        &["-c", "4", "--per-host", "1", "-q", "--har", har_arg],
        &dir.path().join("out"),
    )
    .code(1);
    let har = json_file(&har_path);
    assert_eq!(har["log"]["version"], "1.2");
    assert_eq!(har["log"]["creator"]["name"], "gather");
    let entries = har["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 13, "one entry per item");
    let mut most_blocked = 0.0f64;
    for entry in entries {
        let started = entry["startedDateTime"].as_str().unwrap();
        assert!(started.ends_with('Z') && started.contains('T'), "{started}");
        let timings = &entry["timings"];
        let blocked = timings["blocked"].as_f64().unwrap();
        let wait = timings["wait"].as_f64().unwrap();
        let receive = timings["receive"].as_f64().unwrap();
        assert!(wait >= 15.0, "the server's 20 ms are waiting: {entry}");
        // Held behind the request in flight, but not more than all the others took.
        assert!(wait < 200.0, "only the server's wait is wait: {entry}");
        assert!(blocked >= 0.0 && receive >= 0.0, "{entry}");
        assert!(timings["send"] == 0 && timings["dns"] == -1);
        // Known for the request that opened a connection; -1 on a reused one.
        let connect = timings["connect"].as_f64().unwrap();
        assert!(connect == -1.0 || connect >= 0.0, "{entry}");
        let time = entry["time"].as_f64().unwrap();
        let parts = blocked + connect.max(0.0) + wait + receive;
        assert!((time - parts).abs() < 1e-9, "{entry}");
        most_blocked = most_blocked.max(blocked);
        assert_eq!(entry["request"]["method"], "GET");
    }
    assert!(
        most_blocked >= 15.0,
        "with 4 slots and one request at a time, some waited their turn: {most_blocked} ms"
    );
    let missing: Vec<&Value> = entries
        .iter()
        .filter(|e| e["response"]["status"] == 404)
        .collect();
    assert_eq!(missing.len(), 1, "comic 404 is a 404");
    assert!(
        missing[0]["request"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/404/info.0.json")
    );
}

#[test]
fn bench_trace_has_every_request_of_both_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.json");
    gather()
        .args(["bench", "-n", "8", "--latency", "10ms", "--trace"])
        .arg(&path)
        .assert()
        .success();
    let trace = json_file(&path);
    let events = trace["traceEvents"].as_array().unwrap();
    let complete = events.iter().filter(|e| e["ph"] == "X").count();
    assert_eq!(complete, 16);
    let concurrent_slots = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == 2)
        .count();
    assert!(concurrent_slots > 1, "the concurrent run overlaps");
}

fn chromium(profile: &Path) -> Command {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run scripts/test, which installs it (apt-get install chromium)"
    );
    let mut command = Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

/// Each `<figure class="chart" id="...">` of `dom` and its SVG's data elements: bars (`<rect>`
/// filled with a colour of the charts' palette) and lines (`<polyline>` stroked with one).
/// Axes, gridlines, labels and the white background are drawn in other colours and do not
/// count, so a chart without data counts 0.
fn charts(dom: &str) -> Vec<(String, usize)> {
    let colors: Vec<String> = PALETTE
        .iter()
        .map(|c| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2))
        .collect();
    dom.split("<figure class=\"chart\" id=\"")
        .skip(1)
        .map(|rest| {
            let id = rest.split('"').next().unwrap_or_default().to_owned();
            let figure = rest.split("</figure>").next().unwrap_or_default();
            let svg = figure
                .split_once("<svg")
                .and_then(|(_, svg)| svg.split_once("</svg>"))
                .map_or("", |(svg, _)| svg);
            let data = svg
                .split('<')
                .filter(|element| {
                    let element = element.split('>').next().unwrap_or_default();
                    colors.iter().any(|c| {
                        (element.starts_with("rect ") && element.contains(&format!("fill=\"{c}\"")))
                            || (element.starts_with("polyline ")
                                && element.contains(&format!("stroke=\"{c}\"")))
                    })
                })
                .count();
            (id, data)
        })
        .collect()
}

/// Every `src="..."` and `href="..."` in `html`.
fn links(html: &str) -> Vec<String> {
    ["src=\"", "href=\""]
        .iter()
        .flat_map(|attr| {
            html.split(attr)
                .skip(1)
                .map(|rest| rest.split('"').next().unwrap_or_default().to_owned())
        })
        .collect()
}

#[test]
fn the_report_opens_in_chromium_with_every_chart_drawn() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("test-report");
    std::fs::create_dir_all(&out).unwrap();
    let report = out.join("report.html");
    let mut bench = gather();
    bench
        .args(["bench", "-n", "20", "--latency", "50ms", "--report"])
        .arg(&report);
    let has_python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if has_python {
        bench.arg("--python");
    }
    bench.assert().success();
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for link in links(&html) {
        assert!(
            link.starts_with('#') || link.starts_with("data:"),
            "the report must load nothing: {link}"
        );
    }
    assert!(!html.contains("<script"), "no scripts");
    for section in ["problem", "models", "uses", "measured", "conclusions"] {
        assert!(
            html.contains(&format!("id=\"{section}\"")),
            "section {section}"
        );
    }

    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", report.display());
    let dump = chromium(profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(dump.status.success(), "chromium failed: {dump:?}");
    let stderr = String::from_utf8_lossy(&dump.stderr);
    let console: Vec<&str> = stderr.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let dom = String::from_utf8_lossy(&dump.stdout);
    let charts = charts(&dom);
    let ids: Vec<&str> = charts.iter().map(|(id, _)| id.as_str()).collect();
    for expected in [
        "chart-model-event-loop",
        "chart-model-python-threads",
        "chart-model-os-threads",
        "chart-model-processes",
        "chart-model-goroutines",
        "chart-model-cpp-coroutines",
        "chart-waterfall-sequential",
        "chart-waterfall-concurrent",
        "chart-in-flight",
        "chart-latency",
        "chart-speedup-sleep",
        "chart-speedup-http",
        "chart-speedup-cpu",
    ] {
        assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
    }
    // The run above: 20 requests in each of 2 runs; 4 Rust models besides sequential.
    for (id, count) in &charts {
        let least = match id.as_str() {
            // Two segments per request: until the first byte, then to the end.
            "chart-waterfall-sequential" | "chart-waterfall-concurrent" => 2 * 20,
            "chart-in-flight" => 1,
            // p50, p90, p99 and max of each run.
            "chart-latency" => 4 * 2,
            id if id.starts_with("chart-speedup-") => 4,
            // The model sketches: a few tasks on a few lanes.
            _ => 4,
        };
        assert!(
            *count >= least,
            "chart {id} has {count} data elements, want {least}"
        );
    }

    let screenshot = out.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let shot = chromium(profile.path())
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg("--window-size=1280,7800")
        .arg(&url)
        .output()
        .expect("chromium runs");
    assert!(shot.status.success(), "chromium failed: {shot:?}");
    let png = std::fs::read(&screenshot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&screenshot, docs.join("report.png")).unwrap();
    }
}

/// Starts `gather ARGS`, sends SIGINT once a line of its stderr contains `when` (or after
/// 800 ms, time enough to install its signal handler, when `when` is empty), and returns its
/// exit code and whole stderr.
fn interrupt_when(args: &[&str], when: &str) -> (Option<i32>, String) {
    let mut child = gather_std()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    if when.is_empty() {
        std::thread::sleep(std::time::Duration::from_millis(800));
    }
    while !text.contains(when) {
        assert!(
            stderr.read_line(&mut text).unwrap() > 0,
            "gather ended before saying {when:?}: {text}"
        );
    }
    send_signal(&child, libc::SIGINT);
    stderr.read_to_string(&mut text).unwrap();
    (child.wait().unwrap().code(), text)
}

#[test]
fn an_interrupted_bench_writes_no_report_and_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let trace = dir.path().join("trace.json");
    let path = report.to_str().unwrap();
    // Ctrl-C in the bench itself: 4 requests of 2 s one after another.
    let (code, stderr) = interrupt_when(
        &["bench", "-n", "4", "--latency", "2s", "--report", path],
        "",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
    // Ctrl-C in the lab that the report runs after the bench.
    let (code, stderr) = interrupt_when(
        &["bench", "-n", "2", "--latency", "10ms", "--report", path],
        "running the lab for the report",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
    // Ctrl-C in `bench lab --report`: its trace is still written, its report not.
    let (code, stderr) = interrupt_when(
        &[
            "bench",
            "lab",
            "--workloads",
            "sleep",
            "-n",
            "3",
            "--sleep",
            "3s",
        ]
        .into_iter()
        .chain(["--report", path, "--trace", trace.to_str().unwrap()])
        .collect::<Vec<_>>(),
        "",
    );
    assert_eq!(code, Some(130), "{stderr}");
    assert!(!report.exists(), "a report after Ctrl-C: {stderr}");
}
