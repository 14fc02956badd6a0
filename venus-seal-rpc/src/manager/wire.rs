//! damocles' wire shapes of the worker ↔ manager API, and their
//! conversions to and from [`venus_seal_core::manager`]'s types.
//!
//! Read from damocles' own definitions:
//!
//! * the Rust worker's client types, `damocles-worker/src/rpc/sealer/mod.rs`
//!   (commit `91f2d704b462d3b36a21e729448f1061aab72e7f`; the older
//!   `0eab9aae5b2977d6e7720f9729987d1032aed1b7` where noted);
//! * the Go manager's types, `damocles-manager/core/types.go` (commit
//!   `1ee1529965f540f4fbddf7e2338883710b28b06e`), as Go's `encoding/json`
//!   writes them: `[32]byte` as an array of 32 numbers, `[]byte` as
//!   base64, untagged fields under their Go names.
//!
//! What differs from our own serde shapes: ticket and seed randomness are
//! base64 (`vc_processors::b64serde::BytesArray32`), not hex; `CommR` and
//! `CommD` in `SubmitPreCommit` are 32-number arrays, not CIDs;
//! `SubmitResult` and `OnChainState` are numbers (`serde_repr`; the Go
//! manager's 0 is "unknown"); `WaitSeed.Delay` is whole seconds;
//! `AcquireDeals` answers `DealsV2` (`[{Piece, DealInfo}]`) or `null`;
//! `ReportState` answers `{Id, Finalized, AbortReason}`. Sector ids,
//! allocation specs, allocated sectors, proofs (`{"Proof": base64}`) and
//! worker pings already have damocles' shape and are used as they are.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use venus_seal_core::manager::{
    self as core, AllocateSpec, AllocatedSector, DealInfo, OnChainState, SubmitResult,
};
use venus_seal_core::unseal as core_unseal;
use venus_seal_core::{
    ActorId, ChainEpoch, CommD, CommR, Failure, FailureLevel, PaddedPieceSize, PieceCid, PieceInfo,
    Randomness, SealProof, SectorId,
};

#[path = "wire_wdpost.rs"]
mod wdpost;
pub use wdpost::*;

/// 32 bytes as base64 (damocles' `b64serde::BytesArray32`).
mod b64_32 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let bytes = STANDARD.decode(&text).map_err(|e| {
            serde::de::Error::custom(format!("randomness {text:?} is not base64: {e}"))
        })?;
        let n = bytes.len();
        bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom(format!("randomness must be 32 bytes, got {n}")))
    }
}

/// `AllocateSectorSpec`: both lists may be `null` (no restriction).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocateSectorSpec {
    /// Only these miners (`null` or empty: any).
    pub allowed_miners: Option<Vec<ActorId>>,
    /// Only these proof types, as chain ids (`null` or empty: any).
    pub allowed_proof_types: Option<Vec<SealProof>>,
    /// Ours, not damocles': the worker's allocation key
    /// ([`AllocateSpec::allocation_key`]). Left out when there is none,
    /// so the request is then exactly damocles'; a damocles manager
    /// ignores it (go-jsonrpc decodes params with `encoding/json`, which
    /// skips unknown fields: filecoin-project/go-jsonrpc `handler.go`
    /// @0a8dfdac294f5160c07f95be2cbeb54d9dcd603a), and a damocles worker
    /// never sends it (the old behaviour: a new number every time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allocation_key: Option<String>,
}

impl From<AllocateSectorSpec> for AllocateSpec {
    fn from(w: AllocateSectorSpec) -> Self {
        AllocateSpec {
            allowed_miners: w.allowed_miners.unwrap_or_default(),
            allowed_proof_types: w.allowed_proof_types.unwrap_or_default(),
            allocation_key: w.allocation_key,
        }
    }
}

impl From<&AllocateSpec> for AllocateSectorSpec {
    fn from(spec: &AllocateSpec) -> Self {
        AllocateSectorSpec {
            allowed_miners: Some(spec.allowed_miners.clone()),
            allowed_proof_types: Some(spec.allowed_proof_types.clone()),
            allocation_key: spec.allocation_key.clone(),
        }
    }
}

/// Whether `proof` is a non-interactive PoRep type (what a damocles
/// worker asks for with `AllocateSector(spec, niporep: true)`).
pub fn is_ni_porep(proof: SealProof) -> bool {
    proof.name().contains("NonInteractivePoRep")
}

/// The spec a damocles `AllocateSector(spec, niporep)` stands for: with
/// `niporep`, only non-interactive proof types (those of the spec, or all
/// of them when it names none); without, the spec as sent.
pub fn allocate_spec(spec: AllocateSectorSpec, niporep: bool) -> AllocateSpec {
    let mut spec = AllocateSpec::from(spec);
    if niporep {
        spec.allowed_proof_types = if spec.allowed_proof_types.is_empty() {
            SealProof::ALL
                .iter()
                .copied()
                .filter(|p| is_ni_porep(*p))
                .collect()
        } else {
            spec.allowed_proof_types
                .into_iter()
                .filter(|p| is_ni_porep(*p))
                .collect()
        };
    }
    spec
}

