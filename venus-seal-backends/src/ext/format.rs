//! [`BodyFormat`]: which bodies ride in the ext envelope. Its own file
//! (serde only) so that the fuzz targets compile it without the proving
//! crates [`damocles`](super::damocles) needs.

use std::any::TypeId;

use serde::{Deserialize, Serialize};
use venus_seal_core::stage::{
    AddPieces, Pc1, Pc2, SnapEncode, SnapProve, Stage, TreeD, Unseal, WindowPoSt, WinningPoSt, C2,
};

/// How the task and output bodies inside the ext envelope are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyFormat {
    /// This project's stage types ([`venus_seal_core::stage`]).
    #[default]
    Native,
    /// damocles' `vc-processors` task structs (add_pieces, tree_d, pc1,
    /// pc2, c2, snap_encode, snap_prove, window_post, winning_post and
    /// unseal).
    Damocles,
}

impl std::fmt::Display for BodyFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyFormat::Native => "native",
            BodyFormat::Damocles => "damocles",
        })
    }
}

impl BodyFormat {
    /// Whether a parent can send stage `S`'s tasks in this format (damocles
    /// has no body for c1, check_provable or persist).
    pub(crate) fn carries<S: Stage>(self) -> bool {
        match self {
            BodyFormat::Native => true,
            BodyFormat::Damocles => [
                TypeId::of::<AddPieces>(),
                TypeId::of::<TreeD>(),
                TypeId::of::<Pc1>(),
                TypeId::of::<Pc2>(),
                TypeId::of::<C2>(),
                TypeId::of::<SnapEncode>(),
                TypeId::of::<SnapProve>(),
                TypeId::of::<WindowPoSt>(),
                TypeId::of::<WinningPoSt>(),
                TypeId::of::<Unseal>(),
            ]
            .contains(&TypeId::of::<S>()),
        }
    }
}
