//! Our own wire types of the miner-actor messages this client sends,
//! field for field (and so byte for byte in CBOR) as builtin-actors v17
//! defines them, as published in `fil_actor_miner_state` 27.2.0
//! (`src/v17/types.rs`, `src/v17/commd.rs`).
//!
//! Why not the published crate: its `fil_actors_shared` depends on
//! `filecoin-proofs-api` unconditionally, which would make the chain crate
//! (and everything light above it) build the proving stack. These types
//! depend on `fvm_shared`, `fvm_ipld_encoding` and `fvm_ipld_bitfield`
//! only. `tests/actor_types.rs` proves them against the published crate
//! (a dev-dependency): same bytes both ways, each decodes the other's.
//!
//! Every struct is a CBOR array of its fields in declaration order
//! (`Serialize_tuple`); the field order is therefore the wire format and
//! must not change.

use cid::Cid;
use fvm_ipld_bitfield::BitField;
use fvm_ipld_encoding::tuple::{serde_tuple, Deserialize_tuple, Serialize_tuple};
use fvm_ipld_encoding::RawBytes;
use fvm_shared::address::Address;
use fvm_shared::clock::ChainEpoch;
use fvm_shared::deal::DealID;
use fvm_shared::piece::PaddedPieceSize;
use fvm_shared::randomness::Randomness;
use fvm_shared::sector::{
    PoStProof, RegisteredAggregateProof, RegisteredSealProof, RegisteredUpdateProof, SectorNumber,
};
use fvm_shared::ActorID;
use serde::{Deserialize, Serialize};

/// A CommD with a compact zero: `None` stands for the zero CommD of the
/// sector size (a committed-capacity sector). Serialized transparently as
/// the `Option<Cid>`: the CID, or CBOR null (v17 `commd.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompactCommD(pub Option<Cid>);

impl CompactCommD {
    /// The zero CommD (no data in the sector).
    pub fn empty() -> Self {
        Self(None)
    }

    /// A CommD of data.
    pub fn of(cid: Cid) -> Self {
        Self(Some(cid))
    }
}

/// One sector of `PreCommitSectorBatch2` (v17 `types.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SectorPreCommitInfo {
    /// The seal proof type of the sector.
    pub seal_proof: RegisteredSealProof,
    /// The sector number.
    pub sector_number: SectorNumber,
    /// CommR.
    pub sealed_cid: Cid,
    /// The epoch of the sealing ticket.
    pub seal_rand_epoch: ChainEpoch,
    /// Pre-committed deals (refused on the `ProveCommitSectors3` path).
    pub deal_ids: Vec<DealID>,
    /// The epoch the sector expires.
    pub expiration: ChainEpoch,
    /// CommD, compact for a committed-capacity sector.
    pub unsealed_cid: CompactCommD,
}

/// Parameters of `PreCommitSectorBatch2` (method 28; v17 `types.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct PreCommitSectorBatchParams2 {
    /// The sectors pre-committed.
    pub sectors: Vec<SectorPreCommitInfo>,
}

/// A verified allocation claimed by a piece (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct VerifiedAllocationKey {
    /// The client of the allocation.
    pub client: ActorID,
    /// The allocation id (verifreg `AllocationID`).
    pub id: u64,
}

/// A synchronous notification sent to an actor after activation (v17
/// `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DataActivationNotification {
    /// The actor notified.
    pub address: Address,
    /// The data sent with the notification (a CBOR byte string).
    pub payload: RawBytes,
}

/// One piece of a sector being activated (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct PieceActivationManifest {
    /// The piece commitment.
    pub cid: Cid,
    /// The padded piece size.
    pub size: PaddedPieceSize,
    /// The verified allocation claimed, if any.
    pub verified_allocation_key: Option<VerifiedAllocationKey>,
    /// The actors notified after activation.
    pub notify: Vec<DataActivationNotification>,
}

/// The pieces of one sector being activated (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SectorActivationManifest {
    /// The sector activated.
    pub sector_number: SectorNumber,
    /// Its pieces, in order.
    pub pieces: Vec<PieceActivationManifest>,
}

/// Parameters of `ProveCommitSectors3` (method 34; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ProveCommitSectors3Params {
    /// One activation manifest per sector proven.
    pub sector_activations: Vec<SectorActivationManifest>,
    /// One proof per sector, parallel to the manifests (or none with an
    /// aggregate).
    pub sector_proofs: Vec<RawBytes>,
    /// The aggregate proof of all sectors (empty without one).
    pub aggregate_proof: RawBytes,
    /// The aggregate proof type (`None` without an aggregate).
    pub aggregate_proof_type: Option<RegisteredAggregateProof>,
    /// Abort if any sector activation fails.
    pub require_activation_success: bool,
    /// Abort if any notification fails.
    pub require_notification_success: bool,
}

/// One sector of `ProveCommitSectorsNI` (v17 `types.rs`; no unsealed CID:
/// NI sectors hold zero data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SectorNIActivationInfo {
    /// The sector number the replica id was sealed with.
    pub sealing_number: u64,
    /// The miner whose id the replica was sealed with (this miner).
    pub sealer_id: ActorID,
    /// The CommR.
    pub sealed_cid: Cid,
    /// The sector number in the miner's state (the same as
    /// `sealing_number`).
    pub sector_number: u64,
    /// The ticket's epoch.
    pub seal_rand_epoch: ChainEpoch,
    /// The expiration.
    pub expiration: ChainEpoch,
}

