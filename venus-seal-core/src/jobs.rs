//! What the manager's jobs beside sealing have in common: unseal jobs
//! ([`crate::unseal`]) and rebuild jobs ([`crate::rebuild`]) are kept on
//! the sector's record, handed to one worker at a time under a lease, and
//! given up after a number of failures.

use serde::{Deserialize, Serialize};

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting for a worker.
    Pending,
    /// Handed to a worker at `since` (Unix seconds); handed out again
    /// once the job's lease passes without a result.
    Running {
        /// When it was handed out.
        since: u64,
    },
    /// Finished at `at`.
    Done {
        /// When.
        at: u64,
    },
    /// Given up after too many failures, at `at`.
    Failed {
        /// When.
        at: u64,
    },
}

impl JobState {
    /// Whether a worker may take the job at `now`: pending, or running
    /// for `lease_secs` or more (its worker went silent).
    pub fn is_available(&self, now: u64, lease_secs: u64) -> bool {
        match self {
            JobState::Pending => true,
            JobState::Running { since } => now.saturating_sub(*since) >= lease_secs,
            JobState::Done { .. } | JobState::Failed { .. } => false,
        }
    }

    /// Neither done nor given up.
    pub fn is_open(&self) -> bool {
        matches!(self, JobState::Pending | JobState::Running { .. })
    }

    /// The state in one word, for listings.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Pending => "Pending",
            JobState::Running { .. } => "Running",
            JobState::Done { .. } => "Done",
            JobState::Failed { .. } => "Failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_is_available_again_after_its_lease() {
        let lease = 60;
        assert!(JobState::Pending.is_available(0, lease) && JobState::Pending.is_open());
        let running = JobState::Running { since: 100 };
        assert!(!running.is_available(100 + lease - 1, lease));
        assert!(running.is_available(100 + lease, lease));
        assert!(running.is_open());
        for done in [JobState::Done { at: 5 }, JobState::Failed { at: 5 }] {
            assert!(!done.is_available(u64::MAX, lease) && !done.is_open());
        }
    }

    /// The stored form (on sector records, since unseal jobs) does not
    /// change.
    #[test]
    fn the_stored_form_is_stable() {
        assert_eq!(
            serde_json::to_string(&JobState::Pending).unwrap(),
            r#""Pending""#
        );
        assert_eq!(
            serde_json::to_string(&JobState::Running { since: 7 }).unwrap(),
            r#"{"Running":{"since":7}}"#
        );
    }
}
