//! When to try a failed fetch again, and how long to wait first.

use std::time::Duration;

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

/// The `Retry-After` of a 429 or 503 answer, in its delay-seconds form.
/// The HTTP-date form is ignored (the normal backoff applies).
pub(crate) fn retry_after(status: StatusCode, headers: &HeaderMap) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
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
        assert_eq!(retry_after(StatusCode::SERVICE_UNAVAILABLE, &headers), None);
    }
}
