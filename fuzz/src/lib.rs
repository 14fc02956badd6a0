//! The fuzz targets' shared checks ([`check`]).
//!
//! The targets fuzz the real crates, built without the proving crates:
//! venus-seal-core, venus-seal-rpc, venus-seal-backends (no `proofs`), and
//! the umbrella crate `venus-seal` (no `proofs`) for the worker's and the
//! sector manager's config schemas. No file is compiled by `#[path]` and no
//! type is copied.

/// Assertions the targets share.
pub mod check {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// If `data` parses as JSON `T`: printing it and parsing that again
    /// gives the same value (compared as JSON values, so types without
    /// `PartialEq` — `Opaque` — are checked too). Returns whether `data`
    /// parsed.
    pub fn json_round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) -> bool {
        let Some((first, again)) = parse_twice::<T>(data) else {
            return false;
        };
        let (a, b) = (
            serde_json::to_value(&first).unwrap(),
            serde_json::to_value(&again).unwrap(),
        );
        assert_eq!(
            a,
            b,
            "{} changed in a round trip",
            std::any::type_name::<T>()
        );
        true
    }

    /// [`json_round_trip`], also requiring the second parse to equal the
    /// first by `PartialEq`.
    pub fn json_round_trip_eq<T>(data: &[u8]) -> bool
    where
        T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let Some((first, again)) = parse_twice::<T>(data) else {
            return false;
        };
        assert_eq!(first, again, "round trip of {}", std::any::type_name::<T>());
        true
    }

    /// `data` parsed as `T`, and that value printed and parsed again
    /// (panicking if the printed text does not parse); `None` if `data`
    /// does not parse.
    fn parse_twice<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<(T, T)> {
        let first = serde_json::from_slice::<T>(data).ok()?;
        let printed = serde_json::to_string(&first).expect("a parsed value prints");
        let again: T = serde_json::from_str(&printed).unwrap_or_else(|e| {
            panic!(
                "{} printed {printed} which does not parse back: {e}",
                std::any::type_name::<T>()
            )
        });
        Some((first, again))
    }

    /// If `text` parses as a TOML document: the document printed back by
    /// `toml` (a reformatting: other quoting, table layout, key order).
    pub fn toml_reformatted(text: &str) -> Option<String> {
        let value: toml::Table = toml::from_str(text).ok()?;
        toml::to_string(&value).ok()
    }
}
