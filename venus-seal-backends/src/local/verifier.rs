//! Seal verification on filecoin-proofs-api.

use filecoin_proofs_api::seal::verify_seal;
use venus_seal_core::{SealVerifier, SealVerifyInfo, VerifyError};

use std::sync::Arc;

use crate::params::ParameterCache;
use crate::proof_type::{ids, to_api};

/// Verifies seal proofs with filecoin-proofs-api (needs the proof type's
/// verifying key in the parameter cache).
///
/// Built [`with_parameters`](Self::with_parameters), it first checks the
/// verifying key is there, so a missing key is an error rather than a
/// proof that "does not verify".
#[derive(Debug, Clone, Default)]
pub struct LocalSealVerifier {
    params: Option<Arc<ParameterCache>>,
}

impl LocalSealVerifier {
    /// A verifier that checks `cache` holds the verifying key first.
    pub fn with_parameters(cache: Arc<ParameterCache>) -> Self {
        Self {
            params: Some(cache),
        }
    }
}

impl SealVerifier for LocalSealVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        if let Some(params) = &self.params {
            let files = params
                .seal_files(info.proof_type)
                .map_err(|e| VerifyError(e.to_string()))?;
            if !files.vk.exists() {
                return Err(VerifyError(format!(
                    "the verifying key for {} is missing: {}",
                    info.proof_type,
                    files.vk.display()
                )));
            }
        }
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
                tracing::debug!(error = %format!("{e:#}"), "proof rejected by the verifier");
                Ok(false)
            }
        }
    }
}
