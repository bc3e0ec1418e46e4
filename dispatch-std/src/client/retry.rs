//! Opt-in retries with exponential backoff and jitter.
//!
//! Only `unavailable` and `resource_exhausted` are retried: both mean Dispatch
//! did not take the calls, so sending them again cannot dispatch them twice.
//! Every other outcome, a timeout included (the calls may have been taken),
//! is returned at once.
//!
//! A server may say how long to wait: an HTTP `Retry-After` header (seconds or
//! an HTTP-date),
//! or a `google.rpc.RetryInfo` detail in the Connect error body or in gRPC's
//! `grpc-status-details-bin`. The wait is then the longer of that delay and
//! the policy's own backoff; a delay over [`RetryPolicy::max_server_delay`]
//! ends the retries and returns the error, rather than coming back too early.

use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use std::collections::hash_map::RandomState;
use std::time::SystemTime;

use prost::Message;

use super::ClientError;

/// How many times to try a dispatch and how long to wait between tries.
///
/// The default is [`RetryPolicy::none`]: one attempt, as both SDKs do.
///
/// ```
/// use core::time::Duration;
/// use dispatch_std::client::RetryPolicy;
///
/// let policy = RetryPolicy::exponential(4)
///     .initial_backoff(Duration::from_millis(50))
///     .max_backoff(Duration::from_secs(2));
/// assert_eq!(policy.max_attempts(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_server_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::none()
    }
}

impl RetryPolicy {
    /// The most attempts [`RetryPolicy::exponential`] accepts.
    pub const MAX_ATTEMPTS: u32 = 10;

    /// A single attempt, no retry.
    pub const fn none() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_server_delay: Duration::from_secs(30),
        }
    }

    /// Up to `max_attempts` attempts in all (clamped to 1..=[`Self::MAX_ATTEMPTS`]),
    /// waiting 100 ms before the second, doubling each time up to 5 s, each
    /// wait drawn at random between half and all of that value.
    pub const fn exponential(max_attempts: u32) -> Self {
        let max_attempts = if max_attempts == 0 {
            1
        } else if max_attempts > Self::MAX_ATTEMPTS {
            Self::MAX_ATTEMPTS
        } else {
            max_attempts
        };
        Self {
            max_attempts,
            ..Self::none()
        }
    }

    /// Sets the wait before the second attempt (before jitter).
    pub const fn initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// Sets the longest wait between two attempts (before jitter).
    pub const fn max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// Sets the longest delay a server may ask for before the next attempt
    /// (30 s unless set); when it asks for more, the error is returned.
    pub const fn max_server_delay(mut self, limit: Duration) -> Self {
        self.max_server_delay = limit;
        self
    }

    /// Attempts in all, the first included.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait after failed attempt number `attempt` (1-based), before jitter:
    /// `initial * 2^(attempt-1)`, capped at the maximum.
    pub fn base_backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff)
    }

    /// The wait before the next attempt, after `err` ended attempt number
    /// `attempt` (1-based); `None` when the error is returned instead.
    pub(crate) fn next_wait(&self, attempt: u32, err: &ClientError) -> Option<Duration> {
        if !err.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(attempt);
        match err.retry_after() {
            Some(asked) if asked > self.max_server_delay => None,
            Some(asked) => Some(asked.max(backoff)),
            None => Some(backoff),
        }
    }

    /// The jittered wait after failed attempt number `attempt`: uniform in
    /// `[base/2, base]`, so that many clients do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.base_backoff(attempt);
        let half = base / 2;
        let spread = u64::try_from((base - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = if spread == 0 {
            0
        } else {
            random_u64() % (spread + 1)
        };
        half + Duration::from_nanos(jitter)
    }
}

/// Runs `send` until it succeeds, fails for good, or `policy` ends the
/// retries, waiting [`RetryPolicy::next_wait`] between attempts.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    mut send: F,
) -> Result<T, ClientError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    let mut attempt = 1;
    loop {
        let outcome = send().await;
        let wait = outcome
            .as_ref()
            .err()
            .and_then(|err| policy.next_wait(attempt, err));
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return outcome,
        }
        attempt += 1;
    }
}

/// The delay an HTTP `Retry-After` value asks for: delta-seconds (1 to 10
/// digits), or an HTTP-date (any of the three forms RFC 9110 makes recipients
/// accept) counted from `now`, zero if it has passed. `None` for anything else.
///
/// The caller passes the response's own `Date` as `now` when there is one, so
/// that the skew between the server's clock and ours does not count.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        if value.len() > 10 {
            return None;
        }
        return value.parse().ok().map(Duration::from_secs);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `google.rpc.RetryInfo`, the one field read here.
#[derive(Clone, PartialEq, Message)]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<prost_types::Duration>,
}

/// The full name of `google.rpc.RetryInfo`, as a Connect detail's `type`.
pub const RETRY_INFO: &str = "google.rpc.RetryInfo";

/// The delay of an encoded `google.rpc.RetryInfo`; `None` if it does not
/// decode or holds no valid, non-negative delay.
pub fn retry_info_delay(encoded: &[u8]) -> Option<Duration> {
    let delay = RetryInfo::decode(encoded).ok()?.retry_delay?;
    Duration::try_from(delay).ok()
}

/// `google.rpc.Status`, as gRPC sends it in `grpc-status-details-bin`.
#[cfg(feature = "grpc")]
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<prost_types::Any>,
}

/// The delay of the first `RetryInfo` among a gRPC status's details.
#[cfg(feature = "grpc")]
pub(crate) fn grpc_retry_delay(status_details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(status_details).ok()?;
    status
        .details
        .iter()
        .find(|any| any.type_url.rsplit('/').next() == Some(RETRY_INFO))
        .and_then(|any| retry_info_delay(&any.value))
}

