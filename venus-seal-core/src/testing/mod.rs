//! Test kit: conformance suites and fake backends with knobs that force
//! edge paths (latency, failures of each level), for this crate's tests and
//! for outside implementors (`features = ["testing"]`).

pub mod conformance;
mod fake_executor;
mod fake_manager;

pub use fake_executor::{fake_stage_executors, FakeExecutor, FakeStages};
pub use fake_manager::FakeManager;
