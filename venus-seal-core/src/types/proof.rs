//! Registered seal proof types and sector sizes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseError;

/// A sector size in bytes (padded). Only the sizes Filecoin registers exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SectorSize(pub u64);

impl SectorSize {
    /// The number of unpadded (user) bytes that fit: `size * 127 / 128`.
    pub fn unpadded(self) -> u64 {
        self.0 - self.0 / 128
    }
}

impl fmt::Display for SectorSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0 % unit == 0 {
                return write!(f, "{}{}", self.0 / unit, name);
            }
        }
        write!(f, "{}B", self.0)
    }
}

macro_rules! seal_proofs {
    ($( $variant:ident = $id:expr, $size:expr, $name:literal; )*) => {
        /// A registered seal proof: which PoRep and sector size a sector uses.
        ///
        /// The numeric ids are the chain's (`abi.RegisteredSealProof`), the
        /// names those of filecoin-proofs-api; both parse.
        ///
        /// ```
        /// use venus_seal_core::SealProof;
        /// let p: SealProof = "StackedDrg2KiBV1_1".parse().unwrap();
        /// assert_eq!(p.sector_size().0, 2048);
        /// assert_eq!(p.id(), 5);
        /// assert_eq!(SealProof::from_id(5).unwrap(), p);
        /// assert!("StackedDrg3KiBV1".parse::<SealProof>().is_err());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        #[allow(non_camel_case_types)]
        pub enum SealProof {
            $(
                #[doc = concat!("`", $name, "` (chain id ", stringify!($id), ")")]
                $variant,
            )*
        }

        impl SealProof {
            /// Every registered seal proof.
            pub const ALL: &'static [SealProof] = &[$(SealProof::$variant),*];

            /// The chain's numeric id.
            pub fn id(self) -> i64 {
                match self { $(SealProof::$variant => $id,)* }
            }

            /// The proof with the chain's numeric id `id`.
            pub fn from_id(id: i64) -> Result<Self, ParseError> {
                match id {
                    $($id => Ok(SealProof::$variant),)*
                    other => Err(ParseError::new(
                        "seal proof type",
                        &other.to_string(),
                        "not a registered seal proof id (0..=19)",
                    )),
                }
            }

            /// The padded sector size.
            pub fn sector_size(self) -> SectorSize {
                match self { $(SealProof::$variant => SectorSize($size),)* }
            }

            /// The filecoin-proofs-api name.
            pub fn name(self) -> &'static str {
                match self { $(SealProof::$variant => $name,)* }
            }

            /// Whether this is a synthetic PoRep proof (FIP-0059,
            /// `_Feat_SyntheticPoRep`, ids 10 to 14): PC2 also generates the
            /// synthetic vanilla proofs, after which the SDR layers are no
            /// longer needed; C1 picks its challenges among them.
            pub fn is_synthetic(self) -> bool {
                (10..=14).contains(&self.id())
            }

            /// A non-interactive PoRep type (`_Feat_NonInteractivePoRep`,
            /// ids 15 to 19, FIP-0092): no pre-commit message and no seed
            /// wait; the sector is activated by `ProveCommitSectorsNI`
            /// with an aggregate proof, committed capacity only.
            pub fn is_non_interactive(self) -> bool {
                (15..=19).contains(&self.id())
            }
        }

        impl FromStr for SealProof {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                match s {
                    $($name => Ok(SealProof::$variant),)*
                    other => match other.parse::<i64>() {
                        Ok(id) => SealProof::from_id(id),
                        Err(_) => Err(ParseError::new(
                            "seal proof type",
                            other,
                            "expected a name like StackedDrg32GiBV1_1 or a chain id",
                        )),
                    },
                }
            }
        }
    };
}

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

