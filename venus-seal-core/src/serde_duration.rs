//! Durations in config and JSON as humane strings: `"60s"`, `"500ms"`,
//! `"5m"`, `"1h30m"`, `"2 hours"`, read by the [`humantime`] crate.
//!
//! Use it on a field with `#[serde(with = "venus_seal_core::serde_duration")]`.
//!
//! Durations are written in the compact form of earlier releases (`"90s"`,
//! `"250ms"`), which every release reads, rather than humantime's
//! `"1m 30s"`, which releases before humantime refuse: a manager and its
//! workers exchange durations (`WaitSeed`'s delay) and may run different
//! releases during an upgrade.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serializer};

use crate::error::ParseError;

/// Parses a duration with [`humantime::parse_duration`]: a sequence of
/// numbers with units (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`, `w`, `M`
/// months, `y`, and their long forms like `min` or `hours`), spaces
/// allowed between them: `"90s"`, `"250ms"`, `"5m"`, `"1h30m"`,
/// `"1h 30m"`, `"2 hours"`.
///
/// ```
/// use std::time::Duration;
/// use venus_seal_core::parse_duration;
/// assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(parse_duration("5 parsecs").is_err());
/// ```
pub fn parse_duration(s: &str) -> Result<Duration, ParseError> {
    humantime::parse_duration(s.trim())
        .map_err(|e| ParseError::new("duration", s.trim(), &format!("{e}, like 60s or 1h30m")))
}

/// Formats a duration the way [`parse_duration`] reads it, and the way
/// releases before humantime read it too: whole seconds as `"90s"`,
/// anything else in milliseconds (`"1500ms"`, `"0ms"`).
///
/// ```
/// use std::time::Duration;
/// use venus_seal_core::format_duration;
/// assert_eq!(format_duration(Duration::from_secs(5400)), "5400s");
/// assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
/// ```
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_of_earlier_releases_keep_their_meaning() {
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        for (text, want) in [
            ("0s", secs(0)),
            ("100ms", ms(100)),
            ("500ms", ms(500)),
            ("30s", secs(30)),
            ("60s", secs(60)),
            ("2m", secs(120)),
            ("5 m", secs(300)),
            (" 2h ", secs(7200)),
            ("4h", secs(14_400)),
        ] {
            assert_eq!(parse_duration(text).unwrap(), want, "{text:?}");
        }
    }

    #[test]
    fn humantime_forms_are_read() {
        for (text, secs) in [
            ("1h30m", 5400),
            ("1h 30m", 5400),
            ("2 hours", 7200),
            ("5min", 300),
            ("1d", 86_400),
        ] {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_secs(secs));
        }
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        for text in ["", "5", "sixty", "5 parsecs", "-1s"] {
            let err = parse_duration(text).unwrap_err().to_string();
            assert!(
                err.contains("duration") && err.contains("60s"),
                "{text:?}: {err}"
            );
        }
        let err = parse_duration("5 parsecs").unwrap_err().to_string();
        assert!(err.contains("parsecs"), "{err}");
    }

    #[test]
    fn what_is_written_is_read_back() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(1500),
            Duration::from_secs(90),
            Duration::from_secs(5400),
        ] {
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn optional_durations_are_read_and_written() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct T {
            #[serde(default, with = "super::option")]
            d: Option<Duration>,
        }
        let t: T = serde_json::from_str(r#"{"d": "1h30m"}"#).unwrap();
        assert_eq!(t.d, Some(Duration::from_secs(5400)));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"d":"5400s"}"#);
        let none: T = serde_json::from_str("{}").unwrap();
        assert_eq!(none.d, None);
        assert!(serde_json::from_str::<T>(r#"{"d": "soon"}"#).is_err());
    }
}
