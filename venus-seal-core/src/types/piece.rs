//! Pieces: the units of client data placed into a sector.

use serde::{Deserialize, Serialize};

use super::commitment::PieceCid;
use crate::error::ParseError;

/// A piece size in padded bytes: a power of two, at least 128.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaddedPieceSize(pub u64);

impl PaddedPieceSize {
    /// Checks the size is a power of two of at least 128 bytes.
    pub fn validate(self) -> Result<Self, ParseError> {
        if self.0 < 128 || !self.0.is_power_of_two() {
            return Err(ParseError::new(
                "padded piece size",
                &self.0.to_string(),
                "must be a power of two of at least 128",
            ));
        }
        Ok(self)
    }

    /// The unpadded size: 127 user bytes per 128 padded bytes.
    pub fn unpadded(self) -> u64 {
        self.0 - self.0 / 128
    }

    /// The smallest padded piece that holds `unpadded` user bytes.
    ///
    /// ```
    /// use venus_seal_core::PaddedPieceSize;
    /// assert_eq!(PaddedPieceSize::for_unpadded(2032).0, 2048);
    /// assert_eq!(PaddedPieceSize::for_unpadded(100).0, 128);
    /// ```
    pub fn for_unpadded(unpadded: u64) -> Self {
        let padded = unpadded.div_ceil(127) * 128;
        PaddedPieceSize(padded.max(128).next_power_of_two())
    }
}

/// A piece placed in a sector: its padded size and commitment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PieceInfo {
    /// Padded size.
    pub size: PaddedPieceSize,
    /// Commitment (PieceCID).
    #[serde(rename = "PieceCID")]
    pub cid: PieceCid,
}
