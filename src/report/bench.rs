//! The bench result as a table, or as JSON.

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::human_duration;
use crate::bench::BenchReport;
use crate::bench::sleep::SleepReport;

/// The table `gather bench` prints: a heading line, then one row per run.
pub fn bench_table(report: &BenchReport) -> String {
    let server = match report.latency {
        Some(latency) => format!("built-in server, {latency} latency"),
        None => "external server".to_owned(),
    };
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "mode",
        "concurrency",
        "wall",
        "req/s",
        "speedup",
        "ideal",
        "saved",
        "failed",
    ]);
    for run in &report.runs {
        table.add_row([
            run.mode.as_str().to_owned(),
            run.concurrency.to_string(),
            human_duration(run.summary.wall),
            format!("{:.1}", run.summary.requests_per_sec()),
            report
                .speedup(run)
                .map_or("-".to_owned(), |s| format!("{s:.1}x")),
            run.ideal.map_or("-".to_owned(), human_duration),
            run.summary.ok.to_string(),
            run.summary.failed.to_string(),
        ]);
    }
    for column in table.column_iter_mut().skip(1) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let mut text = format!(
        "gather bench: {} comics from {} ({server})\n\n{table}\n",
        report.count, report.target
    );
    if report.interrupted {
        text.push_str("interrupted: the table shows the runs that finished\n");
    }
    text
}

/// The bench result for scripts.
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
    json!({
        "target": report.target,
        "builtin_server": report.builtin,
        "latency": report.latency.map(|l| l.to_string()),
        "count": report.count,
        "interrupted": report.interrupted,
        "runs": runs,
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
