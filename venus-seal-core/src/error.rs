//! Failure levels and the error types of each trait family.
//!
//! Every error is classified where its cause is known, into one of the four
//! levels of the venus-cluster design; callers react to the level, never to
//! the message text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the engine must react to a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum FailureLevel {
    /// A transient fault (network, RPC, a remote service or child process
    /// that went away): retried every `recover_interval`, at most
    /// `max_retries` times, then escalated to [`FailureLevel::Permanent`].
    Temporary,
    /// A stage's computation failed: the sector parks until an operator acts.
    Permanent,
    /// The local environment is broken (disk, database): the sector parks.
    Critical,
    /// The sector cannot go on: report it aborted, clean its files, start a
    /// new one.
    Abort,
}

impl fmt::Display for FailureLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureLevel::Temporary => "temporary",
            FailureLevel::Permanent => "permanent",
            FailureLevel::Critical => "critical",
            FailureLevel::Abort => "abort",
        })
    }
}

/// An error that knows its [`FailureLevel`].
pub trait Leveled: std::error::Error {
    /// The level decided where the error was made.
    fn level(&self) -> FailureLevel;
}

/// A classified failure as the engine records and reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Failure {
    /// The level.
    pub level: FailureLevel,
    /// What went wrong, for the operator.
    #[serde(rename = "Desc")]
    pub message: String,
}

impl Failure {
    /// Builds a failure.
    pub fn new(level: FailureLevel, message: impl Into<String>) -> Self {
        Self {
            level,
            message: message.into(),
        }
    }

    /// Classifies any leveled error.
    pub fn from_error<E: Leveled + ?Sized>(err: &E) -> Self {
        Self::new(err.level(), err.to_string())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.level, self.message)
    }
}

impl std::error::Error for Failure {}

impl Leveled for Failure {
    fn level(&self) -> FailureLevel {
        self.level
    }
}

/// A value from outside (config, RPC, CLI) that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseError {
    what: &'static str,
    input: String,
    reason: String,
}

impl ParseError {
    /// `what` names the kind of value, `input` is what was given.
    pub fn new(what: &'static str, input: &str, reason: &str) -> Self {
        // Keep at most 128 bytes of the input, cut on a character
        // boundary (found by fuzzing: `truncate(128)` panicked inside a
        // multi-byte character).
        let mut input = input.to_string();
        if input.len() > 128 {
            let mut end = 128;
            while !input.is_char_boundary(end) {
                end -= 1;
            }
            input.truncate(end);
            input.push('…');
        }
        Self {
            what,
            input,
            reason: reason.to_string(),
        }
    }
}

/// An error from an [`Executor`](crate::Executor) running a stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StageError {
    /// The task itself is wrong (a piece larger than the sector, a missing
    /// input): retrying cannot help. Level: Abort.
    #[error("invalid task: {0}")]
    InvalidTask(String),
    /// The computation failed (proof generation error, corrupt stage
    /// output). Level: Permanent.
    #[error("computation failed: {0}")]
    Computation(String),
    /// A local file operation failed. Level: Critical.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The executor is unreachable or went away (a dead child process, a
    /// remote service down). Level: Temporary.
    #[error("executor unavailable: {0}")]
    Unavailable(String),
    /// Required files are missing (a deleted cache file, no parameters).
    /// Level: Permanent.
    #[error("missing input: {0}")]
    Missing(String),
}

impl StageError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StageError::Io {
            context: context.into(),
            source,
        }
    }
}

impl Leveled for StageError {
    fn level(&self) -> FailureLevel {
        match self {
            StageError::InvalidTask(_) => FailureLevel::Abort,
            StageError::Computation(_) | StageError::Missing(_) => FailureLevel::Permanent,
            StageError::Io { .. } => FailureLevel::Critical,
            StageError::Unavailable(_) => FailureLevel::Temporary,
        }
    }
}

/// An error from a [`ChainClient`](crate::ChainClient) or
/// [`MessageSender`](crate::MessageSender).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The node could not be reached or timed out. Level: Temporary.
    #[error("chain node unreachable: {0}")]
    Transport(String),
    /// The node answered something malformed (wrong randomness length, bad
    /// JSON). Level: Temporary (a node can be fixed or replaced).
    #[error("invalid answer from chain node: {0}")]
    InvalidResponse(String),
    /// The node refused the request (bad token, wrong permission). Level:
    /// Critical: the deployment is misconfigured.
    #[error("chain node refused the request: {0}")]
    Unauthorized(String),
    /// The request is invalid for the chain's state (e.g. randomness from the
    /// future). Level: Permanent.
    #[error("chain rejected the request: {0}")]
    Rejected(String),
}

