//! Retries: how many, and how long to wait before each. Which failures are worth another
//! attempt is [`ItemError::is_transient`](super::ItemError::is_transient)'s call.

use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How failed attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; 0 turns retries off.
    pub retries: u32,
    /// Wait before the first retry; it doubles (with jitter) for each next one.
    pub delay: Duration,
    /// Longest wait before a retry, `Retry-After` included.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            retries: 3,
            delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The waits before each retry of one item: exponential from `delay`, each with random
    /// jitter of up to its own length (so that failed items do not come back all at once),
    /// never longer than `max_delay`. It ends after `retries` waits.
    pub fn backoff(&self) -> impl Iterator<Item = Duration> + use<> {
        let cap = self.max_delay;
        ExponentialBuilder::new()
            .with_min_delay(self.delay)
            .with_max_delay(cap)
            .with_max_times(self.retries as usize)
            .with_jitter()
            .build()
            .map(move |wait| wait.min(cap))
    }

    /// The wait before the next attempt: the server's `Retry-After` when it gave one,
    /// otherwise the backoff's; either way at most `max_delay`.
    pub fn wait(&self, retry_after: Option<Duration>, backoff: Duration) -> Duration {
        retry_after.unwrap_or(backoff).min(self.max_delay)
    }
}

/// The `Retry-After` header as a wait from now: delay-seconds or an HTTP date (a date in the
/// past is no wait).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_with_jitter_within_the_cap_and_ends() {
        let policy = RetryPolicy {
            retries: 6,
            delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
        };
        let waits: Vec<Duration> = policy.backoff().collect();
        assert_eq!(waits.len(), 6);
        for (i, wait) in waits.iter().enumerate() {
            let base = Duration::from_millis(100 * (1 << i)).min(policy.max_delay);
            assert!(*wait >= base && *wait <= policy.max_delay, "{i}: {wait:?}");
        }
        assert_eq!(
            RetryPolicy {
                retries: 0,
                ..policy
            }
            .backoff()
            .count(),
            0
        );
    }

    #[test]
    fn retry_after_wins_but_is_capped() {
        let policy = RetryPolicy::default();
        let backoff = Duration::from_millis(300);
        assert_eq!(policy.wait(None, backoff), backoff);
        assert_eq!(
            policy.wait(Some(Duration::from_secs(2)), backoff),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.wait(Some(Duration::from_secs(3600)), backoff),
            policy.max_delay
        );
    }

    #[test]
    fn parses_retry_after() {
        let header = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
            retry_after(&headers)
        };
        assert_eq!(header("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            header("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = header(&later).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
        assert_eq!(header("soon"), None);
        assert_eq!(header("-1"), None);
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }
}
