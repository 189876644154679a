//! TLS over loopback: certificates are verified by default, `--cacert` trusts a given CA, and
//! HTTP/2 is used when the server offers it by ALPN.

mod common;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::routing::get;
use common::{files, gather, summary};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// An HTTPS server on a free loopback port, answering every path with the HTTP version of the
/// request; it offers `alpn` protocols. Returns its base URL and its certificate (PEM).
fn spawn_tls_server(alpn: &[&[u8]]) -> (String, String) {
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let pem = key.cert.pem();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from(key.cert.der().to_vec())],
        PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
    )
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app = Router::new().route(
        "/{page}",
        get(|request: Request| async move { format!("{:?}", request.version()) }),
    );
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let (acceptor, app) = (acceptor.clone(), app.clone());
                    tokio::spawn(async move {
                        // A client that refuses the certificate ends the handshake: not an error.
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                            .await;
                    });
                }
            });
    });
    (format!("https://{}", rx.recv().unwrap()), pem)
}

fn fetch(url: &str, out: &Path, extra: &[&std::ffi::OsStr]) -> assert_cmd::assert::Assert {
    gather()
        .args([
            "fetch",
            &format!("{url}/{{id}}"),
            "--ids",
            "1-3",
            "--json",
            "-q",
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
}

#[test]
fn an_unknown_certificate_is_refused_by_default() {
    let (url, _) = spawn_tls_server(&[b"h2", b"http/1.1"]);
    let out = tempfile::tempdir().unwrap();
    let run = fetch(&url, out.path(), &[]).code(1);
    let s = summary(&run.get_output().stdout);
    assert_eq!(
        (s["ok"].as_u64(), s["failed"].as_u64()),
        (Some(0), Some(3)),
        "{s}"
    );
    let reason = s["failures"][0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("certificate"), "{reason}");
    assert!(files(out.path()).is_empty());
    // A refused certificate is refused again: no retry, and no log line besides the failure.
    for failure in s["failures"].as_array().unwrap() {
        assert_eq!(failure["attempts"], 1, "{failure}");
    }
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.is_empty(), "-q prints nothing: {stderr}");
    let run = gather()
        .args(["fetch", &format!("{url}/{{id}}"), "--ids", "1-3", "--out"])
        .arg(out.path())
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 3, "one line per item: {stderr}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("failed: ") && l.contains(": TLS: ")),
        "{stderr}"
    );
}

/// Fetches 3 pages trusting the server's certificate; returns the saved bodies.
fn fetch_trusting(url: &str, pem: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, pem).unwrap();
    let out = dir.path().join("out");
    fetch(url, &out, &["--cacert".as_ref(), ca.as_os_str()]).success();
    (1..=3)
        .map(|id| std::fs::read_to_string(out.join(id.to_string())).unwrap())
        .collect()
}

#[test]
fn cacert_trusts_the_server_and_http2_is_used_when_offered() {
    let (url, pem) = spawn_tls_server(&[b"h2", b"http/1.1"]);
    assert_eq!(fetch_trusting(&url, &pem), vec!["HTTP/2.0"; 3]);
}

#[test]
fn the_har_log_gives_the_http_version_each_request_used() {
    for (alpn, version) in [
        (&[&b"h2"[..], b"http/1.1"][..], "HTTP/2.0"),
        (&[&b"http/1.1"[..]][..], "HTTP/1.1"),
    ] {
        let (url, pem) = spawn_tls_server(alpn);
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, pem).unwrap();
        let har = dir.path().join("fetch.har");
        let out = dir.path().join("out");
        fetch(
            &url,
            &out,
            &[
                "--cacert".as_ref(),
                ca.as_os_str(),
                "--har".as_ref(),
                har.as_os_str(),
            ],
        )
        .success();
        let log: serde_json::Value = serde_json::from_slice(&std::fs::read(&har).unwrap()).unwrap();
        let entries = log["log"]["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 3);
        for entry in entries {
            assert_eq!(entry["response"]["httpVersion"], version, "{entry}");
            assert_eq!(
                entry["response"]["content"]["mimeType"],
                "text/plain; charset=utf-8"
            );
        }
    }
}

#[test]
fn http1_is_used_when_the_server_offers_only_http1() {
    let (url, pem) = spawn_tls_server(&[b"http/1.1"]);
    assert_eq!(fetch_trusting(&url, &pem), vec!["HTTP/1.1"; 3]);
}

#[test]
fn an_unreadable_cacert_is_a_setup_error() {
    let out = tempfile::tempdir().unwrap();
    let run = fetch(
        "https://127.0.0.1:9",
        out.path(),
        &["--cacert".as_ref(), "/nonexistent/ca.pem".as_ref()],
    )
    .code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(
        stderr.starts_with("gather: cannot read --cacert /nonexistent/ca.pem"),
        "{stderr}"
    );
}

#[test]
fn a_cacert_without_certificates_is_a_setup_error_that_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pem = tmp.path().join("ca.pem");
    std::fs::write(&pem, "not a certificate\n").unwrap();
    let out = tmp.path().join("out");
    let run = fetch(
        "https://127.0.0.1:9",
        &out,
        &["--cacert".as_ref(), pem.as_os_str()],
    )
    .code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(
        stderr.starts_with("gather: cannot set up the HTTP client: no certificate in --cacert"),
        "{stderr}"
    );
    assert!(!out.exists());
}

#[test]
fn without_system_roots_tls_is_still_verified_and_http_still_works() {
    let (url, _) = spawn_tls_server(&[b"h2", b"http/1.1"]);
    let server = common::TestServer::start(&[]);
    let no_roots = |command: &mut assert_cmd::Command| {
        command
            .env("SSL_CERT_FILE", "/nonexistent/roots.pem")
            .env("SSL_CERT_DIR", "/nonexistent/certs");
    };
    let out = tempfile::tempdir().unwrap();
    let mut plain = gather();
    no_roots(&mut plain);
    let run = plain
        .args([
            "-v",
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
    assert_eq!(common::assert_complete_comics(out.path()), 2);
    // Plain HTTP never looks for roots: they are loaded on the first TLS handshake.
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(!stderr.contains("system roots"), "{stderr}");

    let mut tls = gather();
    no_roots(&mut tls);
    let run = tls
        .args([
            "-v",
            "fetch",
            &format!("{url}/{{id}}"),
            "--ids",
            "1",
            "--json",
            "-q",
            "--out",
        ])
        .arg(out.path().join("tls"))
        .assert()
        .code(1);
    let reason = summary(&run.get_output().stdout)["failures"][0]["reason"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(reason.contains("certificate"), "{reason}");
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("no usable system roots"), "{stderr}");
}

#[test]
fn system_roots_are_trusted_without_cacert() {
    // SSL_CERT_FILE is where the platform verifier finds the system's roots on Linux.
    let (url, pem) = spawn_tls_server(&[b"h2", b"http/1.1"]);
    let dir = tempfile::tempdir().unwrap();
    let roots = dir.path().join("roots.pem");
    std::fs::write(&roots, pem).unwrap();
    let out = dir.path().join("out");
    gather()
        .env("SSL_CERT_FILE", &roots)
        .env("SSL_CERT_DIR", "/nonexistent/certs")
        .args([
            "fetch",
            &format!("{url}/{{id}}"),
            "--ids",
            "1-3",
            "-q",
            "--out",
        ])
        .arg(&out)
        .assert()
        .success();
    assert_eq!(files(&out).len(), 3);
}
