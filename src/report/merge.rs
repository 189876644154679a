//! `gather summary merge`: the `--json` summaries of one job's shards added up into one: the
//! totals, every failure (with its shard), the wall span from the first start to the last
//! finish, and the shards that were interrupted, given twice or missing.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use indicatif::HumanBytes;
use serde_json::{Value, json};

use super::human_duration;
use super::summary::unchanged;

/// Why the summaries could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file is not a fetch summary.
    #[error("{file}: not a `gather fetch --json` summary ({what})")]
    NotASummary {
        /// The file.
        file: String,
        /// What is missing or wrong.
        what: String,
    },
    /// The shards do not belong to one job.
    #[error("{0}")]
    Mismatch(String),
}

/// The counters every summary has and the merge adds up.
const COUNTS: [&str; 7] = [
    "ok",
    "failed",
    "skipped",
    "requests",
    "retries",
    "abandoned",
    "bytes",
];

/// Counters that summaries from before they existed lack, read there as 0: `unchanged` (304s
/// under `--update`; without `--update` there are none), `resent` (requests sent again at once
/// after a stale keep-alive connection) and `received` (body bytes as they came, encoded).
const COUNTS_SINCE: [&str; 3] = ["unchanged", "resent", "received"];

/// One shard's summary, as read.
#[derive(Debug, Clone)]
struct Part {
    file: String,
    shard: Option<(u64, u64)>,
    value: Value,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
}

/// The merged summary of a job's shards.
#[derive(Debug, Clone)]
pub struct Merged {
    parts: Vec<Part>,
    totals: BTreeMap<&'static str, u64>,
    failures: Vec<Value>,
    /// How many shards the job has, when the summaries say.
    of: Option<u64>,
}

impl Merged {
    /// Shards of the job that no summary covers.
    pub fn missing(&self) -> Vec<u64> {
        let Some(of) = self.of else {
            return Vec::new();
        };
        (1..=of)
            .filter(|k| {
                !self
                    .parts
                    .iter()
                    .any(|p| p.shard.is_some_and(|(pk, _)| pk == *k))
            })
            .collect()
    }

    /// Shards given more than once (a re-run's summary beside the first one's): only the first
    /// summary given of each counts in the totals and failures.
    pub fn repeated(&self) -> Vec<u64> {
        let mut seen = BTreeMap::<u64, usize>::new();
        for (k, _) in self.parts.iter().filter_map(|p| p.shard) {
            *seen.entry(k).or_default() += 1;
        }
        seen.into_iter()
            .filter(|&(_, n)| n > 1)
            .map(|(k, _)| k)
            .collect()
    }

    /// The summaries of shards that were interrupted.
    fn interrupted(&self) -> Vec<&Part> {
        self.parts
            .iter()
            .filter(|p| p.value["interrupted"] == true)
            .collect()
    }

    /// From the first shard's start to the last one's finish, when every summary has both.
    pub fn span(&self) -> Option<Duration> {
        let start = self.parts.iter().map(|p| p.started).min()??;
        let end = self.parts.iter().map(|p| p.finished).max()??;
        if self
            .parts
            .iter()
            .any(|p| p.started.is_none() || p.finished.is_none())
        {
            return None;
        }
        end.duration_since(start).ok()
    }

    /// The sum of the shards' wall times: the job's cost in machine time.
    fn wall_sum(&self) -> f64 {
        self.parts
            .iter()
            .filter_map(|p| p.value["wall_secs"].as_f64())
            .sum()
    }

    /// Whether the job is whole: every shard there once, none interrupted, no item failed.
    pub fn complete(&self) -> bool {
        self.missing().is_empty()
            && self.repeated().is_empty()
            && self.interrupted().is_empty()
            && self.totals.get("failed").copied().unwrap_or(0) == 0
    }

    /// A total (`ok`, `failed`, …).
    pub fn total(&self, name: &str) -> u64 {
        self.totals.get(name).copied().unwrap_or(0)
    }
}

