//! The sector-manager binary, as Cargo built it for these tests.

use std::path::PathBuf;

/// `venus-seal-sector-manager`, built by Cargo with the tests.
pub fn manager_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_venus-seal-sector-manager"))
}
