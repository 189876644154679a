//! Request options (-H, -A, -u, --oauth2-bearer, --netrc, -X, -d, --json-body, --retry-all)
//! against a server that echoes what it received, and their bad input.

mod common;

use std::fs;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::any;
use common::{gather, spawn_app};
use serde_json::{Value, json};

/// What the echo server saw: method, path, headers (lower-case names) and body, as JSON.
async fn echo(request: Request) -> String {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers: serde_json::Map<String, Value> = request
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Value::String(value.to_str().unwrap_or_default().to_owned()),
            )
        })
        .collect();
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    json!({
        "method": method,
        "path": path,
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    })
    .to_string()
}

/// `gather fetch`.
fn fetch() -> assert_cmd::Command {
    let mut command = gather();
    command.arg("fetch");
    command
}

fn echoed(dir: &std::path::Path, name: &str) -> Value {
    serde_json::from_slice(&fs::read(dir.join(name)).unwrap()).unwrap()
}

#[test]
fn headers_auth_method_and_body_reach_the_server_filled_per_item() {
    let url = spawn_app(Router::new().route("/{id}", any(echo)));
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    fs::write(&body, r#"{"id": {id}, "n": {n}, "keep": {"x": 1}}"#).unwrap();
    let out = dir.path().join("out");
    let data = format!("@{}", body.display());
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "7-8",
            "--name",
            "{id}.json",
        ])
        .args(["--out", out.to_str().unwrap(), "-q"])
        .args(["-H", "X-Id: {id}", "-H", "X-Pos:{n}", "-A", "probe/1"])
        .args([
            "-u",
            "alice:s3cret",
            "-X",
            "PATCH",
            "--data",
            &data,
            "--json-body",
        ])
        .args(["--har", dir.path().join("run.har").to_str().unwrap()])
        .assert()
        .success();
    // The HAR log shows the header, masked: no password, no encoded credentials.
    let har = fs::read_to_string(dir.path().join("run.har")).unwrap();
    assert!(har.contains("Basic ***"), "{har}");
    assert!(
        !har.contains("s3cret") && !har.contains("YWxpY2U6czNjcmV0"),
        "{har}"
    );
    let seen = echoed(&out, "7.json");
    assert_eq!(seen["method"], "PATCH");
    assert_eq!(seen["headers"]["x-id"], "7");
    assert_eq!(seen["headers"]["x-pos"], "1");
    assert_eq!(seen["headers"]["user-agent"], "probe/1");
    // alice:s3cret
    assert_eq!(seen["headers"]["authorization"], "Basic YWxpY2U6czNjcmV0");
    assert_eq!(seen["headers"]["content-type"], "application/json");
    assert_eq!(seen["body"], r#"{"id": 7, "n": 1, "keep": {"x": 1}}"#);
    assert_eq!(echoed(&out, "8.json")["headers"]["x-id"], "8");
}

#[test]
fn data_alone_posts_and_a_bearer_token_is_sent() {
    let url = spawn_app(Router::new().route("/{id}", any(echo)));
    let dir = tempfile::tempdir().unwrap();
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "1",
            "--name",
            "{id}.json",
        ])
        .args(["--out", dir.path().to_str().unwrap(), "-q"])
        .args(["-d", "q={id}", "--oauth2-bearer", "tok.en"])
        .assert()
        .success();
    let seen = echoed(dir.path(), "1.json");
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["body"], "q=1");
    assert_eq!(seen["headers"]["authorization"], "Bearer tok.en");
}

#[test]
fn netrc_credentials_go_to_their_host_only() {
    let url = spawn_app(Router::new().route("/{id}", any(echo)));
    let dir = tempfile::tempdir().unwrap();
    let netrc = dir.path().join("netrc");
    fs::write(&netrc, "machine 127.0.0.1 login bob password pw\n").unwrap();
    let out = dir.path().join("out");
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "1",
            "--name",
            "{id}.json",
        ])
        .args(["--out", out.to_str().unwrap(), "-q"])
        .args(["--netrc-file", netrc.to_str().unwrap()])
        .assert()
        .success();
    // bob:pw
    assert_eq!(
        echoed(&out, "1.json")["headers"]["authorization"],
        "Basic Ym9iOnB3"
    );
    fs::write(&netrc, "machine example.org login bob password pw\n").unwrap();
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "1",
            "--name",
            "{id}.json",
        ])
        .args(["--out", out.to_str().unwrap(), "-q", "--force"])
        .args(["--netrc-file", netrc.to_str().unwrap()])
        .assert()
        .success();
    assert!(echoed(&out, "1.json")["headers"]["authorization"].is_null());
}