/// A random number from the std hasher's per-process random keys; good enough
/// to spread retries, and it needs no extra dependency.
fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5eed);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_is_one_attempt_and_the_default() {
        assert_eq!(RetryPolicy::default(), RetryPolicy::none());
        assert_eq!(RetryPolicy::none().max_attempts(), 1);
    }

    fn unavailable(retry_after: Option<Duration>) -> ClientError {
        ClientError::Api {
            code: dispatch_core::connect::Code::Unavailable,
            message: "busy".into(),
            http_status: 503,
            retry_after,
        }
    }

    #[test]
    fn the_server_delay_lengthens_the_wait_up_to_a_limit() {
        let policy = RetryPolicy::exponential(3)
            .initial_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(10))
            .max_server_delay(Duration::from_secs(2));
        let wait = |err: &ClientError, attempt| policy.next_wait(attempt, err);
        let backoff = wait(&unavailable(None), 1).unwrap();
        assert!(backoff >= Duration::from_millis(5) && backoff <= Duration::from_millis(10));
        // A shorter delay than the backoff does not shorten it.
        let short = wait(&unavailable(Some(Duration::from_millis(1))), 1).unwrap();
        assert!(short >= Duration::from_millis(5));
        assert_eq!(
            wait(&unavailable(Some(Duration::from_secs(2))), 1),
            Some(Duration::from_secs(2))
        );
        // Longer than allowed: give up now rather than come back too early.
        assert_eq!(
            wait(&unavailable(Some(Duration::from_millis(2001))), 1),
            None
        );
        // The last attempt, or an error that is not retried: no wait.
        assert_eq!(wait(&unavailable(None), 3), None);
        let refused = ClientError::Api {
            code: dispatch_core::connect::Code::InvalidArgument,
            message: "no".into(),
            http_status: 400,
            retry_after: Some(Duration::from_millis(1)),
        };
        assert_eq!(wait(&refused, 1), None);
    }

    #[test]
    fn retry_after_takes_delta_seconds_or_an_http_date() {
        // 2015-10-21T07:28:00Z, the date of RFC 9110's example.
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        let parse = |value| parse_retry_after(value, now);
        assert_eq!(parse("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse("9999999999"),
            Some(Duration::from_secs(9_999_999_999))
        );
        // The three date forms, 90 s after `now`.
        for date in [
            "Wed, 21 Oct 2015 07:29:30 GMT",
            "Wednesday, 21-Oct-15 07:29:30 GMT",
            "Wed Oct 21 07:29:30 2015",
        ] {
            assert_eq!(parse(date), Some(Duration::from_secs(90)), "{date:?}");
        }
        // A date already passed means now.
        assert_eq!(parse("Wed, 21 Oct 2015 07:27:00 GMT"), Some(Duration::ZERO));
        for other in [
            "",
            "-1",
            "1.5",
            "+3",
            "12345678901",
            "Wed, 21 Oct 2015 07:28:00",
            "Wed, 32 Oct 2015 07:28:00 GMT",
            "soon",
        ] {
            assert_eq!(parse(other), None, "{other:?}");
        }
    }

    #[test]
    fn retry_info_gives_its_delay() {
        let encode = |seconds, nanos| {
            RetryInfo {
                retry_delay: Some(prost_types::Duration { seconds, nanos }),
            }
            .encode_to_vec()
        };
        // The bytes the Connect vectors carry: retry_delay = 30 s.
        assert_eq!(
            retry_info_delay(&[0x0a, 0x02, 0x08, 0x1e]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_info_delay(&encode(2, 500_000_000)),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(retry_info_delay(&encode(-1, 0)), None);
        assert_eq!(retry_info_delay(&[]), None);
        assert_eq!(retry_info_delay(&[0xff]), None);
    }

    #[cfg(feature = "grpc")]
    #[test]
    fn grpc_status_details_carry_retry_info() {
        let details = |type_url: &str| {
            RpcStatus {
                code: 14,
                message: "busy".into(),
                details: vec![
                    prost_types::Any {
                        type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(),
                        value: vec![],
                    },
                    prost_types::Any {
                        type_url: type_url.into(),
                        value: vec![0x0a, 0x02, 0x08, 0x05],
                    },
                ],
            }
            .encode_to_vec()
        };
        assert_eq!(
            grpc_retry_delay(&details("type.googleapis.com/google.rpc.RetryInfo")),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            grpc_retry_delay(&details("type.googleapis.com/x.RetryInfo")),
            None
        );
        assert_eq!(grpc_retry_delay(&[]), None);
    }

    #[test]
    fn attempts_are_clamped() {
        assert_eq!(RetryPolicy::exponential(0).max_attempts(), 1);
        assert_eq!(RetryPolicy::exponential(3).max_attempts(), 3);
        assert_eq!(
            RetryPolicy::exponential(1000).max_attempts(),
            RetryPolicy::MAX_ATTEMPTS
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::exponential(10)
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(1000));
        let bases: Vec<u128> = (1..=6)
            .map(|a| policy.base_backoff(a).as_millis())
            .collect();
        assert_eq!(bases, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.base_backoff(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let policy = RetryPolicy::exponential(5).initial_backoff(Duration::from_millis(80));
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let wait = policy.backoff(2);
            assert!(wait >= Duration::from_millis(80) && wait <= Duration::from_millis(160));
            seen.insert(wait);
        }
        assert!(seen.len() > 1, "the waits are not jittered");
    }
}
