//! Bad input exits 2 with one line naming the problem: never a panic, nothing fetched,
//! nothing written.

mod common;

use std::fs;

use common::{TestServer, files, gather};
use gather::serve::search_page;

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let a_file = dir.path().join("a-file");
    fs::write(&a_file, "x").unwrap();
    let under_a_file = a_file.join("out");
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    // Port 9 (discard) on loopback: never contacted, since every case fails before fetching.
    let url = "http://127.0.0.1:9/{id}/info.0.json";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["http://127.0.0.1:9/x", "--ids", "1-3", "--out", out],
            "has no placeholder",
        ),
        (
            vec!["http://127.0.0.1:9/{id", "--ids", "1", "--out", out],
            "is never closed",
        ),
        (
            vec!["http://127.0.0.1:9/id}", "--ids", "1", "--out", out],
            "has no opening",
        ),
        (
            vec!["http://127.0.0.1:9/{}", "--ids", "1", "--out", out],
            "is not a placeholder name",
        ),
        (
            vec!["http://127.0.0.1:9/{a}/{b}", "--ids", "1", "--out", out],
            "gather fills exactly one",
        ),
        (
            vec![url, "--ids", "200-1", "--out", out],
            "range `200-1` is reversed",
        ),
        (vec![url, "--ids", "", "--out", out], "has an empty element"),
        (
            vec![url, "--ids", "1,,2", "--out", out],
            "has an empty element",
        ),
        (
            vec![url, "--ids", "one-ten", "--out", out],
            "`one-ten` is not a number",
        ),
        (vec![url, "--ids", "1-5,3-7", "--out", out], "overlap"),
        (vec![url, "--out", out], "needs --ids or --values"),
        (vec![url, "--values", "a,,b", "--out", out], "empty value"),
        (
            vec![url, "--values", "a,b,a", "--out", out],
            "has `a` twice",
        ),
        (
            vec![url, "--ids", "1", "--name", "{n}{id}.json", "--out", out],
            "put a separator",
        ),
        (
            vec!["ftp://127.0.0.1:9/{id}", "--ids", "1", "--out", out],
            "unsupported scheme `ftp`",
        ),
        (
            vec!["file:///etc/{id}", "--ids", "1", "--out", out],
            "unsupported scheme `file`",
        ),
        (
            vec!["127.0.0.1/{id}", "--ids", "1", "--out", out],
            "does not make a valid URL",
        ),
        (
            vec![url, "--ids", "1", "--name", "../{id}", "--out", out],
            "must name a file inside --out",
        ),
        (
            vec![url, "--ids", "1", "--name", "same.json", "--out", out],
            "every item would write the same file",
        ),
        (
            vec![url, "--ids", "1", "--name", "{nope}", "--out", out],
            "uses {nope}",
        ),
        (
            vec![url, "--ids", "1", "--timeout", "30", "--out", out],
            "needs a unit",
        ),
        (
            vec![url, "--ids", "1", "--shard", "0/3", "--out", out],
            "--shard `0/3`",
        ),
        (
            vec![url, "--ids", "1", "--shard", "auto", "--out", out],
            "--shard auto: no scheduler's variables found",
        ),
        (
            vec![url, "--ids", "1", "--json", "--jsonl", "-"],
            "--json and --jsonl - would both write to stdout",
        ),
        (
            vec!["--input", "/nonexistent/urls.txt", "--out", out],
            "cannot read URL list /nonexistent/urls.txt",
        ),
        (
            vec![url, "--ids", "1", "--out", under_a_file.to_str().unwrap()],
            "cannot create output directory",
        ),
        // Not writable even for root: CI runs as root, where a chmod'ed directory is writable.
        (
            vec![url, "--ids", "1", "--out", "/proc/self"],
            "cannot write in output directory /proc/self",
        ),
    ];
    for (args, expected) in cases {
        let run = gather().arg("fetch").args(&args).assert().code(2);
        let output = run.get_output();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("gather: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert!(
        !dir.path().join("out").exists(),
        "a failed setup created --out"
    );
    assert_eq!(files(dir.path()), vec!["a-file"]);
}

