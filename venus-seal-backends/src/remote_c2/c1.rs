//! What the service and the client read from a filecoin-proofs C1 output
//! (`SealCommitPhase1Output`) without decoding its vanilla proofs.

use serde::de::IgnoredAny;
use serde::Deserialize;
use venus_seal_core::stage::C2;
use venus_seal_core::{CommD, CommR, Randomness, SealVerifyInfo};

/// The fields of `SealCommitPhase1Output` besides its vanilla proofs,
/// which are skipped (but must be present). The proof type is read by its
/// filecoin-proofs-api name (serde writes `RegisteredSealProof` so), which
/// is also [`SealProof::name`](venus_seal_core::SealProof::name): no
/// proving crate is needed to read it.
#[derive(Deserialize)]
struct C1Header {
    registered_proof: String,
    #[allow(dead_code)]
    vanilla_proofs: IgnoredAny,
    comm_r: [u8; 32],
    comm_d: [u8; 32],
    seed: [u8; 32],
    ticket: [u8; 32],
}

fn header(task: &C2) -> Result<C1Header, String> {
    let header: C1Header = task
        .c1_output
        .decode()
        .map_err(|e| format!("not a filecoin-proofs SealCommitPhase1Output: {e}"))?;
    if header.registered_proof != task.proof.name() {
        return Err(format!(
            "made for {}, the task says {}",
            header.registered_proof, task.proof
        ));
    }
    Ok(header)
}

/// Checks that the task's C1 output looks like filecoin-proofs'
/// `SealCommitPhase1Output` for the task's proof type (every field
/// present, the commitments and randomness 32 bytes): the check a
/// production [`C2Service`](super::C2Service) runs on submissions via
/// [`with_c1_check`](super::C2Service::with_c1_check).
pub fn check_c1_output(task: &C2) -> Result<(), String> {
    header(task).map(|_| ())
}

/// What a C2 proof of `task` is verified against, read from its C1 output
/// (a filecoin-proofs `SealCommitPhase1Output` carries CommR, CommD, the
/// ticket and the seed); `proof` is left empty. The default source of
/// [`RemoteC2Executor`](super::RemoteC2Executor).
pub fn verify_info_from_c1_output(task: &C2) -> Result<SealVerifyInfo, String> {
    let h = header(task)?;
    Ok(SealVerifyInfo {
        proof_type: task.proof,
        sector: task.sector,
        comm_r: CommR(h.comm_r),
        comm_d: CommD(h.comm_d),
        ticket: Randomness(h.ticket),
        seed: Randomness(h.seed),
        proof: Vec::new(),
    })
}
