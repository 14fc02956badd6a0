//! The wire format: damocles' ext-processor envelope.
//!
//! * The child's first stdout line is [`ready_line`]`(stage)`:
//!   `{stage} processor ready`.
//! * Requests on the child's stdin, one JSON object per line:
//!   `{"id": u64, "task": T}` ([`Request`]).
//! * Responses on the child's stdout, one per line, in any order:
//!   `{"id": u64, "err_msg": string|null, "output": O|null}` ([`Response`]).
//! * stderr is the child's log.
//!
//! The envelope's field names are damocles' (`vc-processors`,
//! `core::ext::{Request, Response}`). The task and output bodies are this
//! project's stage types ([`venus_seal_core::stage`]), not damocles' own
//! task structs: a processor built for damocles speaks the same envelope
//! but needs an adapter for the bodies.
//!
//! # Error levels over the wire
//!
//! `err_msg` is free text in damocles. [`serve`](super::serve) writes it as
//! [`Failure`]'s display, `[level] message` (`[permanent] computation
//! failed: …`), so a child built on this crate keeps the level its executor
//! decided; [`level_of_err_msg`] reads it back, capping `[abort]` at
//! Permanent (a child may park a sector, never delete it). Any other text
//! (a damocles child's error) is Temporary: the engine retries it and
//! escalates to Permanent after `max_retries`.

use serde::{Deserialize, Serialize};
use venus_seal_core::{Failure, FailureLevel};

/// The line a child prints on stdout once it accepts requests:
/// `"{stage} processor ready"` (no newline).
///
/// ```
/// assert_eq!(venus_seal_backends::ext::ready_line("pc1"), "pc1 processor ready");
/// ```
pub fn ready_line(stage: &str) -> String {
    format!("{stage} processor ready")
}

/// A request written to the child's stdin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request<T> {
    /// Chosen by the parent; the response carries it back.
    pub id: u64,
    /// The stage's task.
    pub task: T,
}

/// A response read from the child's stdout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response<O> {
    /// The id of the request answered.
    pub id: u64,
    /// Why the task failed; `null` on success.
    pub err_msg: Option<String>,
    /// The stage's output; `null` on failure.
    pub output: Option<O>,
}

impl<O> Response<O> {
    /// A successful answer.
    pub fn ok(id: u64, output: O) -> Self {
        Self {
            id,
            err_msg: None,
            output: Some(output),
        }
    }

    /// A failed answer carrying `failure` as `[level] message`.
    pub fn failed(id: u64, failure: &Failure) -> Self {
        Self {
            id,
            err_msg: Some(failure.to_string()),
            output: None,
        }
    }
}

/// The level an `err_msg` carries, and the message without its prefix.
///
/// `[temporary] `, `[permanent] ` and `[critical] ` prefixes (as
/// [`Failure`] displays itself) give that level; any other text is
/// Temporary.
///
/// A full disk is **Critical** when the text names it ("No space left on
/// device", "os error 28") without a prefix or with `[temporary] `, as
/// the in-process ENOSPC is: retrying does not free space, an operator
/// must (a damocles child reports it as plain text).
///
/// `[abort] ` is **capped at Permanent**, and the message keeps its
/// `[abort] ` prefix so the operator sees what the child asked for. An
/// abort deletes the sector's files, and after pre-commit burns its
/// deposit; that decision belongs to the worker and the manager, which
/// know the sector's state on chain. A child is another program (often
/// another vendor's, possibly broken or compromised) answering over a
/// pipe: it may park a sector, never delete it. An operator who agrees
/// aborts the parked sector with one command.
///
/// ```
/// use venus_seal_backends::ext::level_of_err_msg;
/// use venus_seal_core::FailureLevel;
/// assert_eq!(level_of_err_msg("[permanent] bad proof"), (FailureLevel::Permanent, "bad proof"));
/// assert_eq!(level_of_err_msg("oops"), (FailureLevel::Temporary, "oops"));
/// assert_eq!(
///     level_of_err_msg("No space left on device (os error 28)").0,
///     FailureLevel::Critical
/// );
/// assert_eq!(
///     level_of_err_msg("[abort] sector too big"),
///     (FailureLevel::Permanent, "[abort] sector too big")
/// );
/// ```
pub fn level_of_err_msg(err_msg: &str) -> (FailureLevel, &str) {
    const LEVELS: [FailureLevel; 3] = [
        FailureLevel::Temporary,
        FailureLevel::Permanent,
        FailureLevel::Critical,
    ];
    let (level, text) = LEVELS
        .into_iter()
        .find_map(|level| {
            let prefix = format!("[{level}] ");
            err_msg
                .strip_prefix(prefix.as_str())
                .map(|rest| (level, rest))
        })
        .unwrap_or_else(|| {
            if err_msg.starts_with(&format!("[{}] ", FailureLevel::Abort)) {
                (FailureLevel::Permanent, err_msg)
            } else {
                (FailureLevel::Temporary, err_msg)
            }
        });
    if level == FailureLevel::Temporary && crate::no_space::names_no_space(text) {
        return (FailureLevel::Critical, text);
    }
    (level, text)
}

/// `line` cut to at most `max` bytes (on a character boundary), with `…`
/// appended when cut. For quoting a child's output in errors and logs.
pub(crate) fn truncate(line: &str, max: usize) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}
