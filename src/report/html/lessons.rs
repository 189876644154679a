//! The seeds' demos, one slide each: the seed's Python code and its Rust twin, cut from the
//! files that ran (`python/lessons.py`, `examples/*.rs`) by their `lesson:begin NAME` /
//! `lesson:end NAME` markers, with this run's times and printed lines.

use askama::Template;

use super::{DeckError, DeckInput, Slides, Timed};
use std::time::Duration;

use crate::bench::lessons::{Demo, LessonReport, LessonSide, Line, Run};
use crate::report::human_duration;

/// The sources the slides cut their code from.
const PYTHON: &str = include_str!("../../../python/lessons.py");
const SLEEP_GATHER: &str = include_str!("../../../examples/sleep_gather.rs");
const COUNT: &str = include_str!("../../../examples/count.rs");
const SPAWN_ORDER: &str = include_str!("../../../examples/spawn_order.rs");
const TIMEOUT: &str = include_str!("../../../examples/timeout.rs");
const SEARCH_PAGES: &str = include_str!("../../../examples/search_pages.rs");

/// The lines of `source` between `lesson:begin NAME` and `lesson:end NAME` (comment lines
/// with those words), with their common indentation removed.
fn cut(source: &str, name: &str) -> Option<String> {
    let marker = |line: &str, what: &str| {
        let line = line.trim();
        (line.starts_with("//") || line.starts_with('#'))
            && line.split_whitespace().nth(1) == Some(&format!("lesson:{what}")[..])
            && line.split_whitespace().nth(2) == Some(name)
    };
    let mut lines = source.lines();
    lines.by_ref().find(|l| marker(l, "begin"))?;
    let body: Vec<&str> = lines.take_while(|l| !marker(l, "end")).collect();
    let indent = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    Some(
        body.iter()
            .map(|l| l.get(indent..).unwrap_or("").trim_end())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The pieces of `source` named `names`, one after another, a blank line between.
fn code(source: &str, names: &[&str]) -> String {
    names
        .iter()
        .map(|name| cut(source, name).unwrap_or_else(|| format!("(no lesson:begin {name})")))
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// One demo slide's recipe: its id, which demos it times, and which code it shows.
struct Recipe {
    id: &'static str,
    demos: &'static [(Demo, &'static str)],
    python: &'static [&'static str],
    rust_source: &'static str,
    rust: &'static [&'static str],
    rust_file: &'static str,
}

const RECIPES: [Recipe; 5] = [
    Recipe {
        id: "demo-sleep",
        demos: &[
            (Demo::SleepInTurn, "awaited in turn"),
            (Demo::SleepGathered, "gathered"),
        ],
        python: &["sleep_coro", "sleep_in_turn", "sleep_gathered"],
        rust_source: SLEEP_GATHER,
        rust: &["sleep_coro", "sleep_in_turn", "sleep_gathered"],
        rust_file: "examples/sleep_gather.rs",
    },
    Recipe {
        id: "demo-count",
        demos: &[
            (Demo::CountAsync, "gathered, asyncio.sleep"),
            (Demo::CountBlocking, "in a loop, time.sleep"),
        ],
        python: &["count", "count_blocking"],
        rust_source: COUNT,
        rust: &["count", "count_gathered", "count_blocking", "count_in_turn"],
        rust_file: "examples/count.rs",
    },
    Recipe {
        id: "demo-tasks",
        demos: &[
            (Demo::TaskPrintFirst, "create_task, print, await"),
            (Demo::TaskSleepFirst, "create_task, then sleep"),
        ],
        python: &["foo", "task_print_first", "task_sleep_first"],
        rust_source: SPAWN_ORDER,
        rust: &["foo", "task_print_first", "task_sleep_first"],
        rust_file: "examples/spawn_order.rs",
    },
    Recipe {
        id: "demo-wait-for",
        demos: &[
            (Demo::WaitForTimeout, "a 5 s task, limit 3 s"),
            (Demo::WaitForInTime, "a 1 s task, limit 3 s"),
        ],
        python: &["wait_for"],
        rust_source: TIMEOUT,
        rust: &["long_running_task", "wait_for"],
        rust_file: "examples/timeout.rs",
    },
    Recipe {
        id: "demo-search",
        demos: &[
            (Demo::SearchInTurn, "one after another"),
            (Demo::SearchGathered, "gathered"),
        ],
        python: &["fetch", "search_in_turn", "search_gathered"],
        rust_source: SEARCH_PAGES,
        rust: &["fetch", "search_in_turn", "search_gathered"],
        rust_file: "examples/search_pages.rs",
    },
];

/// How long one language took for one demo: its median run and range, or why it did not run.
type SideResult = Result<Timed, String>;

struct DemoRow {
    label: &'static str,
    expected: String,
    sides: Vec<SideResult>,
    /// What the first language that ran it printed, lines printed together grouped:
    /// `(when, texts)`.
    printed: Vec<(String, String)>,
    /// Whether every language that ran it printed the same lines in the same order.
    same_order: bool,
}

#[derive(Template)]
#[template(path = "demo.html")]
struct DemoSlide<'a> {
    id: &'a str,
    python_code: String,
    rust_code: String,
    rust_file: &'a str,
    languages: Vec<&'static str>,
    rows: Vec<DemoRow>,
    /// `×0.1`, when the waits were scaled.
    scale: Option<String>,
    /// One second of the code's time, as it ran.
    second: String,
    search_latency: String,
    prints: bool,
    runs: usize,
}

