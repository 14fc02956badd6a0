//! The sealing stages: add_pieces, tree_d, pc1, pc2, c1, c2.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Opaque, Stage};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::SectorId;
use crate::types::piece::{PaddedPieceSize, PieceInfo};
use crate::types::proof::SealProof;
use crate::types::randomness::{Seed, Ticket};

/// Where a sector's files live while it is sealed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorPaths {
    /// The unsealed (staged) data file, fr32-padded.
    pub staged: PathBuf,
    /// The sealed replica file.
    pub sealed: PathBuf,
    /// The cache directory (trees, labels, p_aux, t_aux).
    pub cache: PathBuf,
}

impl SectorPaths {
    /// The conventional layout under a sector's directory:
    /// `<dir>/staged`, `<dir>/sealed`, `<dir>/cache/`.
    pub fn under(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        Self {
            staged: dir.join("staged"),
            sealed: dir.join("sealed"),
            cache: dir.join("cache"),
        }
    }
}

/// Where a piece's bytes come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceSource {
    /// Zeros: padding, or the whole of a committed-capacity sector.
    Zero {
        /// Padded size.
        size: PaddedPieceSize,
    },
    /// Raw bytes in a local file; they are fr32-padded while written.
    File {
        /// The file.
        path: PathBuf,
        /// The number of bytes to read.
        unpadded_size: u64,
        /// The expected commitment, checked while writing if given.
        expected: Option<PieceInfo>,
    },
}

/// Writes the pieces into the staged file, padding and aligning them, and
/// computes each piece's commitment. No pieces means a CC sector (zeros).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddPieces {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// Pieces in placement order.
    pub pieces: Vec<PieceSource>,
    /// The staged file to write.
    pub staged: PathBuf,
}

impl Stage for AddPieces {
    const NAME: &'static str = "add_pieces";
    type Output = Vec<PieceInfo>;
}

/// Builds the data tree (tree-d) over the staged file and computes CommD.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeD {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The staged file.
    pub staged: PathBuf,
    /// The cache directory to write the tree into.
    pub cache: PathBuf,
    /// The pieces the staged file holds; CommD must match them.
    pub pieces: Vec<PieceInfo>,
}

/// The result of [`TreeD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeDOutput {
    /// The data commitment.
    pub comm_d: CommD,
}

impl Stage for TreeD {
    const NAME: &'static str = "tree_d";
    type Output = TreeDOutput;
}

/// Pre-commit phase 1: SDR labelling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pc1 {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// Its files.
    pub paths: SectorPaths,
    /// The ticket the replica is bound to.
    pub ticket: Ticket,
    /// The pieces in the sector.
    pub pieces: Vec<PieceInfo>,
}

impl Stage for Pc1 {
    const NAME: &'static str = "pc1";
    type Output = Opaque;
}

/// Pre-commit phase 2: column and replica trees, CommR. Rewrites the sealed
/// file in place. For a synthetic PoRep proof type
/// ([`SealProof::is_synthetic`]) it also writes the synthetic vanilla
/// proofs into the cache directory, from `synthetic`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pc2 {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// Its files.
    pub paths: SectorPaths,
    /// The PC1 output.
    pub pc1_output: Opaque,
    /// What the synthetic proofs are bound to (the sealer sets it for a
    /// synthetic PoRep proof type; `None` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<SynthInputs>,
}

/// The inputs of synthetic proof generation beside the PC2 output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynthInputs {
    /// The ticket the replica is bound to.
    pub ticket: Ticket,
    /// The pieces in the sector.
    pub pieces: Vec<PieceInfo>,
}

/// The result of [`Pc2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pc2Output {
    /// The replica commitment.
    pub comm_r: CommR,
    /// The data commitment.
    pub comm_d: CommD,
}

impl Stage for Pc2 {
    const NAME: &'static str = "pc2";
    type Output = Pc2Output;
}

/// Commit phase 1: vanilla proofs for the challenges the seed picks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct C1 {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// Its files.
    pub paths: SectorPaths,
    /// The ticket.
    pub ticket: Ticket,
    /// The seed.
    pub seed: Seed,
    /// The commitments from PC2.
    pub pc2_output: Pc2Output,
    /// The pieces in the sector.
    pub pieces: Vec<PieceInfo>,
}

impl Stage for C1 {
    const NAME: &'static str = "c1";
    type Output = Opaque;
}

/// Commit phase 2: the zk-SNARK over the C1 output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct C2 {
    /// The sector's proof type.
    pub proof: SealProof,
    /// The sector.
    pub sector: SectorId,
    /// The C1 output.
    pub c1_output: Opaque,
}

/// A seal proof (Groth16 proof bytes), base64 in JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Proof {
    /// The proof bytes.
    #[serde(with = "crate::serde_bytes_b64")]
    pub proof: Vec<u8>,
}

impl std::fmt::Debug for Proof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proof({} bytes)", self.proof.len())
    }
}

impl Stage for C2 {
    const NAME: &'static str = "c2";
    type Output = Proof;
}
