//! The lab's results as a table, or as JSON.

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::human_duration;
use crate::bench::lab::{
    AUTO_REPEAT, AUTO_REPEAT_BELOW, LabCell, LabReport, PythonStatus, Workload,
};

/// Peak memory for people: `12.3 MB`.
pub fn human_memory(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

/// What the lab ran, in one line.
pub fn lab_heading(report: &LabReport) -> String {
    let c = &report.config;
    let workloads: Vec<&str> = c.workloads.iter().map(|w| w.as_str()).collect();
    let runs = match c.repeat {
        Some(n) => format!("{n} runs per cell"),
        None => format!(
            "{AUTO_REPEAT} runs per cell under {} s, else 1",
            AUTO_REPEAT_BELOW.as_secs()
        ),
    };
    format!(
        "gather bench lab: {} on {} cores; {} tasks (sleep {}, http at {} latency), cpu: primes below {} in {} parts in every language; {runs}",
        workloads.join(", "),
        report.cores,
        c.tasks,
        c.sleep,
        c.latency,
        c.primes_below,
        c.parts,
    )
}

/// What happened to Python, in one line.
pub fn python_line(status: &PythonStatus, primes_below: u64) -> String {
    match status {
        PythonStatus::NotRequested => "python: not run (add it to --langs)".to_owned(),
        PythonStatus::Missing(why) => format!("python: not run: {why}"),
        PythonStatus::Ran {
            version,
            aiohttp,
            gil,
            start_method,
            ..
        } => format!(
            "python: {version}{}{}, multiprocessing start method {start_method}; its cpu workload counts primes below {primes_below}, as every language's does",
            if *gil { "" } else { " (no GIL)" },
            if *aiohttp {
                ", aiohttp"
            } else {
                ", no aiohttp (its async http row says so)"
            }
        ),
    }
}

/// Each language of the run, in one line: its version and build, or why it was skipped.
pub fn langs_line(report: &LabReport) -> String {
    let ran: Vec<String> = report
        .langs
        .iter()
        .filter(|l| l.skipped.is_none())
        .map(|l| {
            let mut text = format!(
                "{} ({}",
                l.runtime.as_str(),
                l.version.as_deref().unwrap_or("?")
            );
            if let Some(build) = &l.build {
                text.push_str(&format!("; built with {build}"));
            }
            text.push(')');
            text
        })
        .collect();
    let mut line = format!("languages: {}", ran.join(", "));
    for lang in &report.langs {
        if let Some(why) = &lang.skipped {
            line.push_str(&format!("\nskipped: {}: {why}", lang.runtime.as_str()));
        }
    }
    line
}

/// A cell's wall time with its spread: `101 ms (99–104 ms)`, or just the time for one run.
pub fn wall_with_spread(cell: &LabCell) -> String {
    if cell.walls.len() < 2 {
        return human_duration(cell.wall);
    }
    format!(
        "{} ({}–{})",
        human_duration(cell.wall),
        human_duration(cell.wall_min),
        human_duration(cell.wall_max)
    )
}

/// The measured columns of a cell's row, as the text table and the HTML report show them:
/// wall (median, with min–max), speedup (`~` when within noise), ideal, cpu, cores, mem. A
/// cell that did not run has its error instead.
pub fn cell_columns(report: &LabReport, cell: &LabCell) -> Result<[String; 6], String> {
    if let Some(error) = &cell.error {
        return Err(error.clone());
    }
    let noise = if report.speedup_within_noise(cell) {
        " ~"
    } else {
        ""
    };
    let speedup = report
        .speedup(cell)
        .map_or("-".to_owned(), |s| format!("{s:.1}x{noise}"));
    let ideal = match (cell.ideal, report.ideal_speedup(cell)) {
        (Some(ideal), Some(x)) => format!("{} ({x:.1}x)", human_duration(ideal)),
        (Some(ideal), None) => human_duration(ideal),
        _ => "-".to_owned(),
    };
    Ok([
        wall_with_spread(cell),
        speedup,
        ideal,
        human_duration(cell.cpu),
        format!("{:.1}", cell.cores_used()),
        human_memory(cell.peak_rss_kib),
    ])
}

/// Bytes for people: `2.6 KB`, `312 B`.
fn human_bytes(bytes: f64) -> String {
    if bytes >= 1000.0 {
        format!("{:.1} KB", bytes / 1000.0)
    } else {
        format!("{bytes:.0} B")
    }
}

/// The spawn rows as a table: one row per language and model.
pub fn spawn_table(report: &LabReport) -> Option<String> {
    if report.spawn.is_empty() {
        return None;
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "lang", "model", "run by", "tasks", "wall", "baseline", "peak mem", "per task",
    ]);
    for row in &report.spawn {
        let mut cells = vec![
            row.runtime.as_str().to_owned(),
            row.model.as_str().to_owned(),
            row.engine.clone(),
            row.tasks.to_string(),
        ];
        match (&row.error, row.bytes_per_task()) {
            (None, Some(per_task)) => cells.extend([
                human_duration(row.wall),
                human_memory(row.baseline_rss_kib),
                human_memory(row.peak_rss_kib),
                human_bytes(per_task),
            ]),
            (error, _) => {
                cells.extend(["-", "-", "-"].map(str::to_owned));
                cells.push(error.clone().unwrap_or_default());
            }
        }
        table.add_row(cells);
    }
    for column in table.column_iter_mut().skip(3) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    Some(format!(
        "spawn: sleeps of {} started at once; per task = (peak - baseline) / tasks\n{table}\n",
        super::human_duration(report.config.spawn_sleep)
    ))
}

