//! The progress bar (on a terminal only) and the per-failure lines on stderr.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::fetch::{Outcome, Record};

/// Shows a fetch's progress as records come in.
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
}

impl Progress {
    /// A bar for `len` items (a spinner when unknown), drawn only when stderr is a terminal
    /// and `quiet` is off. Failures are printed as they happen unless `quiet`.
    pub fn new(len: Option<u64>, quiet: bool) -> Self {
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec:.dim} eta {eta} {msg}")
                    .expect("the template is valid"),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {pos} done {per_sec:.dim} {msg}")
                    .expect("the template is valid"),
            ),
        };
        let visible = !quiet && std::io::stderr().is_terminal();
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Self { bar, quiet }
    }

    /// Takes in one finished item.
    pub fn observe(&self, record: &Record) {
        self.bar.inc(1);
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
