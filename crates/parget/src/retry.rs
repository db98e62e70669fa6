//! When to retry a failed transfer, and how long to wait first.
//!
//! This module makes the decision only: the caller classifies the failure
//! (see [`is_retryable_status`]), supplies the server's `Retry-After` and a
//! random number, and sleeps for whatever [`RetryPolicy::decide`] returns.
//! Keeping randomness and time outside makes the schedule deterministic and
//! testable.

use std::time::Duration;

/// Retries after the first attempt, unless configured otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 5;
/// Delay before the first retry (before jitter), unless configured otherwise.
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_secs(1);
/// Ceiling of the exponential backoff, unless configured otherwise.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(60);
/// Ceiling on a server's `Retry-After`, unless configured otherwise.
pub const DEFAULT_MAX_RETRY_AFTER: Duration = Duration::from_secs(5 * 60);

/// How many times to retry and how long to wait in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    max_retries: u32,
    base_delay: Duration,
    max_delay: Duration,
    max_retry_after: Duration,
}

/// What to do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop and report the failure.
    GiveUp,
}

impl Default for RetryPolicy {
    /// 5 retries, 1 s base delay, backoff capped at 60 s, `Retry-After`
    /// capped at 5 min.
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            base_delay: DEFAULT_BASE_DELAY,
            max_delay: DEFAULT_MAX_DELAY,
            max_retry_after: DEFAULT_MAX_RETRY_AFTER,
        }
    }
}

impl RetryPolicy {
    /// A policy with the given retry count and base delay, and the default
    /// caps. A zero `base_delay` gives zero backoff delays (tests use it;
    /// a server's `Retry-After` is still honoured).
    pub fn new(max_retries: u32, base_delay: Duration) -> Self {
        RetryPolicy {
            max_retries,
            base_delay,
            ..RetryPolicy::default()
        }
    }

    /// Sets the ceiling of the exponential backoff.
    pub fn with_max_delay(self, max_delay: Duration) -> Self {
        RetryPolicy { max_delay, ..self }
    }

    /// Sets the ceiling applied to a server's `Retry-After`.
    pub fn with_max_retry_after(self, max_retry_after: Duration) -> Self {
        RetryPolicy {
            max_retry_after,
            ..self
        }
    }

    /// How many retries are allowed after the first attempt.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The delay before the first retry, before jitter.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The ceiling of the exponential backoff.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The ceiling applied to a server's `Retry-After`.
    pub fn max_retry_after(&self) -> Duration {
        self.max_retry_after
    }

