//! Moved to the library: `venus_seal::runtime::ApiArgs`. This shim keeps
//! the sector-manager example (which includes this file by `#[path]`)
//! building until it uses the library directly; then delete it.

pub use venus_seal::runtime::ApiArgs;
