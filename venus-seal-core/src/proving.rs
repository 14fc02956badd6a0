//! Proving sealed sectors: WindowPoSt, WinningPoSt, snap-up (empty sector
//! update) and unsealing.
//!
//! The work itself is a set of stages (`WindowPoSt`, `WinningPoSt`,
//! `CheckProvable`, `SnapEncode`, `SnapProve`, `Unseal` in
//! [`stage`](crate::stage)) run through [`Executor`] like the sealing
//! stages, so the same local, ext-processor and decorated executors
//! (limits, shared locks, metrics) serve them. This module holds what they
//! share and what is built on them:
//!
//! * the sectors, files, proofs and outputs the stages carry; a WindowPoSt
//!   executor checks each sector's files first: a sector whose replica or
//!   cache is missing or corrupt is **skipped** and reported in
//!   [`WindowPoStOutput::skipped`] with the reason, never a failed proof
//!   of the whole partition (the chain then records it faulty);
//! * [`compute_proof`], the `ComputeProof` call venus-miner makes on a
//!   sealer for a WinningPoSt: sector infos in, PoSt proofs out, the files
//!   found by a [`SectorLocator`];
//! * [`unseal_to_file`], which puts an unsealed range in place atomically;
//! * the `*VerifyInfo` types that
//!   [`ProofVerifier`]'s PoSt and update methods take.
//!
//! No proving crate here: `venus_seal_backends::LocalExecutor` runs these
//! stages on filecoin-proofs-api.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{FailureLevel, Leveled, StageError};
use crate::executor::Executor;
use crate::stage::{Unseal, WinningPoSt};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::{ActorId, ChainEpoch, SectorId, SectorNumber};
use crate::types::piece::PieceInfo;
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;
use crate::verify::ProofVerifier;

/// Where a sealed sector's files are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectorFiles {
    /// The sealed replica (`sealed/s-t0<miner>-<n>`).
    pub sealed: PathBuf,
    /// The cache directory (`p_aux`, `t_aux`, `sc-02-data-tree-r-last*`).
    pub cache: PathBuf,
}

/// A sector as a PoSt verifier knows it: what the chain holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoStSector {
    /// The sector number.
    pub number: SectorNumber,
    /// Its seal proof (which fixes the PoSt proof of its size).
    pub seal_proof: SealProof,
    /// Its replica commitment (the updated one after a snap-up).
    pub comm_r: CommR,
    /// The CC replica's commitment when the sector was snapped up
    /// (`SectorKeyCID`): its replica is then the updated one
    /// ([`SectorLocator::locate_update`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_key: Option<CommR>,
}

/// A sector to prove: its chain view and its files.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProvingSector {
    /// What the chain holds of it.
    pub sector: PoStSector,
    /// Where its replica and cache are.
    pub files: SectorFiles,
}

/// A PoSt proof as the chain carries it (`PoStProof`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PoStProof {
    /// The chain's `RegisteredPoStProof` number (e.g. 10 for
    /// `StackedDrgWindow2KiBV1_1`, 15 for `StackedDrgWindow2KiBV1_2`,
    /// 0 for `StackedDrgWinning2KiBV1`).
    pub post_proof: i64,
    /// The Groth16 proof bytes (192 per partition).
    #[serde(with = "crate::serde_bytes_b64")]
    pub proof: Vec<u8>,
}

/// Which Proof-of-Spacetime (and which parameters prove it).
///
/// ```
/// use venus_seal_core::proving::PoStKind;
/// assert_eq!(PoStKind::Window.to_string(), "WindowPoSt");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PoStKind {
    /// WindowPoSt: every sector of a deadline, every proving period (the
    /// `StackedDrgWindow…V1_2` proofs).
    Window,
    /// WinningPoSt: the sectors a block's election challenges (the
    /// `StackedDrgWinning…V1` proofs).
    Winning,
}

impl std::fmt::Display for PoStKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PoStKind::Window => "WindowPoSt",
            PoStKind::Winning => "WinningPoSt",
        })
    }
}

/// A sector left out of a proof, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SkippedSector {
    /// The sector.
    pub number: SectorNumber,
    /// What is wrong with its files, for the operator.
    pub reason: String,
}

/// The result of a WindowPoSt job.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPoStOutput {
    /// The proofs (one per PoSt proof type; empty when every sector was
    /// skipped).
    pub proofs: Vec<PoStProof>,
    /// The sectors proven, ascending.
    pub proven: Vec<SectorNumber>,
    /// The sectors left out as faulty, with reasons.
    pub skipped: Vec<SkippedSector>,
}

