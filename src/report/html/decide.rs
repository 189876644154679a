//! What the numbers say, and what they do not: each measured time as a median with its spread,
//! comparisons that call a difference only when it stands out of the noise, and from them the
//! use-case and decision slides. A claim the numbers do not support is not made.

use std::time::Duration;

use askama::Template;

use super::{DeckError, DeckInput, Slides, Timed};
use crate::bench::Mode;
use crate::bench::lab::{LabCell, LabReport, Model, Runtime, Workload};
use crate::report::human_duration;

/// With one run per number, differences smaller than this fraction are called noise.
pub const ONE_RUN_NOISE: f64 = 0.10;
/// Whatever the runs, differences smaller than this fraction are called noise.
pub const NOISE_FLOOR: f64 = 0.05;

/// A computing speedup counts only when the model kept more than one core and this fraction
/// busy on average (cpu time over wall time): one core's worth cannot compute faster than one
/// thread.
pub const MORE_CORES: f64 = 0.2;

/// A measured wall time: the median of its runs and their range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The median.
    pub median: Duration,
    /// The shortest run.
    pub low: Duration,
    /// The longest run.
    pub high: Duration,
    /// How many runs.
    pub runs: usize,
}

impl Estimate {
    /// A lab cell's wall time: the median of its runs, their range and count.
    pub fn of(cell: &LabCell) -> Self {
        Self {
            median: cell.wall,
            low: cell.wall_min.min(cell.wall),
            high: cell.wall_max.max(cell.wall),
            runs: cell.walls.len().max(1),
        }
    }

    /// As the slides show it.
    pub(super) fn timed(&self) -> Timed {
        Timed::new(self.median, (self.low, self.high), self.runs)
    }
}

/// How one time compares with another.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Compare {
    /// The first took less time: the other over it.
    Faster(f64),
    /// The first took more time: it over the other.
    Slower(f64),
    /// The difference does not stand out of the noise.
    WithinNoise,
}

impl Compare {
    /// Whether the first was faster, beyond the noise.
    pub fn is_faster(self) -> bool {
        matches!(self, Compare::Faster(_))
    }
}

/// Compares `a` with `b`. A difference is called only when it is over [`NOISE_FLOOR`] and,
/// with several runs on both sides, their ranges do not overlap; with a single run on either
/// side, when it is over [`ONE_RUN_NOISE`].
pub fn compare(a: Estimate, b: Estimate) -> Compare {
    let (a_s, b_s) = (a.median.as_secs_f64(), b.median.as_secs_f64());
    if a_s <= 0.0 || b_s <= 0.0 {
        return Compare::WithinNoise;
    }
    let ratio = a_s.max(b_s) / a_s.min(b_s);
    let apart = if a.runs >= 2 && b.runs >= 2 {
        a.high < b.low || b.high < a.low
    } else {
        ratio > 1.0 + ONE_RUN_NOISE
    };
    if !apart || ratio <= 1.0 + NOISE_FLOOR {
        Compare::WithinNoise
    } else if a_s < b_s {
        Compare::Faster(ratio)
    } else {
        Compare::Slower(ratio)
    }
}

/// Whether computing cell `cell` beat `base` (its sequential run): faster beyond the noise,
/// and with more than one core busy (see [`MORE_CORES`]). Computing faster takes more cores;
/// a cell faster without them only shows that the sequential run was slowed (another program
/// had the core).
pub fn computes_faster(cell: &LabCell, base: &LabCell) -> bool {
    compare(Estimate::of(cell), Estimate::of(base)).is_faster()
        && cell.cores_used() > 1.0 + MORE_CORES
}

/// The range of a cell's speedup over its baseline, from the runs' ranges.
pub fn speedup_range(lab: &LabReport, cell: &LabCell) -> Option<(f64, f64)> {
    let base = Estimate::of(lab.baseline(cell)?);
    let this = Estimate::of(cell);
    let (hi, lo) = (this.high.as_secs_f64(), this.low.as_secs_f64());
    (hi > 0.0 && lo > 0.0).then(|| (base.low.as_secs_f64() / hi, base.high.as_secs_f64() / lo))
}

/// The most runs behind any of the lab's numbers (cells over 2 s may have fewer).
pub fn runs_per_cell(lab: &LabReport) -> usize {
    lab.cells
        .iter()
        .map(|c| Estimate::of(c).runs)
        .max()
        .unwrap_or(1)
}

/// A model and its speedup, as the decision shows them: `threads 2.1x`.
pub(super) struct Ranked {
    model: &'static str,
    speedup: String,
}