/// The table `gather bench lab` prints: a heading, one row per cell, and notes.
pub fn lab_table(report: &LabReport) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "lang",
        "workload",
        "model",
        "run by",
        "wall (min–max)",
        "speedup",
        "ideal",
        "cpu",
        "cores",
        "mem",
    ]);
    let mut notes = Vec::new();
    for cell in &report.cells {
        let mut row = vec![
            cell.runtime.as_str().to_owned(),
            cell.workload.as_str().to_owned(),
            cell.model.as_str().to_owned(),
            cell.engine.clone(),
        ];
        match cell_columns(report, cell) {
            Ok(columns) => row.extend(columns),
            Err(error) => {
                row.extend(["-", "-", "-", "-", "-", "-"].map(str::to_owned));
                notes.push(format!(
                    "{} {} {}: {error}",
                    cell.runtime.as_str(),
                    cell.workload.as_str(),
                    cell.model.as_str()
                ));
            }
        }
        table.add_row(row);
    }
    for column in table.column_iter_mut().skip(4) {
        column.set_cell_alignment(CellAlignment::Right);
    }
    let mut text = format!("{}\n{}\n", lab_heading(report), langs_line(report));
    if matches!(report.python, PythonStatus::Ran { .. }) {
        text.push_str(&python_line(&report.python, report.config.primes_below));
        text.push('\n');
    }
    if !report.cells.is_empty() {
        text.push_str(&format!("\n{table}\n"));
        text.push_str(
            "wall: median of the runs (fastest–slowest); speedup: sequential median / this median, ~ where their runs overlap (within noise); cpu: user+system of the cell's processes; cores: cpu / wall; mem: peak RSS summed over its processes\n",
        );
    }
    if let Some(spawn) = spawn_table(report) {
        text.push('\n');
        text.push_str(&spawn);
    }
    for note in notes {
        text.push_str(&format!("note: {note}\n"));
    }
    if report.interrupted {
        text.push_str("interrupted: the table shows the cells that finished\n");
    }
    text
}