seal_proofs! {
    StackedDrg2KiBV1 = 0, 2 * KIB, "StackedDrg2KiBV1";
    StackedDrg8MiBV1 = 1, 8 * MIB, "StackedDrg8MiBV1";
    StackedDrg512MiBV1 = 2, 512 * MIB, "StackedDrg512MiBV1";
    StackedDrg32GiBV1 = 3, 32 * GIB, "StackedDrg32GiBV1";
    StackedDrg64GiBV1 = 4, 64 * GIB, "StackedDrg64GiBV1";
    StackedDrg2KiBV1_1 = 5, 2 * KIB, "StackedDrg2KiBV1_1";
    StackedDrg8MiBV1_1 = 6, 8 * MIB, "StackedDrg8MiBV1_1";
    StackedDrg512MiBV1_1 = 7, 512 * MIB, "StackedDrg512MiBV1_1";
    StackedDrg32GiBV1_1 = 8, 32 * GIB, "StackedDrg32GiBV1_1";
    StackedDrg64GiBV1_1 = 9, 64 * GIB, "StackedDrg64GiBV1_1";
    StackedDrg2KiBV1_1_Feat_SyntheticPoRep = 10, 2 * KIB, "StackedDrg2KiBV1_1_Feat_SyntheticPoRep";
    StackedDrg8MiBV1_1_Feat_SyntheticPoRep = 11, 8 * MIB, "StackedDrg8MiBV1_1_Feat_SyntheticPoRep";
    StackedDrg512MiBV1_1_Feat_SyntheticPoRep = 12, 512 * MIB, "StackedDrg512MiBV1_1_Feat_SyntheticPoRep";
    StackedDrg32GiBV1_1_Feat_SyntheticPoRep = 13, 32 * GIB, "StackedDrg32GiBV1_1_Feat_SyntheticPoRep";
    StackedDrg64GiBV1_1_Feat_SyntheticPoRep = 14, 64 * GIB, "StackedDrg64GiBV1_1_Feat_SyntheticPoRep";
    StackedDrg2KiBV1_2_Feat_NonInteractivePoRep = 15, 2 * KIB, "StackedDrg2KiBV1_2_Feat_NonInteractivePoRep";
    StackedDrg8MiBV1_2_Feat_NonInteractivePoRep = 16, 8 * MIB, "StackedDrg8MiBV1_2_Feat_NonInteractivePoRep";
    StackedDrg512MiBV1_2_Feat_NonInteractivePoRep = 17, 512 * MIB, "StackedDrg512MiBV1_2_Feat_NonInteractivePoRep";
    StackedDrg32GiBV1_2_Feat_NonInteractivePoRep = 18, 32 * GIB, "StackedDrg32GiBV1_2_Feat_NonInteractivePoRep";
    StackedDrg64GiBV1_2_Feat_NonInteractivePoRep = 19, 64 * GIB, "StackedDrg64GiBV1_2_Feat_NonInteractivePoRep";
}

impl fmt::Display for SealProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// On the wire (damocles, Lotus) a seal proof is its numeric id.
impl Serialize for SealProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.id())
    }
}

impl<'de> Deserialize<'de> for SealProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Id(i64),
            Name(String),
        }
        match Repr::deserialize(d)? {
            Repr::Id(id) => SealProof::from_id(id),
            Repr::Name(name) => name.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_round_trip() {
        for p in SealProof::ALL {
            assert_eq!(SealProof::from_id(p.id()).unwrap(), *p);
            assert_eq!(p.name().parse::<SealProof>().unwrap(), *p);
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(serde_json::from_str::<SealProof>(&json).unwrap(), *p);
        }
    }

    #[test]
    fn unknown_proof_type_is_a_clear_error() {
        let err = SealProof::from_id(42).unwrap_err().to_string();
        assert!(
            err.contains("seal proof type") && err.contains("42"),
            "{err}"
        );
        let err = serde_json::from_str::<SealProof>("\"StackedDrg1TiB\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("StackedDrg1TiB"), "{err}");
    }

    #[test]
    fn sizes_print() {
        assert_eq!(
            SealProof::StackedDrg2KiBV1_1.sector_size().to_string(),
            "2KiB"
        );
        assert_eq!(
            SealProof::StackedDrg32GiBV1_1.sector_size().to_string(),
            "32GiB"
        );
        assert_eq!(SectorSize(2048).unpadded(), 2032);
    }
}
