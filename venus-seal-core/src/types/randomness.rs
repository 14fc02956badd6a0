//! Chain randomness a sector is bound to: the ticket and the seed.

use serde::{Deserialize, Serialize};

use super::ids::ChainEpoch;

/// 32 bytes of chain randomness, hex in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Randomness(#[serde(with = "hex32")] pub [u8; 32]);

/// The sealing ticket: randomness from tickets (tag SealRandomness) drawn at
/// `epoch`, which binds the replica to a chain position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ticket {
    /// The randomness.
    pub ticket: Randomness,
    /// The epoch it was drawn at.
    pub epoch: ChainEpoch,
}

/// The interactive seed: randomness from the beacon (tag
/// InteractiveSealChallengeSeed) at pre-commit epoch + challenge delay,
/// which picks the PoRep challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Seed {
    /// The randomness.
    pub seed: Randomness,
    /// The epoch it was drawn at.
    pub epoch: ChainEpoch,
}

/// Domain separation tags for chain randomness (go-state-types
/// `crypto/randomness.go`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum DomainSeparationTag {
    /// 1
    TicketProduction = 1,
    /// 2
    ElectionProofProduction = 2,
    /// 3
    WinningPoStChallengeSeed = 3,
    /// 4
    WindowedPoStChallengeSeed = 4,
    /// 5: the sealing ticket.
    SealRandomness = 5,
    /// 6: the interactive seal seed.
    InteractiveSealChallengeSeed = 6,
    /// 7
    WindowedPoStDeadlineAssignment = 7,
    /// 8
    MarketDealCronSeed = 8,
    /// 9
    PoStChainCommit = 9,
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let bytes = hex::decode(&s).map_err(serde::de::Error::custom)?;
        bytes.try_into().map_err(|b: Vec<u8>| {
            serde::de::Error::custom(format!("randomness must be 32 bytes, got {}", b.len()))
        })
    }
}
