//! `bench sweep`'s results as a table, as JSON and as a chart, and `-c auto`'s course for the
//! fetch summary.

use comfy_table::{CellAlignment, Table, presets};
use serde_json::{Value, json};

use super::charts::{self, ChartError, Curve, Frame, Panel};
use super::human_duration;
use crate::bench::sweep::{Level, SweepReport, SweepRow};
use crate::fetch::Control;

fn level_name(level: Level) -> String {
    match level {
        Level::Fixed(n) => n.to_string(),
        Level::Auto(_) => "auto".to_owned(),
    }
}

fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// What the sweep ran against, in a line.
pub(crate) fn server_line(report: &SweepReport) -> String {
    let Some(server) = &report.server else {
        return "external server".to_owned();
    };
    let mut parts = vec![format!("{} latency", server.latency)];
    match server.capacity {
        Some(capacity) => {
            parts.push(format!("capacity {}", capacity.workers));
            if let Some(limit) = capacity.queue_limit {
                parts.push(format!("queue limit {limit}"));
            }
        }
        None => parts.push("no capacity limit".to_owned()),
    }
    if let Some(rate) = server.faults.rate_limit {
        parts.push(format!("rate limit {rate}"));
    }
    format!("built-in server: {}", parts.join(", "))
}

/// `-c auto`'s limit in a few words: where it settled and how high it went.
fn limit_words(row: &SweepRow) -> String {
    match row.limits.as_slice() {
        [] => String::new(),
        [one] => format!("settled at {} (max {})", one.settled, one.max),
        many => format!("{} hosts", many.len()),
    }
}