    /// Decides whether to retry and how long to wait.
    ///
    /// `retries_done`: how many retries already happened for this download;
    /// `retryable`: whether the failure is one worth retrying (the caller
    /// classifies); `retry_after`: the server's `Retry-After` if any;
    /// `jitter`: a number in `[0, 1)` supplied by the caller (values outside
    /// are clamped, NaN counts as 0).
    ///
    /// The rules, in order:
    /// 1. Give up on a failure that is not retryable: a 404 or a checksum
    ///    mismatch will not fix itself, retrying only hammers the server.
    /// 2. Give up once `retries_done >= max_retries`: a download must end,
    ///    with an error the user sees, rather than loop forever.
    /// 3. Otherwise wait the jittered backoff ([`RetryPolicy::backoff`]), so
    ///    that many failed connections to one server do not come back in
    ///    lock-step.
    /// 4. If the server sent `Retry-After`, wait at least that long (capped
    ///    at `max_retry_after`): coming back earlier than a rate-limiting
    ///    server asked earns another 429 or 503, but a server asking for
    ///    hours must not stall the whole run.
    pub fn decide(
        &self,
        retries_done: u32,
        retryable: bool,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> RetryDecision {
        if !retryable || retries_done >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        let backoff = self.backoff(retries_done, jitter);
        let delay = match retry_after {
            Some(asked) => backoff.max(asked.min(self.max_retry_after)),
            None => backoff,
        };
        RetryDecision::RetryAfter(delay)
    }

    /// The un-jittered backoff before retry number `retries_done + 1`:
    /// `base_delay * 2^retries_done`, capped at `max_delay`.
    ///
    /// Doubling spreads retries out quickly when a server is down for a
    /// while; the cap keeps a long outage from turning into hour-long
    /// sleeps. Any overflow (a large `retries_done`) saturates to the cap.
    pub fn exponential_delay(&self, retries_done: u32) -> Duration {
        let doubled = 2u32
            .checked_pow(retries_done)
            .and_then(|factor| self.base_delay.checked_mul(factor));
        match doubled {
            Some(delay) => delay.min(self.max_delay),
            // Only reachable with a non-zero base (zero times anything fits).
            None if self.base_delay.is_zero() => Duration::ZERO,
            None => self.max_delay,
        }
    }

    /// The jittered backoff: with `d` = [`RetryPolicy::exponential_delay`],
    /// `d/2 + jitter * d/2`, always within `[d/2, d]`.
    ///
    /// "Full jitter in the upper half": full jitter (`jitter * d`) spreads
    /// clients best but can collapse to an immediate retry, which defeats
    /// the backoff against an overloaded server; keeping the lower half
    /// fixed guarantees at least `d/2` of rest. Computed in whole
    /// nanoseconds so it can neither overflow nor exceed `d`.
    pub fn backoff(&self, retries_done: u32, jitter: f64) -> Duration {
        let full = self.exponential_delay(retries_done).as_nanos();
        let half = full / 2;
        let fixed = full - half;
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        // `as` from f64 saturates, and the `min` keeps rounding in bounds.
        let extra = ((half as f64) * jitter) as u128;
        let total = fixed.saturating_add(extra.min(half)).min(full);
        duration_from_nanos(total)
    }
}

/// Converts nanoseconds back to a `Duration`; the input never exceeds a
/// `Duration` it came from, but saturate rather than trust that.
fn duration_from_nanos(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, subsec)
}

