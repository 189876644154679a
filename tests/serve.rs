//! `gather serve` over real sockets, and the fetch client's HTTP manners (User-Agent,
//! redirects, compression) against servers on loopback.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use common::{
    TestServer, comic, fetch_comics, files, gather, spawn_app, spawn_app_counting, summary,
};

/// A raw HTTP/1.1 GET; returns the whole response as text.
fn raw_get(base: &str, path: &str, extra_headers: &str) -> String {
    let addr = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{extra_headers}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[test]
fn serves_comics_404s_and_search_pages() {
    let server = TestServer::start(&["--max-id", "500"]);
    let ok = raw_get(&server.url, "/1/info.0.json", "");
    assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
    assert!(ok.contains("content-type: application/json"), "{ok}");
    assert!(ok.ends_with(&comic(1)), "{ok}");
    for missing in [
        "/404/info.0.json",
        "/501/info.0.json",
        "/x/info.0.json",
        "/nothing",
    ] {
        let response = raw_get(&server.url, missing, "");
        assert!(
            response.starts_with("HTTP/1.1 404"),
            "{missing}: {response}"
        );
    }
    let latest = raw_get(&server.url, "/info.0.json", "");
    assert!(latest.ends_with(&comic(500)), "{latest}");
    let page = raw_get(&server.url, "/search?q=Your%20Name%3Cb%3E", "");
    assert!(
        page.contains("<h1>Results for Your Name&lt;b&gt;</h1>"),
        "{page}"
    );
}

#[test]
fn latency_delays_each_response_without_blocking_others() {
    let server = TestServer::start(&["--latency", "200ms"]);
    let start = Instant::now();
    raw_get(&server.url, "/1/info.0.json", "");
    let one = start.elapsed();
    assert!(one >= Duration::from_millis(200), "{one:?}");
    let start = Instant::now();
    let threads: Vec<_> = (1..=20)
        .map(|id| {
            let url = server.url.clone();
            std::thread::spawn(move || raw_get(&url, &format!("/{id}/info.0.json"), ""))
        })
        .collect();
    for thread in threads {
        assert!(thread.join().unwrap().starts_with("HTTP/1.1 200"));
    }
    let twenty = start.elapsed();
    // Serialized, twenty would take 20x one; concurrent, about 1x.
    assert!(
        twenty < one * 5,
        "20 concurrent took {twenty:?}, one took {one:?}"
    );
}

#[test]
fn compressed_responses_are_saved_decoded() {
    let server = TestServer::start(&["--compress"]);
    let raw = raw_get(&server.url, "/1/info.0.json", "Accept-Encoding: gzip\r\n");
    assert!(raw.contains("content-encoding: gzip"), "{raw}");
    let out = tempfile::tempdir().unwrap();
    fetch_comics(&server, "1-3", &["-q"], out.path()).success();
    assert_eq!(common::assert_complete_comics(out.path()), 3);
}

#[test]
fn sends_a_user_agent_and_follows_redirects_up_to_a_limit() {
    // /ua echoes the User-Agent; /hopN redirects N times, then to /ua.
    let url = spawn_app(Router::new().route(
        "/{page}",
        get(|Path(page): Path<String>, headers: HeaderMap| async move {
            match page.strip_prefix("hop").and_then(|n| n.parse::<u32>().ok()) {
                Some(0) => Redirect::temporary("/ua").into_response(),
                Some(n) => Redirect::temporary(&format!("/hop{}", n - 1)).into_response(),
                None if page == "encodings" => headers["accept-encoding"]
                    .to_str()
                    .unwrap()
                    .to_owned()
                    .into_response(),
                None => headers["user-agent"]
                    .to_str()
                    .unwrap()
                    .to_owned()
                    .into_response(),
            }
        }),
    ));
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &format!("{url}/{{p}}"),
            "--values",
            "ua,hop3,hop20,encodings",
            "--max-redirects",
            "5",
        ])
        .args(["--name", "{n}.txt", "--json", "-q", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!((s["ok"].as_u64(), s["failed"].as_u64()), (Some(3), Some(1)));
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("redirect"), "{reason}");
    let ua = format!("gather/{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        std::fs::read_to_string(out.path().join("1.txt")).unwrap(),
        ua
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("2.txt")).unwrap(),
        ua
    );
    let encodings = std::fs::read_to_string(out.path().join("4.txt")).unwrap();
    for encoding in ["gzip", "br", "zstd", "deflate"] {
        assert!(encodings.contains(encoding), "Accept-Encoding: {encodings}");
    }
    assert_eq!(files(out.path()), vec!["1.txt", "2.txt", "4.txt"]);
}

