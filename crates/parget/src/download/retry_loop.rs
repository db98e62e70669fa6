//! The one retry loop: a download's attempts and a segment connection's
//! fetches both run under it. An attempt says what should happen after it
//! failed ([`Next`]); the loop asks the retry policy when that is the
//! question, reports the retry, and waits (cancellably).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind};
use crate::event::{DownloadProgress, Retry, RetryCount};
use crate::retry::{RetryDecision, RetryPolicy};
use crate::shared::Shared;

/// What follows a failed attempt, decided by the attempt: it knows whether
/// its bytes can be continued and whether the failure is its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Ask the retry policy: retryable errors are retried after a backoff.
    Retry,
    /// Try again at once, without spending a retry: the next attempt does
    /// something else (another mirror, a fresh start after a change).
    RetryNow,
    /// The resource must be fetched anew from its first byte; only the
    /// download as a whole can do that, so the loop hands it back.
    StartOver,
    /// Stop: final, or already retried where it happened.
    GiveUp,
}

/// A failed attempt and what should follow it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub error: Error,
    pub next: Next,
}

impl Failure {
    pub(crate) fn new(error: Error, next: Next) -> Failure {
        Failure { error, next }
    }

    pub(crate) fn give_up(error: Error) -> Failure {
        Failure::new(error, Next::GiveUp)
    }
}

impl From<Error> for Failure {
    /// An error the policy decides about.
    fn from(error: Error) -> Failure {
        Failure::new(error, Next::Retry)
    }
}

/// What the loop needs besides the attempt.
pub(crate) struct Retrying<'a> {
    pub shared: &'a Shared,
    pub progress: &'a DownloadProgress,
    pub policy: &'a RetryPolicy,
    /// Ends a wait between attempts.
    pub cancel: &'a CancellationToken,
    /// The retries spent so far, shared by every loop of one download.
    pub spent: &'a AtomicU32,
}

/// Runs `attempt` on `state` until it succeeds or a failure is final; a
/// failure whose [`Next`] is [`Next::StartOver`] or [`Next::GiveUp`] is
/// handed back as it is. Every attempt after the first counts in the
/// download's attempts.
pub(crate) async fn retry_loop<S, T>(
    retrying: Retrying<'_>,
    state: &mut S,
    mut attempt: impl for<'s> FnMut(&'s mut S) -> BoxFuture<'s, Result<T, Failure>>,
) -> Result<T, Failure> {
    let Retrying {
        shared,
        progress,
        policy,
        cancel,
        spent,
    } = retrying;
    loop {
        let failure = match attempt(state).await {
            Ok(done) => return Ok(done),
            Err(failure) => failure,
        };
        let (delay, counted) = match failure.next {
            Next::StartOver | Next::GiveUp => return Err(failure),
            Next::RetryNow => (Duration::ZERO, None),
            Next::Retry => match reserve_retry(policy, spent, &failure.error) {
                Some(reserved) => reserved,
                None => return Err(failure),
            },
        };
        progress.add_attempt();
        let retry = Retry {
            error: &failure.error,
            delay,
            counted,
        };
        shared.reporter.retrying(progress, &retry);
        if !delay.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = cancel.cancelled() => {
                    return Err(Failure::give_up(Error::new(ErrorKind::Cancelled, None)));
                }
            }
        }
    }
}