/// Whether an HTTP status is worth retrying.
///
/// 408 (Request Timeout), 429 (Too Many Requests) and every 5xx are
/// transient by definition; other 4xx say the request itself is wrong
/// (missing file, forbidden) and will fail again; 1xx–3xx are not failures.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const JUST_BELOW_ONE: f64 = 1.0 - f64::EPSILON;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn millis(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn delay_of(decision: RetryDecision) -> Duration {
        match decision {
            RetryDecision::RetryAfter(delay) => delay,
            RetryDecision::GiveUp => panic!("expected a retry"),
        }
    }

    #[test]
    fn defaults() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.max_retries(), 5);
        assert_eq!(policy.base_delay(), secs(1));
        assert_eq!(policy.max_delay(), secs(60));
        assert_eq!(policy.max_retry_after(), secs(300));
    }

    #[test]
    fn builders_set_fields() {
        let policy = RetryPolicy::new(3, millis(10))
            .with_max_delay(secs(2))
            .with_max_retry_after(secs(7));
        assert_eq!(policy.max_retries(), 3);
        assert_eq!(policy.base_delay(), millis(10));
        assert_eq!(policy.max_delay(), secs(2));
        assert_eq!(policy.max_retry_after(), secs(7));
    }

    #[test]
    fn schedule_with_zero_jitter_is_the_lower_half() {
        let policy = RetryPolicy::new(10, secs(1));
        let delays: Vec<Duration> = (0..8)
            .map(|n| delay_of(policy.decide(n, true, None, 0.0)))
            .collect();
        assert_eq!(
            delays,
            [
                millis(500),
                secs(1),
                secs(2),
                secs(4),
                secs(8),
                secs(16),
                secs(30), // 64 s capped at 60 s, halved
                secs(30),
            ]
        );
    }

    #[test]
    fn schedule_with_jitter_just_below_one_approaches_the_full_delay() {
        let policy = RetryPolicy::new(10, secs(1));
        for (n, full) in [
            (0, secs(1)),
            (1, secs(2)),
            (5, secs(32)),
            (6, secs(60)),
            (9, secs(60)),
        ] {
            let delay = delay_of(policy.decide(n, true, None, JUST_BELOW_ONE));
            assert!(delay <= full, "retry {n}: {delay:?} > {full:?}");
            assert!(
                delay + Duration::from_micros(1) >= full,
                "retry {n}: {delay:?} far below {full:?}"
            );
        }
    }

    #[test]
    fn jitter_half_is_three_quarters() {
        let policy = RetryPolicy::new(10, secs(4));
        assert_eq!(delay_of(policy.decide(0, true, None, 0.5)), secs(3));
    }

    #[test]
    fn out_of_range_jitter_is_clamped() {
        let policy = RetryPolicy::new(10, secs(2));
        assert_eq!(delay_of(policy.decide(0, true, None, -3.0)), secs(1));
        assert_eq!(delay_of(policy.decide(0, true, None, f64::NAN)), secs(1));
        assert_eq!(delay_of(policy.decide(0, true, None, 7.0)), secs(2));
        assert_eq!(
            delay_of(policy.decide(0, true, None, f64::INFINITY)),
            secs(2)
        );
    }

    #[test]
    fn exponential_delay_is_capped_and_never_overflows() {
        let policy = RetryPolicy::new(u32::MAX, secs(1)).with_max_delay(secs(60));
        assert_eq!(policy.exponential_delay(0), secs(1));
        assert_eq!(policy.exponential_delay(5), secs(32));
        assert_eq!(policy.exponential_delay(6), secs(60));
        assert_eq!(policy.exponential_delay(31), secs(60));
        assert_eq!(policy.exponential_delay(32), secs(60));
        assert_eq!(policy.exponential_delay(u32::MAX), secs(60));
        let huge = RetryPolicy::new(u32::MAX, Duration::MAX).with_max_delay(Duration::MAX);
        assert_eq!(huge.exponential_delay(1), Duration::MAX);
        let d = delay_of(huge.decide(u32::MAX - 1, true, Some(Duration::MAX), JUST_BELOW_ONE));
        assert!(d <= Duration::MAX);
    }

    #[test]
    fn base_above_max_delay_is_capped_from_the_start() {
        let policy = RetryPolicy::new(3, secs(100)).with_max_delay(secs(10));
        assert_eq!(delay_of(policy.decide(0, true, None, 0.0)), secs(5));
    }

    #[test]
    fn zero_base_delay_gives_zero_delays() {
        let policy = RetryPolicy::new(40, Duration::ZERO);
        for n in [0, 1, 10, 39] {
            assert_eq!(
                delay_of(policy.decide(n, true, None, JUST_BELOW_ONE)),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn retry_after_longer_than_backoff_wins() {
        let policy = RetryPolicy::new(5, secs(1));
        assert_eq!(
            delay_of(policy.decide(0, true, Some(secs(20)), 0.0)),
            secs(20)
        );
    }

    #[test]
    fn retry_after_shorter_than_backoff_is_ignored() {
        let policy = RetryPolicy::new(5, secs(1));
        assert_eq!(
            delay_of(policy.decide(3, true, Some(secs(1)), 0.0)),
            secs(4)
        );
        assert_eq!(
            delay_of(policy.decide(3, true, Some(Duration::ZERO), 0.0)),
            secs(4)
        );
    }

    #[test]
    fn retry_after_is_capped() {
        let policy = RetryPolicy::new(5, secs(1));
        assert_eq!(
            delay_of(policy.decide(0, true, Some(secs(86_400)), 0.0)),
            secs(300)
        );
        let short_cap = policy.with_max_retry_after(secs(10));
        assert_eq!(
            delay_of(short_cap.decide(0, true, Some(secs(3600)), 0.0)),
            secs(10)
        );
        // The cap applies to the server's value, not to our own backoff.
        let tiny_cap = RetryPolicy::new(9, secs(1)).with_max_retry_after(secs(2));
        assert_eq!(
            delay_of(tiny_cap.decide(5, true, Some(secs(3600)), 0.0)),
            secs(16)
        );
    }

    #[test]
    fn retry_after_applies_with_zero_base_delay() {
        let policy = RetryPolicy::new(5, Duration::ZERO);
        assert_eq!(
            delay_of(policy.decide(0, true, Some(secs(3)), 0.5)),
            secs(3)
        );
    }

    #[test]
    fn gives_up_at_the_limit() {
        let policy = RetryPolicy::new(3, secs(1));
        assert!(matches!(
            policy.decide(2, true, None, 0.0),
            RetryDecision::RetryAfter(_)
        ));
        assert_eq!(policy.decide(3, true, None, 0.0), RetryDecision::GiveUp);
        assert_eq!(policy.decide(4, true, None, 0.0), RetryDecision::GiveUp);
        assert_eq!(
            policy.decide(u32::MAX, true, None, 0.0),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn zero_max_retries_never_retries() {
        let policy = RetryPolicy::new(0, secs(1));
        assert_eq!(
            policy.decide(0, true, Some(secs(1)), 0.0),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn gives_up_on_non_retryable_failures() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.decide(0, false, None, 0.0), RetryDecision::GiveUp);
        assert_eq!(
            policy.decide(0, false, Some(secs(1)), 0.0),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn retryable_statuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [
            0,
            100,
            200,
            206,
            301,
            304,
            400,
            401,
            403,
            404,
            407,
            409,
            416,
            428,
            430,
            499,
            600,
            999,
            u16::MAX,
        ] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    proptest! {
        #[test]
        fn delay_stays_within_bounds(
            retries_done in 0u32..200,
            max_retries in 0u32..300,
            base_ms in 0u64..100_000,
            max_delay_ms in 0u64..10_000_000,
            max_retry_after_ms in 0u64..10_000_000,
            retry_after_ms in proptest::option::of(0u64..100_000_000),
            jitter in 0.0f64..1.0,
        ) {
            let policy = RetryPolicy::new(max_retries, millis(base_ms))
                .with_max_delay(millis(max_delay_ms))
                .with_max_retry_after(millis(max_retry_after_ms));
            let retry_after = retry_after_ms.map(millis);
            match policy.decide(retries_done, true, retry_after, jitter) {
                RetryDecision::GiveUp => prop_assert!(retries_done >= max_retries),
                RetryDecision::RetryAfter(delay) => {
                    prop_assert!(retries_done < max_retries);
                    let d = policy.exponential_delay(retries_done);
                    let capped_retry_after = retry_after.map(|r| r.min(policy.max_retry_after()));
                    let upper = d.max(capped_retry_after.unwrap_or(Duration::ZERO));
                    prop_assert!(delay <= upper);
                    prop_assert!(delay <= policy.max_delay().max(capped_retry_after.unwrap_or(Duration::ZERO)));
                    prop_assert!(delay >= d / 2);
                    if let Some(asked) = capped_retry_after {
                        prop_assert!(delay >= asked);
                    } else {
                        prop_assert!(delay <= d);
                    }
                }
            }
        }

        #[test]
        fn decide_never_panics(
            retries_done: u32,
            retryable: bool,
            base_nanos: u64,
            max_delay_secs: u64,
            retry_after_secs: Option<u64>,
            jitter: f64,
        ) {
            let policy = RetryPolicy::new(u32::MAX, Duration::from_nanos(base_nanos))
                .with_max_delay(Duration::from_secs(max_delay_secs))
                .with_max_retry_after(Duration::MAX);
            let _ = policy.decide(retries_done, retryable, retry_after_secs.map(Duration::from_secs), jitter);
        }

        #[test]
        fn backoff_is_monotonic_in_jitter(retries_done in 0u32..40, a in 0.0f64..1.0, b in 0.0f64..1.0) {
            let policy = RetryPolicy::default();
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(policy.backoff(retries_done, low) <= policy.backoff(retries_done, high));
        }
    }
}
