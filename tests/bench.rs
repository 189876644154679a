//! `gather bench` end to end: it starts its own server, and the concurrent run wins; with
//! `--python`, the seeds' Python runs beside it, or says what it lacks.

mod common;

use std::process::Command;

use common::{frames, gather, on_terminal, summary};

/// The frames of `run`'s bar (`sequential`, `concurrent`) among a terminal's `frames`.
fn bars<'a>(frames: &'a [String], run: &str, count: u64) -> Vec<&'a String> {
    let of = format!("/{count} ");
    frames
        .iter()
        .filter(|f| f.starts_with(&format!("{run} ")) && f.contains(&of))
        .collect()
}

#[test]
fn bench_runs_offline_and_concurrency_wins() {
    let run = gather()
        .args(["bench", "--count", "30", "--latency", "20ms", "--json"])
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0]["mode"].as_str(), runs[1]["mode"].as_str()),
        (Some("sequential"), Some("concurrent"))
    );
    assert_eq!(
        (runs[0]["ok"].as_u64(), runs[1]["ok"].as_u64()),
        (Some(30), Some(30))
    );
    assert_eq!(runs[1]["concurrency"], 30);
    let speedup = runs[1]["speedup"].as_f64().unwrap();
    assert!(speedup >= 5.0, "concurrent only {speedup:.1}x faster: {s}");
    assert!((runs[0]["ideal_secs"].as_f64().unwrap() - 0.6).abs() < 1e-9);
}

/// On a terminal, each run draws a bar on stderr while it runs: its name, done of all, a rate of
/// whole items a second (`9.4/s` below 10/s, never indicatif's `1.8116/s`), the time left.
#[test]
fn bench_draws_a_bar_for_each_run_on_a_terminal() {
    let frames = frames(&on_terminal(
        &["bench", "-n", "20", "-l", "30ms"],
        ">/dev/null",
    ));
    for run in ["sequential", "concurrent"] {
        let bars = bars(&frames, run, 20);
        assert!(!bars.is_empty(), "no {run} bar in {frames:#?}");
        for bar in bars {
            let rate = bar.split(' ').find(|w| w.ends_with("/s")).unwrap();
            let number = rate.trim_end_matches("/s");
            let sane = number == "-"
                || number.parse::<u64>().is_ok_and(|n| n >= 10)
                || number.parse::<f64>().is_ok_and(|r| r < 10.0) && number.len() == 3;
            assert!(sane, "rate {rate} in {bar:?}");
            assert!(bar.contains(" eta "), "{bar:?}");
        }
    }
    // The sequential run (0.6 s) is drawn as it goes, not only at its start.
    assert!(
        bars(&frames, "sequential", 20)
            .iter()
            .any(|f| !f.contains(" 0/20 ")),
        "{frames:#?}"
    );
}

/// No bar where stderr is not a terminal (a pipe), with -q, or with --json (for scripts);
/// -q also drops the line saying how long the sequential run takes.
#[test]
fn bench_draws_no_bar_off_a_terminal_or_with_quiet_or_json() {
    let args = ["bench", "-n", "20", "-l", "30ms"];
    let piped = frames(&on_terminal(&args, "2>&1 >/dev/null | cat"));
    assert_eq!(piped, Vec::<String>::new());
    let quiet = frames(&on_terminal(&[&args[..], &["-q"]].concat(), ">/dev/null"));
    assert_eq!(quiet, Vec::<String>::new());
    let json = frames(&on_terminal(
        &[&args[..], &["--json"]].concat(),
        ">/dev/null",
    ));
    assert!(
        json.iter()
            .all(|f| f.contains("the sequential run takes about")),
        "{json:#?}"
    );
}