/// A server that answers 503 to everything, counting the requests.
fn unavailable() -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let url = spawn_app(Router::new().route(
        "/{id}",
        any(move |_: Method, _: HeaderMap, _: Bytes| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                StatusCode::SERVICE_UNAVAILABLE
            }
        }),
    ));
    (url, count)
}

#[test]
fn a_post_that_reached_the_server_is_retried_only_with_retry_all() {
    let run = |extra: &[&str]| {
        let (url, count) = unavailable();
        let dir = tempfile::tempdir().unwrap();
        fetch()
            .args([&format!("{url}/{{id}}"), "--ids", "1"])
            .args(["--out", dir.path().to_str().unwrap(), "-q"])
            .args(["--retries", "2", "--retry-delay", "1ms", "-d", "x"])
            .args(extra)
            .assert()
            .code(1);
        count.load(Ordering::SeqCst)
    };
    assert_eq!(run(&[]), 1, "a POST answered 503 is not sent again");
    assert_eq!(run(&["--retry-all"]), 3);
    assert_eq!(run(&["-X", "PUT"]), 3, "PUT is idempotent");
}

#[test]
fn bad_request_options_exit_2_before_any_request() {
    let (url, count) = unavailable();
    let dir = tempfile::tempdir().unwrap();
    let bad_jar = dir.path().join("jar");
    fs::write(&bad_jar, "example.org\tTRUE\t/\tFALSE\tsoon\tn\tv\n").unwrap();
    let unwritable_jar = dir.path().join("no-such-dir").join("jar");
    let bad_netrc = dir.path().join("netrc");
    fs::write(&bad_netrc, "machine a.example login\n").unwrap();
    let missing = format!("@{}", dir.path().join("missing").display());
    let out = dir.path().join("out");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["-H", "NoColon"], "write it as 'Name: value'"),
        (vec!["-H", "Bad Name: x"], "is not a header name"),
        (vec!["-H", "X-A: a\u{1}b"], "cannot carry"),
        (vec!["-X", "GET ME"], "is not an HTTP method"),
        (vec!["-u", "alice"], "user:password"),
        (vec!["--limit-rate", "fast"], "--limit-rate `fast`"),
        (vec!["--limit-rate", "0"], "--limit-rate `0`"),
        (vec!["-d", &missing], "--data @"),
        (vec!["-b", &missing[1..]], "cookie file"),
        (
            vec!["-b", bad_jar.to_str().unwrap()],
            "line 1: the expiry `soon`",
        ),
        (
            vec!["--cookie-jar", unwritable_jar.to_str().unwrap()],
            "--cookie-jar",
        ),
        (
            vec!["--netrc-file", bad_netrc.to_str().unwrap()],
            "has no value",
        ),
    ];
    for (args, expected) in cases {
        let output = fetch()
            .args([&format!("{url}/{{id}}"), "--ids", "1"])
            .args(["--out", out.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("alice"), "{args:?}: {stderr}");
        // The reason once: it was printed twice, by the message and by its cause.
        assert!(
            stderr.matches("(os error").count() <= 1,
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert!(!out.exists());
}

#[test]
fn limit_rate_caps_the_whole_runs_bandwidth() {
    // Three 100 kB bodies at once: under --limit-rate 200k they take about 1.5 s together.
    let url = spawn_app(Router::new().route("/{id}", any(|| async { vec![b'x'; 100_000] })));
    let run = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let start = std::time::Instant::now();
        fetch()
            .args([&format!("{url}/{{id}}"), "--ids", "1-3", "-c", "3"])
            .args(["--out", dir.path().to_str().unwrap(), "-q"])
            .args(extra)
            .assert()
            .success();
        start.elapsed().as_secs_f64()
    };
    let free = run(&[]);
    let limited = run(&["--limit-rate", "200k"]);
    assert!(limited > 1.2, "limited: {limited:.2} s");
    assert!(
        free < limited / 2.0,
        "free {free:.2} s, limited {limited:.2} s"
    );
}

/// The echo server, where `/1` also sets a cookie.
fn cookie_server() -> String {
    spawn_app(Router::new().route(
        "/{id}",
        any(|request: Request| async move {
            let sets = request.uri().path() == "/1";
            let echoed = echo(request).await;
            let mut headers = HeaderMap::new();
            if sets {
                headers.insert("set-cookie", "token=xyz; Path=/".parse().unwrap());
            }
            (headers, echoed)
        }),
    ))
}

#[test]
fn cookies_are_sent_kept_for_the_run_and_written_to_the_jar() {
    let url = cookie_server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cookies.txt");
    fs::write(
        &file,
        "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsid\tabc\n",
    )
    .unwrap();
    let jar = dir.path().join("jar.txt");
    let out = dir.path().join("out");
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "1-3",
            "-c",
            "1",
            "--name",
            "{id}.json",
        ])
        .args(["--out", out.to_str().unwrap(), "-q"])
        .args([
            "-b",
            file.to_str().unwrap(),
            "--cookie-jar",
            jar.to_str().unwrap(),
        ])
        .assert()
        .success();
    assert_eq!(echoed(&out, "1.json")["headers"]["cookie"], "sid=abc");
    let later = echoed(&out, "3.json")["headers"]["cookie"].clone();
    let later = later.as_str().unwrap();
    assert!(
        later.contains("sid=abc") && later.contains("token=xyz"),
        "{later}"
    );
    let written = fs::read_to_string(&jar).unwrap();
    assert!(
        written.starts_with("# Netscape HTTP Cookie File"),
        "{written}"
    );
    assert!(
        written.contains("127.0.0.1\tFALSE\t/\tFALSE\t0\ttoken\txyz\n"),
        "{written}"
    );
    assert!(written.contains("\tsid\tabc\n"), "{written}");

    // Given as data, cookies are sent as they are, and none is kept.
    fetch()
        .args([
            &format!("{url}/{{id}}"),
            "--ids",
            "1-2",
            "-c",
            "1",
            "--name",
            "{id}.json",
        ])
        .args([
            "--out",
            out.to_str().unwrap(),
            "-q",
            "--force",
            "-b",
            "a=1; b=2",
        ])
        .assert()
        .success();
    assert_eq!(echoed(&out, "2.json")["headers"]["cookie"], "a=1; b=2");
}

