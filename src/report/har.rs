//! A fetch's requests as a HAR 1.2 log (HTTP Archive), which browser dev tools and HAR viewers
//! show as a waterfall: one entry per request (each redirect hop, each retry, each resend after
//! a stale connection), with its real HTTP version, headers (secret values masked), content
//! type and sizes. Timings: `blocked` from when the request could have gone (the item's start,
//! or the end of its previous request: rate limits, backoff) to when it went, `connect` the
//! opening of the connection it opened (DNS, TCP and TLS together, as reqwest's connector does
//! them; -1 on a reused connection), `wait` from the request to the response's headers,
//! `receive` from there to the end of the body; `time` is their sum. DNS, TLS apart and send
//! are not seen: -1 or 0, as HAR allows.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::fetch::{Exchange, Record};

/// One request of a fetch, kept for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct HarEntry {
    /// When the run started; the entry's times are offsets from it.
    pub run_start: SystemTime,
    /// When the request could have been sent: the item's start for its first request, the end
    /// of the previous one for the others.
    pub ready: Duration,
    /// The request and what came back.
    pub exchange: Exchange,
}

impl HarEntry {
    /// The entries of `record`'s requests, in the order they were sent; none for items that
    /// sent no request (skipped or rejected) or whose requests were not kept.
    pub fn from_record(record: &Record, run_start: SystemTime) -> Vec<Self> {
        let mut ready = record.timing.start;
        record
            .exchanges
            .iter()
            .map(|exchange| {
                let entry = Self {
                    run_start,
                    ready,
                    exchange: exchange.clone(),
                };
                ready = exchange.end;
                entry
            })
            .collect()
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

/// Headers as HAR's name and value objects.
fn headers(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect()
}

/// The HAR log of `entries`, in the order given.
pub fn har(entries: &[HarEntry]) -> Value {
    let entries: Vec<Value> = entries.iter().map(entry).collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "gather", "version": env!("CARGO_PKG_VERSION")},
            "pages": [],
            "entries": entries,
        }
    })
}

fn entry(e: &HarEntry) -> Value {
    let x = &e.exchange;
    let sent = x.sent.max(e.ready);
    // A request that got no response waited until it failed.
    let response = x.response.unwrap_or(x.end).max(sent);
    let end = x.end.max(response);
    let blocked = micros(sent - e.ready);
    let waited = micros(response - sent);
    let connect = x.connect.map_or(0, micros).min(waited);
    let wait = waited - connect;
    let receive = micros(end - response);
    let version = x.version.clone().unwrap_or_default();
    let status_text = http::StatusCode::from_u16(x.status)
        .ok()
        .and_then(|status| status.canonical_reason())
        .unwrap_or("");
    let mut entry = json!({
        "startedDateTime": humantime::format_rfc3339_millis(e.run_start + e.ready).to_string(),
        "time": ms(blocked + connect + wait + receive),
        "request": {
            "method": "GET",
            "url": x.url,
            "httpVersion": version,
            "cookies": [],
            "headers": headers(&x.request_headers),
            "queryString": [],
            "headersSize": -1,
            "bodySize": 0,
        },
        "response": {
            "status": x.status,
            "statusText": status_text,
            "httpVersion": version,
            "cookies": [],
            "headers": headers(&x.response_headers),
            "content": {
                "size": x.size,
                "mimeType": x.mime_type.as_deref().unwrap_or("x-unknown"),
            },
            "redirectURL": x.redirect_url.as_deref().unwrap_or(""),
            "headersSize": -1,
            "bodySize": if x.response.is_some() { json!(x.received) } else { json!(-1) },
        },
        "cache": {},
        "timings": {
            "blocked": ms(blocked),
            "dns": -1,
            "connect": x.connect.map_or(json!(-1), |_| json!(ms(connect))),
            "ssl": -1,
            "send": 0,
            "wait": ms(wait),
            "receive": ms(receive),
        },
    });
    if let Some(error) = &x.error {
        entry["comment"] = json!(error);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_of(ready: Duration, exchange: Exchange) -> Value {
        let log = har(&[HarEntry {
            run_start: SystemTime::UNIX_EPOCH,
            ready,
            exchange,
        }]);
        log["log"]["entries"][0].clone()
    }

    #[test]
    fn timings_add_up_to_time() {
        let ms_ = Duration::from_millis;
        let e = entry_of(
            ms_(10),
            Exchange {
                url: "http://127.0.0.1/1".to_owned(),
                sent: Duration::from_micros(30_400),
                connect: Some(ms_(4)),
                response: Some(ms_(110)),
                end: ms_(115),
                status: 200,
                version: Some("HTTP/2.0".to_owned()),
                mime_type: Some("application/json".to_owned()),
                response_headers: vec![("set-cookie".to_owned(), "***".to_owned())],
                size: 42,
                received: 20,
                ..Exchange::default()
            },
        );
        assert_eq!(e["startedDateTime"], "1970-01-01T00:00:00.010Z");
        // Throttled or backing off for 20.4 ms before the request went.
        assert_eq!(e["timings"]["blocked"], 20.4);
        assert_eq!(e["timings"]["connect"], 4.0);
        assert_eq!(e["timings"]["wait"], 75.6);
        assert_eq!(e["timings"]["receive"], 5.0);
        assert_eq!(e["time"], 105.0);
        assert_eq!(e["response"]["httpVersion"], "HTTP/2.0");
        assert_eq!(e["response"]["statusText"], "OK");
        assert_eq!(e["response"]["content"]["mimeType"], "application/json");
        assert_eq!(
            (
                e["response"]["content"]["size"].as_u64(),
                e["response"]["bodySize"].as_u64()
            ),
            (Some(42), Some(20))
        );
        assert_eq!(e["response"]["headers"][0]["value"], "***");
    }

    #[test]
    fn time_is_the_sum_of_the_timings_however_they_round() {
        let us = Duration::from_micros;
        let nanos = Duration::from_nanos;
        let cases = [
            // A request that failed with no response.
            (us(0), us(500), None, None, us(1_500)),
            (
                nanos(1_499),
                nanos(2_501),
                Some(nanos(700)),
                Some(nanos(3_499)),
                nanos(10_501),
            ),
            (us(7), us(7), Some(us(9)), Some(us(9)), us(9)),
        ];
        for (ready, sent, connect, response, end) in cases {
            let e = entry_of(
                ready,
                Exchange {
                    sent,
                    connect,
                    response,
                    end,
                    ..Exchange::default()
                },
            );
            let timings = &e["timings"];
            let parts = ["blocked", "connect", "send", "wait", "receive"]
                .map(|k| timings[k].as_f64().unwrap().max(0.0));
            assert!(
                ["blocked", "send", "wait", "receive"]
                    .iter()
                    .all(|k| timings[k].as_f64().unwrap() >= 0.0),
                "{timings}"
            );
            let sum: f64 = parts.iter().sum();
            let time = e["time"].as_f64().unwrap();
            assert!((time - sum).abs() < 1e-9, "time {time} != {sum}: {timings}");
        }
    }
}
