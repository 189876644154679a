//! The appendix: what each column means, every table in full (medians with their range), the
//! machine, every version, the exact command line, and the sources of the deck's claims.

use askama::Template;

use super::decide::Estimate;
use super::{DeckError, DeckInput, Slides, Timed};
use crate::bench::lab::LabReport;
use crate::bench::lessons::{Demo, LessonReport};
use crate::report::human_duration;
use crate::report::lab::{cell_columns, lab_heading, python_line};

#[derive(Template)]
#[template(path = "columns.html")]
struct ColumnsSlide {
    primes_below: u64,
    parts: usize,
}

struct BenchRow {
    run: String,
    concurrency: usize,
    wall: Timed,
    rate: String,
    speedup: String,
    ideal: String,
    fetched: u64,
    failed: u64,
}

#[derive(Template)]
#[template(path = "bench_table.html")]
struct BenchTableSlide {
    target: String,
    builtin: bool,
    rows: Vec<BenchRow>,
}

struct LabRow {
    workload: &'static str,
    model: &'static str,
    engine: String,
    wall: Option<Timed>,
    /// speedup, ideal, cpu, cores busy, peak memory; or the cell's error.
    columns: Result<Vec<String>, String>,
}

#[derive(Template)]
#[template(path = "lab_table.html")]
struct LabTableSlide {
    language: String,
    heading: String,
    python: Option<String>,
    rows: Vec<LabRow>,
}

struct LessonRow {
    demo: &'static str,
    language: &'static str,
    expected: String,
    median: String,
    runs: String,
}

#[derive(Template)]
#[template(path = "lessons_table.html")]
struct LessonsTableSlide {
    scale: f64,
    rows: Vec<LessonRow>,
}

#[derive(Template)]
#[template(path = "machine.html")]
struct MachineSlide<'a> {
    facts: Vec<(&'static str, String)>,
    versions: Vec<(String, String)>,
    /// Every language the lab was asked for: its name, its version or why it did not run,
    /// and how its worker was built.
    langs: Vec<(&'static str, String, Option<String>)>,
    command: &'a str,
}

#[derive(Template)]
#[template(path = "sources.html")]
struct SourcesSlide;

fn bench_slide(input: &DeckInput<'_>) -> BenchTableSlide {
    let bench = input.bench;
    let rows = bench
        .runs
        .iter()
        .map(|run| {
            // SLOT(headline --repeat): runs of the xkcd fetch with a median and range.
            let wall = run.summary.wall;
            BenchRow {
                run: run.mode.as_str().to_owned(),
                concurrency: run.concurrency,
                wall: Timed::new(wall, (wall, wall), 1),
                rate: format!("{:.1}", run.summary.requests_per_sec()),
                speedup: bench
                    .speedup(run)
                    .map_or("-".to_owned(), |s| format!("{s:.1}x")),
                ideal: run.ideal.map_or("-".to_owned(), human_duration),
                fetched: run.summary.ok,
                failed: run.summary.failed,
            }
        })
        .collect();
    BenchTableSlide {
        target: bench.target.clone(),
        builtin: bench.builtin,
        rows,
    }
}

fn lab_slides(lab: &LabReport) -> Vec<(String, LabTableSlide)> {
    lab.runtimes()
        .into_iter()
        .map(|runtime| {
            let rows = lab
                .cells
                .iter()
                .filter(|c| c.runtime == runtime)
                .map(|cell| LabRow {
                    workload: cell.workload.as_str(),
                    model: cell.model.as_str(),
                    engine: cell.engine.clone(),
                    wall: cell.ok().then(|| Estimate::of(cell).timed()),
                    columns: cell_columns(lab, cell).map(|c| c[1..].to_vec()),
                })
                .collect();
            let python = (runtime.as_str() == "python")
                .then(|| python_line(&lab.python, lab.config.primes_below));
            (
                format!("appendix-lab-{}", runtime.as_str()),
                LabTableSlide {
                    language: runtime.as_str().to_owned(),
                    heading: lab_heading(lab),
                    python,
                    rows,
                },
            )
        })
        .collect()
}

fn lessons_slide(report: &LessonReport) -> LessonsTableSlide {
    let rows = Demo::ALL
        .iter()
        .flat_map(|&demo| {
            report.sides.iter().filter_map(move |side| {
                let measured = side.demo(demo)?;
                let walls: Vec<String> = measured
                    .runs
                    .iter()
                    .map(|r| human_duration(r.wall))
                    .collect();
                Some(LessonRow {
                    demo: demo.key(),
                    language: side.language,
                    expected: measured.expected.map_or("-".to_owned(), human_duration),
                    median: measured
                        .median_run()
                        .map_or("-".to_owned(), |r| human_duration(r.wall)),
                    runs: if walls.is_empty() {
                        measured.error.clone().unwrap_or_default()
                    } else {
                        walls.join(", ")
                    },
                })
            })
        })
        .collect();
    LessonsTableSlide {
        scale: report.scale,
        rows,
    }
}

fn machine_slide<'a>(input: &DeckInput<'a>) -> MachineSlide<'a> {
    let m = input.machine;
    let mut facts = vec![
        ("cores", m.cores.to_string()),
        ("CPU", m.cpu.clone().unwrap_or_else(|| "unknown".to_owned())),
        ("OS", m.os.clone()),
    ];
    if let Some(kernel) = &m.kernel {
        facts.push(("kernel", kernel.clone()));
    }
    facts.push(("measured by", m.gather.clone()));
    facts.push(("date", m.date.clone()));
    let mut versions: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, version: &str| {
        if !versions.iter().any(|(n, _)| n == name) {
            versions.push((name.to_owned(), version.to_owned()));
        }
    };
    if let Some(lessons) = input.lessons {
        for side in &lessons.sides {
            for (name, version) in &side.versions {
                add(name, version);
            }
        }
    }
    let langs = input
        .lab
        .langs
        .iter()
        .map(|l| {
            let state = match (&l.skipped, &l.version) {
                (Some(why), _) => format!("not run: {why}"),
                (None, Some(version)) => version.clone(),
                (None, None) => "ran; version unknown".to_owned(),
            };
            (l.runtime.as_str(), state, l.build.clone())
        })
        .collect();
    MachineSlide {
        facts,
        versions,
        langs,
        command: input.command,
    }
}

/// The appendix slides.
pub(super) fn slides(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let lab = input.lab;
    slides.push(
        "appendix-columns",
        &ColumnsSlide {
            primes_below: lab.config.primes_below,
            parts: lab.config.parts,
        },
    )?;
    slides.push("appendix-xkcd", &bench_slide(input))?;
    for (id, slide) in lab_slides(lab) {
        slides.push(id, &slide)?;
    }
    if let Some(lessons) = input.lessons {
        slides.push("appendix-lessons", &lessons_slide(lessons))?;
    }
    slides.push("appendix-machine", &machine_slide(input))?;
    slides.push("sources", &SourcesSlide)
}
