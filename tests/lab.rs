//! `gather bench lab` end to end: the numbers obey the lesson (as ratios measured in one run),
//! the trace is Chrome trace JSON, Python joins in when it is there, bad input is refused.

mod common;

use std::collections::HashMap;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{gather, gather_std, send_signal, summary};
use serde_json::Value;

/// The lab's JSON for these arguments.
fn lab(args: &[&str]) -> Value {
    let run = gather()
        .args(["bench", "lab", "--json"])
        .args(args)
        .assert()
        .success();
    summary(&run.get_output().stdout)
}

/// The cell of `runtime`, `workload`, `model`.
fn cell<'a>(report: &'a Value, runtime: &str, workload: &str, model: &str) -> &'a Value {
    report["cells"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["runtime"] == runtime && c["workload"] == workload && c["model"] == model)
        .unwrap_or_else(|| panic!("no cell {runtime} {workload} {model}: {report:#}"))
}

fn f(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("not a number: {value}"))
}

#[test]
fn waiting_speeds_up_by_the_number_of_tasks_under_async_and_threads() {
    let report = lab(&["--workloads", "sleep,http", "-n", "10", "--sleep", "100ms"]);
    for workload in ["sleep", "http"] {
        let sequential = cell(&report, "rust", workload, "sequential");
        assert!(f(&sequential["wall_secs"]) >= 1.0, "{sequential}");
        for model in ["async", "async-mt", "threads"] {
            let c = cell(&report, "rust", workload, model);
            assert!(f(&c["speedup"]) >= 5.0, "{workload} {model}: {c}");
            assert!((f(&c["ideal_speedup"]) - 10.0).abs() < 1e-6, "{c}");
        }
        let processes = cell(&report, "rust", workload, "processes");
        let workers = processes["workers"].as_u64().unwrap() as f64;
        // Each process waits through its share one after another.
        assert!(f(&processes["speedup"]) <= workers * 1.2, "{processes}");
        assert!(f(&processes["peak_rss_kib"]) > 0.0);
    }
    // Waiting costs almost no CPU, whatever the model.
    let threads = cell(&report, "rust", "sleep", "threads");
    assert!(f(&threads["cpu_secs"]) < 0.2, "{threads}");
}

#[test]
fn computing_speeds_up_with_cores_not_with_one_thread() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    // A shared machine may be busy for a moment: the best of three runs counts.
    let mut last = Value::Null;
    for _ in 0..3 {
        let report = lab(&["--workloads", "cpu", "--primes", "2000000", "--parts", "8"]);
        let one_thread = cell(&report, "rust", "cpu", "async");
        let threads = cell(&report, "rust", "cpu", "threads");
        // One thread never keeps more than one core busy.
        assert!(f(&one_thread["cores_used"]) <= 1.2, "{one_thread}");
        assert!(f(&threads["cpu_secs"]) > 0.0, "{threads}");
        if cores < 2 || f(&threads["wall_secs"]) < 0.9 * f(&one_thread["wall_secs"]) {
            return;
        }
        last = report;
    }
    panic!("on {cores} cores, threads were never faster than one thread: {last:#}");
}

#[test]
fn the_trace_has_one_complete_event_per_task_and_slots_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("lab.json");
    gather()
        .args([
            "bench",
            "lab",
            "--workloads",
            "sleep,cpu",
            "-n",
            "6",
            "--sleep",
            "20ms",
        ])
        .args(["--primes", "100000", "--parts", "4", "--trace"])
        .arg(&trace_path)
        .assert()
        .success();
    let trace: Value = serde_json::from_slice(&std::fs::read(&trace_path).unwrap()).unwrap();
    let events = trace["traceEvents"]
        .as_array()
        .expect("a traceEvents array");
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    // 5 models × (6 sleeps + 4 cpu parts)
    assert_eq!(complete.len(), 5 * (6 + 4));
    let mut tracks: HashMap<(u64, u64), Vec<(f64, f64)>> = HashMap::new();
    for e in &complete {
        assert!(e["name"].is_string() && e["cat"].is_string(), "{e}");
        let (ts, dur) = (f(&e["ts"]), f(&e["dur"]));
        assert!(ts >= 0.0 && dur >= 0.0, "{e}");
        let key = (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        tracks.entry(key).or_default().push((ts, ts + dur));
    }
    for (track, mut spans) in tracks {
        spans.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "overlap on {track:?}: {pair:?}");
        }
    }
    let processes = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "process_name")
        .count();
    assert_eq!(processes, 10, "one process per cell");
    assert!(events.iter().any(|e| e["ph"] == "C"), "a counter track");
}

