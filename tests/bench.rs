//! `gather bench` end to end: it starts its own server, and the concurrent run wins.

mod common;

use common::{gather, summary};

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
