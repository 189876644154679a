//! `--jsonl` and `--warc`: records per item, resumable, validated (`warcio` for WARC).

mod common;

use std::fs;
use std::path::Path;

use common::{TestServer, gather};
use serde_json::Value;

fn records(path: &std::path::Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Fetches comics `ids` from `server` into the sink `flag` (`--jsonl`, `--warc`) at `path`;
/// returns the `--json` summary.
fn into_sink(server: &TestServer, flag: &str, path: &std::path::Path, ids: &str) -> Value {
    let run = gather()
        .args(["fetch", &server.comics(), "--ids", ids, "--json", "-q"])
        .args([flag, path.to_str().unwrap()])
        .assert()
        .success();
    common::summary(&run.get_output().stdout)
}

#[test]
fn jsonl_records_every_item_once_and_a_rerun_cuts_a_partial_record() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comics.jsonl");
    let run = |ids: &str| into_sink(&server, "--jsonl", &path, ids);
    run("1-20");
    let first = records(&path);
    assert_eq!(first.len(), 20);
    let comic = first.iter().find(|r| r["n"] == 7).unwrap();
    assert_eq!(comic["status"], 200);
    assert_eq!(comic["body"]["num"], 7, "the JSON body is JSON");
    assert_eq!(comic["headers"]["content-type"], "application/json");
    assert!(comic["url"].as_str().unwrap().ends_with("/7/info.0.json"));
    // A killed run's half-written record: cut, and its item fetched again.
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("{\"n\":25,\"body\":{\"num");
    fs::write(&path, text).unwrap();
    run("1-30");
    let all = records(&path);
    assert_eq!(all.len(), 30, "20 kept, 10 new, the partial one cut");
    let mut ns: Vec<u64> = all.iter().map(|r| r["n"].as_u64().unwrap()).collect();
    ns.sort_unstable();
    assert_eq!(ns, (1..=30).collect::<Vec<_>>());
    assert!(
        dir.path().read_dir().unwrap().count() == 1,
        "nothing else is left in the dir"
    );
}

#[test]
fn a_file_of_another_jobs_records_skips_none_of_this_jobs_items() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    for file in ["comics.jsonl", "comics.warc.gz"] {
        let path = dir.path().join(file);
        let flag = if file.ends_with(".jsonl") {
            "--jsonl"
        } else {
            "--warc"
        };
        let run = |ids: &str| into_sink(&server, flag, &path, ids);
        let counts = |s: &Value| (s["ok"].as_u64(), s["skipped"].as_u64());
        assert_eq!(counts(&run("400-403")), (Some(4), Some(0)));
        // Items 1-4 again, of other ids: all fetched. Before, each was skipped as recorded,
        // and comics 100-103 were never saved.
        let other = run("100-103");
        assert_eq!(counts(&other), (Some(4), Some(0)), "{file}: {other}");
        // This job again: all recorded.
        let again = run("100-103");
        assert_eq!(counts(&again), (Some(0), Some(4)), "{file}: {again}");
    }
    let lines = records(&dir.path().join("comics.jsonl"));
    let mut nums: Vec<u64> = lines
        .iter()
        .map(|r| r["body"]["num"].as_u64().unwrap())
        .collect();
    nums.sort_unstable();
    assert_eq!(nums, [100, 101, 102, 103, 400, 401, 402, 403]);
    warcio("check", &dir.path().join("comics.warc.gz"));
}

