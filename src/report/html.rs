//! The deck: one self-contained HTML file of 16:9 slides, in the order of a talk, that teaches
//! the seeds' lesson with this run's numbers. The seeds' demos with their code and times, the
//! xkcd fetch, the concurrency sweep's curve, the models measured (the GIL, event loops, processes, and Go, C++ and
//! JavaScript where the lab ran them), a decision computed from the numbers, and an appendix
//! with every table, the machine, the versions, the command line and the sources.
//!
//! Prose and markup live in the askama templates of `src/report/templates/` (checked when the
//! crate compiles); the numbers, the verdicts drawn from them and the charts ([`charts`](super::charts)) come
//! from the code here. It works without script (scroll snapping, PageDown), prints one
//! landscape page per slide, and loads nothing: no network, no files. Nothing here measures.

mod appendix;
mod decide;
mod lessons;
mod measured;
mod sweep;

use std::time::Duration;

use askama::Template;

use super::charts::ChartError;
use super::human_duration;
use crate::bench::BenchReport;
use crate::bench::lab::LabReport;
use crate::bench::lessons::LessonReport;
use crate::bench::machine::Machine;

pub use decide::{
    Compare, Estimate, MORE_CORES, NOISE_FLOOR, ONE_RUN_NOISE, compare, computes_faster,
    conclusions,
};

/// Everything a deck is made from.
#[derive(Debug, Clone, Copy)]
pub struct DeckInput<'a> {
    /// The xkcd fetch, sequential and concurrent.
    pub bench: &'a BenchReport,
    /// The lab: workloads × models × languages.
    pub lab: &'a LabReport,
    /// The concurrency sweep, with `-c auto`; `None` when it was not run.
    pub sweep: Option<&'a crate::bench::sweep::SweepReport>,
    /// The seeds' demos, timed; `None` when they were not run.
    pub lessons: Option<&'a LessonReport>,
    /// The machine the numbers come from.
    pub machine: &'a Machine,
    /// The command line that made the numbers, as typed (quoted where needed).
    pub command: &'a str,
}

/// The deck could not be made.
#[derive(Debug, thiserror::Error)]
pub enum DeckError {
    /// A chart could not be drawn.
    #[error(transparent)]
    Chart(#[from] ChartError),
    /// A template could not be filled.
    #[error("cannot fill the deck's templates: {0}")]
    Template(#[from] askama::Error),
}

/// One slide: its id (the URL fragment that shows it) and its rendered body.
struct Slide {
    id: String,
    body: String,
}

/// The slides, in order, as they are made.
#[derive(Default)]
struct Slides(Vec<Slide>);

impl Slides {
    /// Renders `template` as the slide `id`.
    fn push(&mut self, id: impl Into<String>, template: &impl Template) -> Result<(), DeckError> {
        self.0.push(Slide {
            id: id.into(),
            body: template.render()?,
        });
        Ok(())
    }
}

#[derive(Template)]
#[template(path = "deck.html")]
struct Deck<'a> {
    title: &'a str,
    slides: &'a [Slide],
}

/// A chart on a slide: `id` names it (the tests find charts by it), `caption` says how to read
/// it.
pub(super) struct Figure {
    id: String,
    svg: String,
    caption: String,
}

impl Figure {
    fn new(id: impl Into<String>, svg: String, caption: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            svg,
            caption: caption.into(),
        }
    }
}

/// A measured time as the slides show it: the median, and the range of the runs when there
/// were several.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Timed {
    /// `602 ms`.
    median: String,
    /// `598–611 ms`; `None` for a single run.
    range: Option<String>,
}

impl Timed {
    fn new(median: Duration, range: (Duration, Duration), runs: usize) -> Self {
        Self {
            median: human_duration(median),
            range: (runs > 1).then(|| range_text(range.0, range.1)),
        }
    }
}

/// `598–611 ms` or `1.02–1.05 s`: a range in one unit.
fn range_text(low: Duration, high: Duration) -> String {
    if high.as_secs_f64() < 1.0 {
        format!(
            "{:.0}–{:.0} ms",
            low.as_secs_f64() * 1000.0,
            high.as_secs_f64() * 1000.0
        )
    } else {
        format!("{:.2}–{:.2} s", low.as_secs_f64(), high.as_secs_f64())
    }
}

/// Seconds as a chart axis shows them: milliseconds below two seconds, else seconds; returns
/// the factor to multiply seconds by and the axis's name.
fn time_axis(max: Duration) -> (f64, &'static str) {
    if max.as_secs_f64() < 2.0 {
        (1000.0, "ms since the start")
    } else {
        (1.0, "seconds since the start")
    }
}

/// The whole deck, from the runs and the machine they ran on.
pub fn html_report(input: &DeckInput<'_>) -> Result<String, DeckError> {
    let mut slides = Slides::default();
    measured::opening(&mut slides, input)?;
    lessons::slides(&mut slides, input)?;
    measured::xkcd(&mut slides, input)?;
    if let Some(report) = input.sweep {
        sweep::slide(&mut slides, report)?;
    }
    measured::models(&mut slides, input)?;
    decide::slides(&mut slides, input)?;
    appendix::slides(&mut slides, input)?;
    let deck = Deck {
        title: "Waiting, computing, and what concurrency buys",
        slides: &slides.0,
    };
    Ok(deck.render()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_keep_one_unit() {
        let ms = Duration::from_millis;
        assert_eq!(range_text(ms(598), ms(611)), "598–611 ms");
        assert_eq!(range_text(ms(1020), ms(1050)), "1.02–1.05 s");
        let one = Timed::new(ms(5), (ms(5), ms(5)), 1);
        assert_eq!(one.range, None);
        let three = Timed::new(ms(600), (ms(598), ms(611)), 3);
        assert_eq!(three.median, "600 ms");
        assert_eq!(three.range.as_deref(), Some("598–611 ms"));
    }
}