/// Merges `summaries`, each a file name and its parsed JSON.
pub fn merge(summaries: Vec<(String, Value)>) -> Result<Merged, MergeError> {
    let mut parts = Vec::new();
    let mut totals = BTreeMap::new();
    let mut failures = Vec::new();
    let mut of = None;
    for (file, value) in summaries {
        let not_a_summary = |what: &str| MergeError::NotASummary {
            file: file.clone(),
            what: what.to_owned(),
        };
        let mut counts = Vec::with_capacity(COUNTS.len() + COUNTS_SINCE.len());
        for name in COUNTS {
            let n = value[name]
                .as_u64()
                .ok_or_else(|| not_a_summary(&format!("no `{name}` count")))?;
            counts.push((name, n));
        }
        for name in COUNTS_SINCE {
            let n = match &value[name] {
                Value::Null => 0,
                count => count
                    .as_u64()
                    .ok_or_else(|| not_a_summary(&format!("a `{name}` count of {count}")))?,
            };
            counts.push((name, n));
        }
        let shard = match &value["shard"] {
            Value::Null => None,
            Value::String(text) => {
                let parsed = text
                    .split_once('/')
                    .and_then(|(k, n)| Some((k.parse().ok()?, n.parse().ok()?)));
                Some(parsed.ok_or_else(|| not_a_summary(&format!("shard `{text}`")))?)
            }
            _ => return Err(not_a_summary("a `shard` that is not K/N")),
        };
        if let Some((_, n)) = shard {
            match of {
                Some(m) if m != n => {
                    return Err(MergeError::Mismatch(format!(
                        "{file} is a shard of {n}, the others of {m}: not one job"
                    )));
                }
                _ => of = Some(n),
            }
        }
        let time = |key: &str| {
            value[key]
                .as_str()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        };
        let (started, finished) = (time("started_at"), time("finished_at"));
        // A shard given again (the same file twice, or a re-run's summary beside the first
        // one's) is listed and flagged as repeated, but only the first one given counts: its
        // items are the same items, and adding both would count them twice.
        let repeat = shard.is_some_and(|(k, _)| {
            parts
                .iter()
                .any(|p: &Part| p.shard.is_some_and(|(pk, _)| pk == k))
        });
        if !repeat {
            for (name, n) in counts {
                *totals.entry(name).or_insert(0) += n;
            }
            for failure in value["failures"].as_array().into_iter().flatten() {
                let mut failure = failure.clone();
                failure["shard"] = value["shard"].clone();
                failures.push(failure);
            }
        }
        parts.push(Part {
            file,
            shard,
            value,
            started,
            finished,
        });
    }
    parts.sort_by_key(|p| p.shard);
    Ok(Merged {
        parts,
        totals,
        failures,
        of,
    })
}

fn shard_name(part: &Part) -> String {
    part.shard
        .map_or_else(|| part.file.clone(), |(k, n)| format!("{k}/{n}"))
}

/// `1 summary`, `2 summaries`.
fn counted(count: u64, one: &str, many: &str) -> String {
    match count {
        1 => format!("1 {one}"),
        n => format!("{n} {many}"),
    }
}