#[test]
fn a_body_cut_short_is_a_failure_and_never_saved() {
    // A raw server that promises 1000 bytes, sends 10, and closes.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789");
        }
    });
    let out = tempfile::tempdir().unwrap();
    let run = gather()
        .args([
            "fetch",
            &format!("http://{addr}/{{id}}"),
            "--ids",
            "1",
            "--json",
            "-q",
            "--out",
        ])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!(s["failed"], 1, "{s}");
    assert!(files(out.path()).is_empty(), "{:?}", files(out.path()));
}

#[test]
fn honors_http_proxy_from_the_environment() {
    // A local "proxy" that answers every request with the URI it was asked for. The target
    // host does not exist: only a proxy can have answered.
    let proxy =
        spawn_app(Router::new().fallback(|uri: axum::http::Uri| async move { uri.to_string() }));
    let out = tempfile::tempdir().unwrap();
    gather()
        .args([
            "fetch",
            "http://comics.invalid/{id}/info.0.json",
            "--ids",
            "1-2",
            "-q",
            "--out",
        ])
        .arg(out.path())
        .env("HTTP_PROXY", &proxy)
        .env("http_proxy", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(out.path().join("2.json")).unwrap(),
        "http://comics.invalid/2/info.0.json"
    );
}

#[test]
fn connections_are_reused_across_requests() {
    let router = gather::serve::router(&gather::serve::ServeConfig::default());
    let (base, accepted) = spawn_app_counting(router);
    let out = tempfile::tempdir().unwrap();
    gather()
        .args([
            "fetch",
            &format!("{base}/{{id}}/info.0.json"),
            "--ids",
            "1-100",
        ])
        .args(["-c", "4", "-q", "--out"])
        .arg(out.path())
        .assert()
        .success();
    assert_eq!(common::assert_complete_comics(out.path()), 100);
    // 4 slots keep 4 connections busy; a few more may open while one is being returned to the
    // pool, but nowhere near one per request.
    let connections = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=8).contains(&connections),
        "{connections} connections for 100 requests"
    );
}

#[test]
fn serves_on_one_thread_unless_asked_for_more() {
    // Threads are counted when created; their names are set once they run.
    let one = TestServer::start(&[]);
    assert_eq!(one.thread_count(), 1);
    let three = TestServer::start(&["--threads", "3", "--max-id", "500"]);
    assert_eq!(three.thread_count(), 1 + 3);
    let out = tempfile::tempdir().unwrap();
    common::fetch_comics(&three, "1-300", &["-q", "-c", "32"], out.path()).success();
    assert_eq!(common::assert_complete_comics(out.path()), 300);
}

#[test]
fn serves_thousands_of_concurrent_connections() {
    // 3,000 requests at once, each held 300 ms by the server: every one is answered, and they
    // overlap (effective concurrency well above what a small pool could give).
    let server = TestServer::start(&["--latency", "300ms", "--max-id", "5000"]);
    let out = tempfile::tempdir().unwrap();
    let run = common::fetch_comics(
        &server,
        "1-403,405-3001",
        &["-c", "3000", "--retries", "0", "--json", "-q"],
        out.path(),
    )
    .success();
    let s = summary(&run.get_output().stdout);
    assert_eq!(s["ok"], 3000, "{s}");
    assert!(s["effective_concurrency"].as_f64().unwrap() > 500.0, "{s}");
    assert_eq!(common::assert_complete_comics(out.path()), 3000);
}

/// `GET /1/info.0.json` on a new connection, closed after the response: the time to its
/// whole response, or `None` if none came within 5 seconds.
async fn timed_get(addr: &str) -> Option<Duration> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let start = Instant::now();
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
        tcp.write_all(b"GET /1/info.0.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut response = Vec::new();
        tcp.read_to_end(&mut response).await.ok()?;
        response.starts_with(b"HTTP/1.1 200 OK").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .ok()
        .flatten()
        .map(|()| start.elapsed())
}