#[test]
fn bench_prints_a_table() {
    let run = gather()
        .args(["bench", "--count", "5", "--latency", "1ms"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&run.get_output().stdout);
    assert!(
        text.starts_with("gather bench: 5 comics from http://127.0.0.1:"),
        "{text}"
    );
    for word in ["mode", "speedup", "ideal", "sequential", "concurrent"] {
        assert!(text.contains(word), "{word} missing:\n{text}");
    }
}

#[test]
fn bench_leaves_out_the_missing_comic_404() {
    let run = gather()
        .args([
            "bench",
            "--count",
            "405",
            "--latency",
            "0",
            "-c",
            "50",
            "--json",
        ])
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    for run in s["runs"].as_array().unwrap() {
        assert_eq!(
            (run["ok"].as_u64(), run["failed"].as_u64()),
            (Some(405), Some(0)),
            "{s}"
        );
    }
}

#[test]
fn bench_sleep_runs_many_waits_in_about_one() {
    let run = gather()
        .args([
            "bench",
            "sleep",
            "--tasks",
            "20000",
            "--duration",
            "200ms",
            "--json",
        ])
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    assert_eq!(s["tasks"], 20000);
    let wall = s["wall_secs"].as_f64().unwrap();
    // 20,000 sleeps of 200 ms: 4,000 s one after another, about 0.2 s at once.
    assert!(wall >= 0.2, "{s}");
    assert!(s["speedup"].as_f64().unwrap() > 1000.0, "{s}");
}

#[test]
fn bench_sleep_refuses_flags_of_the_fetch_bench() {
    gather()
        .args(["bench", "--count", "5", "sleep"])
        .assert()
        .code(2);
}

#[test]
fn bench_only_times_the_run_it_is_asked_for() {
    let run = gather()
        .args(["bench", "-n", "10", "--latency", "20ms", "--json"])
        .args(["--only", "concurrent"])
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{s}");
    assert_eq!(runs[0]["mode"], "concurrent");
    assert_eq!(runs[0]["ok"], 10);
    assert!(
        runs[0]["speedup"].is_null(),
        "no sequential run to compare with: {s}"
    );
}

/// What this machine's `python3` can run: `None` without one, else whether aiohttp imports.
fn python_has_aiohttp() -> Option<bool> {
    let status = Command::new("python3")
        .args(["-c", "import aiohttp"])
        .status()
        .ok()?;
    Some(status.success())
}

/// Python's runs from `gather bench ... --python --json`, checked to be one per gather run.
fn python_runs(s: &serde_json::Value) -> Vec<serde_json::Value> {
    let runs = s["python"]["runs"].as_array().expect("python runs").clone();
    let modes: Vec<_> = runs.iter().map(|r| r["mode"].as_str().unwrap()).collect();
    assert_eq!(modes, ["sequential", "concurrent"], "{s}");
    runs
}

#[test]
fn bench_python_runs_the_seeds_code_on_the_same_comics() {
    let run = gather()
        .args([
            "bench",
            "-n",
            "20",
            "--latency",
            "20ms",
            "--python",
            "--json",
        ])
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    let runs = python_runs(&s);
    let (sequential, concurrent) = (&runs[0], &runs[1]);
    match python_has_aiohttp() {
        None => {
            let error = sequential["error"].as_str().unwrap_or_default();
            assert!(error.contains("python3"), "{s}");
        }
        Some(aiohttp) => {
            assert_eq!(
                (sequential["ok"].as_u64(), sequential["failed"].as_u64()),
                (Some(20), Some(0)),
                "{s}"
            );
            let client = sequential["client"].as_str().unwrap();
            assert!(
                client == "urllib.request" || client.starts_with("requests "),
                "{s}"
            );
            assert!(
                s["python"]["version"].as_str().unwrap().starts_with('3'),
                "{s}"
            );
            if aiohttp {
                assert_eq!(concurrent["ok"], 20, "{s}");
                assert_eq!(concurrent["concurrency"], 20, "{s}");
                assert!(
                    concurrent["client"]
                        .as_str()
                        .unwrap()
                        .starts_with("aiohttp "),
                    "{s}"
                );
                // 20 requests of 20 ms: 400 ms one at a time, about 20 ms at once.
                let speedup = concurrent["speedup"].as_f64().unwrap();
                assert!(
                    speedup >= 4.0,
                    "asyncio.gather only {speedup:.1}x faster: {s}"
                );
            } else {
                let error = concurrent["error"].as_str().unwrap_or_default();
                assert!(error.contains("aiohttp"), "{s}");
            }
        }
    }
}

#[test]
fn bench_python_rows_say_that_aiohttp_is_missing() {
    if python_has_aiohttp().is_none() {
        eprintln!("no python3 on this machine: the test without one covers it");
        return;
    }
    // An `aiohttp` that cannot be imported, found before the installed one.
    let shadow = tempfile::tempdir().unwrap();
    let package = shadow.path().join("aiohttp");
    std::fs::create_dir(&package).unwrap();
    std::fs::write(
        package.join("__init__.py"),
        "raise ImportError('hidden by the test')\n",
    )
    .unwrap();
    let run = gather()
        .args(["bench", "-n", "5", "--latency", "1ms", "--python", "--json"])
        .env("PYTHONPATH", shadow.path())
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    let runs = python_runs(&s);
    let error = runs[1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("aiohttp is not installed"), "{s}");
    assert!(runs[1]["wall_secs"].is_null(), "{s}");
    // The blocking loop needs no aiohttp: it ran, and saved every comic.
    assert_eq!(
        (runs[0]["ok"].as_u64(), runs[0]["error"].as_str()),
        (Some(5), None),
        "{s}"
    );
}

#[test]
fn bench_python_rows_say_that_python3_is_missing() {
    let empty = tempfile::tempdir().unwrap();
    let run = gather()
        .args(["bench", "-n", "5", "--latency", "1ms", "--python", "--json"])
        .env("PATH", empty.path())
        .assert()
        .success();
    let s = summary(&run.get_output().stdout);
    for run in python_runs(&s) {
        let error = run["error"].as_str().unwrap_or_default();
        assert!(error.contains("python3"), "{s}");
        assert!(run["wall_secs"].is_null(), "{s}");
    }
    // gather's own runs are unaffected.
    for run in s["runs"].as_array().unwrap() {
        assert_eq!(run["ok"], 5, "{s}");
    }

    // The table says it in Python's rows, after gather's.
    let run = gather()
        .args(["bench", "-n", "5", "--latency", "1ms", "--python"])
        .env("PATH", empty.path())
        .assert()
        .success();
    let text = String::from_utf8_lossy(&run.get_output().stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(" gather ") || l.starts_with(" python "))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    assert!(
        rows[..2].iter().all(|r| r.trim_end().ends_with("reqwest")),
        "{text}"
    );
    assert!(rows[2..].iter().all(|r| r.contains("python3")), "{text}");
}
