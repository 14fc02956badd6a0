//! Replica and data commitments, printed and parsed as the CIDs Lotus shows.
//!
//! CommR is a CID with codec `fil-commitment-sealed` (0xf102) and multihash
//! `poseidon-bls12_381-a1-fc1` (0xb401): `bagboea4b5abc…`. CommD and piece
//! commitments use codec `fil-commitment-unsealed` (0xf101) and multihash
//! `sha2-256-trunc254-padded` (0x1012): `baga6ea4seaq…`.

use std::fmt;
use std::str::FromStr;

use cid::Cid;
use multihash::Multihash;
use serde::{Deserialize, Serialize};

use crate::error::ParseError;

const FIL_COMMITMENT_UNSEALED: u64 = 0xf101;
const FIL_COMMITMENT_SEALED: u64 = 0xf102;
const SHA2_256_TRUNC254_PADDED: u64 = 0x1012;
const POSEIDON_BLS12_381_A1_FC1: u64 = 0xb401;

macro_rules! commitment {
    ($(#[$doc:meta])* $name:ident, $codec:expr, $hash:expr, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The commitment as a CID (CIDv1, Filecoin codec and multihash).
            pub fn to_cid(&self) -> Cid {
                let mh = Multihash::<64>::wrap($hash, &self.0).expect("32 bytes fit in 64");
                Cid::new_v1($codec, mh)
            }

            /// Reads a commitment from its CID, checking codec, hash and length.
            pub fn from_cid(cid: &Cid) -> Result<Self, ParseError> {
                let text = cid.to_string();
                if cid.codec() != $codec {
                    return Err(ParseError::new(
                        $what,
                        &text,
                        &format!("codec is {:#x}, expected {:#x}", cid.codec(), $codec),
                    ));
                }
                let mh = cid.hash();
                if mh.code() != $hash {
                    return Err(ParseError::new(
                        $what,
                        &text,
                        &format!("multihash is {:#x}, expected {:#x}", mh.code(), $hash),
                    ));
                }
                let digest: [u8; 32] = mh.digest().try_into().map_err(|_| {
                    ParseError::new($what, &text, "digest is not 32 bytes")
                })?;
                Ok(Self(digest))
            }

            /// The commitment as 64 hex characters.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.to_cid())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_cid())
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                let cid = Cid::try_from(s)
                    .map_err(|e| ParseError::new($what, s, &format!("not a CID: {e}")))?;
                Self::from_cid(&cid)
            }
        }

        /// Serialized as the IPLD JSON link `{"/": "<cid>"}`, as Lotus does.
        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                CidLink { link: self.to_string() }.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let link = CidLink::deserialize(d)?;
                link.link.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

#[derive(Serialize, Deserialize)]
struct CidLink {
    #[serde(rename = "/")]
    link: String,
}

commitment!(
    /// The replica commitment of a sealed sector (CommR).
    ///
    /// ```
    /// use venus_seal_core::CommR;
    /// let s = "bagboea4b5abcbnym7z3pgc64fk5wwsk3nsmz62jamgaa3pekzelmm3fv5q6g6zji";
    /// let comm_r: CommR = s.parse().unwrap();
    /// assert_eq!(comm_r.to_string(), s);
    /// ```
    CommR,
    FIL_COMMITMENT_SEALED,
    POSEIDON_BLS12_381_A1_FC1,
    "CommR"
);

commitment!(
    /// A data commitment: a sector's CommD or a piece's commitment (PieceCID).
    ///
    /// ```
    /// use venus_seal_core::CommD;
    /// // The CommD of an all-zero 2KiB sector, as Lotus prints it.
    /// let s = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy";
    /// let comm_d: CommD = s.parse().unwrap();
    /// assert_eq!(comm_d.to_string(), s);
    /// ```
    CommD,
    FIL_COMMITMENT_UNSEALED,
    SHA2_256_TRUNC254_PADDED,
    "CommD/PieceCID"
);

/// A piece commitment is a data commitment.
pub type PieceCid = CommD;

/// `left || right` under SHA-256 with the top two bits of the last byte
/// cleared (Filecoin's `sha256-trunc254`): a parent in a data tree (a
/// piece's or a sector's).
pub fn data_tree_parent(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(left);
    h.update(right);
    let mut node: [u8; 32] = h.finalize().into();
    node[31] &= 0b0011_1111;
    node
}

/// The commitment of `size` padded bytes of zeros (a power of two).
pub fn zero_commitment(size: u64) -> [u8; 32] {
    let mut node = [0u8; 32];
    let mut width = 32u64;
    while width < size {
        node = data_tree_parent(&node, &node);
        width *= 2;
    }
    node
}

/// The CommD of a sector of `sector_size` padded bytes holding `pieces` in
/// order, as the actors have it computed (the FVM's
/// `compute_unsealed_sector_cid`: the pieces padded with zero pieces to the
/// sector's size, then filecoin-proofs' `compute_comm_d`): each piece at
/// the next offset aligned to its size, the gaps and the rest of the
/// sector zeros, combined pairwise with `sha256-trunc254`; no pieces: a
/// sector of zeros. Errors: a size that is not a power of two of at least
/// 128 bytes, or pieces that do not fit the sector.
///
/// ```
/// use venus_seal_core::{comm_d_of_pieces, CommD, PaddedPieceSize, PieceInfo};
/// // No pieces: the CommD of a 2KiB sector of zeros.
/// let zeros: CommD = "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy".parse().unwrap();
/// assert_eq!(comm_d_of_pieces(&[], 2048).unwrap(), zeros);
/// // One zero piece filling it is the same.
/// let piece = PieceInfo { size: PaddedPieceSize(2048), cid: zeros };
/// assert_eq!(comm_d_of_pieces(&[piece], 2048).unwrap(), zeros);
/// ```
pub fn comm_d_of_pieces(
    pieces: &[crate::types::piece::PieceInfo],
    sector_size: u64,
) -> Result<CommD, String> {
    let power = |size: u64| size >= 128 && size.is_power_of_two();
    if !power(sector_size) {
        return Err(format!(
            "sector size {sector_size} is not a power of two of at least 128 bytes"
        ));
    }
    // (size, commitment), merged while the top two have the same size.
    let mut stack: Vec<(u64, [u8; 32])> = Vec::new();
    let push = |stack: &mut Vec<(u64, [u8; 32])>, size: u64, comm: [u8; 32]| {
        stack.push((size, comm));
        while stack.len() >= 2 && stack[stack.len() - 1].0 == stack[stack.len() - 2].0 {
            let (size, right) = stack.pop().expect("two on the stack");
            let (_, left) = stack.pop().expect("two on the stack");
            stack.push((size * 2, data_tree_parent(&left, &right)));
        }
    };
    // Zeros up to the next multiple of `align` (at most the sector's end),
    // smallest pieces first so that each is aligned to its size.
    let fill = |stack: &mut Vec<(u64, [u8; 32])>, offset: &mut u64, align: u64| {
        let mut gap = (align - *offset % align) % align;
        while gap > 0 {
            let size = 1u64 << gap.trailing_zeros();
            push(stack, size, zero_commitment(size));
            *offset += size;
            gap -= size;
        }
    };
    let mut offset = 0u64;
    for (i, p) in pieces.iter().enumerate() {
        let size = p.size.0;
        if !power(size) {
            return Err(format!(
                "piece {i} ({}) has size {size}: not a power of two of at least 128 bytes",
                p.cid
            ));
        }
        fill(&mut stack, &mut offset, size);
        if offset + size > sector_size {
            return Err(format!(
                "the pieces do not fit a sector of {sector_size} bytes (piece {i} ends at {})",
                offset + size
            ));
        }
        push(&mut stack, size, p.cid.0);
        offset += size;
    }
    // The rest of the sector zeros, as the FVM pads the pieces before it
    // calls filecoin-proofs.
    fill(&mut stack, &mut offset, sector_size);
    match stack.as_slice() {
        [(size, root)] if *size == sector_size => Ok(CommD(*root)),
        [] => Ok(CommD(zero_commitment(sector_size))),
        _ => Err("the pieces do not make one tree".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zero-piece commitments as Lotus and boost publish them
    /// (`lotus-bench simple addpiece /dev/zero`, venus docs, Lotus API docs).
    const ZERO_PIECES: &[(u64, &str)] = &[
        (
            1024,
            "baga6ea4seaqb66wjlfkrbye6uqoemcyxmqylwmrm235uclwfpsyx3ge2imidoly",
        ),
        (
            2048,
            "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy",
        ),
        (
            8 << 20,
            "baga6ea4seaqgl4u6lwmnerwdrm4iz7ag3mpwwaqtapc2fciabpooqmvjypweeha",
        ),
        (
            512 << 20,
            "baga6ea4seaqdsvqopmj2soyhujb72jza76t4wpq5fzifvm3ctz47iyytkewnubq",
        ),
        (
            32 << 30,
            "baga6ea4seaqao7s73y24kcutaosvacpdjgfe5pw76ooefnyqw4ynr3d2y6x2mpq",
        ),
        (
            64 << 30,
            "baga6ea4seaqomqafu276g53zko4k23xzh4h4uecjwicbmvhsuqi7o4bhthhm4aq",
        ),
    ];

    #[test]
    fn lotus_piece_cids_round_trip() {
        for (_, s) in ZERO_PIECES {
            let c: CommD = s.parse().unwrap();
            assert_eq!(&c.to_string(), s);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("{{\"/\":\"{s}\"}}"));
            assert_eq!(serde_json::from_str::<CommD>(&json).unwrap(), c);
        }
    }

    #[test]
    fn zero_2kib_comm_d_digest_matches_fvm_bytes() {
        // The raw CID bytes of the 2KiB zero CommD, as published in the
        // FVM/PDP contracts: 0181e203 922020 fc7e92….
        let c: CommD = ZERO_PIECES[1].1.parse().unwrap();
        assert_eq!(
            c.to_hex(),
            "fc7e928296e516faade986b28f92d44a4f24b935485223376a799027bc18f833"
        );
        assert_eq!(
            hex::encode(c.to_cid().to_bytes()),
            "0181e203922020fc7e928296e516faade986b28f92d44a4f24b935485223376a799027bc18f833"
        );
    }

    /// The zero commitments are the roots of all-zero binary trees under
    /// sha2-256 truncated to 254 bits: recompute them from scratch.
    #[test]
    fn zero_comm_d_is_root_of_zero_tree() {
        use sha2::{Digest, Sha256};
        let mut node = [0u8; 32];
        let mut size = 32u64;
        for (piece_size, s) in ZERO_PIECES {
            while size < *piece_size {
                let mut h = Sha256::new();
                h.update(node);
                h.update(node);
                node = h.finalize().into();
                node[31] &= 0b0011_1111;
                size *= 2;
            }
            let expected: CommD = s.parse().unwrap();
            assert_eq!(CommD(node), expected, "zero piece of {piece_size} bytes");
        }
    }

    #[test]
    fn lotus_comm_r_round_trips() {
        let s = "bagboea4b5abcbnym7z3pgc64fk5wwsk3nsmz62jamgaa3pekzelmm3fv5q6g6zji";
        let r: CommR = s.parse().unwrap();
        assert_eq!(r.to_string(), s);
        assert_eq!(CommR::from_cid(&r.to_cid()).unwrap(), r);
    }

    #[test]
    fn wrong_kind_of_cid_is_rejected_with_reason() {
        let comm_d = ZERO_PIECES[1].1;
        let err = comm_d.parse::<CommR>().unwrap_err().to_string();
        assert!(err.contains("CommR") && err.contains("codec"), "{err}");
        let err = "bafy2bzaceabc".parse::<CommD>().unwrap_err().to_string();
        assert!(err.contains("not a CID"), "{err}");
        let err = "hello".parse::<CommD>().unwrap_err().to_string();
        assert!(err.contains("hello"), "{err}");
    }
}
