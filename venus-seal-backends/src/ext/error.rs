//! Errors building an external processor (bad config, missing tools).
//!
//! Errors while running tasks are [`StageError`](venus_seal_core::StageError)s.

use venus_seal_core::{FailureLevel, Leveled};

/// An external processor's config cannot be applied on this host. Level:
/// Critical (the deployment is misconfigured; nothing was started).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtConfigError {
    /// `cpuset` is not a `taskset -c` CPU list.
    #[error("ext processor {processor}: invalid cpuset {cpuset:?}: {reason}")]
    InvalidCpuset {
        /// The processor.
        processor: String,
        /// The value given.
        cpuset: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `cpuset` is set but `taskset` is not on `PATH`.
    #[error(
        "ext processor {processor}: cpuset {cpuset:?} needs `taskset` (util-linux), \
         which is not on PATH; install it or remove cpuset"
    )]
    TasksetMissing {
        /// The processor.
        processor: String,
        /// The value given.
        cpuset: String,
    },
    /// `concurrent = 0` would never run anything.
    #[error("ext processor {processor}: concurrent must be at least 1")]
    ZeroConcurrent {
        /// The processor.
        processor: String,
    },
    /// `format = "damocles"` on a stage damocles has no body for.
    #[error(
        "ext processor {processor}: format \"damocles\" is not available for stage {stage} \
         (damocles has no body for c1, check_provable or persist); use format \"native\""
    )]
    FormatUnsupported {
        /// The processor.
        processor: String,
        /// The stage.
        stage: &'static str,
    },
    /// A pool needs at least one processor.
    #[error("no ext processor configured for stage {stage}")]
    NoProcessors {
        /// The stage.
        stage: &'static str,
    },
}

impl Leveled for ExtConfigError {
    fn level(&self) -> FailureLevel {
        FailureLevel::Critical
    }
}
