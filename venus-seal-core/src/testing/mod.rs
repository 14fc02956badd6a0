//! Test kit: conformance suites and fake backends with knobs that force
//! edge paths (latency, failures of each level), for this crate's tests and
//! for outside implementors (`features = ["testing"]`).
//!
//! The fakes form one family that agree with each other: the proof the
//! fake C2 makes is the one [`FakeProofVerifier`] accepts, and
//! [`FakeManager`] checks submitted proofs with that verifier, as does a
//! devnet built with it.

pub mod conformance;
mod crash;
mod errors;
mod fake_executor;
mod fake_manager;
mod fake_verifier;
mod file_stages;
mod rig;
mod stalling;

pub use crash::{
    crashing_executors, CrashPoint, CrashSwitch, CrashingExecutor, CrashingManager, CrashingStore,
};
pub use errors::every_chain_error;
pub use fake_executor::{
    fake_c2_verify_info, fake_comm_r, fake_stage_executors, BlockingFake, Census, FakeExecutor,
    FakeStages,
};
pub use fake_manager::FakeManager;
pub use fake_verifier::FakeProofVerifier;
pub use file_stages::{file_writing_stages, persisted_sealed, REPLICA_DATA, STAGED_DATA};
pub use rig::{one_location_engine, test_sealer, test_sealer_config};
pub use stalling::stalling_server;