#[derive(Template)]
#[template(path = "no_lessons.html")]
struct NoLessonsSlide;

fn side_result(side: &LessonSide, demo: Demo) -> SideResult {
    if let Some(missing) = &side.missing {
        return Err(missing.clone());
    }
    let measured = side.demo(demo).ok_or("not run")?;
    match (measured.median_run(), measured.range()) {
        (Some(median), Some(range)) => Ok(Timed::new(median.wall, range, measured.runs.len())),
        _ => Err(measured
            .error
            .clone()
            .unwrap_or_else(|| "no run finished".to_owned())),
    }
}

/// The lines of `run` grouped by when they were printed: lines less than `tolerance` after a
/// group's first join it.
fn grouped(lines: &[Line], tolerance: Duration) -> Vec<(String, String)> {
    let mut groups: Vec<(Duration, Vec<&str>)> = Vec::new();
    for line in lines {
        match groups.last_mut() {
            Some((at, texts)) if line.at.saturating_sub(*at) < tolerance => texts.push(&line.text),
            _ => groups.push((line.at, vec![&line.text])),
        }
    }
    groups
        .into_iter()
        .map(|(at, texts)| (human_duration(at), texts.join(" ")))
        .collect()
}

/// What the demo printed: the first language's median run, grouped, and whether every
/// language printed the same lines in the same order.
fn printed(report: &LessonReport, demo: Demo) -> (Vec<(String, String)>, bool) {
    let runs: Vec<&Run> = report
        .sides
        .iter()
        .filter_map(|s| s.demo(demo)?.median_run())
        .collect();
    let texts = |run: &Run| run.lines.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
    let same = runs.windows(2).all(|w| texts(w[0]) == texts(w[1]));
    // Lines within 5% of a scaled second (at least 5 ms) count as printed together.
    let tolerance = Duration::from_secs_f64(report.scale * 0.05).max(Duration::from_millis(5));
    let groups = runs
        .first()
        .map(|run| grouped(&run.lines, tolerance))
        .unwrap_or_default();
    (groups, same)
}

fn expected(report: &LessonReport, demo: Demo) -> String {
    // Each language's code has its own waits (the Rust twin's foo sleeps 0.2 s where the
    // seed's sleeps 2 s): say each when they differ.
    let times: Vec<(&str, String)> = report
        .sides
        .iter()
        .filter_map(|s| Some((s.language, human_duration(s.demo(demo)?.expected?))))
        .collect();
    match times.as_slice() {
        [] => "-".to_owned(),
        [(_, first), rest @ ..] if rest.iter().all(|(_, t)| t == first) => first.clone(),
        all => all
            .iter()
            .map(|(language, time)| format!("{language} {time}"))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// The demo slides, or one slide saying they were not run.
pub(super) fn slides(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let Some(report) = input.lessons else {
        return slides.push("demos", &NoLessonsSlide);
    };
    let languages: Vec<&'static str> = report.sides.iter().map(|s| s.language).collect();
    let scale = (report.scale != 1.0).then(|| format!("×{}", report.scale));
    for recipe in &RECIPES {
        let rows = recipe
            .demos
            .iter()
            .map(|&(demo, label)| {
                let (printed, same_order) = printed(report, demo);
                DemoRow {
                    label,
                    expected: expected(report, demo),
                    sides: report
                        .sides
                        .iter()
                        .map(|side| side_result(side, demo))
                        .collect(),
                    printed,
                    same_order,
                }
            })
            .collect();
        // SLOT(lab go): the Go twin's code goes beside these when the lab has one.
        slides.push(
            recipe.id,
            &DemoSlide {
                id: recipe.id,
                python_code: code(PYTHON, recipe.python),
                rust_code: code(recipe.rust_source, recipe.rust),
                rust_file: recipe.rust_file,
                languages: languages.clone(),
                rows,
                scale: scale.clone(),
                second: human_duration(Duration::from_secs_f64(report.scale)),
                search_latency: human_duration(report.search_latency),
                prints: !matches!(recipe.id, "demo-sleep" | "demo-search"),
                runs: report.runs,
            },
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cut_the_code_and_its_indentation() {
        let source = "fn main() {\n    // lesson:begin x\n    let a = 1;\n        a.b();\n    // lesson:end x\n}\n# lesson:begin y\nprint(1)\n# lesson:end y\n";
        assert_eq!(cut(source, "x").unwrap(), "let a = 1;\n    a.b();");
        assert_eq!(cut(source, "y").unwrap(), "print(1)");
        assert_eq!(cut(source, "z"), None);
    }

    #[test]
    fn every_slide_finds_its_code() {
        for recipe in &RECIPES {
            for name in recipe.python {
                let piece = cut(PYTHON, name).unwrap_or_else(|| panic!("lessons.py: {name}"));
                assert!(!piece.trim().is_empty(), "lessons.py: {name} is empty");
            }
            for name in recipe.rust {
                let piece = cut(recipe.rust_source, name)
                    .unwrap_or_else(|| panic!("{}: {name}", recipe.rust_file));
                assert!(!piece.trim().is_empty(), "{}: {name}", recipe.rust_file);
            }
        }
        // The seed's code, as the seed wrote it.
        assert!(
            code(PYTHON, &["sleep_gathered"]).contains("await asyncio.gather(obj1, obj2, obj3)")
        );
        assert!(code(SLEEP_GATHER, &["sleep_gathered"]).contains("tokio::join!"));
    }
}