/// Parameters of `ProveCommitSectorsNI` (method 36; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ProveCommitSectorsNIParams {
    /// The sectors.
    pub sectors: Vec<SectorNIActivationInfo>,
    /// The aggregate proof of all of them.
    pub aggregate_proof: RawBytes,
    /// Their seal proof type.
    pub seal_proof_type: RegisteredSealProof,
    /// The aggregate proof type (SnarkPackV2).
    pub aggregate_proof_type: RegisteredAggregateProof,
    /// The deadline the sectors are assigned to.
    pub proving_deadline: u64,
    /// Abort if any sector fails.
    pub require_activation_success: bool,
}

/// One partition proven by a window PoSt (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct PoStPartition {
    /// The partition index within the deadline.
    pub index: u64,
    /// Sectors skipped while proving, not already declared faulty.
    pub skipped: BitField,
}

/// Parameters of `SubmitWindowedPoSt` (method 5; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SubmitWindowedPoStParams {
    /// The deadline index proven.
    pub deadline: u64,
    /// The partitions proven.
    pub partitions: Vec<PoStPartition>,
    /// One proof per registered proof type of the sectors proven.
    pub proofs: Vec<PoStProof>,
    /// The epoch the proofs are committed to.
    pub chain_commit_epoch: ChainEpoch,
    /// The ticket randomness at `chain_commit_epoch`.
    pub chain_commit_rand: Randomness,
}

/// Faulty sectors of one partition (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct FaultDeclaration {
    /// The deadline the sectors are assigned to.
    pub deadline: u64,
    /// The partition index within the deadline.
    pub partition: u64,
    /// The sectors declared faulty.
    pub sectors: BitField,
}

/// Parameters of `DeclareFaults` (method 10; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DeclareFaultsParams {
    /// The faults, by partition.
    pub faults: Vec<FaultDeclaration>,
}

/// Recovered sectors of one partition (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct RecoveryDeclaration {
    /// The deadline the sectors are assigned to.
    pub deadline: u64,
    /// The partition index within the deadline.
    pub partition: u64,
    /// The sectors declared recovered.
    pub sectors: BitField,
}

/// Parameters of `DeclareFaultsRecovered` (method 11; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct DeclareFaultsRecoveredParams {
    /// The recoveries, by partition.
    pub recoveries: Vec<RecoveryDeclaration>,
}

/// One sector updated by `ProveReplicaUpdates3` (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SectorUpdateManifest {
    /// The sector updated.
    pub sector: SectorNumber,
    /// Its deadline.
    pub deadline: u64,
    /// Its partition within the deadline.
    pub partition: u64,
    /// The new CommR.
    pub new_sealed_cid: Cid,
    /// The pieces of the new data, in order.
    pub pieces: Vec<PieceActivationManifest>,
}

/// Parameters of `ProveReplicaUpdates3` (method 35; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ProveReplicaUpdates3Params {
    /// The sectors updated.
    pub sector_updates: Vec<SectorUpdateManifest>,
    /// One proof per sector, parallel to the manifests (or none with an
    /// aggregate).
    pub sector_proofs: Vec<RawBytes>,
    /// The aggregate proof of all sectors (empty without one).
    pub aggregate_proof: RawBytes,
    /// The update proof type of every sector.
    pub update_proofs_type: RegisteredUpdateProof,
    /// The aggregate proof type (`None` without an aggregate).
    pub aggregate_proof_type: Option<RegisteredAggregateProof>,
    /// Abort if any sector activation fails.
    pub require_activation_success: bool,
    /// Abort if any notification fails.
    pub require_notification_success: bool,
}

/// A sector with verified (FIL+) claims in an `ExpirationExtension2`
/// (v17 `types.rs`; `ClaimID` is a `u64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct SectorClaim {
    /// The sector.
    pub sector_number: SectorNumber,
    /// Claims kept (their term must outlast the new expiration).
    pub maintain_claims: Vec<u64>,
    /// Claims dropped (expired ones).
    pub drop_claims: Vec<u64>,
}

/// Sectors of one partition extended (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ExpirationExtension2 {
    /// The deadline the sectors are assigned to.
    pub deadline: u64,
    /// The partition index within the deadline.
    pub partition: u64,
    /// Sectors without FIL+ claims.
    pub sectors: BitField,
    /// Sectors with FIL+ claims.
    pub sectors_with_claims: Vec<SectorClaim>,
    /// The epoch they expire at afterwards.
    pub new_expiration: ChainEpoch,
}

/// Parameters of `ExtendSectorExpiration2` (method 32; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct ExtendSectorExpiration2Params {
    /// The extensions, by partition.
    pub extensions: Vec<ExpirationExtension2>,
}

/// Sectors of one partition terminated (v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct TerminationDeclaration {
    /// The deadline the sectors are assigned to.
    pub deadline: u64,
    /// The partition index within the deadline.
    pub partition: u64,
    /// The sectors terminated.
    pub sectors: BitField,
}

/// Parameters of `TerminateSectors` (method 9; v17 `types.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize_tuple, Deserialize_tuple)]
pub struct TerminateSectorsParams {
    /// The terminations, by partition.
    pub terminations: Vec<TerminationDeclaration>,
}
