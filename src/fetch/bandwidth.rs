//! `--limit-rate`: one bandwidth budget for the whole run, shared by every worker. Bodies are
//! read no faster than it allows, so TCP's flow control slows the servers down in turn.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// A limit on body bytes received per second, for all downloads together.
#[derive(Debug)]
pub struct Bandwidth {
    bytes_per_second: u64,
    /// The most taken at once: a tenth of a second's worth, at least 16 KiB.
    burst: u32,
    limiter: DefaultDirectRateLimiter,
}

impl Bandwidth {
    /// At most `bytes_per_second` (at least 1, at most 4 GB/s).
    pub fn new(bytes_per_second: u64) -> Self {
        let rate = bytes_per_second.clamp(1, u64::from(u32::MAX)) as u32;
        let burst = (rate / 10).max(16 * 1024).min(rate);
        let quota = Quota::per_second(NonZeroU32::new(rate).unwrap_or(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        Self {
            bytes_per_second,
            burst,
            limiter: RateLimiter::direct(quota),
        }
    }

    /// Waits until `bytes` more may be received.
    pub async fn take(&self, bytes: usize) {
        let mut left = bytes as u64;
        while left > 0 {
            let part = left.min(u64::from(self.burst)) as u32;
            if let Some(part) = NonZeroU32::new(part) {
                // `part` is at most the burst, so the limiter can always grant it.
                let _ = self.limiter.until_n_ready(part).await;
            }
            left -= u64::from(part);
        }
    }
}

impl PartialEq for Bandwidth {
    fn eq(&self, other: &Self) -> bool {
        self.bytes_per_second == other.bytes_per_second
    }
}

impl Eq for Bandwidth {}
