//! Identifiers: miner actors, sector numbers, sector ids, epochs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// A chain epoch (block height). Signed, as on chain: negative values are
/// never valid heights but appear in arithmetic such as `head - lookback`.
pub type ChainEpoch = i64;

/// The numeric id of an actor on chain: `f01234` has id `1234`.
///
/// ```
/// use venus_seal_core::ActorId;
/// let miner: ActorId = "f01000".parse().unwrap();
/// assert_eq!(miner.0, 1000);
/// assert_eq!(miner.to_string(), "f01000");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ActorId(pub u64);

/// Reads the number (as damocles sends it) or an address string
/// (`"f01000"`, as config files and Lotus write it).
impl<'de> Deserialize<'de> for ActorId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Id(u64),
            Address(String),
        }
        match Repr::deserialize(d)? {
            Repr::Id(id) => Ok(ActorId(id)),
            Repr::Address(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

impl ActorId {
    /// The 32-byte prover id that proofs bind a replica to: the actor id as
    /// an unsigned LEB128 varint, zero-padded (as Lotus' `toProverID`).
    pub fn prover_id(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut v = self.0;
        let mut i = 0;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out[i] = byte;
                break;
            }
            out[i] = byte | 0x80;
            i += 1;
        }
        out
    }

    /// The CBOR encoding of the id address (`f0<id>`), which Lotus uses as
    /// the entropy when drawing a sector's ticket and seed: a CBOR byte
    /// string holding protocol byte 0 followed by the LEB128 id.
    pub fn address_cbor(self) -> Vec<u8> {
        let mut payload = vec![0u8];
        let mut v = self.0;
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                payload.push(byte);
                break;
            }
            payload.push(byte | 0x80);
        }
        // CBOR major type 2 (byte string); payloads here are < 24 bytes.
        let mut out = vec![0x40 | payload.len() as u8];
        out.extend(payload);
        out
    }
}

impl fmt::Display for ActorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "f0{}", self.0)
    }
}

impl FromStr for ActorId {
    type Err = ParseError;

    /// Accepts `f0123`, `t0123` (testnet prefix) or a bare `123`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("f0")
            .or_else(|| s.strip_prefix("t0"))
            .unwrap_or(s);
        digits
            .parse::<u64>()
            .map(ActorId)
            .map_err(|_| ParseError::new("actor id", s, "expected an id address like f01000"))
    }
}

/// A sector number, unique per miner actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectorNumber(pub u64);

impl fmt::Display for SectorNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A sector's identity: its miner actor and its number
/// (`{"Miner": 1000, "Number": 1}` on the wire, as in damocles).
///
/// ```
/// use venus_seal_core::{ActorId, SectorId, SectorNumber};
/// let id = SectorId::new(ActorId(1000), SectorNumber(7));
/// assert_eq!(id.to_string(), "s-t01000-7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SectorId {
    /// The miner actor that owns the sector.
    pub miner: ActorId,
    /// The sector number within that miner.
    pub number: SectorNumber,
}

impl SectorId {
    /// Builds a sector id.
    pub fn new(miner: ActorId, number: SectorNumber) -> Self {
        Self { miner, number }
    }
}

impl fmt::Display for SectorId {
    /// The file-name form Lotus and damocles use: `s-t0<miner>-<number>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s-t0{}-{}", self.miner.0, self.number.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_id_parses_and_prints() {
        assert_eq!("t01234".parse::<ActorId>().unwrap(), ActorId(1234));
        assert_eq!("77".parse::<ActorId>().unwrap(), ActorId(77));
        let err = "f3abc".parse::<ActorId>().unwrap_err().to_string();
        assert!(err.contains("f3abc"), "{err}");
    }

    #[test]
    fn actor_id_reads_numbers_and_addresses() {
        assert_eq!(
            serde_json::from_str::<ActorId>("1000").unwrap(),
            ActorId(1000)
        );
        assert_eq!(
            serde_json::from_str::<ActorId>("\"f01000\"").unwrap(),
            ActorId(1000)
        );
        let err = serde_json::from_str::<ActorId>("\"f3xyz\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("f3xyz"), "{err}");
        assert_eq!(serde_json::to_string(&ActorId(7)).unwrap(), "7");
    }

    #[test]
    fn prover_id_is_leb128() {
        let id = ActorId(1000).prover_id();
        assert_eq!(&id[..2], &[0xe8, 0x07]);
        assert!(id[2..].iter().all(|b| *b == 0));
    }

    #[test]
    fn address_cbor_matches_lotus() {
        // Lotus: address.NewIDAddress(1000).MarshalCBOR() = 0x43 00 e8 07
        assert_eq!(ActorId(1000).address_cbor(), vec![0x43, 0x00, 0xe8, 0x07]);
        assert_eq!(ActorId(5).address_cbor(), vec![0x42, 0x00, 0x05]);
    }
}
