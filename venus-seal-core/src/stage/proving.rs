//! The proving stages: window_post, winning_post, check_provable,
//! snap_encode, snap_prove and unseal.
//!
//! They run through [`Executor`](crate::Executor) like the sealing stages,
//! so an ext processor, the `Limits` decorator (a `gpu` lock shared with
//! c2, window_post first) and the metrics decorator serve them too. The
//! names are damocles' processor stage names (`vc-processors`
//! `builtin::tasks`), except `check_provable`, which damocles runs inside
//! its manager. The supporting types (sectors, files, outputs) are in
//! [`proving`](crate::proving).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{Proof, Stage};
use crate::proving::{
    PoStProof, ProvingSector, SectorFiles, SkippedSector, SnapEncodeOutput, UnsealRequest,
    WindowPoStOutput,
};
use crate::types::commitment::CommR;
use crate::types::ids::{ActorId, SectorId};
use crate::types::piece::PieceInfo;
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;

/// One WindowPoSt job: the sectors of one partition of one deadline. The
/// executor checks each sector's files first and **skips** a sector it
/// cannot prove (reported in [`WindowPoStOutput::skipped`] with the
/// reason), never failing the partition for it: the chain then records
/// the sector faulty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPoSt {
    /// The miner (its prover id binds the proof).
    pub miner: ActorId,
    /// The deadline index.
    pub deadline: u64,
    /// The partition index within the deadline.
    pub partition: u64,
    /// The challenge randomness (`WindowedPoStChallengeSeed` from the
    /// beacon at the deadline's challenge epoch, CBOR of the miner as
    /// entropy).
    pub randomness: Randomness,
    /// The sectors to prove (one seal proof type).
    pub sectors: Vec<ProvingSector>,
}

impl Stage for WindowPoSt {
    const NAME: &'static str = "window_post";
    type Output = WindowPoStOutput;
}

/// One WinningPoSt job: the challenged sectors of an elected miner. Any
/// unprovable sector fails the proof (a block cannot skip sectors).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinningPoSt {
    /// The miner.
    pub miner: ActorId,
    /// The challenge randomness (`WinningPoStChallengeSeed`).
    pub randomness: Randomness,
    /// The challenged sectors, in challenge order (see
    /// [`ProofVerifier::winning_post_challenge`](crate::ProofVerifier::winning_post_challenge)).
    pub sectors: Vec<ProvingSector>,
}

impl Stage for WinningPoSt {
    const NAME: &'static str = "winning_post";
    type Output = Vec<PoStProof>;
}

/// Checks each sector's files as a WindowPoSt would read them (missing
/// replica or cache, wrong size, a vanilla proof that fails), as Lotus'
/// `CheckProvable`: the output lists the sectors that cannot be proven,
/// with the reason. Never fails as a whole for a bad sector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckProvable {
    /// The miner.
    pub miner: ActorId,
    /// The sectors to check.
    pub sectors: Vec<ProvingSector>,
}

impl Stage for CheckProvable {
    const NAME: &'static str = "check_provable";
    type Output = Vec<SkippedSector>;
}

/// A snap-up (empty sector update): deal data encoded into a sealed CC
/// sector, writing the updated replica and its cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapEncode {
    /// The sector.
    pub sector: SectorId,
    /// Its seal proof (fixes the update proof).
    pub seal_proof: SealProof,
    /// The CC sector as sealed (its replica is the "sector key").
    pub sector_key: SectorFiles,
    /// Where the updated replica and its cache go (the cache directory is
    /// created).
    pub update: SectorFiles,
    /// The staged (unsealed, padded) deal data, a full sector.
    pub staged_data: PathBuf,
    /// The pieces in the staged data, in order.
    pub pieces: Vec<PieceInfo>,
}

impl Stage for SnapEncode {
    const NAME: &'static str = "snap_encode";
    type Output = SnapEncodeOutput;
}

/// Proving a snap-up: the proof `ProveReplicaUpdates` carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapProve {
    /// The encoding that was done.
    pub encode: SnapEncode,
    /// Its output.
    pub encoded: SnapEncodeOutput,
    /// The CC sector's replica commitment.
    pub comm_r_old: CommR,
}

impl Stage for SnapProve {
    const NAME: &'static str = "snap_prove";
    type Output = Proof;
}

/// Unseals a range of a sector's original bytes into the file `output`
/// (created or truncated, written and synced); the output is the number
/// of bytes written. As damocles' unseal task, the destination is a path:
/// [`unseal_to_file`](crate::proving::unseal_to_file) renames it into
/// place, `venus_seal_backends::proving::unseal_to_http` uploads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unseal {
    /// The sector and the range.
    pub request: UnsealRequest,
    /// The file to write the unpadded bytes to.
    pub output: PathBuf,
}

impl Stage for Unseal {
    const NAME: &'static str = "unseal";
    type Output = u64;
}
