//! CBOR parameters of the miner actor's sector lifecycle methods
//! (`ExtendSectorExpiration2`, `TerminateSectors`), with our own copies of
//! the builtin-actor v17 types ([`actor_types`](super::actor_types)).

use venus_seal_core::chain::{ExpirationExtension, SectorsDeclaration};

use super::actor_types::{
    ExpirationExtension2, ExtendSectorExpiration2Params, TerminateSectorsParams,
    TerminationDeclaration,
};
use super::post_params::bitfield;

/// Miner actor method `TerminateSectors`.
pub const METHOD_TERMINATE_SECTORS: u64 = 9;
/// Miner actor method `ExtendSectorExpiration2`.
pub const METHOD_EXTEND_SECTOR_EXPIRATION2: u64 = 32;

/// The actor-typed `ExtendSectorExpiration2` parameters: every sector in
/// `sectors` (none with FIL+ claims, see [`ExpirationExtension`]).
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
                sectors_with_claims: Vec::new(),
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
            .map(|t| TerminationDeclaration {
                deadline: t.deadline,
                partition: t.partition,
                sectors: bitfield(&t.sectors),
            })
            .collect(),
    }
}
