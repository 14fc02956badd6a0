//! Deterministic chain randomness, drawn as Lotus' `DrawRandomness` does.

use venus_seal_core::{ChainEpoch, DomainSeparationTag, Randomness, RandomnessSource};

fn blake2b_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
    for part in parts {
        state.update(part);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(state.finalize().as_bytes());
    out
}

fn source_byte(source: RandomnessSource) -> u8 {
    match source {
        RandomnessSource::Tickets => 1,
        RandomnessSource::Beacon => 2,
    }
}

/// The numeric value of a domain separation tag (go-state-types).
pub(crate) fn tag_value(tag: DomainSeparationTag) -> i64 {
    match tag {
        DomainSeparationTag::TicketProduction => 1,
        DomainSeparationTag::ElectionProofProduction => 2,
        DomainSeparationTag::WinningPoStChallengeSeed => 3,
        DomainSeparationTag::WindowedPoStChallengeSeed => 4,
        DomainSeparationTag::SealRandomness => 5,
        DomainSeparationTag::InteractiveSealChallengeSeed => 6,
        DomainSeparationTag::WindowedPoStDeadlineAssignment => 7,
        DomainSeparationTag::MarketDealCronSeed => 8,
        DomainSeparationTag::PoStChainCommit => 9,
        // The enum is non-exhaustive; a tag added later still separates
        // domains through its debug name.
        other => {
            let name = format!("{other:?}");
            i64::from_be_bytes(blake2b_256(&[name.as_bytes()])[..8].try_into().unwrap())
        }
    }
}

/// Draws randomness as the devnet does, with no check of `epoch` against
/// the head (callers check it).
///
/// The per-epoch base stands for the ticket or beacon entry of that epoch:
/// `base = blake2b-256(seed || source byte || epoch as i64 BE)`. The draw
/// mirrors Lotus' `DrawRandomness`:
/// `blake2b-256(tag as i64 BE || base || epoch as i64 BE || entropy)`.
pub fn draw_randomness(
    seed: &[u8; 32],
    source: RandomnessSource,
    tag: DomainSeparationTag,
    epoch: ChainEpoch,
    entropy: &[u8],
) -> Randomness {
    let base = blake2b_256(&[seed, &[source_byte(source)], &epoch.to_be_bytes()]);
    Randomness(blake2b_256(&[
        &tag_value(tag).to_be_bytes(),
        &base,
        &epoch.to_be_bytes(),
        entropy,
    ]))
}
