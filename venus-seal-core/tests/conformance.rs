//! Every implementation in the core runs its trait's conformance suite,
//! directly and through `Arc<dyn …>` / `Box<dyn …>`: the in-memory piece
//! and sector stores, the SQLite sector store, the fake executors, the
//! fake manager and the fake verifier (which, with the fake executors,
//! form one family that agrees).

use std::sync::Arc;
use std::time::Duration;

use venus_seal_core::manager::AllocateSpec;
use venus_seal_core::proving::{PoStSector, WindowPoStVerifyInfo};
use venus_seal_core::testing::conformance::executor::{executor, executor_all_ways, Capabilities};
use venus_seal_core::testing::conformance::piece_store::{piece_store, TestPieces};
use venus_seal_core::testing::conformance::sealing::sealing_cases;
use venus_seal_core::testing::conformance::sector_manager::{sector_manager, SectorManagerCase};
use venus_seal_core::testing::conformance::sector_store;
use venus_seal_core::testing::conformance::verifier::{self, proof_verifier, VerifierCase};
use venus_seal_core::testing::{fake_stage_executors, FakeManager, FakeProofVerifier};
use venus_seal_core::{
    ActorId, CommD, CommR, Executor, MemoryPieceStore, MemorySectorStore, PieceStore,
    ProofVerifier, Randomness, SealProof, SealVerifyInfo, SectorId, SectorManager, SectorNumber,
    SectorStore, SqliteSectorStore,
};

const P2K: SealProof = SealProof::StackedDrg2KiBV1_1;

#[tokio::test]
async fn fake_executors_pass_the_executor_suite_for_every_sealing_stage() {
    let (execs, fakes) = fake_stage_executors();
    let cases = sealing_cases(&execs, P2K);
    let caps = Capabilities::default();
    executor_all_ways(execs.add_pieces.clone(), &cases.add_pieces, caps).await;
    executor_all_ways(execs.tree_d.clone(), &cases.tree_d, caps).await;
    executor_all_ways(execs.pc1.clone(), &cases.pc1, caps).await;
    executor_all_ways(execs.pc2.clone(), &cases.pc2, caps).await;
    executor_all_ways(execs.c1.clone(), &cases.c1, caps).await;
    executor_all_ways(execs.c2.clone(), &cases.c2, caps).await;
    assert!(fakes.c2.calls() >= 6, "the suite ran C2 through the fakes");
}

#[tokio::test]
#[should_panic(expected = "has the wrong level")]
async fn the_executor_suite_catches_a_misclassified_error() {
    let (execs, fakes) = fake_stage_executors();
    let cases = sealing_cases(&execs, P2K);
    // A corrupt C1 output is Permanent; this fake calls it Temporary.
    fakes.c2.fail_if(|t| {
        t.c1_output
            .decode::<String>()
            .ok()
            .map(|_| venus_seal_core::StageError::Unavailable("misclassified".into()))
    });
    executor(&*execs.c2, &cases.c2, Capabilities::default()).await;
}

#[tokio::test]
async fn the_fake_c2_proof_is_one_the_fake_verifier_accepts() {
    let (execs, _) = fake_stage_executors();
    let cases = sealing_cases(&execs, P2K);
    let dir = tempfile::tempdir().unwrap();
    // The C2 task the sealing case builds (the fakes ran add_pieces to
    // C1 for it), run to a proof by the fake C2.
    let c2 = cases.c2.task(dir.path()).await;
    let proof = execs.c2.execute(c2.clone()).await.unwrap();
    let decoded: serde_json::Value = c2.c1_output.decode().unwrap();
    let info = SealVerifyInfo {
        proof_type: P2K,
        sector: c2.sector,
        comm_r: serde_json::from_value(decoded["comm_r"].clone()).unwrap(),
        comm_d: serde_json::from_value(decoded["comm_d"].clone()).unwrap(),
        ticket: serde_json::from_value(decoded["ticket"].clone()).unwrap(),
        seed: serde_json::from_value(decoded["seed"].clone()).unwrap(),
        proof: proof.proof,
    };
    assert!(FakeProofVerifier.verify_seal(&info).unwrap());
}