/// One row of the decision: a kind of work in one language, and how its models did.
pub(super) struct Decision {
    work: &'static str,
    workload: &'static str,
    language: String,
    /// The models within noise of the best and beyond noise of sequential, best first.
    best: Vec<Ranked>,
    /// Models faster than sequential, but beyond noise slower than the best.
    others: Vec<Ranked>,
    /// Models within noise of sequential: no gain.
    no_gain: Vec<Ranked>,
}

/// `threads 2.1x ≈ async-mt 2.0x`: models and their speedups, joined by `join`.
fn ranked_text(list: &[Ranked], join: &str) -> String {
    list.iter()
        .map(|r| format!("{} {}", r.model, r.speedup))
        .collect::<Vec<_>>()
        .join(join)
}

impl Decision {
    fn best_text(&self) -> String {
        ranked_text(&self.best, " ≈ ")
    }

    fn others_text(&self) -> String {
        ranked_text(&self.others, ", ")
    }

    fn no_gain_text(&self) -> String {
        ranked_text(&self.no_gain, ", ")
    }
}

/// For each workload and language: the best models (within noise of the best, beyond noise
/// of sequential), the others that gained, and those that gained nothing.
pub(super) fn decisions(lab: &LabReport) -> Vec<Decision> {
    let mut rows = Vec::new();
    for &workload in &lab.config.workloads {
        for runtime in lab.runtimes() {
            let Some(base) = lab.cell(runtime, workload, Model::Sequential) else {
                continue;
            };
            let mut cells: Vec<&LabCell> = lab
                .cells
                .iter()
                .filter(|c| {
                    c.runtime == runtime
                        && c.workload == workload
                        && c.model != Model::Sequential
                        && c.ok()
                })
                .collect();
            cells.sort_by_key(|c| Estimate::of(c).median);
            let Some(best) = cells.first().copied() else {
                continue;
            };
            let ranked = |c: &LabCell| Ranked {
                model: c.model.as_str(),
                speedup: lab
                    .speedup(c)
                    .map_or("-".to_owned(), |s| format!("{s:.1}x")),
            };
            let gained = |c: &LabCell| {
                if workload == Workload::Cpu {
                    computes_faster(c, base)
                } else {
                    compare(Estimate::of(c), Estimate::of(base)).is_faster()
                }
            };
            let near_best = |c: &LabCell| !compare(Estimate::of(best), Estimate::of(c)).is_faster();
            rows.push(Decision {
                work: if workload == Workload::Cpu {
                    "computing"
                } else {
                    "waiting"
                },
                workload: workload.as_str(),
                language: runtime.as_str().to_owned(),
                best: cells
                    .iter()
                    .filter(|c| gained(c) && near_best(c))
                    .map(|c| ranked(c))
                    .collect(),
                others: cells
                    .iter()
                    .filter(|c| gained(c) && !near_best(c))
                    .map(|c| ranked(c))
                    .collect(),
                no_gain: cells
                    .iter()
                    .filter(|c| !gained(c))
                    .map(|c| ranked(c))
                    .collect(),
            });
        }
    }
    rows
}

/// What this run says about the GIL, from Python's cpu cells (and Rust's, to tell a busy
/// machine from the lock).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GilVerdict {
    /// Python threads no faster than sequential, processes faster: the lock.
    Serialised,
    /// Python threads faster than sequential: this Python ran threads in parallel.
    Parallel,
    /// Neither Python threads nor processes (nor Rust threads) faster: no free core to show it.
    NoFreeCore,
    /// Python's cpu cells are missing.
    Unknown,
}

/// The GIL verdict of `lab`.
pub fn gil_verdict(lab: &LabReport) -> GilVerdict {
    let cell = |model| lab.cell(Runtime::Python, Workload::Cpu, model);
    let (Some(seq), Some(threads)) = (cell(Model::Sequential), cell(Model::Threads)) else {
        return GilVerdict::Unknown;
    };
    if computes_faster(threads, seq) {
        GilVerdict::Parallel
    } else if cell(Model::Processes).is_some_and(|p| computes_faster(p, seq)) {
        GilVerdict::Serialised
    } else {
        GilVerdict::NoFreeCore
    }
}

/// One waiting workload in one language: how far one thread's event loop got.
pub(super) struct WaitFinding {
    workload: &'static str,
    /// Each language's async speedup: `rust 9.7x`.
    speedups: Vec<String>,
    /// The ideal speedup (the same for every language: the same waits).
    ideal: String,
    /// Languages below half of the ideal.
    far: Vec<String>,
}

/// The xkcd fetch in one line of numbers.
pub(super) struct XkcdFinding {
    count: u64,
    sequential: String,
    concurrent: String,
    concurrency: usize,
    speedup: String,
    ideal: Option<String>,
}

