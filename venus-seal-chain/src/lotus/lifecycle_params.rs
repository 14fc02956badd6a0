//! CBOR parameters of the miner actor's sector lifecycle methods
//! (`ExtendSectorExpiration2`, `TerminateSectors`), with our own copies of
//! the builtin-actor v17 types ([`actor_types`](super::actor_types)).

use venus_seal_core::chain::{ExpirationExtension, SectorsDeclaration};

use super::actor_types::{
    ExpirationExtension2, ExtendSectorExpiration2Params, SectorClaim, TerminateSectorsParams,
    TerminationDeclaration,
};
use super::post_params::bitfield;

/// Miner actor method `TerminateSectors`.
pub const METHOD_TERMINATE_SECTORS: u64 = 9;
/// Miner actor method `ExtendSectorExpiration2`.
pub const METHOD_EXTEND_SECTOR_EXPIRATION2: u64 = 32;

/// The actor-typed `ExtendSectorExpiration2` parameters: the sectors
/// without FIL+ claims in `sectors`, those with claims in
/// `sectors_with_claims` with the claims they keep and drop.
pub fn extend_sector_expiration2_params(
    extensions: &[ExpirationExtension],
) -> ExtendSectorExpiration2Params {
    ExtendSectorExpiration2Params {
        extensions: extensions
            .iter()
            .map(|e| ExpirationExtension2 {
                deadline: e.deadline,
                partition: e.partition,
                sectors: bitfield(&e.sectors),
                sectors_with_claims: e
                    .sectors_with_claims
                    .iter()
                    .map(|c| SectorClaim {
                        sector_number: c.sector_number.0,
                        maintain_claims: c.maintain_claims.clone(),
                        drop_claims: c.drop_claims.clone(),
                    })
                    .collect(),
                new_expiration: e.new_expiration,
            })
            .collect(),
    }
}

/// The actor-typed `TerminateSectors` parameters.
pub fn terminate_sectors_params(terminations: &[SectorsDeclaration]) -> TerminateSectorsParams {
    TerminateSectorsParams {
        terminations: terminations
            .iter()
            .map(TerminationDeclaration::from)
            .collect(),
    }
}
