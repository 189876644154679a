//! Durations as the command line writes them: `100ms`, `1.5s`, `2m`, `1h 30m`, or `0`.
//! A bare number other than 0 is refused: `--timeout 30` could mean seconds or milliseconds.

use std::time::Duration;

/// Why a duration could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration: {reason} (write e.g. 100ms, 1.5s or 2m)")]
pub struct DurationError {
    text: String,
    reason: String,
}

/// Parses a duration with a unit; `0` needs none.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let text = text.trim();
    let invalid = |reason: &str| DurationError {
        text: text.to_owned(),
        reason: reason.to_owned(),
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.parse::<f64>().is_ok() {
        return Err(invalid("it needs a unit"));
    }
    // Decimal seconds, which humantime does not take: `0.5s`.
    if let Some(secs) = text.strip_suffix('s')
        && let Ok(secs) = secs.parse::<f64>()
    {
        return Duration::try_from_secs_f64(secs).map_err(|_| invalid("out of range"));
    }
    humantime::parse_duration(text).map_err(|e| invalid(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert!(parse("30").is_err());
        assert!(parse("-1s").is_err());
        assert!(parse("soon").is_err());
    }
}
