//! The progress bar (on a terminal only) and the per-failure lines on stderr: a fetch's, and
//! each of a bench's runs'.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{HumanDuration, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::fetch::{Outcome, Record};

/// Shows a fetch's progress as records come in.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    /// Whether a failure gets a line of its own (a fetch's, unless `-q`), besides the count.
    failure_lines: bool,
    /// Items failed, read by the bar's `{failed}` key when it draws.
    failed: Arc<AtomicU64>,
}

/// The bar with a known length: done, of all, the rate, the time left and the failures.
const BAR: &str = "{bar:40} {pos}/{len} {rate:.dim} eta {eta} {failed}";

/// How often the bar is drawn: by indicatif's ticker thread, ten times a second, whatever the
/// records do. Taking in a record is then an atomic add (and a failure another: the count is
/// read when a frame is drawn, not set as a message, which would draw): none of the bursts of
/// up to 20 frames indicatif draws when a batch of records arrives and each increment may draw,
/// and the rate and time left stay current while responses are slow.
const TICK: Duration = Duration::from_millis(100);

/// A rate as the bar shows it: whole items a second, fewer digits than indicatif's own
/// (`1.8116/s`), a decimal only while it is small.
pub fn rate_text(per_second: f64) -> String {
    match per_second {
        r if !r.is_finite() || r <= 0.0 => "-/s".to_owned(),
        // Below 9.95, not 10: 9.96 would print as `10.0/s`.
        r if r < 9.95 => format!("{r:.1}/s"),
        r => format!("{r:.0}/s"),
    }
}

fn style(template: &str, failed: &Arc<AtomicU64>) -> ProgressStyle {
    let failed = Arc::clone(failed);
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&rate_text(state.per_sec()));
            },
        )
        // indicatif's own says `0s` before anything is done; there is no estimate yet.
        .with_key(
            "eta",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = match state.pos() {
                    0 => out.write_str("-"),
                    _ => write!(out, "{:#}", HumanDuration(state.eta())),
                };
            },
        )
        .with_key(
            "failed",
            move |_: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = match failed.load(Ordering::Relaxed) {
                    0 => Ok(()),
                    n => write!(out, "{n} failed"),
                };
            },
        )
}

impl Progress {
    /// A bar for `len` items (a spinner when unknown), drawn only when stderr is a terminal
    /// and `quiet` is off. Failures are printed as they happen unless `quiet`.
    pub fn new(len: Option<u64>, quiet: bool) -> Self {
        let failed = Arc::default();
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(style(BAR, &failed)),
            None => ProgressBar::new_spinner()
                .with_style(style("{spinner} {pos} done {rate:.dim} {failed}", &failed)),
        };
        Self::drawn(bar, failed, !quiet, !quiet)
    }

    /// A bar for one of a bench's runs, `label` (`sequential`) before it, drawn when stderr is
    /// a terminal and `show` is on. Failures are counted on the bar, not printed: the bench's
    /// table has them.
    pub fn bench_run(label: &str, len: u64, show: bool) -> Self {
        let failed = Arc::default();
        let bar = ProgressBar::new(len)
            .with_style(style(&format!("{{prefix}} {BAR}"), &failed))
            .with_prefix(label.to_owned());
        Self::drawn(bar, failed, show, false)
    }

    /// `bar`, drawn from now on (the first frame at once) if `show` and stderr is a terminal,
    /// else never (and no ticker thread).
    fn drawn(bar: ProgressBar, failed: Arc<AtomicU64>, show: bool, failure_lines: bool) -> Self {
        if show && std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::stderr());
            bar.enable_steady_tick(TICK);
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        Self {
            bar,
            failure_lines,
            failed,
        }
    }

    /// Prints `line` on stderr, above the bar.
    pub fn note(&self, line: &str) {
        self.bar.suspend(|| {
            let _ = writeln!(std::io::stderr(), "{line}");
        });
    }

    /// Takes in one finished item.
    pub fn observe(&self, record: &Record) {
        self.bar.inc(1);
        if let Outcome::Failed(_) = &record.outcome {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Outcome::Failed(error) = &record.outcome
            && self.failure_lines
        {
            // A closed stderr (`2>&1 | head`) must not stop the fetch: errors are ignored.
            self.bar.suspend(|| {
                let tries = match record.attempts {
                    0 | 1 => String::new(),
                    n => format!(" (after {n} attempts)"),
                };
                let _ = writeln!(std::io::stderr(), "failed: {}: {error}{tries}", record.url);
            });
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::rate_text;

    #[test]
    fn rates_read_as_items_a_second() {
        assert_eq!(rate_text(1.8116), "1.8/s");
        assert_eq!(rate_text(1811.6), "1812/s");
        assert_eq!(rate_text(9.94), "9.9/s");
        assert_eq!(rate_text(9.96), "10/s");
        assert_eq!(rate_text(0.0), "-/s");
        assert_eq!(rate_text(f64::INFINITY), "-/s");
    }
}
