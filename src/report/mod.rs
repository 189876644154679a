//! Rendering results for people and scripts: the fetch summary (text and JSON), the bench
//! table, and the progress bar. Nothing here does network I/O or timing: it shows what it is
//! given.

mod bench;
mod progress;
mod summary;

pub use bench::{bench_json, bench_table};
pub use progress::Progress;
pub use summary::{summary_json, summary_text};

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