/// The merged summary for people.
pub fn merged_text(merged: &Merged) -> String {
    let shards = match merged.of {
        Some(of) => format!(
            "{} of {}",
            counted(merged.parts.len() as u64, "summary", "summaries"),
            counted(of, "shard", "shards")
        ),
        None => counted(merged.parts.len() as u64, "summary", "summaries"),
    };
    let mut text = format!(
        "{shards}: {} saved{}, {} failed, {} skipped, {} in all\n",
        merged.total("ok"),
        unchanged(merged.total("unchanged")),
        merged.total("failed"),
        merged.total("skipped"),
        HumanBytes(merged.total("bytes")),
    );
    if let Some(span) = merged.span() {
        text.push_str(&format!(
            "  wall span    {} from the first start to the last finish ({} of shard time)\n",
            human_duration(span),
            human_duration(Duration::from_secs_f64(merged.wall_sum())),
        ));
    }
    for part in &merged.parts {
        let v = &part.value;
        text.push_str(&format!(
            "  shard {:<6} {} saved{}, {} failed, {} skipped in {}{}\n",
            shard_name(part),
            v["ok"],
            unchanged(v["unchanged"].as_u64().unwrap_or(0)),
            v["failed"],
            v["skipped"],
            human_duration(Duration::from_secs_f64(
                v["wall_secs"].as_f64().unwrap_or(0.0)
            )),
            if v["interrupted"] == true {
                " (interrupted)"
            } else {
                ""
            }
        ));
    }
    let list = |ks: &[u64]| {
        ks.iter()
            .map(|k| format!("{k}/{}", merged.of.unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !merged.missing().is_empty() {
        text.push_str(&format!("missing: {}\n", list(&merged.missing())));
    }
    if !merged.repeated().is_empty() {
        text.push_str(&format!(
            "given more than once: {} (counted once, as first given)\n",
            list(&merged.repeated())
        ));
    }
    let interrupted: Vec<String> = merged.interrupted().into_iter().map(shard_name).collect();
    if !interrupted.is_empty() {
        text.push_str(&format!("interrupted: {}\n", interrupted.join(", ")));
    }
    for failure in &merged.failures {
        text.push_str(&format!(
            "failed: {} (shard {}): {}\n",
            failure["url"].as_str().unwrap_or("?"),
            failure["shard"].as_str().unwrap_or("-"),
            failure["reason"].as_str().unwrap_or("?"),
        ));
    }
    text
}

/// The merged summary for scripts.
pub fn merged_json(merged: &Merged) -> Value {
    let mut value = json!({});
    for (name, total) in &merged.totals {
        value[*name] = json!(total);
    }
    value["shards"] = json!(merged.of);
    value["summaries"] = merged
        .parts
        .iter()
        .map(|p| {
            json!({
                "file": p.file,
                "shard": p.value["shard"],
                "ok": p.value["ok"],
                "unchanged": p.value["unchanged"].as_u64().unwrap_or(0),
                "failed": p.value["failed"],
                "interrupted": p.value["interrupted"],
                "wall_secs": p.value["wall_secs"],
            })
        })
        .collect();
    value["missing"] = json!(merged.missing());
    value["repeated"] = json!(merged.repeated());
    value["interrupted"] = merged
        .interrupted()
        .into_iter()
        .map(shard_name)
        .collect::<Vec<_>>()
        .into();
    value["span_secs"] = json!(merged.span().map(|d| d.as_secs_f64()));
    value["wall_sum_secs"] = json!(merged.wall_sum());
    value["complete"] = json!(merged.complete());
    value["failures"] = json!(merged.failures);
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(shard: Option<&str>, ok: u64, failed: u64, start: &str, end: &str) -> Value {
        json!({
            "ok": ok, "failed": failed, "skipped": 0, "requests": ok + failed, "retries": 0,
            "abandoned": 0, "bytes": ok * 100, "interrupted": false, "wall_secs": 1.0,
            "shard": shard, "started_at": start, "finished_at": end,
            "failures": (0..failed).map(|i| json!({"url": format!("http://h/{i}"), "reason": "HTTP 404"})).collect::<Vec<_>>(),
        })
    }

    #[test]
    fn shards_add_up_and_gaps_show() {
        let merged = merge(vec![
            (
                "a".into(),
                summary(
                    Some("1/3"),
                    10,
                    0,
                    "2026-01-01T00:00:00Z",
                    "2026-01-01T00:00:02Z",
                ),
            ),
            (
                "c".into(),
                summary(
                    Some("3/3"),
                    9,
                    1,
                    "2026-01-01T00:00:01Z",
                    "2026-01-01T00:00:05Z",
                ),
            ),
        ])
        .unwrap();
        assert_eq!((merged.total("ok"), merged.total("failed")), (19, 1));
        assert_eq!(merged.missing(), vec![2]);
        assert_eq!(merged.span(), Some(Duration::from_secs(5)));
        assert!(!merged.complete());
        let value = merged_json(&merged);
        assert_eq!(value["failures"][0]["shard"], "3/3");
        let text = merged_text(&merged);
        assert!(text.contains("missing: 2/3"), "{text}");
    }

    #[test]
    fn one_summary_is_one_summary() {
        let merged = merge(vec![("a".into(), summary(Some("1/1"), 3, 0, "", ""))]).unwrap();
        let text = merged_text(&merged);
        assert!(text.starts_with("1 summary of 1 shard: 3 saved"), "{text}");
    }

    #[test]
    fn newer_counts_add_up_and_older_summaries_count_none() {
        let mut updated = summary(Some("1/2"), 3, 0, "", "");
        updated["unchanged"] = json!(7);
        updated["resent"] = json!(2);
        updated["received"] = json!(900);
        // Written before `--update` existed: no `unchanged` at all.
        let older = summary(Some("2/2"), 5, 0, "", "");
        assert!(older.get("unchanged").is_none());
        let merged = merge(vec![("a".into(), updated), ("b".into(), older)]).unwrap();
        assert_eq!((merged.total("ok"), merged.total("unchanged")), (8, 7));
        assert_eq!((merged.total("resent"), merged.total("received")), (2, 900));
        assert!(merged.complete());
        let value = merged_json(&merged);
        assert_eq!(value["unchanged"], 7);
        assert_eq!(value["summaries"][0]["unchanged"], 7);
        assert_eq!(value["summaries"][1]["unchanged"], 0);
        let text = merged_text(&merged);
        assert!(
            text.starts_with("2 summaries of 2 shards: 8 saved, 7 unchanged, 0 failed"),
            "{text}"
        );
        assert!(
            text.contains("shard 1/2    3 saved, 7 unchanged, 0 failed"),
            "{text}"
        );
        assert!(text.contains("shard 2/2    5 saved, 0 failed"), "{text}");
    }

    #[test]
    fn shards_of_other_jobs_or_other_files_are_refused() {
        let one = summary(Some("1/2"), 1, 0, "", "");
        let other = summary(Some("1/3"), 1, 0, "", "");
        assert!(matches!(
            merge(vec![("a".into(), one.clone()), ("b".into(), other)]),
            Err(MergeError::Mismatch(_))
        ));
        assert!(matches!(
            merge(vec![("x".into(), json!({"hello": 1}))]),
            Err(MergeError::NotASummary { .. })
        ));
        let mut bad = summary(Some("2/2"), 1, 0, "", "");
        bad["unchanged"] = json!("7");
        assert!(matches!(
            merge(vec![("b".into(), bad)]),
            Err(MergeError::NotASummary { .. })
        ));
        let twice = merge(vec![("a".into(), one.clone()), ("b".into(), one)]).unwrap();
        assert_eq!(twice.repeated(), vec![1]);
    }

    #[test]
    fn a_shard_given_twice_counts_once_and_is_flagged() {
        let first = summary(Some("1/3"), 9, 1, "", "");
        let rerun = summary(Some("1/3"), 10, 0, "", "");
        let third = summary(Some("3/3"), 5, 2, "", "");
        for (given, ok, failed) in [
            // `merge res_1.json res_1.json res_3.json`: the same file twice.
            (vec![first.clone(), first.clone(), third.clone()], 14, 3),
            // A re-run's summary after the first one's: the first given counts.
            (vec![first.clone(), third.clone(), rerun.clone()], 14, 3),
            (vec![rerun, first, third], 15, 2),
        ] {
            let files = given.into_iter().enumerate();
            let merged = merge(files.map(|(i, v)| (format!("res_{i}.json"), v)).collect()).unwrap();
            assert_eq!((merged.total("ok"), merged.total("failed")), (ok, failed));
            assert_eq!(merged.total("requests"), ok + failed);
            assert_eq!(merged.total("bytes"), ok * 100);
            assert_eq!(merged.repeated(), vec![1]);
            assert!(!merged.complete());
            let value = merged_json(&merged);
            assert_eq!(value["failures"].as_array().unwrap().len() as u64, failed);
            assert_eq!(
                value["summaries"].as_array().unwrap().len(),
                3,
                "all listed"
            );
            let text = merged_text(&merged);
            assert!(
                text.starts_with(&format!(
                    "3 summaries of 3 shards: {ok} saved, {failed} failed"
                )),
                "{text}"
            );
            assert!(text.contains("given more than once: 1/3"), "{text}");
        }
    }
}
