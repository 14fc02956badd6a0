//! The manager's state file: its [`ManagerState`] as JSON (see
//! [`crate::persist`] for how it is written).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tracing::warn;

use super::state::ManagerState;
use crate::persist::{self, StateFileError};

/// The version of the document below; another one is refused.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct FileRef<'a> {
    format: u32,
    state: &'a ManagerState,
}

#[derive(Deserialize)]
struct File {
    format: u32,
    state: ManagerState,
}

/// Writes `state` to `path`.
pub(super) fn save(path: &Path, state: &ManagerState) -> Result<(), StateFileError> {
    persist::save(
        path,
        &FileRef {
            format: FORMAT,
            state,
        },
    )
}

/// Reads the state saved at `path` (`None`: no file), refusing a file of
/// another format, and repairs what a crash can leave behind (see
/// [`repair`]).
pub(super) fn load(path: &Path) -> Result<Option<ManagerState>, StateFileError> {
    let Some(file) = persist::load::<File>(path)? else {
        return Ok(None);
    };
    if file.format != FORMAT {
        return Err(StateFileError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "unsupported manager state format {} (this version reads {FORMAT})",
                file.format
            ),
        });
    }
    let mut state = file.state;
    repair(&mut state);
    Ok(Some(state))
}

/// Fixes up a state saved by a process that then died:
///
/// * a submission without a message was being sent when it died; the
///   worker never got an answer for it and submits again, so it is
///   forgotten (it is sent again on that submission);
/// * the next sector number of each miner is above every allocated one,
///   so that no number is ever handed out twice.
fn repair(state: &mut ManagerState) {
    for (id, rec) in &mut state.sectors {
        if rec.pre_commit.as_ref().is_some_and(|s| s.message.is_none()) {
            warn!(sector = %id, "the pre-commit was being sent at the crash: forgotten");
            rec.pre_commit = None;
        }
        if rec.proof.as_ref().is_some_and(|s| s.message.is_none()) {
            warn!(sector = %id, "the proof was being sent at the crash: forgotten");
            rec.proof = None;
        }
    }
    for id in state.sectors.keys() {
        let next = state.next_number.entry(id.miner).or_insert(1);
        *next = (*next).max(id.number.0 + 1);
    }
}