/// The lab's results for scripts.
pub fn lab_json(report: &LabReport) -> Value {
    let c = &report.config;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    let cells: Vec<Value> = report
        .cells
        .iter()
        .map(|cell| {
            let ok = cell.ok();
            json!({
                "runtime": cell.runtime,
                "workload": cell.workload,
                "model": cell.model,
                "engine": cell.engine,
                "workers": cell.workers,
                "tasks": cell.tasks,
                "runs": cell.walls.len(),
                "wall_secs": ok.then(|| secs(cell.wall)),
                "wall_min_secs": ok.then(|| secs(cell.wall_min)),
                "wall_max_secs": ok.then(|| secs(cell.wall_max)),
                "walls_secs": ok.then(|| cell.walls.iter().map(|&d| secs(d)).collect::<Vec<_>>()),
                "speedup": report.speedup(cell),
                "speedup_within_noise": ok.then(|| report.speedup_within_noise(cell)),
                "ideal_secs": cell.ideal.map(secs),
                "ideal_from": cell.ideal.map(|_| match cell.workload {
                    Workload::Cpu => "sequential run",
                    _ => "configuration",
                }),
                "ideal_speedup": report.ideal_speedup(cell),
                "cpu_secs": ok.then(|| secs(cell.cpu)),
                "cores_used": ok.then(|| cell.cores_used()),
                "peak_rss_kib": ok.then_some(cell.peak_rss_kib),
                "answer": cell.answer,
                "error": cell.error,
            })
        })
        .collect();
    let spawn: Vec<Value> = report
        .spawn
        .iter()
        .map(|row| {
            let ok = row.error.is_none();
            json!({
                "runtime": row.runtime,
                "model": row.model,
                "engine": row.engine,
                "tasks": row.tasks,
                "wall_secs": ok.then(|| secs(row.wall)),
                "baseline_rss_kib": ok.then_some(row.baseline_rss_kib),
                "peak_rss_kib": ok.then_some(row.peak_rss_kib),
                "bytes_per_task": row.bytes_per_task(),
                "error": row.error,
            })
        })
        .collect();
    let langs: Vec<Value> = report
        .langs
        .iter()
        .map(|l| {
            json!({
                "runtime": l.runtime,
                "version": l.version,
                "build": l.build,
                "skipped": l.skipped,
            })
        })
        .collect();
    let python = match &report.python {
        PythonStatus::NotRequested => json!({"status": "not requested"}),
        PythonStatus::Missing(why) => json!({"status": "missing", "reason": why}),
        PythonStatus::Ran {
            version,
            aiohttp,
            gil,
            start_method,
            interpreter,
        } => json!({
            "status": "ran",
            "version": version,
            "aiohttp": aiohttp,
            "gil": gil,
            "start_method": start_method,
            "interpreter": interpreter,
        }),
    };
    json!({
        "cores": report.cores,
        "tasks": c.tasks,
        "sleep": c.sleep.to_string(),
        "latency": c.latency.to_string(),
        "primes_below": c.primes_below,
        "parts": c.parts,
        "repeat": c.repeat,
        "spawn_tasks": c.spawn,
        "langs": langs,
        "python": python,
        "interrupted": report.interrupted,
        "cells": cells,
        "spawn": spawn,
        "columns": {
            "wall_secs": "median wall time of the cell's runs (wall_min_secs..wall_max_secs the fastest and slowest)",
            "speedup": "the same language's sequential median over this median; speedup_within_noise: their runs' ranges overlap",
            "ideal_secs": "the zero-overhead wall time: from the configuration (sleep, http) or from the same language's sequential run's per-task times (cpu)",
            "cpu_secs": "user + system CPU time of the cell's processes (the worker and any processes it started)",
            "cores_used": "cpu_secs / wall_secs",
            "peak_rss_kib": "peak resident memory of the cell's processes, summed: pages they share count once per process",
            "bytes_per_task": "(peak_rss_kib - baseline_rss_kib) * 1024 / tasks",
        },
    })
}