/// `PieceInfoV2`: a piece's padded size and `PieceCID` (`{"/": cid}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PieceInfoV2 {
    /// Padded size.
    pub size: PaddedPieceSize,
    /// The piece commitment.
    #[serde(rename = "PieceCID")]
    pub piece_cid: PieceCid,
}

/// `DealInfoV2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfoV2 {
    /// The builtin-market deal id (0: none).
    #[serde(rename = "DealID")]
    pub deal_id: u64,
    /// The verified-registry allocation id (0: none).
    #[serde(rename = "AllocationID")]
    pub allocation_id: u64,
    /// The bytes of payload the piece file holds.
    pub payload_size: u64,
    /// The deal is a builtin-market deal.
    pub is_builtin_market: bool,
}

/// `SectorPiece`, the element of `DealsV2` (the newer `AcquireDeals`
/// answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorPiece {
    /// The piece.
    pub piece: PieceInfoV2,
    /// The deal it came with (the Go manager's `*DealInfoV2` may be
    /// `null`: a pledge piece, read as no deal).
    #[serde(deserialize_with = "null_as_default")]
    pub deal_info: DealInfoV2,
}

impl From<&DealInfo> for SectorPiece {
    /// A deal with a chain id is a builtin-market deal; one without is a
    /// direct (DDO) deal when it claims an allocation, plain data
    /// otherwise. `AllocationID` is the allocation's id (0: none; the
    /// client stays on the manager, which builds the piece manifests, as
    /// in damocles). The piece file holds the piece's unpadded bytes,
    /// which is what `PayloadSize` tells damocles to read.
    fn from(d: &DealInfo) -> Self {
        SectorPiece {
            piece: PieceInfoV2 {
                size: d.piece.size,
                piece_cid: d.piece.cid,
            },
            deal_info: DealInfoV2 {
                deal_id: d.id,
                allocation_id: d.allocation.map_or(0, |a| a.id),
                payload_size: d.piece.size.unpadded(),
                is_builtin_market: d.id != 0,
            },
        }
    }
}

/// The Go manager's `PieceInfo` (`Deals` v1): `Offset` may be absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PieceInfoV1 {
    /// Padded size.
    pub size: PaddedPieceSize,
    /// The piece commitment.
    pub cid: PieceCid,
}

/// The Go manager's `DealInfo` (`Deals` v1); `Proposal` and
/// `IsCompatible` are not needed here and are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DealInfoV1 {
    /// The deal id.
    #[serde(rename = "ID")]
    pub id: u64,
    /// The piece.
    pub piece: PieceInfoV1,
}

/// One element of an `AcquireDeals` answer as a damocles manager sends it:
/// `DealsV2` (newer) or `Deals` (v1).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AnyDeal {
    /// `SectorPiece`.
    V2(SectorPiece),
    /// `DealInfo`.
    V1(DealInfoV1),
}

impl From<AnyDeal> for DealInfo {
    fn from(d: AnyDeal) -> Self {
        let (id, size, cid) = match d {
            AnyDeal::V2(p) => (p.deal_info.deal_id, p.piece.size, p.piece.piece_cid),
            AnyDeal::V1(d) => (d.id, d.piece.size, d.piece.cid),
        };
        DealInfo {
            id,
            piece: PieceInfo { size, cid },
            allocation: None,
        }
    }
}

/// `Ticket`: base64 randomness and its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ticket {
    /// The randomness, base64.
    #[serde(with = "b64_32")]
    pub ticket: [u8; 32],
    /// The epoch it was drawn at.
    pub epoch: ChainEpoch,
}

impl From<venus_seal_core::Ticket> for Ticket {
    fn from(t: venus_seal_core::Ticket) -> Self {
        Ticket {
            ticket: t.ticket.0,
            epoch: t.epoch,
        }
    }
}

impl From<Ticket> for venus_seal_core::Ticket {
    fn from(t: Ticket) -> Self {
        venus_seal_core::Ticket {
            ticket: Randomness(t.ticket),
            epoch: t.epoch,
        }
    }
}

/// `Seed`: base64 randomness and its epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Seed {
    /// The randomness, base64.
    #[serde(with = "b64_32")]
    pub seed: [u8; 32],
    /// The epoch it was drawn at.
    pub epoch: ChainEpoch,
}

impl From<venus_seal_core::Seed> for Seed {
    fn from(s: venus_seal_core::Seed) -> Self {
        Seed {
            seed: s.seed.0,
            epoch: s.epoch,
        }
    }
}

impl From<Seed> for venus_seal_core::Seed {
    fn from(s: Seed) -> Self {
        venus_seal_core::Seed {
            seed: Randomness(s.seed),
            epoch: s.epoch,
        }
    }
}

