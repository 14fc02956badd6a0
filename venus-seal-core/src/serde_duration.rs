//! Durations in config and JSON as humane strings: `"60s"`, `"500ms"`, `"5m"`, `"1h"`.
//!
//! Use it on a field with `#[serde(with = "venus_seal_core::serde_duration")]`.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

use crate::error::ParseError;

/// Parses `"90s"`, `"250ms"`, `"5m"`, `"2h"`.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(venus_seal_core::parse_duration("5m").unwrap(), Duration::from_secs(300));
/// assert!(venus_seal_core::parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| ParseError::new("duration", s, "expected a number and a unit, like 60s"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(ParseError::new("duration", s, "unit must be ms, s, m or h")),
    }
}

/// Formats a duration the way [`parse_duration`] reads it.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() != 0 || d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs())
    }
}

/// Writes a duration as [`format_duration`] does.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// Reads a duration as [`parse_duration`] does.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(serde::de::Error::custom)
}

/// `Option<Duration>` the same way: `#[serde(default, with =
/// "venus_seal_core::serde_duration::option")]`; absent or `null` is `None`.
pub mod option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `Some` as [`format_duration`](super::format_duration) does,
    /// `None` as null.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads a duration string as [`parse_duration`](super::parse_duration)
    /// does, or null.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
