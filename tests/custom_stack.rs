//! A custom stack composed from library calls only: a worker whose C2
//! runs on an executor of the SP's own (a stand-in for a closed-source
//! prover), and the sector manager on a `ChainClient` of the SP's own (a
//! wrapper that counts calls, over the embedded devnet). The composition
//! itself, `custom_stack`, is under 50 lines; the two SP types are what an
//! embedder writes, one trait each.
//!
//! Fakes everywhere else (the core's fake stages, whose C2 proof the fake
//! verifier accepts), so it seals in about a second with no parameters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use venus_seal::chain::testing::FakeProofVerifier;
use venus_seal::chain::{DevnetChain, DevnetConfig, DevnetMiner, LocalSectorManager};
use venus_seal::chain::{ManagedMiner, ManagerConfig};
use venus_seal::core::chain::{DeadlineInfo, MinerCall, OnChainPreCommit, OnChainSector};
use venus_seal::core::chain::{PartitionInfo, RandomnessSource};
use venus_seal::core::stage::{Proof, C2};
use venus_seal::core::testing::fake_stage_executors;
use venus_seal::core::{ActorId, ChainClient, ChainEpoch, ChainError, DomainSeparationTag};
use venus_seal::core::{DynExecutor, Executor, MemoryPieceStore, MemorySectorStore};
use venus_seal::core::{NetworkParams, Randomness, SealProof, Sealer, SealerConfig};
use venus_seal::core::{SectorNumber, SectorRecord, SectorState, StageError, TokenAmount};

const MINER: ActorId = ActorId(1000);
const PROOF: SealProof = SealProof::StackedDrg2KiBV1_1;

/// The SP's own C2 (here it forwards to another executor and counts).
#[derive(Debug)]
struct VendorC2 {
    inner: DynExecutor<C2>,
    proved: AtomicUsize,
}

#[async_trait]
impl Executor<C2> for VendorC2 {
    async fn execute(&self, task: C2) -> Result<Proof, StageError> {
        self.proved.fetch_add(1, Ordering::SeqCst);
        self.inner.execute(task).await
    }
}

/// The SP's own chain client (here: the devnet, with every call counted).
#[derive(Debug)]
struct CountingChain {
    inner: Arc<DevnetChain>,
    calls: AtomicUsize,
}

impl CountingChain {
    fn count(&self) -> &Arc<DevnetChain> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        &self.inner
    }
}

#[async_trait]
impl ChainClient for CountingChain {
    async fn head(&self) -> Result<ChainEpoch, ChainError> {
        self.count().head().await
    }
    async fn network(&self) -> Result<NetworkParams, ChainError> {
        self.count().network().await
    }
    async fn randomness(
        &self,
        source: RandomnessSource,
        tag: DomainSeparationTag,
        epoch: ChainEpoch,
        entropy: &[u8],
    ) -> Result<Randomness, ChainError> {
        (self.count().randomness(source, tag, epoch, entropy)).await
    }
    async fn pre_commit(
        &self,
        miner: ActorId,
        n: SectorNumber,
    ) -> Result<Option<OnChainPreCommit>, ChainError> {
        self.count().pre_commit(miner, n).await
    }
    async fn sector(
        &self,
        miner: ActorId,
        n: SectorNumber,
    ) -> Result<Option<OnChainSector>, ChainError> {
        self.count().sector(miner, n).await
    }
    async fn proving_deadline(&self, miner: ActorId) -> Result<DeadlineInfo, ChainError> {
        self.count().proving_deadline(miner).await
    }
    async fn deadline_partitions(
        &self,
        miner: ActorId,
        dl: u64,
    ) -> Result<Vec<PartitionInfo>, ChainError> {
        self.count().deadline_partitions(miner, dl).await
    }
    async fn deadline_post_submissions(
        &self,
        miner: ActorId,
        dl: u64,
    ) -> Result<Vec<u64>, ChainError> {
        self.count().deadline_post_submissions(miner, dl).await
    }
    async fn collateral(
        &self,
        miner: ActorId,
        call: &MinerCall,
    ) -> Result<TokenAmount, ChainError> {
        self.count().collateral(miner, call).await
    }
}

/// The composition: library calls only (under 50 lines).
fn custom_stack(vendor_c2: Arc<VendorC2>) -> (Sealer, Arc<CountingChain>, Arc<DevnetChain>) {
    let verifier = Arc::new(FakeProofVerifier);
    let devnet = DevnetChain::new(
        DevnetConfig {
            block_time: Some(Duration::from_millis(20)),
            network: NetworkParams {
                block_delay_secs: 0,
                ..venus_seal::chain::DEVNET_NETWORK
            },
            miners: vec![DevnetMiner {
                id: MINER,
                allowed_proofs: vec![PROOF],
            }],
            ..DevnetConfig::default()
        },
        verifier.clone(),
    );
    devnet.start_clock().expect("devnet clock");
    let chain = Arc::new(CountingChain {
        inner: devnet.clone(),
        calls: AtomicUsize::new(0),
    });
    // The manager reads the chain through the SP's client and sends
    // through the devnet.
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, PROOF)]),
        chain.clone(),
        devnet.clone(),
        verifier,
    );
    let (mut executors, _fakes) = fake_stage_executors();
    executors.c2 = vendor_c2;
    let sealer = Sealer::new(
        manager,
        Arc::new(MemoryPieceStore::default()),
        executors,
        Arc::new(MemorySectorStore::default()),
        SealerConfig {
            poll_interval: Duration::from_millis(20),
            ..SealerConfig::default()
        },
    );
    (sealer, chain, devnet)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_c2_and_a_custom_chain_client_seal_a_sector() {
    let (fakes, _) = fake_stage_executors();
    let vendor_c2 = Arc::new(VendorC2 {
        inner: fakes.c2,
        proved: AtomicUsize::new(0),
    });
    let (sealer, chain, devnet) = custom_stack(vendor_c2.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut record = SectorRecord::new(1);
    tokio::time::timeout(
        Duration::from_secs(60),
        sealer.run(&mut record, dir.path(), &mut |_, _| {}),
    )
    .await
    .expect("sealed within a minute")
    .expect("sealed");
    assert_eq!(record.state, SectorState::Finished);
    assert_eq!(
        vendor_c2.proved.load(Ordering::SeqCst),
        1,
        "the SP's C2 ran once"
    );
    assert!(
        chain.calls.load(Ordering::SeqCst) > 0,
        "the manager read the SP's chain client"
    );
    let sector = record.sector.expect("allocated").id;
    let on_chain = devnet.sector(MINER, sector.number).await.unwrap();
    assert!(on_chain.is_some(), "the devnet holds the proven sector");
    devnet.stop_clock();
}
