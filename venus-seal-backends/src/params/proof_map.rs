//! Mapping from venus-seal's proof types to filecoin-proofs-api's.
//!
//! The seal proof mapping itself lives in `crate::proof_type` (the
//! executor's module) and is re-exported here so that there is exactly one
//! table; this file adds the PoSt proof of a seal proof's sector size.

use filecoin_proofs_api::{RegisteredPoStProof, RegisteredSealProof};

use super::PoStKind;

pub(crate) use crate::proof_type::to_api;

/// The registered PoSt proof of kind `kind` for the sector size of `seal`.
///
/// WindowPoSt uses the current `…V1_2` types (the ones Lotus uses since
/// network version 19); WinningPoSt has only `…V1`.
pub(crate) fn post_proof(seal: RegisteredSealProof, kind: PoStKind) -> Option<RegisteredPoStProof> {
    use RegisteredPoStProof as P;
    let size = u64::from(seal.sector_size());
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    let proof = match (kind, size) {
        (PoStKind::Window, s) if s == 2 * KIB => P::StackedDrgWindow2KiBV1_2,
        (PoStKind::Window, s) if s == 8 * MIB => P::StackedDrgWindow8MiBV1_2,
        (PoStKind::Window, s) if s == 512 * MIB => P::StackedDrgWindow512MiBV1_2,
        (PoStKind::Window, s) if s == 32 * GIB => P::StackedDrgWindow32GiBV1_2,
        (PoStKind::Window, s) if s == 64 * GIB => P::StackedDrgWindow64GiBV1_2,
        (PoStKind::Winning, s) if s == 2 * KIB => P::StackedDrgWinning2KiBV1,
        (PoStKind::Winning, s) if s == 8 * MIB => P::StackedDrgWinning8MiBV1,
        (PoStKind::Winning, s) if s == 512 * MIB => P::StackedDrgWinning512MiBV1,
        (PoStKind::Winning, s) if s == 32 * GIB => P::StackedDrgWinning32GiBV1,
        (PoStKind::Winning, s) if s == 64 * GIB => P::StackedDrgWinning64GiBV1,
        _ => return None,
    };
    Some(proof)
}

#[cfg(test)]
mod tests {
    use super::*;
    use venus_seal_core::SealProof;

    #[test]
    fn every_seal_proof_has_both_post_proofs_of_its_size() {
        for p in SealProof::ALL {
            let seal = to_api(*p);
            for kind in [PoStKind::Window, PoStKind::Winning] {
                let post = post_proof(seal, kind).expect("registered size");
                assert_eq!(post.sector_size(), seal.sector_size(), "{p} {kind}");
            }
        }
    }
}