#[test]
fn bad_retry_limit_and_check_options_exit_2() {
    let url = "http://127.0.0.1:9/{id}";
    for (args, expected) in [
        (vec!["--rate", "0/s"], "`0/s` is not a rate"),
        (vec!["--rate", "fast"], "`fast` is not a rate"),
        (
            vec!["--max-size", "lots"],
            "--max-size `lots` is not a size",
        ),
        (vec!["--retry-delay", "5"], "needs a unit"),
        (vec!["--retries=-1"], "invalid value '-1'"),
        (vec!["--per-host", "0"], "invalid value '0'"),
        (vec!["--threads", "0"], "invalid value '0'"),
        (vec!["--validate", "xml"], "invalid value 'xml'"),
        (vec!["--fail-exit", "2"], "not a code of its own"),
        (vec!["--fail-exit", "130"], "not a code of its own"),
        (vec!["--fail-exit", "256"], "not a code of its own"),
    ] {
        let run = gather()
            .args(["fetch", url, "--ids", "1", "--out", "never-created"])
            .args(&args)
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    assert!(!std::path::Path::new("never-created").exists());
}

#[test]
fn hostile_values_and_urls_stay_inside_out_and_never_share_a_file() {
    let server = TestServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let long = "x".repeat(300);
    let longer = format!("{long}y");
    let values = [
        "../escape",
        "..",
        ".",
        "/etc/passwd",
        "a/b",
        "a%2Fb",
        "a\\b",
        ".hidden",
        "~tilde",
        &long,
        &longer,
        "nul%00byte",
        "sp ace",
        "ü",
        "con",
    ];
    gather()
        .args(["fetch", &format!("{}/search?q={{name}}", server.url), "-q"])
        .arg("--values")
        .arg(values.join(","))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    // Nothing outside --out, one file per value, each with its own page.
    assert_eq!(files(dir.path()), vec!["out"]);
    let names = files(&out);
    assert_eq!(names.len(), values.len(), "{names:?}");
    let mut bodies: Vec<String> = names
        .iter()
        .map(|name| {
            assert!(name.len() <= 255 && !name.starts_with('.'), "{name}");
            fs::read_to_string(out.join(name)).unwrap()
        })
        .collect();
    let mut expected: Vec<String> = values.iter().map(|v| search_page(v)).collect();
    bodies.sort();
    expected.sort();
    assert_eq!(bodies, expected);

    // The same for a URL list, named by URL: `../` and its encoded twin are distinct files.
    let list = dir.path().join("urls.txt");
    let lines: Vec<String> = ["../../x", "..%2F..%2Fx", "%2e%2e", "/", "nul\0byte"]
        .iter()
        .map(|q| format!("{}/search?q={q}", server.url))
        .collect();
    fs::write(&list, lines.join("\n")).unwrap();
    let listed = dir.path().join("listed");
    gather()
        .args(["fetch", "-q", "--input"])
        .arg(&list)
        .arg("--out")
        .arg(&listed)
        .assert()
        .success();
    assert_eq!(files(&listed).len(), lines.len(), "{:?}", files(&listed));
    assert_eq!(files(dir.path()), vec!["listed", "out", "urls.txt"]);
}

#[test]
fn bad_serve_and_bench_options_exit_2() {
    for (args, expected) in [
        (
            vec!["serve", "--latency", "fast"],
            "latency: `fast` is not a duration",
        ),
        (
            vec!["serve", "--latency", "150ms..50ms"],
            "the range is reversed",
        ),
        (
            vec!["serve", "--host", "192.0.2.1", "--port", "0"],
            "cannot serve on 192.0.2.1:0",
        ),
        (
            vec!["serve", "--fail-rate", "1.5"],
            "--fail-rate 1.5 is not a fraction",
        ),
        (
            vec!["serve", "--fail-rate", "0.6", "--reset-rate", "0.6"],
            "add up to 1.2",
        ),
        (vec!["serve", "--rate-limit", "50"], "`50` is not a rate"),
        (
            vec!["bench", "--url", "http://127.0.0.1:9/none"],
            "has no placeholder",
        ),
        (
            vec!["bench", "--latency=-5ms"],
            "latency: `-5ms` is not a duration",
        ),
    ] {
        let run = gather().args(&args).assert().code(2);
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        assert!(
            stderr.starts_with("gather: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    gather().args(["fetch", "--out", "x"]).assert().code(2);
    gather()
        .args(["serve", "--max-id", "18446744073709551615"])
        .assert()
        .code(2);
    let run = gather().args(["serve", "--threads", "0"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("0 is not in 1..=1024"), "{stderr}");
    gather()
        .args([
            "fetch",
            "http://h/{id}",
            "--ids",
            "1",
            "--out",
            "x",
            "-c",
            "0",
        ])
        .assert()
        .code(2);
    gather()
        .args([
            "fetch",
            "http://h/{id}",
            "--ids",
            "1",
            "--values",
            "a",
            "--out",
            "x",
        ])
        .assert()
        .code(2);
}

#[test]
fn help_shows_examples_and_exit_codes() {
    let run = gather().args(["fetch", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&run.get_output().stdout);
    for expected in [
        "Examples:",
        "--ids 1-200",
        "--input -",
        "Exit codes:",
        "130",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
}
