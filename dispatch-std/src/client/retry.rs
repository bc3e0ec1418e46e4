//! Opt-in retries with exponential backoff and jitter.
//!
//! Only `unavailable` and `resource_exhausted` are retried: both mean Dispatch
//! did not take the calls, so sending them again cannot dispatch them twice.
//! Every other outcome, a timeout included (the calls may have been taken),
//! is returned at once.

use core::hash::{BuildHasher, Hasher};
use core::time::Duration;
use std::collections::hash_map::RandomState;

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

    /// The jittered wait after failed attempt number `attempt`: uniform in
    /// `[base/2, base]`, so that many clients do not retry in step.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
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
