//! A fetch's requests as a HAR 1.2 log (HTTP Archive), which browser dev tools and HAR viewers
//! show as a waterfall. Timings come from the engine's [`Timing`]: `blocked` from the item's
//! start to its last request going out (rate limits, backoff, earlier failed attempts), `wait`
//! from there to the response's headers, `receive` from there to the end of the body; `time`
//! is their sum. What the engine does not see (DNS, connect, TLS, send) is -1 or 0, as HAR
//! allows.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::fetch::{Outcome, Record, Timing};

/// One request of a fetch, kept for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct HarEntry {
    /// The URL requested.
    pub url: String,
    /// When the run started; the entry's start is this plus `timing.start`.
    pub run_start: SystemTime,
    /// When its phases happened.
    pub timing: Timing,
    /// The status: 200 for a saved item (the engine records only that it was a 2xx), the
    /// server's status for a failed one, 0 when no response came.
    pub status: u16,
    /// Body bytes saved.
    pub bytes: u64,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl HarEntry {
    /// The entry for `record`; `None` for items that sent no request (skipped or rejected).
    pub fn from_record(record: &Record, run_start: SystemTime) -> Option<Self> {
        let (status, bytes, error) = match &record.outcome {
            Outcome::Saved { bytes, .. } => (200, *bytes, None),
            Outcome::Skipped => return None,
            // A rejected input line: never requested.
            Outcome::Failed(_) if record.file.is_none() => return None,
            Outcome::Failed(e) => (e.status().map_or(0, |s| s.as_u16()), 0, Some(e.to_string())),
        };
        Some(Self {
            url: record.url.clone(),
            run_start,
            timing: record.timing,
            status,
            bytes,
            error,
        })
    }
}

/// A duration in whole microseconds, so that rounded timings add up exactly.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds as HAR's milliseconds.
fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

/// The HAR log of `entries`, in the order given.
pub fn har(entries: &[HarEntry]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            let t = e.timing;
            let sent = t.sent.max(t.start);
            // A last attempt that got no response waited until it failed.
            let response = if t.response < sent {
                t.body
            } else {
                t.response
            }
            .max(sent);
            let body = t.body.max(response);
            let blocked = micros(sent - t.start);
            let wait = micros(response - sent);
            let receive = micros(body - response);
            let started = e.run_start + t.start;
            let mut entry = json!({
                "startedDateTime": humantime::format_rfc3339_millis(started).to_string(),
                "time": ms(blocked + wait + receive),
                "request": {
                    "method": "GET",
                    "url": e.url,
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [],
                    "queryString": [],
                    "headersSize": -1,
                    "bodySize": 0,
                },
                "response": {
                    "status": e.status,
                    "statusText": "",
                    "httpVersion": "HTTP/1.1",
                    "cookies": [],
                    "headers": [],
                    "content": {"size": e.bytes, "mimeType": "application/octet-stream"},
                    "redirectURL": "",
                    "headersSize": -1,
                    "bodySize": e.bytes,
                },
                "cache": {},
                "timings": {
                    "blocked": ms(blocked),
                    "dns": -1,
                    "connect": -1,
                    "ssl": -1,
                    "send": 0,
                    "wait": ms(wait),
                    "receive": ms(receive),
                },
            });
            if let Some(error) = &e.error {
                entry["comment"] = json!(error);
            }
            entry
        })
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "gather", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": entries,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_add_up_to_time() {
        let ms_ = Duration::from_millis;
        let entry = HarEntry {
            url: "http://127.0.0.1/1".to_owned(),
            run_start: SystemTime::UNIX_EPOCH,
            timing: Timing {
                start: ms_(10),
                sent: Duration::from_micros(30_400),
                response: ms_(110),
                body: ms_(115),
                end: ms_(116),
            },
            status: 200,
            bytes: 42,
            error: None,
        };
        let log = har(&[entry]);
        let e = &log["log"]["entries"][0];
        assert_eq!(e["startedDateTime"], "1970-01-01T00:00:00.010Z");
        // Throttled or backing off for 20.4 ms before the request that got the answer.
        assert_eq!(e["timings"]["blocked"], 20.4);
        assert_eq!(e["timings"]["wait"], 79.6);
        assert_eq!(e["timings"]["receive"], 5.0);
        assert_eq!(e["time"], 105.0);
        assert_eq!(e["timings"]["connect"], -1);
    }

    #[test]
    fn time_is_the_sum_of_the_timings_however_they_round() {
        let us = Duration::from_micros;
        let nanos = Duration::from_nanos;
        let cases = [
            // A failed last attempt: no response after the request went out.
            (us(0), us(500), us(0), us(1_500)),
            (nanos(1_499), nanos(2_501), nanos(3_499), nanos(10_501)),
            (us(7), us(7), us(9), us(9)),
        ];
        for (start, sent, response, body) in cases {
            let entry = HarEntry {
                url: "http://127.0.0.1/1".to_owned(),
                run_start: SystemTime::UNIX_EPOCH,
                timing: Timing {
                    start,
                    sent,
                    response,
                    body,
                    end: body,
                },
                status: 0,
                bytes: 0,
                error: None,
            };
            let log = har(&[entry]);
            let e = &log["log"]["entries"][0];
            let timings = &e["timings"];
            let parts =
                ["blocked", "send", "wait", "receive"].map(|k| timings[k].as_f64().unwrap());
            assert!(parts.iter().all(|&p| p >= 0.0), "{timings}");
            let sum: f64 = parts.iter().sum();
            let time = e["time"].as_f64().unwrap();
            assert!((time - sum).abs() < 1e-9, "time {time} != {sum}: {timings}");
        }
    }
}
