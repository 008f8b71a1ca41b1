//! What every crate's settings share: the error of a value that is not
//! accepted, and durations read as people write them.
//!
//! Each crate owns the settings type of its part (`[scheduler]`,
//! `[database]`, `[fetch]`), with its defaults and its checks; the binary
//! only layers the sources. They meet here so that a bad value reads the
//! same whichever section it is in.

use std::fmt;
use std::time::Duration;

/// A configuration value out of range or otherwise not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration key {key} = {value} is invalid: expected {expected}")]
pub struct InvalidSetting {
    /// The key, dotted (`scheduler.batch_size`).
    pub key: String,
    /// The value found, as written or shown.
    pub value: String,
    /// What is accepted.
    pub expected: String,
}

impl InvalidSetting {
    /// An error for `key`, whose `value` is not what was `expected`.
    pub fn new(
        key: impl Into<String>,
        value: impl fmt::Display,
        expected: impl Into<String>,
    ) -> InvalidSetting {
        InvalidSetting {
            key: key.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

/// Checks that `value` lies in `min..=max`.
///
/// # Errors
///
/// [`InvalidSetting`] naming `key` and the range.
pub fn check_range<T>(key: &str, value: T, min: T, max: T) -> Result<(), InvalidSetting>
where
    T: PartialOrd + fmt::Display,
{
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(InvalidSetting::new(
            key,
            &value,
            format!("a whole number from {min} to {max}"),
        ))
    }
}

/// Checks that `value` lies in `min..=max`, for durations.
///
/// # Errors
///
/// [`InvalidSetting`] naming `key` and the range, durations written as
/// `"90s"`.
pub fn check_duration(
    key: &str,
    value: Duration,
    min: Duration,
    max: Duration,
) -> Result<(), InvalidSetting> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(InvalidSetting::new(
            key,
            format!("{:?}", duration_text(value)),
            format!(
                "a duration from {} to {}",
                duration_text(min),
                duration_text(max)
            ),
        ))
    }
}

/// A duration as a configuration file would write it: `"90s"`, `"250ms"`.
pub fn duration_text(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else if duration.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", duration.as_millis())
    } else {
        format!("{}us", duration.as_micros())
    }
}

/// Serde readers of durations: a text with units (`"90s"`, `"15m"`,
/// `"1h 30m"`, `"250ms"`), or a bare number in the unit of the key's older
/// spelling (`interval_minutes = 1`, `timeout_seconds = 30`), so that files
/// written for earlier versions keep their meaning.
pub mod duration {
    use std::fmt;
    use std::time::Duration;

    use serde::Deserializer;
    use serde::de::{self, Visitor};

    /// A duration whose bare numbers are seconds.
    ///
    /// # Errors
    ///
    /// A serde error naming what is accepted.
    pub fn seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor { unit_seconds: 1.0 })
    }

    /// A duration whose bare numbers are minutes.
    ///
    /// # Errors
    ///
    /// A serde error naming what is accepted.
    pub fn minutes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        deserializer.deserialize_any(DurationVisitor { unit_seconds: 60.0 })
    }

    struct DurationVisitor {
        unit_seconds: f64,
    }

    impl DurationVisitor {
        fn number<E: de::Error>(&self, value: f64) -> Result<Duration, E> {
            if !value.is_finite() || value < 0.0 {
                return Err(E::custom(format!(
                    "{value} is not a duration (expected a number of 0 or more, or a text such \
                     as \"90s\")"
                )));
            }
            Duration::try_from_secs_f64(value * self.unit_seconds)
                .map_err(|_| E::custom(format!("{value} is too long a duration")))
        }
    }

    impl<'de> Visitor<'de> for DurationVisitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration such as \"90s\", \"15m\" or \"1h\"")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
            let trimmed = text.trim();
            // The environment and older files give numbers as text.
            if let Ok(number) = trimmed.parse::<f64>() {
                return self.number(number);
            }
            humantime::parse_duration(trimmed).map_err(|error| {
                E::custom(format!(
                    "{text:?} is not a duration ({error}; write e.g. \"90s\", \"15m\", \"1h\")"
                ))
            })
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<Duration, E> {
            self.number(value)
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<Duration, E> {
            self.number(value as f64)
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<Duration, E> {
            self.number(value as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Knobs {
        #[serde(deserialize_with = "duration::minutes")]
        interval: Duration,
        #[serde(deserialize_with = "duration::seconds")]
        timeout: Duration,
    }

    fn knobs(json: &str) -> Result<Knobs, String> {
        serde_json::from_str(json).map_err(|error| error.to_string())
    }

    #[test]
    fn durations_read_text_with_units_and_bare_numbers_in_the_old_unit() {
        let read = knobs(r#"{"interval": 1, "timeout": 30}"#).unwrap();
        assert_eq!(read.interval, Duration::from_secs(60));
        assert_eq!(read.timeout, Duration::from_secs(30));
        let read = knobs(r#"{"interval": "90s", "timeout": "1m 30s"}"#).unwrap();
        assert_eq!(read.interval, Duration::from_secs(90));
        assert_eq!(read.timeout, Duration::from_secs(90));
        let read = knobs(r#"{"interval": 0.5, "timeout": "2.5"}"#).unwrap();
        assert_eq!(read.interval, Duration::from_secs(30));
        assert_eq!(read.timeout, Duration::from_millis(2500));
    }

    #[test]
    fn bad_durations_say_what_is_accepted() {
        let error = knobs(r#"{"interval": "soon", "timeout": 1}"#).unwrap_err();
        assert!(error.contains("\"soon\" is not a duration"), "{error}");
        assert!(error.contains("\"15m\""), "{error}");
        let error = knobs(r#"{"interval": -1, "timeout": 1}"#).unwrap_err();
        assert!(error.contains("0 or more"), "{error}");
    }

    #[test]
    fn range_checks_name_the_key_and_the_bounds() {
        assert!(check_range("scheduler.batch_size", 50, 1, 10_000).is_ok());
        let error = check_range("scheduler.batch_size", 0, 1, 10_000).unwrap_err();
        assert_eq!(
            error.to_string(),
            "configuration key scheduler.batch_size = 0 is invalid: expected a whole number \
             from 1 to 10000"
        );
        let error = check_duration(
            "scheduler.poll_interval",
            Duration::from_millis(5),
            Duration::from_millis(10),
            Duration::from_secs(3600),
        )
        .unwrap_err();
        assert!(error.to_string().contains("\"5ms\""), "{error}");
        assert!(error.to_string().contains("from 10ms to 3600s"), "{error}");
    }
}
