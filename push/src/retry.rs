//! Retry timing: `Retry-After` (RFC 9110 §10.2.3, seconds or HTTP-date) and
//! exponential backoff.

use std::time::{Duration, SystemTime};

/// The `Retry-After` delay of a response, if it has a usable one.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    parse_retry_after(value, SystemTime::now())
}

pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A request that could not be made or answered: a malformed request
/// (e.g. a header value with a newline) is permanent, network trouble is
/// worth a retry. The URL (device token, endpoint) stays out of the reason.
pub(crate) fn transport_failure(who: &str, e: reqwest::Error) -> crate::error::Failure {
    let builder = e.is_builder();
    let reason = format!("{who}: {}", e.without_url());
    if builder {
        crate::error::Failure::Permanent(reason)
    } else {
        crate::error::Failure::Retry {
            reason,
            retry_after: None,
        }
    }
}

/// Delay before retry number `attempt` (1-based): base, 2×base, 4×base, …
pub(crate) fn backoff(attempt: u32, base: Duration) -> Duration {
    base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Thu, 26 Nov 2026 06:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 06:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Thu, 26 Nov 2026 05:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn backoff_doubles_and_saturates() {
        let b = Duration::from_millis(100);
        assert_eq!(backoff(1, b), b);
        assert_eq!(backoff(3, b), Duration::from_millis(400));
        assert!(backoff(u32::MAX, b) >= backoff(17, b));
    }
}
