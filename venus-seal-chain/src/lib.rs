//! venus-seal-chain: the chain side of venus-seal.
//!
//! * [`DevnetChain`]: an embedded, in-process devnet implementing both
//!   [`ChainClient`] and [`MessageSender`]. Its epochs advance on a clock
//!   (or by hand, for tests), its randomness is deterministic per seed, and
//!   its miner actors accept `PreCommitSectorBatch2` and
//!   `ProveCommitSectors3`, verifying every proof with a [`ProofVerifier`]
//!   against randomness the chain draws itself.
//! * [`LocalSectorManager`]: the [`SectorManager`] a worker talks to,
//!   in-process, over any [`ChainClient`] + [`MessageSender`]: sector number
//!   allocation, the deal queue, tickets, seeds, and pre-commit /
//!   prove-commit submission.
//! * [`testing`]: the core's fake [`ProofVerifier`] (its "proofs" are
//!   hashes), fake PoSt executors that agree with it, a devnet-and-manager
//!   pair for tests, and fresh PostgreSQL databases per test.
//!
//! Modules: [`devnet`] (the embedded chain), [`manager`] (the sector
//! manager, its batching, its WindowPoSt scheduler and its stores),
//! [`lotus`] (the Lotus / Venus full-node client and the miner messages'
//! CBOR, with our own copies of the v17 actor types), [`messager`]
//! (venus-messager as the message sender), `jsonrpc` (the transport both
//! share), `persist` (where sectors' files are), [`testing`].
//!
//! # Design rationale
//!
//! * **The chain is two traits.** The manager reads through a
//!   [`ChainClient`] and sends through a [`MessageSender`]; the devnet, a
//!   Lotus node and venus-messager are interchangeable behind them, and
//!   each runs the core's conformance suite.
//! * **A real devnet, not a mock.** The devnet verifies proofs with a real
//!   [`ProofVerifier`] and keeps deadlines, so end-to-end tests prove what
//!   a chain would accept.
//! * **No proving crate.** Miner messages are encoded with this crate's own
//!   tuple types, proven byte-identical to the published actor crate in
//!   `tests/actor_types.rs`, so an SP running only the manager compiles no
//!   bellperson.
//!
//! ```
//! use std::sync::Arc;
//! use venus_seal_chain::{testing::FakeProofVerifier, DevnetChain, DevnetConfig, DevnetMiner};
//! use venus_seal_core::{ActorId, ChainClient, SealProof};
//!
//! # tokio_test_block_on(async {
//! let config = DevnetConfig::with_miners(vec![DevnetMiner {
//!     id: ActorId(1000),
//!     allowed_proofs: vec![SealProof::StackedDrg2KiBV1_1],
//! }]);
//! let chain = DevnetChain::new(config, Arc::new(FakeProofVerifier));
//! let head = chain.head().await.unwrap();
//! assert_eq!(chain.advance(3).await, head + 3);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```
//!
//! [`ChainClient`]: venus_seal_core::ChainClient
//! [`MessageSender`]: venus_seal_core::MessageSender
//! [`ProofVerifier`]: venus_seal_core::ProofVerifier
//! [`SectorManager`]: venus_seal_core::SectorManager
#![warn(missing_docs, missing_debug_implementations)]

pub mod devnet;
pub mod gateway;
mod jsonrpc;
pub mod manager;
pub mod market;
mod persist;
pub mod testing;

pub use devnet::{
    draw_randomness, ClockError, DevnetChain, DevnetConfig, DevnetError, DevnetMiner,
    ProvingPolicy, WinningPoStElection, DEVNET_NETWORK, DEVNET_PROVING,
};
pub use manager::{
    BatchPolicy, LocalSectorManager, ManagedMiner, ManagerConfig, ManagerStore, MemoryManagerStore,
    NumberRange, PoStExecutors, PoStRound, PoStScheduleError, SectorStatus, SqlManagerStore,
    Submitted, WindowPoStScheduler,
};
pub use persist::StateFileError;
pub mod lotus;
pub mod messager;
pub use lotus::{LotusClient, MAINNET_NETWORK};
pub use market::{DealMarket, DropletMarket};
pub use messager::{MessagerClient, SendSpec};
