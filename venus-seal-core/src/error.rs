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
/// [`MessageSender`](crate::MessageSender): what the node (Lotus, Venus,
/// venus-messager) or the way to it did, classified where the cause is
/// known (by HTTP status and JSON-RPC error code, never by the message's
/// words).
///
/// Whatever its level, a chain error never gives a sector up by itself:
/// the sector manager answers a worker with [`ManagerError::Chain`]
/// (Temporary) for every one of them. Only the manager's own reading of
/// the chain's state (a pre-commit that expired, a ticket too old, a
/// sector number taken by another replica) aborts a sector.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The node could not be reached, timed out or answered with an HTTP
    /// error status (a proxy or the node failing). Level: Temporary.
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
    /// The node answered the call with an error of its own: its handler
    /// failed for a reason in the node's state (not synced, a lookup that
    /// failed, a message its mpool refused, an actor it does not have
    /// yet). The node does not say whether asking again helps (go-jsonrpc's
    /// code 1 carries any error a handler returns), so it is asked again.
    /// Level: Temporary; the caller's retry policy escalates it.
    #[error("chain node failed the request: {0}")]
    Node(String),
    /// The request can never succeed as sent: the node has no such method
    /// or cannot decode its parameters (JSON-RPC -32601, -32602, -32600,
    /// -32700), or the client refuses to build it (a value it cannot
    /// encode, a method it does not implement), or it asks for what the
    /// chain cannot give (randomness after head). Level: Permanent.
    #[error("chain rejected the request: {0}")]
    Rejected(String),
}

impl Leveled for ChainError {
    fn level(&self) -> FailureLevel {
        match self {
            ChainError::Transport(_) | ChainError::InvalidResponse(_) | ChainError::Node(_) => {
                FailureLevel::Temporary
            }
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
    /// The manager failed internally (its state store, a panicked check).
    /// Level: Temporary.
    #[error("sector manager failed: {0}")]
    Internal(String),
    /// The manager's chain node or messager failed a call it needed (any
    /// [`ChainError`], whatever its own level): the sector is not at fault.
    /// Level: Temporary: the worker retries and its retry policy escalates
    /// to Permanent (the sector parks with its files), never to Abort.
    #[error("sector manager's chain call failed: {0}")]
    Chain(String),
    /// The manager refused the worker's token. Level: Critical.
    #[error("sector manager refused the request: {0}")]
    Unauthorized(String),
    /// The manager's own decision that the sector must be given up: it does
    /// not know the sector, the sector was aborted, or the chain's state
    /// leaves no way forward. Never made from a node's error. Level: Abort.
    #[error("sector manager rejected the sector: {0}")]
    Rejected(String),
}

impl Leveled for ManagerError {
    fn level(&self) -> FailureLevel {
        match self {
            ManagerError::Transport(_) | ManagerError::Internal(_) | ManagerError::Chain(_) => {
                FailureLevel::Temporary
            }
            ManagerError::Unauthorized(_) => FailureLevel::Critical,
            ManagerError::Rejected(_) => FailureLevel::Abort,
        }
    }
}

/// Every chain error is [`ManagerError::Chain`] (Temporary): an error from
/// the node is never a reason to give a sector up.
impl From<ChainError> for ManagerError {
    fn from(e: ChainError) -> Self {
        ManagerError::Chain(format!("[{}] {e}", e.level()))
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

    /// Issue 13 item 1: no error from the node, of any variant, reaches a
    /// worker as an abort (which would delete a pre-committed sector).
    #[test]
    fn a_chain_error_of_any_level_is_temporary_for_the_worker() {
        let text = "some text nobody anticipated";
        let all = [
            (ChainError::Transport(text.into()), FailureLevel::Temporary),
            (
                ChainError::InvalidResponse(text.into()),
                FailureLevel::Temporary,
            ),
            (
                ChainError::Unauthorized(text.into()),
                FailureLevel::Critical,
            ),
            (ChainError::Node(text.into()), FailureLevel::Temporary),
            (ChainError::Rejected(text.into()), FailureLevel::Permanent),
        ];
        for (e, level) in all {
            assert_eq!(e.level(), level, "{e}");
            let m = ManagerError::from(e.clone());
            assert!(matches!(m, ManagerError::Chain(_)), "{e} became {m:?}");
            assert_eq!(m.level(), FailureLevel::Temporary, "{e} became {m:?}");
            assert!(m.to_string().contains(text), "{m}");
            assert!(m.to_string().contains(&level.to_string()), "{m}");
        }
    }

    #[test]
    fn failure_serializes_like_damocles() {
        let f = Failure::new(FailureLevel::Permanent, "pc2 failed");
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, r#"{"Level":"Permanent","Desc":"pc2 failed"}"#);
        assert_eq!(f.to_string(), "[permanent] pc2 failed");
    }
}