/// How many connections wait in the accept queue of the loopback listener on `port`
/// (`rx_queue` of a listening socket in /proc/net/tcp): connections the server has not taken.
fn accept_queue(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").expect("/proc/net/tcp is readable");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields.get(1)?.rsplit(':').next()?;
            let listening = *fields.get(3)? == "0A";
            let rx_queue = fields.get(4)?.split(':').nth(1)?;
            (listening && u16::from_str_radix(local_port, 16).ok()? == port)
                .then(|| usize::from_str_radix(rx_queue, 16).ok())
                .flatten()
        })
        .sum()
}

/// The port of `http://127.0.0.1:PORT`.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_is_cut_off_and_normal_requests_are_answered_meanwhile() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const SOCKETS: usize = 2_000;
    let header_timeout = Duration::from_secs(2);
    // Each slowloris socket is a descriptor of this process.
    rlimit::increase_nofile_limit(SOCKETS as u64 + 1_000).expect("the descriptor limit rises");
    let server = TestServer::start(&["--header-timeout", "2s"]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let (connected, mut ready) = tokio::sync::mpsc::channel::<()>(SOCKETS);
    let mut sockets = tokio::task::JoinSet::new();
    for _ in 0..SOCKETS {
        let (addr, connected) = (addr.clone(), connected.clone());
        sockets.spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connects");
            tcp.write_all(b"GET /1/info.0.json HTTP/1.1\r\nHost: x\r\n")
                .await
                .expect("the first header line is sent");
            let _ = connected.send(()).await;
            // One header line every 200 ms, never the blank line that ends the head, until
            // the server closes the connection.
            let mut byte = [0; 1];
            loop {
                tokio::select! {
                    read = tcp.read(&mut byte) => {
                        assert!(!matches!(read, Ok(n) if n > 0), "a response to half a head");
                        return;
                    }
                    () = tokio::time::sleep(Duration::from_millis(200)) => {
                        if tcp.write_all(b"X-Slow: 1\r\n").await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(connected);
    for _ in 0..SOCKETS {
        ready.recv().await.expect("every socket connects");
    }
    let attack_ready = started.elapsed();
    assert!(
        attack_ready < header_timeout,
        "connecting took {attack_ready:?}: the timeout would cut the attack off early"
    );
    // Answered promptly while every slowloris socket is still open.
    for _ in 0..5 {
        let took = timed_get(&addr)
            .await
            .expect("a normal request is answered");
        assert!(took < Duration::from_secs(1), "answered after {took:?}");
    }
    // The server closes every slowloris connection soon after its header timeout.
    let cut_off = tokio::time::timeout(header_timeout * 4, async {
        while let Some(done) = sockets.join_next().await {
            done.expect("the slowloris task ran");
        }
    })
    .await;
    assert!(
        cut_off.is_ok(),
        "{} of {SOCKETS} slowloris connections still open after {:?}",
        sockets.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_in_the_queue_until_one_closes() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CAP: usize = 100;
    const OVER: usize = 50;
    let server = TestServer::start(&["--max-connections", "100"]);
    let addr = server.url.trim_start_matches("http://").to_owned();
    let port = port_of(&server.url);
    // A flood up to the cap: connections that send nothing. One slot stays free.
    let mut idle = Vec::new();
    for _ in 0..CAP - 1 {
        idle.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connects"),
        );
    }
    for _ in 0..5 {
        let took = timed_get(&addr)
            .await
            .expect("a normal request is answered");
        assert!(took < Duration::from_secs(1), "answered after {took:?}");
    }
    // At the cap, then past it: those wait unaccepted.
    idle.push(
        tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connects"),
    );
    let mut waiting = tokio::task::JoinSet::new();
    for _ in 0..OVER {
        let addr = addr.clone();
        waiting.spawn(async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connects");
            tcp.write_all(b"GET /1/info.0.json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .await
                .expect("the request is sent");
            let mut response = Vec::new();
            tcp.read_to_end(&mut response).await.expect("a response");
            assert!(response.starts_with(b"HTTP/1.1 200 OK"));
        });
    }
    wait_until_async(
        Duration::from_secs(5),
        "the accept queue to hold the rest",
        || accept_queue(port) == OVER,
    )
    .await;
    assert_eq!(waiting.len(), OVER, "requests past the cap were answered");
    // Room again: the queued connections are accepted and answered.
    drop(idle);
    let served = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(done) = waiting.join_next().await {
            done.expect("a queued request is answered");
        }
    })
    .await;
    assert!(
        served.is_ok(),
        "{} queued requests unanswered",
        waiting.len()
    );
}

/// Polls `condition` every 10 ms without blocking the runtime; panics after `limit`.
async fn wait_until_async(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
