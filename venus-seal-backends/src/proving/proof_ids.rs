//! PoSt proof types as the chain numbers them, and the randomness both
//! sides feed them. The map from seal proofs to the API's PoSt and update
//! proofs is `crate::proof_type`.

use filecoin_proofs_api::RegisteredPoStProof;
use venus_seal_core::proving::{PoStKind, ProvingError};
use venus_seal_core::{Randomness, SealProof};

use crate::proof_type::post_proof;

const SIZES: [u64; 5] = [2 << 10, 8 << 20, 512 << 20, 32 << 30, 64 << 30];

/// The chain's `RegisteredPoStProof` number of `proof`: WinningPoSt 0..=4,
/// WindowPoSt `…V1_1` 10..=14 by sector size. The chain has no number for
/// the API's `…V1_2` (it is the `…V1_1` circuit with the grinding fix, which
/// Lotus selects by network version), so it reports `…V1_1`'s.
pub(crate) fn chain_id(proof: RegisteredPoStProof) -> i64 {
    let size = u64::from(proof.sector_size());
    let index = SIZES.iter().position(|s| *s == size).unwrap_or(0) as i64;
    match proof.typ() {
        filecoin_proofs_api::PoStType::Winning => index,
        filecoin_proofs_api::PoStType::Window => 10 + index,
    }
}

/// The PoSt proof a chain number stands for, checked against the sectors'
/// seal proof.
pub(crate) fn from_chain_id(
    id: i64,
    seal: SealProof,
    kind: PoStKind,
) -> Result<RegisteredPoStProof, ProvingError> {
    let expected = post_proof(seal, kind);
    if chain_id(expected) == id {
        Ok(expected)
    } else {
        Err(ProvingError::InvalidRequest(format!(
            "PoSt proof type {id} does not match {kind:?}PoSt for {seal} sectors (expected {})",
            chain_id(expected)
        )))
    }
}

/// PoSt randomness as filecoin-proofs takes it: the top two bits of the
/// last byte cleared so that it is a field element (as Lotus does before
/// calling the proofs).
pub(crate) fn post_randomness(r: &Randomness) -> [u8; 32] {
    let mut out = r.0;
    out[31] &= 0x3f;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_round_trip_for_every_size() {
        for seal in SealProof::ALL {
            for kind in [PoStKind::Window, PoStKind::Winning] {
                let p = post_proof(*seal, kind);
                assert_eq!(from_chain_id(chain_id(p), *seal, kind).unwrap(), p);
            }
        }
        assert_eq!(chain_id(RegisteredPoStProof::StackedDrgWindow2KiBV1_2), 10);
        assert_eq!(chain_id(RegisteredPoStProof::StackedDrgWinning32GiBV1), 3);
    }
}