#[test]
fn jsonl_bodies_are_text_or_base64_and_stdout_works() {
    let server = TestServer::start(&[]);
    let output = gather()
        .args(["fetch", &format!("{}/search?q={{name}}", server.url)])
        .args(["--values", "Yash", "--jsonl", "-", "-q"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let record: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(record["body"].as_str().unwrap().contains("Yash"));
    assert!(record.get("encoding").is_none());
}

/// `gather fetch COMICS --ids 1-N FLAG /dev/stdout > FILE`, without `-q`: stdout is FILE
/// itself. Returns the run's stderr, after asserting that it succeeded.
fn fetch_into_redirected_stdout(server: &TestServer, ids: &str, flag: &str, file: &Path) -> String {
    let output = common::gather_std()
        .args(["fetch", &server.comics(), "--ids", ids, flag, "/dev/stdout"])
        .stdout(fs::File::create(file).unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    stderr
}

#[test]
fn records_to_dev_stdout_redirected_to_a_file_keep_the_summary_out_of_it() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // Printed on stdout, the summary would land at offset 0 of the file, over the first record.
    let path = dir.path().join("comics.jsonl");
    let stderr = fetch_into_redirected_stdout(&server, "1-20", "--jsonl", &path);
    assert!(
        stderr.contains("20 saved"),
        "the summary is on stderr: {stderr}"
    );
    let mut ns: Vec<u64> = records(&path)
        .iter()
        .map(|r| r["n"].as_u64().unwrap())
        .collect();
    ns.sort_unstable();
    assert_eq!(
        ns,
        (1..=20).collect::<Vec<_>>(),
        "nothing but the 20 records"
    );

    let path = dir.path().join("comics.warc.gz");
    let stderr = fetch_into_redirected_stdout(&server, "1-20", "--warc", &path);
    assert!(
        stderr.contains("20 saved"),
        "the summary is on stderr: {stderr}"
    );
    let check = warcio("check", &path);
    assert!(!check.contains("digest fail"), "{check}");
    assert_eq!(warc_items(&path), (1..=20).collect::<Vec<u64>>());

    // `--json` would put its summary there too: refused, as with `--jsonl -`.
    for flag in ["--jsonl", "--warc"] {
        let path = dir.path().join("refused");
        let output = common::gather_std()
            .args([
                "fetch",
                &server.comics(),
                "--ids",
                "1",
                "--json",
                flag,
                "/dev/stdout",
            ])
            .stdout(fs::File::create(&path).unwrap())
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flag}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!(
                "--json and {flag} /dev/stdout would both write to stdout"
            )),
            "{stderr}"
        );
        assert_eq!(fs::read(&path).unwrap(), b"", "{flag}: nothing written");
    }
}

