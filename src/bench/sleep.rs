//! `gather bench sleep`: N tasks that each wait, all at once on the async runtime, the
//! seeds' `asyncio.gather` of `sleep_coro`s at scale. Waiting costs no thread, so N tasks
//! take one sleep's time, whatever N is.

use std::time::Duration;

use tokio::time::Instant;

use futures::stream::{FuturesUnordered, StreamExt};

/// A validated sleep bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepConfig {
    /// How many tasks.
    pub tasks: u64,
    /// How long each sleeps.
    pub duration: Duration,
}

/// What a sleep bench measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepReport {
    /// The bench that ran.
    pub config: SleepConfig,
    /// Wall time from the first task created to the last one done.
    pub wall: Duration,
}

impl SleepReport {
    /// The wall time one after another would take: tasks × duration.
    pub fn sequential(&self) -> Duration {
        self.config
            .duration
            .saturating_mul(u32::try_from(self.config.tasks).unwrap_or(u32::MAX))
    }
}

/// Runs `tasks` sleeps at once and waits for all of them.
///
/// The sleeps are futures joined in one `FuturesUnordered`, not spawned tasks: like
/// `asyncio.gather`, one task drives them, and each costs only its timer entry.
pub async fn run(config: SleepConfig) -> SleepReport {
    let start = Instant::now();
    let mut sleeps: FuturesUnordered<_> = (0..config.tasks)
        .map(|_| tokio::time::sleep(config.duration))
        .collect();
    while sleeps.next().await.is_some() {}
    SleepReport {
        config,
        wall: start.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn many_sleeps_take_one_sleep() {
        let report = run(SleepConfig {
            tasks: 10_000,
            duration: Duration::from_secs(1),
        })
        .await;
        // With the clock paused, time moves only as the timers need: exactly one second.
        assert_eq!(report.wall, Duration::from_secs(1));
        assert_eq!(report.sequential(), Duration::from_secs(10_000));
    }
}