impl Leveled for ChainError {
    fn level(&self) -> FailureLevel {
        match self {
            ChainError::Transport(_) | ChainError::InvalidResponse(_) => FailureLevel::Temporary,
            ChainError::Unauthorized(_) => FailureLevel::Critical,
            ChainError::Rejected(_) => FailureLevel::Permanent,
        }
    }
}

/// An error from the [`SectorManager`](crate::SectorManager).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ManagerError {
    /// The manager could not be reached. Level: Temporary.
    #[error("sector manager unreachable: {0}")]
    Transport(String),
    /// The manager failed internally or its chain is unreachable. Level:
    /// Temporary.
    #[error("sector manager failed: {0}")]
    Internal(String),
    /// The manager refused the worker's token. Level: Critical.
    #[error("sector manager refused the request: {0}")]
    Unauthorized(String),
    /// The manager does not know the sector or rejects the submission:
    /// the sector must be given up. Level: Abort.
    #[error("sector manager rejected the sector: {0}")]
    Rejected(String),
}

impl Leveled for ManagerError {
    fn level(&self) -> FailureLevel {
        match self {
            ManagerError::Transport(_) | ManagerError::Internal(_) => FailureLevel::Temporary,
            ManagerError::Unauthorized(_) => FailureLevel::Critical,
            ManagerError::Rejected(_) => FailureLevel::Abort,
        }
    }
}

impl From<ChainError> for ManagerError {
    fn from(e: ChainError) -> Self {
        match e.level() {
            FailureLevel::Temporary => ManagerError::Internal(e.to_string()),
            FailureLevel::Critical => ManagerError::Internal(e.to_string()),
            _ => ManagerError::Rejected(e.to_string()),
        }
    }
}

/// An error from a [`PieceStore`](crate::PieceStore).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PieceStoreError {
    /// No such piece. Level: Permanent (an operator must supply it).
    #[error("piece {0} not found")]
    NotFound(String),
    /// The store could not be reached. Level: Temporary.
    #[error("piece store unreachable: {0}")]
    Transport(String),
    /// Local I/O failed. Level: Critical.
    #[error("piece store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes do not match the piece's commitment or size. Level: Abort.
    #[error("bad piece: {0}")]
    BadPiece(String),
}

impl Leveled for PieceStoreError {
    fn level(&self) -> FailureLevel {
        match self {
            PieceStoreError::NotFound(_) => FailureLevel::Permanent,
            PieceStoreError::Transport(_) => FailureLevel::Temporary,
            PieceStoreError::Io(_) => FailureLevel::Critical,
            PieceStoreError::BadPiece(_) => FailureLevel::Abort,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression for the `commitment_cid` fuzz crash: a long input with a
    /// multi-byte character across byte 128.
    #[test]
    fn parse_error_truncates_long_input_on_a_char_boundary() {
        let input = format!("{}\u{4af}tail{}", "8".repeat(127), "x".repeat(200));
        let e = ParseError::new("CommD", &input, "not a CID");
        let shown = e.to_string();
        assert!(shown.contains(&"8".repeat(127)), "{shown}");
        assert!(shown.contains('…'), "{shown}");
        assert!(!shown.contains("tail"), "{shown}");
        // The crash input itself: parsing it must fail, not panic.
        let crash = format!("Rq{}\u{4af}{}", "8".repeat(126), "8".repeat(300));
        assert!(crash.parse::<crate::CommD>().is_err());
        assert!(crash.parse::<crate::CommR>().is_err());
    }

    #[test]
    fn levels_are_decided_by_variant() {
        assert_eq!(
            StageError::InvalidTask("x".into()).level(),
            FailureLevel::Abort
        );
        assert_eq!(
            StageError::Computation("x".into()).level(),
            FailureLevel::Permanent
        );
        assert_eq!(
            StageError::io("writing sealed file", std::io::Error::other("disk full")).level(),
            FailureLevel::Critical
        );
        assert_eq!(
            StageError::Unavailable("x".into()).level(),
            FailureLevel::Temporary
        );
        assert_eq!(
            ChainError::Transport("x".into()).level(),
            FailureLevel::Temporary
        );
        assert_eq!(
            ManagerError::Rejected("x".into()).level(),
            FailureLevel::Abort
        );
        assert_eq!(
            PieceStoreError::BadPiece("x".into()).level(),
            FailureLevel::Abort
        );
    }

    #[test]
    fn failure_serializes_like_damocles() {
        let f = Failure::new(FailureLevel::Permanent, "pc2 failed");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"Level":"Permanent","Desc":"pc2 failed"}"#);
        assert_eq!(f.to_string(), "[permanent] pc2 failed");
    }
}
