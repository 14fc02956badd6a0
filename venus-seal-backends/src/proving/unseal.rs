//! Unsealing: a range of a sector's original (unpadded) bytes, recomputed
//! from the sealed replica.

use std::fs::File;
use std::io::{BufReader, Write};

use filecoin_proofs_api::seal::unseal_range;
use filecoin_proofs_api::{UnpaddedByteIndex, UnpaddedBytesAmount};
use venus_seal_core::proving::{ProvingError, UnsealRequest};

use crate::proof_type::{ids, to_api};

/// Writes the requested range to `out` (blocking); returns the bytes
/// written.
pub(crate) fn unseal(req: &UnsealRequest, out: &mut dyn Write) -> Result<u64, ProvingError> {
    let capacity = req.seal_proof.sector_size().unpadded();
    if req.len == 0
        || req
            .offset
            .checked_add(req.len)
            .is_none_or(|end| end > capacity)
    {
        return Err(ProvingError::InvalidRequest(format!(
            "unseal {}: range {}+{} is empty or past the sector's {capacity} unpadded bytes",
            req.sector, req.offset, req.len
        )));
    }
    let sealed = File::open(&req.files.sealed).map_err(|source| ProvingError::Io {
        path: req.files.sealed.clone(),
        source,
    })?;
    let (prover_id, sector_id) = ids(req.sector.miner, req.sector.number);
    let written = unseal_range(
        to_api(req.seal_proof),
        &req.files.cache,
        BufReader::new(sealed),
        out,
        prover_id,
        sector_id,
        req.comm_d.0,
        req.ticket.0,
        UnpaddedByteIndex(req.offset),
        UnpaddedBytesAmount(req.len),
    )
    .map_err(|e| ProvingError::Proof {
        what: format!("unseal {} range {}+{}", req.sector, req.offset, req.len),
        message: format!("{e:#}"),
    })?;
    Ok(written.0)
}
