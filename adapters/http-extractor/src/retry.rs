//! When to try a failed fetch again, and how long to wait first.

use std::num::IntErrorKind;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest backoff between two attempts, however many retries (the
/// fetch's deadline usually cuts it shorter).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The wait before retry number `retry` (0 for the first): `base * 2^retry`,
/// the upper half of it jittered ("equal jitter"), so that workers that
/// failed together do not come back together, yet each wait is at least
/// half the nominal one.
pub(crate) fn backoff(base: Duration, retry: u32) -> Duration {
    let nominal = base
        .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    let half = nominal / 2;
    let jitter_nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    let jitter = if jitter_nanos == 0 {
        0
    } else {
        fastrand::u64(0..=jitter_nanos)
    };
    half + Duration::from_nanos(jitter)
}

/// The longest `Retry-After` taken as given; a longer one reads as this
/// long. Any wait past an hour outlasts a fetch's time limit all the same,
/// and the bound keeps a deadline computed from the wait from overflowing.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// The `Retry-After` of a 429 or 503 answer: delay-seconds (`120`) or an
/// HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`; a date already past means
/// no wait). A value that is neither leaves the normal backoff to apply.
pub(crate) fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(value, SystemTime::now())
}

/// A `Retry-After` value read at `now`, at most [`LONGEST_RETRY_AFTER`].
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        // Digits past u64: a wait longer than any bound.
        Err(error) if *error.kind() == IntErrorKind::PosOverflow => LONGEST_RETRY_AFTER,
        Err(_) => {
            let date = httpdate::parse_http_date(value).ok()?;
            date.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(LONGEST_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn backoff_doubles_and_stays_between_half_and_whole_of_the_nominal_wait() {
        let base = Duration::from_millis(100);
        for retry in 0..4 {
            let nominal = base * 2u32.pow(retry);
            for _ in 0..50 {
                let wait = backoff(base, retry);
                assert!(
                    wait >= nominal / 2 && wait <= nominal,
                    "{wait:?} for {retry}"
                );
            }
        }
    }

    #[test]
    fn backoff_is_capped_and_does_not_overflow() {
        assert!(backoff(Duration::from_secs(1), 63) <= MAX_BACKOFF);
        assert_eq!(backoff(Duration::ZERO, 5), Duration::ZERO);
    }

    #[test]
    fn retry_after_seconds_is_read_on_429_and_503_only() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(
            retry_after(StatusCode::TOO_MANY_REQUESTS, &headers),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(StatusCode::BAD_GATEWAY, &headers), None);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(StatusCode::SERVICE_UNAVAILABLE, &headers),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(StatusCode::BAD_GATEWAY, &headers), None);
    }

    fn at(date: &str) -> SystemTime {
        httpdate::parse_http_date(date).unwrap()
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_reads_an_http_date_as_the_time_until_then() {
        let now = at("Wed, 21 Oct 2015 07:26:30 GMT");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(90))
        );
        // The obsolete forms HTTP still asks readers to accept.
        assert_eq!(
            parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_retry_after("Wed Oct 21 07:28:00 2015", now),
            Some(Duration::from_secs(90))
        );
    }

    #[test]
    fn a_retry_after_date_in_the_past_means_no_wait() {
        let now = at("Wed, 21 Oct 2015 07:28:01 GMT");
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_retry_after_that_is_neither_form_is_ignored() {
        let now = SystemTime::now();
        for garbage in [
            "",
            "soon",
            "-5",
            "1.5",
            "7 seconds",
            "0x10",
            "Wed, 32 Oct 2015",
        ] {
            assert_eq!(parse_retry_after(garbage, now), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_huge_retry_after_is_bounded_without_overflow() {
        let now = at("Wed, 21 Oct 2015 07:28:00 GMT");
        for huge in [
            "86401",
            "18446744073709551615",
            "99999999999999999999999999999999999999",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(LONGEST_RETRY_AFTER),
                "{huge:?}"
            );
        }
        // The fetch adds the wait to the clock to compare it with its
        // deadline: the longest wait must not overflow that sum.
        let now = tokio::time::Instant::now();
        assert!(now.checked_add(LONGEST_RETRY_AFTER).is_some());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2_000))]

        /// Any header value, digits of any length included, is a wait of at
        /// most a day or no wait at all, never a panic.
        #[test]
        fn any_retry_after_value_is_a_bounded_wait_or_none(
            value in proptest::prelude::prop_oneof![
                "[0-9]{1,60}",
                "[ -~]{0,40}",
                proptest::prelude::any::<String>(),
            ]
        ) {
            if let Some(wait) = parse_retry_after(&value, SystemTime::now()) {
                proptest::prop_assert!(wait <= LONGEST_RETRY_AFTER);
            }
        }
    }
}
