//! Timelines: when each task of a run started and ended, and on which concurrency slot it ran.
//! Shared by the fetch bench and the lab, and handed to the exporters (Chrome trace, HTML).
//!
//! A slot is a track on which tasks never overlap: the lowest slot free when a task starts is
//! the one it takes, so a run at concurrency `c` uses at most `c` slots. Nothing here measures
//! time: spans come in already timed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

/// One task's time, as offsets from the start of its run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Span {
    /// What the task was: a URL, `sleep 100 ms`, `primes 1..50000`.
    pub label: String,
    /// The task started.
    pub start: Duration,
    /// The first byte of the response arrived (HTTP tasks only).
    pub first_byte: Option<Duration>,
    /// The task ended.
    pub end: Duration,
    /// CPU time the task's thread spent on it, when measured (the lab's cpu tasks).
    pub cpu: Option<Duration>,
    /// The thread or process that ran it, when known (the lab's workers say).
    pub worker: Option<u32>,
}

impl Span {
    /// How long the task took.
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// The spans of one run, sorted by start, each with its slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    spans: Vec<Span>,
    slots: Vec<usize>,
    slot_count: usize,
}

impl Timeline {
    /// Sorts `spans` by start and gives each the lowest slot free at its start.
    pub fn new(mut spans: Vec<Span>) -> Self {
        for span in &mut spans {
            span.end = span.end.max(span.start);
        }
        spans.sort_by_key(|span| (span.start, span.end));
        let mut busy: BinaryHeap<Reverse<(Duration, usize)>> = BinaryHeap::new();
        let mut free: BinaryHeap<Reverse<usize>> = BinaryHeap::new();
        let mut slots = Vec::with_capacity(spans.len());
        let mut slot_count = 0;
        for span in &spans {
            while let Some(&Reverse((end, slot))) = busy.peek() {
                if end > span.start {
                    break;
                }
                busy.pop();
                free.push(Reverse(slot));
            }
            let slot = free.pop().map_or_else(
                || {
                    slot_count += 1;
                    slot_count - 1
                },
                |Reverse(slot)| slot,
            );
            busy.push(Reverse((span.end, slot)));
            slots.push(slot);
        }
        Self {
            spans,
            slots,
            slot_count,
        }
    }

    /// The spans, sorted by start.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Each span with its slot.
    pub fn slotted(&self) -> impl Iterator<Item = (usize, &Span)> {
        self.slots.iter().copied().zip(&self.spans)
    }

    /// How many slots the run used: its peak concurrency.
    pub fn slot_count(&self) -> usize {
        self.slot_count
    }

    /// Whether there are no spans.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// When the last task ended.
    pub fn end(&self) -> Duration {
        self.spans.iter().map(|s| s.end).max().unwrap_or_default()
    }

    /// Tasks in flight over time: `(t, n)` means `n` tasks run from `t` to the next point.
    /// Starts at zero tasks at time zero and ends at zero.
    pub fn in_flight(&self) -> Vec<(Duration, usize)> {
        let mut changes: Vec<(Duration, i64)> = self
            .spans
            .iter()
            .flat_map(|s| [(s.start, 1), (s.end, -1)])
            .collect();
        // Ends before starts at the same instant: a slot handed on is not two tasks at once.
        changes.sort();
        let mut points = vec![(Duration::ZERO, 0)];
        let mut n: i64 = 0;
        for (t, delta) in changes {
            n += delta;
            let count = usize::try_from(n).unwrap_or(0);
            match points.last_mut() {
                Some(last) if last.0 == t => last.1 = count,
                _ => points.push((t, count)),
            }
        }
        points
    }

    /// The tasks' durations, sorted, for percentiles.
    pub fn sorted_durations(&self) -> Vec<Duration> {
        let mut durations: Vec<Duration> = self.spans.iter().map(Span::duration).collect();
        durations.sort();
        durations
    }
}

/// The `p`-th percentile (0 to 100) of sorted values, by nearest rank; zero when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: u64, end: u64) -> Span {
        Span {
            label: format!("{start}..{end}"),
            start: Duration::from_millis(start),
            first_byte: None,
            end: Duration::from_millis(end),
            ..Span::default()
        }
    }

    #[test]
    fn slots_never_overlap_and_are_reused() {
        let timeline = Timeline::new(vec![span(0, 10), span(0, 5), span(5, 8), span(9, 12)]);
        let slots: Vec<(usize, String)> = timeline
            .slotted()
            .map(|(slot, s)| (slot, s.label.clone()))
            .collect();
        assert_eq!(
            slots,
            [
                (0, "0..5".to_owned()),
                (1, "0..10".to_owned()),
                (0, "5..8".to_owned()),
                (0, "9..12".to_owned()),
            ]
        );
        assert_eq!(timeline.slot_count(), 2);
    }

    #[test]
    fn in_flight_steps_up_and_down() {
        let timeline = Timeline::new(vec![span(0, 10), span(2, 4), span(4, 6)]);
        let ms = Duration::from_millis;
        assert_eq!(
            timeline.in_flight(),
            [(ms(0), 1), (ms(2), 2), (ms(4), 2), (ms(6), 1), (ms(10), 0)]
        );
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let ms = Duration::from_millis;
        let sorted: Vec<Duration> = (1..=100).map(ms).collect();
        assert_eq!(percentile(&sorted, 50.0), ms(50));
        assert_eq!(percentile(&sorted, 99.0), ms(99));
        assert_eq!(percentile(&sorted, 100.0), ms(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