/// `SectorUnsealInfo`: an unseal job as damocles' Go manager answers
/// `AllocateUnsealSector` (`damocles-manager/core/types.go`@1ee1529965f540f4fbddf7e2338883710b28b06e)
/// and its Rust worker reads it (`damocles-worker/src/rpc/sealer/mod.rs`@91f2d704b462d3b36a21e729448f1061aab72e7f):
/// `CommD` as 32 numbers, the ticket in base64, `Offset` and `Size` in
/// unpadded bytes, the persist instance under `PrivateInfo`; `Dest`,
/// `State` (venus-shared gateway `UnsealState`: `set_up`, `unsealing`,
/// `uploading`, `finished`, `failed`) and `ErrorInfo` as the Go manager
/// keeps them (the worker ignores them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorUnsealInfo {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The piece.
    pub piece_cid: PieceCid,
    /// Where it starts, unpadded bytes.
    pub offset: u64,
    /// Its unpadded length.
    pub size: u64,
    /// Where the sealed files are.
    pub private_info: SectorPrivateInfo,
    /// The sealing ticket.
    pub ticket: Ticket,
    /// The sector's CommD bytes.
    pub comm_d: [u8; 32],
    /// The destinations so far.
    #[serde(default)]
    pub dest: Option<Vec<String>>,
    /// The job's state.
    #[serde(default)]
    pub state: String,
    /// Its last error.
    #[serde(default)]
    pub error_info: String,
}

/// `SectorPrivateInfo`: the persist instance a sector's files are in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorPrivateInfo {
    /// The instance name.
    pub access_instance: String,
}

impl From<&core_unseal::UnsealAssignment> for SectorUnsealInfo {
    fn from(a: &core_unseal::UnsealAssignment) -> Self {
        SectorUnsealInfo {
            sector: a.sector,
            piece_cid: a.piece,
            offset: a.offset,
            size: a.len,
            private_info: SectorPrivateInfo {
                access_instance: a.instance.clone(),
            },
            ticket: a.ticket.into(),
            comm_d: a.comm_d.0,
            dest: Some(a.dests.clone()),
            // Handed out: the job is running.
            state: "unsealing".into(),
            error_info: String::new(),
        }
    }
}

impl From<SectorUnsealInfo> for core_unseal::UnsealAssignment {
    fn from(w: SectorUnsealInfo) -> Self {
        core_unseal::UnsealAssignment {
            sector: w.sector,
            piece: w.piece_cid,
            comm_d: CommD(w.comm_d),
            ticket: w.ticket.into(),
            offset: w.offset,
            len: w.size,
            instance: w.private_info.access_instance,
            dests: w.dest.unwrap_or_default(),
        }
    }
}

/// `SectorRebuildInfo`: a rebuild job as damocles answers
/// `AllocateRebuildSector` (worker `damocles-worker/src/rpc/sealer/mod.rs`@91f2d704b462d3b36a21e729448f1061aab72e7f,
/// Go `damocles-manager/core/types.go`@1ae89614d4652e27b3a76a2c8b9dc507d86336a2):
/// the sector, its ticket (base64), its pieces as v1 `Deals` (`Pieces`,
/// older managers and sectors) or `DealsV2` (`PiecesV2`), `IsSnapUp`, and
/// for a snapped-up sector `UpgradePublic` (`{CommR: 32 numbers, ...}`).
/// Our manager also sends `CommR` and `CommD` (32 numbers each, fields
/// damocles' worker ignores) so that our worker checks the rebuilt
/// replica against the sector's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorRebuildInfo {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The ticket it was sealed with.
    pub ticket: Ticket,
    /// Its pieces as v1 `Deals` (a damocles manager's older sectors).
    #[serde(default)]
    pub pieces: Option<Vec<DealInfoV1>>,
    /// Its pieces as `DealsV2`.
    #[serde(rename = "PiecesV2", default)]
    pub pieces_v2: Option<Vec<SectorPiece>>,
    /// The sector was snapped up.
    #[serde(rename = "IsSnapUp", default)]
    pub is_snap_up: bool,
    /// A snapped-up sector's public info (its CommR).
    #[serde(default)]
    pub upgrade_public: Option<SectorPublicInfo>,
    /// The sector's CommR (ours only).
    #[serde(rename = "CommR", default, skip_serializing_if = "Option::is_none")]
    pub comm_r: Option<[u8; 32]>,
    /// The sector's CommD (ours only).
    #[serde(rename = "CommD", default, skip_serializing_if = "Option::is_none")]
    pub comm_d: Option<[u8; 32]>,
}

/// `SectorPublicInfo` as damocles' worker reads it: the CommR (the Go
/// manager's `SealedCID`, `Activation` and `Expiration` are ignored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorPublicInfo {
    /// The sealed commitment's bytes.
    pub comm_r: [u8; 32],
}