#[test]
fn python_runs_side_by_side_when_present() {
    let has_python = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_python {
        eprintln!("no python3: the side-by-side check is skipped");
        return;
    }
    let report = lab(&[
        "--python",
        "--workloads",
        "sleep,cpu",
        "-n",
        "10",
        "--sleep",
        "50ms",
        "--primes",
        "100000",
        "--python-primes",
        "30000",
        "--parts",
        "4",
    ]);
    assert_eq!(report["python"]["status"], "ran", "{report:#}");
    let asyncio = cell(&report, "python", "sleep", "async");
    assert!(f(&asyncio["speedup"]) >= 5.0, "{asyncio}");
    // The GIL: Python threads computing keep at most about one core busy.
    let threads = cell(&report, "python", "cpu", "threads");
    assert!(f(&threads["cores_used"]) <= 1.3, "{threads}");
    assert_eq!(
        report["cells"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["runtime"] == "python")
            .count(),
        2 * 4
    );
}

#[test]
fn without_python_the_lab_says_so_and_goes_on() {
    let empty = tempfile::tempdir().unwrap();
    let run = gather()
        .env("PATH", empty.path())
        .args([
            "bench",
            "lab",
            "--python",
            "--workloads",
            "sleep",
            "-n",
            "3",
        ])
        .args(["--sleep", "10ms"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&run.get_output().stdout);
    assert!(
        text.contains("python: not run: cannot run python3"),
        "{text}"
    );
    assert!(text.contains("rust  sleep     async"), "{text}");
}

#[test]
fn the_lab_refuses_bad_input() {
    for args in [
        &["--sleep", "fast"][..],
        &["--latency", "2s..1s"],
        &["--workloads", "disk"],
        &["--tasks", "0"],
        &["--parts", "0"],
        &["--workloads", "sleep", "--sleep", "307445734561825860m"],
        &["--workloads", "http", "--latency", "1ms..2h"],
    ] {
        let run = gather().args(["bench", "lab"]).args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&run.get_output().stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn a_worker_refuses_a_bad_job() {
    let run = gather()
        .arg("lab-worker")
        .write_stdin("not json")
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr);
    assert!(stderr.contains("not a lab job"), "{stderr}");
}

/// The environment variable that marks the processes of one test's lab run.
const MARK: &str = "GATHER_LAB_TEST_MARK";

/// Pids of live processes whose environment holds `MARK=mark` (the run's `gather` and every
/// worker it started, which inherit it). Zombies have no environment and do not count.
fn marked_processes(mark: &str) -> Vec<u32> {
    let needle = format!("{MARK}={mark}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == needle.as_bytes()))
        })
        .collect()
}

/// Waits up to 300 ms (killed processes go in milliseconds; the tests' tasks last longer) for
/// every process marked `mark` to be gone, and says which remain.
fn assert_none_left(mark: &str) {
    let deadline = Instant::now() + Duration::from_millis(300);
    loop {
        let left = marked_processes(mark);
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let cmdlines: Vec<String> = left
                .iter()
                .map(|pid| {
                    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                    format!(
                        "{pid}: {}",
                        String::from_utf8_lossy(&cmd).replace('\0', " ")
                    )
                })
                .collect();
            panic!("processes of the stopped lab are still running: {cmdlines:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_stops_the_lab_at_once_with_130() {
    let mark = format!("ctrl-c-{}", std::process::id());
    let child = gather_std()
        .env(MARK, &mark)
        .args([
            "bench",
            "lab",
            "--workloads",
            "sleep",
            "-n",
            "3",
            "--sleep",
            "3s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let start = Instant::now();
    send_signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the worker was not stopped"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("interrupted"), "{text}");
    assert_none_left(&mark);
}

/// Runs a lab whose processes cell lasts, sends `signal` to gather while that cell runs, and
/// returns gather's exit status once every process of the run is gone (or panics).
fn stop_during_the_processes_cell(signal: i32) -> std::process::ExitStatus {
    let mark = format!("signal-{signal}-{}", std::process::id());
    let child = gather_std()
        .env(MARK, &mark)
        .args(["bench", "lab", "--workloads", "sleep", "-n", "4"])
        .args(["--sleep", "600ms", "--processes", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each worker of the processes cell sleeps twice 600 ms. It is running when gather, its
    // lab-worker and that worker's two lab-workers are up: four marked processes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while marked_processes(&mark).len() < 4 {
        assert!(
            Instant::now() < deadline,
            "the processes cell never started: {:?}",
            marked_processes(&mark)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    send_signal(&child, signal);
    let out = child.wait_with_output().unwrap();
    assert_none_left(&mark);
    out.status
}

#[test]
fn sigterm_during_the_processes_cell_leaves_no_worker_running() {
    let status = stop_during_the_processes_cell(libc::SIGTERM);
    assert_eq!(status.code(), Some(130), "{status:?}");
}

#[test]
fn a_lab_killed_outright_takes_its_workers_with_it() {
    // SIGKILL gives gather no chance to stop its workers: they die with it (Linux).
    if cfg!(target_os = "linux") {
        let status = stop_during_the_processes_cell(libc::SIGKILL);
        assert_eq!(status.code(), None, "{status:?}");
    }
}