/// Everything a WindowPoSt is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowPoStVerifyInfo {
    /// The miner.
    pub miner: ActorId,
    /// The challenge randomness.
    pub randomness: Randomness,
    /// The sectors the proof covers (the partition less the skipped ones).
    pub sectors: Vec<PoStSector>,
    /// The proofs.
    pub proofs: Vec<PoStProof>,
}

/// Everything a WinningPoSt is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinningPoStVerifyInfo {
    /// The miner.
    pub miner: ActorId,
    /// The challenge randomness.
    pub randomness: Randomness,
    /// The challenged sectors, in challenge order.
    pub sectors: Vec<PoStSector>,
    /// The proofs.
    pub proofs: Vec<PoStProof>,
}

/// What encoding produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapEncodeOutput {
    /// The new replica commitment.
    pub comm_r_new: CommR,
    /// The commitment of the new data.
    pub comm_d_new: CommD,
}

/// Everything an update proof is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaUpdateVerifyInfo {
    /// The sector's seal proof (fixes the update proof).
    pub seal_proof: SealProof,
    /// The CC sector's replica commitment.
    pub comm_r_old: CommR,
    /// The updated replica commitment.
    pub comm_r_new: CommR,
    /// The new data's commitment.
    pub comm_d_new: CommD,
    /// The proof bytes.
    #[serde(with = "crate::serde_bytes_b64")]
    pub proof: Vec<u8>,
}

/// Reading a range of a sector's original data back out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsealRequest {
    /// The sector.
    pub sector: SectorId,
    /// Its seal proof.
    pub seal_proof: SealProof,
    /// Its sealed replica and cache (the cache needs `p_aux`).
    pub files: SectorFiles,
    /// Its data commitment.
    pub comm_d: CommD,
    /// The ticket it was sealed with.
    pub ticket: Randomness,
    /// Where the range starts, in unpadded bytes from the start of the
    /// sector (a piece at padded offset `o` starts at `o / 128 * 127`).
    pub offset: u64,
    /// How many unpadded bytes to read.
    pub len: u64,
}

impl UnsealRequest {
    /// The unpadded range of the `index`-th of `pieces` (as laid out in
    /// the sector, in order, without padding pieces between them): the
    /// offset and length to read a piece back. `None` if out of range.
    pub fn piece_range(pieces: &[PieceInfo], index: usize) -> Option<(u64, u64)> {
        let piece = pieces.get(index)?;
        let padded_offset: u64 = pieces[..index].iter().map(|p| p.size.0).sum();
        Some((padded_offset / 128 * 127, piece.size.unpadded()))
    }
}

/// A proving failure. Each variant says how the caller must react
/// (see [`Leveled`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProvingError {
    /// The request is wrong (no sectors, mixed proof types, a range past
    /// the sector). Level: Permanent.
    #[error("invalid proving request: {0}")]
    InvalidRequest(String),
    /// Groth16 parameters are missing or unusable. Level: Critical (the
    /// environment needs fixing).
    #[error("proving parameters unavailable: {0}")]
    Parameters(String),
    /// A local file could not be read or written. Level: Critical.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The proof computation failed. Level: Permanent.
    #[error("{what} failed: {message}")]
    Proof {
        /// The computation, e.g. `WindowPoSt of t01000 deadline 0 partition 0`.
        what: String,
        /// The library's error, with its causes.
        message: String,
    },
    /// A remote prover could not be reached. Level: Temporary.
    #[error("prover unreachable: {0}")]
    Unavailable(String),
    /// Sending proven or unsealed data to its destination (e.g. an HTTP
    /// upload) failed. Level: Temporary when the destination could not
    /// be reached or may recover (no status, 408, 429, 5xx); Critical when
    /// it refused our credentials (401, 403: the token needs fixing);
    /// Permanent for any other refusal.
    #[error("uploading to {url} failed: {message}")]
    Upload {
        /// The destination, with any password or query redacted.
        url: String,
        /// The HTTP status it answered, if it answered.
        status: Option<u16>,
        /// What went wrong, with the destination's reason.
        message: String,
    },
    /// The executor of a proving stage failed. Level: the executor's.
    #[error(transparent)]
    Stage(#[from] StageError),
}

