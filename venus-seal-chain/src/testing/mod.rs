//! Test helpers: a fake [`ProofVerifier`] whose proofs are hashes (the
//! core's, re-exported), fake PoSt executors whose proofs it accepts, a
//! chain client that fails or answers differently on chosen calls
//! ([`TappedChain`]), and a fresh PostgreSQL database per test.
//!
//! It lets the devnet, the manager and anything built on them be tested in
//! milliseconds, without Groth16 parameters. It proves nothing: never use
//! it outside tests and demos.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use venus_seal_core::chain::{MessageFee, MessageId, MessageState, MinerMessage, SendUid};
use venus_seal_core::proving::{
    PoStProof, PoStSector, ProvingSector, SkippedSector, WindowPoStOutput,
};
use venus_seal_core::stage::{CheckProvable, Unseal, WindowPoSt, WinningPoSt};
use venus_seal_core::{
    ActorId, ChainEpoch, ChainError, Executor, MessageSender, ProofVerifier, SealProof,
    SectorNumber, StageError,
};

pub use venus_seal_core::testing::FakeProofVerifier;

mod tapped_chain;
pub use tapped_chain::{ChainTap, TappedChain};

/// A pre-commit under `ticket` of a committed-capacity sector sealed to
/// CommR `[0xaa; 32]` with CommD `[0xdd; 32]` (the fake verifier checks
/// neither).
pub fn pre_commit_info(
    ticket: venus_seal_core::Ticket,
) -> venus_seal_core::manager::PreCommitOnChainInfo {
    venus_seal_core::manager::PreCommitOnChainInfo {
        comm_r: venus_seal_core::CommR([0xaa; 32]),
        comm_d: venus_seal_core::CommD([0xdd; 32]),
        ticket,
        deals: vec![],
    }
}

/// Sends `call` from `miner` on `chain`, produces an epoch: the message's
/// exit code and error (panics if it did not land).
pub async fn execute_call(
    chain: &crate::DevnetChain,
    miner: ActorId,
    call: venus_seal_core::chain::MinerCall,
) -> (i64, Option<String>) {
    match chain
        .send_and_execute(MinerMessage::new(miner, call))
        .await
        .expect("the devnet takes the message")
    {
        MessageState::Landed {
            exit_code, error, ..
        } => (exit_code, error),
        other => panic!("not landed: {other:?}"),
    }
}

/// A stand-in deal piece of `size` padded bytes whose CommP is `n`
/// repeated (no data behind it: for manager and job tests).
pub fn stand_in_piece(n: u8, size: u64) -> venus_seal_core::PieceInfo {
    venus_seal_core::PieceInfo {
        size: venus_seal_core::PaddedPieceSize(size),
        cid: venus_seal_core::CommD([n; 32]),
    }
}

/// The seal proof [`FakeProofVerifier`] accepts for `sector`, pre-committed
/// with `info`, at the interactive `seed`: what a worker's C2 would submit.
pub fn fake_seal_proof(
    sector: venus_seal_core::manager::AllocatedSector,
    info: &venus_seal_core::manager::PreCommitOnChainInfo,
    seed: venus_seal_core::Randomness,
) -> venus_seal_core::stage::Proof {
    FakeProofVerifier::proof_for(&venus_seal_core::SealVerifyInfo {
        proof_type: sector.proof_type,
        sector: sector.id,
        comm_r: info.comm_r,
        comm_d: info.comm_d,
        ticket: info.ticket.ticket,
        seed,
        proof: vec![],
    })
}

