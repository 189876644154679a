//! Timelines as Chrome trace-event JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing
//! open: one process per run, one thread (`tid`) per concurrency slot, a complete ("X") event
//! per task (with the CPU time it used and the worker thread or process that ran it, where
//! measured), and a counter ("C") track of the tasks in flight.
//!
//! Events on one track must nest; tasks on one slot never overlap, so they never break that.

use serde_json::{Value, json};

use crate::timeline::Timeline;

/// Whole microseconds: the end of one task and the start of the next on its slot stay equal
/// (float sums could make them overlap by a rounding error).
fn micros(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The trace of `runs`: each a name (e.g. `rust · sleep · async`) and its timeline. `category`
/// is the events' `cat`, e.g. the workload.
pub fn chrome_trace<'a>(runs: impl IntoIterator<Item = (String, &'a str, &'a Timeline)>) -> Value {
    let mut events = Vec::new();
    for (index, (name, category, timeline)) in runs.into_iter().enumerate() {
        let pid = index + 1;
        events.push(json!({
            "name": "process_name", "ph": "M", "pid": pid, "tid": 0,
            "args": {"name": name},
        }));
        events.push(json!({
            "name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0,
            "args": {"sort_index": pid},
        }));
        for slot in 0..timeline.slot_count() {
            events.push(json!({
                "name": "thread_name", "ph": "M", "pid": pid, "tid": slot + 1,
                "args": {"name": format!("slot {}", slot + 1)},
            }));
        }
        for (slot, span) in timeline.slotted() {
            let mut args = json!({"duration_ms": span.duration().as_secs_f64() * 1e3});
            if let Some(first_byte) = span.first_byte {
                args["wait_ms"] = json!(first_byte.saturating_sub(span.start).as_secs_f64() * 1e3);
                args["receive_ms"] = json!(span.end.saturating_sub(first_byte).as_secs_f64() * 1e3);
            }
            if let Some(cpu) = span.cpu {
                args["cpu_ms"] = json!(cpu.as_secs_f64() * 1e3);
            }
            if let Some(worker) = span.worker {
                args["worker"] = json!(worker);
            }
            events.push(json!({
                "name": span.label,
                "cat": category,
                "ph": "X",
                "ts": micros(span.start),
                "dur": micros(span.end) - micros(span.start),
                "pid": pid,
                "tid": slot + 1,
                "args": args,
            }));
        }
        for (t, n) in timeline.in_flight() {
            events.push(json!({
                "name": "tasks in flight", "ph": "C", "ts": micros(t), "pid": pid,
                "args": {"tasks": n},
            }));
        }
    }
    json!({"traceEvents": events, "displayTimeUnit": "ms"})
}

/// Adds a counter track `name` (e.g. `-c auto`'s limit) to the process `pid` (1 for the first
/// run given to [`chrome_trace`]) of `trace`: `points` are (time, value) at each change.
pub fn add_counter(
    trace: &mut Value,
    pid: usize,
    name: &str,
    points: &[(std::time::Duration, usize)],
) {
    let Some(events) = trace["traceEvents"].as_array_mut() else {
        return;
    };
    for (t, value) in points {
        events.push(json!({
            "name": name, "ph": "C", "ts": micros(*t), "pid": pid,
            "args": {"limit": value},
        }));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::timeline::Span;

    #[test]
    fn one_complete_event_per_task_on_its_slot() {
        let ms = Duration::from_millis;
        let span = |start, end| Span {
            label: format!("t{start}"),
            start: ms(start),
            first_byte: None,
            end: ms(end),
            ..Span::default()
        };
        let timeline = Timeline::new(vec![span(0, 10), span(0, 10), span(10, 20)]);
        let trace = chrome_trace([("run".to_owned(), "sleep", &timeline)]);
        let events = trace["traceEvents"].as_array().unwrap();
        let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
        assert_eq!(complete.len(), 3);
        assert_eq!(complete[2]["tid"], 1, "the slot freed at 10 ms is reused");
        assert_eq!(complete[2]["ts"], 10_000);
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "C" && e["args"]["tasks"] == 2)
        );
        let mut trace = trace;
        add_counter(&mut trace, 1, "limit", &[(ms(0), 4), (ms(5), 8)]);
        let events = trace["traceEvents"].as_array().unwrap();
        let limits: Vec<&Value> = events.iter().filter(|e| e["name"] == "limit").collect();
        assert_eq!(limits.len(), 2);
        assert_eq!(
            (
                limits[1]["ts"].as_u64(),
                limits[1]["args"]["limit"].as_u64()
            ),
            (Some(5000), Some(8))
        );
    }
}
