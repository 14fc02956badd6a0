//! Proof verification, as the chain and the manager need it.

use serde::{Deserialize, Serialize};

use crate::error::{FailureLevel, Leveled};
use crate::proving::{ReplicaUpdateVerifyInfo, WindowPoStVerifyInfo, WinningPoStVerifyInfo};
use crate::types::commitment::{CommD, CommR};
use crate::types::ids::ActorId;
use crate::types::ids::SectorId;
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;

/// Everything a seal proof is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealVerifyInfo {
    /// The proof type.
    pub proof_type: SealProof,
    /// The sector (its miner is the prover).
    pub sector: SectorId,
    /// CommR.
    pub comm_r: CommR,
    /// CommD.
    pub comm_d: CommD,
    /// The ticket randomness.
    pub ticket: Randomness,
    /// The seed randomness.
    pub seed: Randomness,
    /// The proof bytes.
    pub proof: Vec<u8>,
}

/// Verification could not run (as opposed to a proof that is invalid,
/// which is `Ok(false)`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot verify: {0}")]
pub struct VerifyError(pub String);

impl Leveled for VerifyError {
    fn level(&self) -> FailureLevel {
        FailureLevel::Permanent
    }
}

/// Verifies every proof the chain checks (seal proofs, their aggregates,
/// WindowPoSt, WinningPoSt and replica updates), aggregates seal proofs,
/// and draws WinningPoSt challenges: whatever the chain side must compute
/// about a proof without proving. Named for all of that (it was
/// `SealVerifier`, which also aggregated and verified PoSt). Implemented on
/// filecoin-proofs-api by `venus_seal_backends::LocalProofVerifier`; the
/// testing feature's `FakeProofVerifier` accepts exactly the fake proofs.
pub trait ProofVerifier: Send + Sync + std::fmt::Debug {
    /// `Ok(true)` if the proof is valid for the info, `Ok(false)` if not.
    /// Blocking: call from a blocking thread for large sectors.
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError>;

    /// Aggregates the proofs of `infos` (one proof type, ascending sector
    /// numbers) into one SnarkPackV2 proof. Blocking. The default refuses:
    /// a verifier that cannot aggregate makes the manager send proofs one
    /// by one.
    fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError> {
        let _ = infos;
        Err(VerifyError(format!(
            "{self:?} cannot aggregate seal proofs"
        )))
    }

    /// Checks an aggregate made by
    /// [`aggregate_seal_proofs`](Self::aggregate_seal_proofs) against
    /// `infos` (their `proof` fields are ignored). Blocking.
    fn verify_aggregate_seal(
        &self,
        infos: &[SealVerifyInfo],
        aggregate: &[u8],
    ) -> Result<bool, VerifyError> {
        let _ = (infos, aggregate);
        Err(VerifyError(format!(
            "{self:?} cannot verify aggregate seal proofs"
        )))
    }

    /// Checks a WindowPoSt. Blocking. The default refuses (a verifier
    /// that only checks seal proofs).
    fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
        let _ = info;
        Err(VerifyError(format!("{self:?} cannot verify WindowPoSt")))
    }

    /// The indices (into `eligible` sectors) a WinningPoSt with
    /// `randomness` challenges for `miner`. Blocking. The default refuses.
    fn winning_post_challenge(
        &self,
        seal_proof: SealProof,
        miner: ActorId,
        randomness: &Randomness,
        eligible: u64,
    ) -> Result<Vec<u64>, VerifyError> {
        let _ = (seal_proof, miner, randomness, eligible);
        Err(VerifyError(format!(
            "{self:?} cannot draw WinningPoSt challenges"
        )))
    }

    /// Checks a WinningPoSt. Blocking. The default refuses.
    fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
        let _ = info;
        Err(VerifyError(format!("{self:?} cannot verify WinningPoSt")))
    }

    /// Checks a snap-up (empty sector update) proof. Blocking. The
    /// default refuses.
    fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
        let _ = info;
        Err(VerifyError(format!(
            "{self:?} cannot verify replica update proofs"
        )))
    }
}

crate::forward::forward_impls! {
    impl[] ProofVerifier {
        fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError>;
        fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError>;
        fn verify_aggregate_seal(&self, infos: &[SealVerifyInfo], aggregate: &[u8])
            -> Result<bool, VerifyError>;
        fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError>;
        fn winning_post_challenge(
            &self,
            seal_proof: SealProof,
            miner: ActorId,
            randomness: &Randomness,
            eligible: u64,
        ) -> Result<Vec<u64>, VerifyError>;
        fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError>;
        fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo)
            -> Result<bool, VerifyError>;
    }
}