/// A fresh, empty PostgreSQL database from `VENUS_SEAL_TEST_POSTGRES` (a
/// server URL whose user may create databases), or `None` to skip, unless
/// `VENUS_SEAL_REQUIRE_POSTGRES=1`, which makes a missing server fail.
pub async fn fresh_postgres() -> Option<String> {
    let Ok(server) = std::env::var("VENUS_SEAL_TEST_POSTGRES") else {
        assert!(
            std::env::var("VENUS_SEAL_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "VENUS_SEAL_REQUIRE_POSTGRES=1 but VENUS_SEAL_TEST_POSTGRES is not set"
        );
        eprintln!("VENUS_SEAL_TEST_POSTGRES is not set: PostgreSQL tests skipped");
        return None;
    };
    Some(create_postgres_database(&server).await)
}

/// Creates a database with a unique name on the PostgreSQL server at
/// `server` (a `postgres://USER@HOST:PORT/DB` URL whose user may create
/// databases) and returns its URL: one fresh database per test.
///
/// # Panics
///
/// If the server cannot be reached or refuses: this is a test helper.
pub async fn create_postgres_database(server: &str) -> String {
    use sqlx::Connection;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    sqlx::any::install_default_drivers();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "vs_test_{:x}_{:x}_{}",
        nanos,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut conn = sqlx::AnyConnection::connect(server)
        .await
        .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {server}: {e}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
    let _ = conn.close().await;
    let base = match server.rfind('/') {
        Some(i) if i > server.find("://").map_or(0, |s| s + 2) => &server[..i],
        _ => server,
    };
    format!("{base}/{name}")
}

/// Executors of the PoSt stages ([`WindowPoSt`], [`CheckProvable`],
/// [`WinningPoSt`]) whose proofs are the ones [`FakeProofVerifier`]
/// accepts; sectors marked faulty are skipped (WindowPoSt), reported
/// (check) or fail the proof (WinningPoSt), as missing files would. It
/// proves the sectors the core's fake sealing executors "seal"
/// (`venus_seal_core::testing::fake_stage_executors`), reading no files,
/// and unseals them ([`Unseal`]) as the committed-capacity sectors they
/// are: zeros. It passes the proving stages' conformance cases
/// (`venus_seal_core::testing::conformance::proving`).
#[derive(Debug, Default)]
pub struct FakePoStExecutor {
    faulty: Mutex<BTreeSet<SectorNumber>>,
    calls: Mutex<usize>,
}

impl FakePoStExecutor {
    /// Marks `number` faulty (its files "missing") or healthy again.
    pub fn set_faulty(&self, number: SectorNumber, faulty: bool) {
        let mut set = self.faulty.lock().unwrap_or_else(PoisonError::into_inner);
        if faulty {
            set.insert(number);
        } else {
            set.remove(&number);
        }
    }

    /// How many WindowPoSt jobs it ran.
    pub fn window_posts(&self) -> usize {
        *self.calls.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_faulty(&self, number: SectorNumber) -> bool {
        self.faulty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&number)
    }

    fn check(&self, sectors: &[ProvingSector]) -> Vec<SkippedSector> {
        sectors
            .iter()
            .filter(|s| self.is_faulty(s.sector.number))
            .map(|s| SkippedSector {
                number: s.sector.number,
                reason: "marked faulty".into(),
            })
            .collect()
    }
}

/// A disk that answers slowly for some sectors: a decorator over a
/// [`CheckProvable`] executor that waits `delay` (real time) for each
/// sector of a task in `slow` before passing the task on, as reads of a
/// throttled or failing store would.
#[derive(Debug)]
pub struct SlowReads<E> {
    /// The executor that reads.
    pub inner: Arc<E>,
    /// The slow sectors.
    pub slow: BTreeSet<SectorNumber>,
    /// How long each of their reads is held up.
    pub delay: std::time::Duration,
}

#[async_trait]
impl<E: Executor<CheckProvable>> Executor<CheckProvable> for SlowReads<E> {
    async fn execute(&self, task: CheckProvable) -> Result<Vec<SkippedSector>, StageError> {
        let slow = task
            .sectors
            .iter()
            .filter(|s| self.slow.contains(&s.sector.number))
            .count();
        tokio::time::sleep(self.delay * slow as u32).await;
        self.inner.execute(task).await
    }
}

#[async_trait]
impl Executor<CheckProvable> for FakePoStExecutor {
    async fn execute(&self, task: CheckProvable) -> Result<Vec<SkippedSector>, StageError> {
        Ok(self.check(&task.sectors))
    }
}

#[async_trait]
impl Executor<WindowPoSt> for FakePoStExecutor {
    async fn execute(&self, task: WindowPoSt) -> Result<WindowPoStOutput, StageError> {
        *self.calls.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let skipped = self.check(&task.sectors);
        let mut proven: Vec<PoStSector> = task
            .sectors
            .iter()
            .map(|s| s.sector)
            .filter(|s| !self.is_faulty(s.number))
            .collect();
        proven.sort_by_key(|s| s.number);
        Ok(WindowPoStOutput {
            proofs: if proven.is_empty() {
                Vec::new()
            } else {
                vec![FakeProofVerifier::post_proof_for(
                    task.miner,
                    &task.randomness,
                    &proven,
                )]
            },
            proven: proven.iter().map(|s| s.number).collect(),
            skipped,
        })
    }
}

#[async_trait]
impl Executor<WinningPoSt> for FakePoStExecutor {
    async fn execute(&self, task: WinningPoSt) -> Result<Vec<PoStProof>, StageError> {
        if let Some(s) = task
            .sectors
            .iter()
            .find(|s| self.is_faulty(s.sector.number))
        {
            return Err(StageError::Computation(format!(
                "fake WinningPoSt: sector {} is faulty",
                s.sector.number
            )));
        }
        let sectors: Vec<PoStSector> = task.sectors.iter().map(|s| s.sector).collect();
        Ok(vec![FakeProofVerifier::post_proof_for(
            task.miner,
            &task.randomness,
            &sectors,
        )])
    }
}

/// Writes zeros (a committed-capacity sector's data) for the range; a
/// range past the sector is `InvalidTask` (Abort), as the real unseal
/// refuses it; a faulty sector is `Missing` (Permanent).
#[async_trait]
impl Executor<Unseal> for FakePoStExecutor {
    async fn execute(&self, task: Unseal) -> Result<u64, StageError> {
        let r = &task.request;
        let capacity = r.seal_proof.sector_size().unpadded();
        if r.len == 0 || r.offset.checked_add(r.len).is_none_or(|end| end > capacity) {
            return Err(StageError::InvalidTask(format!(
                "fake unseal {}: range {}+{} is empty or past the sector's {capacity} bytes",
                r.sector, r.offset, r.len
            )));
        }
        if self.is_faulty(r.sector.number) {
            return Err(StageError::Missing(format!(
                "fake unseal: sector {} is faulty",
                r.sector
            )));
        }
        let len = usize::try_from(r.len)
            .map_err(|_| StageError::InvalidTask(format!("range of {} bytes", r.len)))?;
        std::fs::write(&task.output, vec![0u8; len])
            .map_err(|e| StageError::io(task.output.display().to_string(), e))?;
        Ok(r.len)
    }
}

/// The expiration epoch of the sectors [`activate_fake_sectors`] makes.
pub const FAKE_SECTOR_EXPIRATION: ChainEpoch = 1_000_000;

/// A devnet with one 2KiB `miner` holding proven sectors `1..=sectors`
/// ([`activate_fake_sectors`]), verifying with [`FakeProofVerifier`].
pub fn proving_devnet(miner: ActorId, sectors: u64) -> Arc<crate::DevnetChain> {
    let chain = crate::DevnetChain::new(
        crate::DevnetConfig::with_miners(vec![crate::DevnetMiner {
            id: miner,
            allowed_proofs: vec![SealProof::StackedDrg2KiBV1_1],
        }]),
        Arc::new(FakeProofVerifier),
    );
    activate_fake_sectors(&chain, miner, 1..=sectors);
    chain
}

/// A WindowPoSt scheduler for `miner` on `chain` (reading and sending
/// there) proving on `executors`, its sectors' files "found" under
/// `/nowhere` (the fake executors never open them).
pub fn scheduler_on(
    chain: &Arc<crate::DevnetChain>,
    executors: crate::PoStExecutors,
    miner: ActorId,
) -> crate::WindowPoStScheduler {
    crate::WindowPoStScheduler::new(
        chain.clone(),
        chain.clone(),
        executors,
        Arc::new(venus_seal_core::proving::SectorDirs {
            root: "/nowhere".into(),
        }),
        vec![miner],
    )
}

/// Puts sectors `numbers` of `miner` on `chain` as proven 2KiB sectors
/// (CommR `[n; 32]`) without a PoRep, as
/// [`DevnetChain::activate_sector_without_proof`](crate::DevnetChain::activate_sector_without_proof)
/// does, each expiring at [`FAKE_SECTOR_EXPIRATION`]. Panics if the
/// devnet refuses one.
pub fn activate_fake_sectors(
    chain: &crate::DevnetChain,
    miner: ActorId,
    numbers: impl IntoIterator<Item = u64>,
) {
    for n in numbers {
        chain
            .activate_sector_without_proof(miner, fake_sector(n, FAKE_SECTOR_EXPIRATION, 0))
            .unwrap_or_else(|e| panic!("sector {n} of {miner}: {e}"));
    }
}

/// A proven 2KiB sector `n` (CommR `[n; 32]`) expiring at `expiration`,
/// with `deal_weight` of data (0: CC), as
/// [`DevnetChain::activate_sector_without_proof`](crate::DevnetChain::activate_sector_without_proof)
/// takes it (it sets the activation).
pub fn fake_sector(
    n: u64,
    expiration: ChainEpoch,
    deal_weight: u128,
) -> venus_seal_core::chain::OnChainSector {
    venus_seal_core::chain::OnChainSector {
        number: SectorNumber(n),
        seal_proof: SealProof::StackedDrg2KiBV1_1,
        sealed_cid: venus_seal_core::CommR([n as u8; 32]),
        activation: 0,
        expiration,
        deal_weight,
        verified_deal_weight: 0,
        sector_key: None,
    }
}

/// A devnet with one miner allowed `proof`, its clock running every
/// `block_time` (sub-second, so `block_delay_secs` is 0), and an in-memory
/// sector manager for it: the setup of the end-to-end tests and benches.
pub fn single_miner_devnet(
    miner: ActorId,
    proof: SealProof,
    block_time: std::time::Duration,
    verifier: std::sync::Arc<dyn ProofVerifier>,
) -> (
    std::sync::Arc<crate::DevnetChain>,
    std::sync::Arc<crate::LocalSectorManager>,
) {
    let chain = crate::DevnetChain::new(
        crate::DevnetConfig {
            block_time: Some(block_time),
            network: venus_seal_core::NetworkParams {
                block_delay_secs: 0,
                ..crate::DEVNET_NETWORK
            },
            miners: vec![crate::DevnetMiner {
                id: miner,
                allowed_proofs: vec![proof],
            }],
            ..crate::DevnetConfig::default()
        },
        verifier.clone(),
    );
    chain.start_clock().expect("starting the devnet clock");
    let manager = crate::LocalSectorManager::in_memory(
        crate::ManagerConfig::new(vec![crate::ManagedMiner::new(miner, proof)]),
        chain.clone(),
        chain.clone(),
        verifier,
    );
    (chain, manager)
}

/// A sender that prices messages as a node would ([`MessageSender::fee`]
/// and [`MessageSender::estimate`] answer `fee`, or `estimate_error` for an
/// estimate) and sends through `inner` (the devnet charges no gas).
#[derive(Debug)]
pub struct PricedSender<S> {
    /// Where messages go.
    pub inner: S,
    /// The price of every message.
    pub fee: MessageFee,
    /// Make every estimate fail with this, as a node's does when the actor
    /// would refuse the message.
    pub estimate_error: Option<String>,
    /// What every message burns when run ([`MessageSender::burn`]).
    pub burn: Option<venus_seal_core::TokenAmount>,
}

#[async_trait]
impl<S: MessageSender> MessageSender for PricedSender<S> {
    async fn send(&self, uid: &SendUid, msg: MinerMessage) -> Result<MessageId, ChainError> {
        self.inner.send(uid, msg).await
    }

    async fn state(&self, id: &MessageId) -> Result<MessageState, ChainError> {
        self.inner.state(id).await
    }

    async fn fee(&self, _: &MessageId) -> Result<Option<MessageFee>, ChainError> {
        Ok(Some(self.fee))
    }

    async fn burn(
        &self,
        _: &MinerMessage,
    ) -> Result<Option<venus_seal_core::TokenAmount>, ChainError> {
        Ok(self.burn)
    }

    async fn estimate(&self, _: &MinerMessage) -> Result<Option<MessageFee>, ChainError> {
        match &self.estimate_error {
            Some(e) => Err(ChainError::Rejected(e.clone())),
            None => Ok(Some(self.fee)),
        }
    }
}

/// A devnet with one miner allowed `proof` on a manual clock (a test
/// produces epochs with `advance`), the fake verifier on both sides, and an
/// in-memory sector manager for it.
pub fn manual_single_miner_devnet(
    miner: ActorId,
    proof: SealProof,
) -> (
    std::sync::Arc<crate::DevnetChain>,
    std::sync::Arc<crate::LocalSectorManager>,
) {
    manual_devnet_with(
        crate::DevnetConfig::with_miners(vec![crate::DevnetMiner {
            id: miner,
            allowed_proofs: vec![proof],
        }]),
        miner,
        proof,
    )
}

/// A devnet made from `config` (the fake verifier), and an in-memory
/// sector manager for its `miner` sealing `proof` on it.
pub fn manual_devnet_with(
    config: crate::DevnetConfig,
    miner: ActorId,
    proof: SealProof,
) -> (
    std::sync::Arc<crate::DevnetChain>,
    std::sync::Arc<crate::LocalSectorManager>,
) {
    let chain = crate::DevnetChain::new(config, std::sync::Arc::new(FakeProofVerifier));
    let manager = crate::LocalSectorManager::in_memory(
        crate::ManagerConfig::new(vec![crate::ManagedMiner::new(miner, proof)]),
        chain.clone(),
        chain.clone(),
        std::sync::Arc::new(FakeProofVerifier),
    );
    (chain, manager)
}

/// Takes a new sector of `manager` through deal acquisition (`pieces`
/// queued first as deals 1, 2, …, for `miner`), a pre-commit with the
/// pieces' CommD (landed: the chain advances one epoch) and persistence in
/// `instance`, then finalized: a sealed, persisted deal sector as unseal
/// jobs need one, without proofs. Answers the sector and what was pre-committed.
pub async fn persisted_deal_sector(
    chain: &crate::DevnetChain,
    manager: &crate::LocalSectorManager,
    miner: ActorId,
    pieces: &[venus_seal_core::PieceInfo],
    instance: &str,
) -> (
    venus_seal_core::manager::AllocatedSector,
    venus_seal_core::manager::PreCommitOnChainInfo,
) {
    use venus_seal_core::manager::{AcquireDealsSpec, AllocateSpec, DealInfo};
    use venus_seal_core::SectorManager;
    for (i, p) in pieces.iter().enumerate() {
        manager
            .add_deal(Some(miner), DealInfo::new(i as u64 + 1, *p))
            .await
            .expect("queueing a deal");
    }
    let spec = AllocateSpec {
        allowed_miners: vec![miner],
        ..AllocateSpec::default()
    };
    let s = manager
        .allocate_sector(spec)
        .await
        .expect("allocating")
        .expect("a sector number");
    let deals = manager
        .acquire_deals(s.id, AcquireDealsSpec::default())
        .await
        .expect("acquiring deals");
    assert_eq!(deals.len(), pieces.len(), "every piece fits the sector");
    let ticket = manager.assign_ticket(s.id).await.expect("a ticket");
    let info = venus_seal_core::manager::PreCommitOnChainInfo {
        comm_r: venus_seal_core::CommR([0xaa; 32]),
        comm_d: venus_seal_core::comm_d_of_pieces(pieces, s.proof_type.sector_size().0)
            .expect("the pieces' CommD"),
        ticket,
        deals: vec![],
    };
    manager
        .submit_pre_commit(s, info.clone(), false)
        .await
        .expect("pre-commit taken");
    manager.send_due().await.expect("pre-commit sent");
    chain.advance(1).await;
    assert!(manager
        .submit_persisted(s.id, instance.into())
        .await
        .expect("persisted"));
    manager.report_finalized(s.id).await.expect("finalized");
    (s, info)
}
