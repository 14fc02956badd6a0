//! The fuzz targets' library: `venus_seal` as the example binaries' config
//! modules name it, and the checks the targets share ([`check`]).
//!
//! The targets fuzz the real crates: venus-seal-core, venus-seal-rpc and
//! venus-seal-backends built without its `proofs` feature (so no proving
//! crate, and no copy of any backend file: the ext protocol, the piece
//! store config and the remote C2 bodies are the crate's own modules).
//!
//! The two config targets (`worker_config`, `manager_config`) include
//! `examples/worker/config.rs` and `examples/sector-manager/config.rs` by
//! `#[path]`, and those name `venus_seal::core`,
//! `venus_seal::backends::{ext, pieces}` and
//! `venus_seal::chain::manager::NumberRange`. [`core`] and [`backends`]
//! are the real crates re-exported; [`chain`] is the one stand-in left.
//!
//! TO BE REPLACED (lead): once the configs are `venus_seal::worker::config`
//! and `venus_seal::sector_manager::config` in the umbrella crate, the two
//! targets depend on that crate (built without proofs) and call its
//! modules; this library then keeps only [`check`].

pub use venus_seal_core as core;

/// What the config modules use of `venus_seal::backends`: the real
/// modules of venus-seal-backends (built without `proofs`).
pub mod backends {
    pub use venus_seal_backends::{ext, pieces};
}

/// What the sector manager config uses of `venus_seal::chain`.
///
/// TO BE REPLACED (lead): a stand-in, because venus-seal-chain (fvm,
/// builtin-actors state) is too much to build for one range check. It
/// goes away with the `#[path]` include of the manager config.
pub mod chain {
    /// `venus_seal_chain::manager`, reduced to `NumberRange`.
    pub mod manager {
        /// A copy of `venus_seal_chain::manager::NumberRange`'s check:
        /// `start..=end` within `1..=2^48-1`. Keep in step with
        /// venus-seal-chain/src/manager/store/mod.rs.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct NumberRange {
            /// The first number.
            pub start: u64,
            /// The last number.
            pub end: u64,
        }

        impl NumberRange {
            /// The highest number the actors allow.
            pub const MAX: u64 = (1 << 48) - 1;

            /// `start..=end`; an empty range is an error naming both ends.
            pub fn new(start: u64, end: u64) -> Result<Self, String> {
                if start > end || end > Self::MAX {
                    return Err(format!(
                        "sector number range {start}..={end} is empty or beyond {}",
                        Self::MAX
                    ));
                }
                Ok(Self { start, end })
            }
        }
    }
}

/// Assertions the targets share.
pub mod check {
    use serde::de::DeserializeOwned;
    use serde::Serialize;

    /// If `data` parses as JSON `T`: printing it and parsing that again
    /// gives the same value (compared as JSON values, so types without
    /// `PartialEq` — `Opaque` — are checked too). Returns whether `data`
    /// parsed.
    pub fn json_round_trip<T: Serialize + DeserializeOwned>(data: &[u8]) -> bool {
        let Ok(first) = serde_json::from_slice::<T>(data) else {
            return false;
        };
        let printed = serde_json::to_string(&first).expect("a parsed value prints");
        let again: T = serde_json::from_str(&printed).unwrap_or_else(|e| {
            panic!(
                "{} printed {printed} which does not parse back: {e}",
                std::any::type_name::<T>()
            )
        });
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
        let Ok(first) = serde_json::from_slice::<T>(data) else {
            return false;
        };
        let printed = serde_json::to_string(&first).expect("a parsed value prints");
        let again: T = serde_json::from_str(&printed).unwrap_or_else(|e| {
            panic!(
                "{} printed {printed} which does not parse back: {e}",
                std::any::type_name::<T>()
            )
        });
        assert_eq!(first, again, "round trip through {printed}");
        true
    }

    /// If `text` parses as a TOML document: the document printed back by
    /// `toml` (a reformatting: other quoting, table layout, key order).
    pub fn toml_reformatted(text: &str) -> Option<String> {
        let value: toml::Table = toml::from_str(text).ok()?;
        toml::to_string(&value).ok()
    }
}
