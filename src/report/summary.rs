//! The fetch summary: a few lines for people, or one JSON object for scripts.

use std::path::Path;

use indicatif::HumanBytes;
use serde_json::{Value, json};

use super::human_duration;
use crate::fetch::Summary;

/// The summary for people.
pub fn summary_text(summary: &Summary, out: &Path) -> String {
    let mut text = format!(
        "{} saved, {} failed, {} skipped in {}{}\n",
        summary.ok,
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
            "  requests     {}{} at {:.1}/s, mean latency {}\n",
            summary.requests,
            match summary.retries {
                0 => String::new(),
                1 => " (1 retry)".to_owned(),
                n => format!(" ({n} retries)"),
            },
            summary.requests_per_sec(),
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

/// The summary for scripts, failures included.
pub fn summary_json(summary: &Summary, out: &Path) -> Value {
    json!({
        "ok": summary.ok,
        "failed": summary.failed,
        "skipped": summary.skipped,
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
        "failures": summary.failures,
    })
}