#[derive(Template)]
#[template(path = "use_cases.html")]
struct UseCasesSlide {
    xkcd: Option<XkcdFinding>,
    /// The cpu speedup of Python processes, if measured.
    python_processes: Option<String>,
}

#[derive(Template)]
#[template(path = "decision.html")]
struct DecisionSlide {
    /// The workloads, as column heads: `waiting (sleep)`.
    columns: Vec<String>,
    /// One row per language: its decision for each column's workload, if it ran it.
    table: Vec<(String, Vec<Option<Decision>>)>,
    /// Languages where one thread's event loop was among the best for every waiting workload.
    loop_enough: Vec<String>,
    /// Languages whose best computing model beat sequential: `(language, models)`.
    cores_paid: Vec<(String, String)>,
    /// Languages where no model computed faster than sequential.
    cores_idle: Vec<String>,
    runs: usize,
}

#[derive(Template)]
#[template(path = "conclusions.html")]
struct ConclusionsSlide {
    xkcd: Option<XkcdFinding>,
    waits: Vec<WaitFinding>,
    gil: GilVerdict,
    python_threads: Option<String>,
    python_processes: Option<String>,
    rust_threads: Option<String>,
    rust_cores: Option<String>,
    /// Whether Rust's threads computed faster than its sequential run (with more cores busy).
    rust_parallel: bool,
    cores: usize,
}

fn xkcd_finding(input: &DeckInput<'_>) -> Option<XkcdFinding> {
    let bench = input.bench;
    let seq = bench.runs.iter().find(|r| r.mode == Mode::Sequential)?;
    let con = bench.runs.iter().find(|r| r.mode == Mode::Concurrent)?;
    let speedup = bench.speedup(con)?;
    Some(XkcdFinding {
        count: bench.count,
        sequential: human_duration(seq.summary.wall),
        concurrent: human_duration(con.summary.wall),
        concurrency: con.concurrency,
        speedup: format!("{speedup:.0}x"),
        ideal: seq
            .ideal
            .zip(con.ideal)
            .filter(|(_, c)| !c.is_zero())
            .map(|(s, c)| format!("{:.0}x", s.as_secs_f64() / c.as_secs_f64())),
    })
}

fn cpu_speedup(lab: &LabReport, runtime: Runtime, model: Model) -> Option<String> {
    let cell = lab.cell(runtime, Workload::Cpu, model)?;
    lab.speedup(cell).map(|s| format!("{s:.1}x"))
}

/// Conclusions are drawn from the lab; the waiting findings from every language's async cell.
fn wait_findings(lab: &LabReport) -> Vec<WaitFinding> {
    lab.config
        .workloads
        .iter()
        .filter(|w| **w != Workload::Cpu)
        .filter_map(|&workload| {
            let mut finding = WaitFinding {
                workload: workload.as_str(),
                speedups: Vec::new(),
                ideal: String::new(),
                far: Vec::new(),
            };
            let mut ideals = Vec::new();
            for cell in lab
                .cells
                .iter()
                .filter(|c| c.model == Model::Async && c.workload == workload && c.ok())
            {
                let (Some(speedup), Some(ideal)) = (lab.speedup(cell), lab.ideal_speedup(cell))
                else {
                    continue;
                };
                let language = cell.runtime.as_str();
                finding.speedups.push(format!("{language} {speedup:.1}x"));
                if speedup < 0.5 * ideal {
                    finding.far.push(language.to_owned());
                }
                ideals.push(ideal);
            }
            let low = ideals.iter().copied().fold(f64::INFINITY, f64::min);
            let high = ideals.iter().copied().fold(0.0, f64::max);
            finding.ideal = if (high - low).abs() < 0.05 {
                format!("{high:.1}x")
            } else {
                format!("{low:.1}x–{high:.1}x")
            };
            (!finding.speedups.is_empty()).then_some(finding)
        })
        .collect()
}