impl From<&venus_seal_core::rebuild::RebuildAssignment> for SectorRebuildInfo {
    /// Pieces as `PiecesV2` (what damocles' current manager sends for
    /// its sectors; `null` for CC), `Pieces` null.
    fn from(a: &venus_seal_core::rebuild::RebuildAssignment) -> Self {
        SectorRebuildInfo {
            sector: a.sector,
            ticket: a.ticket.into(),
            pieces: None,
            pieces_v2: (!a.deals.is_empty())
                .then(|| a.deals.iter().map(SectorPiece::from).collect()),
            is_snap_up: a.upgraded,
            upgrade_public: None,
            comm_r: a.comm_r.map(|c| c.0),
            comm_d: a.comm_d.map(|c| c.0),
        }
    }
}

impl From<SectorRebuildInfo> for venus_seal_core::rebuild::RebuildAssignment {
    /// `PiecesV2` when the manager sends them, else `Pieces`; a sector
    /// is upgraded when `UpgradePublic` is set (as damocles' worker
    /// decides) or `IsSnapUp` says so.
    fn from(w: SectorRebuildInfo) -> Self {
        let deals: Vec<DealInfo> = match (w.pieces_v2, w.pieces) {
            (Some(v2), _) if !v2.is_empty() => {
                v2.into_iter().map(|p| AnyDeal::V2(p).into()).collect()
            }
            (_, Some(v1)) => v1.into_iter().map(|d| AnyDeal::V1(d).into()).collect(),
            _ => Vec::new(),
        };
        venus_seal_core::rebuild::RebuildAssignment {
            sector: w.sector,
            ticket: w.ticket.into(),
            // A damocles manager's pledge pieces (ID 0, zero data) stay in
            // place: the rebuilder writes them as zeros.
            deals,
            upgraded: w.upgrade_public.is_some() || w.is_snap_up,
            comm_r: w.comm_r.map(CommR),
            comm_d: w.comm_d.map(CommD),
        }
    }
}

/// `AllocateSnapUpSpec`: the sectors a worker takes (`Sector`) and the
/// deals it takes with them (`Deals`) (worker
/// `damocles-worker/src/rpc/sealer/mod.rs`@91f2d704b462d3b36a21e729448f1061aab72e7f).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocateSnapUpSpec {
    /// The sectors.
    pub sector: AllocateSectorSpec,
    /// The deals.
    #[serde(default)]
    pub deals: core::AcquireDealsSpec,
}

/// `AllocatedSnapUpSector`: a snap-up job as damocles answers
/// `AllocateSanpUpSector` (worker source above; Go
/// `damocles-manager/core/types.go`@1ae89614d4652e27b3a76a2c8b9dc507d86336a2):
/// the sector, its deals (`DealsV2`; a Go G1 manager's v1 `Deals` are
/// read too), the CC replica's CommR (`Public.CommR`, 32 numbers; the Go
/// manager adds `SealedCID`, `Activation`, `Expiration`, ignored) and the
/// persist store holding it (`Private.AccessInstance`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedSnapUpSector {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The deals it is to hold.
    pub pieces: Vec<SectorPiece>,
    /// The CC replica's CommR.
    pub public: SectorPublicInfo,
    /// The store holding the CC replica.
    pub private: SectorPrivateInfo,
}

/// [`AllocatedSnapUpSector`] as a client reads it: `Pieces` as
/// `DealsV2` or v1 `Deals`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AllocatedSnapUpSectorAny {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The deals (`null`: none, which damocles' worker refuses).
    #[serde(default, deserialize_with = "null_as_default")]
    pub pieces: Vec<AnyDeal>,
    /// The CC replica's CommR.
    pub public: SectorPublicInfo,
    /// The store holding the CC replica.
    pub private: SectorPrivateInfo,
}

impl From<&venus_seal_core::snapup::SnapUpAssignment> for AllocatedSnapUpSector {
    fn from(a: &venus_seal_core::snapup::SnapUpAssignment) -> Self {
        AllocatedSnapUpSector {
            sector: a.sector,
            pieces: a.deals.iter().map(SectorPiece::from).collect(),
            public: SectorPublicInfo {
                comm_r: a.comm_r_old.0,
            },
            private: SectorPrivateInfo {
                access_instance: a.instance.clone(),
            },
        }
    }
}

impl From<AllocatedSnapUpSectorAny> for venus_seal_core::snapup::SnapUpAssignment {
    fn from(w: AllocatedSnapUpSectorAny) -> Self {
        venus_seal_core::snapup::SnapUpAssignment {
            sector: w.sector,
            deals: w.pieces.into_iter().map(DealInfo::from).collect(),
            comm_r_old: CommR(w.public.comm_r),
            instance: w.private.access_instance,
        }
    }
}

/// `SnapUpOnChainInfo`: a snap-up's result (worker source above; the
/// same in every damocles version): the new CommR and CommD (32 numbers
/// each), the store holding the updated files, the pieces' CIDs and the
/// proof (base64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapUpOnChainInfo {
    /// The updated replica's CommR.
    pub comm_r: [u8; 32],
    /// The new data's CommD.
    pub comm_d: [u8; 32],
    /// The store holding the updated replica and cache.
    pub access_instance: String,
    /// The pieces encoded, in order.
    pub pieces: Vec<PieceCid>,
    /// The update proof, base64.
    #[serde(with = "b64_vec")]
    pub proof: Vec<u8>,
}

