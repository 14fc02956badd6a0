//! [`TokenAmount`]: an amount of FIL in attoFIL, as the chain's JSON APIs
//! write it (a decimal string).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ParseError;

/// An amount of FIL in attoFIL (10⁻¹⁸ FIL). Non-negative: the amounts the
/// manager handles are deposits and pledges. `u128` holds 3.4 × 10²⁰ FIL,
/// far above the 2 × 10⁹ FIL supply.
///
/// Serialized as a decimal string, as Lotus and venus-messager write
/// `BigInt`s.
///
/// ```
/// use venus_seal_core::TokenAmount;
///
/// let deposit: TokenAmount = "1500000000000000000".parse().unwrap();
/// assert_eq!(deposit, TokenAmount::from_whole_fil(1) + TokenAmount(500_000_000_000_000_000));
/// assert_eq!(deposit.to_string(), "1500000000000000000");
/// assert!("-1".parse::<TokenAmount>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenAmount(pub u128);

impl TokenAmount {
    /// Nothing.
    pub const ZERO: TokenAmount = TokenAmount(0);

    /// `fil` whole FIL.
    pub const fn from_whole_fil(fil: u64) -> Self {
        TokenAmount(fil as u128 * 1_000_000_000_000_000_000)
    }

    /// `self − other`, or zero when `other` is larger (a pledge already
    /// covered by the deposit needs nothing more).
    pub fn saturating_sub(self, other: TokenAmount) -> TokenAmount {
        TokenAmount(self.0.saturating_sub(other.0))
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: TokenAmount) -> Option<TokenAmount> {
        self.0.checked_add(other.0).map(TokenAmount)
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::Add for TokenAmount {
    type Output = TokenAmount;

    /// Panics on overflow, which no real amount reaches; use
    /// [`TokenAmount::checked_add`] for amounts from outside.
    fn add(self, other: TokenAmount) -> TokenAmount {
        self.checked_add(other).expect("TokenAmount overflow")
    }
}

impl fmt::Display for TokenAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for TokenAmount {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseError::new(
                "token amount",
                s,
                "expected a non-negative decimal number of attoFIL",
            ));
        }
        s.parse::<u128>()
            .map(TokenAmount)
            .map_err(|e| ParseError::new("token amount", s, &e.to_string()))
    }
}

impl Serialize for TokenAmount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenAmount {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_round_trip() {
        let a = TokenAmount(123_456_789_012_345_678_901_234_567);
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"123456789012345678901234567\"");
        assert_eq!(serde_json::from_str::<TokenAmount>(&json).unwrap(), a);
    }

    #[test]
    fn bad_amounts_are_named() {
        for bad in ["", "-5", "1.5", "1e18", " 1", "0x10"] {
            let e = bad.parse::<TokenAmount>().unwrap_err().to_string();
            assert!(e.contains("token amount"), "{bad:?}: {e}");
        }
        let too_big = "9".repeat(40);
        assert!(too_big.parse::<TokenAmount>().is_err());
        assert!(
            serde_json::from_str::<TokenAmount>("5").is_err(),
            "numbers are strings"
        );
    }

    #[test]
    fn arithmetic() {
        assert_eq!(
            TokenAmount(5).saturating_sub(TokenAmount(7)),
            TokenAmount::ZERO
        );
        assert_eq!(
            TokenAmount(7).saturating_sub(TokenAmount(5)),
            TokenAmount(2)
        );
        assert_eq!(TokenAmount(u128::MAX).checked_add(TokenAmount(1)), None);
        assert!(TokenAmount::ZERO.is_zero());
    }
}
