//! The lab's results as a table, or as JSON.

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::human_duration;
use crate::bench::lab::{LabCell, LabReport, PythonStatus};

/// Peak memory for people: `12.3 MB`.
pub fn human_memory(kib: u64) -> String {
    format!("{:.1} MB", kib as f64 * 1024.0 / 1e6)
}

/// What the lab ran, in one line.
pub fn lab_heading(report: &LabReport) -> String {
    let c = &report.config;
    let workloads: Vec<&str> = c.workloads.iter().map(|w| w.as_str()).collect();
    format!(
        "gather bench lab: {} on {} cores; {} tasks (sleep {}, http at {} latency), cpu: primes below {} in {} parts",
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
pub fn python_line(status: &PythonStatus, python_primes_below: u64) -> String {
    match status {
        PythonStatus::NotRequested => "python: not run (add --python)".to_owned(),
        PythonStatus::Missing(why) => format!("python: not run: {why}"),
        PythonStatus::Ran { version, aiohttp } => format!(
            "python: {version}{}; its cpu workload counts primes below {python_primes_below}",
            if *aiohttp {
                ", aiohttp"
            } else {
                ", no aiohttp (its async http row says so)"
            }
        ),
    }
}

/// The measured columns of a cell's row, as the text table and the HTML report show them:
/// wall, speedup, ideal, cpu, cores, mem. A cell that did not run has its error instead.
pub fn cell_columns(report: &LabReport, cell: &LabCell) -> Result<[String; 6], String> {
    if let Some(error) = &cell.error {
        return Err(error.clone());
    }
    let speedup = report
        .speedup(cell)
        .map_or("-".to_owned(), |s| format!("{s:.1}x"));
    let ideal = match (cell.ideal, report.ideal_speedup(cell)) {
        (Some(ideal), Some(x)) => format!("{} ({x:.1}x)", human_duration(ideal)),
        (Some(ideal), None) => human_duration(ideal),
        _ => "-".to_owned(),
    };
    Ok([
        human_duration(cell.wall),
        speedup,
        ideal,
        human_duration(cell.cpu),
        format!("{:.1}", cell.cores_used()),
        human_memory(cell.peak_rss_kib),
    ])
}

/// The table `gather bench lab` prints: a heading, one row per cell, and notes.
pub fn lab_table(report: &LabReport) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "lang", "workload", "model", "run by", "wall", "speedup", "ideal", "cpu", "cores", "mem",
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
    let mut text = format!(
        "{}\n{}\n\n{table}\n",
        lab_heading(report),
        python_line(&report.python, report.config.python_primes_below)
    );
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
    let cells: Vec<Value> = report
        .cells
        .iter()
        .map(|cell| {
            json!({
                "runtime": cell.runtime,
                "workload": cell.workload,
                "model": cell.model,
                "engine": cell.engine,
                "workers": cell.workers,
                "tasks": cell.tasks,
                "wall_secs": cell.ok().then_some(cell.wall.as_secs_f64()),
                "speedup": report.speedup(cell),
                "ideal_secs": cell.ideal.map(|d| d.as_secs_f64()),
                "ideal_speedup": report.ideal_speedup(cell),
                "cpu_secs": cell.ok().then_some(cell.cpu.as_secs_f64()),
                "cores_used": cell.ok().then(|| cell.cores_used()),
                "peak_rss_kib": cell.ok().then_some(cell.peak_rss_kib),
                "error": cell.error,
            })
        })
        .collect();
    let python = match &report.python {
        PythonStatus::NotRequested => json!({"status": "not requested"}),
        PythonStatus::Missing(why) => json!({"status": "missing", "reason": why}),
        PythonStatus::Ran { version, aiohttp } => {
            json!({"status": "ran", "version": version, "aiohttp": aiohttp})
        }
    };
    json!({
        "cores": report.cores,
        "tasks": c.tasks,
        "sleep": c.sleep.to_string(),
        "latency": c.latency.to_string(),
        "primes_below": c.primes_below,
        "python_primes_below": c.python_primes_below,
        "parts": c.parts,
        "python": python,
        "interrupted": report.interrupted,
        "cells": cells,
    })
}
