//! Conversions between core types and filecoin-proofs-api types: the one
//! map from a core [`SealProof`] to the API's seal, PoSt and update proofs
//! (the executors, the provers and the parameter cache all read it), and
//! pieces and sector ids as filecoin-proofs takes them.

use filecoin_proofs_api::{
    PaddedBytesAmount, RegisteredPoStProof, RegisteredSealProof, RegisteredUpdateProof,
    UnpaddedBytesAmount,
};
use venus_seal_core::proving::PoStKind;
use venus_seal_core::{ActorId, CommD, PaddedPieceSize, PieceInfo, SealProof, SectorNumber};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// The filecoin-proofs-api seal proof for a core [`SealProof`].
pub(crate) fn to_api(proof: SealProof) -> RegisteredSealProof {
    use RegisteredSealProof as R;
    use SealProof as P;
    match proof {
        P::StackedDrg2KiBV1 => R::StackedDrg2KiBV1,
        P::StackedDrg8MiBV1 => R::StackedDrg8MiBV1,
        P::StackedDrg512MiBV1 => R::StackedDrg512MiBV1,
        P::StackedDrg32GiBV1 => R::StackedDrg32GiBV1,
        P::StackedDrg64GiBV1 => R::StackedDrg64GiBV1,
        P::StackedDrg2KiBV1_1 => R::StackedDrg2KiBV1_1,
        P::StackedDrg8MiBV1_1 => R::StackedDrg8MiBV1_1,
        P::StackedDrg512MiBV1_1 => R::StackedDrg512MiBV1_1,
        P::StackedDrg32GiBV1_1 => R::StackedDrg32GiBV1_1,
        P::StackedDrg64GiBV1_1 => R::StackedDrg64GiBV1_1,
        P::StackedDrg2KiBV1_1_Feat_SyntheticPoRep => R::StackedDrg2KiBV1_1_Feat_SyntheticPoRep,
        P::StackedDrg8MiBV1_1_Feat_SyntheticPoRep => R::StackedDrg8MiBV1_1_Feat_SyntheticPoRep,
        P::StackedDrg512MiBV1_1_Feat_SyntheticPoRep => R::StackedDrg512MiBV1_1_Feat_SyntheticPoRep,
        P::StackedDrg32GiBV1_1_Feat_SyntheticPoRep => R::StackedDrg32GiBV1_1_Feat_SyntheticPoRep,
        P::StackedDrg64GiBV1_1_Feat_SyntheticPoRep => R::StackedDrg64GiBV1_1_Feat_SyntheticPoRep,
        P::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep => {
            R::StackedDrg2KiBV1_2_Feat_NonInteractivePoRep
        }
        P::StackedDrg8MiBV1_2_Feat_NonInteractivePoRep => {
            R::StackedDrg8MiBV1_2_Feat_NonInteractivePoRep
        }
        P::StackedDrg512MiBV1_2_Feat_NonInteractivePoRep => {
            R::StackedDrg512MiBV1_2_Feat_NonInteractivePoRep
        }
        P::StackedDrg32GiBV1_2_Feat_NonInteractivePoRep => {
            R::StackedDrg32GiBV1_2_Feat_NonInteractivePoRep
        }
        P::StackedDrg64GiBV1_2_Feat_NonInteractivePoRep => {
            R::StackedDrg64GiBV1_2_Feat_NonInteractivePoRep
        }
        other => unreachable!("seal proof {other} has no filecoin-proofs-api counterpart"),
    }
}

/// The filecoin-proofs-api PoSt proof of `kind` for sectors of `seal`.
///
/// WindowPoSt uses the current `…V1_2` types (the ones Lotus uses since
/// network version 19); WinningPoSt has only `…V1`. Every seal proof has
/// both (tested below).
pub(crate) fn post_proof(seal: SealProof, kind: PoStKind) -> RegisteredPoStProof {
    use RegisteredPoStProof as P;
    match (kind, seal.sector_size().0) {
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
        _ => unreachable!("{seal} has no PoSt proof"),
    }
}

/// The filecoin-proofs-api update (snap deals) proof of sectors of `seal`.
pub(crate) fn update_proof(seal: SealProof) -> RegisteredUpdateProof {
    use RegisteredUpdateProof as U;
    match seal.sector_size().0 {
        s if s == 2 * KIB => U::StackedDrg2KiBV1,
        s if s == 8 * MIB => U::StackedDrg8MiBV1,
        s if s == 512 * MIB => U::StackedDrg512MiBV1,
        s if s == 32 * GIB => U::StackedDrg32GiBV1,
        _ => U::StackedDrg64GiBV1,
    }
}

/// A core piece as filecoin-proofs sees it (unpadded size).
pub(crate) fn piece_to_api(piece: &PieceInfo) -> filecoin_proofs_api::PieceInfo {
    filecoin_proofs_api::PieceInfo {
        commitment: piece.cid.0,
        size: UnpaddedBytesAmount::from(PaddedBytesAmount(piece.size.0)),
    }
}

/// A filecoin-proofs piece as a core piece (padded size).
pub(crate) fn piece_from_api(piece: &filecoin_proofs_api::PieceInfo) -> PieceInfo {
    PieceInfo {
        size: PaddedPieceSize(PaddedBytesAmount::from(piece.size).0),
        cid: CommD(piece.commitment),
    }
}

/// The prover id and sector id filecoin-proofs binds a replica to.
pub(crate) fn ids(
    miner: ActorId,
    number: SectorNumber,
) -> ([u8; 32], filecoin_proofs_api::SectorId) {
    (
        miner.prover_id(),
        filecoin_proofs_api::SectorId::from(number.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_proof_maps_to_the_same_size() {
        for p in SealProof::ALL {
            let api = to_api(*p);
            assert_eq!(u64::from(api.sector_size()), p.sector_size().0, "{p}");
        }
    }

    #[test]
    fn every_seal_proof_has_both_post_proofs_of_its_size() {
        for p in SealProof::ALL {
            let seal = to_api(*p);
            for kind in [PoStKind::Window, PoStKind::Winning] {
                let post = post_proof(*p, kind);
                assert_eq!(post.sector_size(), seal.sector_size(), "{p} {kind}");
            }
        }
    }

    #[test]
    fn every_seal_proof_has_an_update_proof_of_its_size() {
        for p in SealProof::ALL {
            let update = update_proof(*p);
            assert_eq!(
                u64::from(update.sector_size()),
                p.sector_size().0,
                "{p} {update:?}"
            );
        }
    }

    /// remote_c2 reads a C1 output's proof type by name, without
    /// filecoin-proofs-api: serde must write the core's names.
    #[test]
    fn serde_writes_the_core_names() {
        for p in SealProof::ALL {
            let json = serde_json::to_value(to_api(*p)).unwrap();
            assert_eq!(json, serde_json::json!(p.name()), "{p}");
        }
    }
}
