//! Conversions between core types and filecoin-proofs-api types.

use filecoin_proofs_api::{PaddedBytesAmount, RegisteredSealProof, UnpaddedBytesAmount};
use venus_seal_core::{ActorId, CommD, PaddedPieceSize, PieceInfo, SealProof, SectorNumber};

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
