//! Rendering results for people and scripts: the fetch summary (text and JSON), the bench and
//! lab tables, the sweep's table and curve, the progress bar, Chrome traces, HAR logs, and the
//! HTML report with its charts.
//! Nothing here does network I/O or timing: it shows what it is given.

mod bench;
pub mod charts;
pub mod har;
pub mod html;
mod lab;
mod merge;
mod progress;
mod summary;
pub(crate) mod sweep;
pub mod trace;

pub use bench::{bench_json, bench_table, sleep_json, sleep_text};
pub use har::{HarEntry, har};
pub use html::html_report;
pub use lab::{human_memory, lab_json, lab_table};
pub use merge::{MergeError, Merged, merge, merged_json, merged_text};
pub use progress::Progress;
pub use summary::{summary_json, summary_text, write_summary_json};
pub use sweep::{auto_json, auto_text, sweep_chart, sweep_json, sweep_table};
pub use trace::chrome_trace;

use std::time::Duration;

/// A duration for people: `108 ms` below a second, `20.41 s` above.
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 1.0 {
        format!("{:.0} ms", secs * 1000.0)
    } else {
        format!("{secs:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_millis(108)), "108 ms");
        assert_eq!(human_duration(Duration::from_millis(20_410)), "20.41 s");
    }
}

#[cfg(test)]
mod snapshots {
    //! The rendered outputs, pinned: a change to what people or scripts read shows in review.

    use std::path::Path;
    use std::time::Duration;

    use super::*;
    use crate::bench::{BenchReport, BenchRun, Mode};
    use crate::fetch::{Failure, Summary};
    use crate::serve::Latency;

    fn summary(ok: u64, wall_ms: u64) -> Summary {
        Summary {
            ok,
            failed: 1,
            skipped: 2,
            unchanged: 0,
            requests: ok + 4,
            retries: 3,
            resent: 0,
            abandoned: 0,
            bytes: ok * 512,
            received: ok * 128,
            wall: Duration::from_millis(wall_ms),
            latency_sum: Duration::from_millis(100 * (ok + 1)),
            interrupted: false,
        }
    }

    /// The summary's one failure.
    fn failure() -> Failure {
        Failure {
            n: 200,
            url: "http://127.0.0.1:8080/200/info.0.json".to_owned(),
            status: Some(404),
            attempts: 1,
            reason: "HTTP 404 Not Found".to_owned(),
        }
    }

    /// The JSON summary as written, with `failures`.
    fn json_text(failures: Vec<Failure>) -> String {
        let mut out = Vec::new();
        let totals = summary_json(&summary(199, 150), Path::new("comics"));
        write_summary_json(&mut out, &totals, failures).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn fetch_summary_text() {
        insta::assert_snapshot!(summary_text(&summary(199, 150), Path::new("comics")));
    }

    #[test]
    fn fetch_summary_json() {
        let text = json_text(vec![failure(), Failure { n: 7, ..failure() }]);
        insta::assert_snapshot!(text);
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed["failures"][1]["n"], 7);
        let none: serde_json::Value = serde_json::from_str(&json_text(Vec::new())).unwrap();
        assert_eq!(none["failures"], serde_json::json!([]));
        assert_eq!(none["failed"], 1);
    }

    #[test]
    fn bench_outputs() {
        let run = |mode, concurrency, wall_ms, ideal_ms| BenchRun {
            mode,
            concurrency,
            summary: Summary {
                failed: 0,
                ..summary(200, wall_ms)
            },
            ideal: Some(Duration::from_millis(ideal_ms)),
            timeline: Default::default(),
        };
        let report = BenchReport {
            target: "http://127.0.0.1:8080/{id}/info.0.json".to_owned(),
            builtin: true,
            latency: Some(Latency::Fixed(Duration::from_millis(100))),
            count: 200,
            runs: vec![
                run(Mode::Sequential, 1, 20_400, 20_000),
                run(Mode::Concurrent, 200, 125, 100),
            ],
            interrupted: false,
            python: None,
        };
        insta::assert_snapshot!(bench_table(&report));
        insta::assert_json_snapshot!(bench_json(&report));
    }
}