impl Leveled for ProvingError {
    fn level(&self) -> FailureLevel {
        match self {
            ProvingError::InvalidRequest(_) | ProvingError::Proof { .. } => FailureLevel::Permanent,
            ProvingError::Parameters(_) | ProvingError::Io { .. } => FailureLevel::Critical,
            ProvingError::Unavailable(_) => FailureLevel::Temporary,
            ProvingError::Upload { status, .. } => match status {
                None | Some(408 | 429 | 500..) => FailureLevel::Temporary,
                Some(401 | 403) => FailureLevel::Critical,
                Some(_) => FailureLevel::Permanent,
            },
            ProvingError::Stage(e) => e.level(),
        }
    }
}

/// How a proving executor reports a [`ProvingError`]: the variant whose
/// level the engine reacts to the same way, except that a wrong request
/// is [`StageError::InvalidTask`] (retrying cannot help) and missing
/// parameters are [`StageError::Missing`], as the sealing stages report
/// them.
impl From<ProvingError> for StageError {
    fn from(e: ProvingError) -> Self {
        match e {
            ProvingError::InvalidRequest(m) => StageError::InvalidTask(m),
            ProvingError::Parameters(m) => {
                StageError::Missing(format!("proving parameters unavailable: {m}"))
            }
            ProvingError::Io { path, source } => StageError::io(path.display().to_string(), source),
            ProvingError::Unavailable(m) => StageError::Unavailable(m),
            ProvingError::Stage(e) => e,
            e @ ProvingError::Upload { .. } => match e.level() {
                FailureLevel::Temporary => StageError::Unavailable(e.to_string()),
                FailureLevel::Critical => {
                    StageError::io("uploading", std::io::Error::other(e.to_string()))
                }
                _ => StageError::Computation(e.to_string()),
            },
            e @ ProvingError::Proof { .. } => StageError::Computation(e.to_string()),
        }
    }
}

/// Finds a sealed sector's files (a worker's or a storage pool's index).
pub trait SectorLocator: Send + Sync + fmt::Debug {
    /// The files of `sector`, or `None` if this store does not hold it.
    fn locate(&self, sector: SectorId) -> Option<SectorFiles>;

    /// The updated replica and cache of a snapped-up `sector`, where
    /// this store holds them (`None`: it does not, or keeps no updates;
    /// the default).
    fn locate_update(&self, sector: SectorId) -> Option<SectorFiles> {
        let _ = sector;
        None
    }
}

/// The files to prove `sector` (of `miner`) from: a snapped-up sector's
/// updated replica (`None` where `locator` holds none: its sealed
/// replica is the CC one, which no longer proves it), else the sealed
/// one.
pub fn locate_for_proving(
    locator: &dyn SectorLocator,
    miner: ActorId,
    sector: &PoStSector,
) -> Option<SectorFiles> {
    let id = SectorId::new(miner, sector.number);
    if sector.sector_key.is_some() {
        return locator.locate_update(id);
    }
    locator.locate(id)
}

/// Sectors laid out as the worker seals them: `<root>/<sector id>/sealed`
/// and `<root>/<sector id>/cache` (see
/// [`SectorPaths::under`](crate::stage::SectorPaths::under)). Every
/// sector is "located"; missing files are found by the prover's check and
/// reported as a skip reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectorDirs {
    /// The directory holding one directory per sector.
    pub root: PathBuf,
}

impl SectorLocator for SectorDirs {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        let dir = self.root.join(sector.to_string());
        Some(SectorFiles {
            sealed: dir.join("sealed"),
            cache: dir.join("cache"),
        })
    }
}

impl SectorLocator for std::collections::BTreeMap<SectorId, SectorFiles> {
    fn locate(&self, sector: SectorId) -> Option<SectorFiles> {
        self.get(&sector).cloned()
    }
}

/// A `ComputeProof` request as venus-miner sends it to a sealer: the
/// miner's eligible sectors and the election's randomness.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputeProofRequest {
    /// The miner.
    pub miner: ActorId,
    /// The sectors the challenge picks from, in the chain's order.
    pub sectors: Vec<PoStSector>,
    /// The WinningPoSt randomness.
    pub randomness: Randomness,
    /// The epoch of the block being mined (for logs).
    pub epoch: ChainEpoch,
}

