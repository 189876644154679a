//! Server latency: fixed (`100ms`) or uniform random (`50ms..150ms`, like the seeds'
//! `random.uniform`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;

/// Why a latency could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    /// One end is not a duration.
    #[error("latency")]
    Duration(#[from] crate::duration::DurationError),
    /// `max..min`.
    #[error("latency `{0}`: the range is reversed")]
    Reversed(String),
}

/// Delay before each response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Latency {
    /// No delay.
    #[default]
    None,
    /// The same delay every time.
    Fixed(Duration),
    /// A delay drawn uniformly from `min..=max` each time.
    Uniform {
        /// Shortest delay.
        min: Duration,
        /// Longest delay.
        max: Duration,
    },
}

impl Latency {
    /// One delay.
    pub fn sample(&self) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => rand::rng().random_range(min..=max),
        }
    }

    /// The shortest delay.
    pub fn min(&self) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) | Latency::Uniform { min: d, .. } => d,
        }
    }

    /// The mean delay.
    pub fn mean(&self) -> Duration {
        match *self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } => min + (max - min) / 2,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, LatencyError> {
    Ok(crate::duration::parse(text)?)
}

impl FromStr for Latency {
    type Err = LatencyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once("..") {
            Some((min, max)) => {
                let (min, max) = (parse_duration(min)?, parse_duration(max)?);
                if max < min {
                    return Err(LatencyError::Reversed(text.to_owned()));
                }
                Ok(if min == max {
                    Latency::Fixed(min)
                } else {
                    Latency::Uniform { min, max }
                })
            }
            None => {
                let d = parse_duration(text)?;
                Ok(if d.is_zero() {
                    Latency::None
                } else {
                    Latency::Fixed(d)
                })
            }
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::None => f.write_str("0ms"),
            Latency::Fixed(d) => write!(f, "{}", humantime::format_duration(*d)),
            Latency::Uniform { min, max } => write!(
                f,
                "{}..{}",
                humantime::format_duration(*min),
                humantime::format_duration(*max)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fixed_and_ranges() {
        let ms = Duration::from_millis;
        assert_eq!("100ms".parse(), Ok(Latency::Fixed(ms(100))));
        assert_eq!("0.5s".parse(), Ok(Latency::Fixed(ms(500))));
        assert!("20".parse::<Latency>().is_err());
        assert_eq!("0".parse(), Ok(Latency::None));
        assert_eq!(
            "50ms..150ms".parse(),
            Ok(Latency::Uniform {
                min: ms(50),
                max: ms(150)
            })
        );
        assert!("150ms..50ms".parse::<Latency>().is_err());
        assert!("fast".parse::<Latency>().is_err());
        assert!("-1s".parse::<Latency>().is_err());
    }

    #[test]
    fn the_floor_is_the_shortest_delay() {
        let latency: Latency = "10ms..20ms".parse().unwrap();
        assert_eq!(latency.min(), Duration::from_millis(10));
        assert_eq!(latency.mean(), Duration::from_millis(15));
        assert_eq!(Latency::None.min(), Duration::ZERO);
    }

    #[test]
    fn samples_stay_in_range() {
        let latency: Latency = "10ms..20ms".parse().unwrap();
        for _ in 0..1000 {
            let d = latency.sample();
            assert!(d >= Duration::from_millis(10) && d <= Duration::from_millis(20));
        }
        assert_eq!(latency.mean(), Duration::from_millis(15));
    }
}
