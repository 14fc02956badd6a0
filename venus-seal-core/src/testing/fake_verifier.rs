//! A fake [`ProofVerifier`] whose proofs are hashes: the one the core's
//! fake executors, the fake manager, the devnet's tests and the PoSt fakes
//! all agree on. It proves nothing: never use it outside tests and demos.

use crate::proving::{
    PoStProof, PoStSector, ReplicaUpdateVerifyInfo, WindowPoStVerifyInfo, WinningPoStVerifyInfo,
};
use crate::stage::Proof;
use crate::types::ids::ActorId;
use crate::types::proof::SealProof;
use crate::types::randomness::Randomness;
use crate::verify::{ProofVerifier, SealVerifyInfo, VerifyError};

/// Accepts a proof iff its bytes are [`FakeProofVerifier::proof_for`] the
/// info: a blake2b-256 hash of everything the proof is checked against
/// (proof type, sector, CommR, CommD, ticket, seed).
#[derive(Clone, Copy, Debug, Default)]
pub struct FakeProofVerifier;

impl FakeProofVerifier {
    /// The one proof this verifier accepts for `info` (its `proof` field is
    /// ignored).
    pub fn proof_for(info: &SealVerifyInfo) -> Proof {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake seal proof");
        state.update(&info.proof_type.id().to_be_bytes());
        state.update(&info.sector.miner.0.to_be_bytes());
        state.update(&info.sector.number.0.to_be_bytes());
        state.update(&info.comm_r.0);
        state.update(&info.comm_d.0);
        state.update(&info.ticket.0);
        state.update(&info.seed.0);
        Proof {
            proof: state.finalize().as_bytes().to_vec(),
        }
    }
}

impl FakeProofVerifier {
    /// The one aggregate this verifier accepts for `infos`: a hash of
    /// their [`proof_for`](Self::proof_for) proofs, in order.
    pub fn aggregate_for(infos: &[SealVerifyInfo]) -> Vec<u8> {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake aggregate");
        for info in infos {
            state.update(&Self::proof_for(info).proof);
        }
        state.finalize().as_bytes().to_vec()
    }
}

impl ProofVerifier for FakeProofVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(Self::proof_for(info).proof == info.proof)
    }

    /// Refuses unless every proof verifies, as the real aggregation fails
    /// on bad proofs' public inputs only at verification time.
    fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError> {
        if infos.is_empty() {
            return Err(VerifyError("nothing to aggregate".into()));
        }
        if let Some(bad) = infos.iter().find(|i| Self::proof_for(i).proof != i.proof) {
            return Err(VerifyError(format!(
                "the proof of sector {} does not verify",
                bad.sector
            )));
        }
        Ok(Self::aggregate_for(infos))
    }

    fn verify_aggregate_seal(
        &self,
        infos: &[SealVerifyInfo],
        aggregate: &[u8],
    ) -> Result<bool, VerifyError> {
        Ok(Self::aggregate_for(infos) == aggregate)
    }

    fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
        if info.sectors.is_empty() {
            return Ok(info.proofs.is_empty());
        }
        Ok(info.proofs
            == [Self::post_proof_for(
                info.miner,
                &info.randomness,
                &info.sectors,
            )])
    }

    /// The first `min(2, eligible)` indices from the randomness.
    fn winning_post_challenge(
        &self,
        _seal_proof: SealProof,
        _miner: ActorId,
        randomness: &Randomness,
        eligible: u64,
    ) -> Result<Vec<u64>, VerifyError> {
        if eligible == 0 {
            return Err(VerifyError("no eligible sectors".into()));
        }
        Ok(vec![u64::from(randomness.0[0]) % eligible])
    }

    fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proofs
            == [Self::post_proof_for(
                info.miner,
                &info.randomness,
                &info.sectors,
            )])
    }

    fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proof == Self::update_proof_for(info))
    }
}

impl FakeProofVerifier {
    /// The one PoSt proof this verifier accepts: a hash of the miner, the
    /// randomness and the sectors (number and CommR), in order.
    pub fn post_proof_for(
        miner: ActorId,
        randomness: &Randomness,
        sectors: &[PoStSector],
    ) -> PoStProof {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake post");
        state.update(&miner.0.to_be_bytes());
        state.update(&randomness.0);
        for s in sectors {
            state.update(&s.number.0.to_be_bytes());
            state.update(&s.comm_r.0);
        }
        PoStProof {
            post_proof: 10,
            proof: state.finalize().as_bytes().to_vec(),
        }
    }

    /// The one update proof this verifier accepts for `info` (its `proof`
    /// field is ignored).
    pub fn update_proof_for(info: &ReplicaUpdateVerifyInfo) -> Vec<u8> {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake update");
        state.update(&info.comm_r_old.0);
        state.update(&info.comm_r_new.0);
        state.update(&info.comm_d_new.0);
        state.finalize().as_bytes().to_vec()
    }
}