mod b64_vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(&text)
            .map_err(|e| serde::de::Error::custom(format!("proof is not base64: {e}")))
    }
}

impl From<&venus_seal_core::snapup::SnapUpProof> for SnapUpOnChainInfo {
    fn from(p: &venus_seal_core::snapup::SnapUpProof) -> Self {
        SnapUpOnChainInfo {
            comm_r: p.comm_r_new.0,
            comm_d: p.comm_d_new.0,
            access_instance: p.instance.clone(),
            pieces: p.pieces.clone(),
            proof: p.proof.proof.clone(),
        }
    }
}

impl From<SnapUpOnChainInfo> for venus_seal_core::snapup::SnapUpProof {
    fn from(w: SnapUpOnChainInfo) -> Self {
        venus_seal_core::snapup::SnapUpProof {
            comm_r_new: CommR(w.comm_r),
            comm_d_new: CommD(w.comm_d),
            pieces: w.pieces,
            proof: venus_seal_core::stage::Proof { proof: w.proof },
            instance: w.access_instance,
        }
    }
}

/// `SubmitSnapUpProofResp`'s `Res` for a verdict: 1 Accepted, 4
/// Rejected, 5 FilesMissed (as damocles' Go manager answers).
impl From<&venus_seal_core::snapup::SnapUpVerdict> for SubmitResp {
    fn from(v: &venus_seal_core::snapup::SnapUpVerdict) -> Self {
        use venus_seal_core::snapup::SnapUpVerdict as V;
        let (res, desc) = match v {
            V::Accepted => (SubmitResult::Accepted, None),
            V::Rejected(why) => (SubmitResult::Rejected, Some(why.clone())),
            V::FilesMissed(why) => (SubmitResult::FilesMissed, Some(why.clone())),
        };
        SubmitResp {
            res: submit_result_code(res),
            desc,
        }
    }
}

impl TryFrom<SubmitResp> for venus_seal_core::snapup::SnapUpVerdict {
    type Error = UnknownValue;
    /// As damocles' worker reads it: `Accepted` and `DuplicateSubmit`
    /// finish the job, `FilesMissed` persists again, `Rejected` and
    /// `MismatchedSubmission` abort it.
    fn try_from(r: SubmitResp) -> Result<Self, UnknownValue> {
        use venus_seal_core::snapup::SnapUpVerdict as V;
        let desc = r.desc.clone().unwrap_or_default();
        Ok(match submit_result(r.res)? {
            SubmitResult::Accepted | SubmitResult::DuplicateSubmit => V::Accepted,
            SubmitResult::FilesMissed => V::FilesMissed(desc),
            SubmitResult::Rejected | SubmitResult::MismatchedSubmission => V::Rejected(desc),
        })
    }
}

/// `PreCommitOnChainInfo`: raw 32-byte commitments (number arrays), the
/// ticket, and (older workers and the Go manager only) the deal ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PreCommitOnChainInfo {
    /// CommR bytes.
    pub comm_r: [u8; 32],
    /// CommD bytes.
    pub comm_d: [u8; 32],
    /// The ticket used.
    pub ticket: Ticket,
    /// The deal ids (absent from the newer worker: the manager takes them
    /// from its own record of `AcquireDeals`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub deals: Vec<u64>,
}

impl From<&core::PreCommitOnChainInfo> for PreCommitOnChainInfo {
    fn from(i: &core::PreCommitOnChainInfo) -> Self {
        PreCommitOnChainInfo {
            comm_r: i.comm_r.0,
            comm_d: i.comm_d.0,
            ticket: i.ticket.into(),
            deals: i.deals.clone(),
        }
    }
}

impl From<PreCommitOnChainInfo> for core::PreCommitOnChainInfo {
    fn from(i: PreCommitOnChainInfo) -> Self {
        core::PreCommitOnChainInfo {
            comm_r: CommR(i.comm_r),
            comm_d: CommD(i.comm_d),
            ticket: i.ticket.into(),
            deals: i.deals,
        }
    }
}

/// A number on the wire that is not one of the enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value} is not one damocles defines ({expected})")]
pub struct UnknownValue {
    what: &'static str,
    value: u64,
    expected: &'static str,
}

/// `SubmitResult` as its number (1 = Accepted … 5 = FilesMissed).
pub fn submit_result_code(r: SubmitResult) -> u64 {
    r as u64
}

/// The `SubmitResult` a number stands for (the Go manager's 0, "unknown",
/// is refused).
pub fn submit_result(code: u64) -> Result<SubmitResult, UnknownValue> {
    Ok(match code {
        1 => SubmitResult::Accepted,
        2 => SubmitResult::DuplicateSubmit,
        3 => SubmitResult::MismatchedSubmission,
        4 => SubmitResult::Rejected,
        5 => SubmitResult::FilesMissed,
        value => {
            return Err(UnknownValue {
                what: "SubmitResult",
                value,
                expected: "1..=5",
            })
        }
    })
}

