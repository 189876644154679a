//! Request rates as the command line writes them: `50/s`, `600/m`, `10/100ms`. Used by
//! `fetch --rate` (the client paces itself) and `serve --rate-limit` (the server answers 429).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use governor::Quota;

/// Why a rate could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a rate: {reason} (write e.g. 50/s, 600/m or 10/100ms)")]
pub struct RateError {
    text: String,
    reason: String,
}

/// At most `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests in each period.
    pub count: NonZeroU32,
    /// The period.
    pub per: Duration,
}

impl Rate {
    /// A governor quota for this rate. `burst` lets up to `count` requests through at once
    /// (a server's window); without it, requests are spaced evenly (a client pacing itself).
    pub fn quota(&self, burst: bool) -> Quota {
        let interval = (self.per / self.count.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(interval).expect("the interval is not zero");
        if burst {
            quota.allow_burst(self.count)
        } else {
            quota
        }
    }
}

impl FromStr for Rate {
    type Err = RateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| RateError {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (count, per) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| invalid("no `/`"))?;
        let count = count
            .trim()
            .parse::<NonZeroU32>()
            .map_err(|_| invalid("the count is not a whole number above 0"))?;
        let per = match per.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            other => crate::duration::parse(other).map_err(|_| invalid("unknown period"))?,
        };
        if per.is_zero() {
            return Err(invalid("the period is zero"));
        }
        Ok(Rate { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.per.as_secs_f64() {
            1.0 => write!(f, "{}/s", self.count),
            60.0 => write!(f, "{}/m", self.count),
            3600.0 => write!(f, "{}/h", self.count),
            _ => write!(f, "{}/{}", self.count, humantime::format_duration(self.per)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let rate = |text: &str| text.parse::<Rate>();
        assert_eq!(rate("50/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(rate("600/m").unwrap().count.get(), 600);
        assert_eq!(rate("10/100ms").unwrap().per, Duration::from_millis(100));
        assert_eq!(rate("50/s").unwrap().to_string(), "50/s");
        assert_eq!(rate("10/100ms").unwrap().to_string(), "10/100ms");
        for bad in ["", "50", "0/s", "-1/s", "x/s", "5/fortnight", "5/0", "5/"] {
            assert!(rate(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn quotas_space_or_burst() {
        let rate: Rate = "4/s".parse().unwrap();
        assert_eq!(rate.quota(false).burst_size().get(), 1);
        assert_eq!(rate.quota(true).burst_size().get(), 4);
        assert_eq!(
            rate.quota(false).replenish_interval(),
            Duration::from_millis(250)
        );
    }
}