/// Asks the policy about `error` with the retries `spent` so far and, when
/// it says retry, takes one of them: the decision and the count are one
/// step, so two connections of a download failing at once never both
/// take the last retry ("retry 3 of 2").
fn reserve_retry(
    policy: &RetryPolicy,
    spent: &AtomicU32,
    error: &Error,
) -> Option<(Duration, Option<RetryCount>)> {
    let mut done = spent.load(Ordering::Acquire);
    loop {
        let decision = policy.decide(
            done,
            error.is_retryable(),
            error.retry_after(),
            fastrand::f64(),
        );
        let RetryDecision::RetryAfter(delay) = decision else {
            return None;
        };
        match spent.compare_exchange(done, done + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let count = RetryCount {
                    in_a_row: done + 1,
                    limit: policy.max_retries(),
                };
                return Some((delay, Some(count)));
            }
            // Another connection took one meanwhile: decide again.
            Err(now) => done = now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::sync::Arc;

    fn shared() -> Shared {
        Shared::new(
            Config::default(),
            Default::default(),
            Arc::new(crate::event::NoReporter),
            Default::default(),
        )
    }

    fn progress() -> DownloadProgress {
        DownloadProgress::new(crate::event::DownloadId(1), "u".into(), "p".into(), None)
    }

    fn status(code: u16) -> Error {
        Error::new(
            ErrorKind::Status {
                code,
                retry_after: None,
            },
            None,
        )
    }

    /// Runs attempts that fail with the given outcomes in turn, then succeed.
    async fn run(outcomes: Vec<Failure>, policy: RetryPolicy) -> (Result<u32, Failure>, u32) {
        run_spent(outcomes, policy, &AtomicU32::new(0)).await
    }

    /// [`run`] with a budget `spent` shared with other loops.
    async fn run_spent(
        outcomes: Vec<Failure>,
        policy: RetryPolicy,
        spent: &AtomicU32,
    ) -> (Result<u32, Failure>, u32) {
        let shared = shared();
        let progress = progress();
        let mut state = (outcomes.into_iter(), 0u32);
        let cancel = CancellationToken::new();
        let result = retry_loop(
            Retrying {
                shared: &shared,
                progress: &progress,
                policy: &policy,
                cancel: &cancel,
                spent,
            },
            &mut state,
            |(outcomes, calls)| {
                Box::pin(async move {
                    *calls += 1;
                    match outcomes.next() {
                        Some(failure) => Err(failure),
                        None => Ok(*calls),
                    }
                })
            },
        )
        .await;
        (result, progress.attempts())
    }

    fn quick(retries: u32) -> RetryPolicy {
        RetryPolicy::new(retries, Duration::from_millis(1))
    }

    #[tokio::test]
    async fn retryable_failures_are_retried_until_the_policy_gives_up() {
        let (result, retries) = run(vec![status(503).into(), status(503).into()], quick(5)).await;
        assert_eq!(
            result.unwrap(),
            3,
            "two failures, then the third call succeeds"
        );
        assert_eq!(retries, 2, "each retry counts");
        let (result, _) = run((0..4).map(|_| status(503).into()).collect(), quick(2)).await;
        let failure = result.unwrap_err();
        assert_eq!(
            failure.error.status(),
            Some(503),
            "the last error is handed back"
        );
    }

    #[tokio::test]
    async fn loops_of_one_download_share_its_retries() {
        let spent = AtomicU32::new(0);
        let failures = || (0..10).map(|_| status(503).into()).collect();
        let (first, retries) = run_spent(failures(), quick(3), &spent).await;
        assert!(first.is_err());
        assert_eq!((retries, spent.load(Ordering::Acquire)), (3, 3));
        // Another connection of the same download has none left.
        let (second, retries) = run_spent(failures(), quick(3), &spent).await;
        assert_eq!(second.unwrap_err().error.status(), Some(503));
        assert_eq!(retries, 0, "the budget was spent");
    }

    #[tokio::test]
    async fn final_errors_are_not_retried() {
        let (result, retries) = run(vec![status(404).into()], quick(5)).await;
        assert_eq!(result.unwrap_err().error.status(), Some(404));
        assert_eq!(retries, 0);
    }

    #[tokio::test]
    async fn retry_now_spends_no_retry_and_start_over_and_give_up_return() {
        let now = || Failure::new(status(503), Next::RetryNow);
        // Three immediate retries with a policy of none: all taken.
        let (result, retries) = run(vec![now(), now(), now()], quick(0)).await;
        assert_eq!((result.unwrap(), retries), (4, 3));
        for next in [Next::StartOver, Next::GiveUp] {
            let (result, _) = run(vec![Failure::new(status(503), next)], quick(5)).await;
            assert_eq!(result.unwrap_err().next, next, "handed back as it is");
        }
    }

    #[test]
    fn connections_failing_at_once_never_take_more_retries_than_allowed() {
        let spent = AtomicU32::new(0);
        let policy = quick(2);
        let error = status(503);
        let counts: Vec<u32> = std::thread::scope(|scope| {
            let taken: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| reserve_retry(&policy, &spent, &error)))
                .collect();
            taken
                .into_iter()
                .filter_map(|t| t.join().unwrap())
                .map(|(_, count)| count.unwrap().in_a_row)
                .collect()
        });
        let mut counts = counts;
        counts.sort_unstable();
        assert_eq!(counts, [1, 2], "two retries of two, numbered once each");
        assert_eq!(spent.load(Ordering::Acquire), 2);
    }

    #[tokio::test]
    async fn a_cancel_ends_the_wait() {
        let shared = shared();
        let progress = progress();
        let cancel = shared.child_token();
        shared.cancel();
        let policy = RetryPolicy::new(5, Duration::from_secs(3600));
        let result: Result<(), Failure> = retry_loop(
            Retrying {
                shared: &shared,
                progress: &progress,
                policy: &policy,
                cancel: &cancel,
                spent: &AtomicU32::new(0),
            },
            &mut (),
            |_| Box::pin(async { Err(status(503).into()) }),
        )
        .await;
        assert!(result.unwrap_err().error.is_cancelled());
    }
}