/// `OnChainState` as its number (1 = Pending … 7 = ShouldAbort).
pub fn on_chain_state_code(s: OnChainState) -> u64 {
    s as u64
}

/// The `OnChainState` a number stands for (the Go manager's 0, "unknown",
/// is refused).
pub fn on_chain_state(code: u64) -> Result<OnChainState, UnknownValue> {
    Ok(match code {
        1 => OnChainState::Pending,
        2 => OnChainState::Packed,
        3 => OnChainState::Landed,
        4 => OnChainState::NotFound,
        5 => OnChainState::Failed,
        6 => OnChainState::PermFailed,
        7 => OnChainState::ShouldAbort,
        value => {
            return Err(UnknownValue {
                what: "OnChainState",
                value,
                expected: "1..=7",
            })
        }
    })
}

/// `SubmitPreCommitResp` / `SubmitProofResp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubmitResp {
    /// The result, as its number.
    pub res: u64,
    /// Why, when not accepted.
    #[serde(default)]
    pub desc: Option<String>,
}

impl From<&core::SubmitResponse> for SubmitResp {
    fn from(r: &core::SubmitResponse) -> Self {
        SubmitResp {
            res: submit_result_code(r.res),
            desc: r.desc.clone(),
        }
    }
}

impl TryFrom<SubmitResp> for core::SubmitResponse {
    type Error = UnknownValue;
    fn try_from(r: SubmitResp) -> Result<Self, UnknownValue> {
        Ok(core::SubmitResponse {
            res: submit_result(r.res)?,
            desc: r.desc,
        })
    }
}

/// `PollPreCommitStateResp` / `PollProofStateResp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PollStateResp {
    /// The state, as its number.
    pub state: u64,
    /// Detail.
    #[serde(default)]
    pub desc: Option<String>,
}

impl From<&core::PollStateResponse> for PollStateResp {
    fn from(r: &core::PollStateResponse) -> Self {
        PollStateResp {
            state: on_chain_state_code(r.state),
            desc: r.desc.clone(),
        }
    }
}

impl TryFrom<PollStateResp> for core::PollStateResponse {
    type Error = UnknownValue;
    fn try_from(r: PollStateResp) -> Result<Self, UnknownValue> {
        Ok(core::PollStateResponse {
            state: on_chain_state(r.state)?,
            desc: r.desc,
        })
    }
}

/// `WaitSeedResp`: `Delay` in whole seconds (a Rust `u64`, a Go `int`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitSeedResp {
    /// The seed is not drawable yet.
    pub should_wait: bool,
    /// Seconds to wait before asking again (a negative Go `int` reads as 0).
    pub delay: i64,
    /// The seed, once drawable.
    #[serde(default)]
    pub seed: Option<Seed>,
}

impl From<&core::WaitSeedResponse> for WaitSeedResp {
    /// The delay rounded up to whole seconds, and at least 1 while the
    /// worker must wait (damocles sleeps `Delay` seconds: 0 would make it
    /// ask again at once).
    fn from(r: &core::WaitSeedResponse) -> Self {
        let mut secs = r.delay.as_secs() + u64::from(r.delay.subsec_nanos() > 0);
        if r.should_wait {
            secs = secs.max(1);
        }
        WaitSeedResp {
            should_wait: r.should_wait,
            delay: i64::try_from(secs).unwrap_or(i64::MAX),
            seed: r.seed.map(Seed::from),
        }
    }
}

impl From<WaitSeedResp> for core::WaitSeedResponse {
    fn from(r: WaitSeedResp) -> Self {
        core::WaitSeedResponse {
            should_wait: r.should_wait,
            delay: Duration::from_secs(r.delay.max(0).unsigned_abs()),
            seed: r.seed.map(Into::into),
        }
    }
}

/// `SectorStateChange`: `Event` is a string (damocles writes the event's
/// `Debug` form, `None` included).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorStateChange {
    /// The state before.
    pub prev: String,
    /// The state after.
    pub next: String,
    /// What happened.
    #[serde(default, deserialize_with = "null_as_default")]
    pub event: String,
}

/// Go's `null` (a nil pointer or string) read as the type's default.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `SectorFailure`: the level as damocles names it (`Temporary`,
/// `Permanent`, `Critical`, `Abort`) and a description.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorFailure {
    /// The level's name.
    pub level: String,
    /// What went wrong.
    pub desc: String,
}

impl From<SectorFailure> for Failure {
    /// A level this side does not know is kept as Permanent, its name
    /// prefixed to the description.
    fn from(f: SectorFailure) -> Self {
        let level = match f.level.to_ascii_lowercase().as_str() {
            "temporary" => Some(FailureLevel::Temporary),
            "permanent" => Some(FailureLevel::Permanent),
            "critical" => Some(FailureLevel::Critical),
            "abort" => Some(FailureLevel::Abort),
            _ => None,
        };
        match level {
            Some(level) => Failure::new(level, f.desc),
            None => Failure::new(
                FailureLevel::Permanent,
                format!("[level {}] {}", f.level, f.desc),
            ),
        }
    }
}

