//! The bench result as a table, or as JSON.

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::human_duration;
use crate::bench::BenchReport;
use crate::bench::sleep::SleepReport;

/// The table `gather bench` prints: a heading line, then one row per run. With `--python`,
/// Python's runs follow gather's: a language column first, and a client column last that says
/// which HTTP client ran, or why the run did not happen (no `python3`, no aiohttp).
pub fn bench_table(report: &BenchReport) -> String {
    let server = match report.latency {
        Some(latency) => format!("built-in server, {latency} latency"),
        None => "external server".to_owned(),
    };
    let python = report.python.as_ref();
    let columns = [
        "mode",
        "concurrency",
        "wall",
        "req/s",
        "speedup",
        "ideal",
        "files",
        "failed",
    ];
    let mut table = Table::new();
    let header: Vec<&str> = match python {
        Some(_) => std::iter::once("lang")
            .chain(columns)
            .chain(["client"])
            .collect(),
        None => columns.to_vec(),
    };
    table.load_style(presets::NOTHING).set_header(header);
    for run in &report.runs {
        let mut row = vec![
            run.mode.as_str().to_owned(),
            run.concurrency.to_string(),
            human_duration(run.summary.wall),
            format!("{:.1}", run.summary.requests_per_sec()),
            times(report.speedup(run)),
            run.ideal.map_or("-".to_owned(), human_duration),
            run.summary.ok.to_string(),
            run.summary.failed.to_string(),
        ];
        if python.is_some() {
            row.insert(0, "gather".to_owned());
            row.push("reqwest".to_owned());
        }
        table.add_row(row);
    }
    let mut notes = Vec::new();
    for run in python.iter().flat_map(|python| &python.runs) {
        let ran = run.wall.is_some();
        let client = match (&run.error, ran) {
            // What is missing, in the row itself.
            (Some(error), false) => error.clone(),
            _ => run.client.clone(),
        };
        if let (Some(error), true) = (&run.error, ran) {
            notes.push(format!("python {}: {error}", run.mode.as_str()));
        }
        let dash = || "-".to_owned();
        table.add_row([
            "python".to_owned(),
            run.mode.as_str().to_owned(),
            run.concurrency.to_string(),
            run.wall.map_or_else(dash, human_duration),
            run.requests_per_sec()
                .map_or_else(dash, |r| format!("{r:.1}")),
            times(python.and_then(|p| p.speedup(run))),
            run.ideal.map_or_else(dash, human_duration),
            if ran { run.ok.to_string() } else { dash() },
            if ran { run.failed.to_string() } else { dash() },
            client,
        ]);
    }
    let (first, numbers) = match python {
        Some(_) => (2, columns.len() - 1),
        None => (1, columns.len() - 1),
    };
    for column in table.column_iter_mut().skip(first).take(numbers) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let mut text = format!(
        "gather bench: {} comics from {} ({server})\n",
        report.count, report.target
    );
    if let Some(python) = python {
        let python = match &python.version {
            Some(version) => format!("python {version}"),
            None => "python".to_owned(),
        };
        text.push_str(&format!(
            "{python}: the seeds' code (python/xkcd.py), same comics, same server\n"
        ));
    }
    text.push_str(&format!("\n{table}\n"));
    for note in notes {
        text.push_str(&note);
        text.push('\n');
    }
    if report.interrupted {
        text.push_str("interrupted: the table shows the runs that finished\n");
    }
    text
}

/// A speedup as `12.3x`, or `-`.
fn times(speedup: Option<f64>) -> String {
    speedup.map_or("-".to_owned(), |s| format!("{s:.1}x"))
}

/// The bench result for scripts. With `--python`, `python` holds Python's runs (`null`
/// otherwise); each has the fields of gather's runs, plus `client` and `error` (why it did not
/// run, or its first failed comic).
pub fn bench_json(report: &BenchReport) -> Value {
    let runs: Vec<Value> = report
        .runs
        .iter()
        .map(|run| {
            json!({
                "mode": run.mode,
                "concurrency": run.concurrency,
                "wall_secs": run.summary.wall.as_secs_f64(),
                "requests_per_sec": run.summary.requests_per_sec(),
                "speedup": report.speedup(run),
                "ideal_secs": run.ideal.map(|d| d.as_secs_f64()),
                "ok": run.summary.ok,
                "failed": run.summary.failed,
                "effective_concurrency": run.summary.effective_concurrency(),
            })
        })
        .collect();
    let python = report.python.as_ref().map(|python| {
        let runs: Vec<Value> = python
            .runs
            .iter()
            .map(|run| {
                json!({
                    "lang": "python",
                    "mode": run.mode,
                    "client": run.client,
                    "concurrency": run.concurrency,
                    "wall_secs": run.wall.map(|w| w.as_secs_f64()),
                    "requests_per_sec": run.requests_per_sec(),
                    "speedup": python.speedup(run),
                    "ideal_secs": run.ideal.map(|d| d.as_secs_f64()),
                    "ok": run.ok,
                    "failed": run.failed,
                    "error": run.error,
                })
            })
            .collect();
        json!({ "version": python.version, "runs": runs })
    });
    json!({
        "target": report.target,
        "builtin_server": report.builtin,
        "latency": report.latency.map(|l| l.to_string()),
        "count": report.count,
        "interrupted": report.interrupted,
        "runs": runs,
        "python": python,
    })
}

