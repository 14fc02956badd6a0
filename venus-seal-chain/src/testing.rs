//! Test helpers: a fake [`SealVerifier`] whose proofs are hashes, fake
//! PoSt executors whose proofs it accepts, and a fresh PostgreSQL database
//! per test.
//!
//! It lets the devnet, the manager and anything built on them be tested in
//! milliseconds, without Groth16 parameters. It proves nothing: never use
//! it outside tests and demos.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use venus_seal_core::proving::{
    PoStProof, PoStSector, ProvingSector, ReplicaUpdateVerifyInfo, SkippedSector, WindowPoStOutput,
    WindowPoStVerifyInfo, WinningPoStVerifyInfo,
};
use venus_seal_core::stage::{CheckProvable, Proof, WindowPoSt, WinningPoSt};
use venus_seal_core::{
    ActorId, Executor, Randomness, SealProof, SealVerifier, SealVerifyInfo, SectorNumber,
    StageError, VerifyError,
};

/// Accepts a proof iff its bytes are [`FakeSealVerifier::proof_for`] the
/// info: a blake2b-256 hash of everything the proof is checked against
/// (proof type, sector, CommR, CommD, ticket, seed).
#[derive(Clone, Copy, Debug, Default)]
pub struct FakeSealVerifier;

impl FakeSealVerifier {
    /// The one proof this verifier accepts for `info` (its `proof` field is
    /// ignored).
    pub fn proof_for(info: &SealVerifyInfo) -> Proof {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake seal proof");
        state.update(&info.proof_type.id().to_be_bytes());
        state.update(&info.sector.miner.0.to_be_bytes());
        state.update(&info.sector.number.0.to_be_bytes());
        state.update(&info.comm_r.0);
        state.update(&info.comm_d.0);
        state.update(&info.ticket.0);
        state.update(&info.seed.0);
        Proof {
            proof: state.finalize().as_bytes().to_vec(),
        }
    }
}

impl FakeSealVerifier {
    /// The one aggregate this verifier accepts for `infos`: a hash of
    /// their [`proof_for`](Self::proof_for) proofs, in order.
    pub fn aggregate_for(infos: &[SealVerifyInfo]) -> Vec<u8> {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake aggregate");
        for info in infos {
            state.update(&Self::proof_for(info).proof);
        }
        state.finalize().as_bytes().to_vec()
    }
}

impl SealVerifier for FakeSealVerifier {
    fn verify_seal(&self, info: &SealVerifyInfo) -> Result<bool, VerifyError> {
        Ok(Self::proof_for(info).proof == info.proof)
    }

    /// Refuses unless every proof verifies, as the real aggregation fails
    /// on bad proofs' public inputs only at verification time.
    fn aggregate_seal_proofs(&self, infos: &[SealVerifyInfo]) -> Result<Vec<u8>, VerifyError> {
        if infos.is_empty() {
            return Err(VerifyError("nothing to aggregate".into()));
        }
        if let Some(bad) = infos.iter().find(|i| Self::proof_for(i).proof != i.proof) {
            return Err(VerifyError(format!(
                "the proof of sector {} does not verify",
                bad.sector
            )));
        }
        Ok(Self::aggregate_for(infos))
    }

    fn verify_aggregate_seal(
        &self,
        infos: &[SealVerifyInfo],
        aggregate: &[u8],
    ) -> Result<bool, VerifyError> {
        Ok(Self::aggregate_for(infos) == aggregate)
    }

    fn verify_window_post(&self, info: &WindowPoStVerifyInfo) -> Result<bool, VerifyError> {
        if info.sectors.is_empty() {
            return Ok(info.proofs.is_empty());
        }
        Ok(info.proofs
            == [Self::post_proof_for(
                info.miner,
                &info.randomness,
                &info.sectors,
            )])
    }

    /// The first `min(2, eligible)` indices from the randomness.
    fn winning_post_challenge(
        &self,
        _seal_proof: SealProof,
        _miner: ActorId,
        randomness: &Randomness,
        eligible: u64,
    ) -> Result<Vec<u64>, VerifyError> {
        if eligible == 0 {
            return Err(VerifyError("no eligible sectors".into()));
        }
        Ok(vec![u64::from(randomness.0[0]) % eligible])
    }

    fn verify_winning_post(&self, info: &WinningPoStVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proofs
            == [Self::post_proof_for(
                info.miner,
                &info.randomness,
                &info.sectors,
            )])
    }

    fn verify_replica_update(&self, info: &ReplicaUpdateVerifyInfo) -> Result<bool, VerifyError> {
        Ok(info.proof == Self::update_proof_for(info))
    }
}

impl FakeSealVerifier {
    /// The one PoSt proof this verifier accepts: a hash of the miner, the
    /// randomness and the sectors (number and CommR), in order.
    pub fn post_proof_for(
        miner: ActorId,
        randomness: &Randomness,
        sectors: &[PoStSector],
    ) -> PoStProof {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake post");
        state.update(&miner.0.to_be_bytes());
        state.update(&randomness.0);
        for s in sectors {
            state.update(&s.number.0.to_be_bytes());
            state.update(&s.comm_r.0);
        }
        PoStProof {
            post_proof: 10,
            proof: state.finalize().as_bytes().to_vec(),
        }
    }

    /// The one update proof this verifier accepts for `info` (its `proof`
    /// field is ignored).
    pub fn update_proof_for(info: &ReplicaUpdateVerifyInfo) -> Vec<u8> {
        let mut state = blake2b_simd::Params::new().hash_length(32).to_state();
        state.update(b"venus-seal fake update");
        state.update(&info.comm_r_old.0);
        state.update(&info.comm_r_new.0);
        state.update(&info.comm_d_new.0);
        state.finalize().as_bytes().to_vec()
    }
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
/// [`WinningPoSt`]) whose proofs are the ones [`FakeSealVerifier`]
/// accepts; sectors marked faulty are skipped (WindowPoSt), reported
/// (check) or fail the proof (WinningPoSt), as missing files would.
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
                vec![FakeSealVerifier::post_proof_for(
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
        Ok(vec![FakeSealVerifier::post_proof_for(
            task.miner,
            &task.randomness,
            &sectors,
        )])
    }
}

/// Puts sectors `numbers` of `miner` on `chain` as proven 2KiB sectors
/// (CommR `[n; 32]`) without a PoRep, as
/// [`DevnetChain::activate_sector_without_proof`](crate::DevnetChain::activate_sector_without_proof)
/// does. Panics if the devnet refuses one.
pub fn activate_fake_sectors(
    chain: &crate::DevnetChain,
    miner: ActorId,
    numbers: impl IntoIterator<Item = u64>,
) {
    for n in numbers {
        chain
            .activate_sector_without_proof(
                miner,
                venus_seal_core::chain::OnChainSector {
                    number: SectorNumber(n),
                    seal_proof: SealProof::StackedDrg2KiBV1_1,
                    sealed_cid: venus_seal_core::CommR([n as u8; 32]),
                    activation: 0,
                },
            )
            .unwrap_or_else(|e| panic!("sector {n} of {miner}: {e}"));
    }
}

/// A devnet with one miner allowed `proof`, its clock running every
/// `block_time` (sub-second, so `block_delay_secs` is 0), and an in-memory
/// sector manager for it: the setup of the end-to-end tests and benches.
pub fn single_miner_devnet(
    miner: ActorId,
    proof: SealProof,
    block_time: std::time::Duration,
    verifier: std::sync::Arc<dyn SealVerifier>,
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
