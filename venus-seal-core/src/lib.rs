//! venus-seal-core: the domain types, traits and sealing engine of
//! venus-seal, a framework for Filecoin sealing clusters.
//!
//! This crate depends on no proving library: it builds in seconds, and
//! everything here can be tested with fake executors. Real executors
//! (filecoin-proofs-api), parameter management and piece stores live in
//! `venus-seal-backends`; the chain side (devnet, Lotus client, the sector
//! manager) in `venus-seal-chain`.
//!
//! # Modules
//!
//! | module | holds |
//! |---|---|
//! | [`types`] | ids, proof types, commitments, randomness, pieces, token amounts |
//! | [`stage`] | one serde type per stage (sealing, persist, proving) |
//! | [`executor`] | [`Executor<S>`], the one seam every stage runs through |
//! | [`error`] | the four failure levels and each trait family's errors |
//! | [`retry`] | the retry policy that reacts to levels |
//! | [`sector`] | the sector state machine (one transition table) and [`SectorRecord`] |
//! | [`sealer`] | the [`Sealer`]: one method per state, saving after each step |
//! | [`engine`] | storage slots, limits / locks / priorities, metrics, operator control |
//! | [`store`] | [`SectorStore`] (memory, SQLite) |
//! | [`piece_store`] | [`PieceStore`] |
//! | [`persist_store`] | `PersistStore`, where finished replicas go |
//! | [`manager`] | [`SectorManager`], the worker's view of the manager, and its wire types |
//! | [`manager_store`] | `ManagerStore`, the manager's durable state |
//! | [`chain`] | [`ChainClient`], [`MessageSender`] and the chain's data |
//! | [`lifecycle`] | what extending or terminating proven sectors sends |
//! | [`verify`] | [`ProofVerifier`]: every proof the chain checks |
//! | [`proving`] | `SectorLocator`, `compute_proof`, unsealing helpers |
//! | `schema`, `sql` (features `sqlite` / `sql`) | versioned migrations, shared pool opening |
//! | [`serde_duration`] | durations in configs and on the wire |
//! | `testing` (feature `testing`) | fakes that agree, and one conformance suite per trait |
//!
//! # Design rationale
//!
//! * **One executor trait, one type per stage.** Every stage is a serde type
//!   ([`stage`]) that names its output; [`Executor<S>`] runs any of them. The
//!   same local, external-process and remote executors and the same
//!   decorators serve every stage.
//! * **Errors carry a level.** [`FailureLevel`] (Temporary, Permanent,
//!   Critical, Abort) is decided where the cause is known; the engine reacts
//!   by level through the [`RetryPolicy`].
//! * **Every step is durable.** A [`SectorRecord`] holds a sector's state
//!   and every stage output the next steps need; the [`Sealer`] saves it to
//!   a [`SectorStore`] after each transition of the [`sector`] table.
//! * **The chain is behind traits.** The worker sees only a
//!   [`SectorManager`]; the manager sees a [`ChainClient`] and a
//!   [`MessageSender`].
#![warn(missing_docs, missing_debug_implementations)]

pub mod chain;
pub mod durable;
pub mod engine;
pub mod error;
pub mod executor;
mod forward;
pub mod jobs;
pub mod lifecycle;
pub mod manager;
pub mod manager_store;
pub mod persist_store;
pub mod piece_store;
pub mod post_jobs;
pub mod proving;
pub mod rebuild;
pub mod retry;
#[cfg(any(feature = "sqlite", feature = "sql"))]
pub mod schema;
pub mod sealer;
pub mod sector;
#[cfg(test)]
mod sector_props;
pub mod snapup;
#[cfg(feature = "sql")]
pub mod sql;
pub mod stage;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod types;
pub mod unseal;
pub mod verify;

mod serde_bytes_b64;
pub mod serde_duration;

pub use chain::{ChainClient, MessageSender, NetworkParams, RandomnessSource};
pub use engine::{Engine, EngineHandle, Location, SectorSummary};
pub use error::{
    ChainError, Failure, FailureLevel, Leveled, ManagerError, ParseError, PieceStoreError,
    StageError,
};
pub use executor::{DynExecutor, Executor};
pub use manager::SectorManager;
pub use manager_store::{ManagerStore, ManagerStoreError};
pub use persist_store::PersistStore;
pub use piece_store::{MemoryPieceStore, PieceReader, PieceStore};
pub use retry::{RetryDecision, RetryPolicy, RetryState};
pub use sealer::{Sealer, SealerConfig, StageExecutors, StepReport};
pub use sector::{Event, SectorRecord, SectorState};
pub use serde_duration::{format_duration, parse_duration};
#[cfg(feature = "sqlite")]
pub use store::SqliteSectorStore;
pub use store::{MemorySectorStore, SectorStore, SectorStoreError};
pub use types::commitment::{comm_d_of_pieces, CommD, CommR, PieceCid};
pub use types::ids::{ActorId, ChainEpoch, SectorId, SectorNumber};
pub use types::piece::{PaddedPieceSize, PieceInfo};
pub use types::proof::{SealProof, SectorSize};
pub use types::randomness::{DomainSeparationTag, Randomness, Seed, Ticket};
pub use types::token::TokenAmount;
pub use verify::{ProofVerifier, SealVerifyInfo, VerifyError};
