//! What the manager remembers of each sector: [`SectorStatus`] and
//! [`Submitted`] (defined in venus-seal-core beside the
//! [`ManagerStore`](super::ManagerStore) trait that stores them), and how a
//! submission compares with what is held.

use venus_seal_core::chain::MessageId;
pub use venus_seal_core::manager_store::{SectorEvent, SectorStatus, Submitted};

/// How a submission compares with what the manager holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing held, or `reset` replaces something different: send.
    Send,
    /// The same content is held.
    Duplicate,
    /// The same content, with `reset`: send again only if this message
    /// failed on chain.
    ResendIfFailed(MessageId),
    /// Different content without `reset`.
    Mismatch,
}

/// Compares `content` with `held`.
pub(crate) fn decide<T: PartialEq>(
    held: &Option<Submitted<T>>,
    content: &T,
    reset: bool,
) -> Decision {
    match held {
        None => Decision::Send,
        Some(s) if s.content == *content => match (&s.message, reset) {
            (Some(id), true) => Decision::ResendIfFailed(id.clone()),
            (None, true) if s.failed => Decision::Send,
            _ => Decision::Duplicate,
        },
        Some(_) if reset => Decision::Send,
        Some(_) => Decision::Mismatch,
    }
}
