//! Through a real proxy (Debian's tinyproxy): HTTPS tunnels with CONNECT and share them as
//! direct connections are shared, and the stale keep-alive connections tinyproxy leaves
//! behind (it closes each one after a response, unannounced) lose no item.

mod common;

use common::nginx::{Nginx, NginxConfig};
use common::tinyproxy::Tinyproxy;
use common::{TestServer, assert_complete_comics, gather, summary};

/// `gather` with only the proxy at `proxy` (a URL) in the environment, for both schemes.
fn through(proxy: &str) -> assert_cmd::Command {
    let mut command = gather();
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        command.env(name, proxy);
    }
    for name in ["NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"] {
        command.env_remove(name);
    }
    command
}

#[test]
fn https_through_a_proxy_opens_one_tunnel_per_worker() {
    const IDS: std::ops::RangeInclusive<u64> = 1_001..=1_500;
    let nginx = Nginx::start(NginxConfig {
        ids: IDS,
        http2: true,
        keepalive_requests: 1_000,
    });
    let proxy = Tinyproxy::start();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    nginx.fetch_all(through(&proxy.url), IDS, 64, threads);
    // Each tunnel is one CONNECT to tinyproxy and one connection at nginx. Before, every
    // request waiting for the first tunnel opened one of its own (6-64 for 100 requests; curl
    // opens 1): now one HTTP/2 connection per worker thread carries them all.
    let tunnels = proxy.requests("CONNECT");
    assert!(
        (1..=threads).contains(&tunnels),
        "{tunnels} CONNECT tunnels for 500 requests with {threads} workers"
    );
    assert_eq!(
        nginx.connections(),
        tunnels as u64,
        "nginx counts the tunnels"
    );
}

#[test]
fn stale_connections_to_a_proxy_cost_no_item_and_no_retry() {
    let server = TestServer::start(&[]);
    let proxy = Tinyproxy::start();
    let out = tempfile::tempdir().unwrap();
    let run = through(&proxy.url)
        .args(["fetch", &server.comics(), "--ids", "1-200", "-c", "8"])
        .args(["--retries", "0", "--json", "-q", "--out"])
        .arg(out.path())
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (
            s["ok"].as_u64(),
            s["failed"].as_u64(),
            s["retries"].as_u64()
        ),
        (Some(200), Some(0), Some(0)),
        "{s}"
    );
    assert_eq!(assert_complete_comics(out.path()), 200);
    // Every item reached the proxy; a resend after a stale connection may have too, when the
    // one that failed had been written before tinyproxy closed it.
    let resent = s["resent"].as_u64().unwrap();
    let gets = proxy.requests("GET") as u64;
    assert!(
        (200..=200 + resent).contains(&gets),
        "{gets} GETs through the proxy: {s}"
    );
}

#[test]
fn a_proxy_that_refuses_is_named_in_the_failure() {
    let server = TestServer::start(&[]);
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let proxy = format!("http://bob:secret@127.0.0.1:{port}");
    let out = tempfile::tempdir().unwrap();
    let run = through(&proxy)
        .args(["fetch", &server.comics(), "--ids", "1", "--retries", "0"])
        .args(["--json", "-q", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let s = summary(&run.get_output().stdout);
    let reason = s["failures"][0]["reason"].as_str().unwrap();
    // Before, it read as if the server (which is up) had refused.
    assert!(
        reason.contains(&format!("through the proxy http://127.0.0.1:{port}")),
        "{reason}"
    );
    assert!(!s.to_string().contains("secret"), "{s}");
}
