//! Every implementation in venus-seal-chain runs its trait's conformance
//! suite (`venus_seal_core::testing::conformance`), directly and through
//! `Arc<dyn …>` / `Box<dyn …>`: the devnet as a `ChainClient` and a
//! `MessageSender`, the `LocalSectorManager` over it, and the manager
//! stores (memory, SQLite, and PostgreSQL when `VENUS_SEAL_TEST_POSTGRES`
//! names a server), and the `FakePoStExecutor` for the proving stages
//! over sectors the core's fake executors seal. The Lotus client and the messager client run theirs
//! against the fake nodes of `tests/lotus.rs` and `tests/messager.rs`.

use std::sync::Arc;

use venus_seal_chain::manager::{
    LocalSectorManager, ManagedMiner, ManagerConfig, MemoryManagerStore, SqlManagerStore,
};
use venus_seal_chain::testing::{fresh_postgres, FakePoStExecutor, FakeProofVerifier};
use venus_seal_chain::{DevnetChain, DevnetConfig, DevnetMiner};
use venus_seal_core::chain::MessageId;
use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::stage::{CheckProvable, Unseal, WindowPoSt, WinningPoSt};
use venus_seal_core::testing::conformance::chain_client::{self, chain_client, ChainCase};
use venus_seal_core::testing::conformance::executor::{executor_all_ways, Capabilities};
use venus_seal_core::testing::conformance::manager_store;
use venus_seal_core::testing::conformance::message_sender::{self, message_sender, sample_message};
use venus_seal_core::testing::conformance::proving::{
    post_contract, proving_cases, Provers, SectorFixture,
};
use venus_seal_core::testing::conformance::sector_manager::{sector_manager, SectorManagerCase};
use venus_seal_core::testing::fake_stage_executors;
use venus_seal_core::{
    ActorId, ChainClient, ManagerStore, MessageSender, SealProof, SectorManager, SectorNumber,
};

const MINER: ActorId = ActorId(1000);
const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

fn devnet() -> Arc<DevnetChain> {
    DevnetChain::new(
        DevnetConfig::with_miners(vec![DevnetMiner {
            id: MINER,
            allowed_proofs: vec![P2K],
        }]),
        Arc::new(FakeProofVerifier),
    )
}

const CHAIN: ChainCase = ChainCase {
    miner: MINER,
    proof: P2K,
    unused_sector: SectorNumber(77),
};

const DEVNET_CAPS: chain_client::Capabilities = chain_client::Capabilities {
    deadlines: true,
    balances: false,
};

#[tokio::test]
async fn devnet_passes_the_chain_client_suite() {
    let chain = devnet();
    chain_client(&*chain, &CHAIN, DEVNET_CAPS).await;
    chain_client(
        &(chain.clone() as Arc<dyn ChainClient>),
        &CHAIN,
        DEVNET_CAPS,
    )
    .await;
    chain_client(
        &(Box::new(chain) as Box<dyn ChainClient>),
        &CHAIN,
        DEVNET_CAPS,
    )
    .await;
}

#[tokio::test]
async fn devnet_passes_the_message_sender_suite() {
    let chain = devnet();
    let caps = message_sender::Capabilities::default();
    let never = || MessageId("devnet-msg-999999".into());
    message_sender(&*chain, sample_message(MINER), never(), caps).await;
    let arc = chain.clone() as Arc<dyn MessageSender>;
    message_sender(&arc, sample_message(MINER), never(), caps).await;
    let boxed = Box::new(chain) as Box<dyn MessageSender>;
    message_sender(&boxed, sample_message(MINER), never(), caps).await;
}

/// A manager for the devnet's miner, and a case whose ticks are epochs.
fn manager() -> (Arc<LocalSectorManager>, SectorManagerCase) {
    let chain = devnet();
    let manager = LocalSectorManager::in_memory(
        ManagerConfig::new(vec![ManagedMiner::new(MINER, P2K)]),
        chain.clone(),
        chain.clone(),
        Arc::new(FakeProofVerifier),
    );
    let case = SectorManagerCase {
        allocate: AllocateSpec {
            allowed_miners: vec![MINER],
            allowed_proof_types: vec![P2K],
            allocation_key: None,
        },
        prove: Box::new(FakeProofVerifier::proof_for),
        tick: Box::new(move || {
            let chain = chain.clone();
            Box::pin(async move {
                // The manager's batch timer sends queued submissions.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                chain.advance(1).await;
            })
        }),
        max_ticks: 50,
    };
    (manager, case)
}

#[tokio::test]
async fn local_sector_manager_passes_the_suite() {
    let (m, case) = manager();
    sector_manager(&*m, &case).await;
    let (m, case) = manager();
    sector_manager(&(m as Arc<dyn SectorManager>), &case).await;
    let (m, case) = manager();
    sector_manager(&(Box::new(m) as Box<dyn SectorManager>), &case).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_manager_store_passes_the_suite() {
    manager_store(|| async { Arc::new(MemoryManagerStore::new()) as Arc<dyn ManagerStore> }).await;
    // Through a Box inside the Arc, as a wrapper would hold it.
    manager_store(|| async {
        let boxed: Box<dyn ManagerStore> = Box::new(MemoryManagerStore::new());
        Arc::new(boxed) as Arc<dyn ManagerStore>
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_manager_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicU32::new(0);
    let dir_path = dir.path().to_path_buf();
    manager_store(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir_path.join(format!("m{n}.db"));
        async move {
            Arc::new(SqlManagerStore::open_sqlite(path).await.unwrap()) as Arc<dyn ManagerStore>
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_manager_store_passes_the_suite() {
    let Some(_) = fresh_postgres().await else {
        return;
    };
    manager_store(|| async {
        let url = fresh_postgres().await.unwrap();
        Arc::new(SqlManagerStore::connect(&url).await.unwrap()) as Arc<dyn ManagerStore>
    })
    .await;
}

// ---- proving stages -------------------------------------------------------

#[tokio::test]
async fn fake_post_executor_passes_the_proving_suite() {
    let post = Arc::new(FakePoStExecutor::default());
    let (seal, _) = fake_stage_executors();
    // The fake reads no files: an unprovable sector is one marked faulty.
    let marks = post.clone();
    let fixture = SectorFixture::sealed_by(&seal, P2K)
        .breaking_with(move |s| marks.set_faulty(s.sector.number, true));
    let cases = proving_cases(&fixture);
    let caps = Capabilities::default();
    executor_all_ways::<WindowPoSt>(post.clone(), &cases.window_post, caps).await;
    executor_all_ways::<WinningPoSt>(post.clone(), &cases.winning_post, caps).await;
    executor_all_ways::<CheckProvable>(post.clone(), &cases.check_provable, caps).await;
    executor_all_ways::<Unseal>(post.clone(), &cases.unseal, caps).await;
    let provers = Provers {
        window_post: &*post,
        winning_post: &*post,
        check_provable: &*post,
        unseal: &*post,
        verifier: &FakeProofVerifier,
    };
    post_contract(provers, &fixture).await;
}
