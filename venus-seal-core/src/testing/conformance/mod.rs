//! Conformance suites, one module per core trait: every implementation in
//! the workspace runs its trait's suite from its own tests, directly and
//! through `Arc<dyn …>` / `Box<dyn …>`, and so can outside implementors
//! (`features = ["testing"]`).
//!
//! Each suite is an `async fn` that panics on the first deviation from
//! the trait's contract, naming the implementation (its `Debug`) and what
//! it did. Where backends legitimately differ, the suite takes a
//! `Capabilities` value of flags (as object_store's `integration.rs`
//! does) instead of guessing.
//!
//! | trait | suite |
//! |---|---|
//! | [`Executor<S>`](crate::Executor) | [`executor::executor`] with a [`executor::StageCase`] per stage ([`sealing::sealing_cases`], [`proving::proving_cases`] and [`proving::post_contract`]) |
//! | [`PieceStore`](crate::PieceStore) | [`piece_store::piece_store`], [`piece_store::verifying_piece_store`] |
//! | [`SectorStore`](crate::SectorStore) | [`sector_store::sector_store`] |
//! | [`ManagerStore`](crate::manager_store::ManagerStore) | [`manager_store::manager_store`] |
//! | [`PersistStore`](crate::persist_store::PersistStore) | [`persist_store::persist_store`] |
//! | [`ChainClient`](crate::ChainClient) | [`chain_client::chain_client`] |
//! | [`MessageSender`](crate::MessageSender) | [`message_sender::message_sender`] |
//! | [`SectorManager`](crate::SectorManager) | [`sector_manager::sector_manager`] |
//! | [`ProofVerifier`](crate::ProofVerifier) | [`verifier::proof_verifier`] |

pub mod chain_client;
pub mod executor;
pub mod manager_store;
pub mod message_sender;
pub mod persist_store;
pub mod piece_store;
pub mod proving;
mod scratch;
pub mod sealing;
pub mod sector_manager;
pub mod sector_store;
pub mod verifier;

pub use chain_client::chain_client;
pub use executor::executor;
pub use manager_store::manager_store;
pub use message_sender::message_sender;
pub use persist_store::persist_store;
pub use piece_store::piece_store;
pub use sector_manager::sector_manager;
pub use sector_store::sector_store;
pub use verifier::proof_verifier;