impl From<&Failure> for SectorFailure {
    fn from(f: &Failure) -> Self {
        SectorFailure {
            level: format!("{:?}", f.level),
            desc: f.message.clone(),
        }
    }
}

/// `ReportStateReq`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportStateReq {
    /// Which worker, and where the sector is (`{Instance, Location}`).
    pub worker: core::WorkerIdentifier,
    /// The change.
    pub state_change: SectorStateChange,
    /// A failure, if the change is one.
    #[serde(default)]
    pub failure: Option<SectorFailure>,
}

impl From<ReportStateReq> for core::StateReport {
    /// damocles writes `"None"` for a change without an event: that is no
    /// event here.
    fn from(r: ReportStateReq) -> Self {
        let event = r.state_change.event;
        core::StateReport {
            worker: r.worker,
            state_change: core::SectorStateChange {
                prev: r.state_change.prev,
                next: r.state_change.next,
                event: (!event.is_empty() && event != "None").then_some(event),
            },
            failure: r.failure.map(Into::into),
        }
    }
}

impl From<&core::StateReport> for ReportStateReq {
    fn from(r: &core::StateReport) -> Self {
        ReportStateReq {
            worker: r.worker.clone(),
            state_change: SectorStateChange {
                prev: r.state_change.prev.clone(),
                next: r.state_change.next.clone(),
                event: r.state_change.event.clone().unwrap_or_default(),
            },
            failure: r.failure.as_ref().map(Into::into),
        }
    }
}

/// `SectorState` (worker) / `SectorStateResp` (Go manager): the answer to
/// `ReportState`. damocles acts on `AbortReason` only with
/// `Finalized: true`: it then cleans the sector up and aborts it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectorState {
    /// The sector.
    #[serde(rename = "Id")]
    pub id: SectorId,
    /// The manager is done with the sector (finalized, or given up).
    #[serde(rename = "Finalized")]
    pub finalized: bool,
    /// Why the worker must give it up (`null` or `""`: no reason given).
    #[serde(rename = "AbortReason", default)]
    pub abort_reason: Option<String>,
}

impl SectorState {
    /// The answer for `id` to a report the manager answered with `r`: an
    /// abort reason is sent with `Finalized: true`, which is what makes a
    /// damocles worker act on it.
    pub fn from_core(id: SectorId, r: &core::ReportStateResponse) -> Self {
        SectorState {
            id,
            finalized: r.finalized || r.abort_reason.is_some(),
            abort_reason: r.abort_reason.clone(),
        }
    }

    /// Our answer: the reason counts only with `Finalized: true`, and an
    /// empty one is none.
    pub fn into_core(self) -> core::ReportStateResponse {
        core::ReportStateResponse {
            finalized: self.finalized,
            abort_reason: self
                .abort_reason
                .filter(|r| self.finalized && !r.is_empty()),
        }
    }
}

