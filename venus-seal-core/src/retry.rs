//! The retry policy: what the engine does after a failure of each level.
//!
//! ```
//! use std::time::Duration;
//! use venus_seal_core::{FailureLevel, RetryDecision, RetryPolicy, RetryState};
//!
//! let policy = RetryPolicy { recover_interval: Duration::from_secs(60), max_retries: 2 };
//! let mut state = RetryState::default();
//! assert_eq!(policy.decide(&mut state, FailureLevel::Temporary), RetryDecision::RetryAfter(Duration::from_secs(60)));
//! assert_eq!(policy.decide(&mut state, FailureLevel::Temporary), RetryDecision::RetryAfter(Duration::from_secs(60)));
//! // The third Temporary failure in a row exhausts the retries: escalate.
//! assert_eq!(policy.decide(&mut state, FailureLevel::Temporary), RetryDecision::Park(FailureLevel::Permanent));
//! ```

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Failure, FailureLevel, Leveled};

/// When and how often Temporary failures are retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Wait between retries of a Temporary failure.
    #[serde(with = "crate::serde_duration")]
    pub recover_interval: Duration,
    /// How many times a Temporary failure is retried before it is escalated
    /// to Permanent.
    pub max_retries: u32,
}

impl Default for RetryPolicy {
    /// damocles' defaults: 5 retries, one minute apart.
    fn default() -> Self {
        Self {
            recover_interval: Duration::from_secs(60),
            max_retries: 5,
        }
    }
}

/// The retry count of one step; persisted with the sector so a restart does
/// not grant fresh retries.
///
/// It counts Temporary failures *in a row*: any success ends the run,
/// including a poll that answered "not yet" (the seed is not drawn, the
/// message is not on chain). A sector waits days in such steps; failures
/// days apart, each followed by good answers, must not add up to
/// `max_retries` and park it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryState {
    /// Temporary failures retried so far for the current step.
    pub retries: u32,
}

impl RetryState {
    /// Records a success (a finished step, or a wait step that answered):
    /// the next failure starts a new count. Returns whether a count was
    /// reset, i.e. whether the state changed and is worth saving.
    pub fn succeeded(&mut self) -> bool {
        std::mem::take(&mut self.retries) > 0
    }
}

/// What to do after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Run the step again after this delay.
    RetryAfter(Duration),
    /// Stop the sector with this level (Permanent or Critical) until an
    /// operator acts.
    Park(FailureLevel),
    /// Give the sector up.
    Abort,
}

impl RetryPolicy {
    /// Decides the reaction to a failure of `level`, counting retries in
    /// `state`. Only Temporary failures are retried; once `max_retries`
    /// retries are spent the next one is escalated to Permanent.
    pub fn decide(&self, state: &mut RetryState, level: FailureLevel) -> RetryDecision {
        match level {
            FailureLevel::Temporary if state.retries < self.max_retries => {
                state.retries += 1;
                RetryDecision::RetryAfter(self.recover_interval)
            }
            FailureLevel::Temporary | FailureLevel::Permanent => {
                RetryDecision::Park(FailureLevel::Permanent)
            }
            FailureLevel::Critical => RetryDecision::Park(FailureLevel::Critical),
            FailureLevel::Abort => RetryDecision::Abort,
        }
    }

    /// Runs `op` until it succeeds or the policy stops retrying. The
    /// returned failure carries the final level (an exhausted Temporary
    /// comes back as Permanent).
    pub async fn run<T, E, F, Fut>(&self, state: &mut RetryState, mut op: F) -> Result<T, Failure>
    where
        E: Leveled,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        loop {
            match op().await {
                Ok(v) => {
                    state.succeeded();
                    return Ok(v);
                }
                Err(e) => {
                    let failure = Failure::from_error(&e);
                    match self.decide(state, failure.level) {
                        RetryDecision::RetryAfter(delay) => {
                            tracing::warn!(
                                error = %failure,
                                retry = state.retries,
                                max_retries = self.max_retries,
                                "temporary failure, retrying in {delay:?}"
                            );
                            tokio::time::sleep(delay).await;
                        }
                        RetryDecision::Park(level) => {
                            let message = if failure.level == FailureLevel::Temporary {
                                format!(
                                    "{} (still failing after {} retries)",
                                    failure.message, self.max_retries
                                )
                            } else {
                                failure.message
                            };
                            return Err(Failure::new(level, message));
                        }
                        RetryDecision::Abort => return Err(failure),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::error::StageError;

    fn policy(max_retries: u32) -> RetryPolicy {
        RetryPolicy {
            recover_interval: Duration::from_secs(60),
            max_retries,
        }
    }

    async fn count_calls(policy: RetryPolicy, make: fn() -> StageError) -> (u32, Failure) {
        let calls = AtomicU32::new(0);
        let mut state = RetryState::default();
        let err = policy
            .run(&mut state, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(make())
            })
            .await
            .unwrap_err();
        (calls.load(Ordering::SeqCst), err)
    }

    #[tokio::test(start_paused = true)]
    async fn temporary_is_retried_max_retries_times_then_permanent() {
        let start = tokio::time::Instant::now();
        let (calls, err) = count_calls(policy(5), || {
            StageError::Unavailable("c2 service down".into())
        })
        .await;
        assert_eq!(calls, 6, "one attempt plus max_retries retries");
        assert_eq!(err.level, FailureLevel::Permanent);
        assert!(err.message.contains("c2 service down"), "{err}");
        assert!(err.message.contains("5 retries"), "{err}");
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(5 * 60),
            "waits recover_interval between tries"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn other_levels_are_not_retried() {
        let cases: [(fn() -> StageError, FailureLevel); 3] = [
            (
                || StageError::Computation("bad".into()),
                FailureLevel::Permanent,
            ),
            (
                || StageError::io("write", std::io::Error::other("EIO")),
                FailureLevel::Critical,
            ),
            (
                || StageError::InvalidTask("too big".into()),
                FailureLevel::Abort,
            ),
        ];
        for (make, level) in cases {
            let (calls, err) = count_calls(policy(5), make).await;
            assert_eq!(calls, 1, "{level} must not be retried");
            assert_eq!(err.level, level);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn success_after_a_retry_resets_the_count() {
        let calls = AtomicU32::new(0);
        let mut state = RetryState::default();
        let v = policy(3)
            .run(&mut state, || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(StageError::Unavailable("flaky".into()))
                } else {
                    Ok(7)
                }
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        assert_eq!(state, RetryState::default());
    }

    #[test]
    fn a_success_between_failures_starts_a_new_count() {
        let policy = policy(2);
        let mut s = RetryState::default();
        for _ in 0..10 {
            assert_eq!(
                policy.decide(&mut s, FailureLevel::Temporary),
                RetryDecision::RetryAfter(Duration::from_secs(60))
            );
            assert!(s.succeeded(), "a count was running");
            assert!(!s.succeeded(), "nothing left to reset");
        }
    }

    #[test]
    fn zero_retries_escalates_at_once() {
        let mut s = RetryState::default();
        assert_eq!(
            policy(0).decide(&mut s, FailureLevel::Temporary),
            RetryDecision::Park(FailureLevel::Permanent)
        );
    }
}