#[tokio::test]
async fn memory_piece_store_passes_the_suite() {
    let pieces = TestPieces::with_stand_in_cids();
    let store = Arc::new(MemoryPieceStore::default());
    pieces.insert_into(&store);
    piece_store(store.clone(), &pieces).await;
    let boxed: Box<dyn PieceStore> = Box::new(store);
    piece_store(Arc::new(boxed), &pieces).await;
}

#[tokio::test]
async fn memory_sector_store_passes_the_suite() {
    sector_store(&MemorySectorStore::default()).await;
    sector_store(&(Arc::new(MemorySectorStore::default()) as Arc<dyn SectorStore>)).await;
    sector_store(&(Box::new(MemorySectorStore::default()) as Box<dyn SectorStore>)).await;
}

#[tokio::test]
async fn sqlite_sector_store_passes_the_suite() {
    let dir = tempfile::tempdir().unwrap();
    let open = |name: &str| SqliteSectorStore::open(dir.path().join(name));
    sector_store(&open("a.db").await.unwrap()).await;
    let arc: Arc<dyn SectorStore> = Arc::new(open("b.db").await.unwrap());
    sector_store(&arc).await;
    let boxed: Box<dyn SectorStore> = Box::new(open("c.db").await.unwrap());
    sector_store(&boxed).await;
}

fn seal_info(number: u64) -> SealVerifyInfo {
    let mut info = SealVerifyInfo {
        proof_type: P2K,
        sector: SectorId::new(ActorId(1000), SectorNumber(number)),
        comm_r: CommR([number as u8; 32]),
        comm_d: CommD([0x0d; 32]),
        ticket: Randomness([3; 32]),
        seed: Randomness([5; 32]),
        proof: vec![],
    };
    info.proof = FakeProofVerifier::proof_for(&info).proof;
    info
}

#[test]
fn fake_verifier_passes_the_suite() {
    let miner = ActorId(1000);
    let randomness = Randomness([9; 32]);
    let sectors: Vec<PoStSector> = (1..=3)
        .map(|n| PoStSector {
            number: SectorNumber(n),
            seal_proof: P2K,
            comm_r: CommR([n as u8; 32]),
            sector_key: None,
        })
        .collect();
    let case = VerifierCase {
        seals: vec![seal_info(1), seal_info(2)],
        window_post: Some(WindowPoStVerifyInfo {
            miner,
            randomness,
            proofs: vec![FakeProofVerifier::post_proof_for(
                miner,
                &randomness,
                &sectors,
            )],
            sectors,
        }),
    };
    let caps = verifier::Capabilities {
        aggregation: true,
        window_post: true,
    };
    proof_verifier(&FakeProofVerifier, &case, caps);
    proof_verifier(
        &(Arc::new(FakeProofVerifier) as Arc<dyn ProofVerifier>),
        &case,
        caps,
    );
    proof_verifier(
        &(Box::new(FakeProofVerifier) as Box<dyn ProofVerifier>),
        &case,
        caps,
    );
}

fn fake_manager_case() -> SectorManagerCase {
    SectorManagerCase {
        allocate: AllocateSpec::default(),
        prove: Box::new(FakeProofVerifier::proof_for),
        tick: Box::new(|| Box::pin(tokio::time::advance(Duration::from_secs(60)))),
        max_ticks: 200,
    }
}

#[tokio::test(start_paused = true)]
async fn fake_manager_passes_the_suite() {
    let case = fake_manager_case();
    sector_manager(&FakeManager::default(), &case).await;
    sector_manager(
        &(Arc::new(FakeManager::default()) as Arc<dyn SectorManager>),
        &case,
    )
    .await;
    sector_manager(
        &(Box::new(FakeManager::default()) as Box<dyn SectorManager>),
        &case,
    )
    .await;
}