/// The use cases, the decision, and what this run shows.
pub(super) fn slides(slides: &mut Slides, input: &DeckInput<'_>) -> Result<(), DeckError> {
    let lab = input.lab;
    let python_processes = cpu_speedup(lab, Runtime::Python, Model::Processes);
    slides.push(
        "use-cases",
        &UseCasesSlide {
            xkcd: xkcd_finding(input),
            python_processes: python_processes.clone(),
        },
    )?;
    let runs = runs_per_cell(lab);
    let rows = decisions(lab);
    let languages: Vec<String> = lab
        .runtimes()
        .iter()
        .map(|r| r.as_str().to_owned())
        .collect();
    let loop_enough = languages
        .iter()
        .filter(|language| {
            let mut waiting = rows
                .iter()
                .filter(|d| d.work == "waiting" && &d.language == *language)
                .peekable();
            waiting.peek().is_some() && waiting.all(|d| d.best.iter().any(|r| r.model == "async"))
        })
        .cloned()
        .collect();
    let computing: Vec<&Decision> = rows.iter().filter(|d| d.work == "computing").collect();
    let cores_paid = computing
        .iter()
        .filter(|d| !d.best.is_empty())
        .map(|d| {
            let models: Vec<&str> = d.best.iter().map(|r| r.model).collect();
            (d.language.clone(), models.join(" or "))
        })
        .collect();
    let cores_idle = computing
        .iter()
        .filter(|d| d.best.is_empty())
        .map(|d| d.language.clone())
        .collect();
    let columns = lab
        .config
        .workloads
        .iter()
        .filter(|w| rows.iter().any(|d| d.workload == w.as_str()))
        .map(|w| w.as_str())
        .collect::<Vec<_>>();
    let mut rows: Vec<Option<Decision>> = rows.into_iter().map(Some).collect();
    let table = languages
        .iter()
        .map(|language| {
            let cells = columns
                .iter()
                .map(|workload| {
                    rows.iter_mut()
                        .find(|d| {
                            d.as_ref()
                                .is_some_and(|d| &d.language == language && d.workload == *workload)
                        })
                        .and_then(Option::take)
                })
                .collect();
            (language.clone(), cells)
        })
        .collect();
    let columns = columns
        .iter()
        .map(|w| {
            let kind = if *w == Workload::Cpu.as_str() {
                "computing"
            } else {
                "waiting"
            };
            format!("{kind} ({w})")
        })
        .collect();
    slides.push(
        "decision",
        &DecisionSlide {
            loop_enough,
            cores_paid,
            cores_idle,
            columns,
            table,
            runs,
        },
    )?;
    slides.push(
        "conclusions",
        &ConclusionsSlide {
            xkcd: xkcd_finding(input),
            waits: wait_findings(lab),
            gil: gil_verdict(lab),
            python_threads: cpu_speedup(lab, Runtime::Python, Model::Threads),
            python_processes,
            rust_threads: cpu_speedup(lab, Runtime::Rust, Model::Threads),
            rust_cores: lab
                .cell(Runtime::Rust, Workload::Cpu, Model::Threads)
                .map(|c| format!("{:.1}", c.cores_used())),
            rust_parallel: lab
                .cell(Runtime::Rust, Workload::Cpu, Model::Threads)
                .zip(lab.cell(Runtime::Rust, Workload::Cpu, Model::Sequential))
                .is_some_and(|(t, s)| computes_faster(t, s)),
            cores: lab.cores,
        },
    )
}