/// `StoreBasicInfo` as the Go manager writes it (`Name`, `Path`, `Strict`,
/// `ReadOnly`, `Weight`, `Meta`); the Rust worker reads `Name`, `Path` and
/// `Meta` and ignores the rest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StoreBasicInfo {
    /// The store's instance name.
    pub name: String,
    /// Its path on the manager's host.
    pub path: String,
    /// Only sectors that name it are placed there.
    #[serde(default)]
    pub strict: bool,
    /// Nothing new is placed there.
    #[serde(default)]
    pub read_only: bool,
    /// Relative share of new sectors.
    #[serde(default)]
    pub weight: u64,
    /// Free-form metadata (`null`: none).
    #[serde(default)]
    pub meta: Option<BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_core::manager::WaitSeedResponse;

    fn wait(should_wait: bool, delay: Duration) -> i64 {
        WaitSeedResp::from(&WaitSeedResponse {
            should_wait,
            delay,
            seed: None,
        })
        .delay
    }

    #[test]
    fn wait_seed_delay_is_whole_seconds_never_zero_while_waiting() {
        assert_eq!(wait(true, Duration::from_millis(1200)), 2);
        assert_eq!(wait(true, Duration::from_millis(300)), 1);
        assert_eq!(wait(true, Duration::ZERO), 1);
        assert_eq!(wait(true, Duration::from_secs(4500)), 4500);
        assert_eq!(wait(false, Duration::ZERO), 0);
    }

    #[test]
    fn abort_reason_counts_only_when_finalized() {
        let id = SectorId::new(ActorId(1000), venus_seal_core::SectorNumber(1));
        let state = |finalized, reason: Option<&str>| SectorState {
            id,
            finalized,
            abort_reason: reason.map(str::to_string),
        };
        assert_eq!(state(false, Some("gone")).into_core().abort_reason, None);
        assert_eq!(state(true, Some("")).into_core().abort_reason, None);
        assert_eq!(
            state(true, Some("gone"))
                .into_core()
                .abort_reason
                .as_deref(),
            Some("gone")
        );
        // The server side: our abort request goes out with Finalized.
        let ours = core::ReportStateResponse {
            finalized: false,
            abort_reason: Some("operator".into()),
        };
        let wire = SectorState::from_core(id, &ours);
        assert!(wire.finalized);
        assert_eq!(wire.into_core(), ours_finalized(&ours));
    }

    fn ours_finalized(r: &core::ReportStateResponse) -> core::ReportStateResponse {
        core::ReportStateResponse {
            finalized: true,
            abort_reason: r.abort_reason.clone(),
        }
    }

    #[test]
    fn enum_numbers_round_trip_and_zero_is_refused() {
        for code in 1..=5 {
            assert_eq!(submit_result_code(submit_result(code).unwrap()), code);
        }
        for code in 1..=7 {
            assert_eq!(on_chain_state_code(on_chain_state(code).unwrap()), code);
        }
        let err = submit_result(0).unwrap_err().to_string();
        assert!(err.contains("SubmitResult 0"), "{err}");
        assert!(on_chain_state(8).is_err());
    }

    #[test]
    fn ni_porep_allocation_keeps_only_non_interactive_types() {
        let spec = AllocateSectorSpec {
            allowed_miners: None,
            allowed_proof_types: Some(vec![
                SealProof::StackedDrg2KiBV1_1,
                SealProof::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep,
            ]),
            allocation_key: None,
        };
        assert_eq!(
            allocate_spec(spec.clone(), true).allowed_proof_types,
            vec![SealProof::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep]
        );
        assert_eq!(allocate_spec(spec, false).allowed_proof_types.len(), 2);
        let any = allocate_spec(AllocateSectorSpec::default(), true);
        assert_eq!(any.allowed_proof_types.len(), 5);
    }

    /// The allocation key travels between our worker and our manager, and
    /// is absent from a request without one: the request is then exactly
    /// damocles' `AllocateSectorSpec` (fields of
    /// `tests/fixtures/damocles/AllocateSector.json`, read from
    /// damocles-manager/core/types.go@1ee1529965f540f4fbddf7e2338883710b28b06e);
    /// damocles' requests (no key) ask without one.
    #[test]
    fn the_allocation_key_is_ours_and_left_out_when_absent() {
        let plain = AllocateSpec {
            allowed_miners: vec![ActorId(1000)],
            allowed_proof_types: vec![SealProof::StackedDrg2KiBV1_1],
            allocation_key: None,
        };
        let json = serde_json::to_value(AllocateSectorSpec::from(&plain)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"AllowedMiners": [1000], "AllowedProofTypes": [5]})
        );
        let damocles: AllocateSectorSpec = serde_json::from_value(
            serde_json::json!({"AllowedMiners": null, "AllowedProofTypes": null}),
        )
        .unwrap();
        assert_eq!(allocate_spec(damocles, false).allocation_key, None);

        let keyed = AllocateSpec {
            allocation_key: Some("worker-1/job-7/1".into()),
            ..plain
        };
        let json = serde_json::to_value(AllocateSectorSpec::from(&keyed)).unwrap();
        assert_eq!(json["AllocationKey"], "worker-1/job-7/1");
        let back: AllocateSectorSpec = serde_json::from_value(json).unwrap();
        assert_eq!(allocate_spec(back, false), keyed);
    }

    /// A direct (DDO) deal goes to a damocles worker as damocles' own
    /// manager sends one (`DealInfoV2` of damocles-worker
    /// `src/rpc/sealer/mod.rs`@91f2d704b462d3b36a21e729448f1061aab72e7f:
    /// `DealID`, `AllocationID`, `PayloadSize`, `IsBuiltinMarket`): no
    /// deal id, its allocation's id, not a builtin-market deal. The
    /// client stays on our manager, which builds the piece manifests.
    #[test]
    fn a_direct_deal_goes_to_damocles_with_its_allocation_id() {
        let piece = PieceInfo {
            size: PaddedPieceSize(2048),
            cid: CommD([7; 32]),
        };
        let ddo = DealInfo::new(0, piece).with_allocation(core::VerifiedAllocationKey {
            client: ActorId(1001),
            id: 42,
        });
        let json = serde_json::to_value(SectorPiece::from(&ddo)).unwrap();
        assert_eq!(
            json["DealInfo"],
            serde_json::json!({"DealID": 0, "AllocationID": 42, "PayloadSize": 2032,
                               "IsBuiltinMarket": false})
        );
        let market = DealInfo::new(9, piece);
        let json = serde_json::to_value(SectorPiece::from(&market)).unwrap();
        assert_eq!(
            json["DealInfo"],
            serde_json::json!({"DealID": 9, "AllocationID": 0, "PayloadSize": 2032,
                               "IsBuiltinMarket": true})
        );
    }
}
