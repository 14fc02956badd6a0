//! The devnet's state file: the chain state plus the seed it was drawn
//! with, as JSON (see [`crate::persist`] for how it is written).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use serde::{Deserialize, Serialize};
use venus_seal_core::chain::{MessageId, MessageState, MinerMessage, SendUid};
use venus_seal_core::{ActorId, ChainEpoch, Randomness};

use super::actor::MinerActor;
use crate::persist::{self, StateFileError};

/// The version of the document below; another one is refused.
const FORMAT: u32 = 1;

/// The mutable chain: head, message pool, receipts and actors.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ChainState {
    pub(super) head: ChainEpoch,
    pub(super) next_message: u64,
    /// Sent, not yet executed, in sending order.
    pub(super) pending: VecDeque<(MessageId, MinerMessage)>,
    /// Every message sent: `Pending` until executed.
    #[serde(with = "persist::pairs")]
    pub(super) messages: HashMap<MessageId, MessageState>,
    /// The message sent under each attempt uid (one per uid, as Lotus
    /// keeps one per `MsgUuid`).
    #[serde(default, with = "persist::pairs")]
    pub(super) uids: HashMap<SendUid, MessageId>,
    #[serde(with = "persist::pairs")]
    pub(super) miners: BTreeMap<ActorId, MinerActor>,
}

#[derive(Serialize)]
struct FileRef<'a> {
    format: u32,
    seed: Randomness,
    state: &'a ChainState,
}

#[derive(Deserialize)]
struct File {
    format: u32,
    seed: Randomness,
    state: ChainState,
}

/// Writes `state` of the devnet seeded with `seed` to `path`.
pub(super) fn save(path: &Path, seed: &[u8; 32], state: &ChainState) -> Result<(), StateFileError> {
    persist::save(
        path,
        &FileRef {
            format: FORMAT,
            seed: Randomness(*seed),
            state,
        },
    )
}

/// Reads the state saved at `path` (`None`: no file), refusing a file of
/// another format or written with another seed.
pub(super) fn load(path: &Path, seed: &[u8; 32]) -> Result<Option<ChainState>, StateFileError> {
    let Some(file) = persist::load::<File>(path)? else {
        return Ok(None);
    };
    if file.format != FORMAT {
        return Err(StateFileError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "unsupported devnet state format {} (this version reads {FORMAT})",
                file.format
            ),
        });
    }
    if file.seed.0 != *seed {
        return Err(StateFileError::SeedMismatch {
            path: path.to_path_buf(),
        });
    }
    Ok(Some(file.state))
}