/// The decision in plain text, one line per workload and language (for tests and scripts):
/// `computing (cpu), rust: best threads 2.0x ≈ async-mt 1.9x; also processes 1.3x; no gain:
/// async 1.0x`.
pub fn conclusions(lab: &LabReport) -> Vec<String> {
    let or_none = |text: String| {
        if text.is_empty() {
            "none".to_owned()
        } else {
            text
        }
    };
    decisions(lab)
        .into_iter()
        .map(|d| {
            format!(
                "{} ({}), {}: best {}; also {}; no gain: {}",
                d.work,
                d.workload,
                d.language,
                or_none(d.best_text()),
                or_none(d.others_text()),
                or_none(d.no_gain_text())
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::lab::{LabConfig, LangReport, PythonStatus};
    use crate::timeline::Timeline;

    fn est(ms: u64, low: u64, high: u64, runs: usize) -> Estimate {
        let d = Duration::from_millis;
        Estimate {
            median: d(ms),
            low: d(low),
            high: d(high),
            runs,
        }
    }

    #[test]
    fn only_differences_out_of_the_noise_are_called() {
        // One run each: 8% apart is noise, 20% is not.
        assert_eq!(
            compare(est(100, 100, 100, 1), est(108, 108, 108, 1)),
            Compare::WithinNoise
        );
        assert!(matches!(
            compare(est(100, 100, 100, 1), est(120, 120, 120, 1)),
            Compare::Faster(r) if (r - 1.2).abs() < 1e-9
        ));
        // Several runs: overlapping ranges are noise, however far the medians.
        assert_eq!(
            compare(est(100, 90, 130, 3), est(125, 110, 140, 3)),
            Compare::WithinNoise
        );
        assert!(matches!(
            compare(est(125, 120, 130, 3), est(100, 98, 102, 3)),
            Compare::Slower(_)
        ));
        // Separate ranges but under the floor: noise.
        assert_eq!(
            compare(est(100, 100, 101, 3), est(103, 102, 104, 3)),
            Compare::WithinNoise
        );
    }

    fn cell(runtime: Runtime, workload: Workload, model: Model, wall_ms: u64) -> LabCell {
        LabCell {
            runtime,
            workload,
            model,
            engine: model.as_str().to_owned(),
            workers: 2,
            tasks: 8,
            wall: Duration::from_millis(wall_ms),
            wall_min: Duration::from_millis(wall_ms),
            wall_max: Duration::from_millis(wall_ms),
            walls: vec![Duration::from_millis(wall_ms)],
            cpu: Duration::from_millis(wall_ms),
            peak_rss_kib: 20_000,
            ideal: Some(Duration::from_millis(wall_ms)),
            timeline: Timeline::default(),
            answer: None,
            error: None,
        }
    }

    fn lab(cells: Vec<LabCell>) -> LabReport {
        let mut langs: Vec<LangReport> = Vec::new();
        for cell in &cells {
            if !langs.iter().any(|l| l.runtime == cell.runtime) {
                langs.push(LangReport {
                    runtime: cell.runtime,
                    version: None,
                    build: None,
                    skipped: None,
                });
            }
        }
        LabReport {
            config: LabConfig {
                workloads: vec![Workload::Cpu],
                ..LabConfig::default()
            },
            cores: 2,
            cells,
            spawn: Vec::new(),
            langs,
            python: PythonStatus::NotRequested,
            interrupted: false,
        }
    }

    /// A cpu cell of `model` in `runtime`: `wall_ms` long, `cpu_ms` of CPU time.
    fn cpu(runtime: Runtime, model: Model, wall_ms: u64, cpu_ms: u64) -> LabCell {
        LabCell {
            cpu: Duration::from_millis(cpu_ms),
            ..cell(runtime, Workload::Cpu, model, wall_ms)
        }
    }

    #[test]
    fn the_gil_verdict_follows_the_numbers() {
        let python = |model, ms, cpu_ms| cpu(Runtime::Python, model, ms, cpu_ms);
        let gil = lab(vec![
            python(Model::Sequential, 900, 900),
            python(Model::Threads, 880, 880),
            python(Model::Processes, 460, 900),
        ]);
        assert_eq!(gil_verdict(&gil), GilVerdict::Serialised);
        let busy = lab(vec![
            python(Model::Sequential, 900, 900),
            python(Model::Threads, 880, 880),
            python(Model::Processes, 850, 900),
        ]);
        assert_eq!(gil_verdict(&busy), GilVerdict::NoFreeCore);
        let free = lab(vec![
            python(Model::Sequential, 900, 900),
            python(Model::Threads, 470, 900),
        ]);
        assert_eq!(gil_verdict(&free), GilVerdict::Parallel);
        // Threads 1.4x faster, but no busier: the sequential run was slowed, not the GIL gone.
        let slowed = lab(vec![
            python(Model::Sequential, 1260, 900),
            python(Model::Threads, 900, 900),
        ]);
        assert_eq!(gil_verdict(&slowed), GilVerdict::NoFreeCore);
        assert_eq!(gil_verdict(&lab(Vec::new())), GilVerdict::Unknown);
    }

    #[test]
    fn computing_faster_without_more_cores_busy_is_noise() {
        let cpu = |model, ms, cpu_ms| cpu(Runtime::Python, model, ms, cpu_ms);
        // The sequential run was slowed (another program had the core): 1.4x for threads,
        // but they kept no more cores busy than it did.
        let report = lab(vec![
            cpu(Model::Sequential, 1400, 1000),
            cpu(Model::Threads, 1000, 1000),
            cpu(Model::Processes, 700, 1300),
        ]);
        let lines = conclusions(&report);
        assert_eq!(
            lines[0],
            "computing (cpu), python: best processes 2.0x; also none; no gain: threads 1.4x"
        );
    }

    #[test]
    fn the_decision_groups_models_within_noise_of_the_best() {
        let rust = |model, ms, cpu_ms| cpu(Runtime::Rust, model, ms, cpu_ms);
        let report = lab(vec![
            rust(Model::Sequential, 400, 400),
            rust(Model::Async, 395, 395),
            rust(Model::AsyncMt, 210, 400),
            rust(Model::Threads, 205, 400),
            rust(Model::Processes, 300, 400),
        ]);
        let lines = conclusions(&report);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(
            lines[0],
            "computing (cpu), rust: best threads 2.0x ≈ async-mt 1.9x; also processes 1.3x; \
             no gain: async 1.0x"
        );
    }
}
