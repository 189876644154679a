//! Shared helpers for the end-to-end tests: the real `gather` binary, and `gather serve`
//! started as a child process on a free loopback port.
#![allow(dead_code)] // each test crate uses a different part

pub mod nginx;
pub mod tinyproxy;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn gather() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("gather").expect("the gather binary is built")
}

/// The binary under test, as a plain std command (for children the test signals).
pub fn gather_std() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gather"))
}

/// Runs `gather ARGS REDIRECTS` (a shell's redirections, e.g. `>/dev/null`, `2>&1 | cat`) on
/// a pseudo-terminal, as util-linux's `script` gives one, and returns what reached the
/// terminal: a progress bar's frames, each after a carriage return, ANSI styles and all.
pub fn on_terminal(args: &[&str], redirects: &str) -> String {
    let command =
        shlex::try_join(std::iter::once(env!("CARGO_BIN_EXE_gather")).chain(args.iter().copied()))
            .expect("the arguments have no NUL");
    let output = Command::new("script")
        .args(["--quiet", "--return", "--command"])
        .arg(format!("{command} {redirects}"))
        .arg("/dev/null")
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command} {redirects}: {}\n{text}",
        output.status
    );
    text
}

/// The progress bar frames in what a terminal got: the lines and carriage-return-separated
/// redraws, with ANSI escapes removed.
pub fn frames(terminal: &str) -> Vec<String> {
    let mut plain = String::new();
    let mut chars = terminal.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, then a final byte in @..~.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
        .split(['\r', '\n'])
        .map(|frame| frame.trim_end().to_owned())
        .filter(|frame| !frame.is_empty())
        .collect()
}

/// `gather serve --port 0 ARGS`, killed on drop.
pub struct TestServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl TestServer {
    /// Starts the server and reads the URL it prints on its first line.
    pub fn start(args: &[&str]) -> Self {
        let mut child = gather_std()
            .args(["serve", "--port", "0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gather serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("gather serve prints its URL");
        let url = line.trim().to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "first line: {url:?}");
        Self { child, url }
    }

    /// How many threads the server process has.
    pub fn thread_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .expect("the server's threads are listed in /proc")
            .count()
    }

    /// The comic URL template of this server.
    pub fn comics(&self) -> String {
        format!("{}/{{id}}/info.0.json", self.url)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bytes the server sends for comic `id`.
pub fn comic(id: u64) -> String {
    gather::serve::comic_json(id, u64::MAX).expect("a served id")
}

/// File names in `dir`, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Asserts every file in `dir` is a complete comic `N.json` with the served bytes, and
/// returns how many there are.
pub fn assert_complete_comics(dir: &Path) -> usize {
    check_comics(dir, files(dir))
}

/// Like [`assert_complete_comics`], but temp files (`.gather-*.part`, as a killed run leaves
/// them) are allowed and not counted.
pub fn assert_whole_comics(dir: &Path) -> usize {
    let names = files(dir)
        .into_iter()
        .filter(|name| !(name.starts_with(".gather-") && name.ends_with(".part")))
        .collect();
    check_comics(dir, names)
}

fn check_comics(dir: &Path, names: Vec<String>) -> usize {
    for name in &names {
        let id: u64 = name
            .strip_suffix(".json")
            .and_then(|id| id.parse().ok())
            .unwrap_or_else(|| panic!("unexpected file {name}"));
        let body = fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(body, comic(id), "{name} is not byte-identical");
    }
    names.len()
}

/// The JSON summary printed on stdout.
pub fn summary(stdout: &[u8]) -> serde_json::Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(stdout)
        )
    })
}

/// Polls `condition` every 10 ms until it holds; panics after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to a child process.
pub fn send_signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).expect("a pid fits in i32");
    // SAFETY: kill(2) with our own child's pid and a valid signal number.
    assert_eq!(
        unsafe { libc::kill(pid, signal) },
        0,
        "kill({pid}, {signal})"
    );
}

/// Runs `gather fetch SERVER/{id}/info.0.json --ids IDS EXTRA... --out OUT` to its end.
pub fn fetch_comics(
    server: &TestServer,
    ids: &str,
    extra: &[&str],
    out: &Path,
) -> assert_cmd::assert::Assert {
    gather()
        .args(["fetch", &server.comics(), "--ids", ids])
        .args(extra)
        .arg("--out")
        .arg(out)
        .assert()
}

/// A raw HTTP/1.1 server on a free loopback port that answers the k-th connection with
/// `responses[k]` (the last one again after that) and closes it. Returns its URL and the
/// instant each request arrived.
pub fn scripted_server(
    responses: Vec<&'static str>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Instant>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let arrivals = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        for (k, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            seen.lock().unwrap().push(Instant::now());
            let response = responses[k.min(responses.len() - 1)];
            let _ = stream.write_all(response.as_bytes());
        }
    });
    (url, arrivals)
}

/// Serves `router` on a free loopback port from a background thread; returns its URL and a
/// count of the connections it accepted.
pub fn spawn_app_counting(router: axum::Router) -> (String, Arc<AtomicUsize>) {
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let listener = axum::serve::ListenerExt::tap_io(listener, move |_| {
                counter.fetch_add(1, Ordering::SeqCst);
            });
            axum::serve(listener, router).await.unwrap();
        });
    });
    (format!("http://{}", rx.recv().unwrap()), accepted)
}

/// Serves `router` on a free loopback port from a background thread; returns its URL.
pub fn spawn_app(router: axum::Router) -> String {
    spawn_app_counting(router).0
}