/// The `bench sleep` result for people.
pub fn sleep_text(report: &SleepReport) -> String {
    let config = report.config;
    format!(
        "gather bench sleep: {} tasks, each sleeping {}\n  all at once        {}\n  one after another  {} (computed)\n  overhead           {} over one sleep\n",
        config.tasks,
        human_duration(config.duration),
        human_duration(report.wall),
        human_duration(report.sequential()),
        human_duration(report.wall.saturating_sub(config.duration)),
    )
}

/// The `bench sleep` result for scripts.
pub fn sleep_json(report: &SleepReport) -> Value {
    json!({
        "tasks": report.config.tasks,
        "sleep_secs": report.config.duration.as_secs_f64(),
        "wall_secs": report.wall.as_secs_f64(),
        "sequential_secs": report.sequential().as_secs_f64(),
        "speedup": report.sequential().as_secs_f64() / report.wall.as_secs_f64().max(f64::MIN_POSITIVE),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::{BenchRun, Mode, PythonRun, PythonRuns};
    use crate::fetch::Summary;
    use crate::serve::Latency;

    fn report(python: Vec<PythonRun>, version: Option<&str>) -> BenchReport {
        let ms = Duration::from_millis;
        let run = |mode, concurrency, wall_ms, ideal_ms| BenchRun {
            mode,
            concurrency,
            summary: Summary {
                ok: 200,
                requests: 200,
                wall: ms(wall_ms),
                ..Summary::default()
            },
            ideal: Some(ms(ideal_ms)),
            timeline: Default::default(),
        };
        BenchReport {
            target: "http://127.0.0.1:8080/{id}/info.0.json".to_owned(),
            builtin: true,
            latency: Some(Latency::Fixed(ms(100))),
            count: 200,
            runs: vec![
                run(Mode::Sequential, 1, 20_150, 20_000),
                run(Mode::Concurrent, 200, 108, 100),
            ],
            interrupted: false,
            python: Some(PythonRuns {
                version: version.map(str::to_owned),
                runs: python,
            }),
        }
    }

    fn python(mode: Mode, concurrency: usize, client: &str, wall_ms: Option<u64>) -> PythonRun {
        let ideal = if concurrency == 1 { 20_000 } else { 100 };
        PythonRun {
            mode,
            concurrency,
            client: client.to_owned(),
            wall: wall_ms.map(Duration::from_millis),
            ok: if wall_ms.is_some() { 199 } else { 0 },
            failed: u64::from(wall_ms.is_some()),
            error: None,
            ideal: Some(Duration::from_millis(ideal)),
            timeline: Default::default(),
        }
    }

    #[test]
    fn python_rows_follow_gathers() {
        let mut sequential = python(Mode::Sequential, 1, "requests 2.32.3", Some(20_410));
        sequential.error = Some("comic 7: ConnectionError: reset".to_owned());
        let concurrent = python(Mode::Concurrent, 200, "aiohttp 3.9.5", Some(180));
        let report = report(vec![sequential, concurrent], Some("3.11.7"));
        insta::assert_snapshot!(bench_table(&report));
        insta::assert_json_snapshot!(bench_json(&report)["python"]);
    }

    #[test]
    fn python_rows_say_why_they_did_not_run() {
        let missing = |mode, concurrency| PythonRun {
            error: Some("cannot run python3: No such file or directory (os error 2)".to_owned()),
            ..python(mode, concurrency, "", None)
        };
        let report = report(
            vec![missing(Mode::Sequential, 1), missing(Mode::Concurrent, 200)],
            None,
        );
        insta::assert_snapshot!(bench_table(&report));
    }
}