/// The table `gather bench sweep` prints: a heading, one row per level, then the knee.
pub fn sweep_table(report: &SweepReport) -> String {
    let mut table = Table::new();
    table.load_style(presets::NOTHING).set_header([
        "concurrency",
        "comics",
        "wall",
        "saved/s",
        "model c/L0",
        "p50",
        "p90",
        "p99",
        "X·W",
        "429",
        "503",
        "failed",
        "limit",
    ]);
    for row in &report.rows {
        let model = match row.level {
            Level::Fixed(n) => report.model(n).map_or(String::new(), |m| format!("{m:.1}")),
            Level::Auto(_) => String::new(),
        };
        let share = |n: u64| {
            if n == 0 {
                "0".to_owned()
            } else {
                format!(
                    "{} ({})",
                    n,
                    percent(n as f64 / row.responses.requests as f64)
                )
            }
        };
        table.add_row([
            level_name(row.level),
            row.count.to_string(),
            human_duration(row.summary.wall),
            format!("{:.1}", row.throughput()),
            model,
            human_duration(row.latencies.p50),
            human_duration(row.latencies.p90),
            human_duration(row.latencies.p99),
            format!("{:.1}", row.in_flight()),
            share(row.responses.too_many),
            share(row.responses.unavailable),
            row.summary.failed.to_string(),
            limit_words(row),
        ]);
    }
    for index in 1..12 {
        if let Some(column) = table.column_mut(index) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut text = format!(
        "gather bench sweep: {} ({})\n\n{table}\n",
        report.target,
        server_line(report)
    );
    text.push_str(&verdict(report));
    text
}

/// The knee, the best level and `-c auto` against them, in words computed from the rows.
fn verdict(report: &SweepReport) -> String {
    let mut text = String::new();
    let (Some(best), Some(knee)) = (report.best(), report.knee()) else {
        return text;
    };
    text.push_str(&format!(
        "\nknee: -c {} gives {:.0}/s, {:.0}% of the best fixed level (-c {}: {:.0}/s, p50 {});",
        level_name(knee.level),
        knee.throughput(),
        100.0 * knee.throughput() / best.throughput().max(f64::MIN_POSITIVE),
        level_name(best.level),
        best.throughput(),
        human_duration(best.latencies.p50),
    ));
    if let Some(unloaded) = report.unloaded() {
        text.push_str(&format!(" unloaded latency {}.", human_duration(unloaded)));
    }
    text.push('\n');
    if let Some(auto) = report.auto() {
        text.push_str(&format!(
            "-c auto: {:.0}/s, {:.0}% of the best fixed level's throughput, p50 {}, {} of requests answered 429; {}.\n",
            auto.throughput(),
            100.0 * auto.throughput() / best.throughput().max(f64::MIN_POSITIVE),
            human_duration(auto.latencies.p50),
            percent(auto.responses.too_many_share()),
            limit_words(auto),
        ));
    }
    text
}

/// One row as JSON.
fn row_json(report: &SweepReport, row: &SweepRow) -> Value {
    let mut value = json!({
        "concurrency": match row.level {
            Level::Fixed(n) => json!(n),
            Level::Auto(_) => json!("auto"),
        },
        "count": row.count,
        "ok": row.summary.ok,
        "failed": row.summary.failed,
        "wall_secs": row.summary.wall.as_secs_f64(),
        "throughput": row.throughput(),
        "latency_ms": {
            "p50": ms(row.latencies.p50),
            "p90": ms(row.latencies.p90),
            "p99": ms(row.latencies.p99),
            "mean": ms(row.latencies.mean),
        },
        "in_flight_littles_law": row.in_flight(),
        "requests": row.responses.requests,
        "too_many": row.responses.too_many,
        "unavailable": row.responses.unavailable,
        "timeouts": row.responses.timeouts,
        "too_many_share": row.responses.too_many_share(),
    });
    if let Level::Fixed(n) = row.level {
        value["model_throughput"] = report.model(n).into();
    }
    if let Level::Auto(max) = row.level {
        value["max_concurrency"] = max.into();
        value["limits"] = json!(row.limits);
    }
    value
}

/// The sweep as JSON: the server, one object per level (`levels`), `-c auto`'s (`auto`), the
/// best level and the knee.
pub fn sweep_json(report: &SweepReport) -> Value {
    let server = report.server.as_ref().map(|server| {
        json!({
            "latency": server.latency.to_string(),
            "capacity": server.capacity.map(|c| c.workers),
            "queue_limit": server.capacity.and_then(|c| c.queue_limit),
            "rate_limit": server.faults.rate_limit.map(|r| r.to_string()),
        })
    });
    let level = |row: Option<&SweepRow>| row.map(|row| level_name(row.level).parse::<u64>().ok());
    json!({
        "target": report.target,
        "builtin": report.builtin,
        "server": server,
        "levels": report.fixed().map(|row| row_json(report, row)).collect::<Vec<_>>(),
        "auto": report.auto().map(|row| row_json(report, row)),
        "best": level(report.best()),
        "knee": level(report.knee()),
        "unloaded_latency_ms": report.unloaded().map(ms),
        "interrupted": report.interrupted,
    })
}

/// The curve: saved comics per second per level beside Little's law's line (c / L0), and the
/// latency percentiles per level, with `-c auto`'s result marked on both.
pub fn sweep_chart(report: &SweepReport, size: (u32, u32)) -> Result<String, ChartError> {
    let fixed: Vec<&SweepRow> = report.fixed().collect();
    let x = |row: &SweepRow| match row.level {
        Level::Fixed(n) => n as f64,
        Level::Auto(_) => 0.0,
    };
    let measured = |f: &dyn Fn(&SweepRow) -> f64| -> Vec<(f64, f64)> {
        fixed.iter().map(|row| (x(row), f(row))).collect()
    };
    let best = report.best().map_or(0.0, SweepRow::throughput);
    let mut throughput = vec![
        Curve {
            name: "saved/s, measured".to_owned(),
            points: measured(&|row| row.throughput()),
            model: false,
            color: 0,
        },
        Curve {
            name: "Little's law: c / L0".to_owned(),
            points: fixed
                .iter()
                .filter_map(|row| {
                    let Level::Fixed(n) = row.level else {
                        return None;
                    };
                    // Drawn up to a little past the flat part, where the story is.
                    report
                        .model(n)
                        .filter(|m| *m <= best * 1.5)
                        .map(|m| (x(row), m))
                })
                .collect(),
            model: true,
            color: 7,
        },
    ];
    let latency_ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let mut latency = vec![
        Curve {
            name: "p50".to_owned(),
            points: measured(&|row| latency_ms(row.latencies.p50)),
            model: false,
            color: 0,
        },
        Curve {
            name: "p99".to_owned(),
            points: measured(&|row| latency_ms(row.latencies.p99)),
            model: false,
            color: 3,
        },
    ];
    if let Some(auto) = report.auto()
        && let Some(settled) = auto.limits.first().map(|l| l.settled.max(1) as f64)
    {
        let name = format!("-c auto (settled at {})", settled);
        throughput.push(Curve {
            name: name.clone(),
            points: vec![(settled, auto.throughput())],
            model: false,
            color: 2,
        });
        latency.push(Curve {
            name,
            points: vec![(settled, latency_ms(auto.latencies.p50))],
            model: false,
            color: 2,
        });
    }
    let desc = format!(
        "Throughput and latency at each concurrency level against the {}. {}",
        server_line(report),
        verdict(report).trim()
    );
    charts::curves(
        &Frame {
            title: "Concurrency sweep: throughput and latency per level",
            desc: &desc,
            size,
        },
        &[
            Panel {
                caption: "saved comics per second".to_owned(),
                curves: throughput,
                y_desc: "per second".to_owned(),
            },
            Panel {
                caption: "latency".to_owned(),
                curves: latency,
                y_desc: "ms".to_owned(),
            },
        ],
        "concurrency (log scale)",
    )
}

/// `-c auto`'s course for the fetch summary: where each limit settled, and the 429s.
pub fn auto_text(control: &Control) -> String {
    let counts = control.counts();
    let mut text = String::new();
    for limit in control.limits() {
        let host = if limit.host.is_empty() {
            String::new()
        } else {
            format!(" for {}", limit.host)
        };
        text.push_str(&format!(
            "  auto         settled at {}{host} (max {}, last {}, {} changes)\n",
            limit.settled,
            limit.max,
            limit.last,
            limit.history.len().saturating_sub(1),
        ));
    }
    if counts.too_many + counts.unavailable + counts.timeouts > 0 {
        text.push_str(&format!(
            "  overload     {} answered 429, {} answered 503, {} timed out, of {} requests\n",
            counts.too_many, counts.unavailable, counts.timeouts, counts.requests
        ));
    }
    text
}

/// `-c auto`'s course for the fetch summary's JSON.
pub fn auto_json(control: &Control) -> Value {
    json!({
        "limits": control.limits(),
        "responses": control.counts(),
    })
}
