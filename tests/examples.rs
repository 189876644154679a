//! Runs each example in `examples/` and checks the order of what it prints, and its timings
//! as loose ratios. `cargo test` builds the examples before running this.

use std::path::PathBuf;
use std::process::Command;

/// Runs an example binary and returns its stdout lines.
fn run_example(name: &str) -> Vec<String> {
    // target/debug/deps/examples-HASH -> target/debug/examples/NAME
    let dir: PathBuf = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo test` (which builds the examples) or `cargo build --examples`",
        path.display()
    );
    let output = Command::new(&path).output().unwrap();
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The number just before `unit` in `line`, e.g. 6.00 in "Time Taken 6.00 s".
fn number_before(line: &str, unit: &str) -> f64 {
    line.split(unit)
        .next()
        .and_then(|head| head.split_whitespace().last())
        .and_then(|n| n.trim_start_matches('(').parse().ok())
        .unwrap_or_else(|| panic!("no number before {unit:?} in {line:?}"))
}

#[test]
fn sleep_gather_joins_in_the_time_of_the_longest() {
    let lines = run_example("sleep_gather");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("awaited in turn: Time Taken "),
        "{lines:?}"
    );
    assert!(lines[1].starts_with("joined: Time Taken "), "{lines:?}");
    let (in_turn, joined) = (
        number_before(&lines[0], " s"),
        number_before(&lines[1], " s"),
    );
    // 6 s against 3 s.
    assert!(
        in_turn / joined > 1.6 && in_turn / joined < 2.4,
        "{lines:?}"
    );
}

#[test]
fn count_interleaves_when_async_and_not_when_blocking() {
    let lines = run_example("count");
    let words: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(&words[..6], ["one", "one", "one", "two", "two", "two"]);
    assert!(words[6].starts_with("async: time elapsed: "));
    assert_eq!(&words[7..13], ["one", "two", "one", "two", "one", "two"]);
    assert!(words[13].starts_with("blocking: time elapsed: "));
    let (concurrent, blocking) = (
        number_before(words[6], " seconds"),
        number_before(words[13], " seconds"),
    );
    // 1 s against 3 s.
    assert!(
        blocking / concurrent > 2.4 && blocking / concurrent < 3.6,
        "{words:?}"
    );
}

#[test]
fn spawned_tasks_run_when_main_waits() {
    let lines = run_example("spawn_order");
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    assert_eq!(
        &lines[..12],
        [
            "-- spawn, print, then await the task",
            "I am Main",
            "finished",
            "I am foo",
            "-- spawn, then await the task at once",
            "I am Main",
            "I am foo",
            "finished",
            "-- spawn, then sleep 0.5 s: the task runs while main sleeps",
            "I am Main",
            "I am foo",
            "finished",
        ]
    );
    assert_eq!(
        lines[12],
        "-- two tasks interleave while main awaits the first"
    );
    assert_eq!(lines[13], "Start fetching");
    let position = |text: &str| {
        lines
            .iter()
            .position(|l| *l == text)
            .unwrap_or_else(|| panic!("{text} missing: {lines:?}"))
    };
    let done = position("Done fetching");
    for i in 0..8 {
        assert!(
            position(&i.to_string()) < done,
            "{i} after Done fetching: {lines:?}"
        );
    }
    assert!(position("{data: 1}") > done);
    assert!(position("9") > position("8") && position("8") > position("7"));
    assert_eq!(
        &lines[lines.len() - 3..],
        [
            "-- spawn and never await: the task is dropped with the runtime",
            "you placed another order",
            "your Biryani is finished",
        ]
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("Your order")),
        "{lines:?}"
    );
}

#[test]
fn timeout_cancels_the_slow_task_only() {
    let lines = run_example("timeout");
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("Task timed out! (after "), "{lines:?}");
    assert!(lines[1].starts_with("Task completed (after "), "{lines:?}");
    let (limit, quick) = (
        number_before(&lines[0], " s)"),
        number_before(&lines[1], " s)"),
    );
    // Cut at 3 s (not 5 s); the quick one took 1 s.
    assert!(limit / quick > 2.4 && limit / quick < 3.6, "{lines:?}");
}

#[test]
fn search_pages_fetch_concurrently() {
    let lines = run_example("search_pages");
    assert_eq!(
        &lines[..3],
        [
            "Yash: 200 OK, <h1>Results for Yash</h1>",
            "KOSS: 200 OK, <h1>Results for KOSS</h1>",
            "Your Name: 200 OK, <h1>Results for Your Name</h1>",
        ]
    );
    let (sequential, concurrent) = (
        number_before(&lines[3], " s"),
        number_before(&lines[4], " s"),
    );
    // Three latencies against one.
    assert!(sequential / concurrent > 2.0, "{lines:?}");
}
