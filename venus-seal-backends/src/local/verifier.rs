//! Seal verification on filecoin-proofs-api.

use filecoin_proofs_api::seal::verify_seal;
use venus_seal_core::{SealVerifier, SealVerifyInfo, VerifyError};

use crate::proof_type::{ids, to_api};

/// Verifies seal proofs with filecoin-proofs-api (needs the proof type's
/// verifying key in the parameter cache).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalSealVerifier;

impl SealVerifier for LocalSealVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        let (prover_id, sector_id) = ids(info.sector.miner, info.sector.number);
        // A malformed proof makes the library error rather than answer
        // false: for a verifier both mean "does not verify".
        match verify_seal(
            to_api(info.proof_type),
            info.comm_r.0,
            info.comm_d.0,
            prover_id,
            sector_id,
            info.ticket.0,
            info.seed.0,
            &info.proof,
        ) {
            Ok(valid) => Ok(valid),
            Err(e) => {
                let msg = format!("{e:#}");
                if msg.contains("No cached parameters") || msg.contains("verifying key") {
                    Err(VerifyError(msg))
                } else {
                    tracing::debug!(error = %msg, "proof rejected by the verifier");
                    Ok(false)
                }
            }
        }
    }
}
