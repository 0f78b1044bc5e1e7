//! Durations in settings: a bare number in the variable's own unit, or a number with units as
//! `humantime` reads them (`250ms`, `600s`, `10m`, `1h30m`, `2d`).

use std::time::Duration;

use super::error::ConfigError;
use crate::store::MAX_TTL;

/// What a bare number means in one variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Bare {
    /// `CACHE_TTL_*`, `REDIS_CONNECTION_TIMEOUT`, `REDIS_HEALTH_CHECK_INTERVAL`.
    Seconds,
    /// The `CACHE_*_MS` variables.
    Millis,
}

impl Bare {
    fn example(self) -> &'static str {
        match self {
            Bare::Seconds => "a whole number of seconds (`600`) or a duration with units (`600s`, `10m`, `1h30m`, `250ms`)",
            Bare::Millis => "a whole number of milliseconds (`250`) or a duration with units (`250ms`, `2s`, `1m`)",
        }
    }
}

/// A duration greater than zero, at most [`MAX_TTL`] (100 years: what Redis accepts as an
/// expiry, and far beyond any sensible timeout).
pub(super) fn parse_duration(name: &str, value: &str, bare: Bare) -> Result<Duration, ConfigError> {
    let text = value.trim();
    let parsed = if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<u64>().ok().map(|number| match bare {
            Bare::Seconds => Duration::from_secs(number),
            Bare::Millis => Duration::from_millis(number),
        })
    } else {
        humantime::parse_duration(text).ok()
    };
    let Some(duration) = parsed else {
        return Err(ConfigError::new(
            name,
            format!("`{value}` is not a duration: use {}", bare.example()),
        ));
    };
    if duration.is_zero() {
        return Err(ConfigError::new(
            name,
            format!("`{value}` is zero: use a duration greater than zero"),
        ));
    }
    if duration > MAX_TTL {
        return Err(ConfigError::new(
            name,
            format!(
                "`{value}` is too long: at most {} seconds (100 years)",
                MAX_TTL.as_secs()
            ),
        ));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(value: &str) -> Result<Duration, ConfigError> {
        parse_duration("X", value, Bare::Seconds)
    }

    #[test]
    fn bare_numbers_take_the_variables_unit_and_units_are_read() {
        assert_eq!(seconds("600"), Ok(Duration::from_secs(600)));
        assert_eq!(seconds(" 600s "), Ok(Duration::from_secs(600)));
        assert_eq!(seconds("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(seconds("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(seconds("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(seconds("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(seconds("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(
            parse_duration("X", "250", Bare::Millis),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(
            parse_duration("X", "2s", Bare::Millis),
            Ok(Duration::from_secs(2))
        );
    }

    #[test]
    fn malformed_zero_and_overlong_durations_name_the_variable() {
        for bad in [
            "",
            "ten",
            "-5",
            "5 parsecs",
            "0",
            "0s",
            "36501d",
            "99999999999999999999",
        ] {
            let error = parse_duration("CACHE_TTL_X", bad, Bare::Seconds).unwrap_err();
            assert_eq!(error.setting(), "CACHE_TTL_X", "{bad}");
            assert!(error.to_string().contains(&format!("`{bad}`")), "{error}");
        }
    }
}