#[test]
fn jsonl_to_a_pipe_closed_early_stops_with_one_line() {
    use std::io::{BufRead, BufReader, Read};
    let server = TestServer::start(&[]);
    let mut child = common::gather_std()
        .args([
            "fetch",
            &server.comics(),
            "--ids",
            "1-5000",
            "--jsonl",
            "-",
            "-c",
            "64",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: one record read, then the pipe closed.
    let mut records = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    records.read_line(&mut first).unwrap();
    assert!(first.starts_with('{'), "{first}");
    drop(records);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let status = child.wait().unwrap();
    // Stopped as on Ctrl-C, said once; before, each of the other items failed with a line of
    // its own ("saving failed: Broken pipe").
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert_eq!(stderr.matches("stdout was closed").count(), 1, "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    // It stops there and then: no item starts after the first record that found the pipe
    // closed, so only those in flight (at most -c 64) fail with it. Before, the stop waited
    // for the records to come back to the caller (every 50 ms), and hundreds to thousands
    // more items were fetched and failed meanwhile.
    let failed: u64 = stderr
        .lines()
        .find_map(|line| line.split(" saved, ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary line: {stderr}"));
    assert!(failed <= 64, "{failed} items failed after the pipe closed");
}

#[test]
fn an_unusable_jsonl_file_exits_2_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    fs::write(&bad, "not a record\n").unwrap();
    // `/dev/stdout` is the pipe the test reads: not a file to read back and cut.
    for path in [
        bad,
        dir.path().join("no-such-dir").join("x.jsonl"),
        "/dev/stdout".into(),
    ] {
        let output = gather()
            .args(["fetch", "http://127.0.0.1:9/{id}", "--ids", "1"])
            .args(["--jsonl", path.to_str().unwrap()])
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--jsonl"), "{stderr}");
    }
}

#[test]
fn jsonl_survives_kill_9_and_a_rerun_completes_it() {
    let server = TestServer::start(&["--latency", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comics.jsonl");
    let args = |command: &mut std::process::Command| {
        command
            .args([
                "fetch",
                &server.comics(),
                "--ids",
                "1-3000",
                "-q",
                "--fail-exit",
                "0",
            ])
            .args(["--jsonl", path.to_str().unwrap()]);
    };
    for delay in [150, 300] {
        let mut command = common::gather_std();
        args(&mut command);
        let mut child = command.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let mut command = common::gather_std();
    args(&mut command);
    assert!(command.status().unwrap().success());
    let all = records(&path);
    let mut ns: Vec<u64> = all.iter().map(|r| r["n"].as_u64().unwrap()).collect();
    ns.sort_unstable();
    // Comic 404 is a 404: every other item once.
    let expected: Vec<u64> = (1..=3000).filter(|&n| n != 404).collect();
    assert_eq!(ns, expected);
}

/// `warcio SUBCOMMAND path`: its output, after asserting that it succeeded.
fn warcio(subcommand: &str, path: &std::path::Path) -> String {
    let output = std::process::Command::new("warcio")
        .arg(subcommand)
        .args((subcommand == "check").then_some("-v"))
        .arg(path)
        .output()
        .expect("warcio is installed (scripts/test: pip install warcio)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "warcio {subcommand}: {text}");
    text
}

/// The `WARC-Gather-N` of every response in `warcio index`'s output, sorted, after checking
/// that each item has one request too.
fn warc_items(path: &std::path::Path) -> Vec<u64> {
    let index = warcio("index", path);
    let mut requests = 0;
    let mut responses = Vec::new();
    for line in index.lines() {
        let entry: Value = serde_json::from_str(line).unwrap();
        match entry["warc-type"].as_str() {
            Some("request") => requests += 1,
            Some("response") => {
                let uri = entry["warc-target-uri"].as_str().unwrap();
                let id = uri.rsplit('/').nth(1).unwrap();
                responses.push(id.parse().unwrap());
            }
            Some("warcinfo") => {}
            other => panic!("unexpected record {other:?}"),
        }
    }
    assert_eq!(requests, responses.len(), "a request per response");
    responses.sort_unstable();
    responses
}

/// Appends what a run killed mid-write leaves: the first 100 bytes of a gzip member (the
/// file's own first one, its `warcinfo`).
fn append_partial_member(path: &std::path::Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes.extend_from_within(..100);
    fs::write(path, bytes).unwrap();
}

#[test]
fn warc_validates_with_warcio_and_a_rerun_skips_what_is_recorded() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comics.warc.gz");
    let run = |ids: &str| into_sink(&server, "--warc", &path, ids);
    run("1-20");
    let check = warcio("check", &path);
    assert!(!check.contains("digest fail"), "{check}");
    assert_eq!(warc_items(&path), (1..=20).collect::<Vec<u64>>());
    let index = warcio("index", &path);
    assert!(
        index.starts_with(r#"{"offset": "0", "warc-type": "warcinfo"}"#),
        "{index}"
    );
    append_partial_member(&path);
    run("1-30");
    warcio("check", &path);
    assert_eq!(warc_items(&path), (1..=30).collect::<Vec<u64>>());
    assert!(
        dir.path().read_dir().unwrap().count() == 1,
        "nothing else is left in the dir"
    );
}

#[test]
fn warc_survives_kill_9_and_a_rerun_completes_it() {
    let server = TestServer::start(&["--latency", "1ms"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("comics.warc.gz");
    let args = |command: &mut std::process::Command| {
        command
            .args(["fetch", &server.comics(), "--ids", "1-3000", "-q"])
            .args(["--fail-exit", "0", "--warc", path.to_str().unwrap()]);
    };
    for delay in [150, 300] {
        let mut command = common::gather_std();
        args(&mut command);
        let mut child = command.spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // A kill rarely lands inside an item's one write: make sure a partial member is there.
    append_partial_member(&path);
    let mut command = common::gather_std();
    args(&mut command);
    assert!(command.status().unwrap().success());
    warcio("check", &path);
    // Comic 404 is a 404: every other item once.
    let expected: Vec<u64> = (1..=3000).filter(|&n| n != 404).collect();
    assert_eq!(warc_items(&path), expected);
}

#[test]
fn an_unusable_warc_file_exits_2_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.warc.gz");
    fs::write(&bad, "not a warc file\n").unwrap();
    // `-` and `/dev/stdout` (the pipe the test reads): WARC goes to a file a re-run reads back.
    for path in [
        bad.clone(),
        dir.path().join("no-such-dir").join("x.warc.gz"),
        "-".into(),
        "/dev/stdout".into(),
    ] {
        let output = gather()
            .args(["fetch", "http://127.0.0.1:9/{id}", "--ids", "1"])
            .args(["--warc", path.to_str().unwrap()])
            .timeout(std::time::Duration::from_secs(30))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("--warc"), "{stderr}");
    }
    assert_eq!(
        fs::read(&bad).unwrap(),
        b"not a warc file\n",
        "left as it was"
    );
}

/// A body for `/KIND-SIZE`: `noise` (incompressible bytes) or `text`, SIZE bytes, the same on
/// every call.
fn made_body(name: &str) -> Vec<u8> {
    let (kind, size) = name.split_once('-').unwrap();
    let size: usize = size.parse().unwrap();
    let mut state = size as u64 + 1;
    (0..size)
        .map(|i| match kind {
            "noise" => {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            }
            _ => b"Comic 3: every blocking_queue waits for I/O sooner or later.\n"[i % 61],
        })
        .collect()
}

/// The response records' payloads in `path`, by the last part of their URL.
fn warc_payloads(path: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(&fs::read(path).unwrap()[..])
        .read_to_end(&mut text)
        .unwrap();
    let find = |from: usize, what: &[u8]| {
        from + text[from..]
            .windows(what.len())
            .position(|w| w == what)
            .unwrap()
    };
    let mut payloads = std::collections::BTreeMap::new();
    let mut at = 0;
    while at < text.len() {
        let fields_end = find(at, b"\r\n\r\n") + 4;
        let fields = String::from_utf8_lossy(&text[at..fields_end]).into_owned();
        let field = |name: &str| {
            fields
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .unwrap()
                .trim()
                .to_owned()
        };
        let len: usize = field("Content-Length:").parse().unwrap();
        let block = &text[fields_end..fields_end + len];
        if fields.contains("WARC-Type: response") {
            let name = field("WARC-Target-URI:")
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            let body = block.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            payloads.insert(name, block[body..].to_vec());
        }
        at = fields_end + len + 4;
    }
    payloads
}

#[test]
fn warc_stores_bodies_of_any_size_and_kind_intact() {
    use axum::extract::Path;
    let url = common::spawn_app(axum::Router::new().route(
        "/{name}",
        axum::routing::get(|Path(name): Path<String>| async move { made_body(&name) }),
    ));
    // Under 64 KiB, over it, and spilled to a temp file (over 256 KiB), streamed in chunks.
    let names = "noise-0,text-1,noise-1000,text-1000,noise-20000,noise-60000,text-65600,\
                 noise-70000,text-70000,noise-300000,text-300000,noise-1000000,text-3000000";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made.warc.gz");
    gather()
        .args(["fetch", &format!("{url}/{{name}}"), "--values", names, "-q"])
        .args(["--warc", path.to_str().unwrap()])
        .assert()
        .success();
    let check = warcio("check", &path);
    assert!(!check.contains("digest fail"), "{check}");
    let payloads = warc_payloads(&path);
    assert_eq!(payloads.len(), 13);
    for name in names.split(',') {
        assert!(payloads[name] == made_body(name), "{name}: stored as sent");
    }
    assert_eq!(
        dir.path().read_dir().unwrap().count(),
        1,
        "no temp file is left"
    );
}
