//! The sweep's slide: this run's curve of throughput and latency per concurrency level, the
//! knee, and where `-c auto` settled, with the verdicts computed from the numbers.

use askama::Template;

use super::{DeckError, Figure, Slides};
use crate::bench::sweep::{SweepReport, SweepRow};
use crate::report::human_duration;
use crate::report::sweep::{server_line, sweep_chart};

/// `-c auto`'s result as the slide states it.
struct AutoResult {
    settled: usize,
    share: String,
    p50: String,
}

#[derive(Template)]
#[template(path = "sweep.html")]
struct SweepSlide {
    server: String,
    knee: String,
    knee_rate: String,
    best: String,
    best_rate: String,
    unloaded: String,
    /// The curve rose along Little's line up to the knee and flattened past it, as expected.
    shows_knee: bool,
    auto: Option<AutoResult>,
    chart: Figure,
}

fn level(row: &SweepRow) -> String {
    match row.level {
        crate::bench::sweep::Level::Fixed(n) => n.to_string(),
        crate::bench::sweep::Level::Auto(_) => "auto".to_owned(),
    }
}

/// The sweep's slide, when the sweep ran and has a best level.
pub(super) fn slide(slides: &mut Slides, sweep: &SweepReport) -> Result<(), DeckError> {
    let (Some(best), Some(knee), Some(unloaded)) = (sweep.best(), sweep.knee(), sweep.unloaded())
    else {
        return Ok(());
    };
    let last = sweep.fixed().last().unwrap_or(best);
    let near_little = sweep
        .model(match knee.level {
            crate::bench::sweep::Level::Fixed(n) => n,
            crate::bench::sweep::Level::Auto(_) => 0,
        })
        .is_some_and(|model| knee.throughput() >= 0.6 * model);
    let flat_past = last.throughput() <= 1.25 * knee.throughput()
        && last.latencies.p50.as_secs_f64() >= 1.5 * unloaded.as_secs_f64();
    let auto = sweep.auto().and_then(|auto| {
        Some(AutoResult {
            settled: auto.limits.first()?.settled,
            share: format!(
                "{:.0}%",
                100.0 * auto.throughput() / best.throughput().max(f64::MIN_POSITIVE)
            ),
            p50: human_duration(auto.latencies.p50),
        })
    });
    let svg = sweep_chart(sweep, (1160, 320))?;
    slides.push(
        "sweep",
        &SweepSlide {
            server: server_line(sweep),
            knee: level(knee),
            knee_rate: format!("{:.0}", knee.throughput()),
            best: level(best),
            best_rate: format!("{:.0}", best.throughput()),
            unloaded: human_duration(unloaded),
            shows_knee: near_little && flat_past,
            auto,
            chart: Figure::new(
                "sweep",
                svg,
                "Concurrency on a log scale. Dashed: Little's law at the unloaded latency L0.",
            ),
        },
    )
}
