//! The fetch summary: a few lines for people, or one JSON object for scripts.

use std::io::{self, Write};
use std::path::Path;

use indicatif::HumanBytes;
use serde_json::{Value, json};

use super::human_duration;
use crate::fetch::{Failure, Summary};

/// `, N unchanged` (304s under `--update`) to follow a saved count; nothing when none.
pub(super) fn unchanged(n: u64) -> String {
    match n {
        0 => String::new(),
        n => format!(", {n} unchanged"),
    }
}

/// The summary for people.
pub fn summary_text(summary: &Summary, out: &Path) -> String {
    let mut text = format!(
        "{} saved{}, {} failed, {} skipped in {}{}\n",
        summary.ok,
        unchanged(summary.unchanged),
        summary.failed,
        summary.skipped,
        human_duration(summary.wall),
        if summary.interrupted {
            format!(" (interrupted; {} in flight dropped)", summary.abandoned)
        } else {
            String::new()
        }
    );
    let received = if summary.received == summary.bytes {
        String::new()
    } else {
        format!(" ({} received)", HumanBytes(summary.received))
    };
    text.push_str(&format!(
        "  saved        {}{received} into {}\n",
        HumanBytes(summary.bytes),
        out.display()
    ));
    if summary.requests > 0 {
        text.push_str(&format!(
            "  requests     {}{} at {}, mean latency {}\n",
            summary.requests,
            match summary.retries {
                0 => String::new(),
                1 => " (1 retry)".to_owned(),
                n => format!(" ({n} retries)"),
            },
            super::progress::rate_text(summary.requests_per_sec()),
            human_duration(summary.latency_sum / summary.requests.try_into().unwrap_or(u32::MAX)),
        ));
        text.push_str(&format!(
            "  concurrency  {:.1} effective (latency sum {} / wall {})\n",
            summary.effective_concurrency(),
            human_duration(summary.latency_sum),
            human_duration(summary.wall),
        ));
    }
    text
}

/// The summary for scripts: `totals` (an object: [`summary_json`] and whatever the caller
/// added), then every failure as `failures`, written to `out` one at a time as `failures`
/// yields them, so that a million failures never sit in memory.
pub fn write_summary_json(
    out: &mut dyn Write,
    totals: &Value,
    failures: impl IntoIterator<Item = Failure>,
) -> io::Result<()> {
    let totals = format!("{totals:#}");
    // The totals' object, open for one more member: `failures`, last.
    let open = totals.strip_suffix('}').unwrap_or(&totals).trim_end();
    write!(out, "{open},\n  \"failures\": [")?;
    let mut first = true;
    for failure in failures {
        let text = serde_json::to_string_pretty(&failure).map_err(io::Error::from)?;
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                out.write_all(b"\n")?;
            }
            write!(out, "    {line}")?;
        }
    }
    out.write_all(if first { b"]\n}\n" } else { b"\n  ]\n}\n" })
}

/// The summary's totals for scripts; [`write_summary_json`] adds the failures.
pub fn summary_json(summary: &Summary, out: &Path) -> Value {
    json!({
        "ok": summary.ok,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "unchanged": summary.unchanged,
        "requests": summary.requests,
        "retries": summary.retries,
        "resent": summary.resent,
        "abandoned": summary.abandoned,
        "interrupted": summary.interrupted,
        "bytes": summary.bytes,
        "received": summary.received,
        "out": out.to_string_lossy(),
        "wall_secs": summary.wall.as_secs_f64(),
        "latency_sum_secs": summary.latency_sum.as_secs_f64(),
        "requests_per_sec": summary.requests_per_sec(),
        "effective_concurrency": summary.effective_concurrency(),
    })
}