/// Answers venus-miner's `ComputeProof`: draws the challenged sectors
/// with `challenger` (the chain's rule, the one the verifier checks
/// against), locates their files and runs the [`WinningPoSt`] stage on
/// `prover`.
pub async fn compute_proof(
    challenger: &dyn ProofVerifier,
    prover: &dyn Executor<WinningPoSt>,
    locator: &dyn SectorLocator,
    request: &ComputeProofRequest,
) -> Result<Vec<PoStProof>, ProvingError> {
    let first = request.sectors.first().ok_or_else(|| {
        ProvingError::InvalidRequest(format!(
            "ComputeProof for {} at epoch {}: no sectors",
            request.miner, request.epoch
        ))
    })?;
    let indices = challenger
        .winning_post_challenge(
            first.seal_proof,
            request.miner,
            &request.randomness,
            request.sectors.len() as u64,
        )
        .map_err(|e| ProvingError::Proof {
            what: format!("WinningPoSt challenge of {}", request.miner),
            message: e.to_string(),
        })?;
    let mut sectors = Vec::with_capacity(indices.len());
    for i in indices {
        let sector = *request.sectors.get(i as usize).ok_or_else(|| {
            ProvingError::InvalidRequest(format!(
                "challenge index {i} is past the {} sectors",
                request.sectors.len()
            ))
        })?;
        let id = SectorId::new(request.miner, sector.number);
        let files = locate_for_proving(locator, request.miner, &sector).ok_or_else(|| {
            let what = if sector.sector_key.is_some() {
                "its updated (snapped-up) replica"
            } else {
                "its replica"
            };
            ProvingError::InvalidRequest(format!(
                "challenged sector {id} is not stored here ({what} not found)"
            ))
        })?;
        sectors.push(ProvingSector { sector, files });
    }
    Ok(prover
        .execute(WinningPoSt {
            miner: request.miner,
            randomness: request.randomness,
            sectors,
        })
        .await?)
}

/// `<path>.part`: where a file is written before it is renamed into place.
fn part_path(path: &Path) -> PathBuf {
    let mut part = path.as_os_str().to_os_string();
    part.push(".part");
    PathBuf::from(part)
}

/// Unseals `request` into the file `path` with the [`Unseal`] stage on
/// `unsealer`: written to `<path>.part`, synced, then renamed, so that
/// `path` never holds a partial piece. Returns the bytes written. (For an
/// HTTP destination see `venus_seal_backends::proving::unseal_to_http`.)
pub async fn unseal_to_file(
    unsealer: &dyn Executor<Unseal>,
    request: &UnsealRequest,
    path: &Path,
) -> Result<u64, ProvingError> {
    let part = part_path(path);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ProvingError::Io { path, source }
    };
    let task = Unseal {
        request: request.clone(),
        output: part.clone(),
    };
    let written = match unsealer.execute(task).await {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            return Err(e.into());
        }
    };
    let synced = std::fs::File::open(&part).and_then(|f| f.sync_all());
    if let Err(source) = synced {
        let _ = std::fs::remove_file(&part);
        return Err(io(&part)(source));
    }
    std::fs::rename(&part, path).map_err(io(path))?;
    Ok(written)
}

/// A fake [`Unseal`] executor and a request for it, for tests of what
/// consumes unsealed bytes (feature `testing`).
#[cfg(feature = "testing")]
pub mod fake {
    use async_trait::async_trait;

    use super::*;

    /// Writes byte `i as u8` for each unpadded offset `i` of the range
    /// (see [`pattern`]) to the task's output file; with `fail` set,
    /// writes the first half and then fails with
    /// [`StageError::InvalidTask`] carrying that message.
    #[derive(Clone, Copy, Debug, Default)]
    pub struct PatternUnsealer {
        /// The failure to report after half the bytes, if any.
        pub fail: Option<&'static str>,
    }

    /// The bytes [`PatternUnsealer`] writes for `len` bytes at `offset`.
    pub fn pattern(offset: u64, len: u64) -> Vec<u8> {
        (offset..offset + len).map(|i| i as u8).collect()
    }

    #[async_trait]
    impl Executor<Unseal> for PatternUnsealer {
        async fn execute(&self, task: Unseal) -> Result<u64, StageError> {
            let r = &task.request;
            let bytes = pattern(r.offset, r.len);
            let io = |source| StageError::io(format!("writing {}", task.output.display()), source);
            if let Some(message) = self.fail {
                std::fs::write(&task.output, &bytes[..bytes.len() / 2]).map_err(io)?;
                return Err(StageError::InvalidTask(message.into()));
            }
            std::fs::write(&task.output, &bytes).map_err(io)?;
            Ok(r.len)
        }
    }

