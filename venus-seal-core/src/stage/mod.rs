//! Stages: one serde type per unit of sealing or proving work, each naming
//! its output.
//!
//! A stage is the task sent to an [`Executor`](crate::Executor). The same
//! types travel to external processors and remote services, so they are
//! plain data: paths, ids, commitments, and [`Opaque`] outputs of earlier
//! stages that the engine never looks inside.

mod opaque;
mod persist;
mod proving;
mod sealing;

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::Serialize;

pub use opaque::Opaque;
pub use persist::{KeepInPlace, Persist, PersistOutput};
pub use proving::{CheckProvable, SnapEncode, SnapProve, Unseal, WindowPoSt, WinningPoSt};
pub use sealing::{
    AddPieces, Pc1, Pc2, Pc2Output, PieceSource, Proof, SectorPaths, SynthInputs, TreeD,
    TreeDOutput, C1, C2,
};

/// A unit of work an [`Executor`](crate::Executor) runs.
pub trait Stage: Serialize + DeserializeOwned + Debug + Clone + Send + Sync + 'static {
    /// The stage's name in config, logs, metrics and the ext protocol
    /// (`add_pieces`, `tree_d`, `pc1`, `pc2`, `c1`, `c2`, `persist`;
    /// proving: `window_post`, `winning_post`, `check_provable`,
    /// `snap_encode`, `snap_prove`, `unseal`).
    const NAME: &'static str;
    /// What the stage produces.
    type Output: Serialize + DeserializeOwned + Debug + Clone + Send + Sync + 'static;
}
