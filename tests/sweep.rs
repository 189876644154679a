//! `gather serve --capacity`, `gather bench sweep` and `gather fetch -c auto`, end to end: the
//! real binary against its built-in server or `gather serve` on a free loopback port. Timing
//! claims are ratios within one run, loosely.

mod common;

use common::{TestServer, gather};
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let output = gather().args(args).assert().success().get_output().clone();
    serde_json::from_slice(&output.stdout).expect("stdout is JSON")
}

fn throughput(level: &Value) -> f64 {
    level["throughput"].as_f64().expect("a throughput")
}

#[test]
fn the_sweep_rises_to_the_capacity_then_only_latency_grows() {
    let report = json(&[
        "bench",
        "sweep",
        "--capacity",
        "8",
        "--latency",
        "20ms",
        "--levels",
        "1,2,4,8,32",
        "--json",
    ]);
    let levels = report["levels"].as_array().unwrap();
    let concurrency: Vec<u64> = levels
        .iter()
        .map(|l| l["concurrency"].as_u64().unwrap())
        .collect();
    assert_eq!(concurrency, [1, 2, 4, 8, 32], "one row per level, in order");
    let t: Vec<f64> = levels.iter().map(throughput).collect();
    // Up to the capacity, doubling the concurrency nearly doubles the throughput.
    for pair in t[..4].windows(2) {
        assert!(
            pair[1] >= 1.3 * pair[0],
            "not rising to the capacity: {t:?}"
        );
    }
    // Past it, four times the concurrency buys little throughput, and only latency.
    assert!(t[4] <= 1.5 * t[3], "no flat part past the capacity: {t:?}");
    let p50 = |i: usize| levels[i]["latency_ms"]["p50"].as_f64().unwrap();
    assert!(p50(4) >= 2.0 * p50(0), "latency did not climb: {levels:?}");
    assert!(report["knee"].as_u64().unwrap() >= 4, "{report}");
    // Little's law: throughput × mean latency is the concurrency, roughly.
    let in_flight = levels[2]["in_flight_littles_law"].as_f64().unwrap();
    assert!((2.5..=4.5).contains(&in_flight), "4 at once: {in_flight}");
}

#[test]
fn auto_settles_within_a_factor_of_two_of_the_capacity() {
    let server = TestServer::start(&["--latency", "20ms", "--capacity", "16", "--max-id", "5000"]);
    let out = tempfile::tempdir().unwrap();
    let summary = json(&[
        "fetch",
        &server.comics(),
        "--ids",
        "1-403,405-3001",
        "--out",
        out.path().to_str().unwrap(),
        "-c",
        "auto",
        "--json",
        "-q",
    ]);
    assert_eq!(summary["ok"], 3000, "{summary}");
    let limits = summary["concurrency_auto"]["limits"].as_array().unwrap();
    assert_eq!(limits.len(), 1, "one limit without --per-host");
    let settled = limits[0]["settled"].as_u64().unwrap();
    assert!(
        (8..=32).contains(&settled),
        "settled at {settled}: {summary}"
    );
    assert!(limits[0]["history"].as_array().unwrap().len() > 2);
}

#[test]
fn auto_gets_far_fewer_429s_than_a_fixed_high_concurrency() {
    let report = json(&[
        "bench",
        "sweep",
        "--capacity",
        "none",
        "--rate-limit",
        "100/s",
        "--latency",
        "20ms",
        "--levels",
        "64",
        "--count",
        "500",
        "--auto",
        "--json",
    ]);
    let share = |row: &Value| row["too_many_share"].as_f64().unwrap();
    let fixed = share(&report["levels"][0]);
    let auto = share(&report["auto"]);
    assert!(fixed > 0.2, "-c 64 against 100/s: {report}");
    assert!(
        auto * 4.0 < fixed,
        "-c auto {auto} vs -c 64 {fixed}: {report}"
    );
}

#[test]
fn bad_capacity_concurrency_and_levels_exit_2() {
    let url = "http://127.0.0.1:9/{id}";
    let fetch = ["fetch", url, "--ids", "1", "--out", "never-created"];
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["serve", "--capacity", "0"], "--capacity"),
        (vec!["bench", "sweep", "--capacity", "0"], "--capacity"),
        (
            [&fetch[..], &["-c", "auto", "--max-concurrency", "0"]].concat(),
            "--max-concurrency",
        ),
        (
            [&fetch[..], &["-c", "8", "--max-concurrency", "16"]].concat(),
            "needs -c auto",
        ),
        ([&fetch[..], &["-c", "banana"]].concat(), "neither `auto`"),
        (vec!["bench", "sweep", "--levels", "0,x"], "--levels `0,x`"),
        (
            vec!["bench", "sweep", "--levels", "1,,2"],
            "--levels `1,,2`",
        ),
        (
            vec!["bench", "sweep", "--levels", "many"],
            "--levels `many`",
        ),
    ];
    for (args, expected) in cases {
        let run = gather().args(&args).assert().code(2);
        let output = run.get_output();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    assert!(!std::path::Path::new("never-created").exists());
}
