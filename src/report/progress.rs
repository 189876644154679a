//! The progress bar (on a terminal only) and the per-failure lines on stderr.

use std::cell::Cell;
use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::fetch::{Outcome, Record};

/// Shows a fetch's progress as records come in.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
    failed: Cell<u64>,
}

/// A rate as the bar shows it: whole items a second, fewer digits than indicatif's own
/// (`1.8116/s`), a decimal only while it is small.
pub fn rate_text(per_second: f64) -> String {
    match per_second {
        r if !r.is_finite() || r <= 0.0 => "-/s".to_owned(),
        r if r < 10.0 => format!("{r:.1}/s"),
        r => format!("{r:.0}/s"),
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("the template is valid")
        .with_key(
            "rate",
            |state: &ProgressState, out: &mut dyn std::fmt::Write| {
                let _ = out.write_str(&rate_text(state.per_sec()));
            },
        )
}

impl Progress {
    /// A bar for `len` items (a spinner when unknown), drawn only when stderr is a terminal
    /// and `quiet` is off. Failures are printed as they happen unless `quiet`.
    pub fn new(len: Option<u64>, quiet: bool) -> Self {
        let bar = match len {
            Some(len) => ProgressBar::new(len)
                .with_style(style("{bar:40} {pos}/{len} {rate:.dim} eta {eta} {msg}")),
            None => ProgressBar::new_spinner()
                .with_style(style("{spinner} {pos} done {rate:.dim} {msg}")),
        };
        let visible = !quiet && std::io::stderr().is_terminal();
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self {
            bar,
            quiet,
            failed: Cell::new(0),
        }
    }

    /// Takes in one finished item.
    pub fn observe(&self, record: &Record) {
        self.bar.inc(1);
        if let Outcome::Failed(_) = &record.outcome {
            self.failed.set(self.failed.get() + 1);
            self.bar
                .set_message(format!("{} failed", self.failed.get()));
        }
        if let Outcome::Failed(error) = &record.outcome
            && !self.quiet
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
        assert_eq!(rate_text(0.0), "-/s");
        assert_eq!(rate_text(f64::INFINITY), "-/s");
    }
}
