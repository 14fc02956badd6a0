//! A stand-in for the `venus_seal` umbrella crate, for the fuzz targets.
//!
//! The example binaries' config modules (`examples/worker/config.rs`,
//! `examples/sector-manager/config.rs`) name `venus_seal::core`,
//! `venus_seal::backends::ext` and `venus_seal::chain::manager`. The real
//! umbrella crate depends on venus-seal-backends (filecoin-proofs) and
//! venus-seal-chain (sqlx, fvm): far too much to build with sanitizers. This
//! crate offers exactly what those modules use:
//!
//! * [`core`]: venus-seal-core itself;
//! * [`backends::ext`]: the ext-processor config, executor and wire format,
//!   compiled from venus-seal-backends' own files (they depend only on core,
//!   serde and tokio), so the targets check the real code;
//! * [`backends::pieces`]: the `[pieces]` config section, from
//!   venus-seal-backends' own `pieces/config.rs`;
//! * [`chain::manager::NumberRange`]: a copy of the chain crate's range check
//!   (the one item of that crate the manager config calls).
//!
//! [`check`] holds the round-trip assertions the targets share.
#![allow(dead_code, unused_imports)]

pub use venus_seal_core as core;

// venus-seal-backends/src/ext's files, as siblings (they reach each other
// through `super::`).
#[path = "../../venus-seal-backends/src/ext/child.rs"]
mod child;
#[path = "../../venus-seal-backends/src/ext/command.rs"]
mod command;
#[path = "../../venus-seal-backends/src/ext/config.rs"]
mod config;
#[path = "../../venus-seal-backends/src/ext/error.rs"]
mod error;
#[path = "../../venus-seal-backends/src/ext/format.rs"]
mod format;
// config.rs names it as `super::BodyFormat`, as in its real `ext` module.
use format::BodyFormat;
#[path = "../../venus-seal-backends/src/ext/processor.rs"]
mod processor;
#[path = "../../venus-seal-backends/src/ext/wire.rs"]
mod wire;
// venus-seal-backends/src/pieces/config.rs: the `[pieces]` sections of both
// example configs (it needs only serde, thiserror and url).
#[path = "../../venus-seal-backends/src/pieces/config.rs"]
mod piece_config;

/// `venus_seal_backends::ext::damocles` translates bodies with
/// filecoin-proofs-api's types, which this crate leaves out: here a
/// processor with `format = "damocles"` is built and checked like the real
/// one, and a task sent through it fails saying why. The config targets
/// never run tasks.
mod damocles {
    pub use crate::format::BodyFormat;
    use venus_seal_core::stage::Stage;
    use venus_seal_core::StageError;

    const LEFT_OUT: &str = "damocles bodies are not compiled into the fuzz build";

    pub(crate) fn task_to_damocles<S: Stage>(
        _: &S,
    ) -> Result<Box<serde_json::value::RawValue>, StageError> {
        Err(StageError::InvalidTask(LEFT_OUT.into()))
    }

    pub(crate) fn output_from_damocles<S: Stage>(_: &S, _: &str) -> Result<S::Output, String> {
        Err(LEFT_OUT.into())
    }
}

/// What the config modules use of `venus_seal::backends`.
pub mod backends {
    /// `venus_seal_backends::pieces`, reduced to the config section.
    pub mod pieces {
        pub use crate::piece_config::*;
    }

    /// `venus_seal_backends::ext`, minus the pool and the server.
    pub mod ext {
        pub use crate::config::ExtProcessorConfig;
        pub use crate::error::ExtConfigError;
        pub use crate::format::BodyFormat;
        pub use crate::processor::ExtProcessorExecutor;
        pub use crate::wire::{level_of_err_msg, ready_line, Request, Response};
    }
}

/// What the sector manager config uses of `venus_seal::chain`.
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