    /// A request for `len` bytes at offset 10 of sector 1 of t01000 (2KiB;
    /// the files do not exist).
    pub fn unseal_request(len: u64) -> UnsealRequest {
        UnsealRequest {
            sector: SectorId::new(ActorId(1000), SectorNumber(1)),
            seal_proof: SealProof::StackedDrg2KiBV1_1,
            files: SectorFiles {
                sealed: "s".into(),
                cache: "c".into(),
            },
            comm_d: CommD([0; 32]),
            ticket: Randomness([0; 32]),
            offset: 10,
            len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{unseal_request, PatternUnsealer};
    use super::*;
    use crate::stage::{CheckProvable, SnapEncode, SnapProve, WindowPoSt};
    use crate::types::piece::PaddedPieceSize;

    #[test]
    fn piece_ranges_are_unpadded_offsets() {
        let p = |size| PieceInfo {
            size: PaddedPieceSize(size),
            cid: CommD([0; 32]),
        };
        let pieces = [p(512), p(256), p(1024)];
        assert_eq!(UnsealRequest::piece_range(&pieces, 0), Some((0, 508)));
        assert_eq!(UnsealRequest::piece_range(&pieces, 1), Some((508, 254)));
        assert_eq!(UnsealRequest::piece_range(&pieces, 2), Some((762, 1016)));
        assert_eq!(UnsealRequest::piece_range(&pieces, 3), None);
    }

    #[test]
    fn levels_follow_the_cause() {
        assert_eq!(
            ProvingError::Unavailable("x".into()).level(),
            FailureLevel::Temporary
        );
        assert_eq!(
            ProvingError::Parameters("x".into()).level(),
            FailureLevel::Critical
        );
        assert_eq!(
            ProvingError::InvalidRequest("x".into()).level(),
            FailureLevel::Permanent
        );
        assert_eq!(
            ProvingError::Stage(StageError::Unavailable("x".into())).level(),
            FailureLevel::Temporary
        );
        let upload = |status| ProvingError::Upload {
            url: "http://h/p".into(),
            status,
            message: "x".into(),
        };
        for (status, level) in [
            (None, FailureLevel::Temporary),
            (Some(503), FailureLevel::Temporary),
            (Some(429), FailureLevel::Temporary),
            (Some(401), FailureLevel::Critical),
            (Some(403), FailureLevel::Critical),
            (Some(413), FailureLevel::Permanent),
        ] {
            assert_eq!(upload(status).level(), level, "{status:?}");
        }
    }

    /// An executor reports a proving failure at the level the engine
    /// reacts to in the same way, and keeps the message.
    #[test]
    fn proving_errors_become_stage_errors_keeping_the_message() {
        let cases = [
            (
                ProvingError::Proof {
                    what: "WindowPoSt of f01000".into(),
                    message: "bad tree".into(),
                },
                FailureLevel::Permanent,
            ),
            (
                ProvingError::Unavailable("gone".into()),
                FailureLevel::Temporary,
            ),
            (
                ProvingError::Io {
                    path: "/x/sealed".into(),
                    source: std::io::Error::other("disk"),
                },
                FailureLevel::Critical,
            ),
            (
                ProvingError::Parameters("no vk".into()),
                FailureLevel::Permanent,
            ),
            (
                ProvingError::InvalidRequest("empty".into()),
                FailureLevel::Abort,
            ),
        ];
        for (e, level) in cases {
            let shown = e.to_string();
            let stage = StageError::from(e);
            assert_eq!(stage.level(), level, "{stage}");
            let tail = shown.rsplit(": ").next().unwrap();
            assert!(stage.to_string().contains(tail), "{stage} / {shown}");
        }
    }

    #[tokio::test]
    async fn unsealing_to_a_file_never_leaves_a_partial_file() {
        let dir = std::env::temp_dir().join(format!("venus-unseal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("piece");
        let n = unseal_to_file(&PatternUnsealer::default(), &unseal_request(300), &path)
            .await
            .unwrap();
        assert_eq!(n, 300);
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got[0], 10);
        assert_eq!(got.len(), 300);
        let failed = dir.join("failed");
        let err = unseal_to_file(
            &PatternUnsealer {
                fail: Some("bad range"),
            },
            &unseal_request(300),
            &failed,
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("bad range"));
        assert!(!failed.exists());
        assert!(!dir.join("failed.part").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn _assert_dyn(
        _: crate::DynExecutor<WindowPoSt>,
        _: crate::DynExecutor<WinningPoSt>,
        _: crate::DynExecutor<CheckProvable>,
        _: crate::DynExecutor<SnapEncode>,
        _: crate::DynExecutor<SnapProve>,
        _: crate::DynExecutor<Unseal>,
    ) {
    }
}
