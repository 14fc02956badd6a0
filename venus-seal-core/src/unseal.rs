//! Unseal jobs: a piece of a sealed sector read back for a retrieval.
//!
//! An operator (or a market) asks the sector manager for a piece of one of
//! its sectors, to be written to a destination; the manager keeps the job
//! on the sector's record ([`SectorStatus::unseal`](crate::manager_store::SectorStatus::unseal)),
//! one per piece (a second request for the same piece adds its
//! destination), and hands it to a worker that asks
//! ([`UnsealJobSource::allocate_unseal`], damocles'
//! `Venus.AllocateUnsealSector`). The worker unseals the range through its
//! [`Executor<Unseal>`](crate::executor::Executor), writes it to every
//! destination and reports the result ([`UnsealJobSource::achieve_unseal`],
//! `Venus.AchieveUnsealSector`). A job whose worker went silent is handed
//! out again after its lease; a failed one is retried up to
//! [`UnsealJob::MAX_ATTEMPTS`] times.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::ManagerError;
use crate::manager::{AllocateSpec, AllocatedSector};
use crate::types::commitment::{CommD, PieceCid};
use crate::types::ids::SectorId;
use crate::types::piece::PieceInfo;
use crate::types::randomness::Ticket;

/// One piece to read back out of a sector, and where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsealJob {
    /// The piece.
    pub piece: PieceInfo,
    /// Where its bytes start in the sector, unpadded (see
    /// [`piece_offsets`]).
    pub offset: u64,
    /// Its unpadded length.
    pub len: u64,
    /// Where its bytes go (each written): `file:///path` or an absolute
    /// path on the worker, `http(s)://…` (uploaded with PUT), or an
    /// object-store URL (`s3://bucket/key`).
    pub dests: Vec<String>,
    /// Where the job is.
    pub state: UnsealState,
    /// How many times it was handed to a worker.
    #[serde(default)]
    pub attempts: u32,
    /// The last failure a worker reported, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where an [`UnsealJob`] is (the state every manager job has).
pub use crate::jobs::JobState as UnsealState;

impl UnsealJob {
    /// How long a worker holds a job before it is handed out again (a
    /// 32GiB unseal takes hours on a slow machine; the worker reports its
    /// result, not progress).
    pub const LEASE_SECS: u64 = 6 * 3600;
    /// How many times a job is handed out before it is given up.
    pub const MAX_ATTEMPTS: u32 = 3;

    /// A new job for `piece` at `offset`/`len` (unpadded) going to `dest`.
    pub fn new(piece: PieceInfo, offset: u64, len: u64, dest: String) -> Self {
        Self {
            piece,
            offset,
            len,
            dests: vec![dest],
            state: UnsealState::Pending,
            attempts: 0,
            last_error: None,
        }
    }

    /// Whether a worker may take it at `now`: pending, or running past
    /// its lease.
    pub fn is_available(&self, now: u64) -> bool {
        self.state.is_available(now, Self::LEASE_SECS)
    }

    /// Neither done nor given up.
    pub fn is_open(&self) -> bool {
        self.state.is_open()
    }

    /// The state in one word, for listings.
    pub fn state_name(&self) -> &'static str {
        self.state.name()
    }
}

/// What a worker needs to run an unseal job (damocles'
/// `SectorUnsealInfo`, less what it reads from elsewhere).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsealAssignment {
    /// The sector and its proof type.
    pub sector: AllocatedSector,
    /// The piece to read back.
    pub piece: PieceCid,
    /// The sector's data commitment.
    pub comm_d: CommD,
    /// The ticket it was sealed with.
    pub ticket: Ticket,
    /// Where the piece starts in the sector, unpadded bytes.
    pub offset: u64,
    /// Its unpadded length.
    pub len: u64,
    /// The persist store instance holding the sealed files (where the
    /// sealing worker persisted them).
    pub instance: String,
    /// Where the piece goes, as requested so far (ask
    /// [`UnsealJobSource::unseal_destinations`] again once it is
    /// unsealed: one may have been added meanwhile).
    pub dests: Vec<String>,
}

/// The padded offset of each of `pieces` in a sector that holds them in
/// this order, each aligned to its own size as filecoin-proofs'
/// `add_piece` places them (zero padding before a piece that would
/// otherwise start off its alignment). A piece at padded offset `o`
/// starts at unpadded byte `o / 128 * 127`.
pub fn piece_offsets(pieces: &[PieceInfo]) -> Vec<u64> {
    let mut at = 0u64;
    pieces
        .iter()
        .map(|p| {
            let size = p.size.0.max(1);
            at = at.div_ceil(size) * size;
            let offset = at;
            at += p.size.0;
            offset
        })
        .collect()
}

/// A sector manager that hands out unseal jobs (a role beside
/// [`SectorManager`](crate::SectorManager): sealing workers need not run
/// them). The method names follow damocles' worker API.
#[async_trait]
pub trait UnsealJobSource: Send + Sync + std::fmt::Debug {
    /// An unseal job of a sector `spec` allows (its miners and proof
    /// types), now running for the caller; `None` when there is none
    /// (`Venus.AllocateUnsealSector`).
    async fn allocate_unseal(
        &self,
        spec: AllocateSpec,
    ) -> Result<Option<UnsealAssignment>, ManagerError>;

    /// Where the piece of a job goes (`Venus.AcquireUnsealDest`); asked
    /// once the piece is unsealed, so a destination added meanwhile is
    /// written too.
    async fn unseal_destinations(
        &self,
        sector: SectorId,
        piece: PieceCid,
    ) -> Result<Vec<String>, ManagerError>;

    /// The job's result (`Venus.AchieveUnsealSector`): `None` when the
    /// piece was written to every destination, else what failed (the job
    /// is handed out again until it fails too often).
    async fn achieve_unseal(
        &self,
        sector: SectorId,
        piece: PieceCid,
        error: Option<String>,
    ) -> Result<(), ManagerError>;
}

crate::forward::forward_impls! {
    impl[] UnsealJobSource {
        async fn allocate_unseal(&self, spec: AllocateSpec)
            -> Result<Option<UnsealAssignment>, ManagerError>;
        async fn unseal_destinations(&self, sector: SectorId, piece: PieceCid)
            -> Result<Vec<String>, ManagerError>;
        async fn achieve_unseal(&self, sector: SectorId, piece: PieceCid, error: Option<String>)
            -> Result<(), ManagerError>;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::piece::PaddedPieceSize;

    fn piece(size: u64) -> PieceInfo {
        PieceInfo {
            size: PaddedPieceSize(size),
            cid: CommD([size as u8; 32]),
        }
    }

    /// Each piece starts at a multiple of its size: a 256-byte piece then
    /// a 512-byte one leaves a 256-byte gap (the seal example's deal
    /// sector), as filecoin-proofs' alignment does.
    #[test]
    fn pieces_are_aligned_to_their_size() {
        assert_eq!(piece_offsets(&[piece(256), piece(512)]), vec![0, 512]);
        assert_eq!(
            piece_offsets(&[piece(512), piece(256), piece(256), piece(1024)]),
            vec![0, 512, 768, 1024]
        );
        assert_eq!(piece_offsets(&[]), Vec::<u64>::new());
    }
}
