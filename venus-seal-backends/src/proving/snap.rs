//! Snap-up (empty sector update) on filecoin-proofs-api: encode deal data
//! into a sealed CC sector, prove and verify the update.

use filecoin_proofs_api::update::{
    empty_sector_update_encode_into, generate_empty_sector_update_proof,
    verify_empty_sector_update_proof,
};
use venus_seal_core::proving::{ProvingError, ReplicaUpdateVerifyInfo, SnapEncodeOutput};
use venus_seal_core::stage::{SnapEncode, SnapProve};
use venus_seal_core::{CommD, CommR, VerifyError};

use crate::proof_type::{piece_to_api, update_proof};

/// Encodes the staged data into the sector key (blocking).
pub(crate) fn encode(req: &SnapEncode) -> Result<SnapEncodeOutput, ProvingError> {
    std::fs::create_dir_all(&req.update.cache).map_err(|source| ProvingError::Io {
        path: req.update.cache.clone(),
        source,
    })?;
    let size = req.seal_proof.sector_size().0;
    let staged = std::fs::metadata(&req.staged_data).map_err(|source| ProvingError::Io {
        path: req.staged_data.clone(),
        source,
    })?;
    if staged.len() < size {
        return Err(ProvingError::InvalidRequest(format!(
            "snap-up of {}: staged data {} holds {} bytes, not a whole {size}-byte sector \
             (fill it with zero pieces)",
            req.sector,
            req.staged_data.display(),
            staged.len()
        )));
    }
    // The updated replica is written in place: a sector-sized file.
    let io = |source| ProvingError::Io {
        path: req.update.sealed.clone(),
        source,
    };
    std::fs::File::create(&req.update.sealed)
        .and_then(|f| f.set_len(size))
        .map_err(io)?;
    let pieces: Vec<_> = req.pieces.iter().map(piece_to_api).collect();
    let out = empty_sector_update_encode_into(
        update_proof(req.seal_proof),
        &req.update.sealed,
        &req.update.cache,
        &req.sector_key.sealed,
        &req.sector_key.cache,
        &req.staged_data,
        &pieces,
    )
    .map_err(|e| ProvingError::Proof {
        what: format!("snap-up encoding of {}", req.sector),
        message: format!("{e:#}"),
    })?;
    Ok(SnapEncodeOutput {
        comm_r_new: CommR(out.comm_r_new),
        comm_d_new: CommD(out.comm_d_new),
    })
}

/// Proves an encoding (blocking).
pub(crate) fn prove(req: &SnapProve) -> Result<Vec<u8>, ProvingError> {
    let e = &req.encode;
    let proof = generate_empty_sector_update_proof(
        update_proof(e.seal_proof),
        req.comm_r_old.0,
        req.encoded.comm_r_new.0,
        req.encoded.comm_d_new.0,
        &e.sector_key.sealed,
        &e.sector_key.cache,
        &e.update.sealed,
        &e.update.cache,
    )
    .map_err(|err| ProvingError::Proof {
        what: format!("snap-up proof of {}", e.sector),
        message: format!("{err:#}"),
    })?;
    Ok(proof.0)
}

/// Checks an update proof (blocking); a malformed proof is `Ok(false)`, a
/// missing verifying key an error.
pub(crate) fn verify(info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
    let proof_type = update_proof(info.seal_proof);
    let (_, vk) = crate::params::active_update_files(info.seal_proof.sector_size().0)
        .map_err(|e| VerifyError(format!("{proof_type:?} verifying key path: {e:#}")))?;
    if !vk.exists() {
        return Err(VerifyError(format!(
            "the {proof_type:?} verifying key is missing: {}",
            vk.display()
        )));
    }
    match verify_empty_sector_update_proof(
        proof_type,
        &info.proof,
        info.comm_r_old.0,
        info.comm_r_new.0,
        info.comm_d_new.0,
    ) {
        Ok(valid) => Ok(valid),
        Err(e) => {
            tracing::debug!(error = %format!("{e:#}"), "update proof rejected by the verifier");
            Ok(false)
        }
    }
}