#[test]
fn redirects_turn_a_post_into_a_get_and_keep_credentials_on_their_origin() {
    let other = spawn_app(Router::new().route("/{id}", any(echo)));
    let target = other.clone();
    let url = spawn_app(
        Router::new()
            .route("/{id}", any(echo))
            .route(
                "/see-other/{id}",
                any(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        (StatusCode::SEE_OTHER, [("location", format!("/{id}"))])
                    },
                ),
            )
            .route(
                "/temporary/{id}",
                any(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move {
                        (
                            StatusCode::TEMPORARY_REDIRECT,
                            [("location", format!("/{id}"))],
                        )
                    },
                ),
            )
            .route(
                "/away/{id}",
                any(
                    move |axum::extract::Path(id): axum::extract::Path<String>| {
                        let target = target.clone();
                        async move {
                            (
                                StatusCode::TEMPORARY_REDIRECT,
                                [("location", format!("{target}/{id}"))],
                            )
                        }
                    },
                ),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    let run = |route: &str| {
        let out = dir.path().join(route);
        fetch()
            .args([
                &format!("{url}/{route}/{{id}}"),
                "--ids",
                "5",
                "--name",
                "{id}.json",
            ])
            .args(["--out", out.to_str().unwrap(), "-q"])
            .args(["-d", "x={id}", "-H", "Authorization: Bearer t", "-b", "c=1"])
            .assert()
            .success();
        echoed(&out, "5.json")
    };
    let seen = run("see-other");
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("GET"), Some(""))
    );
    assert_eq!(seen["headers"]["authorization"], "Bearer t");
    let seen = run("temporary");
    assert_eq!(
        (seen["method"].as_str(), seen["body"].as_str()),
        (Some("POST"), Some("x=5"))
    );
    let seen = run("away");
    assert_eq!(seen["method"], "POST");
    assert!(seen["headers"]["authorization"].is_null(), "{seen}");
    assert!(seen["headers"]["cookie"].is_null(), "{seen}");
}
